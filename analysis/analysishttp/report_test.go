package analysishttp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis/analysishttp"
	"github.com/debrief-go/debrief/analysis/report"
)

// page GETs an HTML page of the API and checks its answer against the
// OpenAPI document: a status the operation declares, in the media type it
// declares for that status.
func (e *env) page(t *testing.T, path, scope string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope", scope)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	documented(t, "GET", path, resp.StatusCode, "")
	media, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	assert.Contains(t, declaredMedia(t, path, resp.StatusCode), media, "GET %s answered %d in %s, which the document does not declare", path, resp.StatusCode, media)
	if media == "application/json" {
		conform(t, "GET", path, resp.StatusCode, raw)
	}
	return resp, string(raw)
}

// declaredMedia returns the media types the document declares for the
// answer of GET path with status.
func declaredMedia(t *testing.T, path string, status int) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(analysishttp.OpenAPI(), &doc))
	path, _, _ = strings.Cut(path, "?")
	var out []string
	for tmpl, ops := range doc.Paths {
		if !matchesTemplate(tmpl, path) {
			continue
		}
		for media := range ops["get"].Responses[strconv.Itoa(status)].Content {
			out = append(out, media)
		}
	}
	return out
}

func TestARunsReportAndItsDefinitionsTrendAreServedAsHTML(t *testing.T) {
	e := newEnv(t)
	_, body := e.call(t, "POST", "/api/analysis/definitions", scopeA, definitionJSON)
	key := body["definition"].(map[string]any)["key"].(string)
	e.call(t, "POST", "/api/analysis/conversations", scopeA, bulkJSON)
	_, body = e.call(t, "POST", "/api/analysis/definitions/"+key+"/run", scopeA, `{"selection":{"strategy":"all"}}`)
	runID := body["run"].(map[string]any)["id"].(string)
	_, err := e.exec.Drain(t.Context())
	require.NoError(t, err)

	resp, html := e.page(t, "/api/analysis/runs/"+runID+"/report", scopeA)
	require.Equal(t, http.StatusOK, resp.StatusCode, html)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, report.ContentSecurityPolicy, resp.Header.Get("Content-Security-Policy"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Contains(t, html, `data-metric="total" data-value="2"`)
	assert.Contains(t, html, `data-metric="passRate" data-value="1"`)
	assert.Contains(t, html, `data-confusion="intent"`)
	assert.Contains(t, html, `href="../../definitions/`+key+`/report"`, "a link to the trend, relative to the route")

	resp, html = e.page(t, "/api/analysis/definitions/"+key+"/report", scopeA)
	require.Equal(t, http.StatusOK, resp.StatusCode, html)
	assert.Contains(t, html, `href="../../runs/`+runID+`/report"`, "a link to each run's report")
	assert.Contains(t, html, `data-chart="chart-trend"`)
	resp, html = e.page(t, "/api/analysis/definitions/"+key+"/report?limit=1", scopeA)
	require.Equal(t, http.StatusOK, resp.StatusCode, html)
	assert.Equal(t, 1, strings.Count(html, "<tr data-run="))

	// Errors answer JSON, as every route's do.
	for _, c := range []struct {
		path, scope string
		status      int
	}{
		{"/api/analysis/runs/" + runID + "/report", scopeB, http.StatusNotFound},
		{"/api/analysis/runs/nope/report", scopeA, http.StatusNotFound},
		{"/api/analysis/definitions/" + key + "/report", scopeB, http.StatusNotFound},
		{"/api/analysis/definitions/nope/report", scopeA, http.StatusNotFound},
		{"/api/analysis/definitions/" + key + "/report?limit=0", scopeA, http.StatusBadRequest},
		{"/api/analysis/runs/" + runID + "/report?limit=1", scopeA, http.StatusBadRequest},
	} {
		resp, raw := e.page(t, c.path, c.scope)
		assert.Equal(t, c.status, resp.StatusCode, "%s: %s", c.path, raw)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), c.path)
	}
	_, body = e.call(t, "GET", "/api/analysis/runs/nope/report", scopeA, "")
	assert.Equal(t, `run "nope" not found`, body["message"])
	resp, _ = e.call(t, "POST", "/api/analysis/runs/"+runID+"/report", scopeA, "")
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
