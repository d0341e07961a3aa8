package study

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ghmdet/ghmdet/detector"
	"github.com/ghmdet/ghmdet/eval"
	"github.com/ghmdet/ghmdet/internal/atomicfile"
	"github.com/ghmdet/ghmdet/report"
)

// ConfidenceLevel is the level of the intervals of the paired differences.
const ConfidenceLevel = 0.95

// DefaultRareClasses is the number of rarest training classes whose AP the
// report shows beside the overall numbers.
const DefaultRareClasses = 2

// Figures of the report, in the study folder.
const (
	APPlot          = "study_ap.png"
	RareAPPlot      = "study_rare_ap.png"
	APByIoUPlot     = "study_ap_iou.png"
	GradNormClsPlot = "study_gradnorm_cls.png"
	GradNormBoxPlot = "study_gradnorm_box.png"
)

// ReportOptions configure the report.
type ReportOptions struct {
	// Baseline picks the setting the others are compared with, by axis
	// values (nil: the manifest's, by default the first value of the first
	// axis).
	Baseline []Assignment
	// RareClasses is the number of rarest training classes shown with
	// their own AP (0: DefaultRareClasses; negative: none).
	RareClasses int
}

// Report is the study's report: every finished run and, per setting, the
// mean and standard deviation over seeds of each metric and its paired
// difference against the baseline setting. It is written as study.md,
// study.html, study.csv (one row per run), study_summary.csv (one row per
// setting and metric) and study_results.json.
type Report struct {
	Title    string    `json:"title"`
	Manifest *Manifest `json:"manifest"`
	// GridRuns is the number of runs of the manifest's grid; Missing names
	// those without a result.
	GridRuns int      `json:"grid_runs"`
	Missing  []string `json:"missing"`
	// Baseline gives the baseline's axis values ("loss.cls=focal"): each
	// setting is compared with the setting that has these values and its
	// own for the other axes.
	Baseline string `json:"baseline"`
	// RareClasses are the rarest classes of the training data shown on
	// their own, from the rarest.
	RareClasses []string         `json:"rare_classes"`
	Settings    []SettingSummary `json:"settings"`
	Runs        []*RunResult     `json:"runs"`
	Notes       []string         `json:"notes"`
}

// SettingSummary is one setting over its seeds.
type SettingSummary struct {
	Setting string       `json:"setting"`
	Values  []Assignment `json:"values"`
	// Seeds are the seeds of its finished runs, in increasing order; every
	// metric's Values follow this order.
	Seeds []int64 `json:"seeds"`
	// Baseline is the setting it is compared with ("" when it is the
	// baseline, or when that setting has no finished run).
	Baseline string `json:"baseline,omitempty"`
	// IsBaseline marks a baseline setting.
	IsBaseline bool            `json:"is_baseline,omitempty"`
	Metrics    []MetricSummary `json:"metrics"`
	runs       []*RunResult
}

// Metric returns the summary of the named metric (nil if none).
func (s *SettingSummary) Metric(name string) *MetricSummary {
	for i := range s.Metrics {
		if s.Metrics[i].Name == name {
			return &s.Metrics[i]
		}
	}
	return nil
}

// MetricSummary is one metric of a setting: its value for each seed (NaN
// where undefined, such as the AP of small objects without any), the mean
// and sample standard deviation of the defined values, and the paired
// difference against the baseline setting.
type MetricSummary struct {
	Name   string    `json:"name"`
	Values []float64 `json:"values"`
	N      int       `json:"n"`
	Mean   float64   `json:"mean"`
	SD     float64   `json:"sd"`
	Diff   *Interval `json:"diff,omitempty"`
}

// MarshalJSON writes NaN values as null.
func (m MetricSummary) MarshalJSON() ([]byte, error) {
	vals := make([]report.JSONFloat, len(m.Values))
	for i, v := range m.Values {
		vals[i] = report.JSONFloat(v)
	}
	type diff struct {
		N         int              `json:"n"`
		Mean      report.JSONFloat `json:"mean"`
		SD        report.JSONFloat `json:"sd"`
		Level     float64          `json:"level"`
		T         report.JSONFloat `json:"t"`
		Lo        report.JSONFloat `json:"lo"`
		Hi        report.JSONFloat `json:"hi"`
		Excludes0 bool             `json:"excludes_0"`
	}
	var d *diff
	if m.Diff != nil {
		iv := m.Diff
		d = &diff{iv.N, report.JSONFloat(iv.Mean), report.JSONFloat(iv.SD), iv.Level, report.JSONFloat(iv.T),
			report.JSONFloat(iv.Lo), report.JSONFloat(iv.Hi), iv.Excludes0()}
	}
	return json.Marshal(struct {
		Name   string             `json:"name"`
		Values []report.JSONFloat `json:"values"`
		N      int                `json:"n"`
		Mean   report.JSONFloat   `json:"mean"`
		SD     report.JSONFloat   `json:"sd"`
		Diff   *diff              `json:"diff,omitempty"`
	}{m.Name, vals, m.N, report.JSONFloat(m.Mean), report.JSONFloat(m.SD), d})
}

// metric is one number taken from each run.
type metric struct {
	name string
	get  func(r *RunResult) float64
	// paired metrics get a difference against the baseline.
	paired bool
}

// statMetrics are the COCO numbers of the report, by index into Stats.
var statMetrics = []struct {
	name string
	idx  int
}{{"AP", 0}, {"AP50", 1}, {"AP75", 2}, {"APs", 3}, {"APm", 4}, {"APl", 5}, {"AR100", 8}}

// defined turns the evaluator's -1 (undefined) into NaN.
func defined(v float64) float64 {
	if v < 0 {
		return math.NaN()
	}
	return v
}

// IoUMetric is the name of the AP at IoU threshold t (0..9): "AP@0.50".
func IoUMetric(t int) string { return fmt.Sprintf("AP@%.2f", eval.IoUThresholds[t]) }

// ClassMetric is the name of the AP of a class: "AP[name]".
func ClassMetric(name string) string { return "AP[" + name + "]" }

// Names of the training metrics.
const (
	TrainTimeMetric = "train_time_s"
	EpochsMetric    = "epochs"
)

// metrics returns the metrics of the report for the classes of the
// training data.
func metrics(classes []string) []metric {
	var ms []metric
	for _, s := range statMetrics {
		idx := s.idx
		ms = append(ms, metric{s.name, func(r *RunResult) float64 { return defined(r.Stats[idx]) }, true})
	}
	for t := range eval.IoUThresholds {
		ms = append(ms, metric{IoUMetric(t), func(r *RunResult) float64 {
			if t < len(r.APByIoU) {
				return defined(r.APByIoU[t])
			}
			return math.NaN()
		}, true})
	}
	for _, name := range classes {
		ms = append(ms, metric{ClassMetric(name), func(r *RunResult) float64 {
			for _, c := range r.Classes {
				if c.Name == name {
					return defined(c.AP)
				}
			}
			return math.NaN()
		}, true})
	}
	ms = append(ms,
		metric{TrainTimeMetric, func(r *RunResult) float64 { return r.TrainTimeS }, false},
		metric{EpochsMetric, func(r *RunResult) float64 { return float64(r.Epochs) }, false})
	return ms
}

// baselineOf checks the baseline assignments against the axes and returns
// them as a map, defaulting to the first value of the first axis.
func baselineOf(axes []Axis, baseline []Assignment) (map[string]string, error) {
	if len(axes) == 0 {
		if len(baseline) > 0 {
			return nil, fmt.Errorf("baseline %v: nothing is varied", baseline)
		}
		return nil, nil
	}
	if len(baseline) == 0 {
		return map[string]string{axes[0].Key: axes[0].Values[0]}, nil
	}
	out := map[string]string{}
	for _, b := range baseline {
		var ax *Axis
		for i := range axes {
			if axes[i].Key == b.Key {
				ax = &axes[i]
			}
		}
		if ax == nil {
			keys := make([]string, len(axes))
			for i, a := range axes {
				keys[i] = a.Key
			}
			return nil, fmt.Errorf("baseline %s: %s is not varied (varied: %s)", b, b.Key, strings.Join(keys, ", "))
		}
		if !slices.Contains(ax.Values, b.Value) {
			return nil, fmt.Errorf("baseline %s: %q is not one of the values of %s (%s)", b, b.Value, b.Key, strings.Join(ax.Values, ", "))
		}
		if _, dup := out[b.Key]; dup {
			return nil, fmt.Errorf("baseline: %s is given twice", b.Key)
		}
		out[b.Key] = b.Value
	}
	return out, nil
}

// sameValues reports whether two settings have the same values.
func sameValues(a, b []Assignment) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]string{}
	for _, v := range a {
		m[v.Key] = v.Value
	}
	for _, v := range b {
		if w, ok := m[v.Key]; !ok || w != v.Value {
			return false
		}
	}
	return true
}

// Summarize builds the report of the study in dir from its manifest and the
// results of its finished runs (all of them, whether or not on the
// manifest's grid).
func Summarize(dir string, opts ReportOptions) (*Report, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	runs, err := collectResults(dir)
	if err != nil {
		return nil, err
	}
	baselineSpec := opts.Baseline
	if baselineSpec == nil {
		baselineSpec = m.Spec.Baseline
	}
	base, err := baselineOf(m.Spec.Axes, baselineSpec)
	if err != nil {
		return nil, err
	}
	grid, err := Settings(m.Spec.Axes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	rep := &Report{Title: "ghmdet study: " + filepath.Base(filepath.Clean(dir)), Manifest: m,
		GridRuns: len(grid) * len(m.Spec.Seeds), Runs: runs, Missing: []string{}}

	// Settings: the grid's in its order, then any others that have runs.
	bySetting := map[string]*SettingSummary{}
	var order []*SettingSummary
	for _, s := range grid {
		ss := &SettingSummary{Setting: s.Name, Values: s.Values}
		bySetting[s.Name] = ss
		order = append(order, ss)
	}
	for _, r := range runs {
		ss, ok := bySetting[r.Setting]
		if !ok {
			ss = &SettingSummary{Setting: r.Setting, Values: r.Values}
			bySetting[r.Setting] = ss
			order = append(order, ss)
		}
		ss.runs = append(ss.runs, r)
	}
	for _, seed := range m.Spec.Seeds {
		for _, s := range grid {
			if !slices.ContainsFunc(bySetting[s.Name].runs, func(r *RunResult) bool { return r.Seed == seed }) {
				rep.Missing = append(rep.Missing, filepath.ToSlash(RunDir(s.Name, seed)))
			}
		}
	}

	classes := m.Train.Classes
	rep.RareClasses = rareClasses(m.Train, opts.RareClasses)
	ms := metrics(classes)
	for _, ss := range order {
		sort.Slice(ss.runs, func(a, b int) bool { return ss.runs[a].Seed < ss.runs[b].Seed })
		ss.Seeds = []int64{}
		for _, r := range ss.runs {
			ss.Seeds = append(ss.Seeds, r.Seed)
		}
		for _, mt := range ms {
			sm := MetricSummary{Name: mt.name, Values: []float64{}}
			var def []float64
			for _, r := range ss.runs {
				v := mt.get(r)
				sm.Values = append(sm.Values, v)
				if !math.IsNaN(v) {
					def = append(def, v)
				}
			}
			sm.N, sm.Mean, sm.SD = len(def), Mean(def), SD(def)
			ss.Metrics = append(ss.Metrics, sm)
		}
	}
	// Paired differences against each setting's baseline.
	if base != nil {
		for _, ss := range order {
			target := make([]Assignment, len(ss.Values))
			for i, v := range ss.Values {
				target[i] = v
				if bv, ok := base[v.Key]; ok {
					target[i].Value = bv
				}
			}
			var bs *SettingSummary
			for _, o := range order {
				if sameValues(o.Values, target) {
					bs = o
				}
			}
			if bs == ss {
				ss.IsBaseline = true
			}
			if bs == nil || bs == ss || len(bs.runs) == 0 {
				continue
			}
			ss.Baseline = bs.Setting
			for i, mt := range ms {
				if !mt.paired {
					continue
				}
				var a, b []float64
				for k, seed := range ss.Seeds {
					if j := slices.Index(bs.Seeds, seed); j >= 0 {
						a = append(a, ss.Metrics[i].Values[k])
						b = append(b, bs.Metrics[i].Values[j])
					}
				}
				if len(a) == 0 {
					continue
				}
				iv, err := PairedDiff(a, b, ConfidenceLevel)
				if err != nil {
					return nil, err
				}
				ss.Metrics[i].Diff = &iv
			}
		}
		var desc []string
		for _, ax := range m.Spec.Axes {
			if v, ok := base[ax.Key]; ok {
				desc = append(desc, ax.Key+"="+v)
			}
		}
		rep.Baseline = strings.Join(desc, ", ")
	}
	for _, ss := range order {
		rep.Settings = append(rep.Settings, *ss)
	}
	rep.Notes = notes(rep)
	return rep, nil
}

// rareClasses returns the k rarest classes of the training data (by boxes,
// then class order), from the rarest.
func rareClasses(train *DataInfo, k int) []string {
	if k == 0 {
		k = DefaultRareClasses
	}
	if train == nil || k < 0 {
		return nil
	}
	idx := make([]int, len(train.Classes))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return train.BoxesPerClass[idx[a]] < train.BoxesPerClass[idx[b]] })
	var out []string
	for _, i := range idx[:min(k, len(idx))] {
		out = append(out, train.Classes[i])
	}
	return out
}

// notes are the report's explanations of how the numbers were made.
func notes(rep *Report) []string {
	m := rep.Manifest
	var n []string
	if m.Spec.TimeBudget != "" {
		n = append(n, fmt.Sprintf("Length: every run had a time budget of %s (training and its evaluations), so each trained as many epochs as fitted (see the epochs in the runs table): a setting that trains faster gets more epochs, and the machine's load changes the numbers.", m.Spec.TimeBudget))
	} else {
		n = append(n, "Length: every run trained the same number of epochs (the learning-rate decays at the same epochs).")
	}
	n = append(n,
		"Fairness: a run's seed sets its weight initialisation, the order of the training images and their augmentation; the runs of one seed therefore start from the same weights (when the network is the same) and see the same images in the same order whatever their setting.",
		fmt.Sprintf("Model evaluated: the last checkpoint of every run (%s), not the best one: the best checkpoint is chosen by validation AP, which favours runs evaluated more often and, when the validation data is the evaluation data, picks the model on the data that scores it; the last checkpoint is the same point of training for every run.", m.Checkpoint),
		fmt.Sprintf("Evaluation: %s, the same for every run; COCO metrics as ghmdet eval computes them (ghmdet eval --model RUN/%s gives the same numbers).", m.EvalName, m.Checkpoint),
		"mean ± sd: the mean over seeds and the sample standard deviation (n − 1 in the denominator); undefined numbers (such as the AP of small objects when there are none) are left out.",
		fmt.Sprintf("Differences: paired by seed, d_i = setting − baseline for seed i; the interval is the %.0f%% Student t confidence interval of the mean difference, mean(d) ± t(%.3f, n − 1)·sd(d)/√n (t = %.2f for 3 seeds, %.2f for 5). An interval that excludes 0 (marked *) is a difference beyond the seed-to-seed variation at that level; with few seeds the intervals are wide, and one seed gives none.",
			100*ConfidenceLevel, 1-(1-ConfidenceLevel)/2, StudentTQuantile(1-(1-ConfidenceLevel)/2, 2), StudentTQuantile(1-(1-ConfidenceLevel)/2, 4)),
		"AP at an IoU threshold: the evaluator's precision at that threshold averaged over the classes and the 101 recall thresholds (AP50 and AP75 are two of them; AP is the mean of the ten).",
		"Rarest classes: the classes with the fewest boxes in the training data.",
		"Training time: the time of the training steps and data loading, summed over a run's sessions (evaluations excluded).",
		"Gradient-norm figures: the distribution of the gradient norm (the GHM paper's Figure 2) of the final model of the first seed of each setting on the evaluation data; each run directory has its own (gradnorm_cls.png, gradnorm_box.png).",
	)
	if len(rep.Missing) > 0 {
		n = append(n, fmt.Sprintf("Unfinished runs (%d of %d): %s.", len(rep.Missing), rep.GridRuns, strings.Join(rep.Missing, ", ")))
	}
	// Runs of one setting that trained unequal epochs without a budget.
	if m.Spec.TimeBudget == "" {
		for _, ss := range rep.Settings {
			if e := ss.Metric(EpochsMetric); e != nil && e.N > 1 && e.SD > 0 {
				n = append(n, fmt.Sprintf("Setting %s: its runs trained different numbers of epochs (%v).", ss.Setting, e.Values))
			}
		}
	}
	return n
}

// WriteReport summarises the study in dir and writes its report there:
// study.md, study.html, study.csv, study_summary.csv, study_results.json
// and the figures.
func WriteReport(dir string, opts ReportOptions) (*Report, error) {
	rep, err := Summarize(dir, opts)
	if err != nil {
		return nil, err
	}
	figs, err := writeFigures(dir, rep)
	if err != nil {
		return nil, err
	}
	if err := writeRunsCSV(filepath.Join(dir, RunsCSV), rep); err != nil {
		return nil, err
	}
	if err := writeSummaryCSV(filepath.Join(dir, SummaryCSV), rep); err != nil {
		return nil, err
	}
	if err := report.WriteJSON(filepath.Join(dir, ResultsJSON), rep); err != nil {
		return nil, err
	}
	if err := report.WriteReportAs(dir, ReportBase, rep.document(figs)); err != nil {
		return nil, err
	}
	return rep, nil
}

// withRuns returns the settings that have finished runs.
func (rep *Report) withRuns() []SettingSummary {
	var out []SettingSummary
	for _, s := range rep.Settings {
		if len(s.Seeds) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// writeFigures draws the report's figures and returns them.
func writeFigures(dir string, rep *Report) ([]report.Figure, error) {
	settings := rep.withRuns()
	if len(settings) == 0 {
		return nil, nil
	}
	var figs []report.Figure
	ticks := make([]string, len(settings))
	for i, s := range settings {
		ticks[i] = s.Setting
	}
	bars := func(names []string) []report.ErrorBars {
		var out []report.ErrorBars
		for _, name := range names {
			eb := report.ErrorBars{Name: name}
			for i, s := range settings {
				mt := s.Metric(name)
				eb.X = append(eb.X, float64(i))
				eb.Mean = append(eb.Mean, mt.Mean)
				eb.Err = append(eb.Err, mt.SD)
				eb.Points = append(eb.Points, mt.Values)
			}
			out = append(out, eb)
		}
		return out
	}
	seeds := len(rep.Manifest.Spec.Seeds)
	if err := report.PlotErrorBars(filepath.Join(dir, APPlot), fmt.Sprintf("Final evaluation per setting: mean ± sd over up to %d seeds (dots: the seeds)", seeds),
		"setting", "AP", ticks, bars([]string{"AP", "AP50", "AP75"})); err != nil {
		return nil, err
	}
	figs = append(figs, report.Figure{Title: "AP, AP50 and AP75 per setting (mean ± sd over seeds; dots: each seed)", Path: APPlot})
	if len(rep.RareClasses) > 0 {
		var names []string
		for _, c := range rep.RareClasses {
			names = append(names, ClassMetric(c))
		}
		if err := report.PlotErrorBars(filepath.Join(dir, RareAPPlot), "AP of the rarest training classes: mean ± sd over seeds", "setting", "AP", ticks, bars(names)); err != nil {
			return nil, err
		}
		figs = append(figs, report.Figure{Title: "AP of the rarest classes of the training data per setting", Path: RareAPPlot})
	}
	var iou []report.ErrorBars
	for _, s := range settings {
		eb := report.ErrorBars{Name: s.Setting, Connect: true}
		for t, thr := range eval.IoUThresholds {
			mt := s.Metric(IoUMetric(t))
			eb.X, eb.Mean, eb.Err = append(eb.X, thr), append(eb.Mean, mt.Mean), append(eb.Err, mt.SD)
		}
		iou = append(iou, eb)
	}
	if err := report.PlotErrorBars(filepath.Join(dir, APByIoUPlot), "AP at each IoU threshold: mean ± sd over seeds", "IoU threshold", "AP", nil, iou); err != nil {
		return nil, err
	}
	figs = append(figs, report.Figure{Title: "AP at IoU thresholds 0.50 to 0.95 per setting", Path: APByIoUPlot})

	// The gradient-norm view of one model per setting: its first seed's.
	var cls, bx []report.GradHistogram
	for _, s := range settings {
		var a *detector.GradNormAnalysis
		for _, r := range s.runs {
			if r.GradNorm != nil {
				a = r.GradNorm
				break
			}
		}
		if a == nil {
			continue
		}
		cls = append(cls, report.GradHistogram{Edges: a.ClsEdges, Counts: a.ClsCounts, Title: s.Setting})
		bx = append(bx, report.GradHistogram{Edges: a.BoxEdges, Counts: a.BoxCounts, Title: s.Setting})
	}
	if len(cls) > 0 {
		if err := report.PlotGradNormSideBySide(filepath.Join(dir, GradNormClsPlot), "Classification gradient norm g = |p − t| of each setting's final model (first seed)", cls); err != nil {
			return nil, err
		}
		if err := report.PlotGradNormSideBySide(filepath.Join(dir, GradNormBoxPlot), "Box-regression gradient norm (positive anchors) of each setting's final model (first seed)", bx); err != nil {
			return nil, err
		}
		figs = append(figs,
			report.Figure{Title: "Gradient-norm distribution, classification, one model per setting (the GHM paper's Figure 2)", Path: GradNormClsPlot},
			report.Figure{Title: "Gradient-norm distribution, box regression, one model per setting", Path: GradNormBoxPlot})
	}
	return figs, nil
}

// fmtNum writes a metric value (n/a when undefined).
func fmtNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", v)
}

// fmtMeanSD writes "mean ± sd" ("mean" alone for one value).
func fmtMeanSD(m *MetricSummary) string {
	switch {
	case m == nil || m.N == 0:
		return "n/a"
	case m.N == 1:
		return fmtNum(m.Mean)
	}
	return fmtNum(m.Mean) + " ± " + fmtNum(m.SD)
}

// fmtDiff writes a paired difference with its interval: "+0.0123
// [-0.0040, +0.0286] *" (* when the interval excludes 0).
func fmtDiff(iv *Interval) string {
	if iv == nil || iv.N == 0 {
		return ""
	}
	s := fmt.Sprintf("%+.4f", iv.Mean)
	if iv.N < 2 {
		return s + " (1 seed)"
	}
	s += fmt.Sprintf(" [%+.4f, %+.4f]", iv.Lo, iv.Hi)
	if iv.Excludes0() {
		s += " *"
	}
	return s
}

// document lays the report out as a report.Report (Markdown and HTML).
func (rep *Report) document(figs []report.Figure) report.Report {
	m := rep.Manifest
	var axes []string
	for _, a := range m.Spec.Axes {
		axes = append(axes, a.String())
	}
	seeds := make([]string, len(m.Spec.Seeds))
	for i, s := range m.Spec.Seeds {
		seeds[i] = strconv.FormatInt(s, 10)
	}
	length := "the configuration's epochs, the same for every run"
	if m.Spec.Epochs > 0 {
		length = fmt.Sprintf("%d epochs, the same for every run", m.Spec.Epochs)
	}
	if m.Spec.TimeBudget != "" {
		length = fmt.Sprintf("time budget %s per run (the epochs that fit; they differ between runs)", m.Spec.TimeBudget)
		if m.Spec.Epochs > 0 {
			length += fmt.Sprintf(", at most %d epochs", m.Spec.Epochs)
		}
	}
	doc := report.Report{Title: rep.Title}
	doc.Summary = [][2]string{
		{"varied", strings.Join(axes, "; ")},
		{"seeds", strings.Join(seeds, ", ")},
		{"runs finished", fmt.Sprintf("%d of %d", rep.GridRuns-len(rep.Missing), rep.GridRuns)},
		{"run length", length},
		{"evaluation", fmt.Sprintf("%s of every run on %s", m.Checkpoint, m.EvalName)},
		{"baseline", cmp.Or(rep.Baseline, "none (nothing is varied)")},
		{"training data", m.Train.String()},
	}
	if len(m.Spec.Set) > 0 {
		var set []string
		for _, a := range m.Spec.Set {
			set = append(set, a.String())
		}
		doc.Summary = append(doc.Summary, [2]string{"fixed", strings.Join(set, "; ")})
	}
	if m.Val != nil {
		doc.Summary = append(doc.Summary, [2]string{"validation data (during training)", m.Val.String()})
	}
	settings := rep.withRuns()

	rare := make([]string, len(rep.RareClasses))
	for i, c := range rep.RareClasses {
		rare[i] = ClassMetric(c)
	}
	head := []string{"setting", "runs", "AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"}
	main := append([]string{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"}, rare...)
	t := report.Table{Title: "Final evaluation: mean ± sd over seeds", Header: append(append(head, rare...), "epochs", "training time (mean)")}
	for _, s := range settings {
		row := []string{s.Setting, strconv.Itoa(len(s.Seeds))}
		for _, name := range main {
			row = append(row, fmtMeanSD(s.Metric(name)))
		}
		ep := s.Metric(EpochsMetric)
		tt := s.Metric(TrainTimeMetric)
		epochs := fmt.Sprintf("%.4g", ep.Mean)
		if ep.SD > 0 {
			epochs += fmt.Sprintf(" ± %.2g", ep.SD)
		}
		row = append(row, epochs, seconds(tt.Mean).String())
		t.Rows = append(t.Rows, row)
	}
	doc.Tables = append(doc.Tables, t)

	if rep.Baseline != "" {
		diffCols := append([]string{"AP", "AP50", "AP75", "AR100"}, rare...)
		head := []string{"setting", "baseline", "pairs"}
		for _, c := range diffCols {
			head = append(head, "Δ"+c)
		}
		d := report.Table{Title: fmt.Sprintf("Difference from the baseline, paired by seed: mean [%.0f%% Student t interval] (* excludes 0)", 100*ConfidenceLevel), Header: head}
		for _, s := range settings {
			if s.Baseline == "" {
				continue
			}
			ap := s.Metric("AP").Diff
			n := 0
			if ap != nil {
				n = ap.N
			}
			row := []string{s.Setting, s.Baseline, strconv.Itoa(n)}
			for _, c := range diffCols {
				row = append(row, fmtDiff(s.Metric(c).Diff))
			}
			d.Rows = append(d.Rows, row)
		}
		doc.Tables = append(doc.Tables, d)
	}

	iouHead := []string{"setting"}
	for _, thr := range eval.IoUThresholds {
		iouHead = append(iouHead, fmt.Sprintf("%.2f", thr))
	}
	it := report.Table{Title: "AP at each IoU threshold: mean ± sd over seeds", Header: iouHead}
	for _, s := range settings {
		row := []string{s.Setting}
		for t := range eval.IoUThresholds {
			row = append(row, fmtMeanSD(s.Metric(IoUMetric(t))))
		}
		it.Rows = append(it.Rows, row)
	}
	doc.Tables = append(doc.Tables, it)

	// Per-class AP, classes from the rarest.
	classes := rareClasses(m.Train, len(m.Train.Classes))
	boxes := map[string]int{}
	for k, c := range m.Train.Classes {
		boxes[c] = m.Train.BoxesPerClass[k]
	}
	ch := []string{"setting"}
	for _, c := range classes {
		ch = append(ch, fmt.Sprintf("%s (%d boxes)", c, boxes[c]))
	}
	ct := report.Table{Title: "Per-class AP: mean ± sd over seeds (classes from the rarest in the training data)", Header: ch}
	for _, s := range settings {
		row := []string{s.Setting}
		for _, c := range classes {
			row = append(row, fmtMeanSD(s.Metric(ClassMetric(c))))
		}
		ct.Rows = append(ct.Rows, row)
	}
	doc.Tables = append(doc.Tables, ct)

	rt := report.Table{Title: "Runs (one per setting and seed)", Header: append([]string{"run", "epochs", "steps", "stopped", "training time", "AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"}, rare...)}
	for _, s := range settings {
		for k, r := range s.runs {
			row := []string{r.Dir, strconv.Itoa(r.Epochs), strconv.Itoa(r.Steps), r.Stopped, seconds(r.TrainTimeS).String()}
			for _, name := range main {
				row = append(row, fmtNum(s.Metric(name).Values[k]))
			}
			rt.Rows = append(rt.Rows, row)
		}
	}
	doc.Tables = append(doc.Tables, rt)
	doc.Images = figs
	doc.Notes = append(slices.Clone(rep.Notes), fmt.Sprintf("Files: %s (one row per run), %s (one row per setting and metric, with the paired differences), %s (everything in this report), and a run directory per setting and seed.", RunsCSV, SummaryCSV, ResultsJSON))
	return doc
}

// Text returns the headline numbers as aligned text: per setting with
// finished runs, its seeds, AP and AP50 (mean ± sd) and the paired
// difference of AP from its baseline with the interval.
func (rep *Report) Text() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "setting\truns\tAP\tAP50\tΔAP vs baseline [95% CI]")
	for _, s := range rep.withRuns() {
		diff := ""
		switch {
		case s.IsBaseline:
			diff = "(baseline)"
		case s.Baseline != "":
			diff = fmtDiff(s.Metric("AP").Diff) + " vs " + s.Baseline
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", s.Setting, len(s.Seeds), fmtMeanSD(s.Metric("AP")), fmtMeanSD(s.Metric("AP50")), diff)
	}
	_ = tw.Flush()
	return b.String()
}

// csvNum writes a number for the CSV files (empty when undefined).
func csvNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// writeCSV writes rows as CSV atomically.
func writeCSV(path string, rows [][]string) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.WriteAll(rows); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
}

// writeRunsCSV writes one row per finished run: its setting, seed, the
// axis values, its training and every metric.
func writeRunsCSV(path string, rep *Report) error {
	var keys []string
	for _, s := range rep.Settings {
		for _, v := range s.Values {
			if !slices.Contains(keys, v.Key) {
				keys = append(keys, v.Key)
			}
		}
	}
	ms := metrics(rep.Manifest.Train.Classes)
	head := append([]string{"setting", "seed"}, keys...)
	head = append(head, "dir", "stopped", "steps")
	for _, mt := range ms {
		head = append(head, mt.name)
	}
	rows := [][]string{head}
	for _, s := range rep.Settings {
		for _, r := range s.runs {
			row := []string{s.Setting, strconv.FormatInt(r.Seed, 10)}
			for _, k := range keys {
				v, _ := Setting{Values: r.Values}.Value(k)
				row = append(row, v)
			}
			row = append(row, r.Dir, r.Stopped, strconv.Itoa(r.Steps))
			for _, mt := range ms {
				row = append(row, csvNum(mt.get(r)))
			}
			rows = append(rows, row)
		}
	}
	return writeCSV(path, rows)
}

// writeSummaryCSV writes one row per setting and metric: n, mean, sd and
// the paired difference against the baseline with its interval.
func writeSummaryCSV(path string, rep *Report) error {
	rows := [][]string{{"setting", "metric", "n", "mean", "sd", "baseline", "pairs", "diff_mean", "diff_sd", "ci95_lo", "ci95_hi", "ci_excludes_0"}}
	for _, s := range rep.Settings {
		for _, mt := range s.Metrics {
			row := []string{s.Setting, mt.Name, strconv.Itoa(mt.N), csvNum(mt.Mean), csvNum(mt.SD)}
			if d := mt.Diff; d != nil {
				row = append(row, s.Baseline, strconv.Itoa(d.N), csvNum(d.Mean), csvNum(d.SD), csvNum(d.Lo), csvNum(d.Hi), strconv.FormatBool(d.Excludes0()))
			} else {
				row = append(row, "", "", "", "", "", "", "")
			}
			rows = append(rows, row)
		}
	}
	return writeCSV(path, rows)
}
