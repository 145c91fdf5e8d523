package llm_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/debrief-go/debrief/llm"
)

func TestConcurrencyLimit(t *testing.T) {
	const limit, callers = 3, 20
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, callers)
	blocking := llm.ModelFunc(func(ctx context.Context, _ llm.Request) (llm.Response, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release
		inFlight.Add(-1)
		return llm.Response{Content: "{}"}, nil
	})
	m := llm.Chain(blocking, llm.WithConcurrencyLimit(limit))

	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := m.Generate(context.Background(), baseRequest())
			assert.NoError(t, err)
		}()
	}
	for range limit {
		<-entered
	}
	select {
	case <-entered:
		t.Fatal("a call beyond the limit got through")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	wg.Wait()
	assert.Equal(t, int32(limit), peak.Load())

	assert.Panics(t, func() { llm.WithConcurrencyLimit(0) })
}

func TestConcurrencyLimitHonoursContext(t *testing.T) {
	hold := make(chan struct{})
	started := make(chan struct{})
	m := llm.Chain(llm.ModelFunc(func(ctx context.Context, _ llm.Request) (llm.Response, error) {
		close(started)
		<-hold
		return llm.Response{}, nil
	}), llm.WithConcurrencyLimit(1))
	go func() { _, _ = m.Generate(context.Background(), baseRequest()) }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Generate(ctx, baseRequest())
	assert.ErrorIs(t, err, context.Canceled)
	close(hold)
}

func TestRateLimit(t *testing.T) {
	var calls atomic.Int32
	base := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		calls.Add(1)
		return llm.Response{}, nil
	})
	m := llm.Chain(base, llm.WithRateLimit(rate.NewLimiter(rate.Every(time.Hour), 2)))
	for range 2 {
		_, err := m.Generate(context.Background(), baseRequest())
		require.NoError(t, err, "the burst passes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := m.Generate(ctx, baseRequest())
	require.Error(t, err, "the next token is an hour away, past the deadline")
	assert.ErrorContains(t, err, "rate limit")
	assert.Equal(t, int32(2), calls.Load(), "the refused call never reached the model")

	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = m.Generate(cancelled, baseRequest())
	assert.ErrorIs(t, err, context.Canceled)

	assert.Panics(t, func() { llm.WithRateLimit(nil) })
}
