package eval

import (
	"fmt"

	"github.com/ghmdet/ghmdet/data"
)

// FromDataset returns the ground truth of a dataset split: its images, its
// classes as categories (ids from ds.CategoryIDs, or index+1 when those are
// absent) and its objects as annotations (x1, y1, x2, y2 turned into x, y,
// w, h; Crowd and Difficult objects become crowd regions, which the
// evaluator ignores and matches by intersection over the detection's area).
// Objects with ID 0 get ids that follow the largest one, since the
// evaluator needs nonzero, unique annotation ids.
//
// Widths computed as x2-x1 can differ from a COCO file's w in the last bit;
// evaluate the original file when bit-identical numbers matter.
func FromDataset(ds *data.Dataset) (*GroundTruth, error) {
	if len(ds.CategoryIDs) != 0 && len(ds.CategoryIDs) != len(ds.Classes) {
		return nil, fmt.Errorf("dataset %s: %d category ids for %d classes", ds.Name, len(ds.CategoryIDs), len(ds.Classes))
	}
	catID := func(class int) int { return CategoryID(ds, class) }
	gt := &GroundTruth{}
	for c, name := range ds.Classes {
		gt.Categories = append(gt.Categories, Category{ID: catID(c), Name: name})
	}
	var maxID int64
	for i := range ds.Images {
		for _, o := range ds.Images[i].Objects {
			maxID = max(maxID, o.ID)
		}
	}
	for i := range ds.Images {
		im := &ds.Images[i]
		gt.Images = append(gt.Images, Image{ID: im.ID, FileName: im.FileName, Width: im.Width, Height: im.Height})
		for j, o := range im.Objects {
			if o.Class < 0 || o.Class >= len(ds.Classes) {
				return nil, fmt.Errorf("dataset %s: image %d (%s) object %d: class %d is outside 0..%d", ds.Name, im.ID, im.FileName, j, o.Class, len(ds.Classes)-1)
			}
			id := o.ID
			if id == 0 {
				maxID++
				id = maxID
			}
			gt.Annotations = append(gt.Annotations, Annotation{
				ID:         id,
				ImageID:    im.ID,
				CategoryID: catID(o.Class),
				BBox:       [4]float64{o.Box[0], o.Box[1], o.Box[2] - o.Box[0], o.Box[3] - o.Box[1]},
				Area:       o.Area,
				IsCrowd:    o.Crowd || o.Difficult,
			})
		}
	}
	if err := gt.Validate(); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", ds.Name, err)
	}
	return gt, nil
}

// CategoryID returns the category id FromDataset gives class index class
// of ds: ds.CategoryIDs[class] when ds has one category id per class, and
// class + 1 when it has none (VOC and YOLO datasets). Detections of a
// dataset must take their CategoryID from it to match FromDataset's
// categories. A class outside ds.Classes gets -1, which names no category
// of a dataset read from a file: Evaluate then rejects the detection.
func CategoryID(ds *data.Dataset, class int) int {
	if class < 0 || class >= len(ds.Classes) {
		return -1
	}
	if len(ds.CategoryIDs) != len(ds.Classes) {
		return class + 1
	}
	return ds.CategoryIDs[class]
}
