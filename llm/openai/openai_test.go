package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/openai"
)

// wire is a chat-completions request as the documented wire format spells
// it; decoding with unknown members refused checks that nothing else is
// sent.
type wire struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Temperature         *float64 `json:"temperature"`
	Seed                *int64   `json:"seed"`
	MaxCompletionTokens *int64   `json:"max_completion_tokens"`
	MaxTokens           *int64   `json:"max_tokens"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict *bool           `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// fake is an OpenAI-compatible server: it records each request, checks its
// wire format, and answers with reply.
type fake struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	reqs  []wire
	hdrs  []http.Header
	urls  []*url.URL
	reply func(w http.ResponseWriter, n int)
}

func newFake(t *testing.T, reply func(w http.ResponseWriter, n int)) *fake {
	f := &fake{t: t, reply: reply}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/v1/chat/completions", r.URL.Path)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		dec := json.NewDecoder(bytesReader(body))
		dec.DisallowUnknownFields()
		var req wire
		assert.NoError(t, dec.Decode(&req), "the body is the documented wire format: %s", body)
		f.mu.Lock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, req)
		f.hdrs = append(f.hdrs, r.Header.Clone())
		f.urls = append(f.urls, r.URL)
		f.mu.Unlock()
		f.reply(w, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) requests() []wire {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire(nil), f.reqs...)
}

func (f *fake) model(t *testing.T, cfg openai.Config) *openai.Model {
	cfg.BaseURL = f.srv.URL + "/v1"
	m, err := openai.New(cfg)
	require.NoError(t, err)
	return m
}

func bytesReader(b []byte) io.Reader { return &reader{b: b} }

type reader struct{ b []byte }

func (r *reader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func completion(content, finish string) func(w http.ResponseWriter, n int) {
	return func(w http.ResponseWriter, _ int) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
			"choices": []any{map[string]any{"index": 0, "finish_reason": finish,
				"message": map[string]any{"role": "assistant", "content": content, "refusal": nil}}},
			"usage": map[string]any{"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
				"prompt_tokens_details": map[string]any{"cached_tokens": 64}},
		})
	}
}

func failure(status int, header map[string]string, code, message string) func(w http.ResponseWriter, n int) {
	return func(w http.ResponseWriter, _ int) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": message, "type": "invalid_request_error", "param": nil, "code": code}})
	}
}

var schema = json.RawMessage(`{"type":"object","properties":{"intent":{"type":"string"}},"required":["intent"],"additionalProperties":false}`)

func request() llm.Request {
	temp, seed := 0.0, int64(7)
	return llm.Request{
		Model:  "gpt-4o-mini",
		System: "Extract the fields.",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "<transcript_json>{}</transcript_json>"},
			{Role: llm.RoleAssistant, Content: `{"intent":1}`},
			{Role: llm.RoleUser, Content: "Your answer had problems: $.intent: got number, want string"},
		},
		Schema: schema, SchemaName: "extracted fields", Temperature: &temp, Seed: &seed, MaxOutputTokens: 256,
	}
}

func TestRequestsFollowTheWireFormat(t *testing.T) {
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/never") // the environment is never read
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment")
	f := newFake(t, completion(`{"intent":"billing"}`, "stop"))
	m := f.model(t, openai.Config{APIKey: "sk-test", Headers: http.Header{"OpenAI-Project": {"proj_1"}}, Query: url.Values{"api-version": {"2025-01-01"}}})
	resp, err := m.Generate(context.Background(), request())
	require.NoError(t, err)

	assert.Equal(t, llm.Response{Content: `{"intent":"billing"}`, Model: "gpt-4o-mini-2024-07-18", FinishReason: llm.FinishStop,
		Usage: llm.Usage{InputTokens: 120, OutputTokens: 30, CachedInputTokens: 64}}, resp)
	reqs := f.requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	assert.Equal(t, "gpt-4o-mini", got.Model)
	require.Len(t, got.Messages, 4)
	for i, want := range [][2]string{{"system", "Extract the fields."}, {"user", "<transcript_json>{}</transcript_json>"},
		{"assistant", `{"intent":1}`}, {"user", "Your answer had problems: $.intent: got number, want string"}} {
		assert.Equal(t, want[0], got.Messages[i].Role)
		assert.Equal(t, want[1], got.Messages[i].Content)
	}
	require.NotNil(t, got.Temperature)
	assert.Equal(t, 0.0, *got.Temperature, "a temperature of 0 is sent, not left out")
	assert.Equal(t, int64(7), *got.Seed)
	assert.Equal(t, int64(256), *got.MaxCompletionTokens)
	assert.Nil(t, got.MaxTokens)
	require.NotNil(t, got.ResponseFormat)
	assert.Equal(t, "json_schema", got.ResponseFormat.Type)
	require.NotNil(t, got.ResponseFormat.JSONSchema)
	assert.Equal(t, "extracted_fields", got.ResponseFormat.JSONSchema.Name, "the name fits OpenAI's pattern")
	assert.JSONEq(t, string(schema), string(got.ResponseFormat.JSONSchema.Schema))
	require.NotNil(t, got.ResponseFormat.JSONSchema.Strict)
	assert.True(t, *got.ResponseFormat.JSONSchema.Strict)

	h := f.hdrs[0]
	assert.Equal(t, "Bearer sk-test", h.Get("Authorization"))
	assert.Equal(t, "proj_1", h.Get("OpenAI-Project"))
	assert.Equal(t, "2025-01-01", f.urls[0].Query().Get("api-version"))
}

func TestOptionalFieldsAreLeftOut(t *testing.T) {
	f := newFake(t, completion(`{}`, "stop"))
	m := f.model(t, openai.Config{})
	_, err := m.Generate(context.Background(), llm.Request{Model: "llama3.1", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	require.NoError(t, err)
	got := f.requests()[0]
	assert.Len(t, got.Messages, 1, "no system message when there are no instructions")
	assert.Nil(t, got.Temperature)
	assert.Nil(t, got.Seed)
	assert.Nil(t, got.MaxCompletionTokens)
	require.NotNil(t, got.ResponseFormat, "without a schema, any JSON object is asked for")
	assert.Equal(t, "json_object", got.ResponseFormat.Type)
	assert.Empty(t, f.hdrs[0].Get("Authorization"), "no key, no header: local servers need none")
}

func TestFallbacksForServersWithoutStructuredOutputs(t *testing.T) {
	f := newFake(t, completion(`{"intent":"x"}`, "stop"))
	for _, tc := range []struct {
		format openai.ResponseFormat
		want   string
	}{{openai.ResponseFormatJSONObject, "json_object"}, {openai.ResponseFormatNone, ""}} {
		m := f.model(t, openai.Config{ResponseFormat: tc.format, LegacyMaxTokens: true, APIKey: "azure-key", APIKeyHeader: "api-key"})
		_, err := m.Generate(context.Background(), request())
		require.NoError(t, err)
		reqs := f.requests()
		got := reqs[len(reqs)-1]
		if tc.want == "" {
			assert.Nil(t, got.ResponseFormat)
		} else {
			require.NotNil(t, got.ResponseFormat)
			assert.Equal(t, tc.want, got.ResponseFormat.Type)
			assert.Nil(t, got.ResponseFormat.JSONSchema)
		}
		assert.Contains(t, got.Messages[0].Content, "Extract the fields.")
		assert.Contains(t, got.Messages[0].Content, string(schema), "the schema is in the instructions instead")
		assert.Contains(t, got.Messages[0].Content, "JSON", "json_object mode needs the word JSON in the messages")
		assert.Equal(t, int64(256), *got.MaxTokens)
		assert.Nil(t, got.MaxCompletionTokens)
		h := f.hdrs[len(f.hdrs)-1]
		assert.Equal(t, "azure-key", h.Get("api-key"))
		assert.Empty(t, h.Get("Authorization"))
	}
}

func TestFinishReasonsAndRefusals(t *testing.T) {
	for _, tc := range []struct {
		reply  func(w http.ResponseWriter, n int)
		finish llm.FinishReason
		class  error
	}{
		{completion(`{"intent":"bil`, "length"), llm.FinishLength, llm.ErrOutputTruncated},
		{completion(``, "content_filter"), llm.FinishContentFilter, llm.ErrRefused},
		{func(w http.ResponseWriter, _ int) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":null,"refusal":"I can't help with that."}}],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}`)
		}, llm.FinishRefusal, llm.ErrRefused},
	} {
		m := newFake(t, tc.reply).model(t, openai.Config{})
		resp, err := m.Generate(context.Background(), request())
		require.NoError(t, err, "a refusal or a cut answer is a response, as the llm contract allows")
		assert.Equal(t, tc.finish, resp.FinishReason)
		assert.ErrorIs(t, resp.Err(), tc.class)
		if tc.finish == llm.FinishRefusal {
			assert.Empty(t, resp.Content, "the refusal text is not an answer")
			assert.Equal(t, int64(6), resp.Usage.OutputTokens, "the tokens spent are still counted")
		}
	}
	// Through GenerateStructured, a refusal is ErrRefused and is not retried
	// as a bad answer.
	m := newFake(t, completion(``, "content_filter")).model(t, openai.Config{})
	_, err := llm.GenerateStructured[map[string]any](context.Background(), m, llm.MustSchema("s", schema), request())
	assert.ErrorIs(t, err, llm.ErrRefused)
}

func TestFailuresAreClassified(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		reply     func(w http.ResponseWriter, n int)
		class     error // nil: unclassified
		status    int
		retry     time.Duration
		retryable bool
	}{
		{"429 with Retry-After", failure(429, map[string]string{"Retry-After": "2"}, "rate_limit_exceeded", "Rate limit reached"), llm.ErrRateLimited, 429, 2 * time.Second, true},
		{"429 with retry-after-ms", failure(429, map[string]string{"retry-after-ms": "1500", "Retry-After": "9"}, "rate_limit_exceeded", "slow down"), llm.ErrRateLimited, 429, 1500 * time.Millisecond, true},
		{"429 with an HTTP date", failure(429, map[string]string{"Retry-After": now.Add(3 * time.Second).Format(http.TimeFormat)}, "", "slow down"), llm.ErrRateLimited, 429, 3 * time.Second, true},
		{"429 with the reset of the exhausted token limit", failure(429, map[string]string{
			"x-ratelimit-remaining-requests": "12", "x-ratelimit-reset-requests": "1s",
			"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"}, "rate_limit_exceeded", "tokens"), llm.ErrRateLimited, 429, 6 * time.Minute, true},
		{"429 with resets but no remaining count", failure(429, map[string]string{
			"x-ratelimit-reset-requests": "250ms", "x-ratelimit-reset-tokens": "20ms"}, "", "slow down"), llm.ErrRateLimited, 429, 250 * time.Millisecond, true},
		{"429 of an exhausted quota", failure(429, nil, "insufficient_quota", "You exceeded your current quota"), nil, 429, 0, false},
		{"500", failure(500, nil, "", "The server had an error"), llm.ErrTransient, 500, 0, true},
		{"503", failure(503, nil, "", "overloaded"), llm.ErrTransient, 503, 0, true},
		{"context_length_exceeded", failure(400, nil, "context_length_exceeded", "This model's maximum context length is 128000 tokens."), llm.ErrContextTooLong, 400, 0, false},
		{"vLLM's context message", failure(400, nil, "", "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens."), llm.ErrContextTooLong, 400, 0, false},
		{"Azure's content filter", failure(400, nil, "content_filter", "The response was filtered"), llm.ErrRefused, 400, 0, false},
		{"401", failure(401, nil, "invalid_api_key", "Incorrect API key provided: sk-abc"), nil, 401, 0, false},
		{"404 model", failure(404, nil, "model_not_found", "The model does not exist"), nil, 404, 0, false},
		{"no choices", func(w http.ResponseWriter, _ int) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]}`)
		}, llm.ErrTransient, 200, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.reply)
			m := f.model(t, openai.Config{Now: func() time.Time { return now }})
			_, err := m.Generate(context.Background(), request())
			require.Error(t, err)
			assert.Equal(t, tc.class, llm.Class(err), "%v", err)
			var e *llm.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.status, e.StatusCode)
			if tc.status != 200 {
				assert.InDelta(t, tc.retry, e.RetryAfter, float64(time.Second/10), "retry after")
			}
			assert.Equal(t, tc.retryable, llm.Retryable(err))
			assert.Len(t, f.requests(), 1, "the SDK's own retries are off")
			assert.NotContains(t, llm.SafeText(err), "sk-abc", "the provider's text stays out of logs")
		})
	}
}

func TestTimeoutsAndCancellation(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	slow := func(w http.ResponseWriter, n int) {
		calls.Add(1)
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		completion(`{}`, "stop")(w, n)
	}
	f := newFake(t, slow)
	defer close(release)

	m := f.model(t, openai.Config{Timeout: 50 * time.Millisecond})
	_, err := m.Generate(context.Background(), request())
	require.ErrorIs(t, err, llm.ErrTransient, "a call past its Timeout is a transient failure")
	assert.True(t, llm.Retryable(err))
	var timeout interface{ Timeout() bool }
	require.ErrorAs(t, err, &timeout, "and says it timed out")
	assert.True(t, timeout.Timeout())

	m = f.model(t, openai.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = m.Generate(ctx, request())
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the caller's own deadline is the caller's")
	assert.False(t, llm.Retryable(err))

	// An HTTP client's own timeout is a transient network timeout.
	m = f.model(t, openai.Config{HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})
	_, err = m.Generate(context.Background(), request())
	assert.ErrorIs(t, err, llm.ErrTransient)
	assert.Equal(t, "llm: transient failure", llm.SafeText(err))
}

func TestNetworkFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	m, err := openai.New(openai.Config{BaseURL: "http://" + addr + "/v1", APIKey: "sk-SECRET"})
	require.NoError(t, err)
	_, err = m.Generate(context.Background(), request())
	require.Error(t, err)
	var e *llm.Error
	require.ErrorAs(t, err, &e)
	assert.Nil(t, llm.Class(err), "a refused connection is left unclassified, with its cause")
	assert.NotContains(t, llm.SafeText(err), "SECRET")

	// A reset connection is transient.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.(*net.TCPConn).SetLinger(0)
			_ = conn.Close()
		}
	}))
	defer srv.Close()
	m, err = openai.New(openai.Config{BaseURL: srv.URL + "/v1"})
	require.NoError(t, err)
	_, err = m.Generate(context.Background(), request())
	require.Error(t, err)
	assert.True(t, llm.Retryable(err), "%v", err)
}

func TestRetryWrapsTheAdapter(t *testing.T) {
	// 429, 503, then an answer: llm.WithRetry owns retrying and honours the
	// wait the server asked for.
	f := newFake(t, func(w http.ResponseWriter, n int) {
		switch n {
		case 0:
			failure(429, map[string]string{"retry-after-ms": "30"}, "rate_limit_exceeded", "slow down")(w, n)
		case 1:
			failure(503, nil, "", "busy")(w, n)
		default:
			completion(`{"intent":"billing"}`, "stop")(w, n)
		}
	})
	m := llm.Chain(f.model(t, openai.Config{}), llm.WithRetry(llm.RetryOptions{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: time.Second}))
	start := time.Now()
	res, err := llm.GenerateStructured[map[string]string](context.Background(), m, llm.MustSchema("s", schema), request())
	require.NoError(t, err)
	assert.Equal(t, "billing", res.Value["intent"])
	assert.Len(t, f.requests(), 3)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond, "the retry waited as asked")
}

func TestNewRefusesABadConfig(t *testing.T) {
	for _, cfg := range []openai.Config{
		{BaseURL: "localhost:8000/v1"},
		{BaseURL: "ftp://example.com/v1"},
		{BaseURL: "http://"},
		{ResponseFormat: "yaml"},
		{Timeout: -time.Second},
	} {
		_, err := openai.New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	m, err := openai.New(openai.Config{})
	require.NoError(t, err, "the zero config talks to OpenAI")
	_, err = m.Generate(context.Background(), llm.Request{Model: "m"})
	assert.ErrorIs(t, err, llm.ErrInvalidRequest, "a bad request is refused before anything is sent")
	assert.False(t, errors.Is(err, llm.ErrTransient))
}
