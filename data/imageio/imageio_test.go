package imageio

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
)

// fixture returns a small image with distinct smooth colours per pixel.
func fixture(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, color.NRGBA{uint8(20 + 10*x), uint8(30 + 12*y), uint8(200 - 5*x - 3*y), 255})
		}
	}
	return m
}

func maxDiff(t *testing.T, got *RGB, want image.Image) int {
	t.Helper()
	b := want.Bounds()
	if got.W != b.Dx() || got.H != b.Dy() {
		t.Fatalf("size %dx%d, want %dx%d", got.W, got.H, b.Dx(), b.Dy())
	}
	worst := 0
	for y := 0; y < got.H; y++ {
		for x := 0; x < got.W; x++ {
			c := color.NRGBAModel.Convert(want.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			r, g, bl := got.At(x, y)
			for _, d := range []int{int(r) - int(c.R), int(g) - int(c.G), int(bl) - int(c.B)} {
				if d < 0 {
					d = -d
				}
				if d > worst {
					worst = d
				}
			}
		}
	}
	return worst
}

func TestDecodeFormats(t *testing.T) {
	src := fixture(13, 9)
	gray := image.NewGray(image.Rect(0, 0, 7, 5))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 6, 4), color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 128, 255, 255}, color.RGBA{9, 8, 7, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 3)
	}
	tests := []struct {
		name    string
		format  string
		encode  func(*bytes.Buffer) error
		want    image.Image
		maxDiff int
	}{
		{"png-rgb", "png", func(b *bytes.Buffer) error { return png.Encode(b, src) }, src, 0},
		{"png-gray", "png", func(b *bytes.Buffer) error { return png.Encode(b, gray) }, gray, 0},
		{"png-paletted", "png", func(b *bytes.Buffer) error { return png.Encode(b, pal) }, pal, 0},
		{"bmp", "bmp", func(b *bytes.Buffer) error { return bmp.Encode(b, src) }, src, 0},
		// JPEG is lossy (4:2:0 chroma): smooth colours stay close.
		{"jpeg", "jpeg", func(b *bytes.Buffer) error { return jpeg.Encode(b, src, &jpeg.Options{Quality: 100}) }, src, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.encode(&buf); err != nil {
				t.Fatal(err)
			}
			got, format, err := Decode(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if format != tc.format {
				t.Errorf("format %q, want %q", format, tc.format)
			}
			if d := maxDiff(t, got, tc.want); d > tc.maxDiff {
				t.Errorf("max channel difference %d > %d", d, tc.maxDiff)
			}
		})
	}
}

// TestYCbCrFastPath checks the dedicated YCbCr conversion against the
// standard library's per-pixel conversion for every subsampling ratio and a
// sub-image with odd bounds.
func TestYCbCrFastPath(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	for _, r := range ratios {
		m := image.NewYCbCr(image.Rect(0, 0, 17, 11), r)
		for i := range m.Y {
			m.Y[i] = uint8(i * 37)
		}
		for i := range m.Cb {
			m.Cb[i] = uint8(i*53 + 11)
			m.Cr[i] = uint8(i*29 + 200)
		}
		for _, img := range []image.Image{m, m.SubImage(image.Rect(3, 1, 16, 10))} {
			got := FromImage(img)
			if d := maxDiff(t, got, img); d != 0 {
				t.Errorf("%v bounds %v: max difference %d", r, img.Bounds(), d)
			}
		}
	}
}

func TestRGBAUnpremultiplies(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 2, 1))
	m.Pix = []uint8{100, 50, 0, 128, 10, 20, 30, 255}
	got := FromImage(m)
	if d := maxDiff(t, got, m); d > 1 {
		t.Errorf("max difference %d", d)
	}
}

func TestDecodeFileErrorsNameFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.jpg")
	if err := os.WriteFile(bad, []byte("\xff\xd8\xff\xe0 not really a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bad, filepath.Join(dir, "missing.png")} {
		_, err := DecodeFile(p)
		if err == nil {
			t.Fatalf("%s: no error", p)
		}
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %s", err, p)
		}
	}
}

func TestWriteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := FromImage(fixture(10, 6))
	p := filepath.Join(dir, "a.png")
	if err := WritePNG(p, m); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, m.Pix) {
		t.Error("PNG round trip changed pixels")
	}
	j := filepath.Join(dir, "a.jpg")
	if err := WriteJPEG(j, m, 95); err != nil {
		t.Fatal(err)
	}
	gj, err := DecodeFile(j)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, gj, m.ToNRGBA()); d > 16 {
		t.Errorf("JPEG round trip difference %d", d)
	}
}
