package eval

import (
	"fmt"
	"math"
	"testing"
)

// TestMatchesTranscription compares the fast evaluator with the direct
// transcription of pycocotools (reference_test.go) on random seeded inputs:
// every precision, recall and score entry must be identical and the 12
// numbers equal to 1e-12 (the transcription sums means naively).
func TestMatchesTranscription(t *testing.T) {
	configs := []genConfig{
		{images: 6, cats: 2, gtPerImage: 3, detsPerImage: 8, crowdFrac: 0.1, tricky: true},
		{images: 20, cats: 5, gtPerImage: 4, detsPerImage: 20, crowdFrac: 0.05, tricky: true},
		{images: 15, cats: 3, gtPerImage: 6, detsPerImage: 40, crowdFrac: 0.2, tricky: true},
		{images: 30, cats: 8, gtPerImage: 3, detsPerImage: 15, crowdFrac: 0.01, tricky: false},
		{images: 3, cats: 1, gtPerImage: 10, detsPerImage: 120, crowdFrac: 0.1, tricky: true},
	}
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for ci, cfg := range configs {
		for seed := range seeds {
			name := fmt.Sprintf("config%d/seed%d", ci, seed)
			t.Run(name, func(t *testing.T) {
				gt, dets := genCase(uint64(1000*ci+seed), cfg)
				want := refEvaluate(gt, dets)
				got, err := Evaluate(gt, dets, Options{Workers: 1 + seed%3})
				if err != nil {
					t.Fatal(err)
				}
				compareArrays(t, "precision", got.Precision, want.precision)
				compareArrays(t, "recall", got.Recall, want.recall)
				compareArrays(t, "scores", got.Scores, want.scores)
				for s := range want.stats {
					if math.Abs(got.Stats[s]-want.stats[s]) > 1e-12 {
						t.Errorf("%s = %.17g, transcription %.17g", StatNames[s], got.Stats[s], want.stats[s])
					}
				}
			})
		}
	}
}

func compareArrays(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, transcription %d", name, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if got[i] != want[i] {
			if bad < 5 {
				t.Errorf("%s[%d] = %.17g, transcription %.17g", name, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d entries differ", name, bad, len(got))
	}
}
