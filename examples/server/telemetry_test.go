package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP collector that keeps the names of the spans
// it is sent.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans map[string]int
	bad   []string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{spans: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		var msg collectortrace.ExportTraceServiceRequest
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &msg) != nil {
			r.bad = append(r.bad, req.Method+" "+req.URL.Path+" "+req.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, rs := range msg.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.spans[s.Name]++
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// promSum adds the values of the samples of a metric whose labels include
// every one of labels (`key="value"`).
func promSum(t *testing.T, text, metric string, labels ...string) float64 {
	t.Helper()
	var total float64
	found := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(t, err, line)
		total += v
		found = true
	}
	require.True(t, found, "no sample of %s %v", metric, labels)
	return total
}

func TestMetricsAreServedAndSpansSentOverOTLP(t *testing.T) {
	fake := newOpenAIFake(t)
	rcv := newOTLPReceiver(t)
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.srv.URL, "OTEL_SERVICE_NAME": "debrief-test"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-keys", "k=demo/default", "-llm-base-url", fake.srv.URL + "/v1", "-llm-api-key", "sk-test",
			"-prices", `{"gpt-4o-mini": {"input": 0.15, "cachedInput": 0.075, "output": 0.6}, "gpt-4o": {"input": 2.5, "output": 10}}`},
			func(k string) string { return env[k] }, log, ready)
	}()
	srv := &httptest.Server{URL: "http://" + <-ready}
	logMu.Lock()
	var listening struct{ Metrics string }
	require.NoError(t, json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &listening))
	logMu.Unlock()
	require.NotEmpty(t, listening.Metrics, "the log says where the metrics are")
	status, _ := do(t, srv, "GET", "/metrics", "", "")
	assert.Equal(t, http.StatusNotFound, status, "the metrics are not on the API's listener")

	for i := range 10 {
		status, out := do(t, srv, "POST", "/api/analysis/conversations", "k",
			`{"name":"c`+strconv.Itoa(i)+`","transcript":[{"role":"caller","content":"Will the weather hold for my ride to the airport?"}],"referenceFields":{"task":"weather"}}`)
		require.Equal(t, http.StatusCreated, status, "%v", out)
	}
	status, out := do(t, srv, "POST", "/api/analysis/definitions", "k", `{"name":"Weather","fieldSet":[
		{"key":"task","type":"enum","enumValues":["ride_book","weather"],"required":true}],
		"modes":{"accuracy":true,"judge":{"rubric":"Polite?"}}}`)
	require.Equal(t, http.StatusCreated, status, "%v", out)
	status, out = do(t, srv, "POST", "/api/analysis/definitions/weather/run", "k", `{"selection":{"strategy":"all"}}`)
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	runPath := "/api/analysis/runs/" + out["run"].(map[string]any)["id"].(string)
	require.Eventually(t, func() bool {
		_, out = do(t, srv, "GET", runPath, "k", "")
		return out["run"].(map[string]any)["status"] == "completed"
	}, 30*time.Second, 10*time.Millisecond)
	usage := out["run"].(map[string]any)["usage"].(map[string]any)

	resp, err := http.Get("http://" + listening.Metrics + "/metrics")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "/metrics needs no key")
	text := string(raw)
	def := `debrief_analysis_definition_key="weather"`
	assert.Equal(t, usage["inputTokens"], promSum(t, text, "debrief_analysis_tokens_total", def, `gen_ai_token_type="input"`))
	assert.Equal(t, usage["outputTokens"], promSum(t, text, "debrief_analysis_tokens_total", def, `gen_ai_token_type="output"`))
	assert.Equal(t, usage["inputTokens"], promSum(t, text, "gen_ai_client_token_usage_sum", `gen_ai_token_type="input"`), "the middleware counted the same tokens")
	assert.Positive(t, promSum(t, text, "debrief_analysis_cost_total", def, `gen_ai_request_model="gpt-4o-mini"`))
	assert.Equal(t, 10.0, promSum(t, text, "debrief_analysis_items_total", def))
	completed := promSum(t, text, "debrief_analysis_items_total", def, `debrief_analysis_item_status="completed"`)
	assert.Positive(t, completed)
	assert.Positive(t, promSum(t, text, "gen_ai_client_operation_duration_seconds_count", `gen_ai_operation_name="chat"`))
	assert.Equal(t, float64(fake.limited.Load()), promSum(t, text, "debrief_llm_retries_total", `error_type="rate_limited"`), "every 429 was retried")
	assert.Equal(t, 1.0, promSum(t, text, "target_info", `service_name="debrief-test"`), "the resource names the service as OTEL_SERVICE_NAME says")

	cancel()
	require.NoError(t, <-errc)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	assert.Empty(t, rcv.bad)
	assert.Equal(t, 1, rcv.spans["analysis.run"], "%v", rcv.spans)
	assert.Equal(t, 1, rcv.spans["analysis.chunk"])
	assert.Equal(t, 10, rcv.spans["analysis.conversation"])
	assert.GreaterOrEqual(t, rcv.spans["chat gpt-4o-mini"], 10, "an extraction per conversation, and its repairs")
	assert.GreaterOrEqual(t, float64(rcv.spans["chat gpt-4o"]), completed, "a judging per conversation whose fields were extracted, and its repairs")
	assert.Equal(t, int(fake.requests.Load()-fake.limited.Load()), rcv.spans["chat gpt-4o-mini"]+rcv.spans["chat gpt-4o"],
		"a span per call, whose retries after a 429 are its events, not spans")
}

func TestTelemetryFlagsAndVariablesAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"-prices", `{"m": {"input": -1}}`},
		{"-prices", `{"m": {"inputs": 1}}`},
		{"-prices", `[1]`},
	} {
		_, err := parseFlags(args, func(string) string { return "" }, io.Discard)
		assert.ErrorContains(t, err, "-prices", "%v", args)
	}
	_, err := newTelemetry(context.Background(), func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}[k]
	})
	assert.ErrorContains(t, err, "OTEL_EXPORTER_OTLP_PROTOCOL")

	cfg, err := parseFlags([]string{"-metrics-addr", ""}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, cfg.metricsAddr, "-metrics-addr '' serves no metrics")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "256.0.0.1:1"}, func(string) string { return "" }, slog.New(slog.DiscardHandler), nil)
	}()
	select {
	case err := <-errc:
		assert.ErrorContains(t, err, "-metrics-addr")
	case <-time.After(10 * time.Second):
		t.Fatal("a bad -metrics-addr did not stop the server")
	}
	cancel()

	for base, want := range map[string]struct {
		host string
		port int
	}{
		"https://api.openai.com/v1":   {"api.openai.com", 443},
		"http://localhost:11434/v1":   {"localhost", 11434},
		"http://[::1]/v1":             {"::1", 80},
		"https://example.com:8443/v1": {"example.com", 8443},
	} {
		host, port := hostPort(base)
		assert.Equal(t, want.host, host, base)
		assert.Equal(t, want.port, port, base)
	}
}
