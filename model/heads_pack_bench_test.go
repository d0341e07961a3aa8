package model

import (
	"math/rand/v2"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/nn"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// benchHeads times the head branches (classification and box towers of
// arch, training graph: forward and the gradients of every head variable) of
// batch images of FPN features, one map per entry of sizes, as the detector
// runs them: once per map.
func benchHeads(b *testing.B, cfg Config, batch int, sizes [][2]int) {
	arch := MustDescribe(cfg)
	bk := backend.MustNew("")
	rng := rand.New(rand.NewPCG(1, 2))
	var ins []any
	for _, s := range sizes {
		ins = append(ins, randNHWC(rng, batch, s[0], s[1], cfg.FPNChannels))
	}
	store := mlmodel.NewStore()
	train := mlmodel.MustNewExec(bk, store, func(scope *mlmodel.Scope, xs []*Node) []*Node {
		scope.SetTraining(xs[0].Graph(), true)
		var loss *Node
		for _, x := range xs {
			c, bx := headMapsArch(scope.At("head"), arch, x)
			l := Add(ReduceAllSum(Square(c)), ReduceAllSum(Square(bx)))
			if loss == nil {
				loss = l
			} else {
				loss = Add(loss, l)
			}
		}
		return append([]*Node{loss}, scope.BuildTrainableVariablesGradientsGraph(loss)...)
	})
	timeExec(b, train, ins...)
}

// BenchmarkHeadsPacking measures whether the shared heads would train faster
// run once over all pyramid levels packed into one tensor than once per
// level (the cpu preset at 256x256, batch 4: P3..P7 are 32x32 .. 2x2). The
// "packed" case is one 33x49 map, the smallest rectangle that holds the five
// levels side by side (18% of its pixels wasted); it does not count the
// copies that packing and unpacking would add, nor the masks and per-level
// group-norm statistics a real packing needs, so it bounds the gain from
// above. "p3only" is the P3 map alone. Measured in docs/performance.md
// ("The leaner training graph"): packing is no faster than per-level calls.
func BenchmarkHeadsPacking(b *testing.B) {
	for _, norm := range []nn.NormKind{nn.NormNone, nn.NormGN} {
		cfg, _ := Preset("cpu")
		cfg.HeadNorm = norm // the cpu preset's heads have none; mobilenet's have gn
		name := "cpu-head_norm_" + string(norm)
		b.Run(name+"-levels", func(b *testing.B) {
			benchHeads(b, cfg, 4, [][2]int{{32, 32}, {16, 16}, {8, 8}, {4, 4}, {2, 2}})
		})
		b.Run(name+"-packed", func(b *testing.B) {
			benchHeads(b, cfg, 4, [][2]int{{33, 49}})
		})
		b.Run(name+"-p3only", func(b *testing.B) {
			benchHeads(b, cfg, 4, [][2]int{{32, 32}})
		})
	}
}
