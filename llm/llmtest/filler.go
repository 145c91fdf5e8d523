package llmtest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/debrief-go/debrief/llm"
)

// A Filler is a model that answers every request with a value its schema
// accepts, built from the schema alone: an enum value the request's
// messages mention (else the first), Text for free text, the middle of a
// number's range (or its bound, or 0), false, the fewest list items
// allowed (at most 1,000) — a value rather than null where either is
// allowed. It follows
// $ref into $defs. It stands in for a model where the answer's content
// does not matter, only its shape: a load test, an offline demo (whose
// Text says it is one), a test of plumbing. It is safe for concurrent use.
type Filler struct {
	// Text is every free-text value; empty means "filler".
	Text string
	// Model is the model name answers report; empty means the request's
	// model key.
	Model string
}

// Generate answers req.
func (fl Filler) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
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
	note := fl.Text
	if note == "" {
		note = "filler"
	}
	f := filler{defs: defsOf(schema), text: text.String(), note: note}
	out, err := json.Marshal(f.value(schema, 0))
	if err != nil {
		return llm.Response{}, err
	}
	model := fl.Model
	if model == "" {
		model = req.Model
	}
	return llm.Response{Content: string(out), Model: model, FinishReason: llm.FinishStop,
		Usage: llm.Usage{InputTokens: int64(len(req.System)+text.Len()) / 4, OutputTokens: int64(len(out)) / 4}}, nil
}

func defsOf(schema map[string]any) map[string]any {
	if d, ok := schema["$defs"].(map[string]any); ok {
		return d
	}
	d, _ := schema["definitions"].(map[string]any)
	return d
}

// maxFillItems bounds the items of a list a Filler writes, whatever the
// schema's minItems says.
const maxFillItems = 1000

// filler builds a value valid against a schema.
type filler struct {
	defs map[string]any
	text string // the messages, lower-cased
	note string // the free text
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
		if min, ok := s["minItems"].(float64); ok && min > 0 {
			n = int(min)
		}
		if n > maxFillItems {
			n = maxFillItems // the answer fails the schema: better than no memory left
		}
		items, _ := s["items"].(map[string]any)
		out := make([]any, n)
		for i := range out {
			out[i] = f.value(items, depth+1)
		}
		return out
	case slices.Contains(types, "string"):
		return f.note
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
