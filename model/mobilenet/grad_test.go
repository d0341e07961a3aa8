package mobilenet

import (
	"math"
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// backboneGrads builds a training graph on a batch of size x size images
// and returns the exec computing the loss sum(C3)+sum(C4)+sum(C5) and the
// gradient norms of the named variables.
func backboneGrads(tb testing.TB, store *mlmodel.Store, cfg Config, vars []string) *mlmodel.Exec {
	tb.Helper()
	exec, err := mlmodel.NewExec(backend.MustNew(""), store, func(scope *mlmodel.Scope, x *Node) []*Node {
		store.SetTraining(x.Graph(), true)
		c3, c4, c5 := Backbone(scope.In("bb"), x, cfg)
		loss := Add(Add(ReduceAllMean(c3), ReduceAllMean(c4)), ReduceAllMean(c5))
		var wrt []*Node
		for _, p := range vars {
			wrt = append(wrt, store.GetVariable(p).NodeValue(x.Graph()))
		}
		out := []*Node{loss}
		for _, g := range Gradient(loss, wrt...) {
			out = append(out, Sqrt(ReduceAllSum(Square(g))))
		}
		return out
	})
	if err != nil {
		tb.Fatal(err)
	}
	return exec
}

func testImages(b, size int) *tensors.Tensor {
	img := make([]float32, b*size*size*3)
	for i := range img {
		img[i] = float32((i*7919)%255)/128 - 1
	}
	return tensors.FromFlatDataAndDimensions(img, b, size, size, 3)
}

// TestBackboneGradients: gradients reach the trainable layers (through
// the depthwise convolutions, SAME padding and residual additions) and
// stop at the frozen ones.
func TestBackboneGradients(t *testing.T) {
	store := mlmodel.NewStore()
	cfg := Config{FrozenStages: 1}
	// Create the variables first (a graph-building pass).
	g := NewGraph(backend.MustNew(""), "create")
	Backbone(store.RootScope().In("bb"), Parameter(g, "x", shapeOf(1, 64, 64, 3)), cfg)
	vars := []string{
		"/bb/Conv/weights",                      // frozen stem
		"/bb/expanded_conv/depthwise/weights",   // frozen stage 1
		"/bb/expanded_conv_1/expand/weights",    // trainable
		"/bb/expanded_conv_4/depthwise/weights", // trainable, in a residual block
		"/bb/expanded_conv_12/project/biases",   // trainable, at C4
		"/bb/Conv_1/weights",                    // trainable, at C5
	}
	want := []bool{false, false, true, true, true, true}
	out, err := backboneGrads(t, store, cfg, vars).Call(testImages(1, 64))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range vars {
		n := float64(out[i+1].Value().(float32))
		if math.IsNaN(n) || (n > 0) != want[i] {
			t.Errorf("%s: gradient norm %g, want non-zero %v", p, n, want[i])
		}
	}
}

// BenchmarkBackboneTrainStep times the backbone's forward and backward
// pass at 256x256, batch 2 (gradients w.r.t. every trainable variable).
func BenchmarkBackboneTrainStep(b *testing.B) {
	store := mlmodel.NewStore()
	cfg := DefaultConfig()
	g := NewGraph(backend.MustNew(""), "create")
	Backbone(store.RootScope().In("bb"), Parameter(g, "x", shapeOf(2, 256, 256, 3)), cfg)
	var vars []string
	for v := range store.IterVariables() {
		if v.Trainable {
			vars = append(vars, v.Path())
		}
	}
	exec := backboneGrads(b, store, cfg, vars)
	x := testImages(2, 256)
	if _, err := exec.Call(x); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := exec.Call(x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifier times the classifier's forward pass at 224x224,
// batch 2 (random weights).
func BenchmarkClassifier(b *testing.B) {
	store := mlmodel.NewStore()
	exec, err := mlmodel.NewExec(backend.MustNew(""), store, func(scope *mlmodel.Scope, x *Node) *Node {
		return Classifier(scope.In("net"), x)
	})
	if err != nil {
		b.Fatal(err)
	}
	x := testImages(2, InputSize)
	if _, err := exec.Call(x); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := exec.Call(x); err != nil {
			b.Fatal(err)
		}
	}
}
