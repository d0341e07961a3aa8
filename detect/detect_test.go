package detect_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/draw"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/detect"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/internal/inference"
	"github.com/ghmdet/ghmdet/internal/testrun"
	"github.com/ghmdet/ghmdet/internal/testutil"
	"github.com/ghmdet/ghmdet/train"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testrun.Cleanup()
	os.Exit(code)
}

// loadImages decodes the tiny run's first n images.
func loadImages(t *testing.T, run testrun.Run, n int) []image.Image {
	t.Helper()
	var imgs []image.Image
	for _, f := range run.Images[:n] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := detect.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	return imgs
}

// load loads the tiny run and closes it at the end of the test.
func load(t *testing.T, opts ...detect.Option) *detect.Detector {
	t.Helper()
	d, err := detect.Load(testrun.Tiny(t).Dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// allDetections are settings that return the untrained model's
// low-scored detections, so that comparisons compare something.
var allDetections = []detect.Option{detect.WithScoreThreshold(0), detect.WithMaxDetections(20)}

// TestLoadDescribesModel checks what Load reads from the run: classes,
// input size, default settings and the checkpoint's training state.
func TestLoadDescribesModel(t *testing.T) {
	d := load(t)
	if got := d.Classes(); !slices.Equal(got, []string{"circle", "square"}) {
		t.Errorf("Classes() = %v, want [circle square]", got)
	}
	if w, h := d.InputSize(); w != 128 || h != 128 {
		t.Errorf("InputSize() = %dx%d, want 128x128", w, h)
	}
	if s := d.Settings(); s.ScoreThreshold != 0.05 || s.MaxDetections != 100 {
		t.Errorf("Settings() = %+v, want the run's test settings (0.05, 100)", s)
	}
	if d.MaxBatch() != detect.DefaultMaxBatch {
		t.Errorf("MaxBatch() = %d, want %d", d.MaxBatch(), detect.DefaultMaxBatch)
	}
	info := d.Info()
	if filepath.Base(info.Checkpoint) != "last.ckpt" || info.Step != 3 || info.Epoch != 1 || info.Preset != "cpu" ||
		info.Backbone != "tiny" || info.InputWidth != 128 || len(info.Classes) != 2 || info.Saved.IsZero() {
		t.Errorf("Info() = %+v", info)
	}
	// The copy returned is the caller's.
	d.Classes()[0] = "changed"
	if d.Classes()[0] != "circle" {
		t.Error("Classes() returned the detector's own slice")
	}
}

// TestDetectMatchesPredictor checks that Detect returns exactly what the
// detector package's predictor returns for the same model and image, with
// class names and the run's settings.
func TestDetectMatchesPredictor(t *testing.T) {
	run := testrun.Tiny(t)
	d := load(t)
	cfg, store, err := detector.LoadModel(run.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Test.ScoreThresh = 0
	cfg.Test.MaxDetections = 15
	// Load runs the native engine by default: the same computation.
	pred, err := detector.NewPredictorWith(nil, store, cfg, detector.PredictOptions{Engine: detector.EngineNative})
	if err != nil {
		t.Fatal(err)
	}
	defer pred.Close()
	if got := d.Info().Engine; got != "native" {
		t.Errorf("Info().Engine = %q, want native", got)
	}
	for i, img := range loadImages(t, run, 3) {
		want, err := pred.Predict(imageio.FromImage(img))
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.DetectBatchWith(context.Background(), []image.Image{img}, []detect.Settings{{ScoreThreshold: 0, MaxDetections: 15}})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || len(got[0]) != len(want) {
			t.Fatalf("image %d: %d detections, the predictor gives %d", i, len(got[0]), len(want))
		}
		for j, w := range want {
			g := got[0][j]
			if g.Box != w.Box || g.Class != w.Class || g.Score != w.Score || g.ClassName != cfg.ClassName(w.Class) {
				t.Errorf("image %d detection %d: %+v, predictor %+v", i, j, g, w)
			}
		}
	}
}

// TestSettings checks the score threshold and the detection limit, as
// options of Load and per call, and that bad values are errors.
func TestSettings(t *testing.T) {
	run := testrun.Tiny(t)
	img := loadImages(t, run, 1)[0]
	d := load(t, allDetections...)
	all, err := d.Detect(context.Background(), img)
	if err != nil || len(all) != 20 {
		t.Fatalf("threshold 0, max 20: %d detections, %v", len(all), err)
	}
	mid := all[len(all)/2].Score
	cases := []struct {
		name    string
		s       detect.Settings
		want    int // -1: count the scores >= threshold among all
		wantErr string
	}{
		{"max 5", detect.Settings{MaxDetections: 5}, 5, ""},
		{"no limit", detect.Settings{MaxDetections: 0}, -2, ""},
		{"threshold at a score", detect.Settings{ScoreThreshold: mid, MaxDetections: 20}, -1, ""},
		{"threshold 1", detect.Settings{ScoreThreshold: 1, MaxDetections: 20}, 0, ""},
		{"negative threshold", detect.Settings{ScoreThreshold: -0.1}, 0, "score threshold -0.1: must be in 0..1"},
		{"threshold over 1", detect.Settings{ScoreThreshold: 1.5}, 0, "must be in 0..1"},
		{"NaN threshold", detect.Settings{ScoreThreshold: math.NaN()}, 0, "must be in 0..1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.DetectBatchWith(context.Background(), []image.Image{img}, []detect.Settings{c.s})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			switch want {
			case -1:
				want = 0
				for _, a := range all {
					if a.Score >= c.s.ScoreThreshold {
						want++
					}
				}
			case -2:
				want = len(got[0])
				if want <= 20 {
					t.Fatalf("no limit gave %d detections, not more than the 20 of max 20", want)
				}
			}
			if len(got[0]) != want {
				t.Fatalf("%d detections, want %d", len(got[0]), want)
			}
			for _, g := range got[0] {
				if g.Score < c.s.ScoreThreshold {
					t.Errorf("detection scored %v under the threshold %v", g.Score, c.s.ScoreThreshold)
				}
			}
		})
	}
	if _, err := detect.Load(run.Dir, detect.WithScoreThreshold(2)); err == nil || !strings.Contains(err.Error(), "must be in 0..1") {
		t.Errorf("Load with threshold 2: %v", err)
	}
	if _, err := d.DetectBatchWith(context.Background(), []image.Image{img}, []detect.Settings{{}, {}}); err == nil {
		t.Error("two settings for one image: no error")
	}
}

// TestDetectionsInsideImage checks boxes, classes and names on every
// image, and that an image whose bounds do not start at (0, 0) gets boxes
// in its own coordinates.
func TestDetectionsInsideImage(t *testing.T) {
	run := testrun.Tiny(t)
	d := load(t, allDetections...)
	for i, img := range loadImages(t, run, 4) {
		dets, err := d.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		for _, dt := range dets {
			if dt.Box[0] < float64(b.Min.X) || dt.Box[1] < float64(b.Min.Y) || dt.Box[2] > float64(b.Max.X) || dt.Box[3] > float64(b.Max.Y) ||
				dt.Box[2] <= dt.Box[0] || dt.Box[3] <= dt.Box[1] {
				t.Errorf("image %d: box %v outside %v or empty", i, dt.Box, b)
			}
			if dt.ClassName != []string{"circle", "square"}[dt.Class] || dt.Score < 0 || dt.Score > 1 {
				t.Errorf("image %d: detection %+v", i, dt)
			}
		}
		// The same pixels placed at (40, 30) of a larger image, as a
		// sub-image with those bounds.
		big := image.NewRGBA(image.Rect(0, 0, b.Dx()+60, b.Dy()+50))
		at := image.Pt(40, 30)
		draw.Draw(big, b.Sub(b.Min).Add(at), img, b.Min, draw.Src)
		sub := big.SubImage(b.Sub(b.Min).Add(at))
		moved, err := d.Detect(context.Background(), sub)
		if err != nil {
			t.Fatal(err)
		}
		if len(moved) != len(dets) {
			t.Fatalf("image %d: %d detections as a sub-image, %d alone", i, len(moved), len(dets))
		}
		for j := range dets {
			for k := 0; k < 4; k++ {
				off := float64([]int{at.X, at.Y}[k%2])
				if math.Abs(moved[j].Box[k]-off-dets[j].Box[k]) > 1e-6 {
					t.Errorf("image %d detection %d: box %v as a sub-image at %v, %v alone", i, j, moved[j].Box, at, dets[j].Box)
					break
				}
			}
		}
	}
}

// TestBadImages checks that images Detect cannot run are errors that say
// why, not panics.
func TestBadImages(t *testing.T) {
	d := load(t)
	prev := detect.SetMaxPixels(100 * 100)
	defer detect.SetMaxPixels(prev)
	cases := []struct {
		name string
		img  image.Image
		want error
	}{
		{"nil", nil, detect.ErrEmptyImage},
		{"empty", image.NewRGBA(image.Rect(5, 5, 5, 9)), detect.ErrEmptyImage},
		{"over the pixel limit", image.NewGray(image.Rect(0, 0, 101, 100)), detect.ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := d.Detect(context.Background(), c.img)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			_, err = d.DetectBatch(context.Background(), []image.Image{image.NewGray(image.Rect(0, 0, 8, 8)), c.img})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "image 1") {
				t.Fatalf("in a batch: error %v, want %v naming image 1", err, c.want)
			}
		})
	}
	// At the limit is fine.
	if _, err := d.Detect(context.Background(), image.NewGray(image.Rect(0, 0, 100, 100))); err != nil {
		t.Errorf("image at the limit: %v", err)
	}
}

// TestDecode checks Decode: the header's size is checked before decoding,
// and broken data are errors.
func TestDecode(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 300, 200))); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	cases := []struct {
		name     string
		data     []byte
		limit    int64
		tooLarge bool
		ok       bool
	}{
		{"png", good, 0, false, true},
		{"over the limit", good, 300*200 - 1, true, false},
		{"truncated", good[:len(good)/2], 0, false, false},
		{"header only", good[:40], 0, false, false},
		{"not an image", []byte("hello, world"), 0, false, false},
		{"empty", nil, 0, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev := detect.SetMaxPixels(c.limit)
			defer detect.SetMaxPixels(prev)
			img, format, err := detect.Decode(bytes.NewReader(c.data))
			if c.ok {
				if err != nil || format != "png" || img.Bounds().Dx() != 300 {
					t.Fatalf("Decode = %v, %q, %v", img, format, err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, detect.ErrTooLarge) != c.tooLarge {
				t.Fatalf("error %v: errors.Is ErrTooLarge = %v, want %v", err, !c.tooLarge, c.tooLarge)
			}
		})
	}
}

// TestBatchesMatchSingleCalls checks that DetectBatch over more images than
// MaxBatch gives each image the detections of a call on it alone, up to
// the rounding of batched arithmetic.
func TestBatchesMatchSingleCalls(t *testing.T) {
	run := testrun.Tiny(t)
	d := load(t, append(allDetections, detect.WithMaxBatch(2))...)
	imgs := loadImages(t, run, 5)
	batch, err := d.DetectBatch(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != len(imgs) {
		t.Fatalf("%d results for %d images", len(batch), len(imgs))
	}
	for i, img := range imgs {
		one, err := d.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if !testrun.SameDetections(batch[i], one, 1e-5) {
			t.Errorf("image %d: batched %v, alone %v", i, batch[i], one)
		}
	}
}

// TestConcurrentDetect runs many goroutines on one Detector and requires
// the results of sequential calls, exactly.
func TestConcurrentDetect(t *testing.T) {
	run := testrun.Tiny(t)
	for _, conc := range []int{1, 3} {
		d := load(t, append(allDetections, detect.WithConcurrency(conc))...)
		imgs := loadImages(t, run, 4)
		want := make([][]detect.Detection, len(imgs))
		for i, img := range imgs {
			var err error
			if want[i], err = d.Detect(context.Background(), img); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		for g := 0; g < 8; g++ {
			wg.Go(func() {
				for r := 0; r < 3; r++ {
					i := (g + r) % len(imgs)
					got, err := d.Detect(context.Background(), imgs[i])
					if err != nil {
						errs <- err.Error()
						return
					}
					if !slices.Equal(got, want[i]) {
						errs <- "concurrent result differs from the sequential one"
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("concurrency %d: %s", conc, e)
		}
	}
}

// TestCancelAndClose checks a cancelled context and calls after Close.
func TestCancelAndClose(t *testing.T) {
	d := load(t)
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Detect(ctx, img); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Detect(context.Background(), img); !errors.Is(err, detect.ErrClosed) {
		t.Errorf("Detect after Close: error %v, want ErrClosed", err)
	}
}

// TestLoadErrors checks that bad runs and options are errors naming the
// problem.
func TestLoadErrors(t *testing.T) {
	t.Setenv(backend.EnvVar, "")
	t.Setenv("GOMLX_BACKEND", "")
	run := testrun.Tiny(t)
	empty := t.TempDir()
	cases := []struct {
		name string
		dir  string
		opts []detect.Option
		want string
	}{
		{"missing", filepath.Join(empty, "nothing"), nil, "no such file"},
		{"no checkpoint", empty, nil, "holds no weights/best.ckpt or weights/last.ckpt"},
		{"not a checkpoint", filepath.Join(run.Dir, "config.yaml"), nil, "checkpoint"},
		{"batch 0", run.Dir, []detect.Option{detect.WithMaxBatch(0)}, "max batch 0: must be 1 to 32"},
		{"batch 33", run.Dir, []detect.Option{detect.WithMaxBatch(33)}, "max batch 33"},
		{"concurrency 0", run.Dir, []detect.Option{detect.WithConcurrency(0)}, "concurrency 0"},
		{"backend not compiled", run.Dir, []detect.Option{detect.WithBackend("xla:cuda")}, `"xla" is not compiled into this program`},
		{"bad backend option", run.Dir, []detect.Option{detect.WithEngine("graph"), detect.WithBackend("go:bogus")}, `unknown configuration option "bogus"`},
		{"negative threads", run.Dir, []detect.Option{detect.WithThreads(-2)}, "threads -2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := detect.Load(c.dir, c.opts...)
			if err == nil {
				d.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "detect: ") {
				t.Fatalf("error %q, want it to start with \"detect: \" and contain %q", err, c.want)
			}
		})
	}
	// Threads set the native engine's goroutines, or the pure-Go
	// backend's worker pool.
	for _, eng := range []string{"native", "graph"} {
		d := load(t, detect.WithThreads(2), detect.WithEngine(eng))
		if _, err := d.Detect(context.Background(), image.NewGray(image.Rect(0, 0, 32, 32))); err != nil {
			t.Errorf("%s engine with 2 threads: %v", eng, err)
		}
	}
}

// TestWarmup compiles every batch size up to MaxBatch.
func TestWarmup(t *testing.T) {
	d := load(t, detect.WithMaxBatch(3))
	if err := d.Warmup(context.Background()); err != nil {
		t.Fatal(err)
	}
	imgs := loadImages(t, testrun.Tiny(t), 3)
	if _, err := d.DetectBatch(context.Background(), imgs); err != nil {
		t.Fatal(err)
	}
}

// TestDependencies checks that importing the package does not pull the
// plotting, command-line or progress-bar code.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "github.com/ghmdet/ghmdet/detect")
	cmd.Dir = testutil.RepoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/ghmdet/ghmdet/internal/inference") {
		t.Fatalf("go list -deps gave no internal/inference: %v", deps)
	}
	for _, dep := range deps {
		for _, banned := range []string{"gonum.org/v1/plot", "github.com/spf13/cobra", "github.com/schollz/progressbar",
			"github.com/ghmdet/ghmdet/detector", "github.com/ghmdet/ghmdet/report"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("detect depends on %s", dep)
			}
		}
	}
}

// TestLoadUsesWeightAverages checks that a run which kept weight averages
// runs with them: its detections are those of the predictor on the
// averages, not on the trained weights.
func TestLoadUsesWeightAverages(t *testing.T) {
	run, err := testrun.Train(t.TempDir(), func(c *detector.Config) {
		c.Optimizer.EMADecay, c.Optimizer.EMATau = 0.5, 1
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := detect.Load(run.Dir, allDetections...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	img := loadImages(t, run, 1)[0]
	got, err := d.Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := detector.LoadModel(run.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Test.ScoreThresh, cfg.Test.MaxDetections = 0, 20
	// The checkpoint's own variables: the trained weights and their
	// averages (LoadModel returns the averages in place of the weights).
	ck, err := inference.OpenCheckpoint(run.Dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := ck.LoadVariables()
	if err != nil {
		t.Fatal(err)
	}
	averages, ok, err := train.EMAView(store, "/"+detector.ModelScope)
	if err != nil || !ok {
		t.Fatalf("the run kept no weight averages: %v, %v", ok, err)
	}
	predict := func(s *mlmodel.Store) []detector.Detection {
		p, err := detector.NewPredictorWith(nil, s, cfg, detector.PredictOptions{Engine: detector.EngineNative})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		dets, err := p.Predict(imageio.FromImage(img))
		if err != nil {
			t.Fatal(err)
		}
		return dets
	}
	same := func(want []detector.Detection) bool {
		if len(want) != len(got) {
			return false
		}
		for i := range want {
			if want[i].Box != got[i].Box || want[i].Score != got[i].Score || want[i].Class != got[i].Class {
				return false
			}
		}
		return true
	}
	if !same(predict(averages)) {
		t.Error("detections differ from the predictor's on the weight averages")
	}
	if same(predict(store)) {
		t.Error("detections are those of the trained weights, not of their averages")
	}
}

// bccdImages are the first n JPEGs of the BCCD dataset beside the
// repository, or none (with a message) when it is absent.
func bccdImages(t *testing.T, n int) []image.Image {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "data", "bccd", "JPEGImages", "*.jpg"))
	if len(files) == 0 {
		t.Log("../shared/data/bccd/JPEGImages not found: the comparison on real images is skipped")
		return nil
	}
	var imgs []image.Image
	for _, f := range files[:min(n, len(files))] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := detect.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	return imgs
}

// TestEnginesAgree checks that the native engine and the GoMLX graph give
// the same detections (scores within 1e-4, boxes within 0.01 pixels; see
// testrun.SameDetections) on the run's images and on real photographs
// (BCCD), one at a time and in a batch, and that bad engine names are
// refused.
func TestEnginesAgree(t *testing.T) {
	run := testrun.Tiny(t)
	native := load(t, append(allDetections, detect.WithEngine("native"))...)
	graph := load(t, append(allDetections, detect.WithEngine("graph"))...)
	if native.Info().Engine != "native" || graph.Info().Engine != "graph" {
		t.Fatalf("engines %q and %q", native.Info().Engine, graph.Info().Engine)
	}
	imgs := append(loadImages(t, run, 3), bccdImages(t, 4)...)
	ctx := context.Background()
	want, err := graph.DetectBatch(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := native.DetectBatch(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range imgs {
		single, err := native.Detect(ctx, imgs[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(want[i]) == 0 {
			t.Fatalf("image %d: no detections to compare", i)
		}
		if !testrun.SameDetections(got[i], want[i], 1e-4) || !testrun.SameDetections(single, want[i], 1e-4) {
			t.Errorf("image %d: native %v (alone %v), graph %v", i, got[i], single, want[i])
		}
	}
	if _, err := detect.Load(run.Dir, detect.WithEngine("gpu")); err == nil || !strings.Contains(err.Error(), `engine "gpu" unknown`) {
		t.Errorf("engine gpu: error %v", err)
	}
}
