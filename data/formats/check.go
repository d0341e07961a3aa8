package formats

import (
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/imageio"
)

// CheckResult is what Check found.
type CheckResult struct {
	// Format is the dataset's format.
	Format string
	// Dataset is the dataset without the records that had to be skipped.
	Dataset *data.Dataset
	// Report lists every problem, in the order: annotation problems, image
	// header problems, image decoding problems.
	Report *data.Report
	// Summary describes Dataset.
	Summary Summary
}

// Check reads the dataset at path like Load (with every problem reported and
// nothing fatal), then decodes every image in full (see DecodeImages) and
// summarises what is left. With opts.Strict it stops after reading when the
// annotations have problems, as a strict Load would, without decoding the
// images. The error is non-nil only when the dataset cannot be read at all
// (or, with opts.Strict, has problems).
func Check(path string, opts Options) (*CheckResult, error) {
	format, _, err := resolve(path, opts)
	if err != nil {
		return nil, err
	}
	ds, rep, err := Load(path, opts)
	if err != nil {
		return nil, err
	}
	DecodeImages(ds, rep)
	return &CheckResult{Format: format, Dataset: ds, Report: rep, Summary: Summarize(ds)}, nil
}

// DecodeImages decodes every image of ds in full, in parallel, and reports
// (as errors) and removes the images that fail: corrupt or truncated files,
// images whose header declares more pixels than imageio.MaxPixels (refused
// before decoding), and images whose decoded size differs from the
// annotated one. Images with
// an empty Path are left alone.
func DecodeImages(ds *data.Dataset, rep *data.Report) {
	msgs := make([]string, len(ds.Images))
	parallel(len(ds.Images), func(i int) {
		im := &ds.Images[i]
		if im.Path == "" {
			return
		}
		f, err := os.Open(im.Path)
		if err != nil {
			msgs[i] = fmt.Sprintf("unreadable image file: %v", err)
			return
		}
		defer f.Close()
		m, _, err := imageio.DecodeImage(f)
		var tooLarge *imageio.TooLargeError
		switch {
		case errors.As(err, &tooLarge):
			msgs[i] = fmt.Sprintf("image too large: %v", err)
			return
		case err != nil:
			msgs[i] = fmt.Sprintf("corrupt or truncated image: %v", err)
			return
		}
		if b := m.Bounds(); b.Dx() != im.Width || b.Dy() != im.Height {
			msgs[i] = fmt.Sprintf("image decodes to %dx%d but is annotated as %dx%d", b.Dx(), b.Dy(), im.Width, im.Height)
		}
	})
	dropImages(ds, rep, msgs)
}

// The COCO area bounds between small, medium and large boxes.
const (
	smallArea  = 32 * 32
	mediumArea = 96 * 96
)

// Summary describes the contents of a dataset.
type Summary struct {
	// Name is the dataset's name.
	Name string
	// Classes are the class names.
	Classes []string
	// Images is the number of images; Empty of them have no box.
	Images, Empty int
	// Objects is the number of boxes.
	Objects int
	// PerClass counts the boxes of each class.
	PerClass []int
	// Imbalance is the largest per-class count over the smallest one among
	// the classes that have boxes (0 when the dataset has no box).
	Imbalance float64
	// NoBoxClasses counts the classes without any box.
	NoBoxClasses int
	// Small, Medium and Large count the boxes by annotated area in COCO's
	// buckets: area < 32^2, 32^2 <= area < 96^2, area >= 96^2.
	Small, Medium, Large int
	// Crowd and Difficult count the crowd and the difficult boxes.
	Crowd, Difficult int
}

// Summarize counts the contents of ds.
func Summarize(ds *data.Dataset) Summary {
	s := Summary{Name: ds.Name, Classes: ds.Classes, Images: len(ds.Images), PerClass: make([]int, len(ds.Classes))}
	for _, im := range ds.Images {
		if len(im.Objects) == 0 {
			s.Empty++
		}
		for _, o := range im.Objects {
			s.Objects++
			if o.Class >= 0 && o.Class < len(s.PerClass) {
				s.PerClass[o.Class]++
			}
			area := o.Area
			if !(area > 0) {
				area = (o.Box[2] - o.Box[0]) * (o.Box[3] - o.Box[1])
			}
			switch {
			case area < smallArea:
				s.Small++
			case area < mediumArea:
				s.Medium++
			default:
				s.Large++
			}
			if o.Crowd {
				s.Crowd++
			}
			if o.Difficult {
				s.Difficult++
			}
		}
	}
	lo, hi := 0, 0
	for _, c := range s.PerClass {
		if c == 0 {
			s.NoBoxClasses++
			continue
		}
		if lo == 0 || c < lo {
			lo = c
		}
		hi = max(hi, c)
	}
	if lo > 0 {
		s.Imbalance = float64(hi) / float64(lo)
	}
	return s
}

// Write prints the summary as a few aligned lines.
func (s Summary) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	s.write(tw)
	return tw.Flush()
}

// Write prints the summary, then a line with the report's summary.
func (r *CheckResult) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "format\t%s\n", r.Format)
	r.Summary.write(tw)
	fmt.Fprintf(tw, "problems\t%s\n", r.Report.Summary())
	return tw.Flush()
}

func (s Summary) write(tw io.Writer) {
	pct := func(n, of int) float64 {
		if of == 0 {
			return 0
		}
		return 100 * float64(n) / float64(of)
	}
	fmt.Fprintf(tw, "dataset\t%s\n", s.Name)
	fmt.Fprintf(tw, "images\t%d (%d without boxes)\n", s.Images, s.Empty)
	fmt.Fprintf(tw, "boxes\t%d\n", s.Objects)
	fmt.Fprintf(tw, "classes\t%d\n", len(s.Classes))
	for i, name := range s.Classes {
		fmt.Fprintf(tw, "  %s\t%d\t%.1f%%\n", name, s.PerClass[i], pct(s.PerClass[i], s.Objects))
	}
	if s.Objects == 0 {
		fmt.Fprintf(tw, "imbalance\tn/a (no boxes)\n")
	} else {
		fmt.Fprintf(tw, "imbalance\t%.2f (largest class / smallest class with boxes)", s.Imbalance)
		if s.NoBoxClasses > 0 {
			fmt.Fprintf(tw, "; %d classes have no box", s.NoBoxClasses)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "box sizes\tsmall (< 32^2) %d (%.1f%%), medium %d (%.1f%%), large (>= 96^2) %d (%.1f%%)\n",
		s.Small, pct(s.Small, s.Objects), s.Medium, pct(s.Medium, s.Objects), s.Large, pct(s.Large, s.Objects))
	fmt.Fprintf(tw, "crowd\t%d\n", s.Crowd)
	fmt.Fprintf(tw, "difficult\t%d\n", s.Difficult)
}
