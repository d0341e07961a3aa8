package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// runCommand runs "ghmdet args..." with every flag of the subcommand reset
// to its default, and returns the output.
func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd, _, err := rootCmd.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			_ = sv.Replace(nil)
		} else {
			_ = f.Value.Set(f.DefValue)
		}
		f.Changed = false
	})
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	defer rootCmd.SetArgs(nil)
	err = rootCmd.Execute()
	return out.String(), err
}

// tinyModelYAML is a small, fast configuration for command tests.
const tinyModelYAML = `preset: cpu
model:
  input_width: 128
  input_height: 128
  tiny_widths: [8, 16, 32, 32]
  fpn_channels: 32
  head_convs: 1
  head_width: 32
train:
  batch_size: 2
  workers: 2
  log_every: 1
`

// TestWorkflow runs the commands a user chains: data synth, train (with a
// config file and an interruption by epochs), resume, eval on the model,
// predict and analyze, on tiny generated data.
func TestWorkflow(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	if out, err := runCommand(t, "data", "synth", "--out", dataDir, "--train", "6", "--val", "4", "--size", "128", "--classes", "2"); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	trainJSON := filepath.Join(dataDir, "annotations", "instances_train.json")
	valJSON := filepath.Join(dataDir, "annotations", "instances_val.json")
	cfgPath := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(cfgPath, []byte(tinyModelYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	out, err := runCommand(t, "train", "--data", trainJSON, "--val", valJSON, "--config", cfgPath, "--epochs", "1", "--time-budget", "1h", "--out", run)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	// The last line reports the budget: 1 epoch, as --epochs caps it.
	if last := lastLine(out); !strings.HasPrefix(last, "time budget 1h0m0s: used ") || !strings.HasSuffix(last, "epochs: 1 planned (configuration 1, at most 1), 1 trained") {
		t.Errorf("last line %q does not report the budget", last)
	}
	for _, f := range []string{"config.yaml", "run.json", "metrics.jsonl", "results.csv", "weights/last.ckpt", "weights/best.ckpt",
		"report.md", "report.html", "loss.png", "pr.png", "gradnorm_cls.png", "gradnorm_box.png", "val_detections.json"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if !strings.Contains(out, "Average Precision") {
		t.Errorf("train output has no COCO summary:\n%s", out)
	}
	// Resume to 2 epochs: the run continues at step 4.
	out, err = runCommand(t, "train", "--resume", run, "--data", trainJSON, "--val", valJSON, "--epochs", "2")
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if !strings.Contains(out, "resuming") || !strings.Contains(out, "after 6 steps, 2 epochs") {
		t.Errorf("resume did not continue the run:\n%s", out)
	}
	if last := lastLine(out); !strings.HasSuffix(last, "epochs: 2 planned (configuration 2, at most 2), 2 trained") {
		t.Errorf("last line %q: the new cap did not re-plan the budgeted run", last)
	}
	// Evaluate the run's model.
	detsPath := filepath.Join(dir, "dets.json")
	out, err = runCommand(t, "eval", "--model", run, "--data", valJSON, "--out", detsPath, "--json")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	var rep struct {
		Stats []float64 `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil || len(rep.Stats) != 12 {
		t.Fatalf("eval --json output: %v\n%s", err, out)
	}
	// A dataset with as many classes under other names is refused unless
	// the classes are mapped by position, by eval and analyze alike.
	renamed := renamedClasses(t, valJSON, filepath.Join(dir, "renamed.json"))
	valImages := filepath.Join(dataDir, "val")
	for _, args := range [][]string{
		{"eval", "--model", run, "--data", renamed, "--images", valImages, "--out", detsPath},
		{"analyze", "--model", run, "--data", renamed, "--images", valImages, "--out", filepath.Join(dir, "analysis-renamed")},
	} {
		_, err = runCommand(t, args...)
		if err == nil || !strings.Contains(err.Error(), "class names differ") || !strings.Contains(err.Error(), `dataset: ["renamed-0", "renamed-1"]`) ||
			!strings.Contains(err.Error(), "--map-by-position") {
			t.Errorf("%s on renamed classes: error %v, want the class lists and --map-by-position", args[0], err)
		}
	}
	out, err = runCommand(t, "eval", "--model", run, "--data", renamed, "--images", valImages, "--out", detsPath, "--json", "--map-by-position")
	if err != nil || !strings.Contains(out, `taken as the data's by position`) || !strings.Contains(out, `"stats"`) {
		t.Errorf("eval --map-by-position: %v\n%s", err, out)
	}
	// Predict on the validation images.
	predDir := filepath.Join(dir, "pred")
	out, err = runCommand(t, "predict", "--model", run, "--out", predDir, "--score", "0.05", filepath.Join(dataDir, "val"))
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(predDir, "predictions.json")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(predDir, "000001.jpg")); err != nil {
		t.Error(err)
	}
	// Same-named images in two folders get distinct drawn files that keep
	// their folders.
	cams := filepath.Join(dir, "cams")
	img, err := os.ReadFile(filepath.Join(dataDir, "val", "000001.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(cams, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cams, sub, "1.png"), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pred2 := filepath.Join(dir, "pred2")
	if out, err := runCommand(t, "predict", "--model", run, "--out", pred2, filepath.Join(cams, "a"), filepath.Join(cams, "b")); err != nil {
		t.Fatalf("predict on two folders: %v\n%s", err, out)
	}
	var preds []predictedImage
	if b, err := os.ReadFile(filepath.Join(pred2, "predictions.json")); err != nil || json.Unmarshal(b, &preds) != nil || len(preds) != 2 {
		t.Fatalf("predictions.json: %v, %d entries", err, len(preds))
	}
	for i, sub := range []string{"a", "b"} {
		want := filepath.Join(pred2, sub, "1.jpg")
		if preds[i].Drawn != want {
			t.Errorf("image %s drawn to %q, want %q", preds[i].File, preds[i].Drawn, want)
		}
		if _, err := os.Stat(want); err != nil {
			t.Error(err)
		}
	}
	// Analyze.
	anDir := filepath.Join(dir, "analysis")
	out, err = runCommand(t, "analyze", "--model", run, "--data", valJSON, "--out", anDir)
	if err != nil {
		t.Fatalf("analyze: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(anDir, "gradnorm_cls.csv")); err != nil {
		t.Error(err)
	}
}

// lastLine returns the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func TestTrainErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("optimiser:\n  lr: 0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train"}, "--data is required"},
		{[]string{"train", "--data", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"train", "--data", bad, "--format", "coco", "--config", bad}, `unknown key "optimiser"`},
		{[]string{"train", "--data", "x.json", "--preset", "huge"}, `unknown preset "huge"`},
		{[]string{"predict", "--model", filepath.Join(dir, "nope"), dir}, "nope"},
	}
	for _, c := range cases {
		_, err := runCommand(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ghmdet %s: error %v, want it to contain %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// renamedClasses writes a copy of the COCO file src at dst with its
// categories renamed renamed-0, renamed-1, ... and returns dst.
func renamedClasses(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	cats, _ := doc["categories"].([]any)
	for i, c := range cats {
		c.(map[string]any)["name"] = fmt.Sprintf("renamed-%d", i)
	}
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
