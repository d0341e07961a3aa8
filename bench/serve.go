package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/synth"
	"github.com/ghmdet/ghmdet/detect"
	"github.com/ghmdet/ghmdet/serve"
)

// ServeOptions configures the HTTP serving benchmark (RunServe).
type ServeOptions struct {
	// Model is the run directory or checkpoint served.
	Model string
	// Backend is the compute backend configuration ("" = the default).
	Backend string
	// Requests is the number of timed requests of each configuration
	// (default 200); MaxDuration bounds each configuration's time (default
	// 60 s: it stops early, and says so).
	Requests    int
	MaxDuration time.Duration
	// Concurrency lists the numbers of clients sending requests at once
	// (default 1, 4, 16).
	Concurrency []int
	// MaxBatch and BatchWait configure dynamic batching in the runs with
	// batching (defaults detect.DefaultMaxBatch and 5 ms); the runs without
	// use batches of one image.
	MaxBatch  int
	BatchWait time.Duration
	// MemoryRequests is the number of requests of the memory check (RSS
	// before and after; 0 skips it), sent by MemoryConcurrency clients
	// (default 4) with batching, within MemoryMaxDuration (default 30 min).
	MemoryRequests    int
	MemoryConcurrency int
	MemoryMaxDuration time.Duration
	// Images are the encoded images sent (JPEG or PNG), in turn; default 8
	// generated 480 x 480 JPEG images.
	Images [][]byte
	// Progress, if not nil, receives a line per configuration.
	Progress io.Writer
}

// withDefaults fills zero fields.
func (o ServeOptions) withDefaults() ServeOptions {
	if o.Requests <= 0 {
		o.Requests = 200
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = time.Minute
	}
	if len(o.Concurrency) == 0 {
		o.Concurrency = []int{1, 4, 16}
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = detect.DefaultMaxBatch
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 5 * time.Millisecond
	}
	if o.MemoryConcurrency <= 0 {
		o.MemoryConcurrency = 4
	}
	if o.MemoryMaxDuration <= 0 {
		o.MemoryMaxDuration = 30 * time.Minute
	}
	return o
}

// ServeReport is the output of `ghmdet bench serve --json`.
type ServeReport struct {
	// Model is the checkpoint served; Preset, Input (W x H) and Classes
	// describe it.
	Model   string `json:"model"`
	Preset  string `json:"preset"`
	Input   string `json:"input"`
	Classes int    `json:"classes"`
	// Images and ImageSizes describe the images sent.
	Images     int    `json:"images"`
	ImageSizes string `json:"image_sizes"`
	// Machine, GOMAXPROCS and the load averages (1, 5, 15 min) before and
	// after.
	Machine    string    `json:"machine"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	LoadBefore []float64 `json:"load_before"`
	LoadAfter  []float64 `json:"load_after"`
	// WarmupS is the time to compile every batch size.
	WarmupS float64 `json:"warmup_s"`
	// Runs are the timed configurations; Memory the memory check.
	Runs   []ServeRun   `json:"runs"`
	Memory *ServeMemory `json:"memory,omitempty"`
}

// ServeRun is one configuration's measurements.
type ServeRun struct {
	// Batching, MaxBatch and BatchWaitMS give the server's batching.
	Batching    bool    `json:"batching"`
	MaxBatch    int     `json:"max_batch"`
	BatchWaitMS float64 `json:"batch_wait_ms"`
	// Concurrency is the number of clients.
	Concurrency int `json:"concurrency"`
	// Requests answered 200 and Errors (other answers or failures);
	// StoppedEarly when MaxDuration ended the run first.
	Requests     int  `json:"requests"`
	Errors       int  `json:"errors"`
	StoppedEarly bool `json:"stopped_early,omitempty"`
	// WallS is the run's time; RequestsPerS the throughput.
	WallS        float64 `json:"wall_s"`
	RequestsPerS float64 `json:"requests_per_s"`
	// Latencies in milliseconds (nearest-rank percentiles).
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	// MeanBatch is the mean batch size the requests ran in.
	MeanBatch float64 `json:"mean_batch"`
}

// ServeMemory is the memory check: resident memory (VmRSS) and Go heap in
// use, after a garbage collection, before and after Requests requests.
type ServeMemory struct {
	Requests        int     `json:"requests"`
	Errors          int     `json:"errors"`
	Concurrency     int     `json:"concurrency"`
	WallS           float64 `json:"wall_s"`
	RSSBeforeBytes  int64   `json:"rss_before_bytes"`
	RSSAfterBytes   int64   `json:"rss_after_bytes"`
	RSSGrowthBytes  int64   `json:"rss_growth_bytes"`
	HeapBeforeBytes uint64  `json:"heap_before_bytes"`
	HeapAfterBytes  uint64  `json:"heap_after_bytes"`
	StoppedEarly    bool    `json:"stopped_early,omitempty"`
}

// RunServe measures the HTTP server (package serve) on loopback: the model
// is loaded once, served on 127.0.0.1 by a server without batching and one
// with, and each is loaded by 1, 4 and 16 concurrent clients (by default)
// sending the images in turn; then the memory check runs.
func RunServe(ctx context.Context, opts ServeOptions) (ServeReport, error) {
	opts = opts.withDefaults()
	for _, c := range opts.Concurrency {
		if c < 1 || c > 1024 {
			return ServeReport{}, fmt.Errorf("bench serve: concurrency %d: must be 1 to 1024", c)
		}
	}
	rep := ServeReport{Machine: Machine(), GOMAXPROCS: runtime.GOMAXPROCS(0), LoadBefore: LoadAverage()}
	images := opts.Images
	if len(images) == 0 {
		var err error
		if images, err = generatedImages(8, 480); err != nil {
			return rep, err
		}
	}
	rep.Images, rep.ImageSizes = len(images), imageSizes(images)
	det, err := detect.Load(opts.Model, detect.WithBackend(opts.Backend), detect.WithMaxBatch(opts.MaxBatch))
	if err != nil {
		return rep, err
	}
	defer det.Close()
	info := det.Info()
	rep.Model, rep.Preset, rep.Classes = info.Checkpoint, info.Preset, len(info.Classes)
	rep.Input = fmt.Sprintf("%dx%d", info.InputWidth, info.InputHeight)
	start := time.Now()
	if err := det.Warmup(ctx); err != nil {
		return rep, err
	}
	rep.WarmupS = time.Since(start).Seconds()
	maxConc := slices.Max(append(slices.Clone(opts.Concurrency), opts.MemoryConcurrency))
	for _, batching := range []bool{false, true} {
		cfg := serve.Config{MaxBatch: 1, QueueSize: max(64, 2*maxConc), Logger: slog.New(slog.DiscardHandler)}
		if batching {
			cfg.MaxBatch, cfg.BatchWait = opts.MaxBatch, opts.BatchWait
		}
		err := withServer(ctx, det, cfg, func(url string, client *http.Client) error {
			for _, conc := range opts.Concurrency {
				if opts.Progress != nil {
					fmt.Fprintf(opts.Progress, "batching %v, %d clients: %d requests...\n", batching, conc, opts.Requests)
				}
				// Untimed: a few requests per client (connections, caches).
				if _, err := load(ctx, client, url, images, 2*conc, conc, opts.MaxDuration); err != nil {
					return err
				}
				st, err := load(ctx, client, url, images, opts.Requests, conc, opts.MaxDuration)
				if err != nil {
					return err
				}
				run := st.run(conc)
				run.Batching, run.MaxBatch = batching, cfg.MaxBatch
				if batching {
					run.BatchWaitMS = float64(cfg.BatchWait) / float64(time.Millisecond)
				}
				rep.Runs = append(rep.Runs, run)
			}
			if !batching || opts.MemoryRequests <= 0 {
				return nil
			}
			if opts.Progress != nil {
				fmt.Fprintf(opts.Progress, "memory check: %d requests, %d clients...\n", opts.MemoryRequests, opts.MemoryConcurrency)
			}
			m := &ServeMemory{Requests: opts.MemoryRequests, Concurrency: opts.MemoryConcurrency}
			m.RSSBeforeBytes, m.HeapBeforeBytes = settledMemory()
			st, err := load(ctx, client, url, images, opts.MemoryRequests, opts.MemoryConcurrency, opts.MemoryMaxDuration)
			if err != nil {
				return err
			}
			m.RSSAfterBytes, m.HeapAfterBytes = settledMemory()
			m.Requests, m.Errors, m.WallS, m.StoppedEarly = st.ok, st.errors, st.wall.Seconds(), st.stoppedEarly
			m.RSSGrowthBytes = m.RSSAfterBytes - m.RSSBeforeBytes
			rep.Memory = m
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	rep.LoadAfter = LoadAverage()
	return rep, nil
}

// withServer serves det with cfg on a loopback port while f runs.
func withServer(ctx context.Context, det *detect.Detector, cfg serve.Config, f func(url string, client *http.Client) error) error {
	srv, err := serve.New(det, cfg)
	if err != nil {
		return err
	}
	srv.SetReady(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return fmt.Errorf("bench serve: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 2048, DisableCompression: true}}
	ferr := f("http://"+ln.Addr().String(), client)
	client.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil && ferr == nil {
		ferr = err
	}
	return ferr
}

// loadStats are the measurements of one load run.
type loadStats struct {
	latencies    []time.Duration
	batches      []int
	ok, errors   int
	wall         time.Duration
	stoppedEarly bool
}

// run summarises the stats for conc clients.
func (s loadStats) run(conc int) ServeRun {
	r := ServeRun{Concurrency: conc, Requests: s.ok, Errors: s.errors, WallS: s.wall.Seconds(), StoppedEarly: s.stoppedEarly}
	if s.ok == 0 {
		return r
	}
	r.RequestsPerS = float64(s.ok) / s.wall.Seconds()
	lat := slices.Clone(s.latencies)
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.MeanMS = ms(sum / time.Duration(len(lat)))
	r.P50MS, r.P95MS, r.P99MS = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.95)), ms(percentile(lat, 0.99))
	b := 0
	for _, x := range s.batches {
		b += x
	}
	r.MeanBatch = float64(b) / float64(len(s.batches))
	return r
}

// percentile returns the nearest-rank q-quantile of sorted values.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// load sends n requests from conc clients (image i%len for request i),
// stopping early after maxDur; every answer's body is read.
func load(ctx context.Context, client *http.Client, url string, images [][]byte, n, conc int, maxDur time.Duration) (loadStats, error) {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		st    loadStats
		wg    sync.WaitGroup
		early atomic.Bool
	)
	deadline := time.Now().Add(maxDur)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if time.Now().After(deadline) {
					early.Store(true)
					return
				}
				t0 := time.Now()
				status, batch := post(ctx, client, url, images[i%len(images)])
				d := time.Since(t0)
				mu.Lock()
				if status == http.StatusOK {
					st.ok++
					st.latencies = append(st.latencies, d)
					st.batches = append(st.batches, batch)
				} else {
					st.errors++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st.wall = time.Since(start)
	st.stoppedEarly = early.Load()
	if err := ctx.Err(); err != nil {
		return st, err
	}
	return st, nil
}

// post sends one detection request and returns its status (0 when it
// failed) and the batch size it ran in.
func post(ctx context.Context, client *http.Client, url string, img []byte) (int, int) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/detect", bytes.NewReader(img))
	if err != nil {
		return 0, 0
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, 0
	}
	batch, _ := strconv.Atoi(resp.Header.Get("X-Batch-Size"))
	return resp.StatusCode, batch
}

// settledMemory collects garbage, returns freed memory to the system and
// reads the resident memory and the Go heap in use.
func settledMemory() (rss int64, heap uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return CurrentRSS(), ms.HeapInuse
}

// CurrentRSS returns the resident set size of this process in bytes (VmRSS
// from /proc/self/status; 0 where it cannot be read).
func CurrentRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return v * 1024
				}
			}
		}
	}
	return 0
}

// generatedImages renders n images of the built-in shapes data, size x
// size, as JPEG files.
func generatedImages(n, size int) ([][]byte, error) {
	sc := synth.DefaultConfig()
	sc.Seed, sc.Train, sc.Val, sc.Size = 11, 0, n, size
	g, err := synth.New(sc)
	if err != nil {
		return nil, fmt.Errorf("bench serve: images: %w", err)
	}
	out := make([][]byte, n)
	for i := range out {
		scene, err := g.Scene(synth.Val, i)
		if err != nil {
			return nil, fmt.Errorf("bench serve: images: %w", err)
		}
		var buf bytes.Buffer
		if err := imageio.EncodeJPEG(&buf, scene.Image, 90); err != nil {
			return nil, fmt.Errorf("bench serve: images: %w", err)
		}
		out[i] = buf.Bytes()
	}
	return out, nil
}

// imageSizes describes the images' sizes ("480x480", or a range).
func imageSizes(images [][]byte) string {
	seen := map[string]bool{}
	var sizes []string
	for _, b := range images {
		img, _, err := detect.Decode(bytes.NewReader(b))
		s := "unreadable"
		if err == nil {
			s = fmt.Sprintf("%dx%d", img.Bounds().Dx(), img.Bounds().Dy())
		}
		if !seen[s] {
			seen[s] = true
			sizes = append(sizes, s)
		}
	}
	return strings.Join(sizes, ", ")
}

// WriteServeText writes the serving report as a readable table.
func WriteServeText(w io.Writer, r ServeReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "model: %s (preset %s, input %s, %d classes); images: %d (%s)\n", r.Model, r.Preset, r.Input, r.Classes, r.Images, r.ImageSizes)
	fmt.Fprintf(&b, "machine: %s, GOMAXPROCS %d; warm-up (compiling batch sizes) %.1f s\n", r.Machine, r.GOMAXPROCS, r.WarmupS)
	if len(r.LoadBefore) == 3 && len(r.LoadAfter) == 3 {
		fmt.Fprintf(&b, "load average (1/5/15 min): before %.2f %.2f %.2f, after %.2f %.2f %.2f\n",
			r.LoadBefore[0], r.LoadBefore[1], r.LoadBefore[2], r.LoadAfter[0], r.LoadAfter[1], r.LoadAfter[2])
	}
	fmt.Fprintf(&b, "\n%-20s %7s %8s %6s %9s %9s %9s %9s %10s\n", "batching", "clients", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean batch")
	for _, run := range r.Runs {
		mode := "off"
		if run.Batching {
			mode = fmt.Sprintf("<=%d, wait %gms", run.MaxBatch, run.BatchWaitMS)
		}
		note := ""
		if run.StoppedEarly {
			note = "  (stopped at the time limit)"
		}
		fmt.Fprintf(&b, "%-20s %7d %8d %6d %9.2f %9.1f %9.1f %9.1f %10.2f%s\n", mode, run.Concurrency, run.Requests, run.Errors,
			run.RequestsPerS, run.P50MS, run.P95MS, run.P99MS, run.MeanBatch, note)
	}
	if m := r.Memory; m != nil {
		mib := func(v int64) float64 { return float64(v) / (1 << 20) }
		fmt.Fprintf(&b, "\nmemory: %d requests (%d errors) from %d clients in %.0f s: RSS %.1f MiB before, %.1f MiB after (%+.1f MiB); Go heap in use %.1f -> %.1f MiB\n",
			m.Requests, m.Errors, m.Concurrency, m.WallS, mib(m.RSSBeforeBytes), mib(m.RSSAfterBytes), mib(m.RSSGrowthBytes),
			mib(int64(m.HeapBeforeBytes)), mib(int64(m.HeapAfterBytes)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
