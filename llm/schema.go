package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// A Schema is a compiled JSON Schema (draft 2020-12) that model answers are
// validated against. It is immutable and safe for concurrent use; compile it
// once and reuse it for every call.
type Schema struct {
	name     string
	raw      json.RawMessage
	compiled *schemaval.Schema
	// plainObject is set for {"type":"object"}: any object satisfies it,
	// which is checked without the validator.
	plainObject bool
}

var schemaNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// NewSchema compiles raw, a JSON Schema document, under name. The name must
// match ^[a-zA-Z0-9_-]{1,64}$, as providers require of structured-output
// names. References to other documents are refused: a schema must be
// self-contained ($ref within it, to "#" or "#/$defs/...", is fine).
// Formats such as date-time are asserted.
func NewSchema(name string, raw json.RawMessage) (*Schema, error) {
	if !schemaNameRE.MatchString(name) {
		return nil, fmt.Errorf("llm: schema name %q must match %s", name, schemaNameRE)
	}
	compiled, err := schemaval.Compile(raw)
	if err != nil {
		return nil, fmt.Errorf("llm: schema %q: %w", name, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("llm: schema %q: %w", name, err)
	}
	return &Schema{name: name, raw: compact.Bytes(), compiled: compiled, plainObject: compact.String() == `{"type":"object"}`}, nil
}

// MustSchema is like [NewSchema] but panics on error. It is meant for
// package-level variables holding schemas known to be good.
func MustSchema(name string, raw json.RawMessage) *Schema {
	s, err := NewSchema(name, raw)
	if err != nil {
		panic(err)
	}
	return s
}

// Name returns the schema's name.
func (s *Schema) Name() string { return s.name }

// JSON returns the schema document, compacted. The caller may keep it but
// must not modify it.
func (s *Schema) JSON() json.RawMessage { return s.raw }

// Problems returns every way in which data fails to be a JSON document
// satisfying s, most specific first; nil means data is valid. Each problem
// is located by the JSON path of the offending value.
func (s *Schema) Problems(data []byte) []Problem {
	found := s.compiled.ValidateJSON(data)
	if found == nil {
		return nil
	}
	out := make([]Problem, len(found))
	for i, p := range found {
		out[i] = Problem{Path: p.Path, Message: p.Message}
	}
	return out
}

// A Problem is one reason a model's answer was rejected.
type Problem struct {
	// Path locates the offending value as a JSON path: "$" for the whole
	// answer, "$.evidence[0].quote" for a nested one.
	Path string `json:"path"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// String renders the problem as "path: message".
func (p Problem) String() string { return p.Path + ": " + p.Message }
