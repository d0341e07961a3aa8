package box

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// atssReference is ATSS written the direct way (sort every level by
// distance, take the first k, mean + unbiased std, centre inside, highest
// IoU wins), for comparison with assignATSS.
func atssReference(anchors Anchors, valid []bool, gts []Box, k int) []int32 {
	labels := make([]int32, len(anchors.Boxes))
	best := make([]float32, len(anchors.Boxes))
	for j := range labels {
		labels[j], best[j] = Negative, -1
		if valid != nil && !valid[j] {
			labels[j] = Padding
		}
	}
	for i, g := range gts {
		gcx, gcy := g.Center()
		var cand []int
		for _, lv := range anchors.Levels {
			var idx []int
			for j := lv.Offset; j < lv.Offset+lv.Count; j++ {
				if valid == nil || valid[j] {
					idx = append(idx, j)
				}
			}
			dist := func(j int) float32 {
				cx, cy := anchors.Boxes[j].Center()
				return (cx-gcx)*(cx-gcx) + (cy-gcy)*(cy-gcy)
			}
			sort.SliceStable(idx, func(a, b int) bool { return dist(idx[a]) < dist(idx[b]) })
			cand = append(cand, idx[:min(k, len(idx))]...)
		}
		var ious []float64
		for _, j := range cand {
			ious = append(ious, float64(IoU(anchors.Boxes[j], g)))
		}
		mean, ss := 0.0, 0.0
		for _, v := range ious {
			mean += v
		}
		mean /= float64(len(ious))
		for _, v := range ious {
			ss += (v - mean) * (v - mean)
		}
		thr := float32(mean + math.Sqrt(ss/float64(len(ious)-1)))
		for c, j := range cand {
			v := float32(ious[c])
			cx, cy := anchors.Boxes[j].Center()
			inside := min(cx-g[0], cy-g[1], g[2]-cx, g[3]-cy) > 0.01
			if v >= thr && v > 0 && inside && v > best[j] {
				best[j], labels[j] = v, int32(i)
			}
		}
	}
	return labels
}

// TestATSSMatchesReference compares the assignment with the direct
// implementation on random images of several sizes, with and without a
// padding mask.
func TestATSSMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cfg := DefaultAssignConfig()
	cfg.Method = AssignATSS
	for trial := 0; trial < 20; trial++ {
		size := []int{128, 256}[trial%2]
		a, err := GenerateAnchors(DefaultAnchorConfig(), size, size)
		if err != nil {
			t.Fatal(err)
		}
		var valid []bool
		if trial%3 == 0 {
			valid = a.ValidMask(nil, size, size*3/4)
		}
		n := 1 + rng.IntN(8)
		gts := make([]Box, n)
		for i := range gts {
			w := 4 + rng.Float32()*float32(size)/2
			h := 4 + rng.Float32()*float32(size)/2
			x := rng.Float32() * (float32(size) - w)
			y := rng.Float32() * (float32(size) - h)
			gts[i] = Box{x, y, x + w, y + h}
		}
		tg, err := BuildTargets(a, valid, gts, make([]int, n), nil, 1, TargetConfig{Assign: cfg, Coder: DefaultCoder()})
		if err != nil {
			t.Fatal(err)
		}
		want := atssReference(a, valid, gts, cfg.TopK)
		pos := 0
		for j, l := range want {
			got := tg.MatchedGT[j]
			wantGot := int32(-1)
			if l >= 0 {
				wantGot = l
				pos++
			}
			if got != wantGot {
				t.Fatalf("trial %d anchor %d: matched %d, want %d", trial, j, got, wantGot)
			}
			if l == Padding && tg.ClassWeights[j] != 0 {
				t.Fatalf("trial %d: padding anchor %d weighted", trial, j)
			}
		}
		if pos != tg.NumPos || tg.NumIgnored != 0 {
			t.Fatalf("trial %d: %d positives (%d ignored), want %d and none ignored", trial, tg.NumPos, tg.NumIgnored, pos)
		}
	}
}

// TestATSSHandCase: one level of 4 x 4 cells of stride 8, one square anchor
// of 16 px per cell centred at (8x, 8y). A 10 x 10 box centred at (12, 12)
// has the 4 anchors centred at (8|16, 8|16) at the smallest distance; with
// k = 4 they are the candidates, all with the same IoU (each covers 36 of
// the box's 100 pixels: 36 / (256+100-36) = 0.1125), so the threshold is
// the mean (std 0) and all four are positive. MaxIoU with low-quality
// matches gives the same four (tied at the best IoU), but no other rule
// would: none reaches 0.5.
func TestATSSHandCase(t *testing.T) {
	var boxes []Box
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			cx, cy := float32(8*x), float32(8*y)
			boxes = append(boxes, Box{cx - 8, cy - 8, cx + 8, cy + 8})
		}
	}
	a := Anchors{Boxes: boxes, Levels: []Level{{Stride: 8, H: 4, W: 4, Offset: 0, Count: 16}}, PerLocation: 1}
	cfg := DefaultAssignConfig()
	cfg.Method, cfg.TopK = AssignATSS, 4
	gts := []Box{{7, 7, 17, 17}}
	tg, err := BuildTargets(a, nil, gts, []int{0}, nil, 1, TargetConfig{Assign: cfg, Coder: DefaultCoder()})
	if err != nil {
		t.Fatal(err)
	}
	var pos []int
	for j, m := range tg.MatchedGT {
		if m == 0 {
			pos = append(pos, j)
		}
	}
	// Cells (1,1), (2,1), (1,2), (2,2).
	if want := []int{5, 6, 9, 10}; !slices.Equal(pos, want) {
		t.Fatalf("positives %v, want %v", pos, want)
	}
	// With k = 9 the 5 farther candidates lower the mean: the four
	// nearest (IoU 0.1125) stay above mean + std.
	cfg.TopK = 9
	tg, err = BuildTargets(a, nil, gts, []int{0}, nil, 1, TargetConfig{Assign: cfg, Coder: DefaultCoder()})
	if err != nil {
		t.Fatal(err)
	}
	if tg.NumPos != 4 {
		t.Fatalf("k=9: %d positives, want 4", tg.NumPos)
	}
}

func TestAssignConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*AssignConfig)
		ok   bool
	}{
		{"default", func(*AssignConfig) {}, true},
		{"atss", func(c *AssignConfig) { c.Method = AssignATSS }, true},
		{"unknown method", func(c *AssignConfig) { c.Method = "hungarian" }, false},
		{"atss topk 0", func(c *AssignConfig) { c.Method, c.TopK = AssignATSS, 0 }, false},
		{"neg above pos", func(c *AssignConfig) { c.NegIoU = 0.6 }, false},
	}
	for _, c := range cases {
		cfg := DefaultAssignConfig()
		c.mod(&cfg)
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
