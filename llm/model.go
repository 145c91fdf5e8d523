package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// A Model produces one structured JSON completion per call. It is the only
// thing debrief needs from a language-model provider; hosts adapt their
// provider to it (see [ModelFunc] for a one-function adapter).
//
// Any method may be called concurrently; implementations manage their own
// synchronisation.
//
// Generate observes these rules:
//   - It returns promptly with ctx.Err() (possibly wrapped) once ctx is done.
//   - When req.Schema is set, the model is asked to answer with JSON that
//     satisfies it; callers still validate the answer (see [GenerateStructured]),
//     so a provider without structured outputs may ignore the schema.
//   - A completed answer is returned with a nil error, its text in
//     [Response.Content] and its token counts in [Response.Usage].
//   - An answer cut short by the output-token limit, or withheld by a refusal
//     or content filter, is returned as a Response with FinishReason
//     [FinishLength], [FinishRefusal] or [FinishContentFilter] and a nil error,
//     so the tokens it spent are still reported; [Response.Err] turns it into a
//     classified error. Returning the classified error instead is also allowed.
//   - A failure is returned as an error classified with the sentinels of this
//     package ([ErrRateLimited], [ErrTransient], [ErrRefused],
//     [ErrContextTooLong], ...) whenever the cause is known, typically as an
//     [*Error], so that wrappers such as [WithRetry] know what to do with it.
//   - It never modifies req or anything req refers to.
type Model interface {
	Generate(ctx context.Context, req Request) (Response, error)
}

// ModelFunc adapts an ordinary function to the [Model] interface.
type ModelFunc func(ctx context.Context, req Request) (Response, error)

// Generate calls f(ctx, req).
func (f ModelFunc) Generate(ctx context.Context, req Request) (Response, error) {
	return f(ctx, req)
}

// Role says who wrote a [Message].
type Role string

// The roles of a conversation with a model. System instructions are not a
// message: they travel in [Request.System], so that no message content can
// pose as one.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// A Message is one turn of the conversation sent to a model.
type Message struct {
	// Role says who wrote the message: [RoleUser] or [RoleAssistant].
	Role Role `json:"role"`
	// Content is the message's text.
	Content string `json:"content"`
}

// A Request is everything a model needs for one completion. The zero value of
// every optional field means "the provider's default".
type Request struct {
	// Model is the host's key for the model to use ("gpt-4o-mini", "local-llama").
	// Adapters map it to a provider model; wrappers account usage per key.
	Model string `json:"model"`
	// System holds the system instructions.
	System string `json:"system,omitempty"`
	// Messages is the conversation, oldest first. It must not be empty.
	Messages []Message `json:"messages"`
	// Schema is the JSON Schema the answer must satisfy, as raw JSON, or nil for
	// free-form JSON.
	Schema json.RawMessage `json:"schema,omitempty"`
	// SchemaName names the schema for providers that require a name.
	SchemaName string `json:"schemaName,omitempty"`
	// Temperature is the sampling temperature; nil leaves the provider's default,
	// a pointer to 0 asks for the most deterministic answer.
	Temperature *float64 `json:"temperature,omitempty"`
	// MaxOutputTokens bounds the answer's length; 0 leaves the provider's default.
	MaxOutputTokens int `json:"maxOutputTokens,omitempty"`
	// Seed asks providers that support it for reproducible sampling; nil for none.
	Seed *int64 `json:"seed,omitempty"`
}

// Validate reports every problem of r as one error that wraps [ErrInvalidRequest].
// Each problem names the field.
func (r Request) Validate() error { return r.validate(false) }

// validate is Validate, leaving out the check of a schema known to be
// valid: one set from a compiled [Schema].
func (r Request) validate(schemaTrusted bool) error {
	var errs []error
	if len(r.Messages) == 0 {
		errs = append(errs, errors.New("messages: at least one message is required"))
	}
	for i, m := range r.Messages {
		if m.Role != RoleUser && m.Role != RoleAssistant {
			errs = append(errs, fmt.Errorf("messages[%d].role: %q is not %q or %q", i, m.Role, RoleUser, RoleAssistant))
		}
	}
	if !schemaTrusted && len(r.Schema) > 0 && !json.Valid(r.Schema) {
		errs = append(errs, errors.New("schema: not valid JSON"))
	}
	if r.Temperature != nil && !(*r.Temperature >= 0 && *r.Temperature <= 2) { // NaN fails too
		errs = append(errs, fmt.Errorf("temperature: %v is outside [0, 2]", *r.Temperature))
	}
	if r.MaxOutputTokens < 0 {
		errs = append(errs, fmt.Errorf("maxOutputTokens: %d is negative", r.MaxOutputTokens))
	}
	if len(errs) == 0 {
		return nil
	}
	return &requestError{errs: errs}
}

type requestError struct{ errs []error }

func (e *requestError) Error() string {
	msg := "llm: invalid request: "
	for i, err := range e.errs {
		if i > 0 {
			msg += "; "
		}
		msg += err.Error()
	}
	return msg
}

func (e *requestError) Is(target error) bool { return target == ErrInvalidRequest }

// FinishReason says why a model stopped writing.
type FinishReason string

// Finish reasons. Adapters map their provider's reasons onto these.
const (
	// FinishStop: the model finished its answer.
	FinishStop FinishReason = "stop"
	// FinishLength: the answer was cut by the output-token limit.
	FinishLength FinishReason = "length"
	// FinishContentFilter: the provider's content filter withheld the answer.
	FinishContentFilter FinishReason = "content_filter"
	// FinishRefusal: the model declined to answer.
	FinishRefusal FinishReason = "refusal"
)

// A Response is a model's answer to one [Request].
type Response struct {
	// Content is the answer's text: JSON when the request asked for it.
	Content string `json:"content"`
	// Model names the model that answered, as the provider reports it
	// (for example a dated snapshot of the requested model).
	Model string `json:"model,omitempty"`
	// FinishReason says why the model stopped; empty means [FinishStop].
	FinishReason FinishReason `json:"finishReason,omitempty"`
	// Usage counts the tokens the call spent.
	Usage Usage `json:"usage"`
	// Cached reports that the response came from a cache (see [WithCache]);
	// its Usage is then zero, since no tokens were spent.
	Cached bool `json:"cached,omitempty"`
}

// Err returns nil for a completed answer and a classified error for one that
// was truncated ([ErrOutputTruncated]) or refused ([ErrRefused]).
func (r Response) Err() error {
	switch r.FinishReason {
	case FinishLength:
		return &Error{Kind: ErrOutputTruncated, Message: "the answer reached the output-token limit"}
	case FinishRefusal:
		return &Error{Kind: ErrRefused, Message: "the model declined to answer"}
	case FinishContentFilter:
		return &Error{Kind: ErrRefused, Message: "the provider's content filter withheld the answer"}
	}
	return nil
}

// Usage counts the tokens of one or more calls.
type Usage struct {
	// InputTokens counts every prompt token, cached ones included.
	InputTokens int64 `json:"inputTokens"`
	// OutputTokens counts the answer's tokens.
	OutputTokens int64 `json:"outputTokens"`
	// CachedInputTokens counts the prompt tokens the provider served from its
	// prompt cache; they are part of InputTokens.
	CachedInputTokens int64 `json:"cachedInputTokens"`
}

// Add returns the sum of u and v.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:       u.InputTokens + v.InputTokens,
		OutputTokens:      u.OutputTokens + v.OutputTokens,
		CachedInputTokens: u.CachedInputTokens + v.CachedInputTokens,
	}
}

// Total returns InputTokens + OutputTokens.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// IsZero reports whether u counts no tokens at all.
func (u Usage) IsZero() bool { return u == Usage{} }
