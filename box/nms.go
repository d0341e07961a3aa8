package box

import (
	"cmp"
	"slices"
)

// scoreOrder returns the indices of scores sorted by score descending, ties
// broken by index ascending; NaN scores are left out.
func scoreOrder(scores []float32) []int32 {
	order := make([]int32, 0, len(scores))
	for i, s := range scores {
		if s == s {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(scores[b], scores[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return order
}

// NMS is greedy non-maximum suppression: boxes are visited by score
// descending (ties: lower index first) and a box is kept unless its IoU with
// an already kept box is > iouThr. It returns the kept indices in that order.
// Boxes with a NaN score are dropped; invalid boxes have IoU 0 with
// everything and are therefore kept. It panics if len(scores) !=
// len(boxes) (a programming error).
func NMS(boxes []Box, scores []float32, iouThr float32) []int {
	return BatchedNMS(boxes, scores, nil, iouThr, 0)
}

// BatchedNMS is per-class NMS: boxes of different classes never suppress each
// other (mmdetection's batched_nms). classes may be nil (a single class).
// The kept indices are returned by score descending (ties: lower index
// first); when maxKeep > 0 at most maxKeep are returned, which gives the same
// result as truncating the full output but stops early.
func BatchedNMS(boxes []Box, scores []float32, classes []int, iouThr float32, maxKeep int) []int {
	if len(scores) != len(boxes) || (classes != nil && len(classes) != len(boxes)) {
		panic("box.BatchedNMS: lengths of boxes, scores and classes disagree")
	}
	order := scoreOrder(scores)
	s := newSOA(boxes)
	// kept[c] lists the kept boxes of class c (by index into boxes).
	kept := map[int][]int32{}
	var out []int
	for _, i := range order {
		c := 0
		if classes != nil {
			c = classes[i]
		}
		ks := kept[c]
		x1, y1, x2, y2, a := s.x1[i], s.y1[i], s.x2[i], s.y2[i], s.area[i]
		suppressed := false
		for _, k := range ks {
			if iou(x1, y1, x2, y2, a, s.x1[k], s.y1[k], s.x2[k], s.y2[k], s.area[k]) > iouThr {
				suppressed = true
				break
			}
		}
		if suppressed {
			continue
		}
		kept[c] = append(ks, i)
		out = append(out, int(i))
		if maxKeep > 0 && len(out) >= maxKeep {
			break
		}
	}
	return out
}
