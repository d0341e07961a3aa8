package study

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/data/synth"
	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/internal/testrun"
	"github.com/ghmdet/ghmdet/train"
)

// tinyStudy returns the options of a small study in dir: the tiny test
// model (128 x 128 input, 2 classes) trained one epoch (3 steps) on 6
// generated images and evaluated on 4 others, with a low score threshold so
// that the barely trained models have detections to compare.
func tinyStudy(t *testing.T, dir string, axes []Axis, seeds ...int64) Options {
	t.Helper()
	sc := synth.DefaultConfig()
	sc.Seed, sc.Train, sc.Val, sc.Size, sc.Classes, sc.Ratio = 3, 6, 4, 128, 2, 3
	sc.MinObjects, sc.MaxObjects, sc.MaxDistractors = 1, 3, 0
	sc.SmallFrac, sc.LargeFrac = 0, 0
	res, err := synth.Write(filepath.Join(t.TempDir(), "data"), sc)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := testrun.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Train.LogEvery = 1
	cfg.Test.ScoreThresh = 0.001
	return Options{
		Dir: dir, Spec: Spec{Axes: axes, Seeds: seeds, Epochs: 1}, Base: cfg,
		Train: res.Train.Dataset, Val: res.Val.Dataset, Eval: res.Val.Dataset, EvalName: "the generated validation images",
		Backend: backend.MustNew(""), AnalyzeImages: 4, Version: "test",
	}
}

// modTimes returns the modification time of every run's last checkpoint
// and result.
func modTimes(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "seed-*", "weights", detector.LastCkpt))
	if err != nil {
		t.Fatal(err)
	}
	results, _ := filepath.Glob(filepath.Join(dir, "*", "seed-*", ResultFile))
	out := map[string]time.Time{}
	for _, f := range append(files, results...) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = st.ModTime()
	}
	return out
}

// readReport reads study_results.json back.
func readReport(t *testing.T, dir string) *Report {
	t.Helper()
	var rep struct {
		Report
		Settings []struct {
			Setting string `json:"setting"`
			Seeds   []int64
			Metrics []struct {
				Name   string     `json:"name"`
				Values []*float64 `json:"values"`
				Mean   *float64   `json:"mean"`
			} `json:"metrics"`
		} `json:"settings"`
	}
	if err := readJSONFile(filepath.Join(dir, ResultsJSON), &rep); err != nil {
		t.Fatal(err)
	}
	out := rep.Report
	out.Settings = nil
	for _, s := range rep.Settings {
		ss := SettingSummary{Setting: s.Setting, Seeds: s.Seeds}
		for _, m := range s.Metrics {
			ms := MetricSummary{Name: m.Name}
			for _, v := range m.Values {
				if v == nil {
					ms.Values = append(ms.Values, -1)
				} else {
					ms.Values = append(ms.Values, *v)
				}
			}
			if m.Mean != nil {
				ms.Mean = *m.Mean
			}
			ss.Metrics = append(ss.Metrics, ms)
		}
		out.Settings = append(out.Settings, ss)
	}
	return &out
}

// TestStudy runs a grid of 2 settings x 2 seeds as two shards, checks the
// run directories and that the report's numbers are those of evaluating
// each run's last checkpoint as ghmdet eval does, that running the study
// again trains nothing, that another grid in the same folder is refused,
// and that a study interrupted in the middle of a run resumes it and ends
// with the same model as the uninterrupted run.
func TestStudy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "study")
	axes := []Axis{{Key: "loss.cls", Values: []string{"focal", "ghmc"}}}
	opts := tinyStudy(t, dir, axes, 1, 2)
	var log strings.Builder
	opts.Out = &log

	// Two shards together cover the grid once.
	trained := 0
	for i := 1; i <= 2; i++ {
		o := opts
		o.Shard = Shard{Index: i, Count: 2}
		oc, err := Run(context.Background(), o)
		if err != nil {
			t.Fatalf("shard %d/2: %v\n%s", i, err, log.String())
		}
		if oc.Runs != 4 || oc.InShard != 2 || oc.Trained != 2 || oc.Finished != 0 {
			t.Fatalf("shard %d/2: %+v, want 4 runs, 2 in the shard, 2 trained", i, oc)
		}
		trained += oc.Trained
	}
	runs := []string{"cls=focal/seed-1", "cls=ghmc/seed-1", "cls=focal/seed-2", "cls=ghmc/seed-2"}
	for _, r := range runs {
		for _, f := range []string{detector.ConfigFile, "weights/last.ckpt", ResultFile, DetsFile, "report.md", "gradnorm_cls.png"} {
			if _, err := os.Stat(filepath.Join(dir, r, f)); err != nil {
				t.Errorf("run %s: %v", r, err)
			}
		}
	}
	for _, f := range []string{ManifestFile, ReportBase + ".md", ReportBase + ".html", RunsCSV, SummaryCSV, ResultsJSON, APPlot, APByIoUPlot, GradNormClsPlot, GradNormBoxPlot} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("study report: %v", err)
		}
	}

	// The report's numbers are those of the final evaluation of each run's
	// last checkpoint (what ghmdet eval --model RUN/weights/last.ckpt does).
	rep := readReport(t, dir)
	if len(rep.Settings) != 2 || len(rep.Missing) != 0 || rep.GridRuns != 4 || rep.Baseline != "loss.cls=focal" {
		t.Fatalf("report: %d settings, missing %v, %d grid runs, baseline %q", len(rep.Settings), rep.Missing, rep.GridRuns, rep.Baseline)
	}
	dets := 0
	for _, ss := range rep.Settings {
		if !reflect.DeepEqual(ss.Seeds, []int64{1, 2}) {
			t.Fatalf("setting %s: seeds %v", ss.Setting, ss.Seeds)
		}
		for k, seed := range ss.Seeds {
			run := filepath.Join(dir, ss.Setting, fmt.Sprintf("seed-%d", seed))
			cfg, store, err := detector.LoadModel(filepath.Join(run, "weights", detector.LastCkpt))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Seed != seed || !strings.HasSuffix(ss.Setting, cfg.Loss.Cls) {
				t.Errorf("run %s: seed %d, loss %s", run, cfg.Seed, cfg.Loss.Cls)
			}
			res, d, err := detector.Evaluate(opts.Backend, store, cfg, opts.Eval, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range d {
				dets += len(l)
			}
			want := map[string]float64{}
			for _, m := range statMetrics {
				want[m.name] = res.Stats[m.idx]
			}
			for i, v := range res.APByIoU() {
				want[IoUMetric(i)] = v
			}
			for _, c := range res.PerCategory {
				want[ClassMetric(c.Name)] = c.AP
			}
			for name, w := range want {
				var got *MetricSummary
				for i := range ss.Metrics {
					if ss.Metrics[i].Name == name {
						got = &ss.Metrics[i]
					}
				}
				if got == nil {
					t.Fatalf("setting %s: no metric %s", ss.Setting, name)
				}
				if got.Values[k] != w {
					t.Errorf("run %s: %s %v in the report, %v evaluating its last checkpoint", run, name, got.Values[k], w)
				}
			}
		}
	}
	if dets == 0 {
		t.Fatal("no detections: the comparison proves nothing")
	}
	md, err := os.ReadFile(filepath.Join(dir, ReportBase+".md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cls=focal", "cls=ghmc", "Student t", "weights/last.ckpt", "Difference from the baseline"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("study.md does not mention %q", want)
		}
	}

	t.Run("rerun does nothing", func(t *testing.T) {
		before := modTimes(t, dir)
		if len(before) != 8 {
			t.Fatalf("%d checkpoints and results, want 8", len(before))
		}
		oc, err := Run(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if oc.Finished != 4 || oc.Trained+oc.Resumed+oc.Evaluated != 0 {
			t.Errorf("rerun: %+v, want 4 finished and nothing trained or evaluated", oc)
		}
		if after := modTimes(t, dir); !reflect.DeepEqual(before, after) {
			t.Error("a checkpoint or result was rewritten")
		}
	})

	t.Run("another grid is refused", func(t *testing.T) {
		o := opts
		o.Spec.Axes = []Axis{{Key: "loss.cls", Values: []string{"focal", "ce"}}}
		_, err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "holds another study") || !strings.Contains(err.Error(), "grid (--vary)") {
			t.Fatalf("error %v, want one saying the folder holds another study and naming the grid", err)
		}
		o = opts
		o.Spec.Epochs = 2
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "epochs") {
			t.Fatalf("other epochs: error %v", err)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		var out strings.Builder
		o := opts
		o.DryRun, o.Out = true, &out
		o.Spec.Axes = []Axis{{Key: "loss.cls", Values: []string{"focal", "ce"}}}
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "holds another study") {
			t.Fatalf("dry run of another grid: %v", err)
		}
		o.AllowChange = true
		before := modTimes(t, dir)
		oc, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if oc.Finished != 2 || oc.InShard != 4 || oc.Trained != 0 || !strings.Contains(out.String(), "cls=ce/seed-2 (to train)") || !strings.Contains(out.String(), "cls=focal/seed-1 (finished)") {
			t.Errorf("dry run: %+v\n%s", oc, out.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "cls=ce")); err == nil {
			t.Error("the dry run created a run folder")
		}
		if after := modTimes(t, dir); !reflect.DeepEqual(before, after) {
			t.Error("the dry run rewrote a run")
		}
	})

	t.Run("interrupted study resumes", func(t *testing.T) {
		dir2 := filepath.Join(t.TempDir(), "study")
		o := opts
		o.Dir, o.Spec.Axes, o.Spec.Seeds = dir2, []Axis{{Key: "loss.cls", Values: []string{"focal"}}}, []int64{1}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		o.OnStep = func(run string, step int) {
			if step == 2 {
				cancel()
			}
		}
		_, err := Run(ctx, o)
		if !errors.Is(err, ErrInterrupted) {
			t.Fatalf("error %v, want ErrInterrupted", err)
		}
		run := filepath.Join(dir2, "cls=focal", "seed-1")
		if _, err := os.Stat(filepath.Join(run, "weights", detector.LastCkpt)); err != nil {
			t.Fatalf("no checkpoint after the interruption: %v", err)
		}
		if _, err := os.Stat(filepath.Join(run, ResultFile)); err == nil {
			t.Fatal("an interrupted run has a result")
		}
		// A live process's lock keeps the run off.
		held := run + ".lock"
		if err := os.WriteFile(held, fmt.Appendf(nil, `{"pid": %d, "host": %q, "started": "now"}`, os.Getpid(), hostname()), 0o644); err != nil {
			t.Fatal(err)
		}
		o.OnStep = nil
		oc, err := Run(context.Background(), o)
		if err != nil || len(oc.Busy) != 1 || oc.Resumed != 0 {
			t.Fatalf("locked run: %+v, %v; want it skipped as busy", oc, err)
		}
		if err := os.Remove(held); err != nil {
			t.Fatal(err)
		}
		oc, err = Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if oc.Resumed != 1 || oc.Trained != 0 {
			t.Fatalf("after the interruption: %+v, want 1 run resumed", oc)
		}
		// The same model as the uninterrupted run of the first study.
		ref := filepath.Join(dir, "cls=focal", "seed-1")
		if a, b := stepLosses(t, ref), stepLosses(t, run); len(a) != 3 || !reflect.DeepEqual(a, b) {
			t.Errorf("losses per step: %v after the interruption, %v uninterrupted; want 3 equal steps", b, a)
		}
		for _, f := range []string{DetsFile} {
			a, err1 := os.ReadFile(filepath.Join(ref, f))
			b, err2 := os.ReadFile(filepath.Join(run, f))
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if string(a) != string(b) {
				t.Errorf("%s differs between the interrupted and resumed run and the uninterrupted one:\n%s\n%s", f, b, a)
			}
		}
		ra, _ := readResult(filepath.Join(ref, ResultFile))
		rb, _ := readResult(filepath.Join(run, ResultFile))
		if ra.Stats != rb.Stats || rb.Steps != 3 || rb.Epochs != 1 {
			t.Errorf("resumed run: stats %v, %d steps, %d epochs; uninterrupted: %v", rb.Stats, rb.Steps, rb.Epochs, ra.Stats)
		}
		if _, err := os.Stat(held); err == nil {
			t.Error("the lock was left behind")
		}
	})

	t.Run("reuse of another study's runs", func(t *testing.T) {
		other := "ghmr"
		if opts.Base.Loss.Reg == other {
			other = "smooth_l1"
		}
		o := opts
		o.Dir = filepath.Join(t.TempDir(), "reg")
		o.Spec.Axes = []Axis{{Key: "loss.reg", Values: []string{opts.Base.Loss.Reg, other}}}
		o.Spec.Set = []Assignment{{Key: "loss.cls", Value: "ghmc"}}
		o.Spec.Seeds = []int64{1}
		o.Reuse = []string{dir}
		oc, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if oc.Reused != 1 || oc.Trained != 1 {
			t.Fatalf("%+v, want the ghmc run of seed 1 reused and the %s run trained", oc, other)
		}
		src := filepath.Join(dir, "cls=ghmc", "seed-1")
		dst := filepath.Join(o.Dir, "reg="+opts.Base.Loss.Reg, "seed-1")
		a, _ := os.ReadFile(filepath.Join(src, "weights", detector.LastCkpt))
		b, err := os.ReadFile(filepath.Join(dst, "weights", detector.LastCkpt))
		if err != nil || len(a) == 0 || string(a) != string(b) {
			t.Fatalf("the reused run's checkpoint differs from its source (%v)", err)
		}
		ra, _ := readResult(filepath.Join(src, ResultFile))
		rb, err := readResult(filepath.Join(dst, ResultFile))
		if err != nil || rb == nil {
			t.Fatalf("reused run: no result (%v)", err)
		}
		if rb.Setting != "reg="+opts.Base.Loss.Reg || rb.Stats != ra.Stats {
			t.Errorf("reused run: setting %q, stats %v; want reg=%s and the source's %v", rb.Setting, rb.Stats, opts.Base.Loss.Reg, ra.Stats)
		}
		// Other training data: nothing is reused.
		o.Dir = filepath.Join(t.TempDir(), "reg-other-data")
		o.Spec.Axes = []Axis{{Key: "loss.reg", Values: []string{opts.Base.Loss.Reg}}}
		train := *opts.Train
		train.Images = train.Images[1:]
		o.Train = &train
		oc, err = Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if oc.Reused != 0 || oc.Trained != 1 {
			t.Errorf("other training data: %+v, want the run trained, not reused", oc)
		}
	})

	t.Run("changed grid keeps the runs and merges them", func(t *testing.T) {
		o := opts
		o.Spec.Axes = []Axis{{Key: "loss.cls", Values: []string{"focal", "ce"}}}
		o.AllowChange = true
		before := modTimes(t, dir)
		oc, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if oc.Trained != 2 || oc.Finished != 2 {
			t.Fatalf("changed grid: %+v, want the 2 focal runs kept and 2 ce runs trained", oc)
		}
		after := modTimes(t, dir)
		for f, mt := range before {
			if !after[f].Equal(mt) {
				t.Errorf("%s was rewritten", f)
			}
		}
		var names []string
		for _, s := range oc.Report.Settings {
			names = append(names, fmt.Sprintf("%s:%d", s.Setting, len(s.Seeds)))
		}
		if want := []string{"cls=focal:2", "cls=ce:2", "cls=ghmc:2"}; !reflect.DeepEqual(names, want) || len(oc.Report.Missing) != 0 {
			t.Errorf("report settings %v (missing %v), want %v", names, oc.Report.Missing, want)
		}
	})
}

// stepLosses returns the loss of every training step of a run.
func stepLosses(t *testing.T, run string) map[float64]float64 {
	t.Helper()
	recs, err := train.ReadMetrics(filepath.Join(run, detector.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	out := map[float64]float64{}
	for _, r := range recs {
		if l, ok := r["loss"].(float64); ok {
			out[r["step"].(float64)] = l
		}
	}
	return out
}

// TestPlanErrors checks that bad grids and options are refused before
// anything runs, with errors naming the setting and what is wrong.
func TestPlanErrors(t *testing.T) {
	root := t.TempDir()
	base := tinyStudy(t, "", nil, 1)
	bigBatch := base.Base
	bigBatch.Train.BatchSize = 8
	renamed := *base.Eval
	renamed.Classes = []string{"a", "b"}
	cases := []struct {
		name string
		edit func(o *Options)
		want string
	}{
		{"invalid value in one setting", func(o *Options) {
			o.Spec.Axes = []Axis{{Key: "loss.ghmc_bins", Values: []string{"10", "0"}}}
		}, "setting ghmc_bins=0, seed 1: loss.ghmc_*"},
		{"unknown loss", func(o *Options) { o.Spec.Axes = []Axis{{Key: "loss.cls", Values: []string{"focal", "hinge"}}} }, `setting cls=hinge, seed 1: loss.cls: unknown value "hinge"`},
		{"wrong type", func(o *Options) { o.Spec.Axes = []Axis{{Key: "loss.ghmc_bins", Values: []string{"ten"}}} }, "setting ghmc_bins=ten: loss.ghmc_bins=ten: cannot unmarshal"},
		{"unknown key", func(o *Options) { o.Spec.Axes = []Axis{{Key: "loss.bins", Values: []string{"1"}}} }, `unknown key "loss.bins"`},
		{"seed varied", func(o *Options) { o.Spec.Axes = []Axis{{Key: "seed", Values: []string{"1"}}} }, "the seeds are the study's"},
		{"varied and fixed", func(o *Options) {
			o.Spec.Axes = []Axis{{Key: "loss.cls", Values: []string{"focal"}}}
			o.Spec.Set = []Assignment{{Key: "loss.cls", Value: "ce"}}
		}, "loss.cls is both varied"},
		{"bad fixed value", func(o *Options) { o.Spec.Set = []Assignment{{Key: "train.epochs", Value: "many"}} }, "--set train.epochs=many"},
		{"baseline off the grid", func(o *Options) {
			o.Spec.Axes = []Axis{{Key: "loss.cls", Values: []string{"focal", "ghmc"}}}
			o.Spec.Baseline = []Assignment{{Key: "loss.cls", Value: "ce"}}
		}, `"ce" is not one of the values of loss.cls`},
		{"baseline key not varied", func(o *Options) {
			o.Spec.Axes = []Axis{{Key: "loss.cls", Values: []string{"focal"}}}
			o.Spec.Baseline = []Assignment{{Key: "loss.reg", Value: "l1"}}
		}, "loss.reg is not varied"},
		{"seed twice", func(o *Options) { o.Spec.Seeds = []int64{1, 1} }, "seed 1 is given twice"},
		{"no seeds", func(o *Options) { o.Spec.Seeds = nil }, "no seeds"},
		{"bad budget", func(o *Options) { o.Spec.TimeBudget = "soon" }, `time budget "soon"`},
		{"batch over the data", func(o *Options) { o.Base = bigBatch }, "the training data has only 6 images"},
		{"evaluation classes", func(o *Options) { o.Eval = &renamed }, "evaluation data: the model's class names differ"},
		{"no evaluation data", func(o *Options) { o.Eval = nil }, "no evaluation data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			o.Dir = filepath.Join(root, strings.ReplaceAll(c.name, " ", "_"))
			c.edit(&o)
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if _, err := os.Stat(o.Dir); !os.IsNotExist(err) {
				t.Errorf("the study folder was created before the error: %v", err)
			}
		})
	}
}

// TestShard checks the parsing of --shard and that the shards of a grid
// hold every run exactly once.
func TestShard(t *testing.T) {
	for n := 1; n <= 5; n++ {
		count := make([]int, 12)
		for i := 1; i <= n; i++ {
			s, err := ParseShard(fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatal(err)
			}
			for p := range count {
				if s.holds(p) {
					count[p]++
				}
			}
		}
		for p, c := range count {
			if c != 1 {
				t.Errorf("%d shards: run %d is in %d shards", n, p, c)
			}
		}
	}
	for _, bad := range []string{"0/2", "3/2", "1/0", "1", "a/b", "-1/2"} {
		if _, err := ParseShard(bad); err == nil || !strings.Contains(err.Error(), "want i/n") {
			t.Errorf("ParseShard(%q): %v", bad, err)
		}
	}
	if !(Shard{}).holds(7) {
		t.Error("the zero shard does not hold every run")
	}
}

// TestLock checks the run locks: exclusive, taken over from a dead process
// of this host, refused to a live process and to another host, released
// only by their holder.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.lock")
	l, err := acquireLock(path)
	if err != nil {
		t.Fatal(err)
	}
	var busy *BusyError
	if _, err := acquireLock(path); !errors.As(err, &busy) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second lock: %v, want busy naming this process", err)
	}
	if err := l.release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("release left the lock file")
	}
	// A process that has exited.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	cases := []struct {
		name string
		pid  int
		host string
		ok   bool
	}{
		{"dead process of this host", dead, hostname(), true},
		{"live process", os.Getpid(), hostname(), false},
		{"other host", dead, "elsewhere.example", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, fmt.Appendf(nil, `{"pid": %d, "host": %q, "started": "x"}`, c.pid, c.host), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(path)
			l, err := acquireLock(path)
			if c.ok != (err == nil) {
				t.Fatalf("acquire: %v, want success %v", err, c.ok)
			}
			if err != nil {
				return
			}
			// Taken over: now this process's, which alone releases it.
			other := &runLock{path: path, info: lockInfo{PID: 1, Host: "x"}}
			if err := other.release(); err == nil {
				t.Error("a lock was released by another holder")
			}
			if err := l.release(); err != nil {
				t.Error(err)
			}
		})
	}
	stale, _ := filepath.Glob(filepath.Join(dir, "*.stale-*"))
	if len(stale) != 0 {
		t.Errorf("files left aside: %v", stale)
	}
}
