package llmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

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
	// FaultRefused fails with [llm.ErrRefused].
	FaultRefused
	// FaultContextTooLong fails with [llm.ErrContextTooLong].
	FaultContextTooLong
	// FaultTruncated returns the wrapped model's answer cut in half, with
	// finish reason [llm.FinishLength].
	FaultTruncated
	// FaultMalformedJSON returns the wrapped model's answer cut so that it
	// is not valid JSON.
	FaultMalformedJSON
	// FaultSchemaViolation returns valid JSON of the wrong shape: an array
	// where every strict schema wants an object.
	FaultSchemaViolation
	numFaults
)

var faultNames = [...]string{"none", "rate_limited", "transient", "refused", "context_too_long", "truncated", "malformed_json", "schema_violation"}

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
	// RetryAfter is the wait a rate-limited failure asks for; 0 asks for none.
	RetryAfter time.Duration
}

func (f Faults) rates() [numFaults]float64 {
	return [numFaults]float64{0, f.RateLimited, f.Transient, f.Refused, f.ContextTooLong, f.Truncated, f.MalformedJSON, f.SchemaViolation}
}

// A FaultInjector wraps a model and makes a fraction of its calls fail, at
// the rates of its [Faults], deterministically: the fault a call gets
// depends only on the seed, the request (its [llm.CacheKey]) and how many
// times the same request came before. Concurrent callers therefore see the
// same faults whatever order they arrive in, and a retried request draws
// afresh. Faults that fail the call do not reach the wrapped model; the
// others alter its answer.
type FaultInjector struct {
	next  llm.Model
	seed  uint64
	rates [numFaults]float64
	retry time.Duration

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
	return &FaultInjector{next: m, seed: seed, rates: rates, retry: faults.RetryAfter, seen: map[string]uint64{}}
}

// Generate draws this call's fault and applies it.
func (fi *FaultInjector) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return llm.Response{}, err
	}
	fault := fi.draw(req)
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
		return llm.Response{}, injected(llm.ErrRefused, 400)
	case FaultContextTooLong:
		return llm.Response{}, injected(llm.ErrContextTooLong, 400)
	}
	resp, err := fi.next.Generate(ctx, req)
	if err != nil {
		return resp, err
	}
	switch fault {
	case FaultTruncated:
		resp.Content = resp.Content[:len(resp.Content)/2]
		resp.FinishReason = llm.FinishLength
	case FaultMalformedJSON:
		resp.Content = malformed(resp.Content)
	case FaultSchemaViolation:
		resp.Content = `["injected schema violation"]`
	}
	return resp, nil
}

// malformed returns content cut so that it no longer parses.
func malformed(content string) string {
	for cut := len(content) / 2; cut > 0; cut-- {
		if s := content[:cut]; !json.Valid([]byte(s)) {
			return s
		}
	}
	return `{"injected": `
}

func (fi *FaultInjector) draw(req llm.Request) Fault {
	key := llm.CacheKey(req)
	h, _ := strconv.ParseUint(key[:16], 16, 64)
	fi.mu.Lock()
	n := fi.seen[key]
	fi.seen[key] = n + 1
	fi.mu.Unlock()
	u := rand.New(rand.NewPCG(fi.seed^h, n)).Float64()
	fault := NoFault
	acc := 0.0
	for f := FaultRateLimited; f < numFaults; f++ {
		acc += fi.rates[f]
		if u < acc {
			fault = f
			break
		}
	}
	fi.mu.Lock()
	fi.counts[fault]++
	fi.mu.Unlock()
	return fault
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
