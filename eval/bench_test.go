package eval

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// The COCO val2017-sized case: 5,000 images, 80 categories, about 35,000
// ground truths (1% crowd) and 500,000 detections, from a fixed seed. The
// reference evaluator needs 53.5 s for a case of this size on the project's
// machine.
var cocoSized = sync.OnceValues(func() (*GroundTruth, []Detection) {
	return genCase(2017, genConfig{images: 5000, cats: 80, gtPerImage: 7, detsPerImage: 100, crowdFrac: 0.01})
})

// heapPeak runs f and returns the largest live-heap size seen while it ran
// (sampled every 200µs) and the live heap just before.
func heapPeak(f func()) (peak, before uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	before = read()
	peak = before
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				peak = max(peak, read())
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return max(peak, read()), before
}

// reportCase reports the case's size (after the timed loop: ResetTimer
// drops reported metrics).
func reportCase(b *testing.B, gt *GroundTruth, dets []Detection) {
	b.ReportMetric(float64(len(gt.Images)), "images")
	b.ReportMetric(float64(len(gt.Annotations)), "gts")
	b.ReportMetric(float64(len(dets)), "dets")
}

func benchmarkEvaluate(b *testing.B, workers int) {
	gt, dets := cocoSized()
	var peak, before uint64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, bf := heapPeak(func() {
			if _, err := Evaluate(gt, dets, Options{Workers: workers}); err != nil {
				b.Fatal(err)
			}
		})
		peak, before = max(peak, p), bf
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peak-before)/(1<<20), "extra-heap-MiB")
	reportCase(b, gt, dets)
}

// BenchmarkEvaluateCOCOSize times Evaluate alone (inputs in memory) with
// GOMAXPROCS goroutines.
func BenchmarkEvaluateCOCOSize(b *testing.B) { benchmarkEvaluate(b, 0) }

// BenchmarkEvaluateCOCOSize1Worker is the same on one goroutine.
func BenchmarkEvaluateCOCOSize1Worker(b *testing.B) { benchmarkEvaluate(b, 1) }

// BenchmarkLoadEvaluateCOCOSize times what the reference's 53.5 s covers:
// reading both JSON files, then evaluating.
func BenchmarkLoadEvaluateCOCOSize(b *testing.B) {
	gt, dets := cocoSized()
	dir := b.TempDir()
	gtPath, detPath := filepath.Join(dir, "gt.json"), filepath.Join(dir, "dets.json")
	writeJSONFile(b, gtPath, cocoJSON(gt))
	writeJSONFile(b, detPath, dets)
	var peak, before uint64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, bf := heapPeak(func() {
			g, err := LoadGroundTruth(gtPath)
			if err != nil {
				b.Fatal(err)
			}
			d, err := LoadDetections(detPath, g)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Evaluate(g, d, Options{}); err != nil {
				b.Fatal(err)
			}
		})
		peak, before = max(peak, p), bf
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peak-before)/(1<<20), "extra-heap-MiB")
	reportCase(b, gt, dets)
}

// cocoJSON returns gt in the COCO file layout.
func cocoJSON(gt *GroundTruth) any {
	type img struct {
		ID       int64  `json:"id"`
		FileName string `json:"file_name"`
		Width    int    `json:"width"`
		Height   int    `json:"height"`
	}
	type cat struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	type ann struct {
		ID         int64      `json:"id"`
		ImageID    int64      `json:"image_id"`
		CategoryID int        `json:"category_id"`
		BBox       [4]float64 `json:"bbox"`
		Area       float64    `json:"area"`
		IsCrowd    int        `json:"iscrowd"`
	}
	out := struct {
		Images      []img `json:"images"`
		Categories  []cat `json:"categories"`
		Annotations []ann `json:"annotations"`
	}{}
	for _, im := range gt.Images {
		out.Images = append(out.Images, img{im.ID, im.FileName, im.Width, im.Height})
	}
	for _, c := range gt.Categories {
		out.Categories = append(out.Categories, cat{c.ID, c.Name})
	}
	for _, a := range gt.Annotations {
		crowd := 0
		if a.IsCrowd {
			crowd = 1
		}
		out.Annotations = append(out.Annotations, ann{a.ID, a.ImageID, a.CategoryID, a.BBox, a.Area, crowd})
	}
	return out
}

func writeJSONFile(tb testing.TB, path string, v any) {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		tb.Fatal(err)
	}
}
