package analysishttp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
)

const alertRuleJSON = `{"name":"accuracy drop","metric":"analysis_avg_accuracy","op":"lt","threshold":85,"window":"24h"}`

func TestAlertRulesAreManagedOverHTTP(t *testing.T) {
	e := newEnv(t)
	resp, out := e.call(t, "POST", "/api/analysis/alerts", scopeA, alertRuleJSON)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", out)
	rule := out["rule"].(map[string]any)
	id := rule["id"].(string)
	assert.Equal(t, "ok", rule["state"])
	assert.Equal(t, true, rule["enabled"])
	assert.Equal(t, "24h0m0s", rule["window"])
	assert.Equal(t, `"v1"`, resp.Header.Get("ETag"))
	assert.Equal(t, "/api/analysis/alerts/"+id, resp.Header.Get("Location"))

	resp, out = e.call(t, "POST", "/api/analysis/alerts", scopeA, alertRuleJSON)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "a name is unique: %v", out)
	resp, out = e.call(t, "POST", "/api/analysis/alerts", scopeA, `{"name":"","metric":"nope","op":"lt","threshold":1,"window":"1h"}`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	paths := []string{}
	for _, p := range out["problems"].([]any) {
		paths = append(paths, p.(map[string]any)["path"].(string))
	}
	assert.Contains(t, paths, "$.name")
	assert.Contains(t, paths, "$.metric")
	resp, _ = e.call(t, "POST", "/api/analysis/alerts", scopeA, `{"name":"x","metric":"analysis_pass_rate","op":"lt","threshold":1,"window":"soon"}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a window that is no duration")

	resp, out = e.call(t, "GET", "/api/analysis/alerts/accuracy drop", scopeA, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "by name: %v", out)
	assert.Equal(t, id, out["rule"].(map[string]any)["id"])
	resp, _ = e.call(t, "GET", "/api/analysis/alerts/"+id, scopeB, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "another scope's rule")

	changed := strings.Replace(alertRuleJSON, "85", "90", 1)
	resp, _ = e.call(t, "PUT", "/api/analysis/alerts/"+id, scopeA, changed, "If-Match", `"v7"`)
	assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode)
	assert.Equal(t, `"v1"`, resp.Header.Get("ETag"))
	resp, out = e.call(t, "PUT", "/api/analysis/alerts/"+id, scopeA, changed, "If-Match", `"v1"`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	assert.Equal(t, 90.0, out["rule"].(map[string]any)["threshold"])
	assert.Equal(t, `"v2"`, resp.Header.Get("ETag"))

	// Renamed onto another rule's name: a conflict of names, not of
	// versions, with or without If-Match.
	resp, out = e.call(t, "POST", "/api/analysis/alerts", scopeA, strings.Replace(alertRuleJSON, "accuracy drop", "other", 1))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", out)
	otherID := out["rule"].(map[string]any)["id"].(string)
	onto := strings.Replace(alertRuleJSON, "accuracy drop", "other", 1)
	resp, _ = e.call(t, "PUT", "/api/analysis/alerts/"+id, scopeA, onto, "If-Match", `"v2"`)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	resp, _ = e.call(t, "PUT", "/api/analysis/alerts/"+id, scopeA, onto)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	resp, _ = e.call(t, "DELETE", "/api/analysis/alerts/"+otherID, scopeA, "")
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	resp, out = e.call(t, "GET", "/api/analysis/alerts", scopeA, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, out["rules"], 1)
	resp, out = e.call(t, "GET", "/api/analysis/alerts", scopeB, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, out["rules"])

	// A run that fires it: its delivery log says so.
	ctx := context.Background()
	var told []analysis.Alert
	alerter, err := analysis.NewAlerter(analysis.AlerterConfig{Store: e.store, Notifier: analysis.NotifierFunc(func(_ context.Context, a analysis.Alert) error {
		told = append(told, a)
		return nil
	})})
	require.NoError(t, err)
	resp, out = e.call(t, "POST", "/api/analysis/conversations", scopeA, `{"name":"c","transcript":[{"role":"caller","content":"an outage"}],"referenceFields":{"intent":"billing"}}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", out)
	resp, out = e.call(t, "POST", "/api/analysis/definitions", scopeA, definitionJSON)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", out)
	key := out["definition"].(map[string]any)["key"].(string)
	resp, out = e.call(t, "POST", "/api/analysis/definitions/"+key+"/run", scopeA, `{"selection":{"strategy":"all"}}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", out)
	_, err = e.exec.Drain(ctx)
	require.NoError(t, err)
	require.NoError(t, alerter.Evaluate(ctx))
	_, err = alerter.Deliver(ctx)
	require.NoError(t, err)
	require.Len(t, told, 1, "the wrong intent: accuracy below 90")
	resp, out = e.call(t, "GET", "/api/analysis/alerts/"+id+"/notifications?limit=5", scopeA, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	log := out["notifications"].([]any)
	require.Len(t, log, 1)
	assert.Equal(t, "firing", log[0].(map[string]any)["to"])
	assert.Equal(t, "delivered", log[0].(map[string]any)["status"])
	resp, out = e.call(t, "GET", "/api/analysis/alerts/"+id, scopeA, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "firing", out["rule"].(map[string]any)["state"])

	resp, _ = e.call(t, "DELETE", "/api/analysis/alerts/"+id, scopeA, "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = e.call(t, "DELETE", "/api/analysis/alerts/"+id, scopeA, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = e.call(t, "GET", "/api/analysis/alerts/"+id+"/notifications", scopeA, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	_ = time.Second
}
