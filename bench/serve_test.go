package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ghmdet/ghmdet/internal/testrun"
)

// TestRunServe runs the serving benchmark with a small count on the tiny
// model and checks the report's structure and consistency.
func TestRunServe(t *testing.T) {
	run := testrun.Tiny(t)
	t.Cleanup(testrun.Cleanup)
	rep, err := RunServe(context.Background(), ServeOptions{
		Model: run.Dir, Requests: 6, Concurrency: []int{1, 3}, MaxBatch: 2, BatchWait: 2 * time.Millisecond,
		MemoryRequests: 20, MemoryConcurrency: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Preset != "cpu" || rep.Input != "128x128" || rep.Classes != 2 || rep.Images != 8 || rep.ImageSizes != "480x480" || rep.WarmupS <= 0 {
		t.Errorf("report header %+v", rep)
	}
	if len(rep.Runs) != 4 {
		t.Fatalf("%d runs, want 2 batching modes x 2 concurrencies", len(rep.Runs))
	}
	for i, r := range rep.Runs {
		batching, conc := i >= 2, []int{1, 3}[i%2]
		if r.Batching != batching || r.Concurrency != conc || r.Requests != 6 || r.Errors != 0 || r.StoppedEarly {
			t.Errorf("run %d: %+v", i, r)
		}
		if !(r.P50MS > 0 && r.P50MS <= r.P95MS && r.P95MS <= r.P99MS) || r.RequestsPerS <= 0 || r.MeanMS <= 0 {
			t.Errorf("run %d: latencies or throughput %+v", i, r)
		}
		if (!batching && (r.MeanBatch != 1 || r.MaxBatch != 1)) || (batching && (r.MeanBatch < 1 || r.MeanBatch > 2 || r.MaxBatch != 2 || r.BatchWaitMS != 2)) {
			t.Errorf("run %d: batching %+v", i, r)
		}
	}
	m := rep.Memory
	if m == nil || m.Requests != 20 || m.Errors != 0 || m.RSSBeforeBytes <= 0 || m.RSSAfterBytes <= 0 || m.HeapAfterBytes == 0 ||
		m.RSSGrowthBytes != m.RSSAfterBytes-m.RSSBeforeBytes {
		t.Errorf("memory %+v", m)
	}
	var b strings.Builder
	if err := WriteServeText(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"preset cpu, input 128x128", "req/s", "p99 ms", "<=2, wait 2ms", "memory: 20 requests"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
	// A time limit stops a configuration early, and the report says so.
	rep, err = RunServe(context.Background(), ServeOptions{Model: run.Dir, Requests: 1000000, Concurrency: []int{1}, MaxDuration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Runs {
		if !r.StoppedEarly || r.Requests >= 1000000 {
			t.Errorf("run under a 50 ms limit: %+v", r)
		}
	}
	if _, err := RunServe(context.Background(), ServeOptions{Model: run.Dir, Concurrency: []int{0}}); err == nil {
		t.Error("concurrency 0: no error")
	}
}

// TestPercentile checks the nearest-rank percentiles.
func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	cases := []struct {
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.5, 5 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.95, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.1, time.Millisecond},
		{ms(7), 0.99, 7 * time.Millisecond},
		{nil, 0.5, 0},
	}
	for _, c := range cases {
		if got := percentile(c.values, c.q); got != c.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.values, c.q, got, c.want)
		}
	}
}
