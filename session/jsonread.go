package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// decodeLoose decodes data as one JSON value with numbers as json.Number.
func decodeLoose(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailingData
	}
	return v, nil
}

// notJSON describes why data did not decode, without quoting it.
func notJSON(err error) string {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON: a syntax error at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "not valid JSON: the data ends early"
	case errors.Is(err, errTrailingData):
		return "not valid JSON: " + err.Error()
	}
	return "not valid JSON"
}

type trailingDataError struct{}

// Error describes the problem.
func (trailingDataError) Error() string { return "unexpected data after the JSON value" }

var errTrailingData error = trailingDataError{}

// reader reads fields of a decoded JSON object, recording a problem, with
// its path, for each field of the wrong type.
type reader struct {
	ps *problems
}

// obj is one JSON object and its path.
type obj struct {
	r    reader
	m    map[string]any
	path string
}

func (r reader) object(v any, path string) (obj, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		r.ps.add(path, "is %s, not an object", jsonKind(v))
		return obj{}, false
	}
	return obj{r: r, m: m, path: path}, true
}

func (o obj) at(key string) string { return o.path + schemaval.Key(key) }

// has reports whether key is present and not null.
func (o obj) has(key string) bool { return o.m[key] != nil }

func (o obj) raw(key string) any { return o.m[key] }

// str returns the string at key; "" and false when absent, null or of
// another type (a problem then).
func (o obj) str(key string) (string, bool) {
	v := o.m[key]
	if v == nil {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		o.r.ps.add(o.at(key), "is %s, not a string", jsonKind(v))
		return "", false
	}
	return s, true
}

// int returns the integer at key (an integral JSON number); nil when
// absent or null.
func (o obj) int(key string) *int {
	v := o.m[key]
	if v == nil {
		return nil
	}
	n, ok := v.(json.Number)
	if !ok {
		o.r.ps.add(o.at(key), "is %s, not a number", jsonKind(v))
		return nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		o.r.ps.add(o.at(key), "is not an integer in range")
		return nil
	}
	i := int(f)
	return &i
}

// float returns the number at key; nil when absent or null.
func (o obj) float(key string) *float64 {
	v := o.m[key]
	if v == nil {
		return nil
	}
	n, ok := v.(json.Number)
	if !ok {
		o.r.ps.add(o.at(key), "is %s, not a number", jsonKind(v))
		return nil
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		o.r.ps.add(o.at(key), "is not a finite number")
		return nil
	}
	return &f
}

// boolean returns the boolean at key; nil when absent or null.
func (o obj) boolean(key string) *bool {
	v := o.m[key]
	if v == nil {
		return nil
	}
	b, ok := v.(bool)
	if !ok {
		o.r.ps.add(o.at(key), "is %s, not a boolean", jsonKind(v))
		return nil
	}
	return &b
}

// array returns the array at key; nil when absent or null.
func (o obj) array(key string) []any {
	v := o.m[key]
	if v == nil {
		return nil
	}
	a, ok := v.([]any)
	if !ok {
		o.r.ps.add(o.at(key), "is %s, not an array", jsonKind(v))
		return nil
	}
	return a
}

// time returns the timestamp at key (see parseTimestamp); nil when absent
// or null.
func (o obj) time(key string) *time.Time {
	s, ok := o.str(key)
	if !ok {
		return nil
	}
	t, err := parseTimestamp(s)
	if err != nil {
		o.r.ps.add(o.at(key), "%s", err.Error())
		return nil
	}
	return &t
}

// Timestamp layouts without a zone, read as UTC.
var zonelessLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// parseTimestamp reads an RFC 3339 timestamp, or one without a zone
// ("2024-01-06T07:34:43.252"), which is read as UTC. The result is in UTC.
// The zero time, and years outside 1..9999, are refused.
func parseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		for _, layout := range zonelessLayouts {
			if t, err = time.Parse(layout, s); err == nil {
				break
			}
		}
	}
	if err != nil {
		return time.Time{}, errNotTimestamp
	}
	t = t.UTC()
	if t.IsZero() || t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, errNotTimestamp
	}
	return t, nil
}

type timestampError struct{}

// Error names the formats accepted; it does not repeat the value, which
// may be anything.
func (timestampError) Error() string {
	return "is not a timestamp (RFC 3339, or ISO 8601 without a zone, read as UTC)"
}

var errNotTimestamp error = timestampError{}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "an unknown value"
}

func ptr[T any](v T) *T { return &v }
