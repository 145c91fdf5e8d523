package report_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/analysishttp"
	"github.com/debrief-go/debrief/analysis/report"
	"github.com/debrief-go/debrief/llm"
)

// browserPath finds a Chromium or Chrome to drive. Without one the test
// is skipped, saying why — unless CI is set, where a missing browser is a
// failure: .ci/run installs Chromium.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no browser found (/usr/bin/chromium, or chromium, chromium-browser or google-chrome on PATH) and CI is set: " +
			"the browser test must run in CI; install Chromium (apt-get install chromium, as .ci/run does)")
	}
	t.Skip("no browser found (/usr/bin/chromium, or chromium, chromium-browser or google-chrome on PATH), and CI is unset: " +
		"skipping the browser test; install Chromium to run it")
	return ""
}

// console collects what a page reports as going wrong: console errors,
// uncaught exceptions, and errors of the browser's log (a resource that
// failed to load, a violation of the page's Content-Security-Policy).
type console struct {
	mu       sync.Mutex
	errors   []string
	warnings []string
}

func (c *console) listen(ev any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		text := string(ev.Type)
		for _, a := range ev.Args {
			text += " " + string(a.Value) + a.Description
		}
		switch ev.Type {
		case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeAssert:
			c.errors = append(c.errors, "console: "+text)
		case runtime.ConsoleAPICalledTypeWarning:
			c.warnings = append(c.warnings, "console: "+text)
		}
	case *runtime.EventExceptionThrown:
		c.errors = append(c.errors, "exception: "+ev.ExceptionDetails.Text)
	case *log.EventEntryAdded:
		text := fmt.Sprintf("log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		switch ev.Entry.Level {
		case log.EntryLevelError:
			c.errors = append(c.errors, text)
		case log.EntryLevelWarning:
			c.warnings = append(c.warnings, text)
		}
	}
}

func (c *console) snapshot() (errors, warnings []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errors...), append([]string(nil), c.warnings...)
}

// timing is what the browser's Navigation Timing says of a page's load,
// in milliseconds from the start of the navigation.
type timing struct {
	ResponseEnd      float64 `json:"responseEnd"`
	DOMContentLoaded float64 `json:"domContentLoaded"`
	Load             float64 `json:"load"`
	DecodedBodySize  int     `json:"decodedBodySize"`
}

const timingJS = `new Promise(resolve => {
	const check = () => {
		const e = performance.getEntriesByType('navigation')[0];
		if (e && e.loadEventEnd > 0) {
			resolve({responseEnd: e.responseEnd - e.startTime, domContentLoaded: e.domContentLoadedEventEnd - e.startTime,
				load: e.loadEventEnd - e.startTime, decodedBodySize: e.decodedBodySize});
		} else {
			setTimeout(check, 5);
		}
	};
	check();
})`

// chartBox is what the browser laid out of one chart.
type chartBox struct {
	ID        string  `json:"id"`
	Width     float64 `json:"width"`
	Height    float64 `json:"height"`
	BBoxW     float64 `json:"bboxW"`
	BBoxH     float64 `json:"bboxH"`
	Title     string  `json:"title"`
	Desc      string  `json:"desc"`
	HasTable  bool    `json:"hasTable"`
	TableRows int     `json:"tableRows"`
}

const chartsJS = `[...document.querySelectorAll('svg[role="img"]')].map(s => {
	const r = s.getBoundingClientRect(), b = s.getBBox();
	const [t, d] = s.getAttribute('aria-labelledby').split(' ').map(id => document.getElementById(id));
	const table = s.closest('section').querySelector('table');
	return {id: s.dataset.chart, width: r.width, height: r.height, bboxW: b.width, bboxH: b.height,
		title: t ? t.textContent : '', desc: d ? d.textContent : '',
		hasTable: !!table, tableRows: table ? table.tBodies[0].rows.length : 0};
})`

// paint is a colour a chart draws with, on the background the browser
// shows under the chart.
type paint struct {
	What string `json:"what"`
	Text bool   `json:"text"`
	FG   string `json:"fg"`
	BG   string `json:"bg"`
}

// paintsJS reads each chart's marks and labels: their computed fill (or
// stroke, for lines) and the background of the nearest element under
// the chart that has one. Gridlines are decorative: left out.
const paintsJS = `(() => {
	const hex = c => {
		const m = (c || '').match(/[\d.]+/g);
		if (!m || m.length < 3 || (m.length > 3 && Number(m[3]) === 0)) return '';
		return '#' + m.slice(0, 3).map(v => Number(v).toString(16).padStart(2, '0')).join('');
	};
	const background = el => {
		for (let e = el; e; e = e.parentElement) {
			const h = hex(getComputedStyle(e).backgroundColor);
			if (h) return h;
		}
		return '#ffffff';
	};
	const out = [];
	for (const svg of document.querySelectorAll('figure svg')) {
		const bg = background(svg);
		for (const el of svg.querySelectorAll('text, rect, circle, polyline, line')) {
			if (el.closest('.grid')) continue;
			const s = getComputedStyle(el);
			const stroked = el.tagName === 'polyline' || el.tagName === 'line';
			out.push({what: el.tagName + (el.getAttribute('class') ? '.' + el.getAttribute('class') : ''),
				text: el.tagName === 'text', fg: hex(stroked ? s.stroke : s.fill), bg});
		}
	}
	return out;
})()`

// checkPaints checks the contrast of each colour the charts draw with on
// the background the browser shows under them, and that the background is
// the one the palette says: want.
func checkPaints(t *testing.T, ctx context.Context, media, want string) {
	t.Helper()
	paints, err := chromedp.Run(ctx, chromedp.Evaluate[[]paint](paintsJS))
	require.NoError(t, err)
	require.NotEmpty(t, paints)
	seen := map[paint]bool{}
	for _, p := range paints {
		if seen[p] {
			continue
		}
		seen[p] = true
		assert.Equal(t, want, p.BG, "%s: a chart is drawn on %s %s", p.What, want, media)
		ratio, err := report.ContrastRatio(p.FG, p.BG)
		if !assert.NoError(t, err, p.What) {
			continue
		}
		minimum := 3.0 // a graphical object
		if p.Text {
			minimum = 4.5
		}
		t.Logf("%s, %s: %s on %s, %.2f:1", media, p.What, p.FG, p.BG, ratio)
		assert.GreaterOrEqual(t, ratio, minimum, "%s %s: %s on %s", p.What, media, p.FG, p.BG)
		switch p.What {
		case "text.axis":
			assert.Equal(t, report.Palette["muted"], p.FG, "axis labels are muted")
		case "text":
			assert.Equal(t, report.Palette["ink"], p.FG, "chart labels are ink")
		}
	}
}

// figures reads the numbers of the page: the aggregate's data attributes
// and text, and the tables behind the charts.
type figures struct {
	Metrics map[string]struct {
		Value string `json:"value"`
		Text  string `json:"text"`
	} `json:"metrics"`
	Fields []struct {
		Key      string `json:"key"`
		Compared int    `json:"compared,string"`
		Matched  int    `json:"matched,string"`
		Accuracy string `json:"accuracy"`
		Text     string `json:"text"`
	} `json:"fields"`
	Bins       []int `json:"bins"`
	Judged     int   `json:"judged,string"`
	Confusions []struct {
		Field    string `json:"field"`
		Total    int    `json:"total,string"`
		Diagonal int    `json:"diagonal,string"`
	} `json:"confusions"`
	Failed    int            `json:"failed,string"`
	NotPassed int            `json:"notPassed,string"`
	Usage     map[string]int `json:"usage"`
	Cost      string         `json:"cost"`
}

const figuresJS = `(() => {
	const metrics = {};
	for (const dd of document.querySelectorAll('[data-metric]')) metrics[dd.dataset.metric] = {value: dd.dataset.value, text: dd.textContent};
	const usage = {};
	for (const td of document.querySelectorAll('[data-usage]')) usage[td.dataset.usage] = Number(td.dataset.value);
	const judge = document.querySelector('table[data-table="judge"]');
	const cost = document.querySelector('[data-cost]');
	return {
		metrics,
		fields: [...document.querySelectorAll('tr[data-field]')].map(tr => ({key: tr.dataset.field, compared: tr.dataset.compared,
			matched: tr.dataset.matched, accuracy: tr.dataset.accuracy, text: tr.cells[3].textContent})),
		bins: [...document.querySelectorAll('tr[data-bin]')].map(tr => Number(tr.dataset.count)),
		judged: judge ? judge.dataset.judged : '0',
		confusions: [...document.querySelectorAll('table[data-confusion]')].map(t => ({field: t.dataset.confusion, total: t.dataset.total, diagonal: t.dataset.diagonal})),
		failed: (document.querySelector('table[data-table="failed"]') || {dataset: {count: '0'}}).dataset.count,
		notPassed: (document.querySelector('table[data-table="notpassed"]') || {dataset: {count: '0'}}).dataset.count,
		usage,
		cost: cost ? cost.textContent : '',
	};
})()`

// TestTheReportOfARunRendersInABrowser loads the report of a run of 2,000
// conversations in headless Chromium, served as the API serves it, and
// checks what a reader sees: every chart laid out, no error in the
// console, the page's numbers those of the aggregate.
func TestTheReportOfARunRendersInABrowser(t *testing.T) {
	path := browserPath(t)
	started := time.Now()
	const conversations = 2000
	f := newFixture(t, conversations)
	t.Logf("a run of %d conversations analysed in %s", conversations, time.Since(started).Round(time.Millisecond))
	// Earlier and later runs, for the trend: samples of 500.
	for range 3 {
		_, err := f.svc.StartRun(context.Background(), f.scope, f.def.Key, analysis.Selection{Strategy: analysis.SelectRandom, SampleSize: 500})
		require.NoError(t, err)
		_, err = f.exec.Drain(context.Background())
		require.NoError(t, err)
	}
	a := f.run.Aggregate
	require.NotNil(t, a)
	require.Equal(t, conversations, a.Total)

	prices := llm.PriceTable{"gpt-4o-mini": {Input: 0.15, Output: 0.6}, "gpt-4o": {Input: 2.5, Output: 10}}
	srv := httptest.NewServer(analysishttp.New(f.svc, func(*http.Request) (analysis.Scope, error) { return f.scope, nil },
		analysishttp.Options{Report: report.Options{Prices: prices, Currency: "USD"}}))
	t.Cleanup(srv.Close)
	runURL := srv.URL + "/api/analysis/runs/" + f.run.ID + "/report"
	trendURL := srv.URL + "/api/analysis/definitions/" + f.def.Key + "/report"

	// The page's weight, as served.
	resp, err := srv.Client().Get(runURL)
	require.NoError(t, err)
	html, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Less(t, len(html), 2_000_000, "the report of %d conversations weighs under 2 MB", conversations)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox itself as root
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	var cons console
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(cons.listen))
	t.Cleanup(cancel)
	// The first Run starts the browser: no timeout on it; the steps after
	// it get one each.
	require.NoError(t, chromedp.Do(ctx))
	step := func() context.Context {
		c, stop := context.WithTimeout(ctx, time.Minute)
		t.Cleanup(stop)
		return c
	}

	require.NoError(t, chromedp.Do(step(), chromedp.Navigate(runURL)))
	tm, err := chromedp.Run(step(), chromedp.Evaluate[timing](timingJS, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	t.Logf("run report of %d conversations: %d bytes of HTML; in the browser, response end %.1f ms, DOMContentLoaded %.1f ms, load event end %.1f ms (navigation start to load)",
		conversations, len(html), tm.ResponseEnd, tm.DOMContentLoaded, tm.Load)
	assert.Equal(t, len(html), tm.DecodedBodySize, "the browser got the page as served")

	charts, err := chromedp.Run(step(), chromedp.Evaluate[[]chartBox](chartsJS))
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, c := range charts {
		ids[c.ID] = true
		assert.Positive(t, c.Width, "%s: laid out with a width", c.ID)
		assert.Positive(t, c.Height, "%s: laid out with a height", c.ID)
		assert.Positive(t, c.BBoxW, "%s: draws something", c.ID)
		assert.Positive(t, c.BBoxH, "%s: draws something", c.ID)
		assert.NotEmpty(t, c.Title, "%s: named", c.ID)
		assert.NotEmpty(t, c.Desc, "%s: described", c.ID)
		assert.True(t, c.HasTable, "%s: its numbers are in a table", c.ID)
		assert.Positive(t, c.TableRows, c.ID)
	}
	assert.Equal(t, map[string]bool{"chart-fields": true, "chart-judge": true}, ids, "every chart of the run's page")

	checkPaints(t, step(), "on screen", report.Palette["panel"])

	fig, err := chromedp.Run(step(), chromedp.Evaluate[figures](figuresJS))
	require.NoError(t, err)
	ints := map[string]int{"total": a.Total, "completed": a.Completed, "failed": a.Failed, "passed": a.Passed, "judgeErrors": a.JudgeErrors}
	for name, want := range ints {
		assert.Equal(t, strconv.Itoa(want), fig.Metrics[name].Value, name)
		assert.Equal(t, fmtCount(want), fig.Metrics[name].Text, name)
	}
	ratios := map[string]*float64{"passRate": a.PassRate, "avgJudgeScore": a.AvgJudgeScore, "avgExtractionAccuracy": a.AvgExtractionAccuracy}
	for name, want := range ratios {
		require.NotNil(t, want, name)
		got, err := strconv.ParseFloat(fig.Metrics[name].Value, 64)
		require.NoError(t, err, name)
		assert.Equal(t, *want, got, "%s: exactly the aggregate's", name)
	}
	assert.Equal(t, fmt.Sprintf("%.1f%%", *a.PassRate*100), fig.Metrics["passRate"].Text)
	assert.Equal(t, fmt.Sprintf("%.2f", *a.AvgJudgeScore), fig.Metrics["avgJudgeScore"].Text)
	assert.Equal(t, fmt.Sprintf("%.1f%%", *a.AvgExtractionAccuracy*100), fig.Metrics["avgExtractionAccuracy"].Text)
	assert.Len(t, fig.Metrics, 8)

	require.Len(t, fig.Fields, len(a.PerFieldAccuracy))
	compared := map[string][2]int{}
	for i, fa := range a.PerFieldAccuracy {
		got := fig.Fields[i]
		assert.Equal(t, fa.Key, got.Key)
		assert.Equal(t, fa.Compared, got.Compared, fa.Key)
		assert.Equal(t, fa.Matched, got.Matched, fa.Key)
		assert.Equal(t, strconv.FormatFloat(*fa.Accuracy, 'g', -1, 64), got.Accuracy, fa.Key)
		assert.Equal(t, fmt.Sprintf("%.1f%%", *fa.Accuracy*100), got.Text, fa.Key)
		compared[fa.Key] = [2]int{fa.Compared, fa.Matched}
	}
	// Every completed item was graded or failed grading.
	judged := 0
	for _, n := range fig.Bins {
		judged += n
	}
	assert.Len(t, fig.Bins, report.HistogramBins)
	assert.Equal(t, a.Completed-a.JudgeErrors, judged, "the histogram holds every judged item")
	assert.Equal(t, judged, fig.Judged)
	require.Len(t, fig.Confusions, 2)
	for _, c := range fig.Confusions {
		assert.Equal(t, compared[c.Field][0], c.Total, "the matrix of %s holds the items that compared it", c.Field)
		assert.Equal(t, compared[c.Field][1], c.Diagonal, "its diagonal the items that matched")
	}
	assert.Equal(t, a.Failed+a.JudgeErrors, fig.Failed, "extraction failures and grading failures")
	assert.Equal(t, a.Completed-a.JudgeErrors-a.Passed, fig.NotPassed)
	u := f.run.Usage
	assert.Equal(t, map[string]int{"inputTokens": int(u.InputTokens), "cachedInputTokens": int(u.CachedInputTokens),
		"outputTokens": int(u.OutputTokens), "totalTokens": int(u.Total())}, fig.Usage)
	assert.Equal(t, fmt.Sprintf("between %.4f and %.4f USD", prices["gpt-4o-mini"].Cost(u), prices["gpt-4o"].Cost(u)), fig.Cost)

	shot, err := chromedp.Run(step(), chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run-report.png"), shot, 0o644))
	t.Logf("screenshot: %s (%d bytes)", filepath.Join(dir, "run-report.png"), len(shot))

	// In print, the charts keep their boxes, and the page prints.
	_, err = chromedp.Run(step(), func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
	})
	require.NoError(t, err)
	printed, err := chromedp.Run(step(), chromedp.Evaluate[[]chartBox](chartsJS))
	require.NoError(t, err)
	require.Len(t, printed, len(charts))
	for _, c := range printed {
		assert.Positive(t, c.Width*c.Height*c.BBoxW*c.BBoxH, "%s: laid out in print", c.ID)
	}
	checkPaints(t, step(), "in print", report.Palette["paper"])
	pdf, err := chromedp.Run(step(), chromedp.PrintToPDF(chromedp.PDFPrintBackground()))
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(pdf, []byte("%PDF-")), "the page prints")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run-report.pdf"), pdf, 0o644))
	t.Logf("printed: %s (%d bytes)", filepath.Join(dir, "run-report.pdf"), len(pdf))

	// Back to the screen.
	_, err = chromedp.Run(step(), func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: ""})
	})
	require.NoError(t, err)

	// The definition's trend: its chart too.
	require.NoError(t, chromedp.Do(step(), chromedp.Navigate(trendURL)))
	charts, err = chromedp.Run(step(), chromedp.Evaluate[[]chartBox](chartsJS))
	require.NoError(t, err)
	require.Len(t, charts, 1)
	assert.Equal(t, "chart-trend", charts[0].ID)
	assert.Positive(t, charts[0].Width*charts[0].Height*charts[0].BBoxW*charts[0].BBoxH, "the trend chart is laid out and draws something")
	assert.True(t, charts[0].HasTable)
	assert.Equal(t, 4, charts[0].TableRows, "the run and the three after it")
	checkPaints(t, step(), "on screen", report.Palette["panel"])
	shot, err = chromedp.Run(step(), chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "trend.png"), shot, 0o644))

	// Written from Go to files, the pages render alike, held to the
	// policy in their <meta> element.
	ctxLoad := context.Background()
	runData, err := report.LoadRun(ctxLoad, f.svc, f.scope, f.run.ID, report.Options{Prices: prices, Currency: "USD"})
	require.NoError(t, err)
	trendData, err := report.LoadTrend(ctxLoad, f.svc, f.scope, f.def.Key, report.Options{})
	require.NoError(t, err)
	runFile, trendFile := writeFile(t, dir, "run.html", func(w io.Writer) error { return report.WriteRun(w, runData) }),
		writeFile(t, dir, "trend.html", func(w io.Writer) error { return report.WriteTrend(w, trendData) })
	for file, want := range map[string][]string{runFile: {"chart-fields", "chart-judge"}, trendFile: {"chart-trend"}} {
		require.NoError(t, chromedp.Do(step(), chromedp.Navigate("file://"+file)))
		charts, err := chromedp.Run(step(), chromedp.Evaluate[[]chartBox](chartsJS))
		require.NoError(t, err)
		var got []string
		for _, c := range charts {
			got = append(got, c.ID)
			assert.Positive(t, c.Width*c.Height*c.BBoxW*c.BBoxH, "%s in %s: laid out, draws something", c.ID, file)
		}
		assert.Equal(t, want, got, file)
		policy, err := chromedp.Run(step(), chromedp.Evaluate[string](`document.querySelector('meta[http-equiv="Content-Security-Policy"]').content`))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(report.ContentSecurityPolicy, policy+"; "), "%s: the policy of the header, but frame-ancestors: %s", file, policy)
		checkPaints(t, step(), "on screen", report.Palette["panel"])
	}

	errs, warnings := cons.snapshot()
	assert.Empty(t, errs, "no console error, exception or failed load")
	for _, w := range warnings {
		t.Logf("browser warning: %s", w)
	}

	// And the policy holds: the trend's file may not add a style sheet.
	// (The browser reports the refusal in the console, after the check
	// above.)
	probe, err := chromedp.Run(step(), chromedp.Evaluate[struct {
		Directive string `json:"directive"`
		Outline   string `json:"outline"`
	}](styleProbeJS, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.Equal(t, "style-src-elem", probe.Directive, "a style element the policy does not name is refused")
	assert.Equal(t, "none", probe.Outline, "and not applied")
	t.Logf("browser test done in %s", time.Since(started).Round(time.Millisecond))
}

// styleProbeJS adds a style sheet the page's policy does not name, and
// answers the directive that refused it, if any, and whether it applied.
const styleProbeJS = `new Promise(resolve => {
	const answer = directive => resolve({directive, outline: getComputedStyle(document.body).outlineStyle});
	document.addEventListener('securitypolicyviolation', e => answer(e.effectiveDirective), {once: true});
	const s = document.createElement('style');
	s.textContent = 'body{outline:7px solid red}';
	document.head.append(s);
	setTimeout(() => answer(''), 2000);
})`

// writeFile writes a page to a file of dir, as a host would from Go, and
// returns its path.
func writeFile(t *testing.T, dir, name string, write func(io.Writer) error) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, write(f))
	require.NoError(t, f.Close())
	return path
}

// fmtCount writes n as the page does: thousands separated by commas.
func fmtCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
