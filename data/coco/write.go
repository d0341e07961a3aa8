package coco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/internal/imagefile"
)

// The canonical COCO output written by Encode. Every image has id,
// file_name, width and height; every annotation has id, image_id,
// category_id, bbox [x, y, w, h], area and iscrowd; every category has id and
// name. No segmentation is written.
type outImage struct {
	ID       int64  `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

type outAnnotation struct {
	ID         int64      `json:"id"`
	ImageID    int64      `json:"image_id"`
	CategoryID int        `json:"category_id"`
	BBox       [4]float64 `json:"bbox"`
	Area       float64    `json:"area"`
	IsCrowd    int        `json:"iscrowd"`
	Ignore     int        `json:"ignore,omitempty"`
}

type outCategory struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Encode returns ds as a COCO instances JSON document, one record a line.
//
// Ids: image and annotation ids are kept when they are all positive and
// unique, and renumbered 1..n in dataset order otherwise (a warning goes to
// rep). Category ids are Dataset.CategoryIDs when they are one positive,
// unique id per class, and class index + 1 otherwise.
//
// Crowd boxes are written with iscrowd = 1. Pascal VOC difficult boxes are
// written with iscrowd = 0 and an extra "ignore": 1 field (the convention of
// mmdetection's COCO reader, which skips such boxes in training; Read turns
// them back into difficult boxes). Note that pycocotools' COCOeval does not
// look at "ignore" for bbox evaluation and counts them as ordinary ground
// truth. The area is Object.Area when positive, else w*h.
//
// rep may be nil; objects whose class is out of range are skipped and
// reported there.
func Encode(ds *data.Dataset, rep *data.Report) ([]byte, error) {
	if rep == nil {
		rep = &data.Report{}
	}
	if len(ds.Classes) == 0 {
		return nil, fmt.Errorf("coco: dataset %q has no classes", ds.Name)
	}
	catIDs := categoryIDs(ds)
	keepImageIDs, keepAnnIDs := uniquePositiveIDs(ds)
	if !keepImageIDs {
		rep.Warnf(ds.Name, "", "image ids are not all positive and unique: renumbered 1..%d", len(ds.Images))
	}
	if !keepAnnIDs {
		rep.Warnf(ds.Name, "", "box ids are not all positive and unique: renumbered 1..%d", ds.NumObjects())
	}

	var buf bytes.Buffer
	buf.WriteString("{\"info\": {\"description\": ")
	writeJSON(&buf, ds.Name)
	buf.WriteString(", \"version\": \"1.0\"},\n\"licenses\": [],\n\"images\": [")
	annID := int64(0)
	for i, im := range ds.Images {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n")
		writeJSON(&buf, outImage{ID: imageID(im, i, keepImageIDs), FileName: filepath.ToSlash(im.FileName), Width: im.Width, Height: im.Height})
	}
	buf.WriteString("\n],\n\"annotations\": [")
	first := true
	for i, im := range ds.Images {
		for _, o := range im.Objects {
			annID++
			if o.Class < 0 || o.Class >= len(ds.Classes) {
				rep.Errorf(im.FileName, fmt.Sprintf("box id %d", o.ID), "class index %d is out of range (%d classes): not written", o.Class, len(ds.Classes))
				rep.SkippedObjects++
				continue
			}
			w, h := o.Box[2]-o.Box[0], o.Box[3]-o.Box[1]
			area := o.Area
			if !(area > 0) || math.IsInf(area, 0) {
				area = w * h
			}
			a := outAnnotation{
				ID: annID, ImageID: imageID(im, i, keepImageIDs), CategoryID: catIDs[o.Class],
				BBox: [4]float64{tidy(o.Box[0]), tidy(o.Box[1]), tidy(w), tidy(h)},
				Area: tidy(area),
			}
			if keepAnnIDs {
				a.ID = o.ID
			}
			if o.Crowd {
				a.IsCrowd = 1
			} else if o.Difficult {
				a.Ignore = 1
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			buf.WriteString("\n")
			if err := writeJSONErr(&buf, a); err != nil {
				return nil, fmt.Errorf("coco: image %s, box id %d: %w", im.FileName, o.ID, err)
			}
		}
	}
	buf.WriteString("\n],\n\"categories\": [")
	for i, name := range ds.Classes {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n")
		writeJSON(&buf, outCategory{ID: catIDs[i], Name: name})
	}
	buf.WriteString("\n]}\n")
	return buf.Bytes(), nil
}

// Write writes Encode(ds) to w.
func Write(w io.Writer, ds *data.Dataset, rep *data.Report) error {
	b, err := Encode(ds, rep)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteDir writes ds in the COCO layout under dir: the annotations in
// dir/annotations/instances_SPLIT.json and the images in dir/SPLIT/ (hard
// links when possible, else copies; images whose Path is empty are not
// placed). file_name is the image's FileName made relative (a name that is
// absolute or climbs out with ".." keeps only its base name). Images whose
// file_name would collide with an earlier one are skipped and reported.
// Read gives back the same dataset (ids, classes, category ids, boxes up to
// 1e-9 px, areas, crowd and difficult flags).
func WriteDir(ds *data.Dataset, dir, split string) (*data.Report, error) {
	rep := &data.Report{}
	if split == "" {
		split = "train"
	}
	imgDir := filepath.Join(dir, split)
	out := *ds
	out.Images = make([]data.Image, 0, len(ds.Images))
	used := map[string]string{}
	for _, im := range ds.Images {
		name := SafeName(im.FileName)
		key := strings.ToLower(name)
		if prev, ok := used[key]; ok {
			rep.Errorf(im.FileName, "", "file name collides with %s in %s: image not written", prev, imgDir)
			rep.SkippedImages++
			rep.SkippedObjects += len(im.Objects)
			continue
		}
		used[key] = im.FileName
		dst := filepath.Join(imgDir, filepath.FromSlash(name))
		if err := imagefile.Place(im.Path, dst); err != nil {
			return rep, fmt.Errorf("coco: %w", err)
		}
		im.FileName = name
		im.Path = dst
		out.Images = append(out.Images, im)
	}
	b, err := Encode(&out, rep)
	if err != nil {
		return rep, err
	}
	annDir := filepath.Join(dir, "annotations")
	if err := os.MkdirAll(annDir, 0o755); err != nil {
		return rep, fmt.Errorf("coco: %w", err)
	}
	path := filepath.Join(annDir, "instances_"+split+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return rep, fmt.Errorf("coco: %w", err)
	}
	return rep, nil
}

// SafeName returns name as a clean relative slash-separated path; a name
// that is absolute or climbs out of its folder keeps only its base name.
func SafeName(name string) string {
	return imagefile.SafeName(name)
}

func imageID(im data.Image, i int, keep bool) int64 {
	if keep {
		return im.ID
	}
	return int64(i + 1)
}

// categoryIDs returns ds.CategoryIDs when they are one positive unique id per
// class, else 1..len(Classes).
func categoryIDs(ds *data.Dataset) []int {
	ids := make([]int, len(ds.Classes))
	ok := len(ds.CategoryIDs) == len(ds.Classes)
	seen := map[int]bool{}
	for i := range ids {
		if ok {
			id := ds.CategoryIDs[i]
			if id <= 0 || seen[id] {
				ok = false
			}
			seen[id] = true
		}
	}
	for i := range ids {
		if ok {
			ids[i] = ds.CategoryIDs[i]
		} else {
			ids[i] = i + 1
		}
	}
	return ids
}

func uniquePositiveIDs(ds *data.Dataset) (images, objects bool) {
	images, objects = true, true
	seenI := map[int64]bool{}
	seenO := map[int64]bool{}
	for _, im := range ds.Images {
		if im.ID <= 0 || seenI[im.ID] {
			images = false
		}
		seenI[im.ID] = true
		for _, o := range im.Objects {
			if o.ID <= 0 || seenO[o.ID] {
				objects = false
			}
			seenO[o.ID] = true
		}
	}
	return images, objects
}

// tidy rounds v to 1e-9 so that float noise from x2 - x1 does not show in the
// output (296.41999999999996 -> 296.42).
func tidy(v float64) float64 {
	if math.Abs(v) >= 1e6 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	return math.Round(v*1e9) / 1e9
}

func writeJSON(buf *bytes.Buffer, v any) {
	b, _ := json.Marshal(v) // the out* types and strings always marshal
	buf.Write(b)
}

func writeJSONErr(buf *bytes.Buffer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}
