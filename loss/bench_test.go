package loss

import (
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
)

// BenchmarkGHMCvsFocal times one forward+backward pass of GHM-C and of the
// focal loss per iteration on 2 x 49,104 x 80 logits and reports both and
// their ratio:
//
//	go test ./loss -run '^$' -bench GHMCvsFocal -benchtime 5x
func BenchmarkGHMCvsFocal(b *testing.B) {
	ghmc, focal, err := benchExecs(testBackend(b))
	if err != nil {
		b.Fatal(err)
	}
	x, t, w, numPos := BenchData(BenchAnchors, BenchClasses, 1)
	pos := tensors.FromValue(float32(numPos))
	// Compile and warm up outside the timed loop.
	if _, err := timedCall(ghmc, x, t, w); err != nil {
		b.Fatal(err)
	}
	if _, err := timedCall(focal, x, t, w, pos); err != nil {
		b.Fatal(err)
	}
	var tg, tf []time.Duration
	for b.Loop() {
		dg, err := timedCall(ghmc, x, t, w)
		if err != nil {
			b.Fatal(err)
		}
		df, err := timedCall(focal, x, t, w, pos)
		if err != nil {
			b.Fatal(err)
		}
		tg = append(tg, dg)
		tf = append(tf, df)
	}
	mg, mf := median(tg), median(tf)
	b.ReportMetric(mg.Seconds(), "ghmc-s/pass")
	b.ReportMetric(mf.Seconds(), "focal-s/pass")
	b.ReportMetric(float64(mg)/float64(mf), "ghmc/focal")
}
