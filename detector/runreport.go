package detector

import (
	"encoding/csv"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/draw"
	"github.com/ghmdet/ghmdet/eval"
	"github.com/ghmdet/ghmdet/report"
	"github.com/ghmdet/ghmdet/train"
)

// Files the run report writes into the run directory.
const (
	LossPlot       = "loss.png"
	LRPlot         = "lr.png"
	APPlot         = "ap.png"
	PRPlot         = "pr.png"
	PRJSON         = "pr.json"
	ValImages      = "val_predictions.jpg"
	GradNormPlot   = "gradnorm.png"
	GradNormCSV    = "gradnorm.csv"
	ReportBaseName = "report"
)

// PRCurves returns the precision-recall curve of every category at IoU 0.5
// (all areas, 100 detections per image), as the reference evaluator's
// precision array holds it, with each category's AP at IoU 0.5.
func PRCurves(r *eval.Result) []report.PRCurve {
	var curves []report.PRCurve
	for k, c := range r.PerCategory {
		var rec, prec []float64
		for rc := 0; rc < 101; rc++ {
			p := r.PrecisionAt(0, rc, k, 0, 2)
			if p < 0 {
				continue
			}
			rec = append(rec, float64(rc)/100)
			prec = append(prec, p)
		}
		curves = append(curves, report.PRCurve{Name: c.Name, Recall: rec, Precision: prec, AP: c.AP50})
	}
	return curves
}

// WriteRunReport writes the plots, the validation images with predictions
// and the report (report.md and report.html) of a finished run into dir.
// valDets are the final predictions on val (indexed like val.Images), used
// for the example images; both may be nil. Extra figures already written
// into dir (such as the gradient-norm plot) can be listed in extraFigures.
func WriteRunReport(dir string, cfg Config, sum *Summary, val *data.Dataset, valDets [][]Detection, extraFigures []report.Figure) error {
	recs, err := train.ReadMetrics(filepath.Join(dir, MetricsFile))
	if err != nil {
		return err
	}
	var cls, box, total, lr, apE, ap, ap50 report.Series
	cls.Name, box.Name, total.Name, lr.Name = "classification", "box regression", "total", "learning rate"
	ap.Name, ap50.Name = "AP", "AP50"
	apE.Name = "epoch"
	// Later records of a step (after a resume) replace earlier ones.
	seen := map[float64]int{}
	for _, m := range recs {
		st, ok := m["step"].(float64)
		if !ok {
			continue
		}
		if _, isEval := m["eval"]; isEval {
			ep, _ := m["epoch"].(float64)
			a, _ := m["AP"].(float64)
			a50, _ := m["AP50"].(float64)
			ap.X, ap.Y = append(ap.X, ep), append(ap.Y, a)
			ap50.X, ap50.Y = append(ap50.X, ep), append(ap50.Y, a50)
			continue
		}
		lc, ok1 := m["loss_cls"].(float64)
		lb, ok2 := m["loss_box"].(float64)
		if !ok1 || !ok2 {
			continue
		}
		if i, dup := seen[st]; dup {
			cls.Y[i], box.Y[i], total.Y[i] = lc, lb, lc+lb
			continue
		}
		seen[st] = len(cls.X)
		cls.X, cls.Y = append(cls.X, st), append(cls.Y, lc)
		box.X, box.Y = append(box.X, st), append(box.Y, lb)
		total.X, total.Y = append(total.X, st), append(total.Y, lc+lb)
		if v, ok := m["lr"].(float64); ok {
			lr.X, lr.Y = append(lr.X, st), append(lr.Y, v)
		}
	}
	var figs []report.Figure
	if len(cls.X) > 0 {
		if err := report.PlotSeries(filepath.Join(dir, LossPlot), "Training losses ("+cfg.Loss.Cls+" + "+cfg.Loss.Reg+")", "step", "loss", []report.Series{total, cls, box}, report.Smooth(9)); err != nil {
			return err
		}
		if err := report.PlotSeries(filepath.Join(dir, LRPlot), "Learning rate", "step", "learning rate", []report.Series{lr}); err != nil {
			return err
		}
		figs = append(figs, report.Figure{Title: "Training losses", Path: LossPlot}, report.Figure{Title: "Learning rate", Path: LRPlot})
	}
	if len(ap.X) > 0 {
		if err := report.PlotSeries(filepath.Join(dir, APPlot), "Validation AP", "epoch", "AP", []report.Series{ap, ap50}); err != nil {
			return err
		}
		figs = append(figs, report.Figure{Title: "Validation AP over epochs", Path: APPlot})
	}
	rep := report.Report{Title: "ghmdet training run: " + filepath.Base(dir)}
	rep.Summary = [][2]string{
		{"preset", cfg.Preset},
		{"losses", cfg.Loss.Cls + " + " + cfg.Loss.Reg},
		{"backbone", cfg.Model.Backbone},
		{"input", fmt.Sprintf("%dx%d", cfg.Model.InputWidth, cfg.Model.InputHeight)},
		{"seed", fmt.Sprint(cfg.Seed)},
	}
	if sum != nil {
		rep.Summary = append(rep.Summary,
			[2]string{"steps", fmt.Sprint(sum.Steps)},
			[2]string{"epochs", fmt.Sprint(sum.Epochs)},
			[2]string{"stopped", sum.Stopped},
			[2]string{"training time", sum.TrainTime.Round(time.Second).String()},
			[2]string{"throughput", fmt.Sprintf("%.1f images/s", sum.ImagesPerSec)},
		)
		if u := sum.Budget; u != nil {
			rep.Summary = append(rep.Summary, [2]string{"time budget", strings.TrimPrefix(u.String(), "time budget ")})
		}
		if sum.Final != nil {
			r := sum.Final
			rep.Summary = append(rep.Summary,
				[2]string{"AP (IoU .50:.95)", fmt.Sprintf("%.4f", r.Stats[0])},
				[2]string{"AP50", fmt.Sprintf("%.4f", r.Stats[1])},
				[2]string{"best AP", fmt.Sprintf("%.4f (epoch %d)", sum.BestAP, sum.BestEpoch)})
			t := report.Table{Title: "COCO metrics (final evaluation)", Header: []string{"metric", "value"}}
			for i, n := range eval.StatNames {
				t.Rows = append(t.Rows, []string{n, fmt.Sprintf("%.4f", r.Stats[i])})
			}
			rep.Tables = append(rep.Tables, t)
			pc := report.Table{Title: "Per-class AP", Header: []string{"class", "AP", "AP50"}}
			for _, c := range r.PerCategory {
				pc.Rows = append(pc.Rows, []string{c.Name, fmtAP(c.AP), fmtAP(c.AP50)})
			}
			rep.Tables = append(rep.Tables, pc)
			curves := PRCurves(r)
			if err := report.PlotPR(filepath.Join(dir, PRPlot), curves); err != nil {
				return err
			}
			if err := report.WritePRJSON(filepath.Join(dir, PRJSON), curves); err != nil {
				return err
			}
			figs = append(figs, report.Figure{Title: "Precision-recall at IoU 0.5", Path: PRPlot})
		}
	}
	if val != nil && valDets != nil {
		if err := writeValImages(filepath.Join(dir, ValImages), val, valDets, cfg.Test.ScoreThresh); err != nil {
			return err
		}
		figs = append(figs, report.Figure{Title: "Validation images: predictions (solid) and ground truth (dashed)", Path: ValImages})
	}
	if t, err := resultsTable(filepath.Join(dir, ResultsFile)); err == nil {
		rep.Tables = append(rep.Tables, t)
	}
	rep.Images = append(figs, extraFigures...)
	rep.Notes = append(rep.Notes,
		"Files: config.yaml (resolved configuration), run.json (seed, versions, data), metrics.jsonl (per-step metrics), results.csv (one row per epoch), weights/last.ckpt and weights/best.ckpt (checkpoints), val_detections.json (COCO results format).")
	return report.WriteReport(dir, rep)
}

func fmtAP(v float64) string {
	if v < 0 || math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", v)
}

// writeValImages draws up to 6 validation images with their predictions
// (score >= 0.5, or the threshold when higher) and ground truth in a mosaic.
func writeValImages(path string, val *data.Dataset, dets [][]Detection, thr float32) error {
	minScore := math.Max(0.5, float64(thr))
	idx := make([]int, 0, len(val.Images))
	for i := range val.Images {
		if dets[i] != nil || len(val.Images[i].Objects) > 0 {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	if len(idx) > 6 {
		idx = idx[:6]
	}
	var imgs []image.Image
	for _, i := range idx {
		im, err := imageio.DecodeFile(val.Images[i].Path)
		if err != nil {
			continue
		}
		var img image.Image = im.ToNRGBA()
		img = draw.GroundTruth(img, val.Images[i].Objects, val.Classes, draw.Options{NoLabels: true})
		var dd []draw.Det
		for _, d := range dets[i] {
			dd = append(dd, draw.Det{Box: d.Box, Class: d.Class, Score: d.Score})
		}
		imgs = append(imgs, draw.Detections(img, dd, val.Classes, draw.Options{MinScore: minScore}))
	}
	if len(imgs) == 0 {
		return nil
	}
	return draw.Save(path, draw.Mosaic(imgs, 3, 384))
}

// resultsTable reads the per-epoch results table (epoch, losses, AP, AP50,
// AP75 columns) for the report.
func resultsTable(path string) (report.Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return report.Table{}, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		return report.Table{}, fmt.Errorf("results table %s: %v", path, err)
	}
	keep := []int{0, 1, 3, 4, 5, 6, 7, 8}
	t := report.Table{Title: "Per-epoch results (mean training losses; COCO numbers where evaluated)"}
	for _, i := range keep {
		t.Header = append(t.Header, rows[0][i])
	}
	for _, r := range rows[1:] {
		var cells []string
		for _, i := range keep {
			if i < len(r) {
				cells = append(cells, r[i])
			}
		}
		t.Rows = append(t.Rows, cells)
	}
	return t, nil
}
