// Package report writes the presentation part of a training run directory:
// PNG plots (loss and learning-rate curves, AP per epoch, precision-recall
// curves, the gradient-norm distribution of the GHM paper), CSV and JSON files
// with the plotted numbers, and a short run report in Markdown and HTML.
//
// Every function takes plain inputs (slices and small structs), writes its file
// atomically (a temporary file in the same folder, renamed when complete) and
// returns an error that names the file. Non-finite values are skipped, never
// fatal. The plots are drawn with gonum.org/v1/plot and its embedded Liberation
// fonts, so no system font is needed and the output is byte-for-byte
// reproducible.
package report

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"

	"github.com/ghmdet/ghmdet/internal/atomicfile"
	stdfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// dpi is the resolution the plots are rasterised at: a 1000 pixel wide figure
// is 10 inches wide, so a 12 point font is about 17 pixels high.
const dpi = 100

var (
	sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	boldFont = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: stdfont.WeightBold}

	gridColor   = color.RGBA{R: 0xe2, G: 0xe2, B: 0xe2, A: 0xff}
	axisColor   = color.RGBA{R: 0x33, G: 0x33, B: 0x33, A: 0xff}
	textColor   = color.RGBA{R: 0x11, G: 0x11, B: 0x11, A: 0xff}
	mutedColor  = color.RGBA{R: 0x77, G: 0x77, B: 0x77, A: 0xff}
	legendFill  = color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xe0}
	legendEdge  = color.RGBA{R: 0xbb, G: 0xbb, B: 0xbb, A: 0xff}
	lineColours = []color.RGBA{ // Tableau 10, the usual colour-blind-aware default
		{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
		{0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
		{0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
		{0x17, 0xbe, 0xcf, 0xff},
	}
	dashPatterns = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}}
)

// lineStyle returns the colour and dash pattern of the i-th line of a plot:
// the ten palette colours solid, then dashed, dotted and dash-dotted.
func lineStyle(i int, width vg.Length) draw.LineStyle {
	if i < 0 {
		i = -i
	}
	return draw.LineStyle{
		Color:  lineColours[i%len(lineColours)],
		Width:  width,
		Dashes: dashPatterns[(i/len(lineColours))%len(dashPatterns)],
	}
}

// withAlpha returns c with its opacity scaled to a (0..1).
func withAlpha(c color.RGBA, a float64) color.NRGBA {
	return color.NRGBA{R: c.R, G: c.G, B: c.B, A: uint8(math.Round(255 * a))}
}

// newPlot returns a plot with the report's look: sans-serif text, light grid,
// dark axes.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(boldFont, 14)
	p.Title.TextStyle.Color = textColor
	p.Title.Padding = vg.Points(8)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = font.From(sansFont, 12.5)
		ax.Label.TextStyle.Color = textColor
		ax.Tick.Label.Font = font.From(sansFont, 11)
		ax.Tick.Label.Color = textColor
		ax.Color = axisColor
		ax.Tick.Color = axisColor
		ax.Width = vg.Points(0.8)
		ax.Tick.Width = vg.Points(0.8)
		ax.Padding = vg.Points(4)
		ax.Label.Padding = vg.Points(4)
	}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	grid := plotter.NewGrid()
	grid.Vertical = draw.LineStyle{Color: gridColor, Width: vg.Points(0.6)}
	grid.Horizontal = draw.LineStyle{Color: gridColor, Width: vg.Points(0.6)}
	p.Add(grid)
	return p
}

// setRange fixes an axis range from data bounds [lo, hi]: a degenerate or
// empty range is widened, margin adds a fraction of the span on both sides
// (linear) or a factor (logarithmic).
func setRange(ax *plot.Axis, lo, hi float64, logScale bool, margin float64) {
	if logScale {
		if !(lo > 0) || math.IsInf(lo, 0) || !(hi >= lo) || math.IsInf(hi, 0) {
			lo, hi = 0.1, 10
		}
		if hi == lo {
			lo, hi = lo/2, hi*2
		}
		f := math.Pow(hi/lo, margin)
		ax.Min, ax.Max = lo/f, hi*f
		ax.Scale = plot.LogScale{}
		ax.Tick.Marker = logTicker{}
		return
	}
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) || hi < lo {
		lo, hi = 0, 1
	}
	if hi == lo {
		d := math.Abs(lo) * 0.05
		if d == 0 {
			d = 0.5
		}
		lo, hi = lo-d, hi+d
	}
	m := (hi - lo) * margin
	ax.Min, ax.Max = lo-m, hi+m
	ax.Scale = plot.LinearScale{}
	ax.Tick.Marker = niceTicker{}
}

// niceTicker places about six labelled ticks at multiples of 1, 2 or 5 times
// a power of ten, with unlabelled minor ticks between them.
type niceTicker struct{}

// Ticks implements plot.Ticker.
func (niceTicker) Ticks(lo, hi float64) []plot.Tick {
	if !finite(lo) || !finite(hi) || !(hi > lo) {
		return nil
	}
	raw := (hi - lo) / 6
	e := math.Floor(math.Log10(raw))
	mag := math.Pow10(int(e))
	step, minorDiv := 10*mag, 5
	for _, m := range []struct {
		f   float64
		div int
	}{{1, 5}, {2, 4}, {5, 5}} {
		if m.f*mag >= raw*(1-1e-9) {
			step, minorDiv = m.f*mag, m.div
			break
		}
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	minor := step / float64(minorDiv)
	var ticks []plot.Tick
	first := math.Ceil(lo/minor - 1e-9)
	for k := first; k*minor <= hi*(1+1e-12)+1e-300; k++ {
		v := k * minor
		if math.Abs(v) < minor*1e-9 {
			v = 0
		}
		t := plot.Tick{Value: v}
		if int64(math.Round(k))%int64(minorDiv) == 0 {
			if math.Abs(v) >= 1e6 {
				t.Label = strconv.FormatFloat(v, 'g', 4, 64)
			} else {
				t.Label = strconv.FormatFloat(v, 'f', decimals, 64)
			}
		}
		ticks = append(ticks, t)
		if len(ticks) > 200 {
			break
		}
	}
	return ticks
}

// logTicker labels the decades of a logarithmic axis, and also 2x and 5x
// multiples when the axis spans fewer than three decades (plot.LogTicks
// leaves such an axis almost without labels).
type logTicker struct{}

// Ticks implements plot.Ticker.
func (logTicker) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) || math.IsInf(hi, 0) {
		return nil
	}
	d0 := int(math.Floor(math.Log10(lo)))
	d1 := int(math.Ceil(math.Log10(hi)))
	span := math.Log10(hi / lo)
	var ticks []plot.Tick
	for d := d0; d <= d1; d++ {
		for m := 1; m <= 9; m++ {
			// Dividing by a power of ten keeps 0.3 exactly 0.3 (3*0.1 is not).
			v := float64(m) * math.Pow10(d)
			if d < 0 {
				v = float64(m) / math.Pow10(-d)
			}
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			labelled := m == 1 || (span < 3 && (m == 2 || m == 5)) || span < 0.6
			t := plot.Tick{Value: v}
			if labelled {
				t.Label = formatLogTick(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// formatLogTick writes a tick value compactly: 0.001, 0.5, 20, 1e-05 -> 1e-5.
func formatLogTick(v float64) string {
	e := math.Floor(math.Log10(v) + 1e-9)
	if e >= -3 && e <= 4 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	m := v / math.Pow10(int(e))
	if e < 0 {
		m = v * math.Pow10(int(-e))
	}
	ms := strconv.FormatFloat(math.Round(m*10)/10, 'f', -1, 64)
	return ms + "e" + strconv.Itoa(int(e))
}

// legendItem is one entry of a figure legend.
type legendItem struct {
	label string
	thumb plot.Thumbnailer
}

// drawLegend draws items inside the data area of p (already laid out in
// canvas c) at the corner that covers the fewest of the data points pts
// (given in axis-normalised coordinates, 0..1), on a light background box.
func drawLegend(p *plot.Plot, c draw.Canvas, items []legendItem, pts [][2]float64, fontSize vg.Length) {
	if len(items) == 0 {
		return
	}
	leg := plot.NewLegend()
	leg.TextStyle.Font = font.From(sansFont, fontSize)
	leg.TextStyle.Color = textColor
	leg.ThumbnailWidth = vg.Points(22)
	leg.Padding = vg.Points(2)
	leg.Top, leg.Left = true, true
	for _, it := range items {
		leg.Add(it.label, it.thumb)
	}
	dc := p.DataCanvas(c)
	r := leg.Rectangle(dc)
	w, h := r.Max.X-r.Min.X, r.Max.Y-r.Min.Y
	pad := vg.Points(5)
	inset := vg.Points(8)
	bw, bh := w+2*pad, h+2*pad
	dw, dh := dc.Max.X-dc.Min.X, dc.Max.Y-dc.Min.Y
	if dw <= 0 || dh <= 0 {
		return
	}
	type corner struct{ right, top bool }
	corners := []corner{{true, true}, {false, true}, {true, false}, {false, false}}
	best, bestCount := corners[0], -1
	for _, cr := range corners {
		x0 := inset
		if cr.right {
			x0 = dw - inset - bw
		}
		y0 := inset
		if cr.top {
			y0 = dh - inset - bh
		}
		nx0, nx1 := float64(x0/dw), float64((x0+bw)/dw)
		ny0, ny1 := float64(y0/dh), float64((y0+bh)/dh)
		n := 0
		for _, q := range pts {
			if q[0] >= nx0 && q[0] <= nx1 && q[1] >= ny0 && q[1] <= ny1 {
				n++
			}
		}
		if bestCount < 0 || n < bestCount {
			best, bestCount = cr, n
		}
	}
	x0 := dc.Min.X + inset
	if best.right {
		x0 = dc.Max.X - inset - bw
	}
	y0 := dc.Min.Y + inset
	if best.top {
		y0 = dc.Max.Y - inset - bh
	}
	box := vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x0 + bw, Y: y0 + bh}}
	c.FillPolygon(legendFill, []vg.Point{box.Min, {X: box.Max.X, Y: box.Min.Y}, box.Max, {X: box.Min.X, Y: box.Max.Y}})
	c.StrokeLines(draw.LineStyle{Color: legendEdge, Width: vg.Points(0.6)}, []vg.Point{box.Min, {X: box.Max.X, Y: box.Min.Y}, box.Max, {X: box.Min.X, Y: box.Max.Y}, box.Min})
	inner := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: x0 + pad, Y: y0 + pad},
		Max: vg.Point{X: x0 + pad + w, Y: y0 + pad + h},
	}}
	leg.Draw(inner)
}

// densify returns the points of a polyline given in axis-normalised
// coordinates together with points interpolated along its segments, at most
// 0.01 apart, so that legend placement sees lines and not only vertices.
func densify(line [][2]float64) [][2]float64 {
	var out [][2]float64
	for i, q := range line {
		if i > 0 {
			p := line[i-1]
			d := math.Hypot(q[0]-p[0], q[1]-p[1])
			if n := int(d / 0.01); n > 0 && n < 1000 {
				for k := 1; k <= n; k++ {
					f := float64(k) / float64(n+1)
					out = append(out, [2]float64{p[0] + f*(q[0]-p[0]), p[1] + f*(q[1]-p[1])})
				}
			}
		}
		out = append(out, q)
	}
	return out
}

// drawCentredNote writes a short grey message in the middle of p's data area
// (used when there is nothing to plot).
func drawCentredNote(p *plot.Plot, c draw.Canvas, msg string) {
	dc := p.DataCanvas(c)
	sty := text.Style{
		Color:   mutedColor,
		Font:    font.From(sansFont, 13),
		XAlign:  draw.XCenter,
		YAlign:  draw.YCenter,
		Handler: p.TextHandler,
	}
	c.FillText(sty, dc.Center(), msg)
}

// drawPlot draws p in c and returns the canvas the plot occupies (to pass to
// p.DataCanvas). The Y axis label is drawn here rather than by the plotting
// library, which reserves space for it as if the axis were linear and so
// leaves a large gap above a logarithmic axis.
func drawPlot(p *plot.Plot, c draw.Canvas) draw.Canvas {
	label := p.Y.Label.Text
	if label == "" {
		p.Draw(c)
		return c
	}
	p.Y.Label.Text = ""
	sty := p.Y.Label.TextStyle
	sty.Rotation = math.Pi / 2
	sty.XAlign = draw.XCenter
	sty.YAlign = draw.YTop
	if sty.Handler == nil {
		sty.Handler = p.TextHandler
	}
	h := sty.Height(label)
	inner := c
	inner.Min.X += h + p.Y.Label.Padding + vg.Points(2)
	dc := p.DataCanvas(inner)
	c.FillText(sty, vg.Point{X: c.Min.X + vg.Points(2), Y: (dc.Min.Y + dc.Max.Y) / 2}, label)
	p.Draw(inner)
	return inner
}

// margins returns c with room left around a figure: the plotting library
// draws axes and tick labels up to the canvas edge otherwise.
func margins(c draw.Canvas) draw.Canvas {
	c.Min.X += vg.Points(4)
	c.Max.X -= vg.Points(16)
	c.Min.Y += vg.Points(4)
	c.Max.Y -= vg.Points(6)
	return c
}

// drawFigureTitle writes a bold title centred at the top of c and returns the
// canvas below it.
func drawFigureTitle(c draw.Canvas, title string, handler text.Handler) draw.Canvas {
	if title == "" {
		return c
	}
	sty := text.Style{
		Color:   textColor,
		Font:    font.From(boldFont, 15),
		XAlign:  draw.XCenter,
		YAlign:  draw.YTop,
		Handler: handler,
	}
	top := vg.Points(8)
	c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - top}, title)
	c.Max.Y -= top + sty.Height(title) + vg.Points(6)
	return c
}

// renderPNG rasterises a figure of wPx x hPx pixels with paint and writes it
// atomically to path as PNG. A panic inside the plotting library (it panics on
// some degenerate inputs) is turned into an error naming path.
func renderPNG(path string, wPx, hPx int, paint func(c draw.Canvas) error) error {
	if wPx <= 0 || hPx <= 0 {
		return fmt.Errorf("plot %s: invalid size %dx%d", path, wPx, hPx)
	}
	img, err := rasterise(wPx, hPx, paint)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := png.Encoder{CompressionLevel: png.DefaultCompression}
		return enc.Encode(w, img)
	})
}

// rasterise draws paint onto a white RGBA image of the given size.
func rasterise(wPx, hPx int, paint func(c draw.Canvas) error) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("drawing failed: %v", r)
		}
	}()
	vc := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, wPx, hPx))), vgimg.UseDPI(dpi))
	if err := paint(draw.New(vc)); err != nil {
		return nil, err
	}
	return vc.Image(), nil
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
