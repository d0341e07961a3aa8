package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is the ghmdet release; set at build time with
// -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:     "version",
		Short:   "Print ghmdet, Go and GoMLX versions",
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
			return nil
		},
	})
}
