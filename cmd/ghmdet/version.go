package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/internal/backend"
)

// Version is the ghmdet release; set at build time with
// -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:     "version",
		Short:   "Print ghmdet, Go and GoMLX versions, the compiled backends and the XLA plugins found",
		Example: `  ghmdet version`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "ghmdet %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, d := range bi.Deps {
					switch d.Path {
					case "github.com/gomlx/gomlx", "github.com/gomlx/compute":
						fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", d.Path, d.Version)
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backends: %s\n", strings.Join(backend.Compiled(), ", "))
			if plugins, ok := backend.XLAPlugins(); ok {
				names := make([]string, 0, len(plugins))
				for name := range plugins {
					names = append(names, name)
				}
				sort.Strings(names)
				if len(names) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "xla: no PJRT plugin found (set PJRT_PLUGIN_LIBRARY_PATH to a folder holding pjrt_c_api_NAME_plugin.so, or name the file: --backend xla:/path/to/plugin.so)\n")
				}
				for _, name := range names {
					fmt.Fprintf(cmd.OutOrStdout(), "xla plugin %s: %s\n", name, plugins[name])
				}
			}
			return nil
		},
	})
}
