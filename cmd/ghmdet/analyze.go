package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/backend"
)

func init() {
	var f trainFlags
	var modelPath, out, split string
	var maxImages int
	var byPosition bool
	cmd := &cobra.Command{
		Use:   "analyze --model CKPT|RUN_DIR --data PATH [flags]",
		Short: "Plot the gradient-norm distribution of a model (the GHM paper's Figure 2)",
		Long: `For the model as it is, compute over the anchors of a dataset the distribution
of the classification gradient norm g = |sigmoid(x) - t| (all valid anchor x
class entries) and of the box-regression gradient norm g = |d|/sqrt(d^2+mu^2)
(positive anchors), and the effective weight that CE, focal loss and GHM-C
(respectively ASL1 and GHM-R) give each g region. Writes gradnorm_cls.png,
gradnorm_box.png and the numbers as CSV into --out.

The model's classes must be the dataset's, with the same names in the same
order (else analyze stops and lists both); --map-by-position analyses anyway,
class k of the model taken as class k of the dataset.`,
		Example: `  ghmdet analyze --model runs/demo-1 --data runs/demo-1/data/annotations/instances_val.json
  ghmdet analyze --model runs/bccd --data ../shared/data/bccd --split test --out analysis`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" || f.data == "" {
				return fmt.Errorf("--model and --data are required")
			}
			cfg, store, err := detector.LoadModel(modelPath)
			if err != nil {
				return err
			}
			ds, err := loadData(cmd, f.data, split, &f, false)
			if err != nil {
				return err
			}
			if err := checkModelClasses(cmd, cfg, ds, modelPath, f.data, byPosition); err != nil {
				return fmt.Errorf("analyze: %w", err)
			}
			b, err := backend.New(f.backend)
			if err != nil {
				return err
			}
			a, err := detector.AnalyzeGradNorm(b, store, cfg, ds, maxImages)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			figs, err := detector.WriteGradNorm(out, a, cfg.Loss.FocalGamma)
			if err != nil {
				return err
			}
			tot := 0.0
			for _, c := range a.ClsCounts {
				tot += c
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d images, %.0f classification entries; fraction with g < 0.1: %.4f, g > 0.9: %.5f\n",
				a.Images, tot, frac(a.ClsCounts, 0, 3)/tot, frac(a.ClsCounts, 27, 30)/tot)
			for _, fg := range figs {
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s/%s\n", out, fg.Path)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&modelPath, "model", "", "checkpoint file or run directory")
	fl.StringVar(&f.data, "data", "", "data: COCO JSON, VOC folder or YOLO data.yaml")
	fl.StringVar(&f.format, "format", "auto", "data format: auto, coco, voc or yolo")
	fl.StringVar(&f.images, "images", "", "image folder (COCO, VOC)")
	fl.StringVar(&split, "split", "", "split to analyse (VOC, YOLO; default all)")
	fl.StringVar(&out, "out", "analysis", "output folder")
	fl.StringVar(&f.backend, "backend", "", "compute backend")
	fl.IntVar(&maxImages, "images-max", 200, "analyse at most this many images (0: all)")
	fl.BoolVar(&byPosition, mapByPositionFlag, false, mapByPositionHelp)
	addMaxPixelsFlag(cmd)
	rootCmd.AddCommand(cmd)
}

func frac(counts []float64, from, to int) float64 {
	s := 0.0
	for i := from; i < to && i < len(counts); i++ {
		s += counts[i]
	}
	return s
}
