package detector

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/loss"
	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/report"
)

// Histogram resolutions of the gradient-norm analysis: the GHM-C and GHM-R
// default bin counts, so the figures show the regions the losses weigh.
const (
	AnalyzeClsBins = 30
	AnalyzeBoxBins = 10
)

// GradNormAnalysis is the distribution of the gradient norm g over the
// anchors of a dataset for a model as it is: for classification
// g = |sigmoid(x) - t| over every valid (anchor, class) entry, for box
// regression g = |d| / sqrt(d^2 + mu^2) over the 4 coordinates of every
// positive anchor (the quantities GHM-C and GHM-R bin).
type GradNormAnalysis struct {
	Images              int
	ClsEdges, ClsCounts []float64
	BoxEdges, BoxCounts []float64
}

// AnalyzeGradNorm computes the gradient-norm distributions of the model in
// store on up to maxImages images of ds (all when maxImages <= 0). The
// model's class k is taken as ds's class k: the numbers of classes must
// agree; comparing the names is the caller's choice (see CheckClasses).
func AnalyzeGradNorm(backend compute.Backend, store *mlmodel.Store, cfg Config, ds *data.Dataset, maxImages int) (*GradNormAnalysis, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckClasses(cfg, ds, true); err != nil {
		return nil, fmt.Errorf("analyze %s: %w", ds.Name, err)
	}
	anchors, err := box.GenerateAnchors(cfg.Anchors, cfg.Model.InputHeight, cfg.Model.InputWidth)
	if err != nil {
		return nil, err
	}
	mu := cfg.Loss.GHMRMu
	exec, err := mlmodel.NewExec(backend, store, func(scope *mlmodel.Scope, images, clsT, clsW, boxT, boxW *Node) []*Node {
		out := model.Forward(scope.In(ModelScope), cfg.Model, images)
		logits := Concatenate(out.Cls, 1)
		deltas := Concatenate(out.Box, 1)
		k := cfg.Model.NumClasses
		cw := BroadcastToDims(ExpandAxes(clsW, -1), clsW.Shape().Dim(0), clsW.Shape().Dim(1), k)
		hc := loss.GradientNormHistogram(loss.GradientNormC(logits, clsT), cw, AnalyzeClsBins)
		hb := loss.GradientNormHistogram(loss.GradientNormR(deltas, boxT, mu), boxW, AnalyzeBoxBins)
		return []*Node{hc, hb}
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	ld, err := evalLoader(&cfg, ds, EvalBatch)
	if err != nil {
		return nil, err
	}
	res := &GradNormAnalysis{
		ClsCounts: make([]float64, AnalyzeClsBins), BoxCounts: make([]float64, AnalyzeBoxBins),
	}
	for i := 0; i <= AnalyzeClsBins; i++ {
		res.ClsEdges = append(res.ClsEdges, float64(i)/AnalyzeClsBins)
	}
	for i := 0; i <= AnalyzeBoxBins; i++ {
		res.BoxEdges = append(res.BoxEdges, float64(i)/AnalyzeBoxBins)
	}
	it := ld.Epoch(context.Background(), 0)
	defer it.Close()
	var tg batchTargets
	n, k := len(anchors.Boxes), cfg.Model.NumClasses
	for maxImages <= 0 || res.Images < maxImages {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("analysis data: %w", err)
		}
		if err := buildTargets(&tg, anchors, b, k, box.TargetConfig{Assign: cfg.Assign, Coder: cfg.Coder}); err != nil {
			return nil, err
		}
		outs, err := exec.Exec(
			tensors.FromFlatDataAndDimensions(b.Images, b.B, b.H, b.W, 3),
			tensors.FromFlatDataAndDimensions(tg.clsT, b.B, n, k),
			tensors.FromFlatDataAndDimensions(tg.clsW, b.B, n),
			tensors.FromFlatDataAndDimensions(tg.boxT, b.B, n, 4),
			tensors.FromFlatDataAndDimensions(tg.boxW, b.B, n, 4))
		if err != nil {
			return nil, fmt.Errorf("analysis: %w", err)
		}
		for j, dst := range [][]float64{res.ClsCounts, res.BoxCounts} {
			counts, err := tensors.CopyFlatData[int32](outs[j])
			if err != nil {
				return nil, err
			}
			for i, c := range counts {
				dst[i] += float64(c)
			}
		}
		res.Images += b.B
		ld.Recycle(b)
	}
	return res, nil
}

// ghmrWeights returns the effective per-example weight, relative to ASL1,
// that GHM-R (without momentum) gives each bin: tot / (count_i * n).
func ghmrWeights(counts []float64) map[string][]float64 {
	tot, nonEmpty := 0.0, 0
	for _, c := range counts {
		tot += c
		if c > 0 {
			nonEmpty++
		}
	}
	asl1 := make([]float64, len(counts))
	ghmr := make([]float64, len(counts))
	for i, c := range counts {
		asl1[i] = 1
		ghmr[i] = math.NaN()
		if c > 0 {
			ghmr[i] = tot / (c * float64(nonEmpty))
		}
	}
	return map[string][]float64{"ASL1": asl1, "GHM-R": ghmr}
}

// WriteGradNorm writes the analysis as figures (PNG) and numbers (CSV) into
// dir: gradnorm_cls.png/.csv and gradnorm_box.png/.csv. It returns the
// figures written.
func WriteGradNorm(dir string, a *GradNormAnalysis, focalGamma float64) ([]report.Figure, error) {
	cls := report.GradHistogram{
		Edges: a.ClsEdges, Counts: a.ClsCounts,
		Weights: report.GHMWeights(a.ClsEdges, a.ClsCounts, focalGamma),
		Title:   fmt.Sprintf("Classification gradient norm over %d images", a.Images),
	}
	bx := report.GradHistogram{
		Edges: a.BoxEdges, Counts: a.BoxCounts, Weights: ghmrWeights(a.BoxCounts),
		Title: fmt.Sprintf("Box regression gradient norm (positive anchors) over %d images", a.Images),
	}
	var figs []report.Figure
	for _, item := range []struct {
		name, title string
		h           report.GradHistogram
	}{
		{"gradnorm_cls", "Gradient-norm distribution, classification (CE, focal loss, GHM-C weights)", cls},
		{"gradnorm_box", "Gradient-norm distribution, box regression (ASL1, GHM-R weights)", bx},
	} {
		if err := report.PlotGradNorm(filepath.Join(dir, item.name+".png"), item.h); err != nil {
			return nil, err
		}
		if err := report.WriteGradHistogramCSV(filepath.Join(dir, item.name+".csv"), item.h); err != nil {
			return nil, err
		}
		figs = append(figs, report.Figure{Title: item.title, Path: item.name + ".png"})
	}
	return figs, nil
}
