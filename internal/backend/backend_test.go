package backend

import (
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestConfig(t *testing.T) {
	t.Setenv(EnvVar, "")
	t.Setenv("GOMLX_BACKEND", "")
	cases := []struct{ explicit, env, want string }{
		{"", "", Default},
		{"xla:cpu", "", "xla:cpu"},
		{"", "go", "go"},
	}
	for _, c := range cases {
		t.Setenv(EnvVar, c.env)
		if got := Config(c.explicit); got != c.want {
			t.Errorf("Config(%q) with %s=%q = %q, want %q", c.explicit, EnvVar, c.env, got, c.want)
		}
	}
}

// TestManyBranchGraphDoesNotHang runs a graph with many independent matrix
// multiplications ready at once (as a shift-sum convolution or parallel FPN
// branches produce). With a bounded worker pool such graphs could deadlock;
// the default configuration must finish.
func TestManyBranchGraphDoesNotHang(t *testing.T) {
	b, err := New(Default)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := NewExec(b, func(x *Node) *Node {
		var sum *Node
		for i := 0; i < 16; i++ {
			y := MatMul(MulScalar(x, float64(i+1)), x)
			if sum == nil {
				sum = y
			} else {
				sum = Add(sum, y)
			}
		}
		return ReduceAllSum(sum)
	})
	if err != nil {
		t.Fatal(err)
	}
	in := make([][]float32, 256)
	for i := range in {
		in[i] = make([]float32, 256)
		in[i][i] = 1
	}
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 3; i++ {
			if _, err := exec.Exec(tensors.FromValue(in)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("graph with 16 parallel matmuls did not finish in 60 s: worker pool deadlock?")
	}
}

// TestNewUnavailableBackend checks that a backend that is not compiled in is
// a one-line error naming the compiled backends, not a panic, and that the
// error leaves standard output as it was.
func TestNewUnavailableBackend(t *testing.T) {
	tests := []struct{ config, want string }{
		{"nosuch", `backend "nosuch": "nosuch" is not compiled into this program (compiled backends: go)`},
		{"xla:cuda", `backend "xla:cuda": "xla" is not compiled into this program (compiled backends: go)`},
		{":x", `backend ":x": "" is not compiled into this program (compiled backends: go)`},
		{"go:bogus", `backend "go:bogus": unknown configuration option "bogus"`},
	}
	stdout := os.Stdout
	for _, tc := range tests {
		var b any
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("New(%q) panicked: %v", tc.config, r)
				}
			}()
			b, err = New(tc.config)
		}()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%q) = %v, %v; want a one-line error starting with %q", tc.config, b, err, tc.want)
		}
		if os.Stdout != stdout {
			t.Fatalf("New(%q) left os.Stdout replaced", tc.config)
		}
	}
	if err := Check("go:parallelism=2"); err != nil {
		t.Errorf("Check of the pure-Go backend: %v", err)
	}
}

// TestNewQuietRecoversPanic checks that a panic while creating a backend
// (compute.NewWithConfig panics on a name it does not know) is returned as
// an error, with standard output restored.
func TestNewQuietRecoversPanic(t *testing.T) {
	stdout := os.Stdout
	_, err := newQuiet("nosuch:x")
	if err == nil || !strings.Contains(err.Error(), `can't find backend "nosuch"`) {
		t.Errorf("newQuiet of an unknown backend: error %v, want the constructor's panic as an error", err)
	}
	if os.Stdout != stdout {
		t.Error("os.Stdout left replaced after a panic")
	}
}
