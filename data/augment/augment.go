// Package augment draws the geometric augmentation of one training sample
// on a fixed input canvas, after Ultralytics YOLO's training pipeline:
//
//   - zoom and translation: the image is resized by g x its base scale (the
//     scale the plain transform would use, fit to the canvas), g drawn
//     uniformly from the zoom range, and placed at a random position: a
//     random crop when it is larger than the canvas, a random position
//     inside it when smaller;
//   - mosaic: the sample's image and 3 others drawn from the dataset are
//     resized by a common zoom g (each by g x its own base scale) and placed
//     around a join point (cx, cy) drawn in [W/4, 3W/4] x [H/4, 3H/4]:
//     image 0 with its bottom-right corner at the join point, image 1 its
//     bottom-left, image 2 its top-right and image 3 its top-left, each cut
//     off at the canvas edges, so that the four images never overlap.
//
// Each image keeps its own flip and photometric draws (transform.Params).
// Every box goes through the same map as its image's pixels
// (transform.Placement.Forward), is clipped to the part of the canvas its
// image covers, and is dropped when what remains is thinner than the
// minimum box size or smaller than MinAreaFrac of the box before clipping.
//
// A Draw holds every random choice of a sample; it is drawn before any
// image is read (positions are drawn as fractions), so that the number and
// order of draws depend only on the configuration and the options.
package augment

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ghmdet/ghmdet/data/transform"
)

// DefaultMinAreaFrac is the suggested MinAreaFrac: a box of which less than
// a fifth remains on the canvas is not a target.
const DefaultMinAreaFrac = 0.2

// Config configures the augmentation. The zero value disables it.
type Config struct {
	// MosaicProb is the probability that a sample is a mosaic of 4 images
	// (0: never, 1: always).
	MosaicProb float64
	// Zoom is the range [min, max] of the zoom factor g of a sample
	// (suggested [0.5, 1.5]). [0, 0] disables zoom and translation: mosaics
	// then use g = 1, and the other samples the plain transform.
	Zoom [2]float64
	// MinAreaFrac is the smallest fraction of a box's area (after the
	// transform, before clipping to its image's part of the canvas) that
	// must remain after clipping for the box to stay a target; 0 keeps every
	// box of at least the minimum size.
	MinAreaFrac float64
}

// Validate checks the configuration; errors name the field.
func (c Config) Validate() error {
	var errs []error
	if !(c.MosaicProb >= 0 && c.MosaicProb <= 1) {
		errs = append(errs, fmt.Errorf("MosaicProb %g outside [0, 1]", c.MosaicProb))
	}
	if z := c.Zoom; z != [2]float64{} && !(z[0] > 0 && z[1] >= z[0] && !math.IsInf(z[1], 0)) {
		errs = append(errs, fmt.Errorf("Zoom [%g, %g] must be [0, 0] (off) or satisfy 0 < min <= max, finite", z[0], z[1]))
	}
	if !(c.MinAreaFrac >= 0 && c.MinAreaFrac < 1) {
		errs = append(errs, fmt.Errorf("MinAreaFrac %g outside [0, 1)", c.MinAreaFrac))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("augment: %w", err)
	}
	return nil
}

// Enabled reports whether the configuration augments anything.
func (c Config) Enabled() bool { return c.MosaicProb > 0 || c.Zoom[1] > 0 }

// MaxZoom is the largest factor by which an augmented image can exceed its
// base scale (at least 1, the plain transform's).
func (c Config) MaxZoom() float64 { return max(1, c.Zoom[1]) }

// Options switch parts of the augmentation off, for example for the last
// epochs of a run.
type Options struct {
	// NoMosaic makes every sample a single image.
	NoMosaic bool
	// NoZoom disables zoom and translation (mosaics use g = 1).
	NoZoom bool
}

// Kind is the kind of a sample.
type Kind int

// The kinds of samples.
const (
	// Plain is the plain transform: resize to fit, placed at the top-left
	// corner, padded.
	Plain Kind = iota
	// Zoom is one image zoomed and translated.
	Zoom
	// Mosaic is four images around a join point.
	Mosaic
)

// Draw is every random choice of one sample.
type Draw struct {
	// Kind is the kind of the sample.
	Kind Kind
	// N is the number of images (4 for a mosaic, else 1) and Images their
	// dataset indices, the sample's own first.
	N      int
	Images [4]int
	// Params are each image's transform choices (flip, photometric).
	Params [4]transform.Params
	// G is the zoom factor (1 without zoom).
	G float64
	// Join is the mosaic join point and Pos the zoomed image's position,
	// as fractions in [0, 1) of their ranges.
	Join, Pos [2]float64
}

// Sample draws the choices of the sample of image index in a dataset of n
// images from rng. Without augmentation (disabled or switched off by o) it
// draws exactly what tr.Sample draws, so that the sample is the plain
// transform's.
func (c Config) Sample(rng *rand.Rand, tr *transform.Transform, index, n int, o Options) Draw {
	d := Draw{N: 1, G: 1}
	d.Images[0] = index
	mosaicOn := c.MosaicProb > 0 && !o.NoMosaic && n > 0
	zoomOn := c.Zoom[1] > 0 && !o.NoZoom
	if !mosaicOn && !zoomOn {
		d.Params[0] = tr.Sample(rng)
		return d
	}
	mosaic := mosaicOn && rng.Float64() < c.MosaicProb
	if zoomOn {
		d.G = c.Zoom[0] + rng.Float64()*(c.Zoom[1]-c.Zoom[0])
	}
	if mosaic {
		d.Kind, d.N = Mosaic, 4
		for k := 1; k < 4; k++ {
			d.Images[k] = rng.IntN(n)
		}
		d.Join = [2]float64{rng.Float64(), rng.Float64()}
		for k := 0; k < 4; k++ {
			d.Params[k] = tr.Sample(rng)
		}
		return d
	}
	d.Params[0] = tr.Sample(rng)
	if zoomOn {
		d.Kind = Zoom
		d.Pos = [2]float64{rng.Float64(), rng.Float64()}
	}
	return d
}

// Layout returns the placement of each of the draw's images on a cw x ch
// canvas, appended to dst[:0]. sizes are the images' original sizes
// (width, height) and base their base scales (transform.Transform.Scale
// with the image's parameters). It is not used for Plain draws.
func (d *Draw) Layout(dst []transform.Placement, cw, ch int, sizes [][2]int, base []float64) []transform.Placement {
	dst = dst[:0]
	for k := 0; k < d.N; k++ {
		w, h := sizes[k][0], sizes[k][1]
		s := d.G * base[k]
		dst = append(dst, transform.Placement{
			OrigW: w, OrigH: h,
			W: max(int(float64(w)*s+0.5), 1), H: max(int(float64(h)*s+0.5), 1),
			Flip: d.Params[k].Flip,
		})
	}
	if d.Kind != Mosaic {
		pl := &dst[0]
		pl.X, pl.Y = offset(d.Pos[0], cw, pl.W), offset(d.Pos[1], ch, pl.H)
		return dst
	}
	cx := pick(d.Join[0], cw/4, 3*cw/4)
	cy := pick(d.Join[1], ch/4, 3*ch/4)
	for k := range dst {
		pl := &dst[k]
		pl.X, pl.Y = cx, cy
		if k == 0 || k == 2 { // right edge at the join point
			pl.X = cx - pl.W
		}
		if k == 0 || k == 1 { // bottom edge at the join point
			pl.Y = cy - pl.H
		}
	}
	return dst
}

// pick maps a fraction u in [0, 1) to an integer of [lo, hi].
func pick(u float64, lo, hi int) int {
	return min(lo+int(u*float64(hi-lo+1)), hi)
}

// offset places an image of size w on a canvas of size c: a position in
// [c-w, 0] when it is larger (a crop), in [0, c-w] when smaller.
func offset(u float64, c, w int) int {
	return pick(u, min(0, c-w), max(0, c-w))
}

// Box maps box b (original-image pixels) of an image placed per pl onto a
// cw x ch canvas. The box is clipped to the image first, mapped, then
// clipped to the image's visible part; it is kept when the clipped box is
// at least minSize (and more than 0) wide and high and keeps at least MinAreaFrac of the
// mapped box's area. It returns the clipped box either way.
func (c Config) Box(pl transform.Placement, cw, ch int, b [4]float64, minSize float64) ([4]float64, bool) {
	ow, oh := float64(pl.OrigW), float64(pl.OrigH)
	b = [4]float64{clamp(b[0], 0, ow), clamp(b[1], 0, oh), clamp(b[2], 0, ow), clamp(b[3], 0, oh)}
	f := pl.Forward(b)
	area := (f[2] - f[0]) * (f[3] - f[1])
	v := pl.Visible(cw, ch)
	x0, y0, x1, y1 := float64(v[0]), float64(v[1]), float64(v[2]), float64(v[3])
	cb := [4]float64{clamp(f[0], x0, x1), clamp(f[1], y0, y1), clamp(f[2], x0, x1), clamp(f[3], y0, y1)}
	w, h := cb[2]-cb[0], cb[3]-cb[1]
	keep := w > 0 && h > 0 && w >= minSize && h >= minSize && w*h >= c.MinAreaFrac*area
	return cb, keep
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
