package analysis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/otelllm"
)

// instantModel answers every request at once with a fixed, valid answer.
var instantModel = llm.ModelFunc(func(_ context.Context, req llm.Request) (llm.Response, error) {
	if req.SchemaName == "verdict" {
		return llm.Response{Content: `{"reasoning":"ok","evidence":[{"turn":1,"quote":"Done"}],"score":0.9}`}, nil
	}
	return llm.Response{Content: `{"intent":"billing","resolved":true}`}, nil
})

// BenchmarkRunHarness measures the harness's own cost of a run — selection,
// executor, extraction, judging and accuracy bookkeeping, store writes,
// aggregation — per conversation, with a model that answers instantly.
func BenchmarkRunHarness(b *testing.B) {
	benchmarkRunHarness(b, nil)
}

// BenchmarkRunHarnessTraced is BenchmarkRunHarness with the OpenTelemetry
// SDK recording every span (sampled always, into a no-op exporter) and
// every metric (into a manual reader).
func BenchmarkRunHarnessTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	benchmarkRunHarness(b, func(ec *analysis.ExecutorConfig) {
		ec.TracerProvider, ec.MeterProvider = tp, mp
		ec.Model = llm.Chain(ec.Model, otelllm.Middleware(otelllm.Config{TracerProvider: tp, MeterProvider: mp}))
	})
}

func benchmarkRunHarness(b *testing.B, tweak func(*analysis.ExecutorConfig)) {
	const n = 200
	e := newEnv(b, instantModel, func(_ *analysis.Config, ec *analysis.ExecutorConfig) {
		ec.LeaseDuration = time.Hour
		if tweak != nil {
			tweak(ec)
		}
	})
	ingest(b, e, n)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.svc.StartRun(ctx, scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll}); err != nil {
			b.Fatal(err)
		}
		if n, err := e.exec.Drain(ctx); err != nil || n == 0 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/conversation")
}
