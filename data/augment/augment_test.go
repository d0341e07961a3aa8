package augment

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data/transform"
)

func newTransform(t *testing.T) *transform.Transform {
	t.Helper()
	tr, err := transform.New(transform.Config{CanvasW: 128, CanvasH: 96, FlipProb: 0.5, Brightness: 0.2, HSVHue: 0.015})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestSamplePlainDrawsAsTransform checks that a disabled or switched-off
// augmentation draws exactly what the transform draws, so that samples
// stay the plain transform's.
func TestSamplePlainDrawsAsTransform(t *testing.T) {
	tr := newTransform(t)
	on := Config{MosaicProb: 0.5, Zoom: [2]float64{0.5, 1.5}}
	tests := []struct {
		name string
		cfg  Config
		o    Options
	}{
		{"disabled", Config{}, Options{}},
		{"area rule only", Config{MinAreaFrac: 0.2}, Options{}},
		{"switched off", on, Options{NoMosaic: true, NoZoom: true}},
		{"mosaic only, switched off", Config{MosaicProb: 1}, Options{NoMosaic: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 50; i++ {
				a, b := rand.New(rand.NewPCG(uint64(i), 1)), rand.New(rand.NewPCG(uint64(i), 1))
				d := tc.cfg.Sample(a, tr, 7, 20, tc.o)
				want := tr.Sample(b)
				if d.Kind != Plain || d.N != 1 || d.Images[0] != 7 || d.Params[0] != want || d.G != 1 {
					t.Fatalf("draw %+v, want a plain one with %+v", d, want)
				}
				if a.Uint64() != b.Uint64() {
					t.Fatal("the draw consumed a different number of random values")
				}
			}
		})
	}
}

func TestSampleKinds(t *testing.T) {
	tr := newTransform(t)
	tests := []struct {
		name                 string
		cfg                  Config
		o                    Options
		minMosaic, maxMosaic int
		zoomed               bool
	}{
		{"mosaic always", Config{MosaicProb: 1, Zoom: [2]float64{0.5, 1.5}}, Options{}, 400, 400, true},
		{"mosaic half", Config{MosaicProb: 0.5, Zoom: [2]float64{0.5, 1.5}}, Options{}, 150, 250, true},
		{"mosaic without zoom", Config{MosaicProb: 1, Zoom: [2]float64{0.5, 1.5}}, Options{NoZoom: true}, 400, 400, false},
		{"zoom only", Config{Zoom: [2]float64{0.8, 1.2}}, Options{}, 0, 0, true},
		{"mosaic switched off", Config{MosaicProb: 1, Zoom: [2]float64{0.5, 1.5}}, Options{NoMosaic: true}, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			mosaics, partners := 0, map[int]bool{}
			for i := 0; i < 400; i++ {
				d := tc.cfg.Sample(rng, tr, 3, 10, tc.o)
				if d.Images[0] != 3 {
					t.Fatalf("first image %d, want the sample's own 3", d.Images[0])
				}
				switch d.Kind {
				case Mosaic:
					mosaics++
					if d.N != 4 {
						t.Fatalf("mosaic of %d images", d.N)
					}
					for _, k := range d.Images[1:] {
						if k < 0 || k >= 10 {
							t.Fatalf("partner %d outside the dataset", k)
						}
						partners[k] = true
					}
				case Zoom:
					if d.N != 1 || !tc.zoomed {
						t.Fatalf("zoom draw %+v", d)
					}
				default:
					t.Fatalf("plain draw with augmentation on: %+v", d)
				}
				lo, hi := 1.0, 1.0
				if tc.zoomed {
					lo, hi = tc.cfg.Zoom[0], tc.cfg.Zoom[1]
				}
				if d.G < lo || d.G > hi {
					t.Fatalf("zoom %g outside [%g, %g]", d.G, lo, hi)
				}
			}
			if mosaics < tc.minMosaic || mosaics > tc.maxMosaic {
				t.Errorf("%d mosaics in 400, want [%d, %d]", mosaics, tc.minMosaic, tc.maxMosaic)
			}
			if mosaics > 0 && len(partners) != 10 {
				t.Errorf("partners drawn from %d of 10 images", len(partners))
			}
		})
	}
}

// TestLayoutMosaic checks the mosaic geometry: the join point in the middle
// half of the canvas, each image's corner at it, sizes g x base x size, and
// visible parts that do not overlap.
func TestLayoutMosaic(t *testing.T) {
	tr := newTransform(t)
	cfg := Config{MosaicProb: 1, Zoom: [2]float64{0.5, 1.5}}
	const cw, ch = 128, 96
	rng := rand.New(rand.NewPCG(1, 1))
	var pls []transform.Placement
	for i := 0; i < 300; i++ {
		d := cfg.Sample(rng, tr, 0, 5, Options{})
		var sizes [][2]int
		var base []float64
		for k := 0; k < 4; k++ {
			w, h := 20+rng.IntN(300), 20+rng.IntN(300)
			sizes = append(sizes, [2]int{w, h})
			base = append(base, tr.Scale(w, h, d.Params[k]))
		}
		pls = d.Layout(pls, cw, ch, sizes, base)
		if len(pls) != 4 {
			t.Fatalf("%d placements", len(pls))
		}
		cx, cy := pls[0].X+pls[0].W, pls[0].Y+pls[0].H
		if cx < cw/4 || cx > 3*cw/4 || cy < ch/4 || cy > 3*ch/4 {
			t.Fatalf("join point (%d,%d) outside the middle half", cx, cy)
		}
		corners := [4][2]int{
			{pls[0].X + pls[0].W, pls[0].Y + pls[0].H}, // bottom-right
			{pls[1].X, pls[1].Y + pls[1].H},            // bottom-left
			{pls[2].X + pls[2].W, pls[2].Y},            // top-right
			{pls[3].X, pls[3].Y},                       // top-left
		}
		for k, c := range corners {
			if c != [2]int{cx, cy} {
				t.Fatalf("image %d corner at %v, want the join point (%d,%d)", k, c, cx, cy)
			}
			pl := pls[k]
			s := d.G * base[k]
			if math.Abs(float64(pl.W)-float64(sizes[k][0])*s) > 0.5 || math.Abs(float64(pl.H)-float64(sizes[k][1])*s) > 0.5 {
				t.Fatalf("image %d resized to %dx%d, want %v x %g", k, pl.W, pl.H, sizes[k], s)
			}
			if pl.Flip != d.Params[k].Flip || pl.OrigW != sizes[k][0] || pl.OrigH != sizes[k][1] {
				t.Fatalf("image %d placement %+v does not follow its draw", k, pl)
			}
		}
		covered := make([]int, cw*ch)
		for _, pl := range pls {
			v := pl.Visible(cw, ch)
			for y := v[1]; y < v[3]; y++ {
				for x := v[0]; x < v[2]; x++ {
					covered[y*cw+x]++
				}
			}
		}
		for _, n := range covered {
			if n > 1 {
				t.Fatal("mosaic images overlap")
			}
		}
	}
}

// TestLayoutZoom checks the position of a zoomed image: a crop when it is
// larger than the canvas, inside it when smaller, over the whole range.
func TestLayoutZoom(t *testing.T) {
	const cw, ch = 100, 80
	tests := []struct {
		name         string
		g            float64
		pos          [2]float64
		wantX, wantY int
	}{
		{"larger, first position", 2, [2]float64{0, 0}, -100, -80},
		{"larger, last position", 2, [2]float64{0.999999, 0.999999}, 0, 0},
		{"larger, middle", 2, [2]float64{0.5, 0.5}, -50, -40},
		{"smaller, first position", 0.5, [2]float64{0, 0}, 0, 0},
		{"smaller, last position", 0.5, [2]float64{0.999999, 0.999999}, 50, 40},
		{"same size", 1, [2]float64{0.7, 0.2}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Draw{Kind: Zoom, N: 1, G: tc.g, Pos: tc.pos}
			pls := d.Layout(nil, cw, ch, [][2]int{{200, 160}}, []float64{0.5})
			pl := pls[0]
			if pl.W != int(100*tc.g) || pl.H != int(80*tc.g) || pl.X != tc.wantX || pl.Y != tc.wantY {
				t.Errorf("placement %+v, want %dx%d at (%d,%d)", pl, int(100*tc.g), int(80*tc.g), tc.wantX, tc.wantY)
			}
			if tc.g >= 1 {
				if v := pl.Visible(cw, ch); v != [4]int{0, 0, cw, ch} {
					t.Errorf("an image at least as large as the canvas covers %v only", v)
				}
			}
		})
	}
}

func TestBox(t *testing.T) {
	const cw, ch = 100, 100
	// A 200x100 image at half size: x' = X + x/2, y' = Y + y/2.
	at := func(x, y int, flip bool) transform.Placement {
		return transform.Placement{OrigW: 200, OrigH: 100, W: 100, H: 50, X: x, Y: y, Flip: flip}
	}
	cfg := Config{MinAreaFrac: 0.2}
	tests := []struct {
		name string
		pl   transform.Placement
		b    [4]float64
		want [4]float64
		keep bool
	}{
		{"inside", at(0, 10, false), [4]float64{20, 20, 60, 80}, [4]float64{10, 20, 30, 50}, true},
		{"inside flipped", at(0, 10, true), [4]float64{20, 20, 60, 80}, [4]float64{70, 20, 90, 50}, true},
		{"half cut at the left", at(-20, 0, false), [4]float64{20, 0, 60, 40}, [4]float64{0, 0, 10, 20}, true},
		{"mostly cut at the left", at(-27, 0, false), [4]float64{20, 0, 60, 40}, [4]float64{0, 0, 3, 20}, false},
		{"cut at the bottom", at(0, 60, false), [4]float64{0, 60, 40, 100}, [4]float64{0, 90, 20, 100}, true},
		{"a fifth left at the bottom", at(0, 90, false), [4]float64{0, 0, 40, 100}, [4]float64{0, 90, 20, 100}, true},
		{"less than a fifth left at the bottom", at(0, 91, false), [4]float64{0, 0, 40, 100}, [4]float64{0, 91, 20, 100}, false},
		{"outside", at(-100, 0, false), [4]float64{0, 0, 40, 40}, [4]float64{0, 0, 0, 20}, false},
		{"too thin", at(0, 0, false), [4]float64{10, 10, 11, 80}, [4]float64{5, 5, 5.5, 40}, false},
		{"past the image edge", at(0, 0, false), [4]float64{-40, -20, 40, 40}, [4]float64{0, 0, 20, 20}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, keep := cfg.Box(tc.pl, cw, ch, tc.b, 1)
			if got != tc.want || keep != tc.keep {
				t.Errorf("Box = %v, %v; want %v, %v", got, keep, tc.want, tc.keep)
			}
		})
	}
	// Without the area rule a mostly cut box of sufficient size stays.
	if _, keep := (Config{}).Box(at(-27, 0, false), cw, ch, [4]float64{20, 0, 60, 40}, 1); !keep {
		t.Error("MinAreaFrac 0 dropped a 3 px wide box")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg   Config
		field string
	}{
		{Config{MosaicProb: 1.5}, "MosaicProb"},
		{Config{MosaicProb: math.NaN()}, "MosaicProb"},
		{Config{Zoom: [2]float64{1.5, 0.5}}, "Zoom"},
		{Config{Zoom: [2]float64{0, 1.5}}, "Zoom"},
		{Config{Zoom: [2]float64{0.5, math.Inf(1)}}, "Zoom"},
		{Config{MinAreaFrac: 1}, "MinAreaFrac"},
		{Config{MinAreaFrac: -0.1}, "MinAreaFrac"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: error %v, want one naming %s", tc.cfg, err, tc.field)
		}
	}
	for _, c := range []Config{{}, {MosaicProb: 1, Zoom: [2]float64{0.5, 1.5}, MinAreaFrac: 0.2}, {Zoom: [2]float64{1, 1}}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
