package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	gnn "github.com/gomlx/gomlx/ml/nn"
)

// BenchmarkConv1x1Fused compares, forward and backward (gradients of x, the
// kernel and the bias), a 1x1 convolution with bias and ReLU as ghmdet
// builds it (Conv2D: one MatMul, then Add and ReLU with the hand-written
// gradient) against the backend's fused dense product (GoMLX nn.Dense:
// FusedDense with bias and ReLU in its epilogue, and FusedDenseVJP), on
// ResNet-50 bottleneck sizes at 512x512 (stride 4 and 16) and a cpu-preset
// size. Before timing, the two are checked equal (relative 1e-4). Measured
// in docs/performance.md ("The leaner training graph"): the fused product
// is slower where the input has more channels than the output.
func BenchmarkConv1x1Fused(b *testing.B) {
	bk := backend.MustNew("")
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct{ n, h, cin, cout int }{
		{1, 128, 256, 64}, {1, 128, 64, 256}, {1, 32, 1024, 256}, {4, 32, 64, 64},
	}
	build := func(fused bool, cin, cout int) func(x, w, bias, r *Node) []*Node {
		return func(x, w, bias, r *Node) []*Node {
			var y *Node
			if fused {
				y = gnn.Dense(x, Reshape(w, cin, cout), bias, compute.DenseLayoutInputOutputs, activation.TypeRelu)
			} else {
				y = ReLU(Add(Conv2D(x, w, 1, PadSymmetric, ConvAuto), Reshape(bias, 1, 1, 1, cout)))
			}
			return Gradient(ReduceAllSum(Mul(y, r)), x, w, bias)
		}
	}
	for _, c := range cases {
		args := []any{
			randTensor(rng, c.n, c.h, c.h, c.cin), randTensor(rng, 1, 1, c.cin, c.cout),
			randTensor(rng, c.cout), randTensor(rng, c.n, c.h, c.h, c.cout),
		}
		execs := map[bool]*Exec{}
		for _, fused := range []bool{false, true} {
			e, err := NewExec(bk, build(fused, c.cin, c.cout))
			if err != nil {
				b.Fatal(err)
			}
			execs[fused] = e
		}
		want, got := execs[false].MustExec(args...), execs[true].MustExec(args...)
		for i, name := range []string{"dx", "dw", "dbias"} {
			if d, _ := relDiff(got[i], want[i]); d > 1e-4 || math.IsNaN(d) {
				b.Fatalf("%v: fused %s differs by %.3g (relative)", c, name, d)
			}
		}
		for _, fused := range []bool{false, true} {
			name := map[bool]string{false: "matmul", true: "fused_dense"}[fused]
			b.Run(fmt.Sprintf("%dx%dx%dx%d_to_%d/%s", c.n, c.h, c.h, c.cin, c.cout, name), func(b *testing.B) {
				for range b.N {
					for _, o := range execs[fused].MustExec(args...) {
						o.FinalizeAll()
					}
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1000, "ms/call")
			})
		}
	}
}
