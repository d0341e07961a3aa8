//go:build goexperiment.simd && amd64

package box

import "simd/archsimd"

// useAVX2 selects the 8-lane AVX2 kernels.
var useAVX2 = archsimd.X86.AVX2()

// AVX-SSE transitions: the scalar Go code around the kernels uses legacy SSE
// instructions, and executing one while the upper halves of the AVX registers
// are dirty costs about 110 ns on the development machine (measured). So the
// kernels end with VZEROUPPER (ClearAVXUpperBits), and they make their zero
// vector as vaa-vaa: BroadcastFloat32x8(0) compiles to a legacy XORPS that,
// placed after the other broadcasts, paid that penalty on every call.

// iouRow writes the IoU of the valid box (ax1, ay1, ax2, ay2) of area aa
// with the first len(out) boxes of b into out. The AVX2 kernel performs the
// same IEEE operations in the same order as iou, so the results are
// bit-identical to it.
func iouRow(out []float32, ax1, ay1, ax2, ay2, aa float32, b *soa) {
	if !useAVX2 {
		iouRowScalar(out, ax1, ay1, ax2, ay2, aa, b)
		return
	}
	vax1, vay1 := archsimd.BroadcastFloat32x8(ax1), archsimd.BroadcastFloat32x8(ay1)
	vax2, vay2 := archsimd.BroadcastFloat32x8(ax2), archsimd.BroadcastFloat32x8(ay2)
	vaa := archsimd.BroadcastFloat32x8(aa)
	zero := vaa.Sub(vaa) // aa is finite; see the note above
	n := len(out)
	for k := 0; k < n; k += lanes {
		bx1 := archsimd.LoadFloat32x8(b.x1[k : k+lanes])
		by1 := archsimd.LoadFloat32x8(b.y1[k : k+lanes])
		bx2 := archsimd.LoadFloat32x8(b.x2[k : k+lanes])
		by2 := archsimd.LoadFloat32x8(b.y2[k : k+lanes])
		ba := archsimd.LoadFloat32x8(b.area[k : k+lanes])
		iw := vax2.Min(bx2).Sub(vax1.Max(bx1)).Max(zero)
		ih := vay2.Min(by2).Sub(vay1.Max(by1)).Max(zero)
		inter := iw.Mul(ih)
		v := inter.Div(vaa.Add(ba).Sub(inter))
		if k+lanes <= n {
			v.Store(out[k : k+lanes])
		} else {
			v.StorePart(out[k:])
		}
	}
	archsimd.ClearAVXUpperBits()
}

// maxRow writes into row (len = the padded length of g) the IoU of the valid
// box (ax1, ay1, ax2, ay2) of area aa with every box of g, raises colMax to
// the row where it is lower, and returns the row's maximum (0 at least).
func maxRow(row, colMax []float32, ax1, ay1, ax2, ay2, aa float32, g *soa) float32 {
	if !useAVX2 {
		return maxRowScalar(row, colMax, ax1, ay1, ax2, ay2, aa, g)
	}
	vax1, vay1 := archsimd.BroadcastFloat32x8(ax1), archsimd.BroadcastFloat32x8(ay1)
	vax2, vay2 := archsimd.BroadcastFloat32x8(ax2), archsimd.BroadcastFloat32x8(ay2)
	vaa := archsimd.BroadcastFloat32x8(aa)
	zero := vaa.Sub(vaa) // aa is finite; see the note above
	best := zero
	n := len(row)
	colMax = colMax[:n]
	for k := 0; k+lanes <= n; k += lanes {
		bx1 := archsimd.LoadFloat32x8(g.x1[k : k+lanes])
		by1 := archsimd.LoadFloat32x8(g.y1[k : k+lanes])
		bx2 := archsimd.LoadFloat32x8(g.x2[k : k+lanes])
		by2 := archsimd.LoadFloat32x8(g.y2[k : k+lanes])
		ba := archsimd.LoadFloat32x8(g.area[k : k+lanes])
		iw := vax2.Min(bx2).Sub(vax1.Max(bx1)).Max(zero)
		ih := vay2.Min(by2).Sub(vay1.Max(by1)).Max(zero)
		inter := iw.Mul(ih)
		v := inter.Div(vaa.Add(ba).Sub(inter))
		v.Store(row[k : k+lanes])
		archsimd.LoadFloat32x8(colMax[k : k+lanes]).Max(v).Store(colMax[k : k+lanes])
		best = best.Max(v)
	}
	var t [lanes]float32
	best.StoreArray(&t)
	archsimd.ClearAVXUpperBits()
	m := t[0]
	for _, v := range t[1:] {
		if v > m {
			m = v
		}
	}
	return m
}
