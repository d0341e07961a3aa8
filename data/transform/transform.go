// Package transform turns a decoded image into the detector's input: resize
// keeping the aspect ratio, optional horizontal flip, optional photometric
// and scale jitter, normalisation, and padding to a fixed canvas or to a
// multiple of 32. The output is float32 NHWC (one image: H*W*3, index
// (y*W+x)*3+c).
//
// Every geometric step is recorded in a Record, which maps boxes from the
// original image to the network input (Forward) and predictions back
// (Inverse). Coordinates are continuous pixel-edge coordinates: the pixel
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

// Plan computes the geometry for a w x h image with parameters p (resized
// size, scales, canvas) without touching pixels. It returns an error for an
// empty image.
func (t *Transform) Plan(w, h int, p Params) (Record, error) {
	if w <= 0 || h <= 0 {
		return Record{}, fmt.Errorf("transform: empty image %dx%d", w, h)
	}
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
	rec, err := t.Plan(img.W, img.H, p)
	if err != nil {
		return nil, rec, err
	}
	if len(img.Pix) != img.W*img.H*3 {
		return nil, rec, fmt.Errorf("transform: raster %dx%d holds %d bytes, want %d", img.W, img.H, len(img.Pix), img.W*img.H*3)
	}
	size := rec.ResizedW * rec.ResizedH * 3
	var out []float32
	if cap(buf) >= size {
		out = buf[:size]
	} else {
		out = make([]float32, size)
	}
	if p.Jitter {
		resizeBilinear(out, rec.ResizedW, rec.ResizedH, img, p.Flip, [3]float32{1, 1, 1}, [3]float32{})
		photometric(out, p)
		t.normalise(out)
	} else {
		resizeBilinear(out, rec.ResizedW, rec.ResizedH, img, p.Flip, t.nscale, t.nshift)
	}
	return out, rec, nil
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

// axisTable holds, per output coordinate, the two source indices
// (pre-multiplied by the element stride) and the weight of the second.
type axisTable struct {
	i0, i1 []int
	f      []float32
}

// makeAxis builds the bilinear sampling table for n output samples from m
// source samples, pixel centres at half-integers; mirror reverses the
// output order.
func makeAxis(n, m, stride int, mirror bool) axisTable {
	t := axisTable{i0: make([]int, n), i1: make([]int, n), f: make([]float32, n)}
	ratio := float64(m) / float64(n)
	for d := 0; d < n; d++ {
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
		t.i0[d], t.i1[d], t.f[d] = i*stride, j*stride, float32(f)
	}
	return t
}

// resizeBilinear writes the bilinear resampling of src (flipped when flip)
// into out (rw x rh x 3), each channel as v*scale[c] + shift[c]. It is
// separable: each needed source row is interpolated horizontally once into
// a row cache, then pairs of cached rows are blended vertically.
func resizeBilinear(out []float32, rw, rh int, src *imageio.RGB, flip bool, scale, shift [3]float32) {
	xs := makeAxis(rw, src.W, 3, flip)
	ys := makeAxis(rh, src.H, 1, false)
	s0, s1, s2 := scale[0], scale[1], scale[2]
	h0, h1, h2 := shift[0], shift[1], shift[2]
	rowLen := src.W * 3
	n := rw * 3
	bufA, bufB := make([]float32, n), make([]float32, n)
	rowA, rowB := -1, -1
	hpass := func(buf []float32, y int) {
		row := src.Pix[y*rowLen : (y+1)*rowLen]
		for dx := 0; dx < rw; dx++ {
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
	for dy := 0; dy < rh; dy++ {
		y0, y1 := ys.i0[dy], ys.i1[dy]
		// Keep row y0 in bufA and row y1 in bufB, reusing what is cached.
		if rowA != y0 {
			if rowB == y0 {
				bufA, bufB = bufB, bufA
				rowA, rowB = rowB, rowA
			} else {
				hpass(bufA, y0)
				rowA = y0
			}
		}
		fy := ys.f[dy]
		o := out[dy*n : (dy+1)*n]
		if fy == 0 || y1 == y0 {
			a := bufA[:n]
			for i := 0; i+2 < n; i += 3 {
				o[i] = a[i]*s0 + h0
				o[i+1] = a[i+1]*s1 + h1
				o[i+2] = a[i+2]*s2 + h2
			}
			continue
		}
		if rowB != y1 {
			hpass(bufB, y1)
			rowB = y1
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

// photometric applies brightness, contrast and saturation factors to a
// 0..255 RGB float image in place.
func photometric(pix []float32, p Params) {
	n := len(pix) / 3
	if n == 0 {
		return
	}
	b := float32(p.Brightness)
	if b != 1 {
		for i := range pix {
			pix[i] *= b
		}
	}
	if c := float32(p.Contrast); c != 1 {
		var sum float64
		for i := 0; i < n; i++ {
			sum += float64(0.299*pix[i*3] + 0.587*pix[i*3+1] + 0.114*pix[i*3+2])
		}
		m := float32(sum / float64(n))
		for i := range pix {
			pix[i] = (pix[i]-m)*c + m
		}
	}
	if s := float32(p.Saturation); s != 1 {
		for i := 0; i < n; i++ {
			q := pix[i*3 : i*3+3 : i*3+3]
			g := 0.299*q[0] + 0.587*q[1] + 0.114*q[2]
			q[0] = (q[0]-g)*s + g
			q[1] = (q[1]-g)*s + g
			q[2] = (q[2]-g)*s + g
		}
	}
	for i, v := range pix {
		if v < 0 {
			pix[i] = 0
		} else if v > 255 {
			pix[i] = 255
		}
	}
}
