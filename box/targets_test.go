package box

import (
	"math"
	"math/rand/v2"
	"testing"
)

// checkTargets verifies t against the assignment a of the same inputs.
func checkTargets(t *testing.T, tg Targets, a Assignment, anchors, gts []Box, classes []int, C int, coder Coder) {
	t.Helper()
	N := len(anchors)
	if len(tg.ClassTargets) != N*C || len(tg.ClassWeights) != N || len(tg.BoxTargets) != 4*N || len(tg.BoxWeights) != 4*N || len(tg.MatchedGT) != N {
		t.Fatalf("wrong lengths")
	}
	if tg.NumPos != a.NumPos || tg.NumNeg != a.NumNeg || tg.NumIgnored != a.NumIgnored || tg.DroppedGT != a.DroppedGT {
		t.Errorf("counts %d/%d/%d/%d, assignment %d/%d/%d/%d", tg.NumPos, tg.NumNeg, tg.NumIgnored, tg.DroppedGT, a.NumPos, a.NumNeg, a.NumIgnored, a.DroppedGT)
	}
	var ones, wsum float64
	for j := 0; j < N; j++ {
		l := a.Labels[j]
		row := tg.ClassTargets[j*C : (j+1)*C]
		bt, bw := tg.BoxTargets[4*j:4*j+4], tg.BoxWeights[4*j:4*j+4]
		for _, v := range row {
			ones += float64(v)
		}
		wsum += float64(tg.ClassWeights[j])
		if tg.MaxIoU[j] != a.MaxIoU[j] {
			t.Fatalf("anchor %d: MaxIoU %v vs %v", j, tg.MaxIoU[j], a.MaxIoU[j])
		}
		switch {
		case l >= 0:
			if tg.MatchedGT[j] != l || tg.ClassWeights[j] != 1 {
				t.Fatalf("positive anchor %d: matched %d weight %v, want %d, 1", j, tg.MatchedGT[j], tg.ClassWeights[j], l)
			}
			for c, v := range row {
				want := float32(0)
				if c == classes[l] {
					want = 1
				}
				if v != want {
					t.Fatalf("positive anchor %d: class row %v, class %d", j, row, classes[l])
				}
			}
			d := coder.Encode(anchors[j], gts[l])
			for k := 0; k < 4; k++ {
				if bt[k] != d[k] || bw[k] != 1 {
					t.Fatalf("positive anchor %d: box targets %v weights %v, want %v, 1", j, bt, bw, d)
				}
			}
		default:
			wantW := float32(1)
			if l == Ignored {
				wantW = 0
			}
			if tg.MatchedGT[j] != -1 || tg.ClassWeights[j] != wantW {
				t.Fatalf("anchor %d (label %d): matched %d weight %v", j, l, tg.MatchedGT[j], tg.ClassWeights[j])
			}
			for k := 0; k < 4; k++ {
				if bt[k] != 0 || bw[k] != 0 {
					t.Fatalf("anchor %d (label %d): box targets %v weights %v, want 0", j, l, bt, bw)
				}
			}
			for _, v := range row {
				if v != 0 {
					t.Fatalf("anchor %d (label %d): class row %v, want zeros", j, l, row)
				}
			}
		}
	}
	if int(ones) != a.NumPos || int(wsum) != a.NumPos+a.NumNeg {
		t.Errorf("sum of class targets %v, of weights %v; want %d, %d", ones, wsum, a.NumPos, a.NumPos+a.NumNeg)
	}
}

func TestBuildTargetsConsistentWithAssign(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	cfg := DefaultTargetConfig()
	cfg.Coder.Stds = [4]float32{0.1, 0.1, 0.2, 0.2}
	for trial := 0; trial < 3; trial++ {
		anchors, gts, ignore, classes := randomScene(r, 256, 8+10*trial)
		// An ignore region may carry any class: it is not used.
		for i := range classes {
			if ignore[i] {
				classes[i] = -7
			}
		}
		const C = 5
		tg, err := BuildTargets(Anchors{Boxes: anchors}, nil, gts, classes, ignore, C, cfg)
		if err != nil {
			t.Fatal(err)
		}
		a := Assign(anchors, gts, ignore, cfg.Assign)
		if a.NumPos == 0 || a.NumIgnored == 0 {
			t.Fatalf("trial %d: %d positives, %d ignored: the scene checks little", trial, a.NumPos, a.NumIgnored)
		}
		checkTargets(t, tg, a, anchors, gts, classes, C, cfg.Coder)
	}
}

func TestBuildTargetsIntoReusesBuffers(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	anchors, gts, ignore, classes := randomScene(r, 128, 12)
	const C = 5
	N := len(anchors)
	cfg := DefaultTargetConfig()
	// A batch of 2 images: write image 1 in place, image 0's region must stay untouched.
	nan := float32(math.NaN())
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = nan
		}
		return s
	}
	cls, cw, bt, bw := fill(2*N*C), fill(2*N), fill(2*N*4), fill(2*N*4)
	dst := Targets{
		ClassTargets: cls[N*C:],
		ClassWeights: cw[N:],
		BoxTargets:   bt[4*N:],
		BoxWeights:   bw[4*N:],
		MatchedGT:    make([]int32, N),
	}
	for i := range dst.MatchedGT {
		dst.MatchedGT[i] = 99
	}
	if err := BuildTargetsInto(&dst, Anchors{Boxes: anchors}, nil, gts, classes, ignore, C, cfg); err != nil {
		t.Fatal(err)
	}
	if &dst.ClassTargets[0] != &cls[N*C] || &dst.BoxWeights[0] != &bw[4*N] {
		t.Fatalf("buffers were not reused")
	}
	for _, s := range [][]float32{cls[:N*C], cw[:N], bt[:4*N], bw[:4*N]} {
		for _, v := range s {
			if v == v {
				t.Fatalf("the other image's region was written")
			}
		}
	}
	checkTargets(t, dst, Assign(anchors, gts, ignore, cfg.Assign), anchors, gts, classes, C, cfg.Coder)
	// A second call with other boxes overwrites everything.
	gts2 := gts[:3]
	if err := BuildTargetsInto(&dst, Anchors{Boxes: anchors}, nil, gts2, classes[:3], ignore[:3], C, cfg); err != nil {
		t.Fatal(err)
	}
	checkTargets(t, dst, Assign(anchors, gts2, ignore[:3], cfg.Assign), anchors, gts2, classes[:3], C, cfg.Coder)
}

func TestBuildTargetsErrors(t *testing.T) {
	anchors := []Box{{0, 0, 10, 10}}
	gts := []Box{{0, 0, 10, 10}, {5, 5, 20, 20}}
	tests := []struct {
		name    string
		classes []int
		ignore  []bool
		C       int
	}{
		{"class out of range", []int{0, 3}, nil, 3},
		{"negative class", []int{-1, 0}, nil, 3},
		{"too few classes", []int{0}, nil, 3},
		{"ignore length", []int{0, 1}, []bool{false}, 3},
		{"no classes", []int{0, 0}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := BuildTargets(Anchors{Boxes: anchors}, nil, gts, tc.classes, tc.ignore, tc.C, DefaultTargetConfig()); err == nil {
				t.Errorf("no error")
			}
		})
	}
	// The class of an ignore region is not checked.
	if _, err := BuildTargets(Anchors{Boxes: anchors}, nil, gts, []int{0, 3}, []bool{false, true}, 3, DefaultTargetConfig()); err != nil {
		t.Errorf("ignore region with class 3: %v", err)
	}
}

// TestBuildTargetsPadding checks that anchors outside the valid image region
// get weight 0 in every loss, are never matched (not even as a ground
// truth's best, low-quality anchor) and are counted apart from ignored ones.
func TestBuildTargetsPadding(t *testing.T) {
	a, err := GenerateAnchors(DefaultAnchorConfig(), 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	// A 256x192 image region; one box inside it, one box lying wholly on
	// the padding below it (whose best anchors are all padding anchors).
	validW, validH := 256, 192
	gts := []Box{{40, 40, 90, 90}, {100, 200, 150, 250}}
	classes := []int{0, 1}
	valid := a.ValidMask(nil, validW, validH)
	tg, err := BuildTargets(a, valid, gts, classes, nil, 2, DefaultTargetConfig())
	if err != nil {
		t.Fatal(err)
	}
	all, err := BuildTargets(a, nil, gts, classes, nil, 2, DefaultTargetConfig())
	if err != nil {
		t.Fatal(err)
	}
	numValid := 0
	for _, n := range a.NumValid(validW, validH) {
		numValid += n
	}
	if want := len(a.Boxes) - numValid; tg.NumPadding != want {
		t.Fatalf("NumPadding %d, want %d", tg.NumPadding, want)
	}
	if got := tg.NumPos + tg.NumNeg + tg.NumIgnored + tg.NumPadding; got != len(a.Boxes) {
		t.Fatalf("counts add up to %d, want %d", got, len(a.Boxes))
	}
	posSecond := 0
	for j, ok := range valid {
		if !ok {
			if tg.ClassWeights[j] != 0 || tg.MatchedGT[j] != -1 || tg.MaxIoU[j] != -1 {
				t.Fatalf("padding anchor %d: weight %v matched %d maxIoU %v", j, tg.ClassWeights[j], tg.MatchedGT[j], tg.MaxIoU[j])
			}
			for k := 0; k < 4; k++ {
				if tg.BoxWeights[4*j+k] != 0 {
					t.Fatalf("padding anchor %d has box weight", j)
				}
			}
			continue
		}
		// Inside the valid region the first box's matches are unchanged.
		if (tg.MatchedGT[j] == 0) != (all.MatchedGT[j] == 0) {
			t.Fatalf("valid anchor %d: matched %d with padding, %d without", j, tg.MatchedGT[j], all.MatchedGT[j])
		}
		if tg.MatchedGT[j] == 1 {
			posSecond++
		}
	}
	if all.NumPos <= tg.NumPos {
		t.Fatalf("the box on the padding should lose its positives: %d positives without the mask, %d with", all.NumPos, tg.NumPos)
	}
	// Its best valid anchors (IoU > 0 with anchors of the last valid row)
	// still get low-quality matches, as the reference assigns over the
	// valid anchors only.
	if posSecond == 0 {
		t.Fatalf("the box below the valid region got no low-quality match among valid anchors")
	}
	if _, err := BuildTargets(a, valid[:10], gts, classes, nil, 2, DefaultTargetConfig()); err == nil {
		t.Fatal("a valid mask of the wrong length was accepted")
	}
}
