package transform

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ghmdet/ghmdet/data/imageio"
)

// rectImage returns a black w x h image with a white filled rectangle
// covering the pixels [x1, x2) x [y1, y2).
func rectImage(w, h int, box [4]int) *imageio.RGB {
	m := imageio.NewRGB(w, h)
	for y := box[1]; y < box[3]; y++ {
		for x := box[0]; x < box[2]; x++ {
			m.Set(x, y, 255, 255, 255)
		}
	}
	return m
}

// brightBox returns the box x1, y1, x2, y2 (pixel edges) of the pixels
// whose red value exceeds 127 in a w x h RGB image.
func brightBox(m *imageio.RGB) ([4]float64, bool) {
	x1, y1, x2, y2 := m.W, m.H, -1, -1
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			if r, _, _ := m.At(x, y); r > 127 {
				x1, y1 = min(x1, x), min(y1, y)
				x2, y2 = max(x2, x), max(y2, y)
			}
		}
	}
	if x2 < 0 {
		return [4]float64{}, false
	}
	return [4]float64{float64(x1), float64(y1), float64(x2 + 1), float64(y2 + 1)}, true
}

func TestBoxesStayAlignedWithPixels(t *testing.T) {
	box := [4]int{37, 21, 95, 66}
	tests := []struct {
		name       string
		w, h       int
		cfg        Config
		p          Params
		wantCanvas [2]int
	}{
		{"downscale pad32", 160, 100, Config{ShortSide: 60, LongSide: 1000}, Params{}, [2]int{96, 64}},
		{"downscale flip pad32", 160, 100, Config{ShortSide: 60, LongSide: 1000}, Params{Flip: true}, [2]int{96, 64}},
		{"upscale flip", 160, 100, Config{ShortSide: 250, LongSide: 333}, Params{Flip: true}, [2]int{352, 224}},
		{"fixed canvas flip", 160, 100, Config{CanvasW: 128, CanvasH: 128}, Params{Flip: true}, [2]int{128, 128}},
		{"portrait in landscape canvas", 100, 160, Config{CanvasW: 120, CanvasH: 80}, Params{Flip: true}, [2]int{120, 80}},
		{"long side limit", 160, 100, Config{ShortSide: 800, LongSide: 200}, Params{}, [2]int{224, 128}},
		{"scale jitter override", 160, 100, Config{ShortSide: 800, ShortSideRange: [2]int{70, 90}}, Params{ShortSide: 75, Flip: true}, [2]int{128, 96}},
		{"no resize", 160, 100, Config{PadDivisor: 1}, Params{Flip: true}, [2]int{160, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			b := box
			if tc.w < tc.h { // keep the rectangle inside portrait images
				b = [4]int{box[1], box[0], box[3], box[2]}
			}
			img := rectImage(tc.w, tc.h, b)
			pix, rec, err := tr.Apply(img, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if [2]int{rec.CanvasW, rec.CanvasH} != tc.wantCanvas {
				t.Errorf("canvas %dx%d, want %v (resized %dx%d)", rec.CanvasW, rec.CanvasH, tc.wantCanvas, rec.ResizedW, rec.ResizedH)
			}
			if len(pix) != rec.CanvasW*rec.CanvasH*3 {
				t.Fatalf("output has %d values, want %d", len(pix), rec.CanvasW*rec.CanvasH*3)
			}
			// Padding is exactly zero (the mean colour after normalisation).
			for y := 0; y < rec.CanvasH; y++ {
				for x := 0; x < rec.CanvasW; x++ {
					if x < rec.ResizedW && y < rec.ResizedH {
						continue
					}
					for c := 0; c < 3; c++ {
						if v := pix[(y*rec.CanvasW+x)*3+c]; v != 0 {
							t.Fatalf("padding pixel (%d,%d) = %g", x, y, v)
						}
					}
				}
			}
			out := tr.ToRGB(pix, rec.CanvasW, rec.CanvasH)
			got, ok := brightBox(out)
			if !ok {
				t.Fatal("rectangle vanished")
			}
			orig := [4]float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])}
			want := rec.Forward(orig)
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1 {
					t.Errorf("pixels of the rectangle span %v, Forward(box) = %v", got, want)
					break
				}
			}
			// The box found on the network input maps back to the original
			// rectangle within one input pixel (in original pixels).
			back := rec.Inverse(got)
			tol := 1/math.Min(rec.ScaleX, rec.ScaleY) + 1e-9
			for i := range back {
				if math.Abs(back[i]-orig[i]) > tol {
					t.Errorf("Inverse(%v) = %v, want %v within %.3g", got, back, orig, tol)
					break
				}
			}
		})
	}
}

func TestInverseForwardExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cfgs := []Config{
		{ShortSide: 800, LongSide: 1333},
		{CanvasW: 320, CanvasH: 320},
		{CanvasW: 512, CanvasH: 384, ShortSide: 1000},
		{ShortSideRange: [2]int{100, 700}, LongSide: 900},
	}
	for _, cfg := range cfgs {
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 200; k++ {
			w, h := 1+rng.IntN(2000), 1+rng.IntN(2000)
			p := Params{Flip: rng.IntN(2) == 0}
			if cfg.ShortSideRange[1] > 0 {
				p.ShortSide = cfg.ShortSideRange[0] + rng.IntN(cfg.ShortSideRange[1]-cfg.ShortSideRange[0]+1)
			}
			rec, err := tr.Plan(w, h, p)
			if err != nil {
				t.Fatal(err)
			}
			if rec.ResizedW > rec.CanvasW || rec.ResizedH > rec.CanvasH {
				t.Fatalf("%+v: resized larger than canvas", rec)
			}
			x1, y1 := rng.Float64()*float64(w), rng.Float64()*float64(h)
			b := [4]float64{x1, y1, x1 + rng.Float64()*(float64(w)-x1), y1 + rng.Float64()*(float64(h)-y1)}
			f := rec.Forward(b)
			if f[2] < f[0] || f[3] < f[1] {
				t.Fatalf("Forward(%v) = %v is not ordered", b, f)
			}
			inv := rec.Inverse(f)
			for i := range b {
				if math.Abs(inv[i]-b[i]) > 1e-9 {
					t.Fatalf("%+v: Inverse(Forward(%v)) = %v", rec, b, inv)
				}
			}
		}
	}
}

func TestInverseClipsPredictions(t *testing.T) {
	tr, err := New(Config{CanvasW: 320, CanvasH: 320})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := tr.Plan(640, 480, Params{Flip: true})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ResizedW != 320 || rec.ResizedH != 240 || rec.ScaleX != 0.5 || rec.ScaleY != 0.5 {
		t.Fatalf("plan %+v", rec)
	}
	tests := []struct {
		pred, want [4]float64
	}{
		// Mirrored: network x in [10, 50) is original x in [540, 620).
		{[4]float64{10, 20, 50, 60}, [4]float64{540, 40, 620, 120}},
		// Extends into the bottom padding and past the left edge.
		{[4]float64{-5, 200, 30, 300}, [4]float64{580, 400, 640, 480}},
		// Entirely in the padding: collapses onto the image border.
		{[4]float64{100, 250, 120, 300}, [4]float64{400, 480, 440, 480}},
	}
	for _, tc := range tests {
		if got := rec.Inverse(tc.pred); got != tc.want {
			t.Errorf("Inverse(%v) = %v, want %v", tc.pred, got, tc.want)
		}
	}
}

func TestPlanKeepRatio(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		w, h       int
		rw, rh     int
		cw, ch     int
		scaleShort int
	}{
		{"reference 640x480", Config{ShortSide: 800, LongSide: 1333}, 640, 480, 1067, 800, 1088, 800, 0},
		{"reference long limited", Config{ShortSide: 800, LongSide: 1333}, 2000, 500, 1333, 333, 1344, 352, 0},
		{"canvas 320", Config{CanvasW: 320, CanvasH: 320}, 640, 480, 320, 240, 320, 320, 0},
		{"canvas 512", Config{CanvasW: 512, CanvasH: 512}, 640, 480, 512, 384, 512, 512, 0},
		{"canvas caps target", Config{CanvasW: 256, CanvasH: 256, ShortSide: 800}, 300, 200, 256, 171, 256, 256, 0},
		{"jittered short side", Config{ShortSideRange: [2]int{100, 200}}, 300, 200, 225, 150, 256, 160, 150},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := tr.Plan(tc.w, tc.h, Params{ShortSide: tc.scaleShort})
			if err != nil {
				t.Fatal(err)
			}
			if rec.ResizedW != tc.rw || rec.ResizedH != tc.rh || rec.CanvasW != tc.cw || rec.CanvasH != tc.ch {
				t.Errorf("got resized %dx%d canvas %dx%d, want %dx%d / %dx%d", rec.ResizedW, rec.ResizedH, rec.CanvasW, rec.CanvasH, tc.rw, tc.rh, tc.cw, tc.ch)
			}
		})
	}
}

func TestSampleAndJitter(t *testing.T) {
	cfg := Config{CanvasW: 64, CanvasH: 64, FlipProb: 0.5, ShortSideRange: [2]int{32, 64}, Brightness: 0.3, Contrast: 0.3, Saturation: 0.3}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := tr.Sample(rand.New(rand.NewPCG(7, 9)))
	b := tr.Sample(rand.New(rand.NewPCG(7, 9)))
	if a != b {
		t.Fatalf("same seed, different params: %+v vs %+v", a, b)
	}
	flips, shorts := 0, map[int]bool{}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 400; i++ {
		p := tr.Sample(rng)
		if p.Flip {
			flips++
		}
		shorts[p.ShortSide] = true
		if p.ShortSide < 32 || p.ShortSide > 64 {
			t.Fatalf("short side %d outside the range", p.ShortSide)
		}
		for _, f := range []float64{p.Brightness, p.Contrast, p.Saturation} {
			if f < 0.7 || f > 1.3 {
				t.Fatalf("jitter factor %g outside [0.7, 1.3]", f)
			}
		}
	}
	if flips < 150 || flips > 250 {
		t.Errorf("%d flips in 400 with probability 0.5", flips)
	}
	if len(shorts) < 20 {
		t.Errorf("only %d distinct short sides", len(shorts))
	}

	// A colourful image: jitter changes values; identity factors do not.
	img := imageio.NewRGB(40, 30)
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	plain, _, err := tr.Apply(img, Params{})
	if err != nil {
		t.Fatal(err)
	}
	ident, _, err := tr.Apply(img, Params{Jitter: true, Brightness: 1, Contrast: 1, Saturation: 1})
	if err != nil {
		t.Fatal(err)
	}
	jit, _, err := tr.Apply(img, Params{Jitter: true, Brightness: 1.2, Contrast: 0.8, Saturation: 1.3})
	if err != nil {
		t.Fatal(err)
	}
	var dIdent, dJit float64
	for i := range plain {
		dIdent = math.Max(dIdent, math.Abs(float64(plain[i]-ident[i])))
		dJit = math.Max(dJit, math.Abs(float64(plain[i]-jit[i])))
	}
	if dIdent > 1e-5 {
		t.Errorf("identity jitter changed values by %g", dIdent)
	}
	if dJit < 0.1 {
		t.Errorf("jitter changed values by only %g", dJit)
	}
}

func TestNormalisation(t *testing.T) {
	tr, err := New(Config{PadDivisor: 1})
	if err != nil {
		t.Fatal(err)
	}
	img := imageio.NewRGB(1, 1)
	img.Set(0, 0, 200, 100, 0)
	pix, _, err := tr.Apply(img, Params{})
	if err != nil {
		t.Fatal(err)
	}
	for c, v := range []float64{200, 100, 0} {
		want := (v - float64(DefaultMean[c])) / float64(DefaultStd[c])
		if math.Abs(float64(pix[c])-want) > 1e-5 {
			t.Errorf("channel %d: %g, want %g", c, pix[c], want)
		}
	}
	custom, err := New(Config{PadDivisor: 1, Mean: [3]float32{0, 0, 0}, Std: [3]float32{255, 255, 255}})
	if err != nil {
		t.Fatal(err)
	}
	pix, _, err = custom.Apply(img, Params{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(pix[0])-200.0/255) > 1e-6 {
		t.Errorf("custom normalisation: %g", pix[0])
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{ShortSide: -1},
		{ShortSideRange: [2]int{50, 10}},
		{CanvasW: 100},
		{FlipProb: 1.5},
		{Brightness: -0.1},
		{Std: [3]float32{1, 0, 1}},
		{HSVHue: -0.01},
		{HSVSat: 1.5},
		{HSVVal: math.NaN()},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Plan(0, 10, Params{}); err == nil {
		t.Error("empty image planned without error")
	}
}
