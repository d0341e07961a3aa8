package bench

import (
	"context"
	"testing"

	"github.com/ghmdet/ghmdet/internal/ortnode"
)

// TestONNXBench runs the ONNX Runtime comparison with few runs and checks
// the result's consistency. It needs onnxruntime-node (package
// onnxexport's test installs it) and is skipped without it.
func TestONNXBench(t *testing.T) {
	if err := ortnode.CheckNode(); err != nil {
		t.Skip(err)
	}
	rt, err := ortnode.Find()
	if err != nil {
		t.Skip(err)
	}
	tests := []struct {
		name string
		opts ONNXOptions
	}{
		{"cpu preset", ONNXOptions{Runtime: rt, Runs: 2, Warmup: 1}},
		{"batch 2, one thread", ONNXOptions{Runtime: rt, Runs: 1, Warmup: 1, Batch: 2, Threads: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ONNXBench(context.Background(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.NativeSamples) != tc.opts.Runs || len(r.ONNXSamples) != tc.opts.Runs {
				t.Errorf("%d native and %d ONNX Runtime samples, want %d", len(r.NativeSamples), len(r.ONNXSamples), tc.opts.Runs)
			}
			if r.NativeS <= 0 || r.ONNXS <= 0 || r.NativeImagesPerS <= 0 || r.ONNXImagesPerS <= 0 {
				t.Errorf("non-positive figures: %+v", r)
			}
			if r.Input != "256x256" || r.ONNXRuntime != ortnode.Version {
				t.Errorf("input %s, ONNX Runtime %q; want 256x256 and %s", r.Input, r.ONNXRuntime, ortnode.Version)
			}
		})
	}
	if _, err := ONNXBench(context.Background(), ONNXOptions{Runtime: rt, Batch: -1}); err == nil {
		t.Error("batch -1: no error")
	}
}
