package box

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// benchGTs returns n ground truths of varied sizes in a w x h image.
func benchGTs(r *rand.Rand, n int, w, h float32) []Box {
	out := make([]Box, n)
	for i := range out {
		bw := 8 + r.Float32()*w/3
		bh := 8 + r.Float32()*h/3
		x, y := r.Float32()*(w-bw), r.Float32()*(h-bh)
		out[i] = Box{x, y, x + bw, y + bh}
	}
	return out
}

// BenchmarkIoUMatrix: 100k anchors (of an 800x1088 image, truncated) x 100
// ground truths.
func BenchmarkIoUMatrix(b *testing.B) {
	a, err := GenerateAnchors(DefaultAnchorConfig(), 800, 1088)
	if err != nil {
		b.Fatal(err)
	}
	anchors := a.Boxes[:100_000]
	gts := benchGTs(rand.New(rand.NewPCG(1, 1)), 100, 1088, 800)
	dst := make([]float32, len(anchors)*len(gts))
	IoUMatrixInto(dst, anchors, gts) // touch the memory outside the timing
	b.ResetTimer()
	for b.Loop() {
		IoUMatrixInto(dst, anchors, gts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(dst)), "ns/pair")
}

// BenchmarkBuildTargets: the anchors of a 512x512 image (49104) x 50 ground
// truths, with C classes, writing into reused buffers.
func BenchmarkBuildTargets(b *testing.B) {
	a, err := GenerateAnchors(DefaultAnchorConfig(), 512, 512)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	gts := benchGTs(r, 50, 512, 512)
	ignore := make([]bool, len(gts))
	ignore[0] = true
	for _, C := range []int{3, 80} {
		classes := make([]int, len(gts))
		for i := range classes {
			classes[i] = r.IntN(C)
		}
		b.Run(fmt.Sprintf("classes=%d", C), func(b *testing.B) {
			var t Targets
			cfg := DefaultTargetConfig()
			// Allocate the buffers outside the timing: training reuses them.
			if err := BuildTargetsInto(&t, a, nil, gts, classes, ignore, C, cfg); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := BuildTargetsInto(&t, a, nil, gts, classes, ignore, C, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(t.NumPos), "positives")
		})
	}
}

// BenchmarkPostProcess: the outputs of a 512x512 image with 80 classes;
// probabilities p = u^8 (u uniform: about 69% of pairs below the 0.05
// threshold, so every level fills its top 1000).
func BenchmarkPostProcess(b *testing.B) {
	a, err := GenerateAnchors(DefaultAnchorConfig(), 512, 512)
	if err != nil {
		b.Fatal(err)
	}
	const C = 80
	r := rand.New(rand.NewPCG(3, 3))
	probs, deltas := outputs(a, C, 0)
	for l := range probs {
		for i := range probs[l] {
			probs[l][i] = float32(math.Pow(r.Float64(), 8))
		}
		for i := range deltas[l] {
			deltas[l][i] = float32(r.NormFloat64() * 0.2)
		}
	}
	cfg := DefaultPostProcessConfig()
	var n int
	for b.Loop() {
		d, err := PostProcess(a, probs, deltas, C, 512, 512, DefaultCoder(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		n = len(d)
	}
	b.ReportMetric(float64(n), "detections")
}
