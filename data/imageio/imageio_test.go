package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

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

// pngChunk encodes one PNG chunk: length, type, data, CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// hugePNG is a valid-looking PNG of a few dozen bytes whose header declares
// w x h 8-bit RGB pixels, followed by a tiny compressed row and the end.
func hugePNG(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 2 // bit depth 8, colour type RGB
	b.Write(pngChunk("IHDR", ihdr))
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 64))
	_ = zw.Close()
	b.Write(pngChunk("IDAT", z.Bytes()))
	b.Write(pngChunk("IEND", nil))
	return b.Bytes()
}

// resizedJPEG encodes a small JPEG and rewrites its frame header (SOF0) to
// declare w x h pixels.
func resizedJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, fixture(16, 16), nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker in the encoded JPEG")
	}
	// FFC0, length (2), precision (1), height (2), width (2).
	binary.BigEndian.PutUint16(b[i+5:], uint16(h))
	binary.BigEndian.PutUint16(b[i+7:], uint16(w))
	return b
}

// resizedBMP encodes a small BMP and rewrites its header to declare w x h
// pixels.
func resizedBMP(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bmp.Encode(&buf, fixture(4, 4)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint32(b[18:], uint32(w))
	binary.LittleEndian.PutUint32(b[22:], uint32(h))
	return b
}

// TestHugeHeaderRefused checks that an image whose header declares
// 50000 x 50000 pixels is refused from its header, by every decoding entry
// point, with an error naming the file and the declared size, without
// allocating the image.
func TestHugeHeaderRefused(t *testing.T) {
	dir := t.TempDir()
	files := []struct {
		name string
		data []byte
	}{
		{"huge.png", hugePNG(50000, 50000)},
		{"huge.jpg", resizedJPEG(t, 50000, 50000)},
		{"huge.bmp", resizedBMP(t, 50000, 50000)},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		decoders := []struct {
			name   string
			decode func() error
		}{
			{"DecodeFile", func() error { _, err := DecodeFile(path); return err }},
			{"DecodeBytes", func() error { _, err := DecodeBytes(path, f.data); return err }},
			{"Decode", func() error { _, _, err := Decode(bytes.NewReader(f.data)); return err }},
			{"DecodeImage", func() error { _, _, err := DecodeImage(bytes.NewReader(f.data)); return err }},
		}
		for _, d := range decoders {
			t.Run(f.name+"/"+d.name, func(t *testing.T) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				err := d.decode()
				runtime.ReadMemStats(&after)
				var tl *TooLargeError
				if !errors.As(err, &tl) {
					t.Fatalf("error %v, want a *TooLargeError", err)
				}
				if tl.Width != 50000 || tl.Height != 50000 || tl.Max != DefaultMaxPixels {
					t.Errorf("error fields %+v", *tl)
				}
				msg := err.Error()
				for _, want := range []string{"50000x50000", "2500 megapixels", "limit of 100 megapixels"} {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q lacks %q", msg, want)
					}
				}
				if d.name != "Decode" && d.name != "DecodeImage" && !strings.Contains(msg, path) {
					t.Errorf("error %q does not name %s", msg, path)
				}
				if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
					t.Errorf("allocated %d bytes refusing the image", n)
				}
			})
		}
	}
}

// TestMaxPixelsLimit checks SetMaxPixels: images at the limit decode, one
// pixel more is refused, and n <= 0 restores the default.
func TestMaxPixelsLimit(t *testing.T) {
	defer SetMaxPixels(0)
	if got := SetMaxPixels(20); got != DefaultMaxPixels {
		t.Errorf("SetMaxPixels returned %d, want the default %d", got, DefaultMaxPixels)
	}
	cases := []struct {
		w, h    int
		refused bool
	}{
		{5, 4, false},
		{4, 5, false},
		{1, 20, false},
		{3, 7, true},
		{21, 1, true},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := png.Encode(&buf, fixture(c.w, c.h)); err != nil {
			t.Fatal(err)
		}
		_, err := DecodeBytes("small.png", buf.Bytes())
		var tl *TooLargeError
		if refused := errors.As(err, &tl); refused != c.refused || (!c.refused && err != nil) {
			t.Errorf("%dx%d with limit 20: error %v, want refused=%v", c.w, c.h, err, c.refused)
		}
		if c.refused && !strings.Contains(err.Error(), "limit of 20 pixels") {
			t.Errorf("%dx%d: error %q does not give the limit", c.w, c.h, err)
		}
	}
	if got := SetMaxPixels(-1); got != 20 || MaxPixels() != DefaultMaxPixels {
		t.Errorf("SetMaxPixels(-1) returned %d and left the limit at %d", got, MaxPixels())
	}
}

// TestDecodeReplaysHeader decodes through readers that return a few bytes
// at a time, so the header check and the decode share one pass over an
// unseekable stream.
func TestDecodeReplaysHeader(t *testing.T) {
	src := fixture(13, 9)
	for _, enc := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return png.Encode(b, src) },
		func(b *bytes.Buffer) error { return bmp.Encode(b, src) },
		func(b *bytes.Buffer) error { return jpeg.Encode(b, src, &jpeg.Options{Quality: 100}) },
	} {
		var buf bytes.Buffer
		if err := enc(&buf); err != nil {
			t.Fatal(err)
		}
		want, _, err := Decode(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := Decode(iotest.OneByteReader(bytes.NewReader(buf.Bytes())))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Pix, want.Pix) {
			t.Error("decoding byte by byte changed the pixels")
		}
	}
}
