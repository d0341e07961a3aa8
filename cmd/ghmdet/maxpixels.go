package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/data/imageio"
)

// maxPixelsFlag is the name of the flag that bounds the size of the images
// a command decodes.
const maxPixelsFlag = "max-pixels"

// addMaxPixelsFlag registers --max-pixels on cmd, a command that decodes
// images, and applies it before the command runs: the limit is set
// process-wide with imageio.SetMaxPixels (every decoder, in every data
// loader worker, reads it), to the flag's value or to the default when the
// flag is not given.
func addMaxPixelsFlag(cmd *cobra.Command) {
	var n int64
	cmd.Flags().Int64Var(&n, maxPixelsFlag, imageio.DefaultMaxPixels,
		"refuse images whose header declares more pixels (width x height) than this, before decoding them")
	next := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if n <= 0 {
			return fmt.Errorf("--%s %d: give a positive number of pixels", maxPixelsFlag, n)
		}
		imageio.SetMaxPixels(n)
		if next != nil {
			return next(c, args)
		}
		return nil
	}
}
