package detector

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/ghmdet/ghmdet/data/loader"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/loss"
	"github.com/ghmdet/ghmdet/train"
)

// TestGHMStateCheckpoint checks that the GHM-C and GHM-R momentum states
// (the EMA accumulators of the gradient density) go through the product's
// checkpoint format as Run uses it: a trainer trained a few steps is saved
// with train.Save, a fresh trainer is loaded with train.Load, the
// accumulators come back bit for bit, and the next step gives bit for bit
// the loss and the state of the uninterrupted trainer.
func TestGHMStateCheckpoint(t *testing.T) {
	ds := tinyData(t, 6, 128, 19)
	cfg := tinyConfig(t, 128)
	cfg.Loss.Cls, cfg.Loss.Reg = ClsGHMC, RegGHMR
	b := backend.MustNew("")
	tr, err := NewTrainer(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := trainLoader(&cfg, ds)
	if err != nil {
		t.Fatal(err)
	}
	var batches []*loader.Batch
	it := ld.Epoch(context.Background(), 0)
	for {
		bt, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, bt)
	}
	it.Close()
	if len(batches) != 3 {
		t.Fatalf("%d batches, want 3", len(batches))
	}
	for i, bt := range batches[:2] {
		if _, err := tr.StepBatch(bt, i+1, 0, 30, 10); err != nil {
			t.Fatal(err)
		}
	}

	// The accumulators: non-trainable float32 variables ending in
	// loss.StateVariableName under the GHM loss scopes.
	states := func(tr *Trainer) map[string][]float32 {
		m := map[string][]float32{}
		for v := range tr.Store().IterVariables() {
			p := v.Path()
			if strings.Contains(p, "loss_ghm") && strings.HasSuffix(p, "/"+loss.StateVariableName) {
				if v.Trainable {
					t.Errorf("state %s is trainable", p)
				}
				m[p] = tensors.MustCopyFlatData[float32](v.MustValue())
			}
		}
		return m
	}
	saved := states(tr)
	if len(saved) != 2 {
		t.Fatalf("found GHM states %v, want GHM-C and GHM-R", keys(saved))
	}
	for p, acc := range saved {
		nonZero := false
		for _, a := range acc {
			nonZero = nonZero || a != 0
		}
		if !nonZero {
			t.Fatalf("state %s is all zero after two steps: the test would prove nothing", p)
		}
	}

	path := filepath.Join(t.TempDir(), LastCkpt)
	if err := train.Save(path, tr.Store(), train.Meta{Step: 2, Epoch: 0, Seed: cfg.Seed}); err != nil {
		t.Fatal(err)
	}
	tr2, err := NewTrainer(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Load(path, tr2.Store()); err != nil {
		t.Fatal(err)
	}
	restored := states(tr2)
	if len(restored) != len(saved) {
		t.Fatalf("restored states %v, saved %v", keys(restored), keys(saved))
	}
	for p, acc := range saved {
		if err := sameBits(restored[p], acc); err != "" {
			t.Errorf("restored %s: %s", p, err)
		}
	}

	// The next step continues identically.
	r1, err := tr.StepBatch(batches[2], 3, 0, 30, 10)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := tr2.StepBatch(batches[2], 3, 0, 30, 10)
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(r1.Loss) != math.Float64bits(r2.Loss) {
		t.Errorf("step 3: loss %v after the checkpoint, %v uninterrupted", r2.Loss, r1.Loss)
	}
	after1, after2 := states(tr), states(tr2)
	for p, acc := range after1 {
		if err := sameBits(after2[p], acc); err != "" {
			t.Errorf("state %s after step 3: %s", p, err)
		}
		if sameBits(acc, saved[p]) == "" {
			t.Errorf("state %s did not change at step 3", p)
		}
	}
}

// sameBits describes the first difference between two float32 slices, bit
// for bit ("" when identical).
func sameBits(got, want []float32) string {
	if len(got) != len(want) {
		return fmt.Sprintf("length %d, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return fmt.Sprintf("element %d is %v, want %v", i, got[i], want[i])
		}
	}
	return ""
}

// keys returns the sorted keys of m.
func keys(m map[string][]float32) []string {
	return slices.Sorted(maps.Keys(m))
}
