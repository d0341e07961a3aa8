package eval

import (
	"math"
	"testing"
)

// TestAPAtIoU checks the AP at each IoU threshold against the summary
// numbers that contain it (AP50, AP75, and AP as their mean) on random
// cases, and against a hand-made case whose AP falls from 1 to 0 between
// two thresholds.
func TestAPAtIoU(t *testing.T) {
	for _, c := range []struct {
		name string
		seed uint64
		cfg  genConfig
	}{
		{"plain", 1, genConfig{images: 40, cats: 4, gtPerImage: 3, detsPerImage: 6}},
		{"tricky", 2, genConfig{images: 60, cats: 5, gtPerImage: 4, detsPerImage: 10, crowdFrac: 0.1, tricky: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			gt, dets := genCase(c.seed, c.cfg)
			res, err := Evaluate(gt, dets, Options{})
			if err != nil {
				t.Fatal(err)
			}
			byIoU := res.APByIoU()
			if len(byIoU) != len(IoUThresholds) {
				t.Fatalf("%d values, want %d", len(byIoU), len(IoUThresholds))
			}
			if byIoU[0] != res.Stats[1] || byIoU[5] != res.Stats[2] {
				t.Errorf("AP at .50 and .75: %v and %v, want AP50 %v and AP75 %v", byIoU[0], byIoU[5], res.Stats[1], res.Stats[2])
			}
			mean := 0.0
			for _, v := range byIoU {
				mean += v / float64(len(byIoU))
			}
			if math.Abs(mean-res.Stats[0]) > 1e-12 {
				t.Errorf("mean of the AP by IoU %v, want AP %v", mean, res.Stats[0])
			}
		})
	}
	// One box found with IoU 0.818 (x shifted by 10 of 100 pixels: 90/110):
	// AP 1 at thresholds up to 0.80, 0 above.
	gt := oneImage(gtBox(1, 0, 0, 100, 100, 10000, false))
	res, err := Evaluate(gt, []Detection{det(10, 0, 100, 100, .9)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, thr := range IoUThresholds {
		want := 0.0
		if thr <= 0.8 {
			want = 1
		}
		// Precision is tp/(tp+fp+eps), the reference's: 1 - 2e-16.
		if got := res.APAtIoU(i); math.Abs(got-want) > 1e-12 {
			t.Errorf("AP at IoU %.2f: %v, want %v", thr, got, want)
		}
	}
	for _, bad := range []int{-1, len(IoUThresholds)} {
		if got := res.APAtIoU(bad); got != -1 {
			t.Errorf("APAtIoU(%d) = %v, want -1", bad, got)
		}
	}
}
