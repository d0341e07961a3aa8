package report

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// GradHistogram is the distribution of the classification gradient norm
// g = |sigmoid(x) - target| over a set of examples (anchor x class entries),
// as in the GHM paper's figures: bin i covers [Edges[i], Edges[i+1]) and holds
// Counts[i] examples (counts may be fractional, e.g. momentum averages).
// Weights gives, per loss name, the effective per-example weight each bin
// gets relative to plain cross-entropy (CE is 1 everywhere); NaN or
// non-positive entries mean "no weight defined" (an empty GHM bin) and are not
// drawn. Names are drawn in sorted order, so the figure does not depend on map
// order. GHMWeights computes the usual CE / focal loss / GHM-C set.
type GradHistogram struct {
	Edges   []float64
	Counts  []float64
	Weights map[string][]float64
	Title   string
}

// validate checks the shapes of h; errors name path.
func (h GradHistogram) validate(path string) error {
	if len(h.Counts) == 0 {
		return fmt.Errorf("plot %s: gradient histogram has no bins", path)
	}
	if len(h.Edges) != len(h.Counts)+1 {
		return fmt.Errorf("plot %s: gradient histogram has %d bins but %d edges (want %d)", path, len(h.Counts), len(h.Edges), len(h.Counts)+1)
	}
	for i := 1; i < len(h.Edges); i++ {
		if !finite(h.Edges[i]) || !finite(h.Edges[i-1]) || !(h.Edges[i] > h.Edges[i-1]) {
			return fmt.Errorf("plot %s: gradient histogram edges must be finite and increasing (edge %d = %v, edge %d = %v)", path, i-1, h.Edges[i-1], i, h.Edges[i])
		}
	}
	for name, w := range h.Weights {
		if len(w) != len(h.Counts) {
			return fmt.Errorf("plot %s: weights %q have %d values for %d bins", path, name, len(w), len(h.Counts))
		}
	}
	return nil
}

// fractions returns Counts normalised to sum 1 (non-finite and negative
// counts count as 0) and the total.
func (h GradHistogram) fractions() ([]float64, float64) {
	total := 0.0
	for _, c := range h.Counts {
		if finite(c) && c > 0 {
			total += c
		}
	}
	f := make([]float64, len(h.Counts))
	if total == 0 {
		return f, 0
	}
	for i, c := range h.Counts {
		if finite(c) && c > 0 {
			f[i] = c / total
		}
	}
	return f, total
}

// weightNames returns the loss names of h.Weights in sorted order.
func (h GradHistogram) weightNames() []string {
	names := make([]string, 0, len(h.Weights))
	for n := range h.Weights {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Shares returns, per loss name, the share of the total loss weight that
// each bin carries: Counts[i]*w[i] / sum_j Counts[j]*w[j], NaN where the
// weight is undefined. Under GHM-C every occupied bin carries the same share.
func (h GradHistogram) Shares() map[string][]float64 {
	out := make(map[string][]float64, len(h.Weights))
	frac, _ := h.fractions()
	for name, w := range h.Weights {
		s := make([]float64, len(frac))
		sum := 0.0
		for i := range s {
			if i < len(w) && finite(w[i]) && w[i] > 0 && frac[i] > 0 {
				s[i] = frac[i] * w[i]
				sum += s[i]
			} else {
				s[i] = math.NaN()
			}
		}
		for i := range s {
			if sum > 0 && !math.IsNaN(s[i]) {
				s[i] /= sum
			}
		}
		out[name] = s
	}
	return out
}

// GHMWeights returns the effective per-example weight relative to
// cross-entropy of each histogram bin for three classification losses:
//   - "CE": 1 everywhere;
//   - "focal loss (γ=G)": the ratio of the focal loss gradient to the CE
//     gradient at the bin centre g, g^γ·(1 − γ(1−g)ln(1−g)/g) (no α);
//   - "GHM-C": the GHM-C weight without momentum, tot / (count_i · n) with
//     tot the number of examples and n the number of non-empty bins (so the
//     mean weight over examples is 1); NaN for empty bins.
//
// gamma <= 0 leaves the focal loss out.
func GHMWeights(edges, counts []float64, gamma float64) map[string][]float64 {
	m := len(counts)
	if len(edges) != m+1 {
		return nil
	}
	ce := make([]float64, m)
	ghm := make([]float64, m)
	tot, n := 0.0, 0
	for _, c := range counts {
		if finite(c) && c > 0 {
			tot += c
			n++
		}
	}
	for i, c := range counts {
		ce[i] = 1
		if finite(c) && c > 0 {
			ghm[i] = tot / (c * float64(n))
		} else {
			ghm[i] = math.NaN()
		}
	}
	out := map[string][]float64{"CE": ce, "GHM-C": ghm}
	if gamma > 0 {
		fl := make([]float64, m)
		for i := range fl {
			fl[i] = FocalRelativeWeight((edges[i]+edges[i+1])/2, gamma)
		}
		out[fmt.Sprintf("focal loss (γ=%g)", gamma)] = fl
	}
	return out
}

// FocalRelativeWeight is the magnitude of the focal loss gradient with
// respect to the logit divided by that of cross-entropy, for an example of
// gradient norm g in (0, 1] (g = 1 - p_t): g^γ·(1 − γ(1−g)ln(1−g)/g).
func FocalRelativeWeight(g, gamma float64) float64 {
	if !(g > 0) {
		return 0
	}
	if g >= 1 {
		return 1
	}
	return math.Pow(g, gamma) * (1 - gamma*(1-g)*math.Log1p(-g)/g)
}

// PlotGradNorm writes the gradient-norm figure to path (PNG), in the manner
// of the GHM paper: (a) the distribution of the gradient norm g, as the
// fraction of examples per bin on a logarithmic axis; and, when h.Weights is
// not empty, (b) the effective relative weight each g region gets under each
// loss, and (c) the share of the total weight each region carries (the
// harmonised loss gives every occupied region the same share). Options: Size
// (default 1650 x 560 with weights, 760 x 560 without).
func PlotGradNorm(path string, h GradHistogram, opts ...Option) error {
	if err := h.validate(path); err != nil {
		return err
	}
	names := h.weightNames()
	o := seriesOptions{width: 1650, height: 560}
	if len(names) == 0 {
		o.width = 760
	}
	for _, opt := range opts {
		opt(&o)
	}
	frac, total := h.fractions()
	shares := h.Shares()
	xlo, xhi := h.Edges[0], h.Edges[len(h.Edges)-1]
	if xlo >= 0 && xhi <= 1+1e-3 {
		xlo, xhi = 0, 1
	}

	return renderPNG(path, o.width, o.height, func(c draw.Canvas) error {
		c = drawFigureTitle(margins(c), h.Title, plot.DefaultTextHandler)

		// (a) distribution.
		pa := newPlot(fmt.Sprintf("(a) gradient norm distribution (%s examples)", humanCount(total)), "gradient norm g", "fraction of examples (log scale)")
		setRange(&pa.X, xlo, xhi, false, 0)
		lo, hi := positiveRange(frac)
		setDecadeRange(&pa.Y, lo, hi)
		pa.Add(&binBars{edges: h.Edges, vals: frac, fill: color.RGBA{0x4c, 0x72, 0xb0, 0xff}})
		plots := []*plot.Plot{pa}
		type legendJob struct {
			p     *plot.Plot
			items []legendItem
			pts   [][2]float64
		}
		var jobs []legendJob

		if len(names) > 0 {
			// (b) relative weight per example, (c) share of the total weight.
			pb := newPlot("(b) effective weight per example", "gradient norm g", "weight relative to CE (log scale)")
			pc := newPlot("(c) share of the total weight", "gradient norm g", "share of total weight (log scale)")
			setRange(&pb.X, xlo, xhi, false, 0)
			setRange(&pc.X, xlo, xhi, false, 0)
			blo, bhi, clo, chi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
			for _, n := range names {
				l, u := positiveRange(h.Weights[n])
				blo, bhi = math.Min(blo, l), math.Max(bhi, u)
				l, u = positiveRange(shares[n])
				clo, chi = math.Min(clo, l), math.Max(chi, u)
			}
			setDecadeRange(&pb.Y, blo, bhi)
			setDecadeRange(&pc.Y, clo, chi)
			var bItems, cItems []legendItem
			var bPts, cPts [][2]float64
			for k, n := range names {
				sty := lossStyle(n, k)
				sb := &binSteps{edges: h.Edges, vals: h.Weights[n], style: sty}
				sc := &binSteps{edges: h.Edges, vals: shares[n], style: sty}
				pb.Add(sb)
				pc.Add(sc)
				bItems = append(bItems, legendItem{label: n, thumb: sb})
				cItems = append(cItems, legendItem{label: n, thumb: sc})
				bPts = append(bPts, sb.normPoints(pb)...)
				cPts = append(cPts, sc.normPoints(pc)...)
			}
			plots = append(plots, pb, pc)
			jobs = append(jobs, legendJob{pb, bItems, bPts}, legendJob{pc, cItems, cPts})
		}

		tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Points(18), PadTop: vg.Points(2)}
		canvases := make([]draw.Canvas, len(plots))
		for i, p := range plots {
			canvases[i] = drawPlot(p, tiles.At(c, i, 0))
		}
		if total == 0 {
			drawCentredNote(pa, canvases[0], "no examples")
		}
		for i, j := range jobs {
			drawLegend(j.p, canvases[i+1], j.items, j.pts, 10.5)
		}
		return nil
	})
}

// lossStyle gives the usual losses recognisable colours: CE grey dashed,
// focal loss orange, GHM blue; other names take palette colours by position.
func lossStyle(name string, k int) draw.LineStyle {
	l := strings.ToLower(name)
	w := vg.Points(2)
	switch {
	case strings.Contains(l, "ghm"):
		return draw.LineStyle{Color: lineColours[0], Width: w}
	case strings.Contains(l, "focal"):
		return draw.LineStyle{Color: lineColours[1], Width: w}
	case l == "ce" || strings.Contains(l, "cross"):
		return draw.LineStyle{Color: color.RGBA{0x44, 0x44, 0x44, 0xff}, Width: w, Dashes: []vg.Length{vg.Points(6), vg.Points(3)}}
	}
	return lineStyle(k+2, w)
}

// positiveRange returns the smallest and largest finite positive value of v
// (+Inf, -Inf when there is none).
func positiveRange(v []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		if finite(x) && x > 0 {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	return lo, hi
}

// setDecadeRange sets a logarithmic axis to whole decades around [lo, hi].
func setDecadeRange(ax *plot.Axis, lo, hi float64) {
	if !(lo > 0) || math.IsInf(lo, 0) || !(hi >= lo) || math.IsInf(hi, 0) {
		lo, hi = 1e-3, 1
	}
	a := math.Pow10(int(math.Floor(math.Log10(lo) + 1e-9)))
	b := math.Pow10(int(math.Ceil(math.Log10(hi) - 1e-9)))
	if b <= a {
		b = a * 10
	}
	setRange(ax, a, b, true, 0)
}

// humanCount writes a count compactly: 950, 12.3k, 4.56M.
func humanCount(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3gG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.3gM", n/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.3gk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

// binBars draws one bar per histogram bin from the bottom of the axis to the
// bin's value; bins with a non-positive or non-finite value are left out.
type binBars struct {
	edges, vals []float64
	fill        color.Color
}

// Plot implements plot.Plotter.
func (b *binBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	base := trY(p.Y.Min)
	edge := draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}
	for i, v := range b.vals {
		if !finite(v) || v <= 0 || v < p.Y.Min {
			continue
		}
		x0, x1 := trX(b.edges[i]), trX(b.edges[i+1])
		y1 := trY(math.Min(v, p.Y.Max))
		poly := []vg.Point{{X: x0, Y: base}, {X: x1, Y: base}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(b.fill, c.ClipPolygonXY(poly))
		c.StrokeLines(edge, c.ClipLinesXY(append(poly, poly[0]))...)
	}
}

// binSteps draws a per-bin value as a step line (flat over each bin, joined
// between adjacent bins), with gaps where the value is not positive and
// finite.
type binSteps struct {
	edges, vals []float64
	style       draw.LineStyle
}

// runs returns the step polylines in data coordinates.
func (s *binSteps) runs() [][][2]float64 {
	var out [][][2]float64
	var cur [][2]float64
	for i, v := range s.vals {
		if !finite(v) || v <= 0 {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, [2]float64{s.edges[i], v}, [2]float64{s.edges[i+1], v})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// Plot implements plot.Plotter.
func (s *binSteps) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, run := range s.runs() {
		pts := make([]vg.Point, len(run))
		for i, q := range run {
			y := math.Min(math.Max(q[1], p.Y.Min), p.Y.Max)
			pts[i] = vg.Point{X: trX(q[0]), Y: trY(y)}
		}
		c.StrokeLines(s.style, c.ClipLinesXY(pts)...)
	}
}

// Thumbnail implements plot.Thumbnailer.
func (s *binSteps) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(s.style, c.Min.X, y, c.Max.X, y)
}

// normPoints returns the step lines as points in axis-normalised
// coordinates of p, densified along each run (for legend placement).
func (s *binSteps) normPoints(p *plot.Plot) [][2]float64 {
	var out [][2]float64
	for _, run := range s.runs() {
		line := make([][2]float64, len(run))
		for i, q := range run {
			y := math.Min(math.Max(q[1], p.Y.Min), p.Y.Max)
			line[i] = [2]float64{p.X.Norm(q[0]), p.Y.Norm(y)}
		}
		out = append(out, densify(line)...)
	}
	return out
}
