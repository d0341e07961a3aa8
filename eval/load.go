package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/ghmdet/ghmdet/data/coco"
)

// LoadGroundTruth reads a COCO ground-truth file (instances JSON). Errors
// name the file and the record.
func LoadGroundTruth(path string) (*GroundTruth, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ground truth: %w", err)
	}
	return parseGroundTruth(buf, path)
}

// ParseGroundTruth reads a COCO ground truth from r; name (usually the file
// name) prefixes every error. It uses the COCO reader of package data/coco
// with its ground-truth rules (coco.ForGroundTruth): images (id; file_name,
// width and height when present), categories (id, name) and annotations
// (id, image_id, category_id, bbox, area, iscrowd) are read and checked;
// other fields are skipped. An annotation without iscrowd is not a crowd.
// The first record with an error fails the reading; the result passes
// GroundTruth.Validate.
func ParseGroundTruth(r io.Reader, name string) (*GroundTruth, error) {
	buf, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return parseGroundTruth(buf, name)
}

func parseGroundTruth(buf []byte, name string) (*GroundTruth, error) {
	in, _, err := coco.ParseInstances(buf, name, coco.ForGroundTruth)
	if err != nil {
		return nil, err
	}
	gt := &GroundTruth{
		Images:      make([]Image, len(in.Images)),
		Categories:  make([]Category, len(in.Categories)),
		Annotations: make([]Annotation, len(in.Annotations)),
	}
	for i, im := range in.Images {
		gt.Images[i] = Image(im)
	}
	for i, c := range in.Categories {
		gt.Categories[i] = Category(c)
	}
	for i, a := range in.Annotations {
		gt.Annotations[i] = Annotation{ID: a.ID, ImageID: a.ImageID, CategoryID: a.CategoryID, BBox: a.BBox, Area: a.Area, IsCrowd: a.IsCrowd}
	}
	return gt, nil
}

// LoadDetections reads a COCO results file (a JSON array of {image_id,
// category_id, bbox, score}). When gt is not nil, detections on images or
// categories absent from it are rejected. Errors name the file and the
// record.
func LoadDetections(path string, gt *GroundTruth) ([]Detection, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("detections: %w", err)
	}
	return parseDetections(buf, path, gt)
}

// ParseDetections reads a COCO results array from r with coco.ParseResults;
// name (usually the file name) prefixes every error. Fields other than
// image_id, category_id, bbox and score are skipped (the reference
// overwrites area, id and iscrowd). An empty array is valid.
func ParseDetections(r io.Reader, name string, gt *GroundTruth) ([]Detection, error) {
	buf, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return parseDetections(buf, name, gt)
}

func parseDetections(buf []byte, name string, gt *GroundTruth) ([]Detection, error) {
	if gt == nil {
		return coco.ParseResults(buf, name, nil, nil)
	}
	imgs := make(map[int64]struct{}, len(gt.Images))
	for _, im := range gt.Images {
		imgs[im.ID] = struct{}{}
	}
	cats := make(map[int]struct{}, len(gt.Categories))
	for _, c := range gt.Categories {
		cats[c.ID] = struct{}{}
	}
	return coco.ParseResults(buf, name,
		func(id int64) bool { _, ok := imgs[id]; return ok },
		func(id int) bool { _, ok := cats[id]; return ok })
}

// WriteDetections writes dets as a COCO results JSON array.
func WriteDetections(w io.Writer, dets []Detection) error {
	if dets == nil {
		dets = []Detection{}
	}
	return json.NewEncoder(w).Encode(dets)
}
