package model_test

import (
	"fmt"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/model"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// Build the cpu preset's graph for a batch of two 256x256 images and print
// the per-level output shapes.
func ExampleForward() {
	cfg, err := model.Preset("cpu")
	if err != nil {
		panic(err)
	}
	store := mlmodel.NewStore()
	exec := mlmodel.MustNewExec(backend.MustNew(""), store, func(scope *mlmodel.Scope, images *Node) []*Node {
		out := model.Forward(scope, cfg, images)
		for l := range out.Cls {
			fmt.Printf("P%d: cls %v box %v\n", l+3, out.Cls[l].Shape().Dimensions, out.Box[l].Shape().Dimensions)
		}
		return append(out.Cls, out.Box...)
	})
	if _, err := exec.Compile(shapes.Make(dtypes.Float32, 2, 256, 256, 3)); err != nil {
		panic(err)
	}
	fmt.Println("anchors per image:", model.NumAnchors(cfg, 256, 256))
	// Output:
	// P3: cls [2 9216 3] box [2 9216 4]
	// P4: cls [2 2304 3] box [2 2304 4]
	// P5: cls [2 576 3] box [2 576 4]
	// P6: cls [2 144 3] box [2 144 4]
	// P7: cls [2 36 3] box [2 36 4]
	// anchors per image: 12276
}
