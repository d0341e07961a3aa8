package formats

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/imageio"
	"github.com/ghmdet/ghmdet/data/voc"
	"github.com/ghmdet/ghmdet/internal/testutil"
)

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// vocFixture writes a VOC dataset with splits train (2 images) and val (1
// image), a difficult box and, when zeroBox, a zero-size box in b.png.
func vocFixture(t testing.TB, zeroBox bool) string {
	t.Helper()
	src := t.TempDir()
	ds := &data.Dataset{Classes: []string{"cat", "dog"}, CategoryIDs: []int{1, 2}}
	sizes := []struct {
		name string
		w, h int
	}{{"a.png", 64, 48}, {"b.png", 40, 40}, {"c.png", 50, 30}}
	for i, s := range sizes {
		p := filepath.Join(src, s.name)
		writeFile(t, p, pngBytes(t, s.w, s.h))
		ds.Images = append(ds.Images, data.Image{ID: int64(i + 1), Path: p, FileName: s.name, Width: s.w, Height: s.h})
	}
	ds.Images[0].Objects = []data.Object{
		{Class: 0, Box: [4]float64{0, 0, 10, 10}},
		{Class: 1, Box: [4]float64{20, 10, 60, 45}, Difficult: true},
	}
	ds.Images[1].Objects = []data.Object{{Class: 1, Box: [4]float64{5, 5, 35, 35}}}
	ds.Images[2].Objects = []data.Object{{Class: 0, Box: [4]float64{1, 2, 3, 4}}}
	if zeroBox {
		ds.Images[1].Objects = append(ds.Images[1].Objects, data.Object{Class: 0, Box: [4]float64{7, 7, 7, 7}})
	}
	root := filepath.Join(t.TempDir(), "fix")
	train, val := *ds, *ds
	train.Images, val.Images = ds.Images[:2], ds.Images[2:]
	if _, err := voc.Write(&train, root, "train"); err != nil {
		t.Fatal(err)
	}
	if _, err := voc.Write(&val, root, "val"); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	vocDir := filepath.Join(dir, "v")
	yoloDir := filepath.Join(dir, "y")
	other := filepath.Join(dir, "o")
	for _, d := range []string{filepath.Join(vocDir, "Annotations"), yoloDir, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a.json", "b.yaml", "c.YML", "d.txt", "y/data.yaml"} {
		writeFile(t, filepath.Join(dir, f), []byte("x"))
	}
	tests := []struct{ path, want, err string }{
		{filepath.Join(dir, "a.json"), COCO, ""},
		{filepath.Join(dir, "b.yaml"), YOLO, ""},
		{filepath.Join(dir, "c.YML"), YOLO, ""},
		{vocDir, VOC, ""},
		{yoloDir, YOLO, ""},
		{other, "", "neither Annotations/"},
		{filepath.Join(dir, "d.txt"), "", "cannot tell the format of dataset " + filepath.Join(dir, "d.txt")},
		{filepath.Join(dir, "missing"), "", "missing"},
	}
	for _, tc := range tests {
		got, err := Detect(tc.path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Detect(%s) = %q, %v; want an error with %q", tc.path, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Detect(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	if _, _, err := Load(vocDir, Options{Format: "pascal"}); err == nil || !strings.Contains(err.Error(), `unknown dataset format "pascal"`) {
		t.Errorf("bad format: %v", err)
	}
	if _, _, err := Load(filepath.Join(dir, "b.yaml"), Options{ImagesDir: "x"}); err == nil || !strings.Contains(err.Error(), "image folder cannot be given") {
		t.Errorf("--images with YOLO: %v", err)
	}
}

func TestLoadStrict(t *testing.T) {
	root := vocFixture(t, true)
	ds, rep, err := Load(root, Options{Split: "train"})
	if err != nil || len(rep.Problems) != 1 || ds.NumObjects() != 3 || rep.SkippedObjects != 1 {
		t.Fatalf("Load: %v, problems %v, %d boxes", err, rep.Problems, ds.NumObjects())
	}
	ds, _, err = Load(root, Options{Split: "train", Strict: true})
	var pe *data.ProblemsError
	if ds != nil || !errors.As(err, &pe) || len(pe.Problems) != 1 ||
		!strings.Contains(err.Error(), filepath.Join(root, "Annotations", "b.xml")+": object 2 (cat): box xmin=8 ymin=8 xmax=8 ymax=8 has zero") {
		t.Errorf("strict Load: %v, %v", ds, err)
	}
	if _, _, err := Load(root, Options{Split: "val", Strict: true}); err != nil {
		t.Errorf("strict Load of a clean split: %v", err)
	}
}

// cocoImagesFixture is a COCO file whose images are fine, missing, of
// another size than annotated, truncated after the header, and not an image.
func cocoImagesFixture(t testing.TB) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok.png"), pngBytes(t, 64, 48))
	writeFile(t, filepath.Join(dir, "small.png"), pngBytes(t, 32, 32))
	full := pngBytes(t, 64, 48)
	writeFile(t, filepath.Join(dir, "trunc.png"), full[:len(full)/2])
	writeFile(t, filepath.Join(dir, "text.png"), []byte("hello"))
	doc := `{"images": [
 {"id": 1, "file_name": "ok.png", "width": 64, "height": 48},
 {"id": 2, "file_name": "missing.png", "width": 64, "height": 48},
 {"id": 3, "file_name": "small.png", "width": 64, "height": 48},
 {"id": 4, "file_name": "trunc.png", "width": 64, "height": 48},
 {"id": 5, "file_name": "text.png", "width": 64, "height": 48}],
"annotations": [
 {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
 {"id": 2, "image_id": 4, "category_id": 1, "bbox": [1, 1, 5, 5]},
 {"id": 3, "image_id": 4, "category_id": 1, "bbox": [1, 1, 6, 6]}],
"categories": [{"id": 1, "name": "x"}]}`
	path := filepath.Join(dir, "ann.json")
	writeFile(t, path, []byte(doc))
	return path
}

func TestCheckImages(t *testing.T) {
	path := cocoImagesFixture(t)
	dir := filepath.Dir(path)
	res, err := Check(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "missing.png") + ": image id 2: image file not found: image skipped (0 boxes)",
		filepath.Join(dir, "small.png") + ": image id 3: image is 32x32 but annotated as 64x48: image skipped",
		filepath.Join(dir, "text.png") + ": image id 5: unreadable image header",
		filepath.Join(dir, "trunc.png") + ": image id 4: corrupt or truncated image",
	}
	if len(res.Report.Problems) != len(want) {
		t.Fatalf("problems %v, want %d", res.Report.Problems, len(want))
	}
	for i, w := range want {
		p := res.Report.Problems[i]
		if p.Severity != data.Error || !strings.HasPrefix(p.String(), w) {
			t.Errorf("problem %d = %s %s, want error %s...", i, p.Severity, p, w)
		}
	}
	if res.Summary.Images != 1 || res.Summary.Objects != 1 || res.Report.SkippedImages != 4 || res.Report.SkippedObjects != 2 {
		t.Errorf("summary %+v, report %s", res.Summary, res.Report.Summary())
	}
	// Load checks headers only: the truncated image passes it.
	ds, rep, err := Load(path, Options{})
	if err != nil || len(ds.Images) != 2 || len(rep.Problems) != 3 {
		t.Errorf("Load: %v, %d images, %v", err, len(ds.Images), rep.Problems)
	}
}

func TestSummarize(t *testing.T) {
	box := func(class int, area float64) data.Object {
		return data.Object{Class: class, Box: [4]float64{0, 0, 1, area}, Area: area}
	}
	ds := &data.Dataset{
		Name: "s", Classes: []string{"a", "b", "c", "d"},
		Images: []data.Image{
			{Objects: []data.Object{box(0, 1023), box(0, 1024), box(0, 9215), box(0, 9216)}},
			{Objects: []data.Object{box(1, 5), {Class: 1, Box: [4]float64{0, 0, 40, 40}, Crowd: true}}},
			{Objects: []data.Object{box(0, 1e5), box(0, 1e5), {Class: 2, Box: [4]float64{0, 0, 2, 2}, Area: 4, Difficult: true}}},
			{},
		},
	}
	s := Summarize(ds)
	want := Summary{Name: "s", Classes: ds.Classes, Images: 4, Empty: 1, Objects: 9, PerClass: []int{6, 2, 1, 0},
		Imbalance: 6, NoBoxClasses: 1, Small: 3, Medium: 3, Large: 3, Crowd: 1, Difficult: 1}
	if s.Images != want.Images || s.Empty != want.Empty || s.Objects != want.Objects || s.Imbalance != want.Imbalance ||
		s.NoBoxClasses != want.NoBoxClasses || s.Small != want.Small || s.Medium != want.Medium || s.Large != want.Large ||
		s.Crowd != want.Crowd || s.Difficult != want.Difficult || len(s.PerClass) != 4 || s.PerClass[0] != 6 || s.PerClass[1] != 2 || s.PerClass[3] != 0 {
		t.Errorf("Summarize = %+v\nwant %+v", s, want)
	}
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"6.00 (largest class / smallest class with boxes); 1 classes have no box", "small (< 32^2) 3 (33.3%)", "crowd", "images     4 (1 without boxes)"} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("summary output lacks %q:\n%s", line, buf.String())
		}
	}
}

func sameBoxes(t *testing.T, what string, got, want *data.Dataset, tol float64, skipIgnore bool) {
	t.Helper()
	if strings.Join(got.Classes, ",") != strings.Join(want.Classes, ",") || len(got.Images) != len(want.Images) {
		t.Fatalf("%s: classes %v, %d images; want %v, %d", what, got.Classes, len(got.Images), want.Classes, len(want.Images))
	}
	for i, im := range got.Images {
		w := want.Images[i]
		var wo []data.Object
		for _, o := range w.Objects {
			if !skipIgnore || !(o.Crowd || o.Difficult) {
				wo = append(wo, o)
			}
		}
		if im.FileName != w.FileName || im.Width != w.Width || len(im.Objects) != len(wo) {
			t.Fatalf("%s: image %d: %+v, want %+v", what, i, im, w)
		}
		for k, o := range im.Objects {
			same := o.Class == wo[k].Class && o.Difficult == wo[k].Difficult && o.Crowd == wo[k].Crowd
			for j := range 4 {
				same = same && math.Abs(o.Box[j]-wo[k].Box[j]) <= tol
			}
			if !same {
				t.Errorf("%s: %s box %d: %+v, want %+v", what, im.FileName, k, o, wo[k])
			}
		}
	}
}

func TestConvert(t *testing.T) {
	root := vocFixture(t, false)
	orig, rep, err := Load(root, Options{Split: "train"})
	if err != nil || !rep.Clean() {
		t.Fatalf("Load: %v %v", err, rep.Problems)
	}
	if sp, err := Splits(root, Options{}); err != nil || strings.Join(sp, ",") != "train,val" {
		t.Fatalf("Splits = %v, %v", sp, err)
	}
	out := t.TempDir()
	for _, to := range []string{COCO, YOLO, VOC} {
		dst := filepath.Join(out, to)
		if rep, err := Convert(root, Options{}, to, dst); err != nil || rep.Count(data.Error) != 0 {
			t.Fatalf("Convert to %s: %v %v", to, err, rep.Problems)
		}
	}
	coco, rep, err := Load(filepath.Join(out, COCO, "annotations", "instances_train.json"), Options{})
	if err != nil || !rep.Clean() {
		t.Fatalf("Load COCO: %v %v", err, rep.Problems)
	}
	sameBoxes(t, "voc->coco", coco, orig, 1e-9, false)
	if _, err := os.Stat(filepath.Join(out, COCO, "annotations", "instances_val.json")); err != nil {
		t.Errorf("val split not converted: %v", err)
	}
	yolo, rep, err := Load(filepath.Join(out, YOLO), Options{Split: "train"})
	if err != nil || !rep.Clean() {
		t.Fatalf("Load YOLO: %v %v", err, rep.Problems)
	}
	sameBoxes(t, "voc->yolo", yolo, orig, 1e-6, true)
	back, rep, err := Load(filepath.Join(out, VOC), Options{Split: "train"})
	if err != nil || !rep.Clean() {
		t.Fatalf("Load VOC: %v %v", err, rep.Problems)
	}
	sameBoxes(t, "voc->voc", back, orig, 1e-9, false)

	// COCO -> YOLO maps the split name to a data.yaml key.
	if _, err := Convert(filepath.Join(out, COCO, "annotations", "instances_val.json"), Options{}, YOLO, filepath.Join(out, "y2")); err != nil {
		t.Fatal(err)
	}
	if y, err := os.ReadFile(filepath.Join(out, "y2", "data.yaml")); err != nil || !strings.Contains(string(y), "val: images/val") {
		t.Errorf("data.yaml: %s %v", y, err)
	}
	if _, err := Convert(root, Options{}, "csv", out); err == nil {
		t.Errorf("Convert to csv: no error")
	}
}

func TestSharedBCCD(t *testing.T) {
	root := testutil.SharedDir(t, "data", "bccd")
	ds, rep, err := Load(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 4,888 annotated boxes: 4,886 read and the 2 zero-size ones (xmin ==
	// xmax, ymin == ymax) dropped with a warning.
	if len(ds.Images) != 364 || ds.NumObjects() != 4886 || rep.SkippedObjects != 2 || ds.NumObjects()+rep.SkippedObjects != 4888 {
		t.Errorf("%d images, %d boxes + %d skipped; want 364, 4886 + 2 = 4888", len(ds.Images), ds.NumObjects(), rep.SkippedObjects)
	}
	if len(rep.Problems) != 2 || rep.Count(data.Warning) != 2 {
		t.Errorf("problems %v, want the 2 zero-size boxes", rep.Problems)
	}
	for _, p := range rep.Problems {
		if !strings.Contains(p.Message, "zero or negative size") {
			t.Errorf("unexpected problem %s", p)
		}
	}
	if strings.Join(ds.Classes, ",") != "Platelets,RBC,WBC" {
		t.Errorf("classes %v", ds.Classes)
	}
	s := Summarize(ds)
	if s.PerClass[0] != 361 || s.PerClass[1] != 4155-2 || s.PerClass[2] != 372 {
		t.Errorf("per class %v, want Platelets 361, RBC 4153 (4155 less the 2 zero-size), WBC 372", s.PerClass)
	}
	total := 0
	for split, n := range map[string]int{"train": 205, "val": 87, "test": 72} {
		sds, _, err := Load(root, Options{Split: split})
		if err != nil {
			t.Fatal(err)
		}
		if len(sds.Images) != n || len(sds.Classes) != 3 {
			t.Errorf("split %s: %d images, %d classes; want %d, 3", split, len(sds.Images), len(sds.Classes), n)
		}
		total += sds.NumObjects()
	}
	if total != 4886 {
		t.Errorf("the splits hold %d boxes, want 4886", total)
	}
	res, err := Check(root, Options{Split: "test"})
	if err != nil || len(res.Dataset.Images) != 72 || !res.Report.Clean() {
		t.Errorf("Check test split: %v %v", err, res.Report.Problems)
	}
}

func TestSharedCOCO128(t *testing.T) {
	dir := testutil.SharedDir(t, "data", "coco128")
	ds, rep, err := Load(filepath.Join(dir, "annotations", "instances_train2017.json"), Options{})
	if err != nil || !rep.Clean() {
		t.Fatalf("Load: %v %v", err, rep.Problems)
	}
	s := Summarize(ds)
	if len(ds.Images) != 128 || s.Objects != 939 || s.Crowd != 10 || len(ds.Classes) != 80 {
		t.Errorf("%d images, %d boxes, %d crowd, %d classes; want 128, 939, 10, 80", len(ds.Images), s.Objects, s.Crowd, len(ds.Classes))
	}
	if ds.Name != "coco128/train2017" || ds.CategoryIDs[0] != 1 || ds.CategoryIDs[79] != 90 || ds.Classes[0] != "person" {
		t.Errorf("name %q, category ids %d..%d, first class %q", ds.Name, ds.CategoryIDs[0], ds.CategoryIDs[79], ds.Classes[0])
	}
}

// TestDecodeImagesPixelLimit checks that DecodeImages refuses, as a
// reported problem, an image whose header declares more pixels than
// imageio.MaxPixels, and keeps those within the limit.
func TestDecodeImagesPixelLimit(t *testing.T) {
	dir := t.TempDir()
	big, small := filepath.Join(dir, "big.png"), filepath.Join(dir, "small.png")
	writeFile(t, big, pngBytes(t, 64, 48))
	writeFile(t, small, pngBytes(t, 20, 10))
	defer imageio.SetMaxPixels(imageio.SetMaxPixels(1000))
	ds := &data.Dataset{Classes: []string{"cat"}, CategoryIDs: []int{1}, Images: []data.Image{
		{ID: 1, Path: big, Width: 64, Height: 48, Objects: []data.Object{{Box: [4]float64{1, 1, 9, 9}}}},
		{ID: 2, Path: small, Width: 20, Height: 10},
	}}
	rep := &data.Report{}
	DecodeImages(ds, rep)
	want := big + ": image id 1: image too large: png header declares 64x48 pixels (3072 pixels), more than the limit of 1000 pixels; refused before decoding: image skipped (1 boxes)"
	if len(rep.Problems) != 1 || rep.Problems[0].String() != want {
		t.Errorf("problems %v, want one: %s", rep.Problems, want)
	}
	if len(ds.Images) != 1 || ds.Images[0].ID != 2 {
		t.Errorf("kept images %+v, want only image 2", ds.Images)
	}
}
