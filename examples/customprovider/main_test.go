package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
)

func TestTheProgramRunsOffline(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(context.Background(), &out, func(string) string { return "" }))
	assert.Contains(t, out.String(), `conversation 1: {"intent":"billing","order_id":"88412","resolved":true}`)
	assert.Contains(t, out.String(), `conversation 2: {"intent":"support","order_id":null,"resolved":false}`)
	assert.Contains(t, out.String(), "provider: 3 HTTP requests, 1 rate-limited and retried")
}

var schema = json.RawMessage(`{"type":"object","properties":{"intent":{"type":"string"}},"required":["intent"],"additionalProperties":false}`)

func request() llm.Request {
	temp := 0.0
	return llm.Request{Model: "claude-test", System: "Extract.", Schema: schema, SchemaName: "extracted fields", Temperature: &temp,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "<transcript_json>I was charged twice</transcript_json>"}}}
}

func TestRequestsFollowTheMessagesWireFormat(t *testing.T) {
	fake := newFakeAnthropic(0)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	a := &Anthropic{BaseURL: srv.URL, APIKey: "sk-ant-test"}
	resp, err := a.Generate(context.Background(), request())
	require.NoError(t, err)
	assert.JSONEq(t, `{"intent":"billing","order_id":null,"resolved":true}`, resp.Content, "the forced tool call's input is the answer")
	assert.Equal(t, llm.FinishStop, resp.FinishReason)
	assert.Equal(t, llm.Usage{InputTokens: 400, OutputTokens: 40, CachedInputTokens: 100}, resp.Usage, "input counts cached tokens too")
	require.Len(t, fake.requests, 1)
	got := fake.requests[0]
	assert.Equal(t, "claude-test", got.Model)
	assert.Equal(t, 1024, got.MaxTokens, "the API requires a bound: the default")
	assert.Equal(t, "Extract.", got.System)
	assert.Equal(t, []anthropicMessage{{Role: "user", Content: "<transcript_json>I was charged twice</transcript_json>"}}, got.Messages)
	require.Len(t, got.Tools, 1)
	assert.Equal(t, "extracted_fields", got.Tools[0].Name, "a tool name the API accepts")
	assert.JSONEq(t, string(schema), string(got.Tools[0].InputSchema))
	assert.Equal(t, &anthropicChoice{Type: "tool", Name: "extracted_fields"}, got.ToolChoice)
	require.NotNil(t, got.Temperature)
}

func answer(status int, header map[string]string, body string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
}

func TestFailuresAndStopReasonsAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		class  error
		retry  time.Duration
	}{
		{"rate limited", 429, map[string]string{"retry-after": "3"}, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, llm.ErrRateLimited, 3 * time.Second},
		{"overloaded", 529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llm.ErrTransient, 0},
		{"server error", 500, nil, `{"type":"error","error":{"type":"api_error","message":"oops"}}`, llm.ErrTransient, 0},
		{"prompt too long", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`, llm.ErrContextTooLong, 0},
		{"bad key", 401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, nil, 0},
	} {
		srv := answer(tc.status, tc.header, tc.body)
		_, err := (&Anthropic{BaseURL: srv.URL, APIKey: "k"}).Generate(context.Background(), request())
		srv.Close()
		require.Error(t, err, tc.name)
		assert.Equal(t, tc.class, llm.Class(err), "%s: %v", tc.name, err)
		var e *llm.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, tc.status, e.StatusCode)
		assert.Equal(t, tc.retry, e.RetryAfter, tc.name)
	}
	for _, tc := range []struct {
		stop   string
		finish llm.FinishReason
	}{{"max_tokens", llm.FinishLength}, {"refusal", llm.FinishRefusal}, {"tool_use", llm.FinishStop}} {
		srv := answer(200, nil, `{"model":"m","stop_reason":"`+tc.stop+`","content":[{"type":"tool_use","name":"extracted_fields","input":{"intent":"x"}}],"usage":{"input_tokens":1,"output_tokens":1}}`)
		resp, err := (&Anthropic{BaseURL: srv.URL, APIKey: "k"}).Generate(context.Background(), request())
		srv.Close()
		require.NoError(t, err)
		assert.Equal(t, tc.finish, resp.FinishReason, tc.stop)
		if tc.finish == llm.FinishRefusal {
			assert.Empty(t, resp.Content)
		}
	}
}

func TestTheWrappersComposeAroundTheProvider(t *testing.T) {
	fake := newFakeAnthropic(2) // every second request is rate-limited
	srv := httptest.NewServer(fake)
	defer srv.Close()
	model := llm.Chain(&Anthropic{BaseURL: srv.URL, APIKey: "k"},
		llm.WithCache(llm.NewLRUCache(10, 1<<20)),
		llm.WithRetry(llm.RetryOptions{MaxAttempts: 3, BaseDelay: time.Millisecond}))
	req := request()
	first, err := model.Generate(context.Background(), req)
	require.NoError(t, err)
	req2 := request()
	req2.Messages[0].Content = "<transcript_json>My router is down</transcript_json>"
	second, err := model.Generate(context.Background(), req2)
	require.NoError(t, err, "the 429 was retried after the wait it asked for")
	assert.Contains(t, second.Content, "support")
	again, err := model.Generate(context.Background(), request())
	require.NoError(t, err)
	assert.Equal(t, first.Content, again.Content)
	requests, limited := fake.counts()
	assert.Equal(t, 3, requests, "two answers, one retry, and a cache hit that made no request")
	assert.Equal(t, 1, limited)

	// Cancellation is the caller's, not the provider's.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = (&Anthropic{BaseURL: srv.URL, APIKey: "k"}).Generate(ctx, req2)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
}
