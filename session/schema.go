package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/invopop/jsonschema"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// JSONSchema returns the JSON Schema (draft 2020-12) of
// [SessionAnalysisInput], generated from the Go types: the input itself at
// the root and every component it uses under $defs, named as the
// analysis-input API names them (MessageEntry, RagTraceEntry, ...). Required
// lists, enums, formats and nullability (anyOf with {"type": "null"}) are
// the API's. Unknown properties are allowed, as in the API, so that an input
// from a newer producer still validates. The caller may keep the result but
// must not modify it.
func JSONSchema() json.RawMessage {
	s, err := compiledSchema()
	if err != nil {
		panic(err) // the types are fixed: covered by the tests
	}
	return s.raw
}

type schemaBundle struct {
	raw      json.RawMessage
	compiled *schemaval.Schema
}

var compiledSchema = sync.OnceValues(func() (*schemaBundle, error) {
	raw, err := generateSchema()
	if err != nil {
		return nil, err
	}
	compiled, err := schemaval.Compile(raw)
	if err != nil {
		return nil, fmt.Errorf("session: generated schema: %w", err)
	}
	return &schemaBundle{raw: raw, compiled: compiled}, nil
})

// enumSchemas are the string enums that become components of their own.
var enumSchemas = map[reflect.Type]func() *jsonschema.Schema{
	reflect.TypeFor[KnowledgeGapAnalysisOutcome](): func() *jsonschema.Schema {
		s := &jsonschema.Schema{Type: "string", Title: "KnowledgeGapAnalysisOutcome",
			Description: "Canonical, analyzer-friendly outcome of a completed session, derived from the session's status and termination reason."}
		for _, o := range AllOutcomes() {
			s.Enum = append(s.Enum, string(o))
		}
		return s
	},
	reflect.TypeFor[MissingEvidenceReason](): func() *jsonschema.Schema {
		s := &jsonschema.Schema{Type: "string", Title: "MissingEvidenceReason",
			Description: "Why a downstream classification may need to lower confidence or skip."}
		for _, r := range AllMissingEvidenceReasons() {
			s.Enum = append(s.Enum, string(r))
		}
		return s
	},
}

// descriptions are the components' descriptions.
var descriptions = map[string]string{
	"SessionAnalysisInput":  "Canonical analyzer input built from one completed session. Consumers should consult missing_evidence_reasons before attempting evidence-backed classifications.",
	"MessageEntry":          "One redacted message in the transcript view of a session.",
	"RagTraceEntry":         "One retrieval that fed a specific assistant turn.",
	"RetrievedChunk":        "One chunk returned by a retrieval call.",
	"RagTraceAnswerability": "Answerability verdict persisted on a retrieval trace; every field is optional.",
	"CitedChunk":            "One chunk that the runtime exposed to the model (subset of retrieved), tied to the assistant turn that cited it.",
	"ToolCallEntry":         "One tool invocation in the session.",
	"ToolCall":              "A tool call as an assistant message asked for it.",
	"ToolCallFunction":      "The function a tool call invokes.",
	"ToolResult":            "The result of one tool call.",
	"HandoffEvent":          "Human handoff transition recorded against the session.",
	"KbSnapshotEntry":       "KB state captured at the moment of the session's first retrieval: each KB mapped to its active document-version count.",
	"FeedbackEntry":         "Free-form user feedback against a session.",
	"CSATEntry":             "CSAT score against a session.",
	"ReopenEntry":           "Ticket reopen event.",
}

// generateSchema reflects the Go types with invopop/jsonschema and then
// brings the result to the API's shape: nullable properties as anyOf
// [schema, null] (the reflector writes oneOf), the enums as components, the
// free-form object and the map keys as the API spells them.
func generateSchema() (json.RawMessage, error) {
	r := &jsonschema.Reflector{
		Anonymous:                  true,
		ExpandedStruct:             true,
		AllowAdditionalProperties:  true,
		RequiredFromJSONSchemaTags: true,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if _, ok := enumSchemas[t]; ok {
				return &jsonschema.Schema{Ref: "#/$defs/" + t.Name()}
			}
			return nil
		},
	}
	root := r.ReflectFromType(reflect.TypeFor[SessionAnalysisInput]())
	for t, mk := range enumSchemas {
		root.Definitions[t.Name()] = mk()
	}
	all := map[string]*jsonschema.Schema{"SessionAnalysisInput": root}
	for name, def := range root.Definitions {
		all[name] = def
	}
	for name, s := range all {
		if s.Title == "" {
			s.Title = name
		}
		if d, ok := descriptions[name]; ok {
			s.Description = d
		}
		if s.Properties == nil {
			continue
		}
		for pair := s.Properties.Oldest(); pair != nil; pair = pair.Next() {
			prop := pair.Value
			if len(prop.OneOf) == 2 && prop.OneOf[1].Type == "null" {
				prop.AnyOf, prop.OneOf = prop.OneOf, nil
			}
		}
	}
	meta := root.Properties.Value("customer_metadata")
	if meta == nil || len(meta.AnyOf) != 2 {
		return nil, fmt.Errorf("session: schema: customer_metadata is not a nullable object")
	}
	meta.AnyOf[0].AdditionalProperties = jsonschema.TrueSchema
	snap := root.Definitions["KbSnapshotEntry"]
	if snap == nil || snap.Properties.Value("kb_versions") == nil {
		return nil, fmt.Errorf("session: schema: KbSnapshotEntry.kb_versions is missing")
	}
	snap.Properties.Value("kb_versions").PropertyNames = &jsonschema.Schema{Format: "uuid"}

	raw, err := json.Marshal(root)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
