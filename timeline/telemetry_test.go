package timeline

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// otelSink records the spans and metrics of a service.
type otelSink struct {
	tp     *sdktrace.TracerProvider
	spans  *tracetest.SpanRecorder
	mp     *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
}

func newOtelSink() *otelSink {
	s := &otelSink{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	return s
}

// config sets the sink's providers in a service's config.
func (s *otelSink) config(c *Config) { c.TracerProvider, c.MeterProvider = s.tp, s.mp }

// ended returns the ended spans named name.
func (s *otelSink) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}

// one returns the only ended span named name.
func (s *otelSink) one(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := s.ended(name)
	require.Len(t, spans, 1, "spans named %s", name)
	return spans[0]
}

// allEnded checks that every span started was ended.
func (s *otelSink) allEnded(t *testing.T) {
	t.Helper()
	require.Len(t, s.spans.Started(), len(s.spans.Ended()), "every span started was ended")
}

// collect returns the metrics of this package's scope.
func (s *otelSink) collect(t *testing.T) []metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, s.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name == instrumentationScope {
			return sm.Metrics
		}
	}
	return nil
}

// metricNamed returns the metric called name in ms.
func metricNamed(t *testing.T, ms []metricdata.Metrics, name string) metricdata.Metrics {
	t.Helper()
	for _, m := range ms {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no metric %s", name)
	panic("unreachable")
}

// sumOf returns the value of the int64 sum called name whose point has
// exactly attrs, and whether there is such a point.
func sumOf(t *testing.T, ms []metricdata.Metrics, name string, attrs ...attribute.KeyValue) (int64, bool) {
	t.Helper()
	want := attribute.NewSet(attrs...)
	for _, m := range ms {
		if m.Name != name {
			continue
		}
		sum, ok := m.Data.(metricdata.Sum[int64])
		require.True(t, ok, "%s is a %T", name, m.Data)
		for _, dp := range sum.DataPoints {
			if dp.Attributes.Equals(&want) {
				return dp.Value, true
			}
		}
	}
	return 0, false
}

// histogramCount returns how many values the histogram called name
// recorded with exactly attrs.
func histogramCount(t *testing.T, ms []metricdata.Metrics, name string, attrs ...attribute.KeyValue) uint64 {
	t.Helper()
	m := metricNamed(t, ms, name)
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	want := attribute.NewSet(attrs...)
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Count
		}
	}
	return 0
}

// attrsOf returns a span's attributes by key.
func attrsOf(sp sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range sp.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// dumpSpans renders everything the spans recorded, to look for a secret.
func dumpSpans(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, sp := range spans {
		fmt.Fprintf(&b, "%s %v %q %v %v\n", sp.Name(), sp.Status().Code, sp.Status().Description, sp.Attributes(), sp.Links())
		for _, e := range sp.Events() {
			fmt.Fprintf(&b, "  event %s %v\n", e.Name, e.Attributes)
		}
	}
	return b.String()
}

// tracingModel starts a span of its own around each call, as a tracing
// middleware of package llm would, and remembers whether the context of
// every call carried a span.
type tracingModel struct {
	next     llm.Model
	tracer   trace.Tracer
	calls    atomic.Int32
	spanless atomic.Int32
}

func (m *tracingModel) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	m.calls.Add(1)
	if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
		m.spanless.Add(1)
	}
	ctx, span := m.tracer.Start(ctx, "model.call", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	return m.next.Generate(ctx, req)
}

// A completed analysis has a span with its ids, counts and tokens — those
// of the Report of the same pipeline — and the steps and model calls as
// descendants; the metrics count it and its tokens.
func TestTelemetryCompletedAnalysis(t *testing.T) {
	ctx := context.Background()
	usage := llm.Usage{InputTokens: 1234, OutputTokens: 321}
	step := llmtest.ReplyJSON(goodAnswer()).WithUsage(usage)

	// The Report the pipeline makes of this flow with this answer.
	flow, events := smallFlow()
	an, err := NewAnalyzer(AnalyzerConfig{Model: llmtest.NewScripted(step), ModelKey: "best"})
	require.NoError(t, err)
	want, err := an.Analyze(ctx, flow, events)
	require.NoError(t, err)
	require.Equal(t, usage, want.Usage)

	sink := newOtelSink()
	model := &tracingModel{next: llmtest.NewScripted(step), tracer: sink.tp.Tracer("test")}
	svc, _ := newService(t, newFakeSource(callFlow()), model, sink.config)
	a, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	require.True(t, started)
	waitIdle(t, svc)
	got, err := svc.Get(ctx, customerA, a.ID)
	require.NoError(t, err)
	require.Equal(t, StatusCompleted, got.Status)
	sink.allEnded(t)

	root := sink.one(t, spanAnalysis)
	assert.Equal(t, trace.SpanKindInternal, root.SpanKind())
	assert.False(t, root.Parent().IsValid(), "created without a span: a root")
	assert.Equal(t, codes.Unset, root.Status().Code)
	assert.Equal(t, instrumentationScope, root.InstrumentationScope().Name)
	at := attrsOf(root)
	assert.Equal(t, a.ID, at[attrAnalysisID].AsString())
	assert.Equal(t, flowA, at[attrActiveflowID].AsString())
	assert.Equal(t, "completed", at[attrStatus].AsString())
	assert.Equal(t, int64(want.TotalEvents), at[attrEventsTotal].AsInt64())
	assert.Equal(t, int64(want.AnalysedEvents), at[attrEventsAnalysed].AsInt64())
	assert.Equal(t, int64(want.Calls), at[attrModelCalls].AsInt64())
	assert.Equal(t, want.Usage.InputTokens, at[attrInputTokens].AsInt64())
	assert.Equal(t, want.Usage.OutputTokens, at[attrOutputTokens].AsInt64())
	assert.NotContains(t, at, attrErrorType)
	for _, kv := range root.Attributes() {
		assert.NotEqual(t, customerA, kv.Value.Emit(), "%s holds the customer id", kv.Key)
	}

	// The steps are children of the analysis's span; the model call a child
	// of the model step, in the same trace.
	for _, name := range []string{spanEvents, spanPrepare, spanModel} {
		sp := sink.one(t, name)
		assert.Equal(t, root.SpanContext().SpanID(), sp.Parent().SpanID(), "%s's parent", name)
		assert.Equal(t, root.SpanContext().TraceID(), sp.SpanContext().TraceID())
		assert.Equal(t, codes.Unset, sp.Status().Code, name)
	}
	assert.Zero(t, model.spanless.Load(), "every model call ran within a span")
	assert.Equal(t, int32(1), model.calls.Load())
	call := sink.one(t, "model.call")
	assert.Equal(t, root.SpanContext().TraceID(), call.SpanContext().TraceID())
	assert.Equal(t, sink.one(t, spanModel).SpanContext().SpanID(), call.Parent().SpanID())
	assert.False(t, call.EndTime().After(root.EndTime()), "the call ended within the analysis")
	assert.Equal(t, false, attrsOf(sink.one(t, spanModel))[attrStaged].AsBool())

	ms := sink.collect(t)
	n, ok := sumOf(t, ms, metricAnalyses, attrStatus.String("completed"))
	assert.True(t, ok)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, uint64(1), histogramCount(t, ms, metricDuration, attrStatus.String("completed")))
	in, _ := sumOf(t, ms, metricTokens, attrTokenType.String("input"))
	out, _ := sumOf(t, ms, metricTokens, attrTokenType.String("output"))
	assert.Equal(t, want.Usage.InputTokens, in)
	assert.Equal(t, want.Usage.OutputTokens, out)
	for _, name := range []string{metricRunning, metricQueued} {
		n, ok := sumOf(t, ms, name)
		assert.True(t, ok, name)
		assert.Zero(t, n, "%s after Wait", name)
	}
	assertMetricAttributes(t, ms)

	units := map[string]string{}
	for _, m := range ms {
		units[m.Name] = m.Unit
	}
	assert.Equal(t, map[string]string{metricAnalyses: "{analysis}", metricDuration: "s", metricRunning: "{analysis}",
		metricQueued: "{analysis}", metricTokens: "{token}"}, units)
}

// assertMetricAttributes checks that the metrics carry only the
// low-cardinality attributes, never an id.
func assertMetricAttributes(t *testing.T, ms []metricdata.Metrics) {
	t.Helper()
	allowed := map[attribute.Key]bool{attrStatus: true, attrErrorType: true, attrTokenType: true}
	check := func(name string, set attribute.Set) {
		for _, kv := range set.ToSlice() {
			assert.True(t, allowed[kv.Key], "%s has the attribute %s", name, kv.Key)
		}
	}
	for _, m := range ms {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				check(m.Name, dp.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				check(m.Name, dp.Attributes)
			}
		default:
			t.Errorf("%s is a %T", m.Name, m.Data)
		}
	}
}

// A failed analysis has an Error span with the operator-safe message and
// the failure's code; nothing the provider wrote reaches a span or a
// metric.
func TestTelemetryFailedAnalysis(t *testing.T) {
	const secret = "sk-secret-123"
	tests := []struct {
		name     string
		model    llm.Model
		wantMsg  string
		wantCode string
		failed   string
	}{
		{"rate limited", llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrRateLimited, StatusCode: 429,
			Message: "quota of " + secret + " exceeded"})), FailRateLimited, "rate_limited", spanModel},
		{"unclassified", llmtest.NewScripted(llmtest.Fail(errors.New("dial https://api.example/v1?key=" + secret))),
			FailModel, "model", spanModel},
		{"invalid output", llmtest.NewScripted(llmtest.Reply(secret).WithUsage(llm.Usage{InputTokens: 10, OutputTokens: 2}),
			llmtest.Reply(secret), llmtest.Reply(secret)), FailInvalidOutput, "invalid_output", spanModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			sink := newOtelSink()
			model := &tracingModel{next: tt.model, tracer: sink.tp.Tracer("test")}
			svc, _ := newService(t, newFakeSource(callFlow()), model, sink.config)
			a, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
			require.NoError(t, err)
			waitIdle(t, svc)
			got, err := svc.Get(ctx, customerA, a.ID)
			require.NoError(t, err)
			require.Equal(t, StatusFailed, got.Status)
			require.Equal(t, tt.wantMsg, got.Error)

			root := sink.one(t, spanAnalysis)
			assert.Equal(t, codes.Error, root.Status().Code)
			assert.Equal(t, tt.wantMsg, root.Status().Description)
			at := attrsOf(root)
			assert.Equal(t, "failed", at[attrStatus].AsString())
			assert.Equal(t, tt.wantCode, at[attrErrorType].AsString())
			assert.Equal(t, int64(model.calls.Load()), at[attrModelCalls].AsInt64())
			sp := sink.one(t, tt.failed)
			assert.Equal(t, codes.Error, sp.Status().Code)
			assert.Equal(t, tt.wantMsg, sp.Status().Description)
			assert.Positive(t, model.calls.Load())
			assert.Zero(t, model.spanless.Load())

			ms := sink.collect(t)
			n, _ := sumOf(t, ms, metricAnalyses, attrStatus.String("failed"), attrErrorType.String(tt.wantCode))
			assert.Equal(t, int64(1), n)
			_, ok := sumOf(t, ms, metricAnalyses, attrStatus.String("completed"))
			assert.False(t, ok)
			assert.Equal(t, uint64(1), histogramCount(t, ms, metricDuration, attrStatus.String("failed")))
			for _, name := range []string{metricRunning, metricQueued} {
				n, _ := sumOf(t, ms, name)
				assert.Zero(t, n, "%s after Wait", name)
			}
			assertMetricAttributes(t, ms)

			all := dumpSpans(sink.spans.Ended())
			assert.Contains(t, all, spanAnalysis, "the dump shows the spans")
			assert.NotContains(t, all, secret)
			assert.NotContains(t, fmt.Sprintf("%+v", ms), secret)
		})
	}
}

// At the time limit the analysis's span ends with its stored end, without
// the counts of the work, not known yet; the slot stays taken, and the
// tokens are counted, when the pipeline returns.
func TestTelemetryTimeLimit(t *testing.T) {
	ctx := context.Background()
	sink := newOtelSink()
	release := make(chan struct{})
	late := llm.Usage{InputTokens: 500, OutputTokens: 50}
	model := &tracingModel{tracer: sink.tp.Tracer("test"), next: llmtest.Handler(func(context.Context, llm.Request) (llm.Response, error) {
		<-release // the context's end is ignored
		return llm.Response{Content: mustJSON(goodAnswer()), FinishReason: llm.FinishStop, Usage: late}, nil
	})}
	svc, _ := newService(t, newFakeSource(callFlow()), model, sink.config, func(c *Config) { c.Timeout = 20 * time.Millisecond })
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the service's Close
	a, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)

	require.Eventually(t, func() bool { return len(sink.ended(spanAnalysis)) == 1 }, 10*time.Second, time.Millisecond)
	got, err := svc.Get(ctx, customerA, a.ID)
	require.NoError(t, err)
	assert.Equal(t, FailTimeout, got.Error, "stored before the span ended")
	root := sink.one(t, spanAnalysis)
	assert.Equal(t, codes.Error, root.Status().Code)
	assert.Equal(t, FailTimeout, root.Status().Description)
	at := attrsOf(root)
	assert.Equal(t, "failed", at[attrStatus].AsString())
	assert.Equal(t, "timeout", at[attrErrorType].AsString())
	for _, k := range []attribute.Key{attrModelCalls, attrInputTokens, attrOutputTokens, attrEventsTotal, attrEventsAnalysed} {
		assert.NotContains(t, at, k, "not known when the end was stored")
	}
	ms := sink.collect(t)
	running, _ := sumOf(t, ms, metricRunning)
	assert.Equal(t, int64(1), running, "the slot is still taken")
	n, _ := sumOf(t, ms, metricAnalyses, attrStatus.String("failed"), attrErrorType.String("timeout"))
	assert.Equal(t, int64(1), n)
	_, ok := sumOf(t, ms, metricTokens, attrTokenType.String("input"))
	assert.False(t, ok, "no tokens yet")

	free()
	waitIdle(t, svc)
	sink.allEnded(t) // the model's span too, once it returned
	ms = sink.collect(t)
	running, _ = sumOf(t, ms, metricRunning)
	assert.Zero(t, running)
	in, _ := sumOf(t, ms, metricTokens, attrTokenType.String("input"))
	out, _ := sumOf(t, ms, metricTokens, attrTokenType.String("output"))
	assert.Equal(t, late.InputTokens, in, "the late call's tokens")
	assert.Equal(t, late.OutputTokens, out)
	n, _ = sumOf(t, ms, metricAnalyses, attrStatus.String("failed"), attrErrorType.String("timeout"))
	assert.Equal(t, int64(1), n, "counted once")
	assert.Equal(t, uint64(1), histogramCount(t, ms, metricDuration, attrStatus.String("failed")))
}

// A failure of the Source marks the events step and the analysis failed.
func TestTelemetrySourceFailure(t *testing.T) {
	const secret = "sk-secret-123"
	ctx := context.Background()
	sink := newOtelSink()
	src := newFakeSource(callFlow())
	src.eventsErr = errors.New("postgres://app:" + secret + "@db/flows: connection refused")
	svc, _ := newService(t, src, llmtest.NewScripted(), sink.config)
	_, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	waitIdle(t, svc)

	for _, name := range []string{spanAnalysis, spanEvents} {
		sp := sink.one(t, name)
		assert.Equal(t, codes.Error, sp.Status().Code, name)
		assert.Equal(t, FailLoadEvents, sp.Status().Description, name)
		assert.Equal(t, "load_events", attrsOf(sp)[attrErrorType].AsString(), name)
	}
	assert.Empty(t, sink.ended(spanPrepare), "no step after the failed one")
	assert.Empty(t, sink.ended(spanModel))
	assert.NotContains(t, dumpSpans(sink.spans.Ended()), secret)
	ms := sink.collect(t)
	n, _ := sumOf(t, ms, metricAnalyses, attrStatus.String("failed"), attrErrorType.String("load_events"))
	assert.Equal(t, int64(1), n)
	_, ok := sumOf(t, ms, metricTokens, attrTokenType.String("input"))
	assert.False(t, ok, "no tokens spent")
}

// The queued and running analyses are counted while they wait and run, and
// the counts return to 0 once the service is idle.
func TestTelemetryQueuedAndRunning(t *testing.T) {
	ctx := context.Background()
	sink := newOtelSink()
	model := newGatedModel()
	svc, _ := newService(t, newFakeSource(flowN(1), flowN(2), flowN(3)), model, sink.config,
		func(c *Config) { c.MaxConcurrent = 1 })
	for i := 1; i <= 3; i++ {
		_, _, err := svc.Create(ctx, customerA, flowN(i).ID, CreateOptions{})
		require.NoError(t, err)
	}
	receive(t, model.entered, "the first model call")
	ms := sink.collect(t)
	running, _ := sumOf(t, ms, metricRunning)
	queued, _ := sumOf(t, ms, metricQueued)
	assert.Equal(t, int64(1), running)
	assert.Equal(t, int64(2), queued)

	close(model.gate)
	waitIdle(t, svc)
	ms = sink.collect(t)
	running, _ = sumOf(t, ms, metricRunning)
	queued, _ = sumOf(t, ms, metricQueued)
	assert.Zero(t, running)
	assert.Zero(t, queued)
	n, _ := sumOf(t, ms, metricAnalyses, attrStatus.String("completed"))
	assert.Equal(t, int64(3), n)
	assert.Equal(t, uint64(3), histogramCount(t, ms, metricDuration, attrStatus.String("completed")))
	assert.Len(t, sink.ended(spanAnalysis), 3)
	ids := map[trace.TraceID]bool{}
	for _, sp := range sink.ended(spanAnalysis) {
		ids[sp.SpanContext().TraceID()] = true
	}
	assert.Len(t, ids, 3, "a trace per analysis")
}

// A Close that gives up interrupts the running analysis and abandons the
// queued ones: all are counted as interrupted, only the one that ran has a
// span, and the gauges return to 0.
func TestTelemetryCloseAbandonsQueued(t *testing.T) {
	ctx := context.Background()
	sink := newOtelSink()
	model := newGatedModel() // never opened
	svc, _ := newService(t, newFakeSource(flowN(1), flowN(2), flowN(3)), model, sink.config,
		func(c *Config) { c.MaxConcurrent = 1 })
	for i := 1; i <= 3; i++ {
		_, _, err := svc.Create(ctx, customerA, flowN(i).ID, CreateOptions{})
		require.NoError(t, err)
	}
	receive(t, model.entered, "the first model call")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, svc.Close(cctx), context.Canceled)
	waitIdle(t, svc)

	ms := sink.collect(t)
	n, _ := sumOf(t, ms, metricAnalyses, attrStatus.String("failed"), attrErrorType.String("interrupted"))
	assert.Equal(t, int64(3), n)
	assert.Equal(t, uint64(1), histogramCount(t, ms, metricDuration, attrStatus.String("failed")), "only one ran")
	for _, name := range []string{metricRunning, metricQueued} {
		v, _ := sumOf(t, ms, name)
		assert.Zero(t, v, "%s after Wait", name)
	}
	root := sink.one(t, spanAnalysis)
	assert.Equal(t, FailInterrupted, root.Status().Description)
	assert.Equal(t, "interrupted", attrsOf(root)[attrErrorType].AsString())
}

// The analysis's span links to the span of the Create that started it,
// while being the root of a trace of its own.
func TestTelemetryLinksTheCreator(t *testing.T) {
	sink := newOtelSink()
	svc, _ := newService(t, newFakeSource(callFlow()), llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer())), sink.config)
	ctx, req := sink.tp.Tracer("test").Start(context.Background(), "POST /timeline-analyses")
	_, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	req.End()
	waitIdle(t, svc)

	root := sink.one(t, spanAnalysis)
	assert.False(t, root.Parent().IsValid())
	assert.NotEqual(t, req.SpanContext().TraceID(), root.SpanContext().TraceID())
	require.Len(t, root.Links(), 1)
	assert.True(t, root.Links()[0].SpanContext.Equal(req.SpanContext()))
}

// Without providers the service uses the OpenTelemetry globals: no-ops by
// default, the host's once it sets them.
func TestTelemetryNilProviders(t *testing.T) {
	ctx := context.Background()
	t.Run("no-op", func(t *testing.T) {
		model := &tracingModel{next: llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer())), tracer: tracenoop.NewTracerProvider().Tracer("")}
		svc, _ := newService(t, newFakeSource(callFlow()), model)
		a, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
		require.NoError(t, err)
		waitIdle(t, svc)
		got, err := svc.Get(ctx, customerA, a.ID)
		require.NoError(t, err)
		assert.Equal(t, StatusCompleted, got.Status)
		assert.Equal(t, int32(1), model.spanless.Load(), "no span: nothing is recorded")
	})
	t.Run("globals", func(t *testing.T) {
		sink := newOtelSink()
		otel.SetTracerProvider(sink.tp)
		otel.SetMeterProvider(sink.mp)
		t.Cleanup(func() { // leave no-ops behind
			otel.SetTracerProvider(tracenoop.NewTracerProvider())
			otel.SetMeterProvider(metricnoop.NewMeterProvider())
		})
		svc, _ := newService(t, newFakeSource(callFlow()), llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer())))
		_, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
		require.NoError(t, err)
		waitIdle(t, svc)
		assert.Equal(t, "completed", attrsOf(sink.one(t, spanAnalysis))[attrStatus].AsString())
		n, _ := sumOf(t, sink.collect(t), metricAnalyses, attrStatus.String("completed"))
		assert.Equal(t, int64(1), n)
	})
}

// Every failure message's code is the name of its constant in snake case
// without the prefix Fail, and an unknown message's is _OTHER. The
// constants are read from errors.go, so that a new one without a code
// fails here.
func TestFailureCodes(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	require.NoError(t, err)
	msgs := map[string]string{} // by constant name
	ast.Inspect(file, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if strings.HasPrefix(name.Name, "Fail") && i < len(vs.Values) {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				require.True(t, ok, name.Name)
				s, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				msgs[name.Name] = s
			}
		}
		return true
	})
	require.Len(t, msgs, 15)
	assert.Equal(t, FailModelTimeout, msgs["FailModelTimeout"], "the constants were read")
	for name, msg := range msgs {
		var want strings.Builder
		for i, r := range strings.TrimPrefix(name, "Fail") {
			if r >= 'A' && r <= 'Z' {
				if i > 0 {
					want.WriteByte('_')
				}
				r += 'a' - 'A'
			}
			want.WriteRune(r)
		}
		assert.Equal(t, want.String(), failureCode(msg), name)
	}
	assert.Equal(t, errorTypeOther, failureCode("something else"))
	assert.Len(t, failureCodes, len(msgs))
}
