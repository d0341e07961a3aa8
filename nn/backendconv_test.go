package nn

import (
	"testing"

	"github.com/ghmdet/ghmdet/internal/backend"
)

// TestBuiltinConvBackend checks which backends get GoMLX's built-in
// convolution from ConvAuto: XLA does, the pure-Go backend (the one this
// test runs on) does not.
func TestBuiltinConvBackend(t *testing.T) {
	goName := backend.MustNew("").Name()
	tests := []struct {
		name string
		want bool
	}{
		{"xla", true},
		{"go", false},
		{goName, false},
		{"", false},
	}
	for _, tc := range tests {
		if got := BuiltinConvBackend(tc.name); got != tc.want {
			t.Errorf("BuiltinConvBackend(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
