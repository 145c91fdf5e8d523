// Command customprovider shows how a host brings a model provider whose
// wire format is not OpenAI's — here the Anthropic Messages API, with
// structured output through a forced tool call — to debrief as an
// llm.Model over net/http, and makes it production-ready with the llm
// package's cache, retry and rate-limit wrappers.
//
// With ANTHROPIC_API_KEY set it calls the real API (model
// claude-3-5-haiku-latest, or $ANTHROPIC_MODEL); without, an in-process
// fake speaking the same wire format answers, and rate-limits every second
// request, so that the program runs offline and shows the retries at work.
//
//	go run ./examples/customprovider
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"time"

	"golang.org/x/time/rate"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

var transcripts = []extract.Transcript{
	{{Role: "caller", Content: "I was charged twice for order 88412."}, {Role: "agent", Content: "I've refunded the second charge."}},
	{{Role: "caller", Content: "My router keeps dropping the connection."}, {Role: "agent", Content: "Please restart it; call back if it persists."}},
	{{Role: "caller", Content: "I was charged twice for order 88412."}, {Role: "agent", Content: "I've refunded the second charge."}},
}

func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	provider := &Anthropic{APIKey: getenv("ANTHROPIC_API_KEY")}
	modelKey := getenv("ANTHROPIC_MODEL")
	if modelKey == "" {
		modelKey = "claude-3-5-haiku-latest"
	}
	var fake *fakeAnthropic
	if provider.APIKey == "" {
		fake = newFakeAnthropic(2)
		srv := httptest.NewServer(fake)
		defer srv.Close()
		provider.BaseURL, provider.APIKey = srv.URL, "offline"
		fmt.Fprintln(w, "Provider: an in-process fake of the Anthropic Messages API (set ANTHROPIC_API_KEY for the real one).")
	}

	// Production wrappers, outermost first: count what is spent, answer
	// repeats from the cache, retry what may pass (honouring retry-after),
	// and pace the calls.
	meter := llm.NewMeter(llm.PriceTable{modelKey: {Input: 0.80, Output: 4.00}})
	model := llm.Chain(provider,
		meter.Middleware(),
		llm.WithCache(llm.NewLRUCache(1000, 32<<20)),
		llm.WithRetry(llm.RetryOptions{MaxAttempts: 5, BaseDelay: 50 * time.Millisecond}),
		llm.WithRateLimit(rate.NewLimiter(rate.Limit(20), 5)),
	)

	ex, err := extract.New(extract.Config{
		Model: modelKey,
		FieldSet: extract.FieldSet{
			{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support", "other"}, Required: true},
			{Key: "order_id", Type: extract.String, Description: "The order number the caller gives, if any."},
			{Key: "resolved", Type: extract.Boolean},
		},
	})
	if err != nil {
		return err
	}
	for i, t := range transcripts {
		res, err := ex.Extract(ctx, model, t)
		if err != nil {
			return fmt.Errorf("conversation %d: %w", i+1, err)
		}
		fields, _ := json.Marshal(res.Fields)
		fmt.Fprintf(w, "conversation %d: %s\n", i+1, fields)
	}
	if fake != nil {
		requests, limited := fake.counts()
		fmt.Fprintf(w, "provider: %d HTTP requests, %d rate-limited and retried; the repeated conversation came from the cache\n", requests, limited)
	}
	r := meter.Report()
	fmt.Fprintf(w, "usage: %d input + %d output tokens, $%.6f\n", r.Usage.InputTokens, r.Usage.OutputTokens, r.Cost)
	return nil
}
