package transform

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ghmdet/ghmdet/data/imageio"
)

// TestPlaceBoxesAligned places an image with a white rectangle at various
// zooms, positions and flips, partly off the canvas, and checks that the
// rectangle's pixels span Forward(box) clipped to the visible part, that
// only the visible part is written and that Visible is that part.
func TestPlaceBoxesAligned(t *testing.T) {
	const cw, ch = 96, 80
	rect := [4]int{30, 20, 90, 60}
	box := [4]float64{30, 20, 90, 60}
	tests := []struct {
		name string
		pl   Placement
	}{
		{"inside downscaled", Placement{W: 64, H: 40, X: 10, Y: 5}},
		{"inside flipped", Placement{W: 64, H: 40, X: 10, Y: 5, Flip: true}},
		{"crop larger than canvas", Placement{W: 240, H: 150, X: -70, Y: -40}},
		{"crop larger flipped", Placement{W: 240, H: 150, X: -120, Y: -60, Flip: true}},
		{"cut at bottom right", Placement{W: 128, H: 80, X: 40, Y: 50}},
		{"cut at top left flipped", Placement{W: 128, H: 80, X: -30, Y: -20, Flip: true}},
		{"upscaled", Placement{W: 176, H: 110, X: -20, Y: -10}},
	}
	tr, err := New(Config{CanvasW: cw, CanvasH: ch})
	if err != nil {
		t.Fatal(err)
	}
	img := rectImage(120, 75, rect)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := tc.pl
			pl.OrigW, pl.OrigH = img.W, img.H
			const sentinel = 7
			dst := make([]float32, cw*ch*3)
			for i := range dst {
				dst[i] = sentinel
			}
			if err := tr.Place(dst, cw, ch, img, pl, Params{}); err != nil {
				t.Fatal(err)
			}
			v := pl.Visible(cw, ch)
			for y := 0; y < ch; y++ {
				for x := 0; x < cw; x++ {
					inside := x >= v[0] && x < v[2] && y >= v[1] && y < v[3]
					if got := dst[(y*cw+x)*3] == sentinel; got == inside {
						t.Fatalf("pixel (%d,%d): written %v, inside the visible part %v %v", x, y, !got, inside, v)
					}
				}
			}
			// Outside the visible part ToRGB of the sentinel is bright:
			// blank it before looking for the rectangle.
			for i := range dst {
				if dst[i] == sentinel {
					dst[i] = -10
				}
			}
			got, ok := brightBox(tr.ToRGB(dst, cw, ch))
			f := pl.Forward(box)
			want := [4]float64{
				clamp(f[0], float64(v[0]), float64(v[2])), clamp(f[1], float64(v[1]), float64(v[3])),
				clamp(f[2], float64(v[0]), float64(v[2])), clamp(f[3], float64(v[1]), float64(v[3])),
			}
			if !ok {
				t.Fatalf("rectangle not visible; its box maps to %v", want)
			}
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1 {
					t.Fatalf("rectangle pixels span %v, the mapped clipped box is %v", got, want)
				}
			}
		})
	}
}

// TestPlaceMatchesResize checks that placing at the origin with the plan's
// size gives exactly the pixels of ResizeInto, with and without jitter, and
// that Reduce gives a source whose samples differ only slightly.
func TestPlaceMatchesResize(t *testing.T) {
	img := imageio.NewRGB(150, 100)
	for y := 0; y < img.H; y++ {
		for x := 0; x < img.W; x++ {
			img.Set(x, y, uint8(x+y), uint8(x*255/150), uint8(255-y))
		}
	}
	tr, err := New(Config{CanvasW: 64, CanvasH: 64, HSVHue: 0.1, HSVSat: 0.5, HSVVal: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Params{
		{},
		{Flip: true},
		{Flip: true, Jitter: true, Brightness: 1.2, Contrast: 0.8, Saturation: 1.1},
		{Jitter: true, Brightness: 0.9, Contrast: 1.1, Saturation: 0.7, HSV: true, Hue: -0.05, Sat: 1.3, Val: 0.8},
	} {
		want, rec, err := tr.ResizeInto(nil, img, p)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, 64*64*3)
		pl := Placement{OrigW: img.W, OrigH: img.H, W: rec.ResizedW, H: rec.ResizedH, Flip: p.Flip}
		if err := tr.Place(dst, 64, 64, img, pl, p); err != nil {
			t.Fatal(err)
		}
		for y := 0; y < rec.ResizedH; y++ {
			for i := 0; i < rec.ResizedW*3; i++ {
				if a, b := dst[y*64*3+i], want[y*rec.ResizedW*3+i]; a != b {
					t.Fatalf("%+v: row %d value %d: Place %g, ResizeInto %g", p, y, i, a, b)
				}
			}
		}
		for i := rec.ResizedW * 3; i < 64*3; i++ {
			if dst[i] != 0 {
				t.Fatalf("%+v: Place wrote right of the placed image", p)
			}
		}
		// A source reduced to 1.5x the resized size: same record, pixels
		// within a few grey levels (two resamples, 8-bit rounding).
		red, err := Reduce(img, 144, 96)
		if err != nil {
			t.Fatal(err)
		}
		got, rec2, err := tr.ResizeSourceInto(nil, red, img.W, img.H, p)
		if err != nil {
			t.Fatal(err)
		}
		if rec2 != rec {
			t.Fatalf("record from the reduced source %+v, want %+v", rec2, rec)
		}
		var worst float64
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i]))*57)
		}
		if worst > 1.5 {
			t.Errorf("%+v: the reduced source differs by %.2f grey levels", p, worst)
		}
	}
}

func TestReduce(t *testing.T) {
	img := rectImage(200, 100, [4]int{40, 20, 120, 80})
	red, err := Reduce(img, 100, 50)
	if err != nil {
		t.Fatal(err)
	}
	if red.W != 100 || red.H != 50 || len(red.Pix) != 100*50*3 {
		t.Fatalf("reduced to %dx%d with %d bytes", red.W, red.H, len(red.Pix))
	}
	got, ok := brightBox(red)
	if want := [4]float64{20, 10, 60, 40}; !ok || got != want {
		t.Errorf("rectangle spans %v in the reduced image, want %v", got, want)
	}
	same, err := Reduce(img, 200, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := range img.Pix {
		if same.Pix[i] != img.Pix[i] {
			t.Fatal("reducing to the same size changed pixels")
		}
	}
	if _, err := Reduce(img, 0, 10); err == nil {
		t.Error("reduce to 0x10: no error")
	}
}

// TestHSV checks the HSV jitter on pure colours against the hexcone model.
func TestHSV(t *testing.T) {
	tests := []struct {
		name          string
		in            [3]float32
		hue, sat, val float64
		want          [3]float32
	}{
		{"identity", [3]float32{200, 100, 50}, 0, 1, 1, [3]float32{200, 100, 50}},
		{"red to green", [3]float32{255, 0, 0}, 1.0 / 3, 1, 1, [3]float32{0, 255, 0}},
		{"red to yellow", [3]float32{255, 0, 0}, 1.0 / 6, 1, 1, [3]float32{255, 255, 0}},
		{"red back to magenta", [3]float32{255, 0, 0}, -1.0 / 6, 1, 1, [3]float32{255, 0, 255}},
		{"blue wraps to red", [3]float32{0, 0, 200}, 1.0 / 3, 1, 1, [3]float32{200, 0, 0}},
		{"desaturate", [3]float32{200, 100, 50}, 0, 0, 1, [3]float32{200, 200, 200}},
		{"half saturation", [3]float32{200, 0, 0}, 0, 0.5, 1, [3]float32{200, 100, 100}},
		{"saturation capped", [3]float32{200, 100, 100}, 0, 3, 1, [3]float32{200, 0, 0}},
		{"half value", [3]float32{200, 100, 50}, 0, 1, 0.5, [3]float32{100, 50, 25}},
		{"value capped", [3]float32{200, 100, 50}, 0, 1, 2, [3]float32{255, 127.5, 63.75}},
		{"grey keeps its hue", [3]float32{90, 90, 90}, 0.3, 1.5, 1, [3]float32{90, 90, 90}},
		{"black", [3]float32{0, 0, 0}, 0.2, 1.5, 1.5, [3]float32{0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pix := tc.in[:]
			photometric(pix, 3, 3, 1, Params{HSV: true, Hue: tc.hue, Sat: tc.sat, Val: tc.val})
			for c := range pix {
				if math.Abs(float64(pix[c]-tc.want[c])) > 0.01 {
					t.Fatalf("got %v, want %v", pix, tc.want)
				}
			}
		})
	}
}

// TestSampleHSV checks that enabling the HSV jitter keeps the other draws
// and draws factors within the gains.
func TestSampleHSV(t *testing.T) {
	base := Config{FlipProb: 0.5, ShortSideRange: [2]int{10, 90}, Brightness: 0.2}
	withHSV := base
	withHSV.HSVHue, withHSV.HSVSat, withHSV.HSVVal = 0.015, 0.7, 0.4
	a, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(withHSV)
	if err != nil {
		t.Fatal(err)
	}
	hues := map[float64]bool{}
	for i := 0; i < 200; i++ {
		pa := a.Sample(rand.New(rand.NewPCG(uint64(i), 3)))
		pb := b.Sample(rand.New(rand.NewPCG(uint64(i), 3)))
		if pa.HSV || !pb.HSV {
			t.Fatalf("HSV flag %v without gains, %v with", pa.HSV, pb.HSV)
		}
		if pb.Flip != pa.Flip || pb.ShortSide != pa.ShortSide || pb.Brightness != pa.Brightness {
			t.Fatalf("the HSV draws changed the others: %+v vs %+v", pb, pa)
		}
		if math.Abs(pb.Hue) > 0.015 || math.Abs(pb.Sat-1) > 0.7 || math.Abs(pb.Val-1) > 0.4 {
			t.Fatalf("HSV factors %+v outside the gains", pb)
		}
		hues[pb.Hue] = true
	}
	if len(hues) < 150 {
		t.Errorf("only %d distinct hue shifts in 200 draws", len(hues))
	}
}
