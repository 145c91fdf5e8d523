package llm_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/debrief-go/debrief/llm"
)

type benchVerdict struct {
	Reasoning string `json:"reasoning"`
	Evidence  []struct {
		Turn  int    `json:"turn"`
		Quote string `json:"quote"`
	} `json:"evidence"`
	Score float64 `json:"score"`
}

// BenchmarkGenerateStructured measures decoding and checking one answer of
// an instant model: an object against the plain-object schema (the fast
// path extraction takes), and a verdict against its schema, with and
// without a fast check written in Go.
func BenchmarkGenerateStructured(b *testing.B) {
	answer := func(content string) llm.Model {
		return llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
			return llm.Response{Content: content, FinishReason: llm.FinishStop}, nil
		})
	}
	req := llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Extract."}}}
	ctx := context.Background()

	object := llm.MustSchema("json_object", json.RawMessage(`{"type":"object"}`))
	extraction := answer(`{"task":"apartment_schedule","completion":"complete","caller_name":"Alexis","resolved":true,` +
		`"sentiment":"neutral","turns_to_resolution":6,"follow_up_needed":false}`)
	b.Run("object", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := llm.GenerateStructured[map[string]json.RawMessage](ctx, extraction, object, req); err != nil {
				b.Fatal(err)
			}
		}
	})

	verdict := llm.MustSchemaFor[benchVerdict]("verdict")
	judge := answer(`{"reasoning":"The agent stayed polite.","evidence":[{"turn":1,"quote":"please"}],"score":0.8}`)
	b.Run("schema", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := llm.GenerateStructured[benchVerdict](ctx, judge, verdict, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast-check", func(b *testing.B) {
		trust := llm.WithFastCheck(func([]byte) bool { return true }) // the cost of the check itself is the caller's
		b.ReportAllocs()
		for b.Loop() {
			if _, err := llm.GenerateStructured[benchVerdict](ctx, judge, verdict, req, trust); err != nil {
				b.Fatal(err)
			}
		}
	})
}
