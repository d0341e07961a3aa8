//go:build !xla

package backend

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/internal/testutil"
)

// TestDefaultBuildIsPureGo checks that the default build compiles only the
// pure-Go backend and that the command's dependencies hold neither cgo nor
// the XLA backend (which only the build tag xla adds).
func TestDefaultBuildIsPureGo(t *testing.T) {
	if got := Compiled(); !slices.Equal(got, []string{"go"}) {
		t.Errorf("Compiled() = %v, want [go]", got)
	}
	if _, ok := XLAPlugins(); ok {
		t.Error("XLAPlugins reports the XLA backend compiled in")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "./cmd/ghmdet")
	cmd.Dir = testutil.RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "runtime/cgo" || strings.HasPrefix(dep, "github.com/gomlx/go-xla") {
			t.Errorf("the default build of cmd/ghmdet depends on %s", dep)
		}
	}
}
