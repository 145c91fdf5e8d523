package analysishttp

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"

	"github.com/debrief-go/debrief/analysis/report"
)

// reportOptions are the host's report options, with links between the
// pages relative to the routes that serve them.
func (h *handler) reportOptions() report.Options {
	o := h.opts.Report
	if o.RunURL == nil {
		// From /definitions/{key}/report to /runs/{id}/report.
		o.RunURL = func(id string) string { return "../../runs/" + url.PathEscape(id) + "/report" }
	}
	if o.TrendURL == nil {
		// From /runs/{id}/report to /definitions/{key}/report.
		o.TrendURL = func(key string) string { return "../../definitions/" + url.PathEscape(key) + "/report" }
	}
	return o
}

func (h *handler) runReport(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	data, err := report.LoadRun(ctx(r), h.svc, sc, r.PathValue("id"), h.reportOptions())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var page bytes.Buffer
	if err := report.WriteRun(&page, data); err != nil {
		h.fail(w, r, err)
		return
	}
	writeHTML(w, page.Bytes())
}

func (h *handler) trendReport(w http.ResponseWriter, r *http.Request) {
	sc, q, ok := h.begin(w, r, "limit")
	if !ok {
		return
	}
	n, ok := limit(w, q)
	if !ok {
		return
	}
	opts := h.reportOptions()
	if n > 0 {
		opts.TrendRuns = n
	}
	data, err := report.LoadTrend(ctx(r), h.svc, sc, r.PathValue("id"), opts)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var page bytes.Buffer
	if err := report.WriteTrend(&page, data); err != nil {
		h.fail(w, r, err)
		return
	}
	writeHTML(w, page.Bytes())
}

// htmlPage is the answer of a report route: an HTML page.
func htmlPage(desc string) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{"text/html": map[string]any{"schema": str}}}
}

// writeHTML answers 200 with a report page, under a policy that lets it
// load and run nothing.
func writeHTML(w http.ResponseWriter, page []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.Header().Set("Content-Security-Policy", report.ContentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(page)
}
