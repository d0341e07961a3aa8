package coco

import (
	"fmt"
	"math"
)

// Detection is one record of a COCO results file (its JSON encoding is that
// format).
type Detection struct {
	ImageID    int64 `json:"image_id"`
	CategoryID int   `json:"category_id"`
	// BBox is x, y, width, height in pixels.
	BBox  [4]float64 `json:"bbox"`
	Score float64    `json:"score"`
}

var requiredDetFields = [...]struct {
	bit  int
	name string
}{{1, "image_id"}, {2, "category_id"}, {4, "bbox"}, {8, "score"}}

// ParseResults reads the COCO results file b (file names it in every
// message). knownImage and knownCategory, when not nil, tell whether an id
// is one of the ground truth's.
//
// Results files have no "images" or "categories" of their own. The file is
// a JSON array (possibly empty) of objects, named "detections[i]" in
// messages; each needs "image_id" and "category_id" (integers; ids that
// knownImage or knownCategory reject are errors), "bbox" (4 finite numbers
// [x, y, w, h] with w, h >= 0, as for annotations) and "score" (a finite
// number). Other fields are skipped (the reference evaluator overwrites
// area, id and iscrowd). The first problem ends the reading: the error
// names the file, the record and the problem.
func ParseResults(b []byte, file string, knownImage func(int64) bool, knownCategory func(int) bool) ([]Detection, error) {
	s := &scanner{buf: b}
	if c := s.peek(); c != '[' {
		what := s.describe()
		if c == '{' {
			what += " (a COCO instances file?)"
		}
		return nil, fmt.Errorf("%s: %w", file, s.errorf("expected an array of detections (COCO results format), found %s", what))
	}
	dets := make([]Detection, 0, len(b)/96+1)
	err := s.array(func(i int) error {
		var d Detection
		var problem string
		if s.peek() != '{' {
			p, err := s.mismatch("", "an object")
			if err != nil {
				return fmt.Errorf("detections[%d]: %w", i, err)
			}
			return fmt.Errorf("detections[%d]: %s", i, p)
		}
		have := 0
		err := s.object(func(key []byte) error {
			var p string
			var err error
			bit := 0
			switch string(key) {
			case "image_id":
				d.ImageID, p, err = s.integer("image_id")
				bit = 1
			case "category_id":
				d.CategoryID, p, err = s.intID("category_id")
				bit = 2
			case "bbox":
				d.BBox, p, err = s.bbox()
				bit = 4
			case "score":
				d.Score, p, err = s.number("score")
				bit = 8
			default:
				return s.skip()
			}
			if p == "" {
				have |= bit
			} else if problem == "" {
				problem = p
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("detections[%d]: %w", i, err)
		}
		if problem == "" {
			for _, f := range requiredDetFields {
				if have&f.bit == 0 {
					problem = fmt.Sprintf("field %q is missing", f.name)
					break
				}
			}
		}
		if problem == "" {
			if err := CheckDetection(&d, knownImage == nil || knownImage(d.ImageID), knownCategory == nil || knownCategory(d.CategoryID)); err != nil {
				problem = err.Error()
			}
		}
		if problem != "" {
			return fmt.Errorf("detections[%d]: %s", i, problem)
		}
		dets = append(dets, d)
		return nil
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return dets, nil
}

// CheckDetection checks one detection: imageKnown and categoryKnown tell
// whether its ids are the ground truth's (the caller looks them up); its
// box must be finite with a non-negative width and height, and its score
// finite. The error says what is wrong (the caller names the record).
func CheckDetection(d *Detection, imageKnown, categoryKnown bool) error {
	if !imageKnown {
		return fmt.Errorf("image_id %d is not in the ground truth (the reference rejects such results)", d.ImageID)
	}
	if !categoryKnown {
		return fmt.Errorf("category_id %d is not among the ground truth's categories", d.CategoryID)
	}
	if msg := checkBBox(d.BBox); msg != "" {
		return fmt.Errorf("%s", msg)
	}
	if math.IsNaN(d.Score) || math.IsInf(d.Score, 0) {
		return fmt.Errorf("score is %v (must be finite)", d.Score)
	}
	return nil
}
