package train

import (
	"runtime"
	"runtime/debug"
)

// Versions returns the versions a run records next to its results: Go,
// GoMLX, compute, and the ghmdet source revision when the binary was built
// from a git checkout.
func Versions() map[string]string {
	v := map[string]string{"go": runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, d := range bi.Deps {
		switch d.Path {
		case "github.com/gomlx/gomlx":
			v["gomlx"] = d.Version
		case "github.com/gomlx/compute":
			v["compute"] = d.Version
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v["revision"] = s.Value
		case "vcs.modified":
			v["modified"] = s.Value
		case "GOEXPERIMENT":
			v["goexperiment"] = s.Value
		}
	}
	return v
}
