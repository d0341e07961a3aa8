package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/formats"
)

// dataCmd is the parent of the dataset subcommands (check, convert, ...).
var dataCmd = &cobra.Command{
	Use:   "data",
	Short: "Check and convert datasets (COCO, Pascal VOC, YOLO)",
	Long: `Dataset tools. A dataset is given by its path: a COCO instances .json
file, a Pascal VOC folder (holding Annotations/), or a YOLO data.yaml (or the
folder holding it). --format overrides the detection.`,
	Example: `  ghmdet data check VOCdevkit/VOC2007
  ghmdet data convert VOCdevkit/VOC2007 --to coco --out voc2007-coco
  ghmdet data synth --out shapes`,
}

// dataFlags are the flags shared by the data subcommands.
type dataFlags struct {
	format, split, images string
	strict                bool
}

func (f *dataFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.format, "format", "auto", "dataset format: auto, coco, voc or yolo")
	cmd.Flags().StringVar(&f.split, "split", "", "split to read (VOC ImageSets/Main/SPLIT.txt, YOLO data.yaml key; empty: all)")
	cmd.Flags().StringVar(&f.images, "images", "", "image folder (COCO, VOC; default: from the dataset layout)")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "treat any problem in the annotations as fatal")
}

func (f *dataFlags) options() formats.Options {
	return formats.Options{Format: f.format, Split: f.split, ImagesDir: f.images, Strict: f.strict}
}

func init() {
	var check dataFlags
	checkCmd := &cobra.Command{
		Use:   "check PATH",
		Short: "List every problem of a dataset and summarise its contents",
		Long: `check reads the dataset, verifies every image (it must exist and decode
in full to the annotated size) and lists every problem with its file and
record: missing, unreadable, corrupt or truncated images, boxes outside the
image (clipped), zero-size or NaN boxes (dropped), unknown classes, duplicate
ids, broken records. It then prints a summary: images, boxes, boxes per class
with the imbalance ratio, box sizes in COCO's small/medium/large buckets,
crowd and difficult boxes.

Exit status: 0 when no problem was found, 1 otherwise. With --strict, check
stops after reading the annotations when they have problems (as a --strict
training run would), without decoding the images.`,
		Example: `  ghmdet data check VOCdevkit/VOC2007
  ghmdet data check VOCdevkit/VOC2007 --split test --strict
  ghmdet data check coco/annotations/instances_val2017.json --images coco/val2017
  ghmdet data check yolo/data.yaml --split val --max-pixels 50000000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := formats.Check(args[0], check.options())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, p := range res.Report.Problems {
				fmt.Fprintf(out, "%s: %s\n", p.Severity, p)
			}
			if err := res.Write(out); err != nil {
				return err
			}
			if !res.Report.Clean() {
				return exitError{1}
			}
			return nil
		},
	}
	check.register(checkCmd)
	addMaxPixelsFlag(checkCmd)

	var conv dataFlags
	var to, out string
	convertCmd := &cobra.Command{
		Use:   "convert PATH --to coco|voc|yolo --out DIR",
		Short: "Convert a dataset to COCO, Pascal VOC or YOLO",
		Long: `convert reads the dataset (the split --split, or every split) and writes it
in the format --to under the folder --out, with the images hard-linked or
copied beside the annotations. Problems met on the way are listed; records
that could not be read are not written.`,
		Example: `  ghmdet data convert VOCdevkit/VOC2007 --to coco --out voc2007-coco
  ghmdet data convert VOCdevkit/VOC2007 --split test --to yolo --out voc2007-test-yolo
  ghmdet data convert coco/annotations/instances_val2017.json --to voc --out coco-val-voc`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" || out == "" {
				return fmt.Errorf("convert needs --to and --out")
			}
			rep, err := formats.Convert(args[0], conv.options(), to, out)
			w := cmd.OutOrStdout()
			var pe *data.ProblemsError
			if rep != nil && !errors.As(err, &pe) {
				for _, p := range rep.Problems {
					fmt.Fprintf(w, "%s: %s\n", p.Severity, p)
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "wrote %s dataset to %s (%s)\n", to, out, rep.Summary())
			return nil
		},
	}
	conv.register(convertCmd)
	convertCmd.Flags().StringVar(&to, "to", "", "output format: coco, voc or yolo")
	convertCmd.Flags().StringVar(&out, "out", "", "output folder")

	dataCmd.AddCommand(checkCmd, convertCmd)
	rootCmd.AddCommand(dataCmd)
}
