package otelllm_test

import (
	"context"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/otelllm"
)

// BenchmarkMiddleware measures what the middleware adds to a call of an
// instant model: none at all (bare); OpenTelemetry's no-op providers, with
// which the middleware steps aside (noop); the OpenTelemetry globals with no
// SDK installed, the default (global); an SDK tracer sampling every span
// into an exporter that drops them and an SDK meter (sdk); and the same
// recording the content through the default redactor (sdk-content).
func BenchmarkMiddleware(b *testing.B) {
	instant := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: `{"sentiment":"positive","score":0.9}`, Model: "gpt-4o-mini-2024-07-18",
			FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 812, OutputTokens: 23, CachedInputTokens: 512}}, nil
	})
	temperature := 0.0
	req := llm.Request{Model: "gpt-4o-mini", System: "Grade the agent's answer.", Temperature: &temperature,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "Thanks, that fixed it! Mail me at jane@example.com."}}}
	ctx := context.Background()

	sdk := func(b *testing.B) otelllm.Config {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSyncer(tracetest.NewNoopExporter()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = tp.Shutdown(ctx); _ = mp.Shutdown(ctx) })
		return otelllm.Config{TracerProvider: tp, MeterProvider: mp, ServerAddress: "api.openai.com", ServerPort: 443}
	}
	run := func(b *testing.B, m llm.Model) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Generate(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("bare", func(b *testing.B) { run(b, instant) })
	b.Run("noop", func(b *testing.B) {
		run(b, otelllm.Middleware(otelllm.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})(instant))
	})
	b.Run("global", func(b *testing.B) { run(b, otelllm.Middleware(otelllm.Config{})(instant)) })
	b.Run("sdk", func(b *testing.B) { run(b, otelllm.Middleware(sdk(b))(instant)) })
	b.Run("sdk-content", func(b *testing.B) {
		cfg := sdk(b)
		cfg.RecordContent = true
		run(b, otelllm.Middleware(cfg)(instant))
	})
}
