package llm

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
)

// StrictSchema returns the JSON Schema of T in the strict subset that
// structured-output providers accept, generated with invopop/jsonschema from
// T's fields and their json and jsonschema tags:
//
//   - the root is an object schema, T's own, never a bare $ref;
//
//   - every object lists all of its properties in "required" and has
//     "additionalProperties": false;
//
//   - a property is optional in Go — a pointer, or tagged omitempty or
//     omitzero — is nullable in the schema: "type": [T, "null"] for a plain
//     scalar, "anyOf": [schema, {"type": "null"}] for anything else; never
//     "oneOf";
//
//   - properties keep the order of T's fields, so a model writes them in that
//     order (put a "reasoning" field before a "score" field, for example);
//
//   - named struct types become $defs, recursive ones included; a reference
//     to T itself is "#".
//
//   - sized and unsigned integers get the range Go can decode into them.
//
// T must be a struct (or a pointer to one). Maps, interfaces,
// json.RawMessage, byte slices, url.URL and net.IP have no strict schema
// a model can be held to, and are reported as errors naming the field, as
// is any keyword outside the strict subset (see [CheckStrict]).
func StrictSchema[T any]() (json.RawMessage, error) {
	return strictSchemaOf(reflect.TypeFor[T]())
}

// SchemaFor compiles [StrictSchema] of T under name (see [NewSchema]).
func SchemaFor[T any](name string) (*Schema, error) {
	raw, err := StrictSchema[T]()
	if err != nil {
		return nil, err
	}
	return NewSchema(name, raw)
}

// MustSchemaFor is like [SchemaFor] but panics on error. It is meant for
// package-level variables.
func MustSchemaFor[T any](name string) *Schema {
	s, err := SchemaFor[T](name)
	if err != nil {
		panic(err)
	}
	return s
}

var (
	timeType = reflect.TypeFor[time.Time]()
	urlType  = reflect.TypeFor[url.URL]()
	// customSchemaType is the interface of a type that writes its own schema,
	// as invopop/jsonschema recognises it.
	customSchemaType = reflect.TypeFor[interface{ JSONSchema() *jsonschema.Schema }]()
	ipType           = reflect.TypeFor[net.IP]()
	rawMessageType   = reflect.TypeFor[json.RawMessage]()
	unsafeNameRE     = regexp.MustCompile(`[^A-Za-z0-9_]+`)
)

func strictSchemaOf(t reflect.Type) (json.RawMessage, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == timeType {
		return nil, fmt.Errorf("llm: strict schema of %s: the root must be a struct, so that the schema is an object", t)
	}
	n := &namer{byType: map[reflect.Type]string{}, taken: map[string]reflect.Type{}}
	rootName := n.name(t)
	r := &jsonschema.Reflector{Anonymous: true, ExpandedStruct: true, Namer: n.name}
	reflected := r.ReflectFromType(t)
	reflected.Version = ""
	// Rewrite a copy: a type's JSONSchema method may return a schema its
	// package shares, which must not change.
	copied, err := json.Marshal(reflected)
	if err != nil {
		return nil, fmt.Errorf("llm: strict schema of %s: %w", t, err)
	}
	root := &jsonschema.Schema{}
	if err := json.Unmarshal(copied, root); err != nil {
		return nil, fmt.Errorf("llm: strict schema of %s: %w", t, err)
	}
	s := &strictifier{defs: root.Definitions, root: rootName, types: map[string]reflect.Type{}}
	s.types[s.root] = t
	if err := s.object(root, t, t.String()); err != nil {
		return nil, err
	}
	for len(s.queue) > 0 {
		name := s.queue[0]
		s.queue = s.queue[1:]
		def, ok := s.defs[name]
		if !ok {
			return nil, fmt.Errorf("llm: strict schema of %s: missing definition %q", t, name)
		}
		where := "$defs." + name
		if dt := s.types[name]; dt != nil {
			where = dt.String()
		}
		if err := s.visit(def, s.types[name], where); err != nil {
			return nil, err
		}
	}
	delete(root.Definitions, s.root)
	if len(root.Definitions) == 0 {
		root.Definitions = nil
	}
	raw, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("llm: strict schema of %s: %w", t, err)
	}
	if err := CheckStrict(raw); err != nil {
		return nil, fmt.Errorf("llm: strict schema of %s: %w", t, err)
	}
	return raw, nil
}

// namer names the $defs of Go types: the type's name, made safe, or — for a
// second type of the same name from another package — the package's name
// and the type's. It returns "" only for unnamed types (which invopop
// inlines), and always the same name for a type.
type namer struct {
	byType map[reflect.Type]string
	taken  map[string]reflect.Type
}

func (n *namer) name(t reflect.Type) string {
	if t.Name() == "" {
		return ""
	}
	if s, ok := n.byType[t]; ok {
		return s
	}
	base := strings.Trim(unsafeNameRE.ReplaceAllString(t.Name(), "_"), "_")
	if base == "" {
		base = "Type"
	}
	name := base
	if prev, taken := n.taken[name]; taken && prev != t {
		pkg := strings.Trim(unsafeNameRE.ReplaceAllString(path.Base(t.PkgPath()), "_"), "_")
		name = pkg + "_" + base
		for i := 2; n.taken[name] != nil; i++ {
			name = fmt.Sprintf("%s_%s_%d", pkg, base, i)
		}
	}
	n.byType[t], n.taken[name] = name, t
	return name
}

// strictifier rewrites an invopop schema into the strict subset, walking it
// alongside the Go type it was reflected from.
type strictifier struct {
	defs  jsonschema.Definitions
	root  string
	types map[string]reflect.Type // definition name → Go type
	queue []string                // definitions still to rewrite
}

// visit rewrites sch, the schema of Go type t. A nil t stands for a schema
// written by hand in a JSONSchema method, whose properties have no Go field
// to go by: its objects are made strict from the schema alone.
func (s *strictifier) visit(sch *jsonschema.Schema, t reflect.Type, where string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t.Implements(customSchemaType) {
		t = nil
	}
	if sch.Ref != "" {
		name := strings.TrimPrefix(sch.Ref, "#/$defs/")
		if prev, seen := s.types[name]; seen {
			if prev != t && prev != nil && t != nil {
				return fmt.Errorf("llm: strict schema: %s and %s share the definition name %q", prev, t, name)
			}
			if name == s.root {
				sch.Ref = "#"
			}
			return nil
		}
		s.types[name] = t
		s.queue = append(s.queue, name)
		return nil
	}
	if t == nil {
		switch {
		case sch.Properties != nil:
			return s.object(sch, nil, where)
		case sch.Items != nil:
			return s.visit(sch.Items, nil, where+"[]")
		}
		return nil
	}
	switch {
	case t == rawMessageType:
		return fmt.Errorf("llm: strict schema: %s is json.RawMessage, which has no strict schema", where)
	case t == urlType || t == ipType:
		return fmt.Errorf("llm: strict schema: %s is a %s, which encoding/json cannot decode from a model's text: use a string", where, t)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return fmt.Errorf("llm: strict schema: %s is a byte slice (base64 text), which models cannot write reliably: use a string", where)
	case t.Kind() == reflect.Map:
		return fmt.Errorf("llm: strict schema: %s is a map, which has no strict schema (use a struct or a slice of key/value structs)", where)
	case t.Kind() == reflect.Interface:
		return fmt.Errorf("llm: strict schema: %s is an interface, which has no strict schema", where)
	case t.Kind() == reflect.Struct && t != timeType && sch.Properties != nil:
		return s.object(sch, t, where)
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && sch.Items != nil:
		return s.visit(sch.Items, t.Elem(), where+"[]")
	case sch.Type == "integer":
		boundInteger(sch, t)
	}
	return nil
}

// boundInteger gives a sized or unsigned integer the range Go can decode
// into it, unless tags already set one, so that an out-of-range answer is
// repaired instead of failing to decode.
func boundInteger(sch *jsonschema.Schema, t reflect.Type) {
	var lo, hi string
	switch t.Kind() {
	case reflect.Int8:
		lo, hi = "-128", "127"
	case reflect.Int16:
		lo, hi = "-32768", "32767"
	case reflect.Int32:
		lo, hi = "-2147483648", "2147483647"
	case reflect.Uint8:
		lo, hi = "0", "255"
	case reflect.Uint16:
		lo, hi = "0", "65535"
	case reflect.Uint32:
		lo, hi = "0", "4294967295"
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		lo = "0"
	}
	if lo != "" && sch.Minimum == "" && sch.ExclusiveMinimum == "" {
		sch.Minimum = json.Number(lo)
	}
	if hi != "" && sch.Maximum == "" && sch.ExclusiveMaximum == "" {
		sch.Maximum = json.Number(hi)
	}
}

func (s *strictifier) object(sch *jsonschema.Schema, t reflect.Type, where string) error {
	var fields map[string]reflect.Type
	if t != nil {
		fields = fieldTypes(t)
	}
	wasRequired := map[string]bool{}
	for _, name := range sch.Required {
		wasRequired[name] = true
	}
	var required []string
	for pair := sch.Properties.Oldest(); pair != nil; pair = pair.Next() {
		name, prop := pair.Key, pair.Value
		ft, ok := fields[name]
		if !ok && t != nil {
			return fmt.Errorf("llm: strict schema: property %q of %s has no Go field", name, where)
		}
		nullable := !wasRequired[name] || (ft != nil && ft.Kind() == reflect.Pointer)
		if len(prop.OneOf) == 2 && prop.OneOf[1].Type == "null" { // jsonschema:"nullable"
			prop, nullable = prop.OneOf[0], true
		}
		if err := s.visit(prop, ft, where+"."+name); err != nil {
			return err
		}
		if nullable {
			prop = makeNullable(prop)
		}
		sch.Properties.Set(name, prop)
		required = append(required, name)
	}
	sch.Required = required
	sch.AdditionalProperties = jsonschema.FalseSchema
	return nil
}

// makeNullable lets prop also be null: a type array for a plain scalar, an
// anyOf with the null type for anything else (an enum, a reference, an object).
func makeNullable(prop *jsonschema.Schema) *jsonschema.Schema {
	switch prop.Type {
	case "string", "number", "integer", "boolean", "array", "object":
		if prop.Ref == "" && prop.Enum == nil && prop.Const == nil && prop.AnyOf == nil && prop.OneOf == nil {
			if prop.Extras == nil {
				prop.Extras = map[string]any{}
			}
			prop.Extras["type"] = []string{prop.Type, "null"}
			prop.Type = ""
			return prop
		}
	}
	desc := prop.Description
	prop.Description = ""
	return &jsonschema.Schema{Description: desc, AnyOf: []*jsonschema.Schema{prop, {Type: "null"}}}
}

// fieldTypes maps each JSON property name of struct t to its Go type,
// following the naming and embedding rules invopop/jsonschema applies.
func fieldTypes(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		jsonTag := strings.Split(f.Tag.Get("json"), ",")
		if jsonTag[0] == "-" || strings.Split(f.Tag.Get("jsonschema"), ",")[0] == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if (f.Anonymous && jsonTag[0] == "" && ft.Kind() == reflect.Struct) || slices.Contains(jsonTag[1:], "inline") {
			for name, typ := range fieldTypes(ft) {
				if _, shadowed := out[name]; !shadowed {
					out[name] = typ
				}
			}
			continue
		}
		if !f.Anonymous && !f.IsExported() {
			continue
		}
		name := f.Name
		if jsonTag[0] != "" {
			name = jsonTag[0]
		}
		out[name] = f.Type
	}
	return out
}

// The keywords the strict structured-output subset accepts.
var strictKeywords = map[string]bool{
	"type": true, "properties": true, "required": true, "additionalProperties": true,
	"items": true, "enum": true, "const": true, "anyOf": true, "$ref": true, "$defs": true,
	"description": true, "title": true, "format": true, "pattern": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
	"multipleOf": true, "minItems": true, "maxItems": true,
}

// A NotStrictError lists every way in which a schema falls outside the
// strict structured-output subset. Each [Problem] is located by the JSON
// pointer of the offending subschema, such as "#/properties/score".
type NotStrictError struct {
	// Problems lists every violation, in document order.
	Problems []Problem
}

// Error lists the problems.
func (e *NotStrictError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "schema is not strict: " + strings.Join(parts, "; ")
}

// CheckStrict reports, as a [*NotStrictError], every way in which raw falls
// outside the strict structured-output subset: the root must be an object
// schema; every object schema must list all its properties in "required"
// and set "additionalProperties" to false; every array must say its
// "items"; every schema must say its type (or use anyOf, $ref, enum or
// const); "$defs" may appear only at the root and "$ref" may point only at
// "#" or one of those definitions; and only these keywords may appear: type,
// properties, required, additionalProperties, items, enum, const, anyOf,
// $ref, $defs, description, title, format, pattern, minimum, maximum,
// exclusiveMinimum, exclusiveMaximum, multipleOf, minItems, maxItems.
func CheckStrict(raw json.RawMessage) error {
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return &NotStrictError{Problems: []Problem{{Path: "#", Message: "not valid JSON: " + err.Error()}}}
	}
	c := &strictChecker{}
	root, _ := doc.(map[string]any)
	if root == nil {
		c.add("#", "the root must be an object schema")
	} else {
		if defs, ok := root["$defs"].(map[string]any); ok {
			c.defs = defs
		}
		if root["type"] != "object" {
			c.add("#", `the root must have "type": "object"`)
		}
		for _, kw := range []string{"$ref", "anyOf"} {
			if _, ok := root[kw]; ok {
				c.add("#", fmt.Sprintf("the root must be an object schema, not %q", kw))
			}
		}
		c.check(root, "#", true)
	}
	if len(c.problems) == 0 {
		return nil
	}
	return &NotStrictError{Problems: c.problems}
}

type strictChecker struct {
	defs     map[string]any
	problems []Problem
}

func (c *strictChecker) add(path, msg string) {
	c.problems = append(c.problems, Problem{Path: path, Message: msg})
}

func (c *strictChecker) check(node any, path string, isRoot bool) {
	sch, ok := node.(map[string]any)
	if !ok {
		c.add(path, "a schema must be an object, not a boolean or other value")
		return
	}
	keys := make([]string, 0, len(sch))
	for k := range sch {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strictKeywords[k] {
			c.add(path, fmt.Sprintf("keyword %q is not supported in strict mode", k))
		}
	}
	typed := false
	for _, kw := range []string{"type", "anyOf", "$ref", "enum", "const"} {
		if _, ok := sch[kw]; ok {
			typed = true
		}
	}
	if !typed {
		c.add(path, `a schema must say its "type" (or use anyOf, $ref, enum or const)`)
	}
	if _, ok := sch["$defs"]; ok && !isRoot {
		c.add(path, `"$defs" may appear only at the root`)
	}
	if ref, ok := sch["$ref"].(string); ok {
		name, isDef := strings.CutPrefix(ref, "#/$defs/")
		if _, found := c.defs[name]; ref != "#" && !(isDef && found) {
			c.add(path, fmt.Sprintf("$ref %q must point at \"#\" or an entry of the root's $defs", ref))
		}
	}
	types := typeList(sch["type"])
	props, hasProps := sch["properties"].(map[string]any)
	if slices.Contains(types, "object") || hasProps {
		if ap, ok := sch["additionalProperties"].(bool); !ok || ap {
			c.add(path, `an object must set "additionalProperties": false`)
		}
		req := map[string]bool{}
		reqList, _ := sch["required"].([]any)
		for _, r := range reqList {
			name, _ := r.(string)
			req[name] = true
			if _, ok := props[name]; !ok {
				c.add(path, fmt.Sprintf("required property %q is not among the properties", name))
			}
		}
		for _, name := range sortedKeys(props) {
			if !req[name] {
				c.add(path, fmt.Sprintf("property %q must be required (make it nullable to make it optional)", name))
			}
			c.check(props[name], path+"/properties/"+escapePointer(name), false)
		}
	}
	if slices.Contains(types, "array") {
		if _, ok := sch["items"]; !ok {
			c.add(path, `an array must say its "items"`)
		}
	}
	if items, ok := sch["items"]; ok {
		c.check(items, path+"/items", false)
	}
	if anyOf, ok := sch["anyOf"].([]any); ok {
		for i, sub := range anyOf {
			c.check(sub, fmt.Sprintf("%s/anyOf/%d", path, i), false)
		}
	}
	if isRoot {
		for _, name := range sortedKeys(c.defs) {
			c.check(c.defs[name], "#/$defs/"+escapePointer(name), false)
		}
	}
}

func typeList(v any) []string {
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

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
