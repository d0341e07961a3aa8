// Package backend creates the GoMLX compute backend used by every ghmdet
// command and test.
//
// The default is GoMLX's pure-Go backend with an unlimited worker pool
// ("go:parallelism=-1"): with the default pool, graphs with several matrix
// multiplications ready at once can deadlock. The backend stays a run-time
// choice: the environment variable GHMDET_BACKEND (or GOMLX_BACKEND) or an
// explicit configuration string selects another one, for example "xla:cuda"
// where a PJRT plugin is installed.
package backend

import (
	"fmt"
	"os"
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
// shared: creating one is costly and they are safe for concurrent use.
func New(config string) (compute.Backend, error) {
	cfg := Config(config)
	mu.Lock()
	defer mu.Unlock()
	if b, ok := cache[cfg]; ok {
		return b, nil
	}
	if strings.HasPrefix(cfg, "go") {
		reserveHeap()
	}
	b, err := newQuiet(cfg)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", cfg, err)
	}
	cache[cfg] = b
	return b, nil
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
// parallelism there, which would corrupt JSON output of the commands).
func newQuiet(cfg string) (compute.Backend, error) {
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
	b, err := compute.NewWithConfig(cfg)
	os.Stdout = saved
	_ = w.Close()
	<-done
	_ = r.Close()
	return b, err
}
