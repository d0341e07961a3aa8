package train

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/internal/backend"
)

// TestEMAFollowsTheWeights trains the linear model a few steps with weight
// averaging and checks the averages against the formula computed on the
// host from the weights after each step, then the view's values.
func TestEMAFollowsTheWeights(t *testing.T) {
	cfg := DefaultOptimizer()
	cfg.EMADecay, cfg.EMATau = 0.99, 3 // a fast ramp, so that every step counts
	store := model.NewStore()
	step, err := NewStep(backend.MustNew(""), store, linearLoss, []string{"mse", "mae"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	flat := func(path string) []float64 {
		v := store.GetVariable(path)
		if v == nil {
			t.Fatalf("no variable %s", path)
		}
		var out []float64
		for _, x := range tensors.MustCopyFlatData[float32](v.MustValue()) {
			out = append(out, float64(x))
		}
		return out
	}
	avg := map[string][]float64{"/lin/w": make([]float64, 3), "/lin/b": make([]float64, 1)}
	for i := 1; i <= 6; i++ {
		x, y := linBatch(2, i)
		if _, err := step.Run(i, 0.02, x, y); err != nil {
			t.Fatal(err)
		}
		d := 0.99 * (1 - math.Exp(-float64(i)/3))
		for path, a := range avg {
			w := flat(path)
			for j := range a {
				a[j] = d*a[j] + (1-d)*w[j]
			}
			got := flat(EMAPath(path))
			for j := range a {
				if math.Abs(got[j]-a[j]) > 1e-5*math.Max(1, math.Abs(a[j])) {
					t.Fatalf("step %d: average of %s = %v, want %v", i, path, got, a)
				}
			}
		}
	}
	// The averages differ from the weights, and the view serves them.
	if w, e := flat("/lin/w"), flat(EMAPath("/lin/w")); w[0] == e[0] {
		t.Fatalf("the average equals the weights: %v", w)
	}
	view, ok, err := EMAView(store, "/lin")
	if err != nil || !ok {
		t.Fatalf("EMAView: ok %v, err %v", ok, err)
	}
	for _, path := range []string{"/lin/w", "/lin/b"} {
		v := view.GetVariable(path)
		if v == nil {
			t.Fatalf("view has no %s", path)
		}
		got := tensors.MustCopyFlatData[float32](v.MustValue())
		for j, x := range flat(EMAPath(path)) {
			if float64(got[j]) != x {
				t.Fatalf("view %s = %v, want the average %v", path, got, flat(EMAPath(path)))
			}
		}
	}
	// The loss state (not trainable, no average) keeps its own value.
	if v := view.GetVariable("/lin/ema"); v == nil || v.Trainable {
		t.Fatalf("view of the loss state: %v", v)
	}
	if !HasEMA(store) {
		t.Fatal("HasEMA false")
	}
	// Without averaging, no average variable is created.
	plain := model.NewStore()
	s2, err := NewStep(backend.MustNew(""), plain, linearLoss, []string{"mse", "mae"}, DefaultOptimizer())
	if err != nil {
		t.Fatal(err)
	}
	x, y := linBatch(2, 1)
	if _, err := s2.Run(1, 0.02, x, y); err != nil {
		t.Fatal(err)
	}
	if HasEMA(plain) {
		t.Fatal("averages created with ema_decay 0")
	}
}
