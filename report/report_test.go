package report

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func sampleReport(dir string) Report {
	return Report{
		Title:   "Run <b>bccd</b> & co",
		Summary: [][2]string{{"model", "retinanet_r18"}, {"loss", "a|b <script>alert(1)</script>"}},
		Tables: []Table{
			{Title: "AP per class", Header: []string{"class", "AP"}, Rows: [][]string{{"RBC", "0.812"}, {"red_blood|cell", "0.5", "extra"}, {"WBC"}}},
			{Title: "empty"},
		},
		Images: []Figure{
			{Title: "Loss", Path: "plots/loss.png"},
			{Title: "PR \"curves\"", Path: filepath.Join(dir, "plots", "pr curve.png")},
		},
		Notes: []string{"1. not a list", "- not nested", "line\nbreak"},
	}
}

func TestWriteReportMarkdown(t *testing.T) {
	dir := t.TempDir()
	if err := WriteReport(dir, sampleReport(dir)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		`# Run \<b\>bccd\</b\> \& co`,
		"## AP per class",
		"| class | AP |  |",
		"| RBC | 0.812 |  |",
		`| red\_blood\|cell | 0.5 | extra |`,
		"| WBC |  |  |",
		"![Loss](plots/loss.png)",
		"![PR \"curves\"](plots/pr%20curve.png)",
		`- 1\. not a list`,
		`- \- not nested`,
		"- line break",
		`| **loss** | a\|b \<script\>alert(1)\</script\> |`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	// Every line of a table has the same number of unescaped pipes.
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| class") || strings.HasPrefix(line, "| RBC") || strings.HasPrefix(line, "| red") {
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 4 {
				t.Errorf("table line %q has %d column separators, want 4", line, n)
			}
		}
	}
	noTempFiles(t, dir)
}

func TestWriteReportHTMLEscapes(t *testing.T) {
	dir := t.TempDir()
	if err := WriteReport(dir, sampleReport(dir)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{
		"<title>Run &lt;b&gt;bccd&lt;/b&gt; &amp; co</title>",
		"<h1>Run &lt;b&gt;bccd&lt;/b&gt; &amp; co</h1>",
		"<h2>AP per class</h2>",
		"<th>class</th><th>AP</th><th></th>",
		`<td>RBC</td><td class="num">0.812</td><td></td>`,
		"<td>red_blood|cell</td>",
		`<img src="plots/loss.png" alt="Loss">`,
		`<img src="plots/pr%20curve.png" alt="PR &#34;curves&#34;">`,
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		"<li>1. not a list</li>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q:\n%s", want, html)
		}
	}
	for _, bad := range []string{"<script>", "<b>bccd", dir} {
		if strings.Contains(html, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	if !strings.HasPrefix(html, "<!DOCTYPE html>") || !strings.Contains(html, "</html>") {
		t.Error("report.html is not a complete page")
	}
}

func TestWriteReportErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	err := WriteReport(missing, Report{Title: "x"})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(missing, "report.md")) {
		t.Errorf("missing folder: error %v does not name report.md there", err)
	}
	err = WriteReport(dir, Report{Images: []Figure{{Title: "t", Path: ""}}})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("empty image path: error %v", err)
	}
	// Untitled reports still get a heading.
	if err := WriteReport(dir, Report{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.HasPrefix(string(b), "# Run report") {
		t.Errorf("untitled report starts %q", string(b))
	}
}

func TestWriteCSV(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.csv")
	rows := [][]float64{{1, 0.25, math.NaN()}, {2, 1e-7, math.Inf(1)}, {3, -1.5, math.Inf(-1)}}
	if err := WriteCSV(p, []string{"epoch", "loss, total", "ap"}, rows); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0][1] != "loss, total" {
		t.Fatalf("records %v", recs)
	}
	for i, r := range rows {
		for j, v := range r {
			got, err := strconv.ParseFloat(recs[i+1][j], 64)
			if err != nil {
				t.Fatalf("cell %d,%d %q: %v", i, j, recs[i+1][j], err)
			}
			if got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
				t.Errorf("cell %d,%d reads %g, wrote %g", i, j, got, v)
			}
		}
	}
	if err := WriteCSV(p, []string{"a", "b"}, [][]float64{{1}}); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "row 0") {
		t.Errorf("short row: error %v", err)
	}
	if err := WriteCSV(filepath.Join(dir, "no", "x.csv"), nil, nil); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "no", "x.csv")) {
		t.Errorf("unwritable: error %v", err)
	}
	noTempFiles(t, dir)
}

func TestWriteSeriesAndHistogramCSV(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.csv")
	if err := WriteSeriesCSV(p, []Series{{"a,b", []float64{1, 2}, []float64{0.5, math.NaN()}}, {"c", []float64{1}, []float64{3}}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if want := "series,x,y\n\"a,b\",1,0.5\n\"a,b\",2,nan\nc,1,3\n"; string(b) != want {
		t.Errorf("series CSV:\n%s\nwant:\n%s", b, want)
	}
	if err := WriteSeriesCSV(p, []Series{{"a", []float64{1}, nil}}); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("length mismatch: error %v", err)
	}
	h := sampleHistogram()
	hp := filepath.Join(dir, "h.csv")
	if err := WriteGradHistogramCSV(hp, h); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(hp)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(h.Counts)+1 || len(recs[0]) != 4+2*len(h.Weights) {
		t.Fatalf("%d records of %d columns", len(recs), len(recs[0]))
	}
	if recs[0][4] != "weight CE" || recs[0][5] != "weight GHM-C" {
		t.Errorf("header %v: weight columns not in sorted name order", recs[0])
	}
	sum := 0.0
	for _, r := range recs[1:] {
		v, _ := strconv.ParseFloat(r[3], 64)
		sum += v
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("fractions sum to %g", sum)
	}
}

func TestWriteJSON(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pr.json")
	curves := []PRCurve{{Name: "a<b", Recall: []float64{0, 0.5}, Precision: []float64{1, math.NaN()}, AP: math.NaN()}}
	if err := WritePRJSON(p, curves); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	var got []struct {
		Name      string     `json:"name"`
		AP        *float64   `json:"ap"`
		Recall    []*float64 `json:"recall"`
		Precision []*float64 `json:"precision"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	if len(got) != 1 || got[0].Name != "a<b" || got[0].AP != nil || got[0].Precision[1] != nil || *got[0].Recall[1] != 0.5 {
		t.Errorf("read back %+v from\n%s", got, b)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := WriteJSON(bad, map[string]float64{"x": math.NaN()}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("NaN: error %v", err)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("bad.json written despite the error")
	}
	noTempFiles(t, dir)
}
