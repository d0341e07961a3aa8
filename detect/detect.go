// Package detect runs object detectors trained with ghmdet from Go programs:
// load a run directory, give it images, get boxes with class names and
// scores.
//
//	d, err := detect.Load("runs/demo-1")
//	if err != nil { ... }
//	defer d.Close()
//	dets, err := d.Detect(ctx, img) // img is any image.Image
//
// Load reads the run's best checkpoint (weights/best.ckpt, else
// weights/last.ckpt) and its configuration and prepares the network. By
// default it runs on the native engine (package engine: a plain-Go forward
// pass over the trained weights, AVX-512 where the CPU has it), which needs
// no compute backend. WithEngine("graph") runs the GoMLX graph instead: Load
// then creates the compute backend (GoMLX's pure-Go backend: the heap
// reservation its SIMD kernels need, the worker pool, its start-up message
// kept off standard output) and compiles the network; programs that load a
// model that way call Prepare first thing in main.
//
// # Concurrency
//
// A Detector is safe for concurrent use by any number of goroutines. Image
// conversion, resizing and post-processing run in the calling goroutines;
// the network runs at most WithConcurrency executions (default 1) at a
// time: each execution already spreads over every core, so callers queue
// for it rather than compete (the graph engine compiles one executable per
// batch size). Several images given to DetectBatch run as one batch (up
// to MaxBatch images per execution), which is cheaper per image than one
// call each; package serve batches concurrent HTTP requests that way.
//
// # Limits
//
// Images with more pixels (width x height) than MaxPixels (100 megapixels
// unless SetMaxPixels changed it) are refused with ErrTooLarge: Decode
// checks the size an encoded image's header declares before decoding any
// pixel, and Detect checks the bounds of the image.Image it is given.
//
// The package depends on neither the training code's plotting nor the
// command-line tool.
package detect

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/compute"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/internal/inference"
)

// Errors returned by the package; test for them with errors.Is.
var (
	// ErrTooLarge: the image has more pixels than MaxPixels.
	ErrTooLarge = errors.New("image has more pixels than the limit")
	// ErrEmptyImage: the image has no pixels (or is nil).
	ErrEmptyImage = errors.New("image is empty")
	// ErrClosed: the Detector has been closed.
	ErrClosed = errors.New("detector is closed")
)

// MaxBatchLimit is the largest MaxBatch (WithMaxBatch): one executable is
// compiled per batch size up to MaxBatch.
const MaxBatchLimit = 32

// DefaultMaxBatch is the default MaxBatch: the cpu preset's training batch.
// Whether larger batches pay depends on the machine and the model; "ghmdet
// bench serve" measures it.
const DefaultMaxBatch = 4

// Detection is one detected object.
type Detection struct {
	// ClassName is the class's name in the training data; Class its index
	// (0 .. number of classes - 1).
	ClassName string `json:"class"`
	Class     int    `json:"class_id"`
	// Score is the detection's confidence in 0..1.
	Score float64 `json:"score"`
	// Box is x1, y1, x2, y2 in pixels of the image given, in its own
	// coordinates (an image whose bounds start at (10, 20) has boxes from
	// there); x2, y2 are exclusive, as in image.Rectangle.
	Box [4]float64 `json:"box_xyxy"`
}

// Rect returns the box rounded to whole pixels.
func (d Detection) Rect() image.Rectangle {
	return image.Rect(int(math.Round(d.Box[0])), int(math.Round(d.Box[1])), int(math.Round(d.Box[2])), int(math.Round(d.Box[3])))
}

// Settings are the post-processing settings of a call.
type Settings struct {
	// ScoreThreshold is the lowest score returned (a detection is kept when
	// its score >= ScoreThreshold), in 0..1.
	ScoreThreshold float64
	// MaxDetections is the most detections returned per image, the highest
	// scores first; <= 0 returns all.
	MaxDetections int
}

// validate checks the settings.
func (s Settings) validate() error {
	if math.IsNaN(s.ScoreThreshold) || s.ScoreThreshold < 0 || s.ScoreThreshold > 1 {
		return fmt.Errorf("score threshold %g: must be in 0..1", s.ScoreThreshold)
	}
	return nil
}

// Info describes the loaded model and the run that trained it.
type Info struct {
	// Checkpoint is the checkpoint file loaded.
	Checkpoint string `json:"checkpoint"`
	// Preset is the configuration preset of the run; Backbone its network.
	Preset   string `json:"preset"`
	Backbone string `json:"backbone"`
	// Classes are the class names, in class order.
	Classes []string `json:"classes"`
	// InputWidth and InputHeight are the network's input canvas.
	InputWidth  int `json:"input_width"`
	InputHeight int `json:"input_height"`
	// Step and Epoch are the training steps and complete epochs done; Seed
	// the run's seed.
	Step  int   `json:"step"`
	Epoch int   `json:"epoch"`
	Seed  int64 `json:"seed"`
	// BestAP and BestEpoch are the run's best validation AP (IoU .50:.95)
	// and its epoch, when the run evaluated.
	BestAP    float64 `json:"best_ap,omitempty"`
	BestEpoch int     `json:"best_epoch,omitempty"`
	// Saved is when the checkpoint was written; Version the ghmdet that
	// wrote it.
	Saved   time.Time `json:"saved"`
	Version string    `json:"ghmdet_version,omitempty"`
	// Engine runs the network: "native" or "graph".
	Engine string `json:"engine"`
}

// Option configures Load.
type Option func(*options)

type options struct {
	engine      string
	backend     string
	threads     int
	score       *float64
	maxDets     *int
	maxBatch    int
	concurrency int
}

// Engines lists the engines WithEngine accepts: "auto" (the default:
// native), "native" (package engine) and "graph" (the GoMLX graph on the
// compute backend, the reference the native engine is tested against).
var Engines = []string{"auto", "native", "graph"}

// WithEngine chooses the engine that runs the network (see Engines).
func WithEngine(name string) Option { return func(o *options) { o.engine = name } }

// WithBackend sets the compute backend configuration of the graph engine,
// for example "go:parallelism=8" (the default is $GHMDET_BACKEND, else
// "go:parallelism=-1": the pure-Go backend with an unlimited worker pool).
func WithBackend(config string) Option { return func(o *options) { o.backend = config } }

// WithThreads bounds the goroutines of one execution to n (n >= 1): the
// native engine's, or the pure-Go backend's worker pool; 0 keeps the
// default (GOMAXPROCS, or the backend configuration's setting).
func WithThreads(n int) Option { return func(o *options) { o.threads = n } }

// WithScoreThreshold sets the default lowest score returned, in 0..1 (the
// default is the run configuration's test.score_thresh).
func WithScoreThreshold(s float64) Option { return func(o *options) { o.score = &s } }

// WithMaxDetections sets the default most detections per image; <= 0
// returns all (the default is the run configuration's test.max_detections).
func WithMaxDetections(n int) Option { return func(o *options) { o.maxDets = &n } }

// WithMaxBatch sets the most images per network execution, 1 to
// MaxBatchLimit (default DefaultMaxBatch). One executable is compiled per
// batch size, on first use (see Warmup).
func WithMaxBatch(n int) Option { return func(o *options) { o.maxBatch = n } }

// WithConcurrency sets how many network executions may run at the same time
// (default 1; see the package documentation).
func WithConcurrency(n int) Option { return func(o *options) { o.concurrency = n } }

// Detector runs a trained detector. It is safe for concurrent use.
type Detector struct {
	pred     *inference.Predictor
	spec     inference.Spec
	names    []string
	settings Settings
	maxBatch int
	info     Info
	// sem holds one token per execution allowed to run at once.
	sem chan struct{}
	// mu is held for reading by executions and for writing by Close.
	mu     sync.RWMutex
	closed bool
}

// Load loads the model of a run directory (its weights/best.ckpt, else
// weights/last.ckpt) or of a checkpoint file, and compiles it. A run that
// kept weight averages (optimizer.ema_decay) runs with the averages, as its
// evaluations during training did.
func Load(runDir string, opts ...Option) (*Detector, error) {
	o := options{maxBatch: DefaultMaxBatch, concurrency: 1}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxBatch < 1 || o.maxBatch > MaxBatchLimit {
		return nil, fmt.Errorf("detect: max batch %d: must be 1 to %d", o.maxBatch, MaxBatchLimit)
	}
	if o.concurrency < 1 {
		return nil, fmt.Errorf("detect: concurrency %d: must be >= 1", o.concurrency)
	}
	bcfg, err := backendConfig(o.backend, o.threads)
	if err != nil {
		return nil, err
	}
	kind, err := inference.ParseEngine(o.engine)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	kind = kind.ResolveFor(bcfg)
	ck, err := inference.OpenCheckpoint(runDir)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	spec, err := ck.Spec()
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	// The configuration's float32 threshold as the decimal it was written
	// as (0.05, not 0.05000000074505806).
	thr, _ := strconv.ParseFloat(strconv.FormatFloat(float64(spec.Test.ScoreThresh), 'g', -1, 32), 64)
	settings := Settings{ScoreThreshold: thr, MaxDetections: spec.Test.MaxDetections}
	if o.score != nil {
		settings.ScoreThreshold = *o.score
	}
	if o.maxDets != nil {
		settings.MaxDetections = *o.maxDets
	}
	if err := settings.validate(); err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	store, err := ck.LoadInferenceVariables()
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	var b compute.Backend
	if kind == inference.EngineGraph {
		if b, err = backend.New(bcfg); err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
	}
	pred, err := inference.NewPredictorWith(b, store, spec, inference.PredictorOptions{Engine: kind, Threads: o.threads})
	if err != nil {
		return nil, fmt.Errorf("detect: %s: %w", ck.Path, err)
	}
	pred.SetMaxBatchSizes(o.maxBatch)
	names := spec.ClassNames()
	info := Info{
		Checkpoint: ck.Path, Preset: spec.Preset, Backbone: spec.Model.Backbone,
		Classes: names, InputWidth: spec.Model.InputWidth, InputHeight: spec.Model.InputHeight,
		Step: ck.Meta.Step, Epoch: ck.Meta.Epoch, Seed: ck.Meta.Seed,
		Saved: ck.Meta.Time, Version: ck.Meta.Ghmdet, Engine: string(pred.Engine()),
	}
	if v, err := strconv.ParseFloat(ck.Meta.Extra["best_ap"], 64); err == nil && v > 0 {
		info.BestAP = v
		info.BestEpoch, _ = strconv.Atoi(ck.Meta.Extra["best_epoch"])
	}
	return &Detector{
		pred: pred, spec: spec, names: names, settings: settings, maxBatch: o.maxBatch, info: info,
		sem: make(chan struct{}, o.concurrency),
	}, nil
}

// backendConfig returns the backend configuration for an explicit
// configuration (empty: the default) and a thread count (0: unchanged).
func backendConfig(explicit string, threads int) (string, error) {
	cfg := backend.Config(explicit)
	if err := backend.Check(cfg); err != nil {
		return "", fmt.Errorf("detect: %w", err)
	}
	if threads == 0 {
		return cfg, nil
	}
	if threads < 0 {
		return "", fmt.Errorf("detect: threads %d: must be >= 1 (or 0 for the backend's setting)", threads)
	}
	name, rest, _ := strings.Cut(cfg, ":")
	if name != "go" {
		return "", fmt.Errorf("detect: threads apply to the pure-Go backend (\"go\"), not to %q", name)
	}
	parts := []string{}
	for _, p := range strings.Split(rest, ",") {
		if k, _, _ := strings.Cut(p, "="); p != "" && k != "parallelism" {
			parts = append(parts, p)
		}
	}
	parts = append(parts, "parallelism="+strconv.Itoa(threads))
	return "go:" + strings.Join(parts, ","), nil
}

// Prepare makes the heap reservation that the pure-Go backend's SIMD
// kernels need to run safely, while the program's heap is still small.
// Load makes it anyway when it creates the first backend; a program that
// allocates much before loading a model calls Prepare first thing in main.
// Only the first call does anything.
func Prepare() { backend.Prepare() }

// Classes returns the class names, in class order.
func (d *Detector) Classes() []string { return append([]string(nil), d.names...) }

// InputSize returns the network's input canvas: images are resized keeping
// their aspect ratio to fit it.
func (d *Detector) InputSize() (width, height int) {
	return d.spec.Model.InputWidth, d.spec.Model.InputHeight
}

// Settings returns the default post-processing settings (from the run's
// configuration and the options of Load).
func (d *Detector) Settings() Settings { return d.settings }

// MaxBatch returns the most images per network execution.
func (d *Detector) MaxBatch() int { return d.maxBatch }

// Info describes the model and the run that trained it.
func (d *Detector) Info() Info {
	info := d.info
	info.Classes = d.Classes()
	return info
}

// Detect detects objects in one image with the default settings.
func (d *Detector) Detect(ctx context.Context, img image.Image) ([]Detection, error) {
	res, err := d.DetectBatchWith(ctx, []image.Image{img}, nil)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// DetectBatch detects objects in several images with the default settings;
// result i holds the detections of image i. The images run in batches of
// up to MaxBatch.
func (d *Detector) DetectBatch(ctx context.Context, imgs []image.Image) ([][]Detection, error) {
	return d.DetectBatchWith(ctx, imgs, nil)
}

// DetectBatchWith is DetectBatch with settings per image (settings nil: the
// defaults for all). Every image and setting is checked before any runs; an
// error names the image's index.
func (d *Detector) DetectBatchWith(ctx context.Context, imgs []image.Image, settings []Settings) ([][]Detection, error) {
	if settings != nil && len(settings) != len(imgs) {
		return nil, fmt.Errorf("detect: %d settings for %d images", len(settings), len(imgs))
	}
	limit := imageio.MaxPixels()
	for i, img := range imgs {
		if err := checkImage(img, limit); err != nil {
			return nil, fmt.Errorf("detect: image %d: %w", i, err)
		}
		if settings != nil {
			if err := settings[i].validate(); err != nil {
				return nil, fmt.Errorf("detect: image %d: %w", i, err)
			}
		}
	}
	res := make([][]Detection, len(imgs))
	for start := 0; start < len(imgs); start += d.maxBatch {
		end := min(start+d.maxBatch, len(imgs))
		var s []Settings
		if settings != nil {
			s = settings[start:end]
		}
		if err := d.run(ctx, imgs[start:end], s, res[start:end]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// checkImage refuses a nil or empty image and one over the pixel limit.
func checkImage(img image.Image, limit int64) error {
	if img == nil {
		return fmt.Errorf("%w (nil)", ErrEmptyImage)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return fmt.Errorf("%w (%dx%d)", ErrEmptyImage, b.Dx(), b.Dy())
	}
	if n := int64(b.Dx()) * int64(b.Dy()); n > limit {
		return fmt.Errorf("%w: %dx%d is %d pixels, the limit %d", ErrTooLarge, b.Dx(), b.Dy(), n, limit)
	}
	return nil
}

// run detects objects in at most MaxBatch checked images into out.
func (d *Detector) run(ctx context.Context, imgs []image.Image, settings []Settings, out [][]Detection) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	n := len(imgs)
	w, h := d.InputSize()
	per := w * h * 3
	pix := make([]float32, n*per)
	recs := make([]transform.Record, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		p, rec, err := d.pred.Transform().Apply(imageio.FromImage(imgs[i]), transform.Params{})
		if err == nil && len(p) != per {
			err = fmt.Errorf("transform gave %d values, want %d", len(p), per)
		}
		if err != nil {
			errs[i] = fmt.Errorf("detect: image %d: %w", i, err)
			return
		}
		copy(pix[i*per:], p)
		recs[i] = rec
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	post := make([]box.PostProcessConfig, n)
	for i := range post {
		s := d.settings
		if settings != nil {
			s = settings[i]
		}
		post[i] = d.spec.Test
		post[i].ScoreThresh = justBelow(s.ScoreThreshold)
		post[i].MaxDetections = s.MaxDetections
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("detect: %w", ctx.Err())
	}
	defer func() { <-d.sem }()
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	raw, err := d.pred.PredictBatchWith(pix, n, recs, post)
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	for i, dets := range raw {
		origin := imgs[i].Bounds().Min
		dx, dy := float64(origin.X), float64(origin.Y)
		s := d.settings
		if settings != nil {
			s = settings[i]
		}
		res := make([]Detection, 0, len(dets))
		for _, dt := range dets {
			if dt.Score < s.ScoreThreshold {
				continue
			}
			res = append(res, Detection{
				ClassName: d.spec.ClassName(dt.Class), Class: dt.Class, Score: dt.Score,
				Box: [4]float64{dt.Box[0] + dx, dt.Box[1] + dy, dt.Box[2] + dx, dt.Box[3] + dy},
			})
		}
		out[i] = res
	}
	return nil
}

// justBelow returns the largest float32 below every float32 p with
// float64(p) >= s: post-processing keeps probabilities strictly above its
// threshold, and a detection is kept when its score >= s.
func justBelow(s float64) float32 {
	c := float32(s)
	if float64(c) < s {
		c = math.Nextafter32(c, float32(math.Inf(1)))
	}
	return math.Nextafter32(c, float32(math.Inf(-1)))
}

// parallel calls f(0..n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	wg.Wait()
}

// Warmup runs every batch size from 1 to MaxBatch once: the graph engine
// compiles its executable of each size, which otherwise happens on the
// first call of that size, and the native engine allocates its buffers; a
// server calls it before it reports ready.
func (d *Detector) Warmup(ctx context.Context) error {
	w, h := d.InputSize()
	for n := 1; n <= d.maxBatch; n++ {
		img := image.NewGray(image.Rect(0, 0, w, h))
		imgs := make([]image.Image, n)
		for i := range imgs {
			imgs[i] = img
		}
		if err := d.run(ctx, imgs, nil, make([][]Detection, n)); err != nil {
			return fmt.Errorf("detect: warm-up of batch size %d: %w", n, err)
		}
	}
	return nil
}

// Close releases the compiled executables, after the executions running
// have finished; later calls return ErrClosed. Close is idempotent.
func (d *Detector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		d.pred.Close()
	}
	return nil
}

// MaxPixels returns the pixel limit (see the package documentation).
func MaxPixels() int64 { return imageio.MaxPixels() }

// SetMaxPixels sets the pixel limit for the whole process and returns the
// previous one; n <= 0 restores the default (100 megapixels).
func SetMaxPixels(n int64) (previous int64) { return imageio.SetMaxPixels(n) }

// Decode decodes a JPEG, PNG or BMP image after checking the size its
// header declares against MaxPixels (ErrTooLarge, before any pixel is
// decoded), and returns the format name ("jpeg", "png", "bmp").
func Decode(r io.Reader) (image.Image, string, error) {
	img, format, err := imageio.DecodeImage(r)
	if err != nil {
		var tl *imageio.TooLargeError
		if errors.As(err, &tl) {
			return nil, format, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return nil, format, err
	}
	return img, format, nil
}
