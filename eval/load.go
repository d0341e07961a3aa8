package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
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
// name) prefixes every error. Only images (id, file_name, width, height),
// categories (id, name) and annotations (id, image_id, category_id, bbox,
// area, iscrowd) are read; other fields are skipped. An annotation without
// iscrowd is not a crowd. The result is validated (see GroundTruth.Validate).
func ParseGroundTruth(r io.Reader, name string) (*GroundTruth, error) {
	buf, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return parseGroundTruth(buf, name)
}

func parseGroundTruth(buf []byte, name string) (*GroundTruth, error) {
	s := &scanner{buf: buf}
	gt := &GroundTruth{}
	var haveImages, haveCats, haveAnns bool
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "images":
			haveImages = true
			return s.array(func(i int) error {
				start := s.pos
				im, err := s.image()
				if err != nil {
					return recordError("images", i, s.locate(start, err))
				}
				gt.Images = append(gt.Images, im)
				return nil
			})
		case "categories":
			haveCats = true
			return s.array(func(i int) error {
				start := s.pos
				c, err := s.category()
				if err != nil {
					return recordError("categories", i, s.locate(start, err))
				}
				gt.Categories = append(gt.Categories, c)
				return nil
			})
		case "annotations":
			haveAnns = true
			return s.array(func(i int) error {
				start := s.pos
				a, hasID, err := s.annotation()
				if err != nil {
					if hasID {
						return fmt.Errorf("annotations[%d] (id %d): %w", i, a.ID, s.locate(start, err))
					}
					return recordError("annotations", i, s.locate(start, err))
				}
				gt.Annotations = append(gt.Annotations, a)
				return nil
			})
		}
		return s.skip()
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, need := range []struct {
		ok  bool
		key string
	}{{haveImages, "images"}, {haveCats, "categories"}, {haveAnns, "annotations"}} {
		if !need.ok {
			return nil, fmt.Errorf("%s: no %q array: not a COCO ground-truth file", name, need.key)
		}
	}
	if err := gt.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return gt, nil
}

// recordError prefixes err with the array name and index, unless it already
// names a record.
func recordError(array string, i int, err error) error {
	return fmt.Errorf("%s[%d]: %w", array, i, err)
}

// missing lists the required fields that were not seen.
func missing(names []string, seen []bool) error {
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("field %q is missing", names[i])
		}
	}
	return nil
}

func (s *scanner) image() (Image, error) {
	var im Image
	var hasID bool
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "id":
			hasID = true
			im.ID, err = s.integer()
			return wrapField("id", err)
		case "file_name":
			if s.peek() == 'n' {
				return s.skip()
			}
			im.FileName, err = s.str()
			return wrapField("file_name", err)
		case "width", "height":
			v, err := s.integer()
			if err != nil {
				return wrapField(string(key), err)
			}
			if v < 0 || v > math.MaxInt32 {
				return fmt.Errorf("%s is %d", key, v)
			}
			if key[0] == 'w' {
				im.Width = int(v)
			} else {
				im.Height = int(v)
			}
			return nil
		}
		return s.skip()
	})
	if err == nil && !hasID {
		err = fmt.Errorf("field \"id\" is missing")
	}
	return im, err
}

func (s *scanner) category() (Category, error) {
	var c Category
	var hasID bool
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "id":
			hasID = true
			v, err := s.integer()
			if err != nil {
				return wrapField("id", err)
			}
			if v != int64(int(v)) {
				return fmt.Errorf("id %d is out of range", v)
			}
			c.ID = int(v)
			return nil
		case "name":
			var err error
			c.Name, err = s.str()
			return wrapField("name", err)
		}
		return s.skip()
	})
	if err == nil && !hasID {
		err = fmt.Errorf("field \"id\" is missing")
	}
	return c, err
}

var annFields = []string{"id", "image_id", "category_id", "bbox", "area"}

func (s *scanner) annotation() (a Annotation, hasID bool, err error) {
	var seen [5]bool
	err = s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "id":
			seen[0] = true
			a.ID, err = s.integer()
			return wrapField("id", err)
		case "image_id":
			seen[1] = true
			a.ImageID, err = s.integer()
			return wrapField("image_id", err)
		case "category_id":
			seen[2] = true
			a.CategoryID, err = s.categoryID()
			return wrapField("category_id", err)
		case "bbox":
			seen[3] = true
			a.BBox, err = s.box()
			return wrapField("bbox", err)
		case "area":
			seen[4] = true
			a.Area, err = s.number()
			return wrapField("area", err)
		case "iscrowd":
			a.IsCrowd, err = s.boolOrNumber()
			return wrapField("iscrowd", err)
		}
		return s.skip()
	})
	if err == nil {
		err = missing(annFields, seen[:])
	}
	return a, seen[0], err
}

func (s *scanner) categoryID() (int, error) {
	v, err := s.integer()
	if err != nil {
		return 0, err
	}
	if v != int64(int(v)) {
		return 0, fmt.Errorf("%d is out of range", v)
	}
	return int(v), nil
}

// wrapField names the field in a value error, after its position if any.
func wrapField(field string, err error) error {
	if err == nil {
		return nil
	}
	var pe *posError
	if errors.As(err, &pe) {
		return &posError{line: pe.line, col: pe.col, err: fmt.Errorf("%s: %w", field, pe.err)}
	}
	return fmt.Errorf("%s: %w", field, err)
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

var detFields = []string{"image_id", "category_id", "bbox", "score"}

// ParseDetections reads a COCO results array from r; name (usually the file
// name) prefixes every error. Fields other than image_id, category_id, bbox
// and score are skipped (the reference overwrites area, id and iscrowd). An
// empty array is valid.
func ParseDetections(r io.Reader, name string, gt *GroundTruth) ([]Detection, error) {
	buf, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return parseDetections(buf, name, gt)
}

func parseDetections(buf []byte, name string, gt *GroundTruth) ([]Detection, error) {
	var imgs map[int64]struct{}
	var cats map[int]struct{}
	if gt != nil {
		imgs = make(map[int64]struct{}, len(gt.Images))
		for _, im := range gt.Images {
			imgs[im.ID] = struct{}{}
		}
		cats = make(map[int]struct{}, len(gt.Categories))
		for _, c := range gt.Categories {
			cats[c.ID] = struct{}{}
		}
	}
	s := &scanner{buf: buf}
	if s.peek() != '[' {
		return nil, fmt.Errorf("%s: %w", name, s.errorf("expected an array of detections (COCO results format), found %s", s.describe()))
	}
	dets := make([]Detection, 0, len(buf)/96+1)
	err := s.array(func(i int) error {
		start := s.pos
		var d Detection
		var seen [4]bool
		err := s.object(func(key []byte) error {
			var err error
			switch string(key) {
			case "image_id":
				seen[0] = true
				d.ImageID, err = s.integer()
				return wrapField("image_id", err)
			case "category_id":
				seen[1] = true
				d.CategoryID, err = s.categoryID()
				return wrapField("category_id", err)
			case "bbox":
				seen[2] = true
				d.BBox, err = s.box()
				return wrapField("bbox", err)
			case "score":
				seen[3] = true
				d.Score, err = s.number()
				return wrapField("score", err)
			}
			return s.skip()
		})
		if err == nil {
			err = missing(detFields, seen[:])
		}
		if err == nil {
			err = checkDetection(&d, imgs, cats)
		}
		if err != nil {
			return recordError("detections", i, s.locate(start, err))
		}
		dets = append(dets, d)
		return nil
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return dets, nil
}

// checkDetection validates one detection; imgs and cats (when not nil) are
// the known image and category ids.
func checkDetection(d *Detection, imgs map[int64]struct{}, cats map[int]struct{}) error {
	if imgs != nil {
		if _, ok := imgs[d.ImageID]; !ok {
			return fmt.Errorf("image_id %d is not in the ground truth (the reference rejects such results)", d.ImageID)
		}
	}
	if cats != nil {
		if _, ok := cats[d.CategoryID]; !ok {
			return fmt.Errorf("category_id %d is not among the ground truth's categories", d.CategoryID)
		}
	}
	if err := checkBox(d.BBox); err != nil {
		return err
	}
	return checkScore(d.Score)
}

// WriteDetections writes dets as a COCO results JSON array.
func WriteDetections(w io.Writer, dets []Detection) error {
	if dets == nil {
		dets = []Detection{}
	}
	return json.NewEncoder(w).Encode(dets)
}
