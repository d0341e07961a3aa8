package voc

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/internal/imagefile"
)

// MarshalXML returns the annotation file of one image of a dataset with the
// given classes: folder, filename (the base name of im.FileName), size
// (depth 3), and one object element per box with name, pose, truncated,
// difficult and bndbox (xmin = x1 + 1, ..., xmax = x2 + 1: the inverse of
// Read's conversion). Crowd boxes are written difficult (so that VOC tools
// ignore them) with an extra <iscrowd>1</iscrowd> element that Read turns
// back into a crowd box. Objects whose class is out of range are skipped and
// reported in rep (which may be nil).
func MarshalXML(im data.Image, classes []string, rep *data.Report) []byte {
	var b bytes.Buffer
	b.WriteString("<annotation>\n\t<folder>JPEGImages</folder>\n")
	fmt.Fprintf(&b, "\t<filename>%s</filename>\n", escape(filepath.Base(filepath.FromSlash(im.FileName))))
	fmt.Fprintf(&b, "\t<size>\n\t\t<width>%d</width>\n\t\t<height>%d</height>\n\t\t<depth>3</depth>\n\t</size>\n", im.Width, im.Height)
	b.WriteString("\t<segmented>0</segmented>\n")
	for _, o := range im.Objects {
		if o.Class < 0 || o.Class >= len(classes) {
			if rep != nil {
				rep.Errorf(im.FileName, fmt.Sprintf("box id %d", o.ID), "class index %d is out of range (%d classes): not written", o.Class, len(classes))
				rep.SkippedObjects++
			}
			continue
		}
		difficult := 0
		if o.Difficult || o.Crowd {
			difficult = 1
		}
		fmt.Fprintf(&b, "\t<object>\n\t\t<name>%s</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n\t\t<difficult>%d</difficult>\n",
			escape(classes[o.Class]), difficult)
		if o.Crowd {
			b.WriteString("\t\t<iscrowd>1</iscrowd>\n")
		}
		fmt.Fprintf(&b, "\t\t<bndbox>\n\t\t\t<xmin>%s</xmin>\n\t\t\t<ymin>%s</ymin>\n\t\t\t<xmax>%s</xmax>\n\t\t\t<ymax>%s</ymax>\n\t\t</bndbox>\n\t</object>\n",
			coord(o.Box[0]), coord(o.Box[1]), coord(o.Box[2]), coord(o.Box[3]))
	}
	b.WriteString("</annotation>\n")
	return b.Bytes()
}

// coord formats a 0-based coordinate as the 1-based VOC value: an integer
// when it is one, else the shortest decimal (after rounding to 1e-9).
func coord(v float64) string {
	v++
	if math.Abs(v) < 1e6 {
		v = math.Round(v*1e9) / 1e9
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

// Write writes ds in the VOC layout under dir: dir/Annotations/ID.xml,
// the images in dir/JPEGImages/ (hard links when possible, else copies;
// images whose Path is empty are not placed) and, when split is not empty,
// the list dir/ImageSets/Main/SPLIT.txt in dataset order. ID is the image
// file's base name without extension; an image whose ID or file name collides
// with an earlier one is skipped and reported. Other splits' files already in
// dir are left alone, so several splits can be written to one folder.
func Write(ds *data.Dataset, dir, split string) (*data.Report, error) {
	rep := &data.Report{}
	annDir := filepath.Join(dir, "Annotations")
	imgDir := filepath.Join(dir, "JPEGImages")
	for _, d := range []string{annDir, imgDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return rep, fmt.Errorf("voc: %w", err)
		}
	}
	var list bytes.Buffer
	used := map[string]string{}
	for _, im := range ds.Images {
		base := filepath.Base(filepath.FromSlash(im.FileName))
		id := strings.TrimSuffix(base, filepath.Ext(base))
		key := strings.ToLower(id)
		if prev, ok := used[key]; ok || id == "" || id == "." {
			rep.Errorf(im.FileName, "", "image id %q collides with %s: image not written", id, prev)
			rep.SkippedImages++
			rep.SkippedObjects += len(im.Objects)
			continue
		}
		used[key] = im.FileName
		if err := imagefile.Place(im.Path, filepath.Join(imgDir, base)); err != nil {
			return rep, fmt.Errorf("voc: %w", err)
		}
		im.FileName = base
		if err := os.WriteFile(filepath.Join(annDir, id+".xml"), MarshalXML(im, ds.Classes, rep), 0o644); err != nil {
			return rep, fmt.Errorf("voc: %w", err)
		}
		list.WriteString(id)
		list.WriteByte('\n')
	}
	if split != "" {
		setDir := filepath.Join(dir, "ImageSets", "Main")
		if err := os.MkdirAll(setDir, 0o755); err != nil {
			return rep, fmt.Errorf("voc: %w", err)
		}
		if err := os.WriteFile(filepath.Join(setDir, split+".txt"), list.Bytes(), 0o644); err != nil {
			return rep, fmt.Errorf("voc: %w", err)
		}
	}
	return rep, nil
}
