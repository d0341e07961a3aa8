// Package eval computes COCO box-detection metrics (AP, AP50, AP75, AP for
// small, medium and large objects, and AR at 1, 10 and 100 detections) with
// the semantics of the reference evaluator, pycocotools COCOeval with iouType
// "bbox", rule for rule (see ../shared/spec/cocoeval.md):
//
//   - IoU thresholds 0.50:0.05:0.95 and recall thresholds 0:0.01:1, built as
//     numpy.linspace builds them (start + i*step, last value set exactly);
//     maxDets 1, 10, 100; area ranges all [0, 1e10], small [0, 32^2], medium
//     [32^2, 96^2], large [96^2, 1e10], bounds inclusive.
//   - A ground truth's area is its annotation's Area field; a detection's area
//     is w*h. Crowd ground truths are ignored, and their IoU with a detection
//     is the intersection over the detection's area.
//   - Per (image, category): detections stably sorted by descending score and
//     cut to 100; ground truths stably sorted with the ignored ones last;
//     greedy matching per area range and IoU threshold exactly as the
//     reference does it (ties go to the later ground truth, crowd ground
//     truths can be matched many times, a detection matched to a normal
//     ground truth stops at the first ignored one).
//   - Per (category, area range, maxDets): the images' top detections are
//     concatenated in ascending image-id order and stably sorted by descending
//     score, precision is made non-increasing from the right and sampled at
//     the recall thresholds; entries without a non-ignored ground truth stay
//     -1 and every summary number is the mean over the entries > -1 (-1 when
//     there is none). Means are summed pairwise in numpy's order.
//
// Ground-truth and results files are read with the COCO reader of package
// data/coco, the one datasets are read with (same checks, same messages),
// with its ground-truth rules (coco.ForGroundTruth) and its results reader
// (coco.ParseResults).
//
// The results loader follows pycocotools' COCO.loadRes for boxes: detections
// get area w*h, iscrowd 0 and ids 1..n, and detections on images absent from
// the ground truth are rejected. Where the reference crashes or silently
// drops data, this package returns an error that names the file and the
// record instead:
//
//   - detections or ground truths whose category id is not among the
//     categories (the reference drops them silently);
//   - ground truths on image ids absent from the images list (the reference
//     ignores them);
//   - duplicate image, category or annotation ids (the reference's indexes
//     then mix records up);
//   - NaN or infinite numbers, negative widths, heights or areas, missing
//     fields, ids that are not integers.
//
// An empty detection list is valid (pycocotools' loadRes fails on it with an
// IndexError, but its evaluate/accumulate code gives the same numbers as this
// package for no detections): every AP and AR is 0, except the area ranges
// that hold no non-ignored ground truth at all, which are -1 as always.
//
// One quirk is kept on purpose: the reference records matches by ground-truth
// id, so a detection matched to an annotation whose id is 0 counts as
// unmatched (a false positive, or ignored when outside the area range) while
// the annotation still counts as taken. Give annotations nonzero ids.
//
// Evaluation runs on up to Options.Workers goroutines (default GOMAXPROCS);
// the numbers do not depend on the number of goroutines.
package eval
