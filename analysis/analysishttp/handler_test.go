package analysishttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/analysishttp"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/internal/schemaval"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// scopeHeader carries the test's scope: "tenant/project".
func scopeOf(r *http.Request) (analysis.Scope, error) {
	tenant, project, ok := strings.Cut(r.Header.Get("X-Scope"), "/")
	if !ok {
		return analysis.Scope{}, errors.New("no scope")
	}
	return analysis.Scope{Tenant: tenant, Project: project}, nil
}

const (
	scopeA = "acme/support"
	scopeB = "globex/support"
)

// model answers extraction from the transcript and grades 0.8.
func model() llm.Model {
	return llmtest.NewResponder().
		On(extract.SchemaName, func(req llm.Request, _ *rand.Rand) llmtest.Step {
			intent := "billing"
			if strings.Contains(req.Messages[0].Content, "outage") {
				intent = "support"
			}
			return llmtest.ReplyJSON(map[string]any{"intent": intent, "resolved": true})
		}).
		OnJSON(judge.SchemaName, judge.Answer{Reasoning: "Polite.", Score: 0.8})
}

type env struct {
	srv   *httptest.Server
	svc   *analysis.Service
	exec  *analysis.Executor
	logs  *bytes.Buffer
	store analysis.Store
}

func newEnv(t *testing.T, opts ...func(*analysishttp.Options)) *env {
	t.Helper()
	store := memstore.New()
	svc, err := analysis.NewService(analysis.Config{Store: store})
	require.NoError(t, err)
	exec, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: store, Model: model(), Concurrency: 4})
	require.NoError(t, err)
	logs := &bytes.Buffer{}
	o := analysishttp.Options{EventInterval: 5 * time.Millisecond, Logger: slogTo(logs)}
	for _, f := range opts {
		f(&o)
	}
	srv := httptest.NewServer(analysishttp.New(svc, scopeOf, o))
	t.Cleanup(srv.Close)
	return &env{srv: srv, svc: svc, exec: exec, logs: logs, store: store}
}

// call makes a request and decodes the JSON answer (nil for none).
func (e *env) call(t *testing.T, method, path, scope, body string, header ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if scope != "" {
		req.Header.Set("X-Scope", scope)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if strings.HasPrefix(path, analysishttp.Prefix+"/") && !strings.Contains(path, "/./") && !strings.Contains(path, "/../") {
		documented(t, method, path, resp.StatusCode, body)
	}
	if len(raw) == 0 {
		return resp, nil
	}
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s: %s", method, path, raw)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	conform(t, method, path, resp.StatusCode, raw)
	return resp, out
}

// documented checks a request against the OpenAPI document: the status
// answered is one its operation declares, and a body the API took
// satisfies the operation's request schema.
func documented(t *testing.T, method, path string, status int, body string) {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema json.RawMessage `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(analysishttp.OpenAPI(), &doc))
	path, _, _ = strings.Cut(path, "?")
	for tmpl, ops := range doc.Paths {
		if !matchesTemplate(tmpl, path) {
			continue
		}
		op, ok := ops[strings.ToLower(method)]
		if !ok {
			assert.Equal(t, http.StatusMethodNotAllowed, status, "%s %s is not documented", method, path)
			return
		}
		assert.Contains(t, op.Responses, fmt.Sprint(status), "%s %s answered %d, which the document does not declare", method, path, status)
		if body != "" && status < 300 {
			for mt, c := range op.RequestBody.Content {
				problems := compiledRaw(t, c.Schema).ValidateJSON([]byte(body))
				assert.Empty(t, problems, "%s %s took a body the document (%s) refuses: %s", method, path, mt, body)
			}
		}
		return
	}
	assert.Equal(t, http.StatusNotFound, status, "%s is not documented", path)
}

func matchesTemplate(tmpl, path string) bool {
	a, b := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(strings.HasPrefix(a[i], "{") && b[i] != "") {
			return false
		}
	}
	return true
}

// compiledRaw compiles a schema of the document, its references resolved
// against the document's components.
func compiledRaw(t *testing.T, schema json.RawMessage) *schemaval.Schema {
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(analysishttp.OpenAPI(), &doc))
	defs, err := json.Marshal(doc.Components.Schemas)
	require.NoError(t, err)
	var top map[string]any
	require.NoError(t, json.Unmarshal(schema, &top))
	top["$defs"] = json.RawMessage(defs)
	raw, err := json.Marshal(top)
	require.NoError(t, err)
	s, err := schemaval.Compile([]byte(strings.ReplaceAll(string(raw), "#/components/schemas/", "#/$defs/")))
	require.NoError(t, err)
	return s
}

// conform checks an answer against the schema the OpenAPI document gives
// it, so that the document says what the handlers do.
func conform(t *testing.T, method, path string, status int, raw []byte) {
	t.Helper()
	name := schemaFor(method, path, status)
	if name == "" {
		return
	}
	problems := compiled(t, name).ValidateJSON(raw)
	assert.Empty(t, problems, "%s %s → %d does not match %s: %s", method, path, status, name, raw)
}

var (
	schemaMu sync.Mutex
	schemas  = map[string]*schemaval.Schema{}
)

func compiled(t *testing.T, name string) *schemaval.Schema {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := schemas[name]; ok {
		return s
	}
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(analysishttp.OpenAPI(), &doc))
	defs, err := json.Marshal(doc.Components.Schemas)
	require.NoError(t, err)
	raw := `{"$ref":"#/$defs/` + name + `","$defs":` + strings.ReplaceAll(string(defs), "#/components/schemas/", "#/$defs/") + `}`
	s, err := schemaval.Compile([]byte(raw))
	require.NoError(t, err)
	schemas[name] = s
	return s
}

// schemaFor names the schema of an answer, as the document gives it.
func schemaFor(method, path string, status int) string {
	path, _, _ = strings.Cut(path, "?")
	rest := strings.TrimPrefix(path, analysishttp.Prefix)
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if status >= 400 {
		return "ErrorBody"
	}
	switch {
	case rest == "/definitions" && method == "GET":
		return "DefinitionsBody"
	case parts[0] == "definitions" && len(parts) == 2 || rest == "/definitions":
		return "DefinitionBody"
	case len(parts) == 3 && parts[2] == "run":
		return "RunBody"
	case len(parts) == 3 && parts[2] == "slots":
		return "SlotsBody"
	case rest == "/conversations" && method == "GET":
		return "ConversationsBody"
	case rest == "/conversations" && method == "POST" && status == http.StatusCreated:
		return "IngestResponse"
	case rest == "/conversations" && method == "POST":
		return "KeptBody"
	case parts[0] == "conversations" && len(parts) == 2:
		return "ConversationBody"
	case rest == "/runs":
		return "RunsBody"
	case parts[0] == "runs" && len(parts) == 2, len(parts) == 3 && parts[2] == "cancel":
		return "RunBody"
	case len(parts) == 3 && parts[2] == "items":
		return "ItemPage"
	case len(parts) == 3 && parts[2] == "gaps":
		return "GapsBody"
	case rest == "/alerts" && method == "GET":
		return "AlertRulesBody"
	case rest == "/alerts" || parts[0] == "alerts" && len(parts) == 2:
		return "AlertRuleBody"
	case parts[0] == "alerts" && len(parts) == 3 && parts[2] == "notifications":
		return "AlertNotificationsBody"
	}
	return ""
}

const definitionJSON = `{
	"name": "Call intent & resolution",
	"fieldSet": [
		{ "key": "intent", "type": "enum", "enumValues": ["billing", "support"], "required": true },
		{ "key": "resolved", "type": "boolean" }
	],
	"extractionInstructions": "Focus on the caller's primary reason.",
	"modes": { "store": true, "accuracy": true, "judge": { "rubric": "Was the caller helped politely?" } },
	"extractionModelKey": "gpt-4o-mini",
	"judgeModelKey": "gpt-4o",
	"schedule": { "cron": "0 2 * * *", "enabled": true }
}`

const bulkJSON = `{
	"conversations": [
		{ "name": "Call 1042", "transcript": [
			{ "role": "caller", "content": "I was charged twice." },
			{ "role": "agent", "content": "I've issued a refund." } ],
		  "referenceFields": { "intent": "billing", "resolved": true } },
		{ "name": "Call 1043", "transcript": [
			{ "role": "caller", "content": "There is an outage in my street." },
			{ "role": "agent", "content": "We are on it." } ],
		  "referenceFields": { "intent": "support", "resolved": true }, "tags": ["network"] }
	]
}`

func TestTheSeedsWalkThrough(t *testing.T) {
	e := newEnv(t)
	// Create a definition: 201, wrapped, with an ETag and a Location.
	resp, body := e.call(t, "POST", "/api/analysis/definitions", scopeA, definitionJSON)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	def := body["definition"].(map[string]any)
	assert.Equal(t, "call-intent-resolution", def["key"])
	assert.Equal(t, `"v1"`, resp.Header.Get("ETag"))
	assert.Equal(t, "/api/analysis/definitions/"+def["id"].(string), resp.Header.Get("Location"))

	// List, search, get by id and by key.
	_, body = e.call(t, "GET", "/api/analysis/definitions?search=intent", scopeA, "")
	assert.Len(t, body["definitions"], 1)
	_, body = e.call(t, "GET", "/api/analysis/definitions?search=nothing", scopeA, "")
	assert.Equal(t, []any{}, body["definitions"], "an empty list is [], never null")
	for _, idOrKey := range []string{def["id"].(string), "call-intent-resolution"} {
		resp, body = e.call(t, "GET", "/api/analysis/definitions/"+idOrKey, scopeA, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, def["id"], body["definition"].(map[string]any)["id"])
	}

	// Ingest one and many.
	resp, body = e.call(t, "POST", "/api/analysis/conversations", scopeA, bulkJSON)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	assert.Len(t, body["conversations"], 2)
	resp, body = e.call(t, "POST", "/api/analysis/conversations", scopeA, `{"name":"Call 7","transcript":[{"role":"caller","content":"Refund please"}],"source":"manual"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	conv := body["conversation"].(map[string]any)
	assert.Equal(t, "call-7", conv["key"])
	assert.Equal(t, "/api/analysis/conversations/"+conv["id"].(string), resp.Header.Get("Location"))

	// Search covers the transcript.
	_, body = e.call(t, "GET", "/api/analysis/conversations?search=refund&limit=100", scopeA, "")
	keys := []string{}
	for _, c := range body["conversations"].([]any) {
		keys = append(keys, c.(map[string]any)["key"].(string))
	}
	assert.ElementsMatch(t, []string{"call-1042", "call-7"}, keys)

	// Run: 202 and a pending run.
	resp, body = e.call(t, "POST", "/api/analysis/definitions/call-intent-resolution/run", scopeA,
		`{"selection":{"strategy":"keys","conversationKeys":["call-1042","call-1043"]}}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", body)
	run := body["run"].(map[string]any)
	assert.Equal(t, "pending", run["status"])
	assert.Nil(t, run["aggregate"])
	assert.Equal(t, []any{}, run["items"])
	runPath := "/api/analysis/runs/" + run["id"].(string)
	assert.Equal(t, runPath, resp.Header.Get("Location"))

	// A second run while the first is in progress: 409.
	resp, body = e.call(t, "POST", "/api/analysis/definitions/call-intent-resolution/run", scopeA, `{"selection":{"strategy":"all"}}`)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "run_in_progress", body["error"])

	_, err := e.exec.Drain(context.Background())
	require.NoError(t, err)
	_, body = e.call(t, "GET", runPath, scopeA, "")
	run = body["run"].(map[string]any)
	assert.Equal(t, "completed", run["status"])
	agg := run["aggregate"].(map[string]any)
	assert.Equal(t, 2.0, agg["total"])
	assert.Equal(t, 2.0, agg["passed"])
	assert.Equal(t, 1.0, agg["avgExtractionAccuracy"])
	items := run["items"].([]any)
	require.Len(t, items, 2)
	item := items[0].(map[string]any)
	assert.Contains(t, []any{"call-1042", "call-1043"}, item["conversationKey"])
	assert.Equal(t, true, item["passed"])

	// List runs, page items, slots.
	_, body = e.call(t, "GET", "/api/analysis/runs?definitionKey=call-intent-resolution&limit=50", scopeA, "")
	runs := body["runs"].([]any)
	require.Len(t, runs, 1)
	assert.NotContains(t, runs[0].(map[string]any), "items", "a list leaves the items out")
	assert.NotNil(t, runs[0].(map[string]any)["aggregate"])
	_, body = e.call(t, "GET", runPath+"/items?limit=1", scopeA, "")
	assert.Len(t, body["items"], 1)
	require.NotEmpty(t, body["nextCursor"])
	_, body = e.call(t, "GET", runPath+"/items?limit=1&cursor="+body["nextCursor"].(string), scopeA, "")
	assert.Len(t, body["items"], 1)
	_, body = e.call(t, "GET", "/api/analysis/definitions/call-intent-resolution/slots", scopeA, "")
	assert.Equal(t, []any{}, body["slots"])

	// Store mode wrote the fields back.
	_, body = e.call(t, "GET", "/api/analysis/conversations/call-1043", scopeA, "")
	assert.Equal(t, map[string]any{"intent": "support", "resolved": true}, body["conversation"].(map[string]any)["extractedFields"])

	// Cancel a finished run: 409. Delete: 204, then 404.
	resp, body = e.call(t, "POST", runPath+"/cancel", scopeA, "")
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "conflict", body["error"])
	resp, _ = e.call(t, "DELETE", "/api/analysis/conversations/call-7", scopeA, "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = e.call(t, "GET", "/api/analysis/conversations/call-7", scopeA, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = e.call(t, "DELETE", "/api/analysis/definitions/call-intent-resolution", scopeA, "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, body = e.call(t, "GET", "/api/analysis/definitions/call-intent-resolution", scopeA, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, `definition "call-intent-resolution" not found`, body["message"])
}

func TestEveryObjectOfAnotherScopeIsNotFound(t *testing.T) {
	e := newEnv(t)
	_, body := e.call(t, "POST", "/api/analysis/definitions", scopeA, definitionJSON)
	defID := body["definition"].(map[string]any)["id"].(string)
	_, body = e.call(t, "POST", "/api/analysis/conversations", scopeA, bulkJSON)
	convID := body["conversations"].([]any)[0].(map[string]any)["id"].(string)
	_, body = e.call(t, "POST", "/api/analysis/definitions/"+defID+"/run", scopeA, `{"selection":{"strategy":"all"}}`)
	runID := body["run"].(map[string]any)["id"].(string)

	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/analysis/definitions/" + defID, ""},
		{"GET", "/api/analysis/definitions/call-intent-resolution", ""},
		{"PATCH", "/api/analysis/definitions/" + defID, `{"name":"x"}`},
		{"DELETE", "/api/analysis/definitions/" + defID, ""},
		{"POST", "/api/analysis/definitions/call-intent-resolution/run", `{"selection":{"strategy":"all"}}`},
		{"GET", "/api/analysis/definitions/call-intent-resolution/slots", ""},
		{"GET", "/api/analysis/conversations/" + convID, ""},
		{"DELETE", "/api/analysis/conversations/call-1042", ""},
		{"GET", "/api/analysis/runs/" + runID, ""},
		{"GET", "/api/analysis/runs/" + runID + "/items", ""},
		{"POST", "/api/analysis/runs/" + runID + "/cancel", ""},
		{"GET", "/api/analysis/runs/" + runID + "/events", ""},
		{"GET", "/api/analysis/runs/" + runID + "/report", ""},
		{"GET", "/api/analysis/definitions/call-intent-resolution/report", ""},
	} {
		resp, body := e.call(t, c.method, c.path, scopeB, c.body)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s", c.method, c.path)
		assert.Equal(t, "not_found", body["error"], "%s %s", c.method, c.path)
	}
	for _, list := range []string{"/api/analysis/definitions", "/api/analysis/conversations", "/api/analysis/runs"} {
		_, body := e.call(t, "GET", list, scopeB, "")
		for _, v := range body {
			if arr, ok := v.([]any); ok {
				assert.Empty(t, arr, list)
			}
		}
	}
	// Nothing of scope A changed.
	resp, _ := e.call(t, "GET", "/api/analysis/runs/"+runID, scopeA, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = e.call(t, "GET", "/api/analysis/conversations/call-1042", scopeA, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestIfMatchGuardsDefinitions(t *testing.T) {
	e := newEnv(t)
	_, body := e.call(t, "POST", "/api/analysis/definitions", scopeA, definitionJSON)
	path := "/api/analysis/definitions/" + body["definition"].(map[string]any)["key"].(string)

	resp, _ := e.call(t, "GET", path, scopeA, "", "If-None-Match", `"v1"`)
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
	resp, _ = e.call(t, "GET", path, scopeA, "", "If-None-Match", `W/"v1"`)
	assert.Equal(t, http.StatusNotModified, resp.StatusCode, "If-None-Match compares weakly")
	resp, _ = e.call(t, "GET", path, scopeA, "", "If-None-Match", `"v0"`)
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	resp, body = e.call(t, "PATCH", path, scopeA, `{"name":"Renamed"}`, "If-Match", `"v1"`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.Equal(t, `"v2"`, resp.Header.Get("ETag"))
	assert.Equal(t, "Renamed", body["definition"].(map[string]any)["name"])

	for _, stale := range []string{`"v1"`, `W/"v2"`, `"v3", "v1"`, `garbage`} {
		resp, body = e.call(t, "PATCH", path, scopeA, `{"name":"Lost update"}`, "If-Match", stale)
		assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, stale)
		assert.Equal(t, "precondition_failed", body["error"])
		assert.Equal(t, `"v2"`, resp.Header.Get("ETag"), "the current tag is given")
		resp, body = e.call(t, "DELETE", path, scopeA, "", "If-Match", stale)
		assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, stale)
	}
	_, body = e.call(t, "GET", path, scopeA, "")
	assert.Equal(t, "Renamed", body["definition"].(map[string]any)["name"], "a refused change changes nothing")

	resp, _ = e.call(t, "PATCH", path, scopeA, `{"name":"Any version"}`, "If-Match", `*`)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = e.call(t, "PATCH", path, scopeA, `{"name":"List"}`, "If-Match", `"v9", "v3"`)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "one of the listed tags matches")
	resp, _ = e.call(t, "DELETE", path, scopeA, "", "If-Match", `"v4"`)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
}

func TestBadRequestsAreAnsweredPrecisely(t *testing.T) {
	e := newEnv(t, func(o *analysishttp.Options) { o.MaxBodyBytes = 4096 })
	_, _ = e.call(t, "POST", "/api/analysis/definitions", scopeA, definitionJSON)
	big := `{"name":"` + strings.Repeat("x", 5000) + `"}`
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
		problem            string // a path among the problems
	}{
		{"POST", "/api/analysis/definitions", `{"name":"x","fieldSet":[],"modes":{}}`, 400, "invalid_argument", "$.fieldSet"},
		{"POST", "/api/analysis/definitions", `{"name":"x","fieldSet":[{"key":"a","type":"enum"}],"modes":{}}`, 400, "invalid_argument", "$.fieldSet[0].enumValues"},
		{"POST", "/api/analysis/definitions", strings.Replace(definitionJSON, `"0 2 * * *"`, `"61 2 * * *"`, 1), 400, "invalid_argument", "$.schedule.cron"},
		{"POST", "/api/analysis/definitions", `{"name":"x","Name":"y","fieldSet":[{"key":"a","type":"string"}],"modes":{}}`, 400, "invalid_argument", "$.Name"},
		{"POST", "/api/analysis/definitions", `{"name":"x","colour":"red","fieldSet":[{"key":"a","type":"string"}],"modes":{}}`, 400, "invalid_argument", "$.colour"},
		{"POST", "/api/analysis/definitions", `{"name":"x","name":"y"}`, 400, "invalid_argument", "$.name"},
		{"POST", "/api/analysis/definitions", `{"name":"x","fieldSet":[{"key":"a","type":"string"}]}`, 400, "invalid_argument", "$.modes"},
		{"POST", "/api/analysis/definitions", `{"name":"x","fieldSet":[{"key":"a","type":"string"}],"modes":null}`, 400, "invalid_argument", "$.modes"},
		{"POST", "/api/analysis/definitions", `{"name":"x","fieldSet":[{"key":"a","type":"string"}],"modes":{},"schedule":{"cron":"0 2 * * *"}}`, 400, "invalid_argument", "$.schedule.enabled"},
		{"POST", "/api/analysis/definitions", `{"name":`, 400, "invalid_argument", "$"},
		{"POST", "/api/analysis/definitions", ``, 400, "invalid_argument", "$"},
		{"POST", "/api/analysis/definitions", big, 413, "payload_too_large", ""},
		{"PATCH", "/api/analysis/definitions/call-intent-resolution", big, 413, "payload_too_large", ""},
		{"PATCH", "/api/analysis/definitions/call-intent-resolution", `{"key":"other"}`, 400, "invalid_argument", "$.key"},
		{"POST", "/api/analysis/conversations", `{"transcript":[{"role":"caller"}]}`, 400, "invalid_argument", "$.transcript[0].content"},
		{"POST", "/api/analysis/conversations", `{"conversations":[{"transcript":[]},{"transcript":[{"role":"a","content":"b"}],"extra":1}]}`, 400, "invalid_argument", "$.conversations[1].extra"},
		{"POST", "/api/analysis/definitions/call-intent-resolution/run", `{}`, 400, "invalid_argument", "$.selection"},
		{"POST", "/api/analysis/definitions/call-intent-resolution/run", `{"selection":{"strategy":"tag"}}`, 400, "invalid_argument", "$.selection.tag"},
		{"POST", "/api/analysis/definitions/call-intent-resolution/run", `{"selection":{"strategy":"keys","conversationKeys":["nope"]}}`, 400, "invalid_argument", "$.selection.conversationKeys[0]"},
		{"POST", "/api/analysis/definitions/no-such/run", `{"selection":{"strategy":"all"}}`, 404, "not_found", ""},
		{"GET", "/api/analysis/definitions?limit=0", "", 400, "invalid_argument", "limit"},
		{"GET", "/api/analysis/definitions?limit=ten", "", 400, "invalid_argument", "limit"},
		{"GET", "/api/analysis/definitions?sort=asc", "", 400, "invalid_argument", "sort"},
		{"GET", "/api/analysis/runs?limit=1&limit=2", "", 400, "invalid_argument", "limit"},
		{"GET", "/api/analysis/conversations?cursor=bogus", "", 400, "invalid_argument", "cursor"},
		{"GET", "/api/analysis/runs/nope", "", 404, "not_found", ""},
		{"GET", "/api/analysis/runs/nope/items?cursor=bogus", "", 404, "not_found", ""},
		{"GET", "/api/analysis/conversations/nope", "", 404, "not_found", ""},
		{"GET", "/api/analysis/elsewhere", "", 404, "not_found", ""},
		{"GET", "//api/analysis/definitions", "", 404, "not_found", ""},
		{"GET", "/api/analysis/./definitions", "", 404, "not_found", ""},
		{"GET", "/api/analysis/x/../definitions", "", 404, "not_found", ""},
		{"PUT", "/api/analysis/definitions", "", 405, "method_not_allowed", ""},
		{"POST", "/api/analysis/runs/x", "", 405, "method_not_allowed", ""},
	} {
		resp, body := e.call(t, c.method, c.path, scopeA, c.body)
		name := c.method + " " + c.path + " " + clipped(c.body)
		assert.Equal(t, c.status, resp.StatusCode, "%s: %v", name, body)
		assert.Equal(t, c.code, body["error"], name)
		assert.NotEmpty(t, body["message"], name)
		if c.problem != "" {
			var paths []string
			problems, _ := body["problems"].([]any)
			for _, p := range problems {
				paths = append(paths, p.(map[string]any)["path"].(string))
			}
			assert.Contains(t, paths, c.problem, "%s: %v", name, body)
		}
		if c.status == 405 {
			assert.NotEmpty(t, resp.Header.Get("Allow"))
		}
	}
	resp, _ := e.call(t, "PUT", "/api/analysis/definitions/x", scopeA, "")
	assert.Equal(t, "GET, PATCH, DELETE", resp.Header.Get("Allow"))

	// An ingest body is bounded by the service's own bound.
	store := memstore.New()
	svc, err := analysis.NewService(analysis.Config{Store: store, MaxIngestBytes: 2048, MaxConversationBytes: 1024})
	require.NoError(t, err)
	small := httptest.NewServer(analysishttp.New(svc, scopeOf, analysishttp.Options{}))
	defer small.Close()
	req, _ := http.NewRequest("POST", small.URL+"/api/analysis/conversations", strings.NewReader(`{"conversations":[`+strings.Repeat(`{"transcript":[{"role":"a","content":"b"}]},`, 100)+`]}`))
	req.Header.Set("X-Scope", scopeA)
	r, err := small.Client().Do(req)
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
	cs, err := svc.ListConversations(context.Background(), analysis.Scope{Tenant: "acme", Project: "support"}, analysis.ConversationFilter{})
	require.NoError(t, err)
	assert.Empty(t, cs, "a refused ingest stores nothing")
}

func clipped(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func TestAuthenticationIsRequired(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/analysis/definitions", "/api/analysis/runs/x", "/api/analysis/openapi.json"} {
		resp, body := e.call(t, "GET", path, "", "")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
		assert.Equal(t, "unauthenticated", body["error"])
	}
	resp, _ := e.call(t, "GET", "/api/analysis/definitions", "acme/", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an incomplete scope is refused too")
}

func TestConversationsArePaged(t *testing.T) {
	e := newEnv(t)
	var convs []string
	for i := range 7 {
		convs = append(convs, fmt.Sprintf(`{"name":"Call %d","transcript":[{"role":"a","content":"b"}]}`, i))
	}
	resp, _ := e.call(t, "POST", "/api/analysis/conversations", scopeA, `{"conversations":[`+strings.Join(convs, ",")+`]}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	seen := map[string]bool{}
	next := ""
	for pages := 1; ; pages++ {
		_, body := e.call(t, "GET", "/api/analysis/conversations?limit=3&cursor="+next, scopeA, "")
		for _, c := range body["conversations"].([]any) {
			key := c.(map[string]any)["key"].(string)
			assert.False(t, seen[key], "seen once")
			seen[key] = true
		}
		n, ok := body["nextCursor"].(string)
		if !ok {
			assert.Equal(t, 3, pages)
			break
		}
		next = n
	}
	assert.Len(t, seen, 7)
}

func TestInternalErrorsAreLoggedNotShown(t *testing.T) {
	store := &failingStore{Store: memstore.New()}
	svc, err := analysis.NewService(analysis.Config{Store: store})
	require.NoError(t, err)
	var logs bytes.Buffer
	srv := httptest.NewServer(analysishttp.New(svc, scopeOf, analysishttp.Options{Logger: slogTo(&logs)}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/api/analysis/definitions", nil)
	req.Header.Set("X-Scope", scopeA)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.JSONEq(t, `{"error":"internal","message":"internal error"}`, string(raw))
	assert.Contains(t, logs.String(), "db password=hunter2", "the host sees the detail")
}

// failingStore fails every call a route makes with a secret-laden error.
type failingStore struct{ analysis.Store }

var errDB = errors.New("db password=hunter2 refused")

func (failingStore) ListDefinitions(context.Context, analysis.Scope, analysis.ListQuery) ([]analysis.Definition, error) {
	return nil, errDB
}
func (failingStore) CreateDefinition(context.Context, analysis.Scope, analysis.Definition) error {
	return errDB
}
func (failingStore) GetDefinition(context.Context, analysis.Scope, string) (analysis.Definition, error) {
	return analysis.Definition{}, errDB
}
func (failingStore) CreateConversations(context.Context, analysis.Scope, []analysis.Conversation) error {
	return errDB
}
func (failingStore) ExistingKeys(context.Context, analysis.Scope, []string) ([]string, error) {
	return nil, errDB
}
func (failingStore) PutConversations(context.Context, analysis.Scope, []analysis.Conversation, analysis.OnExisting) ([]analysis.PutOutcome, error) {
	return nil, errDB
}
func (failingStore) KeysByExternalID(context.Context, analysis.Scope, []string) (map[string]string, error) {
	return nil, errDB
}
func (failingStore) GetConversation(context.Context, analysis.Scope, string) (analysis.Conversation, error) {
	return analysis.Conversation{}, errDB
}
func (failingStore) ListConversations(context.Context, analysis.Scope, analysis.ConversationQuery) ([]analysis.Conversation, error) {
	return nil, errDB
}
func (failingStore) GetRun(context.Context, analysis.Scope, string) (analysis.Run, error) {
	return analysis.Run{}, errDB
}
func (failingStore) ListRuns(context.Context, analysis.Scope, analysis.RunQuery) ([]analysis.Run, error) {
	return nil, errDB
}
func (failingStore) ListRunItems(context.Context, analysis.Scope, string, analysis.Page) ([]analysis.Item, string, error) {
	return nil, "", errDB
}
func (failingStore) CancelRun(context.Context, analysis.Scope, string, string, time.Time) error {
	return errDB
}
func (failingStore) ListAlertRules(context.Context, analysis.Scope, int) ([]analysis.AlertRule, error) {
	return nil, errDB
}
func (failingStore) CreateAlertRule(context.Context, analysis.Scope, analysis.AlertRule) error {
	return errDB
}
func (failingStore) GetAlertRule(context.Context, analysis.Scope, string) (analysis.AlertRule, error) {
	return analysis.AlertRule{}, errDB
}

func TestEveryRouteHidesAStoreFailure(t *testing.T) {
	svc, err := analysis.NewService(analysis.Config{Store: failingStore{Store: memstore.New()}})
	require.NoError(t, err)
	var logs bytes.Buffer
	srv := httptest.NewServer(analysishttp.New(svc, scopeOf, analysishttp.Options{Logger: slogTo(&logs)}))
	defer srv.Close()
	e := &env{srv: srv}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/analysis/definitions", ""},
		{"POST", "/api/analysis/definitions", definitionJSON},
		{"GET", "/api/analysis/definitions/d", ""},
		{"PATCH", "/api/analysis/definitions/d", `{"name":"x"}`},
		{"DELETE", "/api/analysis/definitions/d", ""},
		{"POST", "/api/analysis/definitions/d/run", `{"selection":{"strategy":"all"}}`},
		{"GET", "/api/analysis/definitions/d/slots", ""},
		{"GET", "/api/analysis/conversations", ""},
		{"POST", "/api/analysis/conversations", `{"transcript":[{"role":"a","content":"b"}]}`},
		{"GET", "/api/analysis/conversations/c", ""},
		{"DELETE", "/api/analysis/conversations/c", ""},
		{"GET", "/api/analysis/runs", ""},
		{"GET", "/api/analysis/runs/r", ""},
		{"GET", "/api/analysis/runs/r/items", ""},
		{"GET", "/api/analysis/runs/r/gaps", ""},
		{"GET", "/api/analysis/alerts", ""},
		{"POST", "/api/analysis/alerts", alertRuleJSON},
		{"GET", "/api/analysis/alerts/a", ""},
		{"PUT", "/api/analysis/alerts/a", alertRuleJSON},
		{"DELETE", "/api/analysis/alerts/a", ""},
		{"GET", "/api/analysis/alerts/a/notifications", ""},
		{"POST", "/api/analysis/runs/r/cancel", ""},
		{"GET", "/api/analysis/runs/r/events", ""},
		{"GET", "/api/analysis/runs/r/report", ""},
		{"GET", "/api/analysis/definitions/d/report", ""},
	} {
		resp, body := e.call(t, c.method, c.path, scopeA, c.body)
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "%s %s: %v", c.method, c.path, body)
		assert.Equal(t, map[string]any{"error": "internal", "message": "internal error"}, body, "%s %s", c.method, c.path)
	}
	assert.Contains(t, logs.String(), "hunter2", "the host's log has the detail")
}
