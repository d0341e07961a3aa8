package study

import (
	"math"
	"testing"
)

// TestMeanSD checks the mean and the sample standard deviation against
// hand-computed values.
func TestMeanSD(t *testing.T) {
	cases := []struct {
		name     string
		x        []float64
		mean, sd float64
	}{
		{"four values", []float64{0.2, 0.25, 0.3, 0.35}, 0.275, 0.06454972243679028},
		{"constant", []float64{0.4, 0.4, 0.4}, 0.4, 0},
		{"one value", []float64{0.3}, 0.3, math.NaN()},
		{"none", nil, math.NaN(), math.NaN()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if m := Mean(c.x); !close(m, c.mean, 1e-15) {
				t.Errorf("Mean = %v, want %v", m, c.mean)
			}
			if s := SD(c.x); !close(s, c.sd, 1e-15) {
				t.Errorf("SD = %v, want %v", s, c.sd)
			}
		})
	}
}

// close reports whether a and b agree within tol (both NaN agree).
func close(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

// TestStudentTQuantile compares the quantiles with published values (and
// the closed forms for 1 and 2 degrees of freedom).
func TestStudentTQuantile(t *testing.T) {
	cases := []struct {
		p, df, want float64
	}{
		{0.975, 1, math.Tan(math.Pi * 0.475)},
		{0.975, 2, 0.95 * math.Sqrt(2/(4*0.975*0.025))},
		{0.975, 3, 3.182446305284263},
		{0.975, 4, 2.7764451051977934},
		{0.975, 9, 2.2621571627982053},
		{0.975, 29, 2.045229642132703},
		{0.975, 1000, 1.9623390808264078},
		{0.95, 5, 2.015048372669157},
		{0.025, 4, -2.7764451051977934},
		{0.5, 7, 0},
	}
	for _, c := range cases {
		got := StudentTQuantile(c.p, c.df)
		if !close(got, c.want, 1e-9*math.Max(1, math.Abs(c.want))) {
			t.Errorf("t(%g, %g) = %.12g, want %.12g", c.p, c.df, got, c.want)
		}
		if c.p != 0.5 {
			if back := StudentTCDF(got, c.df); !close(back, c.p, 1e-12) {
				t.Errorf("CDF(t(%g, %g)) = %.15g", c.p, c.df, back)
			}
		}
	}
	for _, bad := range [][2]float64{{0, 3}, {1, 3}, {0.9, 0}, {math.NaN(), 2}} {
		if q := StudentTQuantile(bad[0], bad[1]); !math.IsNaN(q) {
			t.Errorf("t(%g, %g) = %g, want NaN", bad[0], bad[1], q)
		}
	}
}

// TestPairedDiff checks the paired Student t interval against a
// hand-computed case: differences 0.02, 0.01, 0.05 have mean 0.026667, sd
// 0.020817, and with t(0.975, 2) = 4.302653 the 95% interval is mean ±
// 0.051712.
func TestPairedDiff(t *testing.T) {
	a := []float64{0.30, 0.32, 0.35}
	b := []float64{0.28, 0.31, 0.30}
	iv, err := PairedDiff(a, b, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	want := Interval{N: 3, Mean: 0.026666666666666655, SD: 0.020816659994661323, Level: 0.95, T: 4.302652729749464,
		Lo: -0.025044783458755982, Hi: 0.0783781167920893}
	for _, f := range []struct {
		name      string
		got, want float64
	}{{"mean", iv.Mean, want.Mean}, {"sd", iv.SD, want.SD}, {"t", iv.T, want.T}, {"lo", iv.Lo, want.Lo}, {"hi", iv.Hi, want.Hi}} {
		if !close(f.got, f.want, 1e-12) {
			t.Errorf("%s = %.15g, want %.15g", f.name, f.got, f.want)
		}
	}
	if iv.N != 3 || iv.Excludes0() {
		t.Errorf("n %d, excludes 0: %v; want 3 and false", iv.N, iv.Excludes0())
	}
	// A NaN leaves its pair out; one pair has no interval.
	iv, err = PairedDiff([]float64{0.5, math.NaN(), 0.7}, []float64{0.4, 0.1, math.NaN()}, 0.95)
	if err != nil || iv.N != 1 || !close(iv.Mean, 0.1, 1e-15) || !math.IsNaN(iv.Lo) || iv.Excludes0() {
		t.Errorf("one pair: %+v, %v; want n 1, mean 0.1, no interval", iv, err)
	}
	// A consistent gain excludes 0.
	iv, _ = PairedDiff([]float64{0.31, 0.33, 0.32}, []float64{0.30, 0.315, 0.31}, 0.95)
	if !iv.Excludes0() || !(iv.Lo > 0) {
		t.Errorf("consistent gain: %+v, want an interval above 0", iv)
	}
	for _, c := range []struct {
		name  string
		a, b  []float64
		level float64
	}{{"lengths", []float64{1, 2}, []float64{1}, 0.95}, {"level", []float64{1}, []float64{1}, 95}} {
		if _, err := PairedDiff(c.a, c.b, c.level); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}
