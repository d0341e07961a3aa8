package yolo

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/internal/imagefile"
)

// FormatLabels returns the label file of one image: one line
// "class cx cy w h" per box, normalised by the image size and rounded to
// 1e-9. Crowd and difficult boxes are left out (YOLO labels have no ignore
// regions; Ultralytics' COCO and VOC converters drop them too) and counted
// in the returned number.
func FormatLabels(im data.Image) ([]byte, int) {
	var b bytes.Buffer
	left := 0
	fw, fh := float64(im.Width), float64(im.Height)
	for _, o := range im.Objects {
		if o.Crowd || o.Difficult {
			left++
			continue
		}
		cx := (o.Box[0] + o.Box[2]) / 2 / fw
		cy := (o.Box[1] + o.Box[3]) / 2 / fh
		w := (o.Box[2] - o.Box[0]) / fw
		h := (o.Box[3] - o.Box[1]) / fh
		fmt.Fprintf(&b, "%d %s %s %s %s\n", o.Class, num(cx), num(cy), num(w), num(h))
	}
	return b.Bytes(), left
}

func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e9)/1e9, 'f', -1, 64)
}

// Write writes ds as split SPLIT of a YOLO dataset under dir (split "" is
// written as "train"): the images in dir/images/SPLIT/ (hard links when
// possible, else copies; images whose Path is empty are not placed), the
// labels in dir/labels/SPLIT/ (an empty file for an image without boxes),
// and dir/data.yaml with the key SPLIT: images/SPLIT. An existing data.yaml
// is kept and gets the split added, provided its names are ds.Classes (an
// error otherwise), so that several splits can be written to one folder.
// Crowd and difficult boxes are not written (see FormatLabels): a warning
// counts them. Images whose label file would collide with an earlier one
// (a.jpg and a.png) are skipped and reported.
func Write(ds *data.Dataset, dir, split string) (*data.Report, error) {
	rep := &data.Report{}
	if split == "" {
		split = "train"
	}
	if len(ds.Classes) == 0 {
		return rep, fmt.Errorf("yolo: dataset %q has no classes", ds.Name)
	}
	yamlPath := filepath.Join(dir, "data.yaml")
	cfg := &Config{Splits: map[string][]string{}, Names: ds.Classes}
	if b, err := os.ReadFile(yamlPath); err == nil {
		old, err := ParseConfig(b, yamlPath)
		if err != nil {
			return rep, err
		}
		if !reflect.DeepEqual(old.Names, ds.Classes) {
			return rep, fmt.Errorf("yolo: %s already exists with other class names (%s), not %s",
				yamlPath, strings.Join(old.Names, ", "), strings.Join(ds.Classes, ", "))
		}
		cfg = old
	}
	known := false
	for _, k := range SplitKeys {
		known = known || k == split
	}
	if !known {
		return rep, fmt.Errorf("yolo: split %q cannot be named in data.yaml (use one of %s)", split, strings.Join(SplitKeys, ", "))
	}
	imgDir := filepath.Join(dir, "images", split)
	lblDir := filepath.Join(dir, "labels", split)
	for _, d := range []string{imgDir, lblDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return rep, fmt.Errorf("yolo: %w", err)
		}
	}
	used := map[string]string{}
	ignored := 0
	for _, im := range ds.Images {
		name := imagefile.SafeName(im.FileName)
		stem := strings.TrimSuffix(name, filepath.Ext(name))
		key := strings.ToLower(stem)
		if prev, ok := used[key]; ok {
			rep.Errorf(im.FileName, "", "label file %s.txt collides with the one of %s: image not written", stem, prev)
			rep.SkippedImages++
			rep.SkippedObjects += len(im.Objects)
			continue
		}
		used[key] = im.FileName
		if im.Width <= 0 || im.Height <= 0 {
			rep.Errorf(im.FileName, "", "image size %dx%d is unknown: image not written", im.Width, im.Height)
			rep.SkippedImages++
			rep.SkippedObjects += len(im.Objects)
			continue
		}
		if err := imagefile.Place(im.Path, filepath.Join(imgDir, filepath.FromSlash(name))); err != nil {
			return rep, fmt.Errorf("yolo: %w", err)
		}
		lb, left := FormatLabels(im)
		ignored += left
		lp := filepath.Join(lblDir, filepath.FromSlash(stem)+".txt")
		if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
			return rep, fmt.Errorf("yolo: %w", err)
		}
		if err := os.WriteFile(lp, lb, 0o644); err != nil {
			return rep, fmt.Errorf("yolo: %w", err)
		}
	}
	if ignored > 0 {
		rep.Warnf(ds.Name, "", "%d crowd or difficult boxes not written: YOLO labels have no ignore regions", ignored)
		rep.SkippedObjects += ignored
	}
	cfg.Splits[split] = []string{"images/" + split}
	b, err := cfg.Marshal()
	if err != nil {
		return rep, err
	}
	if err := os.WriteFile(yamlPath, b, 0o644); err != nil {
		return rep, fmt.Errorf("yolo: %w", err)
	}
	return rep, nil
}
