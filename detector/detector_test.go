package detector

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/synth"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/internal/testutil"
	"github.com/ghmdet/ghmdet/train"
)

// tinyData writes a small generated dataset (2 classes) and returns its
// training split.
func tinyData(t *testing.T, n, size int, seed int64) *data.Dataset {
	t.Helper()
	sc := synth.DefaultConfig()
	sc.Seed, sc.Train, sc.Val, sc.Size, sc.Classes, sc.Ratio = seed, n, 0, size, 2, 2
	sc.MinObjects, sc.MaxObjects, sc.MaxDistractors = 1, 3, 0
	sc.SmallFrac, sc.LargeFrac = 0, 0
	res, err := synth.Write(t.TempDir(), sc)
	if err != nil {
		t.Fatal(err)
	}
	return res.Train.Dataset
}

// tinyConfig is a small, fast configuration for tests.
func tinyConfig(t *testing.T, size int) Config {
	t.Helper()
	cfg, err := Preset("cpu")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Model.NumClasses = 2
	cfg.Model.InputWidth, cfg.Model.InputHeight = size, size
	cfg.Model.TinyWidths = []int{8, 16, 32, 32}
	cfg.Model.FPNChannels = 32
	cfg.Model.HeadConvs = 1
	cfg.Model.HeadWidth = 32
	cfg.Train.BatchSize = 2
	cfg.Train.Workers = 2
	cfg.Train.LogEvery = 1
	cfg.Train.EvalEvery = 0
	return cfg
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, yaml, want string }{
		{"unknown top key", "modle:\n  backbone: tiny\n", `unknown key "modle" at the top level; allowed keys:`},
		{"unknown nested key", "loss:\n  clss: focal\n", `unknown key "loss.clss" in loss; allowed keys:`},
		{"bad loss name", "loss:\n  cls: hinge\n", `loss.cls: unknown value "hinge" (allowed: ghmc, focal, ce, ohem)`},
		{"bad preset", "preset: huge\n", `unknown preset "huge" (allowed: cpu, mobilenet, reference)`},
		{"bad budget", "train:\n  time_budget: soon\n", `train.time_budget "soon"`},
		{"bad input size", "model:\n  input_width: 300\n", "multiples of 32"},
		// Loss settings are checked with the rest, whichever loss is selected.
		{"bad ghmc bins", "loss:\n  ghmc_bins: 0\n", "loss.ghmc_*: GHM-C options:"},
		{"bad ghmr mu", "loss:\n  cls: focal\n  ghmr_mu: -1\n", "loss.ghmr_*: GHM-R options:"},
		{"bad focal alpha", "loss:\n  focal_alpha: 2\n", "loss.focal_gamma/focal_alpha:"},
		{"bad ohem ratio", "loss:\n  ohem_ratio: 0\n", "loss.ohem_ratio/ohem_min_positives:"},
		{"bad asl1 mu", "loss:\n  asl1_mu: 0\n", "loss.asl1_mu: must be finite and > 0"},
		{"bad reg weight", "loss:\n  reg_weight: -1\n", "loss.reg_weight: must be finite and >= 0"},
		{"bad resize", "resize:\n  long_side: -5\n", "resize: long_side and short_side must be >= 0"},
		{"bad base batch", "optimizer:\n  base_batch: -1\n", "base_batch must be >= 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			if err := os.WriteFile(p, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(p, "cpu")
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	// A valid file overrides the preset and keeps the rest.
	p := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(p, []byte("loss:\n  cls: focal\n  reg: smooth_l1\ntrain:\n  epochs: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Loss.Cls != ClsFocal || cfg.Loss.Reg != RegSmoothL1 || cfg.Train.Epochs != 3 || cfg.Model.Backbone != "tiny" || cfg.Loss.GroupSize != 2 {
		t.Fatalf("config not merged over the preset: %+v", cfg.Loss)
	}
	// The saved YAML reads back to the same configuration.
	text, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig("saved", text, "reference")
	if err != nil {
		t.Fatal(err)
	}
	text2, _ := back.YAML()
	if string(text) != string(text2) {
		t.Fatalf("config does not round-trip:\n%s\n---\n%s", text, text2)
	}
}

// TestResumeContinuesRun trains 2 epochs uninterrupted, and 1 epoch then a
// resume to 2 epochs; the losses of the second epoch must be identical.
func TestResumeContinuesRun(t *testing.T) {
	ds := tinyData(t, 8, 128, 3)
	cfg := tinyConfig(t, 128)
	b := backend.MustNew("")
	run := func(dir string, epochs int, resume bool) {
		c := cfg
		c.Train.Epochs = epochs
		if _, err := Run(context.Background(), c, RunOptions{Dir: dir, Train: ds, Backend: b, Resume: resume}); err != nil {
			t.Fatal(err)
		}
	}
	full, parts := t.TempDir(), t.TempDir()
	run(full, 2, false)
	run(parts, 1, false)
	run(parts, 2, true)
	losses := func(dir string) map[float64]float64 {
		recs, err := train.ReadMetrics(filepath.Join(dir, MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		m := map[float64]float64{}
		for _, r := range recs {
			if l, ok := r["loss"].(float64); ok {
				m[r["step"].(float64)] = l
			}
		}
		return m
	}
	a, bb := losses(full), losses(parts)
	if len(a) != 8 || len(bb) != 8 {
		t.Fatalf("expected 8 steps in both runs, got %d and %d", len(a), len(bb))
	}
	for step := 5.0; step <= 8; step++ {
		if a[step] != bb[step] {
			t.Errorf("step %v: loss %v uninterrupted, %v after resume", step, a[step], bb[step])
		}
	}
}

// TestEveryLossTrains runs two training steps with each classification and
// box loss and requires finite, positive losses.
func TestEveryLossTrains(t *testing.T) {
	ds := tinyData(t, 4, 128, 7)
	b := backend.MustNew("")
	combos := [][2]string{}
	for _, c := range ClsLosses {
		combos = append(combos, [2]string{c, RegGHMR})
	}
	for _, r := range RegLosses[1:] {
		combos = append(combos, [2]string{ClsFocal, r})
	}
	for _, lc := range combos {
		t.Run(lc[0]+"+"+lc[1], func(t *testing.T) {
			cfg := tinyConfig(t, 128)
			cfg.Loss.Cls, cfg.Loss.Reg = lc[0], lc[1]
			cfg.Train.Epochs = 1
			sum, err := Run(context.Background(), cfg, RunOptions{Dir: t.TempDir(), Train: ds, Backend: b})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := train.ReadMetrics(filepath.Join(sum.Dir, MetricsFile))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 {
				t.Fatalf("%d metric records, want 2", len(recs))
			}
			for _, r := range recs {
				lcls, _ := r["loss_cls"].(float64)
				lbox, _ := r["loss_box"].(float64)
				if !(lcls > 0) || !(lbox > 0) {
					t.Errorf("step %v: loss_cls %v loss_box %v, want finite positive", r["step"], r["loss_cls"], r["loss_box"])
				}
			}
		})
	}
}

// TestPretrainedBackboneLoads builds the mobilenet preset with the shared
// ImageNet weights and runs one training step: the weights must load into
// the detector's backbone and the classifier-only variables must not get in
// the way of training.
func TestPretrainedBackboneLoads(t *testing.T) {
	weights := testutil.SharedDir(t, "data", "mobilenet", "mobilenet_v2_1.0_224_quant.tflite")
	ds := tinyData(t, 2, 128, 9)
	cfg, err := Preset("mobilenet")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Model.NumClasses = 2
	cfg.Model.InputWidth, cfg.Model.InputHeight = 128, 128
	cfg.Model.BackboneWeights = weights
	cfg.Train.Epochs, cfg.Train.BatchSize, cfg.Train.LogEvery = 1, 2, 1
	b := backend.MustNew("")
	tr, err := NewTrainer(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := tr.Store().GetVariable("/" + ModelScope + "/backbone/Conv/weights")
	if v == nil {
		t.Fatal("the stem weights were not loaded under the detector's backbone scope")
	}
	if _, err := Run(context.Background(), cfg, RunOptions{Dir: t.TempDir(), Train: ds, Backend: b}); err != nil {
		t.Fatal(err)
	}
}

// TestInterruptAndResume cancels a run in the middle of its first epoch (as
// Ctrl-C does), resumes it, and requires the same losses as an
// uninterrupted run.
func TestInterruptAndResume(t *testing.T) {
	ds := tinyData(t, 8, 128, 11)
	cfg := tinyConfig(t, 128)
	cfg.Train.Epochs = 2
	b := backend.MustNew("")
	full := map[int]float64{}
	if _, err := Run(context.Background(), cfg, RunOptions{Dir: t.TempDir(), Train: ds, Backend: b,
		OnStep: func(step int, res train.Result) { full[step] = res.Loss }}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	got := map[int]float64{}
	sum, err := Run(ctx, cfg, RunOptions{Dir: dir, Train: ds, Backend: b, OnStep: func(step int, res train.Result) {
		got[step] = res.Loss
		if step == 3 {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stopped != StopInterrupted || sum.Steps != 3 {
		t.Fatalf("stopped %q after %d steps, want %q after 3", sum.Stopped, sum.Steps, StopInterrupted)
	}
	if _, err := Run(context.Background(), cfg, RunOptions{Dir: dir, Train: ds, Backend: b, Resume: true,
		OnStep: func(step int, res train.Result) { got[step] = res.Loss }}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(full) || len(full) != 8 {
		t.Fatalf("steps: %d after resume, %d uninterrupted; want 8", len(got), len(full))
	}
	for step, l := range full {
		if got[step] != l {
			t.Errorf("step %d: loss %v after interruption and resume, %v uninterrupted", step, got[step], l)
		}
	}
}

// TestNonFiniteStopsTraining diverges a run on purpose (a huge learning
// rate): training must stop with an error naming the step and the loss term,
// and the checkpoint written before must stay intact.
func TestNonFiniteStopsTraining(t *testing.T) {
	ds := tinyData(t, 4, 128, 13)
	cfg := tinyConfig(t, 128)
	cfg.Train.Epochs = 1
	b := backend.MustNew("")
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, RunOptions{Dir: dir, Train: ds, Backend: b}); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, WeightsDir, LastCkpt)
	before, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.Train.Epochs = 20
	bad.Optimizer.LR = 1e30
	bad.Optimizer.GradClipNorm = 0
	bad.Schedule.Warmup = "none"
	_, err = Run(context.Background(), bad, RunOptions{Dir: dir, Train: ds, Backend: b, Resume: true})
	if err == nil {
		t.Fatal("a diverging run finished without error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "step ") || !(strings.Contains(msg, "loss_cls") || strings.Contains(msg, "loss_box") || strings.Contains(msg, "total") || strings.Contains(msg, "grad_norm")) {
		t.Errorf("error %q does not name the step and the bad term", msg)
	}
	after, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the last good checkpoint changed")
	}
	t.Log(msg)
}

// TestRunChecksValidationClasses refuses validation data whose classes are
// named otherwise than the training data's, before anything is written.
func TestRunChecksValidationClasses(t *testing.T) {
	ds := tinyData(t, 2, 128, 5)
	val := *ds
	val.Classes = []string{ds.Classes[1], ds.Classes[0]}
	cfg := tinyConfig(t, 128)
	dir := filepath.Join(t.TempDir(), "run")
	_, err := Run(context.Background(), cfg, RunOptions{Dir: dir, Train: ds, Val: &val, Backend: backend.MustNew("")})
	var mm *ClassMismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "validation data") {
		t.Fatalf("error %v, want a class mismatch of the validation data", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the run directory was created: %v", err)
	}
}

// TestWeightAveragesServeInference trains with weight averaging and checks
// that the model loaded from the run (as eval, predict and serve load it)
// gives exactly the final evaluation of the run, which used the averages,
// and not what the raw weights give.
func TestWeightAveragesServeInference(t *testing.T) {
	ds := tinyData(t, 4, 128, 21)
	cfg := tinyConfig(t, 128)
	cfg.Train.Epochs = 2
	cfg.Optimizer.EMADecay, cfg.Optimizer.EMATau = 0.9, 2
	cfg.Test.ScoreThresh = 0.001 // detections to compare even from a barely trained model
	b := backend.MustNew("")
	sum, err := Run(context.Background(), cfg, RunOptions{Dir: t.TempDir(), Train: ds, Val: ds, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	lcfg, store, err := LoadModel(filepath.Join(sum.Dir, WeightsDir, LastCkpt))
	if err != nil {
		t.Fatal(err)
	}
	if store.GetVariable(train.EMAPath("/"+ModelScope+"/fpn/p7/w")) != nil {
		t.Fatal("the loaded store still holds the averages under the optimiser scope")
	}
	res, dets, err := Evaluate(b, store, lcfg, ds, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats != sum.Final.Stats || !reflect.DeepEqual(dets, sum.FinalDetections) {
		t.Fatalf("loaded model: %v, the run's final evaluation: %v (or their detections differ)", res.Stats, sum.Final.Stats)
	}
	n := 0
	for _, d := range dets {
		n += len(d)
	}
	if n == 0 {
		t.Fatal("no detections to compare")
	}
}
