// Package bench measures ghmdet's training and inference speed and compares
// it with PyTorch on the same architectures and sizes.
//
// The benchmarks (Names):
//
//   - "r50-512": the reference architecture (ResNet-50 with frozen batch-norm
//     and frozen stem and stage 1, FPN 256, heads 4 x 256, 80 classes,
//     GHM-C + GHM-R, SGD with momentum) at 512 x 512, batch 1: training
//     step and inference on the GoMLX graph;
//   - "r50-infer-native" and "r50-infer-graph": its inference alone, on the
//     native engine (package engine) and on the GoMLX graph, each in a
//     process that does nothing else (peak memory of inference alone);
//   - "cpu": the demo's CPU preset (tiny group-norm backbone, FPN 64, heads
//     2 x 64, 3 classes, GHM-C + GHM-R, AdamW) at its own input size and
//     batch size (256 x 256, batch 4);
//   - "cpu-infer-native" and "cpu-infer-graph": its inference alone, on
//     each engine;
//   - "ghmc-vs-focal": the GHM-C and the focal loss, forward and backward
//     with respect to the logits, on 2 x 49,104 anchors x 80 classes (the
//     anchors of two 512 x 512 images).
//
// The detector benchmarks time the real training step (detector.Trainer:
// targets and assignment, forward, losses, backward and the optimiser
// update) on a synthetic batch with a few boxes per image, and the real
// inference path (detector.Predictor: forward and post-processing). Each
// measurement is the median of Options.Runs timed runs after
// Options.Warmup untimed ones (the first run compiles the graph).
//
// Peak memory is the process's peak resident set size (VmHWM). To make it a
// per-benchmark figure, run each benchmark in its own process (RunIsolated);
// in-process runs reset the peak first where the kernel allows it.
//
// The PyTorch side is the script pytorch_bench.py (embedded in the package,
// see RunPyTorch): it runs the same benchmarks with Debian's python3-torch
// and python3-torchvision and prints the same JSON schema; the
// inference-only benchmarks are compared with its "r50-infer" and
// "cpu-infer" (PyTorchName).
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"time"
)

// Benchmark names.
const (
	// R50 is the reference architecture at 512 x 512, batch 1.
	R50 = "r50-512"
	// CPU is the demo's CPU preset at its own input and batch size.
	CPU = "cpu"
	// GHMCvsFocal is GHM-C against the focal loss, forward and backward.
	GHMCvsFocal = "ghmc-vs-focal"
)

// Names returns the benchmark names in the order they run.
func Names() []string {
	return []string{R50, R50InferNative, R50InferGraph, CPU, CPUInferNative, CPUInferGraph, GHMCvsFocal}
}

// Options configures a benchmark run.
type Options struct {
	// Runs is the number of timed runs of each measurement; the median is
	// reported. Default 5.
	Runs int
	// Warmup is the number of untimed runs before them (the first compiles
	// the graph). Default 1.
	Warmup int
	// Backend is the GoMLX backend configuration ("" = the project's
	// default, see internal/backend).
	Backend string
	// Small shrinks every problem to a size that runs in seconds (for
	// tests of the tooling; the timings mean nothing).
	Small bool
	// ProfileDir, when not empty, receives CPU profiles (pprof format) of
	// the timed runs of the detector benchmarks: NAME-train.pprof and
	// NAME-infer.pprof.
	ProfileDir string
}

// withDefaults fills zero fields.
func (o Options) withDefaults() Options {
	if o.Runs <= 0 {
		o.Runs = 5
	}
	if o.Warmup <= 0 {
		o.Warmup = 1
	}
	return o
}

// Result is one benchmark's measurements. The detector benchmarks fill
// TrainStepS and InferS, the loss benchmark GHMCS and FocalS; every result
// has PeakRSSBytes. Times are seconds (medians); the JSON keys are those of
// `ghmdet bench --json` and of pytorch_bench.py.
type Result struct {
	// TrainStepS is the median time of one training step (targets,
	// forward, losses, backward, update) and InferS of one inference call
	// (forward and post-processing) on a batch of Batch images.
	TrainStepS float64 `json:"train_step_s,omitempty"`
	InferS     float64 `json:"infer_s,omitempty"`
	// TrainImagesPerS and InferImagesPerS are Batch divided by those times.
	TrainImagesPerS float64 `json:"train_images_per_s,omitempty"`
	InferImagesPerS float64 `json:"infer_images_per_s,omitempty"`
	// Batch and Input (W x H) describe the detector benchmarks' inputs.
	Batch int    `json:"batch,omitempty"`
	Input string `json:"input,omitempty"`
	// Engine ran the inference-only benchmarks: "native" or "graph".
	Engine string `json:"engine,omitempty"`
	// GHMCS and FocalS are the median times of one forward and backward
	// pass of each loss; GHMCOverFocal their ratio; Size the problem
	// (images x anchors x classes).
	GHMCS         float64 `json:"ghmc_s,omitempty"`
	FocalS        float64 `json:"focal_s,omitempty"`
	GHMCOverFocal float64 `json:"ghmc_over_focal,omitempty"`
	Size          string  `json:"size,omitempty"`
	// PeakRSSBytes is the peak resident memory of the process that ran the
	// benchmark (0 where it cannot be read).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// Runs and WarmupRuns are the timed and untimed runs of each
	// measurement; SetupS the time to build the model and run the warm-up
	// (compilation included).
	Runs       int     `json:"runs"`
	WarmupRuns int     `json:"warmup_runs"`
	SetupS     float64 `json:"setup_s"`
	// Samples holds every timed run, in seconds, per measurement
	// ("train_step", "infer", "ghmc", "focal").
	Samples map[string][]float64 `json:"samples_s,omitempty"`
}

// Report is the output of `ghmdet bench --json`: one Result per benchmark
// name.
type Report map[string]Result

// CheckNames validates benchmark names; none means all. It returns the
// names to run in the canonical order, without duplicates.
func CheckNames(names []string) ([]string, error) {
	if len(names) == 0 {
		return Names(), nil
	}
	for _, n := range names {
		if !slices.Contains(Names(), n) {
			return nil, fmt.Errorf("unknown benchmark %q (allowed: %s)", n, strings.Join(Names(), ", "))
		}
	}
	var out []string
	for _, n := range Names() {
		if slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Run runs one benchmark in this process. Peak memory is reset first where
// the kernel allows it (see ResetPeakRSS); otherwise it includes whatever
// ran earlier in the process.
func Run(ctx context.Context, name string, opts Options) (Result, error) {
	opts = opts.withDefaults()
	if _, err := CheckNames([]string{name}); err != nil {
		return Result{}, err
	}
	ResetPeakRSS()
	var (
		res Result
		err error
	)
	switch name {
	case R50:
		res, err = runR50(ctx, opts)
	case CPU:
		res, err = runCPU(ctx, opts)
	case GHMCvsFocal:
		res, err = runLoss(ctx, opts)
	default:
		res, err = runInfer(ctx, name, opts)
	}
	if err != nil {
		return Result{}, fmt.Errorf("benchmark %s: %w", name, err)
	}
	res.PeakRSSBytes = PeakRSS()
	return res, nil
}

// median returns the median of d in seconds (the upper middle value for an
// even count).
func median(d []time.Duration) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Seconds()
}

// seconds converts durations to seconds.
func seconds(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = v.Seconds()
	}
	return out
}

// timeRuns calls f warmup times untimed, then runs times timed; it returns
// the warm-up duration and the timed durations. When profile is not empty,
// a CPU profile of the timed runs is written there.
func timeRuns(ctx context.Context, warmup, runs int, profile string, f func() error) (time.Duration, []time.Duration, error) {
	start := time.Now()
	for range warmup {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		if err := f(); err != nil {
			return 0, nil, err
		}
	}
	setup := time.Since(start)
	if profile != "" {
		pf, err := os.Create(profile)
		if err != nil {
			return 0, nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return 0, nil, fmt.Errorf("cpu profile %s: %w", profile, err)
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	out := make([]time.Duration, 0, runs)
	for range runs {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, nil, err
		}
		out = append(out, time.Since(t0))
	}
	return setup, out, nil
}

// WriteJSON writes the report as one indented JSON object keyed by
// benchmark name.
func WriteJSON(w io.Writer, r Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteText writes the report as a readable table, benchmarks in the
// canonical order.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %-22s %12s\n", "benchmark", "measure", "value")
	for _, name := range sortedNames(r) {
		res := r[name]
		for _, row := range rows(res) {
			fmt.Fprintf(&b, "%-14s %-22s %12s\n", name, row.key, row.text)
			name = ""
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// row is one line of a text table.
type row struct {
	key  string
	val  float64
	text string
}

// rows lists the measurements of a result for the text output.
func rows(r Result) []row {
	var out []row
	add := func(key string, v float64, format string) {
		if v != 0 {
			out = append(out, row{key, v, fmt.Sprintf(format, v)})
		}
	}
	if r.Input != "" {
		out = append(out, row{key: "input", text: fmt.Sprintf("%s x %d", r.Input, r.Batch)})
	}
	if r.Engine != "" {
		out = append(out, row{key: "engine", text: r.Engine})
	}
	if r.Size != "" {
		out = append(out, row{key: "size", text: r.Size})
	}
	add("train_step_s", r.TrainStepS, "%.4f")
	add("train_images_per_s", r.TrainImagesPerS, "%.3f")
	add("infer_s", r.InferS, "%.4f")
	add("infer_images_per_s", r.InferImagesPerS, "%.3f")
	add("ghmc_s", r.GHMCS, "%.4f")
	add("focal_s", r.FocalS, "%.4f")
	add("ghmc_over_focal", r.GHMCOverFocal, "%.2f")
	if r.PeakRSSBytes > 0 {
		out = append(out, row{"peak_rss_bytes", float64(r.PeakRSSBytes), fmt.Sprintf("%.0f MiB", float64(r.PeakRSSBytes)/(1<<20))})
	}
	out = append(out, row{key: "runs", text: fmt.Sprintf("%d (+%d warm-up)", r.Runs, r.WarmupRuns)})
	return out
}

// sortedNames returns the report's names, known benchmarks first in their
// canonical order.
func sortedNames(r Report) []string {
	var out, other []string
	for _, n := range Names() {
		if _, ok := r[n]; ok {
			out = append(out, n)
		}
	}
	for n := range r {
		if !slices.Contains(out, n) {
			other = append(other, n)
		}
	}
	sort.Strings(other)
	return append(out, other...)
}
