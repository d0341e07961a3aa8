package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/formats"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/study"
)

// studyFlags are the flags of "ghmdet study".
type studyFlags struct {
	trainFlags
	evalSplit, evalData, shard string
	vary, set, baseline, reuse []string
	seeds, rare, analyze       int
	firstSeed                  int64
	allowChange, dryRun        bool
}

func init() {
	var f studyFlags
	cmd := &cobra.Command{
		Use:   "study --data PATH --vary KEY=V1,V2,... [--vary ...] --out DIR [flags]",
		Short: "Compare configurations over several seeds: mean, spread and paired differences with confidence intervals",
		Long: `study trains every combination of the varied settings with every seed, each
run an ordinary run directory (DIR/cls=focal/seed-1: eval, predict and
analyze work on it), evaluates the last checkpoint of every run on one
evaluation split, and writes a report: per setting the mean and standard
deviation over seeds of AP, AP50, AP75, APs/m/l, AR100, the AP of the rarest
training classes and the AP at each IoU threshold .50 to .95; the difference
of each setting from the baseline setting, paired by seed, with its 95%
Student t confidence interval; plots with error bars; the gradient-norm
distribution of one model per setting; the training time of every run
(DIR/study.md, .html, study.csv, study_summary.csv, study_results.json).

--vary KEY=V1,V2,... varies any configuration key (its dotted YAML path, as
in a --config file: loss.cls, loss.ghmc_bins, schedule.steps, ...); values are
YAML and are checked as a configuration file is (commas inside [] separate
list items: --vary 'schedule.steps=[8,11],[16,22]'). Give --vary once per key:
the grid is every combination. --set KEY=VALUE fixes a key for every run.
Every run's configuration is checked before the first run starts.

Fairness: a run's seed (--seeds N: seeds 1..N, or from --first-seed) sets
its weight initialisation, data order and augmentation, so the runs of one
seed see the same images in the same order whatever their setting; every run
trains the same epochs (--epochs, default the configuration's) or, with
--time-budget, for the same time (the epochs that fit then differ; the report
says so); every run's last checkpoint is evaluated on the same data: the
validation data by default, or --eval-split (another split of a VOC or YOLO
--data, such as test) or --eval-data (another dataset).

Rerunning the same command skips finished runs and resumes an interrupted
one (Ctrl-C saves a checkpoint). DIR/study.json records the study; another
grid, seeds or options in the same folder are refused unless --allow-change.
--shard i/n runs every n-th run from the i-th (processes sharing DIR, such as
a Slurm array or a Kubernetes indexed job; a lock file per run keeps two
processes off one run); "ghmdet study report DIR" merges the runs finished
so far. --dry-run checks everything and lists the runs without running them.

--reuse OTHER_DIR takes the trained runs of another study instead of training
them again: a run whose configuration (config.yaml, seed included) is the one
this study gives it, byte for byte, trained on the same training data, is
copied and evaluated here (for example the GHM-C + smooth L1 runs of a
classification-loss study in a box-loss study with GHM-C fixed).`,
		Example: `  ghmdet study --data shapes/annotations/instances_train.json --val shapes/annotations/instances_val.json --vary loss.cls=ce,ohem,focal,ghmc --seeds 3 --epochs 16 --baseline loss.cls=focal --out studies/cls
  ghmdet study --data ../shared/data/bccd --eval-split test --preset mobilenet --backbone-weights ../shared/data/mobilenet/mobilenet_v2_1.0_224_quant.tflite --vary loss.cls=focal,ghmc --out studies/bccd
  ghmdet study --data shapes/annotations/instances_train.json --val shapes/annotations/instances_val.json --vary loss.ghmc_bins=5,10,30 --vary loss.ghmc_momentum=0,0.75 --shard 1/2 --out studies/bins
  ghmdet study report studies/cls`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStudy(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "training data: COCO JSON, VOC folder or YOLO data.yaml")
	fl.StringVar(&f.val, "val", "", "validation data (default: the \"val\" split of --data for VOC and YOLO)")
	fl.StringVar(&f.format, "format", "auto", "data format: auto, coco, voc or yolo")
	fl.StringVar(&f.images, "images", "", "image folder (COCO, VOC), when not in the standard layout")
	fl.StringVar(&f.trainSplit, "split", "train", "training split (VOC, YOLO)")
	fl.StringVar(&f.valSplit, "val-split", "val", "validation split (VOC, YOLO)")
	fl.StringVar(&f.evalSplit, "eval-split", "", "split of --data (VOC, YOLO; of --eval-data when given) for the final evaluation (default: the validation data)")
	fl.StringVar(&f.evalData, "eval-data", "", "dataset of the final evaluation (default: the validation data)")
	fl.StringVar(&f.config, "config", "", "YAML configuration file (overrides the preset)")
	fl.StringVar(&f.preset, "preset", "cpu", "configuration preset: "+strings.Join(detector.Presets, ", "))
	fl.StringArrayVar(&f.vary, "vary", nil, "KEY=V1,V2,...: a configuration key and its values (repeat for more keys: every combination is run)")
	fl.StringArrayVar(&f.set, "set", nil, "KEY=VALUE: a configuration value for every run (repeatable)")
	fl.StringArrayVar(&f.baseline, "baseline", nil, "KEY=VALUE: the setting the others are compared with (default: the first value of the first --vary)")
	fl.IntVar(&f.seeds, "seeds", 3, "number of seeds per setting")
	fl.Int64Var(&f.firstSeed, "first-seed", 1, "first seed (the seeds are first-seed, first-seed+1, ...)")
	fl.IntVar(&f.epochs, "epochs", 0, "epochs of every run (default: the configuration's; with --time-budget: the most epochs)")
	fl.StringVar(&f.timeBudget, "time-budget", "", "train every run for this long instead (e.g. 10m; the epochs that fit differ between runs)")
	fl.StringVar(&f.out, "out", "", "study folder (required)")
	fl.StringVar(&f.shard, "shard", "", "run only shard i/n of the grid (processes sharing the study folder)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "check every run's configuration and list the runs, without running or writing anything")
	fl.StringArrayVar(&f.reuse, "reuse", nil, "another study folder whose trained runs with the same configuration and training data are copied instead of trained (repeatable)")
	fl.BoolVar(&f.allowChange, "allow-change", false, "let this study replace another one recorded in the folder (runs with an unchanged configuration are kept)")
	fl.StringVar(&f.backend, "backend", "", "compute backend (default \"go\", or $GHMDET_BACKEND)")
	fl.StringVar(&f.weights, "backbone-weights", "", "pretrained backbone weights (a MobileNetV2 .tflite file for --backbone mobilenetv2)")
	fl.IntVar(&f.batch, "batch", 0, "images per step")
	fl.IntVar(&f.workers, "workers", 0, "image decoding goroutines (0: all cores)")
	fl.BoolVar(&f.strict, "strict", false, "make bad data records fatal")
	fl.IntVar(&f.rare, "rare", study.DefaultRareClasses, "number of rarest training classes whose AP the report shows")
	fl.IntVar(&f.analyze, "analyze-images", study.DefaultAnalyzeImages, "evaluation images of the gradient-norm analysis of each run")
	addMaxPixelsFlag(cmd)
	cmd.AddCommand(newStudyReportCmd())
	rootCmd.AddCommand(cmd)
}

// newStudyReportCmd returns "ghmdet study report DIR".
func newStudyReportCmd() *cobra.Command {
	var baseline []string
	var rare int
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Write the report of a study from the runs finished so far",
		Long: `report reads the study folder DIR (its study.json and the result of every
finished run, whichever process ran it) and writes the study's report:
DIR/study.md, study.html, study.csv, study_summary.csv, study_results.json
and the figures. It trains nothing.`,
		Example: `  ghmdet study report studies/cls
  ghmdet study report studies/bins --baseline loss.ghmc_bins=30 --baseline loss.ghmc_momentum=0.75`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := study.ReportOptions{RareClasses: rare}
			if rare == 0 {
				opts.RareClasses = -1
			}
			var err error
			if opts.Baseline, err = parseAssignments("--baseline", baseline); err != nil {
				return err
			}
			rep, err := study.WriteReport(args[0], opts)
			if err != nil {
				return err
			}
			printStudy(cmd, args[0], rep)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&baseline, "baseline", nil, "KEY=VALUE: the setting the others are compared with (default: the study's)")
	cmd.Flags().IntVar(&rare, "rare", study.DefaultRareClasses, "number of rarest training classes whose AP the report shows")
	return cmd
}

// parseAssignments parses the KEY=VALUE values of a repeated flag.
func parseAssignments(flag string, specs []string) ([]study.Assignment, error) {
	var out []study.Assignment
	for _, s := range specs {
		a, err := study.ParseAssignment(s)
		if err != nil {
			return nil, fmt.Errorf("%s %w", flag, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// runStudy loads the data, builds the study's options from the flags and
// runs it.
func runStudy(cmd *cobra.Command, f *studyFlags) error {
	if f.data == "" {
		return errors.New("study: --data is required (a COCO JSON, a VOC folder or a YOLO data.yaml)")
	}
	if f.out == "" {
		return errors.New("study: --out is required (the study folder; run the same command again to resume)")
	}
	if f.seeds < 1 {
		return fmt.Errorf("study: --seeds %d: give at least 1", f.seeds)
	}
	spec := study.Spec{Epochs: f.epochs, TimeBudget: f.timeBudget}
	for i := range f.seeds {
		spec.Seeds = append(spec.Seeds, f.firstSeed+int64(i))
	}
	for _, v := range f.vary {
		ax, err := study.ParseAxis(v)
		if err != nil {
			return fmt.Errorf("--vary %w", err)
		}
		spec.Axes = append(spec.Axes, ax)
	}
	var err error
	if spec.Set, err = parseAssignments("--set", f.set); err != nil {
		return err
	}
	if spec.Baseline, err = parseAssignments("--baseline", f.baseline); err != nil {
		return err
	}
	var shard study.Shard
	if f.shard != "" {
		if shard, err = study.ParseShard(f.shard); err != nil {
			return fmt.Errorf("--shard: %w", err)
		}
	}
	base, err := resolveConfig(cmd, &f.trainFlags)
	if err != nil {
		return err
	}

	// The data: training, validation during training, final evaluation.
	trainSplit := splitFor(f.data, f.format, f.trainSplit)
	trainDS, err := loadData(cmd, f.data, trainSplit, &f.trainFlags, base.Train.Strict)
	if err != nil {
		return err
	}
	var valDS *data.Dataset
	valName := ""
	switch {
	case f.val != "":
		if valDS, err = loadData(cmd, f.val, "", &f.trainFlags, base.Train.Strict); err != nil {
			return err
		}
		valName = f.val
	case trainSplit != "" && f.valSplit != "":
		if valDS, err = loadData(cmd, f.data, f.valSplit, &f.trainFlags, base.Train.Strict); err != nil {
			return fmt.Errorf("validation split %q: %w (use --val-split \"\" to train without evaluation during training)", f.valSplit, err)
		}
		valName = fmt.Sprintf("split %q of %s", f.valSplit, f.data)
	}
	evalDS, evalName, err := studyEvalData(cmd, f, valDS, valName, base.Train.Strict)
	if err != nil {
		return err
	}
	b, err := backend.New(f.backend)
	if err != nil {
		return err
	}
	intr := watchInterrupts(cmd.ErrOrStderr())
	defer intr.Stop()
	intr.Saved("the runs finished are kept, the run under way may have lost its last epoch; run the same command again to continue")
	rare := f.rare
	if rare == 0 {
		rare = -1
	}
	oc, err := study.Run(intr.Context(), study.Options{
		Dir: f.out, Spec: spec, Base: base, Train: trainDS, Val: valDS, Eval: evalDS,
		EvalName: fmt.Sprintf("%s (%d images, %d boxes)", evalName, len(evalDS.Images), evalDS.NumObjects()),
		Backend:  b, Shard: shard, AllowChange: f.allowChange, AnalyzeImages: f.analyze, Reuse: f.reuse,
		Report: study.ReportOptions{RareClasses: rare}, Out: cmd.OutOrStdout(), Version: Version, DryRun: f.dryRun,
	})
	if err != nil {
		return err
	}
	if oc.Report != nil {
		printStudy(cmd, f.out, oc.Report)
	}
	return nil
}

// studyEvalData returns the data of the final evaluation and its
// description: --eval-data and/or --eval-split, else the validation data.
func studyEvalData(cmd *cobra.Command, f *studyFlags, val *data.Dataset, valName string, strict bool) (*data.Dataset, string, error) {
	if f.evalData == "" && f.evalSplit == "" {
		if val == nil {
			return nil, "", errors.New("study: no evaluation data: give validation data (--val, or --val-split for VOC and YOLO), --eval-split or --eval-data")
		}
		return val, valName, nil
	}
	path := f.evalData
	if path == "" {
		path = f.data
	}
	format := f.format
	if format == "" || format == "auto" {
		var err error
		if format, err = formats.Detect(path); err != nil {
			return nil, "", err
		}
	}
	switch {
	case format == formats.COCO && f.evalSplit != "":
		return nil, "", fmt.Errorf("study: --eval-split %q: %s is a COCO file, which holds one split; give the evaluation JSON with --eval-data", f.evalSplit, path)
	case format != formats.COCO && f.evalSplit == "":
		return nil, "", fmt.Errorf("study: --eval-data %s: give the split to evaluate with --eval-split (such as test)", path)
	}
	ds, err := loadData(cmd, path, f.evalSplit, &f.trainFlags, strict)
	if err != nil {
		return nil, "", fmt.Errorf("evaluation data: %w", err)
	}
	if f.evalSplit != "" {
		return ds, fmt.Sprintf("split %q of %s", f.evalSplit, path), nil
	}
	return ds, path, nil
}

// printStudy prints the headline numbers of a study's report.
func printStudy(cmd *cobra.Command, dir string, rep *study.Report) {
	w := cmd.OutOrStdout()
	fmt.Fprint(w, rep.Text())
	fmt.Fprintf(w, "report: %s/%s.md (%d of %d runs finished)\n", strings.TrimRight(dir, "/"), study.ReportBase, rep.GridRuns-len(rep.Missing), rep.GridRuns)
}
