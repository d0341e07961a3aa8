package train

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// LossFn builds the loss graph of one training step from the batch inputs
// (the values given to Step.Run after the learning rate, in order). It
// returns the scalar total loss that is minimised and the scalar loss terms
// reported individually (in the order of the term names given to NewStep;
// they need not sum to the total).
//
// It creates or reads the model variables through scope. It may update
// non-trainable variables (running statistics, the GHM momentum state) with
// Variable.SetNodeValue: the step keeps those updates unless the step is
// non-finite. It must not update trainable variables.
type LossFn func(scope *model.Scope, inputs []*Node) (total *Node, terms []*Node)

// TermGradNorm is the term name a NonFiniteError carries when every loss
// value was finite but the gradients were not.
const TermGradNorm = "grad_norm"

// TermTotal is the term name a NonFiniteError carries when the named terms
// were finite but the total loss was not.
const TermTotal = "total"

// Step is a compiled training step: loss, gradients of the total loss with
// respect to every trainable variable the loss uses, global gradient norm,
// clipping, and the optimiser update, in one graph. The graph is compiled
// once per set of input shapes; the learning rate is an input.
//
// A Step is not safe for concurrent use.
type Step struct {
	store     *model.Store
	cfg       OptimizerConfig
	lossFn    LossFn
	termNames []string
	exec      *model.Exec
	builds    int
	params    []string // paths of the variables updated, from the last build
}

// Result is what one training step returns to the host.
type Result struct {
	// Step is the step number given to Run.
	Step int
	// Loss is the total loss (before the update).
	Loss float64
	// Terms holds the loss terms, in the order of Step.TermNames.
	Terms []float64
	// GradNorm is the global L2 norm of the loss gradients before clipping.
	GradNorm float64
	// ClipScale is the factor the gradients were multiplied by (1 when not
	// clipped).
	ClipScale float64
	// LR is the learning rate the update used.
	LR float64
	// Applied reports whether the update was applied (false for a
	// non-finite step).
	Applied bool
}

// NonFiniteError reports a step whose loss or gradient was not finite. The
// update of that step was not applied: every variable, optimiser state and
// loss state included, still holds its value from before the step.
type NonFiniteError struct {
	// Step is the step number given to Run.
	Step int
	// Term names what went bad: the first non-finite loss term by name,
	// TermTotal if only the total was, or TermGradNorm if the losses were
	// finite and the gradient was not.
	Term string
	// Value is the bad value (of the term, the total or the gradient norm).
	Value float64
	// Result holds all values of the step.
	Result Result
}

// Error implements error.
func (e *NonFiniteError) Error() string {
	if e.Term == TermGradNorm {
		return fmt.Sprintf("step %d: non-finite gradient (grad_norm=%v, loss=%v); update not applied",
			e.Step, e.Value, e.Result.Loss)
	}
	return fmt.Sprintf("step %d: non-finite loss term %q (%v; total loss %v); update not applied",
		e.Step, e.Term, e.Value, e.Result.Loss)
}

// NewStep builds a training step over the variables of store. termNames
// names the loss terms lossFn returns (one name per term, unique). The graph
// itself is built and compiled at the first Run, when the input shapes are
// known; graph-building errors are returned then.
func NewStep(backend compute.Backend, store *model.Store, lossFn LossFn, termNames []string, cfg OptimizerConfig) (*Step, error) {
	if store == nil || lossFn == nil || backend == nil {
		return nil, errors.New("train.NewStep: backend, store and loss function are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, n := range termNames {
		if n == "" || seen[n] {
			return nil, fmt.Errorf("train.NewStep: loss term names must be non-empty and unique, got %q", termNames)
		}
		seen[n] = true
	}
	s := &Step{store: store, cfg: cfg, lossFn: lossFn, termNames: append([]string(nil), termNames...)}
	exec, err := model.NewExec(backend, store, s.build)
	if err != nil {
		return nil, fmt.Errorf("train.NewStep: %w", err)
	}
	s.exec = exec.WithName("train_step")
	return s, nil
}

// TermNames returns the loss term names, in the order of Result.Terms.
func (s *Step) TermNames() []string { return append([]string(nil), s.termNames...) }

// Config returns the optimiser configuration.
func (s *Step) Config() OptimizerConfig { return s.cfg }

// Builds returns how many times the step graph was built (once per distinct
// set of input shapes).
func (s *Step) Builds() int { return s.builds }

// Params returns the paths of the trainable variables the step updates (as
// of the last graph build), in store order.
func (s *Step) Params() []string { return append([]string(nil), s.params...) }

// Finalize releases the compiled graphs.
func (s *Step) Finalize() { s.exec.Finalize() }

// build is the graph function: inputs[0] is the Float64 learning rate, the
// rest are the batch inputs.
func (s *Step) build(scope *model.Scope, inputs []*Node) []*Node {
	s.builds++
	lr := inputs[0]
	g := lr.Graph()
	s.store.SetTraining(g, true)
	if !lr.IsScalar() || lr.DType() != dtypes.Float64 {
		exceptions.Panicf("train step: learning rate must be a float64 scalar, got %s", lr.Shape())
	}
	total, terms := s.lossFn(scope, inputs[1:])
	if total == nil || !total.IsScalar() || !total.DType().IsFloat() {
		exceptions.Panicf("train step: total loss must be a float scalar, got %v", shapeOf(total))
	}
	if len(terms) != len(s.termNames) {
		exceptions.Panicf("train step: loss function returned %d terms, want %d (%s)",
			len(terms), len(s.termNames), strings.Join(s.termNames, ", "))
	}
	for i, t := range terms {
		if t == nil || !t.IsScalar() || !t.DType().IsFloat() {
			exceptions.Panicf("train step: loss term %q must be a float scalar, got %v", s.termNames[i], shapeOf(t))
		}
	}

	// Variables the loss uses: trainable ones get gradients; non-trainable
	// ones it changed (loss state) get guarded.
	var params, lossState []*model.Variable
	for v := range s.store.IterVariables() {
		if isOptimizerVar(v) || !v.InUseByGraph(g) {
			continue
		}
		switch {
		case v.Trainable && v.ChangedInGraph(g):
			exceptions.Panicf("train step: the loss function updated trainable variable %q", v.Path())
		case v.Trainable:
			if !v.DType().IsFloat() {
				exceptions.Panicf("train step: trainable variable %q has non-float dtype %s", v.Path(), v.DType())
			}
			params = append(params, v)
		case v.ChangedInGraph(g):
			lossState = append(lossState, v)
		}
	}
	if len(params) == 0 {
		exceptions.Panicf("train step: the loss uses no trainable variable")
	}
	s.params = s.params[:0]
	wrt := make([]*Node, len(params))
	for i, v := range params {
		wrt[i] = v.NodeValue(g)
		s.params = append(s.params, v.Path())
	}
	grads := Gradient(total, wrt...)

	// Global gradient norm, in the dtype of the loss.
	normDT := total.DType()
	var sumSq *Node
	for _, gr := range grads {
		sq := scalarAs(ReduceAllSum(Square(gr)), normDT)
		if sumSq == nil {
			sumSq = sq
		} else {
			sumSq = Add(sumSq, sq)
		}
	}
	norm := Sqrt(sumSq)
	ok := LogicalAnd(IsFinite(total), IsFinite(norm))
	for _, t := range terms {
		ok = LogicalAnd(ok, IsFinite(t))
	}
	scale := ScalarOne(g, normDT)
	u := &updateCtx{cfg: s.cfg, store: s.store, ok: ok, lr: lr}
	if s.cfg.GradClipNorm > 0 {
		// torch.nn.utils.clip_grad_norm_: coef = max/(norm+1e-6), clamped to 1.
		coef := Div(Scalar(g, normDT, s.cfg.GradClipNorm), AddScalar(norm, 1e-6))
		scale = Min(coef, ScalarOne(g, normDT))
		u.scale = scale
	}
	u.prepare(g)
	for i, v := range params {
		u.update(g, v, grads[i])
	}
	if s.cfg.EMADecay > 0 {
		u.updateEMA(g, params)
	}
	for _, v := range lossState {
		if old := g.GetParameterByName(v.Path()); old != nil {
			u.guarded(v, v.NodeValue(g), old)
		}
	}
	out := []*Node{total}
	out = append(out, terms...)
	return append(out, norm, scale, ok)
}

// shapeOf describes a possibly nil node for error messages.
func shapeOf(n *Node) string {
	if n == nil {
		return "nil"
	}
	return n.Shape().String()
}

// Run executes one training step with learning rate lr on the batch inputs
// (tensors or Go values, in the order the loss function expects). step is
// the caller's step number, used in results and errors only.
//
// A non-finite total loss, loss term or gradient norm returns a
// *NonFiniteError (and the Result), and the update is not applied.
func (s *Step) Run(step int, lr float64, inputs ...any) (res Result, err error) {
	res.Step, res.LR = step, lr
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return res, fmt.Errorf("step %d: invalid learning rate %v", step, lr)
	}
	args := make([]any, 0, len(inputs)+1)
	args = append(args, tensors.FromScalar(lr))
	args = append(args, inputs...)
	var outs []*tensors.Tensor
	err = exceptions.TryCatch[error](func() {
		var e error
		outs, e = s.exec.Call(args...)
		if e != nil {
			panic(e)
		}
	})
	if err != nil {
		return res, fmt.Errorf("step %d: %w", step, err)
	}
	defer func() {
		for _, t := range outs {
			_ = t.FinalizeAll()
		}
	}()
	n := len(s.termNames)
	if len(outs) != n+4 {
		return res, fmt.Errorf("step %d: step graph returned %d outputs, want %d", step, len(outs), n+4)
	}
	vals := make([]float64, n+3)
	for i := range vals {
		if vals[i], err = scalarValue(outs[i]); err != nil {
			return res, fmt.Errorf("step %d: output %d: %w", step, i, err)
		}
	}
	applied, isBool := outs[n+3].Value().(bool)
	if !isBool {
		return res, fmt.Errorf("step %d: finite flag has dtype %s", step, outs[n+3].DType())
	}
	res.Loss = vals[0]
	res.Terms = vals[1 : n+1]
	res.GradNorm, res.ClipScale = vals[n+1], vals[n+2]
	res.Applied = applied
	if applied {
		return res, nil
	}
	nf := &NonFiniteError{Step: step, Result: res}
	for i, v := range res.Terms {
		if !isFinite(v) {
			nf.Term, nf.Value = s.termNames[i], v
			return res, nf
		}
	}
	switch {
	case !isFinite(res.Loss):
		nf.Term, nf.Value = TermTotal, res.Loss
	default:
		nf.Term, nf.Value = TermGradNorm, res.GradNorm
	}
	return res, nf
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// scalarValue converts a float scalar tensor to float64.
func scalarValue(t *tensors.Tensor) (float64, error) {
	switch v := t.Value().(type) {
	case float32:
		return float64(v), nil
	case float64:
		return v, nil
	case interface{ Float32() float32 }:
		return float64(v.Float32()), nil
	default:
		return 0, fmt.Errorf("unexpected scalar %T", v)
	}
}
