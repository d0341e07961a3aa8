package engine

import (
	"fmt"
	"slices"

	"github.com/ghmdet/ghmdet/model"
)

// lanes is the width of one vector (AVX-512, float32).
const lanes = 16

// slack is the number of floats allocated past the end of every buffer,
// so that pointers advanced past a row's last element stay inside the
// allocation.
const slack = 64

// Activation codes of the kernels.
const (
	actNone  = 0
	actReLU  = 1
	actReLU6 = 2
)

// actCode converts a model activation to a kernel code.
func actCode(a model.Activation) int {
	switch a {
	case model.ActReLU:
		return actReLU
	case model.ActReLU6:
		return actReLU6
	}
	return actNone
}

// roundUp rounds n up to a multiple of lanes.
func roundUp(n int) int { return (n + lanes - 1) / lanes * lanes }

// maxMR is the most output pixels of a tile per number of vectors of
// output channels (the generated tile shapes).
var maxMR = [4]int{0, maxTileRows, maxTileRows, maxTileRows}

// maxTileRows is the most output pixels of a tile.
const maxTileRows = 8

// block is a group of nv vectors of output channels starting at vector v0,
// whose packed weights start at woff.
type block struct {
	v0, nv int
	woff   int
}

// layer holds the prepared weights of one op.
type layer struct {
	op model.Op
	// Convolutions: packed weights per block [taps][cin][nv*16], bias
	// [coutP] (batch-norm folded in).
	blocks []block
	w      []float32
	bias   []float32
	cout   int
	coutP  int
	// Group-norm after the convolution: groups and affine [coutP].
	gnGroups        int
	gnEps           float64
	gnGamma, gnBeta []float32
	// Depthwise: weights [k*k][coutP].
	dw []float32
	// Winograd (3x3 stride-1 convolutions; w is then empty): tile size
	// winoM (2 or 4), transformed weights [(m+2)^2][blocks], winoStride
	// floats per position.
	winoM      int
	wino       []float32
	winoStride int
}

// splitBlocks divides nvec vectors into blocks of 2 (3 where one would be
// left alone, 1 for a single vector).
func splitBlocks(nvec int) []block {
	var out []block
	v := 0
	for v < nvec {
		n := 2
		switch left := nvec - v; {
		case left == 1:
			n = 1
		case left == 3:
			n = 3
		}
		out = append(out, block{v0: v, nv: n})
		v += n
	}
	return out
}

// read reads variable name and checks its dimensions.
func read(get Weights, name string, dims ...int) ([]float32, error) {
	d, got, err := get(name)
	if err != nil {
		return nil, fmt.Errorf("variable %s: %w", name, err)
	}
	if !slices.Equal(got, dims) {
		return nil, fmt.Errorf("variable %s: shape %v, the layer needs %v", name, got, dims)
	}
	n := 1
	for _, v := range dims {
		n *= v
	}
	if len(d) != n {
		return nil, fmt.Errorf("variable %s: %d values for shape %v", name, len(d), dims)
	}
	return d, nil
}

// load reads and prepares the weights of op (Winograd where eligible, as
// opts allow).
func (l *layer) load(op model.Op, get Weights, opts Options) error {
	l.op = op
	switch op.Kind {
	case model.OpConv:
		return l.loadConv(op, get, opts)
	case model.OpDepthwise:
		return l.loadDepthwise(op, get)
	}
	return nil
}

// loadConv reads a convolution, folds its batch-norm and packs it.
func (l *layer) loadConv(op model.Op, get Weights, opts Options) error {
	k, cin, cout := op.Kernel, op.In, op.Out
	f, err := FoldConv(op, get)
	if err != nil {
		return err
	}
	w, scale, shift := f.Weights, f.Scale, f.Shift
	if f.Groups > 0 {
		l.gnGroups, l.gnEps = f.Groups, f.Eps
		l.gnGamma = padTo(f.Gamma, roundUp(cout))
		l.gnBeta = padTo(f.Beta, roundUp(cout))
	}
	l.cout, l.coutP = cout, roundUp(cout)
	l.bias = make([]float32, l.coutP, l.coutP+slack)
	for c := range cout {
		l.bias[c] = float32(shift[c])
	}
	l.blocks = splitBlocks(l.coutP / lanes)
	wf := make([]float64, len(w))
	for i, v := range w {
		wf[i] = float64(v) * scale[i%cout]
	}
	taps := k * k
	if m := winoTileSize(k, op.Stride, cin, opts); m > 0 {
		// Per position, blocks of cin x width like a 1x1 convolution.
		size := 0
		for i := range l.blocks {
			l.blocks[i].woff = size
			size += cin * l.blocks[i].nv * lanes
		}
		l.packWinograd(wf, cin, cout, m)
		return nil
	}
	size := 0
	for i := range l.blocks {
		l.blocks[i].woff = size
		size += taps * cin * l.blocks[i].nv * lanes
	}
	l.w = make([]float32, size, size+slack)
	for _, bl := range l.blocks {
		width := bl.nv * lanes
		for t := range taps {
			for c := range cin {
				dst := l.w[bl.woff+(t*cin+c)*width:][:width]
				src := wf[(t*cin+c)*cout:][:cout]
				for j := range dst {
					if co := bl.v0*lanes + j; co < cout {
						dst[j] = float32(src[co])
					}
				}
			}
		}
	}
	return nil
}

// loadDepthwise reads a depthwise convolution.
func (l *layer) loadDepthwise(op model.Op, get Weights) error {
	k, c := op.Kernel, op.Out
	w, err := read(get, op.Name+"/weights", k, k, 1, c)
	if err != nil {
		return err
	}
	l.cout, l.coutP = c, roundUp(c)
	l.dw = make([]float32, k*k*l.coutP, k*k*l.coutP+slack)
	for t := range k * k {
		copy(l.dw[t*l.coutP:], w[t*c:(t+1)*c])
	}
	l.bias = make([]float32, l.coutP, l.coutP+slack)
	if op.Bias {
		b, err := read(get, op.Name+"/biases", c)
		if err != nil {
			return err
		}
		copy(l.bias, b)
	}
	return nil
}

// padTo returns a copy of v with length n (zeros after), with slack.
func padTo(v []float32, n int) []float32 {
	out := make([]float32, n, n+slack)
	copy(out, v)
	return out
}
