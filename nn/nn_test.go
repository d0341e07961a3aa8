package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

func TestDepthwiseMatchesBuiltin(t *testing.T) {
	b := backend.MustNew("")
	rng := rand.New(rand.NewPCG(7, 8))
	cases := []struct{ batch, h, w, c, k, s int }{
		{2, 8, 8, 5, 3, 1},
		{1, 9, 6, 4, 3, 2},
		{2, 8, 8, 3, 3, 2},
		{1, 7, 7, 2, 5, 1},
	}
	for _, c := range cases {
		for _, pad := range []Padding{PadSymmetric, PadTFSame, PadValid} {
			x := randTensor(rng, c.batch, c.h, c.w, c.c)
			w := randTensor(rng, c.k, c.k, 1, c.c)
			_, _, ho := PadAmounts(c.h, c.k, c.s, pad)
			_, _, wo := PadAmounts(c.w, c.k, c.s, pad)
			r := randTensor(rng, c.batch, ho, wo, c.c)
			run := func(f func(x, w *Node, stride int, pad Padding) *Node) []*tensors.Tensor {
				e, err := NewExec(b, func(x, w, r *Node) []*Node {
					y := f(x, w, c.s, pad)
					g := Gradient(ReduceAllSum(Mul(y, r)), x, w)
					return []*Node{y, g[0], g[1]}
				})
				if err != nil {
					t.Fatal(err)
				}
				return e.MustExec(x, w, r)
			}
			want, got := run(depthwiseBuiltin), run(DepthwiseConv2D)
			for i, name := range []string{"y", "dx", "dw"} {
				assertClose(t, name, got[i], want[i], 1e-4)
			}
		}
	}
}

// TestDepthwiseDirect checks DepthwiseConv2D against a direct Go loop.
func TestDepthwiseDirect(t *testing.T) {
	b := backend.MustNew("")
	rng := rand.New(rand.NewPCG(9, 10))
	const bs, h, w, c, k, s = 1, 6, 5, 3, 3, 2
	x := randTensor(rng, bs, h, w, c)
	wt := randTensor(rng, k, k, 1, c)
	got := MustExecOnce(b, func(x, w *Node) *Node { return DepthwiseConv2D(x, w, s, PadTFSame) }, x, wt)
	top, _, ho := PadAmounts(h, k, s, PadTFSame)
	left, _, wo := PadAmounts(w, k, s, PadTFSame)
	xs, ws := flat(x), flat(wt)
	want := make([]float32, bs*ho*wo*c)
	for oy := range ho {
		for ox := range wo {
			for ch := range c {
				var sum float64
				for i := range k {
					for j := range k {
						iy, ix := oy*s+i-top, ox*s+j-left
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						sum += float64(xs[(iy*w+ix)*c+ch]) * float64(ws[(i*k+j)*c+ch])
					}
				}
				want[(oy*wo+ox)*c+ch] = float32(sum)
			}
		}
	}
	assertClose(t, "depthwise", got, tensors.FromFlatDataAndDimensions(want, bs, ho, wo, c), 1e-5)
}

// withDiagMax runs f with GroupNormDiagMaxChannels set to both paths.
func withDiagMax(t *testing.T, f func(t *testing.T)) {
	old := GroupNormDiagMaxChannels
	defer func() { GroupNormDiagMaxChannels = old }()
	for _, v := range []int{64, 0} { // matmul form, autodiff form
		GroupNormDiagMaxChannels = v
		t.Run(fmt.Sprintf("diagmax=%d", v), f)
	}
}

func TestGroupNormMatchesReference(t *testing.T) {
	withDiagMax(t, testGroupNormMatchesReference)
}

func testGroupNormMatchesReference(t *testing.T) {
	b := backend.MustNew("")
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct{ batch, h, w, ch, groups int }{{2, 4, 3, 8, 4}, {1, 5, 5, 6, 3}, {3, 2, 2, 4, 1}} {
		x := randTensor(rng, c.batch, c.h, c.w, c.ch)
		// Shift and scale so the statistics are not already ~(0, 1).
		xs := flat(x)
		for i := range xs {
			xs[i] = 3*xs[i] + 2
		}
		x = tensors.FromFlatDataAndDimensions(xs, c.batch, c.h, c.w, c.ch)
		store := mlmodel.NewStore()
		got, err := mlmodel.ExecOnce(b, store, func(scope *mlmodel.Scope, x *Node) *Node {
			return GroupNorm(scope.In("gn"), x, c.groups, 1e-5)
		}, x)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(xs))
		cpg := c.ch / c.groups
		for n := range c.batch {
			for gi := range c.groups {
				var sum, sq float64
				cnt := 0
				idx := func(p, ch int) int { return (n*c.h*c.w+p)*c.ch + ch }
				for p := range c.h * c.w {
					for ch := gi * cpg; ch < (gi+1)*cpg; ch++ {
						sum += float64(xs[idx(p, ch)])
						cnt++
					}
				}
				mean := sum / float64(cnt)
				for p := range c.h * c.w {
					for ch := gi * cpg; ch < (gi+1)*cpg; ch++ {
						d := float64(xs[idx(p, ch)]) - mean
						sq += d * d
					}
				}
				std := math.Sqrt(sq/float64(cnt) + 1e-5)
				for p := range c.h * c.w {
					for ch := gi * cpg; ch < (gi+1)*cpg; ch++ {
						want[idx(p, ch)] = float32((float64(xs[idx(p, ch)]) - mean) / std)
					}
				}
			}
		}
		assertClose(t, "groupnorm", got, tensors.FromFlatDataAndDimensions(want, c.batch, c.h, c.w, c.ch), 1e-5)
	}
}

func TestDefaultGroups(t *testing.T) {
	for _, c := range []struct{ ch, want int }{{256, 32}, {64, 32}, {32, 16}, {16, 8}, {24, 12}, {3, 1}, {1, 1}, {6, 3}} {
		if got := DefaultGroups(c.ch); got != c.want {
			t.Errorf("DefaultGroups(%d) = %d, want %d", c.ch, got, c.want)
		}
	}
}

// TestBatchNorm checks the training graph (batch statistics, running
// statistics updated with momentum) and the inference graph (running
// statistics), and that frozen batch-norm applies gamma, beta, mean, variance.
func TestBatchNorm(t *testing.T) {
	b := backend.MustNew("")
	x := tensors.FromValue([][][][]float32{{{{1, 10}, {3, 20}}}, {{{5, 30}, {7, 40}}}}) // [2,1,2,2]
	store := mlmodel.NewStore()
	train, err := mlmodel.NewExec(b, store, func(scope *mlmodel.Scope, x *Node) *Node {
		scope.SetTraining(x.Graph(), true)
		return BatchNorm(scope.In("bn"), x, 0.1, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	y := flat(train.MustExec(x)[0])
	// Channel 0: values 1,3,5,7: mean 4, biased variance 5.
	for i, v := range []float64{1, 3, 5, 7} {
		want := (v - 4) / math.Sqrt(5)
		if math.Abs(float64(y[2*i])-want) > 1e-5 {
			t.Errorf("training bn channel 0 element %d = %g, want %g", i, y[2*i], want)
		}
	}
	mean := flat(store.GetVariable("/bn/mean").MustValue())
	variance := flat(store.GetVariable("/bn/variance").MustValue())
	// running = 0.9*init + 0.1*batch; unbiased variance 20/3 for channel 0.
	if math.Abs(float64(mean[0])-0.4) > 1e-6 || math.Abs(float64(variance[0])-(0.9+0.1*20.0/3)) > 1e-5 {
		t.Errorf("running stats after one step: mean %v variance %v", mean, variance)
	}
	infer, err := mlmodel.NewExec(b, store, func(scope *mlmodel.Scope, x *Node) *Node {
		return BatchNorm(scope.In("bn"), x, 0.1, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	y = flat(infer.MustExec(x)[0])
	want := (1 - 0.4) / math.Sqrt(0.9+0.1*20.0/3)
	if math.Abs(float64(y[0])-want) > 1e-5 {
		t.Errorf("inference bn = %g, want %g (running statistics)", y[0], want)
	}

	// A frozen bn keeps and uses its running statistics in training graphs.
	frozen, err := mlmodel.NewExec(b, store, func(scope *mlmodel.Scope, x *Node) *Node {
		scope.SetTraining(x.Graph(), true)
		return Norm{Kind: NormBN, Frozen: true}.Apply(scope.In("bn"), x)
	})
	if err != nil {
		t.Fatal(err)
	}
	y = flat(frozen.MustExec(x)[0])
	if math.Abs(float64(y[0])-want) > 1e-5 {
		t.Errorf("frozen bn in a training graph = %g, want %g (running statistics)", y[0], want)
	}
	if m := flat(store.GetVariable("/bn/mean").MustValue()); math.Abs(float64(m[0])-0.4) > 1e-6 {
		t.Errorf("frozen bn changed its running mean to %v", m)
	}

	fstore := mlmodel.NewStore()
	scope := fstore.RootScope().In("fbn")
	for name, v := range map[string][]float32{"gamma": {2, 1}, "beta": {1, 0}, "mean": {3, 0}, "variance": {4, 1}} {
		if _, err := scope.CreateVariable(name, tensors.FromValue(v)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := mlmodel.ExecOnce(b, fstore, func(scope *mlmodel.Scope, x *Node) *Node {
		return FrozenBatchNorm(scope.In("fbn"), x, 0)
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	// Channel 0: 2*(x-3)/2 + 1 = x - 2.
	if got := flat(out)[0]; math.Abs(float64(got)-(-1)) > 1e-6 {
		t.Errorf("frozen bn: got %g, want -1", got)
	}
	for v := range fstore.IterVariables() {
		if v.Trainable {
			t.Errorf("frozen bn variable %s is trainable", v.Path())
		}
	}
}

func TestActivationsAndPooling(t *testing.T) {
	b := backend.MustNew("")
	x := tensors.FromValue([]float32{-2, -0.5, 0.5, 3, 7})
	outs := MustExecOnceN(b, func(x *Node) []*Node {
		r, r6 := ReLU(x), ReLU6(x)
		g := Gradient(ReduceAllSum(Add(r, MulScalar(r6, 10))), x)[0]
		return []*Node{r, r6, g}
	}, x)
	wantR := []float32{0, 0, 0.5, 3, 7}
	wantR6 := []float32{0, 0, 0.5, 3, 6}
	wantG := []float32{0, 0, 11, 11, 1}
	for i := range wantR {
		if flat(outs[0])[i] != wantR[i] || flat(outs[1])[i] != wantR6[i] || flat(outs[2])[i] != wantG[i] {
			t.Fatalf("relu %v relu6 %v grad %v; want %v %v %v", flat(outs[0]), flat(outs[1]), flat(outs[2]), wantR, wantR6, wantG)
		}
	}

	// Max-pool 3x3 stride 2 (PyTorch padding 1) against a direct loop; all
	// inputs negative so that padding must never win.
	rng := rand.New(rand.NewPCG(13, 14))
	const h, w, c = 7, 6, 2
	xt := randTensor(rng, 1, h, w, c)
	xs := flat(xt)
	for i := range xs {
		xs[i] = -float32(math.Abs(float64(xs[i]))) - 1
	}
	xt = tensors.FromFlatDataAndDimensions(xs, 1, h, w, c)
	res := MustExecOnceN(b, func(x *Node) []*Node {
		y := MaxPool2D(x, 3, 2, PadSymmetric)
		return []*Node{y, Gradient(ReduceAllSum(y), x)[0]}
	}, xt)
	_, _, ho := PadAmounts(h, 3, 2, PadSymmetric)
	_, _, wo := PadAmounts(w, 3, 2, PadSymmetric)
	got, grad := flat(res[0]), flat(res[1])
	wantGrad := make([]float32, len(xs))
	for oy := range ho {
		for ox := range wo {
			for ch := range c {
				best, at := float32(-math.MaxFloat32), -1
				for i := range 3 {
					for j := range 3 {
						iy, ix := oy*2+i-1, ox*2+j-1
						if iy >= 0 && iy < h && ix >= 0 && ix < w && xs[(iy*w+ix)*c+ch] > best {
							best, at = xs[(iy*w+ix)*c+ch], (iy*w+ix)*c+ch
						}
					}
				}
				if g := got[(oy*wo+ox)*c+ch]; g != best {
					t.Errorf("maxpool at (%d,%d,%d) = %g, want %g", oy, ox, ch, g, best)
				}
				wantGrad[at]++
			}
		}
	}
	for i := range grad {
		if grad[i] != wantGrad[i] {
			t.Fatalf("maxpool gradient %v, want %v", grad, wantGrad)
		}
	}

	up := MustExecOnce(b, func(x *Node) *Node { return UpsampleNearestTo(x, 3, 4) },
		tensors.FromValue([][][][]float32{{{{1}, {2}}, {{3}, {4}}}}))
	wantUp := []float32{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4}
	for i, v := range flat(up) {
		if v != wantUp[i] {
			t.Fatalf("upsample: %v, want %v", flat(up), wantUp)
		}
	}
}

// TestInitReproducible checks that the same seed gives the same weights, a
// different seed different ones, that the statistics follow the initialiser,
// and that the values do not depend on the order of creation.
func TestInitReproducible(t *testing.T) {
	b := backend.MustNew("")
	build := func(seed int64, reverse bool) map[string][]float32 {
		store := mlmodel.NewStore()
		SetSeed(store.RootScope(), seed)
		x := tensors.FromFlatDataAndDimensions(make([]float32, 2*8*8*16), 2, 8, 8, 16)
		_, err := mlmodel.ExecOnce(b, store, func(scope *mlmodel.Scope, x *Node) *Node {
			a := func() *Node { return Conv{Out: 64, Kernel: 3}.Apply(scope.In("a"), x) }
			n := NormalInit(0.01)
			pb := ConstantInit(PriorBias(0.01))
			c := func() *Node {
				return Conv{Out: 32, Kernel: 3, Init: &n, Bias: true, BiasInit: &pb}.Apply(scope.In("c"), x)
			}
			if reverse {
				yc := c()
				return Add(ReduceAllSum(a()), ReduceAllSum(yc))
			}
			return Add(ReduceAllSum(a()), ReduceAllSum(c()))
		}, x)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]float32{}
		for v := range store.IterVariables() {
			if v.Path() == "/#rngState" {
				continue
			}
			out[v.Path()] = flat(v.MustValue())
		}
		return out
	}
	w1, w2, w3, w4 := build(42, false), build(42, false), build(43, false), build(42, true)
	if len(w1) != 3 {
		t.Fatalf("want 3 variables, got %d: %v", len(w1), keys(w1))
	}
	for p, v := range w1 {
		if !equal(v, w2[p]) || !equal(v, w4[p]) {
			t.Errorf("%s differs between runs with the same seed", p)
		}
		if p != "/c/biases" && equal(v, w3[p]) {
			t.Errorf("%s equal for seeds 42 and 43", p)
		}
	}
	std := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s / float64(len(v)))
	}
	if s, want := std(w1["/a/weights"]), math.Sqrt(2.0/(3*3*64)); math.Abs(s/want-1) > 0.05 {
		t.Errorf("kaiming fan_out std %g, want %g", s, want)
	}
	if s := std(w1["/c/weights"]); math.Abs(s/0.01-1) > 0.05 {
		t.Errorf("normal(0.01) std %g", s)
	}
	if v := w1["/c/biases"][5]; math.Abs(float64(v)+4.59512) > 1e-4 {
		t.Errorf("prior bias %g, want -4.59512", v)
	}
}

func keys(m map[string][]float32) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	return k
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNormGradients compares the gradients of GroupNorm and training-mode
// BatchNorm (w.r.t. the input and gamma) with central finite differences in
// float64.
func TestNormGradients(t *testing.T) {
	withDiagMax(t, testNormGradients)
}

func testNormGradients(t *testing.T) {
	b := backend.MustNew("")
	rng := rand.New(rand.NewPCG(15, 16))
	const n, h, w, c = 2, 3, 3, 4
	xs := make([]float64, n*h*w*c)
	rs := make([]float64, len(xs))
	for i := range xs {
		xs[i], rs[i] = rng.NormFloat64()*2+1, rng.NormFloat64()
	}
	r := tensors.FromFlatDataAndDimensions(rs, n, h, w, c)
	for _, kind := range []NormKind{NormGN, NormBN} {
		store := mlmodel.NewStore()
		SetDType(store.RootScope(), dtypes.Float64)
		e, err := mlmodel.NewExec(b, store, func(scope *mlmodel.Scope, x, r *Node) []*Node {
			scope.SetTraining(x.Graph(), true)
			y := Norm{Kind: kind, Groups: 2}.Apply(scope.In("norm"), x)
			// A non-linear projection of y, so that gamma and beta matter.
			loss := ReduceAllSum(Mul(Mul(y, y), r))
			gamma := store.GetVariable("/norm/gamma").NodeValue(x.Graph())
			beta := store.GetVariable("/norm/beta").NodeValue(x.Graph())
			g := Gradient(loss, x, gamma, beta)
			return []*Node{loss, g[0], g[1], g[2]}
		})
		if err != nil {
			t.Fatal(err)
		}
		xt := tensors.FromFlatDataAndDimensions(xs, n, h, w, c)
		lossAt := func(xv []float64) float64 {
			out := e.MustExec(tensors.FromFlatDataAndDimensions(xv, n, h, w, c), r)
			return tensors.ToScalar[float64](out[0])
		}
		e.MustExec(xt, r) // creates and initialises the variables
		// Non-trivial affine parameters, so that per-channel mix-ups show.
		store.GetVariable("/norm/gamma").MustSetValue(tensors.FromValue([]float64{0.5, 1.5, -0.7, 2}))
		store.GetVariable("/norm/beta").MustSetValue(tensors.FromValue([]float64{0.1, -0.2, 0.3, 0.4}))
		out := e.MustExec(xt, r)
		grads := make([][]float64, 3)
		for i := range grads {
			tensors.ConstFlatData(out[i+1], func(d []float64) { grads[i] = append([]float64(nil), d...) })
		}
		const eps = 1e-6
		check := func(what string, analytic, numeric float64) {
			if math.Abs(numeric-analytic) > 1e-6*math.Max(1, math.Abs(numeric)) {
				t.Errorf("%s: %s gradient %g, finite differences %g", kind, what, analytic, numeric)
			}
		}
		for _, i := range []int{0, 7, 19, 35, 50, 71} {
			xp := append([]float64(nil), xs...)
			xm := append([]float64(nil), xs...)
			xp[i] += eps
			xm[i] -= eps
			check(fmt.Sprintf("x[%d]", i), grads[0][i], (lossAt(xp)-lossAt(xm))/(2*eps))
		}
		for vi, name := range []string{"gamma", "beta"} {
			v := store.GetVariable("/norm/" + name)
			var vals []float64
			tensors.ConstFlatData(v.MustValue(), func(d []float64) { vals = append(vals, d...) })
			for _, i := range []int{0, 3} {
				at := func(delta float64) float64 {
					d := append([]float64(nil), vals...)
					d[i] += delta
					v.MustSetValue(tensors.FromFlatDataAndDimensions(d, c))
					return lossAt(xs)
				}
				num := (at(eps) - at(-eps)) / (2 * eps)
				v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, c))
				check(fmt.Sprintf("%s[%d]", name, i), grads[vi+1][i], num)
			}
		}
	}
}
