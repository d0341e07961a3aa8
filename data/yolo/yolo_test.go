package yolo

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data"
)

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

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		names      string // joined with ","; "" when an error is expected
		splits     map[string]string
		err        string
	}{
		{"list names", "path: ../ds\ntrain: images/train\nval: [images/val, extra.txt]\nnames: [a, b]\n", "a,b",
			map[string]string{"train": "images/train", "val": "images/val|extra.txt"}, ""},
		{"map names", "train: x\nnames:\n  1: b\n  0: a\nnc: 2\n", "a,b", map[string]string{"train": "x"}, ""},
		{"nc only", "train: x\nnc: 3\n", "class_0,class_1,class_2", nil, ""},
		{"null test", "train: x\ntest:\nnames: [a]\n", "a", map[string]string{"train": "x"}, ""},
		{"nc mismatch", "names: [a, b]\nnc: 3\n", "", nil, "nc = 3 but names has 2 entries"},
		{"gap in map", "names: {0: a, 2: c}\n", "", nil, "index 1 is missing"},
		{"negative index", "names: {-1: a}\n", "", nil, "not a non-negative integer"},
		{"duplicate name", "names: [a, a]\n", "", nil, "both called"},
		{"no classes", "train: x\n", "", nil, "neither names nor nc"},
		{"names scalar", "names: abc\n", "", nil, "want a list or a map"},
		{"bad yaml", "names: [a\n", "", nil, "invalid YAML"},
		{"train map", "train: {a: 1}\nnames: [a]\n", "", nil, "train: line 1"},
		{"duplicate key", "names: [a]\nnames: [b]\n", "", nil, "invalid YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.yaml), "data.yaml")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "data.yaml") {
					t.Fatalf("err = %v, want one naming data.yaml and %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(cfg.Names, ","); got != tc.names {
				t.Errorf("names %s, want %s", got, tc.names)
			}
			for k, v := range tc.splits {
				if got := strings.Join(cfg.Splits[k], "|"); got != v {
					t.Errorf("split %s = %s, want %s", k, got, v)
				}
			}
		})
	}
}

func TestParseLabels(t *testing.T) {
	const w, h = 100, 50
	tests := []struct {
		name, line string
		keep       bool
		box        [4]float64
		sev        data.Severity
		msg        string // "" means no problem
	}{
		{"box", "1 0.5 0.5 0.2 0.4", true, [4]float64{40, 15, 60, 35}, 0, ""},
		{"integral float class", "1.0 0.5 0.5 0.2 0.4", true, [4]float64{40, 15, 60, 35}, 0, ""},
		{"polygon", "0 0.1 0.2 0.3 0.2 0.2 0.6", true, [4]float64{10, 10, 30, 30}, 0, ""},
		{"4 fields", "1 0.5 0.5 0.2", false, [4]float64{}, data.Error, "4 fields, want 5"},
		{"6 fields", "1 0.5 0.5 0.2 0.2 0.9", false, [4]float64{}, data.Error, "6 fields, want 5"},
		{"unknown class", "3 0.5 0.5 0.2 0.2", false, [4]float64{}, data.Error, `unknown class id "3" (data.yaml names 3 classes`},
		{"negative class", "-1 0.5 0.5 0.2 0.2", false, [4]float64{}, data.Error, "unknown class id"},
		{"fractional class", "1.5 0.5 0.5 0.2 0.2", false, [4]float64{}, data.Error, "unknown class id"},
		{"text class", "dog 0.5 0.5 0.2 0.2", false, [4]float64{}, data.Error, "unknown class id"},
		{"not a number", "1 0.5 x 0.2 0.2", false, [4]float64{}, data.Error, `"x" is not a number`},
		{"pixel coordinates", "1 50 25 20 10", false, [4]float64{}, data.Error, "must be normalised"},
		{"NaN", "1 nan 0.5 0.2 0.2", false, [4]float64{}, data.Warning, "not a finite number"},
		{"zero width", "1 0.5 0.5 0 0.2", false, [4]float64{}, data.Warning, "zero or negative size"},
		{"negative height", "1 0.5 0.5 0.2 -0.2", false, [4]float64{}, data.Warning, "zero or negative size"},
		{"outside", "1 0.95 0.5 0.2 0.2", true, [4]float64{85, 20, 100, 30}, data.Warning, "clipped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rep data.Report
			objs := ParseLabels([]byte("\n"+tc.line+"\r\n"), "a.txt", 3, w, h, &rep)
			if tc.keep != (len(objs) == 1) {
				t.Fatalf("kept %d boxes, want keep=%v (%v)", len(objs), tc.keep, rep.Problems)
			}
			if tc.keep {
				for j := range 4 {
					if math.Abs(objs[0].Box[j]-tc.box[j]) > 1e-9 {
						t.Errorf("box %v, want %v", objs[0].Box, tc.box)
						break
					}
				}
			}
			if tc.msg == "" {
				if !rep.Clean() {
					t.Errorf("problems %v", rep.Problems)
				}
				return
			}
			if len(rep.Problems) != 1 {
				t.Fatalf("problems %v, want one", rep.Problems)
			}
			p := rep.Problems[0]
			if p.Severity != tc.sev || p.File != "a.txt" || p.Record != "line 2" || !strings.Contains(p.Message, tc.msg) {
				t.Errorf("problem %s %q, want %s a.txt: line 2: ...%s...", p.Severity, p, tc.sev, tc.msg)
			}
		})
	}
	var rep data.Report
	objs := ParseLabels([]byte("0 0.5 0.5 0.2 0.2\n0  0.5 0.5 0.2 0.2\n"), "d.txt", 1, w, h, &rep)
	if len(objs) != 1 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].String(), "d.txt: line 2: repeats line 1") {
		t.Errorf("duplicate line: %d boxes, %v", len(objs), rep.Problems)
	}
}

func TestLabelPath(t *testing.T) {
	tests := map[string]string{
		"/d/images/train/a.jpg":        "/d/labels/train/a.txt",
		"/d/images/x/images/sub/b.png": "/d/images/x/labels/sub/b.txt",
		"/d/pics/c.jpeg":               "/d/pics/c.txt",
		"images/d.jpg":                 "labels/d.txt",
	}
	for in, want := range tests {
		if got := LabelPath(filepath.FromSlash(in)); got != filepath.FromSlash(want) {
			t.Errorf("LabelPath(%s) = %s, want %s", in, got, want)
		}
	}
}

// ultralyticsFixture: data.yaml with path, folder splits and a list split.
func ultralyticsFixture(t testing.TB) string {
	root := filepath.Join(t.TempDir(), "ds")
	writePNG(t, root, "images/train/b.png", 100, 50)
	writePNG(t, root, "images/train/a.png", 40, 40)
	writePNG(t, root, "images/train/sub/c.png", 20, 10)
	writePNG(t, root, "images/val/v.png", 30, 30)
	writeFile(t, root, "labels/train/a.txt", "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.1 0.1\n")
	writeFile(t, root, "labels/train/b.txt", "1 0.5 0.5 0.2 0.4\n")
	// c.png has no label file: a background image.
	writeFile(t, root, "labels/val/v.txt", "0 0.5 0.5 1 1\n")
	writeFile(t, root, "lists/val.txt", "./images/val/v.png\n")
	writeFile(t, root, "data.yaml", "path: .\ntrain: images/train\nval: lists/val.txt\nnames:\n  0: cat\n  1: dog\n")
	return root
}

func TestReadUltralytics(t *testing.T) {
	root := ultralyticsFixture(t)
	ds, rep, err := Read(filepath.Join(root, "data.yaml"), Options{Split: "train"})
	if err != nil || !rep.Clean() {
		t.Fatalf("Read: %v %v", err, rep.Problems)
	}
	if ds.Name != "ds/train" || strings.Join(ds.Classes, ",") != "cat,dog" || ds.CategoryIDs[1] != 2 {
		t.Errorf("dataset %q classes %v ids %v", ds.Name, ds.Classes, ds.CategoryIDs)
	}
	var names []string
	for _, im := range ds.Images {
		names = append(names, im.FileName)
	}
	if strings.Join(names, ",") != "a.png,b.png,sub/c.png" {
		t.Fatalf("images %v, want a.png, b.png, sub/c.png (lexical order)", names)
	}
	a := ds.Images[0]
	if a.ID != 1 || a.Width != 40 || len(a.Objects) != 2 || a.Objects[0].Box != [4]float64{10, 10, 30, 30} || a.Objects[0].Area != 400 || a.Objects[1].ID != 2 {
		t.Errorf("a.png: %+v", a)
	}
	if b := ds.Images[1]; b.Objects[0].ID != 3 || b.Objects[0].Class != 1 || b.Objects[0].Box != [4]float64{40, 15, 60, 35} {
		t.Errorf("b.png: %+v", b)
	}
	if c := ds.Images[2]; len(c.Objects) != 0 || c.Width != 20 {
		t.Errorf("c.png (background): %+v", c)
	}

	val, rep, err := Read(filepath.Join(root, "data.yaml"), Options{Split: "val"})
	if err != nil || !rep.Clean() || len(val.Images) != 1 || val.Images[0].FileName != "images/val/v.png" || val.NumObjects() != 1 {
		t.Errorf("val from a list: %v %v %+v", err, rep.Problems, val)
	}
	all, rep, err := Read(filepath.Join(root, "data.yaml"), Options{})
	if err != nil || !rep.Clean() || len(all.Images) != 4 || all.Name != "ds" {
		t.Errorf("all splits: %v %v %d images", err, rep.Problems, len(all.Images))
	}
	if _, _, err := Read(filepath.Join(root, "data.yaml"), Options{Split: "test"}); err == nil || !strings.Contains(err.Error(), "splits: train, val") {
		t.Errorf("missing split: %v", err)
	}
}

func TestReadRoboflowLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "rf")
	writePNG(t, root, "train/images/x.png", 10, 10)
	writeFile(t, root, "train/labels/x.txt", "0 0.5 0.5 0.2 0.2\n")
	writePNG(t, root, "valid/images/y.png", 10, 10)
	writeFile(t, root, "valid/labels/y.txt", "0 0.5 0.5 0.2 0.2\n")
	writeFile(t, root, "data.yaml", "train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnc: 1\nnames: ['cell']\n")
	for _, split := range []string{"train", "val"} {
		ds, rep, err := Read(filepath.Join(root, "data.yaml"), Options{Split: split})
		if err != nil || !rep.Clean() || len(ds.Images) != 1 || ds.NumObjects() != 1 {
			t.Errorf("split %s: %v %v %+v", split, err, rep, ds)
		}
	}
	// test: names a folder that does not exist.
	if _, _, err := Read(filepath.Join(root, "data.yaml"), Options{Split: "test"}); err == nil ||
		!strings.Contains(err.Error(), "../test/images not found (tried") {
		t.Errorf("missing test folder: %v", err)
	}
	ds, rep, err := Read(filepath.Join(root, "data.yaml"), Options{})
	if err != nil || len(ds.Images) != 2 || len(rep.Problems) != 1 || rep.Problems[0].Record != "test" {
		t.Errorf("all splits: %v, %d images, %v", err, len(ds.Images), rep.Problems)
	}
}

func TestReadBroken(t *testing.T) {
	root := filepath.Join(t.TempDir(), "bad")
	writePNG(t, root, "images/train/ok.png", 10, 10)
	writeFile(t, root, "images/train/corrupt.png", "\x89PNG garbage")
	writeFile(t, root, "images/train/skip.webp", "x")
	writeFile(t, root, "images/train/notes.md", "ignored")
	writeFile(t, root, "labels/train/ok.txt", "0 0.5 0.5 0.2\n5 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n")
	writeFile(t, root, "lists/l.txt", "images/train/ok.png\nimages/train/ghost.png\n")
	writeFile(t, root, "data.yaml", "train: images/train\nval: lists/l.txt\nnames: [a]\n")
	ds, rep, err := Read(filepath.Join(root, "data.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []string{}
	for _, p := range rep.Problems {
		msgs = append(msgs, p.Severity.String()+" "+p.String())
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{
		"warning " + filepath.Join(root, "images", "train") + ": 1 images in formats other than JPEG, PNG or BMP: skipped",
		"error " + filepath.Join(root, "lists", "l.txt") + ": line 2: image images/train/ghost.png not found",
		"error " + filepath.Join(root, "images", "train", "corrupt.png") + ": unreadable image",
		"error " + filepath.Join(root, "labels", "train", "ok.txt") + ": line 1: 4 fields, want 5",
		"error " + filepath.Join(root, "labels", "train", "ok.txt") + ": line 2: unknown class id \"5\"",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems lack %q:\n%s", want, joined)
		}
	}
	if len(rep.Problems) != 5 || len(ds.Images) != 1 || ds.NumObjects() != 1 || rep.SkippedImages != 3 || rep.SkippedObjects != 2 {
		t.Errorf("%d problems, %d images, %d boxes, skipped %d images %d boxes; want 5, 1, 1, 3, 2",
			len(rep.Problems), len(ds.Images), ds.NumObjects(), rep.SkippedImages, rep.SkippedObjects)
	}

	// No labels folder at all: warned.
	root2 := filepath.Join(t.TempDir(), "nolabels")
	writePNG(t, root2, "images/train/ok.png", 10, 10)
	writeFile(t, root2, "data.yaml", "train: images/train\nnames: [a]\n")
	_, rep, err = Read(filepath.Join(root2, "data.yaml"), Options{})
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Message, "none of the 1 images has a label file") {
		t.Errorf("no labels: %v %v", err, rep.Problems)
	}
}

func TestRoundTrip(t *testing.T) {
	root := ultralyticsFixture(t)
	first, rep, err := Read(filepath.Join(root, "data.yaml"), Options{Split: "train"})
	if err != nil || !rep.Clean() {
		t.Fatalf("read: %v %v", err, rep.Problems)
	}
	out := filepath.Join(t.TempDir(), "out")
	if wrep, err := Write(first, out, "train"); err != nil || !wrep.Clean() {
		t.Fatalf("write: %v %v", err, wrep.Problems)
	}
	val, _, err := Read(filepath.Join(root, "data.yaml"), Options{Split: "val"})
	if err != nil {
		t.Fatal(err)
	}
	if wrep, err := Write(val, out, "val"); err != nil || !wrep.Clean() {
		t.Fatalf("write val: %v %v", err, wrep)
	}
	y, err := os.ReadFile(filepath.Join(out, "data.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"train: images/train", "val: images/val", "nc: 2", "0: cat", "1: dog"} {
		if !strings.Contains(string(y), s) {
			t.Errorf("data.yaml lacks %q:\n%s", s, y)
		}
	}
	second, rep, err := Read(filepath.Join(out, "data.yaml"), Options{Split: "train"})
	if err != nil || !rep.Clean() {
		t.Fatalf("read back: %v %v", err, rep.Problems)
	}
	if len(second.Images) != len(first.Images) {
		t.Fatalf("%d images back, want %d", len(second.Images), len(first.Images))
	}
	for i, im := range second.Images {
		w := first.Images[i]
		if im.ID != w.ID || im.FileName != w.FileName || im.Width != w.Width || len(im.Objects) != len(w.Objects) {
			t.Fatalf("image %d: %+v, want %+v", i, im, w)
		}
		for k, o := range im.Objects {
			wo := w.Objects[k]
			same := o.ID == wo.ID && o.Class == wo.Class && math.Abs(o.Area-wo.Area) < 1e-6
			for j := range 4 {
				same = same && math.Abs(o.Box[j]-wo.Box[j]) < 1e-6
			}
			if !same {
				t.Errorf("image %s box %d: %+v, want %+v", im.FileName, k, o, wo)
			}
		}
	}
	// Another class list cannot be merged into the same data.yaml.
	other := *first
	other.Classes = []string{"x", "y"}
	if _, err := Write(&other, out, "test"); err == nil || !strings.Contains(err.Error(), "other class names") {
		t.Errorf("class mismatch: %v", err)
	}
	// Crowd and difficult boxes are not written, and counted.
	ign := *first
	ign.Images = append([]data.Image(nil), first.Images...)
	ign.Images[0].Objects = append([]data.Object(nil), first.Images[0].Objects...)
	ign.Images[0].Objects[0].Crowd = true
	ign.Images[0].Objects[1].Difficult = true
	wrep, err := Write(&ign, filepath.Join(t.TempDir(), "ign"), "train")
	if err != nil || wrep.SkippedObjects != 2 || !strings.Contains(wrep.Summary(), "1 warning") {
		t.Errorf("ignore regions: %v %v", err, wrep)
	}
}

func FuzzParseLabels(f *testing.F) {
	f.Add([]byte("0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.05 0.05\n"), 3, 100, 50)
	f.Add([]byte("1 0.5 0.5 0.2\n7 nan 1 1 1\n0 0.1 0.2 0.3 0.2 0.2 0.6\n"), 2, 10, 10)
	f.Add([]byte("0 -inf 1e309 0 0\n\r\n\t"), 1, 0, 0)
	f.Fuzz(func(t *testing.T, b []byte, nc, w, h int) {
		var rep data.Report
		objs := ParseLabels(b, "fuzz.txt", nc, w, h, &rep)
		for _, o := range objs {
			if o.Class < 0 || o.Class >= nc || !(o.Box[2] > o.Box[0]) || !(o.Box[3] > o.Box[1]) {
				t.Fatalf("invalid box kept: %+v", o)
			}
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("path: .\ntrain: images/train\nval: [a, b.txt]\nnames:\n  0: cat\n  1: dog\n"))
	f.Add([]byte("train: ../train/images\nnc: 1\nnames: ['cell']\n"))
	f.Add([]byte("names: {0: a, 2: c}\nnc: 2\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b, "fuzz.yaml")
		if err != nil {
			return
		}
		if len(cfg.Names) == 0 {
			t.Fatalf("config without names accepted")
		}
		if _, err := cfg.Marshal(); err != nil {
			t.Fatalf("Marshal: %v", err)
		}
	})
}
