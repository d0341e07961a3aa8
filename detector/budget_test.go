package detector

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/train"
)

// fakeClock is a clock that moves only when the test says so.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func TestEvalsAhead(t *testing.T) {
	cases := []struct{ done, total, every, want int }{
		{1, 1, 0, 1},  // the final one only
		{1, 10, 0, 1}, // idem
		{1, 10, 1, 10},
		{4, 12, 4, 3},  // 4, 8, 12 (the final one)
		{4, 13, 4, 4},  // 4, 8, 12 and the final 13
		{5, 13, 4, 3},  // 8, 12, 13
		{5, 5, 4, 1},   // the final one
		{8, 8, 4, 1},   // the final one, a multiple
		{3, 2, 4, 0},   // nothing planned
		{1, 24, 4, 6},  // 4, 8, ..., 24
		{1, 31, 4, 8},  // 4, ..., 28 and 31
		{17, 24, 4, 2}, // 20, 24
	}
	for _, c := range cases {
		if got := evalsAhead(c.done, c.total, c.every); got != c.want {
			t.Errorf("evalsAhead(%d, %d, %d) = %d, want %d", c.done, c.total, c.every, got, c.want)
		}
	}
}

func TestFitEpochs(t *testing.T) {
	s := time.Second
	cases := []struct {
		name      string
		done      int
		remaining time.Duration
		est       budgetEstimate
		every     int
		withVal   bool
		maxEpochs int
		want      int
	}{
		// 20 minutes, a first epoch of 3m23s of which 100 s is the training
		// steps: 9 more epochs of 100 s fit in the 997 s left.
		{"lengthens", 1, 20*time.Minute - 203*s, budgetEstimate{Epoch: 100 * s}, 0, false, 0, 10},
		{"capped", 1, 20*time.Minute - 203*s, budgetEstimate{Epoch: 100 * s}, 0, false, 6, 6},
		{"cap below done", 5, time.Hour, budgetEstimate{Epoch: 100 * s}, 0, false, 3, 5},
		// Evaluations after 4, 8 and 12 (final): 800 + 150 s; 13 would
		// cost 900 + 200 s.
		{"evaluations counted", 4, 1000 * s, budgetEstimate{Epoch: 100 * s, Eval: 50 * s}, 4, true, 0, 12},
		{"no validation data", 4, 1000 * s, budgetEstimate{Epoch: 100 * s, Eval: 50 * s}, 4, false, 0, 14},
		// Only the final evaluation: 950 s for 13 epochs.
		{"final evaluation", 4, 1000 * s, budgetEstimate{Epoch: 100 * s, Eval: 50 * s}, 0, true, 0, 13},
		{"nothing more fits", 3, 30 * s, budgetEstimate{Epoch: 100 * s, Eval: 50 * s}, 0, true, 0, 3},
		{"budget exceeded", 3, -30 * s, budgetEstimate{Epoch: 100 * s}, 0, false, 0, 3},
		{"exact fit", 2, 300 * s, budgetEstimate{Epoch: 100 * s}, 0, false, 0, 5},
		{"tiny epochs bounded", 1, time.Hour, budgetEstimate{Epoch: time.Nanosecond}, 0, false, 0, 1 + maxPlanEpochs},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := fitEpochs(c.done, c.remaining, c.est, c.every, c.withVal, c.maxEpochs)
			if got != c.want {
				t.Errorf("fitEpochs = %d, want %d", got, c.want)
			}
			if got > c.done && planCost(c.done, got, c.est, c.every, c.withVal) > c.remaining {
				t.Errorf("the plan of %d epochs costs %s, more than the %s left", got, planCost(c.done, got, c.est, c.every, c.withVal), c.remaining)
			}
		})
	}
}

func TestBudgetPlanMeta(t *testing.T) {
	p := budgetPlan{Epochs: 31, Steps: []int{21, 28}, EvalTime: 45 * time.Second, EpochTime: 98 * time.Second, Budget: 20 * time.Minute, MaxEpochs: 40}
	extra := p.extra(3*time.Minute + time.Nanosecond)
	var q budgetPlan
	ok, err := q.restore(extra)
	if err != nil || !ok {
		t.Fatalf("restore: %v, %v", ok, err)
	}
	p.Used = 3*time.Minute + time.Nanosecond
	if q.Epochs != p.Epochs || !slices.Equal(q.Steps, p.Steps) || q.Used != p.Used || q.EvalTime != p.EvalTime ||
		q.EpochTime != p.EpochTime || q.Budget != p.Budget || q.MaxEpochs != p.MaxEpochs {
		t.Errorf("restored %+v, want %+v", q, p)
	}
	// No milestones.
	p.Steps = nil
	if ok, err := q.restore(p.extra(0)); err != nil || !ok || len(q.Steps) != 0 {
		t.Errorf("restore without milestones: %v, %v, %v", ok, err, q.Steps)
	}
	// No plan: a run without a budget.
	q = budgetPlan{Epochs: 7}
	if ok, err := q.restore(map[string]string{"batch_in_epoch": "3"}); ok || err != nil || q.Epochs != 7 {
		t.Errorf("restore of a plan-less checkpoint: %v, %v, %+v", ok, err, q)
	}
	for key, bad := range map[string]string{metaPlanEpochs: "x", metaPlanSteps: "3,1", metaBudgetUsed: "soon", metaEvalTime: "-1s", metaMaxEpochs: "-2"} {
		e := p.extra(time.Second)
		e[key] = bad
		if _, err := q.restore(e); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: error %v, want one naming the key", key, bad, err)
		}
	}
}

// budgetArgs are the options of budgetRun: resume the run, cancel it
// after step cancelAt (0: never), the epoch cap.
type budgetArgs struct {
	resume    bool
	cancelAt  int
	maxEpochs int
}

// budgetRun trains on 8 tiny images (4 steps per epoch) under a time budget
// with a fake clock that moves by stepTime(step) at each step, and records
// the learning rate of every step.
func budgetRun(t *testing.T, dir string, cfg Config, a budgetArgs, stepTime func(step int) time.Duration) (*Summary, map[int]float64) {
	t.Helper()
	ds := tinyData(t, 8, 128, 17)
	clock := newFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lrs := map[int]float64{}
	sum, err := Run(ctx, cfg, RunOptions{Dir: dir, Train: ds, Backend: backend.MustNew(""), Resume: a.resume, MaxEpochs: a.maxEpochs,
		Now: clock.Now, OnStep: func(step int, res train.Result) {
			lrs[step] = res.LR
			clock.Advance(stepTime(step))
			if step == a.cancelAt {
				cancel()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return sum, lrs
}

// budgetConfig is a tiny configuration of 2 epochs with a learning-rate
// decay at half the run and no warm-up.
func budgetConfig(t *testing.T, budget string) Config {
	cfg := tinyConfig(t, 128)
	cfg.Train.Epochs = 2
	cfg.Train.TimeBudget = budget
	cfg.Schedule.Steps = []int{1}
	cfg.Schedule.Warmup = train.WarmupNone
	return cfg
}

// checkDecay checks that the learning rate is the base rate up to step
// `last` and a tenth of it after, up to step n.
func checkDecay(t *testing.T, lrs map[int]float64, last, n int) {
	t.Helper()
	if len(lrs) != n {
		t.Fatalf("%d steps, want %d", len(lrs), n)
	}
	for step := 1; step <= n; step++ {
		want := lrs[1]
		if step > last {
			want = lrs[1] * 0.1
		}
		if d := lrs[step] - want; d > 1e-12*want || d < -1e-12*want {
			t.Errorf("step %d: learning rate %v, want %v", step, lrs[step], want)
		}
	}
}

// TestBudgetLengthensRun checks that the budget, not the configured epochs,
// sets the length of a run, planned from the time per step without the
// compilation: the first step takes 100 s (compiling), the others 10 s, so
// the first epoch takes 130 s but the next ones 40 s; 4 of them fit in the
// 170 s left of a 5-minute budget, 5 epochs in all where 2 are configured.
func TestBudgetLengthensRun(t *testing.T) {
	dir := t.TempDir()
	sum, lrs := budgetRun(t, dir, budgetConfig(t, "5m"), budgetArgs{}, func(step int) time.Duration {
		if step == 1 {
			return 100 * time.Second
		}
		return 10 * time.Second
	})
	if sum.Stopped != StopCompleted || sum.Epochs != 5 || sum.Steps != 20 {
		t.Fatalf("stopped %q after %d epochs, %d steps; want %q after 5 epochs, 20 steps", sum.Stopped, sum.Epochs, sum.Steps, StopCompleted)
	}
	u := sum.Budget
	if u == nil {
		t.Fatal("no budget report")
	}
	want := BudgetUse{Budget: 5 * time.Minute, Used: 290 * time.Second, ConfigEpochs: 2, PlannedEpochs: 5, Epochs: 5, Milestones: []int{3}}
	if u.Budget != want.Budget || u.Used != want.Used || u.ConfigEpochs != 2 || u.PlannedEpochs != 5 || u.Epochs != 5 || !slices.Equal(u.Milestones, want.Milestones) {
		t.Errorf("budget report %+v, want %+v", *u, want)
	}
	// The decay configured after 1 of 2 epochs comes after 3 (2.5
	// rounded) of 5: steps 1-12 at the base rate.
	checkDecay(t, lrs, 12, 20)
	// run.json reports the budget.
	raw, err := os.ReadFile(filepath.Join(dir, RunInfoFile))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Result struct {
			Budget struct {
				UsedS         float64 `json:"used_s"`
				PlannedEpochs int     `json:"planned_epochs"`
				Epochs        int     `json:"epochs"`
			} `json:"budget"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	if b := info.Result.Budget; b.UsedS != 290 || b.PlannedEpochs != 5 || b.Epochs != 5 {
		t.Errorf("run.json budget %+v", b)
	}
	if s := u.String(); !strings.Contains(s, "time budget 5m0s: used 4m50s") || !strings.Contains(s, "epochs: 5 planned (configuration 2), 5 trained") {
		t.Errorf("report line %q", s)
	}
}

// TestBudgetShortensRun checks a budget that fits fewer epochs than
// configured, and that an explicit epoch cap bounds a budget's plan.
func TestBudgetShortensRun(t *testing.T) {
	tenSeconds := func(int) time.Duration { return 10 * time.Second }
	cfg := budgetConfig(t, "100s")
	cfg.Train.Epochs = 6
	cfg.Schedule.Steps = []int{3}
	// 40 s per epoch: 2 epochs fit in 100 s.
	sum, lrs := budgetRun(t, t.TempDir(), cfg, budgetArgs{}, tenSeconds)
	if sum.Epochs != 2 || sum.Budget.PlannedEpochs != 2 || sum.Stopped != StopCompleted || !slices.Equal(sum.Budget.Milestones, []int{1}) {
		t.Fatalf("%d epochs, report %+v; want 2 epochs planned and trained, milestone 1", sum.Epochs, *sum.Budget)
	}
	checkDecay(t, lrs, 4, 8)
	// A 5-minute budget fits 7 epochs, but at most 3 are asked for.
	cfg = budgetConfig(t, "5m")
	sum, _ = budgetRun(t, t.TempDir(), cfg, budgetArgs{maxEpochs: 3}, tenSeconds)
	if sum.Epochs != 3 || sum.Budget.PlannedEpochs != 3 || sum.Budget.MaxEpochs != 3 {
		t.Fatalf("capped run: %d epochs, report %+v; want 3", sum.Epochs, *sum.Budget)
	}
}

// TestBudgetResumeKeepsPlan interrupts a budgeted run in the middle of its
// second epoch and resumes it: the resumed run keeps the planned epochs and
// milestones and continues with the budget left, as if uninterrupted. Every
// step takes 10 s: after the first epoch (40 s) 3 more fit in the 130 s
// left of 170 s, the decay moves from after epoch 1 of 2 to after epoch 2
// of 4, and the resumed session, starting with 60 s used, must not plan
// more than the 4 epochs (a fresh clock would plan 5).
func TestBudgetResumeKeepsPlan(t *testing.T) {
	dir := t.TempDir()
	cfg := budgetConfig(t, "170s")
	tenSeconds := func(int) time.Duration { return 10 * time.Second }
	sum, lrs := budgetRun(t, dir, cfg, budgetArgs{cancelAt: 6}, tenSeconds)
	if sum.Stopped != StopInterrupted || sum.Steps != 6 {
		t.Fatalf("stopped %q after %d steps, want %q after 6", sum.Stopped, sum.Steps, StopInterrupted)
	}
	meta, _, err := train.ReadMeta(filepath.Join(dir, WeightsDir, LastCkpt))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{metaPlanEpochs: "4", metaPlanSteps: "2", metaBudgetUsed: "1m0s", metaBudget: "2m50s", "batch_in_epoch": "2"} {
		if meta.Extra[k] != v {
			t.Errorf("checkpoint meta %s = %q, want %q", k, meta.Extra[k], v)
		}
	}
	sum2, lrs2 := budgetRun(t, dir, cfg, budgetArgs{resume: true}, tenSeconds)
	if sum2.Stopped != StopCompleted || sum2.Steps != 16 || sum2.Epochs != 4 {
		t.Fatalf("resumed run stopped %q after %d steps, %d epochs; want %q after 16 steps, 4 epochs", sum2.Stopped, sum2.Steps, sum2.Epochs, StopCompleted)
	}
	if u := sum2.Budget; u == nil || u.PlannedEpochs != 4 || u.Used != 160*time.Second || !slices.Equal(u.Milestones, []int{2}) {
		t.Fatalf("resumed budget report %+v, want 4 epochs planned, 2m40s used, milestone 2", u)
	}
	for step, lr := range lrs2 {
		lrs[step] = lr
	}
	checkDecay(t, lrs, 8, 16)
	// One results row per epoch; the interrupted epoch's two parts merged.
	raw, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 5 {
		t.Fatalf("results table has %d lines, want a header and 4 rows:\n%s", len(lines), raw)
	}
	for i, l := range lines[1:] {
		f := strings.Split(l, ",")
		if want := []string{strconv.Itoa(i + 1), strconv.Itoa(4 * (i + 1)), "4"}; !slices.Equal(f[:3], want) {
			t.Errorf("row %d starts %v, want %v", i+1, f[:3], want)
		}
	}
}

// TestResumeChangedBudget resumes a budgeted run with a larger budget and a
// new epoch cap: the plan is made again at once from the last session's
// estimates.
func TestResumeChangedBudget(t *testing.T) {
	dir := t.TempDir()
	tenSeconds := func(int) time.Duration { return 10 * time.Second }
	sum, _ := budgetRun(t, dir, budgetConfig(t, "90s"), budgetArgs{}, tenSeconds)
	if sum.Epochs != 2 || sum.Budget.PlannedEpochs != 2 {
		t.Fatalf("first session: %d epochs, report %+v", sum.Epochs, *sum.Budget)
	}
	// 80 s used of 130 s: one more epoch of 40 s fits.
	var out strings.Builder
	ds := tinyData(t, 8, 128, 17)
	clock := newFakeClock()
	sum2, err := Run(context.Background(), budgetConfig(t, "130s"), RunOptions{Dir: dir, Train: ds, Backend: backend.MustNew(""), Resume: true,
		Now: clock.Now, Out: &out, OnStep: func(int, train.Result) { clock.Advance(10 * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Epochs != 3 || sum2.Budget.PlannedEpochs != 3 || sum2.Budget.Used != 120*time.Second {
		t.Fatalf("resumed with a larger budget: %d epochs, report %+v; want 3 epochs, 2m0s used\n%s", sum2.Epochs, *sum2.Budget, out.String())
	}
	// Resumed without a budget, an explicit epoch count sets the length.
	sum3, _ := budgetRun(t, dir, budgetConfig(t, "0"), budgetArgs{resume: true, maxEpochs: 4}, tenSeconds)
	if sum3.Epochs != 4 || sum3.Steps != 16 || sum3.Budget != nil {
		t.Fatalf("resumed without a budget: %d epochs, %d steps, report %v; want 4 epochs, 16 steps, no report", sum3.Epochs, sum3.Steps, sum3.Budget)
	}
}

// TestBudgetCountsEvaluation checks that the plan keeps time for the final
// evaluation: before one is measured, it is estimated as training on the
// validation images (4 steps: 40 s) plus the compilation (90 s), so after a
// first epoch of 130 s only one more epoch of 40 s fits in 5 minutes.
func TestBudgetCountsEvaluation(t *testing.T) {
	ds := tinyData(t, 8, 128, 17)
	clock := newFakeClock()
	sum, err := Run(context.Background(), budgetConfig(t, "5m"), RunOptions{Dir: t.TempDir(), Train: ds, Val: ds, Backend: backend.MustNew(""), Now: clock.Now,
		OnStep: func(step int, _ train.Result) {
			if step == 1 {
				clock.Advance(100 * time.Second)
			} else {
				clock.Advance(10 * time.Second)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Epochs != 2 || sum.Budget.PlannedEpochs != 2 || sum.Final == nil {
		t.Fatalf("%d epochs, report %+v, final evaluation %v; want 2 epochs and a final evaluation", sum.Epochs, *sum.Budget, sum.Final != nil)
	}
}

// TestResultsOneRowPerEpoch checks that the results table keeps one row per
// epoch: an epoch written again replaces its row, and the two parts of an
// interrupted and resumed epoch are merged.
func TestResultsOneRowPerEpoch(t *testing.T) {
	path := filepath.Join(t.TempDir(), ResultsFile)
	write := func(r resultRow) {
		t.Helper()
		if err := writeResults(path, r); err != nil {
			t.Fatal(err)
		}
	}
	write(resultRow{epoch: 1, step: 4, steps: 4, lr: 0.01, lossCls: 1, lossBox: 2})
	write(resultRow{epoch: 2, step: 5, steps: 1, lr: 0.01, lossCls: 4, lossBox: 8}) // interrupted after 1 step
	write(resultRow{epoch: 2, step: 8, steps: 3, lr: 0.01, lossCls: 2, lossBox: 4}) // resumed: 3 more
	write(resultRow{epoch: 3, step: 12, steps: 4, lr: 0.001, lossCls: 1, lossBox: 1})
	write(resultRow{epoch: 3, step: 12, steps: 4, lr: 0.001, lossCls: 0.5, lossBox: 0.5}) // replaced
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	want := []string{
		resultsHeader(),
		"1,4,4,0.01,1.000000,2.000000" + strings.Repeat(",", 12),
		"2,8,4,0.01,2.500000,5.000000" + strings.Repeat(",", 12),
		"3,12,4,0.001,0.500000,0.500000" + strings.Repeat(",", 12),
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("results table:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// An epoch written out of order lands in its place.
	write(resultRow{epoch: 5, step: 20, steps: 4})
	write(resultRow{epoch: 4, step: 16, steps: 4})
	raw, _ = os.ReadFile(path)
	lines = strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[4], "4,") || !strings.HasPrefix(lines[5], "5,") {
		t.Errorf("out-of-order epoch not in place:\n%s", raw)
	}
}
