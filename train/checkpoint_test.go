package train

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// trainedLinear returns a store after two SGD steps of the linear model: it
// holds the parameters, the momentum buffers, the update counter and the
// loss state /lin/ema.
func trainedLinear(t *testing.T) *model.Store {
	t.Helper()
	store := model.NewStore()
	step, err := NewStep(backend.MustNew(""), store, linearLoss, []string{"mse", "mae"}, DefaultOptimizer())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		x, y := linBatch(5, i)
		if _, err := step.Run(i, 0.01, x, y); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

func TestCheckpointRoundTrip(t *testing.T) {
	store := trainedLinear(t)
	// An extra non-float state variable, to cover other dtypes.
	if _, err := store.CreateVariable("/extra/flags", tensors.FromValue([]int32{1, -2, 3})); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, store)
	for _, p := range []string{"/lin/w", "/lin/b", "/lin/ema", "/optimizer/momentum/lin/w", "/optimizer/momentum/lin/b", CounterPath} {
		if _, ok := want[p]; !ok {
			t.Fatalf("test store lacks %q", p)
		}
	}
	path := filepath.Join(t.TempDir(), "a.ckpt")
	meta := Meta{Step: 2, Epoch: 1, Seed: 42, Config: "optimizer:\n  name: sgd\n", Extra: map[string]string{"sampler": "x"}}
	if err := Save(path, store, meta); err != nil {
		t.Fatal(err)
	}

	fresh := model.NewStore()
	got, err := Load(path, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != 2 || got.Epoch != 1 || got.Seed != 42 || got.Config != meta.Config || got.Extra["sampler"] != "x" {
		t.Errorf("meta %+v", got)
	}
	if got.Go == "" || got.GoMLX == "" || got.Time.IsZero() {
		t.Errorf("versions/time not recorded: %+v", got)
	}
	if fresh.NumVariables() != store.NumVariables() {
		t.Errorf("loaded %d variables, want %d", fresh.NumVariables(), store.NumVariables())
	}
	gotVals := snapshot(t, fresh)
	for v := range store.IterVariables() {
		nv := fresh.GetVariable(v.Path())
		if nv == nil {
			t.Errorf("variable %q not loaded", v.Path())
			continue
		}
		if !nv.Shape().Equal(v.Shape()) || nv.Trainable != v.Trainable {
			t.Errorf("%q: shape %s trainable %v, want %s %v", v.Path(), nv.Shape(), nv.Trainable, v.Shape(), v.Trainable)
		}
		if gotVals[v.Path()] != want[v.Path()] {
			t.Errorf("%q: value differs after round trip", v.Path())
		}
	}

	// Loading into a store whose variables already exist (built model):
	// values replaced, trainable flags kept.
	built := model.NewStore()
	w, _ := built.CreateVariable("/lin/w", tensors.FromShape(shapes.Make(dtypes.Float32, 3, 1)))
	w.SetTrainable(false)
	// A variable declared by graph building but not yet initialised.
	b := built.VariableWithShape("/lin/b", shapes.Make(dtypes.Float32, 1), nil)
	if _, err := Load(path, built); err != nil {
		t.Fatal(err)
	}
	loaded := snapshot(t, built)
	if w.Trainable || loaded["/lin/w"] != want["/lin/w"] || loaded["/lin/b"] != want["/lin/b"] || !b.HasValue() {
		t.Errorf("existing variables: trainable %v or values not loaded", w.Trainable)
	}

	m, index, err := ReadMeta(path)
	if err != nil || m.Step != 2 || len(index) != store.NumVariables() {
		t.Errorf("ReadMeta: %v %+v %d", err, m, len(index))
	}
}

func TestCheckpointIncompatible(t *testing.T) {
	store := trainedLinear(t)
	path := filepath.Join(t.TempDir(), "a.ckpt")
	if err := Save(path, store, Meta{Step: 2}); err != nil {
		t.Fatal(err)
	}

	// Same name, other shape.
	other := model.NewStore()
	wShape := shapes.Make(dtypes.Float32, 4, 1)
	w, _ := other.CreateVariable("/lin/w", tensors.FromShape(wShape))
	before := snapshot(t, other)
	_, err := Load(path, other)
	if !errors.Is(err, ErrIncompatible) {
		t.Fatalf("error %v, want ErrIncompatible", err)
	}
	ckptShape := shapes.Make(dtypes.Float32, 3, 1)
	for _, s := range []string{`"/lin/w"`, ckptShape.String(), wShape.String(), "incompatible config"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	if snapshot(t, other)["/lin/w"] != before["/lin/w"] || other.NumVariables() != 1 || !w.Shape().Equal(wShape) {
		t.Error("failed load modified the store")
	}

	// Other dtype.
	other = model.NewStore()
	_, _ = other.CreateVariable("/lin/b", tensors.FromValue([]float64{0}))
	if _, err := Load(path, other); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "/lin/b") {
		t.Errorf("dtype mismatch: %v", err)
	}

	// A model variable the checkpoint lacks.
	other = model.NewStore()
	_, _ = other.CreateVariable("/head/extra", tensors.FromValue([]float32{0}))
	if _, err := Load(path, other); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "/head/extra") {
		t.Errorf("missing variable: %v", err)
	}
}

func TestCheckpointCorrupt(t *testing.T) {
	store := trainedLinear(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.ckpt")
	if err := Save(path, store, Meta{Step: 2}); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, index, err := ReadMeta(path)
	if err != nil {
		t.Fatal(err)
	}
	dataStart := len(good) - int(index[len(index)-1].Offset+index[len(index)-1].Size)

	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a checkpoint or truncated"},
		{"bad magic", flip(0), "bad magic"},
		{"bad version", flip(8), "version"},
		{"header crc", flip(40), "corrupt header"},
		{"data crc", flip(dataStart + 5), "corrupt data"},
		{"last byte", flip(len(good) - 1), "corrupt data"},
		{"trailing byte", append(bytes.Clone(good), 0), "trailing"},
		{"huge header length", func() []byte { b := bytes.Clone(good); b[15] = 0x7f; return b }(), "header length"},
		{"text file", []byte("step: 3\nlr: 0.01\n and more text here"), "bad magic"},
	}
	// Truncation at every length.
	for n := 0; n < len(good); n++ {
		cases = append(cases, struct {
			name string
			data []byte
			want string
		}{fmt.Sprintf("truncated at %d", n), good[:n], ""})
	}
	target := trainedLinear(t)
	before := snapshot(t, target)
	bad := filepath.Join(dir, "bad.ckpt")
	for _, tc := range cases {
		if err := os.WriteFile(bad, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(bad, target)
		if err == nil {
			t.Errorf("%s: loaded without error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want the file name and %q", tc.name, err, tc.want)
		}
		if _, _, err := ReadMeta(bad); err == nil && tc.want != "corrupt data" && tc.want != "" {
			t.Errorf("%s: ReadMeta accepted it", tc.name)
		}
	}
	after := snapshot(t, target)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("variable %q modified by failed loads", k)
		}
	}
	if _, err := Load(filepath.Join(dir, "absent.ckpt"), target); err == nil {
		t.Error("absent file loaded")
	}
}

// failAfter is a writer that fails after n bytes.
type failAfter struct {
	w io.Writer
	n int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errors.New("disk full (simulated)")
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func TestCheckpointAtomic(t *testing.T) {
	store := trainedLinear(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.ckpt")
	if err := Save(path, store, Meta{Step: 2}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)

	// Change the store, then fail in the middle of the data section.
	x, y := linBatch(5, 3)
	step, _ := NewStep(backend.MustNew(""), store, linearLoss, []string{"mse", "mae"}, DefaultOptimizer())
	if _, err := step.Run(3, 0.01, x, y); err != nil {
		t.Fatal(err)
	}
	// The failure points lie strictly inside the save under test, measured
	// by doing it elsewhere first (a fixed time keeps its length the same:
	// the JSON header holds the time with a varying number of digits).
	meta := Meta{Step: 3, Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)}
	measure := filepath.Join(t.TempDir(), "measure.ckpt")
	if err := Save(measure, store, meta); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(measure)
	if err != nil {
		t.Fatal(err)
	}
	size := int(fi.Size())
	for _, n := range []int{0, 10, size / 2, size - 3} {
		err := save(path, store, meta, func(w io.Writer) io.Writer { return &failAfter{w: w, n: n} })
		if err == nil || !strings.Contains(err.Error(), "simulated") {
			t.Fatalf("failing a %d-byte save after %d bytes: %v", size, n, err)
		}
		now, _ := os.ReadFile(path)
		if !bytes.Equal(now, good) {
			t.Fatalf("failed save after %d bytes changed the previous checkpoint", n)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want only a.ckpt (temporary files left behind)", names)
	}
	if m, err := Load(path, model.NewStore()); err != nil || m.Step != 2 {
		t.Errorf("previous checkpoint unreadable: %v", err)
	}

	// A variable without a value fails before anything is written.
	store.VariableWithShape("/late/v", shapes.Make(dtypes.Float32, 2), nil)
	if err := Save(path, store, Meta{}); err == nil || !strings.Contains(err.Error(), "/late/v") {
		t.Errorf("save with an uninitialised variable: %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
		t.Error("failed save changed the previous checkpoint")
	}
}
