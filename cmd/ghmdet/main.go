// Command ghmdet trains, evaluates and serves single-stage object detectors
// with the Gradient Harmonizing Mechanism (GHM-C and GHM-R losses).
//
// Run "ghmdet --help" for the list of subcommands.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/internal/backend"
)

// rootCmd is the top-level command; subcommands register themselves in
// their own files' init functions.
var rootCmd = &cobra.Command{
	Use:   "ghmdet",
	Short: "Train, evaluate and serve GHM single-stage object detectors",
	Long: `ghmdet trains RetinaNet-style detectors with the Gradient Harmonizing
Mechanism (GHM-C for classification, GHM-R for box regression) and the
baselines it is compared with, evaluates them with COCO metrics identical to
the reference evaluator, and runs them on images.

Start with "ghmdet demo": it makes its own data, trains, and evaluates.`,
	SilenceUsage:  true,
	SilenceErrors: true,
	// A subcommand with a --backend flag fails before it loads anything when
	// the backend is not compiled in.
	PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
		if f := cmd.Flags().Lookup("backend"); f != nil {
			return backend.Check(f.Value.String())
		}
		return nil
	},
}

// exitError carries a process exit code through cobra without printing an
// extra error line (for example "data check" exits 1 when it found problems).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	// The pure-Go backend's heap reservation is made before anything else
	// allocates (see package internal/backend).
	backend.Prepare()
	if err := rootCmd.Execute(); err != nil {
		if ee, ok := err.(exitError); ok {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "ghmdet:", err)
		os.Exit(1)
	}
}
