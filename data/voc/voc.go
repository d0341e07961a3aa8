// Package voc reads and writes object-detection datasets in the Pascal VOC
// layout: ROOT/Annotations/ID.xml, ROOT/JPEGImages/, and the split lists
// ROOT/ImageSets/Main/{train,val,test,trainval}.txt (one image id a line).
//
// # Coordinates
//
// VOC boxes are 1-based, inclusive pixel indices: xmin = 1 is the first
// pixel column and xmax = W the last. Read converts them the way mmdetection
// does (its XMLDataset subtracts 1 from all four coordinates, and the
// Ultralytics VOC converter makes the same boxes):
//
//	x1 = xmin - 1, y1 = ymin - 1, x2 = xmax - 1, y2 = ymax - 1
//
// so a box keeps the width xmax - xmin and a box reaching the last pixel
// column ends at W - 1. Coordinates are kept as floats (mmdetection truncates
// them to integers; VOC files hold integers, so this only matters for files
// with fractional coordinates). torchvision's VOCDetection returns the raw
// XML values and converts nothing. Write does the exact inverse
// (xmin = x1 + 1, ..., xmax = x2 + 1), so a read-write-read round trip gives
// the same boxes.
//
// A box with xmax == xmin (or ymax == ymin), which annotation tools write for
// a click without a drag, therefore has zero width and is dropped with a
// warning, like every zero-size box. BCCD has two such boxes.
//
// # Classes
//
// The class list is the sorted set of object names found in every file of
// ROOT/Annotations (all splits, so that every split of a dataset gets the
// same class indices), unless Options.Classes gives it. The 20 Pascal VOC
// classes sort to their standard order (aeroplane, bicycle, ..., tvmonitor),
// so a full VOC dataset gets the standard class indices. Category ids are
// class index + 1.
//
// # Images
//
// The image of ID.xml is JPEGImages/<filename> (the XML's filename element);
// when that file does not exist, JPEGImages/ID with the extension .jpg,
// .jpeg, .png or .bmp. The image size comes from the XML's size element, or
// from the image file's header when the XML has none.
//
// The difficult flag is kept (Object.Difficult). A non-standard
// <iscrowd>1</iscrowd> element, which Write adds to crowd boxes, makes a
// crowd box (Object.Crowd).
package voc

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/internal/imagefile"
)

// Options tunes Read.
type Options struct {
	// Split is the split to read: ImageSets/Main/SPLIT.txt. Empty: every
	// file in Annotations/, sorted by name.
	Split string
	// ImagesDir replaces ROOT/JPEGImages as the image folder.
	ImagesDir string
	// Classes, when set, is the class list; objects of other classes are
	// reported and skipped.
	Classes []string
}

// Classes20 are the 20 Pascal VOC classes in their standard order.
var Classes20 = []string{
	"aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
	"chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
	"pottedplant", "sheep", "sofa", "train", "tvmonitor",
}

// Annotation is one parsed annotation file, with boxes already converted to
// 0-based x1, y1, x2, y2 (see the package comment) but not yet checked.
type Annotation struct {
	// Filename is the filename element (may be empty).
	Filename string
	// Width and Height are the size element (0 when absent or invalid).
	Width, Height int
	// Objects are the object elements that carry a name and a readable box.
	Objects []Object
}

// Object is one object element of an annotation file.
type Object struct {
	// Index is the object's position in the file, from 1.
	Index int
	// Name is the class name.
	Name string
	// Box is x1, y1, x2, y2 (0-based, see the package comment).
	Box [4]float64
	// Orig describes the box as written ("xmin=1 ymin=2 xmax=3 ymax=4").
	Orig string
	// Difficult and Crowd are the difficult and iscrowd flags.
	Difficult, Crowd bool
}

type xmlAnnotation struct {
	XMLName  xml.Name `xml:"annotation"`
	Filename string   `xml:"filename"`
	Size     struct {
		Width  string `xml:"width"`
		Height string `xml:"height"`
	} `xml:"size"`
	Objects []xmlObject `xml:"object"`
}

type xmlObject struct {
	Name      string `xml:"name"`
	Difficult string `xml:"difficult"`
	IsCrowd   string `xml:"iscrowd"`
	BndBox    *struct {
		Xmin string `xml:"xmin"`
		Ymin string `xml:"ymin"`
		Xmax string `xml:"xmax"`
		Ymax string `xml:"ymax"`
	} `xml:"bndbox"`
}

// ParseXML parses one annotation file's content b (file names it in the
// problems). The error is non-nil when b is not well-formed XML or its root
// element is not <annotation>; objects without a name or with an unreadable
// box are reported in rep and left out, and an invalid size is reported and
// left 0.
func ParseXML(b []byte, file string, rep *data.Report) (*Annotation, error) {
	var x xmlAnnotation
	if err := xml.Unmarshal(b, &x); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("invalid XML at line %d: %s", se.Line, se.Msg)
		}
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("no XML element: empty or truncated file")
		}
		return nil, fmt.Errorf("invalid annotation XML: %v", err)
	}
	a := &Annotation{Filename: strings.TrimSpace(x.Filename)}
	if x.Size.Width != "" || x.Size.Height != "" {
		w, errW := parsePositiveInt(x.Size.Width)
		h, errH := parsePositiveInt(x.Size.Height)
		if errW != nil || errH != nil {
			rep.Warnf(file, "size", "width %q, height %q are not positive integers: size taken from the image file", x.Size.Width, x.Size.Height)
		} else {
			a.Width, a.Height = w, h
		}
	}
	for i, o := range x.Objects {
		rec := fmt.Sprintf("object %d", i+1)
		name := strings.TrimSpace(o.Name)
		if name == "" {
			rep.Errorf(file, rec, "no class name: object skipped")
			rep.SkippedObjects++
			continue
		}
		rec = fmt.Sprintf("object %d (%s)", i+1, name)
		if o.BndBox == nil {
			rep.Errorf(file, rec, "no bndbox: object skipped")
			rep.SkippedObjects++
			continue
		}
		raw := [4]string{o.BndBox.Xmin, o.BndBox.Ymin, o.BndBox.Xmax, o.BndBox.Ymax}
		tags := [4]string{"xmin", "ymin", "xmax", "ymax"}
		var v [4]float64
		bad := false
		for k := range raw {
			f, err := strconv.ParseFloat(strings.TrimSpace(raw[k]), 64)
			if err != nil {
				rep.Errorf(file, rec, "%s = %q is not a number: object skipped", tags[k], raw[k])
				rep.SkippedObjects++
				bad = true
				break
			}
			v[k] = f
		}
		if bad {
			continue
		}
		obj := Object{
			Index: i + 1, Name: name,
			Box:  [4]float64{v[0] - 1, v[1] - 1, v[2] - 1, v[3] - 1},
			Orig: fmt.Sprintf("xmin=%g ymin=%g xmax=%g ymax=%g", v[0], v[1], v[2], v[3]),
		}
		var ok bool
		if obj.Difficult, ok = parseFlag(o.Difficult); !ok {
			rep.Warnf(file, rec, "difficult = %q is not 0 or 1: taken as 0", o.Difficult)
		}
		if obj.Crowd, ok = parseFlag(o.IsCrowd); !ok {
			rep.Warnf(file, rec, "iscrowd = %q is not 0 or 1: taken as 0", o.IsCrowd)
		}
		if obj.Crowd {
			// Write marks crowd boxes difficult too, for tools that only know
			// difficult; the crowd flag is the one that counts.
			obj.Difficult = false
		}
		a.Objects = append(a.Objects, obj)
	}
	return a, nil
}

func parsePositiveInt(s string) (int, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, err
	}
	if f < 1 || f > 1<<30 || f != float64(int(f)) {
		return 0, fmt.Errorf("%q is not a positive integer", s)
	}
	return int(f), nil
}

// parseFlag reads an optional 0/1 element; ok is false for other values,
// which are taken as 0.
func parseFlag(s string) (v, ok bool) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "0", "false":
		return false, true
	case "1", "true":
		return true, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		switch f {
		case 0:
			return false, true
		case 1:
			return true, true
		}
	}
	return false, false
}

// Splits returns the names of the split lists in ROOT/ImageSets/Main that
// are not per-class lists (train, val, trainval, test, ...), sorted.
func Splits(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "ImageSets", "Main"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("voc: %w", err)
	}
	var out []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".txt")
		if !ok || e.IsDir() || strings.Contains(name, "_") {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// readSplit returns the image ids listed in ImageSets/Main/SPLIT.txt (the
// first field of each non-empty line), without repeats.
func readSplit(root, split string, rep *data.Report) ([]string, error) {
	path := filepath.Join(root, "ImageSets", "Main", split+".txt")
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			avail, _ := Splits(root)
			if len(avail) == 0 {
				return nil, fmt.Errorf("voc: %s: no split %q: %s does not exist and ImageSets/Main has no split lists", root, split, path)
			}
			return nil, fmt.Errorf("voc: %s: no split %q: %s does not exist (splits: %s)", root, split, path, strings.Join(avail, ", "))
		}
		return nil, fmt.Errorf("voc: %w", err)
	}
	var ids []string
	seen := map[string]int{}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if prev, ok := seen[f[0]]; ok {
			rep.Warnf(path, fmt.Sprintf("line %d", i+1), "image id %s is already listed at line %d: listed once", f[0], prev)
			continue
		}
		seen[f[0]] = i + 1
		ids = append(ids, f[0])
	}
	return ids, nil
}

// parsed is one annotation file read from disk.
type parsed struct {
	ann *Annotation
	rep data.Report
	err error
}

// Read reads the VOC dataset under root. The dataset is named "BASE/SPLIT"
// (BASE the root folder's name), or BASE without a split. Image ids are the
// position in the split + 1; box ids run from 1 over the split. Read opens an
// image only when its annotation has no size (to read the header).
func Read(root string, opts Options) (*data.Dataset, *data.Report, error) {
	rep := &data.Report{}
	annDir := filepath.Join(root, "Annotations")
	entries, err := os.ReadDir(annDir)
	if err != nil {
		return nil, rep, fmt.Errorf("voc: %s: no Annotations folder: %w", root, err)
	}
	var allIDs []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".xml"); ok && !e.IsDir() {
			allIDs = append(allIDs, id)
		}
	}
	sort.Strings(allIDs)

	ids := allIDs
	if opts.Split != "" {
		if ids, err = readSplit(root, opts.Split, rep); err != nil {
			return nil, rep, err
		}
	}

	// Parse the split's files, and every other file too when the class list
	// must be collected.
	files := map[string]*parsed{}
	parse := func(id string) *parsed {
		if p, ok := files[id]; ok {
			return p
		}
		p := &parsed{}
		path := filepath.Join(annDir, id+".xml")
		b, err := os.ReadFile(path)
		if err == nil {
			p.ann, err = ParseXML(b, path, &p.rep)
		}
		p.err = err
		files[id] = p
		return p
	}
	classes := opts.Classes
	if classes == nil {
		set := map[string]bool{}
		for _, id := range allIDs {
			if p := parse(id); p.ann != nil {
				for _, o := range p.ann.Objects {
					set[o.Name] = true
				}
			}
		}
		for name := range set {
			classes = append(classes, name)
		}
		sort.Strings(classes)
	}
	classOf := map[string]int{}
	for i, c := range classes {
		classOf[c] = i
	}

	imagesDir := opts.ImagesDir
	if imagesDir == "" {
		imagesDir = filepath.Join(root, "JPEGImages")
	}
	base := filepath.Base(filepath.Clean(root))
	ds := &data.Dataset{Name: base, Classes: append([]string(nil), classes...)}
	if opts.Split != "" {
		ds.Name = base + "/" + opts.Split
	}
	for i := range classes {
		ds.CategoryIDs = append(ds.CategoryIDs, i+1)
	}
	nextObj := int64(1)
	for _, id := range ids {
		path := filepath.Join(annDir, id+".xml")
		p := parse(id)
		rep.Merge(&p.rep)
		if errors.Is(p.err, fs.ErrNotExist) {
			rep.Errorf(path, "", "annotation file missing (the image is listed in split %q): image skipped", opts.Split)
			rep.SkippedImages++
			continue
		}
		if p.err != nil {
			rep.Errorf(path, "", "%v: image skipped", p.err)
			rep.SkippedImages++
			continue
		}
		a := p.ann
		imgPath, fileName, found := findImage(imagesDir, id, a.Filename)
		if !found {
			rep.Errorf(path, fileName, "image file %s not found: image skipped (%s)", imgPath, plural(len(a.Objects), "box"))
			rep.SkippedImages++
			rep.SkippedObjects += len(a.Objects)
			continue
		}
		w, h := a.Width, a.Height
		if w == 0 || h == 0 {
			var err error
			if w, h, err = imagefile.Size(imgPath); err != nil {
				rep.Errorf(imgPath, "", "no size in %s and the image header is unreadable (%v): image skipped", filepath.Base(path), err)
				rep.SkippedImages++
				rep.SkippedObjects += len(a.Objects)
				continue
			}
		}
		img := data.Image{ID: int64(len(ds.Images) + 1), Path: imgPath, FileName: fileName, Width: w, Height: h}
		for _, o := range a.Objects {
			rec := fmt.Sprintf("object %d (%s)", o.Index, o.Name)
			class, ok := classOf[o.Name]
			if !ok {
				rep.Errorf(path, rec, "unknown class %q: object skipped", o.Name)
				rep.SkippedObjects++
				continue
			}
			box := o.Box
			if !rep.CheckBox(path, rec, o.Orig, &box, w, h) {
				continue
			}
			img.Objects = append(img.Objects, data.Object{
				ID: nextObj, Class: class, Box: box,
				Area:      (box[2] - box[0]) * (box[3] - box[1]),
				Crowd:     o.Crowd,
				Difficult: o.Difficult,
			})
			nextObj++
		}
		ds.Images = append(ds.Images, img)
	}
	return ds, rep, nil
}

// findImage returns the image file of annotation id: dir/filename when it
// exists, else dir/ID.{jpg,jpeg,png,bmp}. When none exists it returns the
// first candidate and found = false.
func findImage(dir, id, filename string) (path, name string, found bool) {
	var cands []string
	if filename != "" {
		cands = append(cands, filepath.Base(filepath.FromSlash(filename)))
	}
	for _, ext := range []string{".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG"} {
		cands = append(cands, id+ext)
	}
	for _, c := range cands {
		if st, err := os.Stat(filepath.Join(dir, c)); err == nil && !st.IsDir() {
			return filepath.Join(dir, c), c, true
		}
	}
	return filepath.Join(dir, cands[0]), cands[0], false
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "x") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
