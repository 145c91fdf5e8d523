package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/debrief-go/debrief/llm"
)

// demoNote is the text of every free-text field the demo model writes.
const demoNote = "Offline demo model: this answer was not written by a language model."

// demoModel answers every request offline with a valid answer to its
// schema, built from the schema alone: an enum value the data block
// mentions (else the first), the note above for free text, the middle of
// a number's range, false, empty lists — a value rather than null where
// either is allowed. It says
// what it is in every free-text field, so that nobody mistakes its output
// for an analysis.
type demoModel struct{}

// Generate implements llm.Model.
func (demoModel) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return llm.Response{}, err
	}
	var text strings.Builder
	for _, m := range req.Messages {
		text.WriteString(strings.ToLower(m.Content))
	}
	var schema map[string]any
	if len(req.Schema) > 0 {
		if err := json.Unmarshal(req.Schema, &schema); err != nil {
			return llm.Response{}, &llm.Error{Kind: llm.ErrInvalidRequest, Message: "the schema is not JSON"}
		}
	}
	f := filler{defs: defsOf(schema), text: text.String()}
	out, err := json.Marshal(f.value(schema, 0))
	if err != nil {
		return llm.Response{}, err
	}
	return llm.Response{Content: string(out), Model: "offline-demo", FinishReason: llm.FinishStop,
		Usage: llm.Usage{InputTokens: int64(len(req.System)+text.Len()) / 4, OutputTokens: int64(len(out)) / 4}}, nil
}

func defsOf(schema map[string]any) map[string]any {
	if d, ok := schema["$defs"].(map[string]any); ok {
		return d
	}
	d, _ := schema["definitions"].(map[string]any)
	return d
}

// filler builds a value valid against a schema.
type filler struct {
	defs map[string]any
	text string
}

func (f filler) value(s map[string]any, depth int) any {
	if s == nil || depth > 32 {
		return map[string]any{}
	}
	if ref, ok := s["$ref"].(string); ok {
		name := ref[strings.LastIndex(ref, "/")+1:]
		def, _ := f.defs[name].(map[string]any)
		return f.value(def, depth+1)
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		for _, v := range enum {
			if str, ok := v.(string); ok && str != "" && strings.Contains(f.text, strings.ToLower(str)) {
				return v
			}
		}
		return enum[0]
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := s[key].([]any); ok && len(alts) > 0 {
			for _, alt := range alts { // a value rather than null, when there is a choice
				if m, ok := alt.(map[string]any); ok && m["type"] != "null" {
					return f.value(m, depth+1)
				}
			}
			return nil
		}
	}
	types := typesOf(s["type"])
	switch {
	case len(types) == 1 && types[0] == "null":
		return nil
	case slices.Contains(types, "object"):
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for name, p := range props {
			m, _ := p.(map[string]any)
			out[name] = f.value(m, depth+1)
		}
		return out
	case slices.Contains(types, "array"):
		n := 0
		if min, ok := s["minItems"].(float64); ok {
			n = int(min)
		}
		items, _ := s["items"].(map[string]any)
		out := make([]any, n)
		for i := range out {
			out[i] = f.value(items, depth+1)
		}
		return out
	case slices.Contains(types, "string"):
		return demoNote
	case slices.Contains(types, "number"), slices.Contains(types, "integer"):
		lo, hasLo := s["minimum"].(float64)
		hi, hasHi := s["maximum"].(float64)
		switch {
		case hasLo && hasHi && slices.Contains(types, "number"):
			return (lo + hi) / 2
		case hasLo:
			return lo
		case hasHi && hi < 0:
			return hi
		}
		return 0
	case slices.Contains(types, "boolean"):
		return false
	}
	return nil
}

func typesOf(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
