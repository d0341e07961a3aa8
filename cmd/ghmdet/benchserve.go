package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/bench"
	"github.com/ghmdet/ghmdet/detect"
)

// benchServeMaxBody is the request body limit of the benchmarked server
// (serve.Config's default).
const benchServeMaxBody = 32 << 20

// newBenchServeCmd returns "ghmdet bench serve".
func newBenchServeCmd() *cobra.Command {
	var (
		o       bench.ServeOptions
		images  []string
		jsonOut bool
		clients []int
	)
	cmd := &cobra.Command{
		Use:   "serve --model RUN",
		Short: "Measure the HTTP server: throughput, latency percentiles, batching, memory",
		Long: `bench serve loads a model, serves it on a loopback port in this process (as
"ghmdet serve" does) and loads it with concurrent clients: for each number
of clients (--concurrency, default 1, 4 and 16), --requests requests without
dynamic batching and the same with it (--max-batch, --batch-wait). It
reports throughput (requests per second), latency percentiles p50, p95 and
p99, and the mean batch size. Each configuration stops after
--max-duration at the latest and says so.

Then the memory check sends --memory-requests requests (default 10000; 0
skips it) with batching and reports the resident memory (RSS) and Go heap
in use, after a garbage collection, before and after.

The images sent are the JPEG and PNG files named (files or folders), in
turn; by default 8 generated 480x480 JPEG images. Timings depend on what
else runs on the machine: the load average is printed with the results.`,
		Example: `  ghmdet bench serve --model runs/demo-1
  ghmdet bench serve --model runs/demo-1 --requests 500 --concurrency 1,8 --json
  ghmdet bench serve --model runs/bccd --images photos --memory-requests 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Model == "" {
				return fmt.Errorf("--model is required: a run directory (for example from \"ghmdet demo\", which trains the cpu preset)")
			}
			if o.Requests < 1 || o.MemoryRequests < 0 {
				return fmt.Errorf("--requests must be >= 1 and --memory-requests >= 0, got %d and %d", o.Requests, o.MemoryRequests)
			}
			o.Concurrency = clients
			if len(images) > 0 {
				files, err := expandImages(images)
				if err != nil {
					return err
				}
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						return err
					}
					if len(b) > benchServeMaxBody {
						return fmt.Errorf("%s: %d bytes, more than the server's body limit of %d", f, len(b), benchServeMaxBody)
					}
					o.Images = append(o.Images, b)
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if !jsonOut {
				o.Progress = cmd.ErrOrStderr()
			}
			rep, err := bench.RunServe(ctx, o)
			if err != nil {
				return err
			}
			if jsonOut {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return err
			}
			return bench.WriteServeText(cmd.OutOrStdout(), rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Model, "model", "", "checkpoint file or run directory")
	f.StringVar(&o.Backend, "backend", "", "compute backend (default \"go\", or $GHMDET_BACKEND)")
	f.IntVar(&o.Requests, "requests", 200, "timed requests per configuration")
	f.DurationVar(&o.MaxDuration, "max-duration", time.Minute, "longest time per configuration")
	f.IntSliceVar(&clients, "concurrency", []int{1, 4, 16}, "numbers of concurrent clients")
	f.IntVar(&o.MaxBatch, "max-batch", detect.DefaultMaxBatch, "most images per batch with batching")
	f.DurationVar(&o.BatchWait, "batch-wait", 5*time.Millisecond, "longest a batch waits for more requests")
	f.IntVar(&o.MemoryRequests, "memory-requests", 10000, "requests of the memory check (0 skips it)")
	f.IntVar(&o.MemoryConcurrency, "memory-clients", 4, "concurrent clients of the memory check")
	f.DurationVar(&o.MemoryMaxDuration, "memory-max-duration", 30*time.Minute, "longest time of the memory check")
	f.StringSliceVar(&images, "images", nil, "JPEG or PNG files or folders to send (default: generated images)")
	f.BoolVar(&jsonOut, "json", false, "print the report as JSON")
	return cmd
}
