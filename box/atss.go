package box

import (
	"fmt"
	"math"
)

// Assignment methods (AssignConfig.Method).
const (
	// AssignMaxIoU is RetinaNet's assignment by IoU thresholds with
	// low-quality matches (mmdetection's MaxIoUAssigner): the reference.
	AssignMaxIoU = "max_iou"
	// AssignATSS is the adaptive training sample selection of Zhang et al.,
	// "Bridging the Gap Between Anchor-based and Anchor-free Detection via
	// Adaptive Training Sample Selection" (CVPR 2020), as mmdetection's
	// ATSSAssigner: per ground truth, the TopK anchors closest to its centre
	// on every level are candidates; those whose IoU reaches the mean plus
	// the standard deviation of the candidates' IoUs, and whose centre lies
	// inside the box, are positive. Every other anchor is negative (no
	// ignore band). Small objects get several positives even where no
	// anchor reaches IoU 0.5.
	AssignATSS = "atss"
)

// AssignMethods lists the valid AssignConfig.Method values.
var AssignMethods = []string{AssignMaxIoU, AssignATSS}

// DefaultATSSTopK is the number of ATSS candidates per level (the paper's 9).
const DefaultATSSTopK = 9

// Validate reports a configuration that cannot assign.
func (c AssignConfig) Validate() error {
	switch c.method() {
	case AssignMaxIoU:
		if !(c.NegIoU >= 0 && c.NegIoU <= c.PosIoU && c.PosIoU <= 1) {
			return fmt.Errorf("assign: need 0 <= neg_iou <= pos_iou <= 1, got neg_iou %v, pos_iou %v", c.NegIoU, c.PosIoU)
		}
	case AssignATSS:
		if c.TopK < 1 {
			return fmt.Errorf("assign: topk must be >= 1 for method %q, got %d", AssignATSS, c.TopK)
		}
	default:
		return fmt.Errorf("assign: method %q unknown (allowed: %s, %s)", c.Method, AssignMaxIoU, AssignATSS)
	}
	return nil
}

// method returns the assignment method, AssignMaxIoU when unset.
func (c AssignConfig) method() string {
	if c.Method == "" {
		return AssignMaxIoU
	}
	return c.Method
}

// gtSplit holds the valid ground truths and the ignore regions of an image.
type gtSplit struct {
	gt, ig  soa
	gtIdx   []int32 // index into the caller's gts of each valid ground truth
	nGT     int
	nIg     int // ignore regions in use (0 when ignoring is disabled)
	dropped int
}

// splitGT separates valid ground truths from ignore regions and drops
// degenerate boxes. A non-nil ignore of the wrong length panics.
func splitGT(gts []Box, ignore []bool, cfg AssignConfig) *gtSplit {
	if ignore != nil && len(ignore) != len(gts) {
		panic("box.Assign: len(ignore) != len(gts)")
	}
	s := &gtSplit{gtIdx: make([]int32, 0, len(gts))}
	nGT, nIg := 0, 0
	for i, b := range gts {
		if !b.Valid() {
			s.dropped++
			continue
		}
		if ignore != nil && ignore[i] {
			nIg++
		} else {
			nGT++
		}
	}
	s.gt.reset(nGT)
	s.ig.reset(nIg)
	for i, b := range gts {
		if !b.Valid() {
			continue
		}
		if ignore != nil && ignore[i] {
			s.ig.set(s.nIg, b)
			s.nIg++
		} else {
			s.gt.set(s.nGT, b)
			s.gtIdx = append(s.gtIdx, int32(i))
			s.nGT++
		}
	}
	if s.nIg == 0 || cfg.IgnoreIoF <= 0 {
		s.nIg = 0
	}
	return s
}

// assignATSS writes the ATSS labels and best IoUs of all anchors (see
// AssignATSS) and returns the number of dropped degenerate boxes. levels
// give the anchors' pyramid levels (one level spanning all anchors when
// empty); valid flags the anchors inside the image (nil: all). Anchors not
// valid are labelled Padding with MaxIoU -1. Ties: candidates at equal
// distance are taken in anchor order, and an anchor that is a positive
// candidate of several ground truths goes to the one of highest IoU (the
// first in gts order on a tie). Non-positive anchors inside an ignore region
// (IoF > IgnoreIoF) are ignored.
func assignATSS(labels []int32, maxIoU []float32, anchors []Box, levels []Level, valid []bool, gts []Box, ignore []bool, cfg AssignConfig) int {
	if valid != nil && len(valid) != len(anchors) {
		panic("box.Assign: len(valid) != len(anchors)")
	}
	s := splitGT(gts, ignore, cfg)
	N := len(anchors)
	if len(levels) == 0 {
		levels = []Level{{Offset: 0, Count: N}}
	}
	// Labels, best IoU over the ground truths, and ignore regions.
	parallel(N, s.nGT+s.nIg+1, func(lo, hi, w int) {
		row := make([]float32, len(s.gt.x1))
		colMax := make([]float32, len(s.gt.x1))
		for j := lo; j < hi; j++ {
			if valid != nil && !valid[j] {
				labels[j], maxIoU[j] = Padding, -1
				continue
			}
			labels[j] = Negative
			a := anchors[j]
			if !a.Valid() {
				maxIoU[j] = 0
				continue
			}
			best := float32(0)
			if s.nGT > 0 {
				best = maxRow(row, colMax, a[0], a[1], a[2], a[3], a.Area(), &s.gt)
			}
			maxIoU[j] = best
		}
	})
	if s.nGT > 0 {
		k := max(cfg.TopK, 1)
		// bestIoU[j] is the IoU of anchor j with the ground truth it is
		// a positive of so far (-1: none).
		bestIoU := make([]float32, N)
		for j := range bestIoU {
			bestIoU[j] = -1
		}
		cand := make([]int, 0, k*len(levels))
		top := make([]int, 0, k)
		topD := make([]float32, 0, k)
		ious := make([]float32, 0, k*len(levels))
		for i := 0; i < s.nGT; i++ {
			gx1, gy1, gx2, gy2 := s.gt.x1[i], s.gt.y1[i], s.gt.x2[i], s.gt.y2[i]
			ga := s.gt.area[i]
			gcx, gcy := (gx1+gx2)*0.5, (gy1+gy2)*0.5
			cand = cand[:0]
			for _, lv := range levels {
				top, topD = top[:0], topD[:0]
				for j := lv.Offset; j < lv.Offset+lv.Count; j++ {
					if valid != nil && !valid[j] {
						continue
					}
					a := anchors[j]
					acx, acy := (a[0]+a[2])*0.5, (a[1]+a[3])*0.5
					dx, dy := acx-gcx, acy-gcy
					d := dx*dx + dy*dy
					if !(d == d) { // NaN anchor
						continue
					}
					// Insert into the k nearest (stable: a later anchor
					// at an equal distance goes after).
					if len(top) == k && d >= topD[k-1] {
						continue
					}
					pos := len(top)
					for pos > 0 && topD[pos-1] > d {
						pos--
					}
					if len(top) < k {
						top, topD = append(top, 0), append(topD, 0)
					}
					copy(top[pos+1:], top[pos:len(top)-1])
					copy(topD[pos+1:], topD[pos:len(topD)-1])
					top[pos], topD[pos] = j, d
				}
				cand = append(cand, top...)
			}
			if len(cand) == 0 {
				continue
			}
			ious = ious[:0]
			var sum float64
			for _, j := range cand {
				a := anchors[j]
				v := iou(a[0], a[1], a[2], a[3], a.Area(), gx1, gy1, gx2, gy2, ga)
				ious = append(ious, v)
				sum += float64(v)
			}
			mean := sum / float64(len(ious))
			var ss float64
			for _, v := range ious {
				d := float64(v) - mean
				ss += d * d
			}
			std := 0.0
			if len(ious) > 1 {
				std = math.Sqrt(ss / float64(len(ious)-1)) // unbiased, as torch.std
			}
			thr := float32(mean + std)
			for c, j := range cand {
				v := ious[c]
				if v < thr || v <= 0 {
					continue
				}
				a := anchors[j]
				acx, acy := (a[0]+a[2])*0.5, (a[1]+a[3])*0.5
				if min(acx-gx1, acy-gy1, gx2-acx, gy2-acy) <= 0.01 {
					continue
				}
				if v > bestIoU[j] {
					bestIoU[j] = v
					labels[j] = s.gtIdx[i]
				}
			}
		}
	}
	if s.nIg > 0 {
		iofThr := cfg.IgnoreIoF
		parallel(N, s.nIg+1, func(lo, hi, w int) {
			for j := lo; j < hi; j++ {
				if labels[j] != Negative {
					continue
				}
				a := anchors[j]
				if !a.Valid() {
					continue
				}
				aa := a.Area()
				for r := 0; r < s.nIg; r++ {
					if iof(a[0], a[1], a[2], a[3], aa, s.ig.x1[r], s.ig.y1[r], s.ig.x2[r], s.ig.y2[r]) > iofThr {
						labels[j] = Ignored
						break
					}
				}
			}
		})
	}
	return s.dropped
}
