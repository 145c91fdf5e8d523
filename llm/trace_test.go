package llm_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/debrief-go/debrief/llm"
)

func TestCallTraceSeesRetries(t *testing.T) {
	calls := 0
	m := llm.Chain(llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		calls++
		if calls < 3 {
			return llm.Response{}, &llm.Error{Kind: llm.ErrTransient, StatusCode: 503}
		}
		return llm.Response{Content: "{}"}, nil
	}), llm.WithRetry(llm.RetryOptions{BaseDelay: time.Millisecond, Sleep: func(context.Context, time.Duration) error { return nil }}))
	var got []llm.RetryEvent
	ctx := llm.WithCallTrace(context.Background(), &llm.CallTrace{Retry: func(e llm.RetryEvent) { got = append(got, e) }})
	_, err := m.Generate(ctx, llm.Request{Model: "m1", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	require.NoError(t, err)
	require.Len(t, got, 2)
	for i, e := range got {
		assert.Equal(t, "m1", e.Model)
		assert.Equal(t, i+1, e.Attempt)
		assert.True(t, e.Delay > 0)
		assert.ErrorIs(t, e.Err, llm.ErrTransient)
	}
	_, err = m.Generate(context.Background(), llm.Request{Model: "m1", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	assert.NoError(t, err, "no trace in the context: nothing is called")
}

func TestCallTraceSeesWaits(t *testing.T) {
	release := make(chan struct{})
	inner := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		if req.Model == "holder" {
			<-release
		}
		return llm.Response{Content: "{}"}, nil
	})
	m := llm.Chain(inner, llm.WithConcurrencyLimit(1))
	req := llm.Request{Model: "holder", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	var mu sync.Mutex
	var waits []llm.WaitEvent
	trace := &llm.CallTrace{Wait: func(e llm.WaitEvent) { mu.Lock(); waits = append(waits, e); mu.Unlock() }}

	done := make(chan struct{})
	go func() { _, _ = m.Generate(llm.WithCallTrace(context.Background(), trace), req); close(done) }()
	for {
		mu.Lock()
		n := len(waits)
		mu.Unlock()
		if n > 0 {
			t.Fatal("the first call did not wait")
		}
		// the holder has its slot once a TryAcquire-free call would block
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, err := m.Generate(ctx, llm.Request{Model: "probe", Messages: req.Messages})
		cancel()
		if err != nil {
			break
		}
	}
	waited := make(chan error)
	go func() {
		_, err := m.Generate(llm.WithCallTrace(context.Background(), trace), llm.Request{Model: "waiter", Messages: req.Messages})
		waited <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	require.NoError(t, <-waited)
	<-done
	mu.Lock()
	require.Len(t, waits, 1, "only the call that found the slot taken waited")
	assert.Equal(t, llm.WaitEvent{Model: "waiter", Reason: llm.WaitConcurrency, Duration: waits[0].Duration}, waits[0])
	assert.GreaterOrEqual(t, waits[0].Duration, 10*time.Millisecond)
	mu.Unlock()

	lim := rate.NewLimiter(rate.Every(30*time.Millisecond), 1)
	rl := llm.Chain(inner, llm.WithRateLimit(lim))
	var rw []llm.WaitEvent
	ctx := llm.WithCallTrace(context.Background(), &llm.CallTrace{Wait: func(e llm.WaitEvent) { rw = append(rw, e) }})
	for range 2 {
		_, err := rl.Generate(ctx, llm.Request{Model: "r", Messages: req.Messages})
		require.NoError(t, err)
	}
	require.Len(t, rw, 1, "the first call had its token at once; the second waited")
	assert.Equal(t, llm.WaitRateLimit, rw[0].Reason)
	assert.Greater(t, rw[0].Duration, 5*time.Millisecond)

	_, err := rl.Generate(llm.WithCallTrace(context.Background(), &llm.CallTrace{}), llm.Request{Model: "r", Messages: req.Messages})
	assert.NoError(t, err, "a trace with nil functions is fine")
}

func TestCallTracesCompose(t *testing.T) {
	var order []string
	ctx := llm.WithCallTrace(context.Background(), &llm.CallTrace{Retry: func(llm.RetryEvent) { order = append(order, "outer") }})
	ctx = llm.WithCallTrace(ctx, &llm.CallTrace{Retry: func(llm.RetryEvent) { order = append(order, "inner") }, Wait: func(llm.WaitEvent) { order = append(order, "inner wait") }})
	ctx = llm.WithCallTrace(ctx, nil)
	tr := llm.ContextCallTrace(ctx)
	require.NotNil(t, tr)
	tr.Retry(llm.RetryEvent{Err: errors.New("x")})
	tr.Wait(llm.WaitEvent{})
	assert.Equal(t, []string{"outer", "inner", "inner wait"}, order)
	assert.Nil(t, llm.ContextCallTrace(context.Background()))
}
