package recon

import (
	"fmt"
	"image/color"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var palette = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
}

// Plot draws the share still answering against Δ, one colour per rotation
// interval: the connect scanner solid, nmap dashed, the model dotted. The
// file's extension picks the format (.png, .svg, .pdf).
func Plot(cells []Cell, path string) error {
	p := plot.New()
	p.Title.Text = "Reconnaissance half-life: what a scan found, still answering Δ later"
	p.X.Label.Text = "Δ since the scan (s)"
	p.Y.Label.Text = "share of found sockets still answering"
	// Room above 1 for the legend, which would hide the curves at 1.
	p.Y.Min, p.Y.Max = 0, 1.5
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25}, {Value: 0.5, Label: "0.5"},
		{Value: 0.75}, {Value: 1, Label: "1"}})
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	for i, iv := range intervalsOf(cells) {
		c := palette[i%len(palette)]
		if err := addModel(p, cells, iv, c); err != nil {
			return err
		}
		for j, sc := range scannersOf(cells) {
			if err := addMeasured(p, cells, iv, sc, c, j); err != nil {
				return err
			}
		}
	}
	p.Legend.Add("dotted: max(0, 1-Δ/T), a uniform phase and no return")
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("recon: saving the plot: %w", err)
	}
	return nil
}

func addMeasured(p *plot.Plot, cells []Cell, iv time.Duration, scanner string, c color.Color, style int) error {
	var xys plotter.XYs
	for _, cell := range cells {
		if cell.Interval == iv && cell.Scanner == scanner && cell.Share != nil {
			xys = append(xys, plotter.XY{X: cell.Delta.Seconds(), Y: *cell.Share})
		}
	}
	if len(xys) == 0 {
		return nil
	}
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("recon: plotting %v %s: %w", iv, scanner, err)
	}
	l.Color, pts.Color = c, c
	l.Dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}}[style%2]
	pts.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}}[style%2]
	p.Add(l, pts)
	p.Legend.Add(fmt.Sprintf("T=%v %s", iv, scanner), l, pts)
	return nil
}

func addModel(p *plot.Plot, cells []Cell, iv time.Duration, c color.Color) error {
	var xys plotter.XYs
	for _, d := range deltasOf(cells) {
		xys = append(xys, plotter.XY{X: d.Seconds(), Y: Model(iv, d)})
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("recon: plotting the model for %v: %w", iv, err)
	}
	l.Color = c
	l.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
	p.Add(l)
	return nil
}

func intervalsOf(cells []Cell) []time.Duration {
	return distinct(cells, func(c Cell) time.Duration { return c.Interval })
}

func deltasOf(cells []Cell) []time.Duration {
	return distinct(cells, func(c Cell) time.Duration { return c.Delta })
}

func scannersOf(cells []Cell) []string {
	return distinct(cells, func(c Cell) string { return c.Scanner })
}

func distinct[T interface{ ~int64 | ~string }](cells []Cell, f func(Cell) T) []T {
	var out []T
	for _, c := range cells {
		out = append(out, f(c))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
