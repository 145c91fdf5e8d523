package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/debrief-go/debrief/llm"
)

// Anthropic is an llm.Model for the Anthropic Messages API, over net/http:
// a provider whose wire format is not OpenAI's. A request's schema becomes
// the input schema of a single tool the model is made to call
// (tool_choice "tool"), so that the tool call's input is the structured
// answer.
type Anthropic struct {
	// BaseURL is the API's base, "https://api.anthropic.com" by default.
	BaseURL string
	// APIKey is sent as x-api-key.
	APIKey string
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// MaxTokens bounds an answer when the request sets no bound (the API
	// requires one); 0 means 1024.
	MaxTokens int
}

// anthropicVersion is the API version the wire format below is of.
const anthropicVersion = "2023-06-01"

type anthropicRequest struct {
	Model       string             `json:"model"`
	MaxTokens   int                `json:"max_tokens"`
	System      string             `json:"system,omitempty"`
	Messages    []anthropicMessage `json:"messages"`
	Temperature *float64           `json:"temperature,omitempty"`
	Tools       []anthropicTool    `json:"tools,omitempty"`
	ToolChoice  *anthropicChoice   `json:"tool_choice,omitempty"`
}

type anthropicMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type anthropicTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthropicChoice struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

type anthropicResponse struct {
	Model   string `json:"model"`
	Content []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	StopReason string `json:"stop_reason"`
	Usage      struct {
		InputTokens              int64 `json:"input_tokens"`
		OutputTokens             int64 `json:"output_tokens"`
		CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
		CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	} `json:"usage"`
}

type anthropicError struct {
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// Generate sends req as one Messages API call.
func (a *Anthropic) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := req.Validate(); err != nil {
		return llm.Response{}, err
	}
	body := anthropicRequest{Model: req.Model, MaxTokens: req.MaxOutputTokens, System: req.System, Temperature: req.Temperature}
	if body.MaxTokens <= 0 {
		body.MaxTokens = a.MaxTokens
		if body.MaxTokens <= 0 {
			body.MaxTokens = 1024
		}
	}
	for _, m := range req.Messages {
		body.Messages = append(body.Messages, anthropicMessage{Role: string(m.Role), Content: m.Content})
	}
	tool := toolName(req.SchemaName)
	if len(req.Schema) > 0 {
		body.Tools = []anthropicTool{{Name: tool, Description: "Record the answer.", InputSchema: req.Schema}}
		body.ToolChoice = &anthropicChoice{Type: "tool", Name: tool}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return llm.Response{}, err
	}
	base := a.BaseURL
	if base == "" {
		base = "https://api.anthropic.com"
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/v1/messages", bytes.NewReader(raw))
	if err != nil {
		return llm.Response{}, err
	}
	httpReq.Header.Set("content-type", "application/json")
	httpReq.Header.Set("x-api-key", a.APIKey)
	httpReq.Header.Set("anthropic-version", anthropicVersion)
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(httpReq)
	if err != nil {
		if ctx.Err() != nil {
			return llm.Response{}, ctx.Err()
		}
		if llm.Retryable(err) {
			return llm.Response{}, &llm.Error{Kind: llm.ErrTransient, Err: err}
		}
		return llm.Response{}, &llm.Error{Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return llm.Response{}, &llm.Error{Kind: llm.ErrTransient, StatusCode: resp.StatusCode, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		return llm.Response{}, classify(resp, data)
	}
	var out anthropicResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return llm.Response{}, &llm.Error{Kind: llm.ErrTransient, StatusCode: resp.StatusCode, Message: "the answer is not JSON", Err: err}
	}
	r := llm.Response{Model: out.Model, FinishReason: llm.FinishStop, Usage: llm.Usage{
		InputTokens:       out.Usage.InputTokens + out.Usage.CacheReadInputTokens + out.Usage.CacheCreationInputTokens,
		OutputTokens:      out.Usage.OutputTokens,
		CachedInputTokens: out.Usage.CacheReadInputTokens,
	}}
	for _, c := range out.Content {
		switch {
		case c.Type == "tool_use" && c.Name == tool && len(req.Schema) > 0:
			r.Content = string(c.Input)
		case c.Type == "text" && len(req.Schema) == 0:
			r.Content += c.Text
		}
	}
	switch out.StopReason {
	case "max_tokens":
		r.FinishReason = llm.FinishLength
	case "refusal":
		r.Content, r.FinishReason = "", llm.FinishRefusal
	}
	return r, nil
}

// toolName fits a schema name to the tool names the API accepts.
func toolName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
	}
	if b.Len() == 0 {
		return "answer"
	}
	return b.String()[:min(b.Len(), 64)]
}

// classify maps an error answer to llm's classes: 429 is rate limited
// (with the retry-after it asks for), 529 (overloaded) and 5xx transient,
// a prompt too long for the context window ErrContextTooLong.
func classify(resp *http.Response, data []byte) error {
	var body anthropicError
	_ = json.Unmarshal(data, &body)
	e := llm.ErrorFromHTTP(resp.StatusCode, resp.Header, body.Error.Message, time.Now())
	switch {
	case body.Error.Type == "overloaded_error":
		e.Kind = llm.ErrTransient
	case strings.Contains(strings.ToLower(body.Error.Message), "prompt is too long"):
		e.Kind = llm.ErrContextTooLong
	}
	return e
}

var _ llm.Model = (*Anthropic)(nil)
