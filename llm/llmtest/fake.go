// Package llmtest provides fake [llm.Model] implementations for tests, of
// debrief and of the hosts that embed it: a [Scripted] model answering from a
// queue, a [Recorder] around any model or handler function, a
// [FaultInjector] that injects every class of model failure at chosen rates,
// and a [LatencySimulator]. All of them are safe for concurrent use and
// deterministic for a given seed.
package llmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/debrief-go/debrief/llm"
)

// ErrScriptExhausted is returned by a [Scripted] model called more often
// than it has steps. Like every failure of a fake's own making, it is an
// [llm.SafeError], so an item's reason or a log says what went wrong.
var ErrScriptExhausted error = fakeError("llmtest: script exhausted: the model was called more often than scripted")

// fakeError is a failure of a fake's own making: its text is safe to show.
type fakeError string

// Error returns the failure's text.
func (e fakeError) Error() string { return string(e) }

// SafeText returns the same text: a fake's own, safe to show.
func (e fakeError) SafeText() string { return string(e) }

// A Step is one scripted outcome: a response, or an error.
type Step struct {
	// Response is returned; when Err is nil, an empty FinishReason becomes
	// [llm.FinishStop] and an empty Model the request's model key.
	Response llm.Response
	// Err, when set, is returned along with Response as it is (typically
	// empty, or carrying the usage a failed call still spent).
	Err error
}

// Reply returns a step answering content, with finish reason stop.
func Reply(content string) Step {
	return Step{Response: llm.Response{Content: content, FinishReason: llm.FinishStop}}
}

// ReplyJSON returns a step answering v encoded as JSON. It panics if v does
// not encode.
func ReplyJSON(v any) Step {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("llmtest: ReplyJSON: %v", err))
	}
	return Reply(string(b))
}

// Fail returns a step failing with err.
func Fail(err error) Step { return Step{Err: err} }

// WithUsage returns a copy of s whose response reports u.
func (s Step) WithUsage(u llm.Usage) Step {
	s.Response.Usage = u
	return s
}

// WithFinish returns a copy of s whose response has finish reason r.
func (s Step) WithFinish(r llm.FinishReason) Step {
	s.Response.FinishReason = r
	return s
}

// A Call is one recorded call: the request and what was returned.
type Call struct {
	// Request is a copy of the request the model received.
	Request llm.Request
	// Response is what the model returned, even with an error.
	Response llm.Response
	// Err is the model's error, or nil.
	Err error
}

// A Recorder is a model that forwards every call to another and records it.
// It is safe for concurrent use.
type Recorder struct {
	next llm.Model

	mu    sync.Mutex
	calls []Call
}

// Record returns a recorder around m.
func Record(m llm.Model) *Recorder { return &Recorder{next: m} }

// Handler returns a recorder around fn: a fake whose answers a test computes
// from each request.
func Handler(fn func(ctx context.Context, req llm.Request) (llm.Response, error)) *Recorder {
	return Record(llm.ModelFunc(fn))
}

// Generate forwards the call and records it, request and outcome.
func (r *Recorder) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	resp, err := r.next.Generate(ctx, req)
	r.mu.Lock()
	r.calls = append(r.calls, Call{Request: cloneRequest(req), Response: resp, Err: err})
	r.mu.Unlock()
	return resp, err
}

// Calls returns a copy of the calls recorded so far, in the order they
// returned.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Requests returns the requests recorded so far, in the order their calls
// returned.
func (r *Recorder) Requests() []llm.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]llm.Request, len(r.calls))
	for i, c := range r.calls {
		out[i] = c.Request
	}
	return out
}

// Len returns the number of calls recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// Reset forgets the calls recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// A Scripted model answers each call with the next step of its script and
// records every request (through its embedded [Recorder], whose Reset
// forgets the recorded calls but not the steps left). Calls beyond the
// script fail with [ErrScriptExhausted]. A call whose ctx is already done
// fails with ctx.Err() and consumes no step. It is safe for concurrent use;
// under concurrency, which call gets which step depends on arrival order.
type Scripted struct {
	*Recorder

	mu    sync.Mutex
	steps []Step
}

// NewScripted returns a model that answers with steps, in order.
func NewScripted(steps ...Step) *Scripted {
	s := &Scripted{steps: slices.Clone(steps)}
	s.Recorder = Record(llm.ModelFunc(s.next))
	return s
}

// Push appends steps to the script.
func (s *Scripted) Push(steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, steps...)
}

// Remaining returns the number of steps not yet used.
func (s *Scripted) Remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.steps)
}

func (s *Scripted) next(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return llm.Response{}, err
	}
	s.mu.Lock()
	if len(s.steps) == 0 {
		s.mu.Unlock()
		return llm.Response{}, ErrScriptExhausted
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	s.mu.Unlock()
	return step.answer(req)
}

// answer returns the step's outcome for req: its error, or its response
// with an empty finish reason made [llm.FinishStop] and an empty model the
// request's model key.
func (s Step) answer(req llm.Request) (llm.Response, error) {
	if s.Err != nil {
		return s.Response, s.Err
	}
	resp := s.Response
	if resp.FinishReason == "" {
		resp.FinishReason = llm.FinishStop
	}
	if resp.Model == "" {
		resp.Model = req.Model
	}
	return resp, nil
}

func cloneRequest(req llm.Request) llm.Request {
	req.Messages = slices.Clone(req.Messages)
	req.Schema = slices.Clone(req.Schema)
	return req
}
