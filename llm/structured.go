package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// DefaultMaxAttempts is how many answers [GenerateStructured] asks for, at
// most, when no [WithMaxAttempts] option is given: the first, and up to two
// repairs.
const DefaultMaxAttempts = 3

// maxListedProblems bounds the problems a repair message lists.
const maxListedProblems = 20

// A StructuredOption configures [GenerateStructured].
type StructuredOption interface {
	apply(*structuredConfig)
}

type structuredConfig struct {
	maxAttempts int
	validate    *Schema
	accept      func(data []byte) bool
}

type optionFunc func(*structuredConfig)

func (f optionFunc) apply(c *structuredConfig) { f(c) }

// WithMaxAttempts bounds how many answers [GenerateStructured] asks for,
// the first included. Values below 1 count as 1: no repair.
func WithMaxAttempts(n int) StructuredOption {
	return optionFunc(func(c *structuredConfig) { c.maxAttempts = max(n, 1) })
}

// WithValidation makes [GenerateStructured] check answers against s instead
// of the schema it sends. Callers that coerce answers themselves use it to
// send the exact schema a provider should follow while repairing only what
// they cannot coerce — for example, validating that the answer is an
// object and leaving field types to the caller. A nil s changes nothing.
func WithValidation(s *Schema) StructuredOption {
	return optionFunc(func(c *structuredConfig) { c.validate = s })
}

// WithFastCheck gives [GenerateStructured] a check written in Go for the
// answers it sees most: accept(data) reports that data, if it is valid
// JSON, certainly satisfies the schema answers are checked against, so
// that the schema's own validation — the costly part of checking an
// answer — is skipped. accept must not keep or change data. accept may be
// given text that is not valid JSON:
// such text is refused however accept answers. When accept reports false,
// the schema validates as usual and reports the problems. accept must
// never report true for a valid value the schema rejects; it may report
// false for one it accepts.
func WithFastCheck(accept func(data []byte) bool) StructuredOption {
	return optionFunc(func(c *structuredConfig) { c.accept = accept })
}

// A Result is what [GenerateStructured] got from the model.
type Result[T any] struct {
	// Value is the decoded answer; the zero T when the call failed.
	Value T
	// Attempts counts the calls made to the model, repairs included.
	Attempts int
	// Usage sums the tokens of every call made, failed answers included.
	Usage Usage
	// Response is the last response received, if any.
	Response Response
}

// GenerateStructured asks m for an answer that satisfies schema and decodes
// it into a T.
//
// It sends req with req.Schema and req.SchemaName set from schema (the
// caller's req is not modified), then checks the answer: a completed answer
// (see [Response.Err]) whose content is a JSON value satisfying schema and
// decoding into T. Content that wraps the JSON in Markdown code fences or in
// prose is accepted when exactly one distinct JSON value within it
// satisfies schema; two different fitting values make the answer ambiguous,
// and it is repaired.
//
// An answer that fails the check is repaired: GenerateStructured appends the
// answer as an assistant message and a user message listing every problem
// (its JSON path and what is wrong), and asks again, up to the bound set by
// [WithMaxAttempts] (default [DefaultMaxAttempts]). If the last answer still
// fails, the error is an [*InvalidOutputError] carrying its problems; it
// matches [ErrInvalidOutput].
//
// Errors of m are returned as they are, without repair: classified ones keep
// their class. A truncated answer is not repaired either — a longer budget,
// not a second try, is the fix — and fails with [ErrOutputTruncated]; a
// refusal fails with [ErrRefused].
//
// The Result reports the attempts made and the usage summed over them, even
// when an error is returned.
func GenerateStructured[T any](ctx context.Context, m Model, schema *Schema, req Request, opts ...StructuredOption) (Result[T], error) {
	var res Result[T]
	if schema == nil {
		return res, fmt.Errorf("llm: GenerateStructured: nil schema: %w", ErrInvalidRequest)
	}
	cfg := structuredConfig{maxAttempts: DefaultMaxAttempts}
	for _, o := range opts {
		o.apply(&cfg)
	}
	check := schema
	if cfg.validate != nil {
		check = cfg.validate
	}
	req.Schema, req.SchemaName = schema.JSON(), schema.Name()
	req.Messages = append([]Message(nil), req.Messages...)
	if err := req.validate(true); err != nil { // a compiled schema is valid JSON
		return res, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		resp, err := m.Generate(ctx, req)
		res.Attempts++
		res.Usage = res.Usage.Add(resp.Usage)
		res.Response = resp
		if err != nil {
			return res, err
		}
		if err := resp.Err(); err != nil {
			return res, err
		}
		value, problems := decodeAnswer[T](check, cfg.accept, resp.Content)
		if problems == nil {
			res.Value = value
			return res, nil
		}
		if res.Attempts >= cfg.maxAttempts {
			return res, &InvalidOutputError{Schema: check.Name(), Problems: problems, Content: resp.Content, Attempts: res.Attempts}
		}
		req.Messages = append(req.Messages,
			Message{Role: RoleAssistant, Content: resp.Content},
			Message{Role: RoleUser, Content: RepairMessage(schema.Name(), problems)})
	}
}

// maxEmbeddedScans bounds how many times an answer with an unclosed bracket
// in its prose is scanned again, past that bracket, for JSON values: the
// work stays linear in the answer's length.
const maxEmbeddedScans = 16

// decodeAnswer finds the JSON value in content, validates it against schema
// and decodes it into a T. It returns the problems found, or nil.
//
// When the whole content is one JSON value, that value is judged alone.
// Otherwise every JSON value in a code fence or embedded in prose is a
// candidate, and the answer is accepted only when exactly one distinct
// candidate fits: a sample in the prose before the real answer, or two
// answers, make it ambiguous.
func decodeAnswer[T any](schema *Schema, accept func([]byte) bool, content string) (T, []Problem) {
	var zero T
	trimmed := strings.TrimSpace(content)
	data := []byte(trimmed)
	if (schema.plainObject || accept != nil) && len(data) > 0 && data[0] == '{' {
		// The common answer: one object that a fast check trusts, decoded
		// in one pass. Anything else takes the full path below.
		if schema.plainObject || accept(data) {
			if v, ok := decodeTrusted[T](data); ok {
				return v, nil
			}
		}
	}
	if json.Valid(data) {
		return decodeCandidate[T](schema, accept, trimmed)
	}
	candidates := embeddedJSON(content)
	if len(candidates) == 0 {
		return zero, []Problem{{Path: "$", Message: describeUnparsable(content)}}
	}
	var (
		fits     []T
		firstBad []Problem
	)
	for _, c := range candidates {
		v, problems := decodeCandidate[T](schema, accept, c)
		if problems == nil {
			fits = append(fits, v)
		} else if firstBad == nil {
			firstBad = problems
		}
	}
	switch len(fits) {
	case 0:
		return zero, firstBad
	case 1:
		return fits[0], nil
	}
	return zero, []Problem{{Path: "$", Message: fmt.Sprintf(
		"the answer holds %d different JSON values that satisfy the schema; answer with exactly one", len(fits))}}
}

// decodeTrusted decodes data, an answer its schema trusts, into a T in one
// pass; ok is false when data does not decode. A map of raw members — what
// extraction asks for — is split without reflection, each member's value a
// slice of data.
func decodeTrusted[T any](data []byte) (T, bool) {
	var v T
	if m, isRaw := any(&v).(*map[string]json.RawMessage); isRaw {
		if split, ok := splitObject(data); ok {
			*m = split
			return v, true
		}
	}
	if err := json.Unmarshal(data, &v); err != nil {
		var zero T
		return zero, false
	}
	return v, true
}

// splitObject returns the members of data, one JSON object, exactly as
// json.Unmarshal into a map[string]json.RawMessage would, or false for
// anything it leaves to json.Unmarshal: text that is not one valid object,
// and keys with escapes or invalid UTF-8 (which the decoder rewrites).
func splitObject(data []byte) (map[string]json.RawMessage, bool) {
	if !json.Valid(data) {
		return nil, false
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	out := map[string]json.RawMessage{}
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return out, true
	}
	for {
		end := skipString(data, i)
		key := data[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			return nil, false
		}
		i = skipSpace(data, skipSpace(data, end)+1) // past the colon
		vEnd := skipValue(data, i)
		out[string(key)] = data[i:vEnd:vEnd]
		i = skipSpace(data, vEnd)
		if data[i] == '}' {
			return out, true
		}
		i = skipSpace(data, i+1) // past the comma
	}
}

// The skippers walk text known to be valid JSON.

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at i.
func skipString(data []byte, i int) int {
	for i++; data[i] != '"'; i++ {
		if data[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// skipValue returns the index just past the value starting at i.
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(data) && !strings.ContainsRune(",}] \t\n\r", rune(data[i])) {
		i++
	}
	return i
}

// decodeCandidate validates one JSON text, known to be valid JSON, and
// decodes it into a T. The schema's validation is skipped when the plain
// object schema meets an object, or the caller's fast check accepts it.
func decodeCandidate[T any](schema *Schema, accept func([]byte) bool, text string) (T, []Problem) {
	var v T
	data := []byte(text)
	trusted := (schema.plainObject && text != "" && text[0] == '{') || (accept != nil && accept(data))
	if !trusted {
		if problems := schema.Problems(data); problems != nil {
			return v, problems
		}
	}
	if err := json.Unmarshal(data, &v); err != nil {
		var zero T
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			path := "$"
			if ute.Field != "" {
				path += "." + ute.Field
			}
			return zero, []Problem{{Path: path, Message: fmt.Sprintf("%s does not fit the expected %s", ute.Value, ute.Type)}}
		}
		return zero, []Problem{{Path: "$", Message: "does not decode: " + err.Error()}}
	}
	return v, nil
}

// embeddedJSON returns the distinct JSON values content holds in code
// fences or embedded in prose, in order of appearance, each compacted.
func embeddedJSON(content string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(strings.TrimSpace(s))) != nil {
			return
		}
		if c := compact.String(); c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, body := range fencedBodies(content) {
		add(body)
	}
	for start, scans := 0, 0; start < len(content) && scans < maxEmbeddedScans; scans++ {
		values, unclosed := scanValues(content[start:])
		for _, v := range values {
			add(v)
		}
		if unclosed < 0 {
			break
		}
		start += unclosed + 1
	}
	return out
}

// fencedBodies returns the texts inside the ``` fences of s, without their
// info strings (such as "json").
func fencedBodies(s string) []string {
	parts := strings.Split(s, "```")
	var out []string
	for i := 1; i+1 < len(parts); i += 2 {
		body := parts[i]
		if nl := strings.IndexByte(body, '\n'); nl >= 0 && !strings.ContainsAny(body[:nl], "{[") {
			body = body[nl+1:]
		}
		out = append(out, body)
	}
	return out
}

// scanValues finds, in one pass, the outermost bracketed values of s — an
// object or array opened in prose and closed again, brackets inside JSON
// strings skipped — and returns those that are valid JSON. unclosed is the
// index of the opening bracket of a value never closed, or -1.
func scanValues(s string) (values []string, unclosed int) {
	depth, open, inString, escaped := 0, 0, false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case depth == 0:
			if ch == '{' || ch == '[' {
				depth, open = 1, i
			}
		case inString && escaped:
			escaped = false
		case inString && ch == '\\':
			escaped = true
		case inString && ch == '"':
			inString = false
		case inString:
		case ch == '"':
			inString = true
		case ch == '{' || ch == '[':
			depth++
		case ch == '}' || ch == ']':
			if depth--; depth == 0 && json.Valid([]byte(s[open:i+1])) {
				values = append(values, s[open:i+1])
			}
		}
	}
	if depth > 0 {
		return values, open
	}
	return values, -1
}

func describeUnparsable(content string) string {
	trimmed := strings.TrimSpace(content)
	if trimmed == "" {
		return "the answer is empty; a JSON value is required"
	}
	var v any
	err := json.Unmarshal([]byte(trimmed), &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	}
	if err != nil {
		return "not valid JSON: " + err.Error()
	}
	return "not valid JSON"
}

// RepairMessage is the follow-up [GenerateStructured] sends after an answer
// that failed its schema: it names the schema and lists the problems, one
// per line as "- path: message", at most twenty of them.
func RepairMessage(schemaName string, problems []Problem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Your previous answer was rejected: it is not a JSON value satisfying the schema %q.\n", schemaName)
	b.WriteString("Problems (JSON path: what is wrong):\n")
	for i, p := range problems {
		if i == maxListedProblems {
			fmt.Fprintf(&b, "- ... and %d more\n", len(problems)-i)
			break
		}
		fmt.Fprintf(&b, "- %s\n", p)
	}
	b.WriteString("Answer again with only the corrected JSON value, no other text.")
	return b.String()
}

// An InvalidOutputError reports an answer that still failed its schema when
// [GenerateStructured] gave up. It matches [ErrInvalidOutput].
type InvalidOutputError struct {
	// Schema is the name of the schema the answer had to satisfy.
	Schema string
	// Problems lists what is wrong with the last answer.
	Problems []Problem
	// Content is the last answer, verbatim. It is model output: never show
	// it to an operator unfiltered.
	Content string
	// Attempts counts the answers asked for.
	Attempts int
}

// Error names the schema, the attempts and where the last answer was wrong,
// without quoting the answer or the validator's messages (which may quote
// it): the full detail is in Problems.
func (e *InvalidOutputError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "llm: invalid output for schema %q after %d attempt(s)", e.Schema, e.Attempts)
	var paths []string
	for _, p := range e.Problems {
		if !slices.Contains(paths, p.Path) {
			paths = append(paths, p.Path)
		}
	}
	for i, p := range paths {
		if i == 5 {
			fmt.Fprintf(&b, " and %d more", len(paths)-i)
			break
		}
		if i == 0 {
			b.WriteString(": problems at ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p)
	}
	return b.String()
}

// Is reports whether target is [ErrInvalidOutput].
func (e *InvalidOutputError) Is(target error) bool { return target == ErrInvalidOutput }
