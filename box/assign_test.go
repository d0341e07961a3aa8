package box

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// refAssign is a direct transcription of the documented rules on an explicit
// IoU matrix (mmdetection's MaxIoUAssigner.assign_wrt_overlaps plus the
// package's ignore-region rule), used to check the two-pass implementation.
func refAssign(anchors, gts []Box, ignore []bool, cfg AssignConfig) ([]int32, int) {
	N := len(anchors)
	var gtIdx []int
	var igBoxes []Box
	dropped := 0
	for i, b := range gts {
		switch {
		case !b.Valid():
			dropped++
		case ignore != nil && ignore[i]:
			igBoxes = append(igBoxes, b)
		default:
			gtIdx = append(gtIdx, i)
		}
	}
	inIg := make([]bool, N)
	if cfg.IgnoreIoF > 0 {
		for j, a := range anchors {
			for _, g := range igBoxes {
				if IoF(a, g) > cfg.IgnoreIoF {
					inIg[j] = true
				}
			}
		}
	}
	ov := make([][]float32, len(gtIdx)) // [gt][anchor], -1 where ignored first
	for i, gi := range gtIdx {
		ov[i] = make([]float32, N)
		for j, a := range anchors {
			ov[i][j] = IoU(gts[gi], a)
			if cfg.IgnoreFirst && inIg[j] {
				ov[i][j] = -1
			}
		}
	}
	labels := make([]int32, N)
	for j := range anchors {
		best, arg := float32(-1), -1
		for i := range gtIdx {
			if ov[i][j] > best {
				best, arg = ov[i][j], i
			}
		}
		switch {
		case cfg.IgnoreFirst && inIg[j]:
			labels[j] = Ignored
		case len(gtIdx) == 0:
			labels[j] = Negative
		case best >= cfg.PosIoU:
			labels[j] = int32(gtIdx[arg])
		case best >= 0 && best < cfg.NegIoU:
			labels[j] = Negative
		default:
			labels[j] = Ignored
		}
	}
	if cfg.LowQualityMatches {
		for i := range gtIdx {
			gmax, garg := float32(-1), -1
			for j := range anchors {
				if ov[i][j] > gmax {
					gmax, garg = ov[i][j], j
				}
			}
			if !(gmax > 0) || gmax < cfg.MinPosIoU {
				continue
			}
			if !cfg.AllTiedLowQuality {
				labels[garg] = int32(gtIdx[i])
				continue
			}
			for j := range anchors {
				if ov[i][j] == gmax {
					labels[j] = int32(gtIdx[i])
				}
			}
		}
	}
	if !cfg.IgnoreFirst {
		for j := range anchors {
			if inIg[j] && labels[j] == Negative {
				labels[j] = Ignored
			}
		}
	}
	return labels, dropped
}

func TestAssignHandCases(t *testing.T) { forEachKernel(t, testAssignHandCases) }

func testAssignHandCases(t *testing.T) {
	def := DefaultAssignConfig()
	with := func(f func(c *AssignConfig)) AssignConfig {
		c := def
		f(&c)
		return c
	}
	far := Box{500, 500, 510, 510}
	N, I := Negative, Ignored
	tests := []struct {
		name        string
		anchors     []Box
		gts         []Box
		ignore      []bool
		cfg         AssignConfig
		want        []int32
		wantDropped int
	}{
		{
			name:    "thresholds and the 0.4-0.5 band",
			gts:     []Box{{0, 0, 10, 10}},
			anchors: []Box{{0, 0, 10, 10}, {0, 0, 10, 20}, {0, 0, 10, 22.5}, {0, 0, 10, 25}, {0, 0, 10, 30}, far},
			// IoU 1, 0.5 (positive), 0.444 (ignored), 0.4 (ignored: < 0.4 is negative), 0.333, 0.
			cfg:  def,
			want: []int32{0, 0, I, I, N, N},
		},
		{
			name:    "low-quality matches: all anchors tied at the best IoU",
			gts:     []Box{{0, 0, 10, 10}},
			anchors: []Box{far, {5, 0, 15, 10}, {0, 5, 10, 15}, {0, 0, 10, 30}},
			// IoU 0, 1/3, 1/3, 1/3 (tied)
			cfg:  def,
			want: []int32{N, 0, 0, 0},
		},
		{
			name:    "low-quality matches: first tied anchor only",
			gts:     []Box{{0, 0, 10, 10}},
			anchors: []Box{far, {5, 0, 15, 10}, {0, 5, 10, 15}},
			cfg:     with(func(c *AssignConfig) { c.AllTiedLowQuality = false }),
			want:    []int32{N, 0, N},
		},
		{
			name:    "low-quality matches disabled",
			gts:     []Box{{0, 0, 10, 10}},
			anchors: []Box{far, {5, 0, 15, 10}, {0, 5, 10, 15}},
			cfg:     with(func(c *AssignConfig) { c.LowQualityMatches = false }),
			want:    []int32{N, N, N},
		},
		{
			name:    "low-quality below MinPosIoU",
			gts:     []Box{{0, 0, 10, 10}},
			anchors: []Box{far, {5, 0, 15, 10}},
			cfg:     with(func(c *AssignConfig) { c.MinPosIoU = 0.35 }),
			want:    []int32{N, N},
		},
		{
			name:    "ground truth overlapping no anchor gets no match",
			gts:     []Box{{100, 100, 110, 110}},
			anchors: []Box{{0, 0, 10, 10}, far},
			cfg:     def,
			want:    []int32{N, N},
		},
		{
			name: "tie between ground truths: the first wins",
			gts:  []Box{{0, 0, 10, 20}, {0, 0, 20, 10}},
			// anchor 0 has IoU 0.5 with both; anchors 1 and 2 are each gt's best.
			anchors: []Box{{0, 0, 10, 10}, {0, 0, 10, 20}, {0, 0, 20, 10}},
			cfg:     def,
			want:    []int32{0, 0, 1},
		},
		{
			name: "low-quality match overrides a threshold match (later gt wins)",
			gts:  []Box{{0, 0, 10, 10}, {-20, 0, 1, 6}},
			// anchor 1 has IoU 0.6 with gt 0 and is gt 1's best anchor (1/30).
			anchors: []Box{{0, 0, 10, 10}, {0, 0, 10, 6}, far},
			cfg:     def,
			want:    []int32{0, 1, N},
		},
		{
			name: "one anchor is the best of two ground truths: the later gt wins",
			gts:  []Box{{0, 0, 10, 30}, {0, 0, 30, 10}},
			// anchor 0 has IoU 1/3 with both (mmdetection's loop over gts
			// overwrites).
			anchors: []Box{{0, 0, 10, 10}, far},
			cfg:     def,
			want:    []int32{1, N},
		},
		{
			name:    "crowd region: ignored anchors, never positive",
			gts:     []Box{{0, 0, 100, 100}},
			ignore:  []bool{true},
			anchors: []Box{{10, 10, 30, 30}, {0, 0, 100, 100}, {90, 0, 120, 10}, {50, 50, 150, 150}, far, {50, 0, 150, 10}},
			// IoF 1, 1, 1/3, 1/4, 0, 0.5 (not > 0.5)
			cfg:  def,
			want: []int32{I, I, N, N, N, N},
		},
		{
			name:    "crowd region: lower IoF threshold",
			gts:     []Box{{0, 0, 100, 100}},
			ignore:  []bool{true},
			anchors: []Box{{10, 10, 30, 30}, {90, 0, 120, 10}, {50, 50, 150, 150}},
			cfg:     with(func(c *AssignConfig) { c.IgnoreIoF = 0.3 }),
			want:    []int32{I, I, N},
		},
		{
			name:    "crowd region disabled",
			gts:     []Box{{0, 0, 100, 100}},
			ignore:  []bool{true},
			anchors: []Box{{10, 10, 30, 30}},
			cfg:     with(func(c *AssignConfig) { c.IgnoreIoF = -1 }),
			want:    []int32{N},
		},
		{
			name:    "positive inside a crowd region stays positive",
			gts:     []Box{{0, 0, 100, 100}, {10, 10, 30, 30}},
			ignore:  []bool{true, false},
			anchors: []Box{{10, 10, 30, 30}, {60, 60, 80, 80}, far},
			cfg:     def,
			want:    []int32{1, I, N},
		},
		{
			name:    "IgnoreFirst: positive inside a crowd region is ignored",
			gts:     []Box{{0, 0, 100, 100}, {10, 10, 30, 30}},
			ignore:  []bool{true, false},
			anchors: []Box{{10, 10, 30, 30}, {60, 60, 80, 80}, far, {25, 25, 145, 145}},
			// anchor 3 is 39% inside the crowd box, overlaps gt 1 a little
			// (IoU 25/14775) and is its best non-ignored anchor.
			cfg:  with(func(c *AssignConfig) { c.IgnoreFirst = true }),
			want: []int32{I, I, N, 1},
		},
		{
			name:        "degenerate boxes are dropped, indices kept",
			gts:         []Box{{5, 5, 5, 10}, {0, 0, nan32, 10}, {10, 10, 0, 0}, {0, 0, 10, 10}},
			anchors:     []Box{{0, 0, 10, 10}, far},
			cfg:         def,
			want:        []int32{3, N},
			wantDropped: 3,
		},
		{
			name:    "no ground truth",
			anchors: []Box{{0, 0, 10, 10}, far},
			cfg:     def,
			want:    []int32{N, N},
		},
		{
			name:    "degenerate anchor",
			gts:     []Box{{0, 0, 10, 10}},
			anchors: []Box{{0, 0, 0, 10}, {0, 0, 10, 10}},
			cfg:     def,
			want:    []int32{N, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Assign(tc.anchors, tc.gts, tc.ignore, tc.cfg)
			if !slices.Equal(got.Labels, tc.want) {
				t.Errorf("labels %v, want %v (max IoU %v)", got.Labels, tc.want, got.MaxIoU)
			}
			if got.DroppedGT != tc.wantDropped {
				t.Errorf("dropped %d, want %d", got.DroppedGT, tc.wantDropped)
			}
			ref, refDropped := refAssign(tc.anchors, tc.gts, tc.ignore, tc.cfg)
			if !slices.Equal(ref, tc.want) || refDropped != tc.wantDropped {
				t.Errorf("reference assigner gives %v (dropped %d): the hand case is wrong", ref, refDropped)
			}
			pos, neg, ign := countLabels(tc.want)
			if got.NumPos != pos || got.NumNeg != neg || got.NumIgnored != ign {
				t.Errorf("counts %d/%d/%d, want %d/%d/%d", got.NumPos, got.NumNeg, got.NumIgnored, pos, neg, ign)
			}
		})
	}
}

// randomScene returns the anchors of a small image and ground truths some of
// which are copies of anchors or grid-aligned (to create exact ties), some
// crowd regions and some degenerate boxes.
func randomScene(r *rand.Rand, imgSize, nGT int) ([]Box, []Box, []bool, []int) {
	cfg := DefaultAnchorConfig()
	a, err := GenerateAnchors(cfg, imgSize, imgSize)
	if err != nil {
		panic(err)
	}
	gts := make([]Box, nGT)
	ignore := make([]bool, nGT)
	classes := make([]int, nGT)
	for i := range gts {
		switch r.IntN(6) {
		case 0:
			gts[i] = a.Boxes[r.IntN(len(a.Boxes))]
		case 1:
			x, y := float32(8*r.IntN(imgSize/8)), float32(8*r.IntN(imgSize/8))
			gts[i] = Box{x, y, x + float32(8*(1+r.IntN(12))), y + float32(8*(1+r.IntN(12)))}
		case 2:
			gts[i] = Box{3, 3, 3, 40} // degenerate
		default:
			gts[i] = randomBoxes(r, 1, float32(imgSize), float32(imgSize), float32(imgSize)/2, false)[0]
		}
		ignore[i] = r.IntN(8) == 0
		classes[i] = r.IntN(5)
	}
	return a.Boxes, gts, ignore, classes
}

func TestAssignMatchesReference(t *testing.T) { forEachKernel(t, testAssignMatchesReference) }

func testAssignMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cfgs := map[string]AssignConfig{"default": DefaultAssignConfig()}
	c := DefaultAssignConfig()
	c.IgnoreFirst = true
	cfgs["ignore first"] = c
	c = DefaultAssignConfig()
	c.AllTiedLowQuality = false
	cfgs["first tied only"] = c
	c = DefaultAssignConfig()
	c.MinPosIoU = 0.3
	cfgs["min pos iou 0.3"] = c
	for name, cfg := range cfgs {
		for trial := 0; trial < 4; trial++ {
			// 256x256: 12276 anchors, enough to split among goroutines.
			anchors, gts, ignore, _ := randomScene(r, 256, 5+trial*7)
			got := Assign(anchors, gts, ignore, cfg)
			want, wantDropped := refAssign(anchors, gts, ignore, cfg)
			if got.DroppedGT != wantDropped {
				t.Errorf("%s trial %d: dropped %d, want %d", name, trial, got.DroppedGT, wantDropped)
			}
			diff := 0
			for j := range want {
				if got.Labels[j] != want[j] {
					if diff < 5 {
						t.Errorf("%s trial %d: anchor %d %v label %d, want %d", name, trial, j, anchors[j], got.Labels[j], want[j])
					}
					diff++
				}
			}
			if got.NumPos == 0 || got.NumNeg == 0 {
				t.Errorf("%s trial %d: %d positives, %d negatives: the scene checks little", name, trial, got.NumPos, got.NumNeg)
			}
		}
	}
}

func TestAssignMaxIoU(t *testing.T) { forEachKernel(t, testAssignMaxIoU) }

func testAssignMaxIoU(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	anchors, gts, _, _ := randomScene(r, 128, 10)
	got := Assign(anchors, gts, nil, DefaultAssignConfig())
	m := IoUMatrix(anchors, gts)
	for j := range anchors {
		want := float32(0)
		for i := range gts {
			want = max(want, m[j*len(gts)+i])
		}
		if got.MaxIoU[j] != want {
			t.Fatalf("anchor %d: MaxIoU %v, want %v", j, got.MaxIoU[j], want)
		}
	}
}
