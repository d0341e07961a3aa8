package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/data/synth"
)

// newSynthCmd returns the "data synth" command, which writes the synthetic
// shapes dataset in the COCO layout.
func newSynthCmd() *cobra.Command {
	cfg := synth.DefaultConfig()
	var out string
	cmd := &cobra.Command{
		Use:   "synth --out DIR",
		Short: "Generate the synthetic long-tailed shapes dataset (COCO format)",
		Long: `synth writes a synthetic detection dataset of coloured shapes (classes:
circle, square, triangle, cross, ring, diamond) with long-tailed class
frequencies, small/medium/large objects, occlusion, cluttered textured
backgrounds and unlabelled distractor shapes (stars, crescents, blobs):

  DIR/annotations/instances_train.json   DIR/train/*.png
  DIR/annotations/instances_val.json     DIR/val/*.png

The output depends only on the flags: the same seed gives the same bytes.
Existing files with the same names are overwritten.`,
		Example: `  ghmdet data synth --out shapes
  ghmdet data synth --out shapes-small --train 100 --val 20 --size 128 --classes 3 --seed 7
  ghmdet train --data shapes/annotations/instances_train.json --val shapes/annotations/instances_val.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("synth needs --out DIR")
			}
			start := time.Now()
			res, err := synth.Write(out, cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, s := range []*synth.SplitResult{res.Train, res.Val} {
				if s != nil {
					fmt.Fprintln(w, s.Summary)
				}
			}
			fmt.Fprintf(w, "wrote %s in %.1fs\n", out, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "output folder (required)")
	f.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	f.IntVar(&cfg.Train, "train", cfg.Train, "number of training images")
	f.IntVar(&cfg.Val, "val", cfg.Val, "number of validation images")
	f.IntVar(&cfg.Size, "size", cfg.Size, "image width and height in pixels")
	f.IntVar(&cfg.Classes, "classes", cfg.Classes, fmt.Sprintf("number of classes (1..%d)", synth.NumClassShapes))
	f.Float64Var(&cfg.Ratio, "ratio", cfg.Ratio, "head-to-tail class frequency ratio (geometric frequencies)")
	f.Float64Var(&cfg.Noise, "noise", cfg.Noise, "label-noise rate: fraction of annotations with a wrong class or a shifted box")
	f.IntVar(&cfg.Workers, "workers", 0, "rendering goroutines (0: number of CPUs; does not change the output)")
	return cmd
}

func init() { dataCmd.AddCommand(newSynthCmd()) }
