package coco

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

// writePNG writes a w x h grey PNG.
func writePNG(t testing.TB, path string, w, h int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
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

// cleanDoc has non-contiguous category ids, a crowd box, an "ignore" box, an
// explicit area and an image without boxes.
const cleanDoc = `{
 "images": [
  {"id": 10, "file_name": "a.png", "width": 64, "height": 48},
  {"id": 3, "file_name": "b.png", "width": 32, "height": 32},
  {"id": 7, "file_name": "c.png", "width": 16, "height": 16}
 ],
 "annotations": [
  {"id": 100, "image_id": 10, "category_id": 7, "bbox": [1.5, 2, 10, 20], "area": 150.25, "iscrowd": 0},
  {"id": 101, "image_id": 10, "category_id": 1, "bbox": [0, 0, 64, 48], "iscrowd": 1},
  {"id": 102, "image_id": 3, "category_id": 3, "bbox": [4, 4, 8, 8], "iscrowd": 0, "ignore": 1},
  {"id": 103, "image_id": 3, "category_id": 7, "bbox": [10, 12, 5, 6]}
 ],
 "categories": [
  {"id": 7, "name": "zebra"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"}
 ]
}`

func TestParseClean(t *testing.T) {
	ds, rep, err := Parse([]byte(cleanDoc), "x.json", "imgs")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if got := strings.Join(ds.Classes, ","); got != "person,car,zebra" {
		t.Errorf("classes %s, want person,car,zebra (sorted by category id)", got)
	}
	if got := ds.CategoryIDs; len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 7 {
		t.Errorf("category ids %v, want [1 3 7]", got)
	}
	if len(ds.Images) != 3 || ds.Images[0].ID != 10 || ds.Images[1].ID != 3 || ds.Images[2].ID != 7 {
		t.Fatalf("images %+v, want ids 10, 3, 7 in file order", ds.Images)
	}
	a := ds.Images[0]
	if a.Path != filepath.Join("imgs", "a.png") || a.Width != 64 || a.Height != 48 || len(a.Objects) != 2 {
		t.Fatalf("image a: %+v", a)
	}
	o := a.Objects[0]
	if o.ID != 100 || o.Class != 2 || o.Box != [4]float64{1.5, 2, 11.5, 22} || o.Area != 150.25 || o.Crowd || o.Difficult {
		t.Errorf("annotation 100: %+v", o)
	}
	if o := a.Objects[1]; !o.Crowd || o.Class != 0 || o.Area != 64*48 {
		t.Errorf("annotation 101 (crowd, area from w*h): %+v", o)
	}
	if o := ds.Images[1].Objects[0]; !o.Difficult || o.Crowd || o.Class != 1 {
		t.Errorf("annotation 102 (ignore -> difficult): %+v", o)
	}
	if ds.NumObjects() != 4 || len(ds.Images[2].Objects) != 0 {
		t.Errorf("%d boxes, want 4; image c has %d boxes, want 0", ds.NumObjects(), len(ds.Images[2].Objects))
	}
}

func TestParseFatal(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"bad JSON", "{\n\"images\": [\n{\"id\": 1,,}]}", "images[0]: line 3, column 10: expected a string key"},
		{"truncated", `{"images": [{"id": 1`, "images[0]: line 1, column 21: expected ',' or '}'"},
		{"empty", "  ", "empty file"},
		{"results file", `[{"image_id": 1, "bbox": [1,2,3,4], "score": 0.5}]`, "detection results file"},
		{"no images", `{"annotations": [], "categories": [{"id": 1, "name": "a"}]}`, `no "images" list`},
		{"no categories", `{"images": [], "annotations": []}`, `no "categories" list`},
		{"no annotations", `{"images": [], "categories": [{"id": 1, "name": "a"}]}`, `no "annotations" list`},
		{"no usable category", `{"images": [], "categories": [{"name": "a"}], "annotations": []}`, "no usable category"},
		{"images not a list", `{"images": {}, "categories": []}`, `"images": expected a list, found an object`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.doc), "x.json", "")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "x.json: ") {
				t.Errorf("err = %v, want one naming x.json and %q", err, tc.want)
			}
		})
	}
}

// brokenDoc has broken records of many kinds; TestParseBroken lists what
// the reader must report about each, in order.
const brokenDoc = `{
 "images": [
  {"id": 1, "file_name": "a.png", "width": 64, "height": 48},
  {"id": 1, "file_name": "dup.png", "width": 64, "height": 48},
  {"id": 2, "file_name": "nosize.png"},
  {"id": 3, "width": 10, "height": 10},
  {"id": "x", "file_name": "badid.png", "width": 10, "height": 10},
  "not an object"
 ],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]},
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10]},
  {"id": 2, "image_id": 1, "category_id": 9, "bbox": [1, 1, 10, 10]},
  {"id": 3, "image_id": 77, "category_id": 1, "bbox": [1, 1, 10, 10]},
  {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 10]},
  {"id": 5, "image_id": 1, "category_id": 1, "bbox": [NaN, 1, 10, 10]},
  {"id": 6, "image_id": 1, "category_id": 1, "bbox": [60, 40, 10, 10]},
  {"id": 7, "image_id": 1, "category_id": 1, "bbox": [100, 100, 10, 10]},
  {"id": 8, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]},
  {"id": 9, "image_id": 1, "category_id": 1, "bbox": [1, "2", 3, 4]},
  {"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 2},
  {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
  {"id": 11, "image_id": 1, "category_id": 1.5, "bbox": [1, 2, 3, 4]},
  {"id": 12, "image_id": 1, "category_id": 1, "bbox": [1, 2, -3, 4]},
  {"id": 13, "image_id": 1, "category_id": 2, "bbox": [5, 5, 3, 4], "area": Infinity},
  ["not", "an", "object"],
  {"id": 14, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4]},
  {"id": 15, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": -1}
 ],
 "categories": [{"id": 1, "name": "cat"}, {"id": 1, "name": "again"}, {"id": 2}]
}`

func TestParseBroken(t *testing.T) {
	ds, rep, err := Parse([]byte(brokenDoc), "b.json", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		sev     data.Severity
		record  string
		message string
	}{
		{data.Error, "categories[1] (id 1)", "id 1 repeats categories[0]: category skipped"},
		{data.Warning, "categories[2] (id 2)", `no name: called "category_2"`},
		{data.Error, "images[1] (id 1)", "id 1 repeats images[0]: image skipped"},
		{data.Error, "images[2] (id 2)", "width and height must be positive integers (got none, none): image skipped"},
		{data.Error, "images[3] (id 3)", "no file_name: image skipped"},
		{data.Error, "images[4]", "id: expected a number, found a string: image skipped"},
		{data.Error, "images[5]", "expected an object, found a string: image skipped"},
		{data.Error, "annotations[1] (id 1)", "id 1 repeats annotations[0]: annotation skipped"},
		{data.Error, "annotations[2] (id 2)", "category_id 9 is not among the categories: annotation skipped"},
		{data.Error, "annotations[3] (id 3)", "image_id 77 is not among the images: annotation skipped"},
		{data.Warning, "annotations[4] (id 4)", "zero or negative size"},
		{data.Error, "annotations[5] (id 5)", "bbox[0] is NaN (bbox [NaN 1 10 10]): annotation skipped"},
		{data.Warning, "annotations[6] (id 6)", "clipped to x1=60 y1=40 x2=64 y2=48"},
		{data.Warning, "annotations[7] (id 7)", "lies outside the 64x48 image"},
		{data.Error, "annotations[8] (id 8)", "bbox: has 3 numbers, want 4 (x, y, w, h): annotation skipped"},
		{data.Error, "annotations[9] (id 9)", "bbox[1]: expected a number, found a string: annotation skipped"},
		{data.Warning, "annotations[10] (id 10)", "iscrowd = 2 is not 0 or 1: taken as 1 (a crowd)"},
		{data.Error, "annotations[11]", `field "id" is missing: annotation skipped`},
		{data.Error, "annotations[12] (id 11)", "category_id: expected an integer, found 1.5: annotation skipped"},
		{data.Error, "annotations[13] (id 12)", "bbox has a negative width or height (bbox [1 2 -3 4]): annotation skipped"},
		{data.Error, "annotations[14] (id 13)", "area is +Inf (must be finite and non-negative): annotation skipped"},
		{data.Error, "annotations[15]", "expected an object, found an array: annotation skipped"},
		{data.Error, "annotations[16] (id 14)", "image_id 2 names images[2], which is skipped: annotation skipped"},
		{data.Error, "annotations[17] (id 15)", "area is -1 (must be finite and non-negative): annotation skipped"},
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
		if g.Severity != w.sev || g.File != "b.json" || g.Record != w.record || !strings.Contains(g.Message, w.message) {
			t.Errorf("problem %d = %s %q, want %s b.json: %s: ...%s...", i, g.Severity, g.String(), w.sev, w.record, w.message)
		}
	}
	if len(ds.Images) != 1 || ds.Images[0].FileName != "a.png" {
		t.Fatalf("kept images %+v, want only a.png", ds.Images)
	}
	// Kept: 1, 6 (clipped), 10 (a crowd, area from w*h).
	var ids []int64
	for _, o := range ds.Images[0].Objects {
		ids = append(ids, o.ID)
	}
	if len(ids) != 3 || ids[0] != 1 || ids[1] != 6 || ids[2] != 10 {
		t.Fatalf("kept annotation ids %v, want [1 6 10]", ids)
	}
	if o := ds.Images[0].Objects[2]; !o.Crowd || o.Area != 12 {
		t.Errorf("annotation 10: %+v, want a crowd, area 12", o)
	}
	if rep.SkippedImages != 5 || rep.SkippedObjects != 15 || rep.ClippedObjects != 1 {
		t.Errorf("skipped %d images, %d boxes, clipped %d; want 5, 15, 1", rep.SkippedImages, rep.SkippedObjects, rep.ClippedObjects)
	}
}

func TestImagesDirAndName(t *testing.T) {
	root := filepath.Join(t.TempDir(), "mycoco")
	ann := filepath.Join(root, "annotations", "instances_val.json")
	writePNG(t, filepath.Join(root, "val", "a.png"), 8, 8)
	if err := os.MkdirAll(filepath.Dir(ann), 0o755); err != nil {
		t.Fatal(err)
	}
	doc := `{"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}], "annotations": [], "categories": [{"id": 1, "name": "x"}]}`
	if err := os.WriteFile(ann, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	flat := filepath.Join(root, "flat.json")
	if err := os.WriteFile(flat, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, images, wantDir, wantName string
	}{
		{ann, "", filepath.Join(root, "val"), "mycoco/val"},
		{ann, "/elsewhere", "/elsewhere", "mycoco/val"},
		{flat, "", root, "flat"},
	}
	for _, tc := range tests {
		ds, rep, err := Read(tc.path, Options{ImagesDir: tc.images})
		if err != nil || !rep.Clean() {
			t.Fatalf("Read(%s): %v %v", tc.path, err, rep.Problems)
		}
		if got := filepath.Dir(ds.Images[0].Path); got != tc.wantDir {
			t.Errorf("Read(%s, %q): image folder %s, want %s", tc.path, tc.images, got, tc.wantDir)
		}
		if ds.Name != tc.wantName {
			t.Errorf("Read(%s): name %q, want %q", tc.path, ds.Name, tc.wantName)
		}
	}
	if SplitName(ann) != "val" || SplitName(flat) != "flat" {
		t.Errorf("SplitName: %q %q", SplitName(ann), SplitName(flat))
	}
	if _, _, err := Read(filepath.Join(root, "missing.json"), Options{}); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("Read(missing) = %v, want an error naming the file", err)
	}
}

// sameDataset compares everything but image paths (boxes and areas to 1e-9).
func sameDataset(t *testing.T, got, want *data.Dataset) {
	t.Helper()
	if strings.Join(got.Classes, "|") != strings.Join(want.Classes, "|") {
		t.Fatalf("classes %v, want %v", got.Classes, want.Classes)
	}
	if len(got.CategoryIDs) != len(want.CategoryIDs) {
		t.Fatalf("category ids %v, want %v", got.CategoryIDs, want.CategoryIDs)
	}
	for i := range got.CategoryIDs {
		if got.CategoryIDs[i] != want.CategoryIDs[i] {
			t.Fatalf("category ids %v, want %v", got.CategoryIDs, want.CategoryIDs)
		}
	}
	if len(got.Images) != len(want.Images) {
		t.Fatalf("%d images, want %d", len(got.Images), len(want.Images))
	}
	for i, g := range got.Images {
		w := want.Images[i]
		if g.ID != w.ID || g.FileName != w.FileName || g.Width != w.Width || g.Height != w.Height || len(g.Objects) != len(w.Objects) {
			t.Fatalf("image %d: %+v, want %+v", i, g, w)
		}
		for k, go_ := range g.Objects {
			wo := w.Objects[k]
			same := go_.ID == wo.ID && go_.Class == wo.Class && go_.Crowd == wo.Crowd && go_.Difficult == wo.Difficult &&
				math.Abs(go_.Area-wo.Area) < 1e-9
			for j := range 4 {
				same = same && math.Abs(go_.Box[j]-wo.Box[j]) < 1e-9
			}
			if !same {
				t.Errorf("image %s box %d: %+v, want %+v", g.FileName, k, go_, wo)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, im := range []struct {
		name string
		w, h int
	}{{"a.png", 64, 48}, {"b.png", 32, 32}, {"c.png", 16, 16}} {
		writePNG(t, filepath.Join(src, im.name), im.w, im.h)
	}
	// Fractional boxes whose x + w is not exact in float64.
	doc := strings.Replace(cleanDoc, `[10, 12, 5, 6]`, `[10.1, 12.7, 5.3, 3.3]`, 1)
	if err := os.WriteFile(filepath.Join(src, "in.json"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	first, rep, err := Read(filepath.Join(src, "in.json"), Options{})
	if err != nil || !rep.Clean() {
		t.Fatalf("read: %v %v", err, rep.Problems)
	}
	out := filepath.Join(dir, "out")
	wrep, err := WriteDir(first, out, "val")
	if err != nil || !wrep.Clean() {
		t.Fatalf("write: %v %v", err, wrep.Problems)
	}
	b, err := os.ReadFile(filepath.Join(out, "annotations", "instances_val.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"ignore":1`, `"iscrowd":1`, `"bbox":[10.1,12.7,5.3,3.3]`, `"area":150.25`, `{"id":7,"name":"zebra"}`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("output lacks %s", s)
		}
	}
	second, rep, err := Read(filepath.Join(out, "annotations", "instances_val.json"), Options{})
	if err != nil || !rep.Clean() {
		t.Fatalf("read back: %v %v", err, rep.Problems)
	}
	sameDataset(t, second, first)
	if _, err := os.Stat(second.Images[0].Path); err != nil || filepath.Dir(second.Images[0].Path) != filepath.Join(out, "val") {
		t.Errorf("image not placed in out/val: %s (%v)", second.Images[0].Path, err)
	}
}

func TestEncodeRenumbersBadIDs(t *testing.T) {
	ds := &data.Dataset{
		Name: "x", Classes: []string{"a", "b"}, CategoryIDs: []int{5, 5},
		Images: []data.Image{
			{ID: 0, FileName: "a.png", Width: 10, Height: 10, Objects: []data.Object{{ID: 3, Box: [4]float64{1, 1, 2, 2}}, {ID: 3, Class: 1, Box: [4]float64{1, 1, 3, 3}}}},
			{ID: 0, FileName: "b.png", Width: 10, Height: 10, Objects: []data.Object{{ID: 4, Class: 2, Box: [4]float64{1, 1, 2, 2}}}},
		},
	}
	var rep data.Report
	b, err := Encode(ds, &rep)
	if err != nil {
		t.Fatal(err)
	}
	back, prep, err := Parse(b, "enc.json", "")
	if err != nil || !prep.Clean() {
		t.Fatalf("parse: %v %v", err, prep.Problems)
	}
	if back.Images[0].ID != 1 || back.Images[1].ID != 2 || back.CategoryIDs[0] != 1 || back.CategoryIDs[1] != 2 {
		t.Errorf("ids not renumbered: images %d %d, categories %v", back.Images[0].ID, back.Images[1].ID, back.CategoryIDs)
	}
	if back.NumObjects() != 2 || rep.Count(data.Error) != 1 || rep.Count(data.Warning) != 2 {
		t.Errorf("%d boxes written (want 2), problems %v", back.NumObjects(), rep.Problems)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(cleanDoc))
	f.Add([]byte(brokenDoc))
	f.Add([]byte(`{"images": [], "categories": [{"id": 1, "name": "a"}]}`))
	f.Add([]byte(`[1, 2]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, rep, err := Parse(b, "fuzz.json", "dir")
		in, _, gtErr := ParseInstances(b, "fuzz.json", ForGroundTruth)
		if gtErr == nil {
			if err := in.Validate(); err != nil {
				t.Fatalf("ground truth read, then rejected: %v", err)
			}
		}
		if err != nil {
			if gtErr == nil {
				t.Fatalf("the dataset reader fails (%v) where the ground-truth reader does not", err)
			}
			return
		}
		if rep == nil || ds == nil || len(ds.Classes) == 0 || len(ds.Classes) != len(ds.CategoryIDs) {
			t.Fatalf("inconsistent result: %+v %+v", ds, rep)
		}
		for _, im := range ds.Images {
			for _, o := range im.Objects {
				if o.Class < 0 || o.Class >= len(ds.Classes) || !(o.Box[2] > o.Box[0]) || !(o.Box[3] > o.Box[1]) {
					t.Fatalf("invalid box kept: %+v in %+v", o, im)
				}
			}
		}
	})
}
