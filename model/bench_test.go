package model

import (
	"math/rand/v2"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// benchDetector times the forward pass (inference graph) and the forward
// and backward pass (training graph: gradients of a smooth stand-in loss
// w.r.t. all trainable variables, no optimiser) of cfg at the given batch
// and input size, and reports seconds per call.
func benchDetector(b *testing.B, cfg Config, batch, h, w int) {
	bk := backend.MustNew("")
	rng := rand.New(rand.NewPCG(1, 2))
	img := randImages(rng, batch, h, w)
	store := mlmodel.NewStore()
	fwd := mlmodel.MustNewExec(bk, store, func(scope *mlmodel.Scope, x *Node) []*Node {
		o := Forward(scope, cfg, x)
		return append(o.Cls, o.Box...)
	})
	train := mlmodel.MustNewExec(bk, store, func(scope *mlmodel.Scope, x *Node) []*Node {
		scope.SetTraining(x.Graph(), true)
		loss := detectorTestLoss(Forward(scope, cfg, x))
		return append([]*Node{loss}, scope.BuildTrainableVariablesGradientsGraph(loss)...)
	})
	for _, m := range []struct {
		name string
		e    *mlmodel.Exec
	}{{"fwd", fwd}, {"fwdbwd", train}} {
		b.Run(m.name, func(b *testing.B) { timeExec(b, m.e, img) })
	}
}

// timeExec runs e once on args untimed (building, compiling and
// initialising variables), then b.N times, and reports seconds per call.
func timeExec(b *testing.B, e *mlmodel.Exec, args ...any) {
	run := func() {
		for _, t := range e.MustExec(args...) {
			t.FinalizeAll()
		}
	}
	run()
	b.ResetTimer()
	for range b.N {
		run()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/call")
}

// BenchmarkCPUPreset: the cpu preset at batch 4, 256x256.
func BenchmarkCPUPreset(b *testing.B) {
	cfg, _ := Preset("cpu")
	benchDetector(b, cfg, 4, 256, 256)
}

// BenchmarkResNet50FPN: ResNet-50 + FPN 256 + heads 4 x 256 (the reference
// network, 80 classes) at 512x512, batch 1.
func BenchmarkResNet50FPN(b *testing.B) {
	cfg, _ := Preset("reference")
	benchDetector(b, cfg, 1, 512, 512)
}
