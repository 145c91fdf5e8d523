package schemaval_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/internal/schemaval"
)

func TestCompileErrors(t *testing.T) {
	for raw, want := range map[string]string{
		`{"type":`:                               "not valid JSON",
		`{"type": 3}`:                            "does not compile",
		`{"$ref": "file:///etc/hostname"}`:       "does not compile",
		`{"$ref": "https://example.com/x.json"}`: "does not compile",
	} {
		_, err := schemaval.Compile([]byte(raw))
		require.Error(t, err, raw)
		assert.Contains(t, err.Error(), want, raw)
	}
}

func TestValidateAssertsFormatsAndLocatesProblems(t *testing.T) {
	s, err := schemaval.Compile([]byte(`{
		"type": "object",
		"properties": {
			"id": {"type": "string", "format": "uuid"},
			"at": {"type": "string", "format": "date-time"},
			"items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
			"opt": {"anyOf": [{"type": "object", "required": ["k"]}, {"type": "null"}]},
			"map": {"type": "object", "additionalProperties": {"type": "integer"}}
		},
		"required": ["id"]
	}`))
	require.NoError(t, err)

	assert.Nil(t, s.ValidateJSON([]byte(`{"id":"6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9","at":"2024-03-01T10:00:05Z","items":[{"n":1}],"opt":null}`)))
	got := s.ValidateJSON([]byte(`{"id":"nope","at":"yesterday","items":[{"n":1},{"n":"2"}],"opt":{},"map":{"0":"x","a b":1.5}}`))
	assert.ElementsMatch(t, []schemaval.Problem{
		{Path: "$.id", Message: "'nope' is not valid uuid: must have 5 elements"},
		{Path: "$.at", Message: "'yesterday' is not valid date-time: less than 20 characters long"},
		{Path: "$.items[1].n", Message: "got string, want integer"},
		{Path: "$.opt", Message: "missing property 'k'"},
		{Path: `$.map["0"]`, Message: "got string, want integer"},
		{Path: `$.map["a b"]`, Message: "got number, want integer"},
	}, got)
	assert.Equal(t, []schemaval.Problem{{Path: "$", Message: "not valid JSON: unexpected EOF"}}, s.ValidateJSON([]byte(`{"id":`)))
}

func TestPathSteps(t *testing.T) {
	assert.Equal(t, "$", schemaval.Path(nil, nil))
	assert.Equal(t, `$.a["0"].b`, schemaval.Path(nil, []string{"a", "0", "b"}), "without the instance, tokens are keys")
	assert.Equal(t, ".turn_id", schemaval.Key("turn_id"))
	assert.Equal(t, `["x-y"]`, schemaval.Key("x-y"))
	assert.Equal(t, "[3]", schemaval.Index(3))
}
