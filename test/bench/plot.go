package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

// writePlot draws the success-path overhead as horizontal bars: one group
// per tracer, one bar per loop, the time per iteration as a ratio to no
// tracer on a log scale.
func writePlot(path string, res *results) error {
	type row struct {
		label  string
		ratios []float64
	}
	var loops []string
	var rows []row
	for _, o := range res.Overhead {
		if o.Tracer == "none" || o.Unavailable != "" {
			continue
		}
		if loops == nil {
			loops = sortedLoops(o.Loops)
		}
		r := row{label: o.Label}
		for _, k := range loops {
			r.ratios = append(r.ratios, o.Loops[k].Ratio)
		}
		rows = append(rows, r)
	}
	maxRatio := 2.0
	for _, r := range rows {
		for _, v := range r.ratios {
			maxRatio = math.Max(maxRatio, v)
		}
	}
	decades := math.Ceil(math.Log10(maxRatio) + 0.05)

	const (
		scale  = 2
		left   = 470
		right  = 140
		top    = 90
		barH   = 14
		gap    = 4
		width  = 1400
		legend = 70
	)
	groupH := len(loops)*(barH+gap) + 18
	height := top + len(rows)*groupH + legend + 50
	plotW := width - left - right
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	white := color.RGBA{255, 255, 255, 255}
	black := color.RGBA{20, 20, 20, 255}
	grey := color.RGBA{200, 200, 200, 255}
	fill(img, img.Bounds(), white)
	colors := []color.RGBA{{31, 119, 180, 255}, {158, 202, 225, 255}, {214, 96, 39, 255}, {253, 174, 107, 255}}

	drawText(img, 20, 16, "Success-path overhead: time per iteration / no tracer (log scale, median of paired runs)", scale, black)
	drawText(img, 20, 40, fmt.Sprintf("%s, %s CPUs, kernel %s", res.Env["cpu"], res.Env["cpus"], res.Env["kernel"]), scale, black)

	x := func(r float64) int {
		if r < 1 {
			r = 1
		}
		return left + int(math.Log10(r)/decades*float64(plotW))
	}
	bottom := top + len(rows)*groupH
	for d := 0.0; d <= decades; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > decades+1e-9 {
				continue
			}
			xx := x(v)
			fill(img, image.Rect(xx, top-6, xx+1, bottom), grey)
			label := fmt.Sprintf("%gx", v)
			drawText(img, xx-textWidth(label, scale)/2, bottom+6, label, scale, black)
		}
	}
	fill(img, image.Rect(left, top-6, left+2, bottom), black)

	for i, r := range rows {
		y0 := top + i*groupH
		drawText(img, 20, y0+(groupH-18)/2-glyphH, r.label, scale, black)
		for j, v := range r.ratios {
			y := y0 + j*(barH+gap)
			fill(img, image.Rect(left, y, max(x(v), left+1), y+barH), colors[j%len(colors)])
			label := fmt.Sprintf("%.3gx", v)
			if v >= 100 {
				label = fmt.Sprintf("%.0fx", v)
			}
			drawText(img, max(x(v), left+1)+6, y+(barH-glyphH*scale)/2+1, label, scale, black)
		}
	}
	for j, k := range loops {
		lx, ly := left+(j%2)*420, bottom+34+(j/2)*24
		fill(img, image.Rect(lx, ly, lx+14, ly+14), colors[j%len(colors)])
		drawText(img, lx+20, ly, loopLabel(k), scale, black)
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}
