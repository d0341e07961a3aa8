package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

// toXYs zips x and y into plot points.
func toXYs(x, y []float64) plotter.XYs {
	out := make(plotter.XYs, len(x))
	for i := range x {
		out[i] = plotter.XY{X: x[i], Y: y[i]}
	}
	return out
}

// decodePNG reads a PNG file and fails the test when it does not decode.
func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// inkFraction returns the fraction of pixels that are not (near) white.
func inkFraction(img image.Image) float64 {
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				n++
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy())
}

// countNear counts the pixels within tol (per 8-bit channel) of c.
func countNear(img image.Image, c color.RGBA, tol int) int {
	b := img.Bounds()
	n := 0
	abs := func(v int) int {
		if v < 0 {
			return -v
		}
		return v
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-int(c.R)) <= tol && abs(int(g>>8)-int(c.G)) <= tol && abs(int(bl>>8)-int(c.B)) <= tol {
				n++
			}
		}
	}
	return n
}

// noTempFiles fails when a temporary file of an atomic write is left in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// lossCurve returns a plausible noisy decaying loss of n iterations.
func lossCurve(seed uint64, n int, start, end float64) ([]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x, y := make([]float64, n), make([]float64, n)
	for i := range n {
		x[i] = float64(i + 1)
		base := end + (start-end)*math.Exp(-float64(i)/float64(n)*5)
		y[i] = base * (1 + 0.15*rng.NormFloat64())
	}
	return x, y
}

func sampleHistogram() GradHistogram {
	const m = 30
	edges := make([]float64, m+1)
	for i := range edges {
		edges[i] = float64(i) / m
	}
	counts := make([]float64, m)
	rng := rand.New(rand.NewPCG(7, 7))
	for range 50000 {
		var g float64
		if rng.Float64() < 0.97 {
			g = 1 / (1 + math.Exp(-(-6 + 1.8*rng.NormFloat64()))) // easy negatives
		} else {
			g = 1 / (1 + math.Exp(-(-0.5 + 2.5*rng.NormFloat64()))) // hard ones and outliers
		}
		counts[min(m-1, int(g*m))]++
	}
	return GradHistogram{Edges: edges, Counts: counts, Weights: GHMWeights(edges, counts, 2), Title: "Gradient norm of the classification loss"}
}

func TestPlotsWriteValidPNGs(t *testing.T) {
	dir := t.TempDir()
	x, y := lossCurve(1, 600, 1.2, 0.2)
	x2, y2 := lossCurve(2, 600, 0.4, 0.05)
	nanY := append([]float64(nil), y...)
	for i := 0; i < len(nanY); i += 7 {
		nanY[i] = math.NaN()
	}
	nanY[3] = math.Inf(1)
	allNaN := []float64{math.NaN(), math.NaN(), math.Inf(-1)}
	hist := sampleHistogram()
	noW := hist
	noW.Weights = nil
	zeros := GradHistogram{Edges: []float64{0, 0.5, 1}, Counts: []float64{0, 0}}

	pr := []PRCurve{
		{Name: "RBC", Recall: []float64{0, 0.2, 0.5, 0.8, 0.9}, Precision: []float64{1, 0.95, 0.9, 0.7, 0.4}, AP: 0.8},
		{Name: "WBC", Recall: []float64{0, 0.5, 1}, Precision: []float64{1, 1, 0.9}, AP: 0.97},
		{Name: "Platelets", Recall: []float64{0, math.NaN(), 0.6}, Precision: []float64{1, 0.5, 0.5}, AP: math.NaN()},
	}
	var manyPR []PRCurve
	for k := range 20 {
		r := make([]float64, 11)
		p := make([]float64, 11)
		for i := range r {
			r[i] = float64(i) / 10 * (0.5 + 0.5*float64(k)/20)
			p[i] = 1 - r[i]*r[i]*float64(k%5)/5
		}
		manyPR = append(manyPR, PRCurve{Name: "c", Recall: r, Precision: p, AP: 0.5})
	}

	cases := []struct {
		name string
		w, h int
		plot func(path string) error
	}{
		{"series", 1000, 600, func(p string) error {
			return PlotSeries(p, "Training loss", "iteration", "loss", []Series{{"cls", x, y}, {"reg", x2, y2}})
		}},
		{"series-log-smooth-size", 640, 400, func(p string) error {
			return PlotSeries(p, "Training loss", "iteration", "loss", []Series{{"cls", x, y}}, LogY(), Smooth(25), Size(640, 400))
		}},
		{"series-nan", 1000, 600, func(p string) error {
			return PlotSeries(p, "with NaN", "iteration", "loss", []Series{{"cls", x, nanY}, {"empty", nil, nil}})
		}},
		{"series-all-nan", 1000, 600, func(p string) error {
			return PlotSeries(p, "all NaN", "x", "y", []Series{{"a", []float64{1, 2, 3}, allNaN}}, LogY())
		}},
		{"series-none", 1000, 600, func(p string) error { return PlotSeries(p, "nothing", "x", "y", nil) }},
		{"series-one-point", 1000, 600, func(p string) error {
			return PlotSeries(p, "AP", "epoch", "AP", []Series{{"AP", []float64{1}, []float64{0.3}}})
		}},
		{"series-log-nonpositive", 1000, 600, func(p string) error {
			return PlotSeries(p, "lr", "iteration", "learning rate", []Series{{"lr", []float64{0, 1, 2, 3}, []float64{0, -1, 0.01, 0.001}}}, LogY())
		}},
		{"pr", 800, 700, func(p string) error { return PlotPR(p, pr) }},
		{"pr-many", 800, 700, func(p string) error { return PlotPR(p, manyPR) }},
		{"pr-empty", 800, 700, func(p string) error { return PlotPR(p, nil) }},
		{"gradnorm", 1650, 560, func(p string) error { return PlotGradNorm(p, hist) }},
		{"gradnorm-no-weights", 760, 560, func(p string) error { return PlotGradNorm(p, noW) }},
		{"gradnorm-zero-counts", 760, 560, func(p string) error { return PlotGradNorm(p, zeros) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".png")
			if err := tc.plot(path); err != nil {
				t.Fatalf("plot: %v", err)
			}
			img := decodePNG(t, path)
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.w, tc.h)
			}
			// Axes, tick labels and titles alone cover well over 1% of the
			// figure; a blank or nearly blank image does not.
			if f := inkFraction(img); f < 0.01 {
				t.Errorf("figure is nearly blank: %.4f of pixels not white", f)
			}
		})
	}
	noTempFiles(t, dir)
}

func TestPlotSeriesDrawsEachSeriesColour(t *testing.T) {
	dir := t.TempDir()
	x, y := lossCurve(3, 200, 1, 0.1)
	x2, y2 := lossCurve(4, 200, 2, 0.5)
	one := filepath.Join(dir, "one.png")
	two := filepath.Join(dir, "two.png")
	if err := PlotSeries(one, "t", "x", "y", []Series{{"a", x, y}}); err != nil {
		t.Fatal(err)
	}
	if err := PlotSeries(two, "t", "x", "y", []Series{{"a", x, y}, {"b", x2, y2}}); err != nil {
		t.Fatal(err)
	}
	blue, orange := lineColours[0], lineColours[1]
	i1, i2 := decodePNG(t, one), decodePNG(t, two)
	if n := countNear(i1, blue, 30); n < 200 {
		t.Errorf("first series colour drawn on %d pixels only", n)
	}
	if n := countNear(i1, orange, 30); n != 0 {
		t.Errorf("second series colour found on %d pixels of a one-series plot", n)
	}
	if n := countNear(i2, orange, 30); n < 200 {
		t.Errorf("second series colour drawn on %d pixels only", n)
	}
}

// Non-finite points are skipped: a series with NaN/Inf inserted draws exactly
// like the series without them.
func TestPlotSeriesSkipsNonFiniteExactly(t *testing.T) {
	dir := t.TempDir()
	x := []float64{1, 2, 3, 4, 5, 6}
	y := []float64{0.9, 0.7, 0.6, 0.45, 0.4, 0.38}
	xn := []float64{1, 2, 2.5, 3, 4, math.NaN(), 5, 6, math.Inf(1)}
	yn := []float64{0.9, 0.7, math.NaN(), 0.6, 0.45, 0.1, 0.4, 0.38, 0.2}
	for _, logY := range []bool{false, true} {
		var opts []Option
		if logY {
			opts = append(opts, LogY())
			// Non-positive values are skipped on a log axis as well.
			xn = append(xn, 7)
			yn = append(yn, 0)
		}
		a, b := filepath.Join(dir, "clean.png"), filepath.Join(dir, "nan.png")
		if err := PlotSeries(a, "t", "x", "y", []Series{{"s", x, y}}, opts...); err != nil {
			t.Fatal(err)
		}
		if err := PlotSeries(b, "t", "x", "y", []Series{{"s", xn, yn}}, opts...); err != nil {
			t.Fatal(err)
		}
		ba, _ := os.ReadFile(a)
		bb, _ := os.ReadFile(b)
		if !bytes.Equal(ba, bb) {
			t.Errorf("logY=%v: plot with non-finite points differs from the plot without them", logY)
		}
	}
}

func TestPlotsAreDeterministic(t *testing.T) {
	dir := t.TempDir()
	h := sampleHistogram()
	var prev []byte
	for i := range 2 {
		p := filepath.Join(dir, "g.png")
		if err := PlotGradNorm(p, h); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && !bytes.Equal(b, prev) {
			t.Error("same histogram gave different PNG bytes")
		}
		prev = b
	}
}

func TestPlotErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "plot.png")
	ok := []Series{{"a", []float64{1, 2}, []float64{1, 2}}}
	h := sampleHistogram()
	cases := []struct {
		name string
		path string
		run  func(path string) error
	}{
		{"series length mismatch", filepath.Join(dir, "a.png"), func(p string) error {
			return PlotSeries(p, "t", "x", "y", []Series{{"a", []float64{1, 2}, []float64{1}}})
		}},
		{"series unwritable", missing, func(p string) error { return PlotSeries(p, "t", "x", "y", ok) }},
		{"pr length mismatch", filepath.Join(dir, "b.png"), func(p string) error {
			return PlotPR(p, []PRCurve{{Name: "a", Recall: []float64{0, 1}, Precision: []float64{1}}})
		}},
		{"pr unwritable", missing, func(p string) error { return PlotPR(p, nil) }},
		{"hist edges", filepath.Join(dir, "c.png"), func(p string) error {
			return PlotGradNorm(p, GradHistogram{Edges: []float64{0, 1}, Counts: []float64{1, 2}})
		}},
		{"hist decreasing edges", filepath.Join(dir, "d.png"), func(p string) error {
			return PlotGradNorm(p, GradHistogram{Edges: []float64{0, 0.6, 0.5}, Counts: []float64{1, 2}})
		}},
		{"hist weights length", filepath.Join(dir, "e.png"), func(p string) error {
			return PlotGradNorm(p, GradHistogram{Edges: []float64{0, 0.5, 1}, Counts: []float64{1, 2}, Weights: map[string][]float64{"CE": {1}}})
		}},
		{"hist unwritable", missing, func(p string) error { return PlotGradNorm(p, h) }},
		{"bad size", filepath.Join(dir, "f.png"), func(p string) error { return PlotSeries(p, "t", "x", "y", ok, Size(0, 10)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(tc.path)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name %s", err, tc.path)
			}
			if _, statErr := os.Stat(tc.path); statErr == nil {
				t.Errorf("%s was written despite the error", tc.path)
			}
		})
	}
	noTempFiles(t, dir)
}

func TestLogTicker(t *testing.T) {
	cases := []struct {
		lo, hi     float64
		wantLabels []string
	}{
		{1e-5, 1, []string{"1e-5", "1e-4", "0.001", "0.01", "0.1", "1"}},
		{0.3, 0.9, []string{"0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"}},
		{0.01, 1, []string{"0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"}},
		{2e5, 3e6, []string{"1e6", "2e6", "5e5", "2e5"}},
	}
	for _, tc := range cases {
		var got []string
		for _, tk := range (logTicker{}).Ticks(tc.lo, tc.hi) {
			if tk.Value < tc.lo*(1-1e-9) || tk.Value > tc.hi*(1+1e-9) {
				t.Errorf("[%g, %g]: tick %g outside the range", tc.lo, tc.hi, tk.Value)
			}
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		for _, w := range tc.wantLabels {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("[%g, %g]: label %q missing from %v", tc.lo, tc.hi, w, got)
			}
		}
	}
	if ticks := (logTicker{}).Ticks(0, 1); ticks != nil {
		t.Errorf("non-positive range gave ticks %v", ticks)
	}
}

func TestMeanPRCurve(t *testing.T) {
	// One class with precision 1 up to recall 0.5, one with 0.5 everywhere
	// up to recall 1: interpolated means are 0.75 up to 0.5, then 0.25.
	a := toXYs([]float64{0.1, 0.3, 0.5}, []float64{0.6, 1, 1})
	b := toXYs([]float64{0.2, 1}, []float64{0.5, 0.5})
	m := meanPRCurve([]plotter.XYs{a, b, nil})
	if len(m) != 101 {
		t.Fatalf("%d points, want 101", len(m))
	}
	for _, tc := range []struct{ r, want float64 }{{0, 0.75}, {0.3, 0.75}, {0.5, 0.75}, {0.51, 0.25}, {1, 0.25}} {
		k := int(math.Round(tc.r * 100))
		if math.Abs(m[k].Y-tc.want) > 1e-12 || math.Abs(m[k].X-tc.r) > 1e-12 {
			t.Errorf("at recall %.2f: (%g, %g), want precision %g", tc.r, m[k].X, m[k].Y, tc.want)
		}
	}
	if meanPRCurve(nil) != nil {
		t.Error("no curves should give no mean curve")
	}
}

func TestGHMWeightsAndShares(t *testing.T) {
	edges := []float64{0, 0.25, 0.5, 0.75, 1}
	counts := []float64{900, 0, 60, 40}
	w := GHMWeights(edges, counts, 2)
	if len(w) != 3 {
		t.Fatalf("got %d weight sets, want CE, focal, GHM-C", len(w))
	}
	ghm := w["GHM-C"]
	// tot / (count * n): 1000/(900*3), NaN, 1000/(60*3), 1000/(40*3).
	for i, want := range []float64{1000.0 / 2700, math.NaN(), 1000.0 / 180, 1000.0 / 120} {
		if math.IsNaN(want) != math.IsNaN(ghm[i]) || (!math.IsNaN(want) && math.Abs(ghm[i]-want) > 1e-12) {
			t.Errorf("GHM-C weight of bin %d = %g, want %g", i, ghm[i], want)
		}
	}
	mean := 0.0
	for i, c := range counts {
		if c > 0 {
			mean += c * ghm[i]
		}
	}
	if mean /= 1000; math.Abs(mean-1) > 1e-12 {
		t.Errorf("mean GHM-C weight over examples = %g, want 1", mean)
	}
	fl := w["focal loss (γ=2)"]
	for i := 1; i < len(fl); i++ {
		if !(fl[i] > fl[i-1]) {
			t.Errorf("focal weight not increasing with g: %v", fl)
		}
	}
	if got := FocalRelativeWeight(1, 2); got != 1 {
		t.Errorf("focal weight at g=1 is %g, want 1", got)
	}
	if got, want := FocalRelativeWeight(1e-4, 2), 3e-8; math.Abs(got-want)/want > 1e-3 {
		t.Errorf("focal weight at small g is %g, want about (1+γ)g^γ = %g", got, want)
	}
	h := GradHistogram{Edges: edges, Counts: counts, Weights: w}
	s := h.Shares()
	for name, sh := range s {
		sum := 0.0
		for _, v := range sh {
			if !math.IsNaN(v) {
				sum += v
			}
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("%s shares sum to %g", name, sum)
		}
	}
	for _, i := range []int{0, 2, 3} {
		if math.Abs(s["GHM-C"][i]-1.0/3) > 1e-12 {
			t.Errorf("GHM-C share of bin %d = %g, want 1/3", i, s["GHM-C"][i])
		}
	}
	if !math.IsNaN(s["GHM-C"][1]) {
		t.Errorf("empty bin share = %g, want NaN", s["GHM-C"][1])
	}
	if GHMWeights([]float64{0, 1}, []float64{1, 2}, 2) != nil {
		t.Error("mismatched edges should give nil")
	}
}

func TestDecimateKeepsEnvelope(t *testing.T) {
	x, y := lossCurve(5, 20000, 2, 0.1)
	pts := toXYs(x, y)
	d := decimate(pts, 1000)
	if len(d) > 1000 || len(d) < 500 {
		t.Fatalf("decimated to %d points", len(d))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, q := range pts {
		lo, hi = math.Min(lo, q.Y), math.Max(hi, q.Y)
	}
	dlo, dhi := math.Inf(1), math.Inf(-1)
	for i, q := range d {
		dlo, dhi = math.Min(dlo, q.Y), math.Max(dhi, q.Y)
		if i > 0 && q.X < d[i-1].X {
			t.Fatal("decimation reordered points")
		}
	}
	if dlo != lo || dhi != hi {
		t.Errorf("envelope lost: [%g, %g] vs [%g, %g]", dlo, dhi, lo, hi)
	}
	if short := decimate(pts[:10], 1000); len(short) != 10 {
		t.Error("short input changed")
	}
}

func TestMovingAverage(t *testing.T) {
	pts := toXYs([]float64{1, 2, 3, 4, 5}, []float64{1, 2, 3, 4, 5})
	got := movingAverage(pts, 3, false)
	want := []float64{1.5, 2, 3, 4, 4.5}
	for i := range want {
		if math.Abs(got[i].Y-want[i]) > 1e-12 || got[i].X != pts[i].X {
			t.Errorf("point %d = %v, want y %g", i, got[i], want[i])
		}
	}
	geo := movingAverage(toXYs([]float64{1, 2}, []float64{1, 100}), 2, true)
	if math.Abs(geo[1].Y-10) > 1e-9 {
		t.Errorf("geometric mean = %g, want 10", geo[1].Y)
	}
}

// Plots may be written from several goroutines at once (a training loop
// plotting in the background) and still come out identical.
func TestPlotsConcurrent(t *testing.T) {
	dir := t.TempDir()
	h := sampleHistogram()
	ref := filepath.Join(dir, "ref.png")
	if err := PlotGradNorm(ref, h); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(ref)
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			errs <- PlotGradNorm(filepath.Join(dir, fmt.Sprintf("g%d.png", i)), h)
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		got, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("g%d.png", i)))
		if !bytes.Equal(got, want) {
			t.Errorf("plot %d drawn concurrently differs from the sequential one", i)
		}
	}
}
