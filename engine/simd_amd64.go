//go:build goexperiment.simd && amd64

package engine

import (
	"simd/archsimd"
	"unsafe"
)

// useSIMD selects the AVX-512 kernels (AVX-512 F, CD, BW, DQ and VL).
var useSIMD = archsimd.X86.AVX512()

// AVX-SSE transitions: Go's scalar floating-point code uses legacy SSE
// instructions, which on some Intel CPUs pay a penalty after AVX code has
// left the upper halves of the vector registers dirty; every pass ends
// with clearUpper (VZEROUPPER).

// clearUpper clears the upper halves of the vector registers.
func clearUpper() { archsimd.ClearAVXUpperBits() }

// simdTile runs the generated tile of mr pixels and nv vectors.
func simdTile(a *tileArgs, mr, nv int) { asmTiles[nv][mr](a) }

// tileStore finishes a tile from its accumulators acc (pixel r, vector v
// at (r*nv+v)*16): bias, residual, activation, and the store, masked on
// the last vector.
func tileStore(a *tileArgs, acc []float32, mr, nv int) {
	pa := unsafe.Pointer(unsafe.SliceData(acc))
	_ = acc[mr*nv*lanes-1]
	mask := archsimd.Mask32x16FromBits(a.mask)
	for r := range mr {
		out := unsafe.Add(a.out, uintptr(r)*a.os)
		var res unsafe.Pointer
		if a.res != nil {
			res = unsafe.Add(a.res, uintptr(r)*a.rs)
		}
		for v := range nv {
			off := uintptr(v * lanes * 4)
			y := vec(unsafe.Add(pa, uintptr(r*nv+v)*lanes*4)).Add(vec(unsafe.Add(a.bias, off)))
			if res != nil {
				y = y.Add(vec(unsafe.Add(res, off)))
			}
			y = act16(y, a.act)
			dst := (*[16]float32)(unsafe.Add(out, off))
			if v < nv-1 {
				y.StoreArray(dst)
			} else {
				y.StoreArrayMasked(dst, mask)
			}
		}
	}
}

// vec loads 16 floats at p.
func vec(p unsafe.Pointer) archsimd.Float32x16 {
	return archsimd.LoadFloat32x16Array((*[16]float32)(p))
}

// act16 applies activation code act.
func act16(y archsimd.Float32x16, act int) archsimd.Float32x16 {
	if act == actNone {
		return y
	}
	var zero archsimd.Float32x16
	y = y.Max(zero)
	if act == actReLU6 {
		y = y.Min(archsimd.BroadcastFloat32x16(6))
	}
	return y
}

// addRowSIMD sets out = act(a + b); lengths are multiples of 16.
func addRowSIMD(out, a, b []float32, act int) {
	for i := 0; i+lanes <= len(out); i += lanes {
		y := archsimd.LoadFloat32x16Array((*[16]float32)(a[i : i+lanes])).Add(archsimd.LoadFloat32x16Array((*[16]float32)(b[i : i+lanes])))
		act16(y, act).StoreArray((*[16]float32)(out[i : i+lanes]))
	}
}

// maxRowSIMD sets dst = max(dst, src); lengths are multiples of 16.
func maxRowSIMD(dst, src []float32) {
	for i := 0; i+lanes <= len(dst); i += lanes {
		d := (*[16]float32)(dst[i : i+lanes])
		archsimd.LoadFloat32x16Array(d).Max(archsimd.LoadFloat32x16Array((*[16]float32)(src[i : i+lanes]))).StoreArray(d)
	}
}

// rowSumsSIMD adds the values and squares of each channel of row (pixels
// of cp channels, cp a multiple of 16) to sum and sq.
func rowSumsSIMD(row []float32, cp int, sum, sq []float64) {
	var s, q [16]float32
	base := unsafe.Pointer(unsafe.SliceData(row))
	n := len(row) / cp
	for cv := 0; cv < cp; cv += lanes {
		var vs, vq archsimd.Float32x16
		p := unsafe.Add(base, cv*4)
		for range n {
			x := vec(p)
			vs = vs.Add(x)
			vq = x.MulAdd(x, vq)
			p = unsafe.Add(p, cp*4)
		}
		vs.StoreArray(&s)
		vq.StoreArray(&q)
		for j := range lanes {
			sum[cv+j] += float64(s[j])
			sq[cv+j] += float64(q[j])
		}
	}
}

// affineRowSIMD sets row = act(row*a + sh + res) per channel (cp a
// multiple of 16; res may be nil).
func affineRowSIMD(row []float32, cp int, a, sh, res []float32, act int) {
	base := unsafe.Pointer(unsafe.SliceData(row))
	pa, ps := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(sh))
	var pr unsafe.Pointer
	if res != nil {
		pr = unsafe.Pointer(unsafe.SliceData(res))
	}
	for i := 0; i < len(row); i += cp {
		for cv := 0; cv < cp; cv += lanes {
			p := unsafe.Add(base, (i+cv)*4)
			y := vec(p).MulAdd(vec(unsafe.Add(pa, cv*4)), vec(unsafe.Add(ps, cv*4)))
			if pr != nil {
				y = y.Add(vec(unsafe.Add(pr, (i+cv)*4)))
			}
			act16(y, act).StoreArray((*[16]float32)(p))
		}
	}
}

// depthwiseRowSIMD computes one output row o (pixels of cp channels) from
// x, the input at the first window's corner (rows rs floats apart).
func depthwiseRowSIMD(o, x, w, bias []float32, k, stride, rs, cp, act int) {
	po := unsafe.Pointer(unsafe.SliceData(o))
	px := unsafe.Pointer(unsafe.SliceData(x))
	pw := unsafe.Pointer(unsafe.SliceData(w))
	pb := unsafe.Pointer(unsafe.SliceData(bias))
	wo := len(o) / cp
	_ = x[(k-1)*rs+((wo-1)*stride+k-1)*cp+cp-1] // the last value read
	for cv := 0; cv < cp; cv += lanes {
		b := vec(unsafe.Add(pb, cv*4))
		for ox := range wo {
			acc := b
			xp := unsafe.Add(px, (ox*stride*cp+cv)*4)
			wp := unsafe.Add(pw, cv*4)
			for i := range k {
				xr := unsafe.Add(xp, i*rs*4)
				for j := range k {
					acc = vec(unsafe.Add(xr, j*cp*4)).MulAdd(vec(wp), acc)
					wp = unsafe.Add(wp, cp*4)
				}
			}
			act16(acc, act).StoreArray((*[16]float32)(unsafe.Add(po, (ox*cp+cv)*4)))
		}
	}
}

// sigmoidSIMD turns the logits v into probabilities: 1/(1+exp(-x)) with a
// polynomial exp (Cephes' expf: relative error about 1e-7).
func sigmoidSIMD(v []float32) {
	var (
		hi    = archsimd.BroadcastFloat32x16(88.3762626647949)
		lo    = archsimd.BroadcastFloat32x16(-88.3762626647949)
		log2e = archsimd.BroadcastFloat32x16(1.44269504088896341)
		c1    = archsimd.BroadcastFloat32x16(-0.693359375)
		c2    = archsimd.BroadcastFloat32x16(2.12194440e-4)
		p0    = archsimd.BroadcastFloat32x16(1.9875691500e-4)
		p1    = archsimd.BroadcastFloat32x16(1.3981999507e-3)
		p2    = archsimd.BroadcastFloat32x16(8.3334519073e-3)
		p3    = archsimd.BroadcastFloat32x16(4.1665795894e-2)
		p4    = archsimd.BroadcastFloat32x16(1.6666665459e-1)
		p5    = archsimd.BroadcastFloat32x16(5.0000001201e-1)
		one   = archsimd.BroadcastFloat32x16(1)
	)
	one16 := func(d *[16]float32) {
		x := archsimd.LoadFloat32x16Array(d)
		// exp(-x)
		x = x.Neg().Min(hi).Max(lo)
		n := x.Mul(log2e).RoundScaled(0)
		r := n.MulAdd(c1, x)
		r = n.MulAdd(c2, r)
		p := p0.MulAdd(r, p1)
		p = p.MulAdd(r, p2)
		p = p.MulAdd(r, p3)
		p = p.MulAdd(r, p4)
		p = p.MulAdd(r, p5)
		p = p.MulAdd(r.Mul(r), r).Add(one)
		e := p.Scale(n)
		one.Div(one.Add(e)).StoreArray(d)
	}
	i := 0
	for ; i+lanes <= len(v); i += lanes {
		one16((*[16]float32)(v[i : i+lanes]))
	}
	if i < len(v) {
		// The same arithmetic for the tail, so that a value does not
		// depend on where it lies in v.
		var t [16]float32
		n := copy(t[:], v[i:])
		one16(&t)
		copy(v[i:], t[:n])
	}
}

// winoInputSIMD transforms the 4x4 patch at x (rows rs floats apart,
// pixels cp apart) of the first cin channels (rounded up to 16) into v
// (position xi at xi*stride): V = B^T d B. Written out so that the 16
// vectors stay in registers.
func winoInputSIMD(x []float32, rs, cp, cin int, v []float32, stride int) {
	px := unsafe.Pointer(unsafe.SliceData(x))
	pv := unsafe.Pointer(unsafe.SliceData(v))
	_ = x[3*rs+3*cp+roundUp(cin)-1]
	_ = v[15*stride+roundUp(cin)-1]
	rb, cb, sb := uintptr(rs*4), uintptr(cp*4), uintptr(stride*4)
	for c := 0; c < cin; c += lanes {
		r0 := unsafe.Add(px, c*4)
		r1 := unsafe.Add(r0, rb)
		r2 := unsafe.Add(r1, rb)
		r3 := unsafe.Add(r2, rb)
		// Rows of B^T d, column j: t0 = d0 - d2, t1 = d1 + d2,
		// t2 = d2 - d1, t3 = d1 - d3.
		var t [4][4]archsimd.Float32x16
		for j := uintptr(0); j < 4; j++ {
			d0, d1 := vec(unsafe.Add(r0, j*cb)), vec(unsafe.Add(r1, j*cb))
			d2, d3 := vec(unsafe.Add(r2, j*cb)), vec(unsafe.Add(r3, j*cb))
			t[0][j] = d0.Sub(d2)
			t[1][j] = d1.Add(d2)
			t[2][j] = d2.Sub(d1)
			t[3][j] = d1.Sub(d3)
		}
		o := unsafe.Add(pv, c*4)
		for i := range 4 {
			a, b, cc, d := t[i][0], t[i][1], t[i][2], t[i][3]
			a.Sub(cc).StoreArray((*[16]float32)(o))
			b.Add(cc).StoreArray((*[16]float32)(unsafe.Add(o, sb)))
			cc.Sub(b).StoreArray((*[16]float32)(unsafe.Add(o, 2*sb)))
			b.Sub(d).StoreArray((*[16]float32)(unsafe.Add(o, 3*sb)))
			o = unsafe.Add(o, 4*sb)
		}
	}
}

// winoOutputSIMD is the output transform of one tile: Y = A^T m A, plus
// bias and residual, activated.
func winoOutputSIMD(o *winoOut, withRes bool) {
	pm := unsafe.Pointer(unsafe.SliceData(o.m))
	pb := unsafe.Pointer(unsafe.SliceData(o.bias))
	_ = o.m[15*o.mStride+o.cp-1]
	ms := uintptr(o.mStride * 4)
	for c := 0; c < o.width; c += lanes {
		// Columns of A^T m: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 (rows
		// of m are positions xi = 4i+j).
		p := unsafe.Add(pm, c*4)
		var s0, s1 [4]archsimd.Float32x16
		for j := uintptr(0); j < 4; j++ {
			m0, m1 := vec(unsafe.Add(p, j*ms)), vec(unsafe.Add(p, (4+j)*ms))
			m2, m3 := vec(unsafe.Add(p, (8+j)*ms)), vec(unsafe.Add(p, (12+j)*ms))
			s0[j] = m0.Add(m1).Add(m2)
			s1[j] = m1.Sub(m2).Sub(m3)
		}
		bias := vec(unsafe.Add(pb, c*4))
		y00 := s0[0].Add(s0[1]).Add(s0[2]).Add(bias)
		y01 := s0[1].Sub(s0[2]).Sub(s0[3]).Add(bias)
		y10 := s1[0].Add(s1[1]).Add(s1[2]).Add(bias)
		y11 := s1[1].Sub(s1[2]).Sub(s1[3]).Add(bias)
		mask := archsimd.Mask32x16FromBits(0xffff)
		if left := o.width - c; left < lanes {
			mask = archsimd.Mask32x16FromBits(uint16(1)<<left - 1)
		}
		off := uintptr(c * 4)
		store := func(v archsimd.Float32x16, k int) {
			if withRes {
				v = v.Add(vec(unsafe.Add(o.res[k], off)))
			}
			act16(v, o.act).StoreArrayMasked((*[16]float32)(unsafe.Add(o.out[k], off)), mask)
		}
		store(y00, 0)
		if o.nx > 1 {
			store(y01, 1)
		}
		if o.ny > 1 {
			store(y10, 2)
			if o.nx > 1 {
				store(y11, 3)
			}
		}
	}
}

// winoInput4SIMD is winoInputSIMD for F(4x4, 3x3): 6x6 patches, 36
// positions, V = B^T d B (B^T applied to the columns, then to the rows).
func winoInput4SIMD(x []float32, rs, cp, cin int, v []float32, stride int) {
	px := unsafe.Pointer(unsafe.SliceData(x))
	pv := unsafe.Pointer(unsafe.SliceData(v))
	_ = x[5*rs+5*cp+roundUp(cin)-1]
	_ = v[35*stride+roundUp(cin)-1]
	rb, cb, sb := uintptr(rs*4), uintptr(cp*4), uintptr(stride*4)
	two := archsimd.BroadcastFloat32x16(2)
	four := archsimd.BroadcastFloat32x16(4)
	m4 := archsimd.BroadcastFloat32x16(-4)
	m5 := archsimd.BroadcastFloat32x16(-5)
	var t [6][6]archsimd.Float32x16
	for c := 0; c < cin; c += lanes {
		base := unsafe.Add(px, c*4)
		for j := uintptr(0); j < 6; j++ {
			col := unsafe.Add(base, j*cb)
			d0, d1, d2 := vec(col), vec(unsafe.Add(col, rb)), vec(unsafe.Add(col, 2*rb))
			d3, d4, d5 := vec(unsafe.Add(col, 3*rb)), vec(unsafe.Add(col, 4*rb)), vec(unsafe.Add(col, 5*rb))
			p1, q1 := d2.MulAdd(m4, d4), d1.MulAdd(m4, d3)
			p2, q2 := d4.Sub(d2), d3.Sub(d1).Mul(two)
			t[0][j] = d0.MulAdd(four, d2.MulAdd(m5, d4))
			t[1][j] = p1.Add(q1)
			t[2][j] = p1.Sub(q1)
			t[3][j] = p2.Add(q2)
			t[4][j] = p2.Sub(q2)
			t[5][j] = d1.MulAdd(four, d3.MulAdd(m5, d5))
		}
		o := unsafe.Add(pv, c*4)
		for i := range 6 {
			d0, d1, d2, d3, d4, d5 := t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5]
			p1, q1 := d2.MulAdd(m4, d4), d1.MulAdd(m4, d3)
			p2, q2 := d4.Sub(d2), d3.Sub(d1).Mul(two)
			d0.MulAdd(four, d2.MulAdd(m5, d4)).StoreArray((*[16]float32)(o))
			p1.Add(q1).StoreArray((*[16]float32)(unsafe.Add(o, sb)))
			p1.Sub(q1).StoreArray((*[16]float32)(unsafe.Add(o, 2*sb)))
			p2.Add(q2).StoreArray((*[16]float32)(unsafe.Add(o, 3*sb)))
			p2.Sub(q2).StoreArray((*[16]float32)(unsafe.Add(o, 4*sb)))
			d1.MulAdd(four, d3.MulAdd(m5, d5)).StoreArray((*[16]float32)(unsafe.Add(o, 5*sb)))
			o = unsafe.Add(o, 6*sb)
		}
	}
}

// winoOutput4SIMD is the output transform of one F(4x4, 3x3) tile:
// Y = A^T m A, plus bias and residual, activated.
func winoOutput4SIMD(o *winoOut, withRes bool) {
	pm := unsafe.Pointer(unsafe.SliceData(o.m))
	pb := unsafe.Pointer(unsafe.SliceData(o.bias))
	_ = o.m[35*o.mStride+o.cp-1]
	ms := uintptr(o.mStride * 4)
	two := archsimd.BroadcastFloat32x16(2)
	four := archsimd.BroadcastFloat32x16(4)
	eight := archsimd.BroadcastFloat32x16(8)
	var t [4][6]archsimd.Float32x16
	for c := 0; c < o.width; c += lanes {
		p := unsafe.Add(pm, c*4)
		for j := uintptr(0); j < 6; j++ {
			m0, m1, m2 := vec(unsafe.Add(p, j*ms)), vec(unsafe.Add(p, (6+j)*ms)), vec(unsafe.Add(p, (12+j)*ms))
			m3, m4, m5 := vec(unsafe.Add(p, (18+j)*ms)), vec(unsafe.Add(p, (24+j)*ms)), vec(unsafe.Add(p, (30+j)*ms))
			a, b, cc, d := m1.Add(m2), m1.Sub(m2), m3.Add(m4), m3.Sub(m4)
			t[0][j] = m0.Add(a).Add(cc)
			t[1][j] = d.MulAdd(two, b)
			t[2][j] = cc.MulAdd(four, a)
			t[3][j] = d.MulAdd(eight, b).Add(m5)
		}
		bias := vec(unsafe.Add(pb, c*4))
		mask := archsimd.Mask32x16FromBits(0xffff)
		if left := o.width - c; left < lanes {
			mask = archsimd.Mask32x16FromBits(uint16(1)<<left - 1)
		}
		off := uintptr(c * 4)
		for dy := range o.ny {
			m0, m1, m2, m3, m4, m5 := t[dy][0], t[dy][1], t[dy][2], t[dy][3], t[dy][4], t[dy][5]
			a, b, cc, d := m1.Add(m2), m1.Sub(m2), m3.Add(m4), m3.Sub(m4)
			y := [4]archsimd.Float32x16{
				m0.Add(a).Add(cc).Add(bias),
				d.MulAdd(two, b).Add(bias),
				cc.MulAdd(four, a).Add(bias),
				d.MulAdd(eight, b).Add(m5).Add(bias),
			}
			for dx := range o.nx {
				k := dy*4 + dx
				v := y[dx]
				if withRes {
					v = v.Add(vec(unsafe.Add(o.res[k], off)))
				}
				act16(v, o.act).StoreArrayMasked((*[16]float32)(unsafe.Add(o.out[k], off)), mask)
			}
		}
	}
}
