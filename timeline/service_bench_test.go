package timeline

import (
	"context"
	"testing"

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
// no tracer or meter provider set: the OpenTelemetry globals, no-ops.
func BenchmarkServiceAnalysis(b *testing.B) {
	b.Run("no-providers", func(b *testing.B) { benchService(b, nil) })
}
