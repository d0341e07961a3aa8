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
package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/transform"
)

// DefaultMinBoxSize is the smallest width and height, in network input
// pixels, a transformed box may have before it is dropped as degenerate.
const DefaultMinBoxSize = 1.0

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
	// Logf, when set, receives one line per skipped image (in epoch order).
	Logf func(format string, args ...any)
}

// Target holds one image's boxes in network input coordinates.
type Target struct {
	// Boxes are x1, y1, x2, y2 in network input pixels, clipped to the
	// resized image.
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
	// DroppedBoxes counts boxes dropped as degenerate after transform.
	DroppedBoxes int
	// Bad lists each distinct bad image once, with its first error, in the
	// order found.
	Bad []BadImage
}

// Loader produces batches from a dataset. Its methods are safe for
// concurrent use; each Epoch iterator is meant for one consumer.
type Loader struct {
	ds  *data.Dataset
	cfg Config
	tr  *transform.Transform

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
	return &Loader{ds: ds, cfg: cfg, tr: tr, badSeen: map[int]bool{}}, nil
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
	// Pix are the normalised resized pixels (ResizedH*ResizedW*3).
	Pix []float32
	// Record is the geometric transform (its canvas is the image's own).
	Record transform.Record
	// Target are the transformed boxes.
	Target Target
	// Index is the position in Dataset.Images.
	Index int
	// Dropped counts boxes dropped as degenerate.
	Dropped int
}

// Load decodes and transforms image index with the augmentation of epoch
// (the same one the epoch iterator uses). Errors name the file.
func (l *Loader) Load(epoch, index int) (*Sample, error) {
	return l.load(epoch, index, nil)
}

// load is Load resizing into buf when it is large enough.
func (l *Loader) load(epoch, index int, buf []float32) (*Sample, error) {
	if index < 0 || index >= len(l.ds.Images) {
		return nil, fmt.Errorf("loader: image index %d out of range [0, %d)", index, len(l.ds.Images))
	}
	im := &l.ds.Images[index]
	p := l.tr.Sample(SampleRNG(l.cfg.Seed, epoch, index))
	img, err := imageio.DecodeFile(im.Path)
	if err != nil {
		return nil, err
	}
	if im.Width > 0 && im.Height > 0 && (img.W != im.Width || img.H != im.Height) {
		return nil, fmt.Errorf("image %s: decoded size %dx%d differs from the annotated %dx%d", im.Path, img.W, img.H, im.Width, im.Height)
	}
	pix, rec, err := l.tr.ResizeInto(buf, img, p)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", im.Path, err)
	}
	s := &Sample{Pix: pix, Record: rec, Index: index}
	n := len(im.Objects)
	t := Target{Boxes: make([][4]float32, 0, n), Classes: make([]int, 0, n), Ignore: make([]bool, 0, n), ObjectIDs: make([]int64, 0, n)}
	for _, o := range im.Objects {
		b := rec.ClipResized(rec.Forward(o.Box))
		if !(b[2]-b[0] >= l.cfg.MinBoxSize && b[3]-b[1] >= l.cfg.MinBoxSize) {
			s.Dropped++
			continue
		}
		t.Boxes = append(t.Boxes, [4]float32{float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3])})
		t.Classes = append(t.Classes, o.Class)
		t.Ignore = append(t.Ignore, o.Crowd || o.Difficult)
		t.ObjectIDs = append(t.ObjectIDs, o.ID)
	}
	s.Target = t
	return s, nil
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
				s, err := l.load(epoch, order[pos], buf)
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
	l.mu.Lock()
	l.stats.Skipped++
	if !l.badSeen[idx] {
		l.badSeen[idx] = true
		l.stats.Bad = append(l.stats.Bad, BadImage{Index: idx, Path: l.ds.Images[idx].Path, Err: err})
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
