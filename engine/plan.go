package engine

import (
	"fmt"

	"github.com/ghmdet/ghmdet/model"
	"github.com/ghmdet/ghmdet/nn"
)

// tensor is the geometry of one activation: [B][hp][wp][cp] with a zero
// border of bd pixels around the h x w interior, and c channels padded to
// cp.
type tensor struct {
	h, w, c, cp int
	bd          int
	// stride is the number of floats between images: those of its slot
	// (see assignSlots), so that the images of tensors sharing a slot
	// never overlap (groups of images run their layers unsynchronised).
	stride int
}

// img is the number of floats of one image.
func (t *tensor) img() int { return (t.h + 2*t.bd) * (t.w + 2*t.bd) * t.cp }

// rowStride is the number of floats between rows.
func (t *tensor) rowStride() int { return (t.w + 2*t.bd) * t.cp }

// at is the index of pixel (y, x) of image b (y and x may reach into the
// border).
func (t *tensor) at(b, y, x int) int {
	return b*t.stride + ((y+t.bd)*(t.w+2*t.bd)+x+t.bd)*t.cp
}

// plan is the sequence of steps for one input size.
type plan struct {
	h, w       int
	tensors    []tensor
	steps      []step
	anchors    int      // anchors per image over all levels
	levelSizes [][2]int // [h, w] of P3..P7
	gnScratch  int      // float64s of group-norm partial sums per image
	// Memory (see assignSlots): the slot of each tensor, the floats per
	// image of each slot, the tensors each step writes first into a slot
	// that held another.
	slotOf   []int
	slotSize []int
	fresh    [][]int
	fresh0   bool // the images' tensor has a border to clear
}

// step is one pass over the workspace.
type step interface {
	run(r *runner)
	// io lists the tensors the step reads and writes.
	io() (reads, writes []int)
}

// planner builds a plan.
type planner struct {
	e *Engine
	p *plan
}

// newTensor adds a tensor and returns its index.
func (pl *planner) newTensor(h, w, c int) int {
	cp := roundUp(c)
	pl.p.tensors = append(pl.p.tensors, tensor{h: h, w: w, c: c, cp: cp})
	return len(pl.p.tensors) - 1
}

// need widens the border of tensor t for a window of size k at stride s
// with padding pad producing ho x wo.
func (pl *planner) need(t, k, s int, pad nn.Padding) (padT, padL, ho, wo int) {
	tt := &pl.p.tensors[t]
	var padB, padR int
	padT, padB, ho = nn.PadAmounts(tt.h, k, s, pad)
	padL, padR, wo = nn.PadAmounts(tt.w, k, s, pad)
	// Rows and columns the windows read past the end.
	padB = max(padB, (ho-1)*s+k-padT-tt.h, 0)
	padR = max(padR, (wo-1)*s+k-padL-tt.w, 0)
	tt.bd = max(tt.bd, padT, padB, padL, padR)
	return
}

// newPlan makes the plan of input size h x w.
func newPlan(e *Engine, h, w int) (*plan, error) {
	pl := &planner{e: e, p: &plan{h: h, w: w}}
	p := pl.p
	p.tensors = append(p.tensors, tensor{h: h, w: w, c: 3, cp: 3}) // the images
	ops := e.arch.Ops
	// Uses of every op's output (the heads read the pyramid).
	uses := make([]int, len(ops))
	for _, op := range ops {
		for _, in := range op.Inputs {
			if in != model.InputImage {
				uses[in]++
			}
		}
	}
	for _, id := range e.arch.Pyramid {
		uses[id]++
	}
	// An addition whose first input is a convolution without activation,
	// used by the addition only, is done by that convolution: it runs at
	// the addition's place, adding the other input as it stores.
	fused := make([]int, len(ops)) // conv op -> add op, or -1
	fusedConv := make([]int, len(ops))
	for i := range ops {
		fused[i], fusedConv[i] = -1, -1
	}
	for i, op := range ops {
		if op.Kind != model.OpAdd {
			continue
		}
		y := op.Inputs[0]
		if y != model.InputImage && ops[y].Kind == model.OpConv && ops[y].Act == model.ActNone && uses[y] == 1 && op.Inputs[1] != y {
			fused[y], fusedConv[i] = i, y
		}
	}
	tid := make([]int, len(ops)) // op -> tensor
	in := func(id int) int {
		if id == model.InputImage {
			return 0
		}
		return tid[id]
	}
	for i, op := range ops {
		if fused[i] >= 0 {
			continue
		}
		switch op.Kind {
		case model.OpConv:
			tid[i] = pl.conv(&e.layers[i], in(op.Inputs[0]), -1, actCode(op.Act), nil)
		case model.OpAdd:
			if y := fusedConv[i]; y >= 0 {
				tid[i] = pl.conv(&e.layers[y], in(ops[y].Inputs[0]), in(op.Inputs[1]), actCode(op.Act), nil)
				tid[y] = tid[i]
				to, tr := p.tensors[tid[i]], p.tensors[in(op.Inputs[1])]
				if to.h != tr.h || to.w != tr.w || to.c != tr.c {
					return nil, fmt.Errorf("engine: op %d adds %dx%dx%d and %dx%dx%d", i, to.h, to.w, to.c, tr.h, tr.w, tr.c)
				}
				break
			}
			a, b := in(op.Inputs[0]), in(op.Inputs[1])
			ta, tb := p.tensors[a], p.tensors[b]
			if ta.h != tb.h || ta.w != tb.w || ta.c != tb.c {
				return nil, fmt.Errorf("engine: op %d adds %dx%dx%d and %dx%dx%d", i, ta.h, ta.w, ta.c, tb.h, tb.w, tb.c)
			}
			tid[i] = pl.newTensor(ta.h, ta.w, ta.c)
			p.steps = append(p.steps, &eltStep{kind: eltAdd, out: tid[i], a: a, b: b, act: actCode(op.Act)})
		case model.OpUpsampleAdd:
			a, b := in(op.Inputs[0]), in(op.Inputs[1])
			ta, tb := p.tensors[a], p.tensors[b]
			if tb.h*2 < ta.h || tb.w*2 < ta.w || ta.c != tb.c {
				return nil, fmt.Errorf("engine: op %d upsamples %dx%d to %dx%d", i, tb.h, tb.w, ta.h, ta.w)
			}
			tid[i] = pl.newTensor(ta.h, ta.w, ta.c)
			p.steps = append(p.steps, &eltStep{kind: eltUpsampleAdd, out: tid[i], a: a, b: b, act: actCode(op.Act)})
		case model.OpAct:
			a := in(op.Inputs[0])
			ta := p.tensors[a]
			tid[i] = pl.newTensor(ta.h, ta.w, ta.c)
			p.steps = append(p.steps, &eltStep{kind: eltAct, out: tid[i], a: a, act: actCode(op.Act)})
		case model.OpDepthwise:
			x := in(op.Inputs[0])
			s := &dwStep{l: &e.layers[i], in: x, act: actCode(op.Act)}
			s.padT, s.padL, s.ho, s.wo = pl.need(x, op.Kernel, op.Stride, op.Padding)
			tid[i] = pl.newTensor(s.ho, s.wo, op.Out)
			s.out = tid[i]
			p.steps = append(p.steps, s)
		case model.OpMaxPool:
			x := in(op.Inputs[0])
			tx := p.tensors[x]
			s := &poolStep{in: x, k: op.Kernel, stride: op.Stride}
			s.padT, _, s.ho = nn.PadAmounts(tx.h, op.Kernel, op.Stride, op.Padding)
			s.padL, _, s.wo = nn.PadAmounts(tx.w, op.Kernel, op.Stride, op.Padding)
			tid[i] = pl.newTensor(s.ho, s.wo, tx.c)
			s.out = tid[i]
			p.steps = append(p.steps, s)
		default:
			return nil, fmt.Errorf("engine: op %d: kind %s not supported", i, op.Kind)
		}
		if t := p.tensors[tid[i]]; t.h < 1 || t.w < 1 {
			return nil, fmt.Errorf("engine: input %dx%d too small (op %d %s gives %dx%d)", w, h, i, op.Name, t.w, t.h)
		}
	}
	// Heads: per level, both branches; the prediction convolutions write
	// into the outputs.
	k, a := e.arch.NumClasses, e.arch.NumAnchors
	off := 0
	for _, id := range e.arch.Pyramid {
		lv := tid[id]
		t := p.tensors[lv]
		p.levelSizes = append(p.levelSizes, [2]int{t.h, t.w})
		for bi, br := range [][]*layer{e.cls, e.box} {
			x := lv
			ids := make([]int, len(br))
			for j, l := range br {
				if src := l.op.Inputs[0]; src != model.InputImage {
					x = ids[src]
				}
				if j == len(br)-1 {
					per := k
					if bi == 1 {
						per = 4
					}
					d := &rawDest{cls: bi == 0, base: off * per, pix: a * per}
					pl.conv(l, x, -1, actCode(l.op.Act), d)
					break
				}
				ids[j] = pl.conv(l, x, -1, actCode(l.op.Act), nil)
			}
		}
		off += t.h * t.w * a
	}
	p.anchors = off
	for _, t := range p.tensors {
		p.gnScratch = max(p.gnScratch, 2*t.cp*gnChunks)
	}
	p.assignSlots()
	for _, s := range p.steps {
		if c, ok := s.(*convStep); ok {
			c.prepare(p)
		}
	}
	return p, nil
}

// rawDest is an output array the head's prediction writes into: the class
// or box output, from float base of each image, pix floats per pixel.
type rawDest struct {
	cls       bool
	base, pix int
}

// conv adds the steps of convolution l on tensor x (with residual res
// added before the activation when res >= 0) and returns its output
// tensor (-1 when it writes into dst).
func (pl *planner) conv(l *layer, x, res, act int, dst *rawDest) int {
	op := l.op
	s := &convStep{l: l, in: x, res: -1, act: act, dst: dst}
	s.padT, s.padL, s.ho, s.wo = pl.need(x, op.Kernel, op.Stride, op.Padding)
	out := -1
	if dst == nil {
		out = pl.newTensor(s.ho, s.wo, op.Out)
	}
	s.out = out
	if l.gnGroups > 0 {
		if dst != nil {
			panic("engine: group-norm on a prediction convolution")
		}
		// Raw convolution (bias only), then the normalisation with the
		// residual and the activation.
		s.act = actNone
		pl.p.steps = append(pl.p.steps, pl.convOrWino(s), &gnStep{l: l, t: out, res: res, act: act})
		return out
	}
	s.res = res
	pl.p.steps = append(pl.p.steps, pl.convOrWino(s))
	return out
}

// convOrWino returns the Winograd step of s when its layer has
// transformed weights, widening the input's border for the tiles that
// reach past odd sizes; s itself otherwise.
func (pl *planner) convOrWino(s *convStep) step {
	if s.l.wino == nil {
		return s
	}
	w := newWinoStep(s)
	t := &pl.p.tensors[s.in]
	t.bd = max(t.bd, w.m*w.tilesH+2-s.padT-t.h, w.m*w.tilesW+2-s.padL-t.w)
	return w
}
