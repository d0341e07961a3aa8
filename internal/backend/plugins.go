package backend

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
