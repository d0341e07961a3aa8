package inference

import (
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/model"
)

// ModelScope is the scope under which the network's variables live.
const ModelScope = "detector"

// LevelOffsets returns, for the configured input size, the first anchor
// index and the anchor count of every pyramid level.
func LevelOffsets(m model.Config) (offsets, counts []int) {
	sizes := model.LevelSizes(m, m.InputHeight, m.InputWidth)
	off := 0
	for _, s := range sizes {
		n := s[0] * s[1] * m.NumAnchors
		offsets = append(offsets, off)
		counts = append(counts, n)
		off += n
	}
	return offsets, counts
}

// GraphFn returns the inference graph of the network m: the class
// probabilities [B, N, K] (sigmoid) and the box deltas [B, N, 4] of all
// levels, concatenated in anchor order.
func GraphFn(m model.Config) func(scope *mlmodel.Scope, images *Node) []*Node {
	return func(scope *mlmodel.Scope, images *Node) []*Node {
		out := model.Forward(scope.In(ModelScope), m, images)
		probs := Concatenate(out.Cls, 1)
		deltas := Concatenate(out.Box, 1)
		return []*Node{Sigmoid(probs), deltas}
	}
}
