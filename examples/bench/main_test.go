package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func TestBenchReportsItsFigures(t *testing.T) {
	cfg, err := parseFlags([]string{"-n", "150", "-latency", "1ms", "-concurrency", "16", "-baseline", "-json"}, noEnv, io.Discard)
	require.NoError(t, err)
	rep, err := run(context.Background(), cfg)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.print(&out, true))
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	for _, key := range []string{"wall_s", "ideal_s", "ratio", "baseline_ratio", "cpu_us_per_conv", "alloc_bytes_per_conv",
		"peak_rss_bytes", "conversations", "model_calls"} {
		assert.Contains(t, got, key, "the JSON keys are a contract")
	}
	assert.EqualValues(t, 150, got["conversations"])
	assert.EqualValues(t, 300, got["model_calls"], "an extraction and a verdict per conversation")
	assert.EqualValues(t, 150, got["completed"])
	assert.InDelta(t, (10 * 2 * time.Millisecond).Seconds(), got["ideal_s"], 1e-9, "⌈150/16⌉ rounds of two 1 ms calls")
	assert.GreaterOrEqual(t, got["ratio"], 1.0, "nothing beats the model's latency")
	assert.GreaterOrEqual(t, got["baseline_ratio"], 1.0)
	assert.GreaterOrEqual(t, got["baseline_spread_ratio"], 1.0)
	assert.Positive(t, got["baseline_cpu_us_per_conv"], "what the bare pool's calls cost")
	assert.Positive(t, got["alloc_bytes_per_conv"])
	assert.Positive(t, got["peak_rss_bytes"])

	out.Reset()
	require.NoError(t, rep.print(&out, false))
	assert.Contains(t, out.String(), "150 conversations, modes extract,judge,accuracy,store")
}

func TestBenchWithAnInstantModelAndFewerModes(t *testing.T) {
	cfg, err := parseFlags([]string{"-n", "70", "-latency", "0", "-modes", "extract,accuracy"}, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"extract", "accuracy"}, cfg.modes)
	rep, err := run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Nil(t, rep.Ratio, "no ratio without a latency")
	assert.Nil(t, rep.BaselineRatio)
	assert.Nil(t, rep.BaselineSpreadRatio)
	assert.EqualValues(t, 70, rep.ModelCalls, "no judge calls")
	assert.Equal(t, 70, rep.Completed)
}

func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "0"}, "-n: 0 conversations"},
		{[]string{"-latency", "-1s"}, "-latency: -1s is negative"},
		{[]string{"-concurrency", "0"}, "-concurrency: 0"},
		{[]string{"-modes", "extract,grade"}, `-modes: "grade" is not a mode`},
		{[]string{"-join"}, "-join: a process joins the runs of others on a shared PostgreSQL store"},
		{[]string{"-store", "redis"}, `-store: "redis" is neither memory nor a PostgreSQL URL`},
		{[]string{"-llm-base-url", "localhost:8000/v1"}, "-llm-base-url: openai: Config.BaseURL"},
		{[]string{"extra"}, "unexpected arguments: extra"},
		{[]string{"-latency", "soon"}, "invalid value"},
	} {
		_, err := parseFlags(tc.args, noEnv, io.Discard)
		assert.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
	cfg, err := parseFlags(nil, noEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, config{n: 10000, latency: 20 * time.Millisecond, concurrency: 64, modes: []string{"extract", "judge", "accuracy", "store"}, store: "memory", llmModel: "gpt-4o-mini"}, cfg)
	cfg, err = parseFlags([]string{"-llm-base-url", "http://127.0.0.1:8000/v1"}, func(k string) string {
		if k == "OPENAI_API_KEY" {
			return "sk-env"
		}
		return ""
	}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "sk-env", cfg.llmAPIKey)
}

func TestSpreadOffset(t *testing.T) {
	ms := time.Millisecond
	assert.Equal(t, 16*ms*63/64, spreadOffset(64, 64, 16*ms), "one full round: the last starter ends last")
	assert.Equal(t, time.Duration(0), spreadOffset(17, 16, 16*ms), "the second round is the first starter's alone")
	assert.Equal(t, 15*ms*16/64, spreadOffset(10000, 64, 16*ms), "10,000 = 156 rounds of 64 and 16 more")
	assert.Equal(t, time.Duration(0), spreadOffset(1, 64, 16*ms))
}

func noEnv(string) string { return "" }

func TestBenchThroughAnOpenAICompatibleServer(t *testing.T) {
	// A server of the wire format that answers any schema after 2ms, as
	// examples/bench/fakeserver does.
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model          string `json:"model"`
			ResponseFormat struct {
				JSONSchema struct {
					Schema json.RawMessage `json:"schema"`
				} `json:"json_schema"`
			} `json:"response_format"`
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		assert.Equal(t, "local-model", req.Model)
		time.Sleep(2 * time.Millisecond)
		resp, err := llmtest.Filler{}.Generate(r.Context(), llm.Request{Model: req.Model, Schema: req.ResponseFormat.JSONSchema.Schema,
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
		require.NoError(t, err)
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "created": 1, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": resp.Content}}},
			"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
	}))
	defer srv.Close()
	cfg, err := parseFlags([]string{"-n", "40", "-latency", "2ms", "-concurrency", "8", "-baseline", "-llm-base-url", srv.URL + "/v1", "-llm-model", "local-model"}, noEnv, io.Discard)
	require.NoError(t, err)
	rep, err := run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 40, rep.Completed)
	assert.Equal(t, int64(80), rep.ModelCalls, "an extraction and a verdict per conversation")
	assert.Equal(t, int64(80+80+80), served.Load(), "the run and both baseline pools went through HTTP")
	require.NotNil(t, rep.Ratio)
	require.NotNil(t, rep.BaselineRatio)
	assert.Greater(t, *rep.Ratio, 1.0, "nothing is faster than the model")
}

func TestBenchOnPostgreSQLWithAJoiningProcess(t *testing.T) {
	url := os.Getenv("DEBRIEF_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("DEBRIEF_TEST_POSTGRES_URL is unset: no PostgreSQL to test against (.ci/run starts one)")
	}
	joinCfg, err := parseFlags([]string{"-join", "-latency", "2ms", "-concurrency", "4", "-store", url}, noEnv, io.Discard)
	require.NoError(t, err)
	joined := make(chan report, 1)
	go func() {
		rep, err := run(context.Background(), joinCfg)
		assert.NoError(t, err)
		joined <- rep
	}()
	cfg, err := parseFlags([]string{"-n", "300", "-latency", "2ms", "-concurrency", "4", "-store", url}, noEnv, io.Discard)
	require.NoError(t, err)
	rep, err := run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 300, rep.Completed)
	other := <-joined
	assert.Equal(t, int64(600), rep.ModelCalls+other.ModelCalls, "the two processes shared the run's calls, none twice")
	assert.Positive(t, other.ModelCalls, "the joining process took chunks")
}
