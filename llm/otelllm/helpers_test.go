package otelllm_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/otelllm"
)

// harness holds an SDK tracer provider recording every span and an SDK
// meter provider read on demand.
type harness struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	cfg    otelllm.Config
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		require.NoError(t, tp.Shutdown(context.Background()))
		require.NoError(t, mp.Shutdown(context.Background()))
	})
	return &harness{spans: spans, reader: reader, cfg: otelllm.Config{TracerProvider: tp, MeterProvider: mp}}
}

// wrap returns m wrapped in the middleware configured by h.cfg, then in mws
// (the first of them next to the middleware).
func (h *harness) wrap(m llm.Model, mws ...llm.Middleware) llm.Model {
	return llm.Chain(m, append([]llm.Middleware{otelllm.Middleware(h.cfg)}, mws...)...)
}

// span returns the only span ended so far.
func (h *harness) span(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	ended := h.spans.Ended()
	require.Len(t, ended, 1)
	return ended[0]
}

// metrics collects the metrics of the middleware's scope, by name.
func (h *harness) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, h.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, otelllm.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// attrs maps the attributes to their values, failing on a duplicate key.
func attrs(t *testing.T, kvs []attribute.KeyValue) map[string]any {
	t.Helper()
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		_, dup := out[string(kv.Key)]
		require.False(t, dup, "attribute %s set twice", kv.Key)
		out[string(kv.Key)] = kv.Value.AsInterface()
	}
	return out
}

// setAttrs maps the attributes of a set to their values.
func setAttrs(s attribute.Set) map[string]any {
	out := map[string]any{}
	for _, kv := range s.ToSlice() {
		out[string(kv.Key)] = kv.Value.AsInterface()
	}
	return out
}

// histogram returns the data points of a histogram metric.
func histogram[N int64 | float64](t *testing.T, m metricdata.Metrics) []metricdata.HistogramDataPoint[N] {
	t.Helper()
	h, ok := m.Data.(metricdata.Histogram[N])
	require.True(t, ok, "%s is a %T", m.Name, m.Data)
	return h.DataPoints
}

// retryPoints returns the data points of the counter debrief.llm.retries.
func retryPoints(t *testing.T, h *harness) []metricdata.DataPoint[int64] {
	t.Helper()
	m, ok := h.metrics(t)["debrief.llm.retries"]
	require.True(t, ok, "no retry was counted")
	assert.Equal(t, "{retry}", m.Unit)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "debrief.llm.retries is a %T", m.Data)
	assert.True(t, sum.IsMonotonic)
	return sum.DataPoints
}

// everyText returns every string the spans and metrics recorded: span names,
// attribute keys and values, event names and attributes, status
// descriptions, and metric names and data point attributes.
func everyText(t *testing.T, h *harness) []string {
	t.Helper()
	var out []string
	add := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			out = append(out, string(kv.Key), kv.Value.Emit())
		}
	}
	for _, s := range h.spans.Ended() {
		out = append(out, s.Name(), s.Status().Description)
		add(s.Attributes())
		for _, e := range s.Events() {
			out = append(out, e.Name)
			add(e.Attributes)
		}
		for _, l := range s.Links() {
			add(l.Attributes)
		}
	}
	for name, m := range h.metrics(t) {
		out = append(out, name, m.Description, m.Unit)
		switch d := m.Data.(type) {
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				add(dp.Attributes.ToSlice())
			}
		case metricdata.Histogram[int64]:
			for _, dp := range d.DataPoints {
				add(dp.Attributes.ToSlice())
			}
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				add(dp.Attributes.ToSlice())
			}
		default:
			t.Fatalf("unexpected data %T of %s", m.Data, name)
		}
	}
	return out
}

// requireAbsent fails if any recorded text contains one of needles.
func requireAbsent(t *testing.T, h *harness, needles ...string) {
	t.Helper()
	texts := everyText(t, h)
	require.NotEmpty(t, texts)
	for _, text := range texts {
		for _, n := range needles {
			require.NotContains(t, text, n)
		}
	}
}

func request(model, content string) llm.Request {
	return llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: content}}}
}

// contains reports whether any of texts contains needle.
func contains(texts []string, needle string) bool {
	for _, s := range texts {
		if strings.Contains(s, needle) {
			return true
		}
	}
	return false
}
