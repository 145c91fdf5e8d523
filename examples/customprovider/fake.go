package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// fakeAnthropic is an in-process stand-in for the Anthropic Messages API:
// it checks each request's wire format, answers a forced tool call with an
// input read from the transcript's keywords, and rate-limits every nth
// call (0 for never) with a 429 and a short retry-after.
type fakeAnthropic struct {
	every int

	mu       sync.Mutex
	calls    int
	limited  int
	requests []anthropicRequest
}

// counts returns the requests answered and those rate-limited.
func (f *fakeAnthropic) counts() (requests, limited int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.limited
}

func newFakeAnthropic(every int) *fakeAnthropic { return &fakeAnthropic{every: every} }

func (f *fakeAnthropic) fail(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": kind, "message": msg}})
}

func (f *fakeAnthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		f.fail(w, http.StatusNotFound, "not_found_error", "not found")
		return
	}
	if r.Header.Get("x-api-key") == "" || r.Header.Get("anthropic-version") != anthropicVersion || r.Header.Get("content-type") != "application/json" {
		f.fail(w, http.StatusUnauthorized, "authentication_error", "missing or bad headers")
		return
	}
	data, _ := io.ReadAll(r.Body)
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var req anthropicRequest
	if err := dec.Decode(&req); err != nil || req.Model == "" || req.MaxTokens <= 0 || len(req.Messages) == 0 {
		f.fail(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("malformed request: %v", err))
		return
	}
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	if f.every > 0 && n%f.every == 0 {
		f.mu.Lock()
		f.limited++
		f.mu.Unlock()
		w.Header().Set("retry-after", "0.05")
		f.fail(w, http.StatusTooManyRequests, "rate_limit_error", "Number of requests has exceeded your rate limit")
		return
	}
	if len(req.Tools) != 1 || req.ToolChoice == nil || req.ToolChoice.Type != "tool" || req.ToolChoice.Name != req.Tools[0].Name {
		f.fail(w, http.StatusBadRequest, "invalid_request_error", "this fake answers forced tool calls only")
		return
	}
	text := strings.ToLower(req.Messages[len(req.Messages)-1].Content)
	input := map[string]any{"intent": "other", "order_id": nil, "resolved": !strings.Contains(text, "call back")}
	switch {
	case strings.Contains(text, "charged") || strings.Contains(text, "refund"):
		input["intent"] = "billing"
	case strings.Contains(text, "router") || strings.Contains(text, "connection"):
		input["intent"] = "support"
	}
	for _, word := range strings.FieldsFunc(text, func(r rune) bool { return r < '0' || r > '9' }) {
		if len(word) >= 5 {
			input["order_id"] = word
		}
	}
	raw, _ := json.Marshal(input)
	w.Header().Set("content-type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprint("msg_", n), "type": "message", "role": "assistant", "model": req.Model,
		"content":     []any{map[string]any{"type": "tool_use", "id": fmt.Sprint("toolu_", n), "name": req.ToolChoice.Name, "input": json.RawMessage(raw)}},
		"stop_reason": "tool_use",
		"usage":       map[string]any{"input_tokens": 300, "output_tokens": 40, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0},
	})
}
