package box

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestNMSHandCases(t *testing.T) {
	tests := []struct {
		name    string
		boxes   []Box
		scores  []float32
		classes []int
		thr     float32
		maxKeep int
		want    []int
	}{
		{
			name:   "overlapping pair and a separate box",
			boxes:  []Box{{0, 0, 10, 10}, {1, 1, 11, 11}, {20, 20, 30, 30}},
			scores: []float32{0.8, 0.9, 0.7},
			// IoU(0, 1) = 81/119 = 0.68 > 0.5: box 0 goes.
			thr:  0.5,
			want: []int{1, 2},
		},
		{
			name:   "IoU equal to the threshold is kept",
			boxes:  []Box{{0, 0, 10, 10}, {0, 0, 10, 20}},
			scores: []float32{0.9, 0.8},
			thr:    0.5,
			want:   []int{0, 1},
		},
		{
			name:   "suppressed boxes do not suppress",
			boxes:  []Box{{0, 0, 10, 10}, {4, 0, 14, 10}, {8, 0, 18, 10}},
			scores: []float32{0.9, 0.8, 0.7},
			// IoU(0,1) = 0.43, IoU(1,2) = 0.43, IoU(0,2) = 0.11
			thr:  0.4,
			want: []int{0, 2},
		},
		{
			name:   "equal scores: lower index first",
			boxes:  []Box{{0, 0, 10, 10}, {50, 50, 60, 60}, {0, 0, 10, 10}},
			scores: []float32{0.5, 0.5, 0.5},
			thr:    0.5,
			want:   []int{0, 1},
		},
		{
			name:    "classes do not suppress each other",
			boxes:   []Box{{0, 0, 10, 10}, {0, 0, 10, 10}, {1, 1, 11, 11}},
			scores:  []float32{0.9, 0.8, 0.7},
			classes: []int{0, 1, 0},
			thr:     0.5,
			want:    []int{0, 1},
		},
		{
			name:    "max keep",
			boxes:   []Box{{0, 0, 1, 1}, {2, 2, 3, 3}, {4, 4, 5, 5}, {6, 6, 7, 7}},
			scores:  []float32{0.1, 0.4, 0.3, 0.2},
			thr:     0.5,
			maxKeep: 2,
			want:    []int{1, 2},
		},
		{
			name:   "NaN score dropped, degenerate box kept",
			boxes:  []Box{{0, 0, 10, 10}, {0, 0, 10, 10}, {3, 3, 3, 3}},
			scores: []float32{nan32, 0.2, 0.1},
			thr:    0.5,
			want:   []int{1, 2},
		},
		{
			name: "empty",
			thr:  0.5,
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := BatchedNMS(tc.boxes, tc.scores, tc.classes, tc.thr, tc.maxKeep)
			if !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
			if tc.classes == nil && tc.maxKeep == 0 {
				if got := NMS(tc.boxes, tc.scores, tc.thr); !slices.Equal(got, tc.want) {
					t.Errorf("NMS kept %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// refNMS is textbook greedy NMS with a suppression mask, per class.
func refNMS(boxes []Box, scores []float32, classes []int, thr float32) []int {
	idx := make([]int, len(boxes))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	removed := make([]bool, len(boxes))
	var keep []int
	for n, i := range idx {
		if removed[i] {
			continue
		}
		keep = append(keep, i)
		for _, j := range idx[n+1:] {
			if classes[j] == classes[i] && IoU(boxes[i], boxes[j]) > thr {
				removed[j] = true
			}
		}
	}
	return keep
}

func TestBatchedNMSMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for trial := 0; trial < 5; trial++ {
		n := 300
		boxes := randomBoxes(r, n, 200, 200, 60, false)
		scores := make([]float32, n)
		classes := make([]int, n)
		for i := range scores {
			scores[i] = float32(r.IntN(50)) / 50 // many ties
			classes[i] = r.IntN(3)
		}
		want := refNMS(boxes, scores, classes, 0.5)
		got := BatchedNMS(boxes, scores, classes, 0.5, 0)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: kept %v, want %v", trial, got, want)
		}
		if len(want) == n || len(want) < 10 {
			t.Fatalf("trial %d: %d of %d kept: the case checks little", trial, len(want), n)
		}
		if got := BatchedNMS(boxes, scores, classes, 0.5, 7); !slices.Equal(got, want[:7]) {
			t.Fatalf("trial %d: maxKeep 7 gives %v, want %v", trial, got, want[:7])
		}
	}
}
