package report

import (
	"fmt"
	"math"
)

// Chart is one SVG, as shapes already placed: the template only writes
// them out. Title and Desc become the SVG's <title> and <desc>.
type Chart struct {
	ID, Title, Desc string
	Width, Height   int
	Rects           []Rect
	Texts           []Text
	Lines           []Line
}

// Rect is a bar or a legend key; Class picks its fill and pattern.
type Rect struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

// Text is a label; Anchor is start, middle or end.
type Text struct {
	X, Y   float64
	Anchor string
	S      string
}

// Line is an axis or a grid line.
type Line struct{ X1, Y1, X2, Y2 float64 }

// seriesClass is the CSS class of outcome i: a colour and a pattern.
func seriesClass(i int) string { return fmt.Sprintf("s%d", i) }

const (
	chartW          = 960
	left, right     = 56.0, 16.0
	top, bottom     = 40.0, 44.0
	legendY         = 16.0
	barGapFraction  = 0.2
	maxXLabels      = 12
	maxBarTotalText = 40
)

// niceCeil is the smallest 1, 2 or 5 times a power of ten at least v.
func niceCeil(v int) int {
	if v <= 5 {
		return 5
	}
	p := int(math.Pow(10, math.Floor(math.Log10(float64(v)))))
	for _, m := range []int{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// legend puts a key and a name for each series along the top.
func (c *Chart) legend(names []string) {
	x := left
	for i, n := range names {
		c.Rects = append(c.Rects, Rect{X: x, Y: legendY - 10, W: 14, H: 14, Class: seriesClass(i), Title: n})
		c.Texts = append(c.Texts, Text{X: x + 20, Y: legendY + 2, Anchor: "start", S: n})
		x += 30 + float64(len(n))*7.5
	}
}

// yAxis draws the value axis of a column chart with five grid lines.
func (c *Chart) yAxis(max int, plotH float64) {
	for i := 0; i <= 5; i++ {
		v := max * i / 5
		y := top + plotH - plotH*float64(i)/5
		c.Lines = append(c.Lines, Line{left, y, float64(c.Width) - right, y})
		c.Texts = append(c.Texts, Text{X: left - 6, Y: y + 4, Anchor: "end", S: Group(v)})
	}
}

// Columns is a column chart: one column per label, each stacked from its
// values (one per series; names names them, nil for a single series).
func Columns(id, title, desc string, labels []string, values [][]int, names []string, height int) Chart {
	c := Chart{ID: id, Title: title, Desc: desc, Width: chartW, Height: height}
	plotH := float64(height) - top - bottom
	plotW := float64(chartW) - left - right
	max := 0
	for _, vs := range values {
		max = maxInt(max, sum(vs))
	}
	max = niceCeil(max)
	c.yAxis(max, plotH)
	if len(names) > 1 {
		c.legend(names)
	}
	slot := plotW / float64(max1(len(labels)))
	every := (len(labels) + maxXLabels - 1) / maxXLabels
	for i, l := range labels {
		x := left + slot*float64(i) + slot*barGapFraction/2
		w := slot * (1 - barGapFraction)
		y := top + plotH
		for s, v := range values[i] {
			h := plotH * float64(v) / float64(max)
			y -= h
			if v > 0 {
				c.Rects = append(c.Rects, Rect{X: x, Y: y, W: w, H: h, Class: seriesClass(s), Title: barTitle(l, names, s, v)})
			}
		}
		if len(labels) <= maxBarTotalText && sum(values[i]) > 0 {
			c.Texts = append(c.Texts, Text{X: x + w/2, Y: y - 4, Anchor: "middle", S: Group(sum(values[i]))})
		}
		if i%every == 0 {
			c.Texts = append(c.Texts, Text{X: x + w/2, Y: top + plotH + 18, Anchor: "middle", S: l})
		}
	}
	c.Lines = append(c.Lines, Line{left, top + plotH, float64(chartW) - right, top + plotH})
	return c
}

// Rows is a bar chart lying down: one row per label, stacked by series,
// the label on the left and the total on the right.
func Rows(id, title, desc string, labels []string, values [][]int, names []string) Chart {
	const rowH, labelW, totalW = 24.0, 200.0, 70.0
	c := Chart{ID: id, Title: title, Desc: desc, Width: chartW, Height: int(top + rowH*float64(len(labels)) + 10)}
	c.legend(names)
	max := 1
	for _, vs := range values {
		max = maxInt(max, sum(vs))
	}
	plotW := float64(chartW) - labelW - totalW
	for i, l := range labels {
		y := top + rowH*float64(i)
		x := labelW
		c.Texts = append(c.Texts, Text{X: labelW - 8, Y: y + 16, Anchor: "end", S: l})
		for s, v := range values[i] {
			w := plotW * float64(v) / float64(max)
			if v > 0 {
				c.Rects = append(c.Rects, Rect{X: x, Y: y + 3, W: w, H: rowH - 6, Class: seriesClass(s), Title: barTitle(l, names, s, v)})
			}
			x += w
		}
		c.Texts = append(c.Texts, Text{X: x + 6, Y: y + 16, Anchor: "start", S: Group(sum(values[i]))})
	}
	return c
}

func barTitle(label string, names []string, s, v int) string {
	if len(names) > s {
		return fmt.Sprintf("%s: %s %s", label, Group(v), names[s])
	}
	return fmt.Sprintf("%s: %s", label, Group(v))
}

func sum(vs []int) int {
	n := 0
	for _, v := range vs {
		n += v
	}
	return n
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func max1(n int) int { return maxInt(n, 1) }
