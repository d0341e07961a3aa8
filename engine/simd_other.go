//go:build !(goexperiment.simd && amd64)

package engine

// useSIMD is false: this build has no AVX-512 kernels (GOEXPERIMENT=simd
// on amd64 has them).
var useSIMD = false

// The SIMD entry points are never called in this build (useSIMD is false);
// they exist so that the callers compile.

func clearUpper()                             {}
func simdTile(a *tileArgs, mr, nv int)        { tileGo(a, mr, nv) }
func addRowSIMD(out, a, b []float32, act int) { addRowGo(out, a, b, act) }
func maxRowSIMD(dst, src []float32) {
	for c, v := range src {
		dst[c] = max(dst[c], v)
	}
}
func rowSumsSIMD(row []float32, cp int, sum, sq []float64) { rowSumsGo(row, cp, sum, sq) }
func affineRowSIMD(row []float32, cp int, a, sh, res []float32, act int) {
	affineRowGo(row, cp, a, sh, res, act)
}
func depthwiseRowSIMD(o, x, w, bias []float32, k, stride, rs, cp, act int) {
	depthwiseRowGo(o, x, w, bias, k, stride, rs, cp, act)
}
func sigmoidSIMD(v []float32) { sigmoidGo(v) }
func winoInputSIMD(x []float32, rs, cp, cin int, v []float32, stride int) {
	winoInputGo(x, rs, cp, cin, v, stride)
}
func winoOutputSIMD(o *winoOut, withRes bool) { winoOutputGo(o, withRes) }
func winoInput4SIMD(x []float32, rs, cp, cin int, v []float32, stride int) {
	winoInput4Go(x, rs, cp, cin, v, stride)
}
func winoOutput4SIMD(o *winoOut, withRes bool) { winoOutput4Go(o, withRes) }
