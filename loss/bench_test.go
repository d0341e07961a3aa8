package loss

import (
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
)

// BenchmarkGHMCvsFocal times one forward+backward pass of GHM-C and of the
// focal loss per iteration on 2 x 49,104 x 80 logits and reports the median
// wall time of each, their ratio and (on Unix) the median process CPU time of
// each pass, which is less sensitive to other load on the machine:
//
//	GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd go test ./loss -run '^$' -bench GHMCvsFocal -benchtime 5x
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
	var tg, tf, cg, cf []time.Duration
	for b.Loop() {
		c0 := processCPUTime()
		dg, err := timedCall(ghmc, x, t, w)
		if err != nil {
			b.Fatal(err)
		}
		c1 := processCPUTime()
		df, err := timedCall(focal, x, t, w, pos)
		if err != nil {
			b.Fatal(err)
		}
		c2 := processCPUTime()
		tg, tf = append(tg, dg), append(tf, df)
		cg, cf = append(cg, c1-c0), append(cf, c2-c1)
	}
	mg, mf := median(tg), median(tf)
	b.ReportMetric(mg.Seconds(), "ghmc-s/pass")
	b.ReportMetric(mf.Seconds(), "focal-s/pass")
	b.ReportMetric(float64(mg)/float64(mf), "ghmc/focal")
	if c := median(cg); c > 0 {
		b.ReportMetric(c.Seconds(), "ghmc-cpu-s/pass")
		b.ReportMetric(median(cf).Seconds(), "focal-cpu-s/pass")
	}
}

// TestBenchData checks the benchmark inputs: reproducible, about one
// positive anchor per 100 and 5% of the anchors ignored.
func TestBenchData(t *testing.T) {
	const anchors, classes = 20000, 8
	x, tg, w, numPos := BenchData(anchors, classes, 3)
	x2, _, _, numPos2 := BenchData(anchors, classes, 3)
	if numPos != numPos2 || x.Value().([][]float32)[17][3] != x2.Value().([][]float32)[17][3] {
		t.Fatal("BenchData is not reproducible for a seed")
	}
	tv, wv := tg.Value().([][]float32), w.Value().([][]float32)
	pos, ignored := 0, 0
	for a := range anchors {
		ones := 0
		for c := range classes {
			ones += int(tv[a][c])
			if wv[a][c] != wv[a][0] {
				t.Fatalf("anchor %d: weights differ across classes", a)
			}
		}
		if ones > 1 {
			t.Fatalf("anchor %d: %d positive classes", a, ones)
		}
		pos += ones
		if wv[a][0] == 0 {
			ignored++
			if ones > 0 {
				t.Fatalf("anchor %d: ignored and positive", a)
			}
		}
	}
	if pos != numPos || pos < anchors/200 || pos > anchors/50 {
		t.Errorf("%d positive anchors (numPos %d), want about %d", pos, numPos, anchors/100)
	}
	if ignored < anchors/40 || ignored > anchors/10 {
		t.Errorf("%d ignored anchors, want about %d", ignored, anchors/20)
	}
}

// TestBenchGHMCvsFocal runs the exported benchmark once (skipped with -short).
func TestBenchGHMCvsFocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full-size benchmark; skipped with -short")
	}
	if _, err := BenchGHMCvsFocal(testBackend(t), 0); err == nil {
		t.Error("n = 0 accepted")
	}
	r, err := BenchGHMCvsFocal(testBackend(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.GHMC <= 0 || r.Focal <= 0 || r.Runs != 1 || r.Ratio() <= 0 {
		t.Errorf("result %+v", r)
	}
	t.Logf("GHM-C %v, focal %v, ratio %.2f (one run, noisy)", r.GHMC, r.Focal, r.Ratio())
}
