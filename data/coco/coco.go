// Package coco reads and writes object-detection datasets in the COCO
// "instances" JSON format.
//
// Reading: images (id, file_name, width, height), annotations (id, image_id,
// category_id, bbox [x, y, w, h], area, iscrowd, and the optional "ignore"
// flag) and categories (id, name). Category ids need not be contiguous: the
// contiguous class index is the position of the category in increasing id
// order (as mmdetection and detectron2 do), and Dataset.CategoryIDs keeps the
// original ids. Images keep the file's order, and each image's annotations
// keep the file's order too. Boxes become x1, y1, x2 = x + w, y2 = y + h.
//
// An annotation with iscrowd = 1 is a crowd box (Object.Crowd). An annotation
// with iscrowd = 0 and "ignore": 1 is read as a difficult box
// (Object.Difficult): that is how the writer stores Pascal VOC difficult
// boxes (see Write).
//
// Broken records are reported in a data.Report and skipped; only a file that
// cannot be read or is not a COCO instances document at all is an error.
package coco

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
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

// document is the top level of an instances file; records are decoded one
// by one so that a broken record does not lose the others.
type document struct {
	Images      []json.RawMessage `json:"images"`
	Annotations []json.RawMessage `json:"annotations"`
	Categories  []json.RawMessage `json:"categories"`
}

type rawImage struct {
	ID       *float64 `json:"id"`
	FileName *string  `json:"file_name"`
	Width    *float64 `json:"width"`
	Height   *float64 `json:"height"`
}

type rawCategory struct {
	ID   *float64 `json:"id"`
	Name *string  `json:"name"`
}

type rawAnnotation struct {
	ID         *float64          `json:"id"`
	ImageID    *float64          `json:"image_id"`
	CategoryID *float64          `json:"category_id"`
	BBox       []json.RawMessage `json:"bbox"`
	Area       json.RawMessage   `json:"area"`
	IsCrowd    json.RawMessage   `json:"iscrowd"`
	Ignore     json.RawMessage   `json:"ignore"`
}

// maxExactInt is the largest integer a float64 holds exactly.
const maxExactInt = 1 << 53

// Parse decodes a COCO instances document b (file names it in messages;
// imagesDir is joined with each file_name to make Image.Path). It touches no
// file. The error is non-nil only when b is not a COCO instances document:
// invalid JSON, a top level that is not an object, no "images" or no
// "categories" list; every other defect is a problem in the report and the
// record is skipped.
func Parse(b []byte, file, imagesDir string) (*data.Dataset, *data.Report, error) {
	rep := &data.Report{}
	b = quoteNonFinite(b)
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, rep, fmt.Errorf("coco: %s: empty file: not a COCO instances file", file)
	}
	if trimmed[0] != '{' {
		if !json.Valid(b) {
			var v any
			return nil, rep, fmt.Errorf("coco: %s: invalid JSON: %s", file, describeJSONError(b, json.Unmarshal(b, &v)))
		}
		return nil, rep, fmt.Errorf("coco: %s: the top level is a JSON %s, not an object: not a COCO instances file", file, jsonKind(trimmed[0]))
	}
	var doc document
	if err := json.Unmarshal(b, &doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, rep, fmt.Errorf("coco: %s: invalid JSON: %s", file, describeJSONError(b, err))
		}
		return nil, rep, fmt.Errorf("coco: %s: %s", file, describeJSONError(b, err))
	}
	if doc.Images == nil {
		return nil, rep, fmt.Errorf("coco: %s: no \"images\" list: not a COCO instances file", file)
	}
	if doc.Categories == nil {
		return nil, rep, fmt.Errorf("coco: %s: no \"categories\" list: not a COCO instances file", file)
	}

	ds := &data.Dataset{Name: strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))}

	// Categories, sorted by id.
	type category struct {
		id   int64
		name string
	}
	var cats []category
	catSeen := map[int64]bool{}
	for i, raw := range doc.Categories {
		var c rawCategory
		rec := fmt.Sprintf("categories[%d]", i)
		if err := json.Unmarshal(raw, &c); err != nil {
			rep.Errorf(file, rec, "unreadable category record: %s: skipped", describeJSONError(nil, err))
			continue
		}
		id, msg := intField(c.ID, "id")
		if msg != "" {
			rep.Errorf(file, rec, "%s: category skipped", msg)
			continue
		}
		rec = fmt.Sprintf("category id %d", id)
		if catSeen[id] {
			rep.Errorf(file, rec, "duplicate category id: the later one is skipped")
			continue
		}
		catSeen[id] = true
		name := ""
		if c.Name != nil {
			name = strings.TrimSpace(*c.Name)
		}
		if name == "" {
			name = fmt.Sprintf("category_%d", id)
			rep.Warnf(file, rec, "no name: called %q", name)
		}
		cats = append(cats, category{id, name})
	}
	if len(cats) == 0 {
		return nil, rep, fmt.Errorf("coco: %s: no usable category", file)
	}
	sort.Slice(cats, func(i, j int) bool { return cats[i].id < cats[j].id })
	classOf := make(map[int64]int, len(cats))
	names := map[string]int64{}
	for i, c := range cats {
		ds.Classes = append(ds.Classes, c.name)
		ds.CategoryIDs = append(ds.CategoryIDs, int(c.id))
		classOf[c.id] = i
		if other, ok := names[c.name]; ok {
			rep.Warnf(file, fmt.Sprintf("category id %d", c.id), "name %q is also the name of category id %d", c.name, other)
		} else {
			names[c.name] = c.id
		}
	}

	// Images, in file order.
	imageIndex := map[int64]int{}
	fileNames := map[string]int64{}
	for i, raw := range doc.Images {
		var im rawImage
		rec := fmt.Sprintf("images[%d]", i)
		if err := json.Unmarshal(raw, &im); err != nil {
			rep.Errorf(file, rec, "unreadable image record: %s: skipped", describeJSONError(nil, err))
			rep.SkippedImages++
			continue
		}
		id, msg := intField(im.ID, "id")
		if msg != "" {
			rep.Errorf(file, rec, "%s: image skipped", msg)
			rep.SkippedImages++
			continue
		}
		rec = fmt.Sprintf("image id %d", id)
		if _, dup := imageIndex[id]; dup {
			rep.Errorf(file, rec, "duplicate image id: the later image record is skipped")
			rep.SkippedImages++
			continue
		}
		name := ""
		if im.FileName != nil {
			name = strings.TrimSpace(*im.FileName)
		}
		if name == "" {
			rep.Errorf(file, rec, "no file_name: image skipped")
			rep.SkippedImages++
			continue
		}
		rec = fmt.Sprintf("image id %d (%s)", id, name)
		w, msgW := intField(im.Width, "width")
		h, msgH := intField(im.Height, "height")
		if msgW != "" || msgH != "" || w <= 0 || h <= 0 {
			rep.Errorf(file, rec, "width and height must be positive integers (got %s, %s): image skipped",
				fieldText(im.Width), fieldText(im.Height))
			rep.SkippedImages++
			continue
		}
		if other, ok := fileNames[name]; ok {
			rep.Warnf(file, rec, "file_name is also used by image id %d", other)
		} else {
			fileNames[name] = id
		}
		imageIndex[id] = len(ds.Images)
		ds.Images = append(ds.Images, data.Image{
			ID: id, FileName: name, Path: joinImage(imagesDir, name),
			Width: int(w), Height: int(h),
		})
	}

	// Annotations, in file order.
	annSeen := map[int64]bool{}
	for i, raw := range doc.Annotations {
		var a rawAnnotation
		rec := fmt.Sprintf("annotations[%d]", i)
		if err := json.Unmarshal(raw, &a); err != nil {
			rep.Errorf(file, rec, "unreadable annotation record: %s: skipped", describeJSONError(nil, err))
			rep.SkippedObjects++
			continue
		}
		id, msg := intField(a.ID, "id")
		if msg != "" {
			rep.Errorf(file, rec, "%s: annotation skipped", msg)
			rep.SkippedObjects++
			continue
		}
		rec = fmt.Sprintf("annotation id %d", id)
		if annSeen[id] {
			rep.Errorf(file, rec, "duplicate annotation id: the later one is skipped")
			rep.SkippedObjects++
			continue
		}
		annSeen[id] = true
		imageID, msg := intField(a.ImageID, "image_id")
		if msg != "" {
			rep.Errorf(file, rec, "%s: annotation skipped", msg)
			rep.SkippedObjects++
			continue
		}
		idx, ok := imageIndex[imageID]
		if !ok {
			rep.Errorf(file, rec, "image_id %d names no (usable) image: annotation skipped", imageID)
			rep.SkippedObjects++
			continue
		}
		img := &ds.Images[idx]
		rec = fmt.Sprintf("annotation id %d (image %s)", id, img.FileName)
		catID, msg := intField(a.CategoryID, "category_id")
		if msg != "" {
			rep.Errorf(file, rec, "%s: annotation skipped", msg)
			rep.SkippedObjects++
			continue
		}
		class, ok := classOf[catID]
		if !ok {
			rep.Errorf(file, rec, "unknown category_id %d: annotation skipped", catID)
			rep.SkippedObjects++
			continue
		}
		if len(a.BBox) != 4 {
			rep.Errorf(file, rec, "bbox must be 4 numbers [x, y, w, h], got %d values: annotation skipped", len(a.BBox))
			rep.SkippedObjects++
			continue
		}
		var xywh [4]float64
		bad := false
		for k, v := range a.BBox {
			f, ok := number(v)
			if !ok {
				rep.Errorf(file, rec, "bbox[%d] = %s is not a number: annotation skipped", k, string(v))
				rep.SkippedObjects++
				bad = true
				break
			}
			xywh[k] = f
		}
		if bad {
			continue
		}
		box := [4]float64{xywh[0], xywh[1], xywh[0] + xywh[2], xywh[1] + xywh[3]}
		orig := fmt.Sprintf("[x=%g y=%g w=%g h=%g]", xywh[0], xywh[1], xywh[2], xywh[3])
		if !rep.CheckBox(file, rec, orig, &box, img.Width, img.Height) {
			continue
		}
		crowd, ok := flag(a.IsCrowd)
		if !ok {
			rep.Warnf(file, rec, "iscrowd = %s is not 0 or 1: taken as 0", string(a.IsCrowd))
		}
		ignore, ok := flag(a.Ignore)
		if !ok {
			rep.Warnf(file, rec, "ignore = %s is not 0 or 1: taken as 0", string(a.Ignore))
		}
		area := xywh[2] * xywh[3]
		if len(a.Area) > 0 && string(a.Area) != "null" {
			if f, ok := number(a.Area); ok && f > 0 && !math.IsInf(f, 0) {
				area = f
			} else {
				rep.Warnf(file, rec, "area = %s is not a positive number: taken as w*h = %g", string(a.Area), area)
			}
		}
		img.Objects = append(img.Objects, data.Object{
			ID: id, Class: class, Box: box, Area: area,
			Crowd: crowd, Difficult: ignore && !crowd,
		})
	}
	return ds, rep, nil
}

// joinImage joins the image folder and a file_name (absolute names are kept).
func joinImage(dir, name string) string {
	if filepath.IsAbs(name) || dir == "" {
		return filepath.FromSlash(name)
	}
	return filepath.Join(dir, filepath.FromSlash(name))
}

// intField checks that v is present and an integer; the message is empty
// when it is.
func intField(v *float64, name string) (int64, string) {
	if v == nil {
		return 0, "no " + name
	}
	f := *v
	if f != math.Trunc(f) || math.Abs(f) > maxExactInt {
		return 0, fmt.Sprintf("%s = %g is not an integer", name, f)
	}
	return int64(f), ""
}

func fieldText(v *float64) string {
	if v == nil {
		return "none"
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

// number decodes a JSON number, or one of the strings "NaN", "Infinity",
// "-Infinity" (which quoteNonFinite makes of Python's bare tokens).
func number(raw json.RawMessage) (float64, bool) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch s {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
	}
	return 0, false
}

// flag decodes an optional 0/1 (or false/true) field; ok is false for any
// other value, which is then taken as false.
func flag(raw json.RawMessage) (v, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, true
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		switch f {
		case 0:
			return false, true
		case 1:
			return true, true
		}
		return false, false
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, true
	}
	return false, false
}

func jsonKind(first byte) string {
	switch first {
	case '[':
		return "array (a detection results file?)"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// describeJSONError adds the line number (when b is given) to JSON syntax
// and type errors, and words type errors without Go type names.
func describeJSONError(b []byte, err error) string {
	var off int64 = -1
	msg := err.Error()
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
		want := "another type"
		switch te.Type.Kind() {
		case reflect.Float64, reflect.Int, reflect.Int64:
			want = "a number"
		case reflect.String:
			want = "a string"
		case reflect.Slice, reflect.Array:
			want = "a list"
		case reflect.Struct, reflect.Map:
			want = "an object"
		}
		if te.Field != "" {
			msg = fmt.Sprintf("%s: got a JSON %s, want %s", te.Field, te.Value, want)
		} else {
			msg = fmt.Sprintf("got a JSON %s, want %s", te.Value, want)
		}
	}
	if off < 0 || b == nil {
		return msg
	}
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	line := 1 + bytes.Count(b[:off], []byte{'\n'})
	return fmt.Sprintf("line %d: %s", line, msg)
}

// quoteNonFinite turns the bare NaN, Infinity and -Infinity tokens that
// Python's json module writes (and that JSON does not allow) into strings,
// so that the record holding them can be reported instead of the whole file
// failing to parse. Line numbers are unchanged.
func quoteNonFinite(b []byte) []byte {
	if !bytes.Contains(b, []byte("NaN")) && !bytes.Contains(b, []byte("Infinity")) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			out = append(out, c)
			continue
		}
		matched := false
		for _, tok := range []string{"NaN", "-Infinity", "Infinity"} {
			if bytes.HasPrefix(b[i:], []byte(tok)) && !identByte(b, i-1) && !identByte(b, i+len(tok)) {
				out = append(out, '"')
				out = append(out, tok...)
				out = append(out, '"')
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, c)
		}
	}
	return out
}

// identByte reports whether b[i] exists and is a letter, digit or '_'.
func identByte(b []byte, i int) bool {
	if i < 0 || i >= len(b) {
		return false
	}
	c := b[i]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
