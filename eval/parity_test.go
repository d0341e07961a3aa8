package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ghmdet/ghmdet/internal/testutil"
)

// loadCase reads a shared cocoeval case and its expected stats.
func loadCase(t *testing.T, dir string) (*GroundTruth, []Detection, [12]float64) {
	t.Helper()
	gt, err := LoadGroundTruth(filepath.Join(dir, "gt.json"))
	if err != nil {
		t.Fatal(err)
	}
	dets, err := LoadDetections(filepath.Join(dir, "dets.json"), gt)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Stats []float64 `json:"stats"`
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if len(exp.Stats) != 12 {
		t.Fatalf("%s: expected.json has %d stats", dir, len(exp.Stats))
	}
	return gt, dets, [12]float64(exp.Stats)
}

// TestParityWithReference compares the 12 numbers with those the reference
// evaluator printed for the shared randomised cases.
func TestParityWithReference(t *testing.T) {
	root := testutil.SharedDir(t, "testdata", "cocoeval")
	exact := 0
	for n := 1; n <= 12; n++ {
		dir := filepath.Join(root, fmt.Sprintf("case-%02d", n))
		t.Run(filepath.Base(dir), func(t *testing.T) {
			gt, dets, want := loadCase(t, dir)
			for _, workers := range []int{1, 2, 3} {
				res, err := Evaluate(gt, dets, Options{Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				for s := range want {
					if d := math.Abs(res.Stats[s] - want[s]); d >= 1e-4 {
						t.Errorf("workers %d: %s = %.17g, reference %.17g (diff %.3g)", workers, StatNames[s], res.Stats[s], want[s], d)
					}
					if workers == 1 && res.Stats[s] == want[s] {
						exact++
					}
				}
			}
		})
	}
	t.Logf("%d of 144 numbers are bit-identical to the reference's", exact)
}
