package detector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/schollz/progressbar/v3"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/augment"
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
	// MaxEpochs, when > 0, is an epoch count given explicitly (ghmdet train
	// --epochs, which also sets Config.Train.Epochs): a time budget plans at
	// most that many epochs. The checkpoint keeps it, so a resumed run keeps
	// the cap unless given another one; resuming without a budget a run that
	// a budget planned, it sets the run's length (see Run).
	MaxEpochs int
	// Now is the clock that times the run and its budget (nil: time.Now).
	Now func() time.Time
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
	// Budget reports the time budget's use: wall time, planned and trained
	// epochs (nil for a run without a budget).
	Budget *BudgetUse
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

// InferenceStore returns the variables evaluation and prediction use: a
// view of the weight averages when the optimiser keeps them
// (optimizer.ema_decay > 0), else the trained variables themselves. A view
// is valid until the next training step.
func (t *Trainer) InferenceStore() (*mlmodel.Store, error) {
	if t.cfg.Optimizer.EMADecay == 0 {
		return t.store, nil
	}
	view, ok, err := train.EMAView(t.store, "/"+ModelScope)
	if err != nil || !ok {
		return t.store, err
	}
	return view, nil
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
		t.HSVHue, t.HSVSat, t.HSVVal = a.HSVH, a.HSVS, a.HSVV
	}
	return t
}

// trainLoader returns the loader of the training data.
func trainLoader(cfg *Config, ds *data.Dataset) (*loader.Loader, error) {
	return loader.New(ds, loader.Config{
		BatchSize: cfg.Train.BatchSize, Workers: cfg.Train.Workers, Seed: cfg.Seed,
		Shuffle: true, DropLast: true, Strict: cfg.Train.Strict,
		Transform: inputTransform(cfg, true),
		Augment: augment.Config{MosaicProb: cfg.Augment.MosaicProb, Zoom: cfg.Augment.Zoom,
			MinAreaFrac: cfg.Augment.MinAreaFrac},
		CacheBytes: cfg.Augment.CacheBytes,
	})
}

// epochAugment returns the loader options of epoch (0-based) in a run
// currently planned for total epochs: mosaic and zoom are closed for the
// last augment.close_mosaic epochs.
func epochAugment(a AugmentConfig, epoch, total int) loader.EpochOptions {
	closed := a.CloseMosaic > 0 && epoch >= total-a.CloseMosaic
	return loader.EpochOptions{NoMosaic: closed, NoZoom: closed}
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
// Cancelling ctx (Ctrl-C) saves a checkpoint and returns the summary with
// Stopped = StopInterrupted. A non-finite loss or gradient stops the run with
// an error naming the step and the loss term; the last checkpoint written
// before stays intact.
//
// # Time budget
//
// With a time budget (Config.Train.TimeBudget) the budget, not
// Config.Train.Epochs, sets the length of the run: after every epoch the run
// is re-planned to the most epochs whose remaining work fits in the time
// left, more epochs than configured when they fit, fewer when they do not,
// and at most opts.MaxEpochs when that is set. The remaining work is the
// epochs still to train, at the time per step measured in the last epoch
// (steps that compiled a graph are left out) plus that epoch's other work
// (checkpoint, loader start), and the evaluations still to run (every
// EvalEvery epochs and the final one), at the duration of the last
// evaluation; before the first evaluation is measured it is estimated as
// training on as many images as the validation data holds, plus the
// compilation time of the training step. So a budgeted run ends, its final
// evaluation included, within the budget and less than one epoch before its
// end, whatever the first epoch cost. If the estimates prove optimistic,
// training stops in the middle of an epoch when the time left is only
// enough for the final evaluation (Stopped = StopTimeBudget). The budget
// counts Run only: the analysis and report a caller writes afterwards are
// not part of it.
//
// The learning-rate milestones of the schedule (step policy) move with the
// plan so that each stays at the fraction of the run it was configured for
// (the configured milestones over Config.Train.Epochs: 8/12 and 11/12 with
// the reference preset, 16/24 and 22/24 with the cpu preset), except that
// the learning-rate history never changes: a milestone already in effect
// (below the epochs trained) is frozen, and the others never move into the
// past (see train.RescaleSteps). The cosine policy follows the planned
// length from the next step on. The plan, the budget used and the cap are
// stored in the checkpoints: a resumed run keeps its plan and milestones and
// continues with the budget that is left (the time between the sessions is
// not counted). Resumed without a budget, a run so planned keeps its plan,
// or takes opts.MaxEpochs as its length when that is set. Summary.Budget
// reports the wall time used, the planned and the trained epochs. The plan
// depends on the machine's speed, so runs that must reproduce exactly
// should not set a budget.
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
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.Train == nil || len(opts.Train.Images) == 0 {
		return nil, errors.New("train: no training images")
	}
	if len(opts.Train.Classes) != cfg.Model.NumClasses {
		return nil, fmt.Errorf("train: the data has %d classes but model.num_classes is %d", len(opts.Train.Classes), cfg.Model.NumClasses)
	}
	if opts.MaxEpochs < 0 {
		return nil, fmt.Errorf("train: the epoch cap must be >= 0, got %d", opts.MaxEpochs)
	}
	if len(cfg.Classes) == 0 {
		cfg.Classes = append([]string(nil), opts.Train.Classes...)
		cfg.CategoryIDs = append([]int(nil), opts.Train.CategoryIDs...)
	}
	// The run's classes (a resumed run's from its configuration) must be
	// the training data's and the validation data's, name for name.
	if err := CheckClasses(cfg, opts.Train, false); err != nil {
		return nil, fmt.Errorf("train data: %w", err)
	}
	if opts.Val != nil {
		if err := CheckClasses(cfg, opts.Val, false); err != nil {
			return nil, fmt.Errorf("validation data: %w", err)
		}
	}
	budget, err := cfg.Train.Budget()
	if err != nil {
		return nil, err
	}
	perEpoch := len(opts.Train.Images) / max(cfg.Train.BatchSize, 1)
	if perEpoch == 0 {
		return nil, fmt.Errorf("train: %d images are fewer than one batch of %d", len(opts.Train.Images), cfg.Train.BatchSize)
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

	// The plan starts as configured; the configured epochs and milestones
	// stay the reference of the milestones' fractions.
	baseEpochs, baseSteps := cfg.Train.Epochs, slices.Clone(cfg.Schedule.Steps)
	plan := budgetPlan{Epochs: cfg.Train.Epochs, Steps: slices.Clone(cfg.Schedule.Steps), MaxEpochs: opts.MaxEpochs}
	planned := budget > 0 // the plan is stored in the checkpoints

	sum := &Summary{Dir: opts.Dir, BestAP: -1, BestEpoch: -1}
	startEpoch, skipBatches, step := 0, 0, 0
	replanNow := false // a resumed run got another budget or cap
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
		restored, err := plan.restore(meta.Extra)
		if err != nil {
			return nil, fmt.Errorf("resume %s: %w", lastPath, err)
		}
		if restored {
			planned = true
			if opts.MaxEpochs > 0 && opts.MaxEpochs != plan.MaxEpochs {
				plan.MaxEpochs = opts.MaxEpochs
				replanNow = budget > 0
			}
			if budget != plan.Budget {
				replanNow = budget > 0
			}
		}
		fmt.Fprintf(out, "resuming %s at step %d (epoch %d, batch %d)\n", lastPath, step, startEpoch+1, skipBatches)
	} else {
		if err := train.WriteFileAtomic(filepath.Join(opts.Dir, ConfigFile), cfgText, 0o644); err != nil {
			return nil, err
		}
	}
	// setPlan re-plans the run to epochs, moving the milestones still
	// ahead; started is the number of epochs trained, the current one
	// included when it is under way (its milestones are in effect).
	setPlan := func(epochs, started int) {
		base, total, done := baseEpochs, epochs, started
		if cfg.Schedule.By == train.ByIter {
			base, total, done = base*perEpoch, total*perEpoch, step
		}
		plan.Steps = train.RescaleSteps(baseSteps, base, total, plan.Steps, done)
		plan.Epochs = epochs
	}
	// evalEstimate is the expected duration of an evaluation: the last one
	// measured, else training on as many images as the validation data
	// holds at perImage, plus extra (compilation).
	evalEstimate := func(perImage, extra time.Duration) time.Duration {
		if opts.Val == nil {
			return 0
		}
		if plan.EvalTime > 0 {
			return plan.EvalTime
		}
		return perImage*time.Duration(len(opts.Val.Images)) + extra
	}
	plan.Budget = budget
	switch {
	case budget == 0 && planned && opts.MaxEpochs > 0:
		setPlan(opts.MaxEpochs, startEpoch+min(skipBatches, 1))
	case replanNow && plan.EpochTime > 0:
		// Re-plan from the estimates of the last session, the current epoch
		// being partly done when skipBatches > 0.
		done, left := startEpoch, budget-plan.Used
		if skipBatches > 0 {
			done++
			left -= plan.EpochTime * time.Duration(perEpoch-skipBatches) / time.Duration(perEpoch)
		}
		est := budgetEstimate{Epoch: plan.EpochTime, Eval: evalEstimate(plan.EpochTime/time.Duration(perEpoch*cfg.Train.BatchSize), 0)}
		old := plan.Epochs
		setPlan(fitEpochs(done, left, est, cfg.Train.EvalEvery, opts.Val != nil, plan.MaxEpochs), done)
		fmt.Fprintf(out, "time budget %s, %s used: %d epochs planned (were %d), learning-rate milestones at %v\n", budget, plan.Used.Round(time.Second), plan.Epochs, old, plan.Steps)
	case replanNow:
		// Nothing measured yet: the cap, or the configured length, until
		// the end of the next epoch re-plans.
		e := baseEpochs
		if plan.MaxEpochs > 0 {
			e = plan.MaxEpochs
		}
		setPlan(max(e, startEpoch), startEpoch+min(skipBatches, 1))
	case budget > 0 && plan.MaxEpochs > 0 && plan.Epochs > plan.MaxEpochs:
		setPlan(plan.MaxEpochs, startEpoch+min(skipBatches, 1))
	}
	maxIters := 0
	applyPlan := func() {
		cfg.Train.Epochs, cfg.Schedule.Steps = plan.Epochs, slices.Clone(plan.Steps)
		tr.cfg.Train, tr.cfg.Schedule = cfg.Train, cfg.Schedule
		maxIters = perEpoch * plan.Epochs
	}
	applyPlan()

	infoPath, info, err := writeRunInfo(opts, cfg)
	if err != nil {
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

	start := now()
	// elapsed is the budget used: the earlier sessions' and this one's.
	elapsed := func() time.Duration { return plan.Used + now().Sub(start) }
	var saveTime time.Duration // the last save of last.ckpt
	save := func(path string, epochsDone, batchInEpoch int) error {
		extra := map[string]string{
			"batch_in_epoch": strconv.Itoa(batchInEpoch),
			"best_ap":        strconv.FormatFloat(sum.BestAP, 'g', -1, 64),
			"best_epoch":     strconv.Itoa(sum.BestEpoch),
		}
		if planned {
			maps.Copy(extra, plan.extra(elapsed()))
		}
		t0 := now()
		err := train.Save(path, tr.store, train.Meta{
			Step: step, Epoch: epochsDone, Seed: cfg.Seed, Config: string(cfgText), Ghmdet: opts.Version, Extra: extra,
		})
		if path == lastPath {
			saveTime = now().Sub(t0)
		}
		return err
	}

	var trainTime, compileTime time.Duration
	var imagesSeen int
	stopped := ""
	for epoch := startEpoch; epoch < plan.Epochs && stopped == ""; epoch++ {
		bar := progressbar.NewOptions(perEpoch,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch+1, plan.Epochs)),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("it"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(20),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		epochStart := now()
		it := ld.EpochWith(ctx, epoch, epochAugment(cfg.Augment, epoch, plan.Epochs))
		batchInEpoch := 0
		var runCls, runBox float64
		var sumCls, sumBox, lastLR float64
		var nSteps int
		// Times of this epoch: steps that compiled a graph, the others, and
		// the batches skipped to reach a resumed position.
		var compiling, stepping, skipping time.Duration
		var timedSteps int
		for {
			t0 := now()
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
				skipping += now().Sub(t0)
				continue
			}
			step++
			builds := tr.step.Builds()
			res, err := tr.StepBatch(b, step, epoch, maxIters, plan.Epochs)
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
			d := now().Sub(t0)
			trainTime += d
			if tr.step.Builds() != builds {
				compiling += d
				compileTime = d
			} else {
				stepping += d
				timedSteps++
			}
			sumCls, sumBox, lastLR, nSteps = sumCls+res.Terms[0], sumBox+res.Terms[1], res.LR, nSteps+1
			if runCls == 0 {
				runCls, runBox = res.Terms[0], res.Terms[1]
			}
			runCls = 0.9*runCls + 0.1*res.Terms[0]
			runBox = 0.9*runBox + 0.1*res.Terms[1]
			bar.Describe(fmt.Sprintf("epoch %d/%d cls %.4f box %.4f", epoch+1, plan.Epochs, runCls, runBox))
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
			} else if budget > 0 && elapsed()+finalEvalReserve(&plan, opts.Val) >= budget {
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
		if budget > 0 && stopped == "" && timedSteps > 0 {
			perStep := stepping / time.Duration(timedSteps)
			other := max(0, now().Sub(epochStart)-compiling-stepping-skipping) + saveTime
			est := budgetEstimate{
				Epoch: perStep*time.Duration(perEpoch) + other,
				Eval:  evalEstimate(perStep/time.Duration(cfg.Train.BatchSize), max(0, compileTime-perStep)),
			}
			plan.EpochTime = est.Epoch
			if est.Epoch > 0 {
				used := elapsed()
				fit := fitEpochs(epochsDone, budget-used, est, cfg.Train.EvalEvery, opts.Val != nil, plan.MaxEpochs)
				if fit != plan.Epochs {
					old := plan.Epochs
					setPlan(fit, epochsDone)
					applyPlan()
					fmt.Fprintf(out, "time budget %s: %s used, about %s per epoch", budget, used.Round(time.Second), est.Epoch.Round(time.Second))
					if opts.Val != nil {
						fmt.Fprintf(out, " and %s per evaluation", est.Eval.Round(time.Second))
					}
					fmt.Fprintf(out, ": %d epochs planned (were %d), learning-rate milestones at %v\n", fit, old, plan.Steps)
					_ = metrics.Write(map[string]any{"step": step, "epoch": epochsDone, "budget_epochs": fit, "schedule_steps": plan.Steps,
						"budget_used_s": used.Seconds(), "epoch_s": est.Epoch.Seconds(), "eval_s": est.Eval.Seconds()})
				}
			}
		}
		if err := save(lastPath, epochsDone, inEpoch); err != nil {
			return nil, err
		}
		last := epochsDone >= plan.Epochs || stopped != ""
		row := resultRow{epoch: epoch + 1, step: step, lr: lastLR, steps: nSteps}
		if nSteps > 0 {
			row.lossCls, row.lossBox = sumCls/float64(nSteps), sumBox/float64(nSteps)
		}
		if opts.Val != nil && (last || (cfg.Train.EvalEvery > 0 && epochsDone%cfg.Train.EvalEvery == 0)) && stopped != StopInterrupted {
			te := now()
			evalStore, err := tr.InferenceStore()
			if err != nil {
				return nil, err
			}
			res, dets, err := Evaluate(tr.backend, evalStore, cfg, opts.Val, filepath.Join(opts.Dir, "val_detections.json"))
			if err != nil {
				return nil, err
			}
			plan.EvalTime = now().Sub(te)
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
			if err := writeResults(filepath.Join(opts.Dir, ResultsFile), row); err != nil {
				return nil, err
			}
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
	if budget > 0 {
		sum.Budget = &BudgetUse{
			Budget: budget, Used: elapsed(), ConfigEpochs: baseEpochs, PlannedEpochs: plan.Epochs,
			Epochs: sum.Epochs, MaxEpochs: plan.MaxEpochs, Milestones: slices.Clone(plan.Steps),
		}
	}
	if err := writeRunResult(infoPath, info, sum); err != nil {
		return nil, err
	}
	return sum, nil
}

// finalEvalReserve is the time a budgeted run keeps for its final
// evaluation: the duration of the last one (0 before any, or without
// validation data).
func finalEvalReserve(plan *budgetPlan, val *data.Dataset) time.Duration {
	if val == nil {
		return 0
	}
	return plan.EvalTime
}

// writeRunInfo records seed, versions, data and machine next to the
// results (run.json, or run-resumed-TIME.json for a resumed run). It returns
// the file's path and content.
func writeRunInfo(opts RunOptions, cfg Config) (string, map[string]any, error) {
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
	name := RunInfoFile
	if opts.Resume {
		name = "run-resumed-" + time.Now().UTC().Format("20060102T150405") + ".json"
	}
	path := filepath.Join(opts.Dir, name)
	return path, info, writeJSON(path, info)
}

// writeRunResult adds the outcome of the run (why and when it stopped, the
// time budget's use) to the run information file written by writeRunInfo.
func writeRunResult(path string, info map[string]any, sum *Summary) error {
	res := map[string]any{
		"stopped": sum.Stopped, "steps": sum.Steps, "epochs": sum.Epochs,
		"train_time_s": sum.TrainTime.Seconds(), "images_per_s": sum.ImagesPerSec,
	}
	if u := sum.Budget; u != nil {
		res["budget"] = map[string]any{
			"budget": u.Budget.String(), "budget_s": u.Budget.Seconds(), "used_s": u.Used.Seconds(),
			"config_epochs": u.ConfigEpochs, "planned_epochs": u.PlannedEpochs, "epochs": u.Epochs,
			"max_epochs": u.MaxEpochs, "milestones": u.Milestones,
		}
	}
	info["result"] = res
	return writeJSON(path, info)
}

// writeJSON writes v as indented JSON, atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return train.WriteFileAtomic(path, append(b, '\n'), 0o644)
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

// resultsHeader returns the header line of the results table.
func resultsHeader() string {
	return "epoch,step,steps,lr,loss_cls,loss_box," + strings.Join(eval.StatNames[:], ",")
}

// line returns the row as a line of the results table.
func (r resultRow) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d,%d,%d,%.6g,%.6f,%.6f", r.epoch, r.step, r.steps, r.lr, r.lossCls, r.lossBox)
	for i := range eval.StatNames {
		switch {
		case r.stats == nil:
			b.WriteString(",")
		case math.IsNaN(r.stats.Stats[i]):
			b.WriteString(",nan")
		default:
			fmt.Fprintf(&b, ",%.6f", r.stats.Stats[i])
		}
	}
	return b.String()
}

// writeResults records an epoch in the results table (CSV, one line per
// epoch, in epoch order): epoch, step at its end, steps in it, last learning
// rate, mean losses, then the 12 COCO numbers (empty when the epoch was not
// evaluated). The table keeps one line per epoch: the line of an epoch
// already in the table is replaced, and when it is the first part of an
// epoch that was interrupted and now resumed (it ends at the step before the
// new part's first), the two parts are merged: steps added up, losses
// averaged over all the epoch's steps. The file is rewritten atomically.
func writeResults(path string, r resultRow) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("results table: %w", err)
	}
	var rows []string
	if len(old) > 0 {
		rows = strings.Split(strings.TrimRight(string(old), "\n"), "\n")[1:]
	}
	placed := false
	for i := 0; i < len(rows); i++ {
		f := strings.Split(rows[i], ",")
		ep, err := strconv.Atoi(f[0])
		if err != nil || ep < r.epoch {
			continue
		}
		if ep > r.epoch {
			if !placed {
				rows = slices.Insert(rows, i, r.line())
				placed = true
			}
			continue
		}
		if placed { // a duplicate line of the epoch
			rows = slices.Delete(rows, i, i+1)
			i--
			continue
		}
		if len(f) >= 6 {
			step, err1 := strconv.Atoi(f[1])
			steps, err2 := strconv.Atoi(f[2])
			lc, err3 := strconv.ParseFloat(f[4], 64)
			lb, err4 := strconv.ParseFloat(f[5], 64)
			if errors.Join(err1, err2, err3, err4) == nil && steps > 0 && step == r.step-r.steps {
				n := float64(steps + r.steps)
				r.lossCls = (lc*float64(steps) + r.lossCls*float64(r.steps)) / n
				r.lossBox = (lb*float64(steps) + r.lossBox*float64(r.steps)) / n
				r.steps += steps
			}
		}
		rows[i] = r.line()
		placed = true
	}
	if !placed {
		rows = append(rows, r.line())
	}
	text := resultsHeader() + "\n" + strings.Join(rows, "\n") + "\n"
	if err := train.WriteFileAtomic(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("results table: %w", err)
	}
	return nil
}
