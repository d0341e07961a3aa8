package box

import "fmt"

// TargetConfig configures BuildTargets.
type TargetConfig struct {
	// Assign is the anchor assignment.
	Assign AssignConfig
	// Coder encodes the box targets.
	Coder Coder
}

// DefaultTargetConfig returns DefaultAssignConfig and DefaultCoder.
func DefaultTargetConfig() TargetConfig {
	return TargetConfig{Assign: DefaultAssignConfig(), Coder: DefaultCoder()}
}

// Targets are the per-anchor loss targets of one image, laid out as the
// GHM-C / GHM-R losses take them (anchor-major, in anchor order).
type Targets struct {
	// NumClasses is C, the number of foreground classes.
	NumClasses int
	// ClassTargets [N*C]: one-hot over the foreground classes for positive
	// anchors (1 at the matched ground truth's class), all zeros for
	// negative and ignored anchors.
	ClassTargets []float32
	// ClassWeights [N]: 1 for positive and negative anchors, 0 for ignored
	// ones (to be copied across the C class columns for GHM-C).
	ClassWeights []float32
	// BoxTargets [N*4]: the encoded deltas (Coder.Encode) of the matched
	// ground truth for positive anchors, 0 elsewhere.
	BoxTargets []float32
	// BoxWeights [N*4]: 1 on the 4 coordinates of positive anchors, 0
	// elsewhere.
	BoxWeights []float32
	// MatchedGT [N]: index of the matched ground truth (into the gts given
	// to BuildTargets) for positive anchors, -1 for the others.
	MatchedGT []int32
	// MaxIoU [N]: each anchor's best IoU with a ground truth (see
	// Assignment.MaxIoU).
	MaxIoU []float32
	// NumPos, NumNeg and NumIgnored count the anchors of each kind;
	// NumPadding counts the anchors outside the valid image region (see
	// BuildTargetsInto), which are not counted as ignored.
	NumPos, NumNeg, NumIgnored, NumPadding int
	// DroppedGT counts the degenerate boxes that were dropped.
	DroppedGT int
}

// BuildTargets assigns anchors to the ground truths gts with the method of
// cfg.Assign (max_iou: see Assign; atss: see AssignATSS, per pyramid level
// of anchors.Levels; ignore may be nil) and returns the loss targets. An
// Anchors with no Levels counts as one level. valid, when not nil, flags the
// anchors inside the valid image region (Anchors.ValidMask): the others get
// weight 0 in every loss and are never matched, as the reference's padding
// anchors. classes[i] is the class of gts[i]
// in [0, numClasses) (not checked for ignore regions). It returns an error
// when the lengths disagree, numClasses is not positive or a class is out of
// range.
func BuildTargets(anchors Anchors, valid []bool, gts []Box, classes []int, ignore []bool, numClasses int, cfg TargetConfig) (Targets, error) {
	var t Targets
	err := BuildTargetsInto(&t, anchors, valid, gts, classes, ignore, numClasses, cfg)
	return t, err
}

// BuildTargetsInto is BuildTargets writing into dst. Each slice field of dst
// whose capacity suffices is reused (resliced to its required length from its
// start), so a field may be set beforehand to a sub-slice of a batch buffer,
// for example dst.ClassTargets = batch[b*N*C : (b+1)*N*C], to have that
// image's targets written in place. Every element of the required lengths is
// overwritten.
func BuildTargetsInto(dst *Targets, all Anchors, valid []bool, gts []Box, classes []int, ignore []bool, numClasses int, cfg TargetConfig) error {
	anchors := all.Boxes
	if numClasses <= 0 {
		return fmt.Errorf("build targets: %d classes, want at least 1", numClasses)
	}
	if len(classes) != len(gts) {
		return fmt.Errorf("build targets: %d classes for %d boxes", len(classes), len(gts))
	}
	if ignore != nil && len(ignore) != len(gts) {
		return fmt.Errorf("build targets: %d ignore flags for %d boxes", len(ignore), len(gts))
	}
	if valid != nil && len(valid) != len(anchors) {
		return fmt.Errorf("build targets: %d valid flags for %d anchors", len(valid), len(anchors))
	}
	for i, c := range classes {
		if (ignore == nil || !ignore[i]) && (c < 0 || c >= numClasses) {
			return fmt.Errorf("build targets: box %d has class %d, want 0..%d", i, c, numClasses-1)
		}
	}
	N, C := len(anchors), numClasses
	dst.NumClasses = C
	dst.ClassTargets = growFloat32(dst.ClassTargets, N*C)
	dst.ClassWeights = growFloat32(dst.ClassWeights, N)
	dst.BoxTargets = growFloat32(dst.BoxTargets, N*4)
	dst.BoxWeights = growFloat32(dst.BoxWeights, N*4)
	dst.MatchedGT = growInt32(dst.MatchedGT, N)
	dst.MaxIoU = growFloat32(dst.MaxIoU, N)
	labels := dst.MatchedGT
	if cfg.Assign.method() == AssignATSS {
		dst.DroppedGT = assignATSS(labels, dst.MaxIoU, anchors, all.Levels, valid, gts, ignore, cfg.Assign)
	} else {
		dst.DroppedGT = assignCore(labels, dst.MaxIoU, anchors, valid, gts, ignore, cfg.Assign)
	}

	coder := cfg.Coder
	workers := numWorkers(N, C+8)
	counts := make([][4]int, workers)
	parallel(N, C+8, func(lo, hi, w int) {
		ct := dst.ClassTargets[lo*C : hi*C]
		clear(ct)
		cw := dst.ClassWeights[lo:hi]
		bt := dst.BoxTargets[lo*4 : hi*4]
		bw := dst.BoxWeights[lo*4 : hi*4]
		var pos, neg, ign, pad int
		for j := lo; j < hi; j++ {
			k := j - lo
			l := labels[j]
			switch {
			case l >= 0:
				pos++
				ct[k*C+classes[l]] = 1
				cw[k] = 1
				d := coder.Encode(anchors[j], gts[l])
				copy(bt[k*4:k*4+4], d[:])
				bw[k*4], bw[k*4+1], bw[k*4+2], bw[k*4+3] = 1, 1, 1, 1
			case l == Negative:
				neg++
				cw[k] = 1
				clear(bt[k*4 : k*4+4])
				clear(bw[k*4 : k*4+4])
			default:
				if l == Padding {
					pad++
				} else {
					ign++
				}
				labels[j] = -1
				cw[k] = 0
				clear(bt[k*4 : k*4+4])
				clear(bw[k*4 : k*4+4])
			}
		}
		counts[w] = [4]int{pos, neg, ign, pad}
	})
	dst.NumPos, dst.NumNeg, dst.NumIgnored, dst.NumPadding = 0, 0, 0, 0
	for _, c := range counts {
		dst.NumPos += c[0]
		dst.NumNeg += c[1]
		dst.NumIgnored += c[2]
		dst.NumPadding += c[3]
	}
	return nil
}
