package report

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The colours of the pages. Every text colour has a contrast ratio of at
// least 4.5:1 (WCAG 2.x AA for normal text) with every background it is
// drawn on, and every chart mark at least 3:1 (AA for graphical objects)
// with the background of the chart: a chart sits in a figure, on the
// panel on screen, and on the page in print, where figures have no
// background. The package's tests compute each ratio, reading from the
// style sheet what each chart colour is drawn on; on the panel, the
// marks' lowest, accent has 5.9:1, judge 5.3:1, accuracy 6.8:1 and the
// axes (muted) 6.6:1.
//
//	colour      hex      used for                               on
//	ink         #1b2430  text, chart labels                     paper, panel, heat 0–3
//	muted       #4b5868  secondary text, axis labels and lines  paper, panel
//	accent      #1d5fa6  links, bars, the pass-rate series      paper (links), panel and paper (marks)
//	bad         #b3261e  failures                               paper, panel
//	good        #1a7431  passes                                 paper, panel
//	judge       #a14f00  the judge-score series                 panel and paper (marks)
//	accuracy    #6b3fa0  the accuracy series                    panel and paper (marks)
//	paper       #ffffff  the page, and figures in print
//	panel       #f3f5f8  figures on screen, table-header and KPI panels
//	heat 1–3    #e4eef9 #bcd4ef #7fa9dc  confusion cells        with ink
//	heat 4      #1d5fa6  the fullest confusion cells            with paper (white) text
//	grid        #d5dbe3  gridlines (decorative, no contrast required)
//
// The series of the trend chart are also told apart by their dash pattern
// and marker, not by colour alone.
const (
	colInk      = "#1b2430"
	colMuted    = "#4b5868"
	colAccent   = "#1d5fa6"
	colBad      = "#b3261e"
	colGood     = "#1a7431"
	colJudge    = "#a14f00"
	colAccuracy = "#6b3fa0"
	colPaper    = "#ffffff"
	colPanel    = "#f3f5f8"
	colHeat1    = "#e4eef9"
	colHeat2    = "#bcd4ef"
	colHeat3    = "#7fa9dc"
	colHeat4    = colAccent
	colGrid     = "#d5dbe3"
)

// A colourPair is a foreground drawn on a background, and the contrast it
// needs.
type colourPair struct {
	name    string
	fg, bg  string
	minimum float64
}

// Contrast minimums of WCAG 2.x, level AA.
const (
	minTextContrast    = 4.5
	minGraphicContrast = 3
)

// colourPairs lists every foreground the stylesheet and the charts draw on
// a background: a chart's on its figure's panel and, in print, on the
// page.
var colourPairs = []colourPair{
	{"text on the page", colInk, colPaper, minTextContrast},
	{"text on a panel", colInk, colPanel, minTextContrast},
	{"secondary text on the page", colMuted, colPaper, minTextContrast},
	{"secondary text on a panel", colMuted, colPanel, minTextContrast},
	{"links on the page", colAccent, colPaper, minTextContrast},
	{"failures on the page", colBad, colPaper, minTextContrast},
	{"failures on a panel", colBad, colPanel, minTextContrast},
	{"passes on the page", colGood, colPaper, minTextContrast},
	{"passes on a panel", colGood, colPanel, minTextContrast},
	{"confusion count, heat 0", colInk, colPaper, minTextContrast},
	{"confusion count, heat 1", colInk, colHeat1, minTextContrast},
	{"confusion count, heat 2", colInk, colHeat2, minTextContrast},
	{"confusion count, heat 3", colInk, colHeat3, minTextContrast},
	{"confusion count, heat 4", colPaper, colHeat4, minTextContrast},
	// Charts, in a figure: on its panel on screen, on the page in print.
	{"chart labels on a figure", colInk, colPanel, minTextContrast},
	{"axis labels on a figure", colMuted, colPanel, minTextContrast},
	{"bars on a figure", colAccent, colPanel, minGraphicContrast},
	{"pass-rate series on a figure", colAccent, colPanel, minGraphicContrast},
	{"judge-score series on a figure", colJudge, colPanel, minGraphicContrast},
	{"accuracy series on a figure", colAccuracy, colPanel, minGraphicContrast},
	{"axis lines on a figure", colMuted, colPanel, minGraphicContrast},
	{"chart labels on a printed figure", colInk, colPaper, minTextContrast},
	{"axis labels on a printed figure", colMuted, colPaper, minTextContrast},
	{"bars on a printed figure", colAccent, colPaper, minGraphicContrast},
	{"pass-rate series on a printed figure", colAccent, colPaper, minGraphicContrast},
	{"judge-score series on a printed figure", colJudge, colPaper, minGraphicContrast},
	{"accuracy series on a printed figure", colAccuracy, colPaper, minGraphicContrast},
	{"axis lines on a printed figure", colMuted, colPaper, minGraphicContrast},
}

// contrastRatio returns the WCAG 2.x contrast ratio of two colours given
// as #rrggbb: (L1 + 0.05) / (L2 + 0.05), L1 the lighter one's relative
// luminance.
func contrastRatio(a, b string) (float64, error) {
	la, err := luminance(a)
	if err != nil {
		return 0, err
	}
	lb, err := luminance(b)
	if err != nil {
		return 0, err
	}
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05), nil
}

// luminance returns the relative luminance of a #rrggbb colour, as WCAG
// 2.x defines it.
func luminance(hex string) (float64, error) {
	if len(hex) != 7 || hex[0] != '#' {
		return 0, fmt.Errorf("report: %q is not a #rrggbb colour", hex)
	}
	var ch [3]float64
	for i := range ch {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return 0, fmt.Errorf("report: %q is not a #rrggbb colour", hex)
		}
		c := float64(v) / 255
		if c <= 0.04045 {
			ch[i] = c / 12.92
		} else {
			ch[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*ch[0] + 0.7152*ch[1] + 0.0722*ch[2], nil
}

// stylesheet is the pages' one style sheet, inlined in a <style> element
// whose hash the Content-Security-Policy names.
var stylesheet = strings.NewReplacer(
	"INK", colInk, "MUTED", colMuted, "ACCENT", colAccent, "BAD", colBad, "GOOD", colGood,
	"JUDGE", colJudge, "ACCURACY", colAccuracy, "PAPER", colPaper, "PANEL", colPanel,
	"HEAT1", colHeat1, "HEAT2", colHeat2, "HEAT3", colHeat3, "HEAT4", colHeat4, "GRID", colGrid,
).Replace(`
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:PAPER;color:INK;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1.25rem}
header{padding-top:1.25rem}
h1{font-size:1.6rem;margin:.25rem 0}
h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid GRID;padding-bottom:.25rem}
h3{font-size:1rem;margin:1.25rem 0 .5rem}
p{margin:.4rem 0}
a{color:ACCENT}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}
.meta,.note,figcaption,caption,footer{color:MUTED}
.note{font-size:.9rem}
.bad{color:BAD}
.good{color:GOOD}
.status{font-weight:600}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .75rem;margin:.4rem 0}
dl.meta dt{font-weight:600}
dl.meta dd{margin:0}
.pair{display:grid;grid-template-columns:minmax(0,1fr);gap:0 1.25rem;align-items:start}
@media (min-width:70rem){.pair{grid-template-columns:minmax(0,44rem) minmax(0,1fr)}}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(10.5rem,1fr));gap:.6rem;margin:0;padding:0}
.kpis div{background:PANEL;border-radius:.4rem;padding:.5rem .75rem}
.kpis dt{color:MUTED;font-size:.85rem}
.kpis dd{margin:0;font-size:1.35rem;font-weight:600}
figure{margin:.5rem 0 1rem;background:PANEL;border-radius:.4rem;padding:.75rem}
figure svg{display:block;width:100%;max-width:44rem;height:auto}
svg text{fill:INK;font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg text.axis{fill:MUTED}
svg .axis line,svg .axis path{stroke:MUTED}
svg .grid line{stroke:GRID}
svg .bar{fill:ACCENT}
svg .s0{stroke:ACCENT;fill:none;stroke-width:2.5}
svg .s1{stroke:JUDGE;fill:none;stroke-width:2.5;stroke-dasharray:8 4}
svg .s2{stroke:ACCURACY;fill:none;stroke-width:2.5;stroke-dasharray:2 3}
svg .m0{fill:ACCENT}
svg .m1{fill:JUDGE}
svg .m2{fill:ACCURACY}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem;min-width:16rem}
caption{text-align:left;caption-side:top;padding:.25rem 0;font-size:.9rem}
th,td{border:1px solid GRID;padding:.3rem .55rem;text-align:left;vertical-align:top}
thead th{background:PANEL}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.wrap{overflow-x:auto}
.confusion td.num{min-width:3.5rem}
.confusion .h1{background:HEAT1}
.confusion .h2{background:HEAT2}
.confusion .h3{background:HEAT3}
.confusion .h4{background:HEAT4;color:PAPER}
.confusion .diag{font-weight:700;outline:2px solid INK;outline-offset:-3px}
.confusion .h4.diag{outline-color:PAPER}
.confusion .others{font-style:italic}
.legend{display:flex;flex-wrap:wrap;gap:1rem;margin:.25rem 0 0;padding:0;list-style:none;font-size:.9rem}
.legend svg{display:inline-block;width:2.2rem;height:.8rem;vertical-align:middle;margin-right:.3rem}
.reason{overflow-wrap:anywhere;max-width:40rem}
.nowrap,.nowrap code{white-space:nowrap;overflow-wrap:normal}
footer{margin-top:2.5rem;padding-bottom:2rem;font-size:.85rem}
@media print{
 @page{margin:14mm}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{font-size:10pt}
 header,main,footer{max-width:none;padding:0}
 a{color:INK;text-decoration:none}
 figure,table,.kpis div,tr{break-inside:avoid}
 h2,h3{break-after:avoid}
 figure{background:none;border:1px solid GRID}
 .pair{grid-template-columns:minmax(0,1fr)}
 .wrap{overflow:visible}
}
`)

// ContentSecurityPolicy is the Content-Security-Policy a server should send
// with the pages [WriteRun] and [WriteTrend] write: nothing is loaded or
// run — no script, image, font or frame — the one style sheet is the
// page's own inline one, named by its hash, and no other page may frame
// it. Each page also carries the policy in a <meta> element, so that
// written to a file it is held to it too, but for frame-ancestors, which
// only a header can deliver.
var ContentSecurityPolicy = metaPolicy + "; frame-ancestors 'none'"

// metaPolicy is the policy a page carries in its <meta> element:
// ContentSecurityPolicy without frame-ancestors, which browsers ignore
// there, saying so in the console.
var metaPolicy = "default-src 'none'; style-src '" + styleHash() + "'; base-uri 'none'; form-action 'none'"

func styleHash() string {
	sum := sha256.Sum256([]byte(stylesheet))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
