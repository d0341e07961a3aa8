package train

import (
	"fmt"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph DSL
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// BenchmarkStepOverhead measures the optimiser machinery (gradient norm,
// clipping, update, non-finite guard) on 8 variables of 512x512 (2.1M
// parameters) with a trivial loss, sum(w^2)*c, so that the update dominates.
//
//	go test ./train -run '^$' -bench StepOverhead -benchtime 3x
func BenchmarkStepOverhead(b *testing.B) {
	be := backend.MustNew("")
	lossFn := func(scope *model.Scope, in []*Node) (*Node, []*Node) {
		g := in[0].Graph()
		var total *Node
		for i := range 8 {
			w := scope.WithInitializer(initializer.RandomNormalFn(scope, 0.01)).
				VariableWithShape(fmt.Sprintf("w%d", i), shapes.Make(dtypes.Float32, 512, 512))
			l := ReduceAllSum(Square(w.NodeValue(g)))
			if total == nil {
				total = l
			} else {
				total = Add(total, l)
			}
		}
		total = Mul(total, in[0])
		return total, []*Node{total}
	}
	for _, name := range []string{SGD, Adam} {
		b.Run(name, func(b *testing.B) {
			cfg := DefaultOptimizer()
			cfg.Name = name
			step, err := NewStep(be, model.NewStore(), lossFn, []string{"loss"}, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := step.Run(0, 0.01, float32(1)); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := step.Run(i+1, 0.01, float32(1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
