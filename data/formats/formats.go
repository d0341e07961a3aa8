// Package formats reads, writes and checks object-detection datasets in any
// of the supported formats (COCO JSON, Pascal VOC, Ultralytics YOLO): it
// detects the format from the path, dispatches to the data/coco, data/voc and
// data/yolo packages, verifies that the images exist and agree with their
// annotations, converts between formats, and checks a dataset in depth
// (decoding every image) with a summary of its contents.
package formats

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	// Image decoders for image.DecodeConfig and image.Decode.
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/coco"
	"github.com/ghmdet/ghmdet/data/voc"
	"github.com/ghmdet/ghmdet/data/yolo"
)

// The format names.
const (
	COCO = "coco"
	VOC  = "voc"
	YOLO = "yolo"
)

// Options tunes Load, Check and Convert.
type Options struct {
	// Format is "auto" (or empty), "coco", "voc" or "yolo".
	Format string
	// Split is the split to read: VOC ImageSets/Main/SPLIT.txt, a YOLO
	// data.yaml split key. Empty: VOC reads every annotation file, YOLO
	// every split. COCO files hold one split; a non-empty Split must then
	// match the file's name (instances_SPLIT.json).
	Split string
	// ImagesDir overrides the image folder (COCO, VOC).
	ImagesDir string
	// Strict makes every problem fatal: Load returns an error listing them.
	Strict bool
}

// Detect returns the format of the dataset at path: a .json file is COCO, a
// folder holding Annotations/ is Pascal VOC, a .yaml or .yml file (or a
// folder holding data.yaml) is YOLO.
func Detect(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("dataset %s: %w", path, err)
	}
	if st.IsDir() {
		if isDir(filepath.Join(path, "Annotations")) {
			return VOC, nil
		}
		for _, n := range []string{"data.yaml", "data.yml"} {
			if isFile(filepath.Join(path, n)) {
				return YOLO, nil
			}
		}
		return "", fmt.Errorf("cannot tell the format of dataset folder %s: it holds neither Annotations/ (Pascal VOC) nor data.yaml (YOLO); for COCO give the instances .json file", path)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return COCO, nil
	case ".yaml", ".yml":
		return YOLO, nil
	}
	return "", fmt.Errorf("cannot tell the format of dataset %s: expected a COCO .json file, a Pascal VOC folder with Annotations/, or a YOLO data.yaml", path)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// resolve returns the format and the path the reader takes (the data.yaml
// of a YOLO folder).
func resolve(path string, opts Options) (string, string, error) {
	format := strings.ToLower(opts.Format)
	var err error
	switch format {
	case "", "auto":
		if format, err = Detect(path); err != nil {
			return "", "", err
		}
	case COCO, VOC, YOLO:
	default:
		return "", "", fmt.Errorf("unknown dataset format %q (want auto, coco, voc or yolo)", opts.Format)
	}
	if format == YOLO && isDir(path) {
		for _, n := range []string{"data.yaml", "data.yml"} {
			if p := filepath.Join(path, n); isFile(p) {
				return format, p, nil
			}
		}
		return "", "", fmt.Errorf("YOLO dataset folder %s holds no data.yaml", path)
	}
	if format == COCO && isDir(path) {
		return "", "", fmt.Errorf("COCO dataset %s is a folder: give the instances .json file", path)
	}
	if format == VOC && !isDir(path) {
		return "", "", fmt.Errorf("Pascal VOC dataset %s is not a folder: give the folder holding Annotations/", path)
	}
	return format, path, nil
}

// Load reads the dataset at path (see Detect and Options), then verifies
// each image: the file must exist and its header must decode to the
// annotated size (images failing this are reported and skipped). It returns
// the dataset with the problems found. The error is non-nil when the dataset
// cannot be read at all, or, with opts.Strict, when any problem was found
// (a *data.ProblemsError listing them, wrapped with the path).
func Load(path string, opts Options) (*data.Dataset, *data.Report, error) {
	format, p, err := resolve(path, opts)
	if err != nil {
		return nil, &data.Report{}, err
	}
	var ds *data.Dataset
	var rep *data.Report
	switch format {
	case COCO:
		if opts.Split != "" && opts.Split != coco.SplitName(p) {
			return nil, &data.Report{}, fmt.Errorf("COCO file %s holds split %q, not %q", p, coco.SplitName(p), opts.Split)
		}
		ds, rep, err = coco.Read(p, coco.Options{ImagesDir: opts.ImagesDir})
	case VOC:
		ds, rep, err = voc.Read(p, voc.Options{Split: opts.Split, ImagesDir: opts.ImagesDir})
	case YOLO:
		if opts.ImagesDir != "" {
			return nil, &data.Report{}, fmt.Errorf("YOLO dataset %s: an image folder cannot be given (data.yaml names the image folders)", p)
		}
		ds, rep, err = yolo.Read(p, yolo.Options{Split: opts.Split})
	}
	if rep == nil {
		rep = &data.Report{}
	}
	if err != nil {
		return nil, rep, err
	}
	if format != YOLO { // the YOLO reader has already read every header
		VerifyImages(ds, rep)
	}
	if opts.Strict && !rep.Clean() {
		return nil, rep, fmt.Errorf("%s: %w", path, rep.Err())
	}
	return ds, rep, nil
}

// VerifyImages checks, in parallel, that every image file of ds exists and
// that its header decodes to the annotated size. Images failing this are
// reported in rep as errors and removed from ds (their boxes are counted as
// skipped). Images with an empty Path are left alone.
func VerifyImages(ds *data.Dataset, rep *data.Report) {
	msgs := make([]string, len(ds.Images))
	parallel(len(ds.Images), func(i int) {
		im := &ds.Images[i]
		if im.Path == "" {
			return
		}
		f, err := os.Open(im.Path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				msgs[i] = "image file not found"
			} else {
				msgs[i] = fmt.Sprintf("unreadable image file: %v", err)
			}
			return
		}
		defer f.Close()
		cfg, _, err := image.DecodeConfig(f)
		if err != nil {
			msgs[i] = fmt.Sprintf("unreadable image header: %v", err)
			return
		}
		if cfg.Width != im.Width || cfg.Height != im.Height {
			msgs[i] = fmt.Sprintf("image is %dx%d but annotated as %dx%d", cfg.Width, cfg.Height, im.Width, im.Height)
		}
	})
	dropImages(ds, rep, msgs)
}

// dropImages removes the images with a non-empty message, reporting each.
func dropImages(ds *data.Dataset, rep *data.Report, msgs []string) {
	kept := ds.Images[:0]
	for i, im := range ds.Images {
		if msgs[i] == "" {
			kept = append(kept, im)
			continue
		}
		rep.Errorf(im.Path, fmt.Sprintf("image id %d", im.ID), "%s: image skipped (%d boxes)", msgs[i], len(im.Objects))
		rep.SkippedImages++
		rep.SkippedObjects += len(im.Objects)
	}
	for i := len(kept); i < len(ds.Images); i++ {
		ds.Images[i] = data.Image{}
	}
	ds.Images = kept
}

// parallel calls fn(0..n-1) from GOMAXPROCS goroutines.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Splits returns the splits a conversion of the dataset at path writes, in
// order: the COCO file's split; the VOC lists train, val and test (or every
// list when none of those exists, or [""] when there is no list); the
// splits data.yaml names.
func Splits(path string, opts Options) ([]string, error) {
	format, p, err := resolve(path, opts)
	if err != nil {
		return nil, err
	}
	switch format {
	case COCO:
		return []string{coco.SplitName(p)}, nil
	case VOC:
		all, err := voc.Splits(p)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, s := range []string{"train", "val", "test"} {
			for _, a := range all {
				if a == s {
					out = append(out, s)
				}
			}
		}
		if len(out) == 0 {
			out = all
		}
		if len(out) == 0 {
			out = []string{""}
		}
		return out, nil
	default:
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		cfg, err := yolo.ParseConfig(b, p)
		if err != nil {
			return nil, err
		}
		return cfg.SplitNames(), nil
	}
}

// SplitOf returns the split part of a dataset name ("bccd/train" ->
// "train"), or "" when the name has none.
func SplitOf(ds *data.Dataset) string {
	if i := strings.LastIndex(ds.Name, "/"); i >= 0 {
		return ds.Name[i+1:]
	}
	return ""
}

// Write writes ds in format under the folder out, as the split SplitOf(ds)
// (see WriteSplit).
func Write(ds *data.Dataset, format, out string) (*data.Report, error) {
	return WriteSplit(ds, format, out, SplitOf(ds))
}

// WriteSplit writes ds in format under the folder out as split split:
// COCO: out/annotations/instances_SPLIT.json and out/SPLIT/ (split ""
// becomes "train"); VOC: out/Annotations, out/JPEGImages and
// out/ImageSets/Main/SPLIT.txt (no list for split ""); YOLO:
// out/images/KEY, out/labels/KEY and out/data.yaml, where KEY is the split
// when it is a data.yaml split key and otherwise train, val or test when the
// split's name contains one of them ("val2017" -> val), else train. Images are
// hard-linked or copied beside the annotations. The report lists what could
// not be written.
func WriteSplit(ds *data.Dataset, format, out, split string) (*data.Report, error) {
	switch strings.ToLower(format) {
	case COCO:
		return coco.WriteDir(ds, out, split)
	case VOC:
		return voc.Write(ds, out, split)
	case YOLO:
		return yolo.Write(ds, out, yoloSplit(split))
	}
	return nil, fmt.Errorf("unknown output format %q (want coco, voc or yolo)", format)
}

func yoloSplit(split string) string {
	for _, k := range yolo.SplitKeys {
		if split == k {
			return k
		}
	}
	s := strings.ToLower(split)
	for _, k := range []string{"train", "val", "test"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return "train"
}

// Convert reads the dataset at path and writes it in format to under the
// folder out: the split opts.Split, or every split Splits lists. The report
// gathers the problems of reading and writing. With opts.Strict, any problem
// found while reading stops the conversion.
func Convert(path string, opts Options, to, out string) (*data.Report, error) {
	to = strings.ToLower(to)
	switch to {
	case COCO, VOC, YOLO:
	default:
		return &data.Report{}, fmt.Errorf("unknown output format %q (want coco, voc or yolo)", to)
	}
	splits := []string{opts.Split}
	if opts.Split == "" {
		var err error
		if splits, err = Splits(path, opts); err != nil {
			return &data.Report{}, err
		}
		if len(splits) == 0 {
			splits = []string{""}
		}
	}
	rep := &data.Report{}
	for _, s := range splits {
		o := opts
		o.Split = s
		ds, r, err := Load(path, o)
		rep.Merge(r)
		if err != nil {
			return rep, err
		}
		w, err := WriteSplit(ds, to, out, s)
		rep.Merge(w)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}
