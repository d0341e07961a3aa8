package loss

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best with the dot import.
	"github.com/gomlx/gomlx/core/tensors"
)

// lossFn is a loss of (pred, target, weights) nodes.
type lossFn func(p, t, w *Node) *Node

// evalLoss returns the loss and its gradient with respect to pred.
func evalLoss(tb testing.TB, f lossFn, p, t, w []float32, dims ...int) (float32, []float32) {
	tb.Helper()
	out := MustExecOnceN(testBackend(tb), func(p, t, w *Node) []*Node {
		l := f(p, t, w)
		return []*Node{l, Gradient(l, p)[0]}
	}, tensor2D(p, dims...), tensor2D(t, dims...), tensor2D(w, dims...))
	return out[0].Value().(float32), tensors.MustCopyFlatData[float32](out[1])
}

func scalarNode(g *Graph, v float64) *Node { return Scalar(g, dtypes.Float32, v) }

// TestBaselinesHandComputed checks every baseline on entries worked out by
// hand (BCE(0, 0) = ln 2 = 0.693147, BCE(ln 3, 1) = BCE(-ln 3, 0) = -ln 0.75 =
// 0.287682, BCE(100, 0) = 100).
func TestBaselinesHandComputed(t *testing.T) {
	ln3 := float32(math.Log(3))
	x := []float32{0, ln3, -ln3, 100, 7}
	tg := []float32{0, 1, 0, 0, 1}
	w := []float32{1, 1, 1, 1, 0}
	d := []float32{0.05, -0.2, 0, 1}
	zero4 := []float32{0, 0, 0, 0}
	w4 := []float32{1, 1, 1, 0}
	tests := []struct {
		name    string
		f       lossFn
		p, t, w []float32
		loss    float64
		grad    []float64 // nil: not checked here
	}{
		// Valid entries: 4. (ln 2 + 2 * 0.287682 + 100) / 4 = 25.317128;
		// gradient w (p - t) / 4 = (0.5, -0.25, 0.25, 1, 0) / 4.
		{"ce", func(p, t, w *Node) *Node { return SigmoidCE(p, t, w, nil) }, x, tg, w,
			25.317128, []float64{0.125, -0.0625, 0.0625, 0.25, 0}},
		// Caller's normaliser 2: twice the above.
		{"ce-avg", func(p, t, w *Node) *Node { return SigmoidCE(p, t, w, scalarNode(p.Graph(), 2)) }, x, tg, w,
			50.634256, []float64{0.25, -0.125, 0.125, 0.5, 0}},
		// Focal, gamma 2, alpha 0.25, one positive (entry b; e is ignored):
		// a: 0.75 * 0.5^2 * 0.693147 = 0.129965; b: 0.25 * 0.25^2 * 0.287682 =
		// 0.004495; c: 0.75 * 0.25^2 * 0.287682 = 0.013485; d: 0.75 * 1 * 100 = 75
		// (p = 1 in float32). Gradient of a: alpha_t d (2 p(1-p) BCE + pt^2) =
		// 0.75 * 0.5 * (0.5 * 0.693147 + 0.25) = 0.223715; of d: 0.75 * 1 * 1 = 0.75.
		{"focal", func(p, t, w *Node) *Node { return Focal(p, t, w, nil, DefaultFocalOptions()) }, x, tg, w,
			75.147945, []float64{0.223715, math.NaN(), math.NaN(), 0.75, 0}},
		// Smooth L1, beta 0.11: 0.5 * 0.05^2 / 0.11 = 0.0113636, 0.2 - 0.055 =
		// 0.145, 0 over 3 valid entries: 0.0521212; gradient d/beta or sign(d),
		// over 3: (0.05/0.11, -1, 0, 0) / 3.
		{"smoothl1", func(p, t, w *Node) *Node { return SmoothL1(p, t, w, nil, DefaultSmoothL1Beta) }, d, zero4, w4,
			0.0521212, []float64{0.05 / 0.11 / 3, -1.0 / 3, 0, 0}},
		// L1: (0.05 + 0.2 + 0) / 3 = 0.0833333, gradient sign(d)/3 (0 at 0).
		{"l1", func(p, t, w *Node) *Node { return L1(p, t, w, nil) }, d, zero4, w4,
			0.0833333, []float64{1.0 / 3, -1.0 / 3, 0, 0}},
		// ASL1, mu 0.02: sqrt(0.0029) - 0.02 = 0.0338516, sqrt(0.0404) - 0.02 =
		// 0.1809975, 0: 0.0716164; gradient d / sqrt(d^2 + mu^2) / 3.
		{"asl1", func(p, t, w *Node) *Node { return ASL1(p, t, w, nil, DefaultASL1Mu) }, d, zero4, w4,
			0.0716164, []float64{0.05 / math.Sqrt(0.0029) / 3, -0.2 / math.Sqrt(0.0404) / 3, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loss, grad := evalLoss(t, tc.f, tc.p, tc.t, tc.w, len(tc.p), 1)
			if !closeRel(float64(loss), tc.loss, 2e-6, 1e-7) {
				t.Errorf("loss %.7f, want %.7f", loss, tc.loss)
			}
			for i, want := range tc.grad {
				if !math.IsNaN(want) && !closeRel(float64(grad[i]), want, 2e-5, 1e-7) {
					t.Errorf("grad[%d] = %.7f, want %.7f", i, grad[i], want)
				}
			}
		})
	}
}

// TestOHEMSelection checks OHEM's example unit (the anchor), the number of
// negatives kept, tie-breaking and the normaliser on a hand-made case.
//
// 6 anchors x 2 classes; anchor losses are sums of BCE over the row:
//
//	0: positive (t = [1, 0]), logits [0, 0]       loss 2 ln 2 = 1.386294
//	1: negative, logits [2, 0]                    loss 2.126928 + 0.693147 = 2.820075 (hardest)
//	2: negative, logits [0, 0]                    loss 1.386294 (tie with 3)
//	3: negative, logits [0, 0]                    loss 1.386294
//	4: negative, logits [-3, -3]                  loss 2 * 0.048587 = 0.097174
//	5: ignored (weights 0), logits [9, 9]         -
//
// Ratio 2, one positive: K = 2 negatives: anchor 1 and, of the tied 2 and 3,
// the first (2). Kept loss = 1.386294 + 2.820075 + 1.386294 = 5.592663, over
// the 3 kept anchors = 1.864221. Gradient w (p - t) / 3 on the kept anchors.
func TestOHEMSelection(t *testing.T) {
	x := []float32{0, 0, 2, 0, 0, 0, 0, 0, -3, -3, 9, 9}
	tg := []float32{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	w := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}
	opts := OHEMOptions{NegPosRatio: 2, MinPositives: 1}
	loss, grad := evalLoss(t, func(p, t, w *Node) *Node { return OHEM(p, t, w, nil, opts) }, x, tg, w, 6, 2)
	if !closeRel(float64(loss), 1.864221, 2e-6, 0) {
		t.Errorf("loss %.7f, want 1.864221", loss)
	}
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	want := []float64{(0.5 - 1) / 3, 0.5 / 3, sig(2) / 3, 0.5 / 3, 0.5 / 3, 0.5 / 3, 0, 0, 0, 0, 0, 0}
	if err := compareSlices("grad", grad, want, 1e-5, 1e-8); err != nil {
		t.Error(err)
	}

	// Without positives, MinPositives = 1 keeps the 2 hardest negatives; with
	// MinPositives = 0 nothing is kept and the loss is 0.
	tg0 := make([]float32, len(tg))
	loss, _ = evalLoss(t, func(p, t, w *Node) *Node { return OHEM(p, t, w, nil, opts) }, x, tg0, w, 6, 2)
	// anchor 0 is now a negative with loss 1.386294 that ties with 2 and 3: kept 1 and 0.
	if !closeRel(float64(loss), (2.820075+1.386294)/2, 2e-6, 0) {
		t.Errorf("no positives: loss %.7f, want %.7f", loss, (2.820075+1.386294)/2)
	}
	loss, _ = evalLoss(t, func(p, t, w *Node) *Node {
		return OHEM(p, t, w, nil, OHEMOptions{NegPosRatio: 3, MinPositives: 0})
	}, x, tg0, w, 6, 2)
	if loss != 0 {
		t.Errorf("no positives, MinPositives 0: loss %v, want 0", loss)
	}
	// A large ratio keeps every negative; the caller's normaliser is used.
	loss, _ = evalLoss(t, func(p, t, w *Node) *Node {
		return OHEM(p, t, w, scalarNode(p.Graph(), 10), OHEMOptions{NegPosRatio: 100, MinPositives: 1})
	}, x, tg, w, 6, 2)
	if want := (1.386294 + 2.820075 + 2*1.386294 + 0.097174) / 10; !closeRel(float64(loss), want, 2e-6, 0) {
		t.Errorf("ratio 100: loss %.7f, want %.7f", loss, want)
	}
}

// TestOHEMTopKRandom checks the bisection-based selection against sorting
// on random anchor losses, with many ties.
func TestOHEMTopKRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const n = 500
	v := make([]float32, n)
	mask := make([]bool, n)
	for i := range v {
		v[i] = float32(rng.IntN(50)) * 0.37 // ties
		if rng.IntN(7) == 0 {
			v[i] = 0
		}
		mask[i] = rng.IntN(4) != 0
	}
	for _, k := range []int32{0, 1, 7, 100, 250} {
		out := MustExecOnce(testBackend(t), func(v, m *Node) *Node {
			return topKMask(v, m, Const(v.Graph(), k))
		}, tensors.FromValue(v), tensors.FromValue(mask))
		got := out.Value().([]bool)
		// Reference: stable sort of the masked entries by decreasing value.
		idx := []int{}
		for i := range v {
			if mask[i] {
				idx = append(idx, i)
			}
		}
		for i := 1; i < len(idx); i++ { // insertion sort, stable
			for j := i; j > 0 && v[idx[j]] > v[idx[j-1]]; j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
			}
		}
		want := make([]bool, n)
		for _, i := range idx[:k] {
			want[i] = true
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("k=%d: entry %d (v=%v mask=%v) selected=%v, want %v", k, i, v[i], mask[i], got[i], want[i])
			}
		}
	}
}

// plainFocal is the focal loss written directly, differentiated by autodiff
// (in float64), to check the closed-form gradient.
func plainFocal(x, t, w *Node, gamma, alpha float64) *Node {
	p := Sigmoid(x)
	pt := Add(Mul(OneMinus(p), t), Mul(p, OneMinus(t)))
	at := Add(MulScalar(t, alpha), MulScalar(OneMinus(t), 1-alpha))
	bce := Add(Sub(MaxScalar(x, 0), Mul(x, t)), Log1p(Exp(Neg(Abs(x)))))
	mod := OnesLike(pt)
	if gamma != 0 {
		mod = Pow(pt, Scalar(x.Graph(), x.DType(), gamma))
	}
	return ReduceAllSum(Mul(Mul(Mul(at, mod), bce), w))
}

// TestAttachedGradientsMatchAutodiff compares the closed-form gradients of
// the classification losses with GoMLX autodiff of their plain formulas in
// float64.
func TestAttachedGradientsMatchAutodiff(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	const n, c = 40, 5
	x, tg, w := make([]float32, n*c), make([]float32, n*c), make([]float32, n*c)
	for i := range x {
		x[i] = float32(rng.Float64()*16 - 8)
		if rng.IntN(5) == 0 {
			tg[i] = 1
		}
		w[i] = float32(rng.IntN(3)) / 2
	}
	b := testBackend(t)
	type tcase struct {
		name  string
		ours  lossFn
		plain func(x, t, w *Node) *Node // unnormalised, float64
		norm  float64
	}
	cases := []tcase{{"ce", func(p, t, w *Node) *Node { return SigmoidCE(p, t, w, scalarNode(p.Graph(), 7)) },
		func(x, t, w *Node) *Node { return plainFocal(x, t, w, 0, 0.5) }, 7 * 0.5}}
	for _, gamma := range []float64{0, 1, 1.5, 2, 3} {
		cases = append(cases, tcase{fmt.Sprintf("focal-gamma%g", gamma),
			func(p, t, w *Node) *Node {
				return Focal(p, t, w, scalarNode(p.Graph(), 7), FocalOptions{Gamma: gamma, Alpha: 0.25})
			},
			func(x, t, w *Node) *Node { return plainFocal(x, t, w, gamma, 0.25) }, 7})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loss, grad := evalLoss(t, tc.ours, x, tg, w, n, c)
			out := MustExecOnceN(b, func(x, t, w *Node) []*Node {
				x64, t64, w64 := ConvertDType(x, dtypes.Float64), ConvertDType(t, dtypes.Float64), ConvertDType(w, dtypes.Float64)
				l := DivScalar(tc.plain(x64, t64, w64), tc.norm)
				return []*Node{l, Gradient(l, x64)[0]}
			}, tensor2D(x, n, c), tensor2D(tg, n, c), tensor2D(w, n, c))
			wantLoss := out[0].Value().(float64)
			wantGrad := tensors.MustCopyFlatData[float64](out[1])
			if !closeRel(float64(loss), wantLoss, 1e-5, 0) {
				t.Errorf("loss %.8g, autodiff of the formula %.8g", loss, wantLoss)
			}
			if err := compareSlices("grad", grad, wantGrad, 1e-4, 1e-7); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestBaselinesFiniteDifferences checks the gradients of every baseline
// against central differences of the loss value.
func TestBaselinesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	const n, c = 8, 4
	cls := func() ([]float32, []float32, []float32) {
		x, tg, w := make([]float32, n*c), make([]float32, n*c), make([]float32, n*c)
		for i := range x {
			x[i] = float32(rng.Float64()*6 - 3)
			w[i] = 1
		}
		for a := range n {
			if a%3 == 0 {
				tg[a*c+rng.IntN(c)] = 1
			}
		}
		return x, tg, w
	}
	reg := func() ([]float32, []float32, []float32) {
		p, tg, w := make([]float32, n*c), make([]float32, n*c), make([]float32, n*c)
		for i := range p {
			tg[i] = float32(rng.NormFloat64())
			d := 0.03 + rng.Float64()*0.5 // away from 0 and from the smooth-L1 knee
			if d > 0.09 && d < 0.13 {
				d += 0.05
			}
			if rng.IntN(2) == 0 {
				d = -d
			}
			p[i] = tg[i] + float32(d)
			w[i] = float32(1 + rng.IntN(2))
		}
		return p, tg, w
	}
	tests := []struct {
		name string
		f    lossFn
		gen  func() ([]float32, []float32, []float32)
	}{
		{"ce", func(p, t, w *Node) *Node { return SigmoidCE(p, t, w, nil) }, cls},
		{"focal", func(p, t, w *Node) *Node { return Focal(p, t, w, nil, DefaultFocalOptions()) }, cls},
		{"focal-gamma1.5", func(p, t, w *Node) *Node {
			return Focal(p, t, w, nil, FocalOptions{Gamma: 1.5, Alpha: 0.4})
		}, cls},
		{"ohem", func(p, t, w *Node) *Node { return OHEM(p, t, w, nil, DefaultOHEMOptions()) }, cls},
		{"smoothl1", func(p, t, w *Node) *Node { return SmoothL1(p, t, w, nil, DefaultSmoothL1Beta) }, reg},
		{"l1", func(p, t, w *Node) *Node { return L1(p, t, w, nil) }, reg},
		{"asl1", func(p, t, w *Node) *Node { return ASL1(p, t, w, nil, DefaultASL1Mu) }, reg},
	}
	b := testBackend(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, tg, w := tc.gen()
			_, grad := evalLoss(t, tc.f, p, tg, w, n, c)
			e := MustNewExec(b, func(p, t, w *Node) *Node { return tc.f(p, t, w) })
			f := func(pp []float32) float64 {
				return float64(e.MustExec(tensor2D(pp, n, c), tensor2D(tg, n, c), tensor2D(w, n, c))[0].Value().(float32))
			}
			const h = 1e-2
			for i := range p {
				pp := append([]float32(nil), p...)
				pp[i] = p[i] + h
				fp := f(pp)
				pp[i] = p[i] - h
				fm := f(pp)
				fd := (fp - fm) / (2 * h)
				if math.Abs(fd-float64(grad[i])) > 2e-3*math.Abs(fd)+2e-4 {
					t.Errorf("entry %d: gradient %.6f, finite difference %.6f", i, grad[i], fd)
				}
			}
		})
	}
}

// TestNumericalSafety checks that extreme but finite inputs give finite
// losses and gradients: logits of +-100 (saturated sigmoid), regression
// errors of 1e4, and inputs whose entries are all ignored.
func TestNumericalSafety(t *testing.T) {
	const n, c = 16, 4
	big := make([]float32, n*c)
	tg := make([]float32, n*c)
	ones := make([]float32, n*c)
	zeros := make([]float32, n*c)
	for i := range big {
		big[i] = 100
		if i%2 == 0 {
			big[i] = -100
		}
		if i%3 == 0 {
			tg[i] = 1
		}
		ones[i] = 1
	}
	errs := make([]float32, n*c)
	for i := range errs {
		errs[i] = 1e4
		if i%2 == 1 {
			errs[i] = -1e4
		}
	}
	cls := map[string]lossFn{
		"ce":    func(p, t, w *Node) *Node { return SigmoidCE(p, t, w, nil) },
		"focal": func(p, t, w *Node) *Node { return Focal(p, t, w, nil, DefaultFocalOptions()) },
		"ohem":  func(p, t, w *Node) *Node { return OHEM(p, t, w, nil, DefaultOHEMOptions()) },
	}
	regs := map[string]lossFn{
		"smoothl1": func(p, t, w *Node) *Node { return SmoothL1(p, t, w, nil, DefaultSmoothL1Beta) },
		"l1":       func(p, t, w *Node) *Node { return L1(p, t, w, nil) },
		"asl1":     func(p, t, w *Node) *Node { return ASL1(p, t, w, nil, DefaultASL1Mu) },
	}
	check := func(t *testing.T, name string, loss float32, grad []float32, wantZero bool) {
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			t.Errorf("%s: loss %v", name, loss)
		}
		if wantZero && loss != 0 {
			t.Errorf("%s: loss %v, want 0", name, loss)
		}
		for i, g := range grad {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) || (wantZero && g != 0) {
				t.Fatalf("%s: grad[%d] = %v", name, i, g)
			}
		}
	}
	for name, f := range cls {
		loss, grad := evalLoss(t, f, big, tg, ones, n, c)
		check(t, name+"/logits-100", loss, grad, false)
		loss, grad = evalLoss(t, f, big, tg, zeros, n, c)
		check(t, name+"/ignored", loss, grad, true)
	}
	for name, f := range regs {
		loss, grad := evalLoss(t, f, errs, zeros, ones, n, c)
		check(t, name+"/errors-1e4", loss, grad, false)
		loss, grad = evalLoss(t, f, errs, zeros, zeros, n, c)
		check(t, name+"/ignored", loss, grad, true)
	}
	for _, kind := range []string{"ghmc", "ghmr"} {
		var opts any = DefaultGHMCOptions()
		p := big
		tt := tg
		if kind == "ghmr" {
			opts = DefaultGHMROptions()
			p, tt = errs, zeros
		}
		r := newGHMRunner(t, kind, opts, 1)
		res := r.step(t, tensor2D(p, n, c), tensor2D(tt, n, c), tensor2D(ones, n, c))
		check(t, kind+"/extreme", res.loss, res.grad, false)
		for _, a := range res.acc {
			if math.IsNaN(float64(a)) || math.IsInf(float64(a), 0) {
				t.Errorf("%s: state %v", kind, res.acc)
			}
		}
		res = r.step(t, tensor2D(p, n, c), tensor2D(tt, n, c), tensor2D(zeros, n, c))
		check(t, kind+"/ignored", res.loss, res.grad, true)
	}
}

// TestBaselineOptions checks the defaults and the validation of the options.
func TestBaselineOptions(t *testing.T) {
	if o := DefaultFocalOptions(); o.Gamma != 2 || o.Alpha != 0.25 {
		t.Errorf("DefaultFocalOptions = %+v", o)
	}
	if o := DefaultOHEMOptions(); o.NegPosRatio != 3 || o.MinPositives != 1 {
		t.Errorf("DefaultOHEMOptions = %+v", o)
	}
	for _, o := range []FocalOptions{{Gamma: -1, Alpha: 0.25}, {Gamma: 2, Alpha: 1.5}, {Gamma: math.Inf(1)}} {
		if o.Validate() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	for _, o := range []OHEMOptions{{}, {NegPosRatio: 3, MinPositives: -1}} {
		if o.Validate() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestAnyRank checks that the classification losses accept [..., C] inputs
// of any rank: [2, 30, 5] gives the same loss and gradient as [60, 5].
func TestAnyRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	x, tg, w := randomGHMCInputs(rng, 60*5)
	for name, f := range map[string]lossFn{
		"ce":    func(p, t, w *Node) *Node { return SigmoidCE(p, t, w, nil) },
		"focal": func(p, t, w *Node) *Node { return Focal(p, t, w, nil, DefaultFocalOptions()) },
		"ohem":  func(p, t, w *Node) *Node { return OHEM(p, t, w, nil, DefaultOHEMOptions()) },
	} {
		l2, g2 := evalLoss(t, f, x, tg, w, 60, 5)
		l3, g3 := evalLoss(t, f, x, tg, w, 2, 30, 5)
		if l2 != l3 {
			t.Errorf("%s: loss %v for rank 3, %v for rank 2", name, l3, l2)
		}
		if err := compareSlices(name+" grad", g3, toF64(g2), 0, 0); err != nil {
			t.Error(err)
		}
	}
	r2 := newGHMRunner(t, "ghmc", DefaultGHMCOptions(), 1).step(t, tensor2D(x, 60, 5), tensor2D(tg, 60, 5), tensor2D(w, 60, 5))
	r3 := newGHMRunner(t, "ghmc", DefaultGHMCOptions(), 1).step(t, tensor2D(x, 2, 30, 5), tensor2D(tg, 2, 30, 5), tensor2D(w, 2, 30, 5))
	if r2.loss != r3.loss {
		t.Errorf("ghmc: loss %v for rank 3, %v for rank 2", r3.loss, r2.loss)
	}
}
