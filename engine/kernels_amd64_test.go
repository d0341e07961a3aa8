//go:build goexperiment.simd && amd64

package engine

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestAsmTiles checks every assembly tile against the portable tile on
// random inputs with 1 to 9 taps, 1 to 300 channels, strided pixels,
// residuals, activations and a partial last vector: within 1e-5 relative
// (the assembly fuses each multiply-add, the portable tile rounds the
// product), and nothing written past the tile.
func TestAsmTiles(t *testing.T) {
	if !useSIMD {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for nv := 1; nv <= 3; nv++ {
		for mr := 1; mr <= maxTileRows; mr++ {
			for _, c := range []struct {
				ntap, cin, act int
				res            bool
				mask           uint16
			}{{1, 1, actNone, false, 0xffff}, {9, 37, actReLU, true, 0x00ff}, {4, 16, actReLU6, false, 0x0001}, {1, 300, actNone, true, 0xffff}} {
				const cp = 320 // channels per input pixel
				xs := uintptr(2 * cp * 4)
				x := randFloats(rng, (mr*2+4)*cp)
				offs := make([]uintptr, c.ntap)
				for i := range offs {
					offs[i] = uintptr(rng.IntN(3*cp)) * 4
				}
				w := randFloats(rng, c.ntap*c.cin*nv*lanes)
				bias := randFloats(rng, nv*lanes)
				res := randFloats(rng, mr*nv*lanes*2)
				run := func(tile func(*tileArgs)) []float32 {
					out := make([]float32, mr*nv*lanes*2)
					for i := range out {
						out[i] = -7 // the value of what a tile must leave alone
					}
					a := tileArgs{x: unsafe.Pointer(&x[0]), xs: xs, offs: offs, ntap: c.ntap, cin: c.cin,
						w: unsafe.Pointer(&w[0]), bias: unsafe.Pointer(&bias[0]), out: unsafe.Pointer(&out[0]),
						os: uintptr(2 * nv * lanes * 4), act: c.act, mask: c.mask}
					if c.res {
						a.res, a.rs = unsafe.Pointer(&res[0]), uintptr(2*nv*lanes*4)
					}
					tile(&a)
					clearUpper()
					return out
				}
				got := run(asmTiles[nv][mr])
				want := run(func(a *tileArgs) { tileGo(a, mr, nv) })
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("%dx%d %+v: value %d is %g, the portable tile gives %g", mr, nv, c, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func randFloats(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}
