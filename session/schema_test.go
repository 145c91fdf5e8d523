package session

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// httpComponents are the API's components that describe HTTP bodies, not
// the input; sessionhttp's tests hold its bodies against them.
var httpComponents = map[string]bool{"ErrorResponse": true, "HTTPValidationError": true, "ValidationError": true}

func loadAPIComponents(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("testdata/api_components.json")
	require.NoError(t, err)
	var fixture struct {
		Components map[string]any `json:"components"`
	}
	require.NoError(t, json.Unmarshal(data, &fixture))
	require.NotEmpty(t, fixture.Components)
	return fixture.Components
}

func generatedSchema(t *testing.T) (root map[string]any, defs map[string]any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(JSONSchema(), &root))
	defs, _ = root["$defs"].(map[string]any)
	require.NotNil(t, defs)
	return root, defs
}

// TestSchemaMatchesAPIComponents holds the generated schema against every
// component schema of the analysis-input API, keyword by keyword: property
// names, required lists, enums, types, formats, defaults, references and
// nullability.
func TestSchemaMatchesAPIComponents(t *testing.T) {
	api := loadAPIComponents(t)
	root, defs := generatedSchema(t)
	names := make([]string, 0, len(api))
	for name := range api {
		names = append(names, name)
	}
	sort.Strings(names)
	checked := 0
	for _, name := range names {
		if httpComponents[name] {
			continue
		}
		t.Run(name, func(t *testing.T) {
			var got any = defs[name]
			if name == "SessionAnalysisInput" {
				got = root
			}
			require.NotNil(t, got, "the generated schema has no component %s", name)
			diffs := compareSchemas(name, api[name], got)
			assert.Empty(t, diffs, "generated schema differs from the API's component %s:\n%s", name, strings.Join(diffs, "\n"))
		})
		checked++
	}
	assert.Equal(t, 17, checked, "every input component is checked")
	for name := range defs {
		assert.Contains(t, api, name, "the generated schema defines %s, which the API does not have", name)
	}
}

func TestCompareSchemasDetectsDifferences(t *testing.T) {
	api := loadAPIComponents(t)
	_, defs := generatedSchema(t)
	mutations := []struct {
		name      string
		component string
		mutate    func(m map[string]any)
		want      string
	}{
		{"lost nullability", "MessageEntry", func(m map[string]any) {
			props := m["properties"].(map[string]any)
			props["model_used"] = map[string]any{"type": "string"}
		}, "MessageEntry.properties.model_used"},
		{"changed format", "CitedChunk", func(m map[string]any) {
			m["properties"].(map[string]any)["kb_id"].(map[string]any)["format"] = "uri"
		}, "CitedChunk.properties.kb_id.format"},
		{"changed required", "ToolCall", func(m map[string]any) { m["required"] = []any{"id"} }, "ToolCall.required"},
		{"extra property", "ReopenEntry", func(m map[string]any) {
			m["properties"].(map[string]any)["extra"] = map[string]any{"type": "string"}
		}, "ReopenEntry.properties: extra"},
		{"changed enum", "MissingEvidenceReason", func(m map[string]any) { m["enum"] = []any{"no_rag_trace"} }, "MissingEvidenceReason.enum"},
		{"changed default", "CSATEntry", func(m map[string]any) {
			m["properties"].(map[string]any)["scale_max"].(map[string]any)["default"] = 10.0
		}, "CSATEntry.properties.scale_max.default"},
		{"changed ref", "MessageEntry", func(m map[string]any) {
			props := m["properties"].(map[string]any)
			props["tool_results"].(map[string]any)["anyOf"].([]any)[0].(map[string]any)["$ref"] = "#/$defs/ToolCall"
		}, "MessageEntry.properties.tool_results.anyOf[0].$ref"},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			var copy map[string]any
			data, _ := json.Marshal(defs[m.component])
			require.NoError(t, json.Unmarshal(data, &copy))
			require.Empty(t, compareSchemas(m.component, api[m.component], copy), "unmutated copy must match")
			m.mutate(copy)
			diffs := compareSchemas(m.component, api[m.component], copy)
			require.NotEmpty(t, diffs)
			assert.Contains(t, strings.Join(diffs, "\n"), m.want)
		})
	}
}

func TestSchemaGolden(t *testing.T) {
	golden(t, "schema.json", JSONSchema())
}

func TestSchemaIsStableAndCompiles(t *testing.T) {
	a, b := JSONSchema(), JSONSchema()
	assert.Equal(t, string(a), string(b))
	_, err := compiledSchema()
	require.NoError(t, err)
	again, err := generateSchema()
	require.NoError(t, err)
	assert.JSONEq(t, string(a), string(again), "generation is deterministic")
}

// compareSchemas returns a line per difference between want (the API's
// schema) and got (the generated one) in the keywords that carry meaning.
func compareSchemas(path string, want, got any) []string {
	var diffs []string
	add := func(p, format string, args ...any) { diffs = append(diffs, p+": "+fmt.Sprintf(format, args...)) }
	w, g := asSchema(want), asSchema(got)
	if w == nil || g == nil {
		if (w == nil) != (g == nil) {
			add(path, "API %s, generated %s", describe(want), describe(got))
		}
		return diffs
	}
	if wr, gr := refName(w["$ref"]), refName(g["$ref"]); wr != gr {
		add(path+".$ref", "API %q, generated %q", wr, gr)
	}
	for _, key := range []string{"type", "format", "enum", "default"} {
		if !reflect.DeepEqual(w[key], g[key]) {
			add(path+"."+key, "API %v, generated %v", describe(w[key]), describe(g[key]))
		}
	}
	if wr, gr := stringSet(w["required"]), stringSet(g["required"]); !slices.Equal(wr, gr) {
		add(path+".required", "API %v, generated %v", wr, gr)
	}
	wp, _ := w["properties"].(map[string]any)
	gp, _ := g["properties"].(map[string]any)
	for _, name := range sortedKeys(wp) {
		if _, ok := gp[name]; !ok {
			add(path+".properties", "%s is missing from the generated schema", name)
			continue
		}
		diffs = append(diffs, compareSchemas(path+".properties."+name, wp[name], gp[name])...)
	}
	for _, name := range sortedKeys(gp) {
		if _, ok := wp[name]; !ok {
			add(path+".properties", "%s is generated but not in the API", name)
		}
	}
	for _, key := range []string{"items", "additionalProperties", "propertyNames"} {
		_, inW := w[key]
		_, inG := g[key]
		if inW || inG {
			diffs = append(diffs, compareSchemas(path+"."+key, w[key], g[key])...)
		}
	}
	for _, key := range []string{"anyOf", "oneOf", "allOf"} {
		wa, _ := w[key].([]any)
		ga, _ := g[key].([]any)
		if len(wa) != len(ga) {
			add(path+"."+key, "API has %d branches, generated %d", len(wa), len(ga))
			continue
		}
		for i := range wa {
			diffs = append(diffs, compareSchemas(fmt.Sprintf("%s.%s[%d]", path, key, i), wa[i], ga[i])...)
		}
	}
	return diffs
}

// asSchema returns a schema as an object; the boolean schema true is the
// empty object, absence is nil.
func asSchema(v any) map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return x
	case bool:
		if x {
			return map[string]any{}
		}
		return map[string]any{"not": map[string]any{}}
	}
	return nil
}

func refName(v any) string {
	s, _ := v.(string)
	s = strings.TrimPrefix(s, "#/components/schemas/")
	return strings.TrimPrefix(s, "#/$defs/")
}

func stringSet(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		out = append(out, fmt.Sprint(e))
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func describe(v any) string {
	if v == nil {
		return "(absent)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
