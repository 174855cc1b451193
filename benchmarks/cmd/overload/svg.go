package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type halvingSeries struct {
	row     string
	at      []time.Duration
	p99     []time.Duration
	goodput []float64
}

var palette = []string{"#444444", "#d62728", "#ff9896", "#1f77b4", "#17becf", "#9467bd", "#2ca02c", "#ff7f0e", "#bcbd22"}

// panel is a plot area on the canvas with its axes' ranges.
type panel struct {
	x, y, w, h             float64
	xmin, xmax, ymin, ymax float64
	logY                   bool
}

func (p panel) px(x float64) float64 { return p.x + (x-p.xmin)/(p.xmax-p.xmin)*p.w }
func (p panel) py(y float64) float64 {
	if p.logY {
		y, lo, hi := math.Log10(max(y, p.ymin)), math.Log10(p.ymin), math.Log10(p.ymax)
		return p.y + p.h - (min(y, hi)-lo)/(hi-lo)*p.h
	}
	return p.y + p.h - (min(y, p.ymax)-p.ymin)/(p.ymax-p.ymin)*p.h
}

func (p panel) frame(b *strings.Builder, title, xlabel string, xticks, yticks []float64, yfmt func(float64) string, xfmt func(float64) string) {
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", p.x, p.y, p.w, p.h)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="13" font-weight="bold">%s</text>`+"\n", p.x, p.y-8, title)
	for _, t := range yticks {
		y := p.py(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", p.x, y, p.x+p.w, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="end">%s</text>`+"\n", p.x-4, y+3, yfmt(t))
	}
	for _, t := range xticks {
		x := p.px(t)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>`+"\n", x, p.y+p.h+14, xfmt(t))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`+"\n", p.x+p.w/2, p.y+p.h+30, xlabel)
}

func polyline(b *strings.Builder, pts [][2]float64, color string, dash bool) {
	var s []string
	for _, q := range pts {
		s = append(s, fmt.Sprintf("%.1f,%.1f", q[0], q[1]))
	}
	d := ""
	if dash {
		d = ` stroke-dasharray="5,3"`
	}
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(s, " "), color, d)
	for _, q := range pts {
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", q[0], q[1], color)
	}
}

func writeSVG(path string, cells []cell, loads []float64, capacity, realCapacity float64, unloadedP99 time.Duration, series []halvingSeries) error {
	const W, H = 1100.0, 440.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")

	var rowsSeen []string
	for _, c := range cells {
		if len(rowsSeen) == 0 || rowsSeen[len(rowsSeen)-1] != c.row {
			rowsSeen = append(rowsSeen, c.row)
		}
	}
	color := func(row string) string {
		for i, r := range rowNames() {
			if r == row {
				return palette[i%len(palette)]
			}
		}
		return "#000"
	}
	maxLoad := 0.0
	for _, l := range loads {
		maxLoad = max(maxLoad, l)
	}
	loadFmt := func(v float64) string { return fmt.Sprintf("%g×", v) }

	// Goodput against offered load.
	g := panel{x: 60, y: 40, w: 280, h: 280, xmin: 0, xmax: maxLoad * 1.05, ymin: 0, ymax: capacity * 1.1}
	g.frame(&b, "goodput (successful calls/s)", "offered load (× capacity)", loads,
		[]float64{0, capacity / 4, capacity / 2, capacity * 3 / 4, capacity},
		func(v float64) string { return fmt.Sprintf("%.0f", v) }, loadFmt)
	yc := g.py(realCapacity)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="2,2"/><text x="%.1f" y="%.1f" font-size="9" fill="#666">real capacity %.0f/s</text>`+"\n",
		g.x, yc, g.x+g.w, yc, g.x+4, yc+11, realCapacity)
	// p99 against offered load, log scale.
	l := panel{x: 420, y: 40, w: 280, h: 280, xmin: 0, xmax: maxLoad * 1.05, ymin: 1, ymax: 1000, logY: true}
	l.frame(&b, "p99 latency of successful calls (ms)", "offered load (× capacity)", loads,
		[]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		func(v float64) string { return fmt.Sprintf("%g", v) }, loadFmt)
	for _, row := range rowsSeen {
		var gp, lp [][2]float64
		for _, c := range cells {
			if c.row != row {
				continue
			}
			gp = append(gp, [2]float64{g.px(c.load), g.py(c.s.goodput)})
			if c.s.p99 > 0 {
				lp = append(lp, [2]float64{l.px(c.load), l.py(float64(c.s.p99) / 1e6)})
			}
		}
		dash := strings.HasPrefix(row, "failsafe")
		polyline(&b, gp, color(row), dash)
		polyline(&b, lp, color(row), dash)
	}
	y2 := l.py(2 * float64(unloadedP99) / 1e6)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="2,2"/><text x="%.1f" y="%.1f" font-size="9" fill="#666">2× unloaded p99</text>`+"\n",
		l.x, y2, l.x+l.w, y2, l.x+4, y2-3)
	// Legend.
	for i, row := range rowsSeen {
		y := 375.0 + float64(i%3)*18
		x := 60.0 + float64(i/3)*170
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/><text x="%.1f" y="%.1f" font-size="11">%s</text>`+"\n",
			x, y, x+20, y, color(row), x+26, y+4, row)
	}

	// Capacity halving: p99 per 250 ms.
	if len(series) > 0 {
		h := panel{x: 780, y: 40, w: 290, h: 280, xmin: 0, xmax: 10, ymin: 1, ymax: 1000, logY: true}
		h.frame(&b, "capacity halved at 4 s: p99 (ms)", "time (s)", []float64{0, 2, 4, 6, 8, 10},
			[]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
			func(v float64) string { return fmt.Sprintf("%g", v) }, func(v float64) string { return fmt.Sprintf("%g", v) })
		x4 := h.px(4)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="2,2"/>`+"\n", x4, h.y, x4, h.y+h.h)
		y2 := h.py(2 * float64(unloadedP99) / 1e6)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="2,2"/>`+"\n", h.x, y2, h.x+h.w, y2)
		for i, s := range series {
			var pts [][2]float64
			for j := range s.at {
				if s.p99[j] > 0 {
					pts = append(pts, [2]float64{h.px((s.at[j] + 125*time.Millisecond).Seconds()), h.py(float64(s.p99[j]) / 1e6)})
				}
			}
			polyline(&b, pts, color(s.row), strings.HasPrefix(s.row, "failsafe"))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="%s">%s</text>`+"\n", h.x+6, h.y+14+float64(i)*14, color(s.row), s.row)
		}
	}
	b.WriteString("</svg>\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
