package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/internal/testutil"
)

const smallGT = `{
  "info": {"description": "test \"set\"", "year": 2017},
  "licenses": [{"id": 1, "name": "x", "url": null}],
  "images": [
    {"id": 42, "file_name": "a\u00e9.jpg", "width": 640, "height": 480, "license": 1},
    {"id": 7.0, "file_name": "b.jpg", "width": 320, "height": 240}
  ],
  "categories": [{"id": 3, "name": "cat", "supercategory": "animal"}, {"id": 1, "name": "dog"}],
  "annotations": [
    {"id": 10, "image_id": 42, "category_id": 3, "bbox": [1.5, 2, 30, 40.25], "area": 1100.5, "iscrowd": 0,
     "segmentation": [[1, 2, 3, 4, 5, 6]]},
    {"id": 11, "image_id": 7, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 9000, "iscrowd": 1,
     "segmentation": {"counts": [0, 5, 10], "size": [240, 320]}},
    {"id": 12, "image_id": 7, "category_id": 1, "bbox": [5e1, 1E-1, 0, 2], "area": 0, "iscrowd": true},
    {"id": 13, "image_id": 7, "category_id": 3, "bbox": [-1, -2, 3, 4], "area": 12}
  ]
}`

func TestParseGroundTruth(t *testing.T) {
	gt, err := ParseGroundTruth(strings.NewReader(smallGT), "gt.json")
	if err != nil {
		t.Fatal(err)
	}
	want := &GroundTruth{
		Images:     []Image{{ID: 42, FileName: "aé.jpg", Width: 640, Height: 480}, {ID: 7, FileName: "b.jpg", Width: 320, Height: 240}},
		Categories: []Category{{ID: 3, Name: "cat"}, {ID: 1, Name: "dog"}},
		Annotations: []Annotation{
			{ID: 10, ImageID: 42, CategoryID: 3, BBox: [4]float64{1.5, 2, 30, 40.25}, Area: 1100.5},
			{ID: 11, ImageID: 7, CategoryID: 1, BBox: [4]float64{0, 0, 100, 100}, Area: 9000, IsCrowd: true},
			{ID: 12, ImageID: 7, CategoryID: 1, BBox: [4]float64{50, 0.1, 0, 2}, Area: 0, IsCrowd: true},
			{ID: 13, ImageID: 7, CategoryID: 3, BBox: [4]float64{-1, -2, 3, 4}, Area: 12},
		},
	}
	if !reflect.DeepEqual(gt, want) {
		t.Errorf("got  %+v\nwant %+v", gt, want)
	}
}

func TestDetectionsRoundTrip(t *testing.T) {
	gt, dets := genCase(7, genConfig{images: 10, cats: 4, gtPerImage: 3, detsPerImage: 12, crowdFrac: .1, tricky: true})
	var buf bytes.Buffer
	if err := WriteDetections(&buf, dets); err != nil {
		t.Fatal(err)
	}
	got, err := ParseDetections(&buf, "dets.json", gt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, dets) {
		t.Errorf("round trip changed the detections")
	}
	buf.Reset()
	if err := WriteDetections(&buf, nil); err != nil || strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("empty list written as %q (%v)", buf.String(), err)
	}
	empty, err := ParseDetections(strings.NewReader(" [ ] "), "dets.json", gt)
	if err != nil || len(empty) != 0 {
		t.Errorf("empty array: %v, %v", empty, err)
	}
}

// TestParserMatchesEncodingJSON reads the shared cases with both this
// package's reader and encoding/json: every number must be identical.
func TestParserMatchesEncodingJSON(t *testing.T) {
	root := testutil.SharedDir(t, "testdata", "cocoeval")
	for n := 1; n <= 12; n++ {
		dir := filepath.Join(root, fmt.Sprintf("case-%02d", n))
		gt, err := LoadGroundTruth(filepath.Join(dir, "gt.json"))
		if err != nil {
			t.Fatal(err)
		}
		dets, err := LoadDetections(filepath.Join(dir, "dets.json"), gt)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "dets.json"))
		if err != nil {
			t.Fatal(err)
		}
		var std []Detection
		if err := json.Unmarshal(raw, &std); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(dets, std) {
			t.Errorf("case %d: detections differ from encoding/json's", n)
		}
		raw, err = os.ReadFile(filepath.Join(dir, "gt.json"))
		if err != nil {
			t.Fatal(err)
		}
		var stdGT struct {
			Annotations []struct {
				ID, ImageID int64
				CategoryID  int `json:"category_id"`
				BBox        [4]float64
				Area        float64
				IsCrowd     int `json:"iscrowd"`
			}
		}
		if err := json.Unmarshal(raw, &stdGT); err != nil {
			t.Fatal(err)
		}
		if len(stdGT.Annotations) != len(gt.Annotations) {
			t.Fatalf("case %d: %d annotations, encoding/json %d", n, len(gt.Annotations), len(stdGT.Annotations))
		}
		for i, a := range stdGT.Annotations {
			b := gt.Annotations[i]
			if a.ID != b.ID || a.CategoryID != b.CategoryID || a.BBox != b.BBox || a.Area != b.Area || (a.IsCrowd != 0) != b.IsCrowd {
				t.Errorf("case %d: annotation %d: %+v vs %+v", n, i, b, a)
			}
		}
	}
}

func TestDetectionErrors(t *testing.T) {
	gt, err := ParseGroundTruth(strings.NewReader(smallGT), "gt.json")
	if err != nil {
		t.Fatal(err)
	}
	ok := `{"image_id": 42, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}`
	cases := []struct {
		name, json string
		want       []string // substrings of the error
	}{
		{"syntax", `[` + ok + `, {"image_id": 42 "category_id": 3}]`, []string{"detections[1]", "line 1, column", "expected ',' or '}'"}},
		{"truncated", `[` + ok + `,` + "\n" + `{"image_id": 4`, []string{"detections[1]", "line 2"}},
		{"not an array", `{"annotations": []}`, []string{"expected an array of detections"}},
		{"trailing data", `[` + ok + `] x`, []string{"after the top-level value"}},
		{"unknown image", `[` + ok + `, {"image_id": 99, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}]`, []string{"detections[1]", "image_id 99 is not in the ground truth"}},
		{"unknown category", `[{"image_id": 42, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.5}]`, []string{"detections[0]", "category_id 2"}},
		{"NaN score", `[{"image_id": 42, "category_id": 3, "bbox": [1, 2, 3, 4], "score": NaN}]`, []string{"detections[0]", "score is NaN"}},
		{"infinite box", `[{"image_id": 42, "category_id": 3, "bbox": [1, 2, Infinity, 4], "score": 1}]`, []string{"detections[0]", "bbox[2] is +Inf"}},
		{"overflowing number", `[{"image_id": 42, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 1e999}]`, []string{"detections[0]", "score is +Inf"}},
		{"negative width", `[{"image_id": 42, "category_id": 3, "bbox": [1, 2, -3, 4], "score": 1}]`, []string{"detections[0]", "negative width"}},
		{"short box", `[{"image_id": 42, "category_id": 3, "bbox": [1, 2, 3], "score": 1}]`, []string{"detections[0]", "bbox: has 3 numbers"}},
		{"long box", `[{"image_id": 42, "category_id": 3, "bbox": [1, 2, 3, 4, 5], "score": 1}]`, []string{"detections[0]", "more than 4"}},
		{"missing bbox", `[` + ok + `, {"image_id": 42, "category_id": 3, "score": 1}]`, []string{"detections[1]", `"bbox" is missing`}},
		{"missing score", `[{"image_id": 42, "category_id": 3, "bbox": [1, 2, 3, 4]}]`, []string{"detections[0]", `"score" is missing`}},
		{"missing image_id", `[{"category_id": 3, "bbox": [1, 2, 3, 4], "score": 1}]`, []string{"detections[0]", `"image_id" is missing`}},
		{"missing category_id", `[{"image_id": 42, "bbox": [1, 2, 3, 4], "score": 1}]`, []string{"detections[0]", `"category_id" is missing`}},
		{"fractional id", `[{"image_id": 42.5, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 1}]`, []string{"detections[0]", "image_id", "expected an integer"}},
		{"string id", `[{"image_id": "42", "category_id": 3, "bbox": [1, 2, 3, 4], "score": 1}]`, []string{"detections[0]", "image_id", "expected a number"}},
		{"null score", `[{"image_id": 42, "category_id": 3, "bbox": [1, 2, 3, 4], "score": null}]`, []string{"detections[0]", "score", "expected a number"}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "dets.json")
			if err := os.WriteFile(path, []byte(c.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadDetections(path, gt)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append([]string{path}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestGroundTruthErrors(t *testing.T) {
	head := `{"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 1, "name": "a"}], "annotations": [`
	ann := func(fields string) string {
		return head + `{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1}, ` + fields + `]}`
	}
	cases := []struct {
		name, json string
		want       []string
	}{
		{"syntax", `{"images": [{"id": 1},, ]}`, []string{"images[1]", "line 1"}},
		{"not an object", `[1, 2]`, []string{"expected an object"}},
		{"no images", `{"categories": [], "annotations": []}`, []string{`no "images"`}},
		{"image without id", `{"images": [{"file_name": "x"}], "categories": [], "annotations": []}`, []string{"images[0]", `"id" is missing`}},
		{"duplicate image", `{"images": [{"id": 1}, {"id": 1}], "categories": [], "annotations": []}`, []string{"images[1]", "id 1 repeats images[0]"}},
		{"duplicate category", `{"images": [], "categories": [{"id": 4}, {"id": 4}], "annotations": []}`, []string{"categories[1]", "id 4"}},
		{"duplicate annotation", ann(`{"id": 5, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1}`), []string{"annotations[1] (id 5)", "repeats annotations[0]"}},
		{"unknown image", ann(`{"id": 6, "image_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1}`), []string{"annotations[1] (id 6)", "image_id 3"}},
		{"unknown category", ann(`{"id": 6, "image_id": 2, "category_id": 9, "bbox": [0, 0, 1, 1], "area": 1}`), []string{"annotations[1] (id 6)", "category_id 9"}},
		{"missing area", ann(`{"id": 6, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}`), []string{"annotations[1] (id 6)", `"area" is missing`}},
		{"missing bbox", ann(`{"id": 6, "image_id": 2, "category_id": 1, "area": 1}`), []string{"annotations[1] (id 6)", `"bbox" is missing`}},
		{"missing id", ann(`{"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1}`), []string{"annotations[1]", `"id" is missing`}},
		{"NaN area", ann(`{"id": 6, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "area": NaN}`), []string{"annotations[1] (id 6)", "area is NaN"}},
		{"negative area", ann(`{"id": 6, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "area": -4}`), []string{"annotations[1] (id 6)", "area is -4"}},
		{"negative height", ann(`{"id": 6, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, -1], "area": 1}`), []string{"annotations[1] (id 6)", "negative width or height"}},
		{"bad iscrowd", ann(`{"id": 6, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": "yes"}`), []string{"annotations[1] (id 6)", "iscrowd"}},
		{"bad escape", `{"images": [{"id": 1, "file_name": "a\q"}], "categories": [], "annotations": []}`, []string{"images[0]", "file_name", "bad string"}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "gt.json")
			if err := os.WriteFile(path, []byte(c.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadGroundTruth(path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append([]string{path}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := LoadGroundTruth(filepath.Join(dir, "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestEvaluateRejectsBadInput(t *testing.T) {
	gt := oneImage(gtBox(1, 0, 0, 10, 10, 100, false))
	cases := []struct {
		name string
		gt   *GroundTruth
		dets []Detection
		want string
	}{
		{"nil ground truth", nil, nil, "no ground truth"},
		{"unknown image", gt, []Detection{det(0, 0, 1, 1, .5), {ImageID: 3, CategoryID: 1, BBox: [4]float64{0, 0, 1, 1}}}, "detections[1]: image_id 3"},
		{"unknown category", gt, []Detection{{ImageID: 1, CategoryID: 2, BBox: [4]float64{0, 0, 1, 1}}}, "detections[0]: category_id 2"},
		{"NaN score", gt, []Detection{det(0, 0, 1, 1, nan())}, "detections[0]: score is NaN"},
		{"negative height", gt, []Detection{det(0, 0, 1, -1, .5)}, "detections[0]: bbox has a negative"},
		{"bad ground truth", oneImage(gtBox(1, 0, 0, 10, 10, nan(), false)), nil, "annotations[0] (id 1): area is NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Evaluate(c.gt, c.dets, Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }
