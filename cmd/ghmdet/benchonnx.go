package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/bench"
	"github.com/ghmdet/ghmdet/internal/ortnode"
)

// newBenchONNXCmd returns "ghmdet bench onnx".
func newBenchONNXCmd() *cobra.Command {
	var (
		o       bench.ONNXOptions
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "onnx [--model RUN]",
		Short: "Compare ONNX Runtime's CPU inference of the exported model with the native engine",
		Long: `bench onnx exports a model to ONNX (as "ghmdet export" does, without NMS),
runs it in ONNX Runtime's CPU engine and runs the same network in ghmdet's
native engine on the same images, and prints the median time per run and
the images per second of both: the network alone, with the class sigmoid,
without post-processing. Without --model it uses the cpu benchmark's network
(the cpu preset at 256 x 256) with initial weights.

ONNX Runtime runs in Node.js, from the npm package onnxruntime-node ` + ortnode.Version + `,
found at $` + ortnode.EnvVar + ` or in the user's cache folder
(ghmdet/onnxruntime-node-` + ortnode.Version + `); --install installs it there with
npm when missing. Node.js's start and the model's loading are not timed.

Timings depend on what else runs on the machine: the load average is
printed with the results.`,
		Example: `  ghmdet bench onnx
  ghmdet bench onnx --model runs/demo-1 --batch 4 --threads 2 --runs 30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			install, _ := cmd.Flags().GetBool("install")
			var err error
			if install {
				o.Runtime, err = ortnode.Install(ctx)
			} else {
				o.Runtime, err = ortnode.Find()
			}
			if err != nil {
				return fmt.Errorf("bench onnx: %w", err)
			}
			r, err := bench.ONNXBench(ctx, o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			fmt.Fprintf(out, "machine: %s; load average before %v, after %v\n", bench.Machine(), r.LoadBefore, r.LoadAfter)
			fmt.Fprintf(out, "model: %s, input %s, batch %d, %d threads, median of %d runs\n", r.Model, r.Input, r.Batch, r.Threads, r.Runs)
			fmt.Fprintf(out, "%-28s %10s %10s\n", "engine", "s/run", "images/s")
			fmt.Fprintf(out, "%-28s %10.4f %10.1f\n", "ghmdet native", r.NativeS, r.NativeImagesPerS)
			fmt.Fprintf(out, "%-28s %10.4f %10.1f\n", "ONNX Runtime "+r.ONNXRuntime+" (CPU)", r.ONNXS, r.ONNXImagesPerS)
			if r.ONNXS > 0 {
				fmt.Fprintf(out, "native / ONNX Runtime speed: %.2f\n", r.NativeImagesPerS/r.ONNXImagesPerS)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Model, "model", "", "run directory or checkpoint (default: the cpu preset's network, initial weights)")
	f.IntVar(&o.Batch, "batch", 1, "images per run")
	f.IntVar(&o.Threads, "threads", 2, "threads of both engines")
	f.IntVar(&o.Warmup, "warmup", 3, "untimed runs first")
	f.IntVar(&o.Runs, "runs", 20, "timed runs (the median is reported)")
	f.Bool("install", false, "install onnxruntime-node into the cache with npm when missing")
	f.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}
