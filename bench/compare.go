package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Comparison is the output of `ghmdet bench --compare`: both sides, their
// ratios, the versions and the machine load around the run.
type Comparison struct {
	// GHMDet and PyTorch are the two reports, keyed by benchmark name.
	GHMDet  Report `json:"ghmdet"`
	PyTorch Report `json:"pytorch"`
	// Ratio is ghmdet / PyTorch for every measure both sides report
	// (above 1: ghmdet is slower or uses more memory).
	Ratio map[string]map[string]float64 `json:"ratio"`
	// Versions of both sides (filled by the caller).
	Versions map[string]any `json:"versions,omitempty"`
	// LoadBefore and LoadAfter are the 1, 5 and 15 minute load averages
	// before and after the run (nil where unavailable).
	LoadBefore []float64 `json:"load_average_before,omitempty"`
	LoadAfter  []float64 `json:"load_average_after,omitempty"`
}

// ratioKeys are the measures compared, in display order.
var ratioKeys = []string{"train_step_s", "infer_s", "ghmc_s", "focal_s", "peak_rss_bytes"}

// measure returns a result's value for a ratio key (0 when absent).
func measure(r Result, key string) float64 {
	switch key {
	case "train_step_s":
		return r.TrainStepS
	case "infer_s":
		return r.InferS
	case "ghmc_s":
		return r.GHMCS
	case "focal_s":
		return r.FocalS
	case "peak_rss_bytes":
		return float64(r.PeakRSSBytes)
	}
	return 0
}

// Ratios returns ghmdet / PyTorch for every benchmark and measure present
// (non-zero) on both sides.
func Ratios(g, p Report) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for name, gr := range g {
		pr, ok := p[name]
		if !ok {
			continue
		}
		m := map[string]float64{}
		for _, k := range ratioKeys {
			if a, b := measure(gr, k), measure(pr, k); a > 0 && b > 0 {
				m[k] = a / b
			}
		}
		if len(m) > 0 {
			out[name] = m
		}
	}
	return out
}

// Compare runs every named benchmark on both sides, alternating (ghmdet
// then PyTorch for each benchmark) so that both see similar machine load,
// and returns the reports and their ratios.
func Compare(ctx context.Context, names []string, ghmdet, pytorch RunFunc, progress io.Writer) (*Comparison, error) {
	c := &Comparison{GHMDet: Report{}, PyTorch: Report{}, LoadBefore: LoadAverage()}
	for _, n := range names {
		for _, side := range []struct {
			label string
			run   RunFunc
			rep   Report
		}{{"ghmdet", ghmdet, c.GHMDet}, {"pytorch", pytorch, c.PyTorch}} {
			if progress != nil {
				fmt.Fprintf(progress, "running %s (%s)...\n", n, side.label)
			}
			r, err := side.run(ctx, n)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", side.label, err)
			}
			side.rep[n] = r
		}
	}
	c.LoadAfter = LoadAverage()
	c.Ratio = Ratios(c.GHMDet, c.PyTorch)
	return c, nil
}

// LoadAverage returns the 1, 5 and 15 minute load averages from
// /proc/loadavg (nil where unavailable).
func LoadAverage() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	return parseLoadAvg(string(b))
}

// parseLoadAvg reads the first three fields of a /proc/loadavg text.
func parseLoadAvg(s string) []float64 {
	f := strings.Fields(s)
	if len(f) < 3 {
		return nil
	}
	out := make([]float64, 3)
	for i := range out {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil
		}
		out[i] = v
	}
	return out
}

// sampleKeys maps a ratio key to its Samples key.
var sampleKeys = map[string]string{"train_step_s": "train_step", "infer_s": "infer", "ghmc_s": "ghmc", "focal_s": "focal"}

// minSample returns the fastest timed run of a measure (0 without samples).
func minSample(r Result, key string) float64 {
	s := r.Samples[sampleKeys[key]]
	if len(s) == 0 {
		return 0
	}
	return slices.Min(s)
}

// WriteComparisonText writes both sides and the ratios of the medians as a
// table; times are "median (fastest run)".
func WriteComparisonText(w io.Writer, c *Comparison) error {
	var b strings.Builder
	line := func(name, measure, g, p, ratio string) {
		fmt.Fprintf(&b, "%-14s %-16s %20s %20s %8s\n", name, measure, g, p, ratio)
	}
	line("benchmark", "measure", "ghmdet", "pytorch", "ratio")
	for _, name := range sortedNames(c.GHMDet) {
		g, p := c.GHMDet[name], c.PyTorch[name]
		first := name
		if g.Input != "" {
			line(first, "input", fmt.Sprintf("%s x %d", g.Input, g.Batch), fmt.Sprintf("%s x %d", p.Input, p.Batch), "")
			first = ""
		}
		for _, k := range ratioKeys {
			gv, pv := measure(g, k), measure(p, k)
			if gv == 0 && pv == 0 {
				continue
			}
			format := func(r Result, v float64) string {
				if k == "peak_rss_bytes" {
					return fmt.Sprintf("%.0f MiB", v/(1<<20))
				}
				if m := minSample(r, k); m > 0 {
					return fmt.Sprintf("%.3f (%.3f) s", v, m)
				}
				return fmt.Sprintf("%.3f s", v)
			}
			ratio := ""
			if r, ok := c.Ratio[name][k]; ok {
				ratio = fmt.Sprintf("%.2f", r)
			}
			line(first, strings.TrimSuffix(strings.TrimSuffix(k, "_s"), "_bytes"), format(g, gv), format(p, pv), ratio)
			first = ""
		}
		if g.TrainImagesPerS > 0 {
			line(first, "train images/s", fmt.Sprintf("%.2f", g.TrainImagesPerS), fmt.Sprintf("%.2f", p.TrainImagesPerS), "")
		}
		if g.GHMCOverFocal > 0 {
			line(first, "ghmc/focal", fmt.Sprintf("%.2f", g.GHMCOverFocal), fmt.Sprintf("%.2f", p.GHMCOverFocal), "")
		}
	}
	fmt.Fprintln(&b, "times: median (fastest run); ratio: ghmdet / pytorch of the medians")
	if c.LoadBefore != nil && c.LoadAfter != nil {
		fmt.Fprintf(&b, "load average (1/5/15 min): before %.2f %.2f %.2f, after %.2f %.2f %.2f\n",
			c.LoadBefore[0], c.LoadBefore[1], c.LoadBefore[2], c.LoadAfter[0], c.LoadAfter[1], c.LoadAfter[2])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Machine describes the processor: the model name from /proc/cpuinfo and
// the number of logical CPUs ("unknown" parts where unavailable).
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := cpuModel(string(b)); m != "" {
			model = m
		}
	}
	return fmt.Sprintf("%s, %d logical CPUs", model, runtime.NumCPU())
}

// cpuModel returns the first "model name" of a /proc/cpuinfo text.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
