package backend

import "testing"

// TestPrefersGraph checks which backend configurations run the inference
// graph rather than the native engine.
func TestPrefersGraph(t *testing.T) {
	t.Setenv(EnvVar, "")
	t.Setenv("GOMLX_BACKEND", "")
	tests := []struct {
		config string
		want   bool
	}{
		{"", false},
		{"go", false},
		{"go:parallelism=8", false},
		{"xla:cuda", true},
		{"xla:/opt/jax_plugins/xla_cuda13/xla_cuda_plugin.so", true},
		{"stablehlo:cpu", true},
		{"xlafoo", false},
	}
	for _, tc := range tests {
		if got := PrefersGraph(tc.config); got != tc.want {
			t.Errorf("PrefersGraph(%q) = %v, want %v", tc.config, got, tc.want)
		}
	}
	t.Setenv(EnvVar, "xla:cuda")
	if !PrefersGraph("") {
		t.Errorf("PrefersGraph(\"\") with $%s=xla:cuda = false, want true", EnvVar)
	}
}
