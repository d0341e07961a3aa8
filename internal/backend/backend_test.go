package backend

import (
	"os"
	"strconv"
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

// TestReserveHeapCostsNoMemory checks that the heap reservation made for the
// pure-Go backend does not touch its pages: resident memory grows by far
// less than the reservation.
func TestReserveHeapCostsNoMemory(t *testing.T) {
	const n = 2 << 30
	before := rssBytes(t)
	growHeap(n)
	after := rssBytes(t)
	if grow := after - before; grow > 256<<20 {
		t.Fatalf("growing the heap by %d bytes grew resident memory by %d bytes", n, grow)
	}
}

func rssBytes(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.Atoi(f[1])
	return pages * os.Getpagesize()
}
