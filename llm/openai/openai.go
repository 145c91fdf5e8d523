// Package openai adapts OpenAI-compatible chat-completions servers —
// OpenAI, Azure OpenAI, vLLM, Ollama, the llama.cpp server and others that
// speak the same wire format — to [llm.Model], on the official
// github.com/openai/openai-go SDK.
//
// A request's schema is sent as response_format json_schema with strict
// set, so that the server constrains the answer to it; for servers that do
// not support that, [ResponseFormatJSONObject] asks for any JSON object and
// puts the schema in the instructions instead. The SDK's own retries are
// off: wrap the model with [llm.WithRetry], which honours the waits this
// adapter reads from Retry-After, retry-after-ms and the x-ratelimit-reset
// headers. Failures are classified as package llm defines them: 429 is
// rate limited (but an exhausted quota is not, since waiting does not
// help), 5xx and network timeouts are transient, a context that does not
// fit is [llm.ErrContextTooLong], a content filter is [llm.ErrRefused]. A
// refusal or an answer cut by the token limit is returned as a response
// with finish reason [llm.FinishRefusal] or [llm.FinishLength].
//
// Nothing is read from the environment: the host passes the base URL and
// the key.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/debrief-go/debrief/llm"
)

// DefaultBaseURL is OpenAI's API.
const DefaultBaseURL = "https://api.openai.com/v1/"

// A ResponseFormat says how a request's schema reaches the server.
type ResponseFormat string

// The response formats.
const (
	// ResponseFormatJSONSchema sends the schema as response_format
	// json_schema with strict set: the server constrains the answer to it.
	// The default.
	ResponseFormatJSONSchema ResponseFormat = "json_schema"
	// ResponseFormatJSONObject asks for any JSON object (response_format
	// json_object) and appends the schema to the system instructions, for
	// servers without structured outputs. The answer is still validated by
	// [llm.GenerateStructured].
	ResponseFormatJSONObject ResponseFormat = "json_object"
	// ResponseFormatNone sends no response_format and appends the schema to
	// the instructions, for servers that support neither.
	ResponseFormatNone ResponseFormat = "none"
)

// Config configures a [Model].
type Config struct {
	// BaseURL is the API's base, up to and including the version:
	// "https://api.openai.com/v1/" (the default), "http://localhost:11434/v1/"
	// for Ollama, "http://localhost:8000/v1/" for vLLM,
	// "https://RESOURCE.openai.azure.com/openai/v1/" for Azure OpenAI.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer KEY", or in the header
	// APIKeyHeader names. Empty sends no key (local servers need none).
	APIKey string
	// APIKeyHeader, when set, carries the key instead of Authorization:
	// "api-key" for Azure OpenAI.
	APIKeyHeader string
	// Headers are sent with every request (an organisation, a project, a
	// gateway's routing header).
	Headers http.Header
	// Query is added to every request's URL ("api-version" for Azure
	// OpenAI's dated API).
	Query url.Values
	// HTTPClient sends the requests; nil uses a client with no overall
	// timeout (the caller's context bounds each call).
	HTTPClient *http.Client
	// Timeout, when positive, bounds each call; a call that runs out of it
	// fails as a transient timeout, which [llm.WithRetry] may retry.
	Timeout time.Duration
	// ResponseFormat says how a schema reaches the server; empty means
	// [ResponseFormatJSONSchema].
	ResponseFormat ResponseFormat
	// LegacyMaxTokens sends a request's output bound as max_tokens instead
	// of max_completion_tokens, for servers that know only the older name.
	LegacyMaxTokens bool
	// Now is the clock the waits of an HTTP-date Retry-After are measured
	// from; nil means time.Now.
	Now func() time.Time
}

// A Model calls an OpenAI-compatible chat-completions endpoint. It is safe
// for concurrent use.
type Model struct {
	chat   oai.ChatCompletionService
	format ResponseFormat
	legacy bool
	limit  time.Duration
	now    func() time.Time
}

var _ llm.Model = (*Model)(nil)

// New returns a model for cfg. It reports a base URL that is not an
// absolute http(s) URL and an unknown response format.
func New(cfg Config) (*Model, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("openai: Config.BaseURL: want an absolute http or https URL such as " + DefaultBaseURL)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	format := cfg.ResponseFormat
	switch format {
	case "":
		format = ResponseFormatJSONSchema
	case ResponseFormatJSONSchema, ResponseFormatJSONObject, ResponseFormatNone:
	default:
		return nil, fmt.Errorf("openai: Config.ResponseFormat: %q is not json_schema, json_object or none", format)
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("openai: Config.Timeout: must not be negative")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	opts := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithHTTPClient(client),
		option.WithMaxRetries(0), // llm.WithRetry owns retrying
	}
	switch {
	case cfg.APIKey != "" && cfg.APIKeyHeader != "":
		opts = append(opts, option.WithHeader(cfg.APIKeyHeader, cfg.APIKey))
	case cfg.APIKey != "":
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	for k, vs := range cfg.Headers {
		for _, v := range vs {
			opts = append(opts, option.WithHeaderAdd(k, v))
		}
	}
	for k, vs := range cfg.Query {
		for _, v := range vs {
			opts = append(opts, option.WithQueryAdd(k, v))
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Model{
		chat:   oai.NewChatCompletionService(opts...),
		format: format,
		legacy: cfg.LegacyMaxTokens,
		limit:  cfg.Timeout,
		now:    now,
	}, nil
}

// Generate sends req as one chat completion and returns its first choice.
func (m *Model) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := req.Validate(); err != nil {
		return llm.Response{}, err
	}
	callCtx := ctx
	if m.limit > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, m.limit)
		defer cancel()
	}
	completion, err := m.chat.New(callCtx, m.params(req))
	if err != nil {
		return llm.Response{}, m.classify(ctx, callCtx, err)
	}
	return response(completion)
}

// params builds the wire request.
func (m *Model) params(req llm.Request) oai.ChatCompletionNewParams {
	system := req.System
	if len(req.Schema) > 0 && m.format != ResponseFormatJSONSchema {
		system = strings.TrimSpace(system + "\n\nAnswer with one JSON object, and nothing else, that satisfies this JSON Schema:\n" + string(req.Schema))
	}
	msgs := make([]oai.ChatCompletionMessageParamUnion, 0, len(req.Messages)+1)
	if system != "" {
		msgs = append(msgs, oai.SystemMessage(system))
	}
	for _, msg := range req.Messages {
		if msg.Role == llm.RoleAssistant {
			msgs = append(msgs, oai.AssistantMessage(msg.Content))
		} else {
			msgs = append(msgs, oai.UserMessage(msg.Content))
		}
	}
	p := oai.ChatCompletionNewParams{Model: shared.ChatModel(req.Model), Messages: msgs}
	if req.Temperature != nil {
		p.Temperature = oai.Float(*req.Temperature)
	}
	if req.Seed != nil {
		p.Seed = oai.Int(*req.Seed)
	}
	if req.MaxOutputTokens > 0 {
		if m.legacy {
			p.MaxTokens = oai.Int(int64(req.MaxOutputTokens))
		} else {
			p.MaxCompletionTokens = oai.Int(int64(req.MaxOutputTokens))
		}
	}
	switch {
	case m.format == ResponseFormatNone:
	case len(req.Schema) > 0 && m.format == ResponseFormatJSONSchema:
		p.ResponseFormat.OfJSONSchema = &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name:   schemaName(req.SchemaName),
				Schema: json.RawMessage(req.Schema),
				Strict: oai.Bool(true),
			},
		}
	default: // any JSON object: no schema, or a server without structured outputs
		p.ResponseFormat.OfJSONObject = &shared.ResponseFormatJSONObjectParam{}
	}
	return p
}

var unsafeNameChars = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// schemaName fits a schema name to what OpenAI accepts: letters, digits,
// underscores and dashes, at most 64.
func schemaName(name string) string {
	name = unsafeNameChars.ReplaceAllString(name, "_")
	if name == "" {
		return "answer"
	}
	return name[:min(len(name), 64)]
}

// response maps a completion to the llm contract.
func response(c *oai.ChatCompletion) (llm.Response, error) {
	usage := llm.Usage{
		InputTokens:       c.Usage.PromptTokens,
		OutputTokens:      c.Usage.CompletionTokens,
		CachedInputTokens: c.Usage.PromptTokensDetails.CachedTokens,
	}
	if len(c.Choices) == 0 {
		return llm.Response{Model: c.Model, Usage: usage}, &llm.Error{Kind: llm.ErrTransient, StatusCode: http.StatusOK,
			Message: "the server answered with no choices"}
	}
	choice := c.Choices[0]
	resp := llm.Response{Content: choice.Message.Content, Model: c.Model, Usage: usage}
	switch {
	case choice.Message.Refusal != "":
		resp.Content, resp.FinishReason = "", llm.FinishRefusal
	case choice.FinishReason == "length":
		resp.FinishReason = llm.FinishLength
	case choice.FinishReason == "content_filter":
		resp.FinishReason = llm.FinishContentFilter
	default:
		resp.FinishReason = llm.FinishStop
	}
	return resp, nil
}

// classify maps a failed call to llm's error classes. ctx is the caller's
// context, callCtx the one the call ran under (with the Timeout).
func (m *Model) classify(ctx, callCtx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err() // the caller gave up: not the provider's failure
	}
	if callCtx.Err() != nil {
		return &llm.Error{Kind: llm.ErrTransient, Message: fmt.Sprintf("no answer within %s", m.limit), Err: callCtx.Err()}
	}
	var apiErr *oai.Error
	if !errors.As(err, &apiErr) {
		// No HTTP answer: a network failure. The ones worth another try are
		// transient; the rest (a host not found, a certificate refused) are
		// left unclassified, with their cause.
		var op *net.OpError
		if llm.Retryable(err) || errors.Is(err, io.EOF) || errors.As(err, &op) && op.Op != "dial" {
			// The connection broke after it was made: the server may well
			// answer the next one.
			return &llm.Error{Kind: llm.ErrTransient, Err: err}
		}
		return &llm.Error{Err: err}
	}
	var header http.Header
	if apiErr.Response != nil {
		header = apiErr.Response.Header
	}
	e := llm.ErrorFromHTTP(apiErr.StatusCode, header, apiErr.Message, m.now())
	if e.Kind == llm.ErrRateLimited && e.RetryAfter == 0 {
		e.RetryAfter = rateLimitReset(header)
	}
	code := strings.ToLower(apiErr.Code + " " + apiErr.Type)
	msg := strings.ToLower(apiErr.Message)
	switch {
	case strings.Contains(code, "context_length_exceeded"),
		strings.Contains(msg, "maximum context length"), strings.Contains(msg, "context length") && strings.Contains(msg, "exceed"),
		strings.Contains(msg, "exceeds the context window"):
		e.Kind = llm.ErrContextTooLong
	case strings.Contains(code, "insufficient_quota"):
		e.Kind = nil // a 429 that waiting does not cure
	case strings.Contains(code, "content_filter"), strings.Contains(code, "content_policy"):
		e.Kind = llm.ErrRefused
	}
	return e
}

// rateLimitReset reads OpenAI's x-ratelimit headers: the reset of the
// limit that is exhausted (remaining 0), or the later of both when neither
// says so. It returns 0 when they give no usable wait.
func rateLimitReset(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	var wait, later time.Duration
	for _, kind := range []string{"requests", "tokens"} {
		d, err := time.ParseDuration(strings.TrimSpace(h.Get("x-ratelimit-reset-" + kind)))
		if err != nil || d <= 0 || d > 24*time.Hour {
			continue
		}
		later = max(later, d)
		if strings.TrimSpace(h.Get("x-ratelimit-remaining-"+kind)) == "0" {
			wait = max(wait, d)
		}
	}
	if wait == 0 {
		return later
	}
	return wait
}
