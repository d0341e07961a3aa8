// Package data holds the in-memory dataset representation shared by every
// reader (COCO, Pascal VOC, YOLO), the data checker, the synthetic dataset
// generator, the image transforms and the batch loader.
package data

// Dataset is one split of an object-detection dataset, whatever format it was
// read from.
type Dataset struct {
	// Name identifies the dataset or split (for example "bccd/train").
	Name string
	// Classes are the class names, indexed by the contiguous class index
	// 0..len(Classes)-1 used by the model.
	Classes []string
	// CategoryIDs maps a contiguous class index to the dataset's own
	// category id (COCO ids are not contiguous; VOC and YOLO get index+1).
	// Evaluation and COCO output use these ids.
	CategoryIDs []int
	// Images are the images of the split, in a stable order.
	Images []Image
}

// Image is one image and its annotations.
type Image struct {
	// ID is the image id (COCO image id; VOC and YOLO: position + 1).
	ID int64
	// Path is the image file's path as it can be opened (joined with the
	// dataset's image folder).
	Path string
	// FileName is the file name as the annotation names it.
	FileName string
	// Width and Height are the annotated image size in pixels.
	Width, Height int
	// Objects are the annotated boxes.
	Objects []Object
}

// Object is one annotated box.
type Object struct {
	// ID is the annotation id (COCO annotation id; otherwise a running
	// number unique within the dataset, starting at 1).
	ID int64
	// Class is the contiguous class index into Dataset.Classes.
	Class int
	// Box is x1, y1, x2, y2 in pixels of the original image (x2 = x + w).
	Box [4]float64
	// Area is the annotated area (COCO "area"); w*h where the format has none.
	Area float64
	// Crowd marks COCO iscrowd boxes: ignore regions for training, matched as
	// crowd by the evaluator.
	Crowd bool
	// Difficult marks Pascal VOC difficult boxes: ignored by training and
	// evaluated as crowd-like ignore regions.
	Difficult bool
}

// NumObjects returns the number of boxes in the dataset.
func (d *Dataset) NumObjects() int {
	n := 0
	for i := range d.Images {
		n += len(d.Images[i].Objects)
	}
	return n
}
