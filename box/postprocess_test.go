package box

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// smallAnchors: a 64x64 image, levels of stride 8 (8x8 cells) and 16 (4x4),
// one square anchor per location of size 4*stride.
func smallAnchors(t *testing.T) Anchors {
	t.Helper()
	cfg := AnchorConfig{Strides: []int{8, 16}, OctaveBaseScale: 4, ScalesPerOctave: 1, Ratios: []float64{1}}
	a, err := GenerateAnchors(cfg, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// outputs returns per-level probabilities all equal to p and zero deltas.
func outputs(a Anchors, C int, p float32) ([][]float32, [][]float32) {
	probs := make([][]float32, len(a.Levels))
	deltas := make([][]float32, len(a.Levels))
	for l, lv := range a.Levels {
		probs[l] = make([]float32, lv.Count*C)
		for i := range probs[l] {
			probs[l][i] = p
		}
		deltas[l] = make([]float32, lv.Count*4)
	}
	return probs, deltas
}

func TestPostProcessHandCases(t *testing.T) {
	a := smallAnchors(t)
	const C = 3
	coder := DefaultCoder()
	def := DefaultPostProcessConfig()
	type set struct {
		level, anchor, class int
		score                float32
	}
	type delta struct {
		level, anchor int
		d             [4]float32
	}
	type det struct {
		class int
		score float32
		box   Box
	}
	// Level 0 anchor (y, x) = y*8+x is centred at (8x, 8y), 32 wide; level 1
	// anchor y*4+x at (16x, 16y), 64 wide.
	tests := []struct {
		name   string
		sets   []set
		deltas []delta
		cfg    PostProcessConfig
		want   []det
	}{
		{
			name: "threshold is strict",
			sets: []set{{0, 0, 1, 0.06}},
			cfg:  def,
			want: []det{{1, 0.06, Box{0, 0, 16, 16}}},
		},
		{
			name: "top k per level over (anchor, class) pairs",
			sets: []set{{0, 36, 0, 0.9}, {0, 36, 1, 0.8}, {0, 36, 2, 0.7}, {0, 4, 0, 0.6}, {1, 5, 2, 0.3}, {1, 10, 0, 0.2}},
			cfg:  func() PostProcessConfig { c := def; c.PreNMSTopK = 2; return c }(),
			want: []det{{0, 0.9, Box{16, 16, 48, 48}}, {1, 0.8, Box{16, 16, 48, 48}}, {2, 0.3, Box{0, 0, 48, 48}}, {0, 0.2, Box{0, 0, 64, 64}}},
		},
		{
			name: "max detections",
			sets: []set{{0, 36, 0, 0.9}, {0, 36, 1, 0.8}, {0, 36, 2, 0.7}, {0, 4, 0, 0.6}, {1, 5, 2, 0.3}},
			cfg:  func() PostProcessConfig { c := def; c.MaxDetections = 2; return c }(),
			want: []det{{0, 0.9, Box{16, 16, 48, 48}}, {1, 0.8, Box{16, 16, 48, 48}}},
		},
		{
			name: "NMS across levels, per class",
			// level 1 anchor 10 (centre 32,32) shrunk to 32 wide = level 0 anchor 36.
			sets:   []set{{0, 36, 0, 0.7}, {1, 10, 0, 0.8}, {1, 10, 1, 0.6}},
			deltas: []delta{{1, 10, [4]float32{0, 0, float32(math.Log(0.5)), float32(math.Log(0.5))}}},
			cfg:    def,
			want:   []det{{0, 0.8, Box{16, 16, 48, 48}}, {1, 0.6, Box{16, 16, 48, 48}}},
		},
		{
			name: "empty, tiny and NaN boxes dropped",
			sets: []set{{0, 36, 0, 0.9}, {0, 27, 0, 0.8}, {0, 18, 0, 0.7}, {0, 9, 1, 0.6}},
			deltas: []delta{
				{0, 27, [4]float32{0, 0, -4, -4}},     // 0.59 px wide
				{0, 18, [4]float32{100, 0, 0, 0}},     // clipped to zero width
				{0, 9, [4]float32{0, nan32, 0, 0}},    // NaN
				{0, 36, [4]float32{0, 0, 0.01, 0.01}}, // kept
				{1, 0, [4]float32{0, 0, 0, nan32}},    // not a candidate
			},
			cfg:  func() PostProcessConfig { c := def; c.MinSize = 0.5; return c }(),
			want: []det{{0, 0.9, Box{32 - 16*1.01005, 32 - 16*1.01005, 32 + 16*1.01005, 32 + 16*1.01005}}, {0, 0.8, Box{24 - 0.2930, 24 - 0.2930, 24 + 0.2930, 24 + 0.2930}}},
		},
		{
			name: "min size 1 drops the tiny box",
			sets: []set{{0, 27, 0, 0.8}},
			deltas: []delta{
				{0, 27, [4]float32{0, 0, -4, -4}},
			},
			cfg:  func() PostProcessConfig { c := def; c.MinSize = 1; return c }(),
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probs, deltas := outputs(a, C, 0.05)
			for _, s := range tc.sets {
				probs[s.level][s.anchor*C+s.class] = s.score
			}
			for _, d := range tc.deltas {
				copy(deltas[d.level][4*d.anchor:], d.d[:])
			}
			got, err := PostProcess(a, probs, deltas, C, 64, 64, coder, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d detections %v, want %d %v", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Class != w.class || g.Score != w.score {
					t.Errorf("detection %d: class %d score %v, want %d %v", i, g.Class, g.Score, w.class, w.score)
				}
				for k := 0; k < 4; k++ {
					if !near(g.Box[k], w.box[k], 1e-3) {
						t.Errorf("detection %d: box %v, want %v", i, g.Box, w.box)
						break
					}
				}
			}
		})
	}
}

func TestPostProcessErrors(t *testing.T) {
	a := smallAnchors(t)
	probs, deltas := outputs(a, 3, 0.1)
	cfg := DefaultPostProcessConfig()
	if _, err := PostProcess(a, probs[:1], deltas, 3, 64, 64, DefaultCoder(), cfg); err == nil {
		t.Errorf("missing level: no error")
	}
	if _, err := PostProcess(a, probs, deltas, 2, 64, 64, DefaultCoder(), cfg); err == nil {
		t.Errorf("wrong class count: no error")
	}
	deltas[1] = deltas[1][:4]
	if _, err := PostProcess(a, probs, deltas, 3, 64, 64, DefaultCoder(), cfg); err == nil {
		t.Errorf("short deltas: no error")
	}
}

// refPostProcess follows the documented steps with full sorts.
func refPostProcess(a Anchors, probs, deltas [][]float32, C, imgW, imgH int, coder Coder, cfg PostProcessConfig) []Detection {
	var boxes []Box
	var scores []float32
	var classes []int
	for l := range a.Levels {
		var ks []int
		for k, s := range probs[l] {
			if s > cfg.ScoreThresh {
				ks = append(ks, k)
			}
		}
		sort.SliceStable(ks, func(i, j int) bool { return probs[l][ks[i]] > probs[l][ks[j]] })
		if len(ks) > cfg.PreNMSTopK {
			ks = ks[:cfg.PreNMSTopK]
		}
		for _, k := range ks {
			i := k / C
			b := coder.Decode(a.Level(l)[i], [4]float32(deltas[l][4*i:4*i+4]), imgW, imgH)
			if !(b.Width() > cfg.MinSize && b.Height() > cfg.MinSize) {
				continue
			}
			boxes, scores, classes = append(boxes, b), append(scores, probs[l][k]), append(classes, k%C)
		}
	}
	keep := refNMS(boxes, scores, classes, cfg.NMSIoU)
	if len(keep) > cfg.MaxDetections {
		keep = keep[:cfg.MaxDetections]
	}
	out := make([]Detection, len(keep))
	for n, i := range keep {
		out[n] = Detection{boxes[i], scores[i], classes[i]}
	}
	return out
}

func TestPostProcessMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	a, err := GenerateAnchors(DefaultAnchorConfig(), 128, 192)
	if err != nil {
		t.Fatal(err)
	}
	const C = 4
	cfg := DefaultPostProcessConfig()
	cfg.PreNMSTopK = 300
	cfg.MaxDetections = 60
	probs, deltas := outputs(a, C, 0)
	for l := range probs {
		for i := range probs[l] {
			// Quantised to multiples of 1/40 so that ties fall at the top-k
			// boundary and in NMS; about 60% are <= 0.05.
			probs[l][i] = float32(math.Round(math.Pow(r.Float64(), 6)*40) / 40)
		}
		for i := range deltas[l] {
			deltas[l][i] = float32(r.NormFloat64() * 0.3)
		}
	}
	for _, maxDet := range []int{60, 100000} {
		cfg.MaxDetections = maxDet
		got, err := PostProcess(a, probs, deltas, C, 192, 128, DefaultCoder(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := refPostProcess(a, probs, deltas, C, 192, 128, DefaultCoder(), cfg)
		if len(want) != len(got) || len(got) < 60 || len(got) == maxDet && maxDet > 60 {
			t.Fatalf("max %d: %d detections, reference %d", maxDet, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("max %d: detection %d: %v, reference %v", maxDet, i, got[i], want[i])
			}
			if i > 0 && got[i].Score > got[i-1].Score {
				t.Fatalf("not sorted by score")
			}
		}
	}
}
