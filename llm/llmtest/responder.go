package llmtest

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/debrief-go/debrief/llm"
)

// ErrNoAnswer is matched (with [errors.Is]) by the error of a [Responder]
// asked for a schema it has no answer for. That error names the schema and
// is an [llm.SafeError], so an item's reason says which answer is missing.
var ErrNoAnswer error = fakeError("llmtest: no answer for this schema")

// noAnswer is the error of a call for the schema it names.
type noAnswer string

// Error names the schema without an answer.
func (e noAnswer) Error() string { return "llmtest: no answer for schema " + strconv.Quote(string(e)) }

// SafeText is Error: a fake's own text, safe to show.
func (e noAnswer) SafeText() string { return e.Error() }

// Is makes the error match [ErrNoAnswer].
func (e noAnswer) Is(target error) bool { return target == ErrNoAnswer }

// An Answerer computes a [Responder]'s answer to one request. rng is seeded
// from the request alone (its [llm.CacheKey]), so the same request always
// gets the same answer, whatever order concurrent calls arrive in; a test
// that wants answers to differ per conversation draws from rng or reads the
// request's messages.
type Answerer func(req llm.Request, rng *rand.Rand) Step

// A Responder is a fake model that answers each call by the name of the
// schema it asks for ([llm.Request.SchemaName]): extraction, judging and
// each stage of a timeline analysis each get their own answer, however many
// calls run at once and in whatever order. It records every call through
// its embedded [Recorder]. A call for a schema without an answer fails with
// an error wrapping [ErrNoAnswer] that names the schema, so a missing answer
// is a loud failure and not a quiet one. A call whose ctx is done fails with
// ctx.Err(). It is safe for concurrent use, also while answers are set.
type Responder struct {
	*Recorder

	mu      sync.RWMutex
	answers map[string]Answerer
}

// NewResponder returns a responder with no answers; add them with [Responder.On]
// and [Responder.OnJSON].
func NewResponder() *Responder {
	r := &Responder{answers: map[string]Answerer{}}
	r.Recorder = Record(llm.ModelFunc(r.answer))
	return r
}

// On makes fn answer the requests for the schema named schemaName,
// replacing any answer set before, and returns r. The name "" stands for
// requests without a schema name.
func (r *Responder) On(schemaName string, fn Answerer) *Responder {
	if fn == nil {
		panic("llmtest: Responder.On: nil Answerer for schema " + strconv.Quote(schemaName))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[schemaName] = fn
	return r
}

// OnJSON makes every request for the schema named schemaName answered
// with v encoded as JSON, and returns r. It panics if v does not encode.
func (r *Responder) OnJSON(schemaName string, v any) *Responder {
	step := ReplyJSON(v)
	return r.On(schemaName, func(llm.Request, *rand.Rand) Step { return step })
}

func (r *Responder) answer(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return llm.Response{}, err
	}
	r.mu.RLock()
	fn := r.answers[req.SchemaName]
	r.mu.RUnlock()
	if fn == nil {
		return llm.Response{}, noAnswer(req.SchemaName)
	}
	_, h := requestHash(req)
	return fn(req, rand.New(rand.NewPCG(h, 0))).answer(req)
}

// requestHash returns the first 64 bits of the request's cache key.
func requestHash(req llm.Request) (key string, h uint64) {
	key = llm.CacheKey(req)
	h, _ = strconv.ParseUint(key[:16], 16, 64)
	return key, h
}
