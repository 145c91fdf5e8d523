package llm

import (
	"context"
	"time"
)

// A CallTrace is told what this package's middlewares do during a call: the
// retries of [WithRetry] and the waits of [WithRateLimit] and
// [WithConcurrencyLimit]. It travels in the call's context (see
// [WithCallTrace]), as an [net/http/httptrace.ClientTrace] does, so that a
// middleware placed outside them — a tracing one, say — learns what
// happened inside the call it wraps. Any field may be nil. The functions
// may be called from the goroutine of the call only, one at a time, and
// must return promptly.
type CallTrace struct {
	// Retry is called by WithRetry when an attempt failed and another will
	// be made, before it waits Delay.
	Retry func(RetryEvent)
	// Wait is called by WithRateLimit and WithConcurrencyLimit when a call
	// had to wait for its turn, after the wait, whether or not it then
	// went on.
	Wait func(WaitEvent)
}

// A RetryEvent is an attempt of a call that failed and will be made again.
type RetryEvent struct {
	// Model is the request's model key.
	Model string
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int
	// Delay is how long WithRetry waits before the next attempt.
	Delay time.Duration
	// Err is the attempt's error. Its text may hold what the provider said:
	// log it through [SafeText].
	Err error
}

// A WaitEvent is a call's wait for its turn.
type WaitEvent struct {
	// Model is the request's model key.
	Model string
	// Reason is what the call waited for.
	Reason WaitReason
	// Duration is how long it waited.
	Duration time.Duration
}

// WaitReason says what a call waited for.
type WaitReason string

// The reasons of a [WaitEvent].
const (
	// WaitRateLimit: a token of [WithRateLimit]'s limiter.
	WaitRateLimit WaitReason = "rate_limit"
	// WaitConcurrency: a free slot of [WithConcurrencyLimit].
	WaitConcurrency WaitReason = "concurrency"
)

type callTraceKey struct{}

// WithCallTrace returns a context, derived from ctx, that carries trace for
// the calls made with it. A trace already in ctx is kept: both are told
// every event, the outer one first.
func WithCallTrace(ctx context.Context, trace *CallTrace) context.Context {
	if trace == nil {
		return ctx
	}
	if outer := ContextCallTrace(ctx); outer != nil {
		inner := trace
		trace = &CallTrace{
			Retry: func(e RetryEvent) {
				if outer.Retry != nil {
					outer.Retry(e)
				}
				if inner.Retry != nil {
					inner.Retry(e)
				}
			},
			Wait: func(e WaitEvent) {
				if outer.Wait != nil {
					outer.Wait(e)
				}
				if inner.Wait != nil {
					inner.Wait(e)
				}
			},
		}
	}
	return context.WithValue(ctx, callTraceKey{}, trace)
}

// ContextCallTrace returns the [CallTrace] ctx carries, or nil.
func ContextCallTrace(ctx context.Context) *CallTrace {
	t, _ := ctx.Value(callTraceKey{}).(*CallTrace)
	return t
}

func traceRetry(ctx context.Context, e RetryEvent) {
	if t := ContextCallTrace(ctx); t != nil && t.Retry != nil {
		t.Retry(e)
	}
}

// traceWait reports the wait of a call that began waiting at start, when
// ctx carries a trace and the wait was not nil.
func traceWait(ctx context.Context, model string, reason WaitReason, start time.Time) {
	if t := ContextCallTrace(ctx); t != nil && t.Wait != nil {
		if d := time.Since(start); d > 0 {
			t.Wait(WaitEvent{Model: model, Reason: reason, Duration: d})
		}
	}
}
