package onnxexport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/engine"
	"github.com/ghmdet/ghmdet/internal/inference"
	"github.com/ghmdet/ghmdet/internal/ortnode"
	"github.com/ghmdet/ghmdet/internal/testrun"
	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/nn"
)

// Tolerances of the comparison with ONNX Runtime (float32 on both sides,
// different summation orders and exp/sigmoid implementations): class
// probabilities within scoreTol, box deltas within deltaTol plus deltaRel
// of their size, decoded box sides within boxTol pixels plus boxRel of the
// box's width plus height.
const (
	scoreTol = 1e-4
	deltaTol = 5e-4
	deltaRel = 2e-4
	boxTol   = 0.01
	boxRel   = 3e-4
)

func TestMain(m *testing.M) {
	code := m.Run()
	testrun.Cleanup()
	os.Exit(code)
}

var (
	runtimeOnce sync.Once
	runtimeDir  string
	runtimeErr  error
)

// onnxRuntime returns the onnxruntime-node package, installing it into the
// cache with npm on first use. Without Node.js the test fails and says how
// to install it (with -short it is skipped instead, as it is when the
// package would have to be installed first).
func onnxRuntime(t *testing.T) string {
	t.Helper()
	if err := ortnode.CheckNode(); err != nil {
		if testing.Short() {
			t.Skipf("-short: %v", err)
		}
		t.Fatal(err)
	}
	runtimeOnce.Do(func() {
		runtimeDir, runtimeErr = ortnode.Find()
		if errors.Is(runtimeErr, ortnode.ErrNotFound) && !testing.Short() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			runtimeDir, runtimeErr = ortnode.Install(ctx)
		}
	})
	if runtimeErr != nil {
		if testing.Short() && errors.Is(runtimeErr, ortnode.ErrNotFound) {
			t.Skipf("-short: %v", runtimeErr)
		}
		t.Fatal(runtimeErr)
	}
	return runtimeDir
}

// randomWeights returns seeded values of a realistic scale for every
// variable of the network m (class biases lowered so that a few hundred
// (anchor, class) pairs pass a 0.05 threshold, as with a trained model).
func randomWeights(t *testing.T, m model.Config, seed uint64) engine.Weights {
	t.Helper()
	arch, err := model.Describe(m)
	if err != nil {
		t.Fatal(err)
	}
	ops := append(append(append([]model.Op{}, arch.Ops...), arch.Head.Cls...), arch.Head.Box...)
	rng := rand.New(rand.NewPCG(seed, 7))
	vals := map[string][]float32{}
	shapes := model.VariableShapes(ops)
	for _, path := range sortedKeys(shapes) {
		dims := shapes[path]
		n := 1
		for _, d := range dims {
			n *= d
		}
		d := make([]float32, n)
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
		vals[path] = d
	}
	return func(name string) ([]float32, []int, error) {
		v, ok := vals[name]
		if !ok {
			return nil, nil, fmt.Errorf("no variable %s", name)
		}
		return v, shapes[name], nil
	}
}

func sortedKeys(m map[string][]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// smoothImage returns a w x h image of smooth colour gradients with
// seeded noise (content for every layer, unlike a flat image).
func smoothImage(w, h int, seed uint64) *imageio.RGB {
	rng := rand.New(rand.NewPCG(seed, 3))
	img := &imageio.RGB{W: w, H: h, Pix: make([]uint8, w*h*3)}
	fx, fy := 0.02+0.05*rng.Float64(), 0.02+0.05*rng.Float64()
	for y := range h {
		for x := range w {
			for c := range 3 {
				v := 128 + 80*math.Sin(fx*float64(x*(c+1))+fy*float64(y)) + 30*rng.NormFloat64()
				img.Pix[(y*w+x)*3+c] = uint8(max(0, min(255, v)))
			}
		}
	}
	return img
}

// nchw returns the raw pixels of images (all of the same size) as float32
// [B, 3, H, W].
func nchw(imgs []*imageio.RGB) []float32 {
	w, h := imgs[0].W, imgs[0].H
	out := make([]float32, 0, len(imgs)*3*w*h)
	for _, img := range imgs {
		for c := range 3 {
			for i := range w * h {
				out = append(out, float32(img.Pix[i*3+c]))
			}
		}
	}
	return out
}

// runONNX exports the detector and runs it in ONNX Runtime on imgs.
func runONNX(t *testing.T, spec inference.Spec, get engine.Weights, imgs []*imageio.RGB, nms bool) ortnode.Result {
	t.Helper()
	ort := onnxRuntime(t)
	data, err := Build(spec, get, Options{NMS: nms, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ortnode.Run(context.Background(), ort, ortnode.Job{Model: file, Threads: 2,
		Inputs: []ortnode.Input{{Name: InputImages, Dims: []int{len(imgs), 3, imgs[0].H, imgs[0].W}, Data: nchw(imgs)}}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// onnxDetections returns the detections of image i from the NMS outputs.
func onnxDetections(t *testing.T, res ortnode.Result, i int) []box.Detection {
	t.Helper()
	sel, scores, boxes := res.Outputs[OutputSelected], res.Outputs[OutputDetScores], res.Outputs[OutputDetBoxes]
	if len(sel.Int) != 3*len(scores.Float) || len(boxes.Float) != 4*len(scores.Float) {
		t.Fatalf("NMS outputs: %d selected values, %d scores, %d box values", len(sel.Int), len(scores.Float), len(boxes.Float))
	}
	var out []box.Detection
	for d := range scores.Float {
		if int(sel.Int[3*d]) != i {
			continue
		}
		out = append(out, box.Detection{Class: int(sel.Int[3*d+1]), Score: scores.Float[d], Box: box.Box(boxes.Float[4*d : 4*d+4])})
	}
	return out
}

// compareDetections checks that every detection of a scored above
// thresh+scoreTol has one in b of its class within the tolerances.
func compareDetections(t *testing.T, what string, a, b []box.Detection, thresh float32) {
	t.Helper()
	missing := 0
	for _, x := range a {
		if x.Score <= thresh+scoreTol {
			continue
		}
		found := false
		for _, y := range b {
			tol := boxTol + boxRel*float64(y.Box.Width()+y.Box.Height())
			ok := x.Class == y.Class && math.Abs(float64(x.Score-y.Score)) <= scoreTol
			for k := 0; ok && k < 4; k++ {
				ok = math.Abs(float64(x.Box[k]-y.Box[k])) <= tol
			}
			if ok {
				found = true
				break
			}
		}
		if !found {
			missing++
			if missing <= 3 {
				t.Errorf("%s: detection %+v has no match", what, x)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d of %d detections without a match", what, missing, len(a))
	}
}

// kthLargest returns the k-th largest value of v.
func kthLargest(v []float32, k int) float32 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[max(0, len(s)-k)]
}

// TestONNXRuntimeMatchesEngine exports the cpu and mobilenet presets'
// networks and a ResNet-18 with frozen batch-norm (seeded random weights),
// runs them in ONNX Runtime on two
// images of the input size and checks the class probabilities and box
// deltas against ghmdet's native engine (the predictor's network), and the
// NMS outputs against ghmdet's post-processing of the engine's outputs
// (without its pre-NMS top-k and detection cap, which the ONNX model does
// not apply).
func TestONNXRuntimeMatchesEngine(t *testing.T) {
	for _, tc := range []struct {
		name, preset string
		seed         uint64
		edit         func(*detector.Config)
	}{
		{"cpu", "cpu", 1, nil},
		{"mobilenet", "mobilenet", 2, nil},
		// Frozen batch-norm folded into the convolutions, ResNet's max-pool,
		// a head without norm and a non-square input.
		{"resnet18 frozen-bn 160x96", "cpu", 3, func(c *detector.Config) {
			c.Model.Backbone = model.BackboneResNet18
			c.Model.Norm = nn.NormFrozenBN
			c.Model.HeadNorm = nn.NormNone
			c.Model.InputWidth, c.Model.InputHeight = 160, 96
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := detector.Preset(tc.preset)
			if err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			text, err := cfg.YAML()
			if err != nil {
				t.Fatal(err)
			}
			spec, err := inference.ParseSpec(tc.preset, text)
			if err != nil {
				t.Fatal(err)
			}
			spec.Test = box.PostProcessConfig{PreNMSTopK: 0, NMSIoU: 0.5, MaxDetections: 0, MinSize: -1}
			get := randomWeights(t, spec.Model, tc.seed)
			h, w := spec.Model.InputHeight, spec.Model.InputWidth
			imgs := []*imageio.RGB{smoothImage(w, h, tc.seed), smoothImage(w, h, tc.seed+10)}

			tf, err := transform.New(spec.Transform())
			if err != nil {
				t.Fatal(err)
			}
			var pix []float32
			for _, img := range imgs {
				p, rec, err := tf.Apply(img, transform.Params{})
				if err != nil {
					t.Fatal(err)
				}
				if rec.ResizedW != w || rec.ResizedH != h {
					t.Fatalf("image resized to %dx%d, want the canvas %dx%d", rec.ResizedW, rec.ResizedH, w, h)
				}
				pix = append(pix, p...)
			}
			eng, err := engine.New(spec.Model, get, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var out engine.Output
			if err := eng.Forward(pix, len(imgs), h, w, true, &out); err != nil {
				t.Fatal(err)
			}

			// A score threshold that about 400 (anchor, class) pairs of the
			// first image pass: enough for NMS to have work, few enough for
			// the pairwise comparison.
			spec.Test.ScoreThresh = kthLargest(out.Cls[:out.N*spec.Model.NumClasses], 400)
			res := runONNX(t, spec, get, imgs, true)
			k := spec.Model.NumClasses
			scores, deltas := res.Outputs[OutputScores], res.Outputs[OutputDeltas]
			if len(scores.Float) != len(out.Cls) || len(deltas.Float) != len(out.Box) {
				t.Fatalf("ONNX Runtime gave %d scores and %d deltas (dims %v, %v), the engine %d and %d",
					len(scores.Float), len(deltas.Float), scores.Dims, deltas.Dims, len(out.Cls), len(out.Box))
			}
			var maxS, maxD float64
			for i, v := range out.Cls {
				d := math.Abs(float64(v - scores.Float[i]))
				maxS = max(maxS, d)
				if d > scoreTol {
					t.Fatalf("score %d (anchor %d, class %d): ONNX Runtime %g, engine %g", i, i/k%out.N, i%k, scores.Float[i], v)
				}
			}
			for i, v := range out.Box {
				d := math.Abs(float64(v - deltas.Float[i]))
				maxD = max(maxD, d)
				if d > deltaTol+deltaRel*math.Abs(float64(v)) {
					t.Fatalf("delta %d (anchor %d): ONNX Runtime %g, engine %g", i, i/4%out.N, deltas.Float[i], v)
				}
			}
			t.Logf("%s: %d anchors x %d classes, largest differences: score %.2g, delta %.2g", tc.name, out.N, k, maxS, maxD)

			anchors, err := box.GenerateAnchors(spec.Anchors, h, w)
			if err != nil {
				t.Fatal(err)
			}
			offsets, counts := inference.LevelOffsets(spec.Model)
			for i := range imgs {
				lp := make([][]float32, len(offsets))
				ld := make([][]float32, len(offsets))
				for l := range offsets {
					lp[l] = out.Cls[(i*out.N+offsets[l])*k : (i*out.N+offsets[l]+counts[l])*k]
					ld[l] = out.Box[(i*out.N+offsets[l])*4 : (i*out.N+offsets[l]+counts[l])*4]
				}
				want, err := box.PostProcess(anchors, lp, ld, k, w, h, spec.Coder, spec.Test)
				if err != nil {
					t.Fatal(err)
				}
				got := onnxDetections(t, res, i)
				if len(want) < 10 {
					t.Fatalf("image %d: only %d detections: the comparison needs more", i, len(want))
				}
				t.Logf("image %d: %d detections (ghmdet), %d (ONNX Runtime)", i, len(want), len(got))
				compareDetections(t, fmt.Sprintf("image %d, ghmdet in ONNX Runtime", i), want, got, spec.Test.ScoreThresh)
				compareDetections(t, fmt.Sprintf("image %d, ONNX Runtime in ghmdet", i), got, want, spec.Test.ScoreThresh)
			}
		})
	}
}

// TestExportedRunMatchesPredictor exports a trained run (the tiny model of
// package testrun, loaded as "ghmdet export" loads it) and checks the
// detections ONNX Runtime gives with the model's NMS against those of
// ghmdet's predictor on the run's images (of the input size, so that
// canvas and image coordinates agree), with the same settings (no pre-NMS
// top-k or detection cap, a threshold that a few hundred pairs pass).
func TestExportedRunMatchesPredictor(t *testing.T) {
	run := testrun.Tiny(t)
	spec, get, err := Load(run.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := inference.OpenCheckpoint(run.Dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := ck.LoadInferenceVariables()
	if err != nil {
		t.Fatal(err)
	}
	var imgs []*imageio.RGB
	for _, f := range run.Images[:2] {
		img, err := imageio.DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if img.W != spec.Model.InputWidth || img.H != spec.Model.InputHeight {
			t.Fatalf("%s: %dx%d, want the input size", f, img.W, img.H)
		}
		imgs = append(imgs, img)
	}
	spec.Test = box.PostProcessConfig{PreNMSTopK: 0, NMSIoU: 0.5, MaxDetections: 0, MinSize: -1}
	pred, err := inference.NewPredictorWith(nil, store, spec, inference.PredictorOptions{Engine: inference.EngineNative})
	if err != nil {
		t.Fatal(err)
	}
	defer pred.Close()
	// The threshold: the 300th best score of the first image.
	all := spec.Test
	all.ScoreThresh = -1
	pix, recs := apply(t, pred, imgs[0])
	dets, err := pred.PredictBatchWith(pix, 1, recs, []box.PostProcessConfig{all})
	if err != nil {
		t.Fatal(err)
	}
	scores := make([]float32, len(dets[0]))
	for i, d := range dets[0] {
		scores[i] = float32(d.Score)
	}
	if len(scores) < 300 {
		t.Fatalf("%d detections without a threshold", len(scores))
	}
	spec.Test.ScoreThresh = kthLargest(scores, 300)
	res := runONNX(t, spec, get, imgs, true)
	for i, img := range imgs {
		post := []box.PostProcessConfig{spec.Test}
		pix, recs := apply(t, pred, img)
		got, err := pred.PredictBatchWith(pix, 1, recs, post)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]box.Detection, len(got[0]))
		for j, d := range got[0] {
			want[j] = box.Detection{Class: d.Class, Score: float32(d.Score),
				Box: box.Box{float32(d.Box[0]), float32(d.Box[1]), float32(d.Box[2]), float32(d.Box[3])}}
		}
		onnx := onnxDetections(t, res, i)
		t.Logf("image %d: %d detections (predictor), %d (ONNX Runtime)", i, len(want), len(onnx))
		if len(want) < 10 {
			t.Fatalf("image %d: only %d detections: the comparison needs more", i, len(want))
		}
		compareDetections(t, fmt.Sprintf("image %d, predictor in ONNX Runtime", i), want, onnx, spec.Test.ScoreThresh)
		compareDetections(t, fmt.Sprintf("image %d, ONNX Runtime in predictor", i), onnx, want, spec.Test.ScoreThresh)
	}
}

// apply returns img transformed for the predictor, and its record.
func apply(t *testing.T, p *inference.Predictor, img *imageio.RGB) ([]float32, []transform.Record) {
	t.Helper()
	pix, rec, err := p.Transform().Apply(img, transform.Params{})
	if err != nil {
		t.Fatal(err)
	}
	return pix, []transform.Record{rec}
}
