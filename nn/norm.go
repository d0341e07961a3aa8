package nn

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// NormKind names a normalisation layer.
type NormKind string

const (
	// NormNone applies no normalisation.
	NormNone NormKind = "none"
	// NormFrozenBN is batch-norm with fixed statistics and affine parameters
	// (non-trainable variables, loadable from pretrained weights): what the
	// reference detector trains its ResNet with.
	NormFrozenBN NormKind = "frozen_bn"
	// NormBN is batch-norm: batch statistics in training graphs (which also
	// update the running statistics), running statistics otherwise.
	NormBN NormKind = "bn"
	// NormGN is group-norm (statistics per image and channel group;
	// independent of the batch size, the safe choice for tiny batches).
	NormGN NormKind = "gn"
)

// NormKinds lists the valid NormKind values.
var NormKinds = []NormKind{NormNone, NormFrozenBN, NormBN, NormGN}

// Validate returns an error naming the allowed values if k is not one.
func (k NormKind) Validate() error {
	for _, v := range NormKinds {
		if k == v {
			return nil
		}
	}
	return fmt.Errorf("unknown normalisation %q (allowed: %v)", string(k), NormKinds)
}

// Norm describes a normalisation layer over the channels of NHWC tensors.
type Norm struct {
	Kind NormKind
	// Groups for NormGN; 0 means DefaultGroups(C).
	Groups int
	// Eps added to the variance; 0 means 1e-5.
	Eps float64
	// Momentum of the running statistics of NormBN (PyTorch convention:
	// running = (1-m)*running + m*batch); 0 means 0.1.
	Momentum float64
	// Frozen makes NormBN use (and keep) its running statistics in training
	// graphs too, as a frozen stage of a network does (PyTorch's eval mode).
	Frozen bool
}

// Apply normalises x [B,H,W,C]. Variables are created under scope:
// frozen_bn and bn: "gamma", "beta", "mean", "variance" [C] (frozen_bn: all
// non-trainable; bn: mean and variance non-trainable); gn: "gamma", "beta".
func (n Norm) Apply(scope *mlmodel.Scope, x *Node) *Node {
	eps := n.Eps
	if eps == 0 {
		eps = 1e-5
	}
	switch n.Kind {
	case NormNone, "":
		return x
	case NormFrozenBN:
		return FrozenBatchNorm(scope, x, eps)
	case NormBN:
		if n.Frozen {
			return batchNormRunning(scope, x, eps)
		}
		m := n.Momentum
		if m == 0 {
			m = 0.1
		}
		return BatchNorm(scope, x, m, eps)
	case NormGN:
		gr := n.Groups
		if gr == 0 {
			gr = DefaultGroups(x.Shape().Dim(-1))
		}
		return GroupNorm(scope, x, gr, eps)
	}
	exceptions.Panicf("nn.Norm at %q: %v", scope.Scope(), n.Kind.Validate())
	return nil
}

// bnVariables returns the four batch-norm variables for c channels.
func bnVariables(scope *mlmodel.Scope, c int) (gamma, beta, mean, variance *mlmodel.Variable) {
	gamma = Variable(scope, "gamma", ConstantInit(1), c)
	beta = Variable(scope, "beta", ZerosInit(), c)
	mean = Variable(scope, "mean", ZerosInit(), c).SetTrainable(false)
	variance = Variable(scope, "variance", ConstantInit(1), c).SetTrainable(false)
	return
}

// FrozenBatchNorm computes x*scale + shift per channel with
// scale = gamma/sqrt(variance+eps) and shift = beta - mean*scale, from four
// non-trainable variables (initially the identity: gamma 1, beta 0, mean 0,
// variance 1; set them from pretrained statistics).
func FrozenBatchNorm(scope *mlmodel.Scope, x *Node, eps float64) *Node {
	c := x.Shape().Dim(-1)
	gamma, beta, mean, variance := bnVariables(scope, c)
	gamma.SetTrainable(false)
	beta.SetTrainable(false)
	g := x.Graph()
	scale := Mul(gamma.NodeValue(g), invSqrt(AddScalar(variance.NodeValue(g), eps)))
	shift := Sub(beta.NodeValue(g), Mul(mean.NodeValue(g), scale))
	scale, shift = StopGradient(scale), StopGradient(shift)
	return Add(Mul(x, Reshape(scale, 1, 1, 1, c)), Reshape(shift, 1, 1, 1, c))
}

// BatchNorm normalises with the batch statistics (over batch, height and
// width) when the graph is a training graph (Store.SetTraining) and then
// updates the running statistics (variance unbiased, as PyTorch); otherwise
// it uses the running statistics. gamma and beta are trainable.
func BatchNorm(scope *mlmodel.Scope, x *Node, momentum, eps float64) *Node {
	c := x.Shape().Dim(-1)
	g := x.Graph()
	if !scope.IsTraining(g) {
		return batchNormRunning(scope, x, eps)
	}
	gamma, beta, runMean, runVar := bnVariables(scope, c)
	mean := ReduceMean(x, 0, 1, 2)
	centred := Sub(x, Reshape(mean, 1, 1, 1, c))
	variance := ReduceMean(Square(centred), 0, 1, 2)
	n := float64(x.Shape().Size() / c)
	unbiased := MulScalar(StopGradient(variance), n/max(n-1, 1))
	runMean.SetNodeValue(Add(MulScalar(runMean.NodeValue(g), 1-momentum), MulScalar(StopGradient(mean), momentum)))
	runVar.SetNodeValue(Add(MulScalar(runVar.NodeValue(g), 1-momentum), MulScalar(unbiased, momentum)))
	y := Mul(centred, Reshape(invSqrt(AddScalar(variance, eps)), 1, 1, 1, c))
	return Add(Mul(y, Reshape(gamma.NodeValue(g), 1, 1, 1, c)), Reshape(beta.NodeValue(g), 1, 1, 1, c))
}

// batchNormRunning is batch-norm with the running statistics.
func batchNormRunning(scope *mlmodel.Scope, x *Node, eps float64) *Node {
	c := x.Shape().Dim(-1)
	gamma, beta, runMean, runVar := bnVariables(scope, c)
	g := x.Graph()
	mean, variance := runMean.NodeValue(g), runVar.NodeValue(g)
	scale := Mul(gamma.NodeValue(g), invSqrt(AddScalar(variance, eps)))
	shift := Sub(beta.NodeValue(g), Mul(mean, scale))
	return Add(Mul(x, Reshape(scale, 1, 1, 1, c)), Reshape(shift, 1, 1, 1, c))
}

// DefaultGroups is the GroupNorm group count used when none is given: the
// largest divisor of c that is at most 32 and leaves at least 2 channels per
// group (32 for 64..., 8 for 16 channels; 1 for c = 1).
func DefaultGroups(c int) int {
	for g := min(32, c/2); g > 1; g-- {
		if c%g == 0 {
			return g
		}
	}
	return 1
}

// GroupNorm normalises x [B,H,W,C] over (H, W, C/groups) within each of
// groups channel groups of each image, then applies per-channel "gamma"
// (initially 1) and "beta" (initially 0).
//
// For C <= GroupNormDiagMaxChannels it is written for the pure-Go
// backend's fast paths, with a hand-written gradient: sums over H*W are
// batched matrix products with a ones vector, per-image per-channel values
// are spread over H*W by an outer product, and per-image per-channel scales
// are products with a diagonal matrix. (The backend runs reductions over
// middle axes, broadcasts of [B,1,C] onto [B,H*W,C] and the rank-3
// transposes that autodiff of those products would create element by
// element through generic iterators; measured 3x faster forward+backward at
// 16 and 64 channels.) Wider inputs use plain reductions and broadcasts with
// GoMLX's autodiff, which measured as fast as the alternatives there.
func GroupNorm(scope *mlmodel.Scope, x *Node, groups int, eps float64) *Node {
	b, h, w, c := x.Shape().Dim(0), x.Shape().Dim(1), x.Shape().Dim(2), x.Shape().Dim(3)
	if groups < 1 || c%groups != 0 {
		exceptions.Panicf("nn.GroupNorm at %q: %d channels not divisible into %d groups", scope.Scope(), c, groups)
	}
	if c > GroupNormDiagMaxChannels {
		return groupNormAutodiff(scope, x, groups, eps)
	}
	g := x.Graph()
	gamma := Variable(scope, "gamma", ConstantInit(1), c).NodeValue(g)
	beta := Variable(scope, "beta", ZerosInit(), c).NodeValue(g)
	op := newGNOps(g, x.DType(), b, h*w, c, groups)
	var centred, inv *Node // forward values reused by the gradient
	forward := func(in []*Node) *Node {
		x3, gamma, beta := Reshape(in[0], b, h*w, c), in[1], in[2]
		mean := op.groupMean(op.sumHW(x3))
		centred = Sub(x3, op.spread(op.perChannel(mean)))
		variance := op.groupMean(op.sumHW(Square(centred)))
		inv = op.perChannel(invSqrt(AddScalar(variance, eps))) // [B,C]
		y := op.scale(centred, Mul(inv, Reshape(gamma, 1, c)))
		return Reshape(Add(y, Reshape(beta, 1, 1, c)), b, h, w, c)
	}
	grad := func(in []*Node, _, v *Node) []*Node {
		gamma := Reshape(in[1], 1, c)
		dy := Reshape(v, b, h*w, c)
		sumDy := op.sumHW(dy)                            // [B,C]
		sumDyC := op.sumHW(Mul(dy, centred))             // [B,C]: sum of dy*(x-mean)
		s1 := op.groupMean(Mul(sumDy, gamma))            // mean of dxhat over the group
		s2 := op.groupMean(Mul(sumDyC, gamma))           // mean of dxhat*(x-mean)
		s1c, s2c := op.perChannel(s1), op.perChannel(s2) // [B,C]
		// dx = inv*(dxhat - s1 - (x-mean)*inv^2*s2), dxhat = dy*gamma.
		dx := Add(op.scale(dy, Mul(inv, gamma)), op.scale(centred, Neg(Mul(Mul(inv, Square(inv)), s2c))))
		dx = Sub(dx, op.spread(Mul(inv, s1c)))
		dgamma := ReduceSum(Mul(sumDyC, inv), 0)
		dbeta := ReduceSum(sumDy, 0)
		return []*Node{Reshape(dx, b, h, w, c), dgamma, dbeta}
	}
	return WithCustomGradient([]*Node{x, gamma, beta}, forward, grad)
}

// groupNormAutodiff is GroupNorm from reductions and broadcasts,
// differentiated by GoMLX.
func groupNormAutodiff(scope *mlmodel.Scope, x *Node, groups int, eps float64) *Node {
	b, h, w, c := x.Shape().Dim(0), x.Shape().Dim(1), x.Shape().Dim(2), x.Shape().Dim(3)
	gamma := Variable(scope, "gamma", ConstantInit(1), c).NodeValue(x.Graph())
	beta := Variable(scope, "beta", ZerosInit(), c).NodeValue(x.Graph())
	xg := Reshape(x, b, h*w, groups, c/groups)
	centred := Sub(xg, ReduceAndKeep(xg, ReduceMean, 1, 3))
	variance := ReduceAndKeep(Square(centred), ReduceMean, 1, 3)
	y := Reshape(Mul(centred, invSqrt(AddScalar(variance, eps))), b, h, w, c)
	return Add(Mul(y, Reshape(gamma, 1, 1, 1, c)), Reshape(beta, 1, 1, 1, c))
}

// gnOps are GroupNorm's building blocks on [B,HW,C] tensors.
type gnOps struct {
	b, hw, c, groups int
	onesRow, onesCol *Node // [B,1,HW], [B,HW,1]
	eye              *Node // [1,C,C]
}

func newGNOps(g *Graph, dt dtypes.DType, b, hw, c, groups int) *gnOps {
	return &gnOps{b: b, hw: hw, c: c, groups: groups,
		onesRow: Ones(g, shapes.Make(dt, b, 1, hw)), onesCol: Ones(g, shapes.Make(dt, b, hw, 1)),
		eye: Reshape(Const(g, eyeTensor(dt, c)), 1, c, c)}
}

// sumHW sums t [B,HW,C] over HW: [B,C].
func (op *gnOps) sumHW(t *Node) *Node {
	return Reshape(DotGeneral(op.onesRow, []int{2}, []int{0}, t, []int{1}, []int{0}), op.b, op.c)
}

// groupMean averages [B,C] per-channel sums over each group: [B,G].
func (op *gnOps) groupMean(t *Node) *Node {
	return DivScalar(ReduceSum(Reshape(t, op.b, op.groups, op.c/op.groups), 2), float64(op.hw*op.c/op.groups))
}

// perChannel expands per-group values [B,G] to [B,C].
func (op *gnOps) perChannel(t *Node) *Node {
	cg := op.c / op.groups
	return Reshape(BroadcastToDims(Reshape(t, op.b, op.groups, 1), op.b, op.groups, cg), op.b, op.c)
}

// spread broadcasts [B,C] to [B,HW,C] (an outer product with ones).
func (op *gnOps) spread(t *Node) *Node {
	return DotGeneral(op.onesCol, []int{2}, []int{0}, Reshape(t, op.b, 1, op.c), []int{1}, []int{0})
}

// scale multiplies t [B,HW,C] by per-image per-channel factors s [B,C]
// (a product with diagonal matrices).
func (op *gnOps) scale(t, s *Node) *Node {
	diag := Mul(Reshape(s, op.b, op.c, 1), op.eye)
	return DotGeneral(t, []int{2}, []int{0}, diag, []int{1}, []int{0})
}

// GroupNormDiagMaxChannels is the largest channel count for which GroupNorm
// uses its matmul-based form (a product with a diagonal matrix costs 2*C
// multiply-adds per element on the fast matmul kernels, against a broadcast
// that runs element by element).
var GroupNormDiagMaxChannels = 64

// eyeTensor is the c x c identity matrix.
func eyeTensor(dt dtypes.DType, c int) *tensors.Tensor {
	if dt == dtypes.Float64 {
		d := make([]float64, c*c)
		for i := range c {
			d[i*c+i] = 1
		}
		return tensors.FromFlatDataAndDimensions(d, c, c)
	}
	d := make([]float32, c*c)
	for i := range c {
		d[i*c+i] = 1
	}
	return tensors.FromFlatDataAndDimensions(d, c, c)
}

// invSqrt is 1/sqrt(x) built from Sqrt and division, which have gradients
// (GoMLX's Rsqrt has none).
func invSqrt(x *Node) *Node {
	return Reciprocal(Sqrt(x))
}
