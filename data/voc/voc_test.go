package voc

import (
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data"
)

// writeFile writes content to root/rel, making folders.
func writeFile(t testing.TB, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writePNG writes a w x h grey PNG at root/rel.
func writePNG(t testing.TB, root, rel string, w, h int) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// obj is one object element.
func obj(name string, difficult int, xmin, ymin, xmax, ymax string) string {
	return fmt.Sprintf("<object><name>%s</name><difficult>%d</difficult><bndbox><xmin>%s</xmin><ymin>%s</ymin><xmax>%s</xmax><ymax>%s</ymax></bndbox></object>",
		name, difficult, xmin, ymin, xmax, ymax)
}

// ann is an annotation file; a zero w leaves the size element out.
func ann(filename string, w, h int, objects ...string) string {
	size := ""
	if w > 0 {
		size = fmt.Sprintf("<size><width>%d</width><height>%d</height><depth>3</depth></size>", w, h)
	}
	return fmt.Sprintf("<annotation><folder>JPEGImages</folder><filename>%s</filename>%s%s</annotation>", filename, size, strings.Join(objects, ""))
}

// cleanFixture is a small VOC dataset: 3 images in train/val, classes dog
// and cat in train and bird only in the val split.
func cleanFixture(t testing.TB) string {
	root := filepath.Join(t.TempDir(), "myvoc")
	writePNG(t, root, "JPEGImages/img1.png", 64, 48)
	writePNG(t, root, "JPEGImages/img2.png", 32, 32)
	writePNG(t, root, "JPEGImages/img3.png", 40, 30)
	writeFile(t, root, "Annotations/img1.xml", ann("img1.png", 64, 48,
		obj("dog", 0, "1", "1", "64", "48"),
		obj(" cat ", 1, "10", "12", "20.5", "30")))
	// No size element: the size comes from the PNG header.
	writeFile(t, root, "Annotations/img2.xml", ann("img2.png", 0, 0, obj("cat", 0, "2", "3", "12", "13")))
	// A filename that does not exist: the reader falls back to img3.png.
	writeFile(t, root, "Annotations/img3.xml", ann("renamed.jpg", 40, 30, obj("bird", 0, "5", "5", "15", "15")))
	writeFile(t, root, "ImageSets/Main/train.txt", "img1\nimg2\n")
	writeFile(t, root, "ImageSets/Main/val.txt", "img3\n")
	writeFile(t, root, "ImageSets/Main/cat_train.txt", "img1  1\nimg2  1\n")
	return root
}

func TestReadClean(t *testing.T) {
	root := cleanFixture(t)
	ds, rep, err := Read(root, Options{Split: "train"})
	if err != nil || !rep.Clean() {
		t.Fatalf("Read: %v %v", err, rep.Problems)
	}
	if ds.Name != "myvoc/train" {
		t.Errorf("name %q", ds.Name)
	}
	// The class list comes from every annotation file, bird included.
	if got := strings.Join(ds.Classes, ","); got != "bird,cat,dog" {
		t.Errorf("classes %s, want bird,cat,dog", got)
	}
	if ds.CategoryIDs[0] != 1 || ds.CategoryIDs[2] != 3 {
		t.Errorf("category ids %v", ds.CategoryIDs)
	}
	if len(ds.Images) != 2 {
		t.Fatalf("%d images, want 2", len(ds.Images))
	}
	im := ds.Images[0]
	if im.ID != 1 || im.FileName != "img1.png" || im.Path != filepath.Join(root, "JPEGImages", "img1.png") || im.Width != 64 || im.Height != 48 {
		t.Errorf("image 1: %+v", im)
	}
	// xmin=1..xmax=64 becomes 0..63; every coordinate minus 1.
	want := []data.Object{
		{ID: 1, Class: 2, Box: [4]float64{0, 0, 63, 47}, Area: 63 * 47},
		{ID: 2, Class: 1, Box: [4]float64{9, 11, 19.5, 29}, Area: 10.5 * 18, Difficult: true},
	}
	for i, w := range want {
		if im.Objects[i] != w {
			t.Errorf("object %d: %+v, want %+v", i, im.Objects[i], w)
		}
	}
	if im2 := ds.Images[1]; im2.ID != 2 || im2.Width != 32 || im2.Height != 32 || im2.Objects[0].ID != 3 {
		t.Errorf("image 2 (size from the header): %+v", im2)
	}

	val, rep, err := Read(root, Options{Split: "val"})
	if err != nil || !rep.Clean() {
		t.Fatalf("Read val: %v %v", err, rep.Problems)
	}
	if len(val.Images) != 1 || val.Images[0].FileName != "img3.png" || val.Images[0].Objects[0].Class != 0 {
		t.Errorf("val: %+v", val.Images)
	}

	all, rep, err := Read(root, Options{})
	if err != nil || !rep.Clean() || len(all.Images) != 3 || all.Name != "myvoc" || all.NumObjects() != 4 {
		t.Errorf("Read all: %v %v %+v", err, rep.Problems, all)
	}
	splits, err := Splits(root)
	if err != nil || strings.Join(splits, ",") != "train,val" {
		t.Errorf("Splits = %v, %v; want train, val (per-class lists left out)", splits, err)
	}

	fixed, rep, err := Read(root, Options{Split: "train", Classes: []string{"dog"}})
	if err != nil || fixed.NumObjects() != 1 || rep.Count(data.Error) != 2 ||
		!strings.Contains(rep.Problems[0].Message, `unknown class "cat"`) {
		t.Errorf("Read with classes [dog]: %v, %d boxes, %v", err, fixed.NumObjects(), rep.Problems)
	}
}

func TestClasses20SortToStandardOrder(t *testing.T) {
	for i := 1; i < len(Classes20); i++ {
		if Classes20[i-1] >= Classes20[i] {
			t.Fatalf("%s >= %s: the standard VOC order is not the sorted order", Classes20[i-1], Classes20[i])
		}
	}
}

func TestReadBroken(t *testing.T) {
	root := filepath.Join(t.TempDir(), "broken")
	writePNG(t, root, "JPEGImages/ok.png", 64, 48)
	writePNG(t, root, "JPEGImages/badxml.png", 8, 8)
	writeFile(t, root, "JPEGImages/badhead.png", "not a png")
	writeFile(t, root, "Annotations/ok.xml", ann("ok.png", 64, 48,
		obj("dog", 0, "1", "1", "10", "10"),
		obj("dog", 0, "60", "40", "70", "50"), // reaches outside: clipped
		obj("dog", 0, "5", "5", "5", "9"),     // zero width: dropped
		obj("dog", 0, "nan", "5", "9", "9"),   // NaN: dropped
		obj("dog", 0, "abc", "5", "9", "9"),   // not a number
		obj("", 0, "1", "1", "9", "9"),        // no name
		"<object><name>cat</name></object>",   // no bndbox
		"<object><name>cat</name><difficult>maybe</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>",
		obj("dog", 0, "100", "100", "120", "120"), // entirely outside
	))
	writeFile(t, root, "Annotations/badxml.xml", "<annotation><filename>badxml.png</filename>\n<object><name>dog</name>\n</annotation>")
	writeFile(t, root, "Annotations/other.xml", "<notannotation></notannotation>")
	writeFile(t, root, "Annotations/noimage.xml", ann("noimage.jpg", 10, 10, obj("dog", 0, "1", "1", "5", "5")))
	writeFile(t, root, "Annotations/badhead.xml", ann("badhead.png", 0, 0, obj("dog", 0, "1", "1", "5", "5")))
	writeFile(t, root, "Annotations/badsize.xml", ann("ok.png", 0, 0, obj("dog", 0, "1", "1", "5", "5"))+"")
	writeFile(t, root, "Annotations/empty.xml", "")
	writeFile(t, root, "ImageSets/Main/train.txt", "ok\nok\nghost\nbadxml\nother\nnoimage\nbadhead\nempty\n")

	ds, rep, err := Read(root, Options{Split: "train"})
	if err != nil {
		t.Fatal(err)
	}
	a := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }
	want := []struct {
		sev           data.Severity
		file, record  string
		messagePieces string
	}{
		{data.Warning, a("ImageSets/Main/train.txt"), "line 2", "already listed at line 1"},
		{data.Error, a("Annotations/ok.xml"), "object 5 (dog)", `xmin = "abc" is not a number`},
		{data.Error, a("Annotations/ok.xml"), "object 6", "no class name"},
		{data.Error, a("Annotations/ok.xml"), "object 7 (cat)", "no bndbox"},
		{data.Warning, a("Annotations/ok.xml"), "object 8 (cat)", `difficult = "maybe" is not 0 or 1`},
		{data.Warning, a("Annotations/ok.xml"), "object 2 (dog)", "xmin=60 ymin=40 xmax=70 ymax=50 reaches outside the 64x48 image: clipped to x1=59 y1=39 x2=64 y2=48"},
		{data.Warning, a("Annotations/ok.xml"), "object 3 (dog)", "zero or negative size"},
		{data.Warning, a("Annotations/ok.xml"), "object 4 (dog)", "not a finite number"},
		{data.Warning, a("Annotations/ok.xml"), "object 9 (dog)", "lies outside"},
		{data.Error, a("Annotations/ghost.xml"), "", "annotation file missing"},
		{data.Error, a("Annotations/badxml.xml"), "", "invalid XML at line 3"},
		{data.Error, a("Annotations/other.xml"), "", "expected element type <annotation>"},
		{data.Error, a("Annotations/noimage.xml"), "noimage.jpg", "not found: image skipped (1 box)"},
		{data.Error, a("JPEGImages/badhead.png"), "", "image header is unreadable"},
		{data.Error, a("Annotations/empty.xml"), "", "empty or truncated"},
	}
	got := rep.Problems
	for i := 0; i < len(want) || i < len(got); i++ {
		if i >= len(want) {
			t.Errorf("extra problem %d: %v", i, got[i])
			continue
		}
		if i >= len(got) {
			t.Errorf("missing problem %d: %+v", i, want[i])
			continue
		}
		w, g := want[i], got[i]
		if g.Severity != w.sev || g.File != w.file || g.Record != w.record || !strings.Contains(g.Message, w.messagePieces) {
			t.Errorf("problem %d = %s %q\n want %s %s: %s: ...%s...", i, g.Severity, g.String(), w.sev, w.file, w.record, w.messagePieces)
		}
	}
	if len(ds.Images) != 1 || len(ds.Images[0].Objects) != 3 {
		t.Fatalf("kept %+v, want ok.png with 3 boxes", ds.Images)
	}
	if got := ds.Images[0].Objects[1].Box; got != [4]float64{59, 39, 64, 48} {
		t.Errorf("clipped box %v", got)
	}
	if rep.SkippedImages != 6 || rep.SkippedObjects != 8 || rep.ClippedObjects != 1 {
		t.Errorf("skipped %d images, %d boxes, clipped %d; want 6, 8, 1", rep.SkippedImages, rep.SkippedObjects, rep.ClippedObjects)
	}

	if _, _, err := Read(root, Options{Split: "nosuch"}); err == nil || !strings.Contains(err.Error(), `no split "nosuch"`) || !strings.Contains(err.Error(), "splits: train") {
		t.Errorf("unknown split: %v", err)
	}
	if _, _, err := Read(t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "no Annotations folder") {
		t.Errorf("no Annotations: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	root := cleanFixture(t)
	// Add a crowd box (non-standard iscrowd element) and fractional coordinates.
	writeFile(t, root, "Annotations/img2.xml", ann("img2.png", 32, 32,
		obj("cat", 0, "2", "3", "12", "13"),
		"<object><name>dog</name><difficult>1</difficult><iscrowd>1</iscrowd><bndbox><xmin>1.25</xmin><ymin>1</ymin><xmax>31.1</xmax><ymax>32</ymax></bndbox></object>"))
	first, rep, err := Read(root, Options{Split: "train"})
	if err != nil || !rep.Clean() {
		t.Fatalf("read: %v %v", err, rep.Problems)
	}
	if o := first.Images[1].Objects[1]; !o.Crowd || o.Difficult {
		t.Fatalf("crowd box read as %+v", o)
	}
	out := filepath.Join(t.TempDir(), "out")
	wrep, err := Write(first, out, "train")
	if err != nil || !wrep.Clean() {
		t.Fatalf("write: %v %v", err, wrep.Problems)
	}
	b, err := os.ReadFile(filepath.Join(out, "Annotations", "img1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"<xmin>1</xmin>", "<xmax>64</xmax>", "<xmax>20.5</xmax>", "<difficult>1</difficult>", "<filename>img1.png</filename>"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("img1.xml lacks %s:\n%s", s, b)
		}
	}
	second, rep, err := Read(out, Options{Split: "train", Classes: first.Classes})
	if err != nil || !rep.Clean() {
		t.Fatalf("read back: %v %v", err, rep.Problems)
	}
	if len(second.Images) != len(first.Images) {
		t.Fatalf("%d images back, want %d", len(second.Images), len(first.Images))
	}
	for i, im := range second.Images {
		w := first.Images[i]
		if im.ID != w.ID || im.FileName != w.FileName || im.Width != w.Width || im.Height != w.Height || len(im.Objects) != len(w.Objects) {
			t.Fatalf("image %d: %+v, want %+v", i, im, w)
		}
		for k, o := range im.Objects {
			wo := w.Objects[k]
			same := o.ID == wo.ID && o.Class == wo.Class && o.Crowd == wo.Crowd && o.Difficult == wo.Difficult && math.Abs(o.Area-wo.Area) < 1e-9
			for j := range 4 {
				same = same && math.Abs(o.Box[j]-wo.Box[j]) < 1e-9
			}
			if !same {
				t.Errorf("image %s object %d: %+v, want %+v", im.FileName, k, o, wo)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, "JPEGImages", "img2.png")); err != nil {
		t.Errorf("image not placed: %v", err)
	}
}

func FuzzParseXML(f *testing.F) {
	f.Add([]byte(ann("a.jpg", 64, 48, obj("dog", 1, "1", "2", "30", "40"), obj("cat", 0, "nan", "2", "3", "4"))))
	f.Add([]byte(ann("a.jpg", 0, 0, "<object><name>x</name><iscrowd>1</iscrowd></object>")))
	f.Add([]byte("<annotation><size><width>-3</width></size><object><bndbox><xmin>1e309</xmin></bndbox></object></annotation>"))
	f.Add([]byte("<annotation>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rep data.Report
		a, err := ParseXML(b, "fuzz.xml", &rep)
		if err != nil {
			return
		}
		if a.Width < 0 || a.Height < 0 {
			t.Fatalf("negative size %dx%d", a.Width, a.Height)
		}
		for _, o := range a.Objects {
			if o.Name == "" {
				t.Fatalf("object without a name kept: %+v", o)
			}
		}
	})
}
