package llm_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
)

const verdictSchema = `{
  "type": "object",
  "properties": {
    "reasoning": {"type": "string"},
    "evidence": {"type": "array", "items": {
      "type": "object",
      "properties": {"turn": {"type": "integer", "minimum": 0}, "quote": {"type": "string"}},
      "required": ["turn", "quote"], "additionalProperties": false}},
    "label": {"anyOf": [{"type": "string", "enum": ["good", "bad"]}, {"type": "null"}]},
    "score": {"type": "number", "minimum": 0, "maximum": 1}
  },
  "required": ["reasoning", "evidence", "label", "score"],
  "additionalProperties": false
}`

func TestNewSchema(t *testing.T) {
	s, err := llm.NewSchema("verdict", json.RawMessage(verdictSchema))
	require.NoError(t, err)
	assert.Equal(t, "verdict", s.Name())
	assert.NotContains(t, string(s.JSON()), "\n", "the schema is kept compacted")
	assert.JSONEq(t, verdictSchema, string(s.JSON()))

	tests := []struct {
		name, schemaName, raw, want string
	}{
		{"empty name", "", `{}`, "schema name"},
		{"name with spaces", "my schema", `{}`, "schema name"},
		{"name too long", string(make([]byte, 65)), `{}`, "schema name"},
		{"invalid JSON", "x", `{"type":`, "not valid JSON"},
		{"does not compile", "x", `{"type": 12}`, "does not compile"},
		{"external reference", "x", `{"$ref": "file:///etc/passwd"}`, "does not compile"},
		{"remote reference", "x", `{"$ref": "https://example.com/s.json"}`, "does not compile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := llm.NewSchema(tt.schemaName, json.RawMessage(tt.raw))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	assert.Panics(t, func() { llm.MustSchema("x", json.RawMessage(`{"type": 12}`)) })
}

func TestSchemaProblems(t *testing.T) {
	s := llm.MustSchema("verdict", json.RawMessage(verdictSchema))
	tests := []struct {
		name   string
		answer string
		want   []llm.Problem
	}{
		{"valid", `{"reasoning":"r","evidence":[{"turn":1,"quote":"q"}],"label":null,"score":0.5}`, nil},
		{"not JSON", `{"reasoning":`, []llm.Problem{{Path: "$", Message: "not valid JSON: unexpected EOF"}}},
		{"wrong type", `{"reasoning":"r","evidence":[],"label":"good","score":"high"}`,
			[]llm.Problem{{Path: "$.score", Message: "got string, want number"}}},
		{"missing and extra", `{"reasoning":"r","evidence":[],"label":null,"confidence":1}`,
			[]llm.Problem{
				{Path: "$", Message: "additional properties 'confidence' not allowed"},
				{Path: "$", Message: "missing property 'score'"},
			}},
		{"nested array item", `{"reasoning":"r","evidence":[{"turn":1,"quote":"q"},{"turn":-2,"quote":5}],"label":null,"score":1}`,
			[]llm.Problem{
				{Path: "$.evidence[1].quote", Message: "got number, want string"},
				{Path: "$.evidence[1].turn", Message: "minimum: got -2, want 0"},
			}},
		{"nullable enum without the null noise", `{"reasoning":"r","evidence":[],"label":"meh","score":1}`,
			[]llm.Problem{{Path: "$.label", Message: "value must be one of 'good', 'bad'"}}},
		{"root of the wrong type", `[1,2]`, []llm.Problem{{Path: "$", Message: "got array, want object"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, s.Problems([]byte(tt.answer)))
		})
	}
}

func TestProblemPathsForAwkwardKeys(t *testing.T) {
	s := llm.MustSchema("m", json.RawMessage(`{"type":"object","additionalProperties":{"type":"array","items":{"type":"string"}}}`))
	got := s.Problems([]byte(`{"0":["a",1],"a.b":[2],"plain_key":[true]}`))
	assert.Equal(t, []llm.Problem{
		{Path: `$.plain_key[0]`, Message: "got boolean, want string"},
		{Path: `$["0"][1]`, Message: "got number, want string"},
		{Path: `$["a.b"][0]`, Message: "got number, want string"},
	}, got)
	assert.Equal(t, "$.a: broken", llm.Problem{Path: "$.a", Message: "broken"}.String())
}
