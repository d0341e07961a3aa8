package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/internal/inference"
	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/nn"
)

// Inference-only benchmark names: the inference of the r50-512 and cpu
// benchmarks (same networks, inputs and post-processing) with one engine,
// in a process that does nothing else, so that the peak memory is that of
// inference alone.
const (
	// R50InferNative is r50-512's inference on the native engine.
	R50InferNative = "r50-infer-native"
	// R50InferGraph is r50-512's inference on the GoMLX graph.
	R50InferGraph = "r50-infer-graph"
	// CPUInferNative is the cpu benchmark's inference on the native engine.
	CPUInferNative = "cpu-infer-native"
	// CPUInferGraph is the cpu benchmark's inference on the GoMLX graph.
	CPUInferGraph = "cpu-infer-graph"
)

// inferBenchmarks maps the inference-only names to their detector
// benchmark and engine.
var inferBenchmarks = map[string]struct {
	detector string
	engine   inference.Engine
}{
	R50InferNative: {R50, inference.EngineNative},
	R50InferGraph:  {R50, inference.EngineGraph},
	CPUInferNative: {CPU, inference.EngineNative},
	CPUInferGraph:  {CPU, inference.EngineGraph},
}

// PyTorchName returns the name of the PyTorch script's benchmark that
// name is compared with: "r50-infer" and "cpu-infer" (inference alone) for
// the inference-only benchmarks, name itself otherwise.
func PyTorchName(name string) string {
	if b, ok := inferBenchmarks[name]; ok {
		if b.detector == R50 {
			return "r50-infer"
		}
		return "cpu-infer"
	}
	return name
}

// runInfer runs an inference-only benchmark.
func runInfer(ctx context.Context, name string, opts Options) (Result, error) {
	b := inferBenchmarks[name]
	var (
		cfg detector.Config
		err error
	)
	if b.detector == R50 {
		cfg, err = R50Config()
	} else {
		cfg, err = CPUConfig()
	}
	if err != nil {
		return Result{}, err
	}
	if opts.Small {
		cfg.Model.InputWidth, cfg.Model.InputHeight = SmallInput, SmallInput
		if b.detector == CPU {
			cfg.Train.BatchSize = 2
		}
	}
	return InferBench(ctx, name, cfg, b.engine, opts)
}

// InitialStore returns a store holding the network of cfg with seeded
// initial values in plain Go (no compute backend, so that a native-engine
// benchmark holds no backend memory): convolution weights drawn as their
// layer's initialiser (N(0, 2/fan_out), or the op's normal initialiser),
// the op's constant biases (the class prior), identity normalisations.
func InitialStore(cfg model.Config, seed uint64) (*mlmodel.Store, error) {
	arch, err := model.Describe(cfg)
	if err != nil {
		return nil, err
	}
	ops := append(append(append([]model.Op{}, arch.Ops...), arch.Head.Cls...), arch.Head.Box...)
	byName := map[string]model.Op{}
	for _, op := range ops {
		byName[op.Name] = op
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	store := mlmodel.NewStore()
	for path, dims := range model.VariableShapes(ops) {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		scope, name := path[:strings.LastIndex(path, "/")], path[strings.LastIndex(path, "/")+1:]
		switch name {
		case "weights":
			std := math.Sqrt(2 / float64(dims[0]*dims[1]*dims[3]))
			if op := byName[scope]; op.Init != nil && op.Init.Kind == nn.InitNormal {
				std = op.Init.Std
			}
			for i := range v {
				v[i] = float32(std * rng.NormFloat64())
			}
		case "biases":
			if op := byName[scope]; op.BiasInit != nil && op.BiasInit.Kind == nn.InitConstant {
				for i := range v {
					v[i] = float32(op.BiasInit.Value)
				}
			}
		case "gamma", "variance":
			for i := range v {
				v[i] = 1
			}
		}
		if _, err := store.CreateVariable("/"+inference.ModelScope+"/"+path, tensors.FromFlatDataAndDimensions(v, dims...)); err != nil {
			return nil, fmt.Errorf("bench: variable %s: %w", path, err)
		}
	}
	return store, nil
}

// InferBench times the inference of the detector cfg with the given engine
// on SyntheticBatch(cfg, 1): Options.Warmup untimed and Options.Runs timed
// calls of the predictor (network and post-processing), over initial
// weights (InitialStore). The graph engine's backend is created only for it.
func InferBench(ctx context.Context, name string, cfg detector.Config, engine inference.Engine, opts Options) (Result, error) {
	opts = opts.withDefaults()
	start := time.Now()
	store, err := InitialStore(cfg.Model, 1)
	if err != nil {
		return Result{}, err
	}
	var bk compute.Backend
	if engine == inference.EngineGraph {
		if bk, err = backend.New(opts.Backend); err != nil {
			return Result{}, err
		}
	}
	pred, err := detector.NewPredictorWith(bk, store, cfg, detector.PredictOptions{Engine: engine})
	if err != nil {
		return Result{}, err
	}
	defer pred.Close()
	batch := SyntheticBatch(cfg, 1)
	inferOnce := func() error {
		_, err := pred.PredictBatch(batch.Images, batch.B, batch.Records)
		return err
	}
	_, times, err := timeRuns(ctx, opts.Warmup, opts.Runs, opts.profile(name, "infer"), inferOnce)
	if err != nil {
		return Result{}, fmt.Errorf("inference: %w", err)
	}
	res := Result{
		InferS: median(times),
		Batch:  batch.B,
		Input:  fmt.Sprintf("%dx%d", batch.W, batch.H),
		Engine: string(pred.Engine()),
		Runs:   opts.Runs, WarmupRuns: opts.Warmup,
		SetupS:  (time.Since(start) - sum(times)).Seconds(),
		Samples: map[string][]float64{"infer": seconds(times)},
	}
	res.InferImagesPerS = float64(batch.B) / res.InferS
	return res, nil
}
