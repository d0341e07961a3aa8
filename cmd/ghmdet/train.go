package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/formats"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/train"
)

// trainFlags are the command-line overrides of a run configuration.
type trainFlags struct {
	data, val, format, images, trainSplit, valSplit string
	config, preset, out, resume, timeBudget         string
	backend, lossCls, lossReg, backbone, weights    string
	epochs, batch, workers, groupSize               int
	lr                                              float64
	seed                                            int64
	strict                                          bool
}

func init() {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train --data PATH [flags]",
		Short: "Train a detector on a COCO, Pascal VOC or YOLO dataset",
		Long: `Train a RetinaNet-style detector with GHM-C + GHM-R (or a baseline loss).

PATH is a COCO instances JSON, a Pascal VOC folder or a YOLO data.yaml (the
format is detected; --format forces it). For VOC and YOLO the "train" split
trains and the "val" split evaluates; for COCO give the validation JSON with
--val. Settings come from a preset (--preset, default "cpu"), then a YAML
config file (--config), then the flags below. The resolved configuration,
metrics, checkpoints (weights/last.ckpt, weights/best.ckpt), plots and a
report are written to the run directory (--out).

With --time-budget the budget sets the length of training, evaluations
included: the run is planned, and re-planned after every epoch from the
measured times, to the most epochs that fit (more or fewer than the preset's;
--epochs caps them), with the learning-rate decays kept at the same fractions
of the run. The last line printed reports the budget used.

Ctrl-C saves a checkpoint, writes the report and exits (a second Ctrl-C exits
at once); --resume RUN_DIR continues from the checkpoint, with the planned
epochs and the budget left.`,
		Example: `  ghmdet train --data ../shared/data/bccd --time-budget 20m --out runs/bccd
  ghmdet train --data coco/annotations/instances_train2017.json --val coco/annotations/instances_val2017.json --preset reference
  ghmdet train --data ../shared/data/bccd --preset mobilenet --backbone-weights ../shared/data/mobilenet/mobilenet_v2_1.0_224_quant.tflite
  ghmdet train --resume runs/bccd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTrain(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "training data: COCO JSON, VOC folder or YOLO data.yaml")
	fl.StringVar(&f.val, "val", "", "validation data (default: the \"val\" split of --data for VOC and YOLO)")
	fl.StringVar(&f.format, "format", "auto", "data format: auto, coco, voc or yolo")
	fl.StringVar(&f.images, "images", "", "image folder (COCO, VOC), when not in the standard layout")
	fl.StringVar(&f.trainSplit, "split", "train", "training split (VOC, YOLO)")
	fl.StringVar(&f.valSplit, "val-split", "val", "validation split (VOC, YOLO)")
	fl.StringVar(&f.config, "config", "", "YAML configuration file (overrides the preset)")
	fl.StringVar(&f.preset, "preset", "cpu", "configuration preset: "+strings.Join(detector.Presets, ", "))
	fl.StringVar(&f.out, "out", "", "run directory (default runs/train-N)")
	fl.StringVar(&f.resume, "resume", "", "continue the run in this directory from its last checkpoint")
	fl.StringVar(&f.timeBudget, "time-budget", "", "train for this long (e.g. 20m), final evaluation included: the budget sets the number of epochs (--epochs caps it)")
	fl.StringVar(&f.backend, "backend", "", "compute backend (default \"go\", or $GHMDET_BACKEND)")
	fl.StringVar(&f.backbone, "backbone", "", "backbone: resnet18, resnet34, resnet50, tiny or mobilenetv2")
	fl.StringVar(&f.weights, "backbone-weights", "", "pretrained backbone weights (a MobileNetV2 .tflite file for --backbone mobilenetv2)")
	fl.StringVar(&f.lossCls, "loss-cls", "", "classification loss: "+strings.Join(detector.ClsLosses, ", "))
	fl.StringVar(&f.lossReg, "loss-reg", "", "box loss: "+strings.Join(detector.RegLosses, ", "))
	fl.IntVar(&f.epochs, "epochs", 0, "number of epochs (with --time-budget: the most epochs)")
	fl.IntVar(&f.batch, "batch", 0, "images per step")
	fl.IntVar(&f.workers, "workers", 0, "image decoding goroutines (0: all cores)")
	fl.IntVar(&f.groupSize, "group-size", 0, "images per loss call (reference: 2)")
	fl.Float64Var(&f.lr, "lr", 0, "base learning rate (for optimizer.base_batch images when that is set, scaled linearly to the batch: the reference preset gives it for batch 16)")
	fl.Int64Var(&f.seed, "seed", 0, "random seed (weights, data order, augmentation)")
	fl.BoolVar(&f.strict, "strict", false, "make bad data records fatal")
	addMaxPixelsFlag(cmd)
	rootCmd.AddCommand(cmd)
}

// resolveConfig builds the run configuration from preset, file and flags.
func resolveConfig(cmd *cobra.Command, f *trainFlags) (detector.Config, error) {
	var cfg detector.Config
	var err error
	if f.config != "" {
		cfg, err = detector.LoadConfig(f.config, f.preset)
	} else {
		cfg, err = detector.Preset(f.preset)
	}
	if err != nil {
		return cfg, err
	}
	applyFlags(cmd, f, &cfg)
	return cfg, nil
}

// applyFlags overrides cfg with the flags given on the command line.
func applyFlags(cmd *cobra.Command, f *trainFlags, cfg *detector.Config) {
	fl := cmd.Flags()
	if fl.Changed("epochs") {
		// A new run keeps its learning-rate decays at the same fractions of
		// its length (the cpu preset's decays after 16 and 22 of 24 epochs
		// become 8 and 11 of 12); a resumed run keeps the decays it has.
		if old := cfg.Train.Epochs; f.resume == "" && old > 0 && f.epochs > 0 {
			cfg.Schedule.Steps = train.RescaleSteps(cfg.Schedule.Steps, old, f.epochs, cfg.Schedule.Steps, 0)
		}
		cfg.Train.Epochs = f.epochs
	}
	if fl.Changed("batch") {
		cfg.Train.BatchSize = f.batch
	}
	if fl.Changed("workers") {
		cfg.Train.Workers = f.workers
	}
	if fl.Changed("group-size") {
		cfg.Loss.GroupSize = f.groupSize
	}
	if fl.Changed("lr") {
		cfg.Optimizer.LR = f.lr
	}
	if fl.Changed("seed") {
		cfg.Seed = f.seed
		cfg.Model.Seed = f.seed
	}
	if fl.Changed("time-budget") {
		cfg.Train.TimeBudget = f.timeBudget
	}
	if fl.Changed("strict") {
		cfg.Train.Strict = f.strict
	}
	if f.lossCls != "" {
		cfg.Loss.Cls = f.lossCls
	}
	if f.lossReg != "" {
		cfg.Loss.Reg = f.lossReg
	}
	if f.backbone != "" {
		cfg.Model.Backbone = f.backbone
	}
	if f.weights != "" {
		cfg.Model.BackboneWeights = f.weights
	}
}

// splitFor returns the split to read from the dataset at path: none for a
// COCO file (it holds one split), split otherwise.
func splitFor(path, format, split string) string {
	if format == "" || format == "auto" {
		format, _ = formats.Detect(path)
	}
	if format == "coco" {
		return ""
	}
	return split
}

// loadData reads one split and prints what was skipped.
func loadData(cmd *cobra.Command, path, split string, f *trainFlags, strict bool) (*data.Dataset, error) {
	ds, rep, err := formats.Load(path, formats.Options{Format: f.format, Split: split, ImagesDir: f.images, Strict: strict})
	if err != nil {
		return nil, err
	}
	if rep != nil && len(rep.Problems) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d data problems (bad records skipped; run \"ghmdet data check\" for the list)\n", path, len(rep.Problems))
	}
	return ds, nil
}

func nextRunDir(base string) string {
	for i := 1; ; i++ {
		d := filepath.Join("runs", fmt.Sprintf("%s-%d", base, i))
		if _, err := os.Stat(d); os.IsNotExist(err) {
			return d
		}
	}
}

// exitInterrupted is the exit status after a second interrupt (128 + SIGINT).
const exitInterrupted = 130

// interrupts handles Ctrl-C (SIGINT) and SIGTERM during a training command.
// While training, the first interrupt cancels the context (the run saves a
// checkpoint and stops cleanly) and a second one ends the program at once,
// with a message saying what is saved. Once training is over (Finishing),
// the first interrupt ends the program: the evaluation, analysis and report
// that follow training take no context, and ending the program is what
// stops them promptly. Checkpoints and reports are written atomically, so
// ending the program never leaves a half-written file in their place.
type interrupts struct {
	ctx    context.Context
	cancel context.CancelFunc
	out    io.Writer
	exit   func(code int)
	sigs   chan os.Signal
	done   chan struct{}

	mu        sync.Mutex
	saved     string // what is saved, for the message of an early exit
	finishing bool
}

// watchInterrupts starts handling the process's interrupts; messages go to
// out. Stop ends the handling.
func watchInterrupts(out io.Writer) *interrupts {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	return newInterrupts(sigs, out, os.Exit)
}

// newInterrupts handles the signals received on sigs, calling exit to end
// the program (the testable part of watchInterrupts).
func newInterrupts(sigs chan os.Signal, out io.Writer, exit func(int)) *interrupts {
	ctx, cancel := context.WithCancel(context.Background())
	h := &interrupts{ctx: ctx, cancel: cancel, out: out, exit: exit, sigs: sigs, done: make(chan struct{})}
	go h.loop()
	return h
}

// Context is cancelled by the first interrupt while training.
func (h *interrupts) Context() context.Context { return h.ctx }

// Saved sets what the message of an early exit says is saved.
func (h *interrupts) Saved(msg string) {
	h.mu.Lock()
	h.saved = msg
	h.mu.Unlock()
}

// Finishing tells that training is over: from now on an interrupt ends the
// program; msg says what is saved.
func (h *interrupts) Finishing(msg string) {
	h.mu.Lock()
	h.saved, h.finishing = msg, true
	h.mu.Unlock()
}

// Stop ends the handling of interrupts (the default behaviour returns).
func (h *interrupts) Stop() {
	signal.Stop(h.sigs)
	close(h.done)
	h.cancel()
}

func (h *interrupts) loop() {
	for {
		select {
		case <-h.done:
			return
		case s := <-h.sigs:
			select {
			case <-h.done:
				return
			default:
			}
			h.mu.Lock()
			saved, finishing := h.saved, h.finishing
			h.mu.Unlock()
			if !finishing && h.ctx.Err() == nil {
				fmt.Fprintf(h.out, "\n%s: stopping training and saving a checkpoint (interrupt again to exit at once)\n", s)
				h.cancel()
				continue
			}
			fmt.Fprintf(h.out, "\n%s: exiting now; %s\n", s, saved)
			h.exit(exitInterrupted)
			return
		}
	}
}

func runTrain(cmd *cobra.Command, f *trainFlags) error {
	out := cmd.OutOrStdout()
	var cfg detector.Config
	var err error
	resume := f.resume != ""
	if resume {
		f.out = f.resume
		cfg, err = detector.LoadConfig(filepath.Join(f.resume, detector.ConfigFile), f.preset)
		if err != nil {
			return fmt.Errorf("resume %s: %w", f.resume, err)
		}
		applyFlags(cmd, f, &cfg)
		if f.data == "" {
			return fmt.Errorf("resume: give the same --data as the original run")
		}
	} else {
		if f.data == "" {
			return fmt.Errorf("--data is required (a COCO JSON, a VOC folder or a YOLO data.yaml)")
		}
		cfg, err = resolveConfig(cmd, f)
		if err != nil {
			return err
		}
	}
	trainSplit, valSplit := splitFor(f.data, f.format, f.trainSplit), f.valSplit
	trainDS, err := loadData(cmd, f.data, trainSplit, f, cfg.Train.Strict)
	if err != nil {
		return err
	}
	var valDS *data.Dataset
	switch {
	case f.val != "":
		if valDS, err = loadData(cmd, f.val, "", f, cfg.Train.Strict); err != nil {
			return err
		}
	case trainSplit != "" && valSplit != "":
		if valDS, err = loadData(cmd, f.data, valSplit, f, cfg.Train.Strict); err != nil {
			return fmt.Errorf("validation split %q: %w (use --val-split \"\" to train without evaluation)", valSplit, err)
		}
	}
	if !resume {
		cfg.Model.NumClasses = len(trainDS.Classes)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if f.out == "" {
		f.out = nextRunDir("train")
	}
	b, err := backend.New(f.backend)
	if err != nil {
		return err
	}
	intr := watchInterrupts(cmd.ErrOrStderr())
	defer intr.Stop()
	fmt.Fprintf(out, "training %s (%d images, %d boxes, %d classes) with preset %q, %s + %s, into %s\n",
		f.data, len(trainDS.Images), trainDS.NumObjects(), len(trainDS.Classes), cfg.Preset, cfg.Loss.Cls, cfg.Loss.Reg, f.out)
	opts := detector.RunOptions{
		Dir: f.out, Train: trainDS, Val: valDS, Backend: b, Resume: resume, Out: out, Version: Version,
	}
	if cmd.Flags().Changed("epochs") {
		opts.MaxEpochs = f.epochs
	}
	sum, err := trainAndFinish(cmd, intr, cfg, opts)
	if err != nil {
		return err
	}
	if sum.Budget != nil {
		fmt.Fprintln(out, sum.Budget)
	}
	return nil
}

// trainAndFinish runs the training, then the analysis and the report of
// the run, telling intr what is saved at each stage.
func trainAndFinish(cmd *cobra.Command, intr *interrupts, cfg detector.Config, opts detector.RunOptions) (*detector.Summary, error) {
	last := filepath.Join(opts.Dir, detector.WeightsDir, detector.LastCkpt)
	intr.Saved(fmt.Sprintf("%s holds the last checkpoint written", last))
	sum, err := detector.Run(intr.Context(), cfg, opts)
	if err != nil {
		return nil, err
	}
	intr.Finishing(fmt.Sprintf("the model is saved in %s; the analysis and report of the run were not finished", last))
	return sum, finishRun(cmd, cfg, sum, opts.Train, opts.Val, opts.Backend)
}
