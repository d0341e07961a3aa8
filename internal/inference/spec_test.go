package inference

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/model"
)

// TestParseSpec checks the keys a Spec reads, the defaults of the keys a
// text lacks, and the errors.
func TestParseSpec(t *testing.T) {
	cpu, err := model.Preset("cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("defaults", func(t *testing.T) {
		s, err := ParseSpec("x", []byte("preset: cpu\nloss:\n  cls: focal\n"))
		if err != nil {
			t.Fatal(err)
		}
		if s.Preset != "cpu" || s.Model.Backbone != cpu.Backbone || s.Model.NumClasses != cpu.NumClasses ||
			s.Anchors.OctaveBaseScale != box.DefaultAnchorConfig().OctaveBaseScale || s.Test != box.DefaultPostProcessConfig() {
			t.Errorf("spec %+v", s)
		}
		if got := s.ClassNames(); len(got) != cpu.NumClasses || got[0] != "class_0" {
			t.Errorf("class names %v", got)
		}
	})
	t.Run("keys read", func(t *testing.T) {
		text := `preset: cpu
classes: [cat, dog]
model:
  num_classes: 2
  input_width: 320
resize:
  long_side: 400
  short_side: 300
augment:
  mean: [1, 2, 3]
  std: [4, 5, 6]
  flip_prob: 0.5
test:
  score_thresh: 0.25
  max_detections: 9
anchors:
  octave_base_scale: 2
`
		s, err := ParseSpec("x", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		tf := s.Transform()
		if s.Model.NumClasses != 2 || s.Model.InputWidth != 320 || s.Model.InputHeight != cpu.InputHeight ||
			tf.LongSide != 400 || tf.ShortSide != 300 || tf.CanvasW != 320 || tf.Mean != [3]float32{1, 2, 3} || tf.Std != [3]float32{4, 5, 6} ||
			tf.FlipProb != 0 || s.Test.ScoreThresh != 0.25 || s.Test.MaxDetections != 9 || s.Anchors.OctaveBaseScale != 2 ||
			s.ClassName(1) != "dog" || s.ClassName(5) != "class_5" {
			t.Errorf("spec %+v, transform %+v", s, tf)
		}
	})
	cases := []struct{ name, text, want string }{
		{"not YAML", "model: [", "x: yaml"},
		{"unknown preset", "preset: huge\n", `preset "huge"`},
		{"classes and num_classes", "classes: [a]\nmodel:\n  num_classes: 2\n", "classes: 1 names but model.num_classes is 2"},
		{"input size", "model:\n  input_width: 100\n", "must be multiples of 32"},
		{"anchors", "model:\n  num_anchors: 4\n", "anchors: 9 anchors per location, but model.num_anchors is 4"},
		{"resize", "resize:\n  long_side: -1\n", "resize: long_side and short_side must be >= 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSpec("x", []byte(c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x: ") {
				t.Fatalf("error %v, want it to start with the name and contain %q", err, c.want)
			}
		})
	}
}

// TestResolveCheckpoint checks which checkpoint a run directory resolves to.
func TestResolveCheckpoint(t *testing.T) {
	mk := func(files ...string) string {
		dir := t.TempDir()
		for _, f := range files {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	both := mk("weights/best.ckpt", "weights/last.ckpt")
	last := mk("weights/last.ckpt")
	none := mk("config.yaml")
	cases := []struct{ name, path, want, wantErr string }{
		{"best before last", both, filepath.Join(both, "weights", "best.ckpt"), ""},
		{"last when no best", last, filepath.Join(last, "weights", "last.ckpt"), ""},
		{"a file as given", filepath.Join(none, "config.yaml"), filepath.Join(none, "config.yaml"), ""},
		{"no checkpoint", none, "", "holds no weights/best.ckpt or weights/last.ckpt"},
		{"missing", filepath.Join(none, "gone"), "", "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveCheckpoint(c.path)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ResolveCheckpoint = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := OpenCheckpoint(filepath.Join(none, "config.yaml")); err == nil {
		t.Error("OpenCheckpoint of a file that is no checkpoint: no error")
	}
}
