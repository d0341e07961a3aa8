package eval

// APAtIoU returns the AP at the single IoU threshold IoUThresholds[t]
// (t = 0..9 for 0.50, 0.55, ..., 0.95; all areas, 100 detections per
// image): the mean, over the categories with ground truth and the 101
// recall thresholds, of the precision array at that threshold, computed as
// the summary numbers are. APAtIoU(0) is Stats[1] (AP50), APAtIoU(5) is
// Stats[2] (AP75), and the mean of the ten values is Stats[0] up to
// rounding. It returns -1 where no category has ground truth, as Stats do,
// and for t outside 0..9.
func (r *Result) APAtIoU(t int) float64 {
	if t < 0 || t >= numIoU {
		return -1
	}
	v, _ := r.summarizeOne(statSpec{ap: true, iouThr: IoUThresholds[t], area: 0, maxDets: 2}, -1, nil)
	return v
}

// APByIoU returns APAtIoU at each of the IoUThresholds, in their order.
func (r *Result) APByIoU() []float64 {
	out := make([]float64, numIoU)
	for t := range out {
		out[t] = r.APAtIoU(t)
	}
	return out
}
