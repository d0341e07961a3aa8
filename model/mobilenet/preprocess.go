package mobilenet

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/ghmdet/ghmdet/data/imageio"
)

// InputSize is the image size the pretrained classifier was trained at.
const InputSize = 224

// ResizeBilinear resizes img to w x h with bilinear interpolation (pixel
// centres at half-integers, as TensorFlow's resize with half-pixel centres,
// OpenCV's INTER_LINEAR and torchvision's align_corners=False; samples
// beyond the border repeat the edge pixel) and returns the values on the
// 0..255 scale, [h*w*3] row-major RGB. The aspect ratio is not kept.
func ResizeBilinear(img *imageio.RGB, w, h int) []float32 {
	out := make([]float32, w*h*3)
	if img == nil || img.W < 1 || img.H < 1 || w < 1 || h < 1 {
		return out
	}
	type tap struct {
		i0, i1 int
		f      float32
	}
	axis := func(n, m int) []tap {
		t := make([]tap, m)
		scale := float64(n) / float64(m)
		for i := range t {
			x := (float64(i)+0.5)*scale - 0.5
			x = max(x, 0)
			i0 := min(int(x), n-1)
			i1 := min(i0+1, n-1)
			t[i] = tap{i0, i1, float32(x - float64(i0))}
		}
		return t
	}
	xs, ys := axis(img.W, w), axis(img.H, h)
	for y, ty := range ys {
		r0 := img.Pix[ty.i0*img.W*3:]
		r1 := img.Pix[ty.i1*img.W*3:]
		for x, tx := range xs {
			for c := range 3 {
				a := float32(r0[tx.i0*3+c])*(1-tx.f) + float32(r0[tx.i1*3+c])*tx.f
				b := float32(r1[tx.i0*3+c])*(1-tx.f) + float32(r1[tx.i1*3+c])*tx.f
				out[(y*w+x)*3+c] = a*(1-ty.f) + b*ty.f
			}
		}
	}
	return out
}

// Preprocess turns an RGB image into the network input: resized to
// size x size (ResizeBilinear) and normalised to (v-128)/128. Returns
// [size*size*3] float32, one image of a [B,size,size,3] batch.
func Preprocess(img *imageio.RGB, size int) []float32 {
	pix := ResizeBilinear(img, size, size)
	for i, v := range pix {
		c := i % 3
		pix[i] = (v - InputMean[c]) / InputStd[c]
	}
	return pix
}

// ReadLabels reads a label file with one class name per line (the
// ImageNet labels of the TFLite model: 1001 lines, "background" first).
func ReadLabels(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	defer f.Close()
	var labels []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		labels = append(labels, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("labels %s: %w", path, err)
	}
	// A trailing empty line is not a class.
	for len(labels) > 0 && labels[len(labels)-1] == "" {
		labels = labels[:len(labels)-1]
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("labels %s: no labels", path)
	}
	return labels, nil
}

// TopIndices returns the indices of the k largest scores, largest first (ties by
// lower index).
func TopIndices(scores []float32, k int) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	return idx[:min(k, len(idx))]
}
