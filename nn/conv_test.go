package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// flat returns the float32 values of t.
func flat(t *tensors.Tensor) []float32 {
	var out []float32
	tensors.ConstFlatData(t, func(d []float32) { out = append([]float32(nil), d...) })
	return out
}

// assertClose fails when got and want differ by more than tol relative to the
// largest magnitude of want (an elementwise tolerance scaled by the tensor).
func assertClose(t *testing.T, what string, got, want *tensors.Tensor, tol float64) {
	t.Helper()
	if !got.Shape().Equal(want.Shape()) {
		t.Fatalf("%s: shape %s, want %s", what, got.Shape(), want.Shape())
	}
	worst, at := relDiff(got, want)
	if worst > tol || math.IsNaN(worst) {
		g, w := flat(got), flat(want)
		t.Errorf("%s: max relative difference %.3g at %d (got %g, want %g), tolerance %g", what, worst, at, g[at], w[at], tol)
	}
}

// relDiff returns the largest |got - want| over the elements of two tensors
// of the same size, relative to the largest |want| (at least 1e-6), and
// where it is (NaN wins).
func relDiff(got, want *tensors.Tensor) (worst float64, at int) {
	g, w := flat(got), flat(want)
	scale := 0.0
	for _, v := range w {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	scale = math.Max(scale, 1e-6)
	at = -1
	for i := range g {
		d := math.Abs(float64(g[i])-float64(w[i])) / scale
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

func TestPadAmounts(t *testing.T) {
	cases := []struct {
		n, k, s            int
		pad                Padding
		before, after, out int
	}{
		{8, 3, 1, PadSymmetric, 1, 1, 8},
		{8, 3, 2, PadSymmetric, 1, 1, 4},
		{7, 3, 2, PadSymmetric, 1, 1, 4},
		{9, 7, 2, PadSymmetric, 3, 3, 5},
		{8, 1, 2, PadSymmetric, 0, 0, 4},
		{7, 1, 2, PadSymmetric, 0, 0, 4},
		{8, 3, 2, PadTFSame, 0, 1, 4}, // asymmetric: only after
		{7, 3, 2, PadTFSame, 1, 1, 4},
		{8, 3, 1, PadTFSame, 1, 1, 8},
		{8, 2, 2, PadTFSame, 0, 0, 4},
		{8, 3, 1, PadValid, 0, 0, 6},
		{8, 3, 2, PadValid, 0, 0, 3},
	}
	for _, c := range cases {
		b, a, o := PadAmounts(c.n, c.k, c.s, c.pad)
		if b != c.before || a != c.after || o != c.out {
			t.Errorf("PadAmounts(n=%d,k=%d,s=%d,%s) = (%d,%d,%d), want (%d,%d,%d)",
				c.n, c.k, c.s, c.pad, b, a, o, c.before, c.after, c.out)
		}
	}
}

// TestConvMatchesBuiltin checks every formulation (and the hand-written
// shift-sum gradient) against GoMLX's ConvGeneral, forward and gradients.
func TestConvMatchesBuiltin(t *testing.T) {
	b := backend.MustNew("")
	rng := rand.New(rand.NewPCG(3, 4))
	type convShape struct{ batch, h, w, cin, cout, k, s int }
	shapes := []convShape{
		{2, 8, 8, 3, 5, 3, 1},
		{1, 9, 7, 4, 6, 3, 2},
		{2, 8, 6, 4, 3, 3, 2},
		{1, 11, 10, 2, 4, 7, 2},
		{1, 4, 4, 2, 16, 3, 2}, // few positions, many outputs: dW transposes im2col
		{2, 6, 5, 4, 3, 1, 1},
		{2, 7, 6, 4, 3, 1, 2},
	}
	for _, sh := range shapes {
		for _, pad := range []Padding{PadSymmetric, PadTFSame, PadValid} {
			x := randTensor(rng, sh.batch, sh.h, sh.w, sh.cin)
			w := randTensor(rng, sh.k, sh.k, sh.cin, sh.cout)
			// A random projection of y as the loss gives a generic incoming gradient.
			_, _, ho := PadAmounts(sh.h, sh.k, sh.s, pad)
			_, _, wo := PadAmounts(sh.w, sh.k, sh.s, pad)
			r := randTensor(rng, sh.batch, ho, wo, sh.cout)
			run := func(method ConvMethod, mode convGradMode) []*tensors.Tensor {
				old := gradMode
				gradMode = mode
				defer func() { gradMode = old }()
				e, err := NewExec(b, func(x, w, r *Node) []*Node {
					y := Conv2D(x, w, sh.s, pad, method)
					g := Gradient(ReduceAllSum(Mul(y, r)), x, w)
					return []*Node{y, g[0], g[1]}
				})
				if err != nil {
					t.Fatal(err)
				}
				return e.MustExec(x, w, r)
			}
			want := run(ConvBuiltin, gradAutodiff)
			for _, m := range []struct {
				method ConvMethod
				mode   convGradMode
			}{
				{ConvShiftSum, gradAutodiff}, {ConvShiftSum, gradPads},
				{ConvConcat, gradAutodiff}, {ConvConcat, gradPads},
				{ConvShiftSum, gradFull}, {ConvConcat, gradFull},
				{ConvAuto, gradMode},
			} {
				name := fmt.Sprintf("%+v/%s/%s/grad=%d", sh, pad, m.method, m.mode)
				got := run(m.method, m.mode)
				assertClose(t, name+"/y", got[0], want[0], 1e-4)
				assertClose(t, name+"/dx", got[1], want[1], 1e-4)
				assertClose(t, name+"/dw", got[2], want[2], 1e-4)
			}
		}
	}
}
