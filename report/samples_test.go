package report

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// simulatePR draws a detector's scores for nGT objects (found with
// probability recallCap, scored higher the better the quality) and nFP false
// positives, and returns the COCO-style precision at 101 recall points and
// the AP.
func simulatePR(seed uint64, nGT, nFP int, quality, recallCap float64) ([]float64, []float64, float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	type det struct {
		score float64
		tp    bool
	}
	var dets []det
	for range nGT {
		if rng.Float64() < recallCap {
			dets = append(dets, det{1 / (1 + math.Exp(-(quality + rng.NormFloat64()))), true})
		}
	}
	for range nFP {
		dets = append(dets, det{1 / (1 + math.Exp(-(-1 + rng.NormFloat64()))), false})
	}
	sort.Slice(dets, func(a, b int) bool { return dets[a].score > dets[b].score })
	var rec, prec []float64
	tp := 0
	for i, d := range dets {
		if d.tp {
			tp++
		}
		rec = append(rec, float64(tp)/float64(nGT))
		prec = append(prec, float64(tp)/float64(i+1))
	}
	for i := len(prec) - 2; i >= 0; i-- {
		prec[i] = math.Max(prec[i], prec[i+1])
	}
	r101 := make([]float64, 101)
	p101 := make([]float64, 101)
	ap := 0.0
	j := 0
	for k := range r101 {
		r := float64(k) / 100
		for j < len(rec) && rec[j] < r {
			j++
		}
		r101[k] = r
		if j < len(rec) {
			p101[k] = prec[j]
		}
		ap += p101[k] / 101
	}
	return r101, p101, ap
}

// TestWriteSamples writes sample figures and a report into the folder named
// by GHMDET_SAMPLES_DIR (skipped when unset), for looking at them.
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("GHMDET_SAMPLES_DIR")
	if dir == "" {
		t.Skip("GHMDET_SAMPLES_DIR not set: no sample figures written")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const iters = 3000
	x, cls := lossCurve(11, iters, 1.1, 0.18)
	_, reg := lossCurve(12, iters, 0.65, 0.22)
	total := make([]float64, iters)
	for i := range total {
		total[i] = cls[i] + reg[i]
	}
	cls[1500] = math.NaN() // a diverged step is skipped, not fatal
	series := []Series{{"total", x, total}, {"classification (GHM-C)", x, cls}, {"regression (GHM-R)", x, reg}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(PlotSeries(filepath.Join(dir, "loss.png"), "Training loss", "iteration", "loss", series, Smooth(50)))
	must(PlotSeries(filepath.Join(dir, "loss_log.png"), "Training loss", "iteration", "loss (log scale)", series, Smooth(50), LogY()))
	must(WriteSeriesCSV(filepath.Join(dir, "loss.csv"), series))

	lr := make([]float64, iters)
	for i := range lr {
		switch {
		case i < 500:
			lr[i] = 0.01 * (1.0/3 + (2.0/3)*float64(i)/500)
		case i < 2000:
			lr[i] = 0.01
		case i < 2700:
			lr[i] = 0.001
		default:
			lr[i] = 0.0001
		}
	}
	must(PlotSeries(filepath.Join(dir, "lr.png"), "Learning rate", "iteration", "learning rate", []Series{{"lr", x, lr}}, LogY()))

	epochs := make([]float64, 12)
	ap := make([]float64, 12)
	ap50 := make([]float64, 12)
	for i := range epochs {
		epochs[i] = float64(i + 1)
		ap[i] = 0.52 * (1 - math.Exp(-float64(i+1)/3.5))
		ap50[i] = 0.86 * (1 - math.Exp(-float64(i+1)/2.5))
	}
	must(PlotSeries(filepath.Join(dir, "ap.png"), "Validation AP per epoch", "epoch", "AP", []Series{{"AP@[.5:.95]", epochs, ap}, {"AP50", epochs, ap50}}))

	var curves []PRCurve
	for k, c := range []struct {
		name       string
		gt, fp     int
		q, capture float64
	}{{"RBC", 900, 700, 1.6, 0.93}, {"WBC", 80, 30, 3.5, 1}, {"Platelets", 75, 90, 1.2, 0.85}} {
		r, p, a := simulatePR(uint64(k), c.gt, c.fp, c.q, c.capture)
		curves = append(curves, PRCurve{Name: c.name, Recall: r, Precision: p, AP: a})
	}
	must(PlotPR(filepath.Join(dir, "pr.png"), curves))
	must(WritePRJSON(filepath.Join(dir, "pr.json"), curves))
	var many []PRCurve
	for k := range 30 {
		r, p, a := simulatePR(uint64(100+k), 50+k*7, 20+k*5, 0.5+float64(k%7)*0.4, 0.7+0.01*float64(k))
		many = append(many, PRCurve{Name: "c", Recall: r, Precision: p, AP: a})
	}
	must(PlotPR(filepath.Join(dir, "pr_many.png"), many))

	h := sampleHistogram()
	must(PlotGradNorm(filepath.Join(dir, "gradnorm.png"), h))
	must(WriteGradHistogramCSV(filepath.Join(dir, "gradnorm.csv"), h))

	must(WriteReport(dir, Report{
		Title:   "ghmdet run: retinanet-r18 on bccd <sample>",
		Summary: [][2]string{{"model", "RetinaNet R18-FPN"}, {"loss", "GHM-C + GHM-R"}, {"AP", "0.512"}},
		Tables: []Table{{Title: "AP per class", Header: []string{"class", "AP", "AP50"}, Rows: [][]string{
			{"RBC", fmtf(curves[0].AP), "0.871"}, {"WBC", fmtf(curves[1].AP), "0.990"}, {"Platelets", fmtf(curves[2].AP), "0.802"}}}},
		Images: []Figure{{"Training loss", "loss.png"}, {"Learning rate", "lr.png"}, {"AP per epoch", "ap.png"}, {"Precision-recall", "pr.png"}, {"Gradient norm", "gradnorm.png"}},
		Notes:  []string{"Sample data, made up for checking the figures."},
	}))
}

func fmtf(v float64) string { return formatFloat(math.Round(v*1000) / 1000) }
