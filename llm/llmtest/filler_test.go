package llmtest_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func TestFillerAnswersEverySchemaValidly(t *testing.T) {
	type Inner struct {
		Label string   `json:"label"`
		Tags  []string `json:"tags" jsonschema:"minItems=2"`
	}
	type Answer struct {
		Reasoning string   `json:"reasoning"`
		Kind      string   `json:"kind" jsonschema:"enum=alpha,enum=beta,enum=gamma"`
		Score     float64  `json:"score" jsonschema:"minimum=0,maximum=1"`
		Count     int      `json:"count" jsonschema:"minimum=3"`
		Below     float64  `json:"below" jsonschema:"maximum=-2"`
		Flag      bool     `json:"flag"`
		Maybe     *string  `json:"maybe" jsonschema:"nullable"`
		Inner     Inner    `json:"inner"`
		Items     []Inner  `json:"items"`
		Any       []string `json:"any"`
	}
	schema := llm.MustSchemaFor[Answer]("answer")
	m := llmtest.Filler{Text: "demo text"}
	resp, err := m.Generate(context.Background(), llm.Request{Model: "k", Schema: schema.JSON(), SchemaName: "answer",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "It is clearly BETA."}}})
	require.NoError(t, err)
	assert.Empty(t, schema.Problems([]byte(resp.Content)), "%s", resp.Content)
	var a Answer
	require.NoError(t, json.Unmarshal([]byte(resp.Content), &a))
	assert.Equal(t, "beta", a.Kind, "the enum value the messages mention")
	assert.Equal(t, "demo text", a.Reasoning)
	assert.Equal(t, 0.5, a.Score)
	assert.Equal(t, 3, a.Count)
	assert.Equal(t, -2.0, a.Below)
	require.NotNil(t, a.Maybe, "a value rather than null")
	assert.Len(t, a.Inner.Tags, 2, "the fewest items allowed")
	assert.Equal(t, "k", resp.Model)
	assert.Equal(t, llm.FinishStop, resp.FinishReason)

	// Through GenerateStructured, with the library's own strict schemas.
	res, err := llm.GenerateStructured[Answer](context.Background(), llmtest.Filler{}, schema, llm.Request{Model: "k",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	require.NoError(t, err)
	assert.Equal(t, "alpha", res.Value.Kind, "the first value when none is mentioned")
	assert.Equal(t, "filler", res.Value.Reasoning)

	raw := llm.MustSchema("c", json.RawMessage(`{"type":"object","properties":{"fixed":{"const":"exactly"},"either":{"anyOf":[{"type":"null"},{"type":"integer","minimum":7}]}},"required":["fixed","either"],"additionalProperties":false}`))
	resp, err = m.Generate(context.Background(), llm.Request{Model: "k", Schema: raw.JSON(), Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"fixed":"exactly","either":7}`, resp.Content)

	_, err = m.Generate(context.Background(), llm.Request{Model: "k", Schema: json.RawMessage(`{`), Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	assert.ErrorIs(t, err, llm.ErrInvalidRequest)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Generate(ctx, llm.Request{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestFillerBoundsWhatItWrites(t *testing.T) {
	for _, schema := range []string{
		`{"type":"object","properties":{"a":{"type":"array","minItems":-1,"items":{"type":"string"}}},"required":["a"],"additionalProperties":false}`,
		`{"type":"object","properties":{"a":{"type":"array","minItems":300000000,"items":{"type":"string"}}},"required":["a"],"additionalProperties":false}`,
	} {
		resp, err := llmtest.Filler{}.Generate(context.Background(), llm.Request{Model: "k", Schema: json.RawMessage(schema),
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
		require.NoError(t, err)
		var v struct{ A []string }
		require.NoError(t, json.Unmarshal([]byte(resp.Content), &v))
		assert.LessOrEqual(t, len(v.A), 1000)
	}
}
