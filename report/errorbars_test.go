package report

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sampleErrorBars returns three settings' AP, AP50 and AP75 over 3 seeds.
func sampleErrorBars() ([]string, []ErrorBars) {
	ticks := []string{"cls=ce", "cls=focal", "cls=ghmc"}
	var series []ErrorBars
	for k, name := range []string{"AP", "AP50", "AP75"} {
		s := ErrorBars{Name: name}
		for i := range ticks {
			base := 0.2 + 0.1*float64(k) + 0.05*float64(i)
			pts := []float64{base - 0.02, base + 0.01, base + 0.01}
			s.X = append(s.X, float64(i))
			s.Mean = append(s.Mean, base)
			s.Err = append(s.Err, 0.017)
			s.Points = append(s.Points, pts)
		}
		series = append(series, s)
	}
	return ticks, series
}

// TestPlotErrorBars draws categorical and numeric error-bar plots and the
// side-by-side gradient-norm figure, and checks that each series' colour is
// drawn, that empty and non-finite input still give a figure, and that the
// bytes do not change between two calls.
func TestPlotErrorBars(t *testing.T) {
	dir := t.TempDir()
	ticks, series := sampleErrorBars()
	iou := ErrorBars{Name: "cls=ghmc", Connect: true}
	for i := range 10 {
		x := 0.5 + 0.05*float64(i)
		iou.X = append(iou.X, x)
		iou.Mean = append(iou.Mean, 0.6*(1-x))
		iou.Err = append(iou.Err, 0.01)
	}
	nan := ErrorBars{Name: "nan", X: []float64{0, 1}, Mean: []float64{math.NaN(), 0.3}, Err: []float64{0.1, math.NaN()}}
	h := sampleHistogram()
	h2 := h
	h2.Counts = append([]float64(nil), h.Counts...)
	h2.Counts[29] *= 20
	cases := []struct {
		name    string
		colours int // palette colours that must appear
		run     func(path string) error
	}{
		{"categorical", 3, func(p string) error { return PlotErrorBars(p, "AP per setting", "setting", "AP", ticks, series) }},
		{"numeric", 1, func(p string) error {
			return PlotErrorBars(p, "AP by IoU", "IoU threshold", "AP", nil, []ErrorBars{iou})
		}},
		{"non-finite", 1, func(p string) error { return PlotErrorBars(p, "t", "x", "y", []string{"a", "b"}, []ErrorBars{nan}) }},
		{"empty", 0, func(p string) error { return PlotErrorBars(p, "t", "x", "y", nil, nil) }},
		{"gradnorm side by side", 2, func(p string) error {
			a, b := h, h2
			a.Title, b.Title = "cls=focal", "cls=ghmc"
			return PlotGradNormSideBySide(p, "Classification gradient norm", []GradHistogram{a, b})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".png")
			if err := c.run(path); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, path)
			if f := inkFraction(img); f < 0.01 {
				t.Errorf("figure almost blank (%.3f of pixels inked)", f)
			}
			for k := range c.colours {
				if n := countNear(img, lineColours[k], 12); n < 30 {
					t.Errorf("colour %d of the palette: %d pixels, want a drawn series", k, n)
				}
			}
			first, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.run(path); err != nil {
				t.Fatal(err)
			}
			again, _ := os.ReadFile(path)
			if !bytes.Equal(first, again) {
				t.Error("the same input gave different PNG bytes")
			}
		})
	}
	noTempFiles(t, dir)
}

// TestPlotErrorBarsErrors checks that bad input is refused with an error
// naming the file, and that nothing is written.
func TestPlotErrorBarsErrors(t *testing.T) {
	dir := t.TempDir()
	h := sampleHistogram()
	short := h
	short.Edges, short.Counts = []float64{0, 0.5, 1}, []float64{1, 2}
	cases := []struct {
		name string
		run  func(path string) error
	}{
		{"lengths", func(p string) error {
			return PlotErrorBars(p, "t", "x", "y", nil, []ErrorBars{{X: []float64{0, 1}, Mean: []float64{1}, Err: []float64{1}}})
		}},
		{"points", func(p string) error {
			return PlotErrorBars(p, "t", "x", "y", nil, []ErrorBars{{X: []float64{0}, Mean: []float64{1}, Err: []float64{1}, Points: [][]float64{{1}, {2}}}})
		}},
		{"no histograms", func(p string) error { return PlotGradNormSideBySide(p, "t", nil) }},
		{"bins differ", func(p string) error { return PlotGradNormSideBySide(p, "t", []GradHistogram{h, short}) }},
		{"bad histogram", func(p string) error {
			return PlotGradNormSideBySide(p, "t", []GradHistogram{{Edges: []float64{0, 1}, Counts: []float64{1, 2}}})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".png")
			err := c.run(path)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s", err, path)
			}
			if _, err := os.Stat(path); err == nil {
				t.Errorf("%s written despite the error", path)
			}
		})
	}
}
