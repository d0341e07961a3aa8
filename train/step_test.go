package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Linear regression test model: pred = x·w + b, w [3,1], b [1];
// total = mse; terms: mse, mae. A non-trainable loss state /lin/ema is
// updated by the loss graph: ema = 0.9*ema + 0.1*mse.
var (
	linW0 = []float32{0.5, -0.3, 0.8}
	linB0 = float32(0.1)
)

const linN, linD = 8, 3

func linearLoss(scope *model.Scope, in []*Node) (*Node, []*Node) {
	x, y := in[0], in[1]
	g := x.Graph()
	s := scope.In("lin")
	w := s.VariableWithValue("w", [][]float32{{linW0[0]}, {linW0[1]}, {linW0[2]}})
	b := s.VariableWithValue("b", []float32{linB0})
	r := Sub(Add(MatMul(x, w.NodeValue(g)), InsertAxes(b.NodeValue(g), 0)), InsertAxes(y, -1))
	mse := ReduceAllMean(Square(r))
	mae := ReduceAllMean(Abs(r))
	ema := s.VariableWithValue("ema", float32(0)).SetTrainable(false)
	ema.SetNodeValue(Add(MulScalar(ema.NodeValue(g), 0.9), MulScalar(StopGradient(mse), 0.1)))
	return mse, []*Node{mse, mae}
}

// linBatch returns a deterministic batch for the given step.
func linBatch(seed uint64, step int) (x [][]float32, y []float32) {
	rng := rand.New(rand.NewPCG(seed, uint64(step)))
	wTrue := []float64{2, -1, 0.5}
	x = make([][]float32, linN)
	y = make([]float32, linN)
	for i := range x {
		x[i] = make([]float32, linD)
		s := 1.0
		for j := range x[i] {
			x[i][j] = float32(rng.NormFloat64() * 2)
			s += wTrue[j] * float64(x[i][j])
		}
		y[i] = float32(s + 0.1*rng.NormFloat64())
	}
	return
}

// refOpt is a pure-Go (float64) reference of the optimisers over a flat
// parameter vector p = [w0, w1, w2, b].
type refOpt struct {
	cfg       OptimizerConfig
	p         []float64
	decay     []bool
	buf, m, v []float64
	t         int
}

func newRefOpt(cfg OptimizerConfig) *refOpt {
	r := &refOpt{cfg: cfg, p: []float64{float64(linW0[0]), float64(linW0[1]), float64(linW0[2]), float64(linB0)}}
	n := len(r.p)
	r.buf, r.m, r.v = make([]float64, n), make([]float64, n), make([]float64, n)
	r.decay = make([]bool, n)
	for i := range r.decay {
		name := "/lin/w"
		if i == 3 {
			name = "/lin/b"
		}
		r.decay[i] = cfg.decays(name)
	}
	return r
}

// lossGrad returns mse, mae and the gradient of mse at r.p.
func (r *refOpt) lossGrad(x [][]float32, y []float32) (mse, mae float64, grad []float64) {
	grad = make([]float64, 4)
	for i := range x {
		pred := r.p[3]
		for j := range x[i] {
			pred += r.p[j] * float64(x[i][j])
		}
		res := pred - float64(y[i])
		mse += res * res
		mae += math.Abs(res)
		for j := range x[i] {
			grad[j] += 2 * res * float64(x[i][j])
		}
		grad[3] += 2 * res
	}
	n := float64(len(x))
	for j := range grad {
		grad[j] /= n
	}
	return mse / n, mae / n, grad
}

// step applies one update and returns the gradient norm before clipping.
func (r *refOpt) step(grad []float64, lr float64) (norm float64) {
	for _, g := range grad {
		norm += g * g
	}
	norm = math.Sqrt(norm)
	scale := 1.0
	if r.cfg.GradClipNorm > 0 {
		scale = math.Min(1, r.cfg.GradClipNorm/(norm+1e-6))
	}
	r.t++
	c := r.cfg
	for i := range r.p {
		g := grad[i] * scale
		switch c.Name {
		case SGD:
			if r.decay[i] {
				g += c.WeightDecay * r.p[i]
			}
			if c.Momentum != 0 {
				r.buf[i] = c.Momentum*r.buf[i] + g
				if c.Nesterov {
					g += c.Momentum * r.buf[i]
				} else {
					g = r.buf[i]
				}
			}
			r.p[i] -= lr * g
		case Adam, AdamW:
			if r.decay[i] && c.Name == Adam {
				g += c.WeightDecay * r.p[i]
			}
			if r.decay[i] && c.Name == AdamW {
				r.p[i] *= 1 - lr*c.WeightDecay
			}
			r.m[i] = c.Beta1*r.m[i] + (1-c.Beta1)*g
			r.v[i] = c.Beta2*r.v[i] + (1-c.Beta2)*g*g
			bc1 := 1 - math.Pow(c.Beta1, float64(r.t))
			bc2 := 1 - math.Pow(c.Beta2, float64(r.t))
			denom := math.Sqrt(r.v[i])/math.Sqrt(bc2) + c.Eps
			r.p[i] -= lr / bc1 * r.m[i] / denom
		}
	}
	return norm
}

// varFloats returns the float32 values of the variable at path.
func varFloats(t *testing.T, store *model.Store, path string) []float32 {
	t.Helper()
	v := store.GetVariable(path)
	if v == nil {
		t.Fatalf("variable %q missing", path)
	}
	var out []float32
	tensors.MustConstFlatData(v.MustValue(), func(flat []float32) { out = append(out, flat...) })
	return out
}

func closeTo(got, want, rel, abs float64) bool {
	return math.Abs(got-want) <= abs+rel*math.Abs(want)
}

func TestOptimizersMatchReference(t *testing.T) {
	be := backend.MustNew("")
	sgdNoDecayB := DefaultOptimizer()
	sgdNoDecayB.Nesterov = true
	sgdNoDecayB.NoDecay = []string{"b"}
	sgdNoDecayB.GradClipNorm = 0
	sgdClip := DefaultOptimizer()
	sgdClip.GradClipNorm = 1 // far below the gradient norm here: clipping active
	sgdClip.WeightDecay = 0.05
	plain := DefaultOptimizer()
	plain.Momentum = 0
	adam := DefaultOptimizer()
	adam.Name, adam.WeightDecay, adam.GradClipNorm = Adam, 0.01, 5
	adamw := DefaultOptimizer()
	adamw.Name, adamw.WeightDecay = AdamW, 0.1
	cases := []struct {
		name      string
		cfg       OptimizerConfig
		wantClip  bool
		lrs       []float64
		tolerance float64
	}{
		{"sgd_momentum_wd_clip", sgdClip, true, []float64{0.01, 0.02, 0.015}, 2e-5},
		{"sgd_default", DefaultOptimizer(), false, []float64{0.01, 0.02, 0.015}, 2e-5},
		{"sgd_nesterov_nodecay_b", sgdNoDecayB, false, []float64{0.01, 0.02, 0.015}, 2e-5},
		{"sgd_plain", plain, false, []float64{0.01, 0.02, 0.015}, 2e-5},
		{"adam_l2_clip", adam, true, []float64{0.1, 0.05, 0.2}, 2e-5},
		{"adamw", adamw, false, []float64{0.1, 0.05, 0.2}, 2e-5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := model.NewStore()
			step, err := NewStep(be, store, linearLoss, []string{"mse", "mae"}, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ref := newRefOpt(tc.cfg)
			for i, lr := range tc.lrs {
				x, y := linBatch(1, i)
				mse, mae, grad := ref.lossGrad(x, y)
				norm := ref.step(grad, lr)
				res, err := step.Run(i+1, lr, x, y)
				if err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
				if !res.Applied || res.Step != i+1 || res.LR != lr {
					t.Fatalf("step %d: result %+v", i+1, res)
				}
				if !closeTo(res.Loss, mse, 1e-5, 1e-6) || !closeTo(res.Terms[0], mse, 1e-5, 1e-6) || !closeTo(res.Terms[1], mae, 1e-5, 1e-6) {
					t.Errorf("step %d: loss %v terms %v, want %v [%v %v]", i+1, res.Loss, res.Terms, mse, mse, mae)
				}
				if !closeTo(res.GradNorm, norm, 1e-5, 1e-6) {
					t.Errorf("step %d: grad norm %v, want %v", i+1, res.GradNorm, norm)
				}
				clipped := res.ClipScale < 1
				if i == 0 && clipped != tc.wantClip {
					t.Errorf("step 1: clip scale %v (norm %v), want clipping=%v", res.ClipScale, res.GradNorm, tc.wantClip)
				}
				if tc.cfg.GradClipNorm > 0 && clipped {
					if want := tc.cfg.GradClipNorm / (norm + 1e-6); !closeTo(res.ClipScale, want, 1e-5, 0) {
						t.Errorf("step %d: clip scale %v, want %v", i+1, res.ClipScale, want)
					}
				}
				got := append(varFloats(t, store, "/lin/w"), varFloats(t, store, "/lin/b")...)
				for j := range got {
					if !closeTo(float64(got[j]), ref.p[j], tc.tolerance, 1e-6) {
						t.Errorf("step %d: param %d = %v, want %v", i+1, j, got[j], ref.p[j])
					}
				}
			}
			if step.Builds() != 1 {
				t.Errorf("graph built %d times for 3 steps with different learning rates, want 1", step.Builds())
			}
			if got := step.Params(); strings.Join(got, ",") != "/lin/w,/lin/b" {
				t.Errorf("params %v", got)
			}
			if c := store.GetVariable(CounterPath); c == nil || c.MustValue().Value().(int64) != 3 {
				t.Errorf("update counter: %v", c)
			}
			// Momentum buffers (SGD) or moments (Adam) are in the store.
			var state string
			switch {
			case tc.cfg.Name == SGD && tc.cfg.Momentum != 0:
				state = "/optimizer/momentum/lin/w"
			case tc.cfg.Name != SGD:
				state = "/optimizer/adam_v/lin/b"
			}
			if state != "" {
				if v := store.GetVariable(state); v == nil || v.Trainable {
					t.Errorf("optimizer state %q missing or trainable", state)
				}
			}
		})
	}
}

// snapshot returns the bytes of every variable of the store.
func snapshot(t *testing.T, store *model.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for v := range store.IterVariables() {
		_ = v.MustValue().ConstBytes(func(data []byte) { out[v.Path()] = string(data) })
	}
	return out
}

func TestNonFiniteGuard(t *testing.T) {
	be := backend.MustNew("")
	// A second term, sqrt(z*sum(w)), is finite for z = 0 but its gradient is
	// 0*Inf = NaN: a finite loss with a non-finite gradient.
	lossFn := func(scope *model.Scope, in []*Node) (*Node, []*Node) {
		total, terms := linearLoss(scope, in[:2])
		w := scope.Store().GetVariable("/lin/w")
		sq := Sqrt(Mul(in[2], ReduceAllSum(w.NodeValue(total.Graph()))))
		return Add(total, sq), append(terms, sq)
	}
	for _, name := range []string{SGD, Adam} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultOptimizer()
			cfg.Name = name
			store := model.NewStore()
			step, err := NewStep(be, store, lossFn, []string{"mse", "mae", "sqrt"}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 2; i++ {
				x, y := linBatch(2, i)
				if _, err := step.Run(i, 0.01, x, y, float32(1)); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			before := snapshot(t, store)

			x, y := linBatch(2, 3)
			x[2][1] = float32(math.NaN())
			res, err := step.Run(3, 0.01, x, y, float32(1))
			var nf *NonFiniteError
			if !errors.As(err, &nf) {
				t.Fatalf("NaN input: error %v, want *NonFiniteError", err)
			}
			if nf.Step != 3 || nf.Term != "mse" || res.Applied || !math.IsNaN(nf.Value) {
				t.Errorf("NaN input: %+v", nf)
			}
			if msg := err.Error(); !strings.Contains(msg, "step 3") || !strings.Contains(msg, `"mse"`) {
				t.Errorf("message %q does not name the step and the term", msg)
			}
			after := snapshot(t, store)
			for k, v := range before {
				if after[k] != v {
					t.Errorf("variable %q changed by a non-finite step", k)
				}
			}

			// Finite loss, non-finite gradient.
			x, y = linBatch(2, 3)
			_, err = step.Run(4, 0.01, x, y, float32(0))
			if !errors.As(err, &nf) || nf.Term != TermGradNorm || nf.Step != 4 || !isFinite(nf.Result.Loss) {
				t.Fatalf("non-finite gradient: %v (%+v)", err, nf)
			}
			if !strings.Contains(err.Error(), "gradient") {
				t.Errorf("message %q does not say gradient", err)
			}
			for k, v := range snapshot(t, store) {
				if before[k] != v {
					t.Errorf("variable %q changed by a non-finite gradient step", k)
				}
			}

			// Training continues afterwards.
			res, err = step.Run(5, 0.01, x, y, float32(1))
			if err != nil || !res.Applied {
				t.Fatalf("step after recovery: %v", err)
			}
			if got := store.GetVariable(CounterPath).MustValue().Value().(int64); got != 3 {
				t.Errorf("update counter %d, want 3 (non-finite steps not counted)", got)
			}
		})
	}
}

func TestStepErrors(t *testing.T) {
	be := backend.MustNew("")
	x, y := linBatch(3, 0)
	cases := []struct {
		name   string
		lossFn LossFn
		terms  []string
		cfg    func(*OptimizerConfig)
		newErr string // error expected from NewStep
		runErr string // error expected from Run
	}{
		{name: "bad optimizer", lossFn: linearLoss, terms: []string{"mse", "mae"},
			cfg: func(c *OptimizerConfig) { c.Name = "rmsprop" }, newErr: "unknown name"},
		{name: "duplicate terms", lossFn: linearLoss, terms: []string{"mse", "mse"}, newErr: "unique"},
		{name: "term count", lossFn: linearLoss, terms: []string{"mse"}, runErr: "returned 2 terms, want 1"},
		{name: "updates trainable", terms: []string{}, runErr: "updated trainable variable",
			lossFn: func(scope *model.Scope, in []*Node) (*Node, []*Node) {
				w := scope.VariableWithValue("w", []float32{1, 2, 3})
				v := w.NodeValue(in[0].Graph())
				w.SetNodeValue(AddScalar(v, 1))
				return ReduceAllSum(Square(v)), nil
			}},
		{name: "no trainable", terms: []string{}, runErr: "no trainable variable",
			lossFn: func(scope *model.Scope, in []*Node) (*Node, []*Node) {
				return ReduceAllSum(in[0]), nil
			}},
		{name: "non-scalar loss", terms: []string{}, runErr: "float scalar",
			lossFn: func(scope *model.Scope, in []*Node) (*Node, []*Node) {
				w := scope.VariableWithValue("w", []float32{1, 2, 3})
				return w.NodeValue(in[0].Graph()), nil
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultOptimizer()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			step, err := NewStep(be, model.NewStore(), tc.lossFn, tc.terms, cfg)
			if tc.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.newErr) {
					t.Fatalf("NewStep error %v, want %q", err, tc.newErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = step.Run(7, 0.01, x, y)
			if err == nil || !strings.Contains(err.Error(), tc.runErr) || !strings.Contains(err.Error(), "step 7") {
				t.Fatalf("Run error %v, want %q", err, tc.runErr)
			}
		})
	}
	step, err := NewStep(be, model.NewStore(), linearLoss, []string{"mse", "mae"}, DefaultOptimizer())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := step.Run(1, math.NaN(), x, y); err == nil {
		t.Error("NaN learning rate accepted")
	}
}

func TestOptimizerConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*OptimizerConfig)
		ok   bool
	}{
		{"default", func(*OptimizerConfig) {}, true},
		{"adamw", func(c *OptimizerConfig) { c.Name = AdamW }, true},
		{"negative lr", func(c *OptimizerConfig) { c.LR = -1 }, false},
		{"momentum 1", func(c *OptimizerConfig) { c.Momentum = 1 }, false},
		{"nan wd", func(c *OptimizerConfig) { c.WeightDecay = math.NaN() }, false},
		{"nesterov without momentum", func(c *OptimizerConfig) { c.Momentum, c.Nesterov = 0, true }, false},
		{"adam beta2 1", func(c *OptimizerConfig) { c.Name, c.Beta2 = Adam, 1 }, false},
		{"adam eps 0", func(c *OptimizerConfig) { c.Name, c.Eps = Adam, 0 }, false},
		{"bad pattern", func(c *OptimizerConfig) { c.NoDecay = []string{"["} }, false},
	}
	for _, tc := range cases {
		c := DefaultOptimizer()
		tc.mod(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	c := DefaultOptimizer()
	c.NoDecay = []string{"bias", "/neck/*/scale"}
	for path, want := range map[string]bool{"/a/bias": false, "/a/w": true, "/neck/p3/scale": false, "/head/p3/scale": true} {
		if got := c.decays(path); got != want {
			t.Errorf("decays(%q) = %v, want %v", path, got, want)
		}
	}
}
