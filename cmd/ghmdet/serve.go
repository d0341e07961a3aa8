package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghmdet/ghmdet/detect"
	"github.com/ghmdet/ghmdet/serve"
)

// serveOptions holds the flags of "ghmdet serve".
type serveOptions struct {
	model, addr, backend, engine, tokenFile, logFormat string
	threads, maxBatch, queue, maxDets                  int
	score                                              float64
	maxBody                                            int64
	batchWait, requestTimeout, readTimeout             time.Duration
	writeTimeout, idleTimeout, shutdownTimeout         time.Duration
}

func init() {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve --model RUN [--addr 127.0.0.1:8080]",
		Short: "Serve a trained detector over HTTP (JSON detections, drawn images, metrics)",
		Long: `serve loads a run's model and answers HTTP requests:

  POST /v1/detect   an image (JPEG or PNG; the raw body with its content type,
                    or the multipart form field "image") -> JSON detections
                    with class names and the image size; ?score=0.5,
                    ?max_detections=20, ?draw=1 (the image with boxes drawn,
                    ?format=jpeg|png)
  GET  /v1/model    classes, input size, settings and the training run
  GET  /healthz     liveness; GET /readyz readiness (503 until compiled and
                    while shutting down)
  GET  /metrics     Prometheus metrics

Concurrent requests are batched: a batch waits at most --batch-wait for more
requests (only while others are arriving), up to --max-batch images.
--max-batch 1 turns batching off. Errors are JSON bodies with a status:
400 bad query or image, 401 token, 408 slow body, 413 body or declared image
size over the limits (--max-body, --max-pixels, checked before decoding),
415 not JPEG or PNG, 503 busy (--queue requests admitted; Retry-After),
504 not done within --request-timeout.

With --token-file, /v1/ and /metrics require "Authorization: Bearer TOKEN"
(the file's content, surrounding white space removed). SIGTERM or SIGINT
stops accepting connections and finishes the requests in flight. Each request
is logged on standard error (--log-format json or text).

Requests, for example with curl:

  curl -H 'Content-Type: image/jpeg' --data-binary @photo.jpg http://127.0.0.1:8080/v1/detect
  curl -F image=@photo.jpg 'http://127.0.0.1:8080/v1/detect?draw=1' -o drawn.jpg`,
		Example: `  ghmdet serve --model runs/demo-1
  ghmdet serve --model runs/bccd --addr :8080 --token-file token.txt --max-batch 8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runServe(cmd, &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "checkpoint file or run directory (uses weights/best.ckpt, else last.ckpt)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; \":8080\" listens on every interface)")
	f.StringVar(&o.backend, "backend", "", "compute backend of --engine graph (default \"go\", or $GHMDET_BACKEND)")
	f.StringVar(&o.engine, "engine", "native", engineHelp)
	f.IntVar(&o.threads, "threads", 0, "goroutines of one network execution (0: GOMAXPROCS, or the graph backend's setting)")
	f.Float64Var(&o.score, "score", 0, "default lowest score returned, 0 to 1 (when not given: the run's test.score_thresh)")
	f.IntVar(&o.maxDets, "max-detections", 0, "default most detections per image, 0 for all (when not given: the run's test.max_detections)")
	f.IntVar(&o.maxBatch, "max-batch", detect.DefaultMaxBatch, fmt.Sprintf("most images per batch, 1 (no batching) to %d", detect.MaxBatchLimit))
	f.DurationVar(&o.batchWait, "batch-wait", 5*time.Millisecond, "longest a batch waits for more requests")
	f.IntVar(&o.queue, "queue", 64, "most detection requests admitted at once; more get 503")
	f.Int64Var(&o.maxBody, "max-body", 32<<20, "largest request body in bytes")
	f.DurationVar(&o.requestTimeout, "request-timeout", 30*time.Second, "longest a detection request may take")
	f.DurationVar(&o.readTimeout, "read-timeout", 60*time.Second, "longest to receive a request (headers and body)")
	f.DurationVar(&o.writeTimeout, "write-timeout", 0, "longest to answer a request (0: request timeout + 30s)")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 120*time.Second, "longest a kept-alive connection stays idle")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 60*time.Second, "longest to finish the requests in flight when stopping")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token that /v1/ and /metrics require")
	f.StringVar(&o.logFormat, "log-format", "json", "access log format on standard error: json or text")
	addMaxPixelsFlag(cmd)
	rootCmd.AddCommand(cmd)
}

func runServe(cmd *cobra.Command, o *serveOptions) error {
	if o.model == "" {
		return fmt.Errorf("--model is required (a checkpoint or a run directory)")
	}
	var handler slog.Handler
	switch o.logFormat {
	case "json":
		handler = slog.NewJSONHandler(cmd.ErrOrStderr(), nil)
	case "text":
		handler = slog.NewTextHandler(cmd.ErrOrStderr(), nil)
	default:
		return fmt.Errorf("--log-format %q: want json or text", o.logFormat)
	}
	log := slog.New(handler)
	token := ""
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return fmt.Errorf("--token-file %s is empty", o.tokenFile)
		}
	}
	opts := []detect.Option{detect.WithEngine(o.engine), detect.WithBackend(o.backend), detect.WithThreads(o.threads), detect.WithMaxBatch(o.maxBatch)}
	if cmd.Flags().Changed("score") {
		opts = append(opts, detect.WithScoreThreshold(o.score))
	}
	if cmd.Flags().Changed("max-detections") {
		opts = append(opts, detect.WithMaxDetections(o.maxDets))
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	det, err := detect.Load(o.model, opts...)
	if err != nil {
		return err
	}
	defer det.Close()
	srv, err := serve.New(det, serve.Config{
		MaxBatch: o.maxBatch, BatchWait: o.batchWait, QueueSize: o.queue, MaxBodyBytes: o.maxBody,
		RequestTimeout: o.requestTimeout, ReadTimeout: o.readTimeout, WriteTimeout: o.writeTimeout,
		IdleTimeout: o.idleTimeout, ShutdownTimeout: o.shutdownTimeout, Token: token, Logger: log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("serve: %w", err)
	}
	info := det.Info()
	log.Info("model loaded", "checkpoint", info.Checkpoint, "classes", strings.Join(info.Classes, ","),
		"input", fmt.Sprintf("%dx%d", info.InputWidth, info.InputHeight), "step", info.Step)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	// Live at once; ready once every batch size is compiled.
	start := time.Now()
	if err := srv.Warmup(ctx); err != nil && ctx.Err() == nil {
		stop()
		<-served
		return err
	}
	if ctx.Err() == nil {
		log.Info("ready", "warmup_s", time.Since(start).Seconds())
	}
	return <-served
}
