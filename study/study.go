// Package study runs the comparisons of the GHM paper on any data: a grid
// of configurations (any configuration keys, each with a list of values)
// trained with several seeds, every run an ordinary run directory, the
// final model of each evaluated on one evaluation split, and a report of
// the means, standard deviations and paired differences with confidence
// intervals over seeds.
//
// A study is fair by construction: a run's seed drives its weight
// initialisation, data order and augmentation, so the runs of one seed see
// the same data in the same order whatever their setting; every run trains
// the same number of epochs (or, as an option, for the same time budget)
// and is evaluated with its last checkpoint on the same data.
//
// A study is resumable: its folder holds a manifest (study.json) with the
// grid, seeds and options; running it again skips the finished runs and
// resumes an interrupted one from its last checkpoint. Several processes
// may share a study folder, each running a shard of the grid (Slurm array,
// Kubernetes indexed job); a lock file per run keeps two processes off the
// same run, and the report merges whatever runs have finished.
package study

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/train"
)

// DefaultAnalyzeImages is the number of evaluation images the
// gradient-norm analysis of each run uses (as ghmdet train's).
const DefaultAnalyzeImages = 100

// ErrInterrupted is returned (wrapped) when the context is cancelled: the
// run under way saved its last checkpoint, and running the study again
// resumes it.
var ErrInterrupted = errors.New("study interrupted")

// Options are the inputs of a study.
type Options struct {
	// Dir is the study folder: the manifest, one folder per setting with a
	// run directory per seed (DIR/cls=focal/seed-1), the report.
	Dir string
	// Spec is the grid, seeds and run length.
	Spec Spec
	// Base is the configuration every run starts from (preset, --config
	// file and flags); the study applies Spec.Set, the run length, the
	// setting's values and the seed, and takes the classes from Train.
	Base detector.Config
	// Train is the training data; Val, if not nil, the validation data
	// evaluated during training; Eval the data of the final evaluation of
	// every run, which EvalName describes in the report.
	Train, Val, Eval *data.Dataset
	EvalName         string
	// Backend runs the graphs.
	Backend compute.Backend
	// Shard, when set, runs only this shard of the grid.
	Shard Shard
	// AllowChange lets the study folder's manifest be replaced by a study
	// with another grid, seeds or options (runs already there are kept
	// where their configuration is still the one their setting gets).
	AllowChange bool
	// Reuse are other study folders whose trained runs this study takes
	// instead of training them again: a run is reused when its
	// configuration (config.yaml, seed included) is byte for byte the one
	// this study gives the run, its training is over and its study trained
	// on the same training data. The reused run directory is copied
	// (without its evaluation) and evaluated as this study's run.
	Reuse []string
	// AnalyzeImages is the number of evaluation images of the gradient-norm
	// analysis (0: DefaultAnalyzeImages).
	AnalyzeImages int
	// DryRun checks the study and lists its runs without running or
	// writing anything.
	DryRun bool
	// Report configures the report written at the end.
	Report ReportOptions
	// OnStep, when set, is called after every training step of a run
	// (its directory relative to Dir, and the step number).
	OnStep func(run string, step int)
	// Out receives the progress (nil: discarded).
	Out io.Writer
	// Version is the ghmdet version recorded in the manifest and the runs.
	Version string
	// Now is the clock of the progress and its estimates (nil: time.Now).
	Now func() time.Time
}

// Shard is a deterministic part of the grid: the runs at positions p
// (0-based, in grid order) with p mod Count = Index-1.
type Shard struct {
	Index, Count int
}

// ParseShard parses "i/n" (1 <= i <= n).
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: want i/n with 1 <= i <= n, such as 2/4", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// all reports whether the shard is the whole grid.
func (s Shard) all() bool { return s.Count <= 1 }

// holds reports whether the run at grid position p is in the shard.
func (s Shard) holds(p int) bool { return s.all() || p%s.Count == s.Index-1 }

// String returns "i/n", or "all" for the whole grid.
func (s Shard) String() string {
	if s.all() {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// job is one run of the grid: a setting and a seed.
type job struct {
	// Index is the position in grid order: seeds outer, settings inner,
	// so that a study stopped early has every setting for its first seeds.
	Index   int
	Setting Setting
	Seed    int64
	// Dir is the run directory relative to the study folder.
	Dir    string
	Config detector.Config
	// ConfigYAML is the configuration the run directory must hold.
	ConfigYAML []byte
}

// RunDir returns the run directory of a setting and seed, relative to the
// study folder: SETTING/seed-N.
func RunDir(setting string, seed int64) string {
	return filepath.Join(setting, fmt.Sprintf("seed-%d", seed))
}

// Outcome is what a call of Run did.
type Outcome struct {
	// Runs is the number of runs of the grid, InShard those of the shard.
	Runs, InShard int
	// Finished counts the shard's runs finished before this call; Trained
	// the runs trained from the start, Resumed those continued from a
	// checkpoint, Reused those copied from another study (Options.Reuse),
	// Evaluated the runs evaluated (all that this call finished).
	Finished, Trained, Resumed, Reused, Evaluated int
	// Busy names the runs another process held.
	Busy []string
	// Report is the report written at the end (nil if none was).
	Report *Report
}

// plan checks the options and resolves every run: its configuration is
// validated before anything runs, so a bad key or value anywhere in the
// grid stops the study before the first run.
func plan(opts *Options) ([]job, *Manifest, error) {
	sp := &opts.Spec
	if opts.Dir == "" {
		return nil, nil, errors.New("study: no folder")
	}
	if opts.Train == nil || len(opts.Train.Images) == 0 {
		return nil, nil, errors.New("study: no training images")
	}
	if opts.Eval == nil || len(opts.Eval.Images) == 0 {
		return nil, nil, errors.New("study: no evaluation data (a study compares final evaluations: give validation data or an evaluation split)")
	}
	if len(sp.Seeds) == 0 {
		return nil, nil, errors.New("study: no seeds")
	}
	seen := map[int64]bool{}
	for _, s := range sp.Seeds {
		if seen[s] {
			return nil, nil, fmt.Errorf("study: seed %d is given twice", s)
		}
		seen[s] = true
	}
	if sp.Epochs < 0 {
		return nil, nil, fmt.Errorf("study: epochs must be >= 0, got %d", sp.Epochs)
	}
	if sp.TimeBudget != "" {
		if d, err := (detector.TrainConfig{TimeBudget: sp.TimeBudget}).Budget(); err != nil || d == 0 {
			return nil, nil, fmt.Errorf("study: time budget %q: want a positive duration such as 10m (%v)", sp.TimeBudget, err)
		}
	}
	axisKeys := map[string]bool{}
	for _, ax := range sp.Axes {
		if err := checkKey(ax.Key); err != nil {
			return nil, nil, fmt.Errorf("study: --vary %s: %w", ax, err)
		}
		axisKeys[ax.Key] = true
	}
	for _, a := range sp.Set {
		if axisKeys[a.Key] {
			return nil, nil, fmt.Errorf("study: %s is both varied (--vary) and fixed (--set %s)", a.Key, a)
		}
	}
	settings, err := Settings(sp.Axes)
	if err != nil {
		return nil, nil, fmt.Errorf("study: %w", err)
	}
	if _, err := baselineOf(sp.Axes, sp.Baseline); err != nil {
		return nil, nil, fmt.Errorf("study: %w", err)
	}

	// The base: the given configuration, the run length, the fixed values
	// and the classes of the training data.
	base := opts.Base
	if sp.Epochs > 0 {
		if old := base.Train.Epochs; old > 0 {
			base.Schedule.Steps = train.RescaleSteps(base.Schedule.Steps, old, sp.Epochs, base.Schedule.Steps, 0)
		}
		base.Train.Epochs = sp.Epochs
	}
	if sp.TimeBudget != "" {
		base.Train.TimeBudget = sp.TimeBudget
	}
	for _, a := range sp.Set {
		if err := Apply(&base, a); err != nil {
			return nil, nil, fmt.Errorf("study: --set %w", err)
		}
	}
	base.Model.NumClasses = len(opts.Train.Classes)
	base.Classes = append([]string(nil), opts.Train.Classes...)
	base.CategoryIDs = append([]int(nil), opts.Train.CategoryIDs...)
	baseYAML, err := base.YAML()
	if err != nil {
		return nil, nil, fmt.Errorf("study: %w", err)
	}
	if w := base.Model.BackboneWeights; w != "" {
		if _, err := os.Stat(w); err != nil {
			return nil, nil, fmt.Errorf("study: model.backbone_weights: %w", err)
		}
	}

	var jobs []job
	for _, seed := range sp.Seeds {
		for _, s := range settings {
			// Each run's configuration is decoded from the base's YAML: a
			// deep copy, through the decoding of configuration files.
			cfg, err := detector.ParseConfig("study base configuration", baseYAML, base.Preset)
			if err != nil {
				return nil, nil, fmt.Errorf("study: %w", err)
			}
			for _, v := range s.Values {
				if err := Apply(&cfg, v); err != nil {
					return nil, nil, fmt.Errorf("study: setting %s: %w", s.Name, err)
				}
			}
			cfg.Seed, cfg.Model.Seed = seed, seed
			if err := checkRun(&cfg, opts); err != nil {
				return nil, nil, fmt.Errorf("study: setting %s, seed %d: %w", s.Name, seed, err)
			}
			text, err := cfg.YAML()
			if err != nil {
				return nil, nil, err
			}
			jobs = append(jobs, job{Index: len(jobs), Setting: s, Seed: seed, Dir: RunDir(s.Name, seed), Config: cfg, ConfigYAML: text})
		}
	}
	m := &Manifest{
		Version: manifestVersion, Spec: *sp, BaseConfig: string(baseYAML),
		Train: describe(opts.Train), Val: describe(opts.Val), Eval: describe(opts.Eval), EvalName: opts.EvalName,
		Checkpoint: filepath.ToSlash(filepath.Join(detector.WeightsDir, detector.LastCkpt)),
		Created:    time.Now().UTC().Format(time.RFC3339), Ghmdet: opts.Version,
	}
	return jobs, m, nil
}

// checkRun checks one run's configuration against the data, as
// detector.Run would when the run starts.
func checkRun(cfg *detector.Config, opts *Options) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if n := len(opts.Train.Images); n < cfg.Train.BatchSize {
		return fmt.Errorf("train.batch_size %d: the training data has only %d images", cfg.Train.BatchSize, n)
	}
	for _, d := range []struct {
		what string
		ds   *data.Dataset
	}{{"validation data", opts.Val}, {"evaluation data", opts.Eval}} {
		if d.ds == nil {
			continue
		}
		if err := detector.CheckClasses(*cfg, d.ds, false); err != nil {
			return fmt.Errorf("%s: %w", d.what, err)
		}
	}
	return nil
}

// Run runs the study (or its shard) in opts.Dir: it checks every run's
// configuration, records or checks the manifest, trains and evaluates each
// run not yet finished (resuming an interrupted one), and writes the
// report of all finished runs. Cancelling ctx stops the run under way,
// which saves a checkpoint, and returns an error wrapping ErrInterrupted.
func Run(ctx context.Context, opts Options) (*Outcome, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	jobs, m, err := plan(&opts)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return dryRun(&opts, jobs, m, out)
	}
	record, err := checkManifest(opts.Dir, m, opts.AllowChange)
	if err != nil {
		return nil, err
	}
	oc := &Outcome{Runs: len(jobs)}
	var todo []*job
	for i := range jobs {
		j := &jobs[i]
		if !opts.Shard.holds(j.Index) {
			continue
		}
		oc.InShard++
		if err := checkRunDir(opts.Dir, j); err != nil {
			return nil, err
		}
		if done, err := finished(opts.Dir, j); err != nil {
			return nil, err
		} else if done {
			oc.Finished++
			continue
		}
		todo = append(todo, j)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("study folder: %w", err)
	}
	if record != nil {
		if err := record.write(opts.Dir); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "study %s: %d settings x %d seeds = %d runs", opts.Dir, len(jobs)/len(opts.Spec.Seeds), len(opts.Spec.Seeds), len(jobs))
	if !opts.Shard.all() {
		fmt.Fprintf(out, "; shard %s: %d runs", opts.Shard, oc.InShard)
	}
	fmt.Fprintf(out, "; %d finished, %d to run\n", oc.Finished, len(todo))
	if d, _ := (detector.TrainConfig{TimeBudget: opts.Spec.TimeBudget}).Budget(); d > 0 && len(todo) > 0 {
		eta := d * time.Duration(len(todo))
		fmt.Fprintf(out, "each run trains for %s: about %s for the %d runs, final evaluations aside (ETA %s)\n", d, eta, len(todo), now().Add(eta).Format("Jan 2 15:04"))
	}

	start := now()
	var spent time.Duration // wall time of the runs this call finished
	ran := 0
	for k, j := range todo {
		if ctx.Err() != nil {
			return oc, fmt.Errorf("%w before %s; run the same command again to continue", ErrInterrupted, j.Dir)
		}
		fmt.Fprintf(out, "\n[run %d of %d, %d of %d to run here] %s\n", j.Index+1, len(jobs), k+1, len(todo), j.Dir)
		t0 := now()
		status, err := runJob(ctx, &opts, m, j, out)
		var busy *BusyError
		switch {
		case errors.As(err, &busy):
			fmt.Fprintf(out, "%s: skipped, %s\n", j.Dir, err)
			oc.Busy = append(oc.Busy, j.Dir)
			continue
		case err != nil:
			return oc, err
		}
		switch status {
		case statusTrained:
			oc.Trained++
		case statusResumed:
			oc.Resumed++
		case statusReused:
			oc.Reused++
		case statusFinishedElsewhere:
			fmt.Fprintf(out, "%s: finished by another process\n", j.Dir)
			continue
		}
		oc.Evaluated++
		ran++
		spent += now().Sub(t0)
		left := len(todo) - k - 1
		fmt.Fprintf(out, "%s: finished in %s", j.Dir, now().Sub(t0).Round(time.Second))
		if left > 0 {
			eta := spent / time.Duration(ran) * time.Duration(left)
			fmt.Fprintf(out, "; %d runs left, about %s more (ETA %s)", left, eta.Round(time.Second), now().Add(eta).Format("Jan 2 15:04"))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "\nstudy %s: %d runs trained, %d resumed", opts.Dir, oc.Trained, oc.Resumed)
	if oc.Reused > 0 {
		fmt.Fprintf(out, ", %d reused", oc.Reused)
	}
	fmt.Fprintf(out, ", in %s", now().Sub(start).Round(time.Second))
	if len(oc.Busy) > 0 {
		fmt.Fprintf(out, "; %d held by other processes: %s", len(oc.Busy), strings.Join(oc.Busy, ", "))
	}
	fmt.Fprintln(out)
	rep, err := WriteReport(opts.Dir, opts.Report)
	if err != nil {
		return oc, fmt.Errorf("study report: %w", err)
	}
	oc.Report = rep
	return oc, nil
}

// dryRun checks the study against the folder's manifest and runs, and
// lists the runs of the shard with what a real call would do with each.
func dryRun(opts *Options, jobs []job, m *Manifest, out io.Writer) (*Outcome, error) {
	if _, err := checkManifest(opts.Dir, m, opts.AllowChange); err != nil {
		return nil, err
	}
	oc := &Outcome{Runs: len(jobs)}
	for i := range jobs {
		j := &jobs[i]
		if !opts.Shard.holds(j.Index) {
			continue
		}
		oc.InShard++
		if err := checkRunDir(opts.Dir, j); err != nil {
			return nil, err
		}
		what := "to train"
		if done, err := finished(opts.Dir, j); err != nil {
			return nil, err
		} else if done {
			what = "finished"
			oc.Finished++
		} else if _, err := os.Stat(filepath.Join(opts.Dir, j.Dir, detector.WeightsDir, detector.LastCkpt)); err == nil {
			what = "to resume"
		}
		fmt.Fprintf(out, "run %d of %d: %s (%s): %s + %s, %d epochs", j.Index+1, len(jobs), j.Dir, what, j.Config.Loss.Cls, j.Config.Loss.Reg, j.Config.Train.Epochs)
		if j.Config.Train.TimeBudget != "" {
			fmt.Fprintf(out, " at most, time budget %s", j.Config.Train.TimeBudget)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "%d runs in the grid, %d here, %d finished; every configuration is valid (nothing was run or written)\n", oc.Runs, oc.InShard, oc.Finished)
	return oc, nil
}

// checkManifest compares the study m with the one recorded in dir and
// returns the manifest to write: m for a new study (or a change allowed),
// the recorded one with m's baseline when only that changed, nil when
// nothing changed. Another study is an error unless allowChange.
func checkManifest(dir string, m *Manifest, allowChange bool) (*Manifest, error) {
	old, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return m, nil
	}
	if diffs := old.differences(m); len(diffs) > 0 {
		if !allowChange {
			return nil, fmt.Errorf("%s holds another study (%s):\n  %s\nuse another folder, or allow the change (--allow-change) to keep the runs whose configuration is unchanged",
				dir, ManifestFile, strings.Join(diffs, "\n  "))
		}
		return m, nil
	}
	if !slices.Equal(old.Spec.Baseline, m.Spec.Baseline) || old.EvalName != m.EvalName {
		old.Spec.Baseline, old.EvalName = m.Spec.Baseline, m.EvalName
		return old, nil
	}
	return nil, nil
}

// checkRunDir checks that a run directory already in the study folder
// holds the configuration its setting and seed give now.
func checkRunDir(dir string, j *job) error {
	path := filepath.Join(dir, j.Dir, detector.ConfigFile)
	have, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", j.Dir, err)
	}
	if string(have) != string(j.ConfigYAML) {
		return fmt.Errorf("run %s was trained with another configuration than its setting and seed give now (%s); remove the folder to train it again, or use another study folder",
			filepath.Join(dir, j.Dir), firstLineDiff(string(have), string(j.ConfigYAML)))
	}
	return nil
}

// finished reports whether a run has its result.
func finished(dir string, j *job) (bool, error) {
	r, err := readResult(filepath.Join(dir, j.Dir, ResultFile))
	if err != nil {
		return false, fmt.Errorf("run %s: %w", j.Dir, err)
	}
	return r != nil, nil
}

// What runJob did.
const (
	statusTrained = iota
	statusResumed
	statusEvaluated // training was over: evaluated only
	statusReused    // copied from another study, then evaluated
	statusFinishedElsewhere
)

// runJob trains (or resumes) and evaluates one run while holding its lock.
func runJob(ctx context.Context, opts *Options, m *Manifest, j *job, out io.Writer) (int, error) {
	runDir := filepath.Join(opts.Dir, j.Dir)
	if err := os.MkdirAll(filepath.Dir(runDir), 0o755); err != nil {
		return 0, fmt.Errorf("run %s: %w", j.Dir, err)
	}
	lock, err := acquireLock(runDir + ".lock")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := lock.release(); err != nil {
			fmt.Fprintf(out, "warning: %v\n", err)
		}
	}()
	// Another process may have finished the run before the lock was ours.
	if done, err := finished(opts.Dir, j); err != nil || done {
		return statusFinishedElsewhere, err
	}
	if err := checkRunDir(opts.Dir, j); err != nil {
		return 0, err
	}

	status := statusEvaluated
	var tr trained
	var sum *detector.Summary
	trainedPath := filepath.Join(runDir, TrainedFile)
	if _, err := os.Stat(trainedPath); errors.Is(err, os.ErrNotExist) && len(opts.Reuse) > 0 {
		from, err := reuseRun(opts, m, j, runDir)
		if err != nil {
			return 0, fmt.Errorf("run %s: %w", j.Dir, err)
		}
		if from != "" {
			fmt.Fprintf(out, "%s: reusing %s (same configuration and training data; trained there)\n", j.Dir, from)
			status = statusReused
		}
	}
	if err := readJSONFile(trainedPath, &tr); errors.Is(err, os.ErrNotExist) {
		last := filepath.Join(runDir, detector.WeightsDir, detector.LastCkpt)
		resume := false
		if _, err := os.Stat(last); err == nil {
			resume = true
		} else if err := os.RemoveAll(runDir); err != nil { // a start without a checkpoint: start again
			return 0, fmt.Errorf("run %s: %w", j.Dir, err)
		}
		ro := detector.RunOptions{Dir: runDir, Train: opts.Train, Val: opts.Val, Backend: opts.Backend,
			Resume: resume, Out: out, Version: opts.Version}
		if opts.Spec.Epochs > 0 {
			ro.MaxEpochs = j.Config.Train.Epochs
		}
		if opts.OnStep != nil {
			ro.OnStep = func(step int, _ train.Result) { opts.OnStep(j.Dir, step) }
		}
		if resume {
			fmt.Fprintf(out, "%s: resuming from %s\n", j.Dir, last)
			status = statusResumed
		} else {
			status = statusTrained
		}
		sum, err = detector.Run(ctx, j.Config, ro)
		if err != nil {
			return 0, fmt.Errorf("run %s: %w", j.Dir, err)
		}
		if sum.Stopped == detector.StopInterrupted {
			return 0, fmt.Errorf("%w: %s saved its last checkpoint (%s); run the same command again to resume it", ErrInterrupted, j.Dir, last)
		}
		tr = trained{Epochs: sum.Epochs, Steps: sum.Steps, Stopped: sum.Stopped, ImagesPerS: sum.ImagesPerSec}
		tr.TrainTimeS, tr.Sessions = sessionsTrainTime(runDir)
		if u := sum.Budget; u != nil {
			tr.Budget = &BudgetUsage{Budget: u.Budget.String(), UsedS: u.Used.Seconds(), PlannedEpochs: u.PlannedEpochs}
		}
		if err := writeJSONFile(trainedPath, &tr); err != nil {
			return 0, fmt.Errorf("run %s: %w", j.Dir, err)
		}
	} else if err != nil {
		return 0, fmt.Errorf("run %s: %w", j.Dir, err)
	} else {
		if status != statusReused {
			fmt.Fprintf(out, "%s: trained before; evaluating\n", j.Dir)
		}
		sum = tr.summary(runDir)
	}
	if err := evaluateRun(opts, m, j, runDir, &tr, sum, out); err != nil {
		return 0, fmt.Errorf("run %s: %w", j.Dir, err)
	}
	return status, nil
}

// reuseRun looks in the Reuse folders for a trained run with j's
// configuration and m's training data; it copies the first found to runDir
// (which must not hold a checkpoint yet), without its evaluation files, and
// returns its path ("" when none matches).
func reuseRun(opts *Options, m *Manifest, j *job, runDir string) (string, error) {
	if _, err := os.Stat(filepath.Join(runDir, detector.WeightsDir, detector.LastCkpt)); err == nil {
		return "", nil // an interrupted run of this study: resume it instead
	}
	for _, dir := range opts.Reuse {
		other, err := ReadManifest(dir)
		if err != nil {
			return "", fmt.Errorf("--reuse: %w", err)
		}
		if !sameData(other.Train, m.Train) {
			continue
		}
		cands, err := filepath.Glob(filepath.Join(dir, "*", fmt.Sprintf("seed-%d", j.Seed), detector.ConfigFile))
		if err != nil {
			return "", err
		}
		for _, c := range cands {
			src := filepath.Dir(c)
			have, err := os.ReadFile(c)
			if err != nil || string(have) != string(j.ConfigYAML) {
				continue
			}
			if _, err := os.Stat(filepath.Join(src, TrainedFile)); err != nil {
				continue // still training there
			}
			if err := copyRunDir(src, runDir); err != nil {
				return "", fmt.Errorf("reusing %s: %w", src, err)
			}
			return src, nil
		}
	}
	return "", nil
}

// copyRunDir copies the run directory src to dst (through a temporary
// folder renamed at the end), leaving out the evaluation of src's study.
func copyRunDir(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	tmp := dst + ".copy"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(tmp, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if rel == ResultFile || rel == DetsFile || !d.Type().IsRegular() {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, raw, 0o644)
	})
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// evaluateRun evaluates the last checkpoint of a trained run on the
// evaluation data, analyses its gradient norms, writes the run report and
// the run's result.
func evaluateRun(opts *Options, m *Manifest, j *job, runDir string, tr *trained, sum *detector.Summary, out io.Writer) error {
	last := filepath.Join(runDir, detector.WeightsDir, detector.LastCkpt)
	cfg, store, err := detector.LoadModel(last)
	if err != nil {
		return err
	}
	t0 := time.Now()
	res, _, err := detector.Evaluate(opts.Backend, store, cfg, opts.Eval, filepath.Join(runDir, DetsFile))
	if err != nil {
		return fmt.Errorf("final evaluation: %w", err)
	}
	evalTime := time.Since(t0)
	n := opts.AnalyzeImages
	if n <= 0 {
		n = DefaultAnalyzeImages
	}
	a, err := detector.AnalyzeGradNorm(opts.Backend, store, cfg, opts.Eval, n)
	if err != nil {
		return fmt.Errorf("gradient-norm analysis: %w", err)
	}
	figs, err := detector.WriteGradNorm(runDir, a, cfg.Loss.FocalGamma)
	if err != nil {
		return err
	}
	var valDets [][]detector.Detection
	if sum != nil && opts.Val != nil {
		valDets = sum.FinalDetections
	}
	if err := detector.WriteRunReport(runDir, cfg, sum, opts.Val, valDets, figs); err != nil {
		return fmt.Errorf("run report: %w", err)
	}
	r := newResult(j, res, opts.EvalName, len(opts.Eval.Images), m.Train, m.Eval, tr)
	r.EvalTimeS = evalTime.Seconds()
	r.GradNorm = a
	if err := writeJSONFile(filepath.Join(runDir, ResultFile), r); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d epochs, %d steps (%s), training %s; %s on %s: AP %.4f AP50 %.4f AP75 %.4f\n",
		j.Dir, tr.Epochs, tr.Steps, tr.Stopped, seconds(tr.TrainTimeS),
		r.Checkpoint, opts.EvalName, res.Stats[0], res.Stats[1], res.Stats[2])
	return nil
}

// seconds formats a number of seconds as a duration rounded to the second.
func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Second)
}
