package study

import (
	"fmt"
	"math"
)

// Mean returns the arithmetic mean of x (NaN when x is empty).
func Mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// SD returns the sample standard deviation of x, with n-1 in the
// denominator (NaN with fewer than 2 values).
func SD(x []float64) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	m := Mean(x)
	ss := 0.0
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	return math.Sqrt(ss / float64(len(x)-1))
}

// Interval is the paired difference of two settings over seeds: the mean
// of the per-seed differences a_i - b_i, their sample standard deviation,
// and the Student t confidence interval of the mean difference at Level,
// Mean ± t(1-(1-Level)/2, N-1) · SD/√N. Lo and Hi are NaN with fewer than 2
// pairs (no spread to measure).
type Interval struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	SD     float64 `json:"sd"`
	Level  float64 `json:"level"`
	T      float64 `json:"t"`
	Lo, Hi float64 `json:"-"`
}

// PairedDiff returns the paired difference of a and b (a_i paired with
// b_i, the same seed) with its confidence interval at level (such as 0.95).
// Pairs where either value is NaN are left out.
func PairedDiff(a, b []float64, level float64) (Interval, error) {
	if len(a) != len(b) {
		return Interval{}, fmt.Errorf("paired difference: %d values against %d", len(a), len(b))
	}
	if !(level > 0 && level < 1) {
		return Interval{}, fmt.Errorf("paired difference: confidence level %g outside (0, 1)", level)
	}
	var d []float64
	for i := range a {
		if !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			d = append(d, a[i]-b[i])
		}
	}
	iv := Interval{N: len(d), Mean: Mean(d), SD: SD(d), Level: level, T: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if len(d) >= 2 {
		iv.T = StudentTQuantile(1-(1-level)/2, float64(len(d)-1))
		half := iv.T * iv.SD / math.Sqrt(float64(len(d)))
		iv.Lo, iv.Hi = iv.Mean-half, iv.Mean+half
	}
	return iv, nil
}

// Excludes0 reports whether the interval lies entirely above or below 0:
// the difference is distinguishable from seed noise at the interval's
// level.
func (iv Interval) Excludes0() bool { return iv.Lo > 0 || iv.Hi < 0 }

// StudentTCDF returns P(T <= t) for Student's t distribution with df > 0
// degrees of freedom.
func StudentTCDF(t, df float64) float64 {
	if math.IsNaN(t) || !(df > 0) {
		return math.NaN()
	}
	if math.IsInf(t, 0) {
		if t > 0 {
			return 1
		}
		return 0
	}
	tail := 0.5 * regIncBeta(df/2, 0.5, df/(df+t*t))
	if t > 0 {
		return 1 - tail
	}
	return tail
}

// StudentTQuantile returns the p-quantile of Student's t distribution with
// df > 0 degrees of freedom (t(0.975, 2) = 4.3027), by bisection on
// StudentTCDF to full float64 precision.
func StudentTQuantile(p, df float64) float64 {
	if !(p > 0 && p < 1) || !(df > 0) {
		return math.NaN()
	}
	if p == 0.5 {
		return 0
	}
	if p < 0.5 {
		return -StudentTQuantile(1-p, df)
	}
	lo, hi := 0.0, 1.0
	for StudentTCDF(hi, df) < p {
		lo, hi = hi, 2*hi
		if hi > 1e300 {
			return math.Inf(1)
		}
	}
	for range 200 {
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if StudentTCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// regIncBeta returns the regularised incomplete beta function I_x(a, b),
// by its continued fraction (modified Lentz), using the symmetry
// I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
func regIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x > (a+1)/(a+b+2) {
		return 1 - front*betaFraction(b, a, 1-x)/b
	}
	return front * betaFraction(a, b, x) / a
}

// betaFraction evaluates the continued fraction of the incomplete beta
// function (Numerical Recipes' betacf).
func betaFraction(a, b, x float64) float64 {
	const tiny = 1e-300
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 1000; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-16 {
			break
		}
	}
	return h
}
