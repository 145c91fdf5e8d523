package llmtest_test

import (
	"context"
	"fmt"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// A scripted model plays a conversation with the code under test and keeps
// every request for the test to inspect.
func ExampleNewScripted() {
	model := llmtest.NewScripted(
		llmtest.Fail(&llm.Error{Kind: llm.ErrTransient, StatusCode: 503}),
		llmtest.Reply(`{"intent":"billing"}`).WithUsage(llm.Usage{InputTokens: 120, OutputTokens: 8}),
	)
	ctx := context.Background()
	req := llm.Request{Model: "extractor", Messages: []llm.Message{{Role: llm.RoleUser, Content: "I was charged twice."}}}

	_, err := model.Generate(ctx, req)
	fmt.Println("first:", err)
	resp, _ := model.Generate(ctx, req)
	fmt.Println("second:", resp.Content, resp.Usage.InputTokens)
	fmt.Println("requests:", model.Len(), "left:", model.Remaining())
	// Output:
	// first: llm: transient failure (status 503)
	// second: {"intent":"billing"} 120
	// requests: 2 left: 0
}

// The fault injector makes any model fail at chosen rates, the same way for
// the same seed, to test that the code around it copes.
func ExampleInjectFaults() {
	healthy := llmtest.Handler(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: `{"ok":true}`}, nil
	})
	flaky := llmtest.InjectFaults(healthy, 2026, llmtest.Faults{RateLimited: 0.1, Transient: 0.2, MalformedJSON: 0.1})
	for i := range 1000 {
		req := llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: fmt.Sprint("conversation ", i)}}}
		_, _ = flaky.Generate(context.Background(), req)
	}
	c := flaky.Counts()
	fmt.Printf("untouched %d, rate limited %d, transient %d, malformed %d\n",
		c[llmtest.NoFault], c[llmtest.FaultRateLimited], c[llmtest.FaultTransient], c[llmtest.FaultMalformedJSON])
	// Output: untouched 572, rate limited 115, transient 221, malformed 92
}
