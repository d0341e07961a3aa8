package coco

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ghmdet/ghmdet/data"
)

// Use says what an instances file is read for. One reader and one set of
// checks (see the package documentation) serve every use; Use selects only
// the few rules that differ, all listed here:
//
//   - ForDataset (Parse, Read: training, checking, conversion) needs to open
//     and clip the images: an image without a file_name or without a
//     positive width and height is an error (the image is skipped). A
//     missing area is taken as w*h. After the shared checks, boxes are
//     clipped to their image and boxes of zero size or outside the image
//     are dropped, with warnings (data.Report.CheckBox). Records with an
//     error are skipped and reported; reading goes on.
//   - ForGroundTruth (the evaluator's ground truth) follows the reference
//     evaluator, pycocotools: file_name, width and height are not needed
//     (when present they are checked as for datasets), a box of zero size or
//     outside its image is kept as it is, and a missing area is an error
//     (the reference needs it). Any error fails the reading; warnings do not.
//
// COCO results files (detections) have their own reader, ParseResults.
type Use int

const (
	// ForDataset reads a dataset (see Use).
	ForDataset Use = iota
	// ForGroundTruth reads the evaluator's ground truth (see Use).
	ForGroundTruth
)

// Instances holds the records of a COCO instances file, in file order.
type Instances struct {
	Images      []Image
	Categories  []Category
	Annotations []Annotation
}

// Image is one "images" record.
type Image struct {
	ID       int64
	FileName string
	// Width and Height are 0 when the file gives none.
	Width, Height int
}

// Category is one "categories" record.
type Category struct {
	ID   int
	Name string
}

// Annotation is one "annotations" record.
type Annotation struct {
	ID         int64
	ImageID    int64
	CategoryID int
	// BBox is x, y, width, height in pixels.
	BBox [4]float64
	// Area is the annotated area (the segmentation's, not w*h).
	Area float64
	// IsCrowd marks a crowd region ("iscrowd" nonzero).
	IsCrowd bool
	// Ignore is the optional "ignore" flag (mmdetection's convention; the
	// reference evaluator does not read it).
	Ignore bool
}

// section is one of the three lists of an instances file.
type section int

const (
	secImages section = iota
	secCategories
	secAnnotations
)

var sectionNames = [3]string{"images", "categories", "annotations"}

// skippedWhat says what the dataset reader does with a broken record.
var skippedWhat = [3]string{"image skipped", "category skipped", "annotation skipped"}

// notes are what the scan found about one record; clean records have none.
type notes struct {
	// problem makes the record unusable.
	problem string
	// warnings say how a value was repaired.
	warnings []string
	// idKnown tells that the record's id was read (it names the record).
	idKnown bool
	// noArea marks an annotation without an area.
	noArea bool
}

// reader reads one instances file.
type reader struct {
	file string
	use  Use
	s    scanner
	rep  *data.Report
	// in holds every record in file order, broken ones too.
	in Instances
	// notes of each section, by record position.
	notes [3]map[int]*notes

	// Filled by the checks.
	catIDs   map[int]struct{}
	imgIndex map[int64]int // image id -> position among the usable images
	skipped  map[int64]int // image id -> position of a skipped image record
	nCats    int           // usable categories
}

// note returns the notes of record i of sec, creating them.
func (r *reader) note(sec section, i int) *notes {
	m := r.notes[sec]
	if m == nil {
		m = map[int]*notes{}
		r.notes[sec] = m
	}
	n := m[i]
	if n == nil {
		n = &notes{}
		m[i] = n
	}
	return n
}

// record names record i of sec.
func (r *reader) record(sec section, i int) string {
	var id int64
	known := true
	if n := r.notes[sec][i]; n != nil {
		known = n.idKnown
	}
	switch sec {
	case secImages:
		id = r.in.Images[i].ID
	case secCategories:
		id = int64(r.in.Categories[i].ID)
	default:
		id = r.in.Annotations[i].ID
	}
	if !known {
		return fmt.Sprintf("%s[%d]", sectionNames[sec], i)
	}
	return fmt.Sprintf("%s[%d] (id %d)", sectionNames[sec], i, id)
}

// fail reports record i of sec as unusable. The dataset reader says that
// it skips the record and counts it.
func (r *reader) fail(sec section, i int, msg string) {
	if r.use == ForDataset {
		msg += ": " + skippedWhat[sec]
		switch sec {
		case secImages:
			r.rep.SkippedImages++
		case secAnnotations:
			r.rep.SkippedObjects++
		}
	}
	r.rep.Add(data.Problem{Severity: data.Error, File: r.file, Record: r.record(sec, i), Message: msg})
}

// warn reports the scan's warnings about record i of sec.
func (r *reader) warn(sec section, i int, n *notes) {
	for _, w := range n.warnings {
		r.rep.Add(data.Problem{Severity: data.Warning, File: r.file, Record: r.record(sec, i), Message: w})
	}
}

// ParseInstances reads the COCO instances file b (file names it in every
// message) for use and returns its usable records, in file order, with the
// problems found (see Use and the package documentation). The error is
// non-nil when b
// is not an instances file that can be read (invalid JSON, a missing list,
// no usable category) and, for ForGroundTruth, when any record has an error:
// it then names the file, the first such record and its problem, and counts
// the others.
func ParseInstances(b []byte, file string, use Use) (*Instances, *data.Report, error) {
	r := &reader{file: file, use: use, s: scanner{buf: b}, rep: &data.Report{}}
	if err := r.scan(); err != nil {
		return nil, r.rep, err
	}
	out := &Instances{Categories: r.checkCategories(), Images: r.checkImages()}
	if r.nCats > 0 {
		out.Annotations = make([]Annotation, 0, len(r.in.Annotations))
		r.checkAnnotations(func(_ int, a *Annotation, _ int) {
			out.Annotations = append(out.Annotations, *a)
		})
	}
	if err := r.result(); err != nil {
		return nil, r.rep, err
	}
	return out, r.rep, nil
}

// Validate applies the ground-truth checks (ForGroundTruth) to records
// built in memory: unique ids, annotations on listed images and
// categories, finite boxes of non-negative size, finite non-negative areas,
// at least one category. It returns the first problem, naming its record,
// or nil. in is not changed.
func (in *Instances) Validate() error {
	r := &reader{use: ForGroundTruth, rep: &data.Report{}, in: *in}
	r.checkCategories()
	r.checkImages()
	if r.nCats > 0 {
		r.checkAnnotations(nil)
	}
	return r.result()
}

// result returns the error that ends the reading, if any: for
// ForGroundTruth the first record error, then (for both uses) the lack of a
// usable category.
func (r *reader) result() error {
	if r.use == ForGroundTruth {
		if n := r.rep.Count(data.Error); n > 0 {
			for _, p := range r.rep.Problems {
				if p.Severity == data.Error {
					switch n {
					case 1:
						return fmt.Errorf("%s", p)
					case 2:
						return fmt.Errorf("%s (and 1 more error)", p)
					}
					return fmt.Errorf("%s (and %d more errors)", p, n-1)
				}
			}
		}
	}
	if r.nCats == 0 {
		return r.fileError("no usable category")
	}
	return nil
}

// fileError returns an error about the whole file.
func (r *reader) fileError(format string, args ...any) error {
	return r.wrap(fmt.Errorf(format, args...))
}

// wrap prefixes err with the file name.
func (r *reader) wrap(err error) error {
	if r.file == "" {
		return err
	}
	return fmt.Errorf("%s: %w", r.file, err)
}

// scan reads the whole file into r.in and r.notes. Its error is fatal.
func (r *reader) scan() error {
	s := &r.s
	s.ws()
	if s.pos == len(s.buf) {
		return r.fileError("empty file: not a COCO instances file")
	}
	if c := s.peek(); c != '{' {
		what := s.describe()
		if c == '[' {
			what += " (a detection results file?)"
		}
		return r.wrap(s.errorf("expected an object (a COCO instances file), found %s", what))
	}
	var seen, present [3]bool
	err := s.object(func(key []byte) error {
		var sec section
		switch string(key) {
		case "images":
			sec = secImages
		case "categories":
			sec = secCategories
		case "annotations":
			sec = secAnnotations
		default:
			return s.skip()
		}
		name := sectionNames[sec]
		if seen[sec] {
			return s.errorf("%q appears twice", name)
		}
		seen[sec] = true
		if s.null() {
			return nil
		}
		present[sec] = true
		if s.peek() != '[' {
			return s.errorf("%q: expected a list, found %s", name, s.describe())
		}
		if sec == secAnnotations {
			r.in.Annotations = make([]Annotation, 0, len(s.buf)/256)
		}
		return s.array(func(i int) error {
			var err error
			switch sec {
			case secImages:
				err = r.image(i)
			case secCategories:
				err = r.category(i)
			default:
				err = r.annotation(i)
			}
			if err != nil {
				return fmt.Errorf("%s[%d]: %w", name, i, err)
			}
			return nil
		})
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return r.wrap(err)
	}
	for sec, ok := range present {
		if !ok {
			return r.fileError("no %q list: not a COCO instances file", sectionNames[sec])
		}
	}
	return nil
}

// recordStart checks that a record is an object; when it is not, it is
// consumed and noted as a problem, and ok is false.
func (r *reader) recordStart(sec section, i int) (ok bool, err error) {
	if r.s.peek() == '{' {
		return true, nil
	}
	p, err := r.s.mismatch("", "an object")
	if err == nil {
		r.note(sec, i).problem = p
	}
	return false, err
}

func (r *reader) image(i int) error {
	s := &r.s
	r.in.Images = append(r.in.Images, Image{})
	if ok, err := r.recordStart(secImages, i); !ok {
		return err
	}
	im := &r.in.Images[i]
	var problem string
	var hasID bool
	err := s.object(func(key []byte) error {
		var p string
		var err error
		switch string(key) {
		case "id":
			im.ID, p, err = s.integer("id")
			hasID = p == ""
		case "file_name":
			if !s.null() {
				im.FileName, p, err = s.str("file_name")
			}
		case "width", "height":
			if s.null() {
				return nil
			}
			var v int64
			field := "width"
			if key[0] == 'h' {
				field = "height"
			}
			if v, p, err = s.integer(field); p == "" && err == nil {
				if v < 0 || v > math.MaxInt32 {
					p = fmt.Sprintf("%s %d is out of range (0 to %d)", field, v, math.MaxInt32)
				} else if field == "width" {
					im.Width = int(v)
				} else {
					im.Height = int(v)
				}
			}
		default:
			return s.skip()
		}
		if problem == "" {
			problem = p
		}
		return err
	})
	if problem == "" && !hasID {
		problem = `field "id" is missing`
	}
	if problem != "" || !hasID {
		n := r.note(secImages, i)
		n.problem, n.idKnown = problem, hasID
	}
	return err
}

func (r *reader) category(i int) error {
	s := &r.s
	r.in.Categories = append(r.in.Categories, Category{})
	if ok, err := r.recordStart(secCategories, i); !ok {
		return err
	}
	c := &r.in.Categories[i]
	var problem string
	var hasID bool
	err := s.object(func(key []byte) error {
		var p string
		var err error
		switch string(key) {
		case "id":
			c.ID, p, err = s.intID("id")
			hasID = p == ""
		case "name":
			if !s.null() {
				c.Name, p, err = s.str("name")
			}
		default:
			return s.skip()
		}
		if problem == "" {
			problem = p
		}
		return err
	})
	if problem == "" && !hasID {
		problem = `field "id" is missing`
	}
	if problem != "" || !hasID {
		n := r.note(secCategories, i)
		n.problem, n.idKnown = problem, hasID
	}
	return err
}

// annotation fields that must be present, in the order they are reported.
const (
	hasID = 1 << iota
	hasImageID
	hasCategoryID
	hasBBox
	hasArea
)

var requiredAnnFields = [...]struct {
	bit  int
	name string
}{{hasID, "id"}, {hasImageID, "image_id"}, {hasCategoryID, "category_id"}, {hasBBox, "bbox"}}

func (r *reader) annotation(i int) error {
	s := &r.s
	r.in.Annotations = append(r.in.Annotations, Annotation{})
	if ok, err := r.recordStart(secAnnotations, i); !ok {
		return err
	}
	a := &r.in.Annotations[i]
	var problem string
	var warnings []string
	have := 0
	err := s.object(func(key []byte) error {
		var p string
		var err error
		bit := 0
		switch string(key) {
		case "id":
			a.ID, p, err = s.integer("id")
			bit = hasID
		case "image_id":
			a.ImageID, p, err = s.integer("image_id")
			bit = hasImageID
		case "category_id":
			a.CategoryID, p, err = s.intID("category_id")
			bit = hasCategoryID
		case "bbox":
			a.BBox, p, err = s.bbox()
			bit = hasBBox
		case "area":
			if s.null() {
				return nil
			}
			a.Area, p, err = s.number("area")
			bit = hasArea
		case "iscrowd", "ignore":
			if s.null() {
				return nil
			}
			field := "iscrowd"
			if key[1] == 'g' {
				field = "ignore"
			}
			start := s.pos
			var v, other bool
			v, other, p, err = s.flag(field)
			if err != nil {
				return err
			}
			switch {
			case field == "iscrowd":
				a.IsCrowd = v
				if other {
					warnings = append(warnings, fmt.Sprintf("iscrowd = %s is not 0 or 1: taken as 1 (a crowd), as the reference evaluator does", s.buf[start:s.pos]))
				}
			case p != "":
				// The reference evaluator does not read "ignore": a bad
				// value is only a warning.
				warnings = append(warnings, p+": taken as 0")
				p = ""
			default:
				a.Ignore = v
				if other {
					warnings = append(warnings, fmt.Sprintf("ignore = %s is not 0 or 1: taken as 1", s.buf[start:s.pos]))
				}
			}
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
	if problem == "" {
		for _, f := range requiredAnnFields {
			if have&f.bit == 0 {
				problem = fmt.Sprintf("field %q is missing", f.name)
				break
			}
		}
	}
	if problem != "" || warnings != nil || have&(hasID|hasArea) != hasID|hasArea {
		n := r.note(secAnnotations, i)
		n.problem, n.warnings, n.idKnown, n.noArea = problem, warnings, have&hasID != 0, have&hasArea == 0
	}
	return err
}

// checkCategories checks the categories and returns the usable ones, in
// file order.
func (r *reader) checkCategories() []Category {
	cats := r.in.Categories
	out := make([]Category, 0, len(cats))
	first := make(map[int]int, len(cats))
	names := map[string]int{}
	for i := range cats {
		c := cats[i]
		n := r.notes[secCategories][i]
		if n != nil && n.problem != "" {
			r.fail(secCategories, i, n.problem)
			continue
		}
		if j, dup := first[c.ID]; dup {
			r.fail(secCategories, i, fmt.Sprintf("id %d repeats categories[%d]", c.ID, j))
			continue
		}
		first[c.ID] = i
		if name := strings.TrimSpace(c.Name); name != c.Name || name == "" {
			if name == "" {
				name = "category_" + strconv.Itoa(c.ID)
				r.rep.Add(data.Problem{Severity: data.Warning, File: r.file, Record: r.record(secCategories, i),
					Message: fmt.Sprintf("no name: called %q", name)})
			}
			c.Name = name
		}
		if j, dup := names[c.Name]; dup {
			r.rep.Add(data.Problem{Severity: data.Warning, File: r.file, Record: r.record(secCategories, i),
				Message: fmt.Sprintf("name %q is also the name of categories[%d] (id %d)", c.Name, j, cats[j].ID)})
		} else {
			names[c.Name] = i
		}
		out = append(out, c)
	}
	r.catIDs = make(map[int]struct{}, len(out))
	for _, c := range out {
		r.catIDs[c.ID] = struct{}{}
	}
	r.nCats = len(out)
	return out
}

// checkImages checks the images and returns the usable ones, in file order.
func (r *reader) checkImages() []Image {
	imgs := r.in.Images
	out := make([]Image, 0, len(imgs))
	first := make(map[int64]int, len(imgs))
	r.imgIndex = make(map[int64]int, len(imgs))
	r.skipped = map[int64]int{}
	names := make(map[string]int, len(imgs))
	for i := range imgs {
		im := imgs[i]
		n := r.notes[secImages][i]
		if n != nil && n.problem != "" {
			if n.idKnown {
				r.skipped[im.ID] = i
			}
			r.fail(secImages, i, n.problem)
			continue
		}
		if j, dup := first[im.ID]; dup {
			r.fail(secImages, i, fmt.Sprintf("id %d repeats images[%d]", im.ID, j))
			continue
		}
		first[im.ID] = i
		if r.use == ForDataset {
			im.FileName = strings.TrimSpace(im.FileName)
			if im.FileName == "" {
				r.skipped[im.ID] = i
				r.fail(secImages, i, "no file_name")
				continue
			}
			if im.Width <= 0 || im.Height <= 0 {
				r.skipped[im.ID] = i
				r.fail(secImages, i, fmt.Sprintf("width and height must be positive integers (got %s, %s)",
					sizeText(im.Width), sizeText(im.Height)))
				continue
			}
		}
		if im.FileName != "" {
			if j, dup := names[im.FileName]; dup {
				r.rep.Add(data.Problem{Severity: data.Warning, File: r.file, Record: r.record(secImages, i),
					Message: fmt.Sprintf("file_name %s is also used by images[%d] (id %d)", im.FileName, j, imgs[j].ID)})
			} else {
				names[im.FileName] = i
			}
		}
		r.imgIndex[im.ID] = len(out)
		out = append(out, im)
	}
	return out
}

func sizeText(v int) string {
	if v == 0 {
		return "none"
	}
	return strconv.Itoa(v)
}

// checkAnnotations checks the annotations and calls keep (when not nil)
// with each usable one (position i in the file, the annotation with its
// area filled in for ForDataset, and its image's position among the usable
// images).
func (r *reader) checkAnnotations(keep func(i int, a *Annotation, img int)) {
	anns := r.in.Annotations
	first := make(map[int64]int, len(anns))
	var a Annotation // outside the loop: keep may keep its address
	for i := range anns {
		a = anns[i]
		n := r.notes[secAnnotations][i]
		if n != nil && n.problem != "" {
			r.fail(secAnnotations, i, n.problem)
			continue
		}
		if n != nil && n.noArea && r.use == ForGroundTruth {
			r.fail(secAnnotations, i, `field "area" is missing`)
			continue
		}
		if j, dup := first[a.ID]; dup {
			r.fail(secAnnotations, i, fmt.Sprintf("id %d repeats annotations[%d]", a.ID, j))
			continue
		}
		first[a.ID] = i
		img, ok := r.imgIndex[a.ImageID]
		if !ok {
			if j, skipped := r.skipped[a.ImageID]; skipped {
				r.fail(secAnnotations, i, fmt.Sprintf("image_id %d names images[%d], which is skipped", a.ImageID, j))
			} else {
				r.fail(secAnnotations, i, fmt.Sprintf("image_id %d is not among the images", a.ImageID))
			}
			continue
		}
		if _, ok := r.catIDs[a.CategoryID]; !ok {
			r.fail(secAnnotations, i, fmt.Sprintf("category_id %d is not among the categories", a.CategoryID))
			continue
		}
		if msg := checkBBox(a.BBox); msg != "" {
			r.fail(secAnnotations, i, msg)
			continue
		}
		if n != nil && n.noArea {
			a.Area = a.BBox[2] * a.BBox[3]
		} else if msg := checkArea(a.Area); msg != "" {
			r.fail(secAnnotations, i, msg)
			continue
		}
		if n != nil {
			r.warn(secAnnotations, i, n)
		}
		if keep != nil {
			keep(i, &a, img)
		}
	}
}

// checkBBox returns why a bbox (x, y, w, h) is unusable, or "": a
// coordinate that is NaN or infinite, or a negative width or height. A size
// of zero is valid (the reference evaluator accepts it).
func checkBBox(b [4]float64) string {
	for j, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("bbox[%d] is %v (bbox %v)", j, v, b)
		}
	}
	if b[2] < 0 || b[3] < 0 {
		return fmt.Sprintf("bbox has a negative width or height (bbox %v)", b)
	}
	return ""
}

// checkArea returns why an area is unusable, or "".
func checkArea(a float64) string {
	if math.IsNaN(a) || math.IsInf(a, 0) || a < 0 {
		return fmt.Sprintf("area is %v (must be finite and non-negative)", a)
	}
	return ""
}
