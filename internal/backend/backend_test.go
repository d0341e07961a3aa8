package backend

import (
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
