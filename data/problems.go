package data

import (
	"fmt"
	"math"
	"strings"
)

// Severity tells how serious a Problem is.
type Severity int

const (
	// Warning marks a record that was repaired (for example a box clipped
	// to the image) or dropped because it carries no usable information
	// (for example a zero-size box).
	Warning Severity = iota
	// Error marks a record that is wrong and was skipped: a missing or
	// corrupt image, an unknown class, a duplicate id, an unreadable record.
	Error
)

// String returns "warning" or "error".
func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// Problem is one defect found in a dataset's files.
type Problem struct {
	// Severity tells whether the record was repaired or skipped.
	Severity Severity
	// File is the file the problem is in (annotation file, label file or
	// image file).
	File string
	// Record names the record inside File: an image file name, an
	// annotation id, an XML object, a label line. Empty when the problem
	// concerns the whole file.
	Record string
	// Message says what is wrong and what was done about it.
	Message string
}

// String formats the problem as "FILE: RECORD: MESSAGE", leaving out the
// empty parts.
func (p Problem) String() string {
	parts := make([]string, 0, 3)
	if p.File != "" {
		parts = append(parts, p.File)
	}
	if p.Record != "" {
		parts = append(parts, p.Record)
	}
	parts = append(parts, p.Message)
	return strings.Join(parts, ": ")
}

// Report collects the problems found while reading or checking a dataset,
// with counts of what was skipped or repaired. The zero value is ready to use.
type Report struct {
	// Problems are the problems in the order they were found.
	Problems []Problem
	// SkippedImages counts images left out of the dataset (missing or
	// unreadable image, broken annotation file, duplicate id, ...).
	SkippedImages int
	// SkippedObjects counts annotated boxes left out of the dataset,
	// including the boxes of skipped images.
	SkippedObjects int
	// ClippedObjects counts boxes that reached outside their image and were
	// clipped to it.
	ClippedObjects int
}

// Add appends a problem.
func (r *Report) Add(p Problem) { r.Problems = append(r.Problems, p) }

// Warnf appends a Warning about record of file.
func (r *Report) Warnf(file, record, format string, args ...any) {
	r.Add(Problem{Severity: Warning, File: file, Record: record, Message: fmt.Sprintf(format, args...)})
}

// Errorf appends an Error about record of file.
func (r *Report) Errorf(file, record, format string, args ...any) {
	r.Add(Problem{Severity: Error, File: file, Record: record, Message: fmt.Sprintf(format, args...)})
}

// Merge appends o's problems and adds its counts to r. A nil o is ignored.
func (r *Report) Merge(o *Report) {
	if o == nil {
		return
	}
	r.Problems = append(r.Problems, o.Problems...)
	r.SkippedImages += o.SkippedImages
	r.SkippedObjects += o.SkippedObjects
	r.ClippedObjects += o.ClippedObjects
}

// Count returns the number of problems of severity s.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, p := range r.Problems {
		if p.Severity == s {
			n++
		}
	}
	return n
}

// Clean reports whether no problem was found.
func (r *Report) Clean() bool { return r == nil || len(r.Problems) == 0 }

// Summary returns a one-line account of the report, for example
// "3 problems (1 error, 2 warnings); skipped 1 image and 4 boxes; clipped 1 box".
func (r *Report) Summary() string {
	if r.Clean() {
		return "no problems"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, %s)", plural(len(r.Problems), "problem"),
		plural(r.Count(Error), "error"), plural(r.Count(Warning), "warning"))
	if r.SkippedImages > 0 || r.SkippedObjects > 0 {
		fmt.Fprintf(&b, "; skipped %s and %s", plural(r.SkippedImages, "image"), plural(r.SkippedObjects, "box"))
	}
	if r.ClippedObjects > 0 {
		fmt.Fprintf(&b, "; clipped %s", plural(r.ClippedObjects, "box"))
	}
	return b.String()
}

// Err returns nil when the report is clean and otherwise a *ProblemsError
// listing the problems.
func (r *Report) Err() error {
	if r.Clean() {
		return nil
	}
	return &ProblemsError{Summary: r.Summary(), Problems: append([]Problem(nil), r.Problems...)}
}

// ProblemsError is the error strict loading returns when a dataset has
// problems.
type ProblemsError struct {
	// Summary is the report's one-line summary.
	Summary string
	// Problems are all the problems found.
	Problems []Problem
}

// maxListed bounds the number of problems ProblemsError.Error lists.
const maxListed = 50

// Error lists the summary and the problems, one a line (at most 50, then a
// count of the others).
func (e *ProblemsError) Error() string {
	var b strings.Builder
	b.WriteString(e.Summary)
	for i, p := range e.Problems {
		if i == maxListed {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Problems)-maxListed)
			break
		}
		fmt.Fprintf(&b, "\n  %s: %s", p.Severity, p)
	}
	return b.String()
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

// clipTolerance is how far (in pixels) a box may reach outside its image
// before clipping it is reported: smaller overshoots come from rounding in
// the annotation files and are clipped silently.
const clipTolerance = 1e-6

// CheckBox validates box (x1, y1, x2, y2 in pixels) of an image of width w
// and height h, as every reader does for every annotated box. orig describes
// the box as the file wrote it, for the messages. It returns false when the
// box must be dropped: a coordinate is NaN or infinite, the width or height
// is zero or negative, or nothing of the box lies inside the image; it then
// records a Warning and counts the box in SkippedObjects. A box reaching
// outside the image is clipped to it in place, with a Warning, and counted in
// ClippedObjects. w or h <= 0 means the image size is unknown: no clipping.
func (r *Report) CheckBox(file, record, orig string, box *[4]float64, w, h int) bool {
	for _, v := range box {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			r.Warnf(file, record, "box %s has a coordinate that is not a finite number: dropped", orig)
			r.SkippedObjects++
			return false
		}
	}
	bw, bh := box[2]-box[0], box[3]-box[1]
	if bw <= 0 || bh <= 0 {
		r.Warnf(file, record, "box %s has zero or negative size (width %g, height %g): dropped", orig, bw, bh)
		r.SkippedObjects++
		return false
	}
	if w <= 0 || h <= 0 {
		return true
	}
	fw, fh := float64(w), float64(h)
	c := [4]float64{
		math.Min(math.Max(box[0], 0), fw),
		math.Min(math.Max(box[1], 0), fh),
		math.Min(math.Max(box[2], 0), fw),
		math.Min(math.Max(box[3], 0), fh),
	}
	if c[2]-c[0] <= 0 || c[3]-c[1] <= 0 {
		r.Warnf(file, record, "box %s lies outside the %dx%d image: dropped", orig, w, h)
		r.SkippedObjects++
		return false
	}
	over := math.Max(math.Max(-box[0], -box[1]), math.Max(box[2]-fw, box[3]-fh))
	if over > clipTolerance {
		r.Warnf(file, record, "box %s reaches outside the %dx%d image: clipped to x1=%g y1=%g x2=%g y2=%g",
			orig, w, h, c[0], c[1], c[2], c[3])
		r.ClippedObjects++
	}
	*box = c
	return true
}
