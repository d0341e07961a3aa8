package eval

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSummaryText(t *testing.T) {
	r := &Result{Stats: [12]float64{0.09817978110851024, 0.18392754421298949, 0.0748732904803907, 0.15657714389732444, 0.09748587882574618, -1,
		0.1415516614115935, 0.2992463686096963, 0.3032867726501003, 0.33004689754689753, 0.0625, 0.2740367965367965}}
	// pycocotools' summarize() output for these numbers (0.0625 rounds to
	// even, as Python's format does).
	want := ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.098
 Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.184
 Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.075
 Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.157
 Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.097
 Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000
 Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.142
 Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 0.299
 Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.303
 Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.330
 Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.062
 Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.274
`
	if got := r.Summary(); got != want {
		t.Errorf("Summary():\n%s\nwant:\n%s", got, want)
	}
}

func TestReportAndTable(t *testing.T) {
	gt := oneImage(gtBox(1, 0, 0, 10, 10, 100, false))
	gt.Categories = append(gt.Categories, Category{ID: 2, Name: "unseen"})
	res, err := Evaluate(gt, []Detection{det(0, 0, 10, 10, .5)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(res.Report())
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Stats       []float64
		StatNames   []string         `json:"stat_names"`
		PerCategory []map[string]any `json:"per_category"`
	}
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Stats) != 12 || back.StatNames[2] != "AP75" || len(back.PerCategory) != 2 || back.PerCategory[1]["ap"] != -1.0 || back.PerCategory[0]["name"] != "thing" {
		t.Errorf("report %s", raw)
	}
	table := res.CategoryTable()
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "thing") || !strings.Contains(lines[1], "1.000") || !strings.HasSuffix(lines[2], "-") {
		t.Errorf("table:\n%s", table)
	}
}
