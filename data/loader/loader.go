// Package loader decodes, augments and batches the images of a
// data.Dataset in background goroutines.
//
// A Loader is deterministic for its seed: the order of an epoch is a
// permutation drawn from (seed, epoch), and each image's random
// augmentation is drawn from (seed, epoch, image index), so the batches,
// their order and their pixels do not depend on the number of workers or on
// goroutine scheduling. Unreadable images are skipped (and counted in
// Stats) unless Config.Strict makes them fatal; skipping is deterministic
// too because it depends only on the files.
//
// # Augmentation
//
// Besides the transform's resize, flip and photometric jitter (package
// data/transform), Config.Augment adds zoom and translation and 4-image
// mosaics on the fixed canvas (package data/augment). A mosaic's other
// images are drawn by the sample's own random source, so an augmented
// sample still depends only on the seed, the epoch, the image index and its
// epoch's options. EpochWith switches mosaic and zoom off for one epoch
// (for the last epochs of a run, as Ultralytics' close_mosaic); Epoch uses
// the configuration as it is. A mosaic whose other image cannot be read is
// skipped like a bad image, and that image is the one listed in Stats.Bad.
//
// The Record of a zoomed or mosaic sample describes the whole canvas as its
// image (OrigW x OrigH = ResizedW x ResizedH = the canvas, scale 1, no
// flip): the whole canvas is image content, the fill around and between
// the placed images included (0 after normalisation, the mean colour, as
// Ultralytics' grey fill), so every anchor takes part in the losses (the
// valid-anchor mask covers the canvas) and the fill is background. Its
// Inverse maps to canvas pixels, not to an original image. Batch.Indices
// and ImageIDs name the sample's own image; the boxes of a mosaic come from
// its four images, with their classes, ignore flags and object ids.
//
// # Cache
//
// With Config.CacheBytes > 0 the loader keeps decoded images in memory as
// 8-bit RGB, reduced to the largest size training can use (scale
// min(1, max zoom x base scale), the base scale being the plain transform's
// fit to the canvas), up to that many bytes of pixels; the images beyond
// the budget are decoded and reduced again each time they are used. Every
// image is reduced the same way whether it is cached or not, so the pixels
// depend only on the image and the configuration, never on which images
// are cached, the order they were first loaded or the number of workers.
// Reduced images are resampled twice (once reduced, then transformed), so
// their samples differ slightly (8-bit rounding, a little more smoothing)
// from those of a loader without a cache; an image that needs no reduction
// gives the same pixels with or without the cache.
package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/augment"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/transform"
)

// DefaultMinBoxSize is the smallest width and height, in network input
// pixels, a transformed box may have before it is dropped as degenerate.
const DefaultMinBoxSize = 1.0

// DefaultCacheBytes is a suggested Config.CacheBytes (1 GiB): about 3000
// 640x480 images reduced for a 256 x 256 canvas with zoom up to 1.5
// (384x288, 332 kB each), or 1100 kept whole for a 512 x 512 canvas.
const DefaultCacheBytes = 1 << 30

// Config configures a Loader.
type Config struct {
	// BatchSize is the number of images per batch (required, > 0).
	BatchSize int
	// Workers is the number of decoding goroutines; 0 means
	// runtime.NumCPU().
	Workers int
	// Prefetch is the number of batches prepared ahead of the consumer;
	// 0 means 2.
	Prefetch int
	// Seed drives shuffling and augmentation.
	Seed int64
	// Shuffle permutes the images each epoch (from Seed and the epoch);
	// otherwise batches follow the dataset order.
	Shuffle bool
	// DropLast drops an epoch's last batch when it is incomplete (useful
	// when the compiled graph has a fixed batch size).
	DropLast bool
	// Strict makes an unreadable image a fatal error instead of a skip.
	Strict bool
	// MinBoxSize is the smallest width and height (network input pixels) a
	// box keeps after transform and clipping; 0 means DefaultMinBoxSize.
	MinBoxSize float64
	// Transform configures resizing, flipping, jitter, normalisation and
	// padding. With a fixed canvas every batch has the canvas size;
	// otherwise a batch is padded to its largest image, rounded up to
	// Transform.PadDivisor.
	Transform transform.Config
	// Augment configures zoom, translation and mosaic (see the package
	// documentation); they need a fixed canvas. The zero value disables
	// them.
	Augment augment.Config
	// CacheBytes is the budget of the decoded-image cache, in bytes of
	// 8-bit RGB pixels (see the package documentation); 0 disables the
	// cache. DefaultCacheBytes is a suggested value.
	CacheBytes int64
	// Logf, when set, receives one line per skipped image (in epoch order).
	Logf func(format string, args ...any)
}

// Target holds one image's boxes in network input coordinates.
type Target struct {
	// Boxes are x1, y1, x2, y2 in network input pixels, clipped to the
	// resized image (to their image's part of the canvas when augmented).
	Boxes [][4]float32
	// Classes are the contiguous class indices of Boxes.
	Classes []int
	// Ignore marks crowd and difficult boxes (ignore regions for training).
	Ignore []bool
	// ObjectIDs are the annotation ids of Boxes.
	ObjectIDs []int64
}

// Batch is a batch of transformed images and their targets.
type Batch struct {
	// Images are B*H*W*3 float32 values, NHWC, normalised; padding is 0.
	Images []float32
	// B, H and W are the batch size and the (common) input height and width.
	B, H, W int
	// Targets, Records, Indices and ImageIDs have one entry per image.
	Targets []Target
	// Records map boxes between original images and this batch's inputs.
	Records []transform.Record
	// Indices are the images' positions in Dataset.Images.
	Indices []int
	// ImageIDs are the images' dataset ids.
	ImageIDs []int64
	// Epoch is the epoch the batch belongs to and Step its position in it.
	Epoch, Step int
}

// BadImage describes an image that could not be loaded.
type BadImage struct {
	// Index is the image's position in Dataset.Images.
	Index int
	// Path is the image file.
	Path string
	// Err is the error (it names the file).
	Err error
}

// Stats are counters accumulated over every epoch a Loader has run.
type Stats struct {
	// Loaded counts images decoded and transformed successfully.
	Loaded int
	// Skipped counts skip events (an image bad in two epochs counts twice).
	Skipped int
	// DroppedBoxes counts boxes dropped after transform: degenerate, or
	// mostly cut away by zoom or mosaic.
	DroppedBoxes int
	// Cached and CachedBytes are the images held in the cache and their
	// bytes (at most Config.CacheBytes).
	Cached      int
	CachedBytes int64
	// Bad lists each distinct bad image once, with its first error, in the
	// order found.
	Bad []BadImage
}

// Loader produces batches from a dataset. Its methods are safe for
// concurrent use; each Epoch iterator is meant for one consumer.
type Loader struct {
	ds    *data.Dataset
	cfg   Config
	tr    *transform.Transform
	cache *cache // nil without a cache

	mu      sync.Mutex
	stats   Stats
	badSeen map[int]bool

	// pixPool recycles per-image buffers (*[]float32) between the workers
	// and the assembler; batchPool recycles batch buffers given back with
	// Recycle.
	pixPool, batchPool sync.Pool
}

// New checks cfg and returns a Loader over ds. The dataset must not change
// while the loader is in use.
func New(ds *data.Dataset, cfg Config) (*Loader, error) {
	if ds == nil {
		return nil, errors.New("loader: nil dataset")
	}
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("loader: batch size %d must be positive", cfg.BatchSize)
	}
	if cfg.Workers < 0 || cfg.Prefetch < 0 || cfg.MinBoxSize < 0 {
		return nil, fmt.Errorf("loader: negative workers (%d), prefetch (%d) or min box size (%g)", cfg.Workers, cfg.Prefetch, cfg.MinBoxSize)
	}
	if cfg.CacheBytes < 0 {
		return nil, fmt.Errorf("loader: CacheBytes %d is negative", cfg.CacheBytes)
	}
	if err := cfg.Augment.Validate(); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 2
	}
	if cfg.MinBoxSize == 0 {
		cfg.MinBoxSize = DefaultMinBoxSize
	}
	tr, err := transform.New(cfg.Transform)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	cfg.Transform = tr.Config()
	if _, _, fixed := tr.FixedCanvas(); cfg.Augment.Enabled() && !fixed {
		return nil, errors.New("loader: augment: zoom and mosaic need a fixed canvas (Transform.CanvasW and CanvasH)")
	}
	l := &Loader{ds: ds, cfg: cfg, tr: tr, badSeen: map[int]bool{}}
	if cfg.CacheBytes > 0 {
		l.cache = &cache{budget: cfg.CacheBytes, m: map[int]source{}}
	}
	return l, nil
}

// Config returns the configuration with defaults filled in.
func (l *Loader) Config() Config { return l.cfg }

// Transform returns the loader's transform.
func (l *Loader) Transform() *transform.Transform { return l.tr }

// Stats returns a copy of the counters.
func (l *Loader) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Bad = append([]BadImage(nil), l.stats.Bad...)
	if c := l.cache; c != nil {
		c.mu.Lock()
		s.Cached, s.CachedBytes = len(c.m), c.used
		c.mu.Unlock()
	}
	return s
}

// NumBatches returns the number of batches in an epoch when no image is
// skipped (an upper bound otherwise).
func (l *Loader) NumBatches() int {
	n := len(l.ds.Images)
	if l.cfg.DropLast {
		return n / l.cfg.BatchSize
	}
	return (n + l.cfg.BatchSize - 1) / l.cfg.BatchSize
}

// splitmix64 is a bijective 64-bit mixing function (SplitMix64's finaliser).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Order returns the image indices of an epoch in the order they are loaded.
func (l *Loader) Order(epoch int) []int {
	n := len(l.ds.Images)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if !l.cfg.Shuffle {
		return order
	}
	rng := rand.New(rand.NewPCG(splitmix64(uint64(l.cfg.Seed)), splitmix64(uint64(epoch)^0x5eed0f0e0c4)))
	for i := n - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		order[i], order[j] = order[j], order[i]
	}
	return order
}

// SampleRNG returns the random source of image index in epoch: it depends
// only on the seed, the epoch and the index.
func SampleRNG(seed int64, epoch, index int) *rand.Rand {
	a := splitmix64(uint64(seed) ^ 0xa5a5a5a5a5a5a5a5)
	b := splitmix64(splitmix64(uint64(epoch)+0x1f) ^ uint64(index))
	return rand.New(rand.NewPCG(a, b))
}

// Sample is one image after transform, before batching.
type Sample struct {
	// Pix are the normalised resized pixels (ResizedH*ResizedW*3; the whole
	// canvas for a zoomed or mosaic sample).
	Pix []float32
	// Record is the geometric transform (its canvas is the image's own).
	Record transform.Record
	// Target are the transformed boxes.
	Target Target
	// Index is the position in Dataset.Images.
	Index int
	// Dropped counts boxes dropped after transform.
	Dropped int
	// cut holds the dropped boxes, clipped, and their classes (for tests).
	cut []cutBox
}

type cutBox struct {
	box   [4]float64
	class int
}

// EpochOptions switch parts of the augmentation off for one epoch (see
// EpochWith). The zero value keeps the configuration's.
type EpochOptions struct {
	// NoMosaic makes every sample a single image.
	NoMosaic bool
	// NoZoom disables zoom and translation. With NoMosaic too, every sample
	// is the plain transform's (resize to fit, flip, photometric jitter),
	// the same as a loader without Config.Augment gives.
	NoZoom bool
}

// Load decodes and transforms image index with the augmentation of epoch
// (the same one the epoch iterator uses). Errors name the file.
func (l *Loader) Load(epoch, index int) (*Sample, error) {
	return l.load(epoch, index, EpochOptions{}, nil)
}

// LoadWith is Load with the augmentation of an epoch run by EpochWith with
// opts.
func (l *Loader) LoadWith(epoch, index int, opts EpochOptions) (*Sample, error) {
	return l.load(epoch, index, opts, nil)
}

// partnerError is the error of a mosaic's other image: the sample is
// skipped and that image is recorded as the bad one.
type partnerError struct {
	index int
	err   error
}

func (e *partnerError) Error() string { return fmt.Sprintf("mosaic image %d: %v", e.index, e.err) }
func (e *partnerError) Unwrap() error { return e.err }

// load is Load writing the pixels into buf when it is large enough.
func (l *Loader) load(epoch, index int, opts EpochOptions, buf []float32) (*Sample, error) {
	if index < 0 || index >= len(l.ds.Images) {
		return nil, fmt.Errorf("loader: image index %d out of range [0, %d)", index, len(l.ds.Images))
	}
	d := l.cfg.Augment.Sample(SampleRNG(l.cfg.Seed, epoch, index), l.tr, index, len(l.ds.Images),
		augment.Options{NoMosaic: opts.NoMosaic, NoZoom: opts.NoZoom})
	if d.Kind == augment.Plain {
		return l.loadPlain(index, d.Params[0], buf)
	}
	return l.loadAugmented(&d, buf)
}

// loadPlain is the plain transform: resize to fit, top-left, padded.
func (l *Loader) loadPlain(index int, p transform.Params, buf []float32) (*Sample, error) {
	im := &l.ds.Images[index]
	src, err := l.source(index)
	if err != nil {
		return nil, err
	}
	pix, rec, err := l.tr.ResizeSourceInto(buf, src.img, src.w, src.h, p)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", im.Path, err)
	}
	s := &Sample{Pix: pix, Record: rec, Index: index}
	t := newTarget(len(im.Objects))
	for _, o := range im.Objects {
		b := rec.ClipResized(rec.Forward(o.Box))
		if !(b[2]-b[0] >= l.cfg.MinBoxSize && b[3]-b[1] >= l.cfg.MinBoxSize) {
			s.Dropped++
			s.cut = append(s.cut, cutBox{b, o.Class})
			continue
		}
		t.add(b, o)
	}
	s.Target = t
	return s, nil
}

// loadAugmented composes a zoomed or mosaic sample on the canvas.
func (l *Loader) loadAugmented(d *augment.Draw, buf []float32) (*Sample, error) {
	cw, ch, _ := l.tr.FixedCanvas()
	var srcs [4]source
	var sizes [4][2]int
	var base [4]float64
	objects := 0
	for k := 0; k < d.N; k++ {
		s, err := l.source(d.Images[k])
		if err != nil {
			if k > 0 {
				return nil, &partnerError{index: d.Images[k], err: err}
			}
			return nil, err
		}
		srcs[k], sizes[k], base[k] = s, [2]int{s.w, s.h}, l.tr.Scale(s.w, s.h, d.Params[k])
		objects += len(l.ds.Images[d.Images[k]].Objects)
	}
	var plBuf [4]transform.Placement
	pls := d.Layout(plBuf[:0], cw, ch, sizes[:d.N], base[:d.N])
	size := cw * ch * 3
	var out []float32
	if cap(buf) >= size {
		out = buf[:size]
		clear(out)
	} else {
		out = make([]float32, size)
	}
	s := &Sample{Pix: out, Index: d.Images[0], Record: transform.Record{
		OrigW: cw, OrigH: ch, ScaleX: 1, ScaleY: 1, ResizedW: cw, ResizedH: ch, CanvasW: cw, CanvasH: ch,
	}}
	t := newTarget(objects)
	for k, pl := range pls {
		im := &l.ds.Images[d.Images[k]]
		if err := l.tr.Place(out, cw, ch, srcs[k].img, pl, d.Params[k]); err != nil {
			return nil, fmt.Errorf("image %s: %w", im.Path, err)
		}
		for _, o := range im.Objects {
			b, keep := l.cfg.Augment.Box(pl, cw, ch, o.Box, l.cfg.MinBoxSize)
			if !keep {
				s.Dropped++
				s.cut = append(s.cut, cutBox{b, o.Class})
				continue
			}
			t.add(b, o)
		}
	}
	s.Target = t
	return s, nil
}

func newTarget(n int) Target {
	return Target{Boxes: make([][4]float32, 0, n), Classes: make([]int, 0, n), Ignore: make([]bool, 0, n), ObjectIDs: make([]int64, 0, n)}
}

// add appends box b of object o.
func (t *Target) add(b [4]float64, o data.Object) {
	t.Boxes = append(t.Boxes, [4]float32{float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3])})
	t.Classes = append(t.Classes, o.Class)
	t.Ignore = append(t.Ignore, o.Crowd || o.Difficult)
	t.ObjectIDs = append(t.ObjectIDs, o.ID)
}

// source is an image ready to resample: the decoded image, or its copy
// reduced for the cache, and the original size.
type source struct {
	img  *imageio.RGB
	w, h int
}

// cache holds sources up to a budget of pixel bytes. An image enters it
// when it is first loaded and the budget has room; it is never evicted.
type cache struct {
	mu     sync.Mutex
	budget int64
	used   int64
	m      map[int]source
}

// source returns image index ready to resample, from the cache when it is
// there, otherwise decoded (and, with a cache, reduced and cached when the
// budget has room). Errors name the file.
func (l *Loader) source(index int) (source, error) {
	c := l.cache
	if c != nil {
		c.mu.Lock()
		s, ok := c.m[index]
		c.mu.Unlock()
		if ok {
			return s, nil
		}
	}
	im := &l.ds.Images[index]
	img, err := imageio.DecodeFile(im.Path)
	if err != nil {
		return source{}, err
	}
	if im.Width > 0 && im.Height > 0 && (img.W != im.Width || img.H != im.Height) {
		return source{}, fmt.Errorf("image %s: decoded size %dx%d differs from the annotated %dx%d", im.Path, img.W, img.H, im.Width, im.Height)
	}
	s := source{img: img, w: img.W, h: img.H}
	if c == nil {
		return s, nil
	}
	if rw, rh := l.reducedSize(img.W, img.H); rw < img.W || rh < img.H {
		if s.img, err = transform.Reduce(img, rw, rh); err != nil {
			return source{}, fmt.Errorf("image %s: %w", im.Path, err)
		}
	}
	size := int64(len(s.img.Pix))
	c.mu.Lock()
	if prev, ok := c.m[index]; ok {
		s = prev
	} else if c.used+size <= c.budget {
		c.m[index] = s
		c.used += size
	}
	c.mu.Unlock()
	return s, nil
}

// reducedSize is the size a w x h image is reduced to for the cache: the
// largest scale any sample can use (the plain transform's at the largest
// short side, times the largest zoom), rounded up, if below 1.
func (l *Loader) reducedSize(w, h int) (int, int) {
	p := transform.Params{ShortSide: l.cfg.Transform.ShortSideRange[1]}
	s := l.tr.Scale(w, h, p) * l.cfg.Augment.MaxZoom()
	if s >= 1 {
		return w, h
	}
	up := func(n int) int { return min(n, max(1, int(math.Ceil(float64(n)*s-1e-9)))) }
	return up(w), up(h)
}

type result struct {
	s   *Sample
	idx int
	err error
}

type item struct {
	b   *Batch
	err error
}

// Iter iterates over the batches of one epoch. Call Close when done (also
// after io.EOF; it is idempotent).
type Iter struct {
	out    chan item
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// err is set by the assembler before it closes out.
	err  error
	once sync.Once
}

// Epoch starts loading epoch (0-based) in the background and returns its
// iterator. Cancelling ctx stops the work.
func (l *Loader) Epoch(ctx context.Context, epoch int) *Iter {
	return l.EpochWith(ctx, epoch, EpochOptions{})
}

// EpochWith is Epoch with parts of the augmentation switched off by opts
// for this epoch (the trainer closes mosaic and zoom for the last epochs of
// a run); EpochWith(ctx, epoch, EpochOptions{}) is Epoch(ctx, epoch).
func (l *Loader) EpochWith(ctx context.Context, epoch int, opts EpochOptions) *Iter {
	ctx, cancel := context.WithCancel(ctx)
	it := &Iter{out: make(chan item, l.cfg.Prefetch-1), cancel: cancel}
	order := l.Order(epoch)
	window := max(l.cfg.Prefetch*l.cfg.BatchSize, l.cfg.Workers)
	tokens := make(chan struct{}, window)
	slots := make([]chan result, window)
	for i := range slots {
		slots[i] = make(chan result, 1)
	}
	jobs := make(chan int)

	// Feeder: at most window positions are in flight past the assembler,
	// so position p's slot p%window is free when p is handed out.
	it.wg.Add(1)
	go func() {
		defer it.wg.Done()
		defer close(jobs)
		for pos := range order {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- pos:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < l.cfg.Workers; w++ {
		it.wg.Add(1)
		go func() {
			defer it.wg.Done()
			for pos := range jobs {
				if ctx.Err() != nil {
					return
				}
				var buf []float32
				if p, ok := l.pixPool.Get().(*[]float32); ok {
					buf = *p
				}
				s, err := l.load(epoch, order[pos], opts, buf)
				if err != nil && buf != nil {
					l.pixPool.Put(&buf)
				}
				select {
				case slots[pos%window] <- result{s: s, idx: order[pos], err: err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	// Assembler: consumes results in epoch order and forms batches.
	it.wg.Add(1)
	go func() {
		defer it.wg.Done()
		defer close(it.out)
		defer cancel()
		send := func(x item) bool {
			select {
			case it.out <- x:
				return true
			case <-ctx.Done():
				it.err = ctx.Err()
				return false
			}
		}
		pending := make([]*Sample, 0, l.cfg.BatchSize)
		step := 0
		for pos := range order {
			var r result
			select {
			case r = <-slots[pos%window]:
			case <-ctx.Done():
				it.err = ctx.Err()
				return
			}
			<-tokens
			if r.err != nil {
				l.recordBad(r.idx, r.err)
				if l.cfg.Strict {
					it.err = fmt.Errorf("loader: epoch %d: %w", epoch, r.err)
					return
				}
				continue
			}
			l.recordLoaded(r.s)
			pending = append(pending, r.s)
			if len(pending) == l.cfg.BatchSize {
				if !send(item{b: l.assemble(pending, epoch, step)}) {
					return
				}
				step++
				pending = pending[:0]
			}
		}
		if len(pending) > 0 && !l.cfg.DropLast {
			send(item{b: l.assemble(pending, epoch, step)})
		}
	}()
	return it
}

func (l *Loader) recordBad(idx int, err error) {
	bad, badErr := idx, err
	var pe *partnerError
	if errors.As(err, &pe) {
		bad, badErr = pe.index, pe.err
	}
	l.mu.Lock()
	l.stats.Skipped++
	if !l.badSeen[bad] {
		l.badSeen[bad] = true
		l.stats.Bad = append(l.stats.Bad, BadImage{Index: bad, Path: l.ds.Images[bad].Path, Err: badErr})
	}
	l.mu.Unlock()
	if l.cfg.Logf != nil && !l.cfg.Strict {
		l.cfg.Logf("skipping image %d: %v", idx, err)
	}
}

func (l *Loader) recordLoaded(s *Sample) {
	l.mu.Lock()
	l.stats.Loaded++
	l.stats.DroppedBoxes += s.Dropped
	l.mu.Unlock()
}

// assemble pads the samples to a common size and copies them into a batch.
func (l *Loader) assemble(samples []*Sample, epoch, step int) *Batch {
	h, w, fixed := 0, 0, false
	if cw, ch, ok := l.tr.FixedCanvas(); ok {
		w, h, fixed = cw, ch, true
	}
	if !fixed {
		for _, s := range samples {
			w, h = max(w, s.Record.ResizedW), max(h, s.Record.ResizedH)
		}
		div := l.cfg.Transform.PadDivisor
		w, h = transform.RoundUp(w, div), transform.RoundUp(h, div)
	}
	n := len(samples)
	var images []float32
	if p, ok := l.batchPool.Get().(*[]float32); ok && cap(*p) >= n*h*w*3 {
		images = (*p)[:n*h*w*3]
	} else {
		images = make([]float32, n*h*w*3)
	}
	b := &Batch{
		Images: images, B: n, H: h, W: w,
		Targets: make([]Target, n), Records: make([]transform.Record, n),
		Indices: make([]int, n), ImageIDs: make([]int64, n),
		Epoch: epoch, Step: step,
	}
	per := h * w * 3
	for i, s := range samples {
		rec := s.Record
		rec.CanvasW, rec.CanvasH = w, h
		transform.Paste(b.Images[i*per:(i+1)*per], w, h, s.Pix, rec.ResizedW, rec.ResizedH)
		b.Targets[i] = s.Target
		b.Records[i] = rec
		b.Indices[i] = s.Index
		b.ImageIDs[i] = l.ds.Images[s.Index].ID
		pix := s.Pix
		s.Pix = nil
		l.pixPool.Put(&pix)
	}
	return b
}

// Recycle hands a batch's image buffer back to the loader for reuse by
// later batches (it saves allocating and clearing large buffers). The
// batch's Images must not be used afterwards; calling Recycle is optional.
func (l *Loader) Recycle(b *Batch) {
	if b == nil || b.Images == nil {
		return
	}
	images := b.Images
	b.Images = nil
	l.batchPool.Put(&images)
}

// Next returns the next batch, io.EOF at the end of the epoch, the first
// bad image's error in strict mode, or the context's error after
// cancellation.
func (it *Iter) Next() (*Batch, error) {
	x, ok := <-it.out
	if ok {
		return x.b, x.err
	}
	if it.err != nil {
		return nil, it.err
	}
	return nil, io.EOF
}

// Close stops the background work and waits for it to finish.
func (it *Iter) Close() {
	it.once.Do(func() {
		it.cancel()
		it.wg.Wait()
	})
}
