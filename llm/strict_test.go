package llm_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/invopop/jsonschema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

type evidence struct {
	Turn  int    `json:"turn" jsonschema:"minimum=0"`
	Quote string `json:"quote"`
}

type verdict struct {
	Reasoning string     `json:"reasoning" jsonschema:"description=Why the score is what it is."`
	Evidence  []evidence `json:"evidence"`
	Score     float64    `json:"score" jsonschema:"minimum=0,maximum=1"`
}

type person struct {
	Name  string  `json:"name"`
	Email *string `json:"email"`
}

type Audit struct {
	CreatedBy string `json:"createdBy"`
	Reviewed  bool   `json:"reviewed,omitempty"`
}

type everything struct {
	Name     string    `json:"name"`
	Nickname *string   `json:"nickname"`
	Age      int       `json:"age,omitempty"`
	Tags     []string  `json:"tags"`
	Labels   []string  `json:"labels,omitempty"`
	Status   string    `json:"status" jsonschema:"enum=open,enum=closed"`
	Priority *string   `json:"priority" jsonschema:"enum=low,enum=high"`
	Owner    *person   `json:"owner"`
	Reviewer person    `json:"reviewer"`
	Watchers []*person `json:"watchers"`
	When     time.Time `json:"when"`
	Nested   struct {
		A bool     `json:"a"`
		B *float64 `json:"b,omitempty"`
	} `json:"nested"`
	Note string `json:"note" jsonschema:"nullable"`
	Audit
	Ignored    string `json:"-"`
	unexported int
}

type node struct {
	Value    string `json:"value"`
	Children []node `json:"children"`
}

type tree struct {
	Name string `json:"name"`
	Root *node  `json:"root"`
}

type pair[T any] struct {
	Left  T `json:"left"`
	Right T `json:"right"`
}

type withPair struct {
	P pair[int] `json:"p"`
}

func strictOf[T any](t *testing.T) json.RawMessage {
	t.Helper()
	raw, err := llm.StrictSchema[T]()
	require.NoError(t, err)
	return raw
}

func TestStrictSchemaGolden(t *testing.T) {
	cases := map[string]json.RawMessage{
		"verdict":    strictOf[verdict](t),
		"everything": strictOf[*everything](t),
		"node":       strictOf[node](t),
		"tree":       strictOf[tree](t),
		"generic":    strictOf[withPair](t),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, llm.CheckStrict(raw))
			_, err := llm.NewSchema(name, raw)
			require.NoError(t, err, "the schema compiles")

			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, raw, "", "  "))
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", "strict", name+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./llm -update to create the golden file")
			assert.Equal(t, string(want), pretty.String())
		})
	}
}

func TestStrictSchemaRules(t *testing.T) {
	var doc map[string]any
	require.NoError(t, json.Unmarshal(strictOf[everything](t), &doc))
	props := doc["properties"].(map[string]any)

	assert.Equal(t, "object", doc["type"], "the root is an object, not a $ref")
	assert.NotContains(t, doc, "$ref")
	assert.Equal(t, false, doc["additionalProperties"])
	assert.ElementsMatch(t, []any{"name", "nickname", "age", "tags", "labels", "status", "priority", "owner",
		"reviewer", "watchers", "when", "nested", "note", "createdBy", "reviewed"}, doc["required"],
		"every property is required; embedded fields are promoted; ignored and unexported ones are absent")

	assert.Equal(t, "string", props["name"].(map[string]any)["type"], "a required field is not nullable")
	assert.Equal(t, []any{"string", "null"}, props["nickname"].(map[string]any)["type"], "a pointer is nullable")
	assert.Equal(t, []any{"integer", "null"}, props["age"].(map[string]any)["type"], "omitempty is nullable")
	assert.Equal(t, []any{"array", "null"}, props["labels"].(map[string]any)["type"])
	assert.Equal(t, "array", props["tags"].(map[string]any)["type"])
	assert.Equal(t, []any{"boolean", "null"}, props["reviewed"].(map[string]any)["type"])

	priority := props["priority"].(map[string]any)
	assert.Equal(t, []any{map[string]any{"type": "string", "enum": []any{"low", "high"}}, map[string]any{"type": "null"}},
		priority["anyOf"], "a nullable enum uses anyOf, so null need not be in the enum")
	owner := props["owner"].(map[string]any)
	assert.Equal(t, []any{map[string]any{"$ref": "#/$defs/person"}, map[string]any{"type": "null"}}, owner["anyOf"])
	note := props["note"].(map[string]any)
	assert.Equal(t, []any{"string", "null"}, note["type"], `jsonschema:"nullable" becomes a type array, not oneOf`)

	raw := strictOf[everything](t)
	assert.NotContains(t, string(raw), "oneOf")
	assert.NotContains(t, string(raw), "$schema")
	assert.NotContains(t, string(raw), "$id")

	order := propertyOrder(t, strictOf[verdict](t))
	assert.Equal(t, []string{"reasoning", "evidence", "score"}, order, "properties keep the order of the Go fields")
}

func TestStrictSchemaRecursion(t *testing.T) {
	var doc map[string]any
	require.NoError(t, json.Unmarshal(strictOf[node](t), &doc))
	children := doc["properties"].(map[string]any)["children"].(map[string]any)
	assert.Equal(t, map[string]any{"$ref": "#"}, children["items"], "a reference to the root type is #")
	assert.NotContains(t, doc, "$defs")

	s, err := llm.SchemaFor[node]("node")
	require.NoError(t, err)
	assert.Nil(t, s.Problems([]byte(`{"value":"a","children":[{"value":"b","children":[]}]}`)))
	assert.NotNil(t, s.Problems([]byte(`{"value":"a","children":[{"value":"b"}]}`)))
}

func TestStrictSchemaValidatesTheGoValues(t *testing.T) {
	s, err := llm.SchemaFor[everything]("everything")
	require.NoError(t, err)
	email := "a@example.com"
	v := everything{Name: "n", Tags: []string{}, Status: "open", Reviewer: person{Name: "r", Email: &email},
		Watchers: []*person{{Name: "w"}}, When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	// omitempty fields are absent in Go's encoding but required by the strict
	// schema; a model fills them with null.
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"age", "labels", "reviewed"} {
		m[k] = nil
	}
	m["nested"].(map[string]any)["b"] = nil
	b, err = json.Marshal(m)
	require.NoError(t, err)
	assert.Nil(t, s.Problems(b))

	var back everything
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, v.Reviewer, back.Reviewer)
}

func TestStrictSchemaErrors(t *testing.T) {
	type withMap struct {
		M map[string]int `json:"m"`
	}
	type withAny struct {
		X any `json:"x"`
	}
	type withRaw struct {
		R json.RawMessage `json:"r"`
	}
	type nestedMap struct {
		Items []withMap `json:"items"`
	}
	type withBytes struct {
		B []byte `json:"b"`
	}
	type withURL struct {
		U url.URL `json:"u"`
	}
	type withIP struct {
		IP net.IP `json:"ip"`
	}
	tests := []struct {
		name string
		gen  func() (json.RawMessage, error)
		want string
	}{
		{"bytes", llm.StrictSchema[withBytes], "withBytes.b is a byte slice"},
		{"url", llm.StrictSchema[withURL], "withURL.u is a url.URL"},
		{"ip", llm.StrictSchema[withIP], "withIP.ip is a net.IP"},
		{"map", llm.StrictSchema[withMap], "withMap.m is a map"},
		{"interface", llm.StrictSchema[withAny], "withAny.x is an interface"},
		{"raw message", llm.StrictSchema[withRaw], "withRaw.r is json.RawMessage"},
		{"map in a definition", llm.StrictSchema[nestedMap], "withMap.m is a map"},
		{"string root", llm.StrictSchema[string], "the root must be a struct"},
		{"slice root", llm.StrictSchema[[]verdict], "the root must be a struct"},
		{"time root", llm.StrictSchema[time.Time], "the root must be a struct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.gen()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := llm.SchemaFor[withMap]("x")
	assert.Error(t, err)
	assert.Panics(t, func() { llm.MustSchemaFor[withAny]("x") })
}

func TestCheckStrict(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   []llm.Problem
	}{
		{"strict", verdictSchema, nil},
		{"not JSON", `{`, []llm.Problem{{Path: "#", Message: "not valid JSON: unexpected end of JSON input"}}},
		{"boolean root", `true`, []llm.Problem{{Path: "#", Message: "the root must be an object schema"}}},
		{"root is a string", `{"type":"string"}`, []llm.Problem{{Path: "#", Message: `the root must have "type": "object"`}}},
		{"root is a ref", `{"$ref":"#/$defs/a","$defs":{"a":{"type":"object","properties":{},"additionalProperties":false}}}`,
			[]llm.Problem{
				{Path: "#", Message: `the root must have "type": "object"`},
				{Path: "#", Message: `the root must be an object schema, not "$ref"`},
			}},
		{"additional properties allowed", `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`,
			[]llm.Problem{{Path: "#", Message: `an object must set "additionalProperties": false`}}},
		{"optional property", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a"],"additionalProperties":false}`,
			[]llm.Problem{{Path: "#", Message: `property "b" must be required (make it nullable to make it optional)`}}},
		{"required unknown", `{"type":"object","properties":{},"required":["z"],"additionalProperties":false}`,
			[]llm.Problem{{Path: "#", Message: `required property "z" is not among the properties`}}},
		{"oneOf and minLength", `{"type":"object","properties":{"a":{"oneOf":[{"type":"string","minLength":2},{"type":"null"}]}},"required":["a"],"additionalProperties":false}`,
			[]llm.Problem{
				{Path: "#/properties/a", Message: `keyword "oneOf" is not supported in strict mode`},
				{Path: "#/properties/a", Message: `a schema must say its "type" (or use anyOf, $ref, enum or const)`},
			}},
		{"typeless", `{"type":"object","properties":{"x":{"description":"anything"},"y":{"type":"array","items":{}}},"required":["x","y"],"additionalProperties":false}`,
			[]llm.Problem{
				{Path: "#/properties/x", Message: `a schema must say its "type" (or use anyOf, $ref, enum or const)`},
				{Path: "#/properties/y/items", Message: `a schema must say its "type" (or use anyOf, $ref, enum or const)`},
			}},
		{"nested object", `{"type":"object","properties":{"a/b":{"type":"array","items":{"type":"object","properties":{"x":{"type":"integer"}}}}},"required":["a/b"],"additionalProperties":false}`,
			[]llm.Problem{
				{Path: "#/properties/a~1b/items", Message: `an object must set "additionalProperties": false`},
				{Path: "#/properties/a~1b/items", Message: `property "x" must be required (make it nullable to make it optional)`},
			}},
		{"array without items", `{"type":"object","properties":{"a":{"type":["array","null"]}},"required":["a"],"additionalProperties":false}`,
			[]llm.Problem{{Path: "#/properties/a", Message: `an array must say its "items"`}}},
		{"dangling ref and nested defs", `{"type":"object","properties":{"a":{"$ref":"#/$defs/missing"},"b":{"$defs":{},"type":"string"}},"required":["a","b"],"additionalProperties":false}`,
			[]llm.Problem{
				{Path: "#/properties/a", Message: `$ref "#/$defs/missing" must point at "#" or an entry of the root's $defs`},
				{Path: "#/properties/b", Message: `"$defs" may appear only at the root`},
			}},
		{"bad definition", `{"type":"object","properties":{"a":{"$ref":"#/$defs/d"}},"required":["a"],"additionalProperties":false,"$defs":{"d":{"type":"object","properties":{"p":{"type":"string","default":"x"}},"required":["p"],"additionalProperties":false}}}`,
			[]llm.Problem{{Path: "#/$defs/d/properties/p", Message: `keyword "default" is not supported in strict mode`}}},
		{"boolean subschema", `{"type":"object","properties":{"a":true},"required":["a"],"additionalProperties":false}`,
			[]llm.Problem{{Path: "#/properties/a", Message: "a schema must be an object, not a boolean or other value"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := llm.CheckStrict(json.RawMessage(tt.schema))
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			var nse *llm.NotStrictError
			require.ErrorAs(t, err, &nse)
			assert.Equal(t, tt.want, nse.Problems)
			assert.Contains(t, err.Error(), tt.want[0].Message)
		})
	}
}

// propertyOrder returns the keys of the root schema's "properties", in the
// order they appear in the document.
func propertyOrder(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &doc))
	dec := json.NewDecoder(bytes.NewReader(doc["properties"]))
	var keys []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 {
				keys = append(keys, v)
				var skip json.RawMessage
				require.NoError(t, dec.Decode(&skip))
			}
		}
	}
	return keys
}

type twoSyntaxErrors struct {
	JSON json.SyntaxError `json:"json"`
	XML  xml.SyntaxError  `json:"xml"`
}

func TestStrictSchemaSameTypeNameInTwoPackages(t *testing.T) {
	raw := strictOf[twoSyntaxErrors](t)
	var doc struct {
		Defs       map[string]json.RawMessage `json:"$defs"`
		Properties map[string]map[string]any  `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Len(t, doc.Defs, 2)
	assert.Equal(t, "#/$defs/SyntaxError", doc.Properties["json"]["$ref"])
	assert.Equal(t, "#/$defs/xml_SyntaxError", doc.Properties["xml"]["$ref"], "the second type is qualified by its package")
	s := llm.MustSchema("x", raw)
	assert.Nil(t, s.Problems([]byte(`{"json":{"Offset":3},"xml":{"Msg":"m","Line":2}}`)))
}

// shared is a schema a package hands out from a JSONSchema method.
var shared = &jsonschema.Schema{Type: "object", Properties: jsonschema.NewProperties(), Required: []string{"a"}}

type custom struct{}

func (custom) JSONSchema() *jsonschema.Schema { return shared }

type withCustom struct {
	C custom `json:"c"`
}

func TestStrictSchemaLeavesCustomSchemasAlone(t *testing.T) {
	shared.Properties.Set("a", &jsonschema.Schema{Type: "string"})
	before, err := json.Marshal(shared)
	require.NoError(t, err)
	raw := strictOf[withCustom](t)
	after, err := json.Marshal(shared)
	require.NoError(t, err)
	assert.JSONEq(t, string(before), string(after), "the package's schema is not rewritten")
	assert.Contains(t, string(raw), `"additionalProperties":false`)
}

type 木 struct {
	Name     string `json:"name"`
	Children []木    `json:"children"`
}

func TestStrictSchemaNonASCIIRecursiveRoot(t *testing.T) {
	raw := strictOf[木](t)
	assert.Contains(t, string(raw), `"$ref":"#"`)
}

type integers struct {
	I8   int8    `json:"i8"`
	I16  int16   `json:"i16"`
	I32  int32   `json:"i32"`
	U8   uint8   `json:"u8"`
	U16  uint16  `json:"u16"`
	U32  uint32  `json:"u32"`
	U    uint    `json:"u"`
	U64  *uint64 `json:"u64"`
	I    int     `json:"i"`
	Pct  uint8   `json:"pct" jsonschema:"maximum=100"`
	Ints []int16 `json:"ints"`
}

func TestStrictSchemaIntegerRanges(t *testing.T) {
	s, err := llm.SchemaFor[integers]("integers")
	require.NoError(t, err)
	valid := `{"i8":-128,"i16":32767,"i32":0,"u8":255,"u16":0,"u32":4294967295,"u":0,"u64":null,"i":-5,"pct":100,"ints":[1]}`
	assert.Nil(t, s.Problems([]byte(valid)))
	for field, bad := range map[string]string{
		"i8": "128", "i16": "-32769", "i32": "2147483648", "u8": "-1", "u16": "65536", "u32": "4294967296",
		"u": "-1", "u64": "-1", "pct": "101", "ints": "[40000]",
	} {
		var doc map[string]any
		require.NoError(t, json.Unmarshal([]byte(valid), &doc))
		var v any
		require.NoError(t, json.Unmarshal([]byte(bad), &v))
		doc[field] = v
		b, _ := json.Marshal(doc)
		assert.NotNil(t, s.Problems(b), "%s = %s must be out of range", field, bad)
	}
}
