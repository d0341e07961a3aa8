package loss

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best with the dot import.
	"github.com/gomlx/gomlx/support/exceptions"
)

// asFloat32 returns x converted to float32 (x itself when it is float32).
func asFloat32(x *Node) *Node {
	if x.DType() == dtypes.Float32 {
		return x
	}
	return ConvertDType(x, dtypes.Float32)
}

// checkSameShape panics (the GoMLX convention for graph-building errors) when
// the nodes do not share the dimensions of pred.
func checkSameShape(lossName string, pred *Node, others ...*Node) {
	for _, o := range others {
		if !pred.Shape().EqualDimensions(o.Shape()) {
			exceptions.Panicf("loss.%s: inputs must have the same dimensions, got %s and %s",
				lossName, pred.Shape(), o.Shape())
		}
	}
}

// checkAvgFactor panics unless avgFactor is nil or holds a single value.
func checkAvgFactor(lossName string, avgFactor *Node) {
	if avgFactor != nil && avgFactor.Shape().Size() != 1 {
		exceptions.Panicf("loss.%s: avgFactor must be a scalar, got %s", lossName, avgFactor.Shape())
	}
}

// normaliser returns the scalar divisor of a baseline loss: avgFactor when
// given, else fallback, clamped to >= 1, without gradient.
func normaliser(avgFactor, fallback *Node) *Node {
	n := fallback
	if avgFactor != nil {
		n = Reshape(asFloat32(avgFactor))
	}
	return StopGradient(MaxScalar(n, 1))
}

// countPositive returns the number of entries of x that are > 0, as a
// float32 scalar.
func countPositive(x *Node) *Node {
	return ReduceAllSum(MaxScalar(Sign(x), 0))
}

// Coefficients of log1p(e) = 2*s*P(s^2), s = e/(2+e), for e in [0, 1]
// (s^2 in [0, 1/9]): minimax fit of atanh(sqrt(z))/sqrt(z) of degree 3, with
// relative error below 1.7e-7 in exact arithmetic (under 3 float32 ulps).
var log1pCoef = [4]float64{
	0.9999998354317541, 0.3333800144049754, 0.19794730637100058, 0.17113025284742087,
}

// log1pUnit returns log(1 + e) for e in [0, 1] to within a few float32 ulps
// (relative, also for tiny e), using only vectorised arithmetic: the
// backend's Log1p is a scalar loop several times slower than the polynomial.
func log1pUnit(e *Node) *Node {
	s := Div(e, AddScalar(e, 2))
	z := Mul(s, s)
	p := AddScalar(MulScalar(z, 2*log1pCoef[3]), 2*log1pCoef[2])
	p = AddScalar(Mul(p, z), 2*log1pCoef[1])
	p = AddScalar(Mul(p, z), 2*log1pCoef[0])
	return Mul(p, s)
}

// sigmoidBCE returns p = sigmoid(x), d = p - t and the per-element binary
// cross-entropy with logits, max(x, 0) - x*t + log(1 + exp(-|x|)), in its
// numerically stable form (finite for any finite x). The nodes carry the
// ordinary autodiff gradient; callers attach the closed-form one instead
// (see attachGradient) and never differentiate through them.
func sigmoidBCE(x, t *Node) (p, d, bce *Node) {
	p = Sigmoid(x)
	d = Sub(p, t)
	e := Exp(MulScalar(Abs(x), -1)) // MulScalar is cheaper than Neg in the backend
	bce = Add(Sub(MaxScalar(x, 0), Mul(x, t)), log1pUnit(e))
	return p, d, bce
}

// attachGradient returns a scalar equal to value (exactly) whose gradient with
// respect to x is scale * gx times the incoming gradient. value, scale and gx
// are treated as constants: value may be computed from x by any formula
// without being differentiated. scale is a scalar or nil (1), gx has the
// shape of x.
//
// The carrier is s = sum(xi), xi an identity of x whose registered vector-
// Jacobian product is v * scale * gx; value + (s - StopGradient(s)) equals
// value exactly for finite s.
func attachGradient(value, x, gx, scale *Node) *Node {
	xi := IdentityWithCustomGradient(x, func(_, v *Node) *Node {
		if scale == nil {
			return Mul(v, gx)
		}
		return Mul(v, Mul(gx, StopGradient(scale)))
	})
	s := ReduceAllSum(xi)
	return Add(StopGradient(value), Sub(s, StopGradient(s)))
}

// roundMagic is 1.5*2^23: for float32 u in [0, 2^22], (u + roundMagic) -
// roundMagic is u rounded to the nearest integer (ties to even), computed
// with two vectorised additions instead of a scalar Floor/Round loop.
const roundMagic = 12582912

// belowOne is the largest float32 below 1.
const belowOne = float64(float32(1) - float32(1.0/(1<<24)))

// binIndices returns, as float32 whole numbers, the bin of every entry of g
// for the bins [edges[i], edges[i+1]), edges[i] = float32(i)/float32(bins)
// exactly as the reference computes them: an entry equal to an edge lands in
// the bin that starts there. g >= 1 (the reference's last edge is 1 + 1e-6 for
// GHM-C, 1e3 for GHM-R, and g never exceeds 1 for valid inputs) lands in the
// last bin. Entries whose weight is not > 0 get the extra index bins, which
// carries no weight and is not counted. g must be >= 0; NaN inputs give
// arbitrary (but in-range, see newHistogram) indices.
//
// One pass of element-wise operations: r = round(g*M) is the bin or the bin
// above (float32 rounding moves g*M by far less than 1/2), and comparing g
// with the float32 edge r/M (a true division, as the reference's edges)
// decides which.
func binIndices(g, w *Node, bins int) *Node {
	dt := g.DType()
	gr := g.Graph()
	m := Scalar(gr, dt, float64(bins))
	gc := MinScalar(g, belowOne)
	// 0 where w > 0, 1 where w == 0, 2 where w < 0: invalid entries move to g >= 1,
	// beyond the clamped valid ones, so that they round to index bins.
	inv := OneMinus(Sign(w))
	gv := Max(gc, inv)
	r := AddScalar(AddScalar(Mul(gv, m), roundMagic), -roundMagic)
	r = Min(r, m)
	edge := Div(r, m)
	below := MaxScalar(Sign(Sub(edge, gv)), 0) // 1 where gv < edge(r)
	return Sub(r, below)
}

// Packing k entries into one histogram index divides the (per-index) cost
// of the backend's scatter and gather by k, at a fixed cost per call that
// grows with the joint table (base^k rows). With 30 bins, k = 3 uses a
// 29,791-row table (negligible); k = 4 a 923,521-row one, which costs a few
// milliseconds per call (building the lookup table, zeroing the histogram,
// summing its marginals) and measured no faster on 2 x 49,104 x 80 logits. A
// detector calls the loss once per level; the anchor counts of a level (9 per
// position) are multiples of 3.
var (
	// packPreference lists the packing factors tried in order; the first
	// that divides the number of entries and keeps the table within
	// maxJointBins is used.
	packPreference = []int{3, 4, 2}
	// packOverride forces the packing factor when > 0 (tests).
	packOverride = 0
)

const (
	// minPackSize is the number of entries below which entries are not packed.
	minPackSize = 1 << 14
	// maxJointBins bounds the number of rows of a packed histogram / table.
	maxJointBins = 1 << 20
)

func intPow(b, k int) int {
	r := 1
	for range k {
		r *= b
	}
	return r
}

// nextPow2 returns the smallest power of two >= n (n >= 1).
func nextPow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// choosePack returns the packing factor for size entries with base bins.
func choosePack(size, base int) int {
	fits := func(k int) bool {
		return size%k == 0 && nextPow2(intPow(base, k)) <= maxJointBins
	}
	if packOverride > 0 {
		if fits(packOverride) {
			return packOverride
		}
		return 1
	}
	if size < minPackSize {
		return 1
	}
	for _, k := range packPreference {
		if fits(k) {
			return k
		}
	}
	return 1
}

// histogram holds bin indices prepared for one-pass counting (ScatterSum)
// and per-entry lookup (Gather): k consecutive entries (in row-major order)
// are combined into one joint index sum_j b[j]*base^(k-1-j) over a table of
// base^k rows.
type histogram struct {
	idx   *Node        // [size/k, 1] int32 joint indices, in [0, rows)
	k     int          // entries per index
	base  int          // number of bins, including the invalid one
	rows  int          // base^k: rows of the joint table
	pad   int          // power of two >= rows: size of the scatter target
	shape shapes.Shape // shape of the entries
}

// newHistogram prepares the float32 bin indices b (whole numbers 0..base-1).
func newHistogram(b *Node, base int) *histogram {
	size := b.Shape().Size()
	k := choosePack(size, base)
	rows := intPow(base, k)
	h := &histogram{k: k, base: base, rows: rows, pad: nextPow2(rows), shape: b.Shape()}
	n := size / k
	var joint *Node
	if k == 1 {
		joint = Reshape(b, n, 1)
	} else {
		// The joint indices of `groups` packs at once, as a product with a
		// block-diagonal [k*groups, groups] matrix: the backend's matrix
		// product is far faster with a wide right side than with one column.
		// Exact in float32: whole numbers below 2^24, one non-zero term each.
		groups := 1
		for _, gr := range []int{32, 16, 8, 4, 2} {
			if n%gr == 0 {
				groups = gr
				break
			}
		}
		coef := make([][]float32, k*groups)
		for i := range coef {
			coef[i] = make([]float32, groups)
			coef[i][i/k] = float32(intPow(base, k-1-i%k))
		}
		joint = Reshape(MatMul(Reshape(b, n/groups, k*groups), Const(b.Graph(), coef)), n, 1)
	}
	idx := ConvertDType(joint, dtypes.Int32)
	// Valid inputs give indices in [0, rows); NaN inputs give arbitrary
	// integers: masking keeps the scatter within its (power-of-two) target.
	h.idx = BitwiseAnd(idx, Scalar(b.Graph(), dtypes.Int32, h.pad-1))
	return h
}

// otherAxes returns the axes 0..k-1 except j.
func otherAxes(k, j int) []int {
	axes := make([]int, 0, k-1)
	for a := range k {
		if a != j {
			axes = append(axes, a)
		}
	}
	return axes
}

// counts returns the number of entries per bin, [base] int32.
func (h *histogram) counts() *Node {
	g := h.idx.Graph()
	n := h.idx.Shape().Dimensions[0]
	joint := ScatterSum(Zeros(g, shapes.Make(dtypes.Int32, h.pad)), h.idx,
		Ones(g, shapes.Make(dtypes.Int32, n)), false, false)
	joint = Slice(joint, AxisRange(0, h.rows))
	if h.k == 1 {
		return joint
	}
	dims := make([]int, h.k)
	for j := range dims {
		dims[j] = h.base
	}
	joint = Reshape(joint, dims...)
	var total *Node
	for j := range h.k {
		m := ReduceSum(joint, otherAxes(h.k, j)...)
		if total == nil {
			total = m
		} else {
			total = Add(total, m)
		}
	}
	return total
}

// jointTable returns the [base^k, k] table whose row j = sum_i d_i base^(k-1-i)
// holds (table[d_0], ..., table[d_(k-1)]).
func (h *histogram) jointTable(table *Node) *Node {
	b := h.base
	if h.k < 4 {
		dims := make([]int, h.k)
		for j := range dims {
			dims[j] = b
		}
		cols := make([]*Node, h.k)
		for j := range h.k {
			cols[j] = ExpandAndBroadcast(table, dims, otherAxes(h.k, j))
		}
		return Reshape(Stack(cols, -1), h.rows, h.k)
	}
	// k = 4: the table has 4*base^4 values (~3.7 million for 30 bins); build
	// it as one matrix product L @ R, L = [P, 1] ([b^2, 3]) and R ([3, b^2*4])
	// picking P's columns for the first two entries and adding P's rows for
	// the last two, where P = jointTable for k = 2 ([b^2, 2]). Each output is
	// one product with 1 plus zeros: exact.
	g := table.Graph()
	p := Reshape(Stack([]*Node{
		ExpandAndBroadcast(table, []int{b, b}, []int{1}),
		ExpandAndBroadcast(table, []int{b, b}, []int{0}),
	}, -1), b*b, 2)
	left := Concatenate([]*Node{p, Ones(g, shapes.Make(dtypes.Float32, b*b, 1))}, 1)
	pick := make([][][]float32, 2) // [2, b*b, 4]: R's first two rows
	for c := range 2 {
		pick[c] = make([][]float32, b*b)
		for r := range pick[c] {
			pick[c][r] = make([]float32, 4)
			pick[c][r][c] = 1
		}
	}
	last := Concatenate([]*Node{Zeros(g, shapes.Make(dtypes.Float32, b*b, 2)), p}, 1) // [b*b, 4]
	right := Concatenate([]*Node{Const(g, pick), InsertAxes(last, 0)}, 0)             // [3, b*b, 4]
	return Reshape(MatMul(left, Reshape(right, 3, b*b*4)), h.rows, 4)
}

// lookup returns table[bin] for every entry, in the entries' shape; table is
// [base] float32.
func (h *histogram) lookup(table *Node) *Node {
	if h.k == 1 {
		return Reshape(Gather(table, h.idx), h.shape.Dimensions...)
	}
	return Reshape(Gather(h.jointTable(table), h.idx), h.shape.Dimensions...)
}
