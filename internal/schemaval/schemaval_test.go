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
	assert.Equal(t, []schemaval.Problem{
		{Path: "$.at", Message: "'yesterday' is not valid date-time: less than 20 characters long"},
		{Path: "$.id", Message: "'nope' is not valid uuid: must have 5 elements"},
		{Path: "$.items[1].n", Message: "got string, want integer"},
		{Path: `$.map["0"]`, Message: "got string, want integer"},
		{Path: `$.map["a b"]`, Message: "got number, want integer"},
		{Path: "$.opt", Message: "missing property 'k'"},
	}, got)
	assert.Equal(t, []schemaval.Problem{{Path: "$", Message: "not valid JSON: unexpected EOF"}}, s.ValidateJSON([]byte(`{"id":`)))
}

func TestPathSteps(t *testing.T) {
	assert.Equal(t, "$", schemaval.Path(nil, nil))
	assert.Equal(t, `$.a["0"].b`, schemaval.Path(nil, []string{"a", "0", "b"}), "without the instance, tokens are keys")
	assert.Equal(t, ".turn_id", schemaval.Key("turn_id"))
	assert.Equal(t, `["x-y"]`, schemaval.Key("x-y"))
	assert.Equal(t, `["<tag>"]`, schemaval.Key("<tag>"), "no HTML escaping in paths")
	assert.Equal(t, "[3]", schemaval.Index(3))
}

func TestValidateIsDeterministic(t *testing.T) {
	s, err := schemaval.Compile([]byte(`{"type":"object","properties":{"a":{"type":"integer","maximum":10},"b":{"type":"string"}},
		"required":["a","b","c","d"],"additionalProperties":false}`))
	require.NoError(t, err)
	doc := []byte(`{"a":1000,"zz":1,"yy":2,"xx":3,"b":4,"ww":5}`)
	first := s.ValidateJSON(doc)
	assert.Equal(t, []schemaval.Problem{
		{Path: "$", Message: "additional properties 'ww', 'xx', 'yy', 'zz' not allowed"},
		{Path: "$", Message: "missing properties 'c', 'd'"},
		{Path: "$.a", Message: "maximum: got 1000, want 10"},
		{Path: "$.b", Message: "got number, want string"},
	}, first, "sorted by path, lists inside messages sorted, numbers written plainly")
	for range 100 {
		require.Equal(t, first, s.ValidateJSON(doc))
	}
}
