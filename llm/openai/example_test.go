package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/openai"
)

// Call an OpenAI-compatible server — here a stand-in answering every
// request alike — with retries owned by llm.WithRetry.
func ExampleNew() {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": `{"intent":"billing"}`}}},
			"usage": map[string]any{"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
		})
	}))
	defer server.Close()

	provider, err := openai.New(openai.Config{BaseURL: server.URL + "/v1", APIKey: "sk-..."})
	if err != nil {
		panic(err)
	}
	model := llm.Chain(provider, llm.WithRetry(llm.RetryOptions{}))
	type Answer struct {
		Intent string `json:"intent" jsonschema:"enum=billing,enum=support"`
	}
	res, err := llm.GenerateStructured[Answer](context.Background(), model, llm.MustSchemaFor[Answer]("answer"), llm.Request{
		Model:    "gpt-4o-mini",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "I was charged twice."}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Value.Intent, res.Usage.InputTokens, res.Response.Model)
	// Output: billing 50 gpt-4o-mini-2024-07-18
}
