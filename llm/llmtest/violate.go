package llmtest

import (
	"bytes"
	"encoding/json"
	"slices"
)

// extraMember is the name of the member [FaultExtraMember] adds.
const extraMember = "injected_extra_member"

// schemaShape is the part of an object schema the violations read.
type schemaShape struct {
	Properties map[string]propertyShape `json:"properties"`
	Required   []string                 `json:"required"`
}

// propertyShape is the part of a property's schema the violations read.
type propertyShape struct {
	Type  json.RawMessage `json:"type"`
	AnyOf []propertyShape `json:"anyOf"`
	OneOf []propertyShape `json:"oneOf"`
	Enum  []any           `json:"enum"`
	Const *any            `json:"const"`
}

// types returns the JSON types the property allows, and false when it
// cannot tell (no type anywhere, a $ref, ...).
func (p propertyShape) types() ([]string, bool) {
	var out []string
	switch {
	case len(p.Type) > 0:
		var one string
		if json.Unmarshal(p.Type, &one) == nil {
			out = []string{one}
		} else if json.Unmarshal(p.Type, &out) != nil {
			return nil, false
		}
	case len(p.AnyOf)+len(p.OneOf) > 0:
		for _, alt := range append(slices.Clone(p.AnyOf), p.OneOf...) {
			t, ok := alt.types()
			if !ok {
				return nil, false
			}
			out = append(out, t...)
		}
	default:
		return nil, false
	}
	if slices.Contains(out, "number") {
		out = append(out, "integer")
	}
	return out, true
}

// nullable reports whether null is, or may be, allowed.
func (p propertyShape) nullable() bool {
	t, ok := p.types()
	if !ok || slices.Contains(t, "null") {
		return true
	}
	return slices.Contains(p.Enum, nil) || (p.Const != nil && *p.Const == nil)
}

// wrongValue returns a value of a type p does not allow, or nil.
func (p propertyShape) wrongValue() json.RawMessage {
	t, ok := p.types()
	if !ok {
		return nil
	}
	for _, c := range []struct{ kind, value string }{
		{"object", `{"injected":"wrong type"}`},
		{"string", `"injected wrong type"`},
		{"integer", `12345`},
		{"boolean", `true`},
	} {
		if !slices.Contains(t, c.kind) {
			return json.RawMessage(c.value)
		}
	}
	return nil
}

// violate alters answer, a JSON object, so that it breaks schema in the
// way fault says, at the first required member that allows it. When the
// answer is no object or nothing in it can be broken that way, the whole
// answer is replaced by one that breaks an object schema the same way.
func violate(fault Fault, answer string, schema json.RawMessage) string {
	var members map[string]json.RawMessage
	var shape schemaShape
	if json.Unmarshal(bytes.TrimSpace([]byte(answer)), &members) != nil {
		members = nil // not an object: the whole answer is replaced below
	}
	_ = json.Unmarshal(schema, &shape)
	edit := func(ok func(name string, p propertyShape) json.RawMessage) bool {
		for _, name := range shape.Required {
			if _, present := members[name]; !present {
				continue
			}
			if v := ok(name, shape.Properties[name]); v != nil {
				members[name] = v
				return true
			}
		}
		return false
	}
	done := false
	if members != nil {
		switch fault {
		case FaultWrongType:
			done = edit(func(_ string, p propertyShape) json.RawMessage { return p.wrongValue() })
		case FaultNull:
			done = edit(func(_ string, p propertyShape) json.RawMessage {
				if p.nullable() {
					return nil
				}
				return json.RawMessage("null")
			})
		case FaultMissingRequired:
			for _, name := range shape.Required {
				if _, present := members[name]; present {
					delete(members, name)
					done = true
					break
				}
			}
		case FaultExtraMember:
			members[extraMember] = json.RawMessage("true")
			done = true
		}
	}
	if done {
		b, err := json.Marshal(members)
		if err == nil {
			return string(b)
		}
	}
	switch fault {
	case FaultWrongType:
		return `["injected wrong type"]`
	case FaultNull:
		return `null`
	case FaultMissingRequired:
		return `{}`
	default:
		return `{"` + extraMember + `":true}`
	}
}
