// Package coco reads and writes object-detection datasets in the COCO
// "instances" JSON format, and reads COCO results (detection) files.
//
// One reader serves every use: Parse and Read build a data.Dataset with it,
// and the evaluator (package eval) reads its ground truths with
// ParseInstances and its detections with ParseResults. It is a small JSON
// scanner that decodes only the fields needed and skips the rest
// (segmentations included), with one set of checks and messages; Use lists
// the few rules that differ between datasets and ground truths.
//
// # Datasets
//
// Images (id, file_name, width, height), annotations (id, image_id,
// category_id, bbox [x, y, w, h], area, iscrowd, and the optional "ignore"
// flag) and categories (id, name). Category ids need not be contiguous: the
// contiguous class index is the position of the category in increasing id
// order (as mmdetection and detectron2 do), and Dataset.CategoryIDs keeps the
// original ids. Images keep the file's order, and each image's annotations
// keep the file's order too. Boxes become x1, y1, x2 = x + w, y2 = y + h.
//
// An annotation with a nonzero iscrowd is a crowd box (Object.Crowd). An
// annotation with iscrowd = 0 and "ignore": 1 is read as a difficult box
// (Object.Difficult): that is how the writer stores Pascal VOC difficult
// boxes (see Write).
//
// Broken records are reported in a data.Report and skipped; only a file that
// cannot be read or is not a COCO instances document at all is an error.
//
// # Rules of instances files
//
// A message names the file, the record and the problem. A record is named
// by its list and position, with its id when it has one: "images[4] (id 9)",
// "categories[0] (id 1)", "annotations[12] (id 5)".
//
// The file: valid JSON (NaN and ±Infinity are read as numbers, as Python
// does, and then rejected where a finite number is needed), an object at the
// top level, each of "images", "categories" and "annotations" present once
// as a list; other keys are skipped. At least one usable category.
//
// Every record must be an object; fields other than those below are skipped
// (segmentation, licences, ...); null counts as absent. Integers may be
// written as integral floats (42.0), which the reference evaluator matches
// with integers.
//
//   - images: "id" an integer, unique. "file_name" a string; "width" and
//     "height" integers from 0 to 2^31-1 (see Use for when they are needed).
//     Two images of the same file_name give a warning.
//   - categories: "id" an integer, unique. "name" a string; when absent or
//     blank the category is called "category_ID" (a warning). Two
//     categories of the same name give a warning.
//   - annotations: "id" an integer, unique; "image_id" the id of a usable
//     image; "category_id" the id of a usable category; "bbox" 4 finite
//     numbers [x, y, w, h] with w, h >= 0; "area" a finite number >= 0 (see
//     Use when absent); "iscrowd" 0, 1, true or false, or another number,
//     which counts as a crowd as in the reference evaluator (a warning);
//     "ignore" likewise, any other value being taken as 0 (a warning).
//
// Results files follow their own rules (see ParseResults).
package coco

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ghmdet/ghmdet/data"
)

// Options tunes Read.
type Options struct {
	// ImagesDir is the folder the images' file_name are relative to. Empty:
	// see ImagesDirFor.
	ImagesDir string
}

// Read reads the COCO instances file at path. The dataset is named
// "ROOT/NAME" for the COCO layout ROOT/annotations/instances_NAME.json, and
// after the file otherwise. Image paths are joined with opts.ImagesDir or,
// when it is empty, with ImagesDirFor(path). Read does not open the images.
func Read(path string, opts Options) (*data.Dataset, *data.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("coco: %w", err)
	}
	dir := opts.ImagesDir
	if dir == "" {
		dir = ImagesDirFor(path)
	}
	ds, rep, err := Parse(b, path, dir)
	if err != nil {
		return nil, rep, err
	}
	ds.Name = DatasetName(path)
	return ds, rep, nil
}

// ImagesDirFor returns the image folder of the annotation file at path when
// none is given: for the COCO layout ROOT/annotations/instances_NAME.json it
// is ROOT/NAME when that folder exists; otherwise it is the annotation file's
// own folder.
func ImagesDirFor(path string) string {
	dir := filepath.Dir(path)
	if name, ok := layoutName(path); ok {
		cand := filepath.Join(filepath.Dir(dir), name)
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
	}
	return dir
}

// DatasetName returns the dataset name Read gives the file at path:
// "ROOT/NAME" for ROOT/annotations/instances_NAME.json, else the file name
// without its extension.
func DatasetName(path string) string {
	if name, ok := layoutName(path); ok {
		root := filepath.Base(filepath.Dir(filepath.Dir(path)))
		return root + "/" + name
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// SplitName returns NAME for a file named instances_NAME.json (in any
// folder), else the file name without its extension.
func SplitName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if name, ok := strings.CutPrefix(base, "instances_"); ok && name != "" {
		return name
	}
	return base
}

// layoutName returns NAME when path is .../annotations/instances_NAME.json.
func layoutName(path string) (string, bool) {
	if filepath.Base(filepath.Dir(path)) != "annotations" {
		return "", false
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	name, ok := strings.CutPrefix(base, "instances_")
	return name, ok && name != ""
}

// Parse decodes a COCO instances document b (file names it in messages;
// imagesDir is joined with each file_name to make Image.Path). It touches no
// file. It reads with ParseInstances' reader and checks (ForDataset, see
// Use): the error is non-nil only when b is not a COCO instances document
// that can be read (invalid JSON, a top level that is not an object, a
// missing "images", "categories" or "annotations" list, no usable
// category); every other defect is a problem in the report and the record
// is skipped, or repaired with a warning. Boxes are clipped to their image
// (data.Report.CheckBox).
func Parse(b []byte, file, imagesDir string) (*data.Dataset, *data.Report, error) {
	r := &reader{file: file, use: ForDataset, s: scanner{buf: b}, rep: &data.Report{}}
	if err := r.scan(); err != nil {
		return nil, r.rep, err
	}
	cats := r.checkCategories()
	imgs := r.checkImages()
	if len(cats) == 0 {
		return nil, r.rep, r.result()
	}
	ds := &data.Dataset{Name: strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))}

	// Classes: the categories in increasing id order.
	slices.SortStableFunc(cats, func(a, b Category) int { return cmp.Compare(a.ID, b.ID) })
	classOf := make(map[int]int, len(cats))
	for i, c := range cats {
		ds.Classes = append(ds.Classes, c.Name)
		ds.CategoryIDs = append(ds.CategoryIDs, c.ID)
		classOf[c.ID] = i
	}

	// Images, in file order.
	ds.Images = make([]data.Image, len(imgs))
	for i, im := range imgs {
		ds.Images[i] = data.Image{ID: im.ID, FileName: im.FileName, Path: joinImage(imagesDir, im.FileName), Width: im.Width, Height: im.Height}
	}

	// Annotations, in file order, clipped to their image.
	r.checkAnnotations(func(i int, a *Annotation, img int) {
		im := &ds.Images[img]
		x, y, w, h := a.BBox[0], a.BBox[1], a.BBox[2], a.BBox[3]
		box := [4]float64{x, y, x + w, y + h}
		inside := box[0] >= 0 && box[1] >= 0 && box[2] > box[0] && box[3] > box[1] &&
			box[2] <= float64(im.Width) && box[3] <= float64(im.Height)
		if !inside {
			orig := fmt.Sprintf("[x=%g y=%g w=%g h=%g]", x, y, w, h)
			if !r.rep.CheckBox(file, r.record(secAnnotations, i), orig, &box, im.Width, im.Height) {
				return
			}
		}
		im.Objects = append(im.Objects, data.Object{
			ID: a.ID, Class: classOf[a.CategoryID], Box: box, Area: a.Area,
			Crowd: a.IsCrowd, Difficult: a.Ignore && !a.IsCrowd,
		})
	})
	return ds, r.rep, nil
}

// joinImage joins the image folder and a file_name (absolute names are kept).
func joinImage(dir, name string) string {
	if filepath.IsAbs(name) || dir == "" {
		return filepath.FromSlash(name)
	}
	return filepath.Join(dir, filepath.FromSlash(name))
}
