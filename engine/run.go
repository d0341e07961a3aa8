package engine

import (
	"math"
	"sync"
	"sync/atomic"
	"unsafe"
)

// gnChunks is the number of row ranges per image whose group-norm sums are
// gathered in parallel.
const gnChunks = 4

// workspace holds every buffer of a plan for up to capacity images.
type workspace struct {
	p        *plan
	capacity int
	bufs     [][]float32 // per tensor, zeroed borders
	gn       []float64   // group-norm partial sums
	coef     []float32   // group-norm scale and shift per image and channel
	coefImg  int         // floats of coef per image
	zero     []float32   // zeros (a bias of nothing)
	mu       sync.Mutex  // guards perWorker
	perWork  [][]float32 // scratch of each worker
}

// scratch returns worker's scratch buffer of at least n floats.
func (ws *workspace) scratch(worker, n int) []float32 {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for len(ws.perWork) <= worker {
		ws.perWork = append(ws.perWork, nil)
	}
	if cap(ws.perWork[worker]) < n+slack {
		ws.perWork[worker] = make([]float32, n, n+slack)
	}
	return ws.perWork[worker][:n]
}

// newWorkspace allocates the buffers of p for b images.
func newWorkspace(p *plan, b int) *workspace {
	ws := &workspace{p: p, capacity: b}
	slots := make([][]float32, len(p.slotSize))
	for i, size := range p.slotSize {
		slots[i] = make([]float32, b*size, b*size+slack)
	}
	ws.bufs = make([][]float32, len(p.tensors))
	maxCP := 0
	for i, t := range p.tensors {
		ws.bufs[i] = slots[p.slotOf[i]]
		maxCP = max(maxCP, t.cp)
	}
	ws.gn = make([]float64, b*p.gnScratch)
	ws.coefImg = 2 * maxCP
	ws.coef = make([]float32, b*ws.coefImg+slack)
	ws.zero = make([]float32, 3*lanes+slack)
	return ws
}

// runner carries the state of one Forward call.
type runner struct {
	e        *Engine
	p        *plan
	ws       *workspace
	b0, b    int // images b0 .. b0+b-1 of the batch
	threads  int
	worker0  int // index of the runner's first worker (scratch buffers)
	simd     bool
	cls, box []float32
}

// parallel calls fn(0..n-1) on up to r.threads goroutines (the caller's
// included), each taking the next index when done with one.
func (r *runner) parallel(n int, fn func(i int)) {
	t := min(r.threads, n)
	if t <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			fn(i)
		}
	}
	var wg sync.WaitGroup
	for range t - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// forward runs every step on the runner's images.
func (r *runner) forward(images []float32) {
	r.loadImages(images)
	for i, s := range r.p.steps {
		for _, t := range r.p.fresh[i] {
			clearBorder(&r.p.tensors[t], r.ws.bufs[t], r.b0, r.b)
		}
		s.run(r)
	}
}

// parallelWorkers is parallel with the index of the goroutine (0 ..
// r.threads-1) that runs each call.
func (r *runner) parallelWorkers(n int, fn func(worker, i int)) {
	t := min(r.threads, n)
	if t <= 1 {
		for i := range n {
			fn(r.worker0, i)
		}
		return
	}
	var next atomic.Int64
	work := func(worker int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			fn(r.worker0+worker, i)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < t; w++ {
		wg.Go(func() { work(w) })
	}
	work(0)
	wg.Wait()
}

// loadImages copies the images into the input tensor's interior.
func (r *runner) loadImages(images []float32) {
	t := &r.p.tensors[0]
	buf := r.ws.bufs[0]
	if r.p.fresh0 {
		clearBorder(t, buf, r.b0, r.b)
	}
	row := t.w * 3
	r.parallel(r.b*t.h, func(i int) {
		b, y := r.b0+i/t.h, i%t.h
		copy(buf[t.at(b, y, 0):][:row], images[(b*t.h+y)*row:][:row])
	})
}

// sigmoid turns the logits v into probabilities.
func (r *runner) sigmoid(v []float32) {
	const chunk = 1 << 14
	n := (len(v) + chunk - 1) / chunk
	r.parallel(n, func(i int) {
		part := v[i*chunk : min((i+1)*chunk, len(v))]
		if r.simd {
			sigmoidSIMD(part)
		} else {
			sigmoidGo(part)
		}
	})
}

// sigmoidGo is the logistic function in float64.
func sigmoidGo(v []float32) {
	for i, x := range v {
		v[i] = float32(1 / (1 + math.Exp(-float64(x))))
	}
}

// convStep runs convolution l on tensor in into tensor out or the output
// array dst, adding tensor res (when >= 0) before the activation.
type convStep struct {
	l          *layer
	in, out    int
	res        int
	act        int
	dst        *rawDest
	padT, padL int
	ho, wo     int
	offs       []uintptr // byte offset of each tap from the window's corner
}

// tileArgs are the arguments of a convolution tile: mr output pixels of
// one row times nv vectors of output channels.
type tileArgs struct {
	x    unsafe.Pointer // input at the first pixel's window corner
	xs   uintptr        // bytes between the windows of consecutive pixels
	offs []uintptr      // byte offset of each tap from the corner
	ntap int
	cin  int
	w    unsafe.Pointer // packed weights of the block [ntap][cin][nv*16]
	bias unsafe.Pointer // [nv*16]
	out  unsafe.Pointer // output of the first pixel
	os   uintptr        // bytes between output pixels
	res  unsafe.Pointer // residual of the first pixel, or nil
	rs   uintptr        // bytes between residual pixels
	act  int
	mask uint16 // lanes of the block's last vector that are stored
}

// prepare computes the tap offsets once the input's border is known.
func (s *convStep) prepare(p *plan) {
	in := &p.tensors[s.in]
	k := s.l.op.Kernel
	s.offs = s.offs[:0]
	for i := range k {
		for j := range k {
			s.offs = append(s.offs, uintptr((i*in.rowStride()+j*in.cp)*4))
		}
	}
}

// run computes every output row.
func (s *convStep) run(r *runner) {
	r.parallel(r.b*s.ho, func(i int) { s.row(r, r.b0+i/s.ho, i%s.ho) })
}

// row computes output row oy of image b.
func (s *convStep) row(r *runner, b, oy int) {
	l := s.l
	stride := l.op.Stride
	in := &r.p.tensors[s.in]
	inBuf := r.ws.bufs[s.in]
	a := tileArgs{offs: s.offs, ntap: len(s.offs), cin: l.op.In, xs: uintptr(stride * in.cp * 4), act: s.act}
	xBase := in.at(b, oy*stride-s.padT, -s.padL)
	var oBuf, resBuf []float32
	var oBase, opix, rBase, rpix int
	if s.dst != nil {
		per, buf := 4, r.box
		if s.dst.cls {
			per, buf = r.e.arch.NumClasses, r.cls
		}
		oBuf = buf
		oBase = b*r.p.anchors*per + s.dst.base + oy*s.wo*s.dst.pix
		opix = s.dst.pix
	} else {
		ot := &r.p.tensors[s.out]
		oBuf, oBase, opix = r.ws.bufs[s.out], ot.at(b, oy, 0), ot.cp
	}
	a.os = uintptr(opix * 4)
	if s.res >= 0 {
		rt := &r.p.tensors[s.res]
		resBuf, rBase, rpix = r.ws.bufs[s.res], rt.at(b, oy, 0), rt.cp
		a.rs = uintptr(rpix * 4)
	}
	for _, bl := range l.blocks {
		a.w = unsafe.Pointer(&l.w[bl.woff])
		a.bias = unsafe.Pointer(&l.bias[bl.v0*lanes])
		a.mask = 0xffff
		if s.dst != nil {
			if valid := l.cout - (bl.v0+bl.nv-1)*lanes; valid < lanes {
				a.mask = uint16(1)<<valid - 1
			}
		}
		mr := maxMR[bl.nv]
		for ox := 0; ox < s.wo; ox += mr {
			n := min(mr, s.wo-ox)
			a.x = unsafe.Pointer(&inBuf[xBase+ox*stride*in.cp])
			a.out = unsafe.Pointer(&oBuf[oBase+ox*opix+bl.v0*lanes])
			if resBuf != nil {
				a.res = unsafe.Pointer(&resBuf[rBase+ox*rpix+bl.v0*lanes])
			}
			if r.simd {
				simdTile(&a, n, bl.nv)
			} else {
				tileGo(&a, n, bl.nv)
			}
		}
	}
	if r.simd {
		clearUpper()
	}
}

// tileGo is the portable tile: the same computation as the AVX-512 tiles.
func tileGo(a *tileArgs, mr, nv int) {
	var acc [maxTileRows][3 * lanes]float32
	width := nv * lanes
	w := unsafe.Slice((*float32)(a.w), a.ntap*a.cin*width)
	for t := range a.ntap {
		for r := range mr {
			x := unsafe.Slice((*float32)(unsafe.Add(a.x, a.offs[t]+uintptr(r)*a.xs)), a.cin)
			acc := acc[r][:width]
			for c, xv := range x {
				wr := w[(t*a.cin+c)*width:][:width]
				for v, wv := range wr {
					acc[v] += xv * wv
				}
			}
		}
	}
	bias := unsafe.Slice((*float32)(a.bias), width)
	store := width - lanes + popcount16(a.mask)
	for r := range mr {
		out := unsafe.Slice((*float32)(unsafe.Add(a.out, uintptr(r)*a.os)), store)
		var res []float32
		if a.res != nil {
			res = unsafe.Slice((*float32)(unsafe.Add(a.res, uintptr(r)*a.rs)), store)
		}
		for v := range store {
			y := acc[r][v] + bias[v]
			if res != nil {
				y += res[v]
			}
			out[v] = activate(y, a.act)
		}
	}
}

// popcount16 counts the set bits of m.
func popcount16(m uint16) int {
	n := 0
	for ; m != 0; m &= m - 1 {
		n++
	}
	return n
}

// activate applies activation code act to y.
func activate(y float32, act int) float32 {
	switch act {
	case actReLU:
		return max(y, 0)
	case actReLU6:
		return min(max(y, 0), 6)
	}
	return y
}

// gnStep normalises tensor t in place with group-norm l, adds tensor res
// (when >= 0) and applies the activation.
type gnStep struct {
	l   *layer
	t   int
	res int
	act int
}

// run gathers the statistics per image and group, then applies them.
func (s *gnStep) run(r *runner) {
	t := &r.p.tensors[s.t]
	buf := r.ws.bufs[s.t]
	cp := t.cp
	part := r.ws.gn
	chunks := min(gnChunks, t.h)
	r.parallel(r.b*chunks, func(i int) {
		b, ch := r.b0+i/chunks, i%chunks
		// Each image has its own region (image groups run different
		// layers at once).
		sums := part[b*r.p.gnScratch+ch*2*cp:][:2*cp]
		clear(sums)
		for y := ch * t.h / chunks; y < (ch+1)*t.h/chunks; y++ {
			row := buf[t.at(b, y, 0):][:t.w*cp]
			if r.simd {
				rowSumsSIMD(row, cp, sums[:cp], sums[cp:])
			} else {
				rowSumsGo(row, cp, sums[:cp], sums[cp:])
			}
		}
	})
	l := s.l
	groups, per := l.gnGroups, l.cout/l.gnGroups
	n := float64(t.h * t.w * per)
	for b := r.b0; b < r.b0+r.b; b++ {
		a := r.ws.coef[b*r.ws.coefImg:][:cp]
		sh := r.ws.coef[b*r.ws.coefImg+cp:][:cp]
		for g := range groups {
			var sum, sq float64
			for ch := range chunks {
				sums := part[b*r.p.gnScratch+ch*2*cp:][:2*cp]
				for c := g * per; c < (g+1)*per; c++ {
					sum += sums[c]
					sq += sums[cp+c]
				}
			}
			mean := sum / n
			variance := max(sq/n-mean*mean, 0)
			inv := 1 / math.Sqrt(variance+l.gnEps)
			for c := g * per; c < (g+1)*per; c++ {
				f := float64(l.gnGamma[c]) * inv
				a[c] = float32(f)
				sh[c] = float32(float64(l.gnBeta[c]) - mean*f)
			}
		}
		for c := l.cout; c < cp; c++ {
			a[c], sh[c] = 0, 0
		}
	}
	var rt *tensor
	if s.res >= 0 {
		rt = &r.p.tensors[s.res]
	}
	r.parallel(r.b*t.h, func(i int) {
		b, y := r.b0+i/t.h, i%t.h
		row := buf[t.at(b, y, 0):][:t.w*cp]
		a := r.ws.coef[b*r.ws.coefImg:][:cp]
		sh := r.ws.coef[b*r.ws.coefImg+cp:][:cp]
		var res []float32
		if rt != nil {
			res = r.ws.bufs[s.res][rt.at(b, y, 0):][:t.w*cp]
		}
		if r.simd {
			affineRowSIMD(row, cp, a, sh, res, s.act)
		} else {
			affineRowGo(row, cp, a, sh, res, s.act)
		}
	})
	if r.simd {
		clearUpper()
	}
}

// rowSumsGo adds the values and squares of each channel of row (pixels of
// cp channels) to sum and sq.
func rowSumsGo(row []float32, cp int, sum, sq []float64) {
	for p := 0; p < len(row); p += cp {
		for c, v := range row[p : p+cp] {
			sum[c] += float64(v)
			sq[c] += float64(v) * float64(v)
		}
	}
}

// affineRowGo sets row = act(row*a + sh + res) per channel.
func affineRowGo(row []float32, cp int, a, sh, res []float32, act int) {
	for p := 0; p < len(row); p += cp {
		for c := range cp {
			y := row[p+c]*a[c] + sh[c]
			if res != nil {
				y += res[p+c]
			}
			row[p+c] = activate(y, act)
		}
	}
}

// Element-wise step kinds.
const (
	eltAdd = iota
	eltUpsampleAdd
	eltAct
)

// eltStep computes out = act(a + b), act(a + upsample(b)) or act(a).
type eltStep struct {
	kind      int
	out, a, b int
	act       int
}

// run computes every row.
func (s *eltStep) run(r *runner) {
	to, ta := &r.p.tensors[s.out], &r.p.tensors[s.a]
	cp := to.cp
	r.parallel(r.b*to.h, func(i int) {
		b, y := r.b0+i/to.h, i%to.h
		out := r.ws.bufs[s.out][to.at(b, y, 0):][:to.w*cp]
		a := r.ws.bufs[s.a][ta.at(b, y, 0):][:to.w*cp]
		switch s.kind {
		case eltAdd:
			tb := &r.p.tensors[s.b]
			bv := r.ws.bufs[s.b][tb.at(b, y, 0):][:to.w*cp]
			if r.simd {
				addRowSIMD(out, a, bv, s.act)
			} else {
				addRowGo(out, a, bv, s.act)
			}
		case eltUpsampleAdd:
			tb := &r.p.tensors[s.b]
			src := r.ws.bufs[s.b][tb.at(b, y/2, 0):][:tb.w*cp]
			for x := range to.w {
				o := out[x*cp : (x+1)*cp]
				if r.simd {
					addRowSIMD(o, a[x*cp:(x+1)*cp], src[(x/2)*cp:(x/2+1)*cp], s.act)
				} else {
					addRowGo(o, a[x*cp:(x+1)*cp], src[(x/2)*cp:(x/2+1)*cp], s.act)
				}
			}
		case eltAct:
			for j, v := range a {
				out[j] = activate(v, s.act)
			}
		}
	})
	if r.simd {
		clearUpper()
	}
}

// addRowGo sets out = act(a + b).
func addRowGo(out, a, b []float32, act int) {
	for i := range out {
		out[i] = activate(a[i]+b[i], act)
	}
}

// dwStep is a depthwise convolution.
type dwStep struct {
	l          *layer
	in, out    int
	act        int
	padT, padL int
	ho, wo     int
}

// run computes every output row.
func (s *dwStep) run(r *runner) {
	r.parallel(r.b*s.ho, func(i int) {
		b, oy := r.b0+i/s.ho, i%s.ho
		in, out := &r.p.tensors[s.in], &r.p.tensors[s.out]
		k, stride := s.l.op.Kernel, s.l.op.Stride
		x := r.ws.bufs[s.in][in.at(b, oy*stride-s.padT, -s.padL):]
		o := r.ws.bufs[s.out][out.at(b, oy, 0):][:s.wo*out.cp]
		if r.simd {
			depthwiseRowSIMD(o, x, s.l.dw, s.l.bias, k, stride, in.rowStride(), out.cp, s.act)
		} else {
			depthwiseRowGo(o, x, s.l.dw, s.l.bias, k, stride, in.rowStride(), out.cp, s.act)
		}
	})
	if r.simd {
		clearUpper()
	}
}

// depthwiseRowGo computes one output row o (pixels of cp channels) from x,
// the input at the first window's corner (rows rs floats apart).
func depthwiseRowGo(o, x, w, bias []float32, k, stride, rs, cp, act int) {
	for ox := 0; ox*cp < len(o); ox++ {
		dst := o[ox*cp : (ox+1)*cp]
		copy(dst, bias[:cp])
		for i := range k {
			for j := range k {
				src := x[i*rs+(ox*stride+j)*cp:][:cp]
				wt := w[(i*k+j)*cp:][:cp]
				for c := range dst {
					dst[c] += src[c] * wt[c]
				}
			}
		}
		for c, v := range dst {
			dst[c] = activate(v, act)
		}
	}
}

// poolStep is a max-pool; windows are clipped to the input.
type poolStep struct {
	in, out    int
	k, stride  int
	padT, padL int
	ho, wo     int
}

// run computes every output row.
func (s *poolStep) run(r *runner) {
	in, out := &r.p.tensors[s.in], &r.p.tensors[s.out]
	cp := out.cp
	r.parallel(r.b*s.ho, func(i int) {
		b, oy := r.b0+i/s.ho, i%s.ho
		y0 := oy*s.stride - s.padT
		for ox := range s.wo {
			x0 := ox*s.stride - s.padL
			dst := r.ws.bufs[s.out][out.at(b, oy, ox):][:cp]
			first := true
			for y := max(y0, 0); y < min(y0+s.k, in.h); y++ {
				for x := max(x0, 0); x < min(x0+s.k, in.w); x++ {
					src := r.ws.bufs[s.in][in.at(b, y, x):][:cp]
					if first {
						copy(dst, src)
						first = false
						continue
					}
					if r.simd {
						maxRowSIMD(dst, src)
					} else {
						for c, v := range src {
							dst[c] = max(dst[c], v)
						}
					}
				}
			}
		}
	})
	if r.simd {
		clearUpper()
	}
}
