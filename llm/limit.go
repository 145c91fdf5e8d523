package llm

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"
)

// WithRateLimit makes every call wait for a token from l before it reaches
// the wrapped model, so calls start at most at l's rate. A call whose ctx
// ends first, or whose deadline would pass before its token comes, fails at
// once with an error wrapping the limiter's (ctx.Err() when ctx is done).
// The limiter may be shared by several models to enforce one budget.
func WithRateLimit(l *rate.Limiter) Middleware {
	if l == nil {
		panic("llm: WithRateLimit: nil limiter")
	}
	return func(next Model) Model {
		return ModelFunc(func(ctx context.Context, req Request) (Response, error) {
			if !l.Allow() {
				start := time.Now()
				err := l.Wait(ctx)
				traceWait(ctx, req.Model, WaitRateLimit, start)
				if err != nil {
					if ctx.Err() != nil {
						return Response{}, ctx.Err()
					}
					return Response{}, fmt.Errorf("llm: rate limit: %w", err)
				}
			}
			return next.Generate(ctx, req)
		})
	}
}

// WithConcurrencyLimit lets at most n calls run at once through the wrapped
// model; further calls wait their turn, in order, or fail with ctx.Err() if
// ctx ends first. It panics if n < 1.
func WithConcurrencyLimit(n int) Middleware {
	if n < 1 {
		panic("llm: WithConcurrencyLimit: n must be at least 1")
	}
	sem := semaphore.NewWeighted(int64(n))
	return func(next Model) Model {
		return ModelFunc(func(ctx context.Context, req Request) (Response, error) {
			if !sem.TryAcquire(1) {
				start := time.Now()
				err := sem.Acquire(ctx, 1)
				traceWait(ctx, req.Model, WaitConcurrency, start)
				if err != nil {
					return Response{}, err
				}
			}
			defer sem.Release(1)
			return next.Generate(ctx, req)
		})
	}
}
