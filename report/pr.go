package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PRCurve is the precision-recall curve of one class: Precision[i] at
// Recall[i] (both in 0..1, same length; non-finite points are skipped), and
// the class's average precision (NaN when undefined, for example a class
// without ground truth).
type PRCurve struct {
	Name              string
	Recall, Precision []float64
	AP                float64
}

// maxPRLegend is the number of classes up to which each class gets a colour
// and a legend entry; with more classes the per-class curves are thin grey
// lines and only the mean curve is named.
const maxPRLegend = 10

// PlotPR writes the precision-recall curves to path (PNG): recall on x and
// precision on y, both 0..1, one line per class named "name (AP 0.512)", and,
// when there are several classes, their mean curve (interpolated precision at
// 101 recall points, averaged over classes, as COCO does) in bold black. The
// title gives the mean of the finite APs. Options: Size (default 800 x 700).
func PlotPR(path string, curves []PRCurve, opts ...Option) error {
	o := seriesOptions{width: 800, height: 700}
	for _, opt := range opts {
		opt(&o)
	}
	clean := make([]plotter.XYs, len(curves))
	for i, cv := range curves {
		if len(cv.Recall) != len(cv.Precision) {
			return fmt.Errorf("plot %s: curve %d (%q) has %d recall values and %d precision values", path, i, cv.Name, len(cv.Recall), len(cv.Precision))
		}
		for j := range cv.Recall {
			r, p := cv.Recall[j], cv.Precision[j]
			if finite(r) && finite(p) {
				clean[i] = append(clean[i], plotter.XY{X: r, Y: p})
			}
		}
		sort.SliceStable(clean[i], func(a, b int) bool { return clean[i][a].X < clean[i][b].X })
	}
	meanAP, nAP := 0.0, 0
	for _, cv := range curves {
		if finite(cv.AP) {
			meanAP += cv.AP
			nAP++
		}
	}
	title := "Precision-recall"
	if nAP > 0 {
		meanAP /= float64(nAP)
		title = fmt.Sprintf("Precision-recall (mean AP %.3f over %d classes)", meanAP, nAP)
		if nAP == 1 {
			title = fmt.Sprintf("Precision-recall (AP %.3f)", meanAP)
		}
	}

	return renderPNG(path, o.width, o.height, func(c draw.Canvas) error {
		c = margins(c)
		p := newPlot(title, "recall", "precision")
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		ticks := plot.ConstantTicks{}
		for v := 0; v <= 10; v++ {
			t := plot.Tick{Value: float64(v) / 10}
			if v%2 == 0 {
				t.Label = strconv.FormatFloat(float64(v)/10, 'f', 1, 64)
			}
			ticks = append(ticks, t)
		}
		p.X.Tick.Marker, p.Y.Tick.Marker = ticks, ticks

		many := len(curves) > maxPRLegend
		var items []legendItem
		var normPts [][2]float64
		drawnAny := false
		for i, pts := range clean {
			if len(pts) == 0 {
				continue
			}
			line, err := plotter.NewLine(decimate(pts, maxDrawnPoints))
			if err != nil {
				return err
			}
			if many {
				line.LineStyle = draw.LineStyle{Color: withAlpha(mutedColor, 0.45), Width: vg.Points(0.7)}
			} else {
				line.LineStyle = lineStyle(i, vg.Points(1.8))
				items = append(items, legendItem{label: prLabel(curves[i].Name, curves[i].AP, i), thumb: line})
			}
			p.Add(line)
			drawnAny = true
			var l [][2]float64
			for _, q := range decimate(pts, 500) {
				l = append(l, [2]float64{q.X, q.Y})
			}
			normPts = append(normPts, densify(l)...)
		}
		if many && drawnAny {
			items = append(items, legendItem{label: fmt.Sprintf("%d classes", len(curves)), thumb: &plotter.Line{LineStyle: draw.LineStyle{Color: mutedColor, Width: vg.Points(0.9)}}})
		}
		if mean := meanPRCurve(clean); mean != nil && (len(curves) > 1) {
			line, err := plotter.NewLine(mean)
			if err != nil {
				return err
			}
			line.LineStyle = draw.LineStyle{Color: textColor, Width: vg.Points(2.6)}
			p.Add(line)
			label := "all classes"
			if nAP > 0 {
				label = fmt.Sprintf("all classes (mean AP %.3f)", meanAP)
			}
			items = append(items, legendItem{label: label, thumb: line})
			var l [][2]float64
			for _, q := range mean {
				l = append(l, [2]float64{q.X, q.Y})
			}
			normPts = append(normPts, densify(l)...)
		}
		c = drawPlot(p, c)
		if !drawnAny {
			drawCentredNote(p, c, "no finite data")
			return nil
		}
		drawLegend(p, c, items, normPts, 10.5)
		return nil
	})
}

// prLabel is the legend entry of one class: "name (AP 0.512)".
func prLabel(name string, ap float64, i int) string {
	if name == "" {
		name = fmt.Sprintf("class %d", i)
	}
	if !finite(ap) {
		return name + " (AP n/a)"
	}
	return fmt.Sprintf("%s (AP %.3f)", name, ap)
}

// meanPRCurve averages the interpolated precision (the highest precision at
// any recall >= r) of the non-empty curves at recall r = 0, 0.01, ..., 1.
// Each curve must be sorted by recall. It returns nil when no curve has a
// point.
func meanPRCurve(curves []plotter.XYs) plotter.XYs {
	const steps = 100
	sum := make([]float64, steps+1)
	n := 0
	for _, pts := range curves {
		if len(pts) == 0 {
			continue
		}
		n++
		// envelope[j] = max precision at recall >= pts[j].X
		env := make([]float64, len(pts))
		best := math.Inf(-1)
		for j := len(pts) - 1; j >= 0; j-- {
			best = math.Max(best, pts[j].Y)
			env[j] = best
		}
		j := 0
		for k := 0; k <= steps; k++ {
			r := float64(k) / steps
			for j < len(pts) && pts[j].X < r-1e-12 {
				j++
			}
			if j < len(pts) {
				sum[k] += env[j]
			}
		}
	}
	if n == 0 {
		return nil
	}
	out := make(plotter.XYs, steps+1)
	for k := range out {
		out[k] = plotter.XY{X: float64(k) / steps, Y: sum[k] / float64(n)}
	}
	return out
}
