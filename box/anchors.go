package box

import (
	"fmt"
	"math"
)

// AnchorConfig describes the anchors of every pyramid level, as
// mmdetection's AnchorGenerator with octave scales.
type AnchorConfig struct {
	// Strides are the strides of the pyramid levels, in the order the
	// network's heads emit them. Default 8, 16, 32, 64, 128 (P3..P7).
	Strides []int `yaml:"strides"`
	// OctaveBaseScale multiplies the stride to give the smallest anchor size
	// of a level. Default 4.
	OctaveBaseScale float64 `yaml:"octave_base_scale"`
	// ScalesPerOctave is the number of sizes per level:
	// size_k = OctaveBaseScale * stride * 2^(k/ScalesPerOctave),
	// k = 0..ScalesPerOctave-1. Default 3 (32, 40.3, 50.8 at stride 8).
	ScalesPerOctave int `yaml:"scales_per_octave"`
	// Ratios are the height/width ratios. Default 0.5, 1, 2.
	Ratios []float64 `yaml:"ratios"`
	// CenterOffset shifts anchor centres by CenterOffset*stride in x and y.
	// Default 0: the anchor of cell (x, y) is centred at (x*stride,
	// y*stride), mmdetection's convention (torchvision also centres at
	// x*stride; 0.5 centres in the middle of the cell).
	CenterOffset float64 `yaml:"center_offset"`
}

// DefaultAnchorConfig returns the reference RetinaNet anchors: strides 8..128,
// octave base scale 4, 3 scales per octave, ratios 0.5, 1, 2, offset 0.
func DefaultAnchorConfig() AnchorConfig {
	return AnchorConfig{
		Strides:         []int{8, 16, 32, 64, 128},
		OctaveBaseScale: 4,
		ScalesPerOctave: 3,
		Ratios:          []float64{0.5, 1, 2},
		CenterOffset:    0,
	}
}

// NumPerLocation returns the number of anchors per feature-map location,
// len(Ratios)*ScalesPerOctave (9 by default).
func (c AnchorConfig) NumPerLocation() int { return len(c.Ratios) * c.ScalesPerOctave }

// Validate reports a configuration that cannot generate anchors.
func (c AnchorConfig) Validate() error {
	if len(c.Strides) == 0 {
		return fmt.Errorf("anchor config: no strides")
	}
	for i, s := range c.Strides {
		if s <= 0 {
			return fmt.Errorf("anchor config: stride %d of level %d is not positive", s, i)
		}
	}
	if !(c.OctaveBaseScale > 0) || math.IsInf(c.OctaveBaseScale, 0) {
		return fmt.Errorf("anchor config: octave base scale %v is not a positive number", c.OctaveBaseScale)
	}
	if c.ScalesPerOctave <= 0 {
		return fmt.Errorf("anchor config: scales per octave %d is not positive", c.ScalesPerOctave)
	}
	if len(c.Ratios) == 0 {
		return fmt.Errorf("anchor config: no ratios")
	}
	for i, r := range c.Ratios {
		if !(r > 0) || math.IsInf(r, 0) {
			return fmt.Errorf("anchor config: ratio %v (index %d) is not a positive number", r, i)
		}
	}
	if math.IsNaN(c.CenterOffset) || math.IsInf(c.CenterOffset, 0) {
		return fmt.Errorf("anchor config: center offset %v is not finite", c.CenterOffset)
	}
	return nil
}

// BaseAnchors returns the NumPerLocation anchors of a level with the given
// stride, relative to the location's centre (CenterOffset*stride, in both x and
// y), in the order a = ratioIndex*ScalesPerOctave + scaleIndex (ratio-major,
// as mmdetection's ws = (w * w_ratios[:, None] * scales[None, :]).view(-1)).
// For ratio r and size s = OctaveBaseScale*stride*2^(k/ScalesPerOctave) the
// anchor is h = s*sqrt(r) high and w = s/sqrt(r) wide (area s^2).
func (c AnchorConfig) BaseAnchors(stride int) []Box {
	b64 := c.baseAnchors64(stride)
	out := make([]Box, len(b64))
	for i, b := range b64 {
		out[i] = Box{float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3])}
	}
	return out
}

// baseAnchors64 is BaseAnchors in float64, so that each generated anchor is
// rounded to float32 once.
func (c AnchorConfig) baseAnchors64(stride int) [][4]float64 {
	out := make([][4]float64, 0, c.NumPerLocation())
	ctr := c.CenterOffset * float64(stride)
	for _, r := range c.Ratios {
		hr := math.Sqrt(r)
		for k := 0; k < c.ScalesPerOctave; k++ {
			s := c.OctaveBaseScale * math.Pow(2, float64(k)/float64(c.ScalesPerOctave)) * float64(stride)
			w, h := s/hr, s*hr
			out = append(out, [4]float64{ctr - 0.5*w, ctr - 0.5*h, ctr + 0.5*w, ctr + 0.5*h})
		}
	}
	return out
}

// Level describes the anchors of one pyramid level inside Anchors.Boxes.
type Level struct {
	// Stride is the level's stride in pixels.
	Stride int
	// H and W are the feature-map height and width.
	H, W int
	// Offset is the index of the level's first anchor in Anchors.Boxes.
	Offset int
	// Count is the number of anchors of the level: H*W*NumPerLocation.
	Count int
}

// Anchors is the flat anchor list of all levels of one image size.
type Anchors struct {
	// Boxes are the anchors in the order the heads emit their outputs:
	// level (P3..P7), then feature-map row y, then column x, then anchor a
	// (a = ratioIndex*ScalesPerOctave + scaleIndex). The anchor of level l,
	// location (y, x), index a is Boxes[Levels[l].Offset + (y*W+x)*A + a].
	Boxes []Box
	// Levels describes each level's slice of Boxes.
	Levels []Level
	// PerLocation is A, the number of anchors per location.
	PerLocation int
}

// Level returns the anchors of level l (a sub-slice of Boxes).
func (a Anchors) Level(l int) []Box {
	lv := a.Levels[l]
	return a.Boxes[lv.Offset : lv.Offset+lv.Count]
}

// FeatureSize returns the feature-map size of a level of the given stride for
// an input of size n: ceil(n/stride). This is what a chain of stride-2
// convolutions (kernel 3, padding 1: out = floor((in-1)/2)+1 = ceil(in/2))
// produces, since ceil(ceil(n/a)/b) = ceil(n/(a*b)); for n a multiple of the
// stride it is n/stride exactly (n a multiple of 32 covers P3..P5, a multiple
// of 128 covers P3..P7). If the network rounds differently, pass its actual
// sizes to GenerateAnchorsForSizes.
func FeatureSize(n, stride int) int {
	return (n + stride - 1) / stride
}

// GenerateAnchors returns the anchors of every level for an input image of
// imgH x imgW pixels, with feature sizes H_l = ceil(imgH/stride_l) and
// W_l = ceil(imgW/stride_l) (see FeatureSize). The anchor of location (y, x)
// and base anchor b (BaseAnchors) is b shifted by (x*stride, y*stride): its
// centre is ((x+CenterOffset)*stride, (y+CenterOffset)*stride). This is
// mmdetection 2.x/3.x's AnchorGenerator (center_offset 0, no rounding, no
// "+1"); the 1.x generator of the original GHM release used legacy centres
// ((stride-1)/2) and rounded base anchors, which this package does not
// reproduce.
func GenerateAnchors(cfg AnchorConfig, imgH, imgW int) (Anchors, error) {
	if imgH <= 0 || imgW <= 0 {
		return Anchors{}, fmt.Errorf("generate anchors: image size %dx%d is not positive", imgW, imgH)
	}
	sizes := make([][2]int, len(cfg.Strides))
	for i, s := range cfg.Strides {
		if s <= 0 {
			return Anchors{}, fmt.Errorf("generate anchors: stride %d of level %d is not positive", s, i)
		}
		sizes[i] = [2]int{FeatureSize(imgH, s), FeatureSize(imgW, s)}
	}
	return GenerateAnchorsForSizes(cfg, sizes)
}

// GenerateAnchorsForSizes is GenerateAnchors with the feature-map sizes
// given explicitly: sizes[l] = {H_l, W_l} for level l (one per stride).
func GenerateAnchorsForSizes(cfg AnchorConfig, sizes [][2]int) (Anchors, error) {
	if err := cfg.Validate(); err != nil {
		return Anchors{}, fmt.Errorf("generate anchors: %w", err)
	}
	if len(sizes) != len(cfg.Strides) {
		return Anchors{}, fmt.Errorf("generate anchors: %d feature sizes for %d strides", len(sizes), len(cfg.Strides))
	}
	A := cfg.NumPerLocation()
	total := 0
	for l, hw := range sizes {
		if hw[0] < 0 || hw[1] < 0 {
			return Anchors{}, fmt.Errorf("generate anchors: negative feature size %dx%d at level %d", hw[1], hw[0], l)
		}
		total += hw[0] * hw[1] * A
	}
	out := Anchors{Boxes: make([]Box, total), Levels: make([]Level, len(sizes)), PerLocation: A}
	off := 0
	for l, hw := range sizes {
		stride := cfg.Strides[l]
		H, W := hw[0], hw[1]
		b64 := cfg.baseAnchors64(stride)
		lvBoxes := out.Boxes[off : off+H*W*A]
		for y := 0; y < H; y++ {
			sy := float64(y * stride)
			for x := 0; x < W; x++ {
				sx := float64(x * stride)
				row := lvBoxes[(y*W+x)*A : (y*W+x+1)*A]
				for a, b := range b64 {
					row[a] = Box{float32(b[0] + sx), float32(b[1] + sy), float32(b[2] + sx), float32(b[3] + sy)}
				}
			}
		}
		out.Levels[l] = Level{Stride: stride, H: H, W: W, Offset: off, Count: H * W * A}
		off += H * W * A
	}
	return out, nil
}

// ValidMask returns one flag per anchor of a (resized into dst when its
// capacity suffices): true for the anchors of the feature-map cells that
// cover the valid image region of validW x validH pixels at the top-left of
// the input canvas, false for the cells on the padding. On a level of stride
// s the valid cells are x < ceil(validW/s) and y < ceil(validH/s) (capped at
// the feature-map size), the reference's valid flags (mmdetection's
// AnchorGenerator.valid_flags with the resized image shape). A valid size of
// at least the canvas marks every anchor valid.
func (a Anchors) ValidMask(dst []bool, validW, validH int) []bool {
	if cap(dst) >= len(a.Boxes) {
		dst = dst[:len(a.Boxes)]
	} else {
		dst = make([]bool, len(a.Boxes))
	}
	for _, lv := range a.Levels {
		vw := min(FeatureSize(max(validW, 0), lv.Stride), lv.W)
		vh := min(FeatureSize(max(validH, 0), lv.Stride), lv.H)
		m := dst[lv.Offset : lv.Offset+lv.Count]
		perRow := lv.W * a.PerLocation
		for y := 0; y < lv.H; y++ {
			row := m[y*perRow : (y+1)*perRow]
			if y >= vh {
				clear(row)
				continue
			}
			for i := range row {
				row[i] = i < vw*a.PerLocation
			}
		}
	}
	return dst
}

// NumValid returns the number of valid anchors per level for a valid image
// region of validW x validH pixels (see ValidMask).
func (a Anchors) NumValid(validW, validH int) []int {
	out := make([]int, len(a.Levels))
	for l, lv := range a.Levels {
		vw := min(FeatureSize(max(validW, 0), lv.Stride), lv.W)
		vh := min(FeatureSize(max(validH, 0), lv.Stride), lv.H)
		out[l] = vw * vh * a.PerLocation
	}
	return out
}
