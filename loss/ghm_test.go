package loss

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best with the dot import.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/train"
)

// refBin is the bin of g under the reference's float32 edges (last edge
// 1 + 1e-6); -1 when g is in no bin.
func refBin(g float32, bins int) int {
	edge := func(i int) float32 {
		e := float32(i) / float32(bins)
		if i == bins {
			e += 1e-6
		}
		return e
	}
	for i := range bins {
		if edge(i) <= g && g < edge(i+1) {
			return i
		}
	}
	return -1
}

// edgeValues returns float32 values on and around every bin edge, and 0, 1.
func edgeValues(bins int) []float32 {
	var v []float32
	for i := 0; i <= bins; i++ {
		e := float32(i) / float32(bins)
		v = append(v, e, math.Nextafter32(e, 0), math.Nextafter32(e, 2))
	}
	return append(v, 0, 1)
}

// TestBinIndicesExactEdges checks the one-pass binning against the
// reference's comparisons with the float32 edges, for values exactly on,
// just below and just above every edge, for every packing of the histogram.
func TestBinIndicesExactEdges(t *testing.T) {
	b := testBackend(t)
	for _, bins := range []int{1, 3, 5, 7, 10, 30, 40, 100} {
		for _, k := range []int{1, 2, 3, 4} {
			t.Run(fmt.Sprintf("bins=%d/pack=%d", bins, k), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(bins), uint64(k)))
				vals := edgeValues(bins)
				var g, w []float32
				for _, v := range vals {
					for _, wt := range []float32{1, 0, 0.5, -1} {
						g = append(g, v)
						w = append(w, wt)
					}
				}
				for len(g)%12 != 0 || len(g) < 600 {
					g = append(g, rng.Float32())
					w = append(w, float32(rng.IntN(2)))
				}
				packOverride = k
				defer func() { packOverride = 0 }()
				out := MustExecOnceN(b, func(g, w *Node) []*Node {
					h := newHistogram(binIndices(g, w, bins), bins+1)
					wantK := 1
					if nextPow2(intPow(bins+1, k)) <= maxJointBins {
						wantK = k
					}
					if h.k != wantK {
						t.Errorf("packing %d, want %d", h.k, wantK)
					}
					iota := Iota(g.Graph(), shapes.Make(dtypes.Float32, bins+1), 0)
					return []*Node{h.counts(), h.lookup(iota)}
				}, tensors.FromFlatDataAndDimensions(g, len(g)), tensors.FromFlatDataAndDimensions(w, len(w)))
				counts := tensors.MustCopyFlatData[int32](out[0])
				perEntry := tensors.MustCopyFlatData[float32](out[1])
				want := make([]int32, bins+1)
				for i := range g {
					bin := bins // invalid
					if w[i] > 0 {
						bin = refBin(g[i], bins)
						if bin < 0 {
							t.Fatalf("g=%v in no reference bin", g[i])
						}
					}
					want[bin]++
					if int(perEntry[i]) != bin {
						t.Errorf("g=%.9g (bits %08x) w=%v: bin %v, want %d", g[i], math.Float32bits(g[i]), w[i], perEntry[i], bin)
					}
				}
				for i := range want {
					if counts[i] != want[i] {
						t.Errorf("count[%d] = %d, want %d", i, counts[i], want[i])
					}
				}
			})
		}
	}
}

// TestEdgeValuesDiscriminate checks that the edge values of
// TestBinIndicesExactEdges include cases where binning by floor(g*M) in
// float32 disagrees with the reference's edges, so that the test can fail.
func TestEdgeValuesDiscriminate(t *testing.T) {
	disagree := 0
	for _, bins := range []int{10, 30, 40} {
		for _, g := range edgeValues(bins) {
			naive := min(int(math.Floor(float64(g*float32(bins)))), bins-1)
			if naive != refBin(g, bins) {
				disagree++
			}
		}
	}
	if disagree == 0 {
		t.Fatal("no edge value separates floor(g*M) from the reference binning")
	}
	t.Logf("%d edge values where floor(g*M) is wrong", disagree)
}

// TestLog1pUnit checks the polynomial log1p on [0, 1], tiny values included.
func TestLog1pUnit(t *testing.T) {
	var e []float32
	for i := 0; i <= 2000; i++ {
		e = append(e, float32(i)/2000)
	}
	for p := -45; p < 0; p++ {
		e = append(e, float32(math.Pow(2, float64(p))))
	}
	out := MustExecOnce(testBackend(t), func(e *Node) *Node { return log1pUnit(e) },
		tensors.FromFlatDataAndDimensions(e, len(e)))
	got := tensors.MustCopyFlatData[float32](out)
	worst := 0.0
	for i, v := range e {
		want := math.Log1p(float64(v))
		if want == 0 {
			if got[i] != 0 {
				t.Errorf("log1p(0) = %g", got[i])
			}
			continue
		}
		worst = max(worst, math.Abs(float64(got[i])-want)/want)
	}
	if worst > 5e-7 {
		t.Errorf("largest relative error %.3g, want <= 5e-7", worst)
	}
}

// TestGHMCHandComputed checks GHM-C on entries worked out by hand.
//
// Bins M = 3 (edges 0, 1/3, 2/3, 1), loss weight 1. Entries (x, t, w):
//
//	a: (0, 0, 1):     p = 0.5,  g = 0.5  -> bin 1, BCE = ln 2        = 0.693147
//	b: (ln 3, 1, 1):  p = 0.75, g = 0.25 -> bin 0, BCE = -ln 0.75    = 0.287682
//	c: (-ln 3, 0, 1): p = 0.25, g = 0.25 -> bin 0, BCE = -ln 0.75    = 0.287682
//	d: (ln 9, 0, 1):  p = 0.9,  g = 0.9  -> bin 2, BCE = -ln 0.1     = 2.302585
//	e: (5, 1, 0):     ignored
//
// tot = 4 valid entries, counts (2, 1, 1), n = 3 non-empty bins.
// Momentum 0: beta = tot/count/n = (2/3, 4/3, 4/3) for bins (0, 1, 2);
// loss = (4/3 (0.693147 + 2.302585) + 2/3 (2 * 0.287682)) / 4 = 1.0944715;
// gradient beta (p - t) / tot: a 1/6, b -1/24, c 1/24, d 0.3, e 0.
// Momentum 0.75, first step: acc = 0.25 counts = (0.5, 0.25, 0.25), beta =
// tot/acc/n is 4 times larger: loss 4.377886, gradients x4. Second step on
// the same entries: acc = 0.75 acc + 0.25 counts = (0.875, 0.4375, 0.4375),
// beta = (32/21, 64/21, 64/21): loss = (64/21 * 2.995732 + 32/21 * 0.575364)/4
// = 2.501649.
func TestGHMCHandComputed(t *testing.T) {
	x := []float32{0, float32(math.Log(3)), float32(-math.Log(3)), float32(math.Log(9)), 5}
	tg := []float32{0, 1, 0, 0, 1}
	w := []float32{1, 1, 1, 1, 0}
	base := []float64{1.0 / 6, -1.0 / 24, 1.0 / 24, 0.3, 0}
	scale := func(v []float64, f float64) []float64 {
		out := make([]float64, len(v))
		for i := range v {
			out[i] = v[i] * f
		}
		return out
	}
	tests := []struct {
		name     string
		momentum float64
		losses   []float64
		grads    [][]float64
		acc      []float64 // after the last step
	}{
		{"no-momentum", 0, []float64{1.0944715, 1.0944715}, [][]float64{base, base}, []float64{0, 0, 0}},
		{"momentum", 0.75, []float64{4.377886, 2.501649},
			[][]float64{scale(base, 4), {64.0 / 21 * 0.5 / 4, -32.0 / 21 * 0.25 / 4, 32.0 / 21 * 0.25 / 4, 64.0 / 21 * 0.9 / 4, 0}},
			[]float64{0.875, 0.4375, 0.4375}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newGHMRunner(t, "ghmc", GHMCOptions{Bins: 3, Momentum: tc.momentum, LossWeight: 1}, 1)
			var res stepResult
			for step := range tc.losses {
				res = r.step(t, tensor2D(x, 5, 1), tensor2D(tg, 5, 1), tensor2D(w, 5, 1))
				if !closeRel(float64(res.loss), tc.losses[step], 2e-6, 0) {
					t.Errorf("step %d: loss %.7f, want %.7f", step, res.loss, tc.losses[step])
				}
				if err := compareSlices(fmt.Sprintf("step %d grad", step), res.grad, tc.grads[step], 1e-5, 1e-8); err != nil {
					t.Error(err)
				}
			}
			if err := compareSlices("acc", res.acc, tc.acc, 1e-6, 0); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestGHMRHandComputed checks GHM-R on entries worked out by hand.
//
// mu = 0.02, M = 10, momentum 0, loss weight 10. Entries (d = pred - target, w):
//
//	a: d = 0,    w = 1:   g = 0      -> bin 0, ASL1 = 0
//	b: d = 0.02, w = 1:   g = 1/sqrt2 = 0.7071 -> bin 7, ASL1 = 0.02 (sqrt2 - 1) = 0.00828427
//	c: d = -1,   w = 2:   g = 1/sqrt(1.0004) = 0.9998 -> bin 9, ASL1 = sqrt(1.0004) - 0.02 = 0.98019992
//	d: d = 3,    w = 0:   ignored
//
// tot = sum of weights = 4 (not the count 3), n = 3, beta = tot/1/n = 4/3.
// loss = 10 * 4/3 * (0 + 0.00828427 + 0.98019992) / 4 = 3.2949473.
// gradient 10 * beta * d/sqrt(d^2 + mu^2) / tot = (10/3) * (0, 0.7071068, -0.9998001, 0).
func TestGHMRHandComputed(t *testing.T) {
	target := []float32{0.5, -0.25, 1, 0}
	d := []float32{0, 0.02, -1, 3}
	pred := make([]float32, 4)
	for i := range pred {
		pred[i] = target[i] + d[i]
	}
	w := []float32{1, 1, 2, 0}
	r := newGHMRunner(t, "ghmr", GHMROptions{Mu: 0.02, Bins: 10, Momentum: 0, LossWeight: 10}, 1)
	res := r.step(t, tensor2D(pred, 1, 4), tensor2D(target, 1, 4), tensor2D(w, 1, 4))
	// pred = target + d is rounded in float32; recompute the expectation from
	// the rounded d with the same formula.
	var want float64
	grad := make([]float64, 4)
	for i := range 3 {
		dd := float64(pred[i] - target[i])
		want += 4.0 / 3 * (math.Sqrt(dd*dd+0.0004) - 0.02)
		grad[i] = 10.0 / 3 * dd / math.Sqrt(dd*dd+0.0004)
	}
	want *= 10.0 / 4
	if math.Abs(want-3.2949473) > 1e-5 {
		t.Fatalf("hand computation drifted: %v", want)
	}
	if !closeRel(float64(res.loss), want, 1e-5, 0) {
		t.Errorf("loss %.7f, want %.7f", res.loss, want)
	}
	if err := compareSlices("grad", res.grad, grad, 1e-5, 1e-8); err != nil {
		t.Error(err)
	}
	if err := compareSlices("beta", res.beta, []float64{4.0 / 3, 4.0 / 3, 4.0 / 3, 0}, 1e-6, 0); err != nil {
		t.Error(err)
	}
}

// randomGHMCInputs returns logits (some saturated to give g = 0 and g = 1
// exactly), one-hot-like targets and 0/1 weights.
func randomGHMCInputs(rng *rand.Rand, n int) (x, t, w []float32) {
	x, t, w = make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		x[i] = float32(rng.NormFloat64()*3 - 2)
		switch rng.IntN(40) {
		case 0:
			x[i] = 40
		case 1:
			x[i] = -40
		}
		if rng.IntN(8) == 0 {
			t[i] = 1
		}
		if rng.IntN(10) != 0 {
			w[i] = 1
		}
	}
	return x, t, w
}

// randomGHMRInputs returns deltas with errors from tiny to large and
// fractional weights on about a third of the entries.
func randomGHMRInputs(rng *rand.Rand, n int) (p, t, w []float32) {
	p, t, w = make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		t[i] = float32(rng.NormFloat64())
		p[i] = t[i] + float32(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(5)-3)))
		if rng.IntN(3) == 0 {
			w[i] = float32(rng.IntN(4)) / 2
		}
	}
	return p, t, w
}

// TestGHMMatchesReferenceImplementation compares the graph implementation
// with the literal loop-over-bins transcription of the spec on inputs large
// enough to use every packing of the histogram, over several steps, with
// every option.
func TestGHMMatchesReferenceImplementation(t *testing.T) {
	const rows, cols = 1536, 12 // 18,432 entries: packed
	type tcase struct {
		name string
		opts any
	}
	cases := []tcase{
		{"ghmc-default", DefaultGHMCOptions()},
		{"ghmc-no-momentum", GHMCOptions{Bins: 30, LossWeight: 1}},
		{"ghmc-bins40-lw2", GHMCOptions{Bins: 40, Momentum: 0.5, LossWeight: 2}},
		{"ghmc-maxweight", GHMCOptions{Bins: 30, Momentum: 0.75, LossWeight: 1, MaxWeight: 3}},
		{"ghmc-papernorm", GHMCOptions{Bins: 10, Momentum: 0.9, LossWeight: 1, PaperNorm: true}},
		{"ghmr-default", DefaultGHMROptions()},
		{"ghmr-papernorm-clamp", GHMROptions{Mu: 0.05, Bins: 20, Momentum: 0.7, LossWeight: 10, PaperNorm: true, MaxWeight: 50}},
	}
	for _, tc := range cases {
		for _, k := range []int{0, 1, 2, 4} { // 0: automatic (3 here)
			t.Run(fmt.Sprintf("%s/pack=%d", tc.name, k), func(t *testing.T) {
				packOverride = k
				defer func() { packOverride = 0 }()
				rng := rand.New(rand.NewPCG(7, uint64(k)))
				var ref *refGHM
				kind := "ghmc"
				switch o := tc.opts.(type) {
				case GHMCOptions:
					ref = newRefGHMC(o)
				case GHMROptions:
					ref = newRefGHMR(o)
					kind = "ghmr"
				}
				r := newGHMRunner(t, kind, tc.opts, 1)
				for step := range 3 {
					var p, tg, w []float32
					if kind == "ghmc" {
						p, tg, w = randomGHMCInputs(rng, rows*cols)
					} else {
						p, tg, w = randomGHMRInputs(rng, rows*cols)
					}
					res := r.step(t, tensor2D(p, rows, cols), tensor2D(tg, rows, cols), tensor2D(w, rows, cols))
					wantLoss, wantGrad, wantBeta := ref.step(p, tg, w, res.g)
					if !closeRel(float64(res.loss), wantLoss, 1e-5, 0) {
						t.Errorf("step %d: loss %.8g, want %.8g", step, res.loss, wantLoss)
					}
					if err := compareSlices(fmt.Sprintf("step %d beta", step), res.beta, toF64(wantBeta), 1e-6, 0); err != nil {
						t.Error(err)
					}
					if err := compareSlices(fmt.Sprintf("step %d grad", step), res.grad, toF64(wantGrad), 1e-4, 1e-7); err != nil {
						t.Error(err)
					}
					if err := compareSlices(fmt.Sprintf("step %d acc", step), res.acc, toF64(ref.acc), 1e-6, 0); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
}

// TestGHMEmptyAndIgnored checks that empty inputs and inputs without a valid
// entry give a loss of exactly 0, a zero gradient and an unchanged state.
func TestGHMEmptyAndIgnored(t *testing.T) {
	for _, kind := range []string{"ghmc", "ghmr"} {
		var opts any = DefaultGHMCOptions()
		if kind == "ghmr" {
			opts = DefaultGHMROptions()
		}
		t.Run(kind+"/empty", func(t *testing.T) {
			// Empty predictions computed from a parameter: the loss is 0 and
			// its gradient with respect to the parameter is 0. (GoMLX cannot
			// build a gradient with respect to a zero-size node itself.) The
			// parameter is a scalar factor, not a matrix: the pure-Go
			// backend's matrix product without AVX2 divides by zero on an
			// empty operand, and the gradient of a broadcast onto a zero-size
			// axis cannot be built.
			store := model.NewStore()
			var l ghmLoss
			var err error
			if kind == "ghmc" {
				l, err = NewGHMC(store.RootScope().In("%s", kind), opts.(GHMCOptions))
			} else {
				l, err = NewGHMR(store.RootScope().In("%s", kind), opts.(GHMROptions))
			}
			if err != nil {
				t.Fatal(err)
			}
			e := tensors.FromShape(shapes.Make(dtypes.Float32, 0, 4))
			out := model.MustExecOnceN(testBackend(t), store, func(_ *model.Scope, f, tg *Node) []*Node {
				store.SetTraining(f.Graph(), true)
				wv := Const(f.Graph(), float32(3))
				pred := Mul(f, wv)
				target := Mul(tg, wv)
				loss, stats := l.LossAndStats(pred, target, target)
				loss = Add(loss, l.Loss(pred, target, target))
				return []*Node{loss, Gradient(loss, wv)[0], stats.Beta}
			}, e, e)
			if got := out[0].Value().(float32); got != 0 {
				t.Errorf("loss %v, want 0", got)
			}
			for _, gr := range tensors.MustCopyFlatData[float32](out[1]) {
				if gr != 0 {
					t.Fatalf("gradient %v, want 0", out[1])
				}
			}
			if out[2].Shape().Size() != 0 {
				t.Errorf("beta shape %s", out[2].Shape())
			}
			for _, a := range tensors.MustCopyFlatData[float32](l.State().MustValue()) {
				if a != 0 {
					t.Fatal("state changed")
				}
			}
		})
		t.Run(kind+"/all-ignored", func(t *testing.T) {
			r := newGHMRunner(t, kind, opts, 2)
			rng := rand.New(rand.NewPCG(1, 2))
			p, tg, _ := randomGHMCInputs(rng, 64)
			res := r.step(t, tensor2D(p, 16, 4), tensor2D(tg, 16, 4), tensor2D(make([]float32, 64), 16, 4))
			if res.loss != 0 {
				t.Errorf("loss %v, want exactly 0", res.loss)
			}
			for i, gr := range res.grad {
				if gr != 0 {
					t.Fatalf("grad[%d] = %v, want 0", i, gr)
				}
			}
			for _, a := range res.acc {
				if a != 0 {
					t.Fatalf("state changed: %v", res.acc)
				}
			}
		})
	}
}

// TestGHMCallsChainInOneGraph checks that two calls of one loss object in one
// graph (as for two FPN levels) equal two sequential steps: the second call
// sees the state left by the first, and the variable ends as after both.
func TestGHMCallsChainInOneGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x1, t1, w1 := randomGHMCInputs(rng, 60*5)
	x2, t2, w2 := randomGHMCInputs(rng, 20*5)
	opts := DefaultGHMCOptions()

	// Sequential: one call per step.
	seq1 := newGHMRunner(t, "ghmc", opts, 1)
	a := seq1.step(t, tensor2D(x1, 60, 5), tensor2D(t1, 60, 5), tensor2D(w1, 60, 5))
	seq2 := newGHMRunner(t, "ghmc", opts, 1)
	// seq2 starts from seq1's state.
	if err := seq2.loss.State().SetValue(tensors.FromValue(a.acc)); err != nil {
		t.Fatal(err)
	}
	b := seq2.step(t, tensor2D(x2, 20, 5), tensor2D(t2, 20, 5), tensor2D(w2, 20, 5))

	// Chained: both calls in one training graph.
	store := model.NewStore()
	l, err := NewGHMC(store.RootScope().In("ghmc"), opts)
	if err != nil {
		t.Fatal(err)
	}
	e := model.MustNewExec(testBackend(t), store, func(_ *model.Scope, xa, ta, wa, xb, tb, wb *Node) []*Node {
		store.SetTraining(xa.Graph(), true)
		la := l.Loss(xa, ta, wa)
		lb := l.Loss(xb, tb, wb)
		total := Add(la, lb)
		grads := Gradient(total, xa, xb)
		return []*Node{la, lb, grads[0], grads[1]}
	})
	out := e.MustExec(tensor2D(x1, 60, 5), tensor2D(t1, 60, 5), tensor2D(w1, 60, 5),
		tensor2D(x2, 20, 5), tensor2D(t2, 20, 5), tensor2D(w2, 20, 5))
	if got := out[0].Value().(float32); got != a.loss {
		t.Errorf("first call loss %v, sequential %v", got, a.loss)
	}
	if got := out[1].Value().(float32); !closeRel(float64(got), float64(b.loss), 1e-6, 0) {
		t.Errorf("second call loss %v, sequential %v", got, b.loss)
	}
	if err := compareSlices("grad 1", tensors.MustCopyFlatData[float32](out[2]), toF64(a.grad), 1e-6, 0); err != nil {
		t.Error(err)
	}
	if err := compareSlices("grad 2", tensors.MustCopyFlatData[float32](out[3]), toF64(b.grad), 1e-6, 1e-9); err != nil {
		t.Error(err)
	}
	acc := tensors.MustCopyFlatData[float32](l.State().MustValue())
	if err := compareSlices("state", acc, toF64(b.acc), 1e-6, 0); err != nil {
		t.Error(err)
	}
}

// TestGHMStateInCheckpoint checks that the state is a non-trainable
// variable of the store, that it is saved in a checkpoint, and that a loss
// created on a store loaded from the checkpoint continues from it exactly.
func TestGHMStateInCheckpoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	opts := DefaultGHMCOptions()
	var inputs [3][3][]float32
	for i := range inputs {
		x, tg, w := randomGHMCInputs(rng, 32*4)
		inputs[i] = [3][]float32{x, tg, w}
	}
	run := func(r *ghmRunner, i int) stepResult {
		return r.step(t, tensor2D(inputs[i][0], 32, 4), tensor2D(inputs[i][1], 32, 4), tensor2D(inputs[i][2], 32, 4))
	}

	r := newGHMRunner(t, "ghmc", opts, 1)
	run(r, 0)
	second := run(r, 1)
	v := r.store.GetVariable("/ghmc/" + StateVariableName)
	if v == nil {
		t.Fatal("state variable /ghmc/acc not in the store")
	}
	if v.Trainable {
		t.Error("state variable is trainable")
	}
	stored := tensors.MustCopyFlatData[float32](v.MustValue())
	if err := compareSlices("stored state", stored, toF64(second.acc), 0, 0); err != nil {
		t.Error(err)
	}
	// The product's checkpoint format (train.Save / train.Load, as a
	// training run saves and resumes).
	path := filepath.Join(t.TempDir(), "last.ckpt")
	if err := train.Save(path, r.store, train.Meta{Step: 2}); err != nil {
		t.Fatalf("save: %v", err)
	}
	third := run(r, 2)

	// Resume: a fresh store loaded from the checkpoint.
	store2 := model.NewStore()
	if _, err := train.Load(path, store2); err != nil {
		t.Fatalf("load checkpoint: %v", err)
	}
	r2 := &ghmRunner{store: store2}
	l2, err := NewGHMC(store2.RootScope().In("ghmc"), opts)
	if err != nil {
		t.Fatal(err)
	}
	restored := tensors.MustCopyFlatData[float32](l2.State().MustValue())
	if err := compareSlices("restored state", restored, toF64(second.acc), 0, 0); err != nil {
		t.Fatal(err)
	}
	r2.loss = l2
	r2.exec = model.MustNewExec(testBackend(t), store2, func(_ *model.Scope, p, tg, w *Node) []*Node {
		store2.SetTraining(p.Graph(), true)
		l, s := l2.LossAndStats(p, tg, w)
		return []*Node{l, Gradient(l, p)[0], s.G, s.Beta}
	})
	resumed := run(r2, 2)
	if resumed.loss != third.loss {
		t.Errorf("resumed loss %v, uninterrupted %v", resumed.loss, third.loss)
	}
	if err := compareSlices("resumed state", resumed.acc, toF64(third.acc), 0, 0); err != nil {
		t.Error(err)
	}

	// A stored state of another size is an error.
	if _, err := NewGHMC(store2.RootScope().In("ghmc"), GHMCOptions{Bins: 10, Momentum: 0.75, LossWeight: 1}); err == nil {
		t.Error("NewGHMC accepted a stored state of another size")
	}
}

// TestGHMEvalGraphLeavesState checks that a graph not marked as training
// chains the state between calls but leaves the variable unchanged.
func TestGHMEvalGraphLeavesState(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	x, tg, w := randomGHMCInputs(rng, 40*3)
	opts := DefaultGHMCOptions()
	train := newGHMRunner(t, "ghmc", opts, 2)
	want := train.step(t, tensor2D(x, 40, 3), tensor2D(tg, 40, 3), tensor2D(w, 40, 3))

	store := model.NewStore()
	l, err := NewGHMC(store.RootScope().In("ghmc"), opts)
	if err != nil {
		t.Fatal(err)
	}
	out := model.MustExecOnce(testBackend(t), store, func(_ *model.Scope, x, t, w *Node) *Node {
		return Add(l.Loss(x, t, w), l.Loss(x, t, w))
	}, tensor2D(x, 40, 3), tensor2D(tg, 40, 3), tensor2D(w, 40, 3))
	if got := out.Value().(float32); !closeRel(float64(got), float64(want.loss), 1e-6, 0) {
		t.Errorf("eval loss %v, training loss %v", got, want.loss)
	}
	for _, a := range tensors.MustCopyFlatData[float32](l.State().MustValue()) {
		if a != 0 {
			t.Fatal("an evaluation graph changed the state")
		}
	}
}

// TestGHMOptions checks validation and defaults.
func TestGHMOptions(t *testing.T) {
	if o := DefaultGHMCOptions(); o.Bins != 30 || o.Momentum != 0.75 || o.LossWeight != 1 || o.MaxWeight != 0 || o.PaperNorm {
		t.Errorf("DefaultGHMCOptions = %+v", o)
	}
	if o := DefaultGHMROptions(); o.Mu != 0.02 || o.Bins != 10 || o.Momentum != 0.7 || o.LossWeight != 10 || o.MaxWeight != 0 || o.PaperNorm {
		t.Errorf("DefaultGHMROptions = %+v", o)
	}
	bad := []GHMCOptions{{}, {Bins: 30, Momentum: 1, LossWeight: 1}, {Bins: 30, Momentum: -0.1, LossWeight: 1},
		{Bins: 30, LossWeight: -1}, {Bins: 30, LossWeight: math.NaN()}, {Bins: 30, LossWeight: 1, MaxWeight: -1}}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
		if _, err := NewGHMC(model.NewStore().RootScope(), o); err == nil {
			t.Errorf("NewGHMC accepted %+v", o)
		}
	}
	r := DefaultGHMROptions()
	r.Mu = 0
	if _, err := NewGHMR(model.NewStore().RootScope(), r); err == nil {
		t.Error("NewGHMR accepted mu = 0")
	}
	if _, err := NewGHMC(nil, DefaultGHMCOptions()); err == nil {
		t.Error("NewGHMC accepted a nil scope")
	}
}

// TestGradientNormHelpers checks the analysis helpers against the reference.
func TestGradientNormHelpers(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	x, tg, w := randomGHMCInputs(rng, 30*7)
	out := MustExecOnceN(testBackend(t), func(x, t, w *Node) []*Node {
		g := GradientNormC(x, t)
		return []*Node{g, GradientNormHistogram(g, w, 10), GradientNormR(x, t, 0.02)}
	}, tensor2D(x, 30, 7), tensor2D(tg, 30, 7), tensor2D(w, 30, 7))
	g := tensors.MustCopyFlatData[float32](out[0])
	hist := tensors.MustCopyFlatData[int32](out[1])
	gr := tensors.MustCopyFlatData[float32](out[2])
	want := make([]int32, 10)
	refC := &refGHM{bins: 10}
	refR := &refGHM{regression: true, mu: 0.02}
	for i := range x {
		if !closeRel(float64(g[i]), float64(refC.gradNorm(x[i], tg[i])), 1e-6, 1e-7) {
			t.Errorf("GradientNormC[%d] = %v, want %v", i, g[i], refC.gradNorm(x[i], tg[i]))
		}
		if !closeRel(float64(gr[i]), float64(refR.gradNorm(x[i], tg[i])), 1e-6, 1e-7) {
			t.Errorf("GradientNormR[%d] = %v, want %v", i, gr[i], refR.gradNorm(x[i], tg[i]))
		}
		if w[i] > 0 {
			want[refBin(g[i], 10)]++
		}
	}
	for i := range want {
		if hist[i] != want[i] {
			t.Errorf("histogram[%d] = %d, want %d", i, hist[i], want[i])
		}
	}
}
