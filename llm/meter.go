package llm

import (
	"context"
	"sort"
	"sync"
)

// A Price is what a model's tokens cost, in the host's currency per million
// tokens.
type Price struct {
	// Input is the price of a prompt token not served from the prompt cache.
	Input float64 `json:"input"`
	// CachedInput is the price of a prompt token served from the provider's
	// prompt cache; nil means cached tokens cost as much as Input ones (a
	// pointer to 0 makes them free).
	CachedInput *float64 `json:"cachedInput,omitempty"`
	// Output is the price of an answer token.
	Output float64 `json:"output"`
}

// Cost returns what u costs at p.
func (p Price) Cost(u Usage) float64 {
	cachedPrice := p.Input
	if p.CachedInput != nil {
		cachedPrice = *p.CachedInput
	}
	cached := min(u.CachedInputTokens, u.InputTokens)
	return (float64(u.InputTokens-cached)*p.Input + float64(cached)*cachedPrice + float64(u.OutputTokens)*p.Output) / 1e6
}

// A PriceTable maps model keys (as in [Request.Model]) to their prices.
type PriceTable map[string]Price

// A Meter sums the calls, failures and tokens of every call made through
// its [Meter.Middleware], per model key, and converts them to cost with the
// host's [PriceTable]. It is safe for concurrent use. The zero value is a
// meter that prices nothing.
type Meter struct {
	prices PriceTable

	mu      sync.Mutex
	byModel map[string]*ModelUsage
}

// NewMeter returns a meter pricing usage with prices, which it copies. A
// nil table prices nothing.
func NewMeter(prices PriceTable) *Meter {
	cp := make(PriceTable, len(prices))
	for k, v := range prices {
		cp[k] = v
	}
	return &Meter{prices: cp, byModel: map[string]*ModelUsage{}}
}

// Middleware returns a [Middleware] recording every call on m under the
// request's model key. Placed outermost in a [Chain], it counts the calls
// the host made, a retried call once; placed innermost, every attempt. It
// records one call, one failure if it returned an error, one
// cache hit if the response was served from a cache, and the response's
// usage.
func (m *Meter) Middleware() Middleware {
	return func(next Model) Model {
		return ModelFunc(func(ctx context.Context, req Request) (Response, error) {
			resp, err := next.Generate(ctx, req)
			m.record(req.Model, resp.Usage, err != nil, resp.Cached)
			return resp, err
		})
	}
}

// Record adds one call's usage under model, for usage obtained outside a
// metered model.
func (m *Meter) Record(model string, u Usage) { m.record(model, u, false, false) }

func (m *Meter) record(model string, u Usage, failed, cached bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byModel == nil {
		m.byModel = map[string]*ModelUsage{}
	}
	mu, ok := m.byModel[model]
	if !ok {
		mu = &ModelUsage{Model: model}
		m.byModel[model] = mu
	}
	mu.Calls++
	if failed {
		mu.Failures++
	}
	if cached {
		mu.CacheHits++
	}
	mu.Usage = mu.Usage.Add(u)
}

// ModelUsage is what one model key has consumed.
type ModelUsage struct {
	// Model is the model key.
	Model string `json:"model"`
	// Calls counts the calls made, failed ones included.
	Calls int64 `json:"calls"`
	// Failures counts the calls that returned an error.
	Failures int64 `json:"failures"`
	// CacheHits counts the calls answered from a cache (see [WithCache]).
	CacheHits int64 `json:"cacheHits"`
	// Usage sums the tokens.
	Usage Usage `json:"usage"`
	// Cost is Usage at the model's price; 0 when it has none.
	Cost float64 `json:"cost"`
	// Priced reports whether the price table has the model.
	Priced bool `json:"priced"`
}

// A UsageReport is a snapshot of a [Meter].
type UsageReport struct {
	// Models lists each model key's consumption, sorted by key.
	Models []ModelUsage `json:"models"`
	// Usage sums the tokens of every model.
	Usage Usage `json:"usage"`
	// Cost sums the cost of the priced models.
	Cost float64 `json:"cost"`
	// Unpriced lists the model keys used that the price table lacks, sorted;
	// their tokens are in Usage but not in Cost.
	Unpriced []string `json:"unpriced"`
}

// Report returns a snapshot of what has been consumed so far.
func (m *Meter) Report() UsageReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := UsageReport{Models: make([]ModelUsage, 0, len(m.byModel)), Unpriced: []string{}}
	for _, mu := range m.byModel {
		r.Models = append(r.Models, *mu)
	}
	sort.Slice(r.Models, func(i, j int) bool { return r.Models[i].Model < r.Models[j].Model })
	for i := range r.Models {
		entry := &r.Models[i]
		if p, ok := m.prices[entry.Model]; ok {
			entry.Priced, entry.Cost = true, p.Cost(entry.Usage)
			r.Cost += entry.Cost
		} else {
			r.Unpriced = append(r.Unpriced, entry.Model)
		}
		r.Usage = r.Usage.Add(entry.Usage)
	}
	return r
}

// Reset forgets everything recorded so far.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byModel = map[string]*ModelUsage{}
}
