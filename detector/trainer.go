package detector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/schollz/progressbar/v3"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/loader"
	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/eval"
	"github.com/ghmdet/ghmdet/model/mobilenet"
	"github.com/ghmdet/ghmdet/train"
)

// Run-directory file names.
const (
	ConfigFile  = "config.yaml"
	RunInfoFile = "run.json"
	MetricsFile = "metrics.jsonl"
	ResultsFile = "results.csv"
	WeightsDir  = "weights"
	LastCkpt    = "last.ckpt"
	BestCkpt    = "best.ckpt"
)

// Stop reasons reported in Summary.Stopped.
const (
	StopCompleted   = "completed"
	StopTimeBudget  = "time budget"
	StopInterrupted = "interrupted"
)

// RunOptions are the inputs of a training run besides its Config.
type RunOptions struct {
	// Dir is the run directory (created if missing).
	Dir string
	// Train is the training data; Val, if not nil, is evaluated every
	// Config.Train.EvalEvery epochs and at the end.
	Train, Val *data.Dataset
	// Backend runs the graphs.
	Backend compute.Backend
	// Resume continues from Dir's last checkpoint.
	Resume bool
	// Out receives the progress bar and log lines (nil: discarded).
	Out io.Writer
	// Version is the ghmdet version recorded with the run.
	Version string
	// OnStep, when set, is called after every training step.
	OnStep func(step int, res train.Result)
}

// Summary is what a finished (or stopped) run reports.
type Summary struct {
	// Dir is the run directory.
	Dir string
	// Steps and Epochs done (Epochs counts complete epochs).
	Steps, Epochs int
	// Stopped says why training ended (StopCompleted, StopTimeBudget or
	// StopInterrupted).
	Stopped string
	// TrainTime is the wall time spent in training steps and data loading
	// (evaluation excluded); ImagesPerSec the training throughput.
	TrainTime    time.Duration
	ImagesPerSec float64
	// Final is the last evaluation on the validation data (nil without one).
	Final *eval.Result
	// FinalDetections are the detections of that evaluation, indexed like
	// the validation images.
	FinalDetections [][]Detection
	// BestAP and BestEpoch locate the best evaluation (AP at IoU .50:.95).
	BestAP    float64
	BestEpoch int
	// BudgetFit reports that the epochs and the learning-rate milestones
	// were scaled down to fit the time budget (see Run).
	BudgetFit bool
	// SkippedImages counts unreadable training images that were skipped.
	SkippedImages int
}

// Trainer holds a detector's variables and its compiled training step.
type Trainer struct {
	cfg     Config
	backend compute.Backend
	store   *mlmodel.Store
	step    *train.Step
	anchors box.Anchors
	// targets is the reused buffer of the batch targets.
	targets batchTargets
}

// NewTrainer creates the detector's store and training step.
func NewTrainer(backend compute.Backend, cfg Config) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	anchors, err := box.GenerateAnchors(cfg.Anchors, cfg.Model.InputHeight, cfg.Model.InputWidth)
	if err != nil {
		return nil, err
	}
	offsets, counts := levelOffsets(&cfg)
	if n := offsets[len(offsets)-1] + counts[len(counts)-1]; n != len(anchors.Boxes) {
		return nil, fmt.Errorf("the network emits %d anchors per image but the anchor generator made %d", n, len(anchors.Boxes))
	}
	store := mlmodel.NewStore()
	if w := cfg.Model.BackboneWeights; w != "" {
		if err := mobilenet.LoadTFLite(w, store, "/"+ModelScope+"/backbone"); err != nil {
			return nil, fmt.Errorf("model.backbone_weights: %w", err)
		}
	}
	step, err := train.NewStep(backend, store, lossFn(&cfg), LossTerms, cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	return &Trainer{cfg: cfg, backend: backend, store: store, step: step, anchors: anchors}, nil
}

// Store returns the variables (network, loss state, optimiser state).
func (t *Trainer) Store() *mlmodel.Store { return t.store }

// Config returns the configuration.
func (t *Trainer) Config() Config { return t.cfg }

// Anchors returns the anchors of the configured input size.
func (t *Trainer) Anchors() box.Anchors { return t.anchors }

// StepBatch runs one training step on a batch: it builds the targets,
// runs forward, losses, backward and the update. step is the 1-based step
// number (for errors); iter and epoch locate the step in the schedule.
func (t *Trainer) StepBatch(b *loader.Batch, step, epoch int, maxIters, maxEpochs int) (train.Result, error) {
	cfg := &t.cfg
	tg := &t.targets
	if err := buildTargets(tg, t.anchors, b, cfg.Model.NumClasses, box.TargetConfig{Assign: cfg.Assign, Coder: cfg.Coder}); err != nil {
		return train.Result{}, err
	}
	n, k := len(t.anchors.Boxes), cfg.Model.NumClasses
	lr := cfg.Schedule.LR(cfg.Optimizer.ScaledLR(cfg.Train.BatchSize), train.Progress{Iter: step - 1, Epoch: epoch, MaxIters: maxIters, MaxEpochs: maxEpochs})
	return t.step.Run(step, lr,
		tensors.FromFlatDataAndDimensions(b.Images, b.B, b.H, b.W, 3),
		tensors.FromFlatDataAndDimensions(tg.clsT, b.B, n, k),
		tensors.FromFlatDataAndDimensions(tg.clsW, b.B, n),
		tensors.FromFlatDataAndDimensions(tg.boxT, b.B, n, 4),
		tensors.FromFlatDataAndDimensions(tg.boxW, b.B, n, 4),
	)
}

// inputTransform is the input pipeline of cfg: resize into the fixed
// canvas and normalise, plus the configured augmentation when training.
func inputTransform(cfg *Config, training bool) transform.Config {
	t := transform.Config{
		CanvasW: cfg.Model.InputWidth, CanvasH: cfg.Model.InputHeight,
		LongSide: cfg.Resize.LongSide, ShortSide: cfg.Resize.ShortSide,
		Mean: cfg.Augment.Mean, Std: cfg.Augment.Std,
	}
	if training {
		a := cfg.Augment
		t.FlipProb, t.ShortSideRange = a.FlipProb, a.ScaleJitter
		t.Brightness, t.Contrast, t.Saturation = a.Brightness, a.Contrast, a.Saturation
	}
	return t
}

// trainLoader returns the loader of the training data.
func trainLoader(cfg *Config, ds *data.Dataset) (*loader.Loader, error) {
	return loader.New(ds, loader.Config{
		BatchSize: cfg.Train.BatchSize, Workers: cfg.Train.Workers, Seed: cfg.Seed,
		Shuffle: true, DropLast: true, Strict: cfg.Train.Strict,
		Transform: inputTransform(cfg, true),
	})
}

// evalLoader returns the deterministic loader used for evaluation.
func evalLoader(cfg *Config, ds *data.Dataset, batch int) (*loader.Loader, error) {
	return loader.New(ds, loader.Config{
		BatchSize: batch, Workers: cfg.Train.Workers, Seed: cfg.Seed, Strict: cfg.Train.Strict,
		Transform: inputTransform(cfg, false),
	})
}

// Run trains the detector per cfg and opts, evaluating, logging and saving
// checkpoints in opts.Dir.
//
// With a time budget (Config.Train.TimeBudget), the wall time of the first
// epoch (compilation and evaluation included) estimates how many epochs fit
// in the budget; when fewer than Config.Train.Epochs fit, the run is shortened
// to that many epochs and the epoch milestones of the learning-rate schedule
// are scaled by the same factor, so that the decay still happens before the
// budget ends. Runs that fit are not changed; this adjustment depends on the
// machine's speed, so runs that must reproduce exactly should not set a
// budget. Cancelling ctx (Ctrl-C) saves a checkpoint and
// returns the summary with Stopped = StopInterrupted. A non-finite loss or
// gradient stops the run with an error naming the step and the loss term;
// the last checkpoint written before stays intact.
func Run(ctx context.Context, cfg Config, opts RunOptions) (*Summary, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	// The whole configuration, losses included, is checked before the run
	// directory is created.
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Train == nil || len(opts.Train.Images) == 0 {
		return nil, errors.New("train: no training images")
	}
	if len(opts.Train.Classes) != cfg.Model.NumClasses {
		return nil, fmt.Errorf("train: the data has %d classes but model.num_classes is %d", len(opts.Train.Classes), cfg.Model.NumClasses)
	}
	if len(cfg.Classes) == 0 {
		cfg.Classes = append([]string(nil), opts.Train.Classes...)
		cfg.CategoryIDs = append([]int(nil), opts.Train.CategoryIDs...)
	}
	budget, err := cfg.Train.Budget()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, WeightsDir), 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	tr, err := NewTrainer(opts.Backend, cfg)
	if err != nil {
		return nil, err
	}
	cfgText, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	lastPath := filepath.Join(opts.Dir, WeightsDir, LastCkpt)
	bestPath := filepath.Join(opts.Dir, WeightsDir, BestCkpt)

	sum := &Summary{Dir: opts.Dir, BestAP: -1, BestEpoch: -1}
	startEpoch, skipBatches, step := 0, 0, 0
	if opts.Resume {
		meta, err := train.Load(lastPath, tr.store)
		if err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		step, startEpoch = meta.Step, meta.Epoch
		skipBatches, _ = strconv.Atoi(meta.Extra["batch_in_epoch"])
		if v, err := strconv.ParseFloat(meta.Extra["best_ap"], 64); err == nil {
			sum.BestAP = v
		}
		if v, err := strconv.Atoi(meta.Extra["best_epoch"]); err == nil {
			sum.BestEpoch = v
		}
		fmt.Fprintf(out, "resuming %s at step %d (epoch %d, batch %d)\n", lastPath, step, startEpoch+1, skipBatches)
	} else {
		if err := train.WriteFileAtomic(filepath.Join(opts.Dir, ConfigFile), cfgText, 0o644); err != nil {
			return nil, err
		}
	}
	if err := writeRunInfo(opts, cfg); err != nil {
		return nil, err
	}
	metrics, err := train.OpenMetrics(filepath.Join(opts.Dir, MetricsFile))
	if err != nil {
		return nil, err
	}
	defer metrics.Close()

	ld, err := trainLoader(&cfg, opts.Train)
	if err != nil {
		return nil, err
	}
	perEpoch := len(opts.Train.Images) / cfg.Train.BatchSize
	if perEpoch == 0 {
		return nil, fmt.Errorf("train: %d images are fewer than one batch of %d", len(opts.Train.Images), cfg.Train.BatchSize)
	}
	maxIters := perEpoch * cfg.Train.Epochs

	save := func(path string, epochsDone, batchInEpoch int) error {
		return train.Save(path, tr.store, train.Meta{
			Step: step, Epoch: epochsDone, Seed: cfg.Seed, Config: string(cfgText), Ghmdet: opts.Version,
			Extra: map[string]string{
				"batch_in_epoch": strconv.Itoa(batchInEpoch),
				"best_ap":        strconv.FormatFloat(sum.BestAP, 'g', -1, 64),
				"best_epoch":     strconv.Itoa(sum.BestEpoch),
			},
		})
	}

	start := time.Now()
	var trainTime time.Duration
	var imagesSeen int
	stopped := ""
	for epoch := startEpoch; epoch < cfg.Train.Epochs && stopped == ""; epoch++ {
		bar := progressbar.NewOptions(perEpoch,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch+1, cfg.Train.Epochs)),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("it"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(20),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		it := ld.Epoch(ctx, epoch)
		batchInEpoch := 0
		var runCls, runBox float64
		var sumCls, sumBox, lastLR float64
		var nSteps int
		for {
			t0 := time.Now()
			b, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				it.Close()
				if ctx.Err() != nil {
					stopped = StopInterrupted
					break
				}
				return nil, fmt.Errorf("train data: %w", err)
			}
			if batchInEpoch < skipBatches {
				batchInEpoch++
				ld.Recycle(b)
				_ = bar.Add(1)
				continue
			}
			step++
			res, err := tr.StepBatch(b, step, epoch, maxIters, cfg.Train.Epochs)
			ld.Recycle(b)
			if err != nil {
				it.Close()
				var nf *train.NonFiniteError
				if errors.As(err, &nf) {
					_ = metrics.Write(map[string]any{"step": step, "epoch": epoch + 1, "error": nf.Error()})
					return nil, fmt.Errorf("training stopped: %w (epoch %d; the last checkpoint %s is intact)", err, epoch+1, lastPath)
				}
				return nil, err
			}
			batchInEpoch++
			imagesSeen += b.B
			if opts.OnStep != nil {
				opts.OnStep(step, res)
			}
			trainTime += time.Since(t0)
			sumCls, sumBox, lastLR, nSteps = sumCls+res.Terms[0], sumBox+res.Terms[1], res.LR, nSteps+1
			if runCls == 0 {
				runCls, runBox = res.Terms[0], res.Terms[1]
			}
			runCls = 0.9*runCls + 0.1*res.Terms[0]
			runBox = 0.9*runBox + 0.1*res.Terms[1]
			bar.Describe(fmt.Sprintf("epoch %d/%d cls %.4f box %.4f", epoch+1, cfg.Train.Epochs, runCls, runBox))
			_ = bar.Add(1)
			if cfg.Train.LogEvery > 0 && step%cfg.Train.LogEvery == 0 {
				_ = metrics.Write(map[string]any{
					"step": step, "epoch": epoch + 1, "lr": res.LR, "loss": res.Loss,
					"loss_cls": res.Terms[0], "loss_box": res.Terms[1], "grad_norm": res.GradNorm,
					"num_pos": tr.targets.numPos, "images_per_s": float64(imagesSeen) / trainTime.Seconds(),
				})
			}
			if ctx.Err() != nil {
				stopped = StopInterrupted
			} else if budget > 0 && time.Since(start) >= budget {
				stopped = StopTimeBudget
			}
			if stopped != "" {
				it.Close()
				break
			}
		}
		it.Close()
		_ = bar.Finish()
		skipBatches = 0
		epochsDone := epoch + 1
		inEpoch := 0
		if stopped != "" && batchInEpoch < perEpoch {
			epochsDone, inEpoch = epoch, batchInEpoch
		}
		sum.Epochs = epochsDone
		if err := save(lastPath, epochsDone, inEpoch); err != nil {
			return nil, err
		}
		last := epochsDone == cfg.Train.Epochs || stopped != ""
		row := resultRow{epoch: epoch + 1, step: step, lr: lastLR, steps: nSteps}
		if nSteps > 0 {
			row.lossCls, row.lossBox = sumCls/float64(nSteps), sumBox/float64(nSteps)
		}
		if opts.Val != nil && (last || (cfg.Train.EvalEvery > 0 && epochsDone%cfg.Train.EvalEvery == 0)) && stopped != StopInterrupted {
			res, dets, err := Evaluate(tr.backend, tr.store, cfg, opts.Val, filepath.Join(opts.Dir, "val_detections.json"))
			if err != nil {
				return nil, err
			}
			sum.Final, sum.FinalDetections = res, dets
			rec := map[string]any{"step": step, "epoch": epochsDone, "eval": true}
			for i, name := range eval.StatNames {
				rec[name] = res.Stats[i]
			}
			_ = metrics.Write(rec)
			fmt.Fprintf(out, "epoch %d: AP %.4f AP50 %.4f AP75 %.4f (step %d, %.1f images/s)\n", epochsDone, res.Stats[0], res.Stats[1], res.Stats[2], step, float64(imagesSeen)/trainTime.Seconds())
			if res.Stats[0] > sum.BestAP {
				sum.BestAP, sum.BestEpoch = res.Stats[0], epochsDone
				if err := save(bestPath, epochsDone, inEpoch); err != nil {
					return nil, err
				}
			}
			row.stats = res
		}
		if nSteps > 0 {
			if err := appendResults(filepath.Join(opts.Dir, ResultsFile), row); err != nil {
				return nil, err
			}
		}
		if budget > 0 && stopped == "" && !sum.BudgetFit {
			fitBudget(&cfg, sum, out, metrics, start, budget, startEpoch, epoch+1, step)
			tr.cfg.Train, tr.cfg.Schedule = cfg.Train, cfg.Schedule
			maxIters = perEpoch * cfg.Train.Epochs
		}
	}
	if stopped == "" {
		stopped = StopCompleted
	}
	sum.Stopped = stopped
	sum.Steps = step
	sum.TrainTime = trainTime
	if trainTime > 0 {
		sum.ImagesPerSec = float64(imagesSeen) / trainTime.Seconds()
	}
	sum.SkippedImages = ld.Stats().Skipped
	return sum, nil
}

// writeRunInfo records seed, versions, data and machine next to the results.
func writeRunInfo(opts RunOptions, cfg Config) error {
	info := map[string]any{
		"ghmdet": opts.Version, "go": runtime.Version(), "seed": cfg.Seed,
		"preset": cfg.Preset, "started": time.Now().UTC().Format(time.RFC3339),
		"os": runtime.GOOS, "arch": runtime.GOARCH, "cpus": runtime.NumCPU(),
		"backend":    opts.Backend.Name() + ": " + opts.Backend.Description(),
		"train_data": datasetInfo(opts.Train), "resumed": opts.Resume,
	}
	for k, v := range train.Versions() {
		info[k] = v
	}
	if opts.Val != nil {
		info["val_data"] = datasetInfo(opts.Val)
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	name := RunInfoFile
	if opts.Resume {
		name = "run-resumed-" + time.Now().UTC().Format("20060102T150405") + ".json"
	}
	return train.WriteFileAtomic(filepath.Join(opts.Dir, name), append(b, '\n'), 0o644)
}

func datasetInfo(ds *data.Dataset) map[string]any {
	return map[string]any{"name": ds.Name, "images": len(ds.Images), "boxes": ds.NumObjects(), "classes": ds.Classes}
}

// resultRow is one line of the results table: an epoch (complete or cut
// short) with its mean training losses and, when it was evaluated, the COCO
// numbers.
type resultRow struct {
	epoch, step, steps int
	lr                 float64
	lossCls, lossBox   float64
	stats              *eval.Result
}

// appendResults adds one line per epoch to the results table (CSV): epoch,
// step, steps in the epoch, last learning rate, mean losses, then the 12 COCO
// numbers (empty when the epoch was not evaluated).
func appendResults(path string, r resultRow) error {
	newFile := false
	if _, err := os.Stat(path); os.IsNotExist(err) {
		newFile = true
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("results table: %w", err)
	}
	defer f.Close()
	if newFile {
		fmt.Fprint(f, "epoch,step,steps,lr,loss_cls,loss_box")
		for _, n := range eval.StatNames {
			fmt.Fprintf(f, ",%s", n)
		}
		fmt.Fprintln(f)
	}
	fmt.Fprintf(f, "%d,%d,%d,%.6g,%.6f,%.6f", r.epoch, r.step, r.steps, r.lr, r.lossCls, r.lossBox)
	for i := range eval.StatNames {
		switch {
		case r.stats == nil:
			fmt.Fprint(f, ",")
		case math.IsNaN(r.stats.Stats[i]):
			fmt.Fprint(f, ",nan")
		default:
			fmt.Fprintf(f, ",%.6f", r.stats.Stats[i])
		}
	}
	_, err = fmt.Fprintln(f)
	return err
}

// fitBudget shortens the run to the epochs that fit the time budget, judging
// from the wall time of the epochs done so far, and scales the schedule's
// epoch milestones to match.
func fitBudget(cfg *Config, sum *Summary, out io.Writer, metrics *train.MetricsWriter, start time.Time, budget time.Duration, startEpoch, epochsDone, step int) {
	done := epochsDone - startEpoch
	if done < 1 {
		return
	}
	perEpoch := time.Since(start) / time.Duration(done)
	fit := epochsDone + int((budget-time.Since(start))/perEpoch)
	if fit >= cfg.Train.Epochs {
		return
	}
	fit = max(fit, epochsDone+1)
	old := cfg.Train.Epochs
	cfg.Schedule.Steps = slices.Clone(cfg.Schedule.Steps)
	if cfg.Schedule.By == train.ByEpoch {
		for i, m := range cfg.Schedule.Steps {
			cfg.Schedule.Steps[i] = max(1, int(math.Round(float64(m)*float64(fit)/float64(old))))
		}
	}
	cfg.Train.Epochs = fit
	sum.BudgetFit = true
	fmt.Fprintf(out, "time budget %s: about %s per epoch, so %d of %d epochs fit; learning-rate milestones now at epochs %v\n",
		budget, perEpoch.Round(time.Second), fit, old, cfg.Schedule.Steps)
	if metrics != nil {
		_ = metrics.Write(map[string]any{"step": step, "epoch": epochsDone, "budget_epochs": fit, "schedule_steps": cfg.Schedule.Steps})
	}
}
