package loss

import (
	"fmt"
	"math"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best with the dot import.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New("")
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	return b
}

// ghmLoss is what the tests need of GHMC and GHMR.
type ghmLoss interface {
	Loss(pred, target, weights *Node) *Node
	LossAndStats(pred, target, weights *Node) (*Node, GHMStats)
	State() *model.Variable
}

// ghmRunner runs one GHM loss object, one training step per call, through
// model.Exec in a training graph: the loss, its gradient with respect to the
// predictions, and the state after the step. calls is the number of loss
// calls per step (each on the same inputs).
type ghmRunner struct {
	store *model.Store
	loss  ghmLoss
	exec  *model.Exec
}

func newGHMRunner(t testing.TB, kind string, opts any, calls int) *ghmRunner {
	t.Helper()
	store := model.NewStore()
	scope := store.RootScope().In("%s", kind)
	var l ghmLoss
	var err error
	switch o := opts.(type) {
	case GHMCOptions:
		l, err = NewGHMC(scope, o)
	case GHMROptions:
		l, err = NewGHMR(scope, o)
	default:
		t.Fatalf("unknown options %T", opts)
	}
	if err != nil {
		t.Fatalf("new %s: %v", kind, err)
	}
	r := &ghmRunner{store: store, loss: l}
	r.exec = model.MustNewExec(testBackend(t), store, func(scope *model.Scope, pred, target, weight *Node) []*Node {
		store.SetTraining(pred.Graph(), true)
		total := ScalarZero(pred.Graph(), dtypes.Float32)
		var stats GHMStats
		for range calls {
			var l *Node
			l, stats = r.loss.LossAndStats(pred, target, weight)
			total = Add(total, l)
		}
		return []*Node{total, Gradient(total, pred)[0], stats.G, stats.Beta}
	})
	return r
}

// stepResult is the outcome of one training step.
type stepResult struct {
	loss    float32
	grad    []float32
	acc     []float32 // state after the step
	g, beta []float32 // statistics of the step's last call
}

// step runs one step.
func (r *ghmRunner) step(t testing.TB, pred, target, weight *tensors.Tensor) stepResult {
	t.Helper()
	out, err := r.exec.Exec(pred, target, weight)
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	acc, err := r.loss.State().Value()
	if err != nil {
		t.Fatalf("state value: %v", err)
	}
	return stepResult{
		loss: out[0].Value().(float32),
		grad: tensors.MustCopyFlatData[float32](out[1]),
		acc:  tensors.MustCopyFlatData[float32](acc),
		g:    tensors.MustCopyFlatData[float32](out[2]),
		beta: tensors.MustCopyFlatData[float32](out[3]),
	}
}

// closeRel reports whether got is within rel (relative) or abs of want.
func closeRel(got, want, rel, abs float64) bool {
	if math.IsNaN(got) || math.IsInf(got, 0) {
		return false
	}
	return math.Abs(got-want) <= math.Max(rel*math.Abs(want), abs)
}

// compareSlices returns an error describing the first entries outside the
// tolerance.
func compareSlices(name string, got []float32, want []float64, rel, abs float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d values, want %d", name, len(got), len(want))
	}
	bad := 0
	var first string
	for i := range got {
		if !closeRel(float64(got[i]), want[i], rel, abs) {
			if bad == 0 {
				first = fmt.Sprintf("[%d] = %.9g, want %.9g", i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%s: %d of %d values off, first %s", name, bad, len(got), first)
	}
	return nil
}

func tensor2D(flat []float32, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(append([]float32(nil), flat...), dims...)
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
