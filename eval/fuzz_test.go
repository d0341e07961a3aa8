package eval

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary bytes to both parsers: they must return an
// error or valid data, never panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(smallGT))
	f.Add([]byte(`[{"image_id": 42, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}]`))
	f.Add([]byte(`[{"image_id": -0.0e0, "bbox": [NaN, -Infinity, 1e400, 4], "score": "\u12"}]`))
	f.Add([]byte(`{"images": [{"id": 1, "file_name": "\ud800"}], "categories": [], "annotations": []}`))
	gt, err := ParseGroundTruth(bytes.NewReader([]byte(smallGT)), "gt.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if g, err := ParseGroundTruth(bytes.NewReader(data), "gt.json"); err == nil {
			if err := g.Validate(); err != nil {
				t.Errorf("accepted an invalid ground truth: %v", err)
			}
		}
		if dets, err := ParseDetections(bytes.NewReader(data), "dets.json", gt); err == nil {
			if _, err := Evaluate(gt, dets, Options{Workers: 1}); err != nil {
				t.Errorf("accepted detections that Evaluate rejects: %v", err)
			}
		}
	})
}
