package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A chart is an inline SVG chart: its geometry, computed here, drawn by
// the template "chart".
type chart struct {
	ID, Title, Desc string
	W, H            float64
	Grid, Axis      []line
	Text            []label
	Bars            []rect
	Series          []series
}

type line struct{ X1, Y1, X2, Y2 float64 }

type label struct {
	X, Y          float64
	Anchor, Class string
	Text          string
	// Full, when set, is the whole of a cut Text, for a title.
	Full string
}

type rect struct {
	X, Y, W, H float64
	Title      string
}

// A series is one line of a line chart: its polylines (a missing value
// breaks the line) and its markers.
type series struct {
	Index    int
	Segments []string
	Points   []point
}

type point struct {
	X, Y  float64
	Title string
}

// coord formats a coordinate.
func coord(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// shortLabel cuts a label to n characters, the last of them "…".
func shortLabel(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// fieldBar is one bar of the per-field accuracy chart.
type fieldBar struct {
	Key               string
	Compared, Matched int
	Accuracy          *float64
}

// accuracyBars draws each field's accuracy as a horizontal bar: fields,
// of all the run compared.
func accuracyBars(id string, fields []fieldBar, all int) *chart {
	if len(fields) == 0 {
		return nil
	}
	const (
		w, x0, x1   = 640.0, 170.0, 560.0
		top, rowH   = 10.0, 26.0
		barH        = 16.0
		axisLabelDy = 16.0
	)
	plotBottom := top + rowH*float64(len(fields))
	c := &chart{ID: id, W: w, H: plotBottom + 28,
		Title: "Accuracy per field",
		Desc:  fmt.Sprintf("Horizontal bars: the share of compared items in which each of %d fields matched its reference value, from 0 to 100%%.", len(fields))}
	if all > len(fields) {
		c.Title = fmt.Sprintf("Accuracy of the %d least accurate fields", len(fields))
		c.Desc = fmt.Sprintf("Horizontal bars: the share of compared items in which each of the %d least accurate of %d fields matched its reference value, from 0 to 100%%.", len(fields), all)
	}
	for _, t := range []float64{0, 0.25, 0.5, 0.75, 1} {
		x := x0 + t*(x1-x0)
		c.Grid = append(c.Grid, line{x, top, x, plotBottom})
		c.Text = append(c.Text, label{X: x, Y: plotBottom + axisLabelDy, Anchor: "middle", Class: "axis", Text: fmt.Sprintf("%.0f%%", t*100)})
	}
	c.Axis = append(c.Axis, line{x0, top, x0, plotBottom})
	for i, f := range fields {
		y := top + rowH*float64(i)
		mid := y + rowH/2 + 4
		name := clip(f.Key, 20)
		c.Text = append(c.Text, label{X: x0 - 8, Y: mid, Anchor: "end", Text: name.Text, Full: name.Full})
		acc := 0.0
		if f.Accuracy != nil {
			acc = *f.Accuracy
		}
		bw := acc * (x1 - x0)
		c.Bars = append(c.Bars, rect{X: x0, Y: y + (rowH-barH)/2, W: bw, H: barH,
			Title: fmt.Sprintf("%s: %s (%d of %d)", clipText(f.Key, maxFullText), pct(f.Accuracy), f.Matched, f.Compared)})
		c.Text = append(c.Text, label{X: x0 + bw + 6, Y: mid, Anchor: "start", Text: pct(f.Accuracy)})
	}
	return c
}

// niceMax returns a round upper bound of an axis holding max, and its
// step, for about four ticks.
func niceMax(max int) (top, step int) {
	if max <= 0 {
		return 1, 1
	}
	raw := float64(max) / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = int(mag)
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = int(m * mag)
			break
		}
	}
	step = max1(step)
	top = (max + step - 1) / step * step
	return top, step
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// histogramChart draws the judge-score histogram as vertical bars.
func histogramChart(id string, h Histogram) *chart {
	const (
		w, hgt         = 640.0, 250.0
		x0, x1, y0, y1 = 56.0, 624.0, 14.0, 206.0
	)
	peak := 0
	for _, n := range h {
		peak = max(peak, n)
	}
	top, step := niceMax(peak)
	c := &chart{ID: id, W: w, H: hgt,
		Title: "Judge scores",
		Desc:  fmt.Sprintf("Histogram of %d judge scores in ten bins of 0.1 from 0 to 1; bar heights count the items in each bin.", h.Total())}
	for v := 0; v <= top; v += step {
		y := y1 - float64(v)/float64(top)*(y1-y0)
		c.Grid = append(c.Grid, line{x0, y, x1, y})
		c.Text = append(c.Text, label{X: x0 - 6, Y: y + 4, Anchor: "end", Class: "axis", Text: strconv.Itoa(v)})
	}
	c.Axis = append(c.Axis, line{x0, y1, x1, y1}, line{x0, y0, x0, y1})
	slot := (x1 - x0) / HistogramBins
	for i, n := range h {
		x := x0 + slot*float64(i)
		bh := float64(n) / float64(top) * (y1 - y0)
		c.Bars = append(c.Bars, rect{X: x + 4, Y: y1 - bh, W: slot - 8, H: bh, Title: fmt.Sprintf("%s: %d items", binLabel(i), n)})
		c.Text = append(c.Text, label{X: x + slot/2, Y: y1 + 16, Anchor: "middle", Class: "axis", Text: binLabel(i)})
		if n > 0 {
			c.Text = append(c.Text, label{X: x + slot/2, Y: y1 - bh - 4, Anchor: "middle", Text: strconv.Itoa(n)})
		}
	}
	c.Text = append(c.Text, label{X: (x0 + x1) / 2, Y: hgt - 6, Anchor: "middle", Class: "axis", Text: "judge score"})
	return c
}

// binLabel names bin i of a histogram: "0.3–0.4"; the last bin holds 1.
func binLabel(i int) string {
	return fmt.Sprintf("%.1f–%.1f", float64(i)/HistogramBins, float64(i+1)/HistogramBins)
}

// trendSeries are the lines of a trend chart, in the order of the
// stylesheet's classes s0, s1, s2.
var trendSeries = []struct {
	Name  string
	Value func(TrendRun) *float64
	Text  func(*float64) string
}{
	{"Pass rate", func(r TrendRun) *float64 { return r.PassRate }, pct},
	{"Average judge score", func(r TrendRun) *float64 { return r.AvgJudgeScore }, score},
	{"Average extraction accuracy", func(r TrendRun) *float64 { return r.AvgExtractionAccuracy }, pct},
}

// trendChart draws each series of the runs as a line from 0 to 1, runs
// evenly spaced, oldest left.
func trendChart(id string, runs []TrendRun) *chart {
	if len(runs) == 0 {
		return nil
	}
	const (
		w, hgt         = 640.0, 260.0
		x0, x1, y0, y1 = 56.0, 610.0, 14.0, 214.0
	)
	c := &chart{ID: id, W: w, H: hgt,
		Title: "Trend over the latest runs",
		Desc: fmt.Sprintf("Line chart of the pass rate (solid line, circles), the average judge score (dashed line, squares) and the average extraction accuracy (dotted line, diamonds) of %d runs, oldest left, on a scale from 0 to 1 (0 to 100%%).",
			len(runs))}
	for _, t := range []float64{0, 0.25, 0.5, 0.75, 1} {
		y := y1 - t*(y1-y0)
		c.Grid = append(c.Grid, line{x0, y, x1, y})
		c.Text = append(c.Text, label{X: x0 - 6, Y: y + 4, Anchor: "end", Class: "axis", Text: fmt.Sprintf("%.0f%%", t*100)})
	}
	c.Axis = append(c.Axis, line{x0, y1, x1, y1}, line{x0, y0, x0, y1})
	xOf := func(i int) float64 {
		if len(runs) == 1 {
			return (x0 + x1) / 2
		}
		return x0 + float64(i)*(x1-x0)/float64(len(runs)-1)
	}
	every := (len(runs) + 11) / 12
	for i := range runs {
		if i%every == 0 || i == len(runs)-1 {
			c.Text = append(c.Text, label{X: xOf(i), Y: y1 + 16, Anchor: "middle", Class: "axis", Text: strconv.Itoa(i + 1)})
		}
	}
	c.Text = append(c.Text, label{X: (x0 + x1) / 2, Y: hgt - 8, Anchor: "middle", Class: "axis", Text: "run, oldest first"})
	for si, s := range trendSeries {
		ser := series{Index: si}
		var seg []string
		flush := func() {
			if len(seg) > 1 {
				ser.Segments = append(ser.Segments, strings.Join(seg, " "))
			}
			seg = nil
		}
		for i, r := range runs {
			v := s.Value(r)
			if v == nil || math.IsNaN(*v) {
				flush()
				continue
			}
			x, y := xOf(i), y1-math.Max(0, math.Min(1, *v))*(y1-y0)
			seg = append(seg, coord(x)+","+coord(y))
			ser.Points = append(ser.Points, point{X: x, Y: y, Title: fmt.Sprintf("Run %d: %s %s", i+1, strings.ToLower(s.Name), s.Text(v))})
		}
		flush()
		c.Series = append(c.Series, ser)
	}
	return c
}
