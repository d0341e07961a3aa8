package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/bench"
	"github.com/ghmdet/ghmdet/train"
)

// benchOptions holds the flags of "ghmdet bench".
type benchOptions struct {
	json, compare, isolate, child, small bool
	runs, warmup, threads                int
	backend, python, profileDir          string
}

func init() {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench [--json] [--compare] [NAME...]",
		Short: "Measure training and inference speed (and compare with PyTorch)",
		Long: `bench measures, after warm-up, the median of several runs of:

  r50-512           the reference architecture (ResNet-50, FPN 256, heads
                    4 x 256, 80 classes, GHM-C + GHM-R, SGD) at 512x512,
                    batch 1: the training step (targets, forward, losses,
                    backward, update) and inference (forward and
                    post-processing) on the GoMLX graph;
  r50-infer-native  its inference alone on the native engine (what predict,
                    eval --model and serve run);
  r50-infer-graph   its inference alone on the GoMLX graph;
  cpu               the demo's CPU preset at its input size and batch size
                    (256x256, batch 4): the same two measures, and training
                    images per second;
  cpu-infer-native  its inference alone on the native engine;
  cpu-infer-graph   its inference alone on the GoMLX graph;
  ghmc-vs-focal     GHM-C against the focal loss, forward + backward, on
                    2 x 49,104 anchors x 80 classes.

NAME selects benchmarks; none means all. The inputs are synthetic (normal
pixel values, 4 random boxes per image). Each benchmark runs in a fresh
process of this program (--isolate, the default), so that peak_rss_bytes is
the peak resident memory of that benchmark alone.

--json prints one JSON object keyed by benchmark name, each entry with
train_step_s and infer_s (or ghmc_s and focal_s) and peak_rss_bytes, plus
the runs and every timed sample.

--compare also runs the same benchmarks in PyTorch (the embedded copy of
bench/pytorch_bench.py, with --python, default Debian's /usr/bin/python3 with
python3-torch and python3-torchvision), alternating the two sides benchmark
by benchmark, and prints both with their ratios (ghmdet / PyTorch); the
inference-only benchmarks are compared with PyTorch's inference alone
(its r50-infer and cpu-infer).

Timings depend on what else runs on the machine: the load average is
printed with the results.

"ghmdet bench serve" measures the HTTP server (see its --help).`,
		Example: `  ghmdet bench
  ghmdet bench --json cpu ghmc-vs-focal
  ghmdet bench --compare --runs 7
  ghmdet bench --compare --runs 7 cpu-infer-native r50-infer-native`,
		RunE: func(cmd *cobra.Command, args []string) error { return runBench(cmd, &o, args) },
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "print one JSON object keyed by benchmark name")
	f.BoolVar(&o.compare, "compare", false, "also run the PyTorch comparison script and print ratios")
	f.IntVar(&o.runs, "runs", 5, "timed runs per measurement (the median is reported)")
	f.IntVar(&o.warmup, "warmup", 1, "untimed runs before them (the first compiles)")
	f.BoolVar(&o.isolate, "isolate", true, "run each benchmark in its own process (per-benchmark peak memory)")
	f.StringVar(&o.backend, "backend", "", "compute backend (default \"go\", or $GHMDET_BACKEND)")
	f.StringVar(&o.python, "python", bench.DefaultPython, "Python interpreter with torch and torchvision (--compare)")
	f.IntVar(&o.threads, "threads", 2, "torch threads of the PyTorch side (--compare)")
	f.StringVar(&o.profileDir, "cpuprofile-dir", "", "write CPU profiles of the timed detector runs there (NAME-train.pprof, NAME-infer.pprof)")
	// Internal: --child runs one benchmark in this process and prints its
	// result (used by --isolate); --small shrinks the problems for tests.
	f.BoolVar(&o.child, "child", false, "run one benchmark in this process and print its result as JSON")
	f.BoolVar(&o.small, "small", false, "tiny problem sizes (tests of the tooling)")
	_ = f.MarkHidden("child")
	_ = f.MarkHidden("small")
	cmd.AddCommand(newBenchServeCmd(), newBenchONNXCmd())
	rootCmd.AddCommand(cmd)
}

func runBench(cmd *cobra.Command, o *benchOptions, args []string) error {
	names, err := bench.CheckNames(args)
	if err != nil {
		return err
	}
	if o.runs < 1 || o.warmup < 1 {
		return fmt.Errorf("--runs and --warmup must be >= 1, got %d and %d", o.runs, o.warmup)
	}
	opts := bench.Options{Runs: o.runs, Warmup: o.warmup, Backend: o.backend, Small: o.small, ProfileDir: o.profileDir}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return fmt.Errorf("--cpuprofile-dir: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()

	if o.child {
		if len(args) != 1 {
			return fmt.Errorf("--child runs exactly one benchmark, got %d names", len(args))
		}
		r, err := bench.Run(ctx, names[0], opts)
		if err != nil {
			return err
		}
		return json.NewEncoder(out).Encode(r)
	}

	ghmdet := func(ctx context.Context, name string) (bench.Result, error) {
		return bench.Run(ctx, name, opts)
	}
	if o.isolate {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: cannot find this program to run benchmarks in their own process (use --isolate=false): %w", err)
		}
		ghmdet = func(ctx context.Context, name string) (bench.Result, error) {
			argv := []string{exe, "bench", "--child", "--runs", strconv.Itoa(o.runs), "--warmup", strconv.Itoa(o.warmup)}
			if o.backend != "" {
				argv = append(argv, "--backend", o.backend)
			}
			if o.small {
				argv = append(argv, "--small")
			}
			if o.profileDir != "" {
				argv = append(argv, "--cpuprofile-dir", o.profileDir)
			}
			return bench.RunIsolated(ctx, append(argv, name), cmd.ErrOrStderr())
		}
	}
	progress := cmd.ErrOrStderr()
	if o.json {
		progress = nil
	}

	if !o.compare {
		load := bench.LoadAverage()
		rep, err := bench.RunAll(ctx, names, ghmdet, progress)
		if err != nil {
			return err
		}
		if o.json {
			return bench.WriteJSON(out, rep)
		}
		writeBenchHeader(out, nil, load, bench.LoadAverage())
		return bench.WriteText(out, rep)
	}

	py := &bench.PyTorch{Python: o.python, Threads: o.threads, Stderr: cmd.ErrOrStderr()}
	defer py.Close()
	pyVersions, err := py.Versions(ctx)
	if err != nil {
		return err
	}
	c, err := bench.Compare(ctx, names, ghmdet, py.Runner(opts), progress)
	if err != nil {
		return err
	}
	c.Versions = map[string]any{"machine": bench.Machine()}
	for k, v := range train.Versions() {
		c.Versions[k] = v
	}
	for k, v := range pyVersions {
		c.Versions["pytorch_"+k] = v
	}
	if o.json {
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	writeBenchHeader(out, pyVersions, nil, nil)
	return bench.WriteComparisonText(out, c)
}

// writeBenchHeader prints the machine, the versions and (when given) the
// load averages before the text table.
func writeBenchHeader(w io.Writer, pyVersions map[string]any, before, after []float64) {
	fmt.Fprintf(w, "machine: %s (%s/%s)\n", bench.Machine(), runtime.GOOS, runtime.GOARCH)
	v := train.Versions()
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s: %s\n", k, v[k])
	}
	for _, k := range []string{"torch", "torchvision", "python", "threads"} {
		if x, ok := pyVersions[k]; ok {
			fmt.Fprintf(w, "pytorch %s: %v\n", k, x)
		}
	}
	if before != nil && after != nil {
		fmt.Fprintf(w, "load average (1/5/15 min): before %.2f %.2f %.2f, after %.2f %.2f %.2f\n",
			before[0], before[1], before[2], after[0], after[1], after[2])
	}
	fmt.Fprintln(w)
}
