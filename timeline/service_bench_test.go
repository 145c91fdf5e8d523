package timeline

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/debrief-go/debrief/llm"
)

// constModel answers every call with the same response.
type constModel struct{ resp llm.Response }

func (m constModel) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	return m.resp, ctx.Err()
}

// benchService runs one analysis after another through a service, from
// Create to the stored end, with a model that answers at once: what the
// service adds around the pipeline, its instrumentation included.
func benchService(b *testing.B, mod func(*Config)) {
	b.Helper()
	ctx := context.Background()
	model := constModel{llm.Response{Content: mustJSON(goodAnswer()), FinishReason: llm.FinishStop,
		Usage: llm.Usage{InputTokens: 1200, OutputTokens: 300}}}
	cfg := Config{Source: newFakeSource(callFlow()), Analyzer: AnalyzerConfig{Model: model, ModelKey: "best"}, Cooldown: -1}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := NewService(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close(ctx)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{Reanalyze: true}); err != nil {
			b.Fatal(err)
		}
		svc.Wait()
	}
}

// BenchmarkServiceAnalysis measures one analysis through the service with
// no tracer or meter provider set (the OpenTelemetry globals, no-ops), and
// with the SDK's providers, recording every span and measurement.
func BenchmarkServiceAnalysis(b *testing.B) {
	b.Run("no-providers", func(b *testing.B) { benchService(b, nil) })
	b.Run("sdk-providers", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		benchService(b, func(c *Config) { c.TracerProvider, c.MeterProvider = tp, mp })
	})
}

// BenchmarkTelemetryPerAnalysis measures what the instrumentation does for
// one analysis — its span and the three of its steps, the gauges, the
// counters and the histogram — alone, with no providers set.
func BenchmarkTelemetryPerAnalysis(b *testing.B) {
	tel := newTelemetry(nil, nil)
	ctx := context.Background()
	j := job{a: Analysis{ID: "00000000-0000-4000-8000-000000000001", ActiveflowID: flowA, Status: StatusCompleted}}
	rep := Report{Calls: 1, TotalEvents: 10, AnalysedEvents: 10, Usage: llm.Usage{InputTokens: 1200, OutputTokens: 300}}
	b.ReportAllocs()
	for b.Loop() {
		tel.running.Add(ctx, 1)
		sctx, span := tel.startAnalysis(ctx, j)
		for _, name := range []string{spanEvents, spanPrepare, spanModel} {
			_, step := tel.start(sctx, name)
			fail(sctx, step, nil)
			step.End()
		}
		tel.spent(sctx, rep)
		tel.ended(sctx, span, time.Second, j.a, rep, true)
		tel.running.Add(ctx, -1)
	}
}
