package backend

import (
	"slices"
	"strings"
)

// xlaPlugins, set by the XLA build (build tag xla), lists the PJRT plugins
// the XLA backend finds: name -> file.
var xlaPlugins func() map[string]string

// XLAPlugins returns the PJRT plugins the XLA backend finds (name -> file:
// in $PJRT_PLUGIN_LIBRARY_PATH, a ":"-separated list of folders, else in
// go-xla's default folders and the system's library folders; a plugin file
// is named pjrt_c_api_NAME_plugin.so), and whether the XLA backend is
// compiled in.
func XLAPlugins() (map[string]string, bool) {
	if xlaPlugins == nil {
		return nil, false
	}
	return xlaPlugins(), true
}

// graphBackends are the names under which GoMLX's XLA backend registers.
var graphBackends = []string{"xla", "stablehlo", "hlo", "shlo"}

// PrefersGraph reports whether the backend of a configuration (see Config
// for how an empty string is resolved) runs the GoMLX inference graph
// faster than ghmdet's native CPU engine: XLA (on a GPU, or any PJRT
// plugin) does; the pure-Go backend does not.
func PrefersGraph(config string) bool {
	name, _, _ := strings.Cut(Config(config), ":")
	return slices.Contains(graphBackends, name)
}
