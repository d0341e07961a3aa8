// Package nn provides the graph building blocks of the detectors: 2-D
// convolutions written as gathers and matrix multiplications (GoMLX's
// built-in convolution runs direct loops on the pure-Go backend, ~30x
// slower), depthwise convolution, normalisations (frozen batch-norm,
// batch-norm, group-norm), activations, pooling, upsampling, and
// convolution layers with their variables and seeded initialisers.
//
// Every tensor is NHWC ([batch, height, width, channels]) and float32 unless
// said otherwise; convolution kernels are HWIO ([kh, kw, in, out]).
//
// # Convolution on the pure-Go backend (GoMLX v0.28.16, compute v0.1.14)
//
// Measured with BenchmarkConvChoice (2 cores, AVX-512; forward+backward,
// 3x3, 256->256 channels, 64x64, batch 2): GoMLX autodiff through Slice
// taps 222 ms; shift-sum with the hand-written gradient 109 ms; concat
// (im2col) with it 115 ms. What made the difference:
//
//   - Taps are taken with Gather (GatherSlices on a [B*Hp/s, s, Wp/s, s*C]
//     view of the padded input), which copies contiguous blocks; Slice
//     copies element by element.
//   - The gradient is written by hand (WithCustomGradient): the forward's
//     taps are reused, the output gradient is transposed once for the
//     kernel gradients of all taps ((v^T A)^T; or A is transposed when that
//     is the smaller copy), and each tap's input gradient is padded back.
//   - ConvAuto: 1x1 kernels are one matmul; larger kernels use shift-sum
//     when batch*Ho*Wo >= 1024 and Cin >= 16, else concat (few positions or
//     an RGB stem): the measured best or within 10% on every size tried.
//
// Tried and not used: the input gradient as the "full" convolution of the
// output gradient with the flipped kernel (gradFull, stride 1) instead of
// each tap's gradient padded back measured from 18% faster (64 channels,
// 64x64) to 35% slower (512 channels, 8x8) per layer, no faster on the cpu
// preset's training step (0.16-0.20 s either way, batch 4) and 3-4% slower
// on ResNet-50's at 512x512; it stays a variant of the benchmarks.
//
// GoMLX v0.28.16 differentiates Pad (its gradient is a Slice) but not Rsqrt
// (use Reciprocal(Sqrt)) or Clip; its Identity (used by custom gradients)
// copies its input when that buffer has other consumers still to run.
package nn

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Padding selects how a convolution or pooling window is padded.
type Padding int

const (
	// PadSymmetric pads (k-1)/2 on both sides of each spatial axis, as
	// PyTorch's padding=k//2 for odd kernels: output size
	// floor((n + 2*((k-1)/2) - k)/stride) + 1, which is ceil(n/stride) for odd k.
	PadSymmetric Padding = iota
	// PadTFSame is TensorFlow's "SAME": output size ceil(n/stride), total padding
	// max((out-1)*stride + k - n, 0) with the smaller half before (so stride 2
	// on an even size pads only after). Needed for TensorFlow/TFLite weights.
	PadTFSame
	// PadValid does not pad: output size floor((n-k)/stride) + 1.
	PadValid
)

// String returns the padding name.
func (p Padding) String() string {
	switch p {
	case PadSymmetric:
		return "symmetric"
	case PadTFSame:
		return "tf_same"
	case PadValid:
		return "valid"
	}
	return fmt.Sprintf("Padding(%d)", int(p))
}

// PadAmounts returns the padding before and after an axis of size n for a
// window of size k and the given stride, and the output size.
func PadAmounts(n, k, stride int, p Padding) (before, after, out int) {
	switch p {
	case PadSymmetric:
		before = (k - 1) / 2
		after = before
		out = (n+before+after-k)/stride + 1
	case PadTFSame:
		out = (n + stride - 1) / stride
		total := max((out-1)*stride+k-n, 0)
		before = total / 2
		after = total - before
	case PadValid:
		out = (n-k)/stride + 1
	default:
		exceptions.Panicf("nn: unknown padding %d", int(p))
	}
	return
}

// ConvMethod selects how Conv2D is computed.
type ConvMethod int

const (
	// ConvAuto picks per layer (AutoMethod): 1x1 kernels as one matrix
	// multiplication, larger kernels as ConvShiftSum when batch*Ho*Wo >=
	// ShiftSumMinPositions and Cin >= ShiftSumMinChannels, else ConvConcat
	// (measurements in the package documentation).
	ConvAuto ConvMethod = iota
	// ConvShiftSum pads once, takes the kh*kw strided windows of the input
	// and sums their kh*kw matrix multiplications with the kernel taps.
	ConvShiftSum
	// ConvConcat concatenates the kh*kw windows on the channel axis (im2col)
	// and does one matrix multiplication.
	ConvConcat
	// ConvBuiltin uses GoMLX's ConvGeneral: the reference for tests; very slow
	// on the pure-Go backend.
	ConvBuiltin
)

// String returns the method name.
func (m ConvMethod) String() string {
	switch m {
	case ConvAuto:
		return "auto"
	case ConvShiftSum:
		return "shift-sum"
	case ConvConcat:
		return "concat"
	case ConvBuiltin:
		return "builtin"
	}
	return fmt.Sprintf("ConvMethod(%d)", int(m))
}

// ShiftSumMinPositions is the number of output positions (batch*Ho*Wo) from
// which ConvAuto uses ConvShiftSum rather than ConvConcat for kernels larger
// than 1x1.
var ShiftSumMinPositions = 1024

// ShiftSumMinChannels is the number of input channels below which ConvAuto
// always uses ConvConcat (a shift-sum tap with few channels is a thin,
// inefficient matrix multiplication, e.g. an RGB stem).
var ShiftSumMinChannels = 16

// AutoMethod returns the method ConvAuto uses for a kh x kw kernel over cin
// input channels producing batch*ho*wo output positions.
func AutoMethod(kh, kw, cin, batch, ho, wo int) ConvMethod {
	if kh*kw == 1 {
		return ConvConcat // a single tap: both are one matrix multiplication
	}
	if cin >= ShiftSumMinChannels && batch*ho*wo >= ShiftSumMinPositions {
		return ConvShiftSum
	}
	return ConvConcat
}

// BuiltinConvBackend reports whether ConvAuto and DepthwiseConv2D use
// GoMLX's built-in convolution (ConvGeneral) on the backend whose Name is
// name: on XLA ("xla", whatever its plugin) the compiler's own convolution
// (cuDNN on NVIDIA GPUs) is the fastest formulation, while the pure-Go
// backend runs it as direct loops, far slower than the gathers and matrix
// multiplications used there.
func BuiltinConvBackend(name string) bool { return name == "xla" }

// builtinConvOn reports whether g's backend prefers the built-in
// convolution (see BuiltinConvBackend).
func builtinConvOn(g *Graph) bool {
	b := g.Backend()
	return b != nil && BuiltinConvBackend(b.Name())
}

// Conv2D convolves x [B,H,W,Cin] with kernel w [kh,kw,Cin,Cout] (HWIO) at
// the given stride (both axes) and padding, returning [B,Ho,Wo,Cout]. On
// backends that prefer it (BuiltinConvBackend), ConvAuto is ConvBuiltin.
func Conv2D(x, w *Node, stride int, pad Padding, method ConvMethod) *Node {
	if x.Rank() != 4 || w.Rank() != 4 {
		exceptions.Panicf("nn.Conv2D: want x [B,H,W,C] and w [kh,kw,Cin,Cout], got %s and %s", x.Shape(), w.Shape())
	}
	b, h, wd, cin := x.Shape().Dim(0), x.Shape().Dim(1), x.Shape().Dim(2), x.Shape().Dim(3)
	kh, kw, wcin := w.Shape().Dim(0), w.Shape().Dim(1), w.Shape().Dim(2)
	if wcin != cin {
		exceptions.Panicf("nn.Conv2D: input has %d channels, kernel expects %d (x %s, w %s)", cin, wcin, x.Shape(), w.Shape())
	}
	if stride < 1 {
		exceptions.Panicf("nn.Conv2D: stride %d < 1", stride)
	}
	if method == ConvBuiltin || (method == ConvAuto && builtinConvOn(x.Graph())) {
		return convBuiltin(x, w, stride, pad)
	}
	var g convGeom
	g.top, g.bottom, g.ho = PadAmounts(h, kh, stride, pad)
	g.left, g.right, g.wo = PadAmounts(wd, kw, stride, pad)
	g.stride = stride
	if g.ho < 1 || g.wo < 1 {
		exceptions.Panicf("nn.Conv2D: input %s too small for kernel %dx%d with %s padding", x.Shape(), kh, kw, pad)
	}
	if method == ConvAuto {
		method = AutoMethod(kh, kw, cin, b, g.ho, g.wo)
	}
	if kh*kw == 1 {
		return conv1x1(x, w, g)
	}
	if method != ConvShiftSum && method != ConvConcat {
		exceptions.Panicf("nn.Conv2D: unknown method %d", int(method))
	}
	if gradMode == gradAutodiff {
		return convForwardSlices(padSpatial(x, g.top, g.bottom, g.left, g.right), w, g, method)
	}
	return convCustomGrad(x, w, g, method)
}

// convGeom holds the padding, stride and output size of one convolution.
type convGeom struct {
	top, bottom, left, right int
	stride, ho, wo           int
}

// padSpatial zero-pads axes 1 and 2 of x.
func padSpatial(x *Node, top, bottom, left, right int) *Node {
	if top == 0 && bottom == 0 && left == 0 && right == 0 {
		return x
	}
	return Pad(x, ScalarZero(x.Graph(), x.DType()),
		compute.PadAxis{}, compute.PadAxis{Start: top, End: bottom},
		compute.PadAxis{Start: left, End: right}, compute.PadAxis{})
}

// tap returns the strided window of xp for kernel offset (i, j):
// xp[:, i : i+(ho-1)*s+1 : s, j : j+(wo-1)*s+1 : s, :].
func tap(xp *Node, i, j int, g convGeom) *Node {
	if i == 0 && j == 0 && g.stride == 1 && xp.Shape().Dim(1) == g.ho && xp.Shape().Dim(2) == g.wo {
		return xp
	}
	return Slice(xp, AxisRange(),
		AxisRange(i, i+(g.ho-1)*g.stride+1).Stride(g.stride),
		AxisRange(j, j+(g.wo-1)*g.stride+1).Stride(g.stride))
}

// conv1x1 is a 1x1 convolution as a reshape and one matrix multiplication
// (GoMLX's matmul gradient already transposes only the incoming gradient);
// strided, the input is first subsampled with a strided Slice (a Gather
// tap measured no faster here, forward+backward).
func conv1x1(x, w *Node, g convGeom) *Node {
	b, cin, cout := x.Shape().Dim(0), x.Shape().Dim(3), w.Shape().Dim(3)
	a := tap(padSpatial(x, g.top, g.bottom, g.left, g.right), 0, 0, g)
	return Reshape(MatMul(Reshape(a, b*g.ho*g.wo, cin), Reshape(w, cin, cout)), b, g.ho, g.wo, cout)
}

// im2col concatenates the kh*kw taps of xp on the channel axis:
// [B*Ho*Wo, kh*kw*Cin], columns ordered (i, j, c) as the HWIO kernel rows.
func im2col(xp *Node, kh, kw int, g convGeom) *Node {
	b, cin := xp.Shape().Dim(0), xp.Shape().Dim(3)
	taps := make([]*Node, 0, kh*kw)
	for i := range kh {
		for j := range kw {
			taps = append(taps, tap(xp, i, j, g))
		}
	}
	return Reshape(Concatenate(taps, 3), b*g.ho*g.wo, kh*kw*cin)
}

// convForwardSlices computes the convolution of the already padded xp with
// ConvShiftSum or ConvConcat from Slice taps (gradients by GoMLX's
// autodiff; the reference for the hand-written gradients).
func convForwardSlices(xp, w *Node, g convGeom, method ConvMethod) *Node {
	b, cin := xp.Shape().Dim(0), xp.Shape().Dim(3)
	kh, kw, cout := w.Shape().Dim(0), w.Shape().Dim(1), w.Shape().Dim(3)
	m := b * g.ho * g.wo
	if method == ConvConcat {
		return Reshape(MatMul(im2col(xp, kh, kw, g), Reshape(w, kh*kw*cin, cout)), b, g.ho, g.wo, cout)
	}
	var sum *Node
	for i := range kh {
		for j := range kw {
			a := Reshape(tap(xp, i, j, g), m, cin)
			y := MatMul(a, Reshape(Slice(w, AxisElem(i), AxisElem(j)), cin, cout))
			if sum == nil {
				sum = y
			} else {
				sum = Add(sum, y)
			}
		}
	}
	return Reshape(sum, b, g.ho, g.wo, cout)
}

// gradMode selects how convolutions larger than 1x1 are differentiated.
type convGradMode int

const (
	// gradAutodiff: GoMLX's autodiff through Slice, Concatenate and MatMul
	// (Slice copies element by element; each tap's matmul gradient
	// transposes the output gradient again; each tap's slice gradient pads a
	// full-size tensor).
	gradAutodiff convGradMode = iota
	// gradPads: hand-written. Taps are cropped with block copies (Pad with
	// negative amounts) and reused by the backward pass; the output gradient
	// is transposed once and shared by the kernel gradients of all taps (or
	// the im2col matrix is transposed when that is the smaller copy); the
	// input gradient of each tap is padded back into place and summed.
	gradPads
	// gradFull: as gradPads for the kernel gradient; the input gradient of
	// a stride-1 convolution is the "full" convolution of the output
	// gradient (padded once, kh-1-top rows before and kh-1-bottom after)
	// with the kernel flipped and transposed ([kh,kw,Cout,Cin]), computed
	// like the forward pass (taps, shift-sum or concat). Strided
	// convolutions, and paddings wider than the kernel, fall back to
	// gradPads.
	gradFull
)

// gradMode is the gradient used by Conv2D; the benchmarks switch it.
var gradMode = gradPads

// crop returns x[:, top:top+h, left:left+w, :] as a Pad with negative
// amounts: the pure-Go backend's Pad copies contiguous blocks, its Slice
// element by element. It has no usable gradient (GoMLX's Pad gradient
// assumes non-negative padding): use it only where the gradient is written
// by hand.
func crop(x *Node, top, left, h, w int) *Node {
	return Pad(x, ScalarZero(x.Graph(), x.DType()), compute.PadAxis{},
		compute.PadAxis{Start: -top, End: top + h - x.Shape().Dim(1)},
		compute.PadAxis{Start: -left, End: left + w - x.Shape().Dim(2)},
		compute.PadAxis{})
}

// tapper extracts the kh*kw strided windows ("taps") of an input padded for
// a convolution with Gather, which copies contiguous blocks (a row of the
// window for stride 1, a pixel for stride 2); GoMLX's Slice copies element
// by element on the pure-Go backend. For stride s the padded input is
// extended (or cut) to s*((k-1)/s + out) rows and columns and viewed as
// [B*Hp/s, s, Wp/s, s*C], so that every tap is a rectangular block.
type tapper struct {
	xp        *Node // padded (and extended) input [B, hp, wp, C]
	view      *Node // xp as [B*hp/s, s, wp/s, s*C]
	g         convGeom
	hp, wp, c int
	batch     int
	kh, kw    int
	inH, inW  int // unpadded input size
	top, left int // padding before
	extBottom int // padding after, rows (negative: rows never read are cut)
	extRight  int // padding after, columns
}

// newTapper pads x with zeros for the geometry g and a kh x kw kernel.
func newTapper(x *Node, g convGeom, kh, kw int) *tapper {
	return newTapperFill(x, g, kh, kw, ScalarZero(x.Graph(), x.DType()))
}

// newTapperFill is newTapper padding with the scalar fill.
func newTapperFill(x *Node, g convGeom, kh, kw int, fill *Node) *tapper {
	s := g.stride
	t := &tapper{g: g, kh: kh, kw: kw, c: x.Shape().Dim(3), batch: x.Shape().Dim(0),
		inH: x.Shape().Dim(1), inW: x.Shape().Dim(2), top: g.top, left: g.left}
	t.hp = s * ((kh-1)/s + g.ho)
	t.wp = s * ((kw-1)/s + g.wo)
	t.extBottom = t.hp - t.inH - g.top
	t.extRight = t.wp - t.inW - g.left
	t.xp = x
	if g.top != 0 || t.extBottom != 0 || g.left != 0 || t.extRight != 0 {
		// Negative amounts cut; GoMLX differentiates them wrongly, so cut
		// with a Slice first (rare: only when a stride leaves input rows unread).
		if t.extBottom < 0 || t.extRight < 0 {
			x = Slice(x, AxisRange(), AxisRange(0, t.inH+min(t.extBottom, 0)), AxisRange(0, t.inW+min(t.extRight, 0)))
		}
		t.xp = Pad(x, fill, compute.PadAxis{}, compute.PadAxis{Start: g.top, End: max(t.extBottom, 0)},
			compute.PadAxis{Start: g.left, End: max(t.extRight, 0)}, compute.PadAxis{})
	}
	t.view = Reshape(t.xp, t.batch*t.hp/s, s, t.wp/s, s*t.c)
	return t
}

// tap returns window (i, j): [B, ho, wo, C].
func (t *tapper) tap(i, j int) *Node {
	s, ho, wo := t.g.stride, t.g.ho, t.g.wo
	if s == 1 && i == 0 && j == 0 && t.hp == ho && t.wp == wo {
		return t.xp
	}
	hq := t.hp / s
	starts := make([]int32, 0, t.batch*ho*4)
	for b := range t.batch {
		for y := range ho {
			starts = append(starts, int32(b*hq+i/s+y), int32(i%s), int32(j/s), int32((j%s)*t.c))
		}
	}
	idx := Const(t.xp.Graph(), tensors.FromFlatDataAndDimensions(starts, t.batch*ho, 4))
	y := GatherSlices(t.view, []int{0, 1, 2, 3}, idx, []int{1, 1, wo, t.c}, true)
	return Reshape(y, t.batch, ho, wo, t.c)
}

// untap places d [B, ho, wo, C] where tap (i, j) was read, zeros elsewhere:
// [B, hp, wp, C] (the transpose of tap).
func (t *tapper) untap(d *Node, i, j int) *Node {
	s, ho, wo := t.g.stride, t.g.ho, t.g.wo
	zero := ScalarZero(d.Graph(), d.DType())
	if s == 1 {
		return Pad(d, zero, compute.PadAxis{},
			compute.PadAxis{Start: i, End: t.hp - i - ho},
			compute.PadAxis{Start: j, End: t.wp - j - wo}, compute.PadAxis{})
	}
	hq, wq := t.hp/s, t.wp/s
	y := Pad(Reshape(d, t.batch, ho, 1, wo, t.c), zero, compute.PadAxis{},
		compute.PadAxis{Start: i / s, End: hq - i/s - ho},
		compute.PadAxis{Start: i % s, End: s - 1 - i%s},
		compute.PadAxis{Start: j / s, End: wq - j/s - wo},
		compute.PadAxis{Start: (j % s) * t.c, End: (s - 1 - j%s) * t.c})
	return Reshape(y, t.batch, t.hp, t.wp, t.c)
}

// unpad crops a gradient w.r.t. the padded input [B, hp, wp, C] to the
// input [B, H, W, C] (zero rows where the extended input was cut).
func (t *tapper) unpad(dxp *Node) *Node {
	return Pad(dxp, ScalarZero(dxp.Graph(), dxp.DType()), compute.PadAxis{},
		compute.PadAxis{Start: -t.top, End: -t.extBottom},
		compute.PadAxis{Start: -t.left, End: -t.extRight}, compute.PadAxis{})
}

// taps returns all windows in kernel order (i, j).
func (t *tapper) taps() []*Node {
	out := make([]*Node, 0, t.kh*t.kw)
	for i := range t.kh {
		for j := range t.kw {
			out = append(out, t.tap(i, j))
		}
	}
	return out
}

// convTaps computes the convolution from the taps: one matmul of their
// concatenation (ConvConcat, returned as cols [m, kh*kw*Cin]) or a sum of
// one matmul per tap (ConvShiftSum).
func convTaps(taps []*Node, w *Node, g convGeom, method ConvMethod) (y, cols *Node) {
	b, cin := taps[0].Shape().Dim(0), taps[0].Shape().Dim(3)
	kh, kw, cout := w.Shape().Dim(0), w.Shape().Dim(1), w.Shape().Dim(3)
	m := b * g.ho * g.wo
	if method == ConvConcat {
		cols = Reshape(Concatenate(taps, 3), m, kh*kw*cin)
		return Reshape(MatMul(cols, Reshape(w, kh*kw*cin, cout)), b, g.ho, g.wo, cout), cols
	}
	var sum *Node
	for t, tp := range taps {
		i, j := t/kw, t%kw
		y := MatMul(Reshape(tp, m, cin), Reshape(Slice(w, AxisElem(i), AxisElem(j)), cin, cout))
		if sum == nil {
			sum = y
		} else {
			sum = Add(sum, y)
		}
	}
	return Reshape(sum, b, g.ho, g.wo, cout), nil
}

// convCustomGrad is the convolution of x (padded inside) with hand-written
// gradients (see convGradMode).
func convCustomGrad(x, w *Node, g convGeom, method ConvMethod) *Node {
	b, cin := x.Shape().Dim(0), x.Shape().Dim(3)
	kh, kw, cout := w.Shape().Dim(0), w.Shape().Dim(1), w.Shape().Dim(3)
	m := b * g.ho * g.wo
	var (
		tp   *tapper
		taps []*Node
		cols *Node
	)
	forward := func(in []*Node) *Node {
		tp = newTapper(in[0], g, kh, kw)
		taps = tp.taps()
		var y *Node
		y, cols = convTaps(taps, in[1], g, method)
		return y
	}
	grad := func(in []*Node, _, v *Node) []*Node {
		w := in[1]
		v2 := Reshape(v, m, cout)

		// Kernel gradient dW = A^T v, for A the im2col matrix [m, kh*kw*cin]
		// (the forward's taps are reused). The matmul kernels want the
		// contracted axis last on the left: either transpose v once
		// ([cout, m], shared by all taps) and transpose the small result
		// (v^T A)^T, or transpose A. Pick the smaller copy.
		var dw *Node
		k := kh * kw * cin
		if m*cout+k*cout <= m*k {
			vT := Transpose(v2, 0, 1) // [cout, m]
			if cols != nil {
				dw = Reshape(MatMul(vT, cols), cout, kh, kw, cin)
				dw = TransposeAllAxes(dw, 1, 2, 3, 0)
			} else {
				dws := make([]*Node, 0, kh*kw)
				for _, t := range taps {
					dws = append(dws, MatMul(vT, Reshape(t, m, cin))) // [cout, cin]
				}
				dw = Reshape(Concatenate(dws, 0), kh, kw, cout, cin)
				dw = TransposeAllAxes(dw, 0, 1, 3, 2)
			}
		} else {
			a := cols
			if a == nil {
				a = Reshape(Concatenate(taps, 3), m, k)
			}
			dw = Reshape(MatMul(Transpose(a, 0, 1), v2), kh, kw, cin, cout)
		}

		if gradMode == gradFull && g.stride == 1 && g.top < kh && g.bottom < kh && g.left < kw && g.right < kw {
			return []*Node{convFullInputGrad(v, w, g, x.Shape().Dim(1), x.Shape().Dim(2)), dw}
		}

		// Input gradient: each tap's gradient placed back and summed.
		var dxp, dcols *Node
		if method == ConvConcat {
			dcols = Reshape(DotGeneral(v2, []int{1}, nil, Reshape(w, k, cout), []int{1}, nil), b, g.ho, g.wo, k)
		}
		for i := range kh {
			for j := range kw {
				var da *Node
				if method == ConvConcat {
					t := i*kw + j
					da = Pad(dcols, ScalarZero(v.Graph(), v.DType()), compute.PadAxis{}, compute.PadAxis{},
						compute.PadAxis{}, compute.PadAxis{Start: -t * cin, End: (t+1)*cin - k})
				} else {
					wt := Reshape(Slice(w, AxisElem(i), AxisElem(j)), cin, cout)
					da = Reshape(DotGeneral(v2, []int{1}, nil, wt, []int{1}, nil), b, g.ho, g.wo, cin)
				}
				p := tp.untap(da, i, j)
				if dxp == nil {
					dxp = p
				} else {
					dxp = Add(dxp, p)
				}
			}
		}
		return []*Node{tp.unpad(dxp), dw}
	}
	return WithCustomGradient([]*Node{x, w}, forward, grad)
}

// convFullInputGrad returns the gradient with respect to the input [B,H,W,Cin]
// of a stride-1 convolution with kernel w [kh,kw,Cin,Cout] and geometry g
// (padding at most kernel-1 on every side), given the output gradient v
// [B,ho,wo,Cout]: dx[q] = sum over taps (i,j) of v[q+top-i, q'+left-j]
// w[i,j]^T, which is the stride-1 convolution of v padded by kh-1-top rows
// before and kh-1-bottom after (kw-1-left, kw-1-right columns) with the
// kernel flipped in both spatial axes and transposed to [kh,kw,Cout,Cin].
func convFullInputGrad(v, w *Node, g convGeom, h, wd int) *Node {
	kh, kw := w.Shape().Dim(0), w.Shape().Dim(1)
	b, cout := v.Shape().Dim(0), v.Shape().Dim(3)
	wf := TransposeAllAxes(Reverse(w, 0, 1), 0, 1, 3, 2)
	gf := convGeom{top: kh - 1 - g.top, bottom: kh - 1 - g.bottom,
		left: kw - 1 - g.left, right: kw - 1 - g.right, stride: 1, ho: h, wo: wd}
	taps := newTapper(v, gf, kh, kw).taps()
	dx, _ := convTaps(taps, wf, gf, AutoMethod(kh, kw, cout, b, h, wd))
	return dx
}

// convBuiltin is GoMLX's ConvGeneral with the same padding semantics.
func convBuiltin(x, w *Node, stride int, pad Padding) *Node {
	kh, kw := w.Shape().Dim(0), w.Shape().Dim(1)
	t, bo, _ := PadAmounts(x.Shape().Dim(1), kh, stride, pad)
	l, r, _ := PadAmounts(x.Shape().Dim(2), kw, stride, pad)
	return Convolve(x, w).Strides(stride).PaddingPerDim([][2]int{{t, bo}, {l, r}}).Done()
}
