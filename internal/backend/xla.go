//go:build xla

package backend

import (
	// Registers GoMLX's XLA backend under the names "xla", "stablehlo",
	// "hlo" and "shlo". Its auto-installer (package autoinstall) is not
	// linked: plugins are found, never downloaded.
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
)

func init() {
	xla.EnableAutoInstall(false)
	xlaPlugins = pjrt.AvailablePlugins
}
