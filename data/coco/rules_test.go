package coco_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ghmdet/ghmdet/data"
	"github.com/ghmdet/ghmdet/data/coco"
	"github.com/ghmdet/ghmdet/eval"
)

// A valid instances file is made of these records; each case below adds
// one record (images[2], categories[2] or annotations[1]) or changes the
// file around them.
const (
	okImages      = `{"id": 1, "file_name": "a.png", "width": 64, "height": 48}, {"id": 2, "file_name": "b.png", "width": 64, "height": 48}`
	okCategories  = `{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}`
	okAnnotations = `{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "area": 200, "iscrowd": 0, "segmentation": [[1, 2, 3, 4, 5, 6]]}`
)

func instances(images, categories, annotations string) string {
	return `{"info": {"year": 2024}, "images": [` + images + `], "categories": [` + categories + `], "annotations": [` + annotations + "]}"
}

func withImage(rec string) string { return instances(okImages+", "+rec, okCategories, okAnnotations) }
func withCategory(rec string) string {
	return instances(okImages, okCategories+", "+rec, okAnnotations)
}
func withAnnotation(rec string) string {
	return instances(okImages, okCategories, okAnnotations+", "+rec)
}

// outcome is what a reader does with a case.
type outcome int

const (
	accepted outcome = iota // no problem at all
	warned                  // a warning about the record, which is kept (or, for datasets, a box clipped or dropped)
	rejected                // an error about the record: the dataset reader skips it, the evaluator fails
	fatal                   // the file cannot be read at all
)

func (o outcome) String() string {
	return [...]string{"accepted", "warned", "rejected", "fatal"}[o]
}

// TestRulesAgree runs one bad input per rule through the dataset reader
// (coco.Parse) and the evaluator's (eval.ParseGroundTruth): both must name
// the file, the record and the problem, in the same words. The few rules
// that differ between the two uses (coco.Use) are marked.
func TestRulesAgree(t *testing.T) {
	const file = "rules.json"
	ann := func(fields string) string {
		return withAnnotation(`{"id": 7, "image_id": 2, "category_id": 2, ` + fields + `}`)
	}
	box := func(bbox string) string { return ann(`"bbox": ` + bbox + `, "area": 10`) }
	const a7 = "annotations[1] (id 7)"
	cases := []struct {
		name            string
		doc             string
		record, problem string
		dataset, gt     outcome
	}{
		// The file.
		{"empty file", " \n", "", "empty file", fatal, fatal},
		{"invalid JSON", "{\n\"images\": [{\"id\": 1,, }]}", "", "images[0]: line 2, column 21: expected a string key, found ','", fatal, fatal},
		{"truncated", `{"images": [{"id": 1`, "", "images[0]: line 1, column 21: expected ',' or '}' after a value, found end of file", fatal, fatal},
		{"top level not an object", `[{"image_id": 1}]`, "", "expected an object (a COCO instances file), found an array (a detection results file?)", fatal, fatal},
		{"trailing data", instances(okImages, okCategories, okAnnotations) + " {}", "", "line 1, column 376: found an object after the top-level value, want the end of the file", fatal, fatal},
		{"no images", `{"categories": [` + okCategories + `], "annotations": []}`, "", `no "images" list: not a COCO instances file`, fatal, fatal},
		{"null categories", `{"images": [], "categories": null, "annotations": []}`, "", `no "categories" list`, fatal, fatal},
		{"no annotations", `{"images": [], "categories": [` + okCategories + `]}`, "", `no "annotations" list`, fatal, fatal},
		{"list not a list", `{"images": {}, "categories": [], "annotations": []}`, "", `"images": expected a list, found an object`, fatal, fatal},
		{"list twice", `{"images": [], "images": [], "categories": [], "annotations": []}`, "", `"images" appears twice`, fatal, fatal},
		{"no category", instances(okImages, "", ""), "", "no usable category", fatal, fatal},

		// Images.
		{"image not an object", withImage(`"c.png"`), "images[2]", "expected an object, found a string", rejected, rejected},
		{"image without id", withImage(`{"file_name": "c.png", "width": 8, "height": 8}`), "images[2]", `field "id" is missing`, rejected, rejected},
		{"image id a string", withImage(`{"id": "3", "file_name": "c.png", "width": 8, "height": 8}`), "images[2]", "id: expected a number, found a string", rejected, rejected},
		{"image id fractional", withImage(`{"id": 3.5, "file_name": "c.png", "width": 8, "height": 8}`), "images[2]", "id: expected an integer, found 3.5", rejected, rejected},
		{"image id out of range", withImage(`{"id": 99999999999999999999, "file_name": "c.png", "width": 8, "height": 8}`), "images[2]", "id: integer 99999999999999999999 is out of range", rejected, rejected},
		{"image id repeated", withImage(`{"id": 1, "file_name": "c.png", "width": 8, "height": 8}`), "images[2] (id 1)", "id 1 repeats images[0]", rejected, rejected},
		{"file_name not a string", withImage(`{"id": 3, "file_name": 3, "width": 8, "height": 8}`), "images[2] (id 3)", "file_name: expected a string, found a number", rejected, rejected},
		{"file_name bad escape", withImage(`{"id": 3, "file_name": "c\q.png", "width": 8, "height": 8}`), "images[2] (id 3)", "file_name: bad string", rejected, rejected},
		{"width negative", withImage(`{"id": 3, "file_name": "c.png", "width": -8, "height": 8}`), "images[2] (id 3)", "width -8 is out of range (0 to 2147483647)", rejected, rejected},
		{"height fractional", withImage(`{"id": 3, "file_name": "c.png", "width": 8, "height": 8.5}`), "images[2] (id 3)", "height: expected an integer, found 8.5", rejected, rejected},
		{"file_name repeated", withImage(`{"id": 3, "file_name": "a.png", "width": 8, "height": 8}`), "images[2] (id 3)", "file_name a.png is also used by images[0] (id 1)", warned, warned},
		// Datasets must open and clip the images; the evaluator does not.
		{"no file_name", withImage(`{"id": 3, "file_name": null, "width": 8, "height": 8}`), "images[2] (id 3)", "no file_name", rejected, accepted},
		{"no size", withImage(`{"id": 3, "file_name": "c.png", "height": 8}`), "images[2] (id 3)", "width and height must be positive integers (got none, 8)", rejected, accepted},

		// Categories.
		{"category not an object", withCategory(`[3]`), "categories[2]", "expected an object, found an array", rejected, rejected},
		{"category without id", withCategory(`{"name": "bird"}`), "categories[2]", `field "id" is missing`, rejected, rejected},
		{"category id a boolean", withCategory(`{"id": true, "name": "bird"}`), "categories[2]", "id: expected a number, found a boolean", rejected, rejected},
		{"category id repeated", withCategory(`{"id": 2, "name": "bird"}`), "categories[2] (id 2)", "id 2 repeats categories[1]", rejected, rejected},
		{"category name not a string", withCategory(`{"id": 3, "name": ["bird"]}`), "categories[2] (id 3)", "name: expected a string, found an array", rejected, rejected},
		{"category without name", withCategory(`{"id": 3, "name": " "}`), "categories[2] (id 3)", `no name: called "category_3"`, warned, warned},
		{"category name repeated", withCategory(`{"id": 3, "name": "cat"}`), "categories[2] (id 3)", `name "cat" is also the name of categories[0] (id 1)`, warned, warned},

		// Annotations.
		{"annotation not an object", withAnnotation(`null`), "annotations[1]", "expected an object, found null", rejected, rejected},
		{"annotation without id", withAnnotation(`{"image_id": 2, "category_id": 2, "bbox": [1, 2, 3, 4], "area": 12}`), "annotations[1]", `field "id" is missing`, rejected, rejected},
		{"annotation id repeated", withAnnotation(`{"id": 1, "image_id": 2, "category_id": 2, "bbox": [1, 2, 3, 4], "area": 12}`), "annotations[1] (id 1)", "id 1 repeats annotations[0]", rejected, rejected},
		{"no image_id", withAnnotation(`{"id": 7, "category_id": 2, "bbox": [1, 2, 3, 4], "area": 12}`), a7, `field "image_id" is missing`, rejected, rejected},
		{"image_id a string", withAnnotation(`{"id": 7, "image_id": "2", "category_id": 2, "bbox": [1, 2, 3, 4], "area": 12}`), a7, "image_id: expected a number, found a string", rejected, rejected},
		{"unknown image_id", withAnnotation(`{"id": 7, "image_id": 9, "category_id": 2, "bbox": [1, 2, 3, 4], "area": 12}`), a7, "image_id 9 is not among the images", rejected, rejected},
		{"no category_id", withAnnotation(`{"id": 7, "image_id": 2, "bbox": [1, 2, 3, 4], "area": 12}`), a7, `field "category_id" is missing`, rejected, rejected},
		{"category_id fractional", withAnnotation(`{"id": 7, "image_id": 2, "category_id": 1.5, "bbox": [1, 2, 3, 4], "area": 12}`), a7, "category_id: expected an integer, found 1.5", rejected, rejected},
		{"unknown category_id", withAnnotation(`{"id": 7, "image_id": 2, "category_id": 5, "bbox": [1, 2, 3, 4], "area": 12}`), a7, "category_id 5 is not among the categories", rejected, rejected},
		{"no bbox", ann(`"area": 12`), a7, `field "bbox" is missing`, rejected, rejected},
		{"bbox not a list", box(`"1 2 3 4"`), a7, "bbox: expected an array of 4 numbers [x, y, w, h], found a string", rejected, rejected},
		{"bbox of 3 numbers", box(`[1, 2, 3]`), a7, "bbox: has 3 numbers, want 4 (x, y, w, h)", rejected, rejected},
		{"bbox of 5 numbers", box(`[1, 2, 3, 4, 5]`), a7, "bbox: has more than 4 numbers, want 4 (x, y, w, h)", rejected, rejected},
		{"bbox with a string", box(`[1, "2", 3, 4]`), a7, "bbox[1]: expected a number, found a string", rejected, rejected},
		{"bbox with NaN", box(`[NaN, 2, 3, 4]`), a7, "bbox[0] is NaN (bbox [NaN 2 3 4])", rejected, rejected},
		{"bbox with Infinity", box(`[1, 2, Infinity, 4]`), a7, "bbox[2] is +Inf (bbox [1 2 +Inf 4])", rejected, rejected},
		{"bbox overflowing", box(`[1, 2, 3, -1e999]`), a7, "bbox[3] is -Inf", rejected, rejected},
		{"bbox of negative width", box(`[1, 2, -3, 4]`), a7, "bbox has a negative width or height (bbox [1 2 -3 4])", rejected, rejected},
		{"area a string", ann(`"bbox": [1, 2, 3, 4], "area": "12"`), a7, "area: expected a number, found a string", rejected, rejected},
		{"area negative", ann(`"bbox": [1, 2, 3, 4], "area": -4`), a7, "area is -4 (must be finite and non-negative)", rejected, rejected},
		{"area NaN", ann(`"bbox": [1, 2, 3, 4], "area": NaN`), a7, "area is NaN (must be finite and non-negative)", rejected, rejected},
		{"iscrowd a string", ann(`"bbox": [1, 2, 3, 4], "area": 12, "iscrowd": "yes"`), a7, "iscrowd: expected 0, 1, true or false, found a string", rejected, rejected},
		{"iscrowd NaN", ann(`"bbox": [1, 2, 3, 4], "area": 12, "iscrowd": NaN`), a7, "iscrowd: NaN is not a flag (0 or 1)", rejected, rejected},
		{"iscrowd 2", ann(`"bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 2`), a7, "iscrowd = 2 is not 0 or 1: taken as 1 (a crowd), as the reference evaluator does", warned, warned},
		{"ignore a string", ann(`"bbox": [1, 2, 3, 4], "area": 12, "ignore": "yes"`), a7, "ignore: expected 0, 1, true or false, found a string: taken as 0", warned, warned},
		{"ignore 3", ann(`"bbox": [1, 2, 3, 4], "area": 12, "ignore": 3`), a7, "ignore = 3 is not 0 or 1: taken as 1", warned, warned},
		{"integral float ids", withAnnotation(`{"id": 7.0, "image_id": 2e0, "category_id": 2, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": false}`), "", "", accepted, accepted},
		{"null optional fields", ann(`"bbox": [1, 2, 3, 4], "area": 12, "iscrowd": null, "ignore": null, "segmentation": null`), "", "", accepted, accepted},
		// The evaluator needs the area, as the reference does; datasets take w*h.
		{"no area", ann(`"bbox": [1, 2, 3, 4]`), a7, `field "area" is missing`, accepted, rejected},
		{"null area", ann(`"bbox": [1, 2, 3, 4], "area": null`), a7, `field "area" is missing`, accepted, rejected},
		// Datasets clip boxes to their image and drop empty ones; the
		// evaluator keeps them as they are, as the reference does.
		{"zero-size box", box(`[1, 2, 0, 4]`), a7, "box [x=1 y=2 w=0 h=4] has zero or negative size (width 0, height 4): dropped", warned, accepted},
		{"box outside its image", box(`[100, 2, 3, 4]`), a7, "box [x=100 y=2 w=3 h=4] lies outside the 64x48 image: dropped", warned, accepted},
		{"box reaching outside", box(`[60, 2, 10, 4]`), a7, "box [x=60 y=2 w=10 h=4] reaches outside the 64x48 image: clipped to x1=60 y1=2 x2=64 y2=6", warned, accepted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, rep, dsErr := coco.Parse([]byte(c.doc), file, "")
			_, gtErr := eval.ParseGroundTruth(strings.NewReader(c.doc), file)
			_, gtRep, _ := coco.ParseInstances([]byte(c.doc), file, coco.ForGroundTruth)
			want := file + ": " + c.problem
			if c.record != "" {
				want = file + ": " + c.record + ": " + c.problem
			}
			var dsProblem, gtProblem *data.Problem
			switch c.dataset {
			case fatal:
				if dsErr == nil || !strings.HasPrefix(dsErr.Error(), file+": ") || !strings.Contains(dsErr.Error(), c.problem) {
					t.Errorf("dataset: error %v, want one naming %s and %q", dsErr, file, c.problem)
				}
			case rejected, warned:
				sev := data.Error
				if c.dataset == warned {
					sev = data.Warning
				}
				dsProblem = only(t, "dataset", rep, sev)
				if dsErr != nil {
					t.Errorf("dataset: error %v", dsErr)
				}
				if dsProblem != nil && !strings.HasPrefix(dsProblem.String(), want) {
					t.Errorf("dataset: %s %q, want %q...", dsProblem.Severity, dsProblem, want)
				}
			case accepted:
				if dsErr != nil || !rep.Clean() {
					t.Errorf("dataset: error %v, problems %v; want none", dsErr, rep.Problems)
				}
			}
			switch c.gt {
			case fatal:
				if gtErr == nil || !strings.HasPrefix(gtErr.Error(), file+": ") || !strings.Contains(gtErr.Error(), c.problem) {
					t.Errorf("evaluator: error %v, want one naming %s and %q", gtErr, file, c.problem)
				}
			case rejected:
				if gtErr == nil || !strings.HasPrefix(gtErr.Error(), want) {
					t.Errorf("evaluator: error %v, want %q...", gtErr, want)
				}
			case warned:
				gtProblem = only(t, "evaluator", gtRep, data.Warning)
				if gtErr != nil {
					t.Errorf("evaluator: error %v", gtErr)
				}
			case accepted:
				if gtErr != nil || !gtRep.Clean() {
					t.Errorf("evaluator: error %v, problems %v; want none", gtErr, gtRep.Problems)
				}
			}
			// Where both see the problem, the words are the same; the
			// dataset reader adds what it did with the record.
			switch {
			case c.dataset == fatal && c.gt == fatal:
				if dsErr != nil && gtErr != nil && dsErr.Error() != gtErr.Error() {
					t.Errorf("dataset %q, evaluator %q", dsErr, gtErr)
				}
			case c.dataset == rejected && c.gt == rejected:
				if dsProblem != nil && gtErr != nil && dsProblem.String() != gtErr.Error()+": "+skipped(c.record) {
					t.Errorf("dataset %q, evaluator %q", dsProblem, gtErr)
				}
			case c.dataset == warned && c.gt == warned:
				if dsProblem != nil && gtProblem != nil && *dsProblem != *gtProblem {
					t.Errorf("dataset %q, evaluator %q", dsProblem, gtProblem)
				}
			}
		})
	}
}

// only returns the one problem of rep, which must have severity sev.
func only(t *testing.T, who string, rep *data.Report, sev data.Severity) *data.Problem {
	t.Helper()
	if rep == nil || len(rep.Problems) != 1 {
		t.Errorf("%s: problems %v, want one %s", who, rep, sev)
		return nil
	}
	p := rep.Problems[0]
	if p.Severity != sev {
		t.Errorf("%s: %s %q, want a %s", who, p.Severity, p, sev)
	}
	return &p
}

// skipped is what the dataset reader says it did with a broken record.
func skipped(record string) string {
	switch {
	case strings.HasPrefix(record, "images"):
		return "image skipped"
	case strings.HasPrefix(record, "categories"):
		return "category skipped"
	}
	return "annotation skipped"
}

// TestResultsRules runs one bad input per rule of results files through
// coco.ParseResults and the evaluator's eval.ParseDetections: the same error,
// naming the file, the record and the problem. Boxes follow the annotations'
// rules, in the same words.
func TestResultsRules(t *testing.T) {
	const file = "dets.json"
	gt, err := eval.ParseGroundTruth(strings.NewReader(instances(okImages, okCategories, okAnnotations)), "gt.json")
	if err != nil {
		t.Fatal(err)
	}
	knownImage := func(id int64) bool { return id == 1 || id == 2 }
	knownCategory := func(id int) bool { return id == 1 || id == 2 }
	ok := `{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5, "area": "skipped"}`
	det := func(fields string) string { return "[" + ok + ", {" + fields + "}]" }
	cases := []struct{ name, doc, want string }{
		{"not an array", `{"annotations": []}`, "line 1, column 1: expected an array of detections (COCO results format), found an object (a COCO instances file?)"},
		{"not an object", "[" + ok + ", 3]", "detections[1]: expected an object, found a number"},
		{"syntax", "[" + ok + ",\n{\"image_id\" 1}]", "detections[1]: line 2, column 13: expected ':' after key \"image_id\", found a number"},
		{"no image_id", det(`"category_id": 1, "bbox": [1, 2, 3, 4], "score": 1`), `detections[1]: field "image_id" is missing`},
		{"no category_id", det(`"image_id": 1, "bbox": [1, 2, 3, 4], "score": 1`), `detections[1]: field "category_id" is missing`},
		{"no bbox", det(`"image_id": 1, "category_id": 1, "score": 1`), `detections[1]: field "bbox" is missing`},
		{"no score", det(`"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]`), `detections[1]: field "score" is missing`},
		{"unknown image", det(`"image_id": 5, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1`), "detections[1]: image_id 5 is not in the ground truth (the reference rejects such results)"},
		{"unknown category", det(`"image_id": 1, "category_id": 5, "bbox": [1, 2, 3, 4], "score": 1`), "detections[1]: category_id 5 is not among the ground truth's categories"},
		{"image_id fractional", det(`"image_id": 1.5, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1`), "detections[1]: image_id: expected an integer, found 1.5"},
		{"bbox of 3 numbers", det(`"image_id": 1, "category_id": 1, "bbox": [1, 2, 3], "score": 1`), "detections[1]: bbox: has 3 numbers, want 4 (x, y, w, h)"},
		{"bbox with NaN", det(`"image_id": 1, "category_id": 1, "bbox": [NaN, 2, 3, 4], "score": 1`), "detections[1]: bbox[0] is NaN (bbox [NaN 2 3 4])"},
		{"bbox of negative width", det(`"image_id": 1, "category_id": 1, "bbox": [1, 2, -3, 4], "score": 1`), "detections[1]: bbox has a negative width or height (bbox [1 2 -3 4])"},
		{"score a string", det(`"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": "1"`), "detections[1]: score: expected a number, found a string"},
		{"score infinite", det(`"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1e999`), "detections[1]: score is +Inf (must be finite)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := coco.ParseResults([]byte(c.doc), file, knownImage, knownCategory)
			if err == nil || err.Error() != file+": "+c.want {
				t.Errorf("coco.ParseResults: %v, want %q", err, file+": "+c.want)
			}
			_, evalErr := eval.ParseDetections(bytes.NewReader([]byte(c.doc)), file, gt)
			if err != nil && (evalErr == nil || evalErr.Error() != err.Error()) {
				t.Errorf("eval.ParseDetections: %v, want %q", evalErr, err)
			}
		})
	}
	dets, err := coco.ParseResults([]byte(" [ "+ok+" ] "), file, nil, nil)
	if err != nil || len(dets) != 1 || dets[0] != (coco.Detection{ImageID: 1, CategoryID: 1, BBox: [4]float64{1, 2, 3, 4}, Score: 0.5}) {
		t.Errorf("valid file: %+v, %v", dets, err)
	}
}

// TestGroundTruthFirstError checks that the evaluator's reading fails on the
// first record error, in the order categories, images, annotations, and
// counts the others.
func TestGroundTruthFirstError(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"one", withAnnotation(`{"id": 7, "image_id": 9, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12}`),
			"gt.json: annotations[1] (id 7): image_id 9 is not among the images"},
		{"two", instances(okImages+`, {"id": 1}`, okCategories, okAnnotations+`, {"id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12}`),
			"gt.json: images[2] (id 1): id 1 repeats images[0] (and 1 more error)"},
		{"three", instances(okImages, okCategories+`, {"id": "x"}`, `{"id": 1}, {"id": 2}`),
			`gt.json: categories[2]: id: expected a number, found a string (and 2 more errors)`},
	}
	for _, c := range cases {
		_, _, err := coco.ParseInstances([]byte(c.doc), "gt.json", coco.ForGroundTruth)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
