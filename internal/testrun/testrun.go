// Package testrun trains a tiny detector once per test binary, so that tests
// of the packages that load models (detect, serve, the command line) have a
// real run directory without a fixture to keep in step with the checkpoint
// format.
package testrun

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/ghmdet/ghmdet/data/synth"
	"github.com/ghmdet/ghmdet/detect"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/backend"
)

// Run is a trained run directory and the images of its data.
type Run struct {
	// Dir is the run directory (weights/last.ckpt, config.yaml, ...).
	Dir string
	// Images are the PNG files of the generated data (128 x 128, objects
	// of the classes "circle" and "square").
	Images []string
}

var (
	once   sync.Once
	shared Run
	err    error
	root   string
)

// Tiny returns a run of a tiny model (the cpu preset shrunk: 128 x 128
// input, 2 classes "circle" and "square", narrow layers) trained for 3
// steps on 6 generated images. It is made once per process (a few seconds)
// in a temporary folder that Cleanup removes; tests must not change it.
func Tiny(t testing.TB) Run {
	t.Helper()
	r, err := Make()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Make is Tiny for code without a testing.TB (examples, TestMain).
func Make() (Run, error) {
	once.Do(func() { shared, err = train() })
	if err != nil {
		return Run{}, fmt.Errorf("tiny run: %w", err)
	}
	return shared, nil
}

// Cleanup removes the run made by Tiny; TestMain calls it after the tests.
func Cleanup() {
	if root != "" {
		_ = os.RemoveAll(root)
	}
}

// Config is the tiny model's configuration.
func Config() (detector.Config, error) {
	cfg, err := detector.Preset("cpu")
	if err != nil {
		return cfg, err
	}
	cfg.Model.NumClasses = 2
	cfg.Model.InputWidth, cfg.Model.InputHeight = 128, 128
	cfg.Model.TinyWidths = []int{8, 16, 32, 32}
	cfg.Model.FPNChannels = 32
	cfg.Model.HeadConvs = 1
	cfg.Model.HeadWidth = 32
	cfg.Train.BatchSize = 2
	cfg.Train.Workers = 2
	cfg.Train.EvalEvery = 0
	cfg.Train.Epochs = 1
	return cfg, nil
}

func train() (Run, error) {
	dir, err := os.MkdirTemp("", "ghmdet-testrun-")
	if err != nil {
		return Run{}, err
	}
	root = dir
	return Train(dir, nil)
}

// Train trains the tiny model, its configuration changed by edit (when not
// nil), in dir (data in dir/data, the run in dir/run).
func Train(dir string, edit func(*detector.Config)) (Run, error) {
	sc := synth.DefaultConfig()
	sc.Seed, sc.Train, sc.Val, sc.Size, sc.Classes, sc.Ratio = 5, 6, 0, 128, 2, 2
	sc.MinObjects, sc.MaxObjects, sc.MaxDistractors = 1, 3, 0
	sc.SmallFrac, sc.LargeFrac = 0, 0
	res, err := synth.Write(filepath.Join(dir, "data"), sc)
	if err != nil {
		return Run{}, fmt.Errorf("synth: %w", err)
	}
	cfg, err := Config()
	if err != nil {
		return Run{}, err
	}
	if edit != nil {
		edit(&cfg)
	}
	b, err := backend.New("")
	if err != nil {
		return Run{}, err
	}
	run := filepath.Join(dir, "run")
	if _, err := detector.Run(context.Background(), cfg, detector.RunOptions{Dir: run, Train: res.Train.Dataset, Backend: b}); err != nil {
		return Run{}, fmt.Errorf("train: %w", err)
	}
	images, err := filepath.Glob(filepath.Join(dir, "data", "*", "*.png"))
	if err != nil || len(images) == 0 {
		return Run{}, fmt.Errorf("no images in %s (%v)", dir, err)
	}
	sort.Strings(images)
	return Run{Dir: run, Images: images}, nil
}

// SameDetections compares two lists of detections up to tol on scores
// (and 100 tol pixels on boxes), in any order: a batch of another size
// rounds differently (the backend's kernels split the work by batch size),
// which can swap detections of nearly equal scores. A detection scored
// within tol of the lowest score of its list may be missing from the other
// (it can fall either side of the max-detections cut).
func SameDetections(a, b []detect.Detection, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	return covers(a, b, tol) && covers(b, a, tol)
}

// covers reports whether every detection of a, but those at b's cut, has a
// match in b.
func covers(a, b []detect.Detection, tol float64) bool {
	if len(b) == 0 {
		return len(a) == 0
	}
	cut := b[len(b)-1].Score
	for _, x := range a {
		found := false
		for _, y := range b {
			if x.Class == y.Class && x.ClassName == y.ClassName && math.Abs(x.Score-y.Score) <= tol &&
				math.Abs(x.Box[0]-y.Box[0]) <= 100*tol && math.Abs(x.Box[1]-y.Box[1]) <= 100*tol &&
				math.Abs(x.Box[2]-y.Box[2]) <= 100*tol && math.Abs(x.Box[3]-y.Box[3]) <= 100*tol {
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
