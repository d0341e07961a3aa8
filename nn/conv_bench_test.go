package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/internal/backend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// convCase is one convolution layer size for the benchmarks.
type convCase struct {
	name                         string
	batch, size, cin, cout, k, s int
}

var benchConvCases = []convCase{
	{"3x3_256to256_64x64_b2", 2, 64, 256, 256, 3, 1},
	{"3x3_64to64_64x64_b2", 2, 64, 64, 64, 3, 1},
	{"3x3_128to128_32x32_b2", 2, 32, 128, 128, 3, 1},
	{"3x3_256to256_16x16_b2", 2, 16, 256, 256, 3, 1},
	{"3x3_512to512_8x8_b2", 2, 8, 512, 512, 3, 1},
	{"3x3s2_128to256_32x32_b2", 2, 32, 128, 256, 3, 2},
	{"3x3_64to64_32x32_b4", 4, 32, 64, 64, 3, 1},
	{"3x3_64to64_8x8_b4", 4, 8, 64, 64, 3, 1},
	{"7x7s2_3to64_256x256_b2", 2, 256, 3, 64, 7, 2},
}

// benchVariants are the formulations and gradients compared.
var benchVariants = []struct {
	name   string
	method ConvMethod
	mode   convGradMode
}{
	{"shift_autodiff", ConvShiftSum, gradAutodiff},
	{"shift_pads", ConvShiftSum, gradPads},
	{"concat_autodiff", ConvConcat, gradAutodiff},
	{"concat_pads", ConvConcat, gradPads},
	{"shift_full", ConvShiftSum, gradFull},
	{"concat_full", ConvConcat, gradFull},
}

func randTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// convExecs returns executors for the forward and the forward+backward
// (gradients of sum(y) w.r.t. x and w) of one convolution.
func convExecs(tb testing.TB, method ConvMethod, stride int) (fwd, bwd *Exec) {
	b := backend.MustNew("")
	var err error
	fwd, err = NewExec(b, func(x, w *Node) *Node { return Conv2D(x, w, stride, PadSymmetric, method) })
	if err != nil {
		tb.Fatal(err)
	}
	bwd, err = NewExec(b, func(x, w *Node) []*Node {
		y := Conv2D(x, w, stride, PadSymmetric, method)
		g := Gradient(ReduceAllSum(y), x, w)
		return g
	})
	if err != nil {
		tb.Fatal(err)
	}
	return fwd, bwd
}

// BenchmarkConv times the production choice (ConvAuto with the default
// gradient) for each layer size, forward and forward+backward.
func BenchmarkConv(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range benchConvCases {
		x := randTensor(rng, c.batch, c.size, c.size, c.cin)
		w := randTensor(rng, c.k, c.k, c.cin, c.cout)
		fwd, bwd := convExecs(b, ConvAuto, c.s)
		for _, mode := range []string{"fwd", "fwdbwd"} {
			e := fwd
			if mode == "fwdbwd" {
				e = bwd
			}
			b.Run(fmt.Sprintf("%s/%s", c.name, mode), func(b *testing.B) {
				runExec(e, x, w) // compile
				b.ResetTimer()
				for range b.N {
					runExec(e, x, w)
				}
			})
		}
	}
}

// BenchmarkConvChoice compares every formulation and gradient on each layer
// size, interleaving them (one round per b.N iteration, so -benchtime 5x
// takes the minimum of 5 runs of each), and prints a table with the fastest
// forward+backward and the method ConvAuto picks.
func BenchmarkConvChoice(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	type entry struct {
		fwd, bwd      *Exec
		bestF, bestFB time.Duration
	}
	type caseData struct {
		x, w    *tensors.Tensor
		entries []*entry
	}
	cases := make([]*caseData, len(benchConvCases))
	for ci, c := range benchConvCases {
		cd := &caseData{x: randTensor(rng, c.batch, c.size, c.size, c.cin), w: randTensor(rng, c.k, c.k, c.cin, c.cout)}
		for _, v := range benchVariants {
			old := gradMode
			gradMode = v.mode
			e := &entry{bestF: time.Hour, bestFB: time.Hour}
			e.fwd, e.bwd = convExecs(b, v.method, c.s)
			runExec(e.fwd, cd.x, cd.w) // graphs are built and compiled on the first call
			runExec(e.bwd, cd.x, cd.w)
			gradMode = old
			cd.entries = append(cd.entries, e)
		}
		cases[ci] = cd
	}
	b.ResetTimer()
	for range b.N {
		for _, cd := range cases {
			for _, e := range cd.entries {
				e.bestF = min(e.bestF, minTime(1, func() { runExec(e.fwd, cd.x, cd.w) }))
				e.bestFB = min(e.bestFB, minTime(1, func() { runExec(e.bwd, cd.x, cd.w) }))
			}
		}
	}
	b.StopTimer()
	fmt.Printf("\nconvolution formulations, min of %d runs, fwd / fwd+bwd in ms\n%-26s", b.N, "layer")
	for _, v := range benchVariants {
		fmt.Printf(" %17s", v.name)
	}
	fmt.Printf("  %-17s %s\n", "fastest fwd+bwd", "auto picks")
	for ci, c := range benchConvCases {
		fmt.Printf("%-26s", c.name)
		best := 0
		for vi, e := range cases[ci].entries {
			fmt.Printf(" %8.1f/%8.1f", ms(e.bestF), ms(e.bestFB))
			if e.bestFB < cases[ci].entries[best].bestFB {
				best = vi
			}
		}
		_, _, o := PadAmounts(c.size, c.k, c.s, PadSymmetric)
		fmt.Printf("  %-17s %s\n", benchVariants[best].name, AutoMethod(c.k, c.k, c.cin, c.batch, o, o))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// runExec executes e and frees its outputs.
func runExec(e *Exec, args ...any) {
	for _, t := range e.MustExec(args...) {
		t.FinalizeAll()
	}
}

// minTime runs f n times and returns the fastest.
func minTime(n int, f func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range n {
		t0 := time.Now()
		f()
		best = min(best, time.Since(t0))
	}
	return best
}

// BenchmarkConvBuiltin times GoMLX's ConvGeneral on a mid-size layer
// (3x3, 64->64, 32x32, batch 4) for comparison with BenchmarkConvChoice.
func BenchmarkConvBuiltin(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x, w := randTensor(rng, 4, 32, 32, 64), randTensor(rng, 3, 3, 64, 64)
	fwd, bwd := convExecs(b, ConvBuiltin, 1)
	for _, m := range []struct {
		name string
		e    *Exec
	}{{"fwd", fwd}, {"fwdbwd", bwd}} {
		b.Run(m.name, func(b *testing.B) {
			runExec(m.e, x, w)
			b.ResetTimer()
			for range b.N {
				runExec(m.e, x, w)
			}
		})
	}
}

// BenchmarkReLU compares ReLU gradients on a [2,64,64,256] tensor
// (forward+backward).
func BenchmarkReLU(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := randTensor(rng, 2, 64, 64, 256)
	for _, m := range []struct {
		name string
		mode reluGradMode
	}{{"autodiff", reluAutodiff}, {"sign", reluSign}, {"where", reluWhere}} {
		old := reluMode
		reluMode = m.mode
		e, err := NewExec(backend.MustNew(""), func(x *Node) *Node {
			return Gradient(ReduceAllSum(Mul(ReLU(x), x)), x)[0]
		})
		if err != nil {
			b.Fatal(err)
		}
		runExec(e, x)
		reluMode = old
		b.Run(m.name, func(b *testing.B) {
			for range b.N {
				runExec(e, x)
			}
		})
	}
}

// BenchmarkDepthwise compares Slice and Gather taps for a depthwise 3x3
// convolution on [4,64,64,64] (stride 1 and 2), forward+backward.
func BenchmarkDepthwise(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := randTensor(rng, 4, 64, 64, 64)
	w := randTensor(rng, 3, 3, 1, 64)
	for _, stride := range []int{1, 2} {
		for _, gather := range []bool{false, true} {
			old := depthwiseGatherTaps
			depthwiseGatherTaps = gather
			e, err := NewExec(backend.MustNew(""), func(x, w *Node) []*Node {
				return Gradient(ReduceAllSum(DepthwiseConv2D(x, w, stride, PadSymmetric)), x, w)
			})
			if err != nil {
				b.Fatal(err)
			}
			runExec(e, x, w)
			depthwiseGatherTaps = old
			b.Run(fmt.Sprintf("s%d/gather=%v", stride, gather), func(b *testing.B) {
				for range b.N {
					runExec(e, x, w)
				}
			})
		}
	}
}

// BenchmarkGroupNorm compares GroupNorm's matmul form (hand-written
// gradient) with groupNormAutodiff, forward+backward, at several widths.
func BenchmarkGroupNorm(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 9))
	old := GroupNormDiagMaxChannels
	GroupNormDiagMaxChannels = 1 << 20 // measure the matmul form at every width
	defer func() { GroupNormDiagMaxChannels = old }()
	for _, dims := range [][4]int{{4, 128, 128, 16}, {4, 32, 32, 64}, {2, 64, 64, 256}} {
		x := randTensor(rng, dims[:]...)
		for _, impl := range []struct {
			name string
			fn   func(*mlmodel.Scope, *Node, int, float64) *Node
		}{{"autodiff", groupNormAutodiff}, {"matmul", GroupNorm}} {
			e, err := mlmodel.NewExec(backend.MustNew(""), mlmodel.NewStore(), func(scope *mlmodel.Scope, x *Node) []*Node {
				scope.SetTraining(x.Graph(), true)
				y := impl.fn(scope.In("gn"), x, DefaultGroups(dims[3]), 1e-5)
				return []*Node{Gradient(ReduceAllSum(Mul(y, y)), x)[0]}
			})
			if err != nil {
				b.Fatal(err)
			}
			run := func() {
				for _, t := range e.MustExec(x) {
					t.FinalizeAll()
				}
			}
			run()
			b.Run(fmt.Sprintf("%v/%s", dims, impl.name), func(b *testing.B) {
				for range b.N {
					run()
				}
			})
		}
	}
}
