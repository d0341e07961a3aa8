// Package draw draws detections and ground-truth boxes on images, with a
// per-class colour and a label tag, for inspection images in a run directory,
// and saves images atomically.
//
// Drawing is deterministic: the same inputs give the same pixels (and the same
// encoded bytes). Sizes scale with the image, so labels stay readable on a
// 256x256 thumbnail and on a 4000x3000 photograph. Boxes are given in the
// original image's pixel coordinates, x1, y1, x2, y2 with x2, y2 exclusive
// (the COCO convention x2 = x + w); the box line is drawn inside the box.
package draw

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"sort"
	"sync"

	"github.com/ghmdet/ghmdet/data"
	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Det is one detection: Box is x1, y1, x2, y2 in pixels of the original
// image, Class the contiguous class index, Score the confidence in 0..1.
type Det struct {
	Box   [4]float64
	Class int
	Score float64
}

// Options controls the drawing. The zero value gives sizes scaled to the
// image, every detection drawn, labels with scores.
type Options struct {
	// LineWidth is the box line width in pixels; 0 scales it with the image
	// (2 pixels up to about 830 pixels, then 0.3% of the mean side).
	LineWidth int
	// FontSize is the label text size in pixels; 0 scales it with the image
	// (11 pixels minimum, 2.2% of the mean side, 64 at most).
	FontSize float64
	// MinScore hides detections whose score is below it.
	MinScore float64
	// NoLabels draws boxes without label tags.
	NoLabels bool
	// NoScores leaves the score out of detection labels.
	NoScores bool
}

// palette is a fixed list of 20 distinct, saturated colours; class k gets
// palette[k mod 20].
var palette = []color.RGBA{
	{0xff, 0x38, 0x38, 0xff}, {0x00, 0x9d, 0xff, 0xff}, {0x3d, 0xdb, 0x86, 0xff}, {0xff, 0xb2, 0x1d, 0xff},
	{0x84, 0x38, 0xff, 0xff}, {0x00, 0xd4, 0xbb, 0xff}, {0xff, 0x70, 0x1f, 0xff}, {0xcb, 0x38, 0xff, 0xff},
	{0x48, 0xf9, 0x0a, 0xff}, {0x34, 0x45, 0x93, 0xff}, {0xff, 0x37, 0xc7, 0xff}, {0x1a, 0x93, 0x34, 0xff},
	{0x64, 0x73, 0xff, 0xff}, {0xcf, 0xd2, 0x31, 0xff}, {0x2c, 0x99, 0xa8, 0xff}, {0xff, 0x95, 0xc8, 0xff},
	{0x52, 0x00, 0x85, 0xff}, {0x92, 0xcc, 0x17, 0xff}, {0x00, 0x18, 0xec, 0xff}, {0xff, 0x9d, 0x97, 0xff},
}

// ignoreColour marks crowd and difficult ground-truth boxes.
var ignoreColour = color.RGBA{0x9a, 0x9a, 0x9a, 0xff}

// ClassColour returns the fixed colour of a class index (any int).
func ClassColour(class int) color.RGBA {
	k := class % len(palette)
	if k < 0 {
		k += len(palette)
	}
	return palette[k]
}

// className returns the display name of a class index.
func className(class int, names []string) string {
	if class >= 0 && class < len(names) && names[class] != "" {
		return names[class]
	}
	return fmt.Sprintf("class %d", class)
}

// sizes returns the line width and font size for an image of bounds b.
func (o Options) sizes(b image.Rectangle) (lw int, px float64) {
	s := float64(b.Dx()+b.Dy()) / 2
	lw = o.LineWidth
	if lw <= 0 {
		lw = max(2, int(math.Round(s*0.003)))
	}
	px = o.FontSize
	if px <= 0 {
		px = math.Min(64, math.Max(11, math.Round(s*0.022)))
	}
	return lw, px
}

// Detections returns a copy of img with dets drawn: each box outlined in its
// class colour, and a filled tag "name 0.87" on the box's top-left corner,
// above the box, or just inside it when the box touches the top of the image.
// Higher scores are drawn last (on top). Boxes with non-finite coordinates are
// skipped; boxes partly outside the image are clipped.
func Detections(img image.Image, dets []Det, classNames []string, opts Options) *image.RGBA {
	dst := copyRGBA(img)
	order := make([]int, 0, len(dets))
	for i, d := range dets {
		if d.Score >= opts.MinScore || math.IsNaN(d.Score) && opts.MinScore <= 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return dets[order[a]].Score < dets[order[b]].Score })
	lw, px := opts.sizes(dst.Bounds())
	type tag struct {
		r    image.Rectangle
		text string
		c    color.RGBA
	}
	var tags []tag
	var f *labelFace
	for _, i := range order {
		d := dets[i]
		r, ok := pixelBox(d.Box, dst.Bounds())
		if !ok {
			continue
		}
		c := ClassColour(d.Class)
		strokeRect(dst, r, lw, c, false)
		if opts.NoLabels {
			continue
		}
		if f == nil {
			f = newLabelFace(px)
		}
		text := className(d.Class, classNames)
		if !opts.NoScores && !math.IsNaN(d.Score) {
			text += fmt.Sprintf(" %.2f", d.Score)
		}
		w, h := f.tagSize(text)
		tags = append(tags, tag{r: placeAbove(r, w, h, dst.Bounds()), text: text, c: c})
	}
	for _, t := range tags {
		fillRect(dst, t.r, t.c)
		f.drawText(dst, t.r, t.text, contrastText(t.c))
	}
	return dst
}

// GroundTruth returns a copy of img with the ground-truth objects drawn as
// dashed boxes in their class colour with an outlined name tag below the
// box's bottom-left corner (inside the box when it touches the bottom of the
// image), so that detections drawn afterwards with Detections (tags above
// boxes, solid lines) stay distinguishable. Crowd and difficult objects are
// grey and tagged "(crowd)" or "(difficult)".
func GroundTruth(img image.Image, objs []data.Object, classNames []string, opts Options) *image.RGBA {
	dst := copyRGBA(img)
	lw, px := opts.sizes(dst.Bounds())
	type tag struct {
		r    image.Rectangle
		text string
		c    color.RGBA
	}
	var tags []tag
	var f *labelFace
	for _, o := range objs {
		r, ok := pixelBox(o.Box, dst.Bounds())
		if !ok {
			continue
		}
		c := ClassColour(o.Class)
		text := className(o.Class, classNames)
		switch {
		case o.Crowd:
			c, text = ignoreColour, text+" (crowd)"
		case o.Difficult:
			c, text = ignoreColour, text+" (difficult)"
		}
		strokeRect(dst, r, lw, c, true)
		if opts.NoLabels {
			continue
		}
		if f == nil {
			f = newLabelFace(px * 0.9)
		}
		w, h := f.tagSize(text)
		tags = append(tags, tag{r: placeBelow(r, w, h, dst.Bounds()), text: text, c: c})
	}
	border := max(1, lw/2)
	for _, t := range tags {
		fillRect(dst, t.r, t.c)
		fillRect(dst, t.r.Inset(border), color.RGBA{0xff, 0xff, 0xff, 0xff})
		f.drawText(dst, t.r, t.text, darker(t.c))
	}
	return dst
}

// copyRGBA returns a fresh RGBA copy of img with bounds starting at its own
// Min (drawing never modifies the input).
func copyRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	dst := image.NewRGBA(b)
	xdraw.Draw(dst, b, img, b.Min, xdraw.Src)
	return dst
}

// pixelBox converts a box x1, y1, x2, y2 to the pixel rectangle it covers,
// clipped to bounds; ok is false for non-finite or empty boxes and boxes
// entirely outside the image.
func pixelBox(box [4]float64, bounds image.Rectangle) (image.Rectangle, bool) {
	for _, v := range box {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return image.Rectangle{}, false
		}
	}
	clampF := func(v float64, lo, hi int) int {
		return int(math.Max(float64(lo), math.Min(float64(hi), math.Round(v))))
	}
	x1 := clampF(math.Min(box[0], box[2]), bounds.Min.X, bounds.Max.X)
	x2 := clampF(math.Max(box[0], box[2]), bounds.Min.X, bounds.Max.X)
	y1 := clampF(math.Min(box[1], box[3]), bounds.Min.Y, bounds.Max.Y)
	y2 := clampF(math.Max(box[1], box[3]), bounds.Min.Y, bounds.Max.Y)
	if x2 <= x1 || y2 <= y1 {
		// A box thinner than a pixel still gets one pixel if it lies inside.
		if x2 == x1 && x1 < bounds.Max.X && box[2] != box[0] {
			x2 = x1 + 1
		}
		if y2 == y1 && y1 < bounds.Max.Y && box[3] != box[1] {
			y2 = y1 + 1
		}
		if x2 <= x1 || y2 <= y1 {
			return image.Rectangle{}, false
		}
	}
	return image.Rect(x1, y1, x2, y2), true
}

// fillRect paints r (clipped to dst) with the opaque colour c.
func fillRect(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(dst.Bounds())
	if r.Empty() {
		return
	}
	xdraw.Draw(dst, r, image.NewUniform(c), image.Point{}, xdraw.Src)
}

// strokeRect draws the outline of r, lw pixels wide, inside r; dashed draws
// dashes of about 3 line widths with gaps of 2.
func strokeRect(dst *image.RGBA, r image.Rectangle, lw int, c color.RGBA, dashed bool) {
	lw = min(lw, (r.Dx()+1)/2, (r.Dy()+1)/2)
	lw = max(lw, 1)
	sides := []image.Rectangle{
		image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+lw), // top
		image.Rect(r.Min.X, r.Max.Y-lw, r.Max.X, r.Max.Y), // bottom
		image.Rect(r.Min.X, r.Min.Y, r.Min.X+lw, r.Max.Y), // left
		image.Rect(r.Max.X-lw, r.Min.Y, r.Max.X, r.Max.Y), // right
	}
	if !dashed {
		for _, s := range sides {
			fillRect(dst, s, c)
		}
		return
	}
	dash, gap := max(4, 3*lw), max(3, 2*lw)
	for i, s := range sides {
		horizontal := i < 2
		if horizontal {
			for x := s.Min.X; x < s.Max.X; x += dash + gap {
				fillRect(dst, image.Rect(x, s.Min.Y, min(x+dash, s.Max.X), s.Max.Y), c)
			}
		} else {
			for y := s.Min.Y; y < s.Max.Y; y += dash + gap {
				fillRect(dst, image.Rect(s.Min.X, y, s.Max.X, min(y+dash, s.Max.Y)), c)
			}
		}
	}
}

// placeAbove returns the w x h tag rectangle for box r: on top of the box's
// top-left corner, or just inside the box when there is no room above; always
// kept inside bounds as far as its size allows.
func placeAbove(r image.Rectangle, w, h int, bounds image.Rectangle) image.Rectangle {
	y := r.Min.Y - h
	if y < bounds.Min.Y {
		y = r.Min.Y
	}
	return keepInside(image.Rect(r.Min.X, y, r.Min.X+w, y+h), bounds)
}

// placeBelow returns the w x h tag rectangle below the box's bottom-left
// corner, or just inside the box when there is no room below.
func placeBelow(r image.Rectangle, w, h int, bounds image.Rectangle) image.Rectangle {
	y := r.Max.Y
	if y+h > bounds.Max.Y {
		y = r.Max.Y - h
	}
	return keepInside(image.Rect(r.Min.X, y, r.Min.X+w, y+h), bounds)
}

// keepInside shifts t so that it lies inside bounds (its top-left corner wins
// when t is larger than bounds).
func keepInside(t, bounds image.Rectangle) image.Rectangle {
	dx, dy := 0, 0
	if t.Max.X > bounds.Max.X {
		dx = bounds.Max.X - t.Max.X
	}
	if t.Min.X+dx < bounds.Min.X {
		dx = bounds.Min.X - t.Min.X
	}
	if t.Max.Y > bounds.Max.Y {
		dy = bounds.Max.Y - t.Max.Y
	}
	if t.Min.Y+dy < bounds.Min.Y {
		dy = bounds.Min.Y - t.Min.Y
	}
	return t.Add(image.Pt(dx, dy))
}

// contrastText returns black or white, whichever reads better on c.
func contrastText(c color.RGBA) color.RGBA {
	lum := 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
	if lum > 150 {
		return color.RGBA{0, 0, 0, 0xff}
	}
	return color.RGBA{0xff, 0xff, 0xff, 0xff}
}

// darker returns c darkened enough to read as text on white.
func darker(c color.RGBA) color.RGBA {
	lum := 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
	f := 1.0
	if lum > 110 {
		f = 110 / lum
	}
	return color.RGBA{uint8(float64(c.R) * f), uint8(float64(c.G) * f), uint8(float64(c.B) * f), 0xff}
}

var (
	fontOnce   sync.Once
	parsedFont *opentype.Font
	fontErr    error
)

// labelFace is a font face at one pixel size with its tag padding.
type labelFace struct {
	face          font.Face // nil when the embedded font failed to load
	ascent, descr int
	padX, padY    int
}

// newLabelFace returns a face of the embedded Go Medium font at px pixels.
// Faces are not safe for concurrent use, so each drawing call makes its own;
// the parsed font is shared.
func newLabelFace(px float64) *labelFace {
	fontOnce.Do(func() { parsedFont, fontErr = opentype.Parse(gomedium.TTF) })
	lf := &labelFace{padX: max(2, int(math.Round(px*0.25))), padY: max(1, int(math.Round(px*0.12)))}
	if fontErr == nil {
		face, err := opentype.NewFace(parsedFont, &opentype.FaceOptions{Size: px, DPI: 72, Hinting: font.HintingFull})
		if err == nil {
			lf.face = face
			m := face.Metrics()
			lf.ascent, lf.descr = m.Ascent.Ceil(), m.Descent.Ceil()
		}
	}
	return lf
}

// tagSize returns the size of the tag holding text.
func (f *labelFace) tagSize(text string) (w, h int) {
	if f.face == nil {
		return 0, 0
	}
	tw := font.MeasureString(f.face, text).Ceil()
	return tw + 2*f.padX, f.ascent + f.descr + 2*f.padY
}

// drawText writes text inside tag rectangle t.
func (f *labelFace) drawText(dst *image.RGBA, t image.Rectangle, text string, c color.RGBA) {
	if f.face == nil {
		return
	}
	d := font.Drawer{
		Dst:  dst,
		Src:  image.NewUniform(c),
		Face: f.face,
		Dot:  fixed.P(t.Min.X+f.padX, t.Min.Y+f.padY+f.ascent),
	}
	d.DrawString(text)
}
