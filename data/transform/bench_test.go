package transform

import (
	"testing"

	"github.com/ghmdet/ghmdet/data/imageio"
)

// BenchmarkResize measures the resize-normalise step for a 640x480 image
// into 512x384 and 320x240, with a flip.
func BenchmarkResize(b *testing.B) {
	img := imageio.NewRGB(640, 480)
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	for _, size := range []int{320, 512} {
		tr, err := New(Config{CanvasW: size, CanvasH: size})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(map[int]string{320: "to320", 512: "to512"}[size], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, _, err := tr.Resize(img, Params{Flip: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
