package box

// Labels of Assignment.Labels that are not ground-truth indices.
const (
	// Negative marks a background anchor (trained as all-zero class targets).
	Negative int32 = -1
	// Ignored marks an anchor that takes no part in the losses.
	Ignored int32 = -2
	// Padding marks an anchor of a feature-map cell that lies on the
	// padding of the input canvas, outside the resized image (see
	// Anchors.ValidMask): it is never assigned and takes no part in the
	// losses, as the reference's invalid anchors.
	Padding int32 = -3
)

// AssignConfig configures the MaxIoU assignment of anchors to ground truths
// (mmdetection's MaxIoUAssigner as configured for RetinaNet).
type AssignConfig struct {
	// Method is AssignMaxIoU ("max_iou", the reference, default) or
	// AssignATSS ("atss"). PosIoU, NegIoU, LowQualityMatches, MinPosIoU,
	// AllTiedLowQuality and IgnoreFirst apply to max_iou only; TopK to atss
	// only; IgnoreIoF to both.
	Method string `yaml:"method"`
	// TopK is the number of ATSS candidates per level and ground truth
	// (default 9).
	TopK int `yaml:"topk"`
	// PosIoU: an anchor whose best IoU with a ground truth is >= PosIoU is
	// positive for that ground truth. Default 0.5.
	PosIoU float32 `yaml:"pos_iou"`
	// NegIoU: an anchor whose best IoU is < NegIoU (and >= 0) is negative;
	// anchors in [NegIoU, PosIoU) are ignored. Default 0.4.
	NegIoU float32 `yaml:"neg_iou"`
	// LowQualityMatches makes each ground truth's best anchor(s) positive
	// even when their IoU is below PosIoU (mmdetection's
	// match_low_quality). Default true.
	LowQualityMatches bool `yaml:"low_quality_matches"`
	// MinPosIoU is the lowest best-IoU for which a ground truth gets a
	// low-quality match. Default 0. Unlike mmdetection with min_pos_iou 0,
	// a ground truth whose best IoU is 0 (it overlaps no anchor) gets no
	// match at all: mmdetection would mark every anchor as its positive.
	MinPosIoU float32 `yaml:"min_pos_iou"`
	// AllTiedLowQuality gives a low-quality match to ALL anchors tied at a
	// ground truth's best IoU (mmdetection's gt_max_assign_all, default
	// true); false gives it only to the first such anchor in anchor order.
	AllTiedLowQuality bool `yaml:"all_tied_low_quality"`
	// IgnoreIoF: an anchor whose intersection with an ignore region (crowd
	// or difficult box) covers more than IgnoreIoF of the anchor's area is
	// ignored, unless it is positive (by IoU or as a low-quality match).
	// Default 0.5; <= 0 disables ignore regions (they are still never
	// ground truths). The reference GHM configuration used -1 (crowd boxes
	// simply dropped).
	IgnoreIoF float32 `yaml:"ignore_iof"`
	// IgnoreFirst applies ignore regions before matching, as mmdetection
	// does: an anchor inside an ignore region is ignored even if it would be
	// positive, and it takes no part in low-quality matching (its MaxIoU is
	// reported as -1). Default false (positives win).
	IgnoreFirst bool `yaml:"ignore_first"`
}

// DefaultAssignConfig returns the RetinaNet assignment: positive at IoU >=
// 0.5, negative below 0.4, all-tied low-quality matches with min IoU 0,
// ignore regions at IoF > 0.5.
func DefaultAssignConfig() AssignConfig {
	return AssignConfig{
		Method:            AssignMaxIoU,
		TopK:              DefaultATSSTopK,
		PosIoU:            0.5,
		NegIoU:            0.4,
		LowQualityMatches: true,
		MinPosIoU:         0,
		AllTiedLowQuality: true,
		IgnoreIoF:         0.5,
	}
}

// Assignment is the result of Assign: per anchor, a label and the best IoU.
type Assignment struct {
	// Labels holds, per anchor, the index (into the gts given to Assign) of
	// the ground truth it is positive for, or Negative or Ignored.
	Labels []int32
	// MaxIoU is, per anchor, the highest IoU with a valid non-ignore ground
	// truth (0 when there is none; -1 for anchors ignored by IgnoreFirst).
	MaxIoU []float32
	// NumPos, NumNeg and NumIgnored count the anchors of each kind.
	NumPos, NumNeg, NumIgnored int
	// DroppedGT counts the boxes (ground truths and ignore regions) that were
	// dropped because they are degenerate (see Box.Valid).
	DroppedGT int
}

// Assign matches anchors to ground truths. gts are the ground-truth boxes;
// ignore, when not nil, has one flag per gt and marks ignore regions (crowd
// or difficult boxes), which never produce positives.
//
// Rules, in order (mmdetection's MaxIoUAssigner with pos_iou_thr 0.5,
// neg_iou_thr 0.4, min_pos_iou 0, gt_max_assign_all):
//  1. Degenerate boxes (Box.Valid false) are dropped and counted.
//  2. Each anchor takes its best IoU over the ground truths; on ties the
//     first ground truth wins (argmax). IoU >= PosIoU: positive for that
//     ground truth; < NegIoU: negative; in between: ignored. With no ground
//     truth every anchor is negative.
//  3. Low-quality matches: for each ground truth i in order whose best IoU
//     over all anchors is > 0 and >= MinPosIoU, every anchor whose IoU with i
//     equals that best IoU becomes positive for i (only the first one if
//     AllTiedLowQuality is false). This overrides step 2, and a later ground
//     truth overrides an earlier one on a shared anchor.
//  4. Ignore regions: an anchor with IoF > IgnoreIoF with any ignore region
//     that is not positive after steps 2-3 becomes ignored (with IgnoreFirst,
//     instead, it is ignored before step 2 and excluded from steps 2-3).
func Assign(anchors, gts []Box, ignore []bool, cfg AssignConfig) Assignment {
	var a Assignment
	AssignInto(&a, anchors, gts, ignore, cfg)
	return a
}

// AssignInto is Assign writing into dst, reusing dst.Labels and dst.MaxIoU
// when their capacity suffices. A non-nil ignore of a length other than
// len(gts) is a programming error and panics.
func AssignInto(dst *Assignment, anchors, gts []Box, ignore []bool, cfg AssignConfig) {
	dst.Labels = growInt32(dst.Labels, len(anchors))
	dst.MaxIoU = growFloat32(dst.MaxIoU, len(anchors))
	dst.DroppedGT = assignCore(dst.Labels, dst.MaxIoU, anchors, nil, gts, ignore, cfg)
	dst.NumPos, dst.NumNeg, dst.NumIgnored = countLabels(dst.Labels)
}

func countLabels(labels []int32) (pos, neg, ign int) {
	for _, l := range labels {
		switch {
		case l >= 0:
			pos++
		case l == Negative:
			neg++
		default:
			ign++
		}
	}
	return
}

func growInt32(s []int32, n int) []int32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]int32, n)
}

func growFloat32(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}

// assignCore writes the labels and best IoUs of all anchors and returns the
// number of dropped degenerate boxes. It makes two passes: one over all
// (anchor, gt) pairs (parallel over anchor chunks) that labels by threshold
// and finds each gt's best IoU, and one that recomputes the IoUs of the few
// anchors that can be tied at a gt's best IoU (low-quality matches). No IoU
// matrix is stored. valid, when not nil, has one flag per anchor: anchors
// with a false flag are labelled Padding with MaxIoU -1 and take no part in
// the matching (neither by threshold nor as low-quality matches), as the
// reference assigns only the anchors inside the valid image region.
func assignCore(labels []int32, maxIoU []float32, anchors []Box, valid []bool, gts []Box, ignore []bool, cfg AssignConfig) int {
	if valid != nil && len(valid) != len(anchors) {
		panic("box.Assign: len(valid) != len(anchors)")
	}
	split := splitGT(gts, ignore, cfg)
	gt, ig, gtIdx := &split.gt, &split.ig, split.gtIdx
	nGT, nIg, dropped := split.nGT, split.nIg, split.dropped
	N := len(anchors)
	cost := nGT + nIg + 1
	workers := numWorkers(N, cost)
	pG := len(gt.x1) // padded gt count
	// Per-worker best IoU of each gt, and a scratch row of IoUs.
	wMax := make([]float32, 2*workers*pG)
	posThr, negThr, iofThr, ignoreFirst := cfg.PosIoU, cfg.NegIoU, cfg.IgnoreIoF, cfg.IgnoreFirst
	parallel(N, cost, func(lo, hi, w int) {
		lMax := wMax[2*w*pG : (2*w+1)*pG]
		row := wMax[(2*w+1)*pG : (2*w+2)*pG]
		for j := lo; j < hi; j++ {
			if valid != nil && !valid[j] {
				labels[j], maxIoU[j] = Padding, -1
				continue
			}
			a := anchors[j]
			if !a.Valid() {
				labels[j], maxIoU[j] = Negative, 0
				continue
			}
			ax1, ay1, ax2, ay2, aa := a[0], a[1], a[2], a[3], a.Area()
			inIgnore := false
			for k := 0; k < nIg; k++ {
				if iof(ax1, ay1, ax2, ay2, aa, ig.x1[k], ig.y1[k], ig.x2[k], ig.y2[k]) > iofThr {
					inIgnore = true
					break
				}
			}
			if inIgnore && ignoreFirst {
				labels[j], maxIoU[j] = Ignored, -1
				continue
			}
			best := float32(0)
			if nGT > 0 {
				best = maxRow(row, lMax, ax1, ay1, ax2, ay2, aa, gt)
			}
			maxIoU[j] = best
			switch {
			case nGT > 0 && best >= posThr:
				// The first gt reaching the maximum (argmax).
				arg := 0
				for i, v := range row[:nGT] {
					if v == best {
						arg = i
						break
					}
				}
				labels[j] = gtIdx[arg]
			case best < negThr && !inIgnore:
				labels[j] = Negative
			default:
				labels[j] = Ignored
			}
		}
	})
	if !cfg.LowQualityMatches || nGT == 0 {
		return dropped
	}
	gMax := wMax[:nGT]
	for w := 1; w < workers; w++ {
		for i := 0; i < nGT; i++ {
			if v := wMax[2*w*pG+i]; v > gMax[i] {
				gMax[i] = v
			}
		}
	}
	// Ground truths that get low-quality matches, and the lowest best IoU
	// among them: an anchor tied at gt i's best IoU has maxIoU >= gMax[i].
	lowest := float32(2)
	for i := 0; i < nGT; i++ {
		if gMax[i] > 0 && gMax[i] >= cfg.MinPosIoU {
			lowest = min(lowest, gMax[i])
		} else {
			gMax[i] = 2 // no anchor reaches it
		}
	}
	if lowest > 1 {
		return dropped
	}
	// done[i]: gt i already has its single match (AllTiedLowQuality false).
	var done []bool
	if !cfg.AllTiedLowQuality {
		done = make([]bool, nGT)
	}
	row := wMax[pG : 2*pG] // worker 0's scratch row, free now
	for j, m := range maxIoU {
		if m < lowest {
			continue
		}
		a := anchors[j]
		iouRow(row[:nGT], a[0], a[1], a[2], a[3], a.Area(), gt)
		for i, v := range row[:nGT] {
			// gMax[i] is 2 for gts without low-quality matches.
			if v == gMax[i] && (done == nil || !done[i]) {
				labels[j] = gtIdx[i]
				if done != nil {
					done[i] = true
				}
			}
		}
	}
	return dropped
}
