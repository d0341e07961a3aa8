package detector

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/ghmdet/ghmdet/box"
	"github.com/ghmdet/ghmdet/data/loader"
	"github.com/ghmdet/ghmdet/data/transform"
	"github.com/ghmdet/ghmdet/internal/backend"
	"github.com/ghmdet/ghmdet/loss"
)

// headCase is a two-level, two-image input of headLoss: level sizes, class
// count and flat row-major values.
type headCase struct {
	levels     []int // anchors per level (per image)
	k          int
	logits     []float64 // [B, N, K], levels concatenated
	deltas     []float64 // [B, N, 4]
	clsT, clsW []float64 // [B, N, K], [B, N]
	boxT, boxW []float64 // [B, N, 4], [B, N, 4]
}

const headB = 2

func (c *headCase) n() int {
	n := 0
	for _, l := range c.levels {
		n += l
	}
	return n
}

// newHeadCase draws logits and deltas; image 0 has positives on both levels
// and one ignored anchor, image 1 has no positive and one padding anchor
// (weight 0, as ignored ones).
func newHeadCase() *headCase {
	c := &headCase{levels: []int{7, 4}, k: 2}
	n := c.n()
	rng := rand.New(rand.NewPCG(3, 5))
	c.logits = make([]float64, headB*n*c.k)
	for i := range c.logits {
		c.logits[i] = rng.Float64()*6 - 3
	}
	c.deltas = make([]float64, headB*n*4)
	c.boxT = make([]float64, headB*n*4)
	for i := range c.deltas {
		c.deltas[i] = rng.Float64()*2 - 1
		c.boxT[i] = rng.Float64()*2 - 1
	}
	c.clsT = make([]float64, headB*n*c.k)
	c.clsW = make([]float64, headB*n)
	c.boxW = make([]float64, headB*n*4)
	for i := range c.clsW {
		c.clsW[i] = 1
	}
	pos := func(img, a, class int) {
		c.clsT[(img*n+a)*c.k+class] = 1
		for j := 0; j < 4; j++ {
			c.boxW[(img*n+a)*4+j] = 1
		}
	}
	pos(0, 1, 0) // level 0
	pos(0, 8, 1) // level 1
	c.clsW[0*n+4] = 0
	c.clsW[1*n+10] = 0
	// Box targets matter only where the box weight is 1.
	for i := range c.boxT {
		if c.boxW[i] == 0 {
			c.boxT[i] = 0
		}
	}
	return c
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func bce(x, t float64) float64 { return math.Max(x, 0) - x*t + math.Log1p(math.Exp(-math.Abs(x))) }

// groupPos is the number of positive anchors of the images [lo, hi).
func (c *headCase) groupPos(lo, hi int) float64 {
	n := c.n()
	p := 0.0
	for i := lo; i < hi; i++ {
		for a := 0; a < n; a++ {
			p += c.boxW[(i*n+a)*4]
		}
	}
	return p
}

// levelRange returns the anchor range of level l.
func (c *headCase) levelRange(l int) (int, int) {
	off := 0
	for i := 0; i < l; i++ {
		off += c.levels[i]
	}
	return off, off + c.levels[l]
}

// expected computes the classification and box losses by the spec's
// formulas in float64.
func (c *headCase) expected(lc LossConfig) (cls, box float64) {
	n, k := c.n(), c.k
	groups := headB / lc.GroupSize
	var ghmcAcc, ghmrAcc []float64
	for g := 0; g < groups; g++ {
		lo, hi := g*lc.GroupSize, (g+1)*lc.GroupSize
		norm := math.Max(c.groupPos(lo, hi), 1)
		// Classification.
		switch lc.Cls {
		case ClsCE, ClsFocal:
			s := 0.0
			for i := lo; i < hi; i++ {
				for a := 0; a < n; a++ {
					w := c.clsW[i*n+a]
					for j := 0; j < k; j++ {
						x, t := c.logits[(i*n+a)*k+j], c.clsT[(i*n+a)*k+j]
						l := bce(x, t)
						if lc.Cls == ClsFocal {
							p := sigmoid(x)
							pt := math.Abs(p - t)
							alpha := 1 - lc.FocalAlpha
							if t == 1 {
								alpha = lc.FocalAlpha
							}
							l *= alpha * pt * pt
						}
						s += w * l
					}
				}
			}
			cls += s / norm
		case ClsOHEM:
			s := 0.0
			for i := lo; i < hi; i++ {
				var negs []float64
				p := 0
				for a := 0; a < n; a++ {
					w := c.clsW[i*n+a]
					if w == 0 {
						continue
					}
					l, isPos := 0.0, false
					for j := 0; j < k; j++ {
						t := c.clsT[(i*n+a)*k+j]
						l += w * bce(c.logits[(i*n+a)*k+j], t)
						isPos = isPos || t == 1
					}
					if isPos {
						s += l
						p++
					} else {
						negs = append(negs, l)
					}
				}
				sort.Sort(sort.Reverse(sort.Float64Slice(negs)))
				keep := min(int(lc.OHEMRatio*float64(max(p, lc.OHEMMinPositives))), len(negs))
				for _, l := range negs[:keep] {
					s += l
				}
			}
			cls += s / norm
		case ClsGHMC:
			o := lc.ghmcOptions()
			if ghmcAcc == nil {
				ghmcAcc = make([]float64, o.Bins)
			}
			for l := range c.levels {
				a0, a1 := c.levelRange(l)
				var gs, ls []float64
				for i := lo; i < hi; i++ {
					for a := a0; a < a1; a++ {
						if c.clsW[i*n+a] == 0 {
							continue
						}
						for j := 0; j < k; j++ {
							x, t := c.logits[(i*n+a)*k+j], c.clsT[(i*n+a)*k+j]
							gs = append(gs, math.Abs(sigmoid(x)-t))
							ls = append(ls, bce(x, t))
						}
					}
				}
				cls += ghmCall(gs, ls, float64(len(gs)), ghmcAcc, o.Momentum, o.LossWeight, false)
			}
		}
		// Box regression.
		for l := range c.levels {
			a0, a1 := c.levelRange(l)
			var gs, ls []float64
			wsum := 0.0
			for i := lo; i < hi; i++ {
				for a := a0; a < a1; a++ {
					for j := 0; j < 4; j++ {
						w := c.boxW[(i*n+a)*4+j]
						if w == 0 {
							continue
						}
						d := c.deltas[(i*n+a)*4+j] - c.boxT[(i*n+a)*4+j]
						var v float64
						switch lc.Reg {
						case RegSmoothL1:
							if ad := math.Abs(d); ad < lc.SmoothL1Beta {
								v = 0.5 * d * d / lc.SmoothL1Beta
							} else {
								v = ad - 0.5*lc.SmoothL1Beta
							}
						case RegL1:
							v = math.Abs(d)
						case RegASL1, RegGHMR:
							mu := lc.ASL1Mu
							if lc.Reg == RegGHMR {
								mu = lc.GHMRMu
							}
							v = math.Sqrt(d*d+mu*mu) - mu
							gs = append(gs, math.Abs(d)/math.Sqrt(d*d+mu*mu))
						}
						ls = append(ls, w*v)
						wsum += w
					}
				}
			}
			if lc.Reg == RegGHMR {
				o := lc.ghmrOptions()
				if ghmrAcc == nil {
					ghmrAcc = make([]float64, o.Bins)
				}
				box += ghmCall(gs, ls, math.Max(wsum, 1), ghmrAcc, o.Momentum, o.LossWeight, true)
				continue
			}
			s := 0.0
			for _, v := range ls {
				s += v
			}
			box += s / norm * lc.RegWeight
		}
	}
	return cls / float64(groups), box / float64(groups)
}

// ghmCall is one GHM loss call per the spec: g the gradient norms and l the
// losses of the valid entries, tot the normaliser, acc the momentum state
// (updated), the last edge 1e3 for GHM-R and 1+1e-6 for GHM-C.
func ghmCall(g, l []float64, tot float64, acc []float64, m, weight float64, reg bool) float64 {
	bins := len(acc)
	edges := make([]float32, bins+1)
	for i := range edges {
		edges[i] = float32(i) / float32(bins)
	}
	if reg {
		edges[bins] = 1e3
	} else {
		edges[bins] += 1e-6
	}
	if len(g) == 0 {
		return 0
	}
	idx := make([]int, len(g))
	counts := make([]int, bins)
	for e, v := range g {
		gv := float32(v)
		for i := 0; i < bins; i++ {
			if gv >= edges[i] && gv < edges[i+1] {
				idx[e] = i
				counts[i]++
				break
			}
		}
	}
	nonEmpty := 0
	beta := make([]float64, bins)
	for i, cnt := range counts {
		if cnt == 0 {
			continue
		}
		nonEmpty++
		if m > 0 {
			acc[i] = m*acc[i] + (1-m)*float64(cnt)
			beta[i] = tot / acc[i]
		} else {
			beta[i] = tot / float64(cnt)
		}
	}
	s := 0.0
	for e := range g {
		s += beta[idx[e]] / float64(nonEmpty) * l[e]
	}
	return weight * s / tot
}

// run evaluates headLoss on the case.
func (c *headCase) run(t *testing.T, lc LossConfig) (cls, box float64) {
	t.Helper()
	n, k := c.n(), c.k
	f32 := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	// Per-level head outputs [B, N_l, K] and [B, N_l, 4].
	var inputs []*tensors.Tensor
	for l := range c.levels {
		a0, a1 := c.levelRange(l)
		cl := make([]float32, 0, headB*(a1-a0)*k)
		bx := make([]float32, 0, headB*(a1-a0)*4)
		for i := 0; i < headB; i++ {
			cl = append(cl, f32(c.logits[(i*n+a0)*k:(i*n+a1)*k])...)
			bx = append(bx, f32(c.deltas[(i*n+a0)*4:(i*n+a1)*4])...)
		}
		inputs = append(inputs, tensors.FromFlatDataAndDimensions(cl, headB, a1-a0, k),
			tensors.FromFlatDataAndDimensions(bx, headB, a1-a0, 4))
	}
	inputs = append(inputs,
		tensors.FromFlatDataAndDimensions(f32(c.clsT), headB, n, k),
		tensors.FromFlatDataAndDimensions(f32(c.clsW), headB, n),
		tensors.FromFlatDataAndDimensions(f32(c.boxT), headB, n, 4),
		tensors.FromFlatDataAndDimensions(f32(c.boxW), headB, n, 4))
	store := mlmodel.NewStore()
	nl := len(c.levels)
	exec, err := mlmodel.NewExec(backend.MustNew(""), store, func(scope *mlmodel.Scope, in []*Node) []*Node {
		store.SetTraining(in[0].Graph(), true)
		var cls, box []*Node
		for l := 0; l < nl; l++ {
			cls, box = append(cls, in[2*l]), append(box, in[2*l+1])
		}
		r := in[2*nl:]
		lc, lb := headLoss(scope, lc, cls, box, r[0], r[1], r[2], r[3])
		return []*Node{lc, lb}
	})
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = x
	}
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return float64(tensors.ToScalar[float32](out[0])), float64(tensors.ToScalar[float32](out[1]))
}

// TestHeadLossNormalisers pins every loss's value on a two-level, two-image
// case against the spec's formulas computed here in float64: the baselines
// divide each level's sum by the group's positive anchors over all levels
// (at least 1), OHEM mines per image over all levels (no negatives for an
// image without positives), the GHM losses normalise per call and chain one
// momentum state over the level calls, and groups are averaged.
func TestHeadLossNormalisers(t *testing.T) {
	c := newHeadCase()
	type combo struct{ cls, reg string }
	var combos []combo
	for _, cl := range ClsLosses {
		combos = append(combos, combo{cl, RegGHMR})
	}
	for _, r := range RegLosses {
		if r != RegGHMR {
			combos = append(combos, combo{ClsFocal, r})
		}
	}
	for _, group := range []int{2, 1} {
		for _, cb := range combos {
			lc := DefaultLoss()
			lc.Cls, lc.Reg, lc.GroupSize = cb.cls, cb.reg, group
			lc.RegWeight = 1.5 // not 1, so that a missing factor shows
			name := cb.cls + "+" + cb.reg + "/group" + string(rune('0'+group))
			t.Run(name, func(t *testing.T) {
				wantCls, wantBox := c.expected(lc)
				gotCls, gotBox := c.run(t, lc)
				for _, v := range []struct {
					what      string
					got, want float64
				}{{"classification", gotCls, wantCls}, {"box", gotBox, wantBox}} {
					if math.Abs(v.got-v.want) > 1e-5*math.Max(1, math.Abs(v.want)) {
						t.Errorf("%s loss %.7g, want %.7g", v.what, v.got, v.want)
					}
				}
			})
		}
	}
}

// TestOHEMMinesAcrossLevels checks the mining itself on a case where a
// per-level miner keeps other anchors: image 0's hardest negatives lie on
// one level.
func TestOHEMMinesAcrossLevels(t *testing.T) {
	c := newHeadCase()
	n, k := c.n(), c.k
	// Make image 0's three hardest negatives sit on level 1 (anchors 7, 9,
	// 10), far harder than any on level 0.
	for _, a := range []int{7, 9, 10} {
		for j := 0; j < k; j++ {
			c.logits[(0*n+a)*k+j] = 5 + float64(a)/10
		}
	}
	lc := DefaultLoss()
	lc.Cls, lc.Reg = ClsOHEM, RegL1
	wantCls, _ := c.expected(lc)
	// By hand: image 0 keeps its 2 positives and 6 = 3 x 2 hardest of its
	// 8 negatives; image 1 (no positive) keeps nothing; normaliser 2.
	var posLoss, negLosses []float64
	for a := 0; a < n; a++ {
		if c.clsW[a] == 0 {
			continue
		}
		l, isPos := 0.0, false
		for j := 0; j < k; j++ {
			l += bce(c.logits[a*k+j], c.clsT[a*k+j])
			isPos = isPos || c.clsT[a*k+j] == 1
		}
		if isPos {
			posLoss = append(posLoss, l)
		} else {
			negLosses = append(negLosses, l)
		}
	}
	slices.Sort(negLosses)
	slices.Reverse(negLosses)
	byHand := 0.0
	for _, l := range append(posLoss, negLosses[:6]...) {
		byHand += l
	}
	byHand /= 2
	if math.Abs(byHand-wantCls) > 1e-9 {
		t.Fatalf("reference computation %v disagrees with the hand count %v", wantCls, byHand)
	}
	gotCls, _ := c.run(t, lc)
	if math.Abs(gotCls-byHand) > 1e-5*byHand {
		t.Fatalf("OHEM loss %.7g, want %.7g", gotCls, byHand)
	}
	// With ohem_min_positives 1, image 1 keeps its 3 hardest negatives.
	lc.OHEMMinPositives = 1
	want1, _ := c.expected(lc)
	got1, _ := c.run(t, lc)
	if !(want1 > wantCls) || math.Abs(got1-want1) > 1e-5*want1 {
		t.Fatalf("OHEM with min positives 1: %.7g, want %.7g (> %.7g)", got1, want1, wantCls)
	}
}

// TestPaddingAnchorsLeaveGHMC builds the targets of a 640x480 image fitted
// into a 256x256 canvas (256x192 and 64 rows of padding) and checks that the
// padding anchors get weight 0, so that GHM-C's normaliser tot on P3 counts
// only the valid anchors' entries.
func TestPaddingAnchorsLeaveGHMC(t *testing.T) {
	cfg := tinyConfig(t, 256)
	anchors, err := box.GenerateAnchors(cfg.Anchors, 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	b := &loader.Batch{
		B: 1, H: 256, W: 256,
		Targets:  []loader.Target{{Boxes: [][4]float32{{40, 40, 100, 90}}, Classes: []int{0}, Ignore: []bool{false}}},
		Records:  []transform.Record{{OrigW: 640, OrigH: 480, ScaleX: 0.4, ScaleY: 0.4, ResizedW: 256, ResizedH: 192, CanvasW: 256, CanvasH: 256}},
		ImageIDs: []int64{1},
	}
	var tg batchTargets
	if err := buildTargets(&tg, anchors, b, cfg.Model.NumClasses, box.TargetConfig{Assign: cfg.Assign, Coder: cfg.Coder}); err != nil {
		t.Fatal(err)
	}
	if want := len(anchors.Boxes) - 9216; tg.numPadding != want { // 9216 valid anchors (box.TestValidMaskCounts)
		t.Fatalf("%d padding anchors, want %d", tg.numPadding, want)
	}
	p3 := anchors.Levels[0]
	k := cfg.Model.NumClasses
	valid := 0
	for a := p3.Offset; a < p3.Offset+p3.Count; a++ {
		cell := (a - p3.Offset) / anchors.PerLocation
		onPadding := cell/p3.W >= 24 // rows 24..31 of 32 lie below 192 pixels
		if onPadding && tg.clsW[a] != 0 {
			t.Fatalf("padding anchor %d has class weight %v", a, tg.clsW[a])
		}
		if tg.clsW[a] > 0 {
			valid++
		}
	}
	if valid > 32*24*9 || valid < 32*24*9-50 {
		t.Fatalf("%d weighted P3 anchors, want at most the 6912 valid ones (minus a few ignored)", valid)
	}
	// One GHM-C call on P3 reports tot = weighted entries.
	store := mlmodel.NewStore()
	exec, err := mlmodel.NewExec(backend.MustNew(""), store, func(scope *mlmodel.Scope, x, ct, cw *Node) []*Node {
		store.SetTraining(x.Graph(), true)
		ghmc, err := loss.NewGHMC(scope.In("ghmc"), cfg.Loss.ghmcOptions())
		if err != nil {
			panic(err)
		}
		_, stats := ghmc.LossAndStats(x, ct, BroadcastToDims(Reshape(cw, p3.Count, 1), p3.Count, k))
		return []*Node{stats.Tot}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(
		tensors.FromFlatDataAndDimensions(make([]float32, p3.Count*k), p3.Count, k),
		tensors.FromFlatDataAndDimensions(tg.clsT[p3.Offset*k:(p3.Offset+p3.Count)*k], p3.Count, k),
		tensors.FromFlatDataAndDimensions(tg.clsW[p3.Offset:p3.Offset+p3.Count], p3.Count))
	if err != nil {
		t.Fatal(err)
	}
	if tot := tensors.ToScalar[float32](out[0]); int(tot) != valid*k {
		t.Fatalf("GHM-C tot %v, want %d (valid anchors x classes)", tot, valid*k)
	}
}
