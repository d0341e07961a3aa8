package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one named line of a line plot: Y[i] plotted at X[i]. Points where
// X or Y is NaN or infinite are skipped (and, with a logarithmic Y axis, points
// where Y <= 0). X and Y must have the same length.
type Series struct {
	Name string
	X, Y []float64
}

// Option changes how PlotSeries draws.
type Option func(*seriesOptions)

type seriesOptions struct {
	logY          bool
	width, height int
	smooth        int
	markers       int
}

// LogY draws the Y axis on a logarithmic scale (points with Y <= 0 are
// skipped).
func LogY() Option { return func(o *seriesOptions) { o.logY = true } }

// Size sets the figure size in pixels (default 1000 x 600).
func Size(width, height int) Option {
	return func(o *seriesOptions) { o.width, o.height = width, height }
}

// Smooth draws each series faintly as recorded and, over it, its centred
// moving average over window points (useful for per-iteration losses). A
// window below 2 turns smoothing off.
func Smooth(window int) Option { return func(o *seriesOptions) { o.smooth = window } }

// maxMarkers is the number of points up to which a series is drawn with a
// marker at every point (AP per epoch, say); longer series are lines only.
const maxMarkers = 40

// maxDrawnPoints bounds the points drawn per series: longer series are reduced
// to the minimum and maximum of each of maxDrawnPoints/2 buckets, which keeps
// their envelope on screen.
const maxDrawnPoints = 4000

// PlotSeries writes a line plot of series to path (PNG), with a title, axis
// labels and a legend of the series names placed at the emptiest corner.
// Options: LogY, Size, Smooth. An empty or all-NaN input still gives a valid
// figure that says there is no data.
func PlotSeries(path, title, xLabel, yLabel string, series []Series, opts ...Option) error {
	o := seriesOptions{width: 1000, height: 600, markers: maxMarkers}
	for _, opt := range opts {
		opt(&o)
	}
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot %s: series %d (%q) has %d x values and %d y values", path, i, s.Name, len(s.X), len(s.Y))
		}
	}
	// Keep the drawable points of each series.
	clean := make([]plotter.XYs, len(series))
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, s := range series {
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if !finite(x) || !finite(y) || (o.logY && y <= 0) {
				continue
			}
			clean[i] = append(clean[i], plotter.XY{X: x, Y: y})
			xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
			ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
		}
	}
	empty := math.IsInf(xlo, 1)

	return renderPNG(path, o.width, o.height, func(c draw.Canvas) error {
		c = margins(c)
		p := newPlot(title, xLabel, yLabel)
		setRange(&p.X, xlo, xhi, false, 0)
		if empty {
			setRange(&p.Y, 0, 1, o.logY, 0)
		} else if o.logY {
			setRange(&p.Y, ylo, yhi, true, 0.03)
		} else {
			setRange(&p.Y, ylo, yhi, false, 0.04)
		}
		var items []legendItem
		var normPts [][2]float64
		for i, pts := range clean {
			if len(pts) == 0 {
				continue
			}
			sty := lineStyle(i, vg.Points(1.6))
			drawn := pts
			if o.smooth >= 2 && len(pts) > o.smooth {
				faint := lineStyle(i, vg.Points(0.8))
				faint.Color = withAlpha(sty.Color.(color.RGBA), 0.28)
				faint.Dashes = nil
				raw, err := plotter.NewLine(decimate(pts, maxDrawnPoints))
				if err != nil {
					return err
				}
				raw.LineStyle = faint
				p.Add(raw)
				drawn = movingAverage(pts, o.smooth, o.logY)
			}
			drawn = decimate(drawn, maxDrawnPoints)
			line, err := plotter.NewLine(drawn)
			if err != nil {
				return err
			}
			line.LineStyle = sty
			p.Add(line)
			var thumbs []plot.Thumbnailer
			thumbs = append(thumbs, line)
			if len(pts) <= o.markers {
				sc, err := plotter.NewScatter(pts)
				if err != nil {
					return err
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: sty.Color, Radius: vg.Points(2.6), Shape: draw.CircleGlyph{}}
				p.Add(sc)
				thumbs = append(thumbs, sc)
			}
			name := series[i].Name
			if name == "" {
				name = fmt.Sprintf("series %d", i+1)
			}
			items = append(items, legendItem{label: name, thumb: multiThumb(thumbs)})
			var norm [][2]float64
			for _, q := range decimate(drawn, 1000) {
				norm = append(norm, [2]float64{p.X.Norm(q.X), p.Y.Norm(q.Y)})
			}
			normPts = append(normPts, densify(norm)...)
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

// multiThumb draws several thumbnails on top of each other (a line and its
// markers).
type multiThumb []plot.Thumbnailer

// Thumbnail implements plot.Thumbnailer.
func (m multiThumb) Thumbnail(c *draw.Canvas) {
	for _, t := range m {
		t.Thumbnail(c)
	}
}

// movingAverage returns the centred moving average of pts over window points
// (shrinking at the ends). With logY the average is geometric, which is what
// the eye expects on a logarithmic axis.
func movingAverage(pts plotter.XYs, window int, logY bool) plotter.XYs {
	n := len(pts)
	vals := make([]float64, n)
	for i, q := range pts {
		vals[i] = q.Y
		if logY {
			vals[i] = math.Log(q.Y)
		}
	}
	prefix := make([]float64, n+1)
	for i, v := range vals {
		prefix[i+1] = prefix[i] + v
	}
	half := window / 2
	out := make(plotter.XYs, n)
	for i := range pts {
		lo, hi := max(0, i-half), min(n, i-half+window)
		m := (prefix[hi] - prefix[lo]) / float64(hi-lo)
		if logY {
			m = math.Exp(m)
		}
		out[i] = plotter.XY{X: pts[i].X, Y: m}
	}
	return out
}

// decimate reduces pts to at most about limit points by keeping, for each of
// limit/2 consecutive buckets, its lowest and highest point in their original
// order. Shorter inputs are returned as they are.
func decimate(pts plotter.XYs, limit int) plotter.XYs {
	if len(pts) <= limit || limit < 4 {
		return pts
	}
	buckets := limit / 2
	out := make(plotter.XYs, 0, 2*buckets)
	for b := range buckets {
		lo := b * len(pts) / buckets
		hi := (b + 1) * len(pts) / buckets
		if hi <= lo {
			continue
		}
		iMin, iMax := lo, lo
		for i := lo + 1; i < hi; i++ {
			if pts[i].Y < pts[iMin].Y {
				iMin = i
			}
			if pts[i].Y > pts[iMax].Y {
				iMax = i
			}
		}
		switch {
		case iMin == iMax:
			out = append(out, pts[iMin])
		case iMin < iMax:
			out = append(out, pts[iMin], pts[iMax])
		default:
			out = append(out, pts[iMax], pts[iMin])
		}
	}
	return out
}
