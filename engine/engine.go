// Package engine runs trained ghmdet detectors in plain Go: a forward pass
// over the trained weights, with no graph compilation, for the network
// family the model package describes (ResNet-18/34/50, the tiny CPU
// backbone and MobileNetV2; FPN P3-P7; the shared class and box heads;
// frozen batch-norm, batch-norm with running statistics, group-norm or no
// normalisation).
//
// The engine follows the layer list of model.Describe, the same
// description the GoMLX graph builder (model.Forward) follows, and reads
// the weights by the variable names of that list. What it does:
//
//   - Tensors are NHWC float32, each with a zero border as wide as the
//     convolutions reading it pad, and channels rounded up to a multiple of
//     16 (one AVX-512 vector); every buffer of an input size and batch
//     capacity is allocated once (a workspace) and reused.
//   - Convolutions are direct (implicit im2col): a tile of up to 8 output
//     pixels of one row times 16 to 48 output channels accumulates in
//     registers over the kernel taps and the input channels, reading the
//     input in place; the weights are packed per block of output channels.
//     3x3 stride-1 convolutions use Winograd's F(2x2) or F(4x4, 3x3)
//     transforms, whose products run on the same tiles.
//     Batch-norm (frozen or running statistics) is folded into the weights
//     and bias; bias, the residual addition of a ResNet or MobileNetV2
//     block and the activation are applied as the tile is stored.
//     Group-norm needs statistics of the whole output first: its
//     convolution stores the raw output, then one pass gathers the
//     statistics and one pass applies the normalisation, the residual and
//     the activation.
//   - Depthwise convolutions (MobileNetV2, TensorFlow SAME padding),
//     max-pooling, the FPN's upsampling addition and the sigmoid of the
//     class outputs are vector loops over the channels.
//   - The head's prediction convolutions write straight into the output
//     arrays, in the anchor order of package box (level, y, x, anchor).
//   - Work is split across GOMAXPROCS goroutines (or Options.Threads) by
//     output rows.
//
// The tiles use AVX-512 when the CPU has it, checked at run time: their
// products are generated Go assembly (conv_kernels_amd64.s, written by
// gen_kernels.go), the rest vector code of package simd/archsimd
// (GOEXPERIMENT=simd). Otherwise, and in builds without the experiment,
// portable Go loops compute the same (SIMD reports which).
//
// Results match the GoMLX graph to float32 rounding (summation order
// differs): the tests compare both on every backbone.
package engine

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/ghmdet/ghmdet/model"
)

// loadGCPercent is the garbage collector's target while New prepares the
// weights (see NewArch).
const loadGCPercent = 10

// Weights returns the value of the variable at path name (relative to the
// model scope, e.g. "backbone/stem/conv1/weights") and its dimensions.
type Weights func(name string) (data []float32, dims []int, err error)

// Options configures an Engine.
type Options struct {
	// Threads is the number of goroutines that share each layer's work
	// (0: GOMAXPROCS at each call).
	Threads int
	// Scalar forces the portable Go loops even where AVX-512 is available
	// (tests and comparisons).
	Scalar bool
	// NoWinograd computes every convolution directly (tests and
	// comparisons; by default 3x3 stride-1 convolutions of 32 or more input
	// channels use Winograd: F(4x4, 3x3) from 128 input channels,
	// F(2x2, 3x3) below).
	NoWinograd bool
	// WinogradF2 uses F(2x2, 3x3) where F(4x4, 3x3) would serve (tests and
	// comparisons).
	WinogradF2 bool
}

// Engine runs one detector. It is safe for concurrent use: every call
// takes a workspace of its own (one is kept per concurrent caller and input
// size, for reuse).
type Engine struct {
	arch    model.Arch
	opts    Options
	layers  []layer    // per op of arch.Ops (nil entries for ops without weights)
	cls     []*layer   // per op of arch.Head.Cls
	box     []*layer   // per op of arch.Head.Box
	mu      sync.Mutex // guards plans and free
	plans   map[[2]int]*plan
	free    []*workspace
	maxFree int
}

// New prepares the engine for the detector cfg: it reads every weight with
// get, folds the batch-norms and packs the convolution weights.
func New(cfg model.Config, get Weights, opts Options) (*Engine, error) {
	arch, err := model.Describe(cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return NewArch(arch, get, opts)
}

// NewArch is New for a layer list.
//
// While it prepares the weights, the garbage collector runs more often
// (debug.SetGCPercent(loadGCPercent), restored after): the copies and
// float64 intermediates of each layer are garbage as soon as the layer is
// packed, and with the default setting they would pile up to the size of
// the model before being collected, raising the process's peak memory.
// Freed memory is returned to the system at the end.
func NewArch(arch model.Arch, get Weights, opts Options) (*Engine, error) {
	if opts.Threads < 0 {
		return nil, fmt.Errorf("engine: threads %d: must be >= 0", opts.Threads)
	}
	defer debug.FreeOSMemory()
	defer debug.SetGCPercent(debug.SetGCPercent(loadGCPercent))
	e := &Engine{arch: arch, opts: opts, plans: map[[2]int]*plan{}, maxFree: 4}
	e.layers = make([]layer, len(arch.Ops))
	for i, op := range arch.Ops {
		if err := e.layers[i].load(op, get, opts); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	for _, br := range []struct {
		ops []model.Op
		dst *[]*layer
	}{{arch.Head.Cls, &e.cls}, {arch.Head.Box, &e.box}} {
		for _, op := range br.ops {
			l := &layer{}
			if err := l.load(op, get, opts); err != nil {
				return nil, fmt.Errorf("engine: %w", err)
			}
			*br.dst = append(*br.dst, l)
		}
	}
	return e, nil
}

// SIMD reports whether the engine runs its AVX-512 kernels (false: the
// portable loops).
func (e *Engine) SIMD() bool { return useSIMD && !e.opts.Scalar }

// Arch returns the layer list the engine runs.
func (e *Engine) Arch() model.Arch { return e.arch }

// Output holds the results of Forward; its slices are reused by later
// calls given the same Output.
type Output struct {
	// Cls holds [B, N, K] class logits, or probabilities with
	// ForwardOptions.Sigmoid; Box [B, N, 4] box deltas. N is the number of
	// anchors of all levels, in the order (level, y, x, anchor).
	Cls, Box []float32
	// N is the number of anchors per image; LevelSizes the [h, w] of
	// P3..P7.
	N          int
	LevelSizes [][2]int
}

// ErrInput reports images whose size does not match the arguments.
var ErrInput = errors.New("engine: input size")

// Forward runs the network on b images [b, h, w, 3] (NHWC float32,
// normalised as the model was trained) and writes the outputs into out.
// sigmoid turns the class logits into probabilities.
func (e *Engine) Forward(images []float32, b, h, w int, sigmoid bool, out *Output) error {
	if b < 1 || h < 1 || w < 1 || len(images) != b*h*w*3 {
		return fmt.Errorf("%w: %d floats for %d images of %dx%d", ErrInput, len(images), b, w, h)
	}
	p, err := e.plan(h, w)
	if err != nil {
		return err
	}
	ws := e.workspace(p, b)
	defer e.release(ws)
	k := e.arch.NumClasses
	out.N = p.anchors
	out.LevelSizes = append(out.LevelSizes[:0], p.levelSizes...)
	out.Cls = grow(out.Cls, b*p.anchors*k)
	out.Box = grow(out.Box, b*p.anchors*4)
	threads := e.threads()
	r := runner{e: e, p: p, ws: ws, b: b, threads: threads, simd: e.SIMD(), cls: out.Cls, box: out.Box}
	if threads > 1 && b%threads == 0 {
		// As many equal groups of images as goroutines: each runs its
		// images through the whole network, with no synchronisation
		// between layers.
		per := b / threads
		var wg sync.WaitGroup
		for g := range threads {
			gr := r
			gr.b0, gr.b, gr.threads, gr.worker0 = g*per, per, 1, g
			wg.Go(func() { gr.forward(images) })
		}
		wg.Wait()
	} else {
		r.forward(images)
	}
	if sigmoid {
		r.sigmoid(out.Cls[:b*p.anchors*k])
	}
	return nil
}

// threads returns the number of goroutines per layer.
func (e *Engine) threads() int {
	if e.opts.Threads > 0 {
		return e.opts.Threads
	}
	return runtime.GOMAXPROCS(0)
}

// grow returns s with length n, reallocated (with slack for whole-vector
// stores) when too small.
func grow(s []float32, n int) []float32 {
	if cap(s) < n+slack {
		s = make([]float32, n, n+slack)
	}
	return s[:n]
}

// plan returns the plan of input size h x w, made on first use.
func (e *Engine) plan(h, w int) (*plan, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.plans[[2]int{h, w}]; ok {
		return p, nil
	}
	p, err := newPlan(e, h, w)
	if err != nil {
		return nil, err
	}
	e.plans[[2]int{h, w}] = p
	return p, nil
}

// workspace returns a free workspace of plan p holding at least b images,
// or a new one.
func (e *Engine) workspace(p *plan, b int) *workspace {
	e.mu.Lock()
	for i, ws := range e.free {
		if ws.p == p && ws.capacity >= b {
			e.free = append(e.free[:i], e.free[i+1:]...)
			e.mu.Unlock()
			return ws
		}
	}
	e.mu.Unlock()
	return newWorkspace(p, b)
}

// release keeps ws for reuse (dropping the smallest kept one beyond
// maxFree).
func (e *Engine) release(ws *workspace) {
	e.mu.Lock()
	defer e.mu.Unlock()
	// A larger workspace of the same plan replaces smaller ones.
	kept := e.free[:0]
	for _, f := range e.free {
		if f.p == ws.p && f.capacity < ws.capacity {
			continue
		}
		kept = append(kept, f)
	}
	e.free = append(kept, ws)
	if len(e.free) > e.maxFree {
		e.free = e.free[1:]
	}
}
