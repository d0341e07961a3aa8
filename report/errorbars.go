package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ErrorBars is one series of an error-bar plot: at X[i] a marker at
// Mean[i], a vertical bar from Mean[i]-Err[i] to Mean[i]+Err[i] (no bar
// where Err[i] is 0, NaN or negative) and, when Points is set, the values
// Points[i] behind the mean as small hollow circles (the individual runs a
// mean was taken over). Points where X or Mean is not finite are skipped.
// Connect joins the means by a line (for a numeric X axis).
type ErrorBars struct {
	Name         string
	X, Mean, Err []float64
	Points       [][]float64
	Connect      bool
}

// validate checks the lengths of the series (the i-th of the plot) and
// returns the number of means it draws; errors name path.
func (s *ErrorBars) validate(path string, i int) (int, error) {
	if len(s.X) != len(s.Mean) || len(s.Err) != len(s.Mean) {
		return 0, fmt.Errorf("plot %s: error-bar series %d (%q) has %d x values, %d means and %d errors", path, i, s.Name, len(s.X), len(s.Mean), len(s.Err))
	}
	if s.Points != nil && len(s.Points) != len(s.Mean) {
		return 0, fmt.Errorf("plot %s: error-bar series %d (%q) has %d means but %d lists of points", path, i, s.Name, len(s.Mean), len(s.Points))
	}
	n := 0
	for j := range s.Mean {
		if finite(s.X[j]) && finite(s.Mean[j]) {
			n++
		}
	}
	return n, nil
}

// PlotErrorBars writes an error-bar plot to path (PNG): one colour per
// series, with a legend when there are several. With xTicks the X axis is
// categorical: the series' X values are positions 0..len(xTicks)-1, labelled
// by xTicks (slanted when long), and the series at one position are drawn
// side by side. Otherwise X is numeric and the series are shifted a little
// apart so that their bars do not hide each other. Options: Size (default
// 1000 x 600).
func PlotErrorBars(path, title, xLabel, yLabel string, xTicks []string, series []ErrorBars, opts ...Option) error {
	o := seriesOptions{width: 1000, height: 600}
	for _, opt := range opts {
		opt(&o)
	}
	drawn := make([]int, len(series))
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	var xs []float64
	for i := range series {
		s := &series[i]
		var err error
		if drawn[i], err = s.validate(path, i); err != nil {
			return err
		}
		for j := range s.Mean {
			x, m := s.X[j], s.Mean[j]
			if !finite(x) || !finite(m) {
				continue
			}
			xs = append(xs, x)
			xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
			lo, hi := m, m
			if e := s.Err[j]; finite(e) && e > 0 {
				lo, hi = m-e, m+e
			}
			if s.Points != nil {
				for _, v := range s.Points[j] {
					if finite(v) {
						lo, hi = math.Min(lo, v), math.Max(hi, v)
					}
				}
			}
			ylo, yhi = math.Min(ylo, lo), math.Max(yhi, hi)
		}
	}
	empty := math.IsInf(xlo, 1)
	// The series at one x are spread over a band of width `band` (a share
	// of the smallest gap between x values, 1 for categories).
	gap := 1.0
	if xTicks == nil {
		gap = smallestGap(xs)
	}
	band := 0.6 * gap
	if xTicks == nil {
		band = 0.3 * gap
	}
	offset := func(i int) float64 {
		if len(series) < 2 {
			return 0
		}
		return (float64(i)/float64(len(series)-1) - 0.5) * band
	}
	slant := false
	for _, l := range xTicks {
		slant = slant || len(l) > 90/max(len(xTicks), 1)
	}

	return renderPNG(path, o.width, o.height, func(c draw.Canvas) error {
		c = margins(c)
		p := newPlot(title, xLabel, yLabel)
		switch {
		case xTicks != nil:
			p.X.Min, p.X.Max = -0.6, float64(len(xTicks))-0.4
			ticks := plot.ConstantTicks{}
			for k, l := range xTicks {
				ticks = append(ticks, plot.Tick{Value: float64(k), Label: l})
			}
			p.X.Tick.Marker = ticks
			if slant {
				p.X.Tick.Label.Rotation = math.Pi / 8
				p.X.Tick.Label.XAlign = draw.XRight
				p.X.Tick.Label.YAlign = draw.YTop
			}
		case empty:
			setRange(&p.X, 0, 1, false, 0)
		default:
			setRange(&p.X, xlo-band, xhi+band, false, 0.03)
		}
		if empty {
			setRange(&p.Y, 0, 1, false, 0)
		} else {
			setRange(&p.Y, ylo, yhi, false, 0.08)
		}
		var items []legendItem
		var normPts [][2]float64
		for i := range series {
			s := &series[i]
			if drawn[i] == 0 {
				continue
			}
			col := lineColours[i%len(lineColours)]
			eb := &errorBarPlotter{s: s, dx: offset(i), col: col, style: draw.LineStyle{Color: col, Width: vg.Points(1.8)}}
			p.Add(eb)
			name := s.Name
			if name == "" {
				name = fmt.Sprintf("series %d", i+1)
			}
			items = append(items, legendItem{label: name, thumb: eb})
			normPts = append(normPts, eb.normPoints(p)...)
		}
		c = drawPlot(p, c)
		if empty {
			drawCentredNote(p, c, "no finite data")
			return nil
		}
		if len(items) > 1 {
			drawLegend(p, c, items, normPts, 11)
		}
		return nil
	})
}

// smallestGap returns the smallest positive distance between the values of
// xs (1 when there is none).
func smallestGap(xs []float64) float64 {
	gap := math.Inf(1)
	for i := range xs {
		for j := i + 1; j < len(xs); j++ {
			if d := math.Abs(xs[i] - xs[j]); d > 0 {
				gap = math.Min(gap, d)
			}
		}
	}
	if math.IsInf(gap, 1) {
		return 1
	}
	return gap
}

// errorBarPlotter draws one ErrorBars series shifted by dx.
type errorBarPlotter struct {
	s     *ErrorBars
	dx    float64
	col   color.RGBA
	style draw.LineStyle
}

// Plot implements plot.Plotter.
func (e *errorBarPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	clampY := func(v float64) vg.Length { return trY(math.Min(math.Max(v, p.Y.Min), p.Y.Max)) }
	s := e.s
	faint := draw.GlyphStyle{Color: withAlpha(e.col, 0.55), Radius: vg.Points(2.2), Shape: draw.RingGlyph{}}
	mean := draw.GlyphStyle{Color: e.style.Color, Radius: vg.Points(3.6), Shape: draw.CircleGlyph{}}
	capW := vg.Points(5)
	var line []vg.Point
	for j := range s.Mean {
		x, m := s.X[j], s.Mean[j]
		if !finite(x) || !finite(m) {
			if len(line) > 1 && s.Connect {
				c.StrokeLines(e.style, c.ClipLinesXY(line)...)
			}
			line = nil
			continue
		}
		px := trX(x + e.dx)
		if s.Points != nil {
			for _, v := range s.Points[j] {
				if finite(v) {
					c.DrawGlyph(faint, vg.Point{X: px, Y: clampY(v)})
				}
			}
		}
		if err := s.Err[j]; finite(err) && err > 0 {
			lo, hi := clampY(m-err), clampY(m+err)
			c.StrokeLines(e.style, c.ClipLinesXY([]vg.Point{{X: px, Y: lo}, {X: px, Y: hi}})...)
			c.StrokeLines(e.style, c.ClipLinesXY([]vg.Point{{X: px - capW, Y: lo}, {X: px + capW, Y: lo}})...)
			c.StrokeLines(e.style, c.ClipLinesXY([]vg.Point{{X: px - capW, Y: hi}, {X: px + capW, Y: hi}})...)
		}
		c.DrawGlyph(mean, vg.Point{X: px, Y: clampY(m)})
		line = append(line, vg.Point{X: px, Y: clampY(m)})
	}
	if len(line) > 1 && s.Connect {
		c.StrokeLines(e.style, c.ClipLinesXY(line)...)
	}
}

// Thumbnail implements plot.Thumbnailer: a bar with caps and the marker.
func (e *errorBarPlotter) Thumbnail(c *draw.Canvas) {
	ctr := c.Center()
	h := (c.Max.Y - c.Min.Y) / 2
	c.StrokeLine2(e.style, ctr.X, ctr.Y-h, ctr.X, ctr.Y+h)
	if e.s.Connect {
		c.StrokeLine2(e.style, c.Min.X, ctr.Y, c.Max.X, ctr.Y)
	}
	c.DrawGlyph(draw.GlyphStyle{Color: e.style.Color, Radius: vg.Points(3.6), Shape: draw.CircleGlyph{}}, ctr)
}

// normPoints returns the series' bars (and connecting lines) in
// axis-normalised coordinates of p, for legend placement.
func (e *errorBarPlotter) normPoints(p *plot.Plot) [][2]float64 {
	var out, line [][2]float64
	norm := func(x, y float64) [2]float64 {
		return [2]float64{p.X.Norm(x + e.dx), p.Y.Norm(math.Min(math.Max(y, p.Y.Min), p.Y.Max))}
	}
	s := e.s
	for j := range s.Mean {
		x, m := s.X[j], s.Mean[j]
		if !finite(x) || !finite(m) {
			continue
		}
		lo, hi := m, m
		if err := s.Err[j]; finite(err) && err > 0 {
			lo, hi = m-err, m+err
		}
		out = append(out, densify([][2]float64{norm(x, lo), norm(x, hi)})...)
		line = append(line, norm(x, m))
	}
	if s.Connect {
		out = append(out, densify(line)...)
	}
	return out
}

// PlotGradNormSideBySide writes the gradient-norm distributions of several
// models side by side to path (PNG), one panel per histogram, titled by its
// Title and the number of examples, on one logarithmic scale shared by all panels: the GHM paper's
// Figure 2 (a) for each compared setting. The histograms must have the same
// number of bins; weights are not drawn. Options: Size (default 400 pixels
// per panel, at least 760, by 480).
func PlotGradNormSideBySide(path, title string, hists []GradHistogram, opts ...Option) error {
	if len(hists) == 0 {
		return fmt.Errorf("plot %s: no gradient histograms", path)
	}
	for i, h := range hists {
		if err := h.validate(path); err != nil {
			return fmt.Errorf("panel %d (%q): %w", i, h.Title, err)
		}
		if len(h.Counts) != len(hists[0].Counts) {
			return fmt.Errorf("plot %s: panel %d (%q) has %d bins, panel 0 has %d", path, i, h.Title, len(h.Counts), len(hists[0].Counts))
		}
	}
	o := seriesOptions{width: max(760, 400*len(hists)), height: 480}
	for _, opt := range opts {
		opt(&o)
	}
	fracs := make([][]float64, len(hists))
	totals := make([]float64, len(hists))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, h := range hists {
		fracs[i], totals[i] = h.fractions()
		l, u := positiveRange(fracs[i])
		lo, hi = math.Min(lo, l), math.Max(hi, u)
	}
	return renderPNG(path, o.width, o.height, func(c draw.Canvas) error {
		c = drawFigureTitle(margins(c), title, plot.DefaultTextHandler)
		tiles := draw.Tiles{Rows: 1, Cols: len(hists), PadX: vg.Points(14), PadTop: vg.Points(2)}
		for i, h := range hists {
			xlo, xhi := h.Edges[0], h.Edges[len(h.Edges)-1]
			if xlo >= 0 && xhi <= 1+1e-3 {
				xlo, xhi = 0, 1
			}
			yLabel := ""
			if i == 0 {
				yLabel = "fraction of examples (log scale)"
			}
			p := newPlot(fmt.Sprintf("%s (%s examples)", h.Title, humanCount(totals[i])), "gradient norm g", yLabel)
			p.Title.TextStyle.Font.Size = vg.Points(12)
			setRange(&p.X, xlo, xhi, false, 0)
			setDecadeRange(&p.Y, lo, hi)
			p.Add(&binBars{edges: h.Edges, vals: fracs[i], fill: lineColours[i%len(lineColours)]})
			pc := drawPlot(p, tiles.At(c, i, 0))
			if totals[i] == 0 {
				drawCentredNote(p, pc, "no examples")
			}
		}
		return nil
	})
}
