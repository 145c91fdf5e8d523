package otelllm_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
	"github.com/debrief-go/debrief/llm/otelllm"
)

func ptr[T any](v T) *T { return &v }

func TestSpanFollowsTheConventions(t *testing.T) {
	h := newHarness(t)
	h.cfg.ProviderName = "azure.ai.openai"
	h.cfg.ServerAddress = "example.openai.azure.com"
	h.cfg.ServerPort = 443
	var inner trace.SpanContext
	m := h.wrap(llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		inner = trace.SpanFromContext(ctx).SpanContext()
		return llm.Response{Content: `{"ok":true}`, Model: "gpt-4o-mini-2024-07-18", FinishReason: llm.FinishStop,
			Usage: llm.Usage{InputTokens: 120, OutputTokens: 30, CachedInputTokens: 64}}, nil
	}))
	req := request("gpt-4o-mini", "Extract the caller's name.")
	req.Temperature, req.MaxOutputTokens, req.Seed = ptr(0.2), 500, ptr(int64(7))

	_, err := m.Generate(context.Background(), req)
	require.NoError(t, err)

	s := h.span(t)
	assert.Equal(t, "chat gpt-4o-mini", s.Name())
	assert.Equal(t, trace.SpanKindClient, s.SpanKind())
	assert.Equal(t, otelllm.ScopeName, s.InstrumentationScope().Name)
	assert.Equal(t, codes.Unset, s.Status().Code)
	assert.Empty(t, s.Events())
	assert.Equal(t, s.SpanContext(), inner, "the wrapped model is called within the span")
	assert.Equal(t, map[string]any{
		"gen_ai.operation.name":                "chat",
		"gen_ai.provider.name":                 "azure.ai.openai",
		"gen_ai.request.model":                 "gpt-4o-mini",
		"gen_ai.output.type":                   "json",
		"server.address":                       "example.openai.azure.com",
		"server.port":                          int64(443),
		"gen_ai.request.temperature":           0.2,
		"gen_ai.request.max_tokens":            int64(500),
		"gen_ai.request.seed":                  int64(7),
		"gen_ai.response.model":                "gpt-4o-mini-2024-07-18",
		"gen_ai.response.finish_reasons":       []string{"stop"},
		"gen_ai.usage.input_tokens":            int64(120),
		"gen_ai.usage.output_tokens":           int64(30),
		"gen_ai.usage.cache_read.input_tokens": int64(64),
		"debrief.llm.cached":                   false,
		"debrief.llm.retries":                  int64(0),
	}, attrs(t, s.Attributes()))
}

func TestMetricsFollowTheConventions(t *testing.T) {
	h := newHarness(t)
	h.cfg.ServerAddress = "api.openai.com"
	h.cfg.ServerPort = 443
	m := h.wrap(llmtest.NewScripted(
		llmtest.Reply("{}").WithUsage(llm.Usage{InputTokens: 1000, OutputTokens: 50}),
	))
	_, err := m.Generate(context.Background(), request("gpt-4o", "hi"))
	require.NoError(t, err)

	ms := h.metrics(t)
	require.Len(t, ms, 2, "no retry, no wait: only the GenAI metrics")
	base := map[string]any{
		"gen_ai.operation.name": "chat",
		"gen_ai.provider.name":  "openai",
		"gen_ai.request.model":  "gpt-4o",
		"gen_ai.response.model": "gpt-4o",
		"server.address":        "api.openai.com",
		"server.port":           int64(443),
	}

	duration := ms["gen_ai.client.operation.duration"]
	assert.Equal(t, "s", duration.Unit)
	dps := histogram[float64](t, duration)
	require.Len(t, dps, 1)
	assert.Equal(t, base, setAttrs(dps[0].Attributes))
	assert.Equal(t, uint64(1), dps[0].Count)
	assert.Equal(t, []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}, dps[0].Bounds)

	tokens := ms["gen_ai.client.token.usage"]
	assert.Equal(t, "{token}", tokens.Unit)
	tps := histogram[int64](t, tokens)
	require.Len(t, tps, 2)
	got := map[string]int64{}
	for _, dp := range tps {
		a := setAttrs(dp.Attributes)
		typ := a["gen_ai.token.type"].(string)
		delete(a, "gen_ai.token.type")
		assert.Equal(t, base, a)
		assert.Equal(t, uint64(1), dp.Count)
		assert.Equal(t, []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}, dp.Bounds)
		got[typ] = dp.Sum
	}
	assert.Equal(t, map[string]int64{"input": 1000, "output": 50}, got)
}

func TestTokensSumTheUsageOfEveryCall(t *testing.T) {
	h := newHarness(t)
	usages := []llm.Usage{{InputTokens: 100, OutputTokens: 10}, {InputTokens: 2500, OutputTokens: 400, CachedInputTokens: 2048}, {InputTokens: 7, OutputTokens: 1}}
	var steps []llmtest.Step
	var total llm.Usage
	for _, u := range usages {
		steps = append(steps, llmtest.Reply("{}").WithUsage(u))
		total = total.Add(u)
	}
	m := h.wrap(llmtest.NewScripted(steps...))
	for range usages {
		_, err := m.Generate(context.Background(), request("m", "hi"))
		require.NoError(t, err)
	}

	for i, s := range h.spans.Ended() {
		a := attrs(t, s.Attributes())
		assert.Equal(t, usages[i].InputTokens, a["gen_ai.usage.input_tokens"])
		assert.Equal(t, usages[i].OutputTokens, a["gen_ai.usage.output_tokens"])
		if usages[i].CachedInputTokens > 0 {
			assert.Equal(t, usages[i].CachedInputTokens, a["gen_ai.usage.cache_read.input_tokens"])
		} else {
			assert.NotContains(t, a, "gen_ai.usage.cache_read.input_tokens")
		}
	}
	sums := map[string]int64{}
	for _, dp := range histogram[int64](t, h.metrics(t)["gen_ai.client.token.usage"]) {
		assert.Equal(t, uint64(len(usages)), dp.Count)
		typ, _ := dp.Attributes.Value("gen_ai.token.type")
		sums[typ.AsString()] = dp.Sum
	}
	assert.Equal(t, map[string]int64{"input": total.InputTokens, "output": total.OutputTokens}, sums)
}

func TestCachedResponsesSpendNoTokens(t *testing.T) {
	h := newHarness(t)
	backend := llmtest.NewScripted(llmtest.Reply("{}").WithUsage(llm.Usage{InputTokens: 40, OutputTokens: 4}))
	m := h.wrap(backend, llm.WithCache(llm.NewLRUCache(8, 0)))
	for range 2 {
		_, err := m.Generate(context.Background(), request("m", "same question"))
		require.NoError(t, err)
	}
	require.Equal(t, 1, backend.Len(), "the second call is a cache hit")

	spans := h.spans.Ended()
	require.Len(t, spans, 2)
	assert.Equal(t, false, attrs(t, spans[0].Attributes())["debrief.llm.cached"])
	hit := attrs(t, spans[1].Attributes())
	assert.Equal(t, true, hit["debrief.llm.cached"])
	assert.NotContains(t, hit, "gen_ai.usage.input_tokens")

	ms := h.metrics(t)
	for _, dp := range histogram[int64](t, ms["gen_ai.client.token.usage"]) {
		assert.Equal(t, uint64(1), dp.Count, "only the call that reached the model spent tokens")
	}
	dps := histogram[float64](t, ms["gen_ai.client.operation.duration"])
	require.Len(t, dps, 2)
	var hits uint64
	for _, dp := range dps {
		if v, ok := dp.Attributes.Value("debrief.llm.cached"); ok && v.AsBool() {
			hits += dp.Count
		}
	}
	assert.Equal(t, uint64(1), hits)
}

// secret stands for what a provider may put in its error messages: a key,
// a URL with a key in it.
const secret = "sk-secret-123"

func TestFailuresMakeErrorSpans(t *testing.T) {
	answering := llmtest.Handler(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: `{"a":1}`}, nil
	})
	fail := func(err error) llm.Model {
		return llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) { return llm.Response{}, err })
	}
	providerError := func(kind error, status int) error {
		return &llm.Error{Kind: kind, StatusCode: status, Message: "invalid api key " + secret,
			Err: errors.New("POST https://api.example.com/v1?key=" + secret)}
	}
	cases := []struct {
		name      string
		model     llm.Model
		errorType string
	}{
		{"rate limited", fail(providerError(llm.ErrRateLimited, 429)), "rate_limited"},
		{"transient", fail(providerError(llm.ErrTransient, 503)), "transient"},
		{"refused", fail(providerError(llm.ErrRefused, 400)), "refused"},
		{"context too long", fail(providerError(llm.ErrContextTooLong, 413)), "context_too_long"},
		{"output truncated", fail(providerError(llm.ErrOutputTruncated, 0)), "output_truncated"},
		{"invalid output", fail(&llm.InvalidOutputError{Schema: "verdict", Content: secret, Attempts: 2}), "invalid_output"},
		{"invalid request", fail(fmt.Errorf("%w: %s", llm.ErrInvalidRequest, secret)), "invalid_request"},
		{"unclassified status", fail(providerError(nil, 401)), "401"},
		{"deadline", fail(fmt.Errorf("%s: %w", secret, context.DeadlineExceeded)), "timeout"},
		{"canceled", fail(fmt.Errorf("%s: %w", secret, context.Canceled)), "canceled"},
		{"unknown", fail(errors.New("boom " + secret)), "_OTHER"},
		{"injected rate limit", llmtest.InjectFaults(answering, 1, llmtest.Faults{RateLimited: 1}), "rate_limited"},
		{"injected permanent", llmtest.InjectFaults(answering, 1, llmtest.Faults{Permanent: 1}), "401"},
		{"injected timeout", llmtest.InjectFaults(answering, 1, llmtest.Faults{Timeout: 1}), "timeout"},
		{"injected context too long", llmtest.InjectFaults(answering, 1, llmtest.Faults{ContextTooLong: 1}), "context_too_long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.wrap(tc.model).Generate(context.Background(), request("m", "hi"))
			require.Error(t, err)

			s := h.span(t)
			assert.Equal(t, codes.Error, s.Status().Code)
			assert.Equal(t, llm.SafeText(err), s.Status().Description)
			a := attrs(t, s.Attributes())
			assert.Equal(t, tc.errorType, a["error.type"])
			assert.Equal(t, []string{"error"}, a["gen_ai.response.finish_reasons"])
			assert.Empty(t, s.Events(), "no exception event: its message would carry the provider's text")

			dps := histogram[float64](t, h.metrics(t)["gen_ai.client.operation.duration"])
			require.Len(t, dps, 1)
			v, ok := dps[0].Attributes.Value("error.type")
			require.True(t, ok)
			assert.Equal(t, tc.errorType, v.AsString())

			requireAbsent(t, h, secret, "injected fault")
		})
	}
}

func TestAnswerCutShortIsNoError(t *testing.T) {
	h := newHarness(t)
	m := h.wrap(llmtest.NewScripted(llmtest.Reply(`{"a":`).WithFinish(llm.FinishLength)))
	_, err := m.Generate(context.Background(), request("m", "hi"))
	require.NoError(t, err)
	s := h.span(t)
	assert.Equal(t, codes.Unset, s.Status().Code)
	a := attrs(t, s.Attributes())
	assert.Equal(t, []string{"length"}, a["gen_ai.response.finish_reasons"])
	assert.NotContains(t, a, "error.type")
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestRetriesAreEventsAndCounted(t *testing.T) {
	h := newHarness(t)
	backend := llmtest.NewScripted(
		llmtest.Fail(&llm.Error{Kind: llm.ErrTransient, StatusCode: 503, Message: secret}),
		llmtest.Fail(&llm.Error{Kind: llm.ErrRateLimited, StatusCode: 429, RetryAfter: 2 * time.Second}),
		llmtest.Fail(&llm.Error{Kind: llm.ErrTransient, StatusCode: 502}),
		llmtest.Reply("{}").WithUsage(llm.Usage{InputTokens: 10, OutputTokens: 2}),
	)
	m := h.wrap(backend, llm.WithRetry(llm.RetryOptions{BaseDelay: 100 * time.Millisecond, Sleep: noSleep}))
	_, err := m.Generate(context.Background(), request("m", "hi"))
	require.NoError(t, err)
	require.Equal(t, 4, backend.Len())

	s := h.span(t)
	assert.Equal(t, codes.Unset, s.Status().Code, "the call succeeded in the end")
	assert.Equal(t, int64(3), attrs(t, s.Attributes())["debrief.llm.retries"])
	events := s.Events()
	require.Len(t, events, 3)
	for i, e := range events {
		a := attrs(t, e.Attributes)
		assert.Equal(t, "retry", e.Name)
		assert.Equal(t, int64(i+1), a["debrief.llm.retry.attempt"])
		assert.Greater(t, a["debrief.llm.retry.delay"], 0.0)
		assert.Equal(t, []string{"transient", "rate_limited", "transient"}[i], a["error.type"])
	}
	assert.GreaterOrEqual(t, attrs(t, events[1].Attributes)["debrief.llm.retry.delay"], 2.0, "the retry-after is waited out")

	counted := map[string]int64{}
	for _, dp := range retryPoints(t, h) {
		a := setAttrs(dp.Attributes)
		assert.Equal(t, "m", a["gen_ai.request.model"])
		assert.Equal(t, "openai", a["gen_ai.provider.name"])
		counted[a["error.type"].(string)] += dp.Value
	}
	assert.Equal(t, map[string]int64{"transient": 2, "rate_limited": 1}, counted)
	requireAbsent(t, h, secret)
}

func TestWaitsOfTheRateLimit(t *testing.T) {
	h := newHarness(t)
	limiter := rate.NewLimiter(rate.Every(40*time.Millisecond), 1)
	m := h.wrap(llmtest.Handler(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: "{}"}, nil
	}), llm.WithRateLimit(limiter))
	for range 2 {
		_, err := m.Generate(context.Background(), request("m", "hi"))
		require.NoError(t, err)
	}

	spans := h.spans.Ended()
	require.Len(t, spans, 2)
	assert.Empty(t, spans[0].Events(), "the first call found its token at once")
	events := spans[1].Events()
	require.Len(t, events, 1)
	a := attrs(t, events[0].Attributes)
	assert.Equal(t, "wait", events[0].Name)
	assert.Equal(t, "rate_limit", a["debrief.llm.wait.reason"])
	assert.Greater(t, a["debrief.llm.wait.duration"], 0.01)

	ms := h.metrics(t)
	wait := ms["debrief.llm.wait.duration"]
	assert.Equal(t, "s", wait.Unit)
	dps := histogram[float64](t, wait)
	require.Len(t, dps, 1)
	assert.Equal(t, map[string]any{"gen_ai.provider.name": "openai", "gen_ai.request.model": "m", "debrief.llm.wait.reason": "rate_limit"},
		setAttrs(dps[0].Attributes))
	assert.Equal(t, uint64(1), dps[0].Count)
	assert.InDelta(t, a["debrief.llm.wait.duration"], dps[0].Sum, 1e-9)

	durations := histogram[float64](t, ms["gen_ai.client.operation.duration"])
	require.Len(t, durations, 1)
	assert.GreaterOrEqual(t, durations[0].Sum, dps[0].Sum, "the calls' durations include their waits")
	assert.GreaterOrEqual(t, spans[1].EndTime().Sub(spans[1].StartTime()).Seconds(), dps[0].Sum)
}

func TestWaitsOfTheConcurrencyLimit(t *testing.T) {
	// The waiter must reach the limit while the holder has the slot; a
	// scheduler slow enough to let it arrive after the release is retried.
	for try := 0; try < 20; try++ {
		h := newHarness(t)
		entered, release := make(chan struct{}), make(chan struct{})
		m := h.wrap(llmtest.Handler(func(ctx context.Context, req llm.Request) (llm.Response, error) {
			if req.Model == "holder" {
				close(entered)
				<-release
			}
			return llm.Response{Content: "{}"}, nil
		}), llm.WithConcurrencyLimit(1))

		var wg sync.WaitGroup
		wg.Go(func() { _, _ = m.Generate(context.Background(), request("holder", "hi")) })
		<-entered
		wg.Go(func() { _, _ = m.Generate(context.Background(), request("waiter", "hi")) })
		time.Sleep(20 * time.Millisecond)
		close(release)
		wg.Wait()

		var waiter sdktrace.ReadOnlySpan
		for _, s := range h.spans.Ended() {
			if s.Name() == "chat waiter" {
				waiter = s
			}
		}
		require.NotNil(t, waiter)
		if len(waiter.Events()) == 0 {
			continue
		}
		require.Len(t, waiter.Events(), 1)
		a := attrs(t, waiter.Events()[0].Attributes)
		assert.Equal(t, "concurrency", a["debrief.llm.wait.reason"])
		assert.Greater(t, a["debrief.llm.wait.duration"], 0.0)
		dps := histogram[float64](t, h.metrics(t)["debrief.llm.wait.duration"])
		require.Len(t, dps, 1)
		assert.Equal(t, "concurrency", setAttrs(dps[0].Attributes)["debrief.llm.wait.reason"])
		assert.Equal(t, "waiter", setAttrs(dps[0].Attributes)["gen_ai.request.model"])
		return
	}
	t.Fatal("the waiter never waited")
}

func TestOutsideTheRetriesOnly(t *testing.T) {
	// Placed inside WithRetry, the middleware sees each attempt as a call of
	// its own and no retry: the chain order matters.
	h := newHarness(t)
	backend := llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrTransient}), llmtest.Reply("{}"))
	m := llm.Chain(backend, llm.WithRetry(llm.RetryOptions{Sleep: noSleep}), otelllm.Middleware(h.cfg))
	_, err := m.Generate(context.Background(), request("m", "hi"))
	require.NoError(t, err)
	spans := h.spans.Ended()
	require.Len(t, spans, 2)
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Equal(t, codes.Unset, spans[1].Status().Code)
	for _, s := range spans {
		assert.Empty(t, s.Events())
		assert.Equal(t, int64(0), attrs(t, s.Attributes())["debrief.llm.retries"])
	}
	_, counted := h.metrics(t)["debrief.llm.retries"]
	assert.False(t, counted)
}

func TestSamplersSeeTheRequest(t *testing.T) {
	var seen []string
	sampler := samplerFunc(func(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
		seen = append(seen, p.Name)
		for _, kv := range p.Attributes {
			seen = append(seen, string(kv.Key)+"="+kv.Value.Emit())
		}
		return sdktrace.SamplingResult{Decision: sdktrace.Drop}
	})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler))
	m := otelllm.Middleware(otelllm.Config{TracerProvider: tp, MeterProvider: metricnoop.NewMeterProvider(), ProviderName: "anthropic"})(
		llmtest.NewScripted(llmtest.Reply("{}")))
	_, err := m.Generate(context.Background(), request("claude", "hi"))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"chat claude", "gen_ai.operation.name=chat", "gen_ai.provider.name=anthropic",
		"gen_ai.request.model=claude", "gen_ai.output.type=json"}, seen)
}

type samplerFunc func(sdktrace.SamplingParameters) sdktrace.SamplingResult

func (f samplerFunc) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult { return f(p) }
func (samplerFunc) Description() string                                                  { return "test" }

func TestNoModelKey(t *testing.T) {
	h := newHarness(t)
	m := h.wrap(llmtest.NewScripted(llmtest.Step{Response: llm.Response{Content: "{}"}}))
	_, err := m.Generate(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	require.NoError(t, err)
	s := h.span(t)
	assert.Equal(t, "chat", s.Name())
	a := attrs(t, s.Attributes())
	assert.NotContains(t, a, "gen_ai.request.model")
	assert.NotContains(t, a, "gen_ai.response.model")
	dps := histogram[float64](t, h.metrics(t)["gen_ai.client.operation.duration"])
	require.Len(t, dps, 1)
	_, ok := dps[0].Attributes.Value("gen_ai.request.model")
	assert.False(t, ok)
}

func TestManyModelKeys(t *testing.T) {
	// Past the bound of the caches, attributes are computed per call: still
	// right.
	h := newHarness(t)
	m := h.wrap(llmtest.Handler(func(_ context.Context, req llm.Request) (llm.Response, error) {
		return llm.Response{Content: "{}", Model: req.Model + "-v1", Usage: llm.Usage{InputTokens: 1, OutputTokens: 1}}, nil
	}))
	const n = 1100
	for i := range n {
		_, err := m.Generate(context.Background(), request(fmt.Sprintf("model-%d", i), "hi"))
		require.NoError(t, err)
	}
	spans := h.spans.Ended()
	require.Len(t, spans, n)
	last := spans[n-1]
	assert.Equal(t, fmt.Sprintf("chat model-%d", n-1), last.Name())
	assert.Equal(t, fmt.Sprintf("model-%d-v1", n-1), attrs(t, last.Attributes())["gen_ai.response.model"])
	points := histogram[float64](t, h.metrics(t)["gen_ai.client.operation.duration"])
	require.Len(t, points, otelllm.MaxMetricModels+1, "the first keys by name, the rest as one")
	var overflow uint64
	for _, p := range points {
		a := attrs(t, p.Attributes.ToSlice())
		if a["gen_ai.request.model"] == otelllm.MetricOverflow {
			overflow += p.Count
			assert.Equal(t, otelllm.MetricOverflow, a["gen_ai.response.model"])
		}
	}
	assert.Equal(t, uint64(n-otelllm.MaxMetricModels), overflow, "every call past the bound is counted, as _OTHER")
	_, err := m.Generate(context.Background(), request("model-3", "hi"))
	require.NoError(t, err)
	for _, p := range histogram[float64](t, h.metrics(t)["gen_ai.client.operation.duration"]) {
		if attrs(t, p.Attributes.ToSlice())["gen_ai.request.model"] == "model-3" {
			assert.Equal(t, uint64(2), p.Count, "a key met before keeps its name")
		}
	}
}

func TestConcurrentCalls(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	failures := map[string]int{}
	m := h.wrap(llmtest.Handler(func(_ context.Context, req llm.Request) (llm.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		if failures[req.Messages[0].Content] < 1 {
			failures[req.Messages[0].Content]++
			return llm.Response{}, &llm.Error{Kind: llm.ErrTransient, StatusCode: 503}
		}
		return llm.Response{Content: "{}", Usage: llm.Usage{InputTokens: 3, OutputTokens: 2}}, nil
	}), llm.WithRetry(llm.RetryOptions{Sleep: noSleep}), llm.WithConcurrencyLimit(4))
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := m.Generate(context.Background(), request(fmt.Sprintf("m%d", i%3), fmt.Sprint(i)))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	spans := h.spans.Ended()
	require.Len(t, spans, n)
	for _, s := range spans {
		assert.Equal(t, int64(1), attrs(t, s.Attributes())["debrief.llm.retries"])
	}
	var input int64
	for _, dp := range histogram[int64](t, h.metrics(t)["gen_ai.client.token.usage"]) {
		if v, _ := dp.Attributes.Value("gen_ai.token.type"); v.AsString() == "input" {
			input += dp.Sum
		}
	}
	assert.Equal(t, int64(3*n), input)
	var retries int64
	for _, dp := range retryPoints(t, h) {
		retries += dp.Value
	}
	assert.Equal(t, int64(n), retries)
}

func TestWithoutProvidersNothingIsRecorded(t *testing.T) {
	require.NotContains(t, fmt.Sprintf("%T", otel.GetTracerProvider()), "sdk", "no test sets the global providers")
	backend := llmtest.NewScripted(
		llmtest.Fail(&llm.Error{Kind: llm.ErrTransient}),
		llmtest.Reply(`{"a":1}`).WithUsage(llm.Usage{InputTokens: 5, OutputTokens: 1}),
		llmtest.Fail(&llm.Error{Kind: llm.ErrRefused}),
	)
	m := llm.Chain(backend, otelllm.Middleware(otelllm.Config{RecordContent: true}), llm.WithRetry(llm.RetryOptions{Sleep: noSleep}))
	resp, err := m.Generate(context.Background(), request("m", "hi"))
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, resp.Content)
	assert.Equal(t, int64(5), resp.Usage.InputTokens)
	_, err = m.Generate(context.Background(), request("m", "hi"))
	assert.ErrorIs(t, err, llm.ErrRefused)
	assert.Equal(t, 3, backend.Len())
}

func TestNoopProvidersLeaveTheModelAlone(t *testing.T) {
	backend := llmtest.NewScripted(llmtest.Reply("{}"))
	m := otelllm.Middleware(otelllm.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})(backend)
	assert.Same(t, backend, m)

	// With one real provider, the middleware is at work.
	h := newHarness(t)
	m = otelllm.Middleware(otelllm.Config{TracerProvider: h.cfg.TracerProvider, MeterProvider: metricnoop.NewMeterProvider()})(backend)
	assert.NotSame(t, backend, m)
	_, err := m.Generate(context.Background(), request("m", "hi"))
	require.NoError(t, err)
	assert.Len(t, h.spans.Ended(), 1)
}

func TestRetriesCountedWithoutTraces(t *testing.T) {
	h := newHarness(t)
	h.cfg.TracerProvider = tracenoop.NewTracerProvider()
	backend := llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrRateLimited}), llmtest.Reply("{}"))
	m := h.wrap(backend, llm.WithRetry(llm.RetryOptions{Sleep: noSleep}))
	_, err := m.Generate(context.Background(), request("m", "hi"))
	require.NoError(t, err)
	points := retryPoints(t, h)
	require.Len(t, points, 1)
	assert.Equal(t, int64(1), points[0].Value)
	assert.Equal(t, "rate_limited", setAttrs(points[0].Attributes)["error.type"])
	assert.Empty(t, h.spans.Ended())
}

func TestRetriesTracedWithoutMetrics(t *testing.T) {
	h := newHarness(t)
	h.cfg.MeterProvider = metricnoop.NewMeterProvider()
	backend := llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrTransient}), llmtest.Reply("{}"))
	m := h.wrap(backend, llm.WithRetry(llm.RetryOptions{Sleep: noSleep}))
	_, err := m.Generate(context.Background(), request("m", "hi"))
	require.NoError(t, err)
	s := h.span(t)
	require.Len(t, s.Events(), 1)
	assert.Equal(t, "retry", s.Events()[0].Name)
	assert.Equal(t, int64(1), attrs(t, s.Attributes())["debrief.llm.retries"])
}

func TestAPanickingModelsSpanIsEnded(t *testing.T) {
	h := newHarness(t)
	m := h.wrap(llmtest.Handler(func(context.Context, llm.Request) (llm.Response, error) { panic("boom") }))
	assert.Panics(t, func() { _, _ = m.Generate(context.Background(), request("m", "hi")) })
	require.Len(t, h.spans.Ended(), 1, "the span is ended as the panic passes through")
}
