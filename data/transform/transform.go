// Package transform turns a decoded image into the detector's input: resize
// keeping the aspect ratio, optional horizontal flip, optional photometric
// and scale jitter, normalisation, and padding to a fixed canvas or to a
// multiple of 32. The output is float32 NHWC (one image: H*W*3, index
// (y*W+x)*3+c).
//
// Every geometric step is recorded in a Record, which maps boxes from the
// original image to the network input (Forward) and predictions back
// (Inverse). A Placement puts a resized image anywhere on a canvas, cut off
// at its edges (the zoom, translation and mosaic of package data/augment),
// and maps boxes the same way. Coordinates are continuous pixel-edge
// coordinates: the pixel
// (x, y) covers [x, x+1) x [y, y+1), and a box is x1, y1, x2, y2 with
// x2 = x1 + width. Resampling uses pixel centres at half-integers (as
// OpenCV's INTER_LINEAR and torchvision's align_corners=False), so the
// continuous mapping x' = x * ScaleX holds for both pixels and boxes.
package transform

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ghmdet/ghmdet/data/imageio"
)

// DefaultMean and DefaultStd are the RGB normalisation constants of the
// reference configuration (ImageNet statistics on the 0..255 scale).
var (
	DefaultMean = [3]float32{123.675, 116.28, 103.53}
	DefaultStd  = [3]float32{58.395, 57.12, 57.375}
)

// DefaultPadDivisor is the multiple the padded input size is rounded up to
// when no fixed canvas is set (the largest FPN stride used for padding).
const DefaultPadDivisor = 32

// Config configures a Transform. The zero value resizes nothing, flips
// nothing, pads to a multiple of 32 and normalises with the default mean and
// standard deviation.
type Config struct {
	// ShortSide and LongSide are the keep-ratio resize target (mmdetection
	// "keep ratio" semantics): scale = min(ShortSide/min(h, w),
	// LongSide/max(h, w)). Zero leaves that limit out. The reference
	// configuration is ShortSide 800, LongSide 1333.
	ShortSide, LongSide int
	// ShortSideRange enables scale jitter when its upper end is positive:
	// each image's short-side target is drawn uniformly from the integers
	// [ShortSideRange[0], ShortSideRange[1]] and replaces ShortSide.
	ShortSideRange [2]int
	// CanvasW and CanvasH, when both positive, set a fixed input size: the
	// resized image additionally fits inside the canvas (scale is capped at
	// min(CanvasW/w, CanvasH/h)) and is padded at the right and bottom to
	// exactly CanvasW x CanvasH. With only a canvas set, images are scaled
	// to fit it. Needed when the compiled graph has a fixed input shape.
	CanvasW, CanvasH int
	// PadDivisor is the multiple the resized size is padded up to when no
	// canvas is set; 0 means DefaultPadDivisor and 1 means no padding.
	PadDivisor int
	// FlipProb is the probability of a horizontal flip (0.5 for training,
	// 0 for evaluation).
	FlipProb float64
	// Brightness, Contrast and Saturation are photometric jitter strengths:
	// each factor is drawn uniformly from [max(0, 1-s), 1+s]. Zero disables
	// that jitter. Brightness scales the values, contrast blends with the
	// image's mean grey, saturation blends with each pixel's grey; applied in
	// that order on the 0..255 scale, then clamped.
	Brightness, Contrast, Saturation float64
	// HSVHue, HSVSat and HSVVal are the HSV jitter gains of Ultralytics
	// YOLO (suggested 0.015, 0.7, 0.4; zero disables that jitter): the hue
	// is rotated by u*HSVHue of the colour circle, the saturation and the
	// value are multiplied by 1+u*HSVSat and 1+u*HSVVal (then capped at 1
	// and 255), each u drawn uniformly from [-1, 1]. Applied per image after
	// the brightness/contrast/saturation jitter, on the 0..255 scale.
	HSVHue, HSVSat, HSVVal float64
	// Mean and Std normalise each RGB channel: (v - Mean) / Std on the
	// 0..255 scale. When Std is all zero both take DefaultMean/DefaultStd.
	Mean, Std [3]float32
}

// DefaultConfig returns the reference training configuration: resize to fit
// 1333 x 800 keeping the ratio, flip with probability 0.5, pad to a multiple
// of 32, default normalisation.
func DefaultConfig() Config {
	return Config{ShortSide: 800, LongSide: 1333, FlipProb: 0.5, PadDivisor: DefaultPadDivisor,
		Mean: DefaultMean, Std: DefaultStd}
}

// Transform applies a validated Config. It is safe for concurrent use.
type Transform struct {
	cfg Config
	// Per-channel normalisation: v*scale + shift.
	nscale, nshift [3]float32
}

// New validates cfg, fills in defaults and returns the Transform.
func New(cfg Config) (*Transform, error) {
	if cfg.Std == [3]float32{} {
		cfg.Mean, cfg.Std = DefaultMean, DefaultStd
	}
	if cfg.PadDivisor == 0 {
		cfg.PadDivisor = DefaultPadDivisor
	}
	var errs []error
	if cfg.ShortSide < 0 || cfg.LongSide < 0 {
		errs = append(errs, fmt.Errorf("negative resize target %d/%d", cfg.ShortSide, cfg.LongSide))
	}
	if r := cfg.ShortSideRange; r != [2]int{} && (r[0] <= 0 || r[1] < r[0]) {
		errs = append(errs, fmt.Errorf("short-side range [%d, %d] must satisfy 0 < lo <= hi", r[0], r[1]))
	}
	if (cfg.CanvasW > 0) != (cfg.CanvasH > 0) || cfg.CanvasW < 0 || cfg.CanvasH < 0 {
		errs = append(errs, fmt.Errorf("canvas %dx%d: set both sides or neither", cfg.CanvasW, cfg.CanvasH))
	}
	if cfg.PadDivisor < 0 {
		errs = append(errs, fmt.Errorf("pad divisor %d is negative", cfg.PadDivisor))
	}
	if cfg.FlipProb < 0 || cfg.FlipProb > 1 || math.IsNaN(cfg.FlipProb) {
		errs = append(errs, fmt.Errorf("flip probability %g outside [0, 1]", cfg.FlipProb))
	}
	for _, s := range []float64{cfg.Brightness, cfg.Contrast, cfg.Saturation} {
		if s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			errs = append(errs, fmt.Errorf("photometric jitter strength %g must be finite and >= 0", s))
		}
	}
	for _, g := range []struct {
		name string
		v    float64
	}{{"hue", cfg.HSVHue}, {"saturation", cfg.HSVSat}, {"value", cfg.HSVVal}} {
		if !(g.v >= 0 && g.v <= 1) {
			errs = append(errs, fmt.Errorf("HSV %s gain %g outside [0, 1]", g.name, g.v))
		}
	}
	t := &Transform{cfg: cfg}
	for c := 0; c < 3; c++ {
		if cfg.Std[c] == 0 || math.IsNaN(float64(cfg.Std[c])) {
			errs = append(errs, fmt.Errorf("std[%d] = %g", c, cfg.Std[c]))
			continue
		}
		t.nscale[c] = 1 / cfg.Std[c]
		t.nshift[c] = -cfg.Mean[c] / cfg.Std[c]
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("transform config: %w", err)
	}
	return t, nil
}

// Config returns the configuration with defaults filled in.
func (t *Transform) Config() Config { return t.cfg }

// FixedCanvas reports whether every output has the same size, and that size.
func (t *Transform) FixedCanvas() (w, h int, ok bool) {
	return t.cfg.CanvasW, t.cfg.CanvasH, t.cfg.CanvasW > 0
}

// Params are the random choices made for one image. The zero value (no flip,
// no jitter, configured short side) is the deterministic evaluation
// transform.
type Params struct {
	// ShortSide overrides Config.ShortSide when positive (scale jitter).
	ShortSide int
	// Flip mirrors the image horizontally.
	Flip bool
	// Jitter enables the photometric factors below.
	Jitter bool
	// Brightness, Contrast and Saturation are the photometric factors
	// (1 = unchanged); used only when Jitter is set.
	Brightness, Contrast, Saturation float64
	// HSV enables the HSV jitter below.
	HSV bool
	// Hue is the hue rotation in turns of the colour circle (0 =
	// unchanged); Sat and Val multiply the saturation and the value (1 =
	// unchanged). Used only when HSV is set.
	Hue, Sat, Val float64
}

// Sample draws the random choices for one image from rng. The number and
// order of draws depends only on the configuration, so a sample's
// parameters depend only on rng's seed.
func (t *Transform) Sample(rng *rand.Rand) Params {
	var p Params
	if t.cfg.FlipProb > 0 {
		p.Flip = rng.Float64() < t.cfg.FlipProb
	}
	if r := t.cfg.ShortSideRange; r[1] > 0 {
		p.ShortSide = r[0] + rng.IntN(r[1]-r[0]+1)
	}
	if t.cfg.Brightness > 0 || t.cfg.Contrast > 0 || t.cfg.Saturation > 0 {
		p.Jitter = true
		factor := func(s float64) float64 {
			if s == 0 {
				return 1
			}
			lo := math.Max(0, 1-s)
			return lo + rng.Float64()*(1+s-lo)
		}
		p.Brightness = factor(t.cfg.Brightness)
		p.Contrast = factor(t.cfg.Contrast)
		p.Saturation = factor(t.cfg.Saturation)
	}
	if c := t.cfg; c.HSVHue > 0 || c.HSVSat > 0 || c.HSVVal > 0 {
		// Drawn after the other choices, so that enabling the HSV jitter
		// leaves them as they were.
		p.HSV = true
		p.Hue = (2*rng.Float64() - 1) * c.HSVHue
		p.Sat = 1 + (2*rng.Float64()-1)*c.HSVSat
		p.Val = 1 + (2*rng.Float64()-1)*c.HSVVal
	}
	return p
}

// Record describes the geometric transform applied to one image.
type Record struct {
	// OrigW and OrigH are the original image size.
	OrigW, OrigH int
	// ScaleX and ScaleY are ResizedW/OrigW and ResizedH/OrigH.
	ScaleX, ScaleY float64
	// Flip is set when the resized image was mirrored horizontally.
	Flip bool
	// ResizedW and ResizedH are the size of the resized image, placed at the
	// top-left corner of the canvas.
	ResizedW, ResizedH int
	// CanvasW and CanvasH are the network input size (resized plus padding).
	CanvasW, CanvasH int
}

// Forward maps a box x1, y1, x2, y2 from original-image pixels to network
// input pixels. It does not clip.
func (r Record) Forward(b [4]float64) [4]float64 {
	x1, y1, x2, y2 := b[0]*r.ScaleX, b[1]*r.ScaleY, b[2]*r.ScaleX, b[3]*r.ScaleY
	if r.Flip {
		w := float64(r.ResizedW)
		x1, x2 = w-x2, w-x1
	}
	return [4]float64{x1, y1, x2, y2}
}

// Inverse maps a box from network input pixels (for example a prediction)
// back to original-image pixels, clipped to the original image. For boxes
// inside the image, Inverse(Forward(b)) == b up to rounding.
func (r Record) Inverse(b [4]float64) [4]float64 {
	x1, y1, x2, y2 := b[0], b[1], b[2], b[3]
	if r.Flip {
		w := float64(r.ResizedW)
		x1, x2 = w-x2, w-x1
	}
	ow, oh := float64(r.OrigW), float64(r.OrigH)
	return [4]float64{
		clamp(x1/r.ScaleX, 0, ow), clamp(y1/r.ScaleY, 0, oh),
		clamp(x2/r.ScaleX, 0, ow), clamp(y2/r.ScaleY, 0, oh),
	}
}

// ClipResized clips a network-input box to the resized image region
// [0, ResizedW] x [0, ResizedH] (the padding holds no image content).
func (r Record) ClipResized(b [4]float64) [4]float64 {
	w, h := float64(r.ResizedW), float64(r.ResizedH)
	return [4]float64{clamp(b[0], 0, w), clamp(b[1], 0, h), clamp(b[2], 0, w), clamp(b[3], 0, h)}
}

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Scale returns the resize factor the transform applies to a w x h image
// with parameters p, before the resized size is rounded to whole pixels
// (Plan rounds it). It is the base scale that zoom multiplies. w and h must
// be positive.
func (t *Transform) Scale(w, h int, p Params) float64 {
	c := t.cfg
	short := c.ShortSide
	if p.ShortSide > 0 {
		short = p.ShortSide
	}
	fw, fh := float64(w), float64(h)
	s := math.Inf(1)
	if short > 0 {
		s = float64(short) / math.Min(fw, fh)
	}
	if c.LongSide > 0 {
		s = math.Min(s, float64(c.LongSide)/math.Max(fw, fh))
	}
	if c.CanvasW > 0 {
		s = math.Min(s, math.Min(float64(c.CanvasW)/fw, float64(c.CanvasH)/fh))
	}
	if math.IsInf(s, 1) {
		s = 1
	}
	return s
}

// Plan computes the geometry for a w x h image with parameters p (resized
// size, scales, canvas) without touching pixels. It returns an error for an
// empty image.
func (t *Transform) Plan(w, h int, p Params) (Record, error) {
	if w <= 0 || h <= 0 {
		return Record{}, fmt.Errorf("transform: empty image %dx%d", w, h)
	}
	c := t.cfg
	s := t.Scale(w, h, p)
	fw, fh := float64(w), float64(h)
	rw, rh := int(fw*s+0.5), int(fh*s+0.5)
	rw, rh = max(rw, 1), max(rh, 1)
	rec := Record{OrigW: w, OrigH: h, Flip: p.Flip}
	if c.CanvasW > 0 {
		rw, rh = min(rw, c.CanvasW), min(rh, c.CanvasH)
		rec.CanvasW, rec.CanvasH = c.CanvasW, c.CanvasH
	} else {
		rec.CanvasW, rec.CanvasH = RoundUp(rw, c.PadDivisor), RoundUp(rh, c.PadDivisor)
	}
	rec.ResizedW, rec.ResizedH = rw, rh
	rec.ScaleX, rec.ScaleY = float64(rw)/fw, float64(rh)/fh
	return rec, nil
}

// RoundUp rounds n up to a multiple of div (div <= 1: n unchanged).
func RoundUp(n, div int) int {
	if div <= 1 {
		return n
	}
	return (n + div - 1) / div * div
}

// Resize resamples img per p and returns the normalised float32 pixels of
// the resized image only (ResizedH*ResizedW*3, NHWC without the batch
// axis) and the Record (whose canvas is this image's own canvas).
func (t *Transform) Resize(img *imageio.RGB, p Params) ([]float32, Record, error) {
	return t.ResizeInto(nil, img, p)
}

// ResizeInto is Resize writing into buf when its capacity suffices (the
// returned slice then shares buf's memory), to let callers reuse buffers.
func (t *Transform) ResizeInto(buf []float32, img *imageio.RGB, p Params) ([]float32, Record, error) {
	return t.ResizeSourceInto(buf, img, img.W, img.H, p)
}

// ResizeSourceInto is ResizeInto for a w x h image given as src, either the
// image itself or a copy of it reduced with Reduce: the Record is the w x h
// image's and the pixels are resampled from src (one bilinear resample; the
// continuous mapping is the same because a reduced copy keeps the image's
// extent).
func (t *Transform) ResizeSourceInto(buf []float32, src *imageio.RGB, w, h int, p Params) ([]float32, Record, error) {
	rec, err := t.Plan(w, h, p)
	if err != nil {
		return nil, rec, err
	}
	if err := checkRaster(src); err != nil {
		return nil, rec, err
	}
	size := rec.ResizedW * rec.ResizedH * 3
	var out []float32
	if cap(buf) >= size {
		out = buf[:size]
	} else {
		out = make([]float32, size)
	}
	n := rec.ResizedW * 3
	if p.Jitter || p.HSV {
		resampleRegion(out, n, src, rec.ResizedW, rec.ResizedH, p.Flip, 0, rec.ResizedW, 0, rec.ResizedH, [3]float32{1, 1, 1}, [3]float32{})
		photometric(out, n, n, rec.ResizedH, p)
		t.normalise(out)
	} else {
		resampleRegion(out, n, src, rec.ResizedW, rec.ResizedH, p.Flip, 0, rec.ResizedW, 0, rec.ResizedH, t.nscale, t.nshift)
	}
	return out, rec, nil
}

func checkRaster(img *imageio.RGB) error {
	if img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return fmt.Errorf("transform: raster %dx%d holds %d bytes, want %d", img.W, img.H, len(img.Pix), max(img.W*img.H*3, 0))
	}
	return nil
}

// Apply resizes, flips, jitters and normalises img per p and returns the
// canvas (CanvasH*CanvasW*3 float32, padding 0, i.e. the mean colour) and
// its Record.
func (t *Transform) Apply(img *imageio.RGB, p Params) ([]float32, Record, error) {
	pix, rec, err := t.Resize(img, p)
	if err != nil {
		return nil, rec, err
	}
	if rec.CanvasW == rec.ResizedW && rec.CanvasH == rec.ResizedH {
		return pix, rec, nil
	}
	canvas := make([]float32, rec.CanvasW*rec.CanvasH*3)
	Paste(canvas, rec.CanvasW, rec.CanvasH, pix, rec.ResizedW, rec.ResizedH)
	return canvas, rec, nil
}

// Paste copies an sw x sh x 3 image to the top-left corner of a dw x dh x 3
// canvas and sets the rest of the canvas to zero. The canvas must be at
// least as large as the image.
func Paste(dst []float32, dw, dh int, src []float32, sw, sh int) {
	row := sw * 3
	for y := 0; y < sh; y++ {
		d := dst[y*dw*3 : (y+1)*dw*3]
		copy(d, src[y*row:(y+1)*row])
		clear(d[row:])
	}
	clear(dst[sh*dw*3 : dh*dw*3])
}

func (t *Transform) normalise(pix []float32) {
	s0, s1, s2 := t.nscale[0], t.nscale[1], t.nscale[2]
	h0, h1, h2 := t.nshift[0], t.nshift[1], t.nshift[2]
	for i := 0; i+2 < len(pix); i += 3 {
		pix[i] = pix[i]*s0 + h0
		pix[i+1] = pix[i+1]*s1 + h1
		pix[i+2] = pix[i+2]*s2 + h2
	}
}

// ToRGB undoes the normalisation of a w x h x 3 float32 image (for example
// a region of a canvas) and returns it as 8-bit RGB, rounding and clamping.
func (t *Transform) ToRGB(pix []float32, w, h int) *imageio.RGB {
	out := imageio.NewRGB(w, h)
	for i := 0; i < w*h*3; i++ {
		c := i % 3
		v := float64(pix[i])*float64(t.cfg.Std[c]) + float64(t.cfg.Mean[c])
		out.Pix[i] = uint8(clamp(math.Round(v), 0, 255))
	}
	return out
}

// Placement puts one image on a canvas: the image, of OrigW x OrigH pixels,
// is resized to W x H, mirrored horizontally when Flip, and its top-left
// corner is placed at canvas pixel (X, Y); X and Y may be negative or the
// image larger than the canvas, and what falls outside the canvas is cut
// off. Pixels and boxes follow the same continuous map (see Forward).
type Placement struct {
	// OrigW and OrigH are the original image size.
	OrigW, OrigH int
	// W and H are the resized size.
	W, H int
	// X and Y are the canvas position of the resized image's top-left
	// corner.
	X, Y int
	// Flip mirrors the resized image horizontally.
	Flip bool
}

// Forward maps a box x1, y1, x2, y2 from original-image pixels to canvas
// pixels: x' = X + x*W/OrigW (X + W - x*W/OrigW when flipped), y' = Y +
// y*H/OrigH. It does not clip.
func (pl Placement) Forward(b [4]float64) [4]float64 {
	sx, sy := float64(pl.W)/float64(pl.OrigW), float64(pl.H)/float64(pl.OrigH)
	x1, y1, x2, y2 := b[0]*sx, b[1]*sy, b[2]*sx, b[3]*sy
	if pl.Flip {
		w := float64(pl.W)
		x1, x2 = w-x2, w-x1
	}
	x, y := float64(pl.X), float64(pl.Y)
	return [4]float64{x1 + x, y1 + y, x2 + x, y2 + y}
}

// Visible returns the part of a cw x ch canvas the placed image covers, as
// pixel edges x0, y0, x1, y1 (empty when x1 <= x0 or y1 <= y0).
func (pl Placement) Visible(cw, ch int) [4]int {
	return [4]int{max(pl.X, 0), max(pl.Y, 0), min(pl.X+pl.W, cw), min(pl.Y+pl.H, ch)}
}

// Place resamples src, the placed image (or a copy of it reduced with
// Reduce), into the part of the cw x ch x 3 canvas dst that pl covers,
// applies p's photometric jitter to those pixels and normalises them; the
// rest of dst is left as it is. p's geometric choices (Flip, ShortSide) are
// not used: pl holds the geometry. Each canvas pixel is one bilinear
// resample of src, and nothing is allocated beyond two rows and the
// sampling tables.
func (t *Transform) Place(dst []float32, cw, ch int, src *imageio.RGB, pl Placement, p Params) error {
	if cw <= 0 || ch <= 0 || len(dst) < cw*ch*3 {
		return fmt.Errorf("transform: canvas %dx%d with %d values", cw, ch, len(dst))
	}
	if pl.OrigW <= 0 || pl.OrigH <= 0 || pl.W <= 0 || pl.H <= 0 {
		return fmt.Errorf("transform: placement of a %dx%d image resized to %dx%d", pl.OrigW, pl.OrigH, pl.W, pl.H)
	}
	if err := checkRaster(src); err != nil {
		return err
	}
	v := pl.Visible(cw, ch)
	if v[2] <= v[0] || v[3] <= v[1] {
		return nil
	}
	stride := cw * 3
	region := dst[(v[1]*cw+v[0])*3:]
	u0, u1, w0, w1 := v[0]-pl.X, v[2]-pl.X, v[1]-pl.Y, v[3]-pl.Y
	n, rows := (u1-u0)*3, w1-w0
	if !p.Jitter && !p.HSV {
		resampleRegion(region, stride, src, pl.W, pl.H, pl.Flip, u0, u1, w0, w1, t.nscale, t.nshift)
		return nil
	}
	resampleRegion(region, stride, src, pl.W, pl.H, pl.Flip, u0, u1, w0, w1, [3]float32{1, 1, 1}, [3]float32{})
	photometric(region, stride, n, rows, p)
	for r := 0; r < rows; r++ {
		t.normalise(region[r*stride : r*stride+n])
	}
	return nil
}

// Reduce returns img resampled to w x h pixels (bilinearly, as the
// transforms resample) and rounded to 8 bits: a smaller copy to keep of an
// image that is never used above that size. ResizeSourceInto and Place take
// it in place of the image. The result is a pure function of img, w and h.
func Reduce(img *imageio.RGB, w, h int) (*imageio.RGB, error) {
	if err := checkRaster(img); err != nil {
		return nil, err
	}
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("transform: reduce to %dx%d", w, h)
	}
	out := imageio.NewRGB(w, h)
	const band = 32
	buf := make([]float32, min(band, h)*w*3)
	for y0 := 0; y0 < h; y0 += band {
		y1 := min(y0+band, h)
		resampleRegion(buf, w*3, img, w, h, false, 0, w, y0, y1, [3]float32{1, 1, 1}, [3]float32{0.5, 0.5, 0.5})
		o := out.Pix[y0*w*3 : y1*w*3]
		for i, v := range buf[:len(o)] {
			o[i] = uint8(min(max(v, 0), 255))
		}
	}
	return out, nil
}

// axisTable holds, per output coordinate, the two source indices
// (pre-multiplied by the element stride) and the weight of the second.
type axisTable struct {
	i0, i1 []int
	f      []float32
}

// makeAxis builds the bilinear sampling table of the output samples
// [lo, hi) of n output samples from m source samples, pixel centres at
// half-integers; mirror reverses the output order.
func makeAxis(n, m, stride int, mirror bool, lo, hi int) axisTable {
	k := hi - lo
	t := axisTable{i0: make([]int, k), i1: make([]int, k), f: make([]float32, k)}
	ratio := float64(m) / float64(n)
	for d := lo; d < hi; d++ {
		o := d
		if mirror {
			o = n - 1 - d
		}
		s := (float64(o)+0.5)*ratio - 0.5
		if s < 0 {
			s = 0
		}
		i := int(s)
		f := s - float64(i)
		if i >= m-1 {
			i, f = m-1, 0
		}
		j := i + 1
		if j > m-1 {
			j = m - 1
		}
		t.i0[d-lo], t.i1[d-lo], t.f[d-lo] = i*stride, j*stride, float32(f)
	}
	return t
}

// resampleRegion writes the columns [x0, x1) and rows [y0, y1) of the
// bilinear resampling of src to rw x rh (flipped when flip) into dst, each
// channel as v*scale[c] + shift[c]: resampled pixel (x, y) goes to
// dst[(y-y0)*stride + (x-x0)*3 + c]. It is separable: each needed source
// row is interpolated horizontally once into a row cache, then pairs of
// cached rows are blended vertically.
func resampleRegion(dst []float32, stride int, src *imageio.RGB, rw, rh int, flip bool, x0, x1, y0, y1 int, scale, shift [3]float32) {
	xs := makeAxis(rw, src.W, 3, flip, x0, x1)
	ys := makeAxis(rh, src.H, 1, false, y0, y1)
	s0, s1, s2 := scale[0], scale[1], scale[2]
	h0, h1, h2 := shift[0], shift[1], shift[2]
	rowLen := src.W * 3
	cols := x1 - x0
	n := cols * 3
	bufA, bufB := make([]float32, n), make([]float32, n)
	rowA, rowB := -1, -1
	hpass := func(buf []float32, y int) {
		row := src.Pix[y*rowLen : (y+1)*rowLen]
		for dx := 0; dx < cols; dx++ {
			a, b := xs.i0[dx], xs.i1[dx]
			fx := xs.f[dx]
			pa := row[a : a+3 : a+3]
			pb := row[b : b+3 : b+3]
			q := buf[dx*3 : dx*3+3 : dx*3+3]
			a0, a1, a2 := float32(pa[0]), float32(pa[1]), float32(pa[2])
			q[0] = a0 + (float32(pb[0])-a0)*fx
			q[1] = a1 + (float32(pb[1])-a1)*fx
			q[2] = a2 + (float32(pb[2])-a2)*fx
		}
	}
	for k := 0; k < y1-y0; k++ {
		ya, yb := ys.i0[k], ys.i1[k]
		// Keep row ya in bufA and row yb in bufB, reusing what is cached.
		if rowA != ya {
			if rowB == ya {
				bufA, bufB = bufB, bufA
				rowA, rowB = rowB, rowA
			} else {
				hpass(bufA, ya)
				rowA = ya
			}
		}
		fy := ys.f[k]
		o := dst[k*stride : k*stride+n]
		if fy == 0 || yb == ya {
			a := bufA[:n]
			for i := 0; i+2 < n; i += 3 {
				o[i] = a[i]*s0 + h0
				o[i+1] = a[i+1]*s1 + h1
				o[i+2] = a[i+2]*s2 + h2
			}
			continue
		}
		if rowB != yb {
			hpass(bufB, yb)
			rowB = yb
		}
		a, b := bufA[:n], bufB[:n]
		for i := 0; i+2 < n; i += 3 {
			t0, t1, t2 := a[i], a[i+1], a[i+2]
			o[i] = (t0+(b[i]-t0)*fy)*s0 + h0
			o[i+1] = (t1+(b[i+1]-t1)*fy)*s1 + h1
			o[i+2] = (t2+(b[i+2]-t2)*fy)*s2 + h2
		}
	}
}

// photometric applies p's brightness, contrast and saturation factors (when
// p.Jitter) and then its HSV jitter (when p.HSV) in place to a 0..255 RGB
// float image given as rows rows of n values, stride apart.
func photometric(pix []float32, stride, n, rows int, p Params) {
	if n < 3 || rows == 0 {
		return
	}
	row := func(r int) []float32 { return pix[r*stride : r*stride+n] }
	if p.Jitter {
		if b := float32(p.Brightness); b != 1 {
			for r := 0; r < rows; r++ {
				q := row(r)
				for i := range q {
					q[i] *= b
				}
			}
		}
		if c := float32(p.Contrast); c != 1 {
			var sum float64
			for r := 0; r < rows; r++ {
				q := row(r)
				for i := 0; i+2 < n; i += 3 {
					sum += float64(0.299*q[i] + 0.587*q[i+1] + 0.114*q[i+2])
				}
			}
			m := float32(sum / float64(rows*(n/3)))
			for r := 0; r < rows; r++ {
				q := row(r)
				for i := range q {
					q[i] = (q[i]-m)*c + m
				}
			}
		}
		if s := float32(p.Saturation); s != 1 {
			for r := 0; r < rows; r++ {
				q := row(r)
				for i := 0; i+2 < n; i += 3 {
					g := 0.299*q[i] + 0.587*q[i+1] + 0.114*q[i+2]
					q[i] = (q[i]-g)*s + g
					q[i+1] = (q[i+1]-g)*s + g
					q[i+2] = (q[i+2]-g)*s + g
				}
			}
		}
		for r := 0; r < rows; r++ {
			q := row(r)
			for i, v := range q {
				if v < 0 {
					q[i] = 0
				} else if v > 255 {
					q[i] = 255
				}
			}
		}
	}
	if p.HSV {
		dh := float32(6 * (p.Hue - math.Floor(p.Hue)))
		ks, kv := float32(p.Sat), float32(p.Val)
		for r := 0; r < rows; r++ {
			q := row(r)
			for i := 0; i+2 < n; i += 3 {
				hsvPixel(q[i:i+3:i+3], dh, ks, kv)
			}
		}
	}
}

// hsvPixel rotates the hue of a 0..255 RGB pixel by dh sixths of the colour
// circle (dh in [0, 6)) and multiplies its saturation by ks (capped at 1)
// and its value by kv (capped at 255), through the HSV hexcone model.
func hsvPixel(q []float32, dh, ks, kv float32) {
	r, g, b := q[0], q[1], q[2]
	mx, mn := max(r, g, b), min(r, g, b)
	if mx <= 0 {
		q[0], q[1], q[2] = 0, 0, 0
		return
	}
	d := mx - mn
	v := min(mx*kv, 255)
	s := min(max(d/mx*ks, 0), 1)
	var h float32 // hue in sixths of the circle, [0, 6)
	if d > 0 {
		switch mx {
		case r:
			h = (g - b) / d
			if h < 0 {
				h += 6
			}
		case g:
			h = (b-r)/d + 2
		default:
			h = (r-g)/d + 4
		}
	}
	h += dh
	if h >= 6 {
		h -= 6
	}
	sector := int(h)
	if sector > 5 {
		sector = 5
	}
	f := h - float32(sector)
	pv, qv, tv := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	switch sector {
	case 0:
		q[0], q[1], q[2] = v, tv, pv
	case 1:
		q[0], q[1], q[2] = qv, v, pv
	case 2:
		q[0], q[1], q[2] = pv, v, tv
	case 3:
		q[0], q[1], q[2] = pv, qv, v
	case 4:
		q[0], q[1], q[2] = tv, pv, v
	default:
		q[0], q[1], q[2] = v, pv, qv
	}
}
