package draw

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data"
)

var grey = color.RGBA{0x80, 0x80, 0x80, 0xff}

// uniform returns a w x h image filled with c.
func uniform(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// changed returns the bounding rectangle of the pixels that differ between a
// and b, and how many differ.
func changed(a, b *image.RGBA) (image.Rectangle, int) {
	var r image.Rectangle
	n := 0
	bb := a.Bounds()
	for y := bb.Min.Y; y < bb.Max.Y; y++ {
		for x := bb.Min.X; x < bb.Max.X; x++ {
			if a.RGBAAt(x, y) != b.RGBAAt(x, y) {
				r = r.Union(image.Rect(x, y, x+1, y+1))
				n++
			}
		}
	}
	return r, n
}

func TestDetectionsBoxOutline(t *testing.T) {
	cases := []struct {
		name string
		w, h int
		box  [4]float64
	}{
		{"small image", 256, 256, [4]float64{40, 60, 180, 200}},
		{"large image", 1600, 1200, [4]float64{300, 200, 1100, 900}},
		{"fractional box", 320, 240, [4]float64{20.4, 30.6, 150.2, 170.5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := uniform(tc.w, tc.h, grey)
			out := Detections(src, []Det{{Box: tc.box, Class: 2, Score: 0.9}}, []string{"a", "b", "c"}, Options{NoLabels: true})
			lw, _ := Options{}.sizes(src.Bounds())
			want := ClassColour(2)
			x1, y1 := int(math.Round(tc.box[0])), int(math.Round(tc.box[1]))
			x2, y2 := int(math.Round(tc.box[2])), int(math.Round(tc.box[3]))
			// Every pixel of the outline (lw pixels inside the box edge) has
			// the class colour.
			for x := x1; x < x2; x++ {
				for _, y := range []int{y1, y1 + lw - 1, y2 - 1, y2 - lw} {
					if got := out.RGBAAt(x, y); got != want {
						t.Fatalf("outline pixel (%d,%d) = %v, want %v", x, y, got, want)
					}
				}
			}
			for y := y1; y < y2; y++ {
				for _, x := range []int{x1, x1 + lw - 1, x2 - 1, x2 - lw} {
					if got := out.RGBAAt(x, y); got != want {
						t.Fatalf("outline pixel (%d,%d) = %v, want %v", x, y, got, want)
					}
				}
			}
			// Inside the outline and outside the box nothing changes.
			r, _ := changed(src, out)
			if r != image.Rect(x1, y1, x2, y2) {
				t.Errorf("changed pixels span %v, want exactly the box %v", r, image.Rect(x1, y1, x2, y2))
			}
			if got := out.RGBAAt((x1+x2)/2, (y1+y2)/2); got != grey {
				t.Errorf("box centre changed to %v", got)
			}
			if got := out.RGBAAt(x1+lw, y1+lw); got != grey {
				t.Errorf("pixel just inside the outline changed to %v", got)
			}
		})
	}
}

func TestDetectionsLabelPlacement(t *testing.T) {
	names := []string{"RBC", "WBC", "Platelets"}
	cases := []struct {
		name string
		w, h int
		box  [4]float64
	}{
		{"box in the middle", 256, 256, [4]float64{60, 80, 200, 220}},
		{"box at the top edge", 256, 256, [4]float64{60, 0, 200, 120}},
		{"box at the top-right corner", 256, 256, [4]float64{200, 0, 256, 60}},
		{"box at the top, large image", 2000, 1500, [4]float64{10, 0, 900, 700}},
		{"box filling the image", 128, 96, [4]float64{0, 0, 128, 96}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := uniform(tc.w, tc.h, grey)
			det := Det{Box: tc.box, Class: 1, Score: 0.87}
			boxOnly := Detections(src, []Det{det}, names, Options{NoLabels: true})
			out := Detections(src, []Det{det}, names, Options{})
			// The label adds pixels beyond the bare outline.
			tagArea, n := changed(boxOnly, out)
			if n == 0 {
				t.Fatal("label drew nothing")
			}
			if !tagArea.In(out.Bounds()) {
				t.Fatalf("label %v leaves the image %v", tagArea, out.Bounds())
			}
			lw, px := Options{}.sizes(src.Bounds())
			bx := image.Rect(int(tc.box[0]), int(tc.box[1]), int(tc.box[2]), int(tc.box[3]))
			// The tag is a filled rectangle in the class colour holding text:
			// enough of it is class-coloured, and some of it is text.
			colour, text := 0, 0
			for y := tagArea.Min.Y; y < tagArea.Max.Y; y++ {
				for x := tagArea.Min.X; x < tagArea.Max.X; x++ {
					switch out.RGBAAt(x, y) {
					case ClassColour(1):
						colour++
					case grey:
					default:
						text++
					}
				}
			}
			if colour < tagArea.Dx()*tagArea.Dy()/3 || text < 20 {
				t.Errorf("tag %v has %d class-coloured and %d text pixels", tagArea, colour, text)
			}
			// A readable tag: text height at least 11 pixels.
			if tagArea.Dy() < int(px) || px < 11 {
				t.Errorf("tag height %d for font size %g", tagArea.Dy(), px)
			}
			if bx.Min.Y >= tagArea.Dy() {
				// Room above: the tag sits right on top of the box.
				if tagArea.Max.Y != bx.Min.Y {
					t.Errorf("tag %v not right above the box %v", tagArea, bx)
				}
			} else if d := tagArea.Min.Y - bx.Min.Y; d < 0 || d > lw {
				// No room: the tag covers the box's top-left corner (where
				// it overlaps the same-coloured outline nothing changes).
				t.Errorf("tag %v not inside the top of box %v (line width %d)", tagArea, bx, lw)
			}
			if d := tagArea.Min.X - bx.Min.X; bx.Min.X+tagArea.Dx() <= tc.w && (d < 0 || d > lw) {
				t.Errorf("tag %v not at the left edge of box %v", tagArea, bx)
			}
		})
	}
}

func TestDetectionsDeterministicAndInputUntouched(t *testing.T) {
	src := uniform(300, 200, grey)
	src.Set(5, 5, color.RGBA{1, 2, 3, 255})
	before := append([]uint8(nil), src.Pix...)
	dets := []Det{
		{Box: [4]float64{10, 10, 100, 120}, Class: 0, Score: 0.91},
		{Box: [4]float64{50, 40, 250, 190}, Class: 7, Score: 0.42},
		{Box: [4]float64{60, 0, 80, 30}, Class: 25, Score: 0.6},
	}
	names := []string{"person"}
	var prev []byte
	for i := range 3 {
		// Shuffled input order with equal content gives the same image only
		// if scores order the drawing; the same order must give the same bytes.
		img := Detections(src, dets, names, Options{})
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if i > 0 && !bytes.Equal(buf.Bytes(), prev) {
			t.Fatal("same input gave different bytes")
		}
		prev = buf.Bytes()
	}
	if !bytes.Equal(src.Pix, before) {
		t.Error("Detections modified its input image")
	}
	// Saving is deterministic too.
	dir := t.TempDir()
	img := Detections(src, dets, names, Options{})
	for _, p := range []string{"a.png", "b.png"} {
		if err := SavePNG(filepath.Join(dir, p), img); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.png"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.png"))
	if !bytes.Equal(a, b) || len(a) == 0 {
		t.Error("SavePNG of the same image gave different bytes")
	}
}

func TestDetectionsOddInputs(t *testing.T) {
	src := uniform(200, 150, grey)
	dets := []Det{
		{Box: [4]float64{math.NaN(), 0, 10, 10}, Class: 0, Score: 0.9},
		{Box: [4]float64{0, 0, math.Inf(1), 10}, Class: 0, Score: 0.9},
		{Box: [4]float64{500, 500, 600, 600}, Class: 0, Score: 0.9}, // outside
		{Box: [4]float64{50, 50, 50, 80}, Class: 0, Score: 0.9},     // zero width
		{Box: [4]float64{120, 90, 20, 10}, Class: -3, Score: 0.9},   // swapped corners, negative class
		{Box: [4]float64{-50, -50, 30, 30}, Class: 99, Score: 0.2},  // partly outside, no name
		{Box: [4]float64{60, 60, 90, 90}, Class: 1, Score: 0.05},    // below MinScore
	}
	out := Detections(src, dets, []string{"a"}, Options{MinScore: 0.1})
	if got := out.RGBAAt(20, 10); got != ClassColour(-3) {
		t.Errorf("swapped-corner box not drawn: %v", got)
	}
	if got := out.RGBAAt(75, 60); got != grey {
		t.Errorf("detection below MinScore drawn: %v", got)
	}
	if ClassColour(-3) != ClassColour(len(palette)-3) || ClassColour(3) != ClassColour(3+len(palette)) {
		t.Error("class colours are not periodic")
	}
	// An image whose bounds do not start at 0,0.
	sub := uniform(400, 300, grey).SubImage(image.Rect(100, 100, 300, 250))
	out = Detections(sub, []Det{{Box: [4]float64{120, 120, 200, 200}, Class: 0, Score: 1}}, nil, Options{})
	if out.Bounds() != sub.Bounds() || out.RGBAAt(150, 120) != ClassColour(0) {
		t.Errorf("sub-image: bounds %v, pixel %v", out.Bounds(), out.RGBAAt(150, 120))
	}
}

func TestGroundTruthDashedAndIgnored(t *testing.T) {
	src := uniform(400, 300, grey)
	objs := []data.Object{
		{Class: 0, Box: [4]float64{40, 40, 300, 200}},
		{Class: 1, Box: [4]float64{320, 220, 390, 290}, Crowd: true},
	}
	out := GroundTruth(src, objs, []string{"RBC", "WBC"}, Options{})
	c := ClassColour(0)
	on, off := 0, 0
	for x := 40; x < 300; x++ {
		if out.RGBAAt(x, 40) == c {
			on++
		} else {
			off++
		}
	}
	if on < 100 || off < 50 {
		t.Errorf("top edge of a ground-truth box: %d coloured, %d gap pixels; want a dashed line", on, off)
	}
	if out.RGBAAt(170, 120) != grey {
		t.Error("inside of ground-truth box changed")
	}
	// The crowd box is grey, not its class colour.
	crowd := 0
	for y := 220; y < 290; y++ {
		if out.RGBAAt(320, y) == ignoreColour {
			crowd++
		}
		if out.RGBAAt(320, y) == ClassColour(1) {
			t.Fatal("crowd box drawn in its class colour")
		}
	}
	if crowd == 0 {
		t.Error("crowd box not drawn")
	}
	// The tag of the first box sits below it.
	r, _ := changed(GroundTruth(src, objs[:1], nil, Options{NoLabels: true}), GroundTruth(src, objs[:1], nil, Options{}))
	if r.Min.Y != 200 || r.Min.X != 40 {
		t.Errorf("ground-truth tag at %v, want below the box's bottom-left corner (40,200)", r)
	}
}

func TestSizesScaleWithImage(t *testing.T) {
	cases := []struct {
		w, h       int
		lwMin, lwM int
		pxMin, pxM float64
	}{
		{256, 256, 2, 2, 11, 11},
		{640, 480, 2, 2, 12, 14},
		{4000, 3000, 10, 11, 64, 64},
	}
	for _, tc := range cases {
		lw, px := Options{}.sizes(image.Rect(0, 0, tc.w, tc.h))
		if lw < tc.lwMin || lw > tc.lwM || px < tc.pxMin || px > tc.pxM {
			t.Errorf("%dx%d: line %d, font %g", tc.w, tc.h, lw, px)
		}
	}
	lw, px := Options{LineWidth: 5, FontSize: 20}.sizes(image.Rect(0, 0, 10, 10))
	if lw != 5 || px != 20 {
		t.Errorf("explicit sizes ignored: %d, %g", lw, px)
	}
}

func TestSaveAndMosaic(t *testing.T) {
	dir := t.TempDir()
	img := Detections(uniform(64, 48, grey), []Det{{Box: [4]float64{5, 5, 40, 40}, Class: 0, Score: 0.5}}, nil, Options{})
	for _, name := range []string{"x.png", "x.jpg", "x.JPEG"} {
		p := filepath.Join(dir, name)
		if err := Save(p, img); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var dec image.Image
		if strings.HasSuffix(name, ".png") {
			dec, err = png.Decode(f)
		} else {
			dec, err = jpeg.Decode(f)
		}
		f.Close()
		if err != nil || dec.Bounds().Size() != img.Bounds().Size() {
			t.Errorf("%s: decode %v, size %v", name, err, dec)
		}
	}
	if err := Save(filepath.Join(dir, "x.gif"), img); err == nil || !strings.Contains(err.Error(), "x.gif") {
		t.Errorf("unknown format: error %v", err)
	}
	missing := filepath.Join(dir, "no", "y.png")
	if err := SavePNG(missing, img); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("unwritable: error %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}

	m := Mosaic([]image.Image{img, uniform(10, 40, grey), nil, img, img}, 0, 100)
	if m == nil || m.Bounds().Dx() != 3*100+2*2 || m.Bounds().Dy() != 2*100+2 {
		t.Fatalf("mosaic bounds %v", m.Bounds())
	}
	// The first cell holds the scaled image: its box colour shows up there.
	found := false
	for y := 0; y < 100 && !found; y++ {
		for x := 0; x < 100 && !found; x++ {
			found = m.RGBAAt(x, y) == ClassColour(0)
		}
	}
	if !found {
		t.Error("scaled image not in the first mosaic cell")
	}
	if m.RGBAAt(250, 50) != mosaicBackground {
		t.Error("nil image cell is not background")
	}
	if Mosaic(nil, 2, 100) != nil {
		t.Error("empty mosaic should be nil")
	}
}
