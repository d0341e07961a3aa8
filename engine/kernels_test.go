package engine

import (
	"math"
	"testing"
)

// TestSigmoid checks the vector sigmoid against float64 over logits from
// -100 to 100 (and the tail that the scalar loop finishes): absolute error
// <= 2e-7, relative error <= 1e-5 where the probability is above 1e-30.
func TestSigmoid(t *testing.T) {
	n := 20001
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(-100 + 200*float64(i)/float64(n-1))
	}
	want := make([]float64, n)
	for i, x := range v {
		want[i] = 1 / (1 + math.Exp(-float64(x)))
	}
	for _, simd := range []bool{false, true} {
		if simd && !useSIMD {
			continue
		}
		got := append([]float32(nil), v...)
		if simd {
			sigmoidSIMD(got)
		} else {
			sigmoidGo(got)
		}
		var worstAbs, worstRel float64
		for i := range got {
			d := math.Abs(float64(got[i]) - want[i])
			worstAbs = max(worstAbs, d)
			if want[i] > 1e-30 {
				worstRel = max(worstRel, d/want[i])
			}
		}
		if worstAbs > 2e-7 || worstRel > 1e-5 {
			t.Errorf("simd=%v: errors %.3g absolute, %.3g relative", simd, worstAbs, worstRel)
		}
	}
}
