package extract

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// ErrInvalid is matched (with errors.Is) by every [*ValidationError]: a
// field set, a transcript or a configuration that breaks a rule.
var ErrInvalid = errors.New("invalid")

// A FieldType is the type of an extracted value.
type FieldType string

// The field types.
const (
	// String: any text, as a JSON string.
	String FieldType = "string"
	// Number: a JSON number (float64 in Go).
	Number FieldType = "number"
	// Boolean: true or false.
	Boolean FieldType = "boolean"
	// Enum: one of the field's EnumValues, as a JSON string.
	Enum FieldType = "enum"
)

// Valid reports whether t is one of the four field types.
func (t FieldType) Valid() bool {
	switch t {
	case String, Number, Boolean, Enum:
		return true
	}
	return false
}

// A Field is one value to extract from a transcript.
type Field struct {
	// Key names the field in the extracted object; see [KeyPattern].
	Key string `json:"key"`
	// Type is the value's type.
	Type FieldType `json:"type"`
	// Description tells the model what the field means.
	Description string `json:"description,omitempty"`
	// EnumValues lists the allowed values of an enum field, in their
	// canonical spelling. Only enum fields have them.
	EnumValues []string `json:"enumValues,omitempty"`
	// Required marks a field whose absence makes an extraction incomplete
	// (see [Result.Missing]).
	Required bool `json:"required,omitempty"`
}

// A FieldSet is the ordered list of fields a definition extracts. The order
// is the order in which a model is asked to write them.
type FieldSet []Field

// KeyPattern is the grammar of a field key: a letter, then up to 63 letters,
// digits or underscores. Keys are compared case-insensitively for
// uniqueness, so "orderId" and "orderid" cannot both be used.
const KeyPattern = `^[A-Za-z][A-Za-z0-9_]{0,63}$`

// Limits on a field set, so that one definition cannot produce a prompt or
// schema no model can take.
const (
	MaxFields         = 100
	MaxEnumValues     = 200
	MaxEnumValueLen   = 200
	MaxDescriptionLen = 2000
)

var keyRE = regexp.MustCompile(KeyPattern)

// Validate reports every problem of fs as a [*ValidationError]; nil means fs
// is valid. Each problem carries the index of the field and the JSON path
// of the offending value within the field set (the set itself is "$"):
//
//   - the set is empty, or has more than [MaxFields] fields;
//   - a key is missing, does not match [KeyPattern], or repeats an earlier
//     key (ignoring case);
//   - a type is missing or not one of string, number, boolean, enum;
//   - an enum field has no enumValues, more than [MaxEnumValues], an empty or
//     over-long value, or two values equal ignoring case (which would make
//     case-insensitive matching ambiguous);
//   - a field that is not an enum has enumValues;
//   - a description is longer than [MaxDescriptionLen] bytes.
func (fs FieldSet) Validate() error {
	var v validator
	if len(fs) == 0 {
		v.add(-1, "$", "the field set is empty: at least one field is required")
	}
	if len(fs) > MaxFields {
		v.add(-1, "$", fmt.Sprintf("the field set has %d fields, more than the %d allowed", len(fs), MaxFields))
	}
	seen := map[string]int{}
	for i, f := range fs {
		at := func(prop string) string { return "$" + schemaval.Index(i) + "." + prop }
		switch {
		case f.Key == "":
			v.add(i, at("key"), "the key is missing")
		case !keyRE.MatchString(f.Key):
			v.add(i, at("key"), fmt.Sprintf("%q is not a valid key: it must match %s", f.Key, KeyPattern))
		default:
			folded := strings.ToLower(f.Key)
			if j, dup := seen[folded]; dup {
				v.add(i, at("key"), fmt.Sprintf("%q repeats the key of field %d", f.Key, j))
			} else {
				seen[folded] = i
			}
		}
		switch {
		case f.Type == "":
			v.add(i, at("type"), "the type is missing: use string, number, boolean or enum")
		case !f.Type.Valid():
			v.add(i, at("type"), fmt.Sprintf("%q is not a field type: use string, number, boolean or enum", f.Type))
		}
		if len(f.Description) > MaxDescriptionLen {
			v.add(i, at("description"), fmt.Sprintf("the description is %d bytes, more than %d", len(f.Description), MaxDescriptionLen))
		}
		if f.Type == Enum {
			validateEnumValues(&v, i, f.EnumValues, at("enumValues"))
		} else if len(f.EnumValues) > 0 && f.Type.Valid() {
			v.add(i, at("enumValues"), fmt.Sprintf("enumValues are only allowed on enum fields, not on a %s field", f.Type))
		}
	}
	return v.err()
}

func validateEnumValues(v *validator, i int, values []string, path string) {
	if len(values) == 0 {
		v.add(i, path, "an enum field needs enumValues")
		return
	}
	if len(values) > MaxEnumValues {
		v.add(i, path, fmt.Sprintf("%d enumValues, more than the %d allowed", len(values), MaxEnumValues))
	}
	seen := map[string]int{}
	for j, val := range values {
		at := path + schemaval.Index(j)
		switch {
		case strings.TrimSpace(val) == "":
			v.add(i, at, "an enum value must not be empty")
			continue
		case len(val) > MaxEnumValueLen:
			v.add(i, at, fmt.Sprintf("the enum value is %d bytes, more than %d", len(val), MaxEnumValueLen))
		}
		folded := foldKey(val)
		if k, dup := seen[folded]; dup {
			v.add(i, at, fmt.Sprintf("%q duplicates enum value %d (%q)", val, k, values[k]))
		} else {
			seen[folded] = j
		}
	}
}

// Field returns the field with the given key and whether there is one.
func (fs FieldSet) Field(key string) (Field, bool) {
	for _, f := range fs {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// A Problem is one rule an input breaks.
type Problem struct {
	// Index is the position of the field or turn the problem is about, or
	// -1 when it is about the whole input.
	Index int `json:"index"`
	// Path locates the offending value as a JSON path; "$" is the input
	// that was validated (see [ValidationError.Under] to rebase it).
	Path string `json:"path"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// A ValidationError lists every problem found in an input. It matches
// [ErrInvalid].
type ValidationError struct {
	// Problems are in the order they were found.
	Problems []Problem
}

// Error lists the problems as "path: message; ...".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Path + ": " + p.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// Is reports whether target is [ErrInvalid].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Under returns a copy of e whose paths are relative to root instead of
// "$": validating a definition's field set and calling Under("$.fieldSet")
// gives paths such as "$.fieldSet[2].key".
func (e *ValidationError) Under(root string) *ValidationError {
	out := &ValidationError{Problems: make([]Problem, len(e.Problems))}
	for i, p := range e.Problems {
		p.Path = root + strings.TrimPrefix(p.Path, "$")
		out.Problems[i] = p
	}
	return out
}

type validator struct{ problems []Problem }

func (v *validator) add(index int, path, msg string) {
	v.problems = append(v.problems, Problem{Index: index, Path: path, Message: msg})
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}
