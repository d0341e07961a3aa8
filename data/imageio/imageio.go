// Package imageio decodes JPEG, PNG and BMP files into a plain 8-bit RGB
// raster and encodes such rasters as PNG or JPEG.
//
// Decoding converts the standard library's image types with dedicated loops
// (no per-pixel interface calls) for the common cases: *image.YCbCr (JPEG),
// *image.NRGBA and *image.RGBA (PNG, BMP), *image.Gray and *image.Paletted.
// Other types fall back to the generic image.Image interface.
//
// Every decoder reads the image's header first and refuses, before
// allocating or decoding any pixel, an image that declares more pixels than
// the limit (DefaultMaxPixels unless SetMaxPixels changed it): a small file
// can declare a size whose decoding would exhaust memory.
package imageio

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"sync/atomic"

	// Registers the BMP decoder with image.Decode.
	_ "golang.org/x/image/bmp"
)

// RGB is an 8-bit RGB raster: Pix holds W*H*3 bytes, row-major, R G B per
// pixel, no padding between rows.
type RGB struct {
	// W and H are the width and height in pixels.
	W, H int
	// Pix are the samples, index (y*W+x)*3+c.
	Pix []uint8
}

// NewRGB returns a black w x h raster.
func NewRGB(w, h int) *RGB {
	return &RGB{W: w, H: h, Pix: make([]uint8, w*h*3)}
}

// At returns the R, G, B samples of pixel (x, y).
func (m *RGB) At(x, y int) (r, g, b uint8) {
	i := (y*m.W + x) * 3
	return m.Pix[i], m.Pix[i+1], m.Pix[i+2]
}

// Set sets pixel (x, y).
func (m *RGB) Set(x, y int, r, g, b uint8) {
	i := (y*m.W + x) * 3
	m.Pix[i], m.Pix[i+1], m.Pix[i+2] = r, g, b
}

// ToNRGBA converts the raster to an opaque *image.NRGBA.
func (m *RGB) ToNRGBA() *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
	n := m.W * m.H
	for i := 0; i < n; i++ {
		out.Pix[i*4] = m.Pix[i*3]
		out.Pix[i*4+1] = m.Pix[i*3+1]
		out.Pix[i*4+2] = m.Pix[i*3+2]
		out.Pix[i*4+3] = 255
	}
	return out
}

// DefaultMaxPixels is the largest image, in pixels (width x height), that
// the decoders accept unless SetMaxPixels sets another limit: 100
// megapixels, 10000 x 10000. Decoding such an image takes about 300 MB for
// the RGB raster plus up to 400 MB for the decoder's own image.
const DefaultMaxPixels int64 = 100_000_000

// maxPixels holds the limit set by SetMaxPixels; 0 means DefaultMaxPixels.
var maxPixels atomic.Int64

// SetMaxPixels sets the largest image, in pixels (width x height), that
// every decoder of this package accepts, and returns the previous limit;
// n <= 0 restores DefaultMaxPixels. The limit is process-wide because it
// bounds the memory of the whole program (every data loader worker,
// prediction and check decodes through this package): the command line sets
// it once from its --max-pixels flag before any image is read. It is safe
// to call concurrently with decoding; a decode already past its header
// check keeps the limit it saw.
func SetMaxPixels(n int64) (previous int64) {
	if n < 0 {
		n = 0
	}
	previous = maxPixels.Swap(n)
	if previous == 0 {
		previous = DefaultMaxPixels
	}
	return previous
}

// MaxPixels returns the current limit (see SetMaxPixels).
func MaxPixels() int64 {
	if n := maxPixels.Load(); n > 0 {
		return n
	}
	return DefaultMaxPixels
}

// TooLargeError is the error for an image whose header declares more
// pixels than the limit; no pixel has been decoded when it is returned.
type TooLargeError struct {
	// Format is the image format ("jpeg", "png", "bmp").
	Format string
	// Width and Height are the size the header declares.
	Width, Height int
	// Max is the limit in pixels.
	Max int64
}

// Error says the declared size and the limit.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s header declares %dx%d pixels (%s), more than the limit of %s; refused before decoding",
		e.Format, e.Width, e.Height, pixelCount(int64(e.Width)*int64(e.Height)), pixelCount(e.Max))
}

// pixelCount writes n pixels in megapixels when that is at least one.
func pixelCount(n int64) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%.4g megapixels", float64(n)/1e6)
	}
	return fmt.Sprintf("%d pixels", n)
}

// checkHeader reads the image header from r and returns its format, or an
// error when the header is unreadable, declares an empty image or more
// pixels than MaxPixels.
func checkHeader(r io.Reader) (string, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return format, fmt.Errorf("decode: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return format, fmt.Errorf("decode %s: empty image (%dx%d)", format, cfg.Width, cfg.Height)
	}
	if max := MaxPixels(); int64(cfg.Width)*int64(cfg.Height) > max {
		return format, &TooLargeError{Format: format, Width: cfg.Width, Height: cfg.Height, Max: max}
	}
	return format, nil
}

// DecodeFile reads and decodes the image file at path (JPEG, PNG or BMP,
// recognised by content), after checking its header against MaxPixels.
// Errors name the file.
func DecodeFile(path string) (*RGB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	defer f.Close()
	m, _, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return m, nil
}

// DecodeBytes decodes an encoded image held in memory, after checking its
// header against MaxPixels; name is used in error messages.
func DecodeBytes(name string, b []byte) (*RGB, error) {
	m, _, err := Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	return m, nil
}

// Decode decodes a JPEG, PNG or BMP stream into RGB, after checking its
// header against MaxPixels, and returns the format name ("jpeg", "png",
// "bmp").
func Decode(r io.Reader) (*RGB, string, error) {
	img, format, err := DecodeImage(r)
	if err != nil {
		return nil, format, err
	}
	return FromImage(img), format, nil
}

// DecodeImage decodes a JPEG, PNG or BMP stream, after checking its header
// against MaxPixels, into the standard library's image type for the format
// (without converting it to RGB), and returns the format name. An image
// over the limit is refused with a *TooLargeError before any pixel memory is
// allocated.
func DecodeImage(r io.Reader) (image.Image, string, error) {
	// The stream is read once: the bytes the header check consumed are kept
	// and replayed to the full decode, so r need not be seekable and cannot
	// change between the check and the decode.
	var head bytes.Buffer
	if format, err := checkHeader(io.TeeReader(r, &head)); err != nil {
		return nil, format, err
	}
	return decodeImage(bufio.NewReaderSize(io.MultiReader(&head, r), 64<<10))
}

// decodeImage decodes r in full (its header already checked).
func decodeImage(r io.Reader) (image.Image, string, error) {
	img, format, err := image.Decode(r)
	if err != nil {
		return nil, format, fmt.Errorf("decode: %w", err)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, format, fmt.Errorf("decode %s: empty image (%dx%d)", format, b.Dx(), b.Dy())
	}
	return img, format, nil
}

// FromImage converts any image.Image to RGB. Alpha is dropped (colours are
// un-premultiplied where the source stores premultiplied values).
func FromImage(img image.Image) *RGB {
	b := img.Bounds()
	out := NewRGB(b.Dx(), b.Dy())
	switch m := img.(type) {
	case *image.YCbCr:
		fromYCbCr(out, m)
	case *image.NRGBA:
		fromNRGBA(out, m)
	case *image.RGBA:
		fromRGBA(out, m)
	case *image.Gray:
		fromGray(out, m)
	case *image.Paletted:
		fromPaletted(out, m)
	default:
		fromGeneric(out, img)
	}
	return out
}

// clampFix converts a 16.16 fixed-point value to a byte with saturation,
// exactly as image/color.YCbCrToRGB does.
func clampFix(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

func fromYCbCr(out *RGB, m *image.YCbCr) {
	b := m.Rect
	// Chroma subsampling as right shifts of x and y.
	var sx, sy uint
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		sx = 1
	case image.YCbCrSubsampleRatio420:
		sx, sy = 1, 1
	case image.YCbCrSubsampleRatio440:
		sy = 1
	case image.YCbCrSubsampleRatio411:
		sx = 2
	case image.YCbCrSubsampleRatio410:
		sx, sy = 2, 1
	}
	w := b.Dx()
	cx0 := b.Min.X >> sx
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yrow := m.Y[(y-b.Min.Y)*m.YStride : (y-b.Min.Y)*m.YStride+w]
		crow := ((y >> sy) - (b.Min.Y >> sy)) * m.CStride
		dst := out.Pix[(y-b.Min.Y)*w*3 : (y-b.Min.Y+1)*w*3]
		for i := 0; i < w; i++ {
			x := b.Min.X + i
			ci := crow + (x >> sx) - cx0
			yy1 := int32(yrow[i]) * 0x10101
			cb1 := int32(m.Cb[ci]) - 128
			cr1 := int32(m.Cr[ci]) - 128
			d := dst[i*3 : i*3+3 : i*3+3]
			d[0] = clampFix(yy1 + 91881*cr1)
			d[1] = clampFix(yy1 - 22554*cb1 - 46802*cr1)
			d[2] = clampFix(yy1 + 116130*cb1)
		}
	}
}

func fromNRGBA(out *RGB, m *image.NRGBA) {
	b := m.Rect
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		src := m.Pix[y*m.Stride : y*m.Stride+w*4]
		dst := out.Pix[y*w*3 : (y+1)*w*3]
		for i := 0; i < w; i++ {
			dst[i*3] = src[i*4]
			dst[i*3+1] = src[i*4+1]
			dst[i*3+2] = src[i*4+2]
		}
	}
}

func unpremul(c, a uint8) uint8 {
	if a == 255 || a == 0 {
		return c
	}
	v := (uint32(c)*255 + uint32(a)/2) / uint32(a)
	if v > 255 {
		v = 255
	}
	return uint8(v)
}

func fromRGBA(out *RGB, m *image.RGBA) {
	b := m.Rect
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		src := m.Pix[y*m.Stride : y*m.Stride+w*4]
		dst := out.Pix[y*w*3 : (y+1)*w*3]
		for i := 0; i < w; i++ {
			a := src[i*4+3]
			if a == 255 {
				dst[i*3] = src[i*4]
				dst[i*3+1] = src[i*4+1]
				dst[i*3+2] = src[i*4+2]
				continue
			}
			dst[i*3] = unpremul(src[i*4], a)
			dst[i*3+1] = unpremul(src[i*4+1], a)
			dst[i*3+2] = unpremul(src[i*4+2], a)
		}
	}
}

func fromGray(out *RGB, m *image.Gray) {
	b := m.Rect
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		src := m.Pix[y*m.Stride : y*m.Stride+w]
		dst := out.Pix[y*w*3 : (y+1)*w*3]
		for i, v := range src {
			dst[i*3], dst[i*3+1], dst[i*3+2] = v, v, v
		}
	}
}

func fromPaletted(out *RGB, m *image.Paletted) {
	// Resolve the palette once.
	var pal [256][3]uint8
	for i, c := range m.Palette {
		if i >= 256 {
			break
		}
		nc := color.NRGBAModel.Convert(c).(color.NRGBA)
		pal[i] = [3]uint8{nc.R, nc.G, nc.B}
	}
	b := m.Rect
	w := b.Dx()
	for y := 0; y < b.Dy(); y++ {
		src := m.Pix[y*m.Stride : y*m.Stride+w]
		dst := out.Pix[y*w*3 : (y+1)*w*3]
		for i, v := range src {
			p := pal[v]
			dst[i*3], dst[i*3+1], dst[i*3+2] = p[0], p[1], p[2]
		}
	}
}

func fromGeneric(out *RGB, img image.Image) {
	b := img.Bounds()
	w := b.Dx()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		dst := out.Pix[(y-b.Min.Y)*w*3 : (y-b.Min.Y+1)*w*3]
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			i := (x - b.Min.X) * 3
			dst[i], dst[i+1], dst[i+2] = c.R, c.G, c.B
		}
	}
}

// EncodePNG writes m as a PNG (8-bit RGB, no alpha) with the given
// compression level.
func EncodePNG(w io.Writer, m *RGB, level png.CompressionLevel) error {
	enc := png.Encoder{CompressionLevel: level}
	if err := enc.Encode(w, m.ToNRGBA()); err != nil {
		return fmt.Errorf("encode png: %w", err)
	}
	return nil
}

// EncodeJPEG writes m as a baseline JPEG with the given quality (1..100).
func EncodeJPEG(w io.Writer, m *RGB, quality int) error {
	if err := jpeg.Encode(w, m.ToNRGBA(), &jpeg.Options{Quality: quality}); err != nil {
		return fmt.Errorf("encode jpeg: %w", err)
	}
	return nil
}

// WritePNG encodes m as a PNG file at path (default compression).
func WritePNG(path string, m *RGB) error {
	return writeFile(path, func(w io.Writer) error { return EncodePNG(w, m, png.DefaultCompression) })
}

// WriteJPEG encodes m as a JPEG file at path.
func WriteJPEG(path string, m *RGB, quality int) error {
	return writeFile(path, func(w io.Writer) error { return EncodeJPEG(w, m, quality) })
}

func writeFile(path string, enc func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := enc(bw); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
