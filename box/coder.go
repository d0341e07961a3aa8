package box

import (
	"fmt"
	"math"
)

// DefaultWHRatioClip is mmdetection's wh_ratio_clip: decoded log-size deltas
// are clamped to +-|log(16/1000)| = +-4.135.
const DefaultWHRatioClip = 16.0 / 1000.0

// Coder is the DeltaXYWH box coder (mmdetection's DeltaXYWHBBoxCoder, no "+1"
// in widths). For an anchor with centre (px, py) and size (pw, ph) and a
// target box with centre (gx, gy) and size (gw, gh):
//
//	d = ((gx-px)/pw, (gy-py)/ph, log(gw/pw), log(gh/ph)),  encoded = (d - Means) / Stds
//
// Use DefaultCoder: the zero Coder has zero Stds.
type Coder struct {
	// Means are subtracted from the raw deltas when encoding. Default 0.
	Means [4]float32 `yaml:"means"`
	// Stds divide the raw deltas when encoding. Default 1 (GHM-R's mu =
	// 0.02 assumes this scale).
	Stds [4]float32 `yaml:"stds"`
	// WHRatioClip bounds the decoded size change: dw and dh are clamped to
	// +-|log(WHRatioClip)|. Default 16/1000; <= 0 or >= 1 disables the clamp.
	WHRatioClip float32 `yaml:"wh_ratio_clip"`
}

// DefaultCoder returns the reference coder: means 0, stds 1, clamp of dw, dh
// to +-log(1000/16).
func DefaultCoder() Coder {
	return Coder{Stds: [4]float32{1, 1, 1, 1}, WHRatioClip: DefaultWHRatioClip}
}

// Validate reports stds that are not positive finite numbers or means that
// are not finite.
func (c Coder) Validate() error {
	for i := 0; i < 4; i++ {
		if !(c.Stds[i] > 0) || !finite(c.Stds[i]) {
			return fmt.Errorf("box coder: std %d is %v, want a positive number", i, c.Stds[i])
		}
		if !finite(c.Means[i]) {
			return fmt.Errorf("box coder: mean %d is %v, want a finite number", i, c.Means[i])
		}
	}
	return nil
}

// MaxDeltaWH returns the bound applied to decoded dw and dh
// (|log(WHRatioClip)|), or +Inf when the clamp is disabled.
func (c Coder) MaxDeltaWH() float32 {
	if !(c.WHRatioClip > 0 && c.WHRatioClip < 1) {
		return float32(math.Inf(1))
	}
	return float32(math.Abs(math.Log(float64(c.WHRatioClip))))
}

// Encode returns the normalised deltas that turn anchor into gt. Both boxes
// must be valid (Box.Valid); otherwise the result holds NaN or Inf.
func (c Coder) Encode(anchor, gt Box) [4]float32 {
	pw, ph := anchor[2]-anchor[0], anchor[3]-anchor[1]
	px, py := (anchor[0]+anchor[2])*0.5, (anchor[1]+anchor[3])*0.5
	gw, gh := gt[2]-gt[0], gt[3]-gt[1]
	gx, gy := (gt[0]+gt[2])*0.5, (gt[1]+gt[3])*0.5
	return [4]float32{
		((gx-px)/pw - c.Means[0]) / c.Stds[0],
		((gy-py)/ph - c.Means[1]) / c.Stds[1],
		(float32(math.Log(float64(gw/pw))) - c.Means[2]) / c.Stds[2],
		(float32(math.Log(float64(gh/ph))) - c.Means[3]) / c.Stds[3],
	}
}

// Decode applies deltas (normalised as Encode returns them) to anchor: it
// de-normalises them, clamps dw and dh to +-MaxDeltaWH, and returns the box
// clipped to [0, imgW] x [0, imgH] (no clipping when imgW or imgH is <= 0).
// NaN deltas give a NaN box (post-processing drops it).
func (c Coder) Decode(anchor Box, deltas [4]float32, imgW, imgH int) Box {
	return c.decode(anchor, deltas, c.MaxDeltaWH(), float32(imgW), float32(imgH), imgW > 0 && imgH > 0)
}

func (c Coder) decode(anchor Box, d [4]float32, maxD, imgW, imgH float32, clip bool) Box {
	dx := d[0]*c.Stds[0] + c.Means[0]
	dy := d[1]*c.Stds[1] + c.Means[1]
	dw := clamp(d[2]*c.Stds[2]+c.Means[2], -maxD, maxD)
	dh := clamp(d[3]*c.Stds[3]+c.Means[3], -maxD, maxD)
	pw, ph := anchor[2]-anchor[0], anchor[3]-anchor[1]
	px, py := (anchor[0]+anchor[2])*0.5, (anchor[1]+anchor[3])*0.5
	gw := pw * float32(math.Exp(float64(dw)))
	gh := ph * float32(math.Exp(float64(dh)))
	gx, gy := px+pw*dx, py+ph*dy
	b := Box{gx - 0.5*gw, gy - 0.5*gh, gx + 0.5*gw, gy + 0.5*gh}
	if clip {
		b = b.Clip(imgW, imgH)
	}
	return b
}

// DecodeAll decodes n = len(anchors) boxes from deltas (n*4 values, one
// anchor after the other) into dst (len n), clipping to the image as Decode.
// It panics when the lengths disagree (a programming error).
func (c Coder) DecodeAll(dst, anchors []Box, deltas []float32, imgW, imgH int) {
	if len(dst) != len(anchors) || len(deltas) != 4*len(anchors) {
		panic("box.Coder.DecodeAll: lengths of dst, anchors and deltas disagree")
	}
	maxD := c.MaxDeltaWH()
	clip := imgW > 0 && imgH > 0
	for i, a := range anchors {
		dst[i] = c.decode(a, [4]float32(deltas[4*i:4*i+4]), maxD, float32(imgW), float32(imgH), clip)
	}
}
