package engine

import (
	"unsafe"
)

// Winograd convolution for 3x3 stride-1 layers (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016): each m x m block of
// outputs ("tile") comes from its (m+2) x (m+2) input patch d as
// Y = A^T [(G g G^T) . (B^T d B)] A. F(2x2, 3x3) (m = 2) needs 16 products
// per tile and channel pair where a direct convolution needs 36; F(4x4,
// 3x3) (m = 4) needs 36 where it needs 144. The input patches are
// transformed (V = B^T d B), the products summed over the input channels
// are (m+2)^2 matrix products V[xi] x U[xi] with the tiles as rows (the
// convolution tiles with one tap), and the output transform adds the bias
// and the residual and applies the activation as it stores. The
// transformed weights U = G g G^T are computed once, in float64.
//
// F(2x2, 3x3) only adds and subtracts (and halves in G): its rounding is
// that of a direct convolution summed in another order. F(4x4, 3x3)
// multiplies by up to 8 in A and 5 in B, which amplifies rounding by about
// ten: it serves the wide layers (winoF4Channels input channels or more),
// where it saves most.

const (
	// winoMinChannels is the fewest input channels for which a 3x3 stride-1
	// convolution uses Winograd (fewer: the products are too short to pay
	// for the transforms).
	winoMinChannels = 32
	// winoF4Channels is the fewest input channels for F(4x4, 3x3).
	winoF4Channels = 128
	// winoTilesPerTask is about the number of tiles one task transforms and
	// multiplies at once (rows of tiles are grouped up to it): more tiles
	// per pass read the transformed weights fewer times.
	winoTilesPerTask = 64
)

// winoTileSize returns the tile size m of a convolution's Winograd form (0:
// computed directly).
func winoTileSize(k, stride, cin int, opts Options) int {
	switch {
	case opts.NoWinograd || k != 3 || stride != 1 || cin < winoMinChannels:
		return 0
	case cin >= winoF4Channels && !opts.WinogradF2:
		return 4
	}
	return 2
}

// winoG is G for each tile size: U = G g G^T.
var winoG = map[int][][3]float64{
	2: {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
	4: {
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	},
}

// packWinograd computes U = G g G^T of the folded weights wf
// [3][3][cin][cout] for tile size m and packs it per position xi and block:
// [xi][block][cin][nv*16].
func (l *layer) packWinograd(wf []float64, cin, cout, m int) {
	g := winoG[m]
	alpha := m + 2
	per := cin * l.coutP
	l.winoM = m
	l.wino = make([]float32, alpha*alpha*per, alpha*alpha*per+slack)
	l.winoStride = per
	tmp := make([][3]float64, alpha)
	u := make([]float64, alpha*alpha)
	for c := range cin {
		for co := range cout {
			// tmp = G w (alpha x 3), u = tmp G^T (alpha x alpha).
			for i := range alpha {
				for j := range 3 {
					var s float64
					for k := range 3 {
						s += g[i][k] * wf[((k*3+j)*cin+c)*cout+co]
					}
					tmp[i][j] = s
				}
			}
			for i := range alpha {
				for j := range alpha {
					var s float64
					for k := range 3 {
						s += tmp[i][k] * g[j][k]
					}
					u[i*alpha+j] = s
				}
			}
			for _, bl := range l.blocks {
				if co < bl.v0*lanes || co >= (bl.v0+bl.nv)*lanes {
					continue
				}
				width := bl.nv * lanes
				for xi, v := range u {
					l.wino[xi*per+bl.woff+c*width+co-bl.v0*lanes] = float32(v)
				}
			}
		}
	}
}

// winoStep runs a 3x3 stride-1 convolution in Winograd form.
type winoStep struct {
	*convStep
	m, alpha, xi   int // tile size, patch size, positions (alpha^2)
	tilesH, tilesW int // tiles per column and row
	band           int // tile rows per task
}

// newWinoStep wraps a planned convolution.
func newWinoStep(s *convStep) *winoStep {
	m := s.l.winoM
	w := &winoStep{convStep: s, m: m, alpha: m + 2, xi: (m + 2) * (m + 2), tilesH: (s.ho + m - 1) / m, tilesW: (s.wo + m - 1) / m}
	w.band = max(1, min(w.tilesH, winoTilesPerTask/w.tilesW))
	return w
}

// scratch returns the floats of one task's transformed inputs and products.
func (s *winoStep) scratch() int {
	n := s.band * s.tilesW
	return s.xi * n * (roundUp(s.l.op.In) + s.l.coutP)
}

// run computes every band of tile rows of every image.
func (s *winoStep) run(r *runner) {
	bands := (s.tilesH + s.band - 1) / s.band
	need := s.scratch()
	r.parallelWorkers(r.b*bands, func(worker, i int) {
		buf := r.ws.scratch(worker, need)
		s.runBand(r, buf, r.b0+i/bands, (i%bands)*s.band)
	})
}

// runBand computes tile rows ty0 .. ty0+band-1 of image b.
func (s *winoStep) runBand(r *runner, buf []float32, b, ty0 int) {
	l := s.l
	m := s.m
	in := &r.p.tensors[s.in]
	inBuf := r.ws.bufs[s.in]
	rows := min(s.band, s.tilesH-ty0)
	nt := rows * s.tilesW
	cinP := roundUp(l.op.In)
	coutP := l.coutP
	vBuf := buf[:s.xi*nt*cinP]
	mBuf := buf[s.xi*nt*cinP:][:s.xi*nt*coutP]
	// Input transform: V[xi][t][c].
	for tr := range rows {
		ty := ty0 + tr
		for tx := range s.tilesW {
			t := tr*s.tilesW + tx
			src := inBuf[in.at(b, m*ty-s.padT, m*tx-s.padL):]
			v := vBuf[t*cinP:]
			switch {
			case m == 4 && r.simd:
				winoInput4SIMD(src, in.rowStride(), in.cp, l.op.In, v, nt*cinP)
			case m == 4:
				winoInput4Go(src, in.rowStride(), in.cp, l.op.In, v, nt*cinP)
			case r.simd:
				winoInputSIMD(src, in.rowStride(), in.cp, l.op.In, v, nt*cinP)
			default:
				winoInputGo(src, in.rowStride(), in.cp, l.op.In, v, nt*cinP)
			}
		}
	}
	// Products: M[xi] = V[xi] x U[xi].
	a := tileArgs{offs: []uintptr{0}, ntap: 1, cin: l.op.In, xs: uintptr(cinP * 4), os: uintptr(coutP * 4), mask: 0xffff}
	a.bias = unsafe.Pointer(&r.ws.zero[0])
	for xi := range s.xi {
		v := vBuf[xi*nt*cinP:]
		mm := mBuf[xi*nt*coutP:]
		u := l.wino[xi*l.winoStride:]
		for _, bl := range l.blocks {
			a.w = unsafe.Pointer(&u[bl.woff])
			mr := maxMR[bl.nv]
			for t := 0; t < nt; t += mr {
				n := min(mr, nt-t)
				a.x = unsafe.Pointer(&v[t*cinP])
				a.out = unsafe.Pointer(&mm[t*coutP+bl.v0*lanes])
				if r.simd {
					simdTile(&a, n, bl.nv)
				} else {
					tileGo(&a, n, bl.nv)
				}
			}
		}
	}
	// Output transform with bias, residual and activation.
	var oBuf, resBuf []float32
	var rt, ot *tensor
	if s.res >= 0 {
		rt = &r.p.tensors[s.res]
		resBuf = r.ws.bufs[s.res]
	}
	per := 0
	if s.dst != nil {
		per, oBuf = 4, r.box
		if s.dst.cls {
			per, oBuf = r.e.arch.NumClasses, r.cls
		}
	} else {
		ot = &r.p.tensors[s.out]
		oBuf = r.ws.bufs[s.out]
	}
	o := winoOut{act: s.act, bias: l.bias, cp: coutP, width: coutP, mStride: nt * coutP}
	if s.dst != nil {
		o.width = l.cout
	}
	for tr := range rows {
		ty := ty0 + tr
		for tx := range s.tilesW {
			t := tr*s.tilesW + tx
			o.ny, o.nx = min(m, s.ho-m*ty), min(m, s.wo-m*tx)
			for dy := range o.ny {
				for dx := range o.nx {
					oy, ox := m*ty+dy, m*tx+dx
					var idx int
					if s.dst != nil {
						idx = b*r.p.anchors*per + s.dst.base + (oy*s.wo+ox)*s.dst.pix
					} else {
						idx = ot.at(b, oy, ox)
					}
					o.out[dy*m+dx] = unsafe.Pointer(&oBuf[idx])
					if rt != nil {
						o.res[dy*m+dx] = unsafe.Pointer(&resBuf[rt.at(b, oy, ox)])
					}
				}
			}
			o.m = mBuf[t*coutP:]
			switch {
			case m == 4 && r.simd:
				winoOutput4SIMD(&o, rt != nil)
			case m == 4:
				winoOutput4Go(&o, rt != nil)
			case r.simd:
				winoOutputSIMD(&o, rt != nil)
			default:
				winoOutputGo(&o, rt != nil)
			}
		}
	}
	if r.simd {
		clearUpper()
	}
}

// winoOut describes one tile's output transform.
type winoOut struct {
	m       []float32 // M[0][t] (M[xi][t] at xi*mStride)
	mStride int
	bias    []float32
	out     [16]unsafe.Pointer // the output pixels (dy*m+dx) that exist
	res     [16]unsafe.Pointer // their residuals (when used)
	ny, nx  int
	cp      int // channels of M, a multiple of 16
	width   int // channels stored (the output's; the last vector masked)
	act     int
}

// store writes value v of channel c of pixel k (dy*m+dx).
func (o *winoOut) store(k, c int, v float32, withRes bool) {
	v += o.bias[c]
	if withRes {
		v += *(*float32)(unsafe.Add(o.res[k], c*4))
	}
	*(*float32)(unsafe.Add(o.out[k], c*4)) = activate(v, o.act)
}

// winoInputGo transforms the 4x4 patch at x (rows rs floats apart, pixels
// cp apart) of the first cin channels into v (position xi at xi*stride):
// V = B^T d B for F(2x2, 3x3).
func winoInputGo(x []float32, rs, cp, cin int, v []float32, stride int) {
	var d, t [4][4]float32
	for c := range cin {
		for i := range 4 {
			for j := range 4 {
				d[i][j] = x[i*rs+j*cp+c]
			}
		}
		for j := range 4 {
			t[0][j] = d[0][j] - d[2][j]
			t[1][j] = d[1][j] + d[2][j]
			t[2][j] = d[2][j] - d[1][j]
			t[3][j] = d[1][j] - d[3][j]
		}
		for i := range 4 {
			v[(i*4+0)*stride+c] = t[i][0] - t[i][2]
			v[(i*4+1)*stride+c] = t[i][1] + t[i][2]
			v[(i*4+2)*stride+c] = t[i][2] - t[i][1]
			v[(i*4+3)*stride+c] = t[i][1] - t[i][3]
		}
	}
}

// winoOutputGo is the output transform of one F(2x2, 3x3) tile.
func winoOutputGo(o *winoOut, withRes bool) {
	for c := range o.width {
		var mm [4][4]float32
		for xi := range 16 {
			mm[xi/4][xi%4] = o.m[xi*o.mStride+c]
		}
		var t [2][4]float32
		for j := range 4 {
			t[0][j] = mm[0][j] + mm[1][j] + mm[2][j]
			t[1][j] = mm[1][j] - mm[2][j] - mm[3][j]
		}
		for dy := range o.ny {
			y := [2]float32{t[dy][0] + t[dy][1] + t[dy][2], t[dy][1] - t[dy][2] - t[dy][3]}
			for dx := range o.nx {
				o.store(dy*2+dx, c, y[dx], withRes)
			}
		}
	}
}

// bt4 is B^T of F(4x4, 3x3) applied to six values.
func bt4(d0, d1, d2, d3, d4, d5 float32) (t0, t1, t2, t3, t4, t5 float32) {
	p1, q1 := d4-4*d2, d3-4*d1
	p2, q2 := d4-d2, 2*(d3-d1)
	return 4*d0 - 5*d2 + d4, p1 + q1, p1 - q1, p2 + q2, p2 - q2, 4*d1 - 5*d3 + d5
}

// at4 is A^T of F(4x4, 3x3) applied to six values.
func at4(m0, m1, m2, m3, m4, m5 float32) (y0, y1, y2, y3 float32) {
	a, b, c, d := m1+m2, m1-m2, m3+m4, m3-m4
	return m0 + a + c, b + 2*d, a + 4*c, b + 8*d + m5
}

// winoInput4Go is winoInputGo for F(4x4, 3x3) (6x6 patches, 36 positions).
func winoInput4Go(x []float32, rs, cp, cin int, v []float32, stride int) {
	var d, t [6][6]float32
	for c := range cin {
		for i := range 6 {
			for j := range 6 {
				d[i][j] = x[i*rs+j*cp+c]
			}
		}
		for j := range 6 {
			t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j] = bt4(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j])
		}
		for i := range 6 {
			var r [6]float32
			r[0], r[1], r[2], r[3], r[4], r[5] = bt4(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5])
			for j, val := range r {
				v[(i*6+j)*stride+c] = val
			}
		}
	}
}

// winoOutput4Go is the output transform of one F(4x4, 3x3) tile.
func winoOutput4Go(o *winoOut, withRes bool) {
	for c := range o.width {
		var mm [6][6]float32
		for xi := range 36 {
			mm[xi/6][xi%6] = o.m[xi*o.mStride+c]
		}
		var t [4][6]float32
		for j := range 6 {
			t[0][j], t[1][j], t[2][j], t[3][j] = at4(mm[0][j], mm[1][j], mm[2][j], mm[3][j], mm[4][j], mm[5][j])
		}
		for dy := range o.ny {
			var y [4]float32
			y[0], y[1], y[2], y[3] = at4(t[dy][0], t[dy][1], t[dy][2], t[dy][3], t[dy][4], t[dy][5])
			for dx := range o.nx {
				o.store(dy*4+dx, c, y[dx], withRes)
			}
		}
	}
}
