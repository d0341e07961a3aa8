package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/internal/testrun"
)

// TestExport runs "ghmdet export" on a trained run: an ONNX file holding
// the metadata (ONNX Runtime's agreement with the predictor is package
// onnxexport's test), and the errors of wrong arguments.
func TestExport(t *testing.T) {
	run, err := testrun.Train(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string   // substring of standard output
		stderr string   // substring of standard error
		holds  []string // strings the written file holds
	}{
		{"onnx", []string{"export", "--model", run.Dir, "--format", "onnx", "--out", filepath.Join(dir, "a.onnx")}, 0,
			"ONNX opset 17, input images [batch, 3, 128, 128], 2 classes", "",
			[]string{"ghmdet", "classes", `["circle","square"]`, "preprocessing", "anchors", "box_coder", "Conv", "InstanceNormalization"}},
		{"onnx with nms", []string{"export", "--model", run.Dir, "--nms", "--out", filepath.Join(dir, "b.onnx")}, 0,
			"with NMS", "", []string{"NonMaxSuppression", "detection_boxes"}},
		{"unknown format", []string{"export", "--model", run.Dir, "--format", "tflite", "--out", filepath.Join(dir, "c.onnx")}, 1,
			"", `format "tflite" unknown (allowed: onnx)`, nil},
		{"no output", []string{"export", "--model", run.Dir}, 1, "", "--model and --out are required", nil},
		{"no model", []string{"export", "--model", filepath.Join(dir, "missing"), "--out", filepath.Join(dir, "d.onnx")}, 1,
			"", "missing", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runMain(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("ghmdet %s: status %d, stdout %q, stderr %q; want status %d, stdout with %q, stderr with %q",
					strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
			if tc.holds == nil {
				return
			}
			data, err := os.ReadFile(tc.args[len(tc.args)-1])
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.holds {
				if !bytes.Contains(data, []byte(s)) {
					t.Errorf("the ONNX file holds no %q", s)
				}
			}
		})
	}
}
