// Package schemaval compiles JSON Schema documents (draft 2020-12) with
// santhosh-tekuri/jsonschema/v6 and reports every way a JSON value fails
// one, each problem located by a JSON path such as "$.messages[2].turn_id".
// It is the one place debrief's packages validate JSON against a schema.
package schemaval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// A Schema is a compiled schema, safe for concurrent use.
type Schema struct {
	compiled *jsonschema.Schema
}

// A Problem is one way a value fails a schema.
type Problem struct {
	// Path locates the offending value: "$" for the whole document.
	Path string
	// Message says what is wrong with it.
	Message string
}

// Compile compiles raw. References to other documents are refused, so a
// schema must be self-contained; formats (date-time, uuid, ...) are asserted.
func Compile(raw []byte) (*Schema, error) {
	doc, err := Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	const url = "mem:///schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	compiled, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("does not compile: %w", err)
	}
	return &Schema{compiled: compiled}, nil
}

type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema reference %q is not allowed", url)
}

// Decode parses data as one JSON value the way the validator expects it:
// numbers as json.Number, nothing after the value.
func Decode(data []byte) (any, error) {
	return jsonschema.UnmarshalJSON(bytes.NewReader(data))
}

// ValidateJSON returns every problem of data, which must be one JSON value;
// nil means valid. Data that does not parse is one problem at "$".
func (s *Schema) ValidateJSON(data []byte) []Problem {
	inst, err := Decode(data)
	if err != nil {
		return []Problem{{Path: "$", Message: "not valid JSON: " + err.Error()}}
	}
	return s.Validate(inst)
}

// Validate returns every problem of inst, a value as [Decode] returns it,
// sorted by path and then message so that the same value always gives the
// same list; nil means valid.
func (s *Schema) Validate(inst any) []Problem {
	err := s.compiled.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{Path: "$", Message: "the value does not satisfy the schema"}}
	}
	var out []Problem
	collect(ve, inst, &out)
	if len(out) == 0 { // never report a failing value as valid
		out = append(out, Problem{Path: Path(inst, ve.InstanceLocation), Message: "the value does not satisfy the schema"})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Message < out[j].Message
	})
	return slices.CompactFunc(out, func(a, b Problem) bool { return a == b })
}

var printer = message.NewPrinter(language.English)

// describe renders an error kind. Numbers are written plainly ("1000",
// "0.5"): the localised printer would write "1,000" and "1.2 × 10⁰⁶", which
// a model may misread.
func describe(k jsonschema.ErrorKind) string {
	num := func(r *big.Rat) string {
		f, _ := r.Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	switch k := k.(type) {
	case *kind.Minimum:
		return fmt.Sprintf("minimum: got %s, want %s", num(k.Got), num(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("maximum: got %s, want %s", num(k.Got), num(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("exclusiveMinimum: got %s, want more than %s", num(k.Got), num(k.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("exclusiveMaximum: got %s, want less than %s", num(k.Got), num(k.Want))
	case *kind.MultipleOf:
		return fmt.Sprintf("multipleOf: got %s, want a multiple of %s", num(k.Got), num(k.Want))
	case *kind.MinItems:
		return fmt.Sprintf("minItems: got %d, want %d", k.Got, k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("maxItems: got %d, want %d", k.Got, k.Want)
	case *kind.MinLength:
		return fmt.Sprintf("minLength: got %d, want %d", k.Got, k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("maxLength: got %d, want %d", k.Got, k.Want)
	case *kind.MinProperties:
		return fmt.Sprintf("minProperties: got %d, want %d", k.Got, k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("maxProperties: got %d, want %d", k.Got, k.Want)
	}
	return k.LocalizedString(printer)
}

// collect appends the leaf errors of ve. Under anyOf, a branch that failed
// only because the value is not null is left out: it is the "nullable" half
// of an optional field and only adds noise.
func collect(ve *jsonschema.ValidationError, inst any, out *[]Problem) {
	if len(ve.Causes) == 0 {
		// Some kinds list property names in map order: sort them, so that a
		// message reads the same every time.
		switch k := ve.ErrorKind.(type) {
		case *kind.AdditionalProperties:
			sort.Strings(k.Properties)
		case *kind.Required:
			sort.Strings(k.Missing)
		}
		*out = append(*out, Problem{Path: Path(inst, ve.InstanceLocation), Message: describe(ve.ErrorKind)})
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
		collect(c, inst, out)
	}
}

func onlyWantsNull(ve *jsonschema.ValidationError) bool {
	if len(ve.Causes) == 1 {
		return onlyWantsNull(ve.Causes[0])
	}
	t, ok := ve.ErrorKind.(*kind.Type)
	return ok && len(ve.Causes) == 0 && len(t.Want) == 1 && t.Want[0] == "null"
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Path renders a JSON-pointer token list as a JSON path ("$.a[0].b",
// `$["odd key"]`), walking inst to tell array indices from object keys
// that look like numbers. inst may be nil, in which case every token is
// taken for a key.
func Path(inst any, tokens []string) string {
	var b strings.Builder
	b.WriteString("$")
	cur := inst
	for _, tok := range tokens {
		if arr, ok := cur.([]any); ok {
			b.WriteString("[" + tok + "]")
			cur = nil
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(arr) {
				cur = arr[i]
			}
			continue
		}
		if obj, ok := cur.(map[string]any); ok {
			cur = obj[tok]
		} else {
			cur = nil
		}
		b.WriteString(Key(tok))
	}
	return b.String()
}

// MaxKeyLen bounds the bytes of a member name a path shows: a longer one
// is cut, at a character boundary, and marked with "…", so that an error
// about a hostile document stays small.
const MaxKeyLen = 64

// Key renders one object key as a JSON-path step: ".key" for an
// identifier, `["other key"]` for anything else; a name longer than
// [MaxKeyLen] bytes is cut and marked `["first bytes…"]`.
func Key(k string) string {
	if len(k) > MaxKeyLen {
		n := MaxKeyLen
		for n > 0 && !utf8.RuneStart(k[n]) {
			n--
		}
		k = k[:n] + "…"
	} else if identRE.MatchString(k) {
		return "." + k
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(k) // a string always encodes
	return "[" + strings.TrimSuffix(b.String(), "\n") + "]"
}

// Index renders one array index as a JSON-path step: "[i]".
func Index(i int) string { return "[" + strconv.Itoa(i) + "]" }
