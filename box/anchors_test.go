package box

import (
	"math"
	"slices"
	"testing"
)

func TestGenerateAnchorsCounts(t *testing.T) {
	tests := []struct {
		name       string
		h, w       int
		wantHW     [][2]int
		wantTotal  int
		wantStride []int
	}{
		{"512x512", 512, 512, [][2]int{{64, 64}, {32, 32}, {16, 16}, {8, 8}, {4, 4}}, 9 * (64*64 + 32*32 + 16*16 + 8*8 + 4*4), []int{8, 16, 32, 64, 128}},
		{"800x1333 padded to 800x1344", 800, 1344, [][2]int{{100, 168}, {50, 84}, {25, 42}, {13, 21}, {7, 11}}, 9 * (100*168 + 50*84 + 25*42 + 13*21 + 7*11), []int{8, 16, 32, 64, 128}},
		{"333x500 (not a multiple of 32)", 333, 500, [][2]int{{42, 63}, {21, 32}, {11, 16}, {6, 8}, {3, 4}}, 9 * (42*63 + 21*32 + 11*16 + 6*8 + 3*4), []int{8, 16, 32, 64, 128}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := GenerateAnchors(DefaultAnchorConfig(), tc.h, tc.w)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Boxes) != tc.wantTotal {
				t.Errorf("total %d, want %d", len(a.Boxes), tc.wantTotal)
			}
			if a.PerLocation != 9 {
				t.Errorf("PerLocation %d, want 9", a.PerLocation)
			}
			off := 0
			for l, lv := range a.Levels {
				if lv.Stride != tc.wantStride[l] || lv.H != tc.wantHW[l][0] || lv.W != tc.wantHW[l][1] {
					t.Errorf("level %d: stride %d, %dx%d; want stride %d, %dx%d", l, lv.Stride, lv.H, lv.W, tc.wantStride[l], tc.wantHW[l][0], tc.wantHW[l][1])
				}
				if lv.Offset != off || lv.Count != lv.H*lv.W*9 {
					t.Errorf("level %d: offset %d count %d, want %d, %d", l, lv.Offset, lv.Count, off, lv.H*lv.W*9)
				}
				if got := len(a.Level(l)); got != lv.Count {
					t.Errorf("len(Level(%d)) = %d", l, got)
				}
				off += lv.Count
			}
		})
	}
}

// TestFeatureSizeMatchesConvChain checks FeatureSize against a chain of
// stride-2 convolutions with kernel 3 and padding 1.
func TestFeatureSizeMatchesConvChain(t *testing.T) {
	for n := 1; n <= 700; n++ {
		size := n
		for stride := 2; stride <= 128; stride *= 2 {
			size = (size+2*1-3)/2 + 1
			if got := FeatureSize(n, stride); got != size {
				t.Fatalf("FeatureSize(%d, %d) = %d, conv chain gives %d", n, stride, got, size)
			}
			if n%stride == 0 && size != n/stride {
				t.Fatalf("n=%d stride=%d: %d != n/stride", n, stride, size)
			}
		}
	}
}

func TestAnchorGeometry(t *testing.T) {
	cfg := DefaultAnchorConfig()
	a, err := GenerateAnchors(cfg, 512, 512)
	if err != nil {
		t.Fatal(err)
	}
	// Sizes at P3 for ratio 1 (a = 1*3 + k): 32, 40.3, 50.8.
	wantSizes := []float64{32, 32 * math.Pow(2, 1.0/3), 32 * math.Pow(2, 2.0/3)}
	if math.Abs(wantSizes[1]-40.3175) > 1e-3 || math.Abs(wantSizes[2]-50.7968) > 1e-3 {
		t.Fatalf("reference sizes wrong: %v", wantSizes)
	}
	ratios := []float64{0.5, 1, 2}
	for l, lv := range a.Levels {
		boxes := a.Level(l)
		for _, loc := range [][2]int{{0, 0}, {0, lv.W - 1}, {lv.H - 1, 0}, {lv.H / 2, lv.W / 3}} {
			y, x := loc[0], loc[1]
			for ri, r := range ratios {
				for k := 0; k < 3; k++ {
					idx := (y*lv.W+x)*9 + ri*3 + k
					b := boxes[idx]
					if b != a.Boxes[lv.Offset+idx] {
						t.Fatalf("Level slice disagrees with Boxes")
					}
					size := float64(4*lv.Stride) * math.Pow(2, float64(k)/3)
					w, h := float64(b.Width()), float64(b.Height())
					if math.Abs(math.Sqrt(w*h)-size) > 1e-4*size {
						t.Errorf("level %d (%d,%d) a=%d: sqrt(area) %v, want %v", l, y, x, ri*3+k, math.Sqrt(w*h), size)
					}
					if math.Abs(h/w-r) > 1e-5 {
						t.Errorf("level %d a=%d: h/w %v, want %v", l, ri*3+k, h/w, r)
					}
					cx, cy := b.Center()
					if math.Abs(float64(cx)-float64(x*lv.Stride)) > 1e-3 || math.Abs(float64(cy)-float64(y*lv.Stride)) > 1e-3 {
						t.Errorf("level %d (%d,%d): centre (%v,%v), want (%d,%d)", l, y, x, cx, cy, x*lv.Stride, y*lv.Stride)
					}
				}
			}
		}
	}
	// P3 first anchors: ratio 0.5, sizes 32..50.8, centred at (0, 0).
	p3 := a.Level(0)
	for k := 0; k < 3; k++ {
		if math.Abs(float64(p3[k].Width())-wantSizes[k]*math.Sqrt2) > 1e-3 {
			t.Errorf("P3 anchor %d width %v, want %v", k, p3[k].Width(), wantSizes[k]*math.Sqrt2)
		}
	}
	// Order: the anchor after the 9 of (0,0) is the first of (0,1), shifted by the stride.
	if d := p3[9][0] - p3[0][0]; d != 8 || p3[9][1] != p3[0][1] {
		t.Errorf("anchor 9 is not anchor 0 shifted by one column: %v vs %v", p3[9], p3[0])
	}
	if d := p3[9*64][1] - p3[0][1]; d != 8 || p3[9*64][0] != p3[0][0] {
		t.Errorf("anchor 9*W is not anchor 0 shifted by one row: %v vs %v", p3[9*64], p3[0])
	}
}

func TestAnchorCenterOffset(t *testing.T) {
	cfg := DefaultAnchorConfig()
	cfg.CenterOffset = 0.5
	cfg.Strides = []int{16}
	a, err := GenerateAnchors(cfg, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	cx, cy := a.Boxes[(1*4+2)*9].Center()
	if cx != 2.5*16 || cy != 1.5*16 {
		t.Errorf("centre (%v,%v), want (40,24)", cx, cy)
	}
}

func TestGenerateAnchorsErrors(t *testing.T) {
	mod := func(f func(c *AnchorConfig)) AnchorConfig {
		c := DefaultAnchorConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  AnchorConfig
		h, w int
	}{
		{"no strides", mod(func(c *AnchorConfig) { c.Strides = nil }), 64, 64},
		{"zero stride", mod(func(c *AnchorConfig) { c.Strides = []int{8, 0} }), 64, 64},
		{"no ratios", mod(func(c *AnchorConfig) { c.Ratios = nil }), 64, 64},
		{"negative ratio", mod(func(c *AnchorConfig) { c.Ratios = []float64{-1} }), 64, 64},
		{"NaN scale", mod(func(c *AnchorConfig) { c.OctaveBaseScale = math.NaN() }), 64, 64},
		{"zero scales", mod(func(c *AnchorConfig) { c.ScalesPerOctave = 0 }), 64, 64},
		{"zero image", DefaultAnchorConfig(), 0, 64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := GenerateAnchors(tc.cfg, tc.h, tc.w); err == nil {
				t.Errorf("no error")
			}
		})
	}
	if _, err := GenerateAnchorsForSizes(DefaultAnchorConfig(), [][2]int{{4, 4}}); err == nil {
		t.Errorf("GenerateAnchorsForSizes: no error for 1 size and 5 strides")
	}
}

// TestValidMaskCounts pins the number of valid anchors per level (cells x <
// ceil(validW/s), y < ceil(validH/s), 9 anchors each) for a few resized image
// shapes, computed by hand.
func TestValidMaskCounts(t *testing.T) {
	cases := []struct {
		name           string
		canvasW, canvH int
		validW, validH int
		want           []int
	}{
		// 640x480 fitted into 256x256: 256x192.
		{"landscape 256", 256, 256, 256, 192, []int{32 * 24 * 9, 16 * 12 * 9, 8 * 6 * 9, 4 * 3 * 9, 2 * 2 * 9}},
		// 100x300 fitted into 256x256: 85x256.
		{"portrait 256", 256, 256, 85, 256, []int{11 * 32 * 9, 6 * 16 * 9, 3 * 8 * 9, 2 * 4 * 9, 1 * 2 * 9}},
		// A 500x375 image resized to fit 1333x800 (1067x800) in a 1344x800 canvas.
		{"reference 1344x800", 1344, 800, 1067, 800, []int{134 * 100 * 9, 67 * 50 * 9, 34 * 25 * 9, 17 * 13 * 9, 9 * 7 * 9}},
		{"full canvas", 256, 256, 256, 256, []int{32 * 32 * 9, 16 * 16 * 9, 8 * 8 * 9, 4 * 4 * 9, 2 * 2 * 9}},
		{"larger than canvas", 256, 256, 300, 999, []int{32 * 32 * 9, 16 * 16 * 9, 8 * 8 * 9, 4 * 4 * 9, 2 * 2 * 9}},
		{"one pixel", 256, 256, 1, 1, []int{9, 9, 9, 9, 9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := GenerateAnchors(DefaultAnchorConfig(), c.canvH, c.canvasW)
			if err != nil {
				t.Fatal(err)
			}
			got := a.NumValid(c.validW, c.validH)
			if !slices.Equal(got, c.want) {
				t.Fatalf("NumValid(%d, %d) = %v, want %v", c.validW, c.validH, got, c.want)
			}
			mask := a.ValidMask(nil, c.validW, c.validH)
			for l, lv := range a.Levels {
				n := 0
				vw := (c.validW + lv.Stride - 1) / lv.Stride
				vh := (c.validH + lv.Stride - 1) / lv.Stride
				for i, ok := range mask[lv.Offset : lv.Offset+lv.Count] {
					cell := i / a.PerLocation
					y, x := cell/lv.W, cell%lv.W
					if want := x < vw && y < vh; ok != want {
						t.Fatalf("level %d cell (%d, %d): valid %v, want %v", l, x, y, ok, want)
					}
					if ok {
						n++
					}
				}
				if n != c.want[l] {
					t.Fatalf("level %d: %d valid flags, want %d", l, n, c.want[l])
				}
			}
		})
	}
}
