package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/engine"
	"github.com/ghmdet/ghmdet/internal/inference"
	"github.com/ghmdet/ghmdet/internal/ortnode"
	"github.com/ghmdet/ghmdet/onnxexport"
)

// ONNXOptions configures ONNXBench.
type ONNXOptions struct {
	// Model is a run directory or checkpoint; empty: the cpu benchmark's
	// network (the cpu preset, 256 x 256) with initial weights.
	Model string
	// Runtime is the onnxruntime-node package's folder (see package
	// ortnode).
	Runtime string
	// Batch is the number of images per run (default 1).
	Batch int
	// Threads is the threads of both engines (default 2).
	Threads int
	// Warmup untimed and Runs timed runs per engine (defaults 3 and 20).
	Warmup, Runs int
}

// ONNXResult compares the inference speed of the network (the forward pass
// with the class sigmoid, no post-processing) in ONNX Runtime's CPU
// engine, on the model ghmdet exports, and in ghmdet's native engine.
type ONNXResult struct {
	Model       string  `json:"model"`
	Input       string  `json:"input"`
	Batch       int     `json:"batch"`
	Threads     int     `json:"threads"`
	Runs        int     `json:"runs"`
	ONNXRuntime string  `json:"onnxruntime_version"`
	NativeS     float64 `json:"native_s"`
	ONNXS       float64 `json:"onnxruntime_s"`
	// NativeImagesPerS and ONNXImagesPerS are images per second (batch /
	// median seconds per run).
	NativeImagesPerS float64   `json:"native_images_per_s"`
	ONNXImagesPerS   float64   `json:"onnxruntime_images_per_s"`
	NativeSamples    []float64 `json:"native_samples_s"`
	ONNXSamples      []float64 `json:"onnxruntime_samples_s"`
	// LoadBefore and LoadAfter are the machine's load averages.
	LoadBefore []float64 `json:"load_before,omitempty"`
	LoadAfter  []float64 `json:"load_after,omitempty"`
}

// ONNXBench exports the model (or the cpu benchmark's network) to ONNX,
// times it in ONNX Runtime (through Node.js, outside the timed runs) and
// times the native engine on the same images, one after the other.
func ONNXBench(ctx context.Context, o ONNXOptions) (ONNXResult, error) {
	if o.Batch == 0 {
		o.Batch = 1
	}
	if o.Threads == 0 {
		o.Threads = 2
	}
	if o.Warmup == 0 {
		o.Warmup = 3
	}
	if o.Runs == 0 {
		o.Runs = 20
	}
	if o.Batch < 0 || o.Threads < 0 || o.Warmup < 0 || o.Runs < 0 {
		return ONNXResult{}, fmt.Errorf("bench onnx: batch, threads, warmup and runs must be positive")
	}
	spec, get, name, err := onnxModel(o.Model)
	if err != nil {
		return ONNXResult{}, err
	}
	res := ONNXResult{Model: name, Batch: o.Batch, Threads: o.Threads, Runs: o.Runs, LoadBefore: LoadAverage(),
		Input: fmt.Sprintf("%dx%d", spec.Model.InputWidth, spec.Model.InputHeight)}
	h, w := spec.Model.InputHeight, spec.Model.InputWidth
	// Images: normalised noise for the native engine, the same as 0..255
	// pixels (NCHW) for the ONNX model, which normalises them itself.
	mean, std := spec.Mean, spec.Std
	if std == [3]float32{} {
		mean, std = transform.DefaultMean, transform.DefaultStd
	}
	rng := rand.New(rand.NewPCG(1, 2))
	norm := make([]float32, o.Batch*h*w*3)
	raw := make([]float32, len(norm))
	for i := range norm {
		norm[i] = float32(rng.NormFloat64())
		b, p, c := i/(h*w*3), i/3%(h*w), i%3
		raw[(b*3+c)*h*w+p] = norm[i]*std[c] + mean[c]
	}

	data, err := onnxexport.Build(spec, get, onnxexport.Options{})
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "ghmdet-bench-onnx-")
	if err != nil {
		return res, fmt.Errorf("bench onnx: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return res, fmt.Errorf("bench onnx: %w", err)
	}
	ort, err := ortnode.Run(ctx, o.Runtime, ortnode.Job{Model: file, Threads: o.Threads, Warmup: o.Warmup, Repeat: o.Runs,
		Inputs: []ortnode.Input{{Name: onnxexport.InputImages, Dims: []int{o.Batch, 3, h, w}, Data: raw}}})
	if err != nil {
		return res, fmt.Errorf("bench onnx: %w", err)
	}
	res.ONNXRuntime = ort.Version
	res.ONNXSamples = ort.Times

	eng, err := engine.New(spec.Model, get, engine.Options{Threads: o.Threads})
	if err != nil {
		return res, fmt.Errorf("bench onnx: %w", err)
	}
	var out engine.Output
	for i := range o.Warmup + o.Runs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		start := time.Now()
		if err := eng.Forward(norm, o.Batch, h, w, true, &out); err != nil {
			return res, fmt.Errorf("bench onnx: %w", err)
		}
		if i >= o.Warmup {
			res.NativeSamples = append(res.NativeSamples, time.Since(start).Seconds())
		}
	}
	res.NativeS, res.ONNXS = medianOf(res.NativeSamples), medianOf(res.ONNXSamples)
	if res.NativeS > 0 {
		res.NativeImagesPerS = float64(o.Batch) / res.NativeS
	}
	if res.ONNXS > 0 {
		res.ONNXImagesPerS = float64(o.Batch) / res.ONNXS
	}
	res.LoadAfter = LoadAverage()
	return res, nil
}

// onnxModel returns the Spec and weights of a run, or of the cpu
// benchmark's network with initial weights when path is empty, and a name
// for the report.
func onnxModel(path string) (inference.Spec, engine.Weights, string, error) {
	if path != "" {
		spec, get, err := onnxexport.Load(path)
		return spec, get, path, err
	}
	cfg, err := CPUConfig()
	if err != nil {
		return inference.Spec{}, nil, "", err
	}
	text, err := cfg.YAML()
	if err != nil {
		return inference.Spec{}, nil, "", fmt.Errorf("bench onnx: %w", err)
	}
	spec, err := inference.ParseSpec("cpu preset", text)
	if err != nil {
		return inference.Spec{}, nil, "", err
	}
	store, err := InitialStore(spec.Model, 1)
	if err != nil {
		return inference.Spec{}, nil, "", err
	}
	return spec, inference.StoreWeights(store), "cpu preset (initial weights)", nil
}

// medianOf returns the median of v (0 when empty).
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
