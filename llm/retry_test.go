package llm_test

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// sleeper records the waits asked of it and returns at once, or runs a hook.
type sleeper struct {
	mu     sync.Mutex
	delays []time.Duration
	hook   func(ctx context.Context) error
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	if s.hook != nil {
		return s.hook(ctx)
	}
	return ctx.Err()
}

func retryOpts(s *sleeper) llm.RetryOptions {
	return llm.RetryOptions{Sleep: s.sleep, Rand: rand.New(rand.NewPCG(1, 2)), BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
}

var transient = &llm.Error{Kind: llm.ErrTransient, StatusCode: 503}

func TestRetryHonoursRetryAfter(t *testing.T) {
	s := &sleeper{}
	m := llmtest.NewScripted(
		llmtest.Fail(&llm.Error{Kind: llm.ErrRateLimited, StatusCode: 429, RetryAfter: 7 * time.Second}),
		llmtest.Reply(`{}`),
	)
	resp, err := llm.Chain(m, llm.WithRetry(retryOpts(s))).Generate(context.Background(), baseRequest())
	require.NoError(t, err)
	assert.Equal(t, "{}", resp.Content)
	require.Len(t, s.delays, 1)
	assert.GreaterOrEqual(t, s.delays[0], 7*time.Second, "the wait is at least the retry-after, longer than the backoff")
	assert.Less(t, s.delays[0], 7*time.Second+700*time.Millisecond, "plus at most a tenth of it as jitter")
	assert.Equal(t, 2, m.Len())
}

func TestRetryBackoffGrowsWithJitterAndCap(t *testing.T) {
	s := &sleeper{}
	m := llmtest.NewScripted()
	for range 7 {
		m.Push(llmtest.Fail(transient))
	}
	m.Push(llmtest.Reply(`{}`))
	opts := retryOpts(s)
	opts.MaxAttempts = 8
	_, err := llm.Chain(m, llm.WithRetry(opts)).Generate(context.Background(), baseRequest())
	require.NoError(t, err)
	require.Len(t, s.delays, 7)
	caps := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, d := range s.delays {
		c := caps[i] * time.Millisecond
		assert.GreaterOrEqual(t, d, c/2, "retry %d", i+1)
		assert.LessOrEqual(t, d, c, "retry %d", i+1)
	}
	assert.NotEqual(t, s.delays[4], s.delays[5], "jitter varies the capped waits")
}

func TestRetryStopsOnNonRetryableErrors(t *testing.T) {
	for _, err := range []error{
		&llm.Error{Kind: llm.ErrRefused},
		&llm.Error{Kind: llm.ErrContextTooLong},
		&llm.Error{StatusCode: 401},
		errors.New("unclassified"),
	} {
		s := &sleeper{}
		m := llmtest.NewScripted(llmtest.Fail(err), llmtest.Reply(`{}`))
		_, got := llm.Chain(m, llm.WithRetry(retryOpts(s))).Generate(context.Background(), baseRequest())
		assert.Same(t, err, got, "the error is returned unchanged after one attempt")
		assert.Equal(t, 1, m.Len(), "%v is not retried", err)
		assert.Empty(t, s.delays)
	}
	// A truncated answer is a response, not an error: it is returned as is.
	m := llmtest.NewScripted(llmtest.Reply(`{"a":`).WithFinish(llm.FinishLength), llmtest.Reply(`{}`))
	resp, err := llm.Chain(m, llm.WithRetry(retryOpts(&sleeper{}))).Generate(context.Background(), baseRequest())
	require.NoError(t, err)
	assert.Equal(t, llm.FinishLength, resp.FinishReason)
	assert.Equal(t, 1, m.Len())
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	s := &sleeper{}
	m := llmtest.NewScripted(llmtest.Fail(transient), llmtest.Fail(transient), llmtest.Fail(transient), llmtest.Reply(`{}`))
	opts := retryOpts(s)
	opts.MaxAttempts = 3
	_, err := llm.Chain(m, llm.WithRetry(opts)).Generate(context.Background(), baseRequest())
	assert.ErrorIs(t, err, llm.ErrTransient, "the class survives")
	assert.ErrorContains(t, err, "failed after 3 attempts")
	assert.Equal(t, 3, m.Len())
	assert.Len(t, s.delays, 2)
}

func TestRetryStopsOnCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sleeper{hook: func(ctx context.Context) error {
		cancel()
		return ctx.Err()
	}}
	m := llmtest.NewScripted(llmtest.Fail(transient), llmtest.Reply(`{}`))
	_, err := llm.Chain(m, llm.WithRetry(retryOpts(s))).Generate(ctx, baseRequest())
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, llm.ErrTransient, "the failure that led to the wait is kept")
	assert.False(t, llm.Retryable(err), "a cancelled call is not worth retrying")
	assert.Equal(t, 1, m.Len(), "no call after cancellation")

	// Cancelled before the first attempt: no call at all.
	m = llmtest.NewScripted(llmtest.Reply(`{}`))
	_, err = llm.Chain(m, llm.WithRetry(retryOpts(&sleeper{}))).Generate(ctx, baseRequest())
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, m.Len())

	// Cancelled during a call that then fails: not retried.
	ctx2, cancel2 := context.WithCancel(context.Background())
	calls := 0
	failing := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		calls++
		cancel2()
		return llm.Response{}, transient
	})
	_, err = llm.Chain(failing, llm.WithRetry(retryOpts(&sleeper{}))).Generate(ctx2, baseRequest())
	assert.ErrorIs(t, err, llm.ErrTransient)
	assert.ErrorIs(t, err, context.Canceled, "the cancellation is joined to the failure")
	assert.Equal(t, 1, calls)
}

func TestRetryBackoffNeverOverflows(t *testing.T) {
	s := &sleeper{}
	fails := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) { return llm.Response{}, transient })
	opts := retryOpts(s)
	opts.MaxAttempts, opts.MaxDelay = 70, time.Duration(math.MaxInt64)
	assert.NotPanics(t, func() {
		_, err := llm.Chain(fails, llm.WithRetry(opts)).Generate(context.Background(), baseRequest())
		assert.ErrorContains(t, err, "failed after 70 attempts")
	})
	require.Len(t, s.delays, 69)
	for i, d := range s.delays {
		assert.Positive(t, d, "retry %d", i+1)
	}
}

func TestRetryRefusesLongRetryAfterAndDeadlines(t *testing.T) {
	s := &sleeper{}
	m := llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrRateLimited, RetryAfter: time.Hour}), llmtest.Reply(`{}`))
	opts := retryOpts(s)
	opts.MaxRetryAfter = time.Minute
	_, err := llm.Chain(m, llm.WithRetry(opts)).Generate(context.Background(), baseRequest())
	assert.ErrorIs(t, err, llm.ErrRateLimited)
	assert.ErrorContains(t, err, "exceeds 1m0s")
	assert.Empty(t, s.delays)

	deadline := time.Now().Add(time.Hour)
	now := deadline.Add(-2 * time.Second) // the injected clock says two seconds remain
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	m = llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrRateLimited, RetryAfter: 5 * time.Second}), llmtest.Reply(`{}`))
	opts = retryOpts(s)
	opts.Now = func() time.Time { return now }
	_, err = llm.Chain(m, llm.WithRetry(opts)).Generate(ctx, baseRequest())
	assert.ErrorIs(t, err, llm.ErrRateLimited)
	assert.ErrorContains(t, err, "would outlast the deadline")
	assert.Empty(t, s.delays)
}

func TestRetryRecoversNetworkHiccups(t *testing.T) {
	s := &sleeper{}
	calls := 0
	flaky := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		calls++
		if calls == 1 {
			return llm.Response{}, errors.Join(errors.New("read body"), io.ErrUnexpectedEOF)
		}
		return llm.Response{Content: "{}"}, nil
	})
	_, err := llm.Chain(flaky, llm.WithRetry(retryOpts(s))).Generate(context.Background(), baseRequest())
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
}

func TestChainOrder(t *testing.T) {
	var trace []string
	mw := func(name string) llm.Middleware {
		return func(next llm.Model) llm.Model {
			return llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
				trace = append(trace, name)
				return next.Generate(ctx, req)
			})
		}
	}
	base := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		trace = append(trace, "model")
		return llm.Response{}, nil
	})
	_, _ = llm.Chain(base, mw("outer"), mw("middle"), mw("inner")).Generate(context.Background(), baseRequest())
	assert.Equal(t, []string{"outer", "middle", "inner", "model"}, trace)
	assert.NotNil(t, llm.Chain(base))
}
