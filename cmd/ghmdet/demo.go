package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/synth"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/report"
)

// Demo defaults: the data size and training budget that fit the demo in
// about 10 minutes on 2 CPU cores.
const (
	demoTrainImages = 400
	demoValImages   = 100
	demoTimeBudget  = "8m"
)

func init() {
	var out, budget, backendName string
	var seed int64
	var trainN, valN, epochs int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Generate an imbalanced dataset, train a detector with GHM-C + GHM-R, evaluate it",
		Long: `The built-in demo needs nothing but this binary: it generates the built-in
imbalanced shapes dataset (6 classes with a 20:1 head-to-tail ratio, small to
large objects, clutter, occlusion, unlabelled distractors) in COCO format,
trains the "cpu" preset with GHM-C + GHM-R for a bounded time, evaluates on
the held-out part with the COCO metrics, and writes a run directory with the
checkpoints, metrics, plots and a report.`,
		Example: `  ghmdet demo
  ghmdet demo --time-budget 3m --out runs/quick-demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			if out == "" {
				out = nextRunDir("demo")
			}
			t0 := time.Now()
			sc := synth.DefaultConfig()
			sc.Seed, sc.Train, sc.Val = seed, trainN, valN
			dataDir := filepath.Join(out, "data")
			fmt.Fprintf(w, "generating the demo dataset (%d train / %d val images, seed %d) in %s\n", trainN, valN, seed, dataDir)
			res, err := synth.Write(dataDir, sc)
			if err != nil {
				return err
			}
			trainDS, valDS := res.Train.Dataset, res.Val.Dataset
			cfg, err := detector.Preset("cpu")
			if err != nil {
				return err
			}
			cfg.Seed, cfg.Model.Seed = seed, seed
			cfg.Model.NumClasses = len(trainDS.Classes)
			cfg.Train.TimeBudget = budget
			opts := detector.RunOptions{Dir: out, Train: trainDS, Val: valDS, Out: w, Version: Version}
			if cmd.Flags().Changed("epochs") {
				cfg.Train.Epochs, opts.MaxEpochs = epochs, epochs
			}
			if opts.Backend, err = backend.New(backendName); err != nil {
				return err
			}
			intr := watchInterrupts(cmd.ErrOrStderr())
			defer intr.Stop()
			if b, _ := cfg.Train.Budget(); b > 0 {
				fmt.Fprintf(w, "training the %q preset with %s + %s for %s (the epochs that fit)\n", cfg.Preset, cfg.Loss.Cls, cfg.Loss.Reg, budget)
			} else {
				fmt.Fprintf(w, "training the %q preset with %s + %s for %d epochs\n", cfg.Preset, cfg.Loss.Cls, cfg.Loss.Reg, cfg.Train.Epochs)
			}
			sum, err := trainAndFinish(cmd, intr, cfg, opts)
			if err != nil {
				return err
			}
			if sum.Budget != nil {
				fmt.Fprintln(w, sum.Budget)
			}
			fmt.Fprintf(w, "demo finished in %s\n", time.Since(t0).Round(time.Second))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "", "run directory (default runs/demo-N)")
	fl.StringVar(&budget, "time-budget", demoTimeBudget, "training time, final evaluation included (\"0\": --epochs or the preset's epochs)")
	fl.StringVar(&backendName, "backend", "", "compute backend (default \"go\", or $GHMDET_BACKEND)")
	fl.Int64Var(&seed, "seed", 1, "random seed (data, weights, order)")
	fl.IntVar(&trainN, "train-images", demoTrainImages, "generated training images")
	fl.IntVar(&valN, "val-images", demoValImages, "generated held-out images")
	fl.IntVar(&epochs, "epochs", 0, "epochs (with a time budget: the most epochs; default: as many as fit)")
	rootCmd.AddCommand(cmd)
}

// finishRun writes the gradient-norm analysis and the report of a run and
// prints its headline numbers.
func finishRun(cmd *cobra.Command, cfg detector.Config, sum *detector.Summary, trainDS, valDS *data.Dataset, b compute.Backend) error {
	w := cmd.OutOrStdout()
	var extra []report.Figure
	// The gradient-norm distribution of the final model (the GHM paper's
	// Figure 2) on the held-out data, or the training data without one.
	if cfgL, store, err := detector.LoadModel(filepath.Join(sum.Dir, detector.WeightsDir, detector.LastCkpt)); err == nil {
		ds := valDS
		if ds == nil {
			ds = trainDS
		}
		a, err := detector.AnalyzeGradNorm(b, store, cfgL, ds, 100)
		if err != nil {
			return fmt.Errorf("gradient-norm analysis: %w", err)
		}
		if extra, err = detector.WriteGradNorm(sum.Dir, a, cfg.Loss.FocalGamma); err != nil {
			return err
		}
	} else {
		return fmt.Errorf("gradient-norm analysis: %w", err)
	}
	if err := detector.WriteRunReport(sum.Dir, cfg, sum, valDS, sum.FinalDetections, extra); err != nil {
		return fmt.Errorf("run report: %w", err)
	}
	fmt.Fprintf(w, "\nrun directory: %s (%s after %d steps, %d epochs, %.1f images/s)\n", sum.Dir, sum.Stopped, sum.Steps, sum.Epochs, sum.ImagesPerSec)
	if sum.SkippedImages > 0 {
		fmt.Fprintf(w, "skipped %d unreadable training images\n", sum.SkippedImages)
	}
	if sum.Final != nil {
		fmt.Fprintln(w, sum.Final.Summary())
		fmt.Fprintf(w, "AP %.4f  AP50 %.4f  AP75 %.4f  (best AP %.4f at epoch %d)\n", sum.Final.Stats[0], sum.Final.Stats[1], sum.Final.Stats[2], sum.BestAP, sum.BestEpoch)
	}
	fmt.Fprintf(w, "report: %s\n", filepath.Join(sum.Dir, detector.ReportBaseName+".md"))
	return nil
}
