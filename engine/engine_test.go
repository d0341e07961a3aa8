package engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/nn"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// Tolerance of the comparisons with the GoMLX graph: the largest absolute
// difference of an output divided by the largest absolute value of the
// graph's output (float32 sums in another order; ResNet-50 is the deepest).
const relTol = 2e-5

// storeWeights reads variables of store under "/detector".
func storeWeights(store *mlmodel.Store) Weights {
	return func(name string) ([]float32, []int, error) {
		v := store.GetVariable("/detector/" + name)
		if v == nil {
			return nil, nil, fmt.Errorf("no variable")
		}
		t, err := v.Value()
		if err != nil {
			return nil, nil, err
		}
		d, err := tensors.CopyFlatData[float32](t)
		return d, t.Shape().Dimensions, err
	}
}

// randomise gives every variable of store seeded values of a realistic
// scale (the initial values leave batch-norm as the identity and the head
// outputs near zero, which would test little).
func randomise(t *testing.T, store *mlmodel.Store, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for v := range store.IterVariables() {
		dims := v.Shape().Dimensions
		n := v.Shape().Size()
		d := make([]float32, n)
		name := v.Path()[strings.LastIndex(v.Path(), "/")+1:]
		for i := range d {
			switch name {
			case "weights":
				fan := dims[0] * dims[1] * dims[2]
				d[i] = float32(rng.NormFloat64() * 1.2 / math.Sqrt(float64(fan)))
			case "gamma":
				d[i] = float32(0.5 + rng.Float64())
			case "variance":
				d[i] = float32(0.5 + 1.5*rng.Float64())
			default: // biases, beta, mean
				d[i] = float32(0.2 * rng.NormFloat64())
			}
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(d, dims...)); err != nil {
			t.Fatal(err)
		}
	}
}

// reference runs the GoMLX graph of cfg on images and returns the class
// logits and box deltas of all levels, concatenated, and the store with
// randomised variables.
func reference(t *testing.T, cfg model.Config, images []float32, b, h, w int) (cls, box []float32, store *mlmodel.Store) {
	t.Helper()
	bk := backend.MustNew("")
	store = mlmodel.NewStore()
	fn := func(scope *mlmodel.Scope, x *Node) []*Node {
		out := model.Forward(scope.In("detector"), cfg, x)
		return []*Node{Concatenate(out.Cls, 1), Concatenate(out.Box, 1)}
	}
	in := tensors.FromFlatDataAndDimensions(images, b, h, w, 3)
	// First call creates the variables, which are then randomised.
	if _, err := mlmodel.ExecOnceN(bk, store, fn, in); err != nil {
		t.Fatal(err)
	}
	randomise(t, store, 3)
	outs, err := mlmodel.ExecOnceN(bk, store, fn, in)
	if err != nil {
		t.Fatal(err)
	}
	cls, err = tensors.CopyFlatData[float32](outs[0])
	if err != nil {
		t.Fatal(err)
	}
	box, err = tensors.CopyFlatData[float32](outs[1])
	if err != nil {
		t.Fatal(err)
	}
	return cls, box, store
}

// relDiff returns max |a-b| / max |b|.
func relDiff(a, b []float32) float64 {
	var d, m float64
	for i := range b {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / max(m, 1e-30)
}

// testConfigs are the networks compared with the graph: the presets and
// variants covering every backbone, norm and head option.
func testConfigs(t *testing.T) []struct {
	name string
	cfg  model.Config
	b, h int
	w    int
} {
	preset := func(n string) model.Config {
		c, err := model.Preset(n)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r18 := preset("cpu")
	r18.Backbone, r18.Norm, r18.FrozenStages, r18.ReLUBeforeP7, r18.HeadNorm = model.BackboneResNet18, nn.NormBN, 2, true, nn.NormGN
	r18.FPNChannels, r18.HeadWidth, r18.NumClasses = 48, 32, 5
	r34 := preset("cpu")
	r34.Backbone, r34.Norm, r34.FPNChannels, r34.HeadConvs, r34.HeadWidth = model.BackboneResNet34, nn.NormNone, 32, 1, 16
	tinyBN := preset("cpu")
	tinyBN.Norm, tinyBN.TinyBlocks, tinyBN.TinyWidths, tinyBN.HeadNorm, tinyBN.NumClasses = nn.NormFrozenBN, []int{2, 1, 2, 1}, []int{8, 24, 40, 72}, nn.NormGN, 80
	ref := preset("reference")
	ref.NumClasses = 7
	return []struct {
		name string
		cfg  model.Config
		b, h int
		w    int
	}{
		{"cpu", preset("cpu"), 2, 64, 96},
		{"cpu_odd", preset("cpu"), 1, 70, 45},
		{"mobilenet", preset("mobilenet"), 1, 70, 90},
		{"reference", ref, 1, 64, 64},
		{"resnet18_bn_relu_p7", r18, 2, 66, 50},
		{"resnet34_none", r34, 1, 64, 32},
		{"tiny_frozen_bn_80_classes", tinyBN, 1, 96, 64},
	}
}

// TestMatchesGraph compares the engine's outputs (AVX-512 where available,
// the portable loops, direct convolutions in place of Winograd, F(2x2, 3x3)
// in place of F(4x4, 3x3)) with
// the GoMLX graph's on every backbone, norm and head option, at input sizes
// that are not multiples of the strides too: max |difference| / max |graph
// output| <= relTol for the class logits, the class probabilities and the
// box deltas.
func TestMatchesGraph(t *testing.T) {
	for _, c := range testConfigs(t) {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 13))
			images := make([]float32, c.b*c.h*c.w*3)
			for i := range images {
				images[i] = float32(rng.NormFloat64())
			}
			cls, box, store := reference(t, c.cfg, images, c.b, c.h, c.w)
			for _, o := range []Options{{}, {Scalar: true}, {NoWinograd: true}, {WinogradF2: true}} {
				if !o.Scalar && !useSIMD && !o.NoWinograd {
					continue
				}
				e, err := New(c.cfg, storeWeights(store), o)
				if err != nil {
					t.Fatal(err)
				}
				var out Output
				if err := e.Forward(images, c.b, c.h, c.w, false, &out); err != nil {
					t.Fatal(err)
				}
				if len(out.Cls) != len(cls) || len(out.Box) != len(box) {
					t.Fatalf("%+v: outputs of %d and %d floats, graph %d and %d", o, len(out.Cls), len(out.Box), len(cls), len(box))
				}
				if want := model.NumAnchors(c.cfg, c.h, c.w); out.N != want {
					t.Errorf("N = %d, want %d", out.N, want)
				}
				dc, db := relDiff(out.Cls, cls), relDiff(out.Box, box)
				t.Logf("%+v: class logits %.2g, box deltas %.2g (relative)", o, dc, db)
				if dc > relTol || db > relTol {
					t.Errorf("%+v: relative differences %.3g (class) and %.3g (box) > %g", o, dc, db, relTol)
				}
				// Probabilities.
				if err := e.Forward(images, c.b, c.h, c.w, true, &out); err != nil {
					t.Fatal(err)
				}
				// The slope of the sigmoid is at most 1/4: probabilities may
				// differ by a quarter of the logits' allowed difference.
				var maxLogit, worst float64
				for i, v := range cls {
					maxLogit = max(maxLogit, math.Abs(float64(v)))
					worst = max(worst, math.Abs(float64(out.Cls[i])-1/(1+math.Exp(-float64(v)))))
				}
				if limit := relTol*maxLogit/4 + 1e-6; worst > limit {
					t.Errorf("%+v: probabilities differ by %.3g > %.3g", o, worst, limit)
				}
			}
		})
	}
}

// TestThreadsAndBatches checks that the results do not depend on how the
// work is split: 1, 2 or 3 goroutines (rows of each layer shared, or whole
// images per goroutine), and each image alone or in a batch, give the same
// bits; and that a workspace is reused across calls.
func TestThreadsAndBatches(t *testing.T) {
	cfg, err := model.Preset("mobilenet")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HeadConvs = 1
	const b, h, w = 4, 64, 48
	rng := rand.New(rand.NewPCG(3, 4))
	images := make([]float32, b*h*w*3)
	for i := range images {
		images[i] = float32(rng.NormFloat64())
	}
	_, _, store := reference(t, cfg, images[:h*w*3], 1, h, w)
	var want Output
	for _, threads := range []int{1, 2, 3} {
		e, err := New(cfg, storeWeights(store), Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		var out Output
		if err := e.Forward(images, b, h, w, true, &out); err != nil {
			t.Fatal(err)
		}
		if threads == 1 {
			want = out
			continue
		}
		if !slices.Equal(out.Cls, want.Cls) || !slices.Equal(out.Box, want.Box) {
			t.Errorf("%d goroutines: outputs differ from one goroutine's", threads)
		}
		for i := range b {
			var one Output
			if err := e.Forward(images[i*h*w*3:(i+1)*h*w*3], 1, h, w, true, &one); err != nil {
				t.Fatal(err)
			}
			n := len(one.Cls)
			if !slices.Equal(one.Cls, want.Cls[i*n:(i+1)*n]) || !slices.Equal(one.Box, want.Box[i*len(one.Box):(i+1)*len(one.Box)]) {
				t.Errorf("%d goroutines: image %d alone differs from the batch", threads, i)
			}
		}
		if len(e.free) != 1 || e.free[0].capacity != b {
			t.Errorf("%d workspaces kept after the calls, want the one of %d images", len(e.free), b)
		}
		if p := e.plans[[2]int{h, w}]; len(p.slotSize)*3 > len(p.tensors) {
			t.Errorf("%d buffers for %d tensors: they are not shared", len(p.slotSize), len(p.tensors))
		}
	}
	if err := (&Engine{}).Forward(images[:10], 1, h, w, false, &Output{}); !errors.Is(err, ErrInput) {
		t.Errorf("Forward of 10 floats: %v", err)
	}
}
