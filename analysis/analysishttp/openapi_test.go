package analysishttp_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis/analysishttp"
	"github.com/debrief-go/debrief/internal/schemaval"
)

func TestTheOpenAPIDocumentIsValidOpenAPI31(t *testing.T) {
	raw, err := os.ReadFile("testdata/oas/schema-3.1.json")
	require.NoError(t, err)
	oas, err := schemaval.Compile(raw)
	require.NoError(t, err)
	assert.Empty(t, oas.ValidateJSON(analysishttp.OpenAPI()))
	// The check can fail: a document without info is not OpenAPI.
	var doc map[string]any
	require.NoError(t, json.Unmarshal(analysishttp.OpenAPI(), &doc))
	delete(doc, "info")
	broken, _ := json.Marshal(doc)
	assert.NotEmpty(t, oas.ValidateJSON(broken))
}

func TestTheOpenAPIDocumentCoversEveryRoute(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(analysishttp.OpenAPI(), &doc))
	routes := map[string][]string{
		"/definitions":               {"get", "post"},
		"/definitions/{id}":          {"get", "patch", "delete"},
		"/definitions/{id}/run":      {"post"},
		"/definitions/{id}/slots":    {"get"},
		"/conversations":             {"get", "post"},
		"/conversations/{id}":        {"get", "delete"},
		"/runs":                      {"get"},
		"/runs/{id}":                 {"get"},
		"/runs/{id}/items":           {"get"},
		"/runs/{id}/gaps":            {"get"},
		"/runs/{id}/cancel":          {"post"},
		"/runs/{id}/events":          {"get"},
		"/openapi.json":              {"get"},
		"/alerts":                    {"get", "post"},
		"/alerts/{id}":               {"get", "put", "delete"},
		"/alerts/{id}/notifications": {"get"},

		// The HTML pages.
		"/runs/{id}/report":        {"get"},
		"/definitions/{id}/report": {"get"},
	}
	assert.Len(t, doc.Paths, len(routes))
	for p, methods := range routes {
		ops, ok := doc.Paths[analysishttp.Prefix+p]
		require.True(t, ok, p)
		for _, m := range methods {
			assert.Contains(t, ops, m, p)
		}
		assert.Len(t, ops, len(methods), p)
	}
	// Every reference resolves.
	for _, ref := range regexp.MustCompile(`#/components/schemas/([A-Za-z0-9_]+)`).FindAllStringSubmatch(string(analysishttp.OpenAPI()), -1) {
		assert.Contains(t, doc.Components.Schemas, ref[1])
	}
	assert.NotContains(t, string(analysishttp.OpenAPI()), "$defs", "every definition is a component")

	// And the document is served.
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/analysis/openapi.json", nil)
	req.Header.Set("X-Scope", scopeA)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	var served map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&served))
	assert.Equal(t, "3.1.0", served["openapi"])
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
}

func TestTheDocumentedRequestSchemasSayWhatTheAPITakes(t *testing.T) {
	patch := compiled(t, "DefinitionPatch")
	for _, ok := range []string{`{}`, `{"name":"Renamed"}`, `{"schedule":null}`, `{"schedule":{"enabled":false}}`,
		`{"modes":{"judge":null}}`, `{"extractionInstructions":"Focus on the primary reason."}`} {
		assert.Empty(t, patch.ValidateJSON([]byte(ok)), "a merge patch the API takes: %s", ok)
	}
	for _, bad := range []string{`{"name":1}`, `{"id":"x"}`, `{"fieldSet":[{"type":"string"}]}`, `[]`} {
		assert.NotEmpty(t, patch.ValidateJSON([]byte(bad)), "refused: %s", bad)
	}
	create := compiled(t, "DefinitionInput")
	assert.NotEmpty(t, create.ValidateJSON([]byte(`{"name":"x","fieldSet":[{"key":"a","type":"string"}]}`)), "modes are required")
	assert.Empty(t, create.ValidateJSON([]byte(`{"name":"x","fieldSet":[{"key":"a","type":"string"}],"modes":{},"schedule":null}`)))
	assert.NotEmpty(t, create.ValidateJSON([]byte(`{"name":"x","fieldSet":[{"key":"a","type":"string"}],"modes":{},"schedule":{"cron":"0 2 * * *"}}`)),
		"a schedule says whether it is enabled")
}
