package loss

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best with the dot import.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// StateVariableName is the name of the momentum-state variable that NewGHMC
// and NewGHMR create in the scope they are given.
const StateVariableName = "acc"

// GHMCOptions configures GHM-C. Start from DefaultGHMCOptions: every field is
// used as given (a zero Momentum means no moving average).
type GHMCOptions struct {
	// Bins is the number M of equal bins of the gradient norm in [0, 1].
	// Default 30.
	Bins int
	// Momentum m of the moving average of the per-bin counts, in [0, 1);
	// 0 uses the counts of the current call alone. Default 0.75.
	Momentum float64
	// LossWeight multiplies the loss. Default 1.
	LossWeight float64
	// MaxWeight, when > 0, clamps the per-entry weight beta to at most this
	// value (a lone example in a bin otherwise gets about tot/n). 0, the
	// default, turns the clamp off, as in the reference.
	MaxWeight float64
	// PaperNorm normalises the weights by the number of bins M, as the
	// paper writes, instead of by the number of non-empty bins n, as the
	// reference code does. Default false.
	PaperNorm bool
}

// DefaultGHMCOptions returns the reference settings: 30 bins, momentum 0.75,
// loss weight 1, no clamp, normalisation by the non-empty bins.
func DefaultGHMCOptions() GHMCOptions {
	return GHMCOptions{Bins: 30, Momentum: 0.75, LossWeight: 1}
}

// GHMROptions configures GHM-R. Start from DefaultGHMROptions: every field is
// used as given.
type GHMROptions struct {
	// Mu is the smoothing parameter of the authentic smooth L1 loss
	// sqrt(d^2 + mu^2) - mu, for deltas encoded with means 0 and stds 1.
	// Default 0.02.
	Mu float64
	// Bins is the number M of equal bins of the gradient norm. Default 10.
	Bins int
	// Momentum of the moving average of the per-bin counts, in [0, 1).
	// Default 0.7.
	Momentum float64
	// LossWeight multiplies the loss. Default 10.
	LossWeight float64
	// MaxWeight, when > 0, clamps the per-entry weight. Default 0 (off).
	MaxWeight float64
	// PaperNorm normalises by M instead of the number of non-empty bins.
	// Default false.
	PaperNorm bool
}

// DefaultGHMROptions returns the reference settings: mu 0.02, 10 bins,
// momentum 0.7, loss weight 10, no clamp, normalisation by the non-empty bins.
func DefaultGHMROptions() GHMROptions {
	return GHMROptions{Mu: 0.02, Bins: 10, Momentum: 0.7, LossWeight: 10}
}

// ghmConfig is what GHM-C and GHM-R share.
type ghmConfig struct {
	bins       int
	momentum   float64
	lossWeight float64
	maxWeight  float64
	paperNorm  bool
}

func (c ghmConfig) validate() error {
	switch {
	case c.bins < 1 || c.bins > 1<<16:
		return fmt.Errorf("bins must be in [1, 65536], got %d", c.bins)
	case !(c.momentum >= 0 && c.momentum < 1):
		return fmt.Errorf("momentum must be in [0, 1), got %g", c.momentum)
	case !(c.lossWeight >= 0) || math.IsInf(c.lossWeight, 0):
		return fmt.Errorf("loss weight must be finite and >= 0, got %g", c.lossWeight)
	case !(c.maxWeight >= 0) || math.IsInf(c.maxWeight, 0):
		return fmt.Errorf("max weight must be finite and >= 0 (0 = off), got %g", c.maxWeight)
	}
	return nil
}

// Validate reports whether the options are usable.
func (o GHMCOptions) Validate() error {
	if err := o.config().validate(); err != nil {
		return fmt.Errorf("GHM-C options: %w", err)
	}
	return nil
}

func (o GHMCOptions) config() ghmConfig {
	return ghmConfig{bins: o.Bins, momentum: o.Momentum, lossWeight: o.LossWeight,
		maxWeight: o.MaxWeight, paperNorm: o.PaperNorm}
}

// Validate reports whether the options are usable.
func (o GHMROptions) Validate() error {
	if err := o.config().validate(); err != nil {
		return fmt.Errorf("GHM-R options: %w", err)
	}
	if !(o.Mu > 0) || math.IsInf(o.Mu, 0) {
		return fmt.Errorf("GHM-R options: mu must be finite and > 0, got %g", o.Mu)
	}
	return nil
}

func (o GHMROptions) config() ghmConfig {
	return ghmConfig{bins: o.Bins, momentum: o.Momentum, lossWeight: o.LossWeight,
		maxWeight: o.MaxWeight, paperNorm: o.PaperNorm}
}

// ghm holds the state and settings common to GHM-C and GHM-R.
type ghm struct {
	cfg   ghmConfig
	scope *model.Scope
	acc   *model.Variable
}

// stateKey identifies, in a graph that is not training, the state chained
// between the calls of one loss object.
type stateKey struct{ v *model.Variable }

func newGHM(scope *model.Scope, cfg ghmConfig) (*ghm, error) {
	if scope == nil {
		return nil, fmt.Errorf("nil scope")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	v, err := scope.CreateVariable(StateVariableName, tensors.FromValue(make([]float32, cfg.bins)))
	if err != nil {
		return nil, fmt.Errorf("state variable %q in scope %q: %w", StateVariableName, scope.Scope(), err)
	}
	if v.DType() != dtypes.Float32 {
		return nil, fmt.Errorf("state variable %q in scope %q has dtype %s, want float32",
			StateVariableName, scope.Scope(), v.DType())
	}
	v.SetTrainable(false)
	return &ghm{cfg: cfg, scope: scope, acc: v}, nil
}

// readState returns the state as left by the previous call in the graph.
func (h *ghm) readState(g *Graph) *Node {
	if !h.scope.IsTraining(g) {
		if n, ok := g.State(stateKey{h.acc}).(*Node); ok {
			return n
		}
	}
	return h.acc.NodeValue(g)
}

// writeState records the updated state: in the variable in a training graph,
// in the graph only otherwise.
func (h *ghm) writeState(acc *Node) {
	g := acc.Graph()
	if h.scope.IsTraining(g) {
		h.acc.SetNodeValue(acc)
		return
	}
	g.AttachState(stateKey{h.acc}, acc)
}

// binTable computes, from the per-bin counts ([M+1] int32, the last being the
// invalid entries), the per-bin weights beta as a [M+1] float32 table (the
// last entry is 0) and updates the state. tot is the float32 scalar
// normaliser of the call (already max(..., 1)).
func (h *ghm) binTable(counts, tot *Node) (table *Node) {
	g := counts.Graph()
	m := h.cfg.bins
	cntI := Slice(counts, AxisRange(0, m))
	cnt := ConvertDType(cntI, dtypes.Float32)
	nonEmpty := GreaterThan(cntI, ScalarZero(g, dtypes.Int32))
	ones := OnesLike(cnt)
	den := cnt
	if h.cfg.momentum > 0 {
		acc := h.readState(g)
		// Same rounding as the reference: float32(m)*acc in float32, plus
		// (1-m)*k computed in float64 and rounded to float32.
		inc := ConvertDType(MulScalar(ConvertDType(cntI, dtypes.Float64), 1-h.cfg.momentum), dtypes.Float32)
		upd := Add(MulScalar(acc, h.cfg.momentum), inc)
		newAcc := Where(nonEmpty, upd, acc) // empty bins are not decayed
		h.writeState(newAcc)
		den = newAcc
	}
	beta := Where(nonEmpty, Div(tot, Where(nonEmpty, den, ones)), ZerosLike(cnt))
	n := ReduceAllSum(ConvertDType(nonEmpty, dtypes.Float32))
	if h.cfg.paperNorm {
		n = Where(GreaterThan(n, ScalarZero(g, dtypes.Float32)), Scalar(g, dtypes.Float32, float64(m)), n)
	}
	beta = Div(beta, MaxScalar(n, 1))
	if h.cfg.maxWeight > 0 {
		beta = MinScalar(beta, h.cfg.maxWeight)
	}
	return Concatenate([]*Node{beta, Zeros(g, shapes.Make(dtypes.Float32, 1))}, 0)
}

// GHMStats are the intermediate quantities of one GHM loss call, for
// analysis (gradient-norm distributions, weight histograms).
type GHMStats struct {
	// G is the gradient norm of every entry, in [0, 1], shape of the input.
	G *Node
	// Beta is the GHM weight of every entry (0 for entries with weight 0),
	// shape of the input.
	Beta *Node
	// Counts is the number of valid entries per bin, [M] int32.
	Counts *Node
	// Tot is the normaliser of the call (valid count for GHM-C, sum of
	// weights for GHM-R, at least 1), float32 scalar.
	Tot *Node
}

// GHMC is the GHM-C classification loss with its momentum state.
type GHMC struct {
	*ghm
	opts GHMCOptions
}

// NewGHMC creates a GHM-C loss whose momentum state is the non-trainable
// float32 variable "acc" [Bins] in scope (created with zeros, or reused when
// the scope already holds it, e.g. after loading a checkpoint; a stored state
// of another size is an error).
func NewGHMC(scope *model.Scope, opts GHMCOptions) (*GHMC, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	h, err := newGHM(scope, opts.config())
	if err != nil {
		return nil, fmt.Errorf("GHM-C: %w", err)
	}
	return &GHMC{ghm: h, opts: opts}, nil
}

// Options returns the options of the loss.
func (l *GHMC) Options() GHMCOptions { return l.opts }

// State returns the momentum-state variable.
func (l *GHMC) State() *model.Variable { return l.acc }

// Loss returns the GHM-C loss (a float32 scalar) of logits [..., C] against
// targets in [0, 1] of the same shape (one-hot {0, 1} in a detector; g >= 1
// counts in the last bin); weights (same shape) are a mask: an
// entry counts when its weight is > 0, and the weight's value is not used. It
// updates the momentum state (see the package documentation). With no valid
// entry the loss and its gradient are exactly 0 and the state is unchanged.
//
// The loss is loss_weight * sum(beta * BCE(x, t)) / tot with tot the number
// of valid entries (at least 1) and beta the gradient-density weight of the
// entry's bin: tot / acc[bin] (tot / count[bin] without momentum), divided by
// the number of non-empty bins. Its gradient with respect to the logits is
// loss_weight * beta * (sigmoid(x) - t) / tot.
func (l *GHMC) Loss(logits, targets, weights *Node) *Node {
	loss, _ := l.loss(logits, targets, weights, false)
	return loss
}

// LossAndStats is Loss that also returns the per-entry gradient norms and
// weights of the call (one more lookup pass over the entries).
func (l *GHMC) LossAndStats(logits, targets, weights *Node) (*Node, GHMStats) {
	return l.loss(logits, targets, weights, true)
}

func (l *GHMC) loss(logits, targets, weights *Node, wantStats bool) (*Node, GHMStats) {
	checkSameShape("GHMC", logits, targets, weights)
	x := asFloat32(logits)
	t := asFloat32(targets)
	w := asFloat32(weights)
	g := x.Graph()
	m := l.opts.Bins
	if x.Shape().Size() == 0 {
		return emptyGHM(x, m)
	}
	_, d, bce := sigmoidBCE(x, t)
	gn := Abs(d)
	hist := newHistogram(binIndices(gn, w, m), m+1)
	counts := hist.counts()
	valid := ReduceAllSum(Slice(counts, AxisRange(0, m)))
	tot := MaxScalar(ConvertDType(valid, dtypes.Float32), 1)
	table := l.binTable(counts, tot)
	// The per-entry factor of the loss, loss_weight * beta / tot, looked up
	// from the scaled table: one multiplication per bin instead of per entry.
	scale := Div(Scalar(g, dtypes.Float32, l.opts.LossWeight), tot)
	factor := hist.lookup(Mul(table, scale))
	value := ReduceAllSum(Mul(factor, bce))
	loss := attachGradient(value, x, Mul(factor, d), nil)
	if !wantStats {
		return loss, GHMStats{}
	}
	return loss, GHMStats{G: StopGradient(gn), Beta: StopGradient(hist.lookup(table)),
		Counts: Slice(counts, AxisRange(0, m)), Tot: StopGradient(tot)}
}

// emptyGHM is the loss and statistics of a call without entries: a
// constant 0 (its gradient with respect to the parameters that produced x is
// 0; GoMLX cannot build gradients with respect to zero-size nodes themselves).
func emptyGHM(x *Node, bins int) (*Node, GHMStats) {
	g := x.Graph()
	zero := ScalarZero(g, dtypes.Float32)
	empty := StopGradient(Sub(x, x)) // ZerosLike cannot broadcast to a zero-size shape
	return zero, GHMStats{G: empty, Beta: empty,
		Counts: Zeros(g, shapes.Make(dtypes.Int32, bins)), Tot: OnesLike(zero)}
}

// GHMR is the GHM-R box-regression loss with its momentum state.
type GHMR struct {
	*ghm
	opts GHMROptions
}

// NewGHMR creates a GHM-R loss whose momentum state is the non-trainable
// float32 variable "acc" [Bins] in scope (see NewGHMC).
func NewGHMR(scope *model.Scope, opts GHMROptions) (*GHMR, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	h, err := newGHM(scope, opts.config())
	if err != nil {
		return nil, fmt.Errorf("GHM-R: %w", err)
	}
	return &GHMR{ghm: h, opts: opts}, nil
}

// Options returns the options of the loss.
func (l *GHMR) Options() GHMROptions { return l.opts }

// State returns the momentum-state variable.
func (l *GHMR) State() *model.Variable { return l.acc }

// Loss returns the GHM-R loss (a float32 scalar) of predicted deltas
// [..., 4] against target deltas of the same shape (encoded with means 0 and
// stds 1); an entry counts when its weight is > 0 (weights are 1 on the 4
// coordinates of positive anchors). It updates the momentum state (see the
// package documentation). With no valid entry the loss and its gradient are
// exactly 0 and the state is unchanged.
//
// The loss is loss_weight * sum(beta * ASL1(d)) / tot with d = pred - target,
// ASL1(d) = sqrt(d^2 + mu^2) - mu, tot = max(sum(weights), 1) (a sum of
// weights, not a count) and beta binned on g = |d| / sqrt(d^2 + mu^2) as in
// GHM-C. The weights' values enter only through tot.
func (l *GHMR) Loss(pred, target, weights *Node) *Node {
	loss, _ := l.LossAndStats(pred, target, weights)
	return loss
}

// LossAndStats is Loss that also returns the per-entry gradient norms and
// weights of the call.
func (l *GHMR) LossAndStats(pred, target, weights *Node) (*Node, GHMStats) {
	checkSameShape("GHMR", pred, target, weights)
	p := asFloat32(pred)
	t := asFloat32(target)
	w := asFloat32(weights)
	g := p.Graph()
	m := l.opts.Bins
	if p.Shape().Size() == 0 {
		return emptyGHM(p, m)
	}
	d := Sub(p, t)
	asl1, gn := asl1AndNorm(d, l.opts.Mu)
	gn = StopGradient(gn)
	hist := newHistogram(binIndices(gn, StopGradient(w), m), m+1)
	counts := hist.counts()
	tot := StopGradient(MaxScalar(ReduceAllSum(w), 1))
	beta := StopGradient(hist.lookup(l.binTable(counts, tot)))
	lw := Scalar(g, dtypes.Float32, l.opts.LossWeight)
	loss := Mul(Div(ReduceAllSum(Mul(beta, asl1)), tot), lw)
	return loss, GHMStats{G: gn, Beta: beta, Counts: Slice(counts, AxisRange(0, m)), Tot: tot}
}

// asl1AndNorm returns the authentic smooth L1 loss sqrt(d^2 + mu^2) - mu of
// the errors d, written d^2 / (sqrt(d^2 + mu^2) + mu) to avoid cancellation
// for |d| << mu (finite for |d| up to about 1e19), and its gradient norm
// |d| / sqrt(d^2 + mu^2). Both are differentiable by autodiff.
func asl1AndNorm(d *Node, mu float64) (asl1, gn *Node) {
	d2 := Mul(d, d)
	r := Sqrt(AddScalar(d2, mu*mu))
	asl1 = Div(d2, AddScalar(r, mu))
	gn = Div(Abs(d), r)
	return asl1, gn
}

// GradientNormC returns the GHM-C gradient norm g = |sigmoid(x) - t| of every
// entry (no gradient), as used to bin the entries.
func GradientNormC(logits, targets *Node) *Node {
	checkSameShape("GradientNormC", logits, targets)
	return StopGradient(Abs(Sub(Sigmoid(asFloat32(logits)), asFloat32(targets))))
}

// GradientNormR returns the GHM-R gradient norm g = |d| / sqrt(d^2 + mu^2),
// d = pred - target, of every entry (no gradient).
func GradientNormR(pred, target *Node, mu float64) *Node {
	checkSameShape("GradientNormR", pred, target)
	_, gn := asl1AndNorm(Sub(asFloat32(pred), asFloat32(target)), mu)
	return StopGradient(gn)
}

// GradientNormHistogram returns the number of entries with weight > 0 whose
// gradient norm g (in [0, 1], e.g. from GradientNormC) falls in each of bins
// equal bins, [bins] int32, with the edges float32(i)/float32(bins) used by
// the losses (g == 1 counts in the last bin). One pass over the data.
func GradientNormHistogram(g, weights *Node, bins int) *Node {
	checkSameShape("GradientNormHistogram", g, weights)
	if bins < 1 {
		exceptions.Panicf("loss.GradientNormHistogram: bins must be >= 1, got %d", bins)
	}
	gf := StopGradient(asFloat32(g))
	if gf.Shape().Size() == 0 {
		return Zeros(gf.Graph(), shapes.Make(dtypes.Int32, bins))
	}
	counts := newHistogram(binIndices(gf, StopGradient(asFloat32(weights)), bins), bins+1).counts()
	return Slice(counts, AxisRange(0, bins))
}
