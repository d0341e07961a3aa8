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
