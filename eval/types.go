package eval

import (
	"github.com/ghmdet/ghmdet/data/coco"
)

// GroundTruth is a COCO ground-truth set: the images evaluated, the
// categories and the annotated boxes.
type GroundTruth struct {
	// Images are the images evaluated; every one counts, with or without
	// annotations or detections. Ids must be unique.
	Images []Image
	// Categories are the categories evaluated. Ids must be unique.
	Categories []Category
	// Annotations are the ground-truth boxes. Ids must be unique and should be
	// nonzero (see the package documentation).
	Annotations []Annotation
}

// Image is one evaluated image (COCO "images" entry).
type Image struct {
	ID            int64
	FileName      string
	Width, Height int
}

// Category is one evaluated category (COCO "categories" entry).
type Category struct {
	ID   int
	Name string
}

// Annotation is one ground-truth box (COCO "annotations" entry).
type Annotation struct {
	ID         int64
	ImageID    int64
	CategoryID int
	// BBox is x, y, width, height in pixels.
	BBox [4]float64
	// Area is the annotated area, which decides the area range (small, medium,
	// large); for COCO it is the segmentation's area, not w*h.
	Area float64
	// IsCrowd marks a crowd region: ignored, and matched by intersection over
	// the detection's area.
	IsCrowd bool
}

// Detection is one detected box, as in a COCO results file: image_id,
// category_id, bbox (x, y, width, height in pixels) and score. Its JSON
// encoding is the COCO results format. It is the record of the COCO reader
// (package data/coco) that LoadDetections uses.
type Detection = coco.Detection

// Options tunes how Evaluate runs; the zero value is the default. Options
// never change the numbers.
type Options struct {
	// Workers is the number of goroutines; 0 or less means GOMAXPROCS.
	Workers int
}

// AreaRange is one of the evaluator's object-size ranges, bounds inclusive.
type AreaRange struct {
	Label    string
	Min, Max float64
}

// Evaluation parameters (those of pycocotools' Params for iouType "bbox").
var (
	// IoUThresholds are 0.50, 0.55, ..., 0.95 as numpy.linspace builds them.
	IoUThresholds = linspace(0.5, 0.95, 10)
	// RecallThresholds are 0, 0.01, ..., 1 as numpy.linspace builds them.
	RecallThresholds = linspace(0, 1, 101)
	// MaxDets are the numbers of detections per image and category kept for
	// the three maxDets settings.
	MaxDets = [3]int{1, 10, 100}
	// AreaRanges are all, small, medium and large.
	AreaRanges = [4]AreaRange{
		{"all", 0, 1e10},
		{"small", 0, 32 * 32},
		{"medium", 32 * 32, 96 * 96},
		{"large", 96 * 96, 1e10},
	}
)

const (
	numIoU  = 10
	numRec  = 101
	numArea = 4
	numMax  = 3
	// eps is numpy.spacing(1), added to precision denominators.
	eps = 2.220446049250313e-16
)

// linspace returns numpy.linspace(start, stop, num): start + i*step with
// step = (stop-start)/(num-1), and the last value set to stop.
func linspace(start, stop float64, num int) []float64 {
	out := make([]float64, num)
	step := (stop - start) / float64(num-1)
	for i := range out {
		// The explicit conversion forbids a fused multiply-add, which would
		// round differently from numpy.
		out[i] = float64(float64(i)*step) + start
	}
	out[num-1] = stop
	return out
}

// StatNames are the names of Result.Stats, in the reference's order.
var StatNames = [12]string{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}

// Result holds the evaluation's numbers.
type Result struct {
	// Stats are the 12 summary numbers in the reference's order: AP, AP50,
	// AP75, AP small, AP medium, AP large, AR at maxDets 1, 10, 100, AR small,
	// AR medium, AR large (see StatNames). -1 means no valid entry.
	Stats [12]float64
	// PerCategory has one entry per category, in ascending id order (the
	// order of index k in the arrays below).
	PerCategory []CategoryResult
	// NumImages is the number of images evaluated.
	NumImages int
	// Precision is the reference's eval["precision"]: T x R x K x A x M
	// (IoU threshold, recall threshold, category, area range, maxDets) in
	// row-major order, -1 where a category has no non-ignored ground truth in
	// an area range. Use PrecisionAt to index it.
	Precision []float64
	// Recall is the reference's eval["recall"]: T x K x A x M, row-major.
	Recall []float64
	// Scores is the reference's eval["scores"]: the detection score at which
	// each Precision entry is reached (T x R x K x A x M, row-major).
	Scores []float64
}

// CategoryResult holds one category's numbers: the summary numbers computed
// over this category alone (-1 where it has no non-ignored ground truth) and
// its precision-recall curves.
type CategoryResult struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	// NumGT counts the category's non-crowd ground truths; NumCrowd its crowd
	// ones; NumDets its detections before the cut to 100 per image.
	NumGT    int `json:"num_gt"`
	NumCrowd int `json:"num_crowd"`
	NumDets  int `json:"num_dets"`
	// Stats are the 12 summary numbers for this category (order of StatNames).
	Stats [12]float64 `json:"-"`
	// AP is the AP at IoU 0.50:0.95 (area all, maxDets 100); the other
	// fields copy the other Stats.
	AP       float64 `json:"ap"`
	AP50     float64 `json:"ap50"`
	AP75     float64 `json:"ap75"`
	APSmall  float64 `json:"ap_small"`
	APMedium float64 `json:"ap_medium"`
	APLarge  float64 `json:"ap_large"`
	AR1      float64 `json:"ar1"`
	AR10     float64 `json:"ar10"`
	AR100    float64 `json:"ar100"`
	ARSmall  float64 `json:"ar_small"`
	ARMedium float64 `json:"ar_medium"`
	ARLarge  float64 `json:"ar_large"`
	// Precision50 and Precision75 are the precision-recall curves at IoU 0.50
	// and 0.75 (area all, maxDets 100): the precision at each of the
	// RecallThresholds (-1 throughout when the category has no non-ignored
	// ground truth). Recall50 and Recall75 are the recall reached.
	Precision50 []float64 `json:"-"`
	Precision75 []float64 `json:"-"`
	Recall50    float64   `json:"-"`
	Recall75    float64   `json:"-"`
}

// NumCategories returns K, the number of categories in the arrays.
func (r *Result) NumCategories() int { return len(r.PerCategory) }

// PrecisionAt returns Precision[t][rc][k][a][m]: IoU threshold index t (0..9),
// recall threshold index rc (0..100), category index k (position in
// PerCategory), area range index a (0..3, see AreaRanges) and maxDets index m
// (0..2, see MaxDets).
func (r *Result) PrecisionAt(t, rc, k, a, m int) float64 {
	return r.Precision[r.precIndex(t, rc, k, a, m)]
}

// ScoreAt returns Scores[t][rc][k][a][m] (indices as for PrecisionAt).
func (r *Result) ScoreAt(t, rc, k, a, m int) float64 {
	return r.Scores[r.precIndex(t, rc, k, a, m)]
}

// RecallAt returns Recall[t][k][a][m] (indices as for PrecisionAt).
func (r *Result) RecallAt(t, k, a, m int) float64 {
	return r.Recall[((t*len(r.PerCategory)+k)*numArea+a)*numMax+m]
}

func (r *Result) precIndex(t, rc, k, a, m int) int {
	return (((t*numRec+rc)*len(r.PerCategory)+k)*numArea+a)*numMax + m
}

// Validate checks the ground truth with the COCO reader's ground-truth rules
// (those LoadGroundTruth applies, see coco.Instances.Validate): unique image,
// category and annotation ids, annotations on known images and categories,
// finite boxes with non-negative width and height, finite non-negative
// areas, at least one category. Errors name the record (its index and id).
func (gt *GroundTruth) Validate() error {
	in := coco.Instances{
		Images:      make([]coco.Image, len(gt.Images)),
		Categories:  make([]coco.Category, len(gt.Categories)),
		Annotations: make([]coco.Annotation, len(gt.Annotations)),
	}
	for i, im := range gt.Images {
		in.Images[i] = coco.Image(im)
	}
	for i, c := range gt.Categories {
		in.Categories[i] = coco.Category(c)
	}
	for i, a := range gt.Annotations {
		in.Annotations[i] = coco.Annotation{ID: a.ID, ImageID: a.ImageID, CategoryID: a.CategoryID, BBox: a.BBox, Area: a.Area, IsCrowd: a.IsCrowd}
	}
	return in.Validate()
}
