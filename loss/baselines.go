package loss

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best with the dot import.
	"github.com/gomlx/gomlx/support/exceptions"
)

// SigmoidCE returns the sigmoid cross-entropy (binary cross-entropy with
// logits, per class) of logits [..., C] against targets in [0, 1]:
// sum(weights * BCE(x, t)) / max(avgFactor, 1). weights multiply the
// per-entry losses (0 ignores an entry). A nil avgFactor averages over the
// valid entries (the number of entries with weight > 0). The gradient with
// respect to the logits is weights * (sigmoid(x) - t) / max(avgFactor, 1).
func SigmoidCE(logits, targets, weights, avgFactor *Node) *Node {
	checkSameShape("SigmoidCE", logits, targets, weights)
	checkAvgFactor("SigmoidCE", avgFactor)
	x, t, w := asFloat32(logits), asFloat32(targets), asFloat32(weights)
	if x.Shape().Size() == 0 {
		return ScalarZero(x.Graph(), dtypes.Float32)
	}
	var fallback *Node
	if avgFactor == nil {
		fallback = countPositive(w)
	}
	norm := normaliser(avgFactor, fallback)
	_, d, bce := sigmoidBCE(x, t)
	value := Div(ReduceAllSum(Mul(w, bce)), norm)
	return attachGradient(value, x, Mul(w, d), Reciprocal(norm))
}

// FocalOptions configures the focal loss.
type FocalOptions struct {
	// Gamma is the focusing parameter (>= 0). Default 2.
	Gamma float64
	// Alpha weighs the positive entries (alpha) against the negative ones
	// (1 - alpha), in [0, 1]. Default 0.25.
	Alpha float64
}

// DefaultFocalOptions returns gamma 2, alpha 0.25 (RetinaNet's settings).
func DefaultFocalOptions() FocalOptions { return FocalOptions{Gamma: 2, Alpha: 0.25} }

// Validate reports whether the options are usable.
func (o FocalOptions) Validate() error {
	if !(o.Gamma >= 0) || math.IsInf(o.Gamma, 0) {
		return fmt.Errorf("focal loss: gamma must be finite and >= 0, got %g", o.Gamma)
	}
	if !(o.Alpha >= 0 && o.Alpha <= 1) {
		return fmt.Errorf("focal loss: alpha must be in [0, 1], got %g", o.Alpha)
	}
	return nil
}

// Focal returns the sigmoid focal loss (Lin et al., 2017) of logits [..., C]
// against one-hot targets in {0, 1}:
//
//	sum(weights * alpha_t * (1 - p_t)^gamma * BCE(x, t)) / max(avgFactor, 1)
//
// with p = sigmoid(x), 1 - p_t = |p - t| and alpha_t = alpha for t = 1,
// 1 - alpha for t = 0. weights multiply the per-entry losses. avgFactor is the
// caller's normaliser, in RetinaNet the number of positive anchors; nil uses
// the number of entries with t = 1 and weight > 0, which is the same for
// one-hot targets. Invalid options panic (check them with Validate).
//
// The gradient with respect to the logits is the closed form
// weights * alpha_t * (gamma (1-p_t)^(gamma-1) sign(p-t) p (1-p) BCE + (1-p_t)^gamma (p - t)) / max(avgFactor, 1).
func Focal(logits, targets, weights, avgFactor *Node, opts FocalOptions) *Node {
	checkSameShape("Focal", logits, targets, weights)
	checkAvgFactor("Focal", avgFactor)
	if err := opts.Validate(); err != nil {
		exceptions.Panicf("loss.Focal: %v", err)
	}
	x, t, w := asFloat32(logits), asFloat32(targets), asFloat32(weights)
	if x.Shape().Size() == 0 {
		return ScalarZero(x.Graph(), dtypes.Float32)
	}
	var fallback *Node
	if avgFactor == nil {
		fallback = ReduceAllSum(Mul(t, MaxScalar(Sign(w), 0)))
	}
	norm := normaliser(avgFactor, fallback)
	p, d, bce := sigmoidBCE(x, t)
	pt := Abs(d)
	aw := Mul(AddScalar(MulScalar(t, 2*opts.Alpha-1), 1-opts.Alpha), w)
	pq := Mul(p, OneMinus(p)) // dp/dx
	var mod, gx *Node
	switch opts.Gamma {
	case 2:
		mod = Mul(pt, pt)
		// gamma (1-p_t) sign(d) = 2 d.
		gx = Mul(Mul(aw, d), Add(MulScalar(Mul(pq, bce), 2), mod))
	case 1:
		mod = pt
		gx = Mul(aw, Add(Mul(Sign(d), Mul(pq, bce)), Mul(pt, d)))
	case 0:
		mod = nil
		gx = Mul(aw, d)
	default:
		mod = Pow(pt, Scalar(x.Graph(), dtypes.Float32, opts.Gamma))
		// (1-p_t)^(gamma-1), with 0^(negative) avoided: the term's factor
		// p(1-p)... is 0 only at saturation, where pt is 0 too.
		dmod := MulScalar(Pow(MaxScalar(pt, 1e-30), Scalar(x.Graph(), dtypes.Float32, opts.Gamma-1)), opts.Gamma)
		gx = Mul(aw, Add(Mul(Mul(Sign(d), dmod), Mul(pq, bce)), Mul(mod, d)))
	}
	fw := aw
	if mod != nil {
		fw = Mul(aw, mod)
	}
	value := Div(ReduceAllSum(Mul(fw, bce)), norm)
	return attachGradient(value, x, gx, Reciprocal(norm))
}

// OHEMOptions configures online hard example mining for classification.
type OHEMOptions struct {
	// NegPosRatio is the number of hard negatives kept per positive
	// example (> 0). Default 3 (1:3).
	NegPosRatio float64
	// MinPositives is the number of positives assumed when computing the
	// number of negatives to keep, when there are fewer (>= 0): with the
	// default 1, an image group without positives still trains on its
	// NegPosRatio hardest negatives.
	MinPositives int
}

// DefaultOHEMOptions returns ratio 3 (one positive to three negatives) and
// MinPositives 1.
func DefaultOHEMOptions() OHEMOptions { return OHEMOptions{NegPosRatio: 3, MinPositives: 1} }

// Validate reports whether the options are usable.
func (o OHEMOptions) Validate() error {
	if !(o.NegPosRatio > 0) || math.IsInf(o.NegPosRatio, 0) {
		return fmt.Errorf("OHEM: negative:positive ratio must be finite and > 0, got %g", o.NegPosRatio)
	}
	if o.MinPositives < 0 {
		return fmt.Errorf("OHEM: MinPositives must be >= 0, got %d", o.MinPositives)
	}
	return nil
}

// OHEM returns the online-hard-example-mining classification loss of logits
// [..., C] against one-hot targets in {0, 1} (weights multiply the per-entry
// cross-entropies; 0 ignores an entry).
//
// The example unit is the anchor (a row of C entries): its loss is the sum
// over its classes of weights * BCE(x, t). An anchor is valid when one of its
// weights is > 0, positive when valid with a target 1 on an entry of weight >
// 0, negative when valid and not positive. All P positive anchors are kept,
// and the K = min(floor(NegPosRatio * max(P, MinPositives)), #negatives)
// negative anchors of highest loss (ties broken by position, exactly K). The
// loss is the sum of the kept anchors' losses / max(avgFactor, 1); a nil
// avgFactor uses the number of kept anchors (P + K). The selection is a
// constant for the gradient, which is weights * (sigmoid(x) - t) /
// max(avgFactor, 1) on the kept anchors and 0 elsewhere. The K-th highest
// loss is found by an exact bisection on the float32 bit patterns (31 counting
// passes over the anchors), not by sorting. Invalid options panic.
func OHEM(logits, targets, weights, avgFactor *Node, opts OHEMOptions) *Node {
	checkSameShape("OHEM", logits, targets, weights)
	checkAvgFactor("OHEM", avgFactor)
	if err := opts.Validate(); err != nil {
		exceptions.Panicf("loss.OHEM: %v", err)
	}
	if logits.Rank() < 1 {
		exceptions.Panicf("loss.OHEM: logits must have a class axis, got %s", logits.Shape())
	}
	x, t, w := asFloat32(logits), asFloat32(targets), asFloat32(weights)
	g := x.Graph()
	if x.Shape().Size() == 0 {
		return ScalarZero(g, dtypes.Float32)
	}
	_, d, bce := sigmoidBCE(x, t)
	validE := MaxScalar(Sign(w), 0)
	anchorDims := x.Shape().Dimensions[:x.Rank()-1]
	numAnchors := x.Shape().Size() / x.Shape().Dimensions[x.Rank()-1]
	perAnchor := func(n *Node) *Node { return Reshape(n, numAnchors) }
	// Adding +0 turns a -0 sum into +0, whose bit pattern orders correctly.
	anchorLoss := AddScalar(MaxScalar(perAnchor(StopGradient(ReduceSum(Mul(w, bce), -1))), 0), 0)
	isValid := GreaterThan(perAnchor(ReduceMax(validE, -1)), ScalarZero(g, dtypes.Float32))
	isPos := And(isValid, GreaterThan(perAnchor(ReduceMax(Mul(t, validE), -1)), ScalarZero(g, dtypes.Float32)))
	isNeg := And(isValid, LogicalNot(isPos))
	numPos := ReduceAllSum(ConvertDType(isPos, dtypes.Int32))
	numNeg := ReduceAllSum(ConvertDType(isNeg, dtypes.Int32))
	posForK := ConvertDType(MaxScalar(numPos, opts.MinPositives), dtypes.Float64)
	k := ConvertDType(Floor(MulScalar(posForK, opts.NegPosRatio)), dtypes.Int32)
	k = Min(k, numNeg)
	keepNeg := topKMask(anchorLoss, isNeg, k)
	keep := Or(isPos, keepNeg)
	keepF := StopGradient(ConvertDType(keep, dtypes.Float32))
	var fallback *Node
	if avgFactor == nil {
		fallback = ReduceAllSum(keepF)
	}
	norm := normaliser(avgFactor, fallback)
	value := Div(ReduceAllSum(Mul(anchorLoss, keepF)), norm)
	keepDims := append(append(make([]int, 0, x.Rank()), anchorDims...), 1)
	keepE := Reshape(keepF, keepDims...)
	return attachGradient(value, x, Mul(Mul(w, d), keepE), Reciprocal(norm))
}

// topKMask returns the mask of the k (int32 scalar, 0 <= k <= count(mask))
// entries of v (float32 >= 0, 1-D) with the highest values among those where
// mask is true; ties are broken by position (earlier first), so exactly k are
// selected. The k-th value is found by bisection on the int32 bit patterns of
// the non-negative floats, which order like the values.
func topKMask(v, mask, k *Node) *Node {
	g := v.Graph()
	bits := Bitcast(v, dtypes.Int32)
	countGE := func(threshold *Node) *Node {
		return ReduceAllSum(ConvertDType(And(mask, GreaterOrEqual(bits, threshold)), dtypes.Int32))
	}
	// Invariant: countGE(lo) >= k, countGE(hi) < k (for k >= 1).
	lo := ScalarZero(g, dtypes.Int32)
	hi := Scalar(g, dtypes.Int32, 0x7f800001) // above +Inf
	for range 31 {
		mid := Add(lo, Div(Sub(hi, lo), Scalar(g, dtypes.Int32, 2)))
		ok := GreaterOrEqual(countGE(mid), k)
		lo = Where(ok, mid, lo)
		hi = Where(ok, hi, mid)
	}
	// lo is the k-th highest value; keep all above it and the first ties.
	above := And(mask, GreaterThan(bits, lo))
	ties := And(mask, Equal(bits, lo))
	need := Sub(k, ReduceAllSum(ConvertDType(above, dtypes.Int32)))
	tieRank := CumSum(ConvertDType(ties, dtypes.Int32), 0)
	sel := Or(above, And(ties, LessOrEqual(tieRank, need)))
	return And(sel, GreaterThan(k, ScalarZero(g, dtypes.Int32)))
}

// SmoothL1 returns the smooth L1 loss of predicted deltas against targets
// (any shape): sum(weights * l(d)) / max(avgFactor, 1), d = pred - target,
// l(d) = 0.5 d^2 / beta for |d| < beta, |d| - 0.5 beta otherwise (beta 0.11 in
// the RetinaNet reference, DefaultSmoothL1Beta; beta <= 0 gives L1). A nil
// avgFactor uses the number of entries with weight > 0; RetinaNet passes the
// number of positive anchors. Differentiated by autodiff.
func SmoothL1(pred, target, weights, avgFactor *Node, beta float64) *Node {
	checkSameShape("SmoothL1", pred, target, weights)
	checkAvgFactor("SmoothL1", avgFactor)
	if beta <= 0 {
		return L1(pred, target, weights, avgFactor)
	}
	return regressionLoss(pred, target, weights, avgFactor, func(d *Node) *Node {
		a := Abs(d)
		quad := MulScalar(Mul(d, d), 0.5/beta)
		lin := AddScalar(a, -0.5*beta)
		return Where(LessThan(a, Scalar(d.Graph(), dtypes.Float32, beta)), quad, lin)
	})
}

// DefaultSmoothL1Beta is the smooth L1 transition point of the RetinaNet
// reference.
const DefaultSmoothL1Beta = 0.11

// L1 returns sum(weights * |pred - target|) / max(avgFactor, 1) (nil
// avgFactor: the number of entries with weight > 0). Differentiated by
// autodiff, with derivative sign(d), 0 at d = 0 (|d| is written d * sign(d)
// with the sign a constant; GoMLX's Abs would give 1 there).
func L1(pred, target, weights, avgFactor *Node) *Node {
	checkSameShape("L1", pred, target, weights)
	checkAvgFactor("L1", avgFactor)
	return regressionLoss(pred, target, weights, avgFactor, func(d *Node) *Node {
		return Mul(d, Sign(d))
	})
}

// DefaultASL1Mu is the default mu of the authentic smooth L1 loss.
const DefaultASL1Mu = 0.02

// ASL1 returns the authentic smooth L1 loss without GHM weighting:
// sum(weights * (sqrt(d^2 + mu^2) - mu)) / max(avgFactor, 1), d = pred -
// target, mu > 0 (DefaultASL1Mu; nil avgFactor: the number of entries with
// weight > 0). Differentiated by autodiff; finite for |d| below about 1e19.
func ASL1(pred, target, weights, avgFactor *Node, mu float64) *Node {
	checkSameShape("ASL1", pred, target, weights)
	checkAvgFactor("ASL1", avgFactor)
	if !(mu > 0) || math.IsInf(mu, 0) {
		exceptions.Panicf("loss.ASL1: mu must be finite and > 0, got %g", mu)
	}
	return regressionLoss(pred, target, weights, avgFactor, func(d *Node) *Node {
		l, _ := asl1AndNorm(d, mu)
		return l
	})
}

// regressionLoss is sum(w * f(pred - target)) / normaliser.
func regressionLoss(pred, target, weights, avgFactor *Node, f func(d *Node) *Node) *Node {
	p, t, w := asFloat32(pred), asFloat32(target), asFloat32(weights)
	if p.Shape().Size() == 0 {
		return ScalarZero(p.Graph(), dtypes.Float32)
	}
	var fallback *Node
	if avgFactor == nil {
		fallback = countPositive(w)
	}
	norm := normaliser(avgFactor, fallback)
	return Div(ReduceAllSum(Mul(StopGradient(w), f(Sub(p, t)))), norm)
}
