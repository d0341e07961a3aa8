package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/study"
)

// TestStudyCommand runs a study of 2 settings with 1 seed on tiny generated
// data, checks that ghmdet eval on each run's last checkpoint prints the
// numbers of the study's report, that rerunning trains nothing, and that
// "study report" takes another baseline.
func TestStudyCommand(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	if out, err := runCommand(t, "data", "synth", "--out", dataDir, "--train", "6", "--val", "4", "--size", "128", "--classes", "2"); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	trainJSON := filepath.Join(dataDir, "annotations", "instances_train.json")
	valJSON := filepath.Join(dataDir, "annotations", "instances_val.json")
	cfgPath := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(cfgPath, []byte(tinyModelYAML+"test:\n  score_thresh: 0.001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "study")
	args := []string{"study", "--data", trainJSON, "--val", valJSON, "--config", cfgPath, "--vary", "loss.cls=focal,ghmc",
		"--seeds", "1", "--epochs", "1", "--analyze-images", "4", "--out", out}
	text, err := runCommand(t, args...)
	if err != nil {
		t.Fatalf("study: %v\n%s", err, text)
	}
	for _, want := range []string{"[run 2 of 2", "cls=ghmc  ", "(baseline)", "report: " + out + "/study.md (2 of 2 runs finished)"} {
		if !strings.Contains(text, want) {
			t.Errorf("study output lacks %q:\n%s", want, text)
		}
	}
	var rep struct {
		Runs []struct {
			Dir   string      `json:"dir"`
			Stats [12]float64 `json:"stats"`
		} `json:"runs"`
	}
	raw, err := os.ReadFile(filepath.Join(out, study.ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Runs) != 2 {
		t.Fatalf("%s: %v, %d runs", study.ResultsJSON, err, len(rep.Runs))
	}
	for _, r := range rep.Runs {
		evalOut, err := runCommand(t, "eval", "--model", filepath.Join(out, r.Dir, "weights", "last.ckpt"), "--data", valJSON,
			"--out", filepath.Join(dir, "dets.json"), "--json")
		if err != nil {
			t.Fatalf("eval %s: %v\n%s", r.Dir, err, evalOut)
		}
		var ev struct {
			Stats [12]float64 `json:"stats"`
		}
		if err := json.Unmarshal([]byte(evalOut[strings.Index(evalOut, "{"):]), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Stats != r.Stats {
			t.Errorf("run %s: ghmdet eval %v, the study %v", r.Dir, ev.Stats, r.Stats)
		}
	}
	// Rerunning finds every run finished.
	text, err = runCommand(t, args...)
	if err != nil || !strings.Contains(text, "2 finished, 0 to run") || strings.Contains(text, "[run ") {
		t.Errorf("rerun: %v\n%s", err, text)
	}
	text, err = runCommand(t, "study", "report", out, "--baseline", "loss.cls=ghmc")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "cls=ghmc ") && !strings.Contains(line, "(baseline)") ||
			strings.HasPrefix(line, "cls=focal ") && !strings.Contains(line, "vs cls=ghmc") {
			t.Errorf("report with baseline ghmc: line %q", line)
		}
	}
}

// TestStudyCommandErrors checks that mistakes are reported before anything
// is trained or written.
func TestStudyCommandErrors(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	if out, err := runCommand(t, "data", "synth", "--out", dataDir, "--train", "4", "--val", "2", "--size", "64", "--classes", "2"); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	trainJSON := filepath.Join(dataDir, "annotations", "instances_train.json")
	valJSON := filepath.Join(dataDir, "annotations", "instances_val.json")
	out := filepath.Join(dir, "study")
	base := []string{"study", "--data", trainJSON, "--val", valJSON, "--out", out}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"--vary", "loss.clss=a,b"}, `--vary "loss.clss=a,b": unknown key "loss.clss"`},
		{"bad value", []string{"--vary", "loss.cls=focal,hinge"}, `setting cls=hinge, seed 1: loss.cls: unknown value "hinge"`},
		{"bad type", []string{"--set", "loss.ghmc_bins=many"}, "--set loss.ghmc_bins=many: cannot unmarshal"},
		{"no value", []string{"--vary", "loss.cls"}, "want key=value1,value2"},
		{"bad shard", []string{"--shard", "3/2"}, "--shard: shard \"3/2\""},
		{"baseline", []string{"--vary", "loss.cls=focal,ghmc", "--baseline", "loss.cls=ce"}, `"ce" is not one of the values of loss.cls`},
		{"split of a COCO file", []string{"--eval-split", "test"}, "is a COCO file, which holds one split"},
		{"seeds", []string{"--seeds", "0"}, "--seeds 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runCommand(t, append(append([]string(nil), base...), c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the study folder exists after the error: %v", err)
			}
		})
	}
	if _, err := runCommand(t, "study", "report", dir); err == nil || !strings.Contains(err.Error(), "not a study folder") {
		t.Errorf("report of a folder without a study: %v", err)
	}
}
