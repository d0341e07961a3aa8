package inference

import (
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
)

// TestResolveFor checks the engine each choice runs on each backend: auto
// is the native engine on the pure-Go backend and the graph on XLA; an
// explicit choice is kept.
func TestResolveFor(t *testing.T) {
	t.Setenv(backend.EnvVar, "")
	t.Setenv("GOMLX_BACKEND", "")
	tests := []struct {
		engine  Engine
		backend string
		want    Engine
	}{
		{EngineAuto, "", EngineNative},
		{"", "go:parallelism=2", EngineNative},
		{EngineAuto, "xla:cuda", EngineGraph},
		{"", "xla:cuda", EngineGraph},
		{EngineNative, "xla:cuda", EngineNative},
		{EngineGraph, "go", EngineGraph},
	}
	for _, tc := range tests {
		if got := tc.engine.ResolveFor(tc.backend); got != tc.want {
			t.Errorf("Engine(%q).ResolveFor(%q) = %q, want %q", tc.engine, tc.backend, got, tc.want)
		}
	}
}
