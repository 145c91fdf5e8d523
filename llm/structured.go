package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
// decoding into T. Content that wraps the JSON in a Markdown code fence or in
// prose is accepted when exactly the JSON value within it satisfies schema.
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
		return res, errors.New("llm: GenerateStructured: nil schema")
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
	if err := req.Validate(); err != nil {
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
		value, problems := decodeAnswer[T](check, resp.Content)
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

// decodeAnswer finds the JSON value in content, validates it against schema
// and decodes it into a T. It returns the problems found, or nil.
func decodeAnswer[T any](schema *Schema, content string) (T, []Problem) {
	var zero T
	candidates := jsonCandidates(content)
	if len(candidates) == 0 {
		return zero, []Problem{{Path: "$", Message: describeUnparsable(content)}}
	}
	var first []Problem
	for _, c := range candidates {
		problems := schema.Problems([]byte(c))
		if problems == nil {
			var v T
			if err := json.Unmarshal([]byte(c), &v); err != nil {
				problems = []Problem{{Path: "$", Message: "does not decode: " + err.Error()}}
			} else {
				return v, nil
			}
		}
		if first == nil {
			first = problems
		}
	}
	return zero, first
}

// jsonCandidates returns the JSON values content may hold, best first: the
// whole content, the body of a Markdown code fence, and the outermost
// object or array embedded in prose. Only syntactically valid ones are
// returned.
func jsonCandidates(content string) []string {
	var out []string
	seen := map[string]bool{}
	try := func(s string) {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] && json.Valid([]byte(s)) {
			seen[s] = true
			out = append(out, s)
		}
	}
	try(content)
	if body, ok := fencedBody(content); ok {
		try(body)
	}
	if start := strings.IndexAny(content, "{["); start >= 0 {
		if end := matchingClose(content, start); end > start {
			try(content[start : end+1])
		}
	}
	return out
}

// fencedBody returns the text inside the first ``` fence of s.
func fencedBody(s string) (string, bool) {
	_, rest, ok := strings.Cut(s, "```")
	if !ok {
		return "", false
	}
	if nl := strings.IndexByte(rest, '\n'); nl >= 0 && !strings.ContainsAny(rest[:nl], "{[") {
		rest = rest[nl+1:] // drop the info string, such as "json"
	}
	body, _, ok := strings.Cut(rest, "```")
	return body, ok
}

// matchingClose returns the index of the bracket that closes the one at
// s[start], skipping brackets inside JSON strings, or -1.
func matchingClose(s string, start int) int {
	depth, inString, escaped := 0, false, false
	for i := start; i < len(s); i++ {
		ch := s[i]
		switch {
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
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
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

// Error summarises the problems without quoting the answer.
func (e *InvalidOutputError) Error() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "llm: invalid output for schema %q after %d attempt(s)", e.Schema, e.Attempts)
	for i, p := range e.Problems {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-i)
			break
		}
		sep := ": "
		if i > 0 {
			sep = "; "
		}
		b.WriteString(sep + p.String())
	}
	return b.String()
}

// Is reports whether target is [ErrInvalidOutput].
func (e *InvalidOutputError) Is(target error) bool { return target == ErrInvalidOutput }
