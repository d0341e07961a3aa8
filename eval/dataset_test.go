package eval

import (
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data"
)

func TestFromDataset(t *testing.T) {
	ds := &data.Dataset{
		Name:        "toy",
		Classes:     []string{"cat", "dog"},
		CategoryIDs: []int{17, 18},
		Images: []data.Image{
			{ID: 5, FileName: "a.jpg", Width: 64, Height: 48, Objects: []data.Object{
				{ID: 3, Class: 1, Box: [4]float64{1, 2, 11, 22}, Area: 150},
				{ID: 0, Class: 0, Box: [4]float64{0, 0, 4, 4}, Area: 16, Difficult: true},
			}},
			{ID: 9, FileName: "b.jpg", Width: 64, Height: 48},
		},
	}
	gt, err := FromDataset(ds)
	if err != nil {
		t.Fatal(err)
	}
	want := []Annotation{
		{ID: 3, ImageID: 5, CategoryID: 18, BBox: [4]float64{1, 2, 10, 20}, Area: 150},
		{ID: 4, ImageID: 5, CategoryID: 17, BBox: [4]float64{0, 0, 4, 4}, Area: 16, IsCrowd: true},
	}
	if len(gt.Annotations) != 2 || gt.Annotations[0] != want[0] || gt.Annotations[1] != want[1] {
		t.Errorf("annotations %+v, want %+v", gt.Annotations, want)
	}
	if len(gt.Images) != 2 || gt.Images[1].ID != 9 || gt.Categories[1] != (Category{ID: 18, Name: "dog"}) {
		t.Errorf("images %+v categories %+v", gt.Images, gt.Categories)
	}
	// Without category ids, classes get index+1.
	ds.CategoryIDs = nil
	if gt, err = FromDataset(ds); err != nil || gt.Annotations[0].CategoryID != 2 {
		t.Errorf("index+1 ids: %v %+v", err, gt)
	}
	ds.Images[0].Objects[0].Class = 2
	if _, err := FromDataset(ds); err == nil || !strings.Contains(err.Error(), "class 2") {
		t.Errorf("bad class: %v", err)
	}
}

func TestCategoryID(t *testing.T) {
	coco := &data.Dataset{Classes: []string{"cat", "dog"}, CategoryIDs: []int{17, 18}}
	voc := &data.Dataset{Classes: []string{"cat", "dog"}}
	cases := []struct {
		name  string
		ds    *data.Dataset
		class int
		want  int
	}{
		{"coco first", coco, 0, 17},
		{"coco last", coco, 1, 18},
		{"no ids first", voc, 0, 1},
		{"no ids last", voc, 1, 2},
		{"beyond the classes", voc, 2, -1},
		{"negative", coco, -1, -1},
	}
	for _, c := range cases {
		if got := CategoryID(c.ds, c.class); got != c.want {
			t.Errorf("%s: CategoryID(class %d) = %d, want %d", c.name, c.class, got, c.want)
		}
	}
}

// TestEvaluateDatasetWithoutCategoryIDs evaluates a dataset that has no
// category ids (as VOC and YOLO datasets): detections take their ids from
// CategoryID, as detector.EvalDetections does, and match FromDataset's.
func TestEvaluateDatasetWithoutCategoryIDs(t *testing.T) {
	ds := &data.Dataset{
		Name:    "voc",
		Classes: []string{"cat", "dog"},
		Images: []data.Image{
			{ID: 1, FileName: "a.jpg", Width: 64, Height: 48, Objects: []data.Object{
				{ID: 1, Class: 0, Box: [4]float64{1, 2, 11, 22}, Area: 200},
				{ID: 2, Class: 1, Box: [4]float64{30, 5, 60, 45}, Area: 1200},
			}},
		},
	}
	gt, err := FromDataset(ds)
	if err != nil {
		t.Fatal(err)
	}
	var dets []Detection
	for _, o := range ds.Images[0].Objects {
		dets = append(dets, Detection{
			ImageID: ds.Images[0].ID, CategoryID: CategoryID(ds, o.Class),
			BBox:  [4]float64{o.Box[0], o.Box[1], o.Box[2] - o.Box[0], o.Box[3] - o.Box[1]},
			Score: 0.9,
		})
	}
	res, err := Evaluate(gt, dets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats[0] < 0.99 || len(res.PerCategory) != 2 || res.PerCategory[1].ID != 2 {
		t.Errorf("AP %v, categories %+v; want AP 1 over categories 1 and 2", res.Stats[0], res.PerCategory)
	}
	// A class the dataset does not have is an unknown category, not a panic.
	dets[0].CategoryID = CategoryID(ds, 5)
	if _, err := Evaluate(gt, dets, Options{}); err == nil || !strings.Contains(err.Error(), "detections[0]: category_id -1 is not among") {
		t.Errorf("unknown class: %v", err)
	}
}
