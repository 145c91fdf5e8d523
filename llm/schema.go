package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// A Schema is a compiled JSON Schema (draft 2020-12) that model answers are
// validated against. It is immutable and safe for concurrent use; compile it
// once and reuse it for every call.
type Schema struct {
	name     string
	raw      json.RawMessage
	compiled *jsonschema.Schema
}

var schemaNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// NewSchema compiles raw, a JSON Schema document, under name. The name must
// match ^[a-zA-Z0-9_-]{1,64}$, as providers require of structured-output
// names. References to other documents are refused: a schema must be
// self-contained ($ref within it, to "#" or "#/$defs/...", is fine).
func NewSchema(name string, raw json.RawMessage) (*Schema, error) {
	if !schemaNameRE.MatchString(name) {
		return nil, fmt.Errorf("llm: schema name %q must match %s", name, schemaNameRE)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("llm: schema %q is not valid JSON: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	const url = "mem:///schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("llm: schema %q: %w", name, err)
	}
	compiled, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("llm: schema %q does not compile: %w", name, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("llm: schema %q: %w", name, err)
	}
	return &Schema{name: name, raw: compact.Bytes(), compiled: compiled}, nil
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

type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema reference %q is not allowed", url)
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
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return []Problem{{Path: "$", Message: "not valid JSON: " + err.Error()}}
	}
	return s.problemsOf(inst)
}

func (s *Schema) problemsOf(inst any) []Problem {
	err := s.compiled.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{Path: "$", Message: err.Error()}}
	}
	var out []Problem
	collectProblems(ve, inst, &out)
	if len(out) == 0 { // cannot happen with a failing validation, but never report "valid"
		out = append(out, Problem{Path: jsonPath(inst, ve.InstanceLocation), Message: ve.Error()})
	}
	return out
}

// collectProblems appends the leaf errors of ve. For anyOf, a branch that
// failed only because the value is not null is left out: it is the
// "nullable" half of an optional field and only adds noise.
func collectProblems(ve *jsonschema.ValidationError, inst any, out *[]Problem) {
	if len(ve.Causes) == 0 {
		*out = append(*out, Problem{Path: jsonPath(inst, ve.InstanceLocation), Message: ve.ErrorKind.LocalizedString(printer)})
		return
	}
	causes := ve.Causes
	if _, ok := ve.ErrorKind.(*kind.AnyOf); ok {
		kept := causes[:0:0]
		for _, c := range causes {
			if !onlyWantsNull(c) {
				kept = append(kept, c)
			}
		}
		if len(kept) > 0 {
			causes = kept
		}
	}
	for _, c := range causes {
		collectProblems(c, inst, out)
	}
}

func onlyWantsNull(ve *jsonschema.ValidationError) bool {
	if len(ve.Causes) == 1 {
		return onlyWantsNull(ve.Causes[0])
	}
	t, ok := ve.ErrorKind.(*kind.Type)
	return ok && len(ve.Causes) == 0 && len(t.Want) == 1 && t.Want[0] == "null"
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

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// jsonPath renders a JSON-pointer token list as a JSON path, walking inst to
// tell array indices from object keys that look like numbers.
func jsonPath(inst any, tokens []string) string {
	var b strings.Builder
	b.WriteString("$")
	cur := inst
	for _, tok := range tokens {
		switch v := cur.(type) {
		case []any:
			b.WriteString("[" + tok + "]")
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(v) {
				cur = v[i]
			} else {
				cur = nil
			}
			continue
		case map[string]any:
			cur = v[tok]
		default:
			cur = nil
		}
		if identRE.MatchString(tok) {
			b.WriteString("." + tok)
		} else {
			q, _ := json.Marshal(tok)
			b.WriteString("[" + string(q) + "]")
		}
	}
	return b.String()
}

var printer = message.NewPrinter(language.English)
