package inference

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/engine"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/nn"
)

// Engine names the implementation that runs the network.
type Engine string

const (
	// EngineAuto is EngineNative (every network ghmdet trains is supported).
	EngineAuto Engine = "auto"
	// EngineNative is package engine: the plain-Go forward pass over the
	// trained weights, with AVX-512 kernels where the CPU has them.
	EngineNative Engine = "native"
	// EngineGraph is the GoMLX inference graph on the compute backend (the
	// reference the native engine is tested against).
	EngineGraph Engine = "graph"
)

// Engines lists the valid Engine values.
var Engines = []Engine{EngineAuto, EngineNative, EngineGraph}

// ParseEngine checks an engine name ("" is EngineAuto).
func ParseEngine(name string) (Engine, error) {
	if name == "" {
		return EngineAuto, nil
	}
	if e := Engine(name); slices.Contains(Engines, e) {
		return e, nil
	}
	names := make([]string, len(Engines))
	for i, e := range Engines {
		names[i] = string(e)
	}
	return "", fmt.Errorf("engine %q unknown (allowed: %s)", name, strings.Join(names, ", "))
}

// Resolve returns the engine that runs: EngineNative for EngineAuto.
func (e Engine) Resolve() Engine {
	if e == EngineAuto || e == "" {
		return EngineNative
	}
	return e
}

// ResolveFor returns the engine that runs on the backend of a
// configuration (see backend.Config): EngineAuto is EngineGraph on the
// backends that run the graph faster than the native CPU engine (XLA:
// backend.PrefersGraph), else EngineNative.
func (e Engine) ResolveFor(backendConfig string) Engine {
	if (e == EngineAuto || e == "") && backend.PrefersGraph(backendConfig) {
		return EngineGraph
	}
	return e.Resolve()
}

// PredictorOptions configures NewPredictorWith.
type PredictorOptions struct {
	// Engine runs the network (default EngineAuto: native, or the graph
	// when backend is XLA).
	Engine Engine
	// Threads bounds the goroutines of the native engine (0: GOMAXPROCS).
	Threads int
}

// StoreWeights reads the network's variables from store (under ModelScope)
// for the native engine.
func StoreWeights(store *mlmodel.Store) engine.Weights {
	return func(name string) ([]float32, []int, error) {
		v := store.GetVariable("/" + ModelScope + "/" + name)
		if v == nil {
			return nil, nil, fmt.Errorf("not in the store")
		}
		t, err := v.Value()
		if err != nil {
			return nil, nil, err
		}
		d, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, nil, err
		}
		return d, slices.Clone(t.Shape().Dimensions), nil
	}
}

// Detection is one detected object in original image coordinates.
type Detection struct {
	// Box is x1, y1, x2, y2 in pixels of the original image.
	Box [4]float64
	// Class is the contiguous class index; Score its probability.
	Class int
	Score float64
}

// Predictor runs a trained detector on images of any size: it resizes them to
// fit the configured input canvas keeping the aspect ratio, pads, runs the
// network, post-processes (top-k, threshold, NMS) and maps the boxes back to
// the original image. Its methods are safe for concurrent use (the compiled
// graphs are shared, one compiled per batch size on first use; the native
// engine takes a workspace per concurrent call).
type Predictor struct {
	spec    Spec
	exec    *mlmodel.Exec  // the graph engine
	native  *engine.Engine // the native engine
	outs    sync.Pool      // *engine.Output
	tf      *transform.Transform
	anchors box.Anchors
	offsets []int
	counts  []int
}

// NewPredictor compiles the inference graph over the variables of store
// (the GoMLX graph engine, as evaluation during training runs it; see
// NewPredictorWith for the native engine). The store must hold the
// detector's variables (trained or loaded from a checkpoint); later changes
// to them are not seen (make a new Predictor).
func NewPredictor(backend compute.Backend, store *mlmodel.Store, spec Spec) (*Predictor, error) {
	return NewPredictorWith(backend, store, spec, PredictorOptions{Engine: EngineGraph})
}

// NewPredictorWith prepares the network over the variables of store with
// the engine of opts: the native engine reads and packs the weights (it
// needs no backend: backend may be nil), the graph engine compiles the
// inference graph on backend.
func NewPredictorWith(backend compute.Backend, store *mlmodel.Store, spec Spec, opts PredictorOptions) (*Predictor, error) {
	kind := opts.Engine.Resolve()
	if (opts.Engine == EngineAuto || opts.Engine == "") && backend != nil && nn.BuiltinConvBackend(backend.Name()) {
		kind = EngineGraph
	}
	if _, err := ParseEngine(string(kind)); err != nil {
		return nil, fmt.Errorf("predictor: %w", err)
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	tf, err := transform.New(spec.Transform())
	if err != nil {
		return nil, fmt.Errorf("predictor transform: %w", err)
	}
	anchors, err := box.GenerateAnchors(spec.Anchors, spec.Model.InputHeight, spec.Model.InputWidth)
	if err != nil {
		return nil, fmt.Errorf("predictor anchors: %w", err)
	}
	offsets, counts := LevelOffsets(spec.Model)
	if n := offsets[len(offsets)-1] + counts[len(counts)-1]; n != len(anchors.Boxes) {
		return nil, fmt.Errorf("predictor: the network emits %d anchors per image but the anchor generator made %d", n, len(anchors.Boxes))
	}
	p := &Predictor{spec: spec, tf: tf, anchors: anchors, offsets: offsets, counts: counts}
	p.outs.New = func() any { return new(engine.Output) }
	if kind == EngineNative {
		p.native, err = engine.New(spec.Model, StoreWeights(store), engine.Options{Threads: opts.Threads})
		if err != nil {
			return nil, fmt.Errorf("predictor: %w", err)
		}
		return p, nil
	}
	if backend == nil {
		return nil, fmt.Errorf("predictor: the graph engine needs a compute backend")
	}
	p.exec, err = mlmodel.NewExec(backend, store, GraphFn(spec.Model))
	if err != nil {
		return nil, fmt.Errorf("predictor graph: %w", err)
	}
	return p, nil
}

// Engine returns the engine that runs the network (EngineNative or
// EngineGraph).
func (p *Predictor) Engine() Engine {
	if p.native != nil {
		return EngineNative
	}
	return EngineGraph
}

// Close releases the compiled graphs.
func (p *Predictor) Close() {
	if p.exec != nil {
		p.exec.Finalize()
	}
}

// Spec returns the predictor's Spec.
func (p *Predictor) Spec() Spec { return p.spec }

// Transform returns the input transform (safe for concurrent use).
func (p *Predictor) Transform() *transform.Transform { return p.tf }

// SetMaxBatchSizes bounds the number of batch sizes the graph engine
// compiles a graph for (each batch size is compiled once, on first use); a
// batch of another size beyond that many is an error. The default is
// GoMLX's (32). The native engine has no such limit.
func (p *Predictor) SetMaxBatchSizes(n int) {
	if p.exec != nil {
		p.exec.SetMaxCache(n)
	}
}

// Predict detects objects in one decoded image.
func (p *Predictor) Predict(img *imageio.RGB) ([]Detection, error) {
	pix, rec, err := p.tf.Apply(img, transform.Params{})
	if err != nil {
		return nil, err
	}
	dets, err := p.PredictBatch(pix, 1, []transform.Record{rec})
	if err != nil {
		return nil, err
	}
	return dets[0], nil
}

// PredictBatch detects objects in a batch of already transformed images
// (B x H x W x 3 float32 NHWC at the configured input size) whose transform
// records map boxes back to the original images, with the Spec's
// post-processing.
func (p *Predictor) PredictBatch(pix []float32, b int, recs []transform.Record) ([][]Detection, error) {
	return p.PredictBatchWith(pix, b, recs, nil)
}

// PredictBatchWith is PredictBatch with post-processing settings per image;
// post nil uses the Spec's (Test) for every image.
func (p *Predictor) PredictBatchWith(pix []float32, b int, recs []transform.Record, post []box.PostProcessConfig) ([][]Detection, error) {
	h, w := p.spec.Model.InputHeight, p.spec.Model.InputWidth
	if len(pix) != b*h*w*3 || len(recs) != b {
		return nil, fmt.Errorf("predict: batch of %d floats and %d records does not match %d images of %dx%d", len(pix), len(recs), b, w, h)
	}
	if post != nil && len(post) != b {
		return nil, fmt.Errorf("predict: %d post-processing settings for %d images", len(post), b)
	}
	probs, deltas, release, err := p.network(pix, b, h, w)
	if err != nil {
		return nil, err
	}
	defer release()
	k := p.spec.Model.NumClasses
	n := len(p.anchors.Boxes)
	if len(probs) != b*n*k || len(deltas) != b*n*4 {
		return nil, fmt.Errorf("predict: the network gave %d class and %d box values for %d images of %d anchors", len(probs), len(deltas), b, n)
	}
	res := make([][]Detection, b)
	lp := make([][]float32, len(p.offsets))
	ld := make([][]float32, len(p.offsets))
	for i := 0; i < b; i++ {
		for l := range p.offsets {
			lp[l] = probs[(i*n+p.offsets[l])*k : (i*n+p.offsets[l]+p.counts[l])*k]
			ld[l] = deltas[(i*n+p.offsets[l])*4 : (i*n+p.offsets[l]+p.counts[l])*4]
		}
		pp := p.spec.Test
		if post != nil {
			pp = post[i]
		}
		rec := recs[i]
		dets, err := box.PostProcess(p.anchors, lp, ld, k, rec.ResizedW, rec.ResizedH, p.spec.Coder, pp)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		out := make([]Detection, 0, len(dets))
		for _, d := range dets {
			bx := rec.Inverse([4]float64{float64(d.Box[0]), float64(d.Box[1]), float64(d.Box[2]), float64(d.Box[3])})
			if bx[2] <= bx[0] || bx[3] <= bx[1] {
				continue
			}
			out = append(out, Detection{Box: bx, Class: d.Class, Score: float64(d.Score)})
		}
		res[i] = out
	}
	return res, nil
}

// network runs the network on the batch and returns the class
// probabilities [b, N, K] and box deltas [b, N, 4]; release returns their
// buffers once the caller is done with them.
func (p *Predictor) network(pix []float32, b, h, w int) (probs, deltas []float32, release func(), err error) {
	if p.native != nil {
		out := p.outs.Get().(*engine.Output)
		if err := p.native.Forward(pix, b, h, w, true, out); err != nil {
			p.outs.Put(out)
			return nil, nil, nil, fmt.Errorf("predict: %w", err)
		}
		return out.Cls, out.Box, func() { p.outs.Put(out) }, nil
	}
	in := tensors.FromFlatDataAndDimensions(pix, b, h, w, 3)
	outs, err := p.exec.Exec(in)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("predict: %w", err)
	}
	defer func() {
		for _, o := range outs {
			o.FinalizeAll()
		}
	}()
	if probs, err = tensors.CopyFlatData[float32](outs[0]); err != nil {
		return nil, nil, nil, err
	}
	if deltas, err = tensors.CopyFlatData[float32](outs[1]); err != nil {
		return nil, nil, nil, err
	}
	return probs, deltas, func() {}, nil
}
