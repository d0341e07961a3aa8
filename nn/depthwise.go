package nn

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// DepthwiseConv2D convolves every channel of x [B,H,W,C] with its own
// kh x kw filter w [kh,kw,1,C] (channel multiplier 1; the HWIO layout GoMLX's
// ConvGeneral uses with C feature groups) at the given stride and padding:
// the per-channel product of each of the kh*kw shifted slices with its tap,
// summed; on backends that prefer it (BuiltinConvBackend), GoMLX's
// built-in grouped convolution. Returns [B,Ho,Wo,C].
func DepthwiseConv2D(x, w *Node, stride int, pad Padding) *Node {
	if x.Rank() != 4 || w.Rank() != 4 || w.Shape().Dim(2) != 1 || w.Shape().Dim(3) != x.Shape().Dim(3) {
		exceptions.Panicf("nn.DepthwiseConv2D: want x [B,H,W,C] and w [kh,kw,1,C], got %s and %s", x.Shape(), w.Shape())
	}
	kh, kw, c := w.Shape().Dim(0), w.Shape().Dim(1), w.Shape().Dim(3)
	var g convGeom
	g.top, g.bottom, g.ho = PadAmounts(x.Shape().Dim(1), kh, stride, pad)
	g.left, g.right, g.wo = PadAmounts(x.Shape().Dim(2), kw, stride, pad)
	g.stride = stride
	if g.ho < 1 || g.wo < 1 {
		exceptions.Panicf("nn.DepthwiseConv2D: input %s too small for kernel %dx%d with %s padding", x.Shape(), kh, kw, pad)
	}
	if builtinConvOn(x.Graph()) {
		return depthwiseBuiltin(x, w, stride, pad)
	}
	var tapAt func(i, j int) *Node
	if depthwiseGatherTaps {
		tp := newTapper(x, g, kh, kw)
		tapAt = tp.tap
	} else {
		xp := padSpatial(x, g.top, g.bottom, g.left, g.right)
		tapAt = func(i, j int) *Node { return tap(xp, i, j, g) }
	}
	var y *Node
	for i := range kh {
		for j := range kw {
			wt := Reshape(Slice(w, AxisElem(i), AxisElem(j)), 1, 1, 1, c)
			t := Mul(tapAt(i, j), wt)
			if y == nil {
				y = t
			} else {
				y = Add(y, t)
			}
		}
	}
	return y
}

// depthwiseGatherTaps selects Gather taps (else Slice); benchmarks switch it.
var depthwiseGatherTaps = true

// depthwiseBuiltin is the same convolution with GoMLX's ConvGeneral (tests).
func depthwiseBuiltin(x, w *Node, stride int, pad Padding) *Node {
	kh, kw := w.Shape().Dim(0), w.Shape().Dim(1)
	t, bo, _ := PadAmounts(x.Shape().Dim(1), kh, stride, pad)
	l, r, _ := PadAmounts(x.Shape().Dim(2), kw, stride, pad)
	return Convolve(x, w).Strides(stride).PaddingPerDim([][2]int{{t, bo}, {l, r}}).
		ChannelGroupCount(x.Shape().Dim(3)).Done()
}
