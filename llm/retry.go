package llm

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// A Middleware wraps a [Model] in another that adds a behaviour: retries,
// limits, caching, accounting.
type Middleware func(Model) Model

// Chain wraps m in the middlewares, the first listed outermost: a call to
// the result goes through mws[0], then mws[1], ..., then m. A sensible order
// for production is
//
//	llm.Chain(provider,
//		meter.Middleware(),         // count what is really spent (cache hits cost nothing)
//		llm.WithCache(cache),       // answer repeats without a call
//		llm.WithRetry(llm.RetryOptions{}),
//		llm.WithConcurrencyLimit(8), // a backing-off retry holds no slot
//		llm.WithRateLimit(limiter),  // every attempt pays for its token
//	)
func Chain(m Model, mws ...Middleware) Model {
	for i := len(mws) - 1; i >= 0; i-- {
		m = mws[i](m)
	}
	return m
}

// RetryOptions configure [WithRetry]. The zero value is usable: every field
// has a default.
type RetryOptions struct {
	// MaxAttempts bounds the calls per request, the first included.
	// Default 4.
	MaxAttempts int
	// BaseDelay is the backoff before the first retry; it doubles at every
	// further retry. Default 500ms.
	BaseDelay time.Duration
	// MaxDelay caps the backoff (not a provider's retry-after). Default 30s.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest retry-after the wrapper will wait out;
	// a provider asking for longer ends the retries at once. Default 2m.
	MaxRetryAfter time.Duration
	// Sleep waits for d or until ctx is done, returning ctx.Err() in the
	// latter case. Default: a timer. Tests inject a function that records
	// the delay and returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now tells the time, to skip a wait that would outlast ctx's deadline.
	// Default time.Now.
	Now func() time.Time
	// Rand supplies the jitter. The wrapper uses it under its own lock, so
	// it must not be used elsewhere. Default: a generator seeded from the
	// runtime's random source.
	Rand *rand.Rand
	// Logger receives a debug record per retry. Default: none.
	Logger *slog.Logger
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 4
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = 500 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 30 * time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 2 * time.Minute
	}
	if o.Sleep == nil {
		o.Sleep = sleepContext
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WithRetry retries calls that fail with a [Retryable] error, waiting
// between attempts with exponential backoff and jitter: before retry n the
// wait is drawn uniformly from [d/2, d) where d = BaseDelay·2^(n-1), capped
// at MaxDelay. When the failure carries a retry-after (see [RetryAfter]),
// the wait is that long plus up to a tenth more (at most a second), so that
// throttled clients do not all come back at the same instant.
//
// It stops, returning the last error, when the error is not retryable, when
// MaxAttempts calls have been made, when the retry-after exceeds
// MaxRetryAfter, or when the wait would outlast ctx's deadline; and it
// stops with ctx's error, joined with the last failure if there was one, as
// soon as ctx is done. The error after several attempts says how many were
// made and still matches the last failure's class.
func WithRetry(opts RetryOptions) Middleware {
	o := opts.withDefaults()
	r := &retrier{opts: o}
	return func(next Model) Model {
		return ModelFunc(func(ctx context.Context, req Request) (Response, error) {
			return r.generate(ctx, next, req)
		})
	}
}

type retrier struct {
	opts RetryOptions
	mu   sync.Mutex // guards opts.Rand
}

func (r *retrier) generate(ctx context.Context, next Model, req Request) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, err
	}
	for attempt := 1; ; attempt++ {
		resp, err := next.Generate(ctx, req)
		if err == nil || !Retryable(err) {
			return resp, wrapAttempts(err, attempt)
		}
		if cerr := ctx.Err(); cerr != nil {
			return resp, fmt.Errorf("llm: retry interrupted after %d attempt(s): %w", attempt, joinErrs(cerr, err))
		}
		if attempt >= r.opts.MaxAttempts {
			return resp, wrapAttempts(err, attempt)
		}
		delay := r.backoff(attempt)
		if ra, ok := RetryAfter(err); ok {
			if ra > r.opts.MaxRetryAfter {
				return resp, fmt.Errorf("llm: not retrying: retry-after %s exceeds %s: %w", ra, r.opts.MaxRetryAfter, wrapAttempts(err, attempt))
			}
			delay = ra + r.jitter(min(ra/10, time.Second))
		}
		if deadline, ok := ctx.Deadline(); ok && r.opts.Now().Add(delay).After(deadline) {
			return resp, fmt.Errorf("llm: not retrying: the wait of %s would outlast the deadline: %w", delay, wrapAttempts(err, attempt))
		}
		traceRetry(ctx, RetryEvent{Model: req.Model, Attempt: attempt, Delay: delay, Err: err})
		r.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "llm: retrying",
			slog.String("model", req.Model), slog.Int("attempt", attempt), slog.Duration("delay", delay), slog.String("error", SafeText(err)))
		if serr := r.opts.Sleep(ctx, delay); serr != nil {
			return Response{}, fmt.Errorf("llm: retry interrupted after %d attempt(s): %w", attempt, joinErrs(serr, err))
		}
	}
}

// backoff returns the jittered wait before retry n (n ≥ 1): uniform in
// [d/2, d) for d = BaseDelay·2^(n-1) capped at MaxDelay.
func (r *retrier) backoff(n int) time.Duration {
	d := r.opts.BaseDelay
	for i := 1; i < n && d < r.opts.MaxDelay; i++ {
		if d > r.opts.MaxDelay/2 {
			d = r.opts.MaxDelay // doubling would pass the cap, or overflow
		} else {
			d *= 2
		}
	}
	d = min(d, r.opts.MaxDelay)
	return d - d/2 + r.jitter(d/2)
}

// jitter returns a random duration in [0, limit), or 0 when limit ≤ 0.
func (r *retrier) jitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Duration(r.opts.Rand.Int64N(int64(limit)))
}

func wrapAttempts(err error, attempts int) error {
	if err == nil || attempts <= 1 {
		return err
	}
	return fmt.Errorf("llm: failed after %d attempts: %w", attempts, err)
}

// joinErrs wraps both errors so that errors.Is finds either.
func joinErrs(a, b error) error { return fmt.Errorf("%w: %w", a, b) }

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
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
