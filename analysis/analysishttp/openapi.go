package analysishttp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/invopop/jsonschema"

	"github.com/debrief-go/debrief/analysis"
)

// OpenAPI returns the API's OpenAPI 3.1 document, its schemas generated
// from the Go types the handlers read and write. GET
// /api/analysis/openapi.json serves it.
func OpenAPI() []byte {
	openAPIOnce.Do(func() { openAPIDoc = buildOpenAPI() })
	return openAPIDoc
}

var (
	openAPIOnce sync.Once
	openAPIDoc  []byte
)

func (h *handler) openAPI(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.resolve(w, r); !ok {
		return
	}
	if _, ok := query(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(OpenAPI()))
}

// The types whose schemas the document holds, by the name it gives them.
var openAPITypes = map[string]any{
	"DefinitionInput":        analysis.DefinitionInput{},
	"DefinitionBody":         DefinitionBody{},
	"DefinitionsBody":        DefinitionsBody{},
	"ConversationInput":      analysis.ConversationInput{},
	"IngestBody":             ingestBulk{},
	"ConversationBody":       ConversationBody{},
	"ConversationsBody":      ConversationsBody{},
	"KeptBody":               KeptBody{},
	"IngestedBody":           IngestedBody{},
	"StartRunBody":           StartRunBody{},
	"RunBody":                RunBody{},
	"RunsBody":               RunsBody{},
	"ItemPage":               analysis.ItemPage{},
	"GapsBody":               GapsBody{},
	"AlertRuleInput":         analysis.AlertRuleInput{},
	"AlertRuleBody":          AlertRuleBody{},
	"AlertRulesBody":         AlertRulesBody{},
	"AlertNotificationsBody": AlertNotificationsBody{},
	"SlotsBody":              SlotsBody{},
	"ErrorBody":              ErrorBody{},
	"ProgressEvent":          ProgressEvent{},
	"EndEvent":               EndEvent{},
}

// ingestBulk is the bulk form of an ingest body.
type ingestBulk struct {
	Conversations []analysis.ConversationInput `json:"conversations"`
}

func buildOpenAPI() []byte {
	r := &jsonschema.Reflector{Mapper: func(t reflect.Type) *jsonschema.Schema {
		if t == reflect.TypeFor[analysis.Window]() {
			// A window is written as a Go duration string.
			return &jsonschema.Schema{Type: "string", Pattern: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
				Description: "A duration such as \"24h\" or \"90m\"."}
		}
		return nil
	}}
	schemas := map[string]any{}
	add := func(name string, raw map[string]any) {
		if prev, ok := schemas[name]; ok && !reflect.DeepEqual(prev, raw) {
			panic("analysishttp: two types are named " + name + " in the OpenAPI document")
		}
		schemas[name] = raw
	}
	for name, v := range openAPITypes {
		s := r.Reflect(v)
		b, err := json.Marshal(s)
		if err != nil {
			panic("analysishttp: schema of " + name + ": " + err.Error())
		}
		var doc map[string]any
		if err := json.Unmarshal(rewriteRefs(b), &doc); err != nil {
			panic("analysishttp: schema of " + name + ": " + err.Error())
		}
		defs, _ := doc["$defs"].(map[string]any)
		for defName, def := range defs {
			m, _ := def.(map[string]any)
			if defName == reflect.TypeOf(v).Name() {
				defName = name
			}
			add(defName, m)
		}
	}
	addPatch(schemas, "DefinitionInput", "DefinitionPatch")
	schemas["IngestResponse"] = map[string]any{
		"description": "The answer to an ingest: the conversation stored, or, for a bulk body, the conversations stored and what became of them.",
		"oneOf":       []any{ref("ConversationBody"), ref("IngestedBody")},
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Analysis API",
			"version":     "1",
			"description": "Extract typed fields from conversation transcripts, judge them against a rubric and score extraction accuracy, on demand or on a schedule. Every path answers 405 method_not_allowed, with an Allow header, to a method it does not take, and 404 not_found for another scope's objects as for missing ones.",
		},
		"paths":      openAPIPaths(),
		"components": map[string]any{"schemas": schemas},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("analysishttp: OpenAPI document: " + err.Error())
	}
	return out
}

// rewriteRefs points a reflected schema's references at the document's
// components, and names the types as the document does.
func rewriteRefs(b []byte) []byte {
	s := strings.ReplaceAll(string(b), `"#/$defs/`, `"#/components/schemas/`)
	for name, v := range openAPITypes {
		if t := reflect.TypeOf(v).Name(); t != name {
			s = strings.ReplaceAll(s, `"#/components/schemas/`+t+`"`, `"#/components/schemas/`+name+`"`)
		}
	}
	return []byte(s)
}

// addPatch adds to schemas the JSON merge patch of the object schema named
// from, as name: no member required, every member also null (which
// removes it), and each member that is an object itself a patch (merged
// into what is there), while arrays and scalars replace what is there.
func addPatch(schemas map[string]any, from, name string) {
	if _, done := schemas[name]; done {
		return
	}
	src, _ := schemas[from].(map[string]any)
	out := map[string]any{"type": "object", "additionalProperties": false}
	if d, ok := src["description"]; ok {
		out["description"] = d
	}
	schemas[name] = out // before recursing: a self-reference resolves
	props := map[string]any{}
	srcProps, _ := src["properties"].(map[string]any)
	for member, raw := range srcProps {
		p, _ := raw.(map[string]any)
		props[member] = map[string]any{"oneOf": []any{patchOf(schemas, p), map[string]any{"type": "null"}}}
	}
	out["properties"] = props
}

// patchOf returns the schema of a member of a merge patch: an object
// definition's patch, or the member's own schema.
func patchOf(schemas map[string]any, p map[string]any) map[string]any {
	if alts, ok := p["oneOf"].([]any); ok { // already nullable: patch its value
		for _, a := range alts {
			if m, ok := a.(map[string]any); ok && m["type"] != "null" {
				return patchOf(schemas, m)
			}
		}
	}
	r, _ := p["$ref"].(string)
	target := strings.TrimPrefix(r, "#/components/schemas/")
	if def, ok := schemas[target].(map[string]any); ok && def["type"] == "object" && def["properties"] != nil {
		addPatch(schemas, target, target+"Patch")
		return ref(target + "Patch")
	}
	return p
}

func ref(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func jsonContent(schema map[string]any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

func response(desc, schema string) map[string]any {
	r := map[string]any{"description": desc}
	if schema != "" {
		r["content"] = jsonContent(ref(schema))
	}
	return r
}

func param(name, in, desc string, schema map[string]any, required bool) map[string]any {
	return map[string]any{"name": name, "in": in, "description": desc, "required": required, "schema": schema}
}

var (
	str     = map[string]any{"type": "string"}
	integer = map[string]any{"type": "integer", "minimum": 1}
)

// errors returns the error answers an operation may give.
func errs(statuses ...int) map[string]any {
	out := map[string]any{
		"400": response("The request is not valid — at least its query, which takes only the parameters listed, each once: the problems say where.", "ErrorBody"),
		"401": response("The request is not authenticated.", "ErrorBody"),
		"500": response("Internal error.", "ErrorBody"),
		"503": response("The request was cancelled by its client before it was answered.", "ErrorBody"),
	}
	text := map[int]string{
		400: "The request is not valid: the problems say where.",
		404: "No such object in the scope.",
		409: "A run of the definition is already in progress, or the object changed or finished meanwhile.",
		412: "If-Match names another version of the object.",
		413: "The body is larger than the API takes.",
	}
	for _, s := range statuses {
		out[fmt.Sprint(s)] = response(text[s], "ErrorBody")
	}
	return out
}

func op(summary string, params []any, body string, ok map[string]any, errStatuses ...int) map[string]any {
	o := map[string]any{"summary": summary, "responses": errs(errStatuses...)}
	for k, v := range ok {
		o["responses"].(map[string]any)[k] = v
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	if body != "" {
		o["requestBody"] = map[string]any{"required": true, "content": jsonContent(ref(body))}
	}
	return o
}

func openAPIPaths() map[string]any {
	id := param("id", "path", "The object's ID or key.", str, true)
	runID := param("id", "path", "The run's ID.", str, true)
	lim := param("limit", "query", "The most objects to return.", integer, false)
	search := param("search", "query", "Keep the objects whose name or key (and, for conversations, transcript) contains it, ignoring case.", str, false)
	cursor := param("cursor", "query", "The nextCursor of the previous page.", str, false)
	ifMatch := param("If-Match", "header", "The ETag read: the change is made only if the definition is still at that version.", str, false)
	etag := map[string]any{"ETag": map[string]any{"description": "The definition's version.", "schema": str}}
	withETag := func(r map[string]any) map[string]any { r["headers"] = etag; return r }
	ruleID := param("id", "path", "The rule's ID or name.", str, true)
	ruleIfMatch := param("If-Match", "header", "The ETag read: the change is made only if the rule is still at that version.", str, false)
	withRuleETag := func(r map[string]any) map[string]any {
		r["headers"] = map[string]any{"ETag": map[string]any{"description": "The rule's version.", "schema": str}}
		return r
	}
	ingest := map[string]any{"oneOf": []any{ref("ConversationInput"), ref("IngestBody")}}
	ingested := response("Stored: the conversation, created; or, for a bulk body, every conversation as stored, with the counts of those created, updated and skipped.", "IngestResponse")
	kept := response("The conversation's externalId was stored: the conversation as stored after its update, or as it was when skipped, and which.", "KeptBody")
	keyTaken := response("An explicit key is taken, or differs from the key of the conversation stored with the same externalId.", "ErrorBody")
	onExisting := param("onExisting", "query", "What becomes of a conversation whose externalId names one stored in the scope: update replaces its content, keeping its ID, key, creation time and extracted fields (the default); skip leaves it as it is.",
		map[string]any{"type": "string", "enum": []any{"update", "skip"}, "default": "update"}, false)
	sse := map[string]any{"description": "A text/event-stream: \"progress\" events (ProgressEvent), then one \"end\" event (EndEvent).",
		"content": map[string]any{"text/event-stream": map[string]any{"schema": str}}}
	p := func(s string) string { return Prefix + s }
	return map[string]any{
		p("/definitions"): map[string]any{
			"get":  op("List definitions", []any{search, lim}, "", map[string]any{"200": response("The definitions, newest first.", "DefinitionsBody")}, 400),
			"post": op("Create a definition", nil, "DefinitionInput", map[string]any{"201": withETag(response("Created.", "DefinitionBody"))}, 400, 409, 413),
		},
		p("/definitions/{id}"): map[string]any{
			"get": op("Get a definition", []any{id}, "", map[string]any{"200": withETag(response("The definition.", "DefinitionBody")), "304": response("Not modified (If-None-Match).", "")}, 404),
			"patch": merge(op("Change a definition with a JSON merge patch (RFC 7396)", []any{id, ifMatch}, "", map[string]any{"200": withETag(response("Changed.", "DefinitionBody"))}, 400, 404, 409, 412, 413),
				map[string]any{"requestBody": map[string]any{"required": true, "content": map[string]any{
					"application/merge-patch+json": map[string]any{"schema": ref("DefinitionPatch")},
					"application/json":             map[string]any{"schema": ref("DefinitionPatch")},
				}}}),
			"delete": op("Delete a definition", []any{id, ifMatch}, "", map[string]any{"204": response("Deleted.", "")}, 404, 409, 412),
		},
		p("/definitions/{id}/run"): map[string]any{
			"post": op("Run a definition", []any{id}, "StartRunBody", map[string]any{"202": response("The run, pending.", "RunBody")}, 400, 404, 409, 413),
		},
		p("/definitions/{id}/slots"): map[string]any{
			"get": op("List a definition's schedule slots", []any{id, lim}, "", map[string]any{"200": response("The slots, latest first.", "SlotsBody")}, 400, 404),
		},
		p("/conversations"): map[string]any{
			"get": op("List conversations", []any{search, param("tag", "query", "Keep the conversations with this tag.", str, false), lim, cursor}, "",
				map[string]any{"200": response("A page of conversations, newest first.", "ConversationsBody")}, 400),
			"post": map[string]any{"summary": "Ingest a conversation, or {\"conversations\": [...]}",
				"parameters":  []any{onExisting},
				"requestBody": map[string]any{"required": true, "content": jsonContent(ingest)},
				"responses":   merge(errs(400, 409, 413), map[string]any{"201": ingested, "200": kept, "409": keyTaken})},
		},
		p("/conversations/{id}"): map[string]any{
			"get":    op("Get a conversation", []any{id}, "", map[string]any{"200": response("The conversation.", "ConversationBody")}, 404),
			"delete": op("Delete a conversation", []any{id}, "", map[string]any{"204": response("Deleted.", "")}, 404),
		},
		p("/runs"): map[string]any{
			"get": op("List runs", []any{param("definitionKey", "query", "Keep the runs of this definition.", str, false), lim}, "",
				map[string]any{"200": response("The runs, newest first, without their items.", "RunsBody")}, 400),
		},
		p("/runs/{id}"): map[string]any{
			"get": op("Get a run with its items", []any{runID}, "", map[string]any{"200": response("The run.", "RunBody")}, 404),
		},
		p("/runs/{id}/items"): map[string]any{
			"get": op("Page through a run's items", []any{runID, cursor, lim}, "", map[string]any{"200": response("A page of items.", "ItemPage")}, 400, 404),
		},
		p("/runs/{id}/gaps"): map[string]any{
			"get": op("Tabulate a run's knowledge gaps", []any{runID}, "",
				map[string]any{"200": response("The gap kinds its items found, with their topics, and the findings of the deterministic checks.", "GapsBody")}, 404),
		},
		p("/runs/{id}/cancel"): map[string]any{
			"post": op("Cancel a run", []any{runID}, "", map[string]any{"200": response("The cancelled run.", "RunBody")}, 404, 409),
		},
		p("/runs/{id}/events"): map[string]any{
			"get": op("Follow a run's progress", []any{runID}, "", map[string]any{"200": sse}, 404),
		},
		p("/runs/{id}/report"): map[string]any{
			"get": op("A run's report, an HTML page", []any{runID}, "", map[string]any{"200": htmlPage(
				"The run's report: the aggregate, accuracy per field, the judge-score histogram, a confusion matrix per enum field, the knowledge gaps, the items that failed or did not pass, usage and cost. Inline CSS and SVG; no script, nothing loaded.")}, 404),
		},
		p("/definitions/{id}/report"): map[string]any{
			"get": op("A definition's trend, an HTML page", []any{id, param("limit", "query", "The most runs to show, latest first (the page shows them oldest first).", integer, false)}, "",
				map[string]any{"200": htmlPage("The pass rate, judge score and extraction accuracy of the definition's latest runs, as a chart and a table.")}, 400, 404),
		},
		p("/alerts"): map[string]any{
			"get": op("List alert rules, with their state", []any{lim}, "", map[string]any{"200": response("The rules, by name.", "AlertRulesBody")}, 400),
			"post": op("Create an alert rule", nil, "AlertRuleInput",
				map[string]any{"201": withRuleETag(response("The rule, ok until an evaluation finds it firing.", "AlertRuleBody"))}, 400, 409, 413),
		},
		p("/alerts/{id}"): map[string]any{
			"get": op("Get an alert rule", []any{ruleID}, "", map[string]any{"200": withRuleETag(response("The rule, with its state.", "AlertRuleBody"))}, 404),
			"put": op("Replace what an alert rule watches (its state is kept)", []any{ruleID, ruleIfMatch}, "AlertRuleInput",
				map[string]any{"200": withRuleETag(response("The rule as changed.", "AlertRuleBody"))}, 400, 404, 409, 412, 413),
			"delete": op("Delete an alert rule and its delivery log", []any{ruleID}, "", map[string]any{"204": response("Deleted.", "")}, 404),
		},
		p("/alerts/{id}/notifications"): map[string]any{
			"get": op("An alert rule's delivery log", []any{ruleID, lim}, "",
				map[string]any{"200": response("The notifications of the rule's changes of state, newest first, with their delivery.", "AlertNotificationsBody")}, 400, 404),
		},
		p("/openapi.json"): map[string]any{
			"get": op("This document", nil, "", map[string]any{"200": map[string]any{"description": "The OpenAPI document."}}),
		},
	}
}

func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}
