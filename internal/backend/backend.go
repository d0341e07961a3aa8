// Package backend creates the GoMLX compute backend used by every ghmdet
// command and test.
//
// The default is GoMLX's pure-Go backend with an unlimited worker pool
// ("go:parallelism=-1"): with the default pool, graphs with several matrix
// multiplications ready at once can deadlock. The pure-Go backend is the only
// one compiled into the default build; the build tag xla (cgo) adds GoMLX's
// XLA backend ("xla:cuda", "xla:cpu" or "xla:/path/to/plugin.so": a PJRT
// plugin loaded at run time, see XLAPlugins). The environment variable
// GHMDET_BACKEND (or GOMLX_BACKEND) or an explicit configuration string
// selects the backend and its options, and naming a backend that is not
// compiled in (for example "xla:cuda" in the default build) is an error
// that lists the compiled ones.
//
// # Heap reservation
//
// The pure-Go backend's SIMD kernels read up to 60 bytes past the end of a
// buffer (they load a whole vector and mask it). When a buffer ends exactly
// at the top of the Go heap's mapped memory, that read faults and kills the
// process. Before the first pure-Go backend is created (or when a program
// calls Prepare), the heap is therefore grown once, by allocations that are
// dropped at once and never touched: about a third of the memory (two
// thirds of at most half the memory, at most 16 GiB), less where resource
// limits or strict overcommit leave less room. It costs address space, not
// RAM, and later allocations reuse the memory.
//
// What remains: the protection holds while the process's heap stays below
// the top of the reservation. A buffer can again end at the top of the
// mapped heap, and the over-read fault, in a process whose heap outgrows the
// reservation (which is small where limits are tight), in one that had a
// free stretch of heap as large as the reservation before making it (the
// reservation then reuses it instead of raising the heap's top: hence
// Prepare, called before the program allocates much), and where the runtime
// finds the addresses above its heap taken and continues the heap elsewhere
// (the end of the first stretch is then a top too).
package backend

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	// Registers the pure-Go backend under the name "go".
	_ "github.com/gomlx/compute/gobackend"
)

// Default is the backend configuration used when none is given.
const Default = "go:parallelism=-1"

// EnvVar names the environment variable that overrides the default backend.
const EnvVar = "GHMDET_BACKEND"

// Config returns the backend configuration in force: the explicit one if not
// empty, else $GHMDET_BACKEND, else $GOMLX_BACKEND, else Default.
func Config(explicit string) string {
	switch {
	case explicit != "":
		return explicit
	case os.Getenv(EnvVar) != "":
		return os.Getenv(EnvVar)
	case os.Getenv("GOMLX_BACKEND") != "":
		return os.Getenv("GOMLX_BACKEND")
	}
	return Default
}

var (
	mu    sync.Mutex
	cache = map[string]compute.Backend{}
)

// New returns the backend for the given configuration (see Config for how an
// empty string is resolved). Backends are created once per configuration and
// shared: creating one is costly and they are safe for concurrent use. A
// configuration that names a backend not compiled into the program, or that
// the backend rejects, is an error.
func New(config string) (compute.Backend, error) {
	cfg := Config(config)
	mu.Lock()
	defer mu.Unlock()
	if b, ok := cache[cfg]; ok {
		return b, nil
	}
	if err := Check(cfg); err != nil {
		return nil, err
	}
	if name, _, _ := strings.Cut(cfg, ":"); name == "go" {
		reserveHeap()
	}
	b, err := newQuiet(cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", cfg, err)
	}
	cache[cfg] = b
	return b, nil
}

// Check reports whether the backend named by a configuration (see Config
// for how an empty string is resolved) is compiled into the program, without
// creating it: commands call it before loading data so that a wrong backend
// fails at once. The error lists the compiled backends.
func Check(config string) error {
	cfg := Config(config)
	name, _, _ := strings.Cut(cfg, ":")
	compiled := Compiled()
	if !slices.Contains(compiled, name) {
		return fmt.Errorf("backend %q: %q is not compiled into this program (compiled backends: %s)",
			cfg, name, strings.Join(compiled, ", "))
	}
	return nil
}

// Compiled returns the names of the backends compiled into the program,
// sorted.
func Compiled() []string {
	names := compute.List()
	slices.Sort(names)
	return names
}

// MustNew is New for tests and programs that cannot continue without a
// backend; it panics on error.
func MustNew(config string) compute.Backend {
	b, err := New(config)
	if err != nil {
		panic(err)
	}
	return b
}

// newQuiet creates the backend while discarding what the backend prints on
// standard output while configuring itself (the pure-Go backend announces its
// parallelism there, which would corrupt JSON output of the commands). A
// panic of the backend's constructor is returned as an error.
func newQuiet(cfg string) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("creating the backend: %v", r)
		}
	}()
	r, w, err := os.Pipe()
	if err != nil {
		return compute.NewWithConfig(cfg)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
		close(done)
	}()
	defer func() {
		os.Stdout = saved
		_ = w.Close()
		<-done
		_ = r.Close()
	}()
	return compute.NewWithConfig(cfg)
}
