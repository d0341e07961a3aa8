package nn

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// reluMode selects the ReLU gradient; the benchmarks switch it.
type reluGradMode int

const (
	reluAutodiff reluGradMode = iota // GoMLX's gradient of Max(x, 0)
	reluSign                         // v * Sign(y)
	reluWhere                        // Where(y > 0, v, 0)
)

var reluMode = reluSign

// ReLU returns max(x, 0). Its gradient is v*sign(y) (1 where x > 0, else 0),
// written by hand: GoMLX's gradient of Max compares, subtracts and
// multiplies both sides.
func ReLU(x *Node) *Node {
	zero := ScalarZero(x.Graph(), x.DType())
	switch reluMode {
	case reluAutodiff:
		return Max(x, zero)
	case reluWhere:
		return WithCustomGradient([]*Node{x}, func(in []*Node) *Node { return Max(in[0], zero) },
			func(_ []*Node, y, v *Node) []*Node {
				return []*Node{Where(GreaterThan(y, zero), v, ZerosLike(v))}
			})
	}
	return WithCustomGradient([]*Node{x}, func(in []*Node) *Node { return Max(in[0], zero) },
		func(_ []*Node, y, v *Node) []*Node { return []*Node{Mul(v, Sign(y))} })
}

// ReLU6 returns min(max(x, 0), 6) (MobileNetV2's activation); the gradient
// is 1 strictly between 0 and 6 and 0 elsewhere.
func ReLU6(x *Node) *Node {
	g, dt := x.Graph(), x.DType()
	zero, six := ScalarZero(g, dt), Scalar(g, dt, 6.0)
	return WithCustomGradient([]*Node{x}, func(in []*Node) *Node { return Min(Max(in[0], zero), six) },
		func(_ []*Node, y, v *Node) []*Node {
			inside := LogicalAnd(GreaterThan(y, zero), LessThan(y, six))
			return []*Node{Where(inside, v, ZerosLike(v))}
		})
}

// MaxPool2D is a k x k max-pool with the given stride over x [B,H,W,C] as
// k*k strided windows (block-copying Gather taps, as the convolutions)
// combined with Max; padding is filled with the lowest float so it never
// wins (PyTorch's semantics). Gradients by GoMLX (through Max: ties send
// the gradient to the earlier window). ResNet's stem uses
// k=3, stride 2, PadSymmetric.
func MaxPool2D(x *Node, k, stride int, pad Padding) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("nn.MaxPool2D: want x [B,H,W,C], got %s", x.Shape())
	}
	var g convGeom
	g.top, g.bottom, g.ho = PadAmounts(x.Shape().Dim(1), k, stride, pad)
	g.left, g.right, g.wo = PadAmounts(x.Shape().Dim(2), k, stride, pad)
	g.stride = stride
	tp := newTapperFill(x, g, k, k, Scalar(x.Graph(), x.DType(), -math.MaxFloat32))
	var y *Node
	for i := range k {
		for j := range k {
			t := tp.tap(i, j)
			if y == nil {
				y = t
			} else {
				y = Max(y, t)
			}
		}
	}
	return y
}

// Upsample2x repeats every pixel of x [B,H,W,C] twice along each spatial
// axis (nearest-neighbour upsampling by 2): [B,2H,2W,C].
func Upsample2x(x *Node) *Node {
	b, h, w, c := x.Shape().Dim(0), x.Shape().Dim(1), x.Shape().Dim(2), x.Shape().Dim(3)
	y := Reshape(x, b, h, 1, w, 1, c)
	y = BroadcastToDims(y, b, h, 2, w, 2, c)
	return Reshape(y, b, 2*h, 2*w, c)
}

// UpsampleNearestTo upsamples x [B,h,w,C] by 2 (nearest) and crops the
// result to [B,H,W,C] (H <= 2h, W <= 2w): the top-down path of an FPN whose
// feature sizes come from ceil-halving (for sizes that are multiples of the
// largest stride no crop happens).
func UpsampleNearestTo(x *Node, height, width int) *Node {
	h, w := x.Shape().Dim(1), x.Shape().Dim(2)
	if height > 2*h || width > 2*w || height < 1 || width < 1 {
		exceptions.Panicf("nn.UpsampleNearestTo: cannot upsample %s by 2 to %dx%d", x.Shape(), height, width)
	}
	y := Upsample2x(x)
	if height == 2*h && width == 2*w {
		return y
	}
	return Slice(y, AxisRange(), AxisRange(0, height), AxisRange(0, width))
}
