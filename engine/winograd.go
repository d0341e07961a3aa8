package engine

import (
	"unsafe"
)

// Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2
// block of outputs ("tile") comes from its 4x4 input patch d as
// Y = A^T [(G g G^T) . (B^T d B)] A, so that the 16 products per tile and
// channel pair replace 36 multiply-adds. The input patches are transformed
// (V = B^T d B, additions only), the 16 elementwise products summed over
// the input channels are 16 matrix products V[xi] x U[xi] (the tiles as
// rows: the convolution tiles with one tap), and the output transform
// (additions only) adds the bias and the residual and applies the
// activation as it stores. The transformed weights U = G g G^T are computed
// once, in float64. The coefficients are 0, +-1 and 1/2 (exact in binary),
// so the rounding is that of a direct convolution's order of sums.

const (
	// winoXi is the number of transformed positions (4 x 4).
	winoXi = 16
	// winoMinChannels is the fewest input channels for which a 3x3 stride-1
	// convolution uses Winograd (fewer: the products are too short to pay
	// for the transforms).
	winoMinChannels = 32
	// winoTilesPerTask is about the number of tiles one task transforms and
	// multiplies at once (rows of tiles are grouped up to it): more tiles
	// per pass read the transformed weights fewer times.
	winoTilesPerTask = 64
)

// winoEligible reports whether a convolution runs as Winograd.
func winoEligible(k, stride, cin int) bool {
	return k == 3 && stride == 1 && cin >= winoMinChannels
}

// packWinograd computes U = G g G^T of the folded weights wf [3][3][cin][cout]
// and packs it per position xi and block: [xi][block][cin][nv*16].
func (l *layer) packWinograd(wf []float64, cin, cout int) {
	g := [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	per := cin * l.coutP
	l.wino = make([]float32, winoXi*per, winoXi*per+slack)
	l.winoStride = per
	var tmp [4][3]float64
	var u [4][4]float64
	for c := range cin {
		for co := range cout {
			// tmp = G w (4x3), u = tmp G^T (4x4).
			for i := range 4 {
				for j := range 3 {
					var s float64
					for k := range 3 {
						s += g[i][k] * wf[((k*3+j)*cin+c)*cout+co]
					}
					tmp[i][j] = s
				}
			}
			for i := range 4 {
				for j := range 4 {
					var s float64
					for k := range 3 {
						s += tmp[i][k] * g[j][k]
					}
					u[i][j] = s
				}
			}
			for _, bl := range l.blocks {
				if co < bl.v0*lanes || co >= (bl.v0+bl.nv)*lanes {
					continue
				}
				width := bl.nv * lanes
				for xi := range winoXi {
					l.wino[xi*per+bl.woff+c*width+co-bl.v0*lanes] = float32(u[xi/4][xi%4])
				}
			}
		}
	}
}

// winoStep runs a 3x3 stride-1 convolution as Winograd F(2x2, 3x3).
type winoStep struct {
	*convStep
	tilesH, tilesW int // tiles per column and row
	band           int // tile rows per task
}

// newWinoStep wraps a planned convolution.
func newWinoStep(s *convStep) *winoStep {
	w := &winoStep{convStep: s, tilesH: (s.ho + 1) / 2, tilesW: (s.wo + 1) / 2}
	w.band = max(1, min(w.tilesH, winoTilesPerTask/w.tilesW))
	return w
}

// scratch returns the floats of one task's transformed inputs and products.
func (s *winoStep) scratch() int {
	n := s.band * s.tilesW
	return winoXi * n * (roundUp(s.l.op.In) + s.l.coutP)
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
	in := &r.p.tensors[s.in]
	inBuf := r.ws.bufs[s.in]
	rows := min(s.band, s.tilesH-ty0)
	nt := rows * s.tilesW
	cinP := roundUp(l.op.In)
	coutP := l.coutP
	vBuf := buf[:winoXi*nt*cinP]
	mBuf := buf[winoXi*nt*cinP:][:winoXi*nt*coutP]
	// Input transform: V[xi][t][c].
	for tr := range rows {
		ty := ty0 + tr
		for tx := range s.tilesW {
			t := tr*s.tilesW + tx
			src := in.at(b, 2*ty-s.padT, 2*tx-s.padL)
			if r.simd {
				winoInputSIMD(inBuf[src:], in.rowStride(), in.cp, l.op.In, vBuf[t*cinP:], nt*cinP)
			} else {
				winoInputGo(inBuf[src:], in.rowStride(), in.cp, l.op.In, vBuf[t*cinP:], nt*cinP)
			}
		}
	}
	// Products: M[xi] = V[xi] x U[xi].
	a := tileArgs{offs: []uintptr{0}, ntap: 1, cin: l.op.In, xs: uintptr(cinP * 4), os: uintptr(coutP * 4), mask: 0xffff}
	zero := r.ws.zero
	a.bias = unsafe.Pointer(&zero[0])
	for xi := range winoXi {
		v := vBuf[xi*nt*cinP:]
		m := mBuf[xi*nt*coutP:]
		u := l.wino[xi*l.winoStride:]
		for _, bl := range l.blocks {
			a.w = unsafe.Pointer(&u[bl.woff])
			mr := maxMR[bl.nv]
			for t := 0; t < nt; t += mr {
				n := min(mr, nt-t)
				a.x = unsafe.Pointer(&v[t*cinP])
				a.out = unsafe.Pointer(&m[t*coutP+bl.v0*lanes])
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
	var rt *tensor
	if s.res >= 0 {
		rt = &r.p.tensors[s.res]
		resBuf = r.ws.bufs[s.res]
	}
	var ot *tensor
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
	var o winoOut
	o.act = s.act
	o.bias = l.bias
	o.cp = coutP
	o.width = coutP
	if s.dst != nil {
		o.width = l.cout
	}
	for tr := range rows {
		ty := ty0 + tr
		for tx := range s.tilesW {
			t := tr*s.tilesW + tx
			o.ny, o.nx = min(2, s.ho-2*ty), min(2, s.wo-2*tx)
			for dy := range o.ny {
				for dx := range o.nx {
					oy, ox := 2*ty+dy, 2*tx+dx
					var idx int
					if s.dst != nil {
						idx = b*r.p.anchors*per + s.dst.base + (oy*s.wo+ox)*s.dst.pix
					} else {
						idx = ot.at(b, oy, ox)
					}
					o.out[dy*2+dx] = unsafe.Pointer(&oBuf[idx])
					if rt != nil {
						o.res[dy*2+dx] = unsafe.Pointer(&resBuf[rt.at(b, oy, ox)])
					}
				}
			}
			o.m = mBuf[t*coutP:]
			o.mStride = nt * coutP
			if r.simd {
				winoOutputSIMD(&o, rt != nil)
			} else {
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
	out     [4]unsafe.Pointer // the output pixels (dy*2+dx) that exist
	res     [4]unsafe.Pointer // their residuals (when used)
	ny, nx  int
	cp      int // channels of M, a multiple of 16
	width   int // channels stored (the output's; the last vector masked)
	act     int
}

// winoInputGo transforms the 4x4 patch at x (rows rs floats apart, pixels
// cp apart) of the first cin channels into v (position xi at xi*stride).
func winoInputGo(x []float32, rs, cp, cin int, v []float32, stride int) {
	var d [4][4]float32
	for c := range cin {
		for i := range 4 {
			for j := range 4 {
				d[i][j] = x[i*rs+j*cp+c]
			}
		}
		var t [4][4]float32
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

// winoOutputGo is the output transform of one tile.
func winoOutputGo(o *winoOut, withRes bool) {
	for c := range o.width {
		var m [4][4]float32
		for xi := range winoXi {
			m[xi/4][xi%4] = o.m[xi*o.mStride+c]
		}
		var t [2][4]float32
		for j := range 4 {
			t[0][j] = m[0][j] + m[1][j] + m[2][j]
			t[1][j] = m[1][j] - m[2][j] - m[3][j]
		}
		for dy := range o.ny {
			y := [2]float32{t[dy][0] + t[dy][1] + t[dy][2], t[dy][1] - t[dy][2] - t[dy][3]}
			for dx := range o.nx {
				v := y[dx] + o.bias[c]
				if withRes {
					v += *(*float32)(unsafe.Add(o.res[dy*2+dx], c*4))
				}
				*(*float32)(unsafe.Add(o.out[dy*2+dx], c*4)) = activate(v, o.act)
			}
		}
	}
}
