package llmtest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/debrief-go/debrief/llm"
)

// A Latency is a distribution of call durations.
type Latency interface {
	// Sample draws one duration, never negative, from r.
	Sample(r *rand.Rand) time.Duration
}

type fixed time.Duration

func (f fixed) Sample(*rand.Rand) time.Duration { return time.Duration(f) }

// Fixed returns a latency of exactly d.
func Fixed(d time.Duration) Latency {
	if d < 0 {
		panic("llmtest: Fixed: negative duration")
	}
	return fixed(d)
}

type uniform struct{ lo, hi time.Duration }

func (u uniform) Sample(r *rand.Rand) time.Duration {
	return u.lo + time.Duration(r.Int64N(int64(u.hi-u.lo)+1))
}

// Uniform returns a latency drawn uniformly from [lo, hi].
func Uniform(lo, hi time.Duration) Latency {
	if lo < 0 || hi < lo {
		panic(fmt.Sprintf("llmtest: Uniform: need 0 <= lo <= hi, got %s, %s", lo, hi))
	}
	return uniform{lo, hi}
}

type logNormal struct {
	median time.Duration
	sigma  float64
}

func (l logNormal) Sample(r *rand.Rand) time.Duration {
	d := float64(l.median) * math.Exp(l.sigma*r.NormFloat64())
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// LogNormal returns a latency whose logarithm is normal, the usual shape of
// a model's response times: half the calls take less than median, and sigma
// (the standard deviation of the logarithm) sets how long the tail is.
func LogNormal(median time.Duration, sigma float64) Latency {
	if median < 0 || sigma < 0 {
		panic("llmtest: LogNormal: negative median or sigma")
	}
	return logNormal{median, sigma}
}

// A LatencySimulator delays every call to the model it wraps by a duration
// drawn from its [Latency], as a slow provider would. A call whose ctx is
// done before or during the delay fails with ctx.Err() without reaching the
// wrapped model. The delays follow the seed in the order calls arrive.
type LatencySimulator struct {
	next    llm.Model
	latency Latency

	mu  sync.Mutex
	rng *rand.Rand

	// Sleep waits for d or until ctx is done, returning ctx.Err() then.
	// Tests may replace it before the first call; the default uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// SimulateLatency wraps m, drawing delays from l with a generator seeded
// from seed.
func SimulateLatency(m llm.Model, l Latency, seed uint64) *LatencySimulator {
	return &LatencySimulator{next: m, latency: l, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), Sleep: sleep}
}

// Generate waits, then forwards the call.
func (s *LatencySimulator) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	s.mu.Lock()
	d := max(s.latency.Sample(s.rng), 0)
	s.mu.Unlock()
	if err := s.Sleep(ctx, d); err != nil {
		return llm.Response{}, err
	}
	return s.next.Generate(ctx, req)
}

func sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
