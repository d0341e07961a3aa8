package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/detector"
)

func init() {
	var preset, file string
	cmd := &cobra.Command{
		Use:   "config [--preset NAME | --file FILE]",
		Short: "Print a complete run configuration (every setting and its value) as YAML",
		Long: `Print the resolved configuration of a preset, or of a YAML file over its preset,
with every model, data, loss, optimiser and schedule setting. Save it, edit
it, and pass it to "ghmdet train --config FILE".`,
		Example: `  ghmdet config --preset cpu > my.yaml
  ghmdet config --file my.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg detector.Config
			var err error
			if file != "" {
				cfg, err = detector.LoadConfig(file, preset)
			} else {
				cfg, err = detector.Preset(preset)
			}
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			text, err := cfg.YAML()
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), string(text))
			return err
		},
	}
	cmd.Flags().StringVar(&preset, "preset", "cpu", "preset: "+strings.Join(detector.Presets, ", "))
	cmd.Flags().StringVar(&file, "file", "", "YAML configuration file to resolve")
	rootCmd.AddCommand(cmd)
}
