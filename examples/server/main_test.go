package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
)

// openAIFake is an OpenAI-compatible chat-completions server: it answers
// extraction from the schema and the transcript, grades each conversation
// with a score derived from its text, and injects faults — every fifth
// request is a 429 asking for a short wait, every seventh answer is cut in
// the middle of its JSON.
type openAIFake struct {
	srv       *httptest.Server
	requests  atomic.Int64
	limited   atomic.Int64
	malformed atomic.Int64
}

func newOpenAIFake(t *testing.T) *openAIFake {
	f := &openAIFake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Method != "POST" || r.Header.Get("Authorization") != "Bearer sk-test" {
			http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
			return
		}
		var req struct {
			Model    string `json:"model"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
			ResponseFormat struct {
				Type       string `json:"type"`
				JSONSchema struct {
					Name   string          `json:"name"`
					Schema json.RawMessage `json:"schema"`
					Strict bool            `json:"strict"`
				} `json:"json_schema"`
			} `json:"response_format"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ResponseFormat.Type != "json_schema" || !req.ResponseFormat.JSONSchema.Strict {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		n := f.requests.Add(1)
		if n%5 == 0 {
			f.limited.Add(1)
			w.Header().Set("retry-after-ms", "5")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
			return
		}
		var text strings.Builder
		for _, m := range req.Messages {
			if m.Role == "user" {
				text.WriteString(m.Content)
			}
		}
		var content []byte
		if req.ResponseFormat.JSONSchema.Name == "verdict" {
			sum := sha256.Sum256([]byte(text.String()))
			score := math.Round(float64(binary.BigEndian.Uint16(sum[:]))/65535*100) / 100
			content, _ = json.Marshal(map[string]any{"reasoning": "Graded by the fake.", "evidence": []any{}, "score": score})
		} else {
			resp, err := demoModel.Generate(r.Context(), llmRequest(req.ResponseFormat.JSONSchema.Schema, text.String()))
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			content = []byte(resp.Content)
		}
		if n%7 == 0 {
			f.malformed.Add(1)
			content = content[:len(content)/2]
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprint("chatcmpl-", n), "object": "chat.completion", "created": 1, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": string(content)}}},
			"usage":   map[string]any{"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "prompt_tokens_details": map[string]any{"cached_tokens": 40}},
		})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// testServer starts the server's handler, executor and scheduler in
// process, against model base URL llmBaseURL ("" for the demo model).
func testServer(t *testing.T, args ...string) (*httptest.Server, *app) {
	t.Helper()
	cfg, err := parseFlags(append([]string{"-keys", "k=demo/default,other=globex/support", "-concurrency", "8"}, args...),
		func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	a, err := newApp(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := a.start(ctx)
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		a.close()
	})
	return srv, a
}

func do(t *testing.T, srv *httptest.Server, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	client := srv.Client()
	if client == nil { // a server started by run, not by httptest
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	}
	return resp.StatusCode, out
}

func TestEndToEndAgainstAnOpenAICompatibleServer(t *testing.T) {
	fake := newOpenAIFake(t)
	srv, _ := testServer(t, "-llm-base-url", fake.srv.URL+"/v1", "-llm-api-key", "sk-test")

	// Ingest 50 STAR conversations.
	raw, err := os.ReadFile("testdata/star-sample-60.json")
	require.NoError(t, err)
	var sample struct {
		Conversations []json.RawMessage `json:"conversations"`
	}
	require.NoError(t, json.Unmarshal(raw, &sample))
	body, _ := json.Marshal(map[string]any{"conversations": sample.Conversations[:50]})
	status, out := do(t, srv, "POST", "/api/analysis/conversations", "k", string(body))
	require.Equal(t, http.StatusCreated, status, "%v", out)
	require.Len(t, out["conversations"], 50)

	// A definition with every mode on, its models the server's defaults.
	status, out = do(t, srv, "POST", "/api/analysis/definitions", "k", `{
		"name": "STAR tasks",
		"fieldSet": [
			{"key": "task", "type": "enum", "required": true, "enumValues": ["apartment_schedule", "bank_fraud_report", "doctor_followup", "ride_book", "weather", "other"]},
			{"key": "completion", "type": "enum", "enumValues": ["complete", "other"]},
			{"key": "agent_helpful", "type": "boolean"}
		],
		"modes": {"store": true, "accuracy": true, "judge": {"rubric": "Was the caller helped?", "threshold": 0.5}}
	}`)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	def := out["definition"].(map[string]any)
	assert.Equal(t, "gpt-4o-mini", def["extractionModelKey"])
	assert.Equal(t, "gpt-4o", def["judgeModelKey"])

	status, out = do(t, srv, "POST", "/api/analysis/definitions/star-tasks/run", "k", `{"selection":{"strategy":"all"}}`)
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	runID := out["run"].(map[string]any)["id"].(string)

	// Follow the event stream to its end.
	req, _ := http.NewRequest("GET", srv.URL+"/api/analysis/runs/"+runID+"/events", nil)
	req.Header.Set("x-api-key", "k")
	client := srv.Client()
	if client == nil { // a server started by run, not by httptest
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var lastEvent, lastData string
	progress := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, "event: "):
			lastEvent = strings.TrimPrefix(line, "event: ")
			if lastEvent == "progress" {
				progress++
			}
		case strings.HasPrefix(line, "data: "):
			lastData = strings.TrimPrefix(line, "data: ")
		}
	}
	require.Equal(t, "end", lastEvent)
	assert.Positive(t, progress)
	var end struct {
		Run analysis.Run `json:"run"`
	}
	require.NoError(t, json.Unmarshal([]byte(lastData), &end))
	require.Equal(t, analysis.RunCompleted, end.Run.Status, end.Run.Error)
	agg := end.Run.Aggregate
	require.NotNil(t, agg)

	// Recompute the aggregate from the items, read page by page.
	var items []analysis.Item
	cursor := ""
	for {
		status, out = do(t, srv, "GET", "/api/analysis/runs/"+runID+"/items?limit=7&cursor="+cursor, "k", "")
		require.Equal(t, http.StatusOK, status)
		b, _ := json.Marshal(out["items"])
		var page []analysis.Item
		require.NoError(t, json.Unmarshal(b, &page))
		items = append(items, page...)
		next, _ := out["nextCursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, items, 50)
	completed, passed, judged, compared := 0, 0, 0, 0
	judgeSum, accSum := 0.0, 0.0
	for _, it := range items {
		if it.Error != "" {
			continue
		}
		completed++
		if it.Passed {
			passed++
		}
		if it.Judge != nil {
			judged++
			judgeSum += it.Judge.Score
		}
		if it.Accuracy != nil && it.Accuracy.Score != nil {
			compared++
			accSum += *it.Accuracy.Score
		}
	}
	assert.Equal(t, 50, agg.Total)
	assert.Equal(t, completed, agg.Completed)
	assert.Equal(t, 50-completed, agg.Failed)
	assert.Equal(t, passed, agg.Passed)
	require.Positive(t, completed, "the faults were repaired or retried")
	require.NotNil(t, agg.PassRate)
	assert.InDelta(t, float64(passed)/float64(completed), *agg.PassRate, 1e-9)
	require.Positive(t, judged)
	require.NotNil(t, agg.AvgJudgeScore)
	assert.InDelta(t, judgeSum/float64(judged), *agg.AvgJudgeScore, 1e-6)
	require.Positive(t, compared)
	require.NotNil(t, agg.AvgExtractionAccuracy)
	assert.InDelta(t, accSum/float64(compared), *agg.AvgExtractionAccuracy, 1e-6)

	// The faults happened, and were absorbed.
	assert.Positive(t, fake.limited.Load(), "429s were injected")
	assert.Positive(t, fake.malformed.Load(), "malformed answers were injected")
	assert.GreaterOrEqual(t, completed, 45, "retries and repairs carry almost every conversation through")
	assert.Positive(t, end.Run.Usage.CachedInputTokens, "usage counts cached tokens")

	// Store mode wrote the fields back — to a conversation whose item
	// completed (one whose faults were not repaired keeps none); another
	// key's scope sees nothing.
	for _, it := range items {
		status, out = do(t, srv, "GET", "/api/analysis/conversations/"+url.PathEscape(it.ConversationKey), "k", "")
		require.Equal(t, http.StatusOK, status)
		stored, _ := out["conversation"].(map[string]any)["extractedFields"].(map[string]any)
		if it.Error == "" {
			assert.Equal(t, it.ExtractedFields, stored, "the fields of %s written back", it.ConversationKey)
		} else {
			assert.Empty(t, stored, "%s failed: nothing written back", it.ConversationKey)
		}
	}
	status, _ = do(t, srv, "GET", "/api/analysis/runs/"+runID, "other", "")
	assert.Equal(t, http.StatusNotFound, status)
}

func TestEveryRouteNeedsAKey(t *testing.T) {
	srv, _ := testServer(t)
	for _, path := range []string{"/api/analysis/definitions", "/v1/sessions/6b1d2f4e-930a-4c51-8e27-5d0c3ba172e4/analysis-input", "/timeline-analyses"} {
		for _, key := range []string{"", "wrong"} {
			status, out := do(t, srv, "GET", path, key, "")
			assert.Equal(t, http.StatusUnauthorized, status, "%s with %q: %v", path, key, out)
		}
	}
	status, _ := do(t, srv, "GET", "/healthz", "", "")
	assert.Equal(t, http.StatusOK, status, "a probe needs no key")
	status, out := do(t, srv, "GET", "/nowhere", "k", "")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "not_found", out["error"])
}

func TestTheDemoModelSaysWhatItIs(t *testing.T) {
	srv, a := testServer(t)
	assert.Equal(t, "offline demo model", a.modelName)
	status, out := do(t, srv, "POST", "/api/analysis/conversations", "k", `{"name":"c","transcript":[{"role":"caller","content":"Will the weather hold for my ride to the airport?"}],"referenceFields":{"task":"weather"}}`)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	status, out = do(t, srv, "POST", "/api/analysis/definitions", "k", `{"name":"d","fieldSet":[
		{"key":"task","type":"enum","enumValues":["ride_book","weather"],"required":true},
		{"key":"summary","type":"string"},{"key":"turns","type":"number"},{"key":"happy","type":"boolean"}],
		"modes":{"accuracy":true,"judge":{"rubric":"Polite?"}}}`)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	status, out = do(t, srv, "POST", "/api/analysis/definitions/d/run", "k", `{"selection":{"strategy":"all"}}`)
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	runPath := "/api/analysis/runs/" + out["run"].(map[string]any)["id"].(string)
	require.Eventually(t, func() bool {
		_, out = do(t, srv, "GET", runPath, "k", "")
		return out["run"].(map[string]any)["status"] == "completed"
	}, 10e9, 10e6)
	item := out["run"].(map[string]any)["items"].([]any)[0].(map[string]any)
	fields := item["extractedFields"].(map[string]any)
	assert.Equal(t, "weather", fields["task"], "the enum value the transcript mentions, not the first")
	assert.Equal(t, demoNote, fields["summary"], "free text says it is the demo")
	assert.Equal(t, demoNote, item["judge"].(map[string]any)["reasoning"])
	assert.Equal(t, 1.0, item["accuracy"].(map[string]any)["score"])
}

func TestFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"-keys", ""},
		{"-keys", "k=tenant"},
		{"-keys", "k=t/p,k=t/q"},
		{"-keys", "=t/p"},
		{"-concurrency", "0"},
		{"extra"},
		{"-nope"},
	} {
		_, err := parseFlags(args, func(string) string { return "" }, io.Discard)
		assert.Error(t, err, "%q", args)
	}
	bad, err := parseFlags([]string{"-postgres", "postgres://127.0.0.1:1/db?connect_timeout=1"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	_, err = newApp(bad, slog.New(slog.DiscardHandler))
	assert.ErrorContains(t, err, "-postgres:", "a database that cannot be reached stops the start, named")
	cfg, err := parseFlags(nil, func(k string) string {
		if k == "OPENAI_API_KEY" {
			return "sk-env"
		}
		return ""
	}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", cfg.addr)
	assert.Equal(t, map[string]tenantScope{"dev-key": {"demo", "default"}}, cfg.keys)
	assert.Empty(t, cfg.llmAPIKey, "without OpenAI's API, OpenAI's key is not used")
	env := func(k string) string {
		if k == "OPENAI_API_KEY" {
			return "sk-env"
		}
		return ""
	}
	cfg, err = parseFlags([]string{"-llm-base-url", "https://api.openai.com/v1"}, env, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "sk-env", cfg.llmAPIKey, "the key comes from OPENAI_API_KEY for OpenAI's API")
	cfg, err = parseFlags([]string{"-llm-base-url", "http://localhost:11434/v1"}, env, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, cfg.llmAPIKey, "and never goes to another server")
	assert.Equal(t, "https://host:1/v1", redacted("https://user:secret@host:1/v1?key=sk-x"))
	assert.Equal(t, tenantID("demo"), tenantID("demo"))
	assert.NotEqual(t, tenantID("demo"), tenantID("globex"))
	assert.Equal(t, "6b1d2f4e-930a-4c51-8e27-5d0c3ba172e4", tenantID("6B1D2F4E-930A-4C51-8E27-5D0C3BA172E4"))
}

// llmRequest is a request for schema whose user message is text.
func llmRequest(schema json.RawMessage, text string) llm.Request {
	return llm.Request{Model: "m", Schema: schema, Messages: []llm.Message{{Role: llm.RoleUser, Content: text}}}
}

func TestSessionsAndFlowsFilesAreServed(t *testing.T) {
	dir := t.TempDir()
	record, err := os.ReadFile("testdata/moveo-documented-example.json")
	require.NoError(t, err)
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, record))
	sessions := dir + "/sessions.jsonl"
	require.NoError(t, os.WriteFile(sessions, []byte(`{"tenant":"demo","moveo":`+compact.String()+"}\n\n"), 0o644))

	const flowID = "0e0c8f4a-6a8e-4e3c-9d59-3f1b5c2a7d10"
	const callID = "c3d4e5f6-a7b8-9012-cdef-123456789012"
	flow := map[string]any{
		"id": flowID, "reference_type": "call", "reference_id": callID, "flow_name": "support-ivr", "ended": true,
		"created_at": "2024-03-01T10:00:00Z", "ended_at": "2024-03-01T10:05:12Z",
		"events": []any{
			map[string]any{"index": 0, "type": "call_created", "timestamp": "2024-03-01T10:00:00Z", "resource_type": "call", "resource_id": callID},
			map[string]any{"index": 1, "type": "call_hangup", "timestamp": "2024-03-01T10:05:12Z", "resource_type": "call", "resource_id": callID,
				"data": map[string]any{"hangup_reason": "normal", "hangup_by": "remote"}},
		},
	}
	line, _ := json.Marshal(map[string]any{"tenant": "demo", "flow": flow})
	flows := dir + "/flows.jsonl"
	require.NoError(t, os.WriteFile(flows, append(line, '\n'), 0o644))

	srv, _ := testServer(t, "-sessions", sessions, "-flows", flows)

	// The session, as the tenant's organisation; another tenant's key does not see it.
	status, out := do(t, srv, "GET", "/v1/sessions/cd0c20e2-338d-485f-91ca-cb34766d1ceb/analysis-input", "k", "")
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, tenantID("demo"), out["organization_id"])
	status, _ = do(t, srv, "GET", "/v1/sessions/cd0c20e2-338d-485f-91ca-cb34766d1ceb/analysis-input", "other", "")
	assert.Equal(t, http.StatusNotFound, status)

	// The flow's timeline analysis, by the demo model.
	status, out = do(t, srv, "POST", "/timeline-analyses", "k", `{"activeflow_id":"`+flowID+`"}`)
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	path := "/timeline-analyses/" + out["id"].(string)
	require.Eventually(t, func() bool {
		_, out = do(t, srv, "GET", path, "k", "")
		return out["status"] != "progressing"
	}, 10e9, 10e6)
	require.Equal(t, "completed", out["status"], "%v", out)
	result := out["result"].(map[string]any)
	assert.Equal(t, demoNote, result["narrative"])
	status, _ = do(t, srv, "GET", path, "other", "")
	assert.Equal(t, http.StatusNotFound, status)
}

func TestBadDataFilesAreRefusedByLine(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"no-tenant.jsonl":   `{"moveo":{}}`,
		"unknown.jsonl":     `{"tenant":"t","colour":"red"}`,
		"both.jsonl":        `{"tenant":"t","moveo":{},"capture":{}}`,
		"neither.jsonl":     `{"tenant":"t"}`,
		"not-json.jsonl":    "{\"tenant\":\"t\",\"capture\":{\"session_id\":\"x\"}}\n{oops",
		"foreign-org.jsonl": `{"tenant":"t","capture":{"session_id":"x","organization_id":"8fb5d9d4-c3f0-4165-a8e9-41655e0fe624"}}`,
	} {
		path := dir + "/" + name
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		_, err := loadSessions(path)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), path+":", "the error names the file and line: %v", err)
	}
	path := dir + "/flows.jsonl"
	require.NoError(t, os.WriteFile(path, []byte(`{"tenant":"t","flow":{"id":"x","customer_id":"8fb5d9d4-c3f0-4165-a8e9-41655e0fe624","events":[]}}`), 0o644))
	_, err := loadFlows(path)
	assert.ErrorContains(t, err, path+":1: flow: customer_id")
	_, err = loadFlows(dir + "/missing.jsonl")
	assert.Error(t, err)
	long := dir + "/long.jsonl"
	require.NoError(t, os.WriteFile(long, []byte("\n"+strings.Repeat("x", maxLine+1)), 0o644))
	_, err = loadSessions(long)
	assert.ErrorContains(t, err, long+":2: ", "a line too long is named too")
}

func TestRunServesUntilItsContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, func(string) string { return "" }, log, ready)
	}()
	addr := <-ready
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	require.NoError(t, <-errc, "a stop by signal or context is a clean one")
	mu.Lock()
	defer mu.Unlock()
	for _, msg := range []string{`"msg":"server listening"`, `"model":"offline demo model"`, `"msg":"server shutting down"`, `"msg":"server stopped"`} {
		assert.Contains(t, logs.String(), msg, "JSON logs")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestShutdownIsNotHeldByAnEventStream(t *testing.T) {
	// A provider that never answers keeps the run going; a client follows
	// it; the server must still stop at once, the stream ending.
	hang := make(chan struct{})
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer provider.Close()
	defer close(hang)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-keys", "k=demo/default", "-llm-base-url", provider.URL + "/v1"},
			func(string) string { return "" }, slog.New(slog.DiscardHandler), ready)
	}()
	base := "http://" + <-ready
	post := func(path, body string) map[string]any {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("x-api-key", "k")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Less(t, resp.StatusCode, 300, "%v", out)
		return out
	}
	post("/api/analysis/conversations", `{"transcript":[{"role":"caller","content":"hello"}]}`)
	post("/api/analysis/definitions", `{"name":"d","fieldSet":[{"key":"a","type":"string"}],"modes":{}}`)
	runID := post("/api/analysis/definitions/d/run", `{"selection":{"strategy":"all"}}`)["run"].(map[string]any)["id"].(string)

	req, _ := http.NewRequest("GET", base+"/api/analysis/runs/"+runID+"/events", nil)
	req.Header.Set("x-api-key", "k")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "event: progress\n", line, "the stream is open")

	cancel()
	// Held by the stream, the shutdown would give up after its 30 s and run
	// would return its deadline error.
	require.NoError(t, <-errc, "a clean stop")
	_, err = io.ReadAll(resp.Body)
	assert.NoError(t, err, "the stream ended cleanly")
}

func TestTheServerOnPostgreSQL(t *testing.T) {
	url := os.Getenv("DEBRIEF_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("DEBRIEF_TEST_POSTGRES_URL is unset: no PostgreSQL to test against (.ci/run starts one)")
	}
	schema := fmt.Sprintf("server_test_%d", os.Getpid())
	t.Cleanup(func() {
		pool, err := pgxpool.New(context.Background(), url)
		if err == nil {
			_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			pool.Close()
		}
	})
	args := []string{"-postgres", url, "-postgres-schema", schema}
	srv, _ := testServer(t, args...)
	status, out := do(t, srv, "POST", "/api/analysis/conversations", "k", `{"conversations":[
		{"name":"a","transcript":[{"role":"caller","content":"What is the weather?"}],"referenceFields":{"task":"weather"}},
		{"name":"b","transcript":[{"role":"caller","content":"Book me a ride."}],"referenceFields":{"task":"ride_book"}}]}`)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	status, out = do(t, srv, "POST", "/api/analysis/definitions", "k", `{"name":"d","fieldSet":[{"key":"task","type":"enum","enumValues":["ride_book","weather"],"required":true}],"modes":{"accuracy":true,"store":true}}`)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	status, out = do(t, srv, "POST", "/api/analysis/definitions/d/run", "k", `{"selection":{"strategy":"all"}}`)
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	runPath := "/api/analysis/runs/" + out["run"].(map[string]any)["id"].(string)
	require.Eventually(t, func() bool {
		_, out = do(t, srv, "GET", runPath, "k", "")
		return out["run"].(map[string]any)["status"] == "completed"
	}, 20e9, 20e6)
	agg := out["run"].(map[string]any)["aggregate"].(map[string]any)
	assert.Equal(t, 2.0, agg["total"])
	assert.Equal(t, 2.0, agg["completed"])

	// Another server on the same database — a replica, or the next start —
	// sees the same run and conversations.
	srv2, _ := testServer(t, args...)
	status, out = do(t, srv2, "GET", runPath, "k", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, agg, out["run"].(map[string]any)["aggregate"])
	status, out = do(t, srv2, "GET", "/api/analysis/conversations?search=weather", "k", "")
	require.Equal(t, http.StatusOK, status)
	require.Len(t, out["conversations"], 1)
	assert.Equal(t, map[string]any{"task": "weather"}, out["conversations"].([]any)[0].(map[string]any)["extractedFields"])
}

func TestConversationsAreRedactedUnlessTurnedOff(t *testing.T) {
	const body = `{"name":"c","transcript":[{"role":"caller","content":"Mail me at jane@example.com or call +1 415 555 0132."}]}`
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Mail me at [EMAIL] or call [PHONE]."},
		{[]string{"-redact=false"}, "Mail me at jane@example.com or call +1 415 555 0132."},
	} {
		srv, _ := testServer(t, tc.args...)
		status, out := do(t, srv, "POST", "/api/analysis/conversations", "k", body)
		require.Equal(t, http.StatusCreated, status, "%v", out)
		key := out["conversation"].(map[string]any)["key"].(string)
		_, out = do(t, srv, "GET", "/api/analysis/conversations/"+key, "k", "")
		turn := out["conversation"].(map[string]any)["transcript"].([]any)[0].(map[string]any)
		assert.Equal(t, tc.want, turn["content"], "%v", tc.args)
	}
}

func TestServedSessionsAreIngestedIntoTheAnalysisAPI(t *testing.T) {
	dir := t.TempDir()
	record, err := os.ReadFile("testdata/moveo-documented-example.json")
	require.NoError(t, err)
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, record))
	sessions := dir + "/sessions.jsonl"
	require.NoError(t, os.WriteFile(sessions, []byte(`{"tenant":"demo","moveo":`+compact.String()+"}\n"), 0o644))
	srv, _ := testServer(t, "-sessions", sessions)
	const id = "cd0c20e2-338d-485f-91ca-cb34766d1ceb"
	path := "/api/analysis/sessions/" + id + "/ingest"

	status, out := do(t, srv, "POST", path, "k", "")
	require.Equal(t, http.StatusCreated, status, "%v", out)
	assert.Equal(t, "created", out["action"])
	conv := out["conversation"].(map[string]any)
	assert.Equal(t, "session:"+id, conv["externalId"])
	assert.Equal(t, "platform", conv["source"])
	ev := conv["evidence"].(map[string]any)
	assert.Equal(t, id, ev["sessionId"])
	assert.NotEmpty(t, ev["missingEvidence"], "what could not be captured is kept")

	status, out = do(t, srv, "POST", path, "k", "")
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, "updated", out["action"], "once: ingesting again updates it")
	status, out = do(t, srv, "POST", path+"?onExisting=skip", "k", "")
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, "skipped", out["action"])
	status, out = do(t, srv, "POST", "/api/analysis/sessions/ingest", "k", "")
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, map[string]any{"created": 0.0, "updated": 1.0, "skipped": 0.0, "notEnded": 0.0}, out)
	status, out = do(t, srv, "GET", "/api/analysis/conversations?limit=10", "k", "")
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, out["conversations"], 1, "one conversation however often it is ingested")

	status, _ = do(t, srv, "POST", path, "other", "")
	assert.Equal(t, http.StatusNotFound, status, "another tenant's key does not see the session")
	status, _ = do(t, srv, "POST", path, "", "")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = do(t, srv, "POST", path+"?onExisting=maybe", "k", "")
	assert.Equal(t, http.StatusBadRequest, status)
	status, out = do(t, srv, "POST", "/api/analysis/sessions/ingest", "other", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0.0, out["created"], "the other tenant serves no sessions")
}

func TestIngestFailuresAreAnsweredByKind(t *testing.T) {
	_, a := testServer(t)
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("analysis: $.conversations[0].evidence.citations[0].docId: too long: %w", analysis.ErrInvalid), http.StatusBadRequest, "invalid_argument"},
		{fmt.Errorf("analysis: key taken: %w", analysis.ErrConflict), http.StatusConflict, "conflict"},
		{errors.New("database down: password=hunter2"), http.StatusInternalServerError, "internal"},
	} {
		w := httptest.NewRecorder()
		a.ingestError(w, httptest.NewRequest("POST", "/api/analysis/sessions/ingest", nil), tc.err)
		assert.Equal(t, tc.status, w.Code, "%v", tc.err)
		var out map[string]string
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
		assert.Equal(t, tc.code, out["error"])
		assert.NotContains(t, out["message"], "hunter2")
	}
}

func TestAlertsReachTheWebhookSigned(t *testing.T) {
	const secret = "a-webhook-secret-of-32-bytes-xyz"
	var mu sync.Mutex
	var got []analysis.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := analysis.VerifyWebhook([]byte(secret), r.Header.Get(analysis.WebhookSignatureHeader), body, time.Now(), time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var a analysis.Alert
		_ = json.Unmarshal(body, &a)
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer hook.Close()
	cfg, err := parseFlags([]string{"-keys", "k=demo/default", "-alert-webhook", hook.URL},
		func(k string) string { return map[string]string{"DEBRIEF_ALERT_SECRET": secret}[k] }, io.Discard)
	require.NoError(t, err)
	a, err := newApp(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := a.start(ctx)
	srv := httptest.NewServer(a.handler)
	defer func() { srv.Close(); cancel(); <-done; a.close() }()

	// A rule that fires on any run with a pass rate: the demo model's run.
	_, err = a.analysis.CreateAlertRule(ctx, analysis.Scope{Tenant: "demo", Project: "default"}, analysis.AlertRuleInput{Rule: analysis.Rule{
		Name: "any run", Metric: analysis.MetricPassRate, Op: analysis.OpGTE, Threshold: 0, Window: analysis.Window(time.Hour)}})
	require.NoError(t, err)
	status, out := do(t, srv, "POST", "/api/analysis/conversations", "k", `{"name":"c","transcript":[{"role":"caller","content":"Will it rain?"}]}`)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	status, out = do(t, srv, "POST", "/api/analysis/definitions", "k", `{"name":"d","fieldSet":[{"key":"rain","type":"boolean"}],"modes":{}}`)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	status, out = do(t, srv, "POST", "/api/analysis/definitions/d/run", "k", `{"selection":{"strategy":"all"}}`)
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 }, 10*time.Second, 10*time.Millisecond,
		"the change is told once, signed, after the run")
	mu.Lock()
	assert.Equal(t, analysis.AlertFiring, got[0].State)
	assert.Equal(t, "any run", got[0].Rule.Name)
	mu.Unlock()

	_, err = parseFlags([]string{"-alert-webhook", hook.URL}, func(string) string { return "short" }, io.Discard)
	assert.ErrorContains(t, err, "DEBRIEF_ALERT_SECRET", "a webhook needs its secret")
}
