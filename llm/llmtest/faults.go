package llmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/debrief-go/debrief/llm"
)

// A Fault is a kind of failure a [FaultInjector] injects.
type Fault int

// The faults, one per class of model failure, plus the two ways an answer
// can be bad.
const (
	// NoFault: the call goes through untouched.
	NoFault Fault = iota
	// FaultRateLimited fails with [llm.ErrRateLimited] and a retry-after.
	FaultRateLimited
	// FaultTransient fails with [llm.ErrTransient] (status 503).
	FaultTransient
	// FaultRefused refuses: half the time as an error matching
	// [llm.ErrRefused], half the time as a response with finish reason
	// [llm.FinishRefusal] — the two shapes the [llm.Model] contract allows.
	FaultRefused
	// FaultContextTooLong fails with [llm.ErrContextTooLong].
	FaultContextTooLong
	// FaultTruncated cuts the wrapped model's answer in half (on a character
	// boundary): half the time returned with finish reason
	// [llm.FinishLength], half the time as an error matching
	// [llm.ErrOutputTruncated].
	FaultTruncated
	// FaultMalformedJSON returns the wrapped model's answer cut inside its
	// first JSON value, so that no valid JSON value is left in it.
	FaultMalformedJSON
	// FaultSchemaViolation returns valid JSON of the wrong shape: an array
	// where every strict schema wants an object.
	FaultSchemaViolation
	// FaultTimeout fails the way an HTTP client's timeout does: after
	// [Faults.TimeoutAfter] (or when ctx ends, whichever comes first), with
	// an [llm.ErrTransient] error whose cause is a net.Error that times out.
	FaultTimeout
	// FaultPermanent fails with an unclassified provider error — an
	// [*llm.Error] with no Kind and status 401, as an adapter reports a
	// revoked key — that no retry helps.
	FaultPermanent
	// FaultWrongType gives the first required member of the wrapped
	// model's answer a value of a type its schema does not allow.
	FaultWrongType
	// FaultMissingRequired leaves the first required member out of the
	// wrapped model's answer.
	FaultMissingRequired
	// FaultNull sets the first required, non-nullable member of the wrapped
	// model's answer to null (or answers null when there is none).
	FaultNull
	// FaultExtraMember adds a member the schema does not declare to the
	// wrapped model's answer.
	FaultExtraMember
	numFaults
)

var faultNames = [...]string{"none", "rate_limited", "transient", "refused", "context_too_long", "truncated",
	"malformed_json", "schema_violation", "timeout", "permanent", "wrong_type", "missing_required", "null", "extra_member"}

// String returns the fault's name, such as "rate_limited".
func (f Fault) String() string {
	if f >= 0 && f < numFaults {
		return faultNames[f]
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// Faults gives the probability of each fault per call. Each rate must lie
// in [0, 1] and their sum must not exceed 1; the rest of the calls go
// through untouched.
type Faults struct {
	// RateLimited is the rate of [FaultRateLimited].
	RateLimited float64
	// Transient is the rate of [FaultTransient].
	Transient float64
	// Refused is the rate of [FaultRefused].
	Refused float64
	// ContextTooLong is the rate of [FaultContextTooLong].
	ContextTooLong float64
	// Truncated is the rate of [FaultTruncated].
	Truncated float64
	// MalformedJSON is the rate of [FaultMalformedJSON].
	MalformedJSON float64
	// SchemaViolation is the rate of [FaultSchemaViolation].
	SchemaViolation float64
	// Timeout is the rate of [FaultTimeout].
	Timeout float64
	// Permanent is the rate of [FaultPermanent].
	Permanent float64
	// WrongType is the rate of [FaultWrongType].
	WrongType float64
	// MissingRequired is the rate of [FaultMissingRequired].
	MissingRequired float64
	// Null is the rate of [FaultNull].
	Null float64
	// ExtraMember is the rate of [FaultExtraMember].
	ExtraMember float64
	// RetryAfter is the wait a rate-limited failure asks for; 0 asks for none.
	RetryAfter time.Duration
	// TimeoutAfter is how long a timed-out call hangs before it fails; 0
	// fails at once.
	TimeoutAfter time.Duration
}

func (f Faults) rates() [numFaults]float64 {
	return [numFaults]float64{0, f.RateLimited, f.Transient, f.Refused, f.ContextTooLong, f.Truncated,
		f.MalformedJSON, f.SchemaViolation, f.Timeout, f.Permanent, f.WrongType, f.MissingRequired, f.Null, f.ExtraMember}
}

// A FaultInjector wraps a model and makes a fraction of its calls fail, at
// the rates of its [Faults], deterministically: the fault a call gets
// depends only on the seed, the request (its [llm.CacheKey]) and how many
// times the same request came before. Concurrent callers therefore see the
// same faults whatever order they arrive in, and a retried request draws
// afresh. Faults that fail the call do not reach the wrapped model; the
// others alter its answer. It remembers every distinct request it has seen,
// so it is meant for tests, not for long-lived processes.
type FaultInjector struct {
	next  llm.Model
	seed  uint64
	rates [numFaults]float64
	retry time.Duration
	hang  time.Duration

	mu     sync.Mutex
	seen   map[string]uint64
	counts [numFaults]int
}

// InjectFaults wraps m. It panics if a rate is outside [0, 1] or the rates
// sum to more than 1.
func InjectFaults(m llm.Model, seed uint64, faults Faults) *FaultInjector {
	rates := faults.rates()
	sum := 0.0
	for f, r := range rates {
		if r < 0 || r > 1 {
			panic(fmt.Sprintf("llmtest: InjectFaults: rate of %s is %v, outside [0, 1]", Fault(f), r))
		}
		sum += r
	}
	if sum > 1+1e-9 {
		panic(fmt.Sprintf("llmtest: InjectFaults: rates sum to %v, more than 1", sum))
	}
	if faults.TimeoutAfter < 0 || faults.RetryAfter < 0 {
		panic("llmtest: InjectFaults: negative RetryAfter or TimeoutAfter")
	}
	return &FaultInjector{next: m, seed: seed, rates: rates, retry: faults.RetryAfter, hang: faults.TimeoutAfter, seen: map[string]uint64{}}
}

// Generate draws this call's fault and applies it.
func (fi *FaultInjector) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return llm.Response{}, err
	}
	fault, u := fi.draw(req)
	other := u >= 0.5 // picks between the two shapes of a refusal or a truncation
	injected := func(kind error, status int) error {
		return &llm.Error{Kind: kind, StatusCode: status, Message: "injected fault: " + fault.String()}
	}
	switch fault {
	case FaultRateLimited:
		e := injected(llm.ErrRateLimited, 429).(*llm.Error)
		e.RetryAfter = fi.retry
		return llm.Response{}, e
	case FaultTransient:
		return llm.Response{}, injected(llm.ErrTransient, 503)
	case FaultRefused:
		if other {
			return llm.Response{FinishReason: llm.FinishRefusal, Model: req.Model}, nil
		}
		return llm.Response{}, injected(llm.ErrRefused, 400)
	case FaultContextTooLong:
		return llm.Response{}, injected(llm.ErrContextTooLong, 400)
	case FaultTimeout:
		if err := sleep(ctx, fi.hang); err != nil {
			return llm.Response{}, err
		}
		e := injected(llm.ErrTransient, 0).(*llm.Error)
		e.Err = timeoutError{}
		return llm.Response{}, e
	case FaultPermanent:
		return llm.Response{}, injected(nil, 401)
	}
	resp, err := fi.next.Generate(ctx, req)
	if err != nil {
		return resp, err
	}
	switch fault {
	case FaultTruncated:
		resp.Content = cutRunes(resp.Content, len(resp.Content)/2)
		if other {
			return resp, injected(llm.ErrOutputTruncated, 0)
		}
		resp.FinishReason = llm.FinishLength
	case FaultMalformedJSON:
		resp.Content = malformed(resp.Content)
	case FaultSchemaViolation:
		resp.Content = `["injected schema violation"]`
	case FaultWrongType, FaultMissingRequired, FaultNull, FaultExtraMember:
		resp.Content = violate(fault, resp.Content, req.Schema)
	}
	return resp, nil
}

// timeoutError is the cause of an injected timeout: a net.Error that
// times out, as an HTTP client's is.
type timeoutError struct{}

// Error says a timeout was injected.
func (timeoutError) Error() string { return "injected fault: i/o timeout" }

// Timeout reports true, as a net.Error that timed out does.
func (timeoutError) Timeout() bool { return true }

// Temporary reports true, as net.Error's timeouts do.
func (timeoutError) Temporary() bool { return true }

// malformed returns content cut in the middle of its first JSON object or
// array, or a fixed broken object when it holds none.
func malformed(content string) string {
	start := strings.IndexAny(content, "{[")
	if start < 0 {
		return `{"injected": `
	}
	end := valueEnd(content, start)
	cut := cutRunes(content, start+(end-start)/2)
	if len(cut) <= start || json.Valid([]byte(strings.TrimSpace(cut[start:]))) {
		return content[:start] + `{"injected": `
	}
	return cut
}

// valueEnd returns the index just past the bracket closing the one at
// s[start], skipping brackets inside JSON strings, or len(s).
func valueEnd(s string, start int) int {
	depth, inString, escaped := 0, false, false
	for i := start; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// cutRunes returns s cut to at most n bytes, on a character boundary.
func cutRunes(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// draw returns the fault of this call and a second uniform number, drawn
// from the same stream, for choices within the fault.
func (fi *FaultInjector) draw(req llm.Request) (Fault, float64) {
	key, h := requestHash(req)
	fi.mu.Lock()
	n := fi.seen[key]
	fi.seen[key] = n + 1
	fi.mu.Unlock()
	rng := rand.New(rand.NewPCG(fi.seed^h, n))
	u := rng.Float64()
	fault := NoFault
	acc, last := 0.0, NoFault
	for f := FaultRateLimited; f < numFaults; f++ {
		if fi.rates[f] > 0 {
			last = f
		}
		acc += fi.rates[f]
		if u < acc {
			fault = f
			break
		}
	}
	if fault == NoFault && acc >= 1-1e-9 {
		fault = last // rates that sum to 1 up to rounding leave no call untouched
	}
	fi.mu.Lock()
	fi.counts[fault]++
	fi.mu.Unlock()
	return fault, rng.Float64()
}

// Counts returns how many calls got each fault, [NoFault] included.
func (fi *FaultInjector) Counts() map[Fault]int {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	out := make(map[Fault]int, numFaults)
	for f, n := range fi.counts {
		out[Fault(f)] = n
	}
	return out
}

// Calls returns how many calls the injector has seen.
func (fi *FaultInjector) Calls() int {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	total := 0
	for _, n := range fi.counts {
		total += n
	}
	return total
}
