package otelllm_test

import (
	"context"
	"fmt"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
	"github.com/debrief-go/debrief/llm/otelllm"
)

// The middleware goes outermost, so that its span covers the whole call and
// sees the retries and waits of the middlewares inside it. A host passes its
// own providers (here an SDK tracer recording in memory and a meter whose
// reader the host would export), or none to use the OpenTelemetry globals.
func ExampleMiddleware() {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) }()

	provider := llmtest.NewScripted( // stands in for the host's adapter
		llmtest.Fail(&llm.Error{Kind: llm.ErrTransient, StatusCode: 503}),
		llmtest.ReplyJSON(map[string]string{"sentiment": "positive"}).WithUsage(llm.Usage{InputTokens: 120, OutputTokens: 8}),
	)
	model := llm.Chain(provider,
		otelllm.Middleware(otelllm.Config{TracerProvider: tp, MeterProvider: mp, ProviderName: "openai", ServerAddress: "api.openai.com", ServerPort: 443}),
		llm.WithRetry(llm.RetryOptions{BaseDelay: time.Millisecond}),
		llm.WithConcurrencyLimit(8),
	)

	_, err := model.Generate(context.Background(), llm.Request{
		Model:    "gpt-4o-mini",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "Thanks, that fixed it!"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, span := range exporter.GetSpans() {
		fmt.Println(span.Name, span.SpanKind)
		for _, kv := range span.Attributes {
			switch kv.Key {
			case "gen_ai.provider.name", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "debrief.llm.retries":
				fmt.Printf("  %s=%s\n", kv.Key, kv.Value.Emit())
			}
		}
		for _, e := range span.Events {
			for _, kv := range e.Attributes {
				if kv.Key == "error.type" {
					fmt.Printf("  event %s: %s=%s\n", e.Name, kv.Key, kv.Value.Emit())
				}
			}
		}
	}
	// Output:
	// chat gpt-4o-mini client
	//   gen_ai.provider.name=openai
	//   gen_ai.usage.input_tokens=120
	//   gen_ai.usage.output_tokens=8
	//   debrief.llm.retries=1
	//   event retry: error.type=transient
}
