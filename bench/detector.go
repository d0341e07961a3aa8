package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/ghmdet/ghmdet/data/loader"
	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/train"
)

// BoxesPerImage is the number of ground-truth boxes of each synthetic
// training image.
const BoxesPerImage = 4

// R50Config returns the configuration of the r50-512 benchmark: the
// reference preset (ResNet-50, FPN 256, heads 4 x 256, 80 classes, GHM-C +
// GHM-R, SGD with momentum) at 512 x 512, batch 1, one image per loss call.
func R50Config() (detector.Config, error) {
	cfg, err := detector.Preset("reference")
	if err != nil {
		return cfg, err
	}
	cfg.Model.InputWidth, cfg.Model.InputHeight = 512, 512
	cfg.Model.NumClasses = 80
	cfg.Train.BatchSize = 1
	cfg.Loss.GroupSize = 1
	return cfg, nil
}

// CPUConfig returns the configuration of the cpu benchmark: the cpu preset
// as it is (its input size, batch size, classes, losses and optimiser).
func CPUConfig() (detector.Config, error) {
	return detector.Preset("cpu")
}

// SmallInput is the input side of the detector benchmarks in
// Options.Small mode (batch 1 for r50-512, 2 for cpu).
const SmallInput = 128

func runR50(ctx context.Context, opts Options) (Result, error) {
	cfg, err := R50Config()
	if err != nil {
		return Result{}, err
	}
	if opts.Small {
		cfg.Model.InputWidth, cfg.Model.InputHeight = SmallInput, SmallInput
	}
	return DetectorBench(ctx, R50, cfg, opts)
}

func runCPU(ctx context.Context, opts Options) (Result, error) {
	cfg, err := CPUConfig()
	if err != nil {
		return Result{}, err
	}
	if opts.Small {
		cfg.Model.InputWidth, cfg.Model.InputHeight = SmallInput, SmallInput
		cfg.Train.BatchSize = 2
	}
	return DetectorBench(ctx, CPU, cfg, opts)
}

// SyntheticBatch returns a reproducible batch for cfg: Train.BatchSize
// images at the configured input size with pixel values drawn from N(0, 1)
// (normalised inputs), BoxesPerImage boxes per image of 16 pixels to half
// the image side and random classes, and identity transform records.
func SyntheticBatch(cfg detector.Config, seed uint64) *loader.Batch {
	b, h, w := cfg.Train.BatchSize, cfg.Model.InputHeight, cfg.Model.InputWidth
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	out := &loader.Batch{
		Images: make([]float32, b*h*w*3), B: b, H: h, W: w,
		Targets: make([]loader.Target, b), Records: make([]transform.Record, b),
		Indices: make([]int, b), ImageIDs: make([]int64, b),
	}
	for i := range out.Images {
		out.Images[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		t := &out.Targets[i]
		for j := range BoxesPerImage {
			bw := 16 + rng.Float64()*float64(w/2-16)
			bh := 16 + rng.Float64()*float64(h/2-16)
			x1 := rng.Float64() * (float64(w) - bw)
			y1 := rng.Float64() * (float64(h) - bh)
			t.Boxes = append(t.Boxes, [4]float32{float32(x1), float32(y1), float32(x1 + bw), float32(y1 + bh)})
			t.Classes = append(t.Classes, rng.IntN(cfg.Model.NumClasses))
			t.Ignore = append(t.Ignore, false)
			t.ObjectIDs = append(t.ObjectIDs, int64(i*BoxesPerImage+j+1))
		}
		out.Records[i] = transform.Record{
			OrigW: w, OrigH: h, ScaleX: 1, ScaleY: 1,
			ResizedW: w, ResizedH: h, CanvasW: w, CanvasH: h,
		}
		out.Indices[i] = i
		out.ImageIDs[i] = int64(i + 1)
	}
	return out
}

// Schedule position used for the benchmark steps (the learning rate does
// not change the work done).
const (
	benchMaxIters  = 1000
	benchMaxEpochs = 12
)

// DetectorBench times the training step and the inference of the detector
// cfg on SyntheticBatch(cfg, 1): Options.Warmup untimed and Options.Runs
// timed training steps, then the same for inference with the trained
// variables. A step that the non-finite guard rejects still did all the
// work and is timed like the others. name labels the CPU profiles (see
// Options.ProfileDir).
func DetectorBench(ctx context.Context, name string, cfg detector.Config, opts Options) (Result, error) {
	opts = opts.withDefaults()
	bk, err := backend.New(opts.Backend)
	if err != nil {
		return Result{}, err
	}
	setupStart := time.Now()
	tr, err := detector.NewTrainer(bk, cfg)
	if err != nil {
		return Result{}, err
	}
	batch := SyntheticBatch(cfg, 1)
	step := func(b *loader.Batch, n int) (train.Result, error) {
		return tr.StepBatch(b, n, 0, benchMaxIters, benchMaxEpochs)
	}
	n := 0
	trainOnce := func() error {
		n++
		_, err := step(batch, n)
		var nf *train.NonFiniteError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	_, trainTimes, err := timeRuns(ctx, opts.Warmup, opts.Runs, opts.profile(name, "train"), trainOnce)
	if err != nil {
		return Result{}, fmt.Errorf("training step: %w", err)
	}
	trainSetup := time.Since(setupStart) - sum(trainTimes)

	inferStart := time.Now()
	pred, err := detector.NewPredictor(bk, tr.Store(), cfg)
	if err != nil {
		return Result{}, err
	}
	defer pred.Close()
	inferOnce := func() error {
		_, err := pred.PredictBatch(batch.Images, batch.B, batch.Records)
		return err
	}
	_, inferTimes, err := timeRuns(ctx, opts.Warmup, opts.Runs, opts.profile(name, "infer"), inferOnce)
	if err != nil {
		return Result{}, fmt.Errorf("inference: %w", err)
	}
	inferSetup := time.Since(inferStart) - sum(inferTimes)

	res := Result{
		TrainStepS: median(trainTimes),
		InferS:     median(inferTimes),
		Batch:      batch.B,
		Input:      fmt.Sprintf("%dx%d", batch.W, batch.H),
		Runs:       opts.Runs, WarmupRuns: opts.Warmup,
		SetupS: (trainSetup + inferSetup).Seconds(),
		Samples: map[string][]float64{
			"train_step": seconds(trainTimes),
			"infer":      seconds(inferTimes),
		},
	}
	res.TrainImagesPerS = float64(batch.B) / res.TrainStepS
	res.InferImagesPerS = float64(batch.B) / res.InferS
	return res, nil
}

// profile returns the CPU profile path of one measurement ("" without
// ProfileDir).
func (o Options) profile(name, what string) string {
	if o.ProfileDir == "" {
		return ""
	}
	return filepath.Join(o.ProfileDir, name+"-"+what+".pprof")
}

// sum adds durations.
func sum(d []time.Duration) time.Duration {
	var s time.Duration
	for _, v := range d {
		s += v
	}
	return s
}
