package analysis

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/debrief-go/debrief/internal/jsoncheck"
	"github.com/debrief-go/debrief/internal/schemaval"
)

// decodeStrict decodes data, one JSON value, into v after checking its
// shape against v's type: every member name must be one of the type's JSON
// names exactly (encoding/json alone would accept "Name" for "name"), and
// every value must have the JSON type the Go type takes. All problems are
// reported, each at its full path under root.
//
// Before anything is decoded, the text is checked against lim (so that a
// small body of many tiny values cannot cost much more memory than its
// size) and for what encoding/json would change silently: a member given
// twice, text that is not UTF-8.
func decodeStrict(data []byte, v any, root string, lim jsoncheck.Limits) error {
	if !json.Valid(data) {
		var doc any
		return decodeError(json.Unmarshal(data, &doc), root) // locates the syntax error
	}
	if bad := jsoncheck.CheckLimits(data, root, lim); bad != nil {
		return invalid(bad.Path, bad.Message)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return decodeError(err, root)
	}
	var p problems
	checkShape(doc, reflect.TypeOf(v).Elem(), root, &p)
	if err := p.err(); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return decodeError(err, root)
	}
	return nil
}

// DecodeJSON decodes data, one JSON value, into v (a pointer) as the
// service decodes what it is given, so that an API in front of it answers
// alike: member names must be v's JSON names exactly, each given once;
// unknown members, values of the wrong JSON type, numbers out of range and
// text that is not UTF-8 are refused, every problem at its JSON path. It
// fails with an error matching ErrInvalid (an [*extract.ValidationError]).
// The document may hold at most 100,000 values, nested at most 16 deep.
func DecodeJSON(data []byte, v any) error {
	return decodeStrict(data, v, "$", definitionLimits)
}

// The limits of the JSON documents the service decodes: a conversation
// holds a transcript of at most MaxTurns turns of a few members each, its
// tags and reference fields; a definition its field set and modes. Both
// leave room to spare.
var (
	conversationLimits = jsoncheck.Limits{MaxValues: 4*MaxTurns + MaxTags + 2*MaxReferenceFields + evidenceValues + 64, MaxDepth: 8}
	definitionLimits   = jsoncheck.Limits{MaxValues: 100_000, MaxDepth: 16}
)

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkShape adds a problem for every member of v that t has no field for
// and every value of the wrong JSON type.
func checkShape(v any, t reflect.Type, path string, p *problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return // null is accepted for any Go type: it leaves the zero value
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return // the type reads its own form: decoding reports its errors
	}
	want := ""
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			want = "an object"
			break
		}
		fields := jsonFields(t)
		for _, k := range sortedMembers(obj) {
			ft, ok := fields[k]
			if !ok {
				msg := "unknown member"
				for name := range fields {
					if strings.EqualFold(name, k) {
						msg = fmt.Sprintf("unknown member (names are case-sensitive: %q)", name)
					}
				}
				p.add(-1, path+schemaval.Key(k), msg)
				continue
			}
			checkShape(obj[k], ft, path+schemaval.Key(k), p)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			want = "an object"
			break
		}
		for _, k := range sortedMembers(obj) {
			checkShape(obj[k], t.Elem(), path+schemaval.Key(k), p)
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			want = "an array"
			break
		}
		for i, x := range arr {
			checkShape(x, t.Elem(), path+schemaval.Index(i), p)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			want = "a string"
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			want = "a boolean"
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			want = "an integer"
		} else if _, err := n.Int64(); err != nil {
			want = "an integer"
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			want = "a number"
		} else {
			checkRange(v, path, p)
		}
	case reflect.Interface:
		checkRange(v, path, p) // any JSON value goes, but a number must fit
	}
	if want != "" {
		p.add(-1, path, fmt.Sprintf("got %s, want %s", jsonKindOf(v), want))
	}
}

// jsonFields maps the JSON names of struct t's fields to their types,
// following encoding/json's rules for tags and embedded structs.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, shadowed := out[k]; !shadowed {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedMembers(obj map[string]any) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonKindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

// checkRange adds a problem for every number in v, a decoded value, that
// does not fit a float64 (1e400): decoding would fail on it without saying
// where.
func checkRange(v any, path string, p *problems) {
	switch x := v.(type) {
	case json.Number:
		if _, err := strconv.ParseFloat(string(x), 64); err != nil {
			p.add(-1, path, fmt.Sprintf("%s is out of the range of a number", clip(string(x), 40)))
		}
	case map[string]any:
		for _, k := range sortedMembers(x) {
			checkRange(x[k], path+schemaval.Key(k), p)
		}
	case []any:
		for i, e := range x {
			checkRange(e, path+schemaval.Index(i), p)
		}
	}
}
