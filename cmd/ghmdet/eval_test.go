package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ghmdet/ghmdet/internal/testutil"
)

// runEvalCommand runs "ghmdet eval args..." with the flags reset to their
// defaults and returns its output.
func runEvalCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd, _, err := rootCmd.Find([]string{"eval"})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		_ = f.Value.Set(f.DefValue)
		f.Changed = false
	})
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(append([]string{"eval"}, args...))
	defer rootCmd.SetArgs(nil)
	err = rootCmd.Execute()
	return out.String(), err
}

const cliGT = `{"images": [{"id": 1}, {"id": 2}],
 "categories": [{"id": 1, "name": "cat"}, {"id": 4, "name": "dog"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
  {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}]}`

// Image 3 of the FP detection is image 2: sorted FP (0.9), TP (0.5) with 2
// ground truths: precision 1/2 up to recall 1/2, so AP = 0.5*51/101.
const cliDets = `[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5},
 {"image_id": 2, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.9}]`

func writeFiles(t *testing.T, gt, dets string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	g, d := filepath.Join(dir, "gt.json"), filepath.Join(dir, "dets.json")
	if err := os.WriteFile(g, []byte(gt), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d, []byte(dets), 0o644); err != nil {
		t.Fatal(err)
	}
	return g, d
}

type evalReport struct {
	Stats       []float64 `json:"stats"`
	PerCategory []struct {
		ID   int     `json:"id"`
		Name string  `json:"name"`
		AP   float64 `json:"ap"`
		AP50 float64 `json:"ap50"`
	} `json:"per_category"`
}

func TestEvalCommandJSON(t *testing.T) {
	g, d := writeFiles(t, cliGT, cliDets)
	out, err := runEvalCommand(t, "--gt", g, "--dets", d, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep evalReport
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("more than one JSON value in the output:\n%s", out)
	}
	if len(rep.Stats) != 12 {
		t.Fatalf("%d stats", len(rep.Stats))
	}
	if want := 0.5 * 51 / 101; math.Abs(rep.Stats[0]-want) > 1e-9 || math.Abs(rep.Stats[1]-want) > 1e-9 {
		t.Errorf("AP, AP50 = %v, %v; want %v", rep.Stats[0], rep.Stats[1], want)
	}
	if rep.Stats[5] != -1 || rep.Stats[7] != 0.5 {
		t.Errorf("APl = %v (want -1), AR10 = %v (want 0.5)", rep.Stats[5], rep.Stats[7])
	}
	if len(rep.PerCategory) != 2 || rep.PerCategory[0].Name != "cat" || rep.PerCategory[1].ID != 4 || rep.PerCategory[1].AP != -1 {
		t.Errorf("per_category: %+v", rep.PerCategory)
	}
}

func TestEvalCommandText(t *testing.T) {
	g, d := writeFiles(t, cliGT, cliDets)
	out, err := runEvalCommand(t, "--gt", g, "--dets", d)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 16 {
		t.Fatalf("short output:\n%s", out)
	}
	if lines[0] != " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.252" {
		t.Errorf("first line %q", lines[0])
	}
	if lines[5] != " Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000" {
		t.Errorf("sixth line %q", lines[5])
	}
	if !strings.Contains(out, " cat ") || !strings.Contains(out, " dog ") {
		t.Errorf("no per-category table:\n%s", out)
	}
}

// TestEvalCommandSharedCase checks the command end to end on a shared case
// against the numbers the reference printed.
func TestEvalCommandSharedCase(t *testing.T) {
	dir := testutil.SharedDir(t, "testdata", "cocoeval", "case-01")
	out, err := runEvalCommand(t, "--gt", filepath.Join(dir, "gt.json"), "--dets", filepath.Join(dir, "dets.json"), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct{ Stats []float64 }
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	for i := range exp.Stats {
		if math.Abs(rep.Stats[i]-exp.Stats[i]) >= 1e-4 {
			t.Errorf("stat %d = %v, reference %v", i, rep.Stats[i], exp.Stats[i])
		}
	}
}

func TestEvalCommandErrors(t *testing.T) {
	g, d := writeFiles(t, cliGT, `[{"image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]`)
	cases := []struct {
		args []string
		want string
	}{
		{nil, "give --gt GT.json --dets DETS.json"},
		{[]string{"--gt", g}, "--gt and --dets go together"},
		{[]string{"--dets", d}, "--gt and --dets go together"},
		{[]string{"--gt", g, "--dets", d}, "detections[0]"},
		{[]string{"--gt", g, "--dets", filepath.Join(filepath.Dir(g), "nope.json")}, "nope.json"},
	}
	for _, c := range cases {
		_, err := runEvalCommand(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eval %v: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}
