package draw

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"path/filepath"
	"strings"

	"github.com/ghmdet/ghmdet/internal/atomicfile"
	xdraw "golang.org/x/image/draw"
)

// JPEGQuality is the quality SaveJPEG encodes with.
const JPEGQuality = 92

// SavePNG writes img to path as PNG, atomically (a temporary file in the same
// folder renamed when complete). Errors name path.
func SavePNG(path string, img image.Image) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return png.Encode(w, img)
	})
}

// SaveJPEG writes img to path as JPEG (quality JPEGQuality), atomically.
// Errors name path.
func SaveJPEG(path string, img image.Image) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return jpeg.Encode(w, img, &jpeg.Options{Quality: JPEGQuality})
	})
}

// Save writes img with SavePNG or SaveJPEG according to the extension of path
// (.png, .jpg, .jpeg; case-insensitive).
func Save(path string, img image.Image) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return SavePNG(path, img)
	case ".jpg", ".jpeg":
		return SaveJPEG(path, img)
	}
	return fmt.Errorf("writing %s: unknown image format (want .png, .jpg or .jpeg)", path)
}

// mosaicBackground fills the space around images in a mosaic.
var mosaicBackground = color.RGBA{0x72, 0x72, 0x72, 0xff}

// Mosaic lays imgs out on a grid of cols columns (0 picks a near-square grid)
// with cells of cell x cell pixels: each image is scaled (bilinear) to fit its
// cell, keeping its aspect ratio, and centred on a grey background, with a
// 2-pixel gap between cells. It returns nil when imgs is empty or cell < 1;
// nil images leave their cell empty.
func Mosaic(imgs []image.Image, cols, cell int) *image.RGBA {
	if len(imgs) == 0 || cell < 1 {
		return nil
	}
	if cols <= 0 {
		cols = 1
		for cols*cols < len(imgs) {
			cols++
		}
	}
	cols = min(cols, len(imgs))
	rows := (len(imgs) + cols - 1) / cols
	const gap = 2
	dst := image.NewRGBA(image.Rect(0, 0, cols*cell+(cols-1)*gap, rows*cell+(rows-1)*gap))
	xdraw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, xdraw.Src)
	for i, img := range imgs {
		x0 := (i % cols) * (cell + gap)
		y0 := (i / cols) * (cell + gap)
		cellR := image.Rect(x0, y0, x0+cell, y0+cell)
		xdraw.Draw(dst, cellR, image.NewUniform(mosaicBackground), image.Point{}, xdraw.Src)
		if img == nil {
			continue
		}
		b := img.Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 {
			continue
		}
		scale := min(float64(cell)/float64(b.Dx()), float64(cell)/float64(b.Dy()))
		w := max(1, int(float64(b.Dx())*scale+0.5))
		h := max(1, int(float64(b.Dy())*scale+0.5))
		ox, oy := x0+(cell-w)/2, y0+(cell-h)/2
		xdraw.BiLinear.Scale(dst, image.Rect(ox, oy, ox+w, oy+h), img, b, xdraw.Src, nil)
	}
	return dst
}
