package train

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/ml/model"
)

func TestMetricsWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	m, err := OpenMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	records := []map[string]any{
		{"step": 1, "loss": 0.5, "terms": map[string]float64{"cls": 0.25, "reg": math.NaN()}},
		{"step": 2, "loss": math.Inf(1), "lr": float32(0.01), "norms": []float64{1, math.Inf(-1)}},
	}
	for _, r := range records {
		if err := m.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	// Flushed line by line: readable before Close.
	got, err := ReadMetrics(path)
	if err != nil || len(got) != 2 {
		t.Fatalf("read before close: %v, %d records", err, len(got))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Write(records[0]); err == nil {
		t.Error("write after close succeeded")
	}
	if got[0]["loss"] != 0.5 || got[0]["terms"].(map[string]any)["reg"] != "NaN" || got[1]["loss"] != "+Inf" {
		t.Errorf("records %v", got)
	}
	if n := got[1]["norms"].([]any); n[0] != 1.0 || n[1] != "-Inf" {
		t.Errorf("norms %v", n)
	}
	data, _ := os.ReadFile(path)
	if lines := strings.Count(string(data), "\n"); lines != 2 {
		t.Errorf("%d lines, want 2", lines)
	}

	// Appending after reopening; a torn last line is ignored.
	m, _ = OpenMetrics(path)
	_ = m.Write(map[string]any{"step": 3})
	_ = m.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"step": 4, "lo`)
	_ = f.Close()
	got, err = ReadMetrics(path)
	if err != nil || len(got) != 3 || got[2]["step"] != 3.0 {
		t.Errorf("after append and torn line: %v %v", err, got)
	}
	// A malformed line in the middle is an error naming the line.
	_ = os.WriteFile(path, []byte("{\"a\":1}\nnot json\n{\"b\":2}\n"), 0o644)
	if _, err := ReadMetrics(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("malformed line: %v", err)
	}
}

func TestRunDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "run1")
	r, err := NewRunDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.LatestCheckpoint(); ok || err != nil {
		t.Errorf("empty run: %v %v", ok, err)
	}
	store := model.NewStore()
	if _, err := store.CreateVariable("/v", nil); err == nil {
		t.Fatal("nil value accepted")
	}
	store.VariableWithValue("/v", []float32{1, 2})
	for _, s := range []int{20, 5, 100} {
		if err := Save(r.CheckpointPath(s), store, Meta{Step: s}); err != nil {
			t.Fatal(err)
		}
	}
	// Files that are not checkpoints are ignored.
	_ = os.WriteFile(filepath.Join(r.CheckpointDir(), ".step-00000200.ckpt.tmp-1"), nil, 0o644)
	_ = os.WriteFile(filepath.Join(r.CheckpointDir(), "notes.txt"), nil, 0o644)
	all, err := r.Checkpoints()
	if err != nil || len(all) != 3 || all[0].Step != 5 || all[2].Step != 100 {
		t.Fatalf("checkpoints %v %v", all, err)
	}
	latest, ok, _ := r.LatestCheckpoint()
	if !ok || latest.Step != 100 || latest.Path != r.CheckpointPath(100) {
		t.Errorf("latest %v", latest)
	}
	if m, err := Load(latest.Path, model.NewStore()); err != nil || m.Step != 100 {
		t.Errorf("load latest: %v", err)
	}
	if err := r.PruneCheckpoints(2); err != nil {
		t.Fatal(err)
	}
	all, _ = r.Checkpoints()
	if len(all) != 2 || all[0].Step != 20 {
		t.Errorf("after prune: %v", all)
	}
	if filepath.Dir(r.MetricsPath()) != root || filepath.Dir(r.ConfigPath()) != root {
		t.Error("paths outside the run folder")
	}
}
