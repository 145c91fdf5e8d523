package llm_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// A host adapts its provider to llm.Model. Here a rule-based stand-in
// answers with JSON, as a real adapter would after calling its provider.
func ExampleModelFunc() {
	var m llm.Model = llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		if err := ctx.Err(); err != nil {
			return llm.Response{}, err
		}
		last := req.Messages[len(req.Messages)-1].Content
		answer := `{"sentiment":"neutral"}`
		if strings.Contains(last, "thank") {
			answer = `{"sentiment":"positive"}`
		}
		return llm.Response{Content: answer, Model: "rules-v1", FinishReason: llm.FinishStop,
			Usage: llm.Usage{InputTokens: int64(len(last) / 4), OutputTokens: 6}}, nil
	})

	resp, err := m.Generate(context.Background(), llm.Request{
		Model:    "rules",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "Great, thank you so much!"}},
	})
	fmt.Println(resp.Content, resp.Model, err)
	// Output: {"sentiment":"positive"} rules-v1 <nil>
}

// Grade is the answer a grading prompt asks for. The reasoning comes before
// the score, so the model writes it first.
type Grade struct {
	Reasoning string  `json:"reasoning"`
	Score     float64 `json:"score" jsonschema:"minimum=0,maximum=1"`
	Flag      *string `json:"flag" jsonschema:"enum=rude,enum=unsafe"`
}

// GenerateStructured validates the answer against the schema and, when it
// is wrong, shows the model its mistakes and asks again.
func ExampleGenerateStructured() {
	schema := llm.MustSchemaFor[Grade]("grade")
	model := llmtest.NewScripted(
		llmtest.Reply(`{"reasoning":"Polite and complete.","score":"0.9","flag":null}`), // a string score
		llmtest.Reply(`{"reasoning":"Polite and complete.","score":0.9,"flag":null}`),
	)
	res, err := llm.GenerateStructured[Grade](context.Background(), model, schema, llm.Request{
		Model:    "grader",
		System:   "Grade the agent's answer from 0 to 1.",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: `{"answer":"Your refund is on its way."}`}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("score %.1f after %d attempts\n", res.Value.Score, res.Attempts)
	repair := model.Requests()[1].Messages[2].Content
	fmt.Println(strings.Split(repair, "\n")[2])
	// Output:
	// score 0.9 after 2 attempts
	// - $.score: got string, want number
}

func ExampleStrictSchema() {
	raw, err := llm.StrictSchema[Grade]()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(raw))
	// Output: {"properties":{"reasoning":{"type":"string"},"score":{"type":"number","maximum":1,"minimum":0},"flag":{"anyOf":[{"type":"string","enum":["rude","unsafe"]},{"type":"null"}]}},"additionalProperties":false,"type":"object","required":["reasoning","score","flag"]}
}

// Chain composes the wrappers around a provider. Here the provider fails
// one call in two with a transient error, and the retry wrapper absorbs it.
func ExampleChain() {
	provider := llmtest.InjectFaults(
		llmtest.Handler(func(context.Context, llm.Request) (llm.Response, error) {
			return llm.Response{Content: `{"ok":true}`, Usage: llm.Usage{InputTokens: 1200, OutputTokens: 40}}, nil
		}),
		42, llmtest.Faults{Transient: 0.5})

	meter := llm.NewMeter(llm.PriceTable{"small": {Input: 0.15, Output: 0.60}})
	model := llm.Chain(provider,
		meter.Middleware(),
		llm.WithCache(llm.NewLRUCache(1000, 64<<20)),
		llm.WithRetry(llm.RetryOptions{
			MaxAttempts: 10,
			Sleep:       func(context.Context, time.Duration) error { return nil }, // no real waits in an example
			Rand:        rand.New(rand.NewPCG(1, 1)),
		}),
		llm.WithConcurrencyLimit(8),
		llm.WithRateLimit(rate.NewLimiter(rate.Inf, 1)),
	)

	req := llm.Request{Model: "small", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}}}
	for range 3 {
		if _, err := model.Generate(context.Background(), req); err != nil {
			fmt.Println(err)
		}
	}
	r := meter.Report()
	fmt.Printf("calls %d, cache hits %d, input tokens %d, cost $%.6f\n",
		r.Models[0].Calls, r.Models[0].CacheHits, r.Usage.InputTokens, r.Cost)
	// Output: calls 3, cache hits 2, input tokens 1200, cost $0.000204
}

// WithRetry waits out a rate limit for as long as the provider asks.
func ExampleWithRetry() {
	provider := llmtest.NewScripted(
		llmtest.Fail(&llm.Error{Kind: llm.ErrRateLimited, StatusCode: 429, RetryAfter: 3 * time.Second}),
		llmtest.Reply(`{}`),
	)
	model := llm.Chain(provider, llm.WithRetry(llm.RetryOptions{
		Sleep: func(_ context.Context, d time.Duration) error {
			fmt.Println("waiting", d.Round(time.Second)) // 3s and a little jitter
			return nil
		},
	}))
	_, err := model.Generate(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	fmt.Println("err:", err)
	// Output:
	// waiting 3s
	// err: <nil>
}

func ExampleMeter() {
	cachedPrice := 1.25
	meter := llm.NewMeter(llm.PriceTable{"gpt-4o": {Input: 2.50, CachedInput: &cachedPrice, Output: 10}})
	meter.Record("gpt-4o", llm.Usage{InputTokens: 200_000, CachedInputTokens: 100_000, OutputTokens: 10_000})
	meter.Record("local-llama", llm.Usage{InputTokens: 50_000, OutputTokens: 5_000})
	r := meter.Report()
	fmt.Printf("cost $%.4f, tokens %d, unpriced %v\n", r.Cost, r.Usage.Total(), r.Unpriced)
	// Output: cost $0.4750, tokens 265000, unpriced [local-llama]
}

// A definition's extraction model runs on a local server and its judge on a
// hosted provider: the router sends each request by its model key.
func ExampleRouter() {
	provider := func(name string) llm.Model {
		return llm.ModelFunc(func(_ context.Context, req llm.Request) (llm.Response, error) {
			return llm.Response{Content: `{"served_by":"` + name + `","model":"` + req.Model + `"}`}, nil
		})
	}
	router, err := llm.NewRouter(provider("hosted"),
		llm.Route{Key: "local/", Prefix: true, Strip: true, Model: provider("local")})
	if err != nil {
		panic(err)
	}
	for _, key := range []string{"local/llama3.1", "gpt-4o"} {
		resp, _ := router.Generate(context.Background(), llm.Request{Model: key, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
		fmt.Println(resp.Content)
	}
	// Output:
	// {"served_by":"local","model":"llama3.1"}
	// {"served_by":"hosted","model":"gpt-4o"}
}
