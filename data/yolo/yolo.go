package yolo

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/internal/imagefile"
)

// imageEntry is an image found for a split: its path and its file name
// relative to the split folder (or the dataset root, for list entries).
type imageEntry struct{ path, fileName string }

// Options tunes Read.
type Options struct {
	// Split is the data.yaml split key to read (train, val, test, minival).
	// Empty: every split the file names, in that order, each image once.
	Split string
}

// imageExts are the image files Read decodes; otherExts are image formats
// Ultralytics accepts that Read skips with a warning.
var (
	imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true}
	otherExts = map[string]bool{".webp": true, ".tif": true, ".tiff": true, ".dng": true, ".mpo": true, ".pfm": true, ".heic": true, ".gif": true}
)

// Read reads the YOLO dataset described by the data.yaml file at yamlPath.
// The dataset is named "BASE/SPLIT" (BASE the yaml folder's name), or BASE
// when all splits are read. Image ids are the position + 1 (folder entries
// in lexical order, list entries in list order); box ids run from 1. Every
// image's header is read for its size (in parallel).
func Read(yamlPath string, opts Options) (*data.Dataset, *data.Report, error) {
	rep := &data.Report{}
	b, err := os.ReadFile(yamlPath)
	if err != nil {
		return nil, rep, fmt.Errorf("yolo: %w", err)
	}
	cfg, err := ParseConfig(b, yamlPath)
	if err != nil {
		return nil, rep, err
	}
	yamlDir := filepath.Dir(yamlPath)
	base := baseDir(yamlDir, cfg.Path)

	keys := []string{opts.Split}
	if opts.Split == "" {
		keys = nil
		for _, k := range SplitKeys {
			if len(cfg.Splits[k]) > 0 {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return nil, rep, fmt.Errorf("yolo: %s: names no split (train, val, test)", yamlPath)
		}
	} else if len(cfg.Splits[opts.Split]) == 0 {
		return nil, rep, fmt.Errorf("yolo: %s: no split %q (splits: %s)", yamlPath, opts.Split, strings.Join(cfg.splitNames(), ", "))
	}

	var images []imageEntry
	seen := map[string]bool{}
	for _, key := range keys {
		for _, e := range cfg.Splits[key] {
			p, tried, ok := resolve(e, yamlDir, base)
			if !ok {
				rep.Errorf(yamlPath, key, "%s not found (tried %s)", e, strings.Join(tried, ", "))
				continue
			}
			var found []imageEntry
			st, _ := os.Stat(p)
			switch {
			case st.IsDir():
				unsupported := 0
				_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
					if err != nil {
						rep.Errorf(path, "", "unreadable: %v", err)
						return nil
					}
					if d.IsDir() {
						return nil
					}
					ext := strings.ToLower(filepath.Ext(path))
					if imageExts[ext] {
						rel, _ := filepath.Rel(p, path)
						found = append(found, imageEntry{path, filepath.ToSlash(rel)})
					} else if otherExts[ext] {
						unsupported++
					}
					return nil
				})
				if unsupported > 0 {
					rep.Warnf(p, "", "%d images in formats other than JPEG, PNG or BMP: skipped", unsupported)
					rep.SkippedImages += unsupported
				}
			case strings.EqualFold(filepath.Ext(p), ".txt"):
				found = readList(p, base, rep)
			default:
				rep.Errorf(yamlPath, key, "%s is neither a folder nor a .txt list of images", p)
				continue
			}
			for _, f := range found {
				abs, err := filepath.Abs(f.path)
				if err != nil {
					abs = f.path
				}
				if seen[abs] {
					continue
				}
				seen[abs] = true
				images = append(images, f)
			}
		}
	}

	name := filepath.Base(absOr(yamlDir))
	ds := &data.Dataset{Name: name, Classes: append([]string(nil), cfg.Names...)}
	if opts.Split != "" {
		ds.Name = name + "/" + opts.Split
	}
	for i := range cfg.Names {
		ds.CategoryIDs = append(ds.CategoryIDs, i+1)
	}

	// Read headers and labels in parallel; merge in image order.
	type result struct {
		img  data.Image
		ok   bool
		hasL bool
		rep  data.Report
	}
	results := make([]result, len(images))
	var wg sync.WaitGroup
	next := make(chan int)
	workers := min(runtime.GOMAXPROCS(0), max(len(images), 1))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := &results[i]
				e := images[i]
				w, h, err := imageSize(e.path)
				if err != nil {
					r.rep.Errorf(e.path, "", "unreadable image (%v): image skipped", err)
					r.rep.SkippedImages++
					continue
				}
				r.img = data.Image{Path: e.path, FileName: e.fileName, Width: w, Height: h}
				r.ok = true
				lp := LabelPath(e.path)
				lb, err := os.ReadFile(lp)
				if err != nil {
					if !os.IsNotExist(err) {
						r.rep.Errorf(lp, "", "unreadable label file (%v): image kept without boxes", err)
					}
					continue
				}
				r.hasL = true
				r.img.Objects = ParseLabels(lb, lp, len(cfg.Names), w, h, &r.rep)
			}
		}()
	}
	for i := range images {
		next <- i
	}
	close(next)
	wg.Wait()

	nextObj := int64(1)
	labels := 0
	for i := range results {
		r := &results[i]
		rep.Merge(&r.rep)
		if !r.ok {
			continue
		}
		if r.hasL {
			labels++
		}
		r.img.ID = int64(len(ds.Images) + 1)
		for k := range r.img.Objects {
			r.img.Objects[k].ID = nextObj
			nextObj++
		}
		ds.Images = append(ds.Images, r.img)
	}
	if len(images) == 0 {
		return nil, rep, fmt.Errorf("yolo: %s: no image found for split %s%s", yamlPath, splitText(opts.Split), problemHint(rep))
	}
	if labels == 0 && len(ds.Images) > 0 {
		rep.Warnf(yamlPath, "", "none of the %d images has a label file (expected e.g. %s): is the labels/ folder missing?",
			len(ds.Images), LabelPath(ds.Images[0].Path))
	}
	return ds, rep, nil
}

func splitText(s string) string {
	if s == "" {
		return "(all)"
	}
	return strconv.Quote(s)
}

func problemHint(rep *data.Report) string {
	if len(rep.Problems) == 0 {
		return ""
	}
	return ": " + rep.Problems[0].String()
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// splitNames lists the config's split keys in SplitKeys order.
func (cfg *Config) splitNames() []string {
	var out []string
	for _, k := range SplitKeys {
		if len(cfg.Splits[k]) > 0 {
			out = append(out, k)
		}
	}
	return out
}

// SplitNames returns the split keys data.yaml names, in SplitKeys order.
func (cfg *Config) SplitNames() []string { return cfg.splitNames() }

// baseDir returns the dataset root: the path key (relative to the yaml's
// folder when not absolute, or to the working directory when that does not
// exist) or the yaml's folder.
func baseDir(yamlDir, path string) string {
	if path == "" {
		return yamlDir
	}
	if filepath.IsAbs(path) {
		return path
	}
	if p := filepath.Join(yamlDir, path); exists(p) {
		return p
	}
	if exists(path) {
		return path
	}
	return filepath.Join(yamlDir, path)
}

// resolve finds a split entry; see the package comment for the order.
func resolve(entry, yamlDir, base string) (string, []string, bool) {
	e := filepath.FromSlash(entry)
	if filepath.IsAbs(e) {
		return e, []string{e}, exists(e)
	}
	var cands []string
	add := func(p string) {
		p = filepath.Clean(p)
		for _, c := range cands {
			if c == p {
				return
			}
		}
		cands = append(cands, p)
	}
	add(filepath.Join(base, e))
	add(filepath.Join(yamlDir, e))
	if rest, ok := strings.CutPrefix(entry, "../"); ok {
		add(filepath.Join(base, filepath.FromSlash(rest)))
		add(filepath.Join(yamlDir, filepath.FromSlash(rest)))
	}
	add(filepath.Join(filepath.Dir(absOr(yamlDir)), e))
	for _, c := range cands {
		if exists(c) {
			return c, cands, true
		}
	}
	return "", cands, false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// readList reads a .txt list of images: one path a line, relative to the
// list's folder, or else to the dataset root.
func readList(path, base string, rep *data.Report) []imageEntry {
	b, err := os.ReadFile(path)
	if err != nil {
		rep.Errorf(path, "", "unreadable image list: %v", err)
		return nil
	}
	dir := filepath.Dir(path)
	var out []imageEntry
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := filepath.FromSlash(line)
		if !filepath.IsAbs(p) {
			if c := filepath.Join(dir, p); exists(c) {
				p = c
			} else {
				p = filepath.Join(base, p)
			}
		}
		if !exists(p) {
			rep.Errorf(path, fmt.Sprintf("line %d", i+1), "image %s not found: skipped", line)
			rep.SkippedImages++
			continue
		}
		name := filepath.Base(p)
		if rel, err := filepath.Rel(base, p); err == nil && !strings.HasPrefix(rel, "..") {
			name = filepath.ToSlash(rel)
		}
		out = append(out, imageEntry{p, name})
	}
	return out
}

// LabelPath returns the label file of an image, as Ultralytics finds it: the
// last "images" folder of the path replaced by "labels", and the extension
// by ".txt". A path with no images folder gets the .txt beside the image.
func LabelPath(imagePath string) string {
	sep := string(filepath.Separator)
	p := imagePath
	stem := strings.TrimSuffix(p, filepath.Ext(p)) + ".txt"
	a, b := sep+"images"+sep, sep+"labels"+sep
	if i := strings.LastIndex(stem, a); i >= 0 {
		return stem[:i] + b + stem[i+len(a):]
	}
	if rest, ok := strings.CutPrefix(stem, "images"+sep); ok {
		return "labels" + sep + rest
	}
	return stem
}

// imageSize reads the image size from the file's header; a size that is not
// positive is an error.
func imageSize(path string) (int, int, error) {
	w, h, err := imagefile.Size(path)
	if err == nil && (w <= 0 || h <= 0) {
		return 0, 0, fmt.Errorf("image size %dx%d", w, h)
	}
	return w, h, err
}

// normTolerance is how far a normalised value may exceed 1 (rounding in the
// files) before it is taken for a pixel coordinate.
const normTolerance = 1e-3

// ParseLabels parses the content b of one label file (file names it in the
// problems) for an image of width w and height h with nc classes, and
// returns its boxes in pixels (ids 0: Read numbers them). A line is
// "class cx cy w h"; a line "class x1 y1 x2 y2 ... xn yn" (n >= 3, a
// segmentation polygon) gives the polygon's bounding box. Lines with another
// number of fields, a class that is not an integer in [0, nc), a value that
// is not a number or is above 1 (pixel coordinates instead of normalised
// ones), and repeats of an earlier line are reported and skipped; boxes are
// then checked with Report.CheckBox (clipped to the image, zero-size and NaN
// boxes dropped). Records are named "line N".
func ParseLabels(b []byte, file string, nc, w, h int, rep *data.Report) []data.Object {
	var out []data.Object
	seen := map[string]int{}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		rec := fmt.Sprintf("line %d", i+1)
		if len(f) != 5 && (len(f) < 7 || len(f)%2 == 0) {
			rep.Errorf(file, rec, "%d fields, want 5 (class cx cy w h): line skipped", len(f))
			rep.SkippedObjects++
			continue
		}
		key := strings.Join(f, " ")
		if prev, ok := seen[key]; ok {
			rep.Warnf(file, rec, "repeats line %d: skipped", prev)
			rep.SkippedObjects++
			continue
		}
		seen[key] = i + 1
		cf, err := strconv.ParseFloat(f[0], 64)
		if err != nil || cf != math.Trunc(cf) || cf < 0 || cf >= float64(nc) {
			rep.Errorf(file, rec, "unknown class id %q (data.yaml names %d classes, ids 0..%d): line skipped", f[0], nc, nc-1)
			rep.SkippedObjects++
			continue
		}
		vals := make([]float64, len(f)-1)
		bad := ""
		for k, s := range f[1:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil && !isRangeErr(err) {
				bad = fmt.Sprintf("%q is not a number", s)
				break
			}
			if v > 1+normTolerance {
				bad = fmt.Sprintf("value %s is above 1: coordinates must be normalised to [0, 1] by the image size", s)
				break
			}
			vals[k] = v
		}
		if bad != "" {
			rep.Errorf(file, rec, "%s: line skipped", bad)
			rep.SkippedObjects++
			continue
		}
		var box [4]float64
		var orig string
		fw, fh := float64(w), float64(h)
		if len(vals) == 4 {
			cx, cy, bw, bh := vals[0], vals[1], vals[2], vals[3]
			box = [4]float64{(cx - bw/2) * fw, (cy - bh/2) * fh, (cx + bw/2) * fw, (cy + bh/2) * fh}
			orig = fmt.Sprintf("cx=%s cy=%s w=%s h=%s", f[1], f[2], f[3], f[4])
		} else {
			x1, y1, x2, y2 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
			for k := 0; k+1 < len(vals); k += 2 {
				if math.IsNaN(vals[k]) || math.IsNaN(vals[k+1]) {
					x1 = math.NaN()
					break
				}
				x1, x2 = math.Min(x1, vals[k]), math.Max(x2, vals[k])
				y1, y2 = math.Min(y1, vals[k+1]), math.Max(y2, vals[k+1])
			}
			box = [4]float64{x1 * fw, y1 * fh, x2 * fw, y2 * fh}
			orig = fmt.Sprintf("polygon of %d points", len(vals)/2)
		}
		if !rep.CheckBox(file, rec, orig, &box, w, h) {
			continue
		}
		out = append(out, data.Object{
			Class: int(cf), Box: box,
			Area: (box[2] - box[0]) * (box[3] - box[1]),
		})
	}
	return out
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
