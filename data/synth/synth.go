// Package synth generates a synthetic object-detection dataset of coloured
// shapes in the COCO format: the project's default demo data.
//
// The data is built to exercise what GHM addresses: long-tailed class
// frequencies (a configurable head-to-tail ratio), many easy background
// anchors next to hard ones (textured, cluttered backgrounds; unlabelled
// distractor shapes that resemble the classes), objects in COCO's small,
// medium and large buckets, occlusion, and optional label noise.
//
// Generation is a pure function of the Config: the same seed gives the same
// bytes, whatever the number of workers.
package synth

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/imageio"
)

// Config configures the generator. Start from DefaultConfig.
type Config struct {
	// Seed drives every random choice.
	Seed int64
	// Size is the width and height of the square images in pixels
	// (default 256).
	Size int
	// Train and Val are the numbers of images per split (default 400, 100).
	Train, Val int
	// Classes is the number of classes K, 1..6, taking the shapes circle,
	// square, triangle, cross, ring, diamond in that order (default 6).
	Classes int
	// Ratio is the head-to-tail frequency ratio: class k has relative
	// frequency Ratio^(-k/(K-1)), geometric from the most frequent class 0
	// to the rarest class K-1 (default 20).
	Ratio float64
	// MinObjects and MaxObjects bound the labelled objects per image
	// (default 1 and 8, drawn uniformly).
	MinObjects, MaxObjects int
	// MaxDistractors bounds the unlabelled distractor shapes (stars,
	// crescents, blobs) per image, drawn uniformly from 0..MaxDistractors
	// (default 3).
	MaxDistractors int
	// SmallFrac and LargeFrac are the target fractions of objects in COCO's
	// small (area < 32^2) and large (area >= 96^2) buckets; the rest are
	// medium (defaults 0.4 and 0.15). Large objects that do not fit are
	// drawn smaller.
	SmallFrac, LargeFrac float64
	// MaxOcclusion is the largest fraction of an object's pixels that later
	// shapes may cover (default 0.5).
	MaxOcclusion float64
	// Noise is the label-noise rate: each annotation is, with this
	// probability, given a wrong class or a badly shifted box (half each;
	// default 0). The images do not depend on it.
	Noise float64
	// PixelNoise is the amplitude of the uniform per-pixel sensor noise on
	// the 0..255 scale (default 3; the background also has a smooth
	// texture). Larger values make the PNG files much larger.
	PixelNoise float64
	// Workers is the number of rendering goroutines for Write (0: number of
	// CPUs); it does not change the output.
	Workers int
}

// DefaultConfig returns the documented defaults (seed 1).
func DefaultConfig() Config {
	return Config{Seed: 1, Size: 256, Train: 400, Val: 100, Classes: 6, Ratio: 20,
		MinObjects: 1, MaxObjects: 8, MaxDistractors: 3, SmallFrac: 0.4, LargeFrac: 0.15,
		MaxOcclusion: 0.5, PixelNoise: 3}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Size < 32 {
		errs = append(errs, fmt.Errorf("image size %d must be at least 32", c.Size))
	}
	if c.Train < 0 || c.Val < 0 || c.Train+c.Val == 0 {
		errs = append(errs, fmt.Errorf("image counts train=%d val=%d: need non-negative counts, not both zero", c.Train, c.Val))
	}
	if c.Classes < 1 || c.Classes > NumClassShapes {
		errs = append(errs, fmt.Errorf("classes %d outside 1..%d", c.Classes, NumClassShapes))
	}
	if !(c.Ratio >= 1) || math.IsInf(c.Ratio, 0) {
		errs = append(errs, fmt.Errorf("head-to-tail ratio %g must be a finite number >= 1", c.Ratio))
	}
	if c.MinObjects < 0 || c.MaxObjects < c.MinObjects || c.MaxObjects < 1 {
		errs = append(errs, fmt.Errorf("objects per image %d..%d: need 0 <= min <= max, max >= 1", c.MinObjects, c.MaxObjects))
	}
	if c.MaxDistractors < 0 {
		errs = append(errs, fmt.Errorf("max distractors %d is negative", c.MaxDistractors))
	}
	if !(c.SmallFrac >= 0 && c.LargeFrac >= 0 && c.SmallFrac+c.LargeFrac <= 1) {
		errs = append(errs, fmt.Errorf("size fractions small=%g large=%g must be >= 0 with sum <= 1", c.SmallFrac, c.LargeFrac))
	}
	if !(c.MaxOcclusion >= 0 && c.MaxOcclusion < 1) {
		errs = append(errs, fmt.Errorf("max occlusion %g outside [0, 1)", c.MaxOcclusion))
	}
	if !(c.Noise >= 0 && c.Noise <= 1) {
		errs = append(errs, fmt.Errorf("label noise rate %g outside [0, 1]", c.Noise))
	}
	if !(c.PixelNoise >= 0 && c.PixelNoise <= 128) {
		errs = append(errs, fmt.Errorf("pixel noise %g outside [0, 128]", c.PixelNoise))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d is negative", c.Workers))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("synth config: %w", err)
	}
	return nil
}

// Split names a split of the generated dataset.
type Split string

// The generated splits.
const (
	Train Split = "train"
	Val   Split = "val"
)

func (s Split) stream() uint64 {
	if s == Val {
		return 2
	}
	return 1
}

// ClassNames returns the names of the first k class shapes.
func ClassNames(k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = Shape(i).String()
	}
	return out
}

// ClassFrequencies returns the relative class frequencies (summing to 1):
// geometric with ratio p[0]/p[K-1] = ratio.
func ClassFrequencies(k int, ratio float64) []float64 {
	p := make([]float64, k)
	sum := 0.0
	for i := range p {
		if k > 1 {
			p[i] = math.Pow(ratio, -float64(i)/float64(k-1))
		} else {
			p[i] = 1
		}
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// Generator renders the scenes of a Config. It is safe for concurrent use.
type Generator struct {
	cfg Config
	// classes[split][i] are the classes of image i's labelled objects.
	classes map[Split][][]int
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rng returns an independent random stream for (seed, purpose, split, i).
func (g *Generator) rng(purpose uint64, s Split, i int) *rand.Rand {
	a := splitmix64(uint64(g.cfg.Seed) ^ purpose*0x632be59bd9b4e019)
	b := splitmix64(s.stream()<<40 ^ uint64(i) ^ purpose<<56)
	return rand.New(rand.NewPCG(a, b))
}

const (
	purposeSplit = 1 + iota
	purposeScene
	purposeLabel
)

// New validates cfg and plans the class of every labelled object: per
// split, the object counts per image are drawn, the total is divided among
// the classes in exact proportion to ClassFrequencies (largest remainder),
// and the resulting list is shuffled across images.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, classes: map[Split][][]int{}}
	for _, s := range []Split{Train, Val} {
		g.classes[s] = g.planClasses(s, g.Count(s))
	}
	return g, nil
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// Count returns the number of images of split s.
func (g *Generator) Count(s Split) int {
	if s == Val {
		return g.cfg.Val
	}
	return g.cfg.Train
}

func (g *Generator) planClasses(s Split, n int) [][]int {
	c := g.cfg
	rng := g.rng(purposeSplit, s, 0)
	counts := make([]int, n)
	total := 0
	for i := range counts {
		counts[i] = c.MinObjects + rng.IntN(c.MaxObjects-c.MinObjects+1)
		total += counts[i]
	}
	// Largest-remainder apportionment of total among the classes.
	p := ClassFrequencies(c.Classes, c.Ratio)
	per := make([]int, c.Classes)
	rem := make([]float64, c.Classes)
	assigned := 0
	for k := range p {
		q := p[k] * float64(total)
		per[k] = int(q)
		rem[k] = q - float64(per[k])
		assigned += per[k]
	}
	for ; assigned < total; assigned++ {
		best := 0
		for k := range rem {
			if rem[k] > rem[best] {
				best = k
			}
		}
		per[best]++
		rem[best] = -1
	}
	list := make([]int, 0, total)
	for k, m := range per {
		for j := 0; j < m; j++ {
			list = append(list, k)
		}
	}
	for i := len(list) - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		list[i], list[j] = list[j], list[i]
	}
	out := make([][]int, n)
	for i := range out {
		out[i], list = list[:counts[i]], list[counts[i]:]
	}
	return out
}

// Item is one drawn shape of a scene.
type Item struct {
	// Shape is the drawn shape.
	Shape Shape
	// Class is the class index, or -1 for a distractor.
	Class int
	// Box is the tight box of all the shape's pixels (x1, y1, x2, y2 in
	// pixel edges), occluded parts included.
	Box [4]float64
	// Area is the shape's pixel count; Visible the count left uncovered by
	// shapes drawn after it.
	Area, Visible int
}

// Scene is one rendered image with its annotations.
type Scene struct {
	// Image is the rendered image.
	Image *imageio.RGB
	// Items are every drawn shape in drawing order (labelled objects and
	// distractors); their boxes are the true ones.
	Items []Item
	// Objects are the annotations (labelled items, with label noise
	// applied; IDs left 0 for the caller to number).
	Objects []data.Object
	// Noisy counts annotations changed by label noise.
	Noisy int
	// owner is the index in Items of the shape on top at each pixel
	// (-1: background), kept for tests.
	owner []int16
}

// mask is a shape's pixel set relative to its placement offset.
type mask struct {
	x0, y0, x1, y1 int // tight bounds (x1, y1 exclusive), relative
	w              int // row length of pix (x1 - x0)
	pix            []bool
	area           int
}

// shapeInstance holds the drawing parameters of one shape.
type shapeInstance struct {
	shape   Shape
	rx, ry  float64
	cos     float64
	sin     float64
	sp      shapeParams
	colour  [3]float64
	shadeU  float64
	shadeV  float64
	pattern int // 0 plain, 1 stripes
	freq    float64
}

// local maps pixel offset (dx, dy) from the centre to unit coordinates.
func (s *shapeInstance) local(dx, dy float64) (u, v float64) {
	u = (dx*s.cos + dy*s.sin) / s.rx
	v = (-dx*s.sin + dy*s.cos) / s.ry
	return u, v
}

// rasterise computes the mask of the shape centred at the origin: pixel
// (i, j) covers [i, i+1) x [j, j+1) and belongs to the shape when its
// centre does.
func (s *shapeInstance) rasterise() mask {
	r := int(math.Ceil(reach[s.shape]*math.Max(s.rx, s.ry))) + 1
	side := 2 * r
	full := make([]bool, side*side)
	x0, y0, x1, y1 := side, side, -1, -1
	area := 0
	for j := 0; j < side; j++ {
		for i := 0; i < side; i++ {
			u, v := s.local(float64(i-r)+0.5, float64(j-r)+0.5)
			if inside(s.shape, u, v, s.sp) {
				full[j*side+i] = true
				area++
				x0, y0 = min(x0, i), min(y0, j)
				x1, y1 = max(x1, i), max(y1, j)
			}
		}
	}
	if area == 0 {
		return mask{}
	}
	m := mask{x0: x0 - r, y0: y0 - r, x1: x1 + 1 - r, y1: y1 + 1 - r, w: x1 + 1 - x0, area: area}
	m.pix = make([]bool, m.w*(y1+1-y0))
	for j := y0; j <= y1; j++ {
		copy(m.pix[(j-y0)*m.w:(j-y0+1)*m.w], full[j*side+x0:j*side+x1+1])
	}
	return m
}

// Scene renders image i of split s. It depends only on the Config, s and i.
func (g *Generator) Scene(s Split, i int) (*Scene, error) {
	if i < 0 || i >= g.Count(s) {
		return nil, fmt.Errorf("synth: %s image %d out of range [0, %d)", s, i, g.Count(s))
	}
	c := g.cfg
	rng := g.rng(purposeScene, s, i)
	size := c.Size
	canvas := make([]float64, size*size*3)
	renderBackground(canvas, size, rng)

	// The shapes to draw: labelled objects and distractors, in random
	// drawing order.
	type todo struct {
		shape Shape
		class int
	}
	var things []todo
	for _, k := range g.classes[s][i] {
		things = append(things, todo{Shape(k), k})
	}
	nd := rng.IntN(c.MaxDistractors + 1)
	for j := 0; j < nd; j++ {
		things = append(things, todo{Star + Shape(rng.IntN(int(numShapes-Star))), -1})
	}
	rng.Shuffle(len(things), func(a, b int) { things[a], things[b] = things[b], things[a] })

	lay := newLayout(size, len(things))
	sc := &Scene{}
	for _, th := range things {
		if item, ok := g.place(canvas, lay, th.shape, th.class, rng); ok {
			sc.Items = append(sc.Items, item)
		}
	}
	for k := range sc.Items {
		sc.Items[k].Visible = lay.visible[k]
	}
	sc.owner = lay.owner

	// Sensor noise and quantisation.
	img := imageio.NewRGB(size, size)
	for k, v := range canvas {
		if c.PixelNoise > 0 {
			v += (rng.Float64()*2 - 1) * c.PixelNoise
		}
		img.Pix[k] = uint8(math.Max(0, math.Min(255, math.Round(v))))
	}
	sc.Image = img

	// Annotations, with label noise from a separate stream so that the
	// images do not depend on the noise rate.
	lrng := g.rng(purposeLabel, s, i)
	for _, it := range sc.Items {
		if it.Class < 0 {
			continue
		}
		o := data.Object{Class: it.Class, Box: it.Box, Area: float64(it.Area)}
		if lrng.Float64() < c.Noise {
			if lrng.IntN(2) == 0 && c.Classes > 1 {
				o.Class = (o.Class + 1 + lrng.IntN(c.Classes-1)) % c.Classes
			} else {
				o.Box = shiftBox(o.Box, float64(size), lrng)
			}
			sc.Noisy++
		}
		sc.Objects = append(sc.Objects, o)
	}
	return sc, nil
}

// shiftBox moves a box by 30-60% of its size in x and y (random signs),
// keeping it inside the image and non-empty.
func shiftBox(b [4]float64, size float64, rng *rand.Rand) [4]float64 {
	w, h := b[2]-b[0], b[3]-b[1]
	sign := func() float64 {
		if rng.IntN(2) == 0 {
			return -1
		}
		return 1
	}
	dx := sign() * (0.3 + 0.3*rng.Float64()) * w
	dy := sign() * (0.3 + 0.3*rng.Float64()) * h
	x1 := math.Round(math.Max(0, math.Min(size-w, b[0]+dx)))
	y1 := math.Round(math.Max(0, math.Min(size-h, b[1]+dy)))
	return [4]float64{x1, y1, x1 + w, y1 + h}
}

// bucketArea draws a target pixel area in a COCO size bucket (0 small,
// 1 medium, 2 large) for images of the given size (the ranges are defined
// for 256 x 256 and scaled with the image area).
func bucketArea(bucket int, size int, rng *rand.Rand) float64 {
	ranges := [3][2]float64{{10, 29}, {35, 88}, {100, 128}} // sides of the area range
	r := ranges[bucket]
	side := r[0] * math.Pow(r[1]/r[0], rng.Float64())
	side *= float64(size) / 256
	return side * side
}

// place draws one shape at a position where it fits inside the image and
// leaves every earlier shape at least 1-MaxOcclusion visible. It tries
// several positions and then smaller sizes; it gives up (returns false)
// when nothing fits.
func (g *Generator) place(canvas []float64, lay *layout, shape Shape, class int, rng *rand.Rand) (Item, bool) {
	c := g.cfg
	size := c.Size
	bucket := 1
	if u := rng.Float64(); u < c.SmallFrac {
		bucket = 0
	} else if u >= 1-c.LargeFrac {
		bucket = 2
	}
	inst := shapeInstance{shape: shape}
	aspect := math.Exp((rng.Float64()*2 - 1) * 0.3) // ry/rx in [0.74, 1.35]
	theta := (rng.Float64()*2 - 1) * maxRotation[shape]
	inst.cos, inst.sin = math.Cos(theta), math.Sin(theta)
	inst.sp = shapeParams{rng.Float64() * 2 * math.Pi, rng.Float64() * 2 * math.Pi, rng.Float64() * 2 * math.Pi}
	if class >= 0 {
		inst.colour = hsv(classHue[class]+(rng.Float64()*2-1)*12, 0.6+0.35*rng.Float64(), 0.6+0.35*rng.Float64())
	} else if rng.IntN(2) == 0 {
		// Hard negative: a class colour on a non-class shape.
		inst.colour = hsv(classHue[rng.IntN(NumClassShapes)]+(rng.Float64()*2-1)*12, 0.6+0.35*rng.Float64(), 0.6+0.35*rng.Float64())
	} else {
		inst.colour = hsv(rng.Float64()*360, 0.4+0.6*rng.Float64(), 0.4+0.55*rng.Float64())
	}
	inst.shadeU, inst.shadeV = (rng.Float64()*2-1)*0.25, (rng.Float64()*2-1)*0.25
	if rng.IntN(4) == 0 {
		inst.pattern = 1
		inst.freq = 2 + 4*rng.Float64()
	}
	minVisible := 1 - c.MaxOcclusion
	for ; bucket >= 0; bucket-- {
		area := bucketArea(bucket, size, rng)
		inst.rx = math.Sqrt(area / (4 * fill[shape] * aspect))
		inst.ry = inst.rx * aspect
		// Keep the shape within 90% of the image side.
		if lim := 0.45 * float64(size); math.Max(inst.rx, inst.ry) > lim {
			f := lim / math.Max(inst.rx, inst.ry)
			inst.rx, inst.ry = inst.rx*f, inst.ry*f
		}
		m := inst.rasterise()
		if m.area == 0 || m.x1-m.x0 > size || m.y1-m.y0 > size {
			continue
		}
		for try := 0; try < 30; try++ {
			// Offset (tx, ty) places the shape's centre at pixel edge (tx, ty).
			tx := -m.x0 + rng.IntN(size-(m.x1-m.x0)+1)
			ty := -m.y0 + rng.IntN(size-(m.y1-m.y0)+1)
			if !lay.fits(&m, tx, ty, minVisible) {
				continue
			}
			lay.commit(&m, tx, ty, func(p, x, y int) {
				shade(canvas[p*3:p*3+3], &inst, float64(x-tx)+0.5, float64(y-ty)+0.5)
			})
			return Item{Shape: shape, Class: class, Area: m.area,
				Box: [4]float64{float64(tx + m.x0), float64(ty + m.y0), float64(tx + m.x1), float64(ty + m.y1)}}, true
		}
	}
	return Item{}, false
}

// layout tracks which shape owns each pixel, to bound occlusion.
type layout struct {
	size    int
	owner   []int16 // shape index per pixel, -1 for background
	area    []int   // pixel count of each placed shape
	visible []int   // pixels of each shape not covered by later ones
	stolen  []int   // scratch for fits
}

func newLayout(size, capacity int) *layout {
	l := &layout{size: size, owner: make([]int16, size*size), stolen: make([]int, 0, capacity)}
	for k := range l.owner {
		l.owner[k] = -1
	}
	return l
}

// fits reports whether the mask placed at offset (tx, ty) leaves every
// placed shape at least minVisible of its area uncovered.
func (l *layout) fits(m *mask, tx, ty int, minVisible float64) bool {
	if len(l.area) == 0 {
		return true
	}
	st := l.stolen[:len(l.area)]
	clear(st)
	covered := false
	for j := 0; j < m.y1-m.y0; j++ {
		row := (ty+m.y0+j)*l.size + tx + m.x0
		for i := 0; i < m.w; i++ {
			if m.pix[j*m.w+i] {
				if o := l.owner[row+i]; o >= 0 {
					st[o]++
					covered = true
				}
			}
		}
	}
	if !covered {
		return true
	}
	for k, n := range st {
		if n > 0 && float64(l.visible[k]-n) < minVisible*float64(l.area[k]) {
			return false
		}
	}
	return true
}

// commit records the mask at offset (tx, ty) as the newest shape and calls
// draw for each of its pixels (p = y*size + x).
func (l *layout) commit(m *mask, tx, ty int, draw func(p, x, y int)) {
	idx := int16(len(l.area))
	l.area = append(l.area, m.area)
	l.visible = append(l.visible, m.area)
	if cap(l.stolen) < len(l.area) {
		l.stolen = make([]int, 0, 2*len(l.area))
	}
	for j := 0; j < m.y1-m.y0; j++ {
		y := ty + m.y0 + j
		for i := 0; i < m.w; i++ {
			if !m.pix[j*m.w+i] {
				continue
			}
			x := tx + m.x0 + i
			p := y*l.size + x
			if o := l.owner[p]; o >= 0 {
				l.visible[o]--
			}
			l.owner[p] = idx
			draw(p, x, y)
		}
	}
}

// shade writes the shape's colour at the pixel whose centre is (dx, dy)
// from the shape's centre: a linear shading across the shape and, for
// striped shapes, a stripe pattern.
func shade(px []float64, s *shapeInstance, dx, dy float64) {
	u, v := s.local(dx, dy)
	f := 1 + s.shadeU*u + s.shadeV*v
	if s.pattern == 1 && math.Sin(s.freq*math.Pi*u) > 0.3 {
		f *= 0.75
	}
	for c := 0; c < 3; c++ {
		px[c] = math.Min(255, s.colour[c]*f)
	}
}

// renderBackground fills the canvas with a low-saturation two-colour
// gradient, a smooth noise texture, soft blobs and random lines (clutter).
func renderBackground(canvas []float64, size int, rng *rand.Rand) {
	c0 := hsv(rng.Float64()*360, 0.35*rng.Float64(), 0.2+0.7*rng.Float64())
	c1 := hsv(rng.Float64()*360, 0.35*rng.Float64(), 0.2+0.7*rng.Float64())
	phi := rng.Float64() * 2 * math.Pi
	gx, gy := math.Cos(phi), math.Sin(phi)
	fs := float64(size)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			// t in [0, 1] along the gradient direction.
			t := ((float64(x)/fs-0.5)*gx+(float64(y)/fs-0.5)*gy)/math.Sqrt2 + 0.5
			p := (y*size + x) * 3
			for c := 0; c < 3; c++ {
				canvas[p+c] = c0[c] + (c1[c]-c0[c])*t
			}
		}
	}
	// Texture: smooth value noise (random values on a coarse grid,
	// bilinearly interpolated), added to every channel.
	cell := 6 + rng.IntN(19)
	amp := 4 + 16*rng.Float64()
	gn := size/cell + 2
	grid := make([]float64, gn*gn)
	for k := range grid {
		grid[k] = (rng.Float64()*2 - 1) * amp
	}
	for y := 0; y < size; y++ {
		fy := (float64(y) + 0.5) / float64(cell)
		iy := int(fy)
		ty := fy - float64(iy)
		for x := 0; x < size; x++ {
			fx := (float64(x) + 0.5) / float64(cell)
			ix := int(fx)
			tx := fx - float64(ix)
			a := grid[iy*gn+ix] + (grid[iy*gn+ix+1]-grid[iy*gn+ix])*tx
			b := grid[(iy+1)*gn+ix] + (grid[(iy+1)*gn+ix+1]-grid[(iy+1)*gn+ix])*tx
			v := a + (b-a)*ty
			p := (y*size + x) * 3
			canvas[p] += v
			canvas[p+1] += v
			canvas[p+2] += v
		}
	}
	// Soft blobs.
	for n := 3 + rng.IntN(6); n > 0; n-- {
		col := hsv(rng.Float64()*360, 0.5*rng.Float64(), 0.2+0.7*rng.Float64())
		cx, cy := rng.Float64()*fs, rng.Float64()*fs
		rx, ry := (0.05+0.2*rng.Float64())*fs, (0.05+0.2*rng.Float64())*fs
		alpha := 0.15 + 0.3*rng.Float64()
		x0, x1 := max(0, int(cx-rx)), min(size, int(cx+rx)+1)
		y0, y1 := max(0, int(cy-ry)), min(size, int(cy+ry)+1)
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				dx, dy := (float64(x)+0.5-cx)/rx, (float64(y)+0.5-cy)/ry
				d := dx*dx + dy*dy
				if d >= 1 {
					continue
				}
				a := alpha * (1 - d)
				p := (y*size + x) * 3
				for c := 0; c < 3; c++ {
					canvas[p+c] += (col[c] - canvas[p+c]) * a
				}
			}
		}
	}
	// Lines.
	for n := 2 + rng.IntN(7); n > 0; n-- {
		col := hsv(rng.Float64()*360, rng.Float64(), 0.1+0.85*rng.Float64())
		ax, ay := rng.Float64()*fs, rng.Float64()*fs
		bx, by := rng.Float64()*fs, rng.Float64()*fs
		half := 0.5 + rng.Float64()
		alpha := 0.5 + 0.5*rng.Float64()
		x0, x1 := max(0, int(math.Min(ax, bx)-half-1)), min(size, int(math.Max(ax, bx)+half+2))
		y0, y1 := max(0, int(math.Min(ay, by)-half-1)), min(size, int(math.Max(ay, by)+half+2))
		vx, vy := bx-ax, by-ay
		l2 := vx*vx + vy*vy
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				px, py := float64(x)+0.5-ax, float64(y)+0.5-ay
				t := 0.0
				if l2 > 0 {
					t = math.Max(0, math.Min(1, (px*vx+py*vy)/l2))
				}
				ex, ey := px-t*vx, py-t*vy
				if ex*ex+ey*ey > half*half {
					continue
				}
				p := (y*size + x) * 3
				for c := 0; c < 3; c++ {
					canvas[p+c] += (col[c] - canvas[p+c]) * alpha
				}
			}
		}
	}
}
