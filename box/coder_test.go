package box

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestEncodeHandCase(t *testing.T) {
	c := DefaultCoder()
	d := c.Encode(Box{0, 0, 10, 10}, Box{5, 5, 25, 25})
	want := [4]float32{1, 1, float32(math.Log(2)), float32(math.Log(2))}
	for i := range d {
		if !near(d[i], want[i], 1e-6) {
			t.Errorf("delta %d = %v, want %v", i, d[i], want[i])
		}
	}
	c.Means = [4]float32{0.5, 0, 0, 0}
	c.Stds = [4]float32{0.1, 0.1, 0.2, 0.2}
	d = c.Encode(Box{0, 0, 10, 10}, Box{5, 5, 25, 25})
	want = [4]float32{(1 - 0.5) / 0.1, 1 / 0.1, float32(math.Log(2)) / 0.2, float32(math.Log(2)) / 0.2}
	for i := range d {
		if !near(d[i], want[i], 1e-5) {
			t.Errorf("normalised delta %d = %v, want %v", i, d[i], want[i])
		}
	}
}

func TestCoderRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	coders := map[string]Coder{"default": DefaultCoder()}
	c := DefaultCoder()
	c.Means = [4]float32{0.1, -0.2, 0.05, 0}
	c.Stds = [4]float32{0.1, 0.1, 0.2, 0.2}
	coders["normalised"] = c
	for name, c := range coders {
		anchors := randomBoxes(r, 2000, 1000, 1000, 300, false)
		gts := make([]Box, len(anchors))
		for i, a := range anchors {
			// Centre moved by up to one anchor size, size scaled by e^[-2, 2].
			cx, cy := a.Center()
			cx += (2*r.Float32() - 1) * a.Width()
			cy += (2*r.Float32() - 1) * a.Height()
			w := a.Width() * float32(math.Exp(4*r.Float64()-2))
			h := a.Height() * float32(math.Exp(4*r.Float64()-2))
			gts[i] = Box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}
		}
		deltas := make([]float32, 0, 4*len(gts))
		for i := range gts {
			d := c.Encode(anchors[i], gts[i])
			deltas = append(deltas, d[:]...)
			// Size changes beyond the clamp are not invertible: keep them in range.
			if math.Abs(float64(d[2]*c.Stds[2]+c.Means[2])) > 4 || math.Abs(float64(d[3]*c.Stds[3]+c.Means[3])) > 4 {
				t.Fatalf("random sizes out of the clamp range")
			}
			got := c.Decode(anchors[i], d, 0, 0)
			for k := 0; k < 4; k++ {
				tol := 1e-4 * max(1, float32(math.Abs(float64(gts[i][k]))))
				if !near(got[k], gts[i][k], tol) {
					t.Fatalf("%s: box %d: decode(encode(%v)) = %v", name, i, gts[i], got)
				}
			}
		}
		all := make([]Box, len(anchors))
		c.DecodeAll(all, anchors, deltas, 0, 0)
		for i := range all {
			if all[i] != c.Decode(anchors[i], [4]float32(deltas[4*i:4*i+4]), 0, 0) {
				t.Fatalf("%s: DecodeAll differs from Decode at %d", name, i)
			}
		}
	}
}

func TestDecodeClampAndClip(t *testing.T) {
	c := DefaultCoder()
	maxD := float32(math.Log(1000.0 / 16))
	if !near(c.MaxDeltaWH(), maxD, 1e-6) || !near(maxD, 4.135, 1e-3) {
		t.Fatalf("MaxDeltaWH = %v, want %v", c.MaxDeltaWH(), maxD)
	}
	anchor := Box{100, 100, 110, 110}
	tests := []struct {
		name       string
		d          [4]float32
		imgW, imgH int
		want       Box
	}{
		{"zero deltas", [4]float32{}, 1000, 1000, anchor},
		{"shift", [4]float32{1, -1, 0, 0}, 1000, 1000, Box{110, 90, 120, 100}},
		{"clamped growth, unclipped", [4]float32{0, 0, 10, 10}, 0, 0,
			Box{105 - 5*1000.0/16, 105 - 5*1000.0/16, 105 + 5*1000.0/16, 105 + 5*1000.0/16}},
		{"clamped growth, clipped", [4]float32{0, 0, 10, 10}, 300, 200, Box{0, 0, 300, 200}},
		{"clamped shrink", [4]float32{0, 0, -10, -10}, 0, 0,
			Box{105 - 5*16.0/1000, 105 - 5*16.0/1000, 105 + 5*16.0/1000, 105 + 5*16.0/1000}},
		{"outside the image becomes empty", [4]float32{100, 0, 0, 0}, 500, 500, Box{500, 100, 500, 110}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Decode(anchor, tc.d, tc.imgW, tc.imgH)
			for k := 0; k < 4; k++ {
				if !near(got[k], tc.want[k], 1e-3) {
					t.Fatalf("Decode = %v, want %v", got, tc.want)
				}
			}
		})
	}
	// Clamp disabled.
	c.WHRatioClip = 0
	if got := c.Decode(anchor, [4]float32{0, 0, 6, 0}, 0, 0); !near(got.Width(), 10*float32(math.Exp(6)), 1e-2) {
		t.Errorf("unclamped width %v, want %v", got.Width(), 10*math.Exp(6))
	}
	// NaN deltas do not panic and give a NaN box.
	if got := DefaultCoder().Decode(anchor, [4]float32{nan32, 0, 0, 0}, 500, 500); got[0] == got[0] {
		t.Errorf("NaN delta gave %v", got)
	}
}

func TestCoderValidate(t *testing.T) {
	if err := DefaultCoder().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	if err := (Coder{}).Validate(); err == nil {
		t.Errorf("zero coder: no error")
	}
	c := DefaultCoder()
	c.Means[1] = nan32
	if err := c.Validate(); err == nil {
		t.Errorf("NaN mean: no error")
	}
}
