package eval

import (
	"fmt"
	"math"
	"strings"
)

// statSpec is one line of the reference's _summarizeDets.
type statSpec struct {
	ap      bool
	iouThr  float64 // NaN: all thresholds
	area    int     // index into AreaRanges
	maxDets int     // index into MaxDets
}

var statSpecs = [12]statSpec{
	{true, math.NaN(), 0, 2},
	{true, .5, 0, 2},
	{true, .75, 0, 2},
	{true, math.NaN(), 1, 2},
	{true, math.NaN(), 2, 2},
	{true, math.NaN(), 3, 2},
	{false, math.NaN(), 0, 0},
	{false, math.NaN(), 0, 1},
	{false, math.NaN(), 0, 2},
	{false, math.NaN(), 1, 2},
	{false, math.NaN(), 2, 2},
	{false, math.NaN(), 3, 2},
}

// summarize fills Stats and the per-category numbers of res.
func summarize(res *Result) {
	var buf []float64
	for s, spec := range statSpecs {
		res.Stats[s], buf = res.summarizeOne(spec, -1, buf)
	}
	t50, t75 := thresholdIndex(.5), thresholdIndex(.75)
	for k := range res.PerCategory {
		c := &res.PerCategory[k]
		for s, spec := range statSpecs {
			c.Stats[s], buf = res.summarizeOne(spec, k, buf)
		}
		c.AP, c.AP50, c.AP75, c.APSmall, c.APMedium, c.APLarge = c.Stats[0], c.Stats[1], c.Stats[2], c.Stats[3], c.Stats[4], c.Stats[5]
		c.AR1, c.AR10, c.AR100, c.ARSmall, c.ARMedium, c.ARLarge = c.Stats[6], c.Stats[7], c.Stats[8], c.Stats[9], c.Stats[10], c.Stats[11]
		c.Precision50 = make([]float64, numRec)
		c.Precision75 = make([]float64, numRec)
		for r := range numRec {
			c.Precision50[r] = res.PrecisionAt(t50, r, k, 0, 2)
			c.Precision75[r] = res.PrecisionAt(t75, r, k, 0, 2)
		}
		c.Recall50 = res.RecallAt(t50, k, 0, 2)
		c.Recall75 = res.RecallAt(t75, k, 0, 2)
	}
}

// thresholdIndex returns the index of an IoU threshold found by equality, as
// the reference's np.where(iouThr == p.iouThrs), or -1.
func thresholdIndex(thr float64) int {
	for t, v := range IoUThresholds {
		if v == thr {
			return t
		}
	}
	return -1
}

// summarizeOne is the reference's _summarize restricted to category k (all
// categories when k < 0): the mean of the selected entries > -1, or -1.
// The entries are visited in the reference's (row-major) order and summed
// pairwise as numpy does. buf is scratch space, returned for reuse.
func (r *Result) summarizeOne(spec statSpec, k int, buf []float64) (float64, []float64) {
	buf = buf[:0]
	ts := []int{}
	if math.IsNaN(spec.iouThr) {
		for t := range numIoU {
			ts = append(ts, t)
		}
	} else if t := thresholdIndex(spec.iouThr); t >= 0 {
		ts = append(ts, t)
	}
	k0, k1 := 0, len(r.PerCategory)
	if k >= 0 {
		k0, k1 = k, k+1
	}
	for _, t := range ts {
		if spec.ap {
			for rc := range numRec {
				for kk := k0; kk < k1; kk++ {
					if v := r.PrecisionAt(t, rc, kk, spec.area, spec.maxDets); v > -1 {
						buf = append(buf, v)
					}
				}
			}
		} else {
			for kk := k0; kk < k1; kk++ {
				if v := r.RecallAt(t, kk, spec.area, spec.maxDets); v > -1 {
					buf = append(buf, v)
				}
			}
		}
	}
	if len(buf) == 0 {
		return -1, buf
	}
	return pairwiseSum(buf) / float64(len(buf)), buf
}

// pairwiseSum adds a as numpy's add.reduce does for a contiguous float64
// array (pairwise summation with blocks of 128 and 8 partial sums).
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		res := 0.0
		for _, v := range a {
			res += v
		}
		return res
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range 8 {
				r[j] += a[i+j]
			}
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}

// Summary returns the 12 lines that pycocotools' COCOeval.summarize() prints,
// character for character.
func (r *Result) Summary() string {
	var sb strings.Builder
	for s, spec := range statSpecs {
		title, typ := "Average Precision", "(AP)"
		if !spec.ap {
			title, typ = "Average Recall", "(AR)"
		}
		iou := fmt.Sprintf("%0.2f:%0.2f", IoUThresholds[0], IoUThresholds[numIoU-1])
		if !math.IsNaN(spec.iouThr) {
			iou = fmt.Sprintf("%0.2f", spec.iouThr)
		}
		fmt.Fprintf(&sb, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
			title, typ, iou, AreaRanges[spec.area].Label, MaxDets[spec.maxDets], r.Stats[s])
	}
	return sb.String()
}

// CategoryTable returns a text table of the per-category numbers: ground
// truths, detections, AP, AP50, AP75, AP small/medium/large and AR100 ("-"
// where a number is -1, that is, undefined).
func (r *Result) CategoryTable() string {
	nameW := len("category")
	for _, c := range r.PerCategory {
		nameW = max(nameW, len(c.Name))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%6s  %-*s %7s %8s %6s %6s %6s %6s %6s %6s %6s\n",
		"id", nameW, "category", "gt", "dets", "AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")
	num := func(v float64) string {
		if v <= -1 {
			return "-"
		}
		return fmt.Sprintf("%.3f", v)
	}
	for _, c := range r.PerCategory {
		fmt.Fprintf(&sb, "%6d  %-*s %7d %8d %6s %6s %6s %6s %6s %6s %6s\n",
			c.ID, nameW, c.Name, c.NumGT, c.NumDets, num(c.AP), num(c.AP50), num(c.AP75),
			num(c.APSmall), num(c.APMedium), num(c.APLarge), num(c.AR100))
	}
	return sb.String()
}

// Report is the JSON form of a Result: the 12 summary numbers in the
// reference's order and the per-category numbers.
type Report struct {
	Stats       [12]float64      `json:"stats"`
	StatNames   [12]string       `json:"stat_names"`
	NumImages   int              `json:"num_images"`
	PerCategory []CategoryResult `json:"per_category"`
}

// Report returns the JSON form of r.
func (r *Result) Report() Report {
	return Report{Stats: r.Stats, StatNames: StatNames, NumImages: r.NumImages, PerCategory: r.PerCategory}
}
