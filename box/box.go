// Package box provides the box geometry of a RetinaNet-style detector in plain
// Go: boxes and IoU, anchor generation, MaxIoU target assignment, the
// DeltaXYWH box coder, the per-anchor loss targets, non-maximum suppression
// and inference post-processing.
//
// Conventions (those of modern mmdetection and torchvision):
//   - A Box is x1, y1, x2, y2 in pixels; its width is x2-x1 and its height
//     y2-y1, with no "+1" (continuous coordinates).
//   - Degenerate boxes (zero or negative size, NaN or infinite coordinates)
//     never cause a panic: their IoU with anything is 0; ground truths that are
//     degenerate are dropped and counted by the assignment; decoded boxes are
//     clipped to the image and dropped by post-processing when empty.
//   - Ground truths are used as given (not clipped to the image); a box
//     partly outside the image is still matched to the anchors it overlaps.
//   - Heavy loops (IoU matrices, assignment, target filling) split the anchors
//     into chunks processed by up to GOMAXPROCS goroutines; results do not
//     depend on the number of goroutines.
//   - Built with GOEXPERIMENT=simd on amd64 with AVX2, the IoU rows are
//     computed 8 at a time with simd/archsimd; the results are bit-identical
//     to the scalar code used otherwise (exact ties matter to the
//     assignment).
package box

import (
	"runtime"
	"sync"
)

// Box is an axis-aligned box: x1, y1, x2, y2 in pixels (x1 <= x2, y1 <= y2
// for a valid box).
type Box [4]float32

// Width returns x2 - x1 (negative for an inverted box, NaN if a coordinate is
// NaN).
func (b Box) Width() float32 { return b[2] - b[0] }

// Height returns y2 - y1 (negative for an inverted box, NaN if a coordinate is
// NaN).
func (b Box) Height() float32 { return b[3] - b[1] }

// Area returns Width*Height when both are positive and the product is finite,
// and 0 otherwise (degenerate, inverted, NaN or infinite boxes).
func (b Box) Area() float32 {
	w, h := b.Width(), b.Height()
	if w > 0 && h > 0 {
		a := float32(w * h)
		if finite(a) {
			return a
		}
	}
	return 0
}

// Valid reports whether all four coordinates are finite, x2 > x1, y2 > y1
// and the area is finite. Invalid boxes have IoU 0 with every box.
func (b Box) Valid() bool {
	return finite(b[0]) && finite(b[1]) && finite(b[2]) && finite(b[3]) &&
		b[2] > b[0] && b[3] > b[1] && finite(float32((b[2]-b[0])*(b[3]-b[1])))
}

// Center returns the centre (cx, cy) of the box.
func (b Box) Center() (cx, cy float32) {
	return (b[0] + b[2]) * 0.5, (b[1] + b[3]) * 0.5
}

// Clip returns the box with x coordinates clamped to [0, w] and y
// coordinates to [0, h] (mmdetection's clamp to the image shape). NaN
// coordinates stay NaN. A box lying outside the image becomes empty (zero
// width or height).
func (b Box) Clip(w, h float32) Box {
	return Box{clamp(b[0], 0, w), clamp(b[1], 0, h), clamp(b[2], 0, w), clamp(b[3], 0, h)}
}

func clamp(v, lo, hi float32) float32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float32) bool { return v-v == 0 }

// IoU returns the intersection over union of a and b, in [0, 1]. It is 0
// when the boxes do not overlap (touching boxes included) and when either box
// is invalid (see Box.Valid).
func IoU(a, b Box) float32 {
	if !a.Valid() || !b.Valid() {
		return 0
	}
	return iou(a[0], a[1], a[2], a[3], a.Area(), b[0], b[1], b[2], b[3], b.Area())
}

// IoF returns the intersection of a and region divided by the area of a
// ("intersection over foreground", mmdetection's mode "iof"): the fraction of
// a that lies inside region. It is 0 when either box is invalid.
func IoF(a, region Box) float32 {
	if !a.Valid() || !region.Valid() {
		return 0
	}
	return iof(a[0], a[1], a[2], a[3], a.Area(), region[0], region[1], region[2], region[3])
}

// iou is the one IoU formula used everywhere in the package, so that equal
// inputs give bit-identical results (the assignment relies on exact equality
// to find the anchors tied at a ground truth's best IoU). The explicit
// float32 conversions forbid fused multiply-adds.
func iou(ax1, ay1, ax2, ay2, aArea, bx1, by1, bx2, by2, bArea float32) float32 {
	iw, ih := overlap(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
	if iw > 0 && ih > 0 {
		inter := float32(iw * ih)
		return inter / float32(aArea+bArea-inter)
	}
	return 0
}

// iof returns intersection(a, b) / aArea, 0 when aArea is 0.
func iof(ax1, ay1, ax2, ay2, aArea, bx1, by1, bx2, by2 float32) float32 {
	iw, ih := overlap(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
	if iw > 0 && ih > 0 && aArea > 0 {
		return float32(iw*ih) / aArea
	}
	return 0
}

// overlap returns the width and height of the intersection of boxes a and b
// (the extents between the larger minimum and the smaller maximum
// coordinates); one of them is not positive when the boxes do not overlap.
func overlap(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2 float32) (iw, ih float32) {
	lx, ty, rx, by := ax1, ay1, ax2, ay2
	if bx1 > lx {
		lx = bx1
	}
	if by1 > ty {
		ty = by1
	}
	if bx2 < rx {
		rx = bx2
	}
	if by2 < by {
		by = by2
	}
	return rx - lx, by - ty
}

// lanes is the SIMD width the coordinate arrays of soa are padded to.
const lanes = 8

// soa holds boxes as separate coordinate arrays with precomputed areas. The
// arrays are padded to a multiple of lanes with empty boxes; n is the number
// of real boxes. Invalid boxes are replaced by an empty box that overlaps
// nothing.
type soa struct {
	x1, y1, x2, y2, area []float32
	n                    int
}

// reset sizes s for n boxes and fills everything with empty boxes.
func (s *soa) reset(n int) {
	p := (n + lanes - 1) / lanes * lanes
	grow := func(v []float32) []float32 {
		if cap(v) >= p {
			return v[:p]
		}
		return make([]float32, p)
	}
	s.x1, s.y1, s.x2, s.y2, s.area = grow(s.x1), grow(s.y1), grow(s.x2), grow(s.y2), grow(s.area)
	s.n = n
	for i := 0; i < p; i++ {
		s.set(i, Box{})
	}
}

func (s *soa) set(i int, b Box) {
	if !b.Valid() {
		// x1 > x2 and y1 > y2 with finite values: every intersection width
		// min(ax2, 0) - max(ax1, 1) is < 0 whatever the other box.
		s.x1[i], s.y1[i], s.x2[i], s.y2[i], s.area[i] = 1, 1, 0, 0, 0
		return
	}
	s.x1[i], s.y1[i], s.x2[i], s.y2[i], s.area[i] = b[0], b[1], b[2], b[3], b.Area()
}

func newSOA(boxes []Box) *soa {
	s := &soa{}
	s.reset(len(boxes))
	for i, b := range boxes {
		s.set(i, b)
	}
	return s
}

// iouRowScalar writes the IoU of the valid box (ax1, ay1, ax2, ay2) of area
// aa with the first len(out) boxes of b into out.
func iouRowScalar(out []float32, ax1, ay1, ax2, ay2, aa float32, b *soa) {
	n := len(out)
	bx1, by1, bx2, by2, barea := b.x1[:n], b.y1[:n], b.x2[:n], b.y2[:n], b.area[:n]
	for j := range out {
		out[j] = iou(ax1, ay1, ax2, ay2, aa, bx1[j], by1[j], bx2[j], by2[j], barea[j])
	}
}

// maxRowScalar writes into row (len = the padded length of g) the IoU of the
// valid box (ax1, ay1, ax2, ay2) of area aa with every box of g, raises
// colMax to the row where it is lower, and returns the row's maximum (0 at
// least).
func maxRowScalar(row, colMax []float32, ax1, ay1, ax2, ay2, aa float32, g *soa) float32 {
	n := len(row)
	gx1, gy1, gx2, gy2, garea, colMax := g.x1[:n], g.y1[:n], g.x2[:n], g.y2[:n], g.area[:n], colMax[:n]
	best := float32(0)
	for i := range row {
		v := iou(ax1, ay1, ax2, ay2, aa, gx1[i], gy1[i], gx2[i], gy2[i], garea[i])
		row[i] = v
		if v > best {
			best = v
		}
		if v > colMax[i] {
			colMax[i] = v
		}
	}
	return best
}

// IoUMatrix returns the IoU of every box of a with every box of b, row-major
// with len(a) rows and len(b) columns: m[i*len(b)+j] = IoU(a[i], b[j]).
func IoUMatrix(a, b []Box) []float32 {
	m := make([]float32, len(a)*len(b))
	IoUMatrixInto(m, a, b)
	return m
}

// IoUMatrixInto writes IoUMatrix(a, b) into dst, which must have length
// len(a)*len(b) (it panics otherwise: a programming error). Rows are split
// among goroutines.
func IoUMatrixInto(dst []float32, a, b []Box) {
	if len(dst) != len(a)*len(b) {
		panic("box.IoUMatrixInto: len(dst) != len(a)*len(b)")
	}
	if len(a) == 0 || len(b) == 0 {
		return
	}
	sb := newSOA(b)
	m := len(b)
	parallel(len(a), m, func(lo, hi, _ int) {
		for i := lo; i < hi; i++ {
			row := dst[i*m : (i+1)*m]
			ab := a[i]
			if !ab.Valid() {
				clear(row)
				continue
			}
			iouRow(row, ab[0], ab[1], ab[2], ab[3], ab.Area(), sb)
		}
	})
}

// minWorkPerGoroutine is the number of box pairs (or equivalent work units)
// below which a loop is not worth splitting among goroutines.
const minWorkPerGoroutine = 1 << 15

// parallel splits [0, n) into contiguous chunks, one per worker, and runs fn
// on each; costPerItem is the work of one item (for example the number of
// columns of an IoU row), used to decide how many goroutines are worth
// starting. Chunk boundaries depend only on n and the worker count, and the
// worker index w is in [0, workers).
func parallel(n, costPerItem int, fn func(lo, hi, w int)) {
	workers := numWorkers(n, costPerItem)
	if workers <= 1 {
		fn(0, n, 0)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi, w)
		}()
	}
	wg.Wait()
}

// numWorkers is the number of goroutines parallel uses for n items.
func numWorkers(n, costPerItem int) int {
	if costPerItem < 1 {
		costPerItem = 1
	}
	work := n * costPerItem
	w := runtime.GOMAXPROCS(0)
	if byWork := work / minWorkPerGoroutine; byWork < w {
		w = byWork
	}
	if w > n {
		w = n
	}
	return max(w, 1)
}
