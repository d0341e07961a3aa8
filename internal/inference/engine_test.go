package inference

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/internal/backend"
)

// randomStore creates the variables of spec's network and gives them seeded
// values of a realistic scale (class biases lowered so that about as many
// detections pass the threshold as a trained model gives).
func randomStore(t *testing.T, spec Spec) *mlmodel.Store {
	t.Helper()
	store := mlmodel.NewStore()
	h, w := spec.Model.InputHeight, spec.Model.InputWidth
	if _, err := mlmodel.ExecOnceN(backend.MustNew(""), store, func(scope *mlmodel.Scope, x *Node) []*Node {
		return GraphFn(spec.Model)(scope, x)
	}, tensors.FromShape(shapes.Make(dtypes.Float32, 1, h, w, 3))); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 9))
	for v := range store.IterVariables() {
		dims := v.Shape().Dimensions
		d := make([]float32, v.Shape().Size())
		path := v.Path()
		name := path[strings.LastIndex(path, "/")+1:]
		for i := range d {
			switch name {
			case "weights":
				d[i] = float32(rng.NormFloat64() * 1.2 / math.Sqrt(float64(dims[0]*dims[1]*dims[2])))
			case "gamma":
				d[i] = float32(0.5 + rng.Float64())
			case "variance":
				d[i] = float32(0.5 + 1.5*rng.Float64())
			default:
				d[i] = float32(0.2 * rng.NormFloat64())
			}
			if strings.HasSuffix(path, "head/cls/predict/biases") {
				d[i] -= 4
			}
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(d, dims...)); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// sameDetections reports whether a and b hold the same detections up to
// tol on scores and, on box sides, 100*tol pixels plus 3*tol times the box's
// width plus height (box deltas pass through exp, so float32 rounding grows
// with the box: random weights on noise images give boxes across the whole
// image), in any order; a detection scored within tol of the other list's
// lowest score may be missing (it can fall either side of the detection
// limit).
func sameDetections(a, b []Detection, tol float64) bool {
	covers := func(a, b []Detection) bool {
		if len(b) == 0 {
			return len(a) == 0
		}
		cut := b[len(b)-1].Score
		for _, x := range a {
			found := false
			for _, y := range b {
				ok := x.Class == y.Class && math.Abs(x.Score-y.Score) <= tol
				boxTol := 100*tol + 3*tol*(y.Box[2]-y.Box[0]+y.Box[3]-y.Box[1])
				for k := range 4 {
					ok = ok && math.Abs(x.Box[k]-y.Box[k]) <= boxTol
				}
				if ok {
					found = true
					break
				}
			}
			if !found && x.Score > cut+tol {
				return false
			}
		}
		return true
	}
	return len(a) == len(b) && covers(a, b) && covers(b, a)
}

// TestEnginesAgreeOnPresets runs every preset's network (random weights)
// with the native engine and the GoMLX graph on real photographs (BCCD;
// synthetic images when the dataset is absent) and checks that the
// detections are the same (scores within 1e-4, box sides within 0.01 pixels
// plus 3e-4 of the box's width plus height).
func TestEnginesAgreeOnPresets(t *testing.T) {
	var imgs []*imageio.RGB
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "data", "bccd", "JPEGImages", "*.jpg"))
	for _, f := range files[:min(3, len(files))] {
		img, err := imageio.DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	if len(imgs) == 0 {
		t.Log("../shared/data/bccd/JPEGImages not found: synthetic images instead")
		rng := rand.New(rand.NewPCG(1, 1))
		for range 2 {
			img := &imageio.RGB{W: 300, H: 200, Pix: make([]uint8, 300*200*3)}
			for i := range img.Pix {
				img.Pix[i] = uint8(rng.IntN(256))
			}
			imgs = append(imgs, img)
		}
	}
	for _, preset := range []string{"cpu", "mobilenet", "reference"} {
		t.Run(preset, func(t *testing.T) {
			spec, err := ParseSpec("test", fmt.Appendf(nil, "preset: %s\nmodel:\n  input_width: 256\n  input_height: 192\n", preset))
			if err != nil {
				t.Fatal(err)
			}
			store := randomStore(t, spec)
			graph, err := NewPredictor(backend.MustNew(""), store, spec)
			if err != nil {
				t.Fatal(err)
			}
			defer graph.Close()
			native, err := NewPredictorWith(nil, store, spec, PredictorOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer native.Close()
			if graph.Engine() != EngineGraph || native.Engine() != EngineNative {
				t.Fatalf("engines %s and %s", graph.Engine(), native.Engine())
			}
			total := 0
			for i, img := range imgs {
				want, err := graph.Predict(img)
				if err != nil {
					t.Fatal(err)
				}
				got, err := native.Predict(img)
				if err != nil {
					t.Fatal(err)
				}
				total += len(want)
				if !sameDetections(got, want, 1e-4) {
					t.Errorf("image %d: native %d detections %v\ngraph %d: %v", i, len(got), got, len(want), want)
				}
			}
			t.Logf("%d detections on %d images", total, len(imgs))
			if total == 0 {
				t.Error("no detections to compare")
			}
		})
	}
}

// TestParseEngine checks the engine names.
func TestParseEngine(t *testing.T) {
	cases := []struct {
		in      string
		want    Engine
		resolve Engine
		err     string
	}{
		{"", EngineAuto, EngineNative, ""},
		{"auto", EngineAuto, EngineNative, ""},
		{"native", EngineNative, EngineNative, ""},
		{"graph", EngineGraph, EngineGraph, ""},
		{"gpu", "", "", `engine "gpu" unknown (allowed: auto, native, graph)`},
	}
	for _, c := range cases {
		got, err := ParseEngine(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ParseEngine(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want || got.Resolve() != c.resolve {
			t.Errorf("ParseEngine(%q) = %q (resolves to %q), %v", c.in, got, got.Resolve(), err)
		}
	}
	if _, err := NewPredictorWith(nil, mlmodel.NewStore(), Spec{}, PredictorOptions{Engine: EngineGraph}); err == nil {
		t.Error("a graph predictor without backend or valid spec: no error")
	}
}
