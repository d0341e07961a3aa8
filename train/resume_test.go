package train

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/ml/model"
)

const mlpIn, mlpHidden, mlpBatch = 4, 8, 6

// randMatrix returns a deterministic rows x cols matrix.
func randMatrix(seed uint64, rows, cols int, std float64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	m := make([][]float32, rows)
	for i := range m {
		m[i] = make([]float32, cols)
		for j := range m[i] {
			m[i][j] = float32(rng.NormFloat64() * std)
		}
	}
	return m
}

// mlpLoss is a two-layer tanh regression network whose loss is scaled by a
// non-trainable moving average it updates itself (like the GHM momentum
// state): ema = 0.75*ema + 0.25*mse, total = mse/(1+ema) (no gradient through
// ema).
func mlpLoss(scope *model.Scope, in []*Node) (*Node, []*Node) {
	x, y := in[0], in[1]
	g := x.Graph()
	s := scope.In("mlp")
	w1 := s.VariableWithValue("w1", randMatrix(1, mlpIn, mlpHidden, 0.5))
	b1 := s.VariableWithValue("b1", [][]float32{make([]float32, mlpHidden)})
	w2 := s.VariableWithValue("w2", randMatrix(2, mlpHidden, 1, 0.5))
	b2 := s.VariableWithValue("b2", [][]float32{{0}})
	h := Tanh(Add(MatMul(x, w1.NodeValue(g)), b1.NodeValue(g)))
	pred := Add(MatMul(h, w2.NodeValue(g)), b2.NodeValue(g))
	mse := ReduceAllMean(Square(Sub(pred, InsertAxes(y, -1))))
	ema := s.VariableWithValue("ema", float32(0)).SetTrainable(false)
	newEMA := Add(MulScalar(ema.NodeValue(g), 0.75), MulScalar(StopGradient(mse), 0.25))
	ema.SetNodeValue(newEMA)
	total := Div(mse, OnePlus(newEMA))
	return total, []*Node{mse, newEMA}
}

// mlpBatchFor returns the batch of a given step (the data order is a function
// of the seed and the step only).
func mlpBatchFor(step int) ([][]float32, []float32) {
	rng := rand.New(rand.NewPCG(99, uint64(step)))
	x := make([][]float32, mlpBatch)
	y := make([]float32, mlpBatch)
	for i := range x {
		x[i] = make([]float32, mlpIn)
		for j := range x[i] {
			x[i][j] = float32(rng.NormFloat64())
		}
		y[i] = float32(math.Sin(float64(x[i][0])) + 0.5*float64(x[i][1]*x[i][2]))
	}
	return x, y
}

// TestResume trains k steps, saves, continues to k+3; then loads the
// checkpoint into a fresh store and runs steps k+1..k+3 again: losses, grad
// norms and final variables must be bitwise equal.
func TestResume(t *testing.T) {
	be := backend.MustNew("")
	const k, more = 3, 3
	sched := DefaultSchedule()
	sched.WarmupIters = k + 2 // the rate still changes across the resume point
	for _, name := range []string{SGD, Adam, AdamW} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultOptimizer()
			cfg.Name = name
			cfg.GradClipNorm = 0.5 // active on some steps
			if name != SGD {
				cfg.LR = 0.01
			}
			lrAt := func(step int) float64 { return sched.LR(cfg.LR, Progress{Iter: step - 1}) }
			path := filepath.Join(t.TempDir(), "k.ckpt")

			runA := model.NewStore()
			stepA, err := NewStep(be, runA, mlpLoss, []string{"mse", "ema"}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var lossA []Result
			clipped := 0
			for s := 1; s <= k+more; s++ {
				x, y := mlpBatchFor(s)
				res, err := stepA.Run(s, lrAt(s), x, y)
				if err != nil {
					t.Fatal(err)
				}
				if res.ClipScale < 1 {
					clipped++
				}
				if s > k {
					lossA = append(lossA, res)
				}
				if s == k {
					if err := Save(path, runA, Meta{Step: k}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if clipped == 0 {
				t.Log("note: clipping never active")
			}

			runB := model.NewStore()
			meta, err := Load(path, runB)
			if err != nil {
				t.Fatal(err)
			}
			stepB, err := NewStep(be, runB, mlpLoss, []string{"mse", "ema"}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for s := meta.Step + 1; s <= k+more; s++ {
				x, y := mlpBatchFor(s)
				res, err := stepB.Run(s, lrAt(s), x, y)
				if err != nil {
					t.Fatal(err)
				}
				a := lossA[s-k-1]
				if res.Loss != a.Loss || res.GradNorm != a.GradNorm || res.Terms[0] != a.Terms[0] || res.Terms[1] != a.Terms[1] {
					t.Errorf("step %d after resume: loss %v norm %v terms %v; uninterrupted: %v %v %v",
						s, res.Loss, res.GradNorm, res.Terms, a.Loss, a.GradNorm, a.Terms)
				}
			}
			a, b := snapshot(t, runA), snapshot(t, runB)
			if len(a) != len(b) {
				t.Errorf("%d variables after resume, want %d", len(b), len(a))
			}
			for p, v := range a {
				if b[p] != v {
					t.Errorf("variable %q differs at step %d after resume", p, k+more)
				}
			}

			// Without the optimiser state the continuation differs: the test
			// can tell (momentum/moments matter from step k+1 on).
			runC := model.NewStore()
			if _, err := Load(path, runC); err != nil {
				t.Fatal(err)
			}
			_ = runC.DeleteVariablesInScope(OptimizerScope)
			stepC, _ := NewStep(be, runC, mlpLoss, []string{"mse", "ema"}, cfg)
			for s := k + 1; s <= k+2; s++ {
				x, y := mlpBatchFor(s)
				res, err := stepC.Run(s, lrAt(s), x, y)
				if err != nil {
					t.Fatal(err)
				}
				if s == k+2 && res.Loss == lossA[1].Loss {
					t.Error("dropping the optimiser state did not change the loss at step k+2")
				}
			}
		})
	}
}
