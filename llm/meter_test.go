package llm_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func TestPriceCost(t *testing.T) {
	p := llm.Price{Input: 2.50, CachedInput: ptr(1.25), Output: 10}
	u := llm.Usage{InputTokens: 1_000_000, CachedInputTokens: 400_000, OutputTokens: 100_000}
	assert.InDelta(t, 0.6*2.50+0.4*1.25+0.1*10, p.Cost(u), 1e-12)

	noCachedPrice := llm.Price{Input: 2, Output: 8}
	assert.InDelta(t, 2.0+0.8, noCachedPrice.Cost(llm.Usage{InputTokens: 1_000_000, CachedInputTokens: 500_000, OutputTokens: 100_000}), 1e-12,
		"without a cached price, cached tokens cost as much as other input")
	assert.InDelta(t, 2.0, noCachedPrice.Cost(llm.Usage{InputTokens: 1_000_000, CachedInputTokens: 9_000_000}), 1e-12,
		"cached tokens beyond the input are not charged twice")
	assert.Zero(t, p.Cost(llm.Usage{}))

	freeCache := llm.Price{Input: 2, CachedInput: ptr(0.0), Output: 8}
	assert.InDelta(t, 1.0, freeCache.Cost(llm.Usage{InputTokens: 1_000_000, CachedInputTokens: 500_000}), 1e-12,
		"a pointer to 0 makes cached tokens free")
}

func TestMeterZeroValue(t *testing.T) {
	var m llm.Meter
	m.Record("x", llm.Usage{InputTokens: 5})
	r := m.Report()
	require.Len(t, r.Models, 1)
	assert.Equal(t, int64(5), r.Usage.InputTokens)
	assert.Equal(t, []string{"x"}, r.Unpriced)
}

func TestMeter(t *testing.T) {
	prices := llm.PriceTable{"small": {Input: 0.15, Output: 0.60}, "large": {Input: 2.5, CachedInput: ptr(1.25), Output: 10}}
	meter := llm.NewMeter(prices)
	prices["small"] = llm.Price{Input: 1000} // the meter keeps its own copy

	base := llmtest.Handler(func(_ context.Context, req llm.Request) (llm.Response, error) {
		switch req.Model {
		case "small":
			return llm.Response{Content: "{}", Usage: llm.Usage{InputTokens: 1000, OutputTokens: 100}}, nil
		case "large":
			return llm.Response{Content: "{}", Usage: llm.Usage{InputTokens: 2000, CachedInputTokens: 1000, OutputTokens: 200}}, nil
		}
		return llm.Response{}, transient
	})
	m := llm.Chain(base, meter.Middleware())

	var wg sync.WaitGroup
	for range 10 {
		for _, key := range []string{"small", "large", "unknown"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := baseRequest()
				req.Model = key
				_, _ = m.Generate(context.Background(), req)
			}()
		}
	}
	wg.Wait()
	meter.Record("small", llm.Usage{InputTokens: 10})

	r := meter.Report()
	require.Len(t, r.Models, 3)
	assert.Equal(t, []string{"large", "small", "unknown"}, []string{r.Models[0].Model, r.Models[1].Model, r.Models[2].Model})

	large, small, unknown := r.Models[0], r.Models[1], r.Models[2]
	assert.Equal(t, int64(10), large.Calls)
	assert.Equal(t, llm.Usage{InputTokens: 20000, CachedInputTokens: 10000, OutputTokens: 2000}, large.Usage)
	assert.True(t, large.Priced)
	assert.InDelta(t, (10000*2.5+10000*1.25+2000*10)/1e6, large.Cost, 1e-12)

	assert.Equal(t, int64(11), small.Calls, "ten metered calls and one recorded")
	assert.Equal(t, llm.Usage{InputTokens: 10010, OutputTokens: 1000}, small.Usage)
	assert.InDelta(t, (10010*0.15+1000*0.60)/1e6, small.Cost, 1e-12)

	assert.Equal(t, int64(10), unknown.Calls)
	assert.Equal(t, int64(10), unknown.Failures)
	assert.False(t, unknown.Priced)
	assert.Zero(t, unknown.Cost)

	assert.Equal(t, []string{"unknown"}, r.Unpriced)
	assert.InDelta(t, large.Cost+small.Cost, r.Cost, 1e-12)
	assert.Equal(t, large.Usage.Add(small.Usage), r.Usage)

	meter.Reset()
	assert.Empty(t, meter.Report().Models)
}

func TestMeterCountsCacheHitsAsFree(t *testing.T) {
	meter := llm.NewMeter(llm.PriceTable{"m": {Input: 1, Output: 1}})
	base := llmtest.NewScripted(llmtest.Reply(`{}`).WithUsage(llm.Usage{InputTokens: 100, OutputTokens: 10}))
	m := llm.Chain(base, meter.Middleware(), llm.WithCache(llm.NewLRUCache(4, 0)))
	req := baseRequest()
	req.Model = "m"
	for range 3 {
		_, err := m.Generate(context.Background(), req)
		require.NoError(t, err)
	}
	mu := meter.Report().Models[0]
	assert.Equal(t, int64(3), mu.Calls)
	assert.Equal(t, int64(2), mu.CacheHits)
	assert.Equal(t, llm.Usage{InputTokens: 100, OutputTokens: 10}, mu.Usage, "only the real call spent tokens")
}
