package eval

import (
	"math"
	"testing"
)

// Hand-computed cases, one per rule of the reference evaluator. Precision
// values carry the reference's eps: one true positive among n detections
// gives 1/(n+eps), so "1" below is 1/(1+2.2e-16) = 1-2.2e-16; the comparisons
// allow 1e-12.

const u = -1 // undefined entry

// box builds a ground truth on image 1, category 1.
func gtBox(id int64, x, y, w, h, area float64, crowd bool) Annotation {
	return Annotation{ID: id, ImageID: 1, CategoryID: 1, BBox: [4]float64{x, y, w, h}, Area: area, IsCrowd: crowd}
}

// det builds a detection on image 1, category 1.
func det(x, y, w, h, score float64) Detection {
	return Detection{ImageID: 1, CategoryID: 1, BBox: [4]float64{x, y, w, h}, Score: score}
}

// far is a detection of size w x h that overlaps nothing used below.
func far(w, h, score float64) Detection { return det(5000, 5000, w, h, score) }

func oneImage(anns ...Annotation) *GroundTruth {
	return &GroundTruth{
		Images:      []Image{{ID: 1, Width: 640, Height: 480}},
		Categories:  []Category{{ID: 1, Name: "thing"}},
		Annotations: anns,
	}
}

func checkStats(t *testing.T, got, want [12]float64) {
	t.Helper()
	for s := range want {
		if math.Abs(got[s]-want[s]) > 1e-12 {
			t.Errorf("%s = %.17g, want %.17g", StatNames[s], got[s], want[s])
		}
	}
}

func TestRules(t *testing.T) {
	hundredFP := func(n int) []Detection {
		var d []Detection
		for i := range n {
			d = append(d, far(5, 5, 0.99-float64(i)*0.001))
		}
		return d
	}
	cases := []struct {
		name string
		gt   *GroundTruth
		dets []Detection
		want [12]float64
	}{
		{
			// Two detections inside a crowd region score above the true
			// positive: matched to the crowd (IoU = intersection over the
			// detection's area = 1, one crowd absorbing several detections)
			// they are ignored instead of being false positives. At maxDets 1
			// the only detection kept is an ignored one: AR1 = 0.
			name: "crowd region absorbs detections",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, false), gtBox(2, 20, 0, 40, 40, 1600, true)),
			dets: []Detection{det(25, 5, 10, 10, .95), det(30, 10, 10, 10, .93), det(0, 0, 10, 10, .9)},
			want: [12]float64{1, 1, 1, 1, u, u, 0, 1, 1, 1, u, u},
		},
		{
			// IoU with the normal ground truth is 0.64 and the crowd covers
			// the detection: matched to the normal one at IoU 0.50-0.60 (and
			// then it stops at the first ignored ground truth), matched to
			// the crowd (ignored) at 0.65-0.95. AP = 3/10.
			name: "stop at the first ignored ground truth",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, false), gtBox(2, 0, 0, 20, 20, 400, true)),
			dets: []Detection{det(0, 0, 10, 6.4, .9)},
			want: [12]float64{.3, 1, 0, .3, u, u, .3, .3, .3, .3, u, u},
		},
		{
			name: "area exactly 32^2 is small and medium",
			gt:   oneImage(gtBox(1, 10, 10, 32, 32, 1024, false)),
			dets: []Detection{det(10, 10, 32, 32, .8)},
			want: [12]float64{1, 1, 1, 1, 1, u, 1, 1, 1, 1, 1, u},
		},
		{
			name: "area exactly 96^2 is medium and large",
			gt:   oneImage(gtBox(1, 10, 10, 96, 96, 9216, false)),
			dets: []Detection{det(10, 10, 96, 96, .8)},
			want: [12]float64{1, 1, 1, u, 1, 1, 1, 1, 1, u, 1, 1},
		},
		{
			// The annotation's area field (medium) decides, not w*h (small);
			// the matched detection counts although its own area is small.
			name: "ground-truth area from the area field",
			gt:   oneImage(gtBox(1, 10, 10, 10, 10, 5000, false)),
			dets: []Detection{det(10, 10, 10, 10, .8)},
			want: [12]float64{1, 1, 1, u, 1, u, 1, 1, 1, u, 1, u},
		},
		{
			// An unmatched 32x32 detection (area 1024) is inside the small
			// range, so it is a false positive there too: APs = 1/2.
			name: "unmatched detection of area 32^2 counts in small",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, false)),
			dets: []Detection{far(32, 32, .9), det(0, 0, 10, 10, .5)},
			want: [12]float64{.5, .5, .5, .5, u, u, 0, 1, 1, 1, u, u},
		},
		{
			// A 33x33 unmatched detection is outside the small range and
			// ignored there: APs = 1 while AP = 1/2.
			name: "unmatched detection outside the range is ignored",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, false)),
			dets: []Detection{far(33, 33, .9), det(0, 0, 10, 10, .5)},
			want: [12]float64{.5, .5, .5, 1, u, u, 0, 1, 1, 1, u, u},
		},
		{
			name: "unmatched detection of area 96^2 counts in medium",
			gt:   oneImage(gtBox(1, 0, 0, 50, 100, 5000, false)),
			dets: []Detection{far(96, 96, .9), det(0, 0, 50, 100, .5)},
			want: [12]float64{.5, .5, .5, u, .5, u, 0, 1, 1, u, 1, u},
		},
		{
			// 100 false positives score higher: the true positive is the
			// 101st detection of its (image, category) and is cut.
			name: "101st detection is cut",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, false)),
			dets: append(hundredFP(100), det(0, 0, 10, 10, .01)),
			want: [12]float64{0, 0, 0, 0, u, u, 0, 0, 0, 0, u, u},
		},
		{
			// As the 100th it is kept for maxDets 100 only: precision 1/100.
			name: "100th detection is kept",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, false)),
			dets: append(hundredFP(99), det(0, 0, 10, 10, .01)),
			want: [12]float64{.01, .01, .01, .01, u, u, 0, 0, 1, 1, u, u},
		},
		{
			// Equal scores keep the file order within an image.
			name: "tie: false positive first in the file",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, false)),
			dets: []Detection{far(5, 5, .5), det(0, 0, 10, 10, .5)},
			want: [12]float64{.5, .5, .5, .5, u, u, 0, 1, 1, 1, u, u},
		},
		{
			name: "tie: true positive first in the file",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, false)),
			dets: []Detection{det(0, 0, 10, 10, .5), far(5, 5, .5)},
			want: [12]float64{1, 1, 1, 1, u, u, 1, 1, 1, 1, u, u},
		},
		{
			// Identical boxes: the IoU tie goes to the later ground truth,
			// here id 0, which the reference records as "unmatched" (a
			// false positive) while the ground truth counts as taken.
			name: "IoU tie goes to the later ground truth (id 0)",
			gt:   oneImage(gtBox(5, 0, 0, 10, 10, 100, false), gtBox(0, 0, 0, 10, 10, 100, false)),
			dets: []Detection{det(0, 0, 10, 10, .5)},
			want: [12]float64{0, 0, 0, 0, u, u, 0, 0, 0, 0, u, u},
		},
		{
			// Same with the order swapped: matched to id 5, a true positive
			// with recall 1/2: precision 1 at the 51 thresholds 0..0.50.
			name: "IoU tie goes to the later ground truth (id 5)",
			gt:   oneImage(gtBox(0, 0, 0, 10, 10, 100, false), gtBox(5, 0, 0, 10, 10, 100, false)),
			dets: []Detection{det(0, 0, 10, 10, .5)},
			want: [12]float64{51. / 101, 51. / 101, 51. / 101, 51. / 101, u, u, .5, .5, .5, .5, u, u},
		},
		{
			// No detections at all: 0 where there are ground truths, -1 for
			// area ranges without any.
			name: "empty detection list",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, false), gtBox(2, 0, 0, 50, 50, 2500, false)),
			dets: nil,
			want: [12]float64{0, 0, 0, 0, 0, u, 0, 0, 0, 0, 0, u},
		},
		{
			name: "only crowd ground truths",
			gt:   oneImage(gtBox(1, 0, 0, 10, 10, 100, true)),
			dets: []Detection{det(0, 0, 10, 10, .5), far(5, 5, .6)},
			want: [12]float64{u, u, u, u, u, u, u, u, u, u, u, u},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Evaluate(c.gt, c.dets, Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkStats(t, res.Stats, c.want)
			ref := refEvaluate(c.gt, c.dets)
			checkStats(t, ref.stats, c.want)
		})
	}
}

// twoImages: image ids 1 and 2 listed in descending order.
func twoImages(anns ...Annotation) *GroundTruth {
	gt := oneImage(anns...)
	gt.Images = []Image{{ID: 2}, {ID: 1}}
	return gt
}

func TestTiesAcrossImagesFollowImageIDs(t *testing.T) {
	onImage := func(d Detection, img int64) Detection { d.ImageID = img; return d }
	gtOn := func(img int64) Annotation { a := gtBox(1, 0, 0, 10, 10, 100, false); a.ImageID = img; return a }
	// Equal scores across images: the image with the smaller id comes
	// first, whatever the file order.
	cases := []struct {
		name string
		gt   *GroundTruth
		dets []Detection
		ap   float64
	}{
		{"false positive on image 1", twoImages(gtOn(2)), []Detection{onImage(det(0, 0, 10, 10, .5), 2), onImage(far(5, 5, .5), 1)}, .5},
		{"true positive on image 1", twoImages(gtOn(1)), []Detection{onImage(far(5, 5, .5), 2), onImage(det(0, 0, 10, 10, .5), 1)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Evaluate(c.gt, c.dets, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(res.Stats[0]-c.ap) > 1e-12 {
				t.Errorf("AP = %v, want %v", res.Stats[0], c.ap)
			}
		})
	}
}

func TestImagesWithoutGroundTruthOrDetections(t *testing.T) {
	gt := &GroundTruth{
		Images:     []Image{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}},
		Categories: []Category{{ID: 1}},
		Annotations: []Annotation{
			{ID: 1, ImageID: 1, CategoryID: 1, BBox: [4]float64{0, 0, 10, 10}, Area: 100},
			{ID: 2, ImageID: 2, CategoryID: 1, BBox: [4]float64{0, 0, 10, 10}, Area: 100},
		},
	}
	dets := []Detection{
		{ImageID: 1, CategoryID: 1, BBox: [4]float64{0, 0, 10, 10}, Score: .5}, // true positive
		{ImageID: 3, CategoryID: 1, BBox: [4]float64{0, 0, 10, 10}, Score: .9}, // image without ground truth: false positive
	}
	// Image 2 has a ground truth and no detection, image 4 nothing. Sorted:
	// FP (0.9), TP (0.5): precision 1/2 up to recall 1/2 (51 thresholds).
	// maxDets 1 keeps each image's best detection, so AR1 is 1/2 as well.
	res, err := Evaluate(gt, dets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := [12]float64{.5 * 51 / 101, .5 * 51 / 101, .5 * 51 / 101, .5 * 51 / 101, u, u, .5, .5, .5, .5, u, u}
	checkStats(t, res.Stats, want)
	if res.NumImages != 4 {
		t.Errorf("NumImages = %d, want 4", res.NumImages)
	}
}

func TestEmptyCategories(t *testing.T) {
	base := oneImage(gtBox(1, 0, 0, 10, 10, 100, false), gtBox(2, 100, 100, 60, 60, 3600, false))
	baseDets := []Detection{det(0, 0, 10, 10, .8), det(100, 100, 50, 60, .7), far(5, 5, .75)}
	want, err := Evaluate(base, baseDets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Category 7 has nothing; category 9 has only (false positive)
	// detections: neither may change the numbers.
	more := oneImage(base.Annotations...)
	more.Categories = append(more.Categories, Category{ID: 9, Name: "only-dets"}, Category{ID: 7, Name: "empty"})
	moreDets := append([]Detection{}, baseDets...)
	for i := range 5 {
		moreDets = append(moreDets, Detection{ImageID: 1, CategoryID: 9, BBox: [4]float64{0, 0, 10, 10}, Score: .99 - float64(i)/100})
	}
	got, err := Evaluate(more, moreDets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkStats(t, got.Stats, want.Stats)
	if len(got.PerCategory) != 3 {
		t.Fatalf("%d categories, want 3", len(got.PerCategory))
	}
	for k, wantID := range []int{1, 7, 9} {
		c := got.PerCategory[k]
		if c.ID != wantID {
			t.Errorf("PerCategory[%d].ID = %d, want %d (ascending ids)", k, c.ID, wantID)
		}
		if wantID != 1 {
			for s, v := range c.Stats {
				if v != -1 {
					t.Errorf("category %d: %s = %v, want -1", c.ID, StatNames[s], v)
				}
			}
			for _, p := range c.Precision50 {
				if p != -1 {
					t.Fatalf("category %d: precision curve %v, want -1 throughout", c.ID, c.Precision50)
				}
			}
		}
	}
	if got.PerCategory[2].NumDets != 5 || got.PerCategory[0].NumGT != 2 {
		t.Errorf("counts: %+v", got.PerCategory)
	}
	// With one valid category, its numbers are the overall numbers.
	checkStats(t, got.PerCategory[0].Stats, want.Stats)
}

func TestMaxDetsPerImageAndCategory(t *testing.T) {
	// Category 2 puts 60 high-scoring detections on the same image: the cut
	// to 100 is per (image, category), so category 1's true positive (its
	// 61st detection) survives.
	gt := oneImage(gtBox(1, 0, 0, 10, 10, 100, false))
	gt.Categories = append(gt.Categories, Category{ID: 2, Name: "other"})
	var dets []Detection
	for i := range 60 {
		dets = append(dets, far(5, 5, 0.9-float64(i)*0.001))
		d := far(5, 5, 1)
		d.CategoryID = 2
		dets = append(dets, d)
	}
	dets = append(dets, det(0, 0, 10, 10, .01))
	res, err := Evaluate(gt, dets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Stats[8]-1) > 1e-12 {
		t.Errorf("AR100 = %v, want 1", res.Stats[8])
	}
	if want := 1 / (61 + eps); math.Abs(res.Stats[0]-want) > 1e-12 {
		t.Errorf("AP = %v, want %v", res.Stats[0], want)
	}
	if res.PerCategory[1].AP != -1 || res.PerCategory[1].NumDets != 60 {
		t.Errorf("category 2: %+v", res.PerCategory[1])
	}
}

func TestCurves(t *testing.T) {
	// TP (0.9), FP (0.8), TP (0.7, IoU 0.6): at IoU 0.5 the precisions
	// 1, 1/2, 2/3 become 1, 2/3, 2/3 from the right, so the curve is 1 up to
	// recall 1/2 and 2/3 beyond; at IoU 0.75 the last one is a false
	// positive and the curve drops to 0 beyond recall 1/2.
	gt := oneImage(gtBox(1, 0, 0, 10, 10, 100, false), gtBox(2, 100, 0, 10, 10, 100, false))
	dets := []Detection{det(0, 0, 10, 10, .9), far(5, 5, .8), det(100, 0, 10, 6, .7)}
	res, err := Evaluate(gt, dets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := res.PerCategory[0]
	for r, thr := range RecallThresholds {
		want50, want75 := 1/(1+eps), 1/(1+eps)
		if thr > .5 {
			want50, want75 = 2/(3+eps), 0
		}
		if math.Abs(c.Precision50[r]-want50) > 1e-12 || math.Abs(c.Precision75[r]-want75) > 1e-12 {
			t.Fatalf("recall %.2f: precision %v / %v, want %v / %v", thr, c.Precision50[r], c.Precision75[r], want50, want75)
		}
		// Entries stay at maxDets 100, area all; the score is that of the
		// detection reaching the recall.
		if s := res.ScoreAt(0, r, 0, 0, 2); (thr <= .5 && s != .9) || (thr > .5 && s != .7) {
			t.Fatalf("score at recall %.2f = %v", thr, s)
		}
	}
	if c.Recall50 != 1 || c.Recall75 != .5 {
		t.Errorf("recall %v / %v, want 1 / 0.5", c.Recall50, c.Recall75)
	}
}

func TestThresholds(t *testing.T) {
	if len(IoUThresholds) != 10 || len(RecallThresholds) != 101 {
		t.Fatalf("%d IoU and %d recall thresholds", len(IoUThresholds), len(RecallThresholds))
	}
	for i, v := range IoUThresholds {
		if math.Abs(v-(0.5+0.05*float64(i))) > 1e-15 {
			t.Errorf("IoU threshold %d = %v", i, v)
		}
	}
	for i, v := range RecallThresholds {
		if math.Abs(v-0.01*float64(i)) > 1e-15 {
			t.Errorf("recall threshold %d = %v", i, v)
		}
	}
	// The reference finds 0.5 and 0.75 by equality; both must be present.
	if thresholdIndex(.5) != 0 || thresholdIndex(.75) != 5 || IoUThresholds[9] != .95 || RecallThresholds[100] != 1 {
		t.Errorf("thresholds: %v", IoUThresholds)
	}
}

func TestBoxIoU(t *testing.T) {
	cases := []struct {
		d, g  [4]float64
		crowd bool
		want  float64
	}{
		{[4]float64{0, 0, 10, 10}, [4]float64{0, 0, 10, 10}, false, 1},
		{[4]float64{0, 0, 10, 10}, [4]float64{5, 0, 10, 10}, false, 50. / 150},
		{[4]float64{0, 0, 10, 10}, [4]float64{10, 0, 10, 10}, false, 0}, // touching: no overlap
		{[4]float64{0, 0, 10, 10}, [4]float64{-5, -5, 100, 100}, true, 1},
		{[4]float64{0, 0, 10, 10}, [4]float64{5, 5, 100, 100}, true, 25. / 100},
		{[4]float64{0, 0, 0, 10}, [4]float64{0, 0, 10, 10}, true, 0}, // zero width
	}
	for _, c := range cases {
		if got := boxIoU(&c.d, &c.g, c.crowd); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("IoU(%v, %v, crowd %v) = %v, want %v", c.d, c.g, c.crowd, got, c.want)
		}
	}
}
