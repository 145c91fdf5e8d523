package timeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// An Event is one entry of a flow's timeline. Hosts map their own log
// records onto it. Its JSON form is an object such as
//
//	{
//	  "index": 42,
//	  "type": "call_hangup",
//	  "timestamp": "2024-03-01T10:05:12Z",
//	  "resource_type": "call",
//	  "resource_id": "c3d4e5f6-a7b8-9012-cdef-123456789012",
//	  "severity": "info",
//	  "data": {"hangup_reason": "normal", "hangup_by": "remote"}
//	}
//
// whose JSON Schema is [EventSchema]. Only type and timestamp are required.
//
// The events of a flow are ordered by timestamp, then by index; the
// pipeline sorts them (stably) when they are not. Index is the host's
// sequence number and only breaks ties: the positions models cite as
// evidence are positions in the analysed list, not indexes.
//
// The package gives meaning to a few event types and resource types — the
// transcription turns ([EventUserTranscription], [EventBotTranscription]),
// the AI session start ([EventAIInitialized]), AI and agent resource types
// (see [ComputeSessionContext]) — and to error and hang-up events (see
// [IsErrorEvent] and [IsHangupEvent]). Every other event is data the model
// reads.
type Event struct {
	// Index is the host's sequence number of the event within the flow,
	// zero or more. It breaks ties between events of the same timestamp.
	Index int64 `json:"index"`
	// Type names what happened: call_hangup, message_bot_transcription, ...
	Type string `json:"type"`
	// Timestamp is when it happened.
	Timestamp time.Time `json:"timestamp"`
	// ResourceType is the type of the resource the event is about: call,
	// conversation, transcribe, aicall, agent, ... Optional.
	ResourceType string `json:"resource_type,omitempty"`
	// ResourceID identifies that resource. Optional.
	ResourceID string `json:"resource_id,omitempty"`
	// Severity is "", info, warning or error; error marks an error event.
	Severity string `json:"severity,omitempty"`
	// Data is the event's payload, any JSON value. It is untrusted: it
	// reaches a model only as data. Optional.
	Data json.RawMessage `json:"data,omitempty"`
}

// Event types the pipeline interprets.
const (
	// EventUserTranscription is one turn of the end user, transcribed.
	// Each user turn is paired with the next bot turn after it to measure
	// the bot's response latency (see [ComputeMetrics]).
	EventUserTranscription = "message_user_transcription"
	// EventBotTranscription is one turn of the bot, transcribed. The first
	// one after the answer gives first_response_ms; each one closes the
	// pairs of the user turns since the previous bot turn.
	EventBotTranscription = "message_bot_transcription"
	// EventBotLLM is a bot's complete language-model answer; it is not a
	// turn (the turn is its transcription).
	EventBotLLM = "message_bot_llm"
	// EventBotLLMIntermediate is an intermediate tick of a streaming bot
	// answer; it is never counted as a turn.
	EventBotLLMIntermediate = "message_bot_llm_intermediate"
	// EventAIInitialized marks the start (answer) of an AI voice session;
	// first-response latency is measured from it.
	EventAIInitialized = "pipecatcall_initialized"
)

// Resource types the pipeline interprets.
const (
	// ResourceAI, ResourceAICall and ResourcePipecatCall mark events of an
	// AI session (see [SessionContext.AIHandled]).
	ResourceAI          = "ai"
	ResourceAICall      = "aicall"
	ResourcePipecatCall = "pipecatcall"
	// ResourceAgent marks events of a human agent's leg (see
	// [SessionContext.HumanInvolved]).
	ResourceAgent = "agent"
)

// Limits on the fields of an [Event].
const (
	// MaxTypeLen bounds Type, ResourceType and ResourceID, in characters
	// (Unicode code points), as the maxLength of [EventSchema] counts them.
	MaxTypeLen = 256
)

// IsErrorEvent reports whether e is an error event: its Severity is
// "error", or its Type has a segment — a part between "_" or "." — equal,
// ignoring ASCII case, to error, failed, failure or timeout
// ("recording_failed", "call.media_error", "ai_timeout"). Error events are
// never dropped by input reduction and are flagged to the model.
func IsErrorEvent(e *Event) bool {
	isErr, _ := classify(e)
	return isErr
}

// IsHangupEvent reports whether e's Type has a segment equal, ignoring
// ASCII case, to hangup ("call_hangup"). Hang-up events mark the end of
// each leg; like error events, they are never dropped by input reduction.
func IsHangupEvent(e *Event) bool {
	_, hangup := classify(e)
	return hangup
}

// classify reports whether e is an error event and whether it is a hang-up
// event, in one pass over its type, without allocating.
func classify(e *Event) (isErr, hangup bool) {
	isErr = e.Severity == "error"
	s := e.Type
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '_' && s[i] != '.' {
			continue
		}
		switch seg := s[start:i]; len(seg) {
		case 5:
			isErr = isErr || equalFoldASCII(seg, "error")
		case 6:
			isErr = isErr || equalFoldASCII(seg, "failed")
			hangup = hangup || equalFoldASCII(seg, "hangup")
		case 7:
			isErr = isErr || equalFoldASCII(seg, "failure") || equalFoldASCII(seg, "timeout")
		}
		start = i + 1
	}
	return isErr, hangup
}

// hasSegment reports whether s, split at '_' and '.', has a segment equal
// to one of words (ASCII case-insensitively). It does not allocate.
func hasSegment(s string, words ...string) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '_' && s[i] != '.' {
			continue
		}
		seg := s[start:i]
		for _, w := range words {
			if len(seg) == len(w) && equalFoldASCII(seg, w) {
				return true
			}
		}
		start = i + 1
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// EventSchema is the JSON Schema (draft 2020-12) of one [Event]. The
// timestamp must be an RFC 3339 date-time with a time zone.
//
// [ParseEvents] accepts exactly the events the schema accepts, but for
// what a JSON Schema cannot say:
//
//   - The timestamp must not be the zero instant, 0001-01-01T00:00:00Z
//     (written in any offset): an [Event] takes it for a missing timestamp.
//   - The data must be valid UTF-8 through and through. A JSON text must be
//     UTF-8 (RFC 8259 § 8.1), but a validator that decodes the text before
//     checking it may replace bad bytes instead of refusing them.
const EventSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "timeline event",
  "description": "One entry of a flow's timeline.",
  "type": "object",
  "properties": {
    "index": {"type": "integer", "minimum": 0, "maximum": 9223372036854775807, "description": "The host's sequence number; breaks ties between events of one timestamp."},
    "type": {"type": "string", "minLength": 1, "maxLength": 256, "description": "What happened, e.g. call_hangup."},
    "timestamp": {"type": "string", "format": "date-time", "description": "When it happened (RFC 3339)."},
    "resource_type": {"type": "string", "maxLength": 256, "description": "The type of the resource the event is about."},
    "resource_id": {"type": "string", "maxLength": 256, "description": "The resource's id."},
    "severity": {"enum": ["", "info", "warning", "error"], "description": "error marks an error event."},
    "data": {"description": "The event's payload: any JSON value."}
  },
  "required": ["type", "timestamp"],
  "additionalProperties": false
}`

// ValidateEvents reports every problem of events as a [*ValidationError]
// with paths such as "$[3].type" (at most 100 problems are listed): a type
// that is missing, longer than [MaxTypeLen] characters or not valid UTF-8;
// a zero timestamp; a negative index; a resource type or id that is too
// long or not valid UTF-8; a severity other than "", info, warning and
// error; data that is not valid UTF-8 or not one valid JSON value.
func ValidateEvents(events []Event) error {
	var v validator
	validateEvents(&v, "$", events)
	return v.err()
}

func validateEvents(v *validator, root string, events []Event) {
	for i := range events {
		e := &events[i]
		at := func(field string) string { return root + "[" + strconv.Itoa(i) + "]." + field }
		switch n := utf8.RuneCountInString(e.Type); {
		case e.Type == "":
			v.add(at("type"), "the type is missing")
		case n > MaxTypeLen:
			v.add(at("type"), fmt.Sprintf("the type is %d characters, more than %d", n, MaxTypeLen))
		case !utf8.ValidString(e.Type):
			v.add(at("type"), "the type is not valid UTF-8")
		}
		if e.Timestamp.IsZero() {
			v.add(at("timestamp"), "the timestamp is missing")
		}
		if e.Index < 0 {
			v.add(at("index"), fmt.Sprintf("the index is %d; it must be zero or more", e.Index))
		}
		for _, f := range [...]struct{ name, val string }{{"resource_type", e.ResourceType}, {"resource_id", e.ResourceID}} {
			switch n := utf8.RuneCountInString(f.val); {
			case n > MaxTypeLen:
				v.add(at(f.name), fmt.Sprintf("%d characters, more than %d", n, MaxTypeLen))
			case !utf8.ValidString(f.val):
				v.add(at(f.name), "not valid UTF-8")
			}
		}
		switch e.Severity {
		case "", "info", "warning", "error":
		default:
			v.add(at("severity"), fmt.Sprintf("%q is not one of \"\", info, warning, error", e.Severity))
		}
		switch {
		case len(e.Data) == 0:
		case !utf8.Valid(e.Data):
			v.add(at("data"), "the data of the event is not valid UTF-8")
		case !json.Valid(e.Data):
			v.add(at("data"), "not one valid JSON value")
		}
	}
}

// ParseEvents decodes a JSON array of events in the form of [EventSchema]
// and validates them (see [ValidateEvents]). Unknown fields and null
// values (but for data) are rejected; an index may be written as any JSON
// number with an integer value (3, 3.0, 3e0), and a timestamp with a
// lower-case "t" or "z" or a leap second (":60" at 23:59 UTC, read as the
// first instant of the next minute), as RFC 3339 allows. Every problem is
// reported as a [*ValidationError] located by JSON path.
func ParseEvents(data []byte) ([]Event, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Path: "$", Message: describeJSONError(err, "a JSON array of events")}}}
	}
	var v validator
	events := make([]Event, len(raw))
	for i, r := range raw {
		decodeEvent(&v, "$["+strconv.Itoa(i)+"]", r, &events[i])
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := ValidateEvents(events); err != nil {
		return nil, err
	}
	return events, nil
}

// eventWire is an event as ParseEvents reads it: every field raw, so that
// a missing key, null and a value of the wrong type are told apart.
type eventWire struct {
	Index        json.RawMessage `json:"index"`
	Type         json.RawMessage `json:"type"`
	Timestamp    json.RawMessage `json:"timestamp"`
	ResourceType json.RawMessage `json:"resource_type"`
	ResourceID   json.RawMessage `json:"resource_id"`
	Severity     json.RawMessage `json:"severity"`
	Data         json.RawMessage `json:"data"`
}

// decodeEvent decodes one element of the array into e, reporting its
// problems under at ("$[3]").
func decodeEvent(v *validator, at string, raw json.RawMessage, e *Event) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var w eventWire
	if err := dec.Decode(&w); err != nil {
		v.add(eventErrorPath(at, err), describeJSONError(err, "an event object"))
		return
	}
	if w.Index != nil {
		switch k := jsonKind(w.Index); {
		case k != "number":
			v.add(at+".index", "got a JSON "+k+", want an integer")
		default:
			n, integer, inRange := jsonInteger(string(w.Index))
			switch {
			case !integer:
				v.add(at+".index", "got the JSON number "+string(w.Index)+", want an integer")
			case !inRange:
				v.add(at+".index", fmt.Sprintf("%s is outside 0 to %d", w.Index, int64(math.MaxInt64)))
			default:
				e.Index = n
			}
		}
	}
	for _, f := range [...]struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{{"type", w.Type, &e.Type}, {"resource_type", w.ResourceType, &e.ResourceType},
		{"resource_id", w.ResourceID, &e.ResourceID}, {"severity", w.Severity, &e.Severity}} {
		if f.raw == nil {
			continue
		}
		if k := jsonKind(f.raw); k != "string" {
			v.add(at+"."+f.name, "got a JSON "+k+", want a string")
			continue
		}
		_ = json.Unmarshal(f.raw, f.dst) // a JSON string: cannot fail
	}
	if w.Timestamp != nil {
		var s string
		if jsonKind(w.Timestamp) != "string" || json.Unmarshal(w.Timestamp, &s) != nil {
			v.add(at+".timestamp", "not an RFC 3339 date-time")
		} else if t, ok := parseTimestamp(s); !ok {
			v.add(at+".timestamp", "not an RFC 3339 date-time")
		} else if t.IsZero() {
			v.add(at+".timestamp", "the zero instant 0001-01-01T00:00:00Z stands for a missing timestamp")
		} else {
			e.Timestamp = t
		}
	}
	e.Data = w.Data
}

// jsonKind names the kind of the JSON value raw, by its first byte.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// jsonInteger reads num, a valid JSON number, as JSON Schema's "integer"
// does: integer reports a number whose value is an integer (3, 3.0, 30e-1),
// inRange one that fits in an int64.
func jsonInteger(num string) (n int64, integer, inRange bool) {
	neg := strings.HasPrefix(num, "-")
	if neg {
		num = num[1:]
	}
	mant, exp := num, ""
	if i := strings.IndexAny(num, "eE"); i >= 0 {
		mant, exp = num[:i], num[i+1:]
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return 0, true, true // zero, whatever the exponent
	}
	trimmed := strings.TrimRight(digits, "0")
	shift := int64(len(digits)-len(trimmed)) - int64(len(frac)) // the power of ten of trimmed
	digits = trimmed
	if exp != "" {
		x, err := strconv.ParseInt(exp, 10, 64)
		switch {
		case err != nil && strings.HasPrefix(exp, "-"):
			return 0, false, false // a non-zero number below any integer
		case err != nil:
			return 0, true, false // far beyond int64
		}
		switch {
		case x > 1<<40:
			return 0, true, false
		case x < -1<<40:
			return 0, false, false // num is far shorter than 2^40 digits
		}
		shift += x
	}
	if shift < 0 {
		return 0, false, false
	}
	if int64(len(digits))+shift > 19 {
		return 0, true, false
	}
	digits += strings.Repeat("0", int(shift))
	if neg {
		digits = "-" + digits
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, true, err == nil
}

// parseTimestamp reads an RFC 3339 date-time (RFC 3339 § 5.6) as JSON
// Schema's date-time format does: "T" and "Z" in either case, a fraction of
// a second of any length, a numeric offset of at most 23:59, and a leap
// second (":60", only at 23:59 UTC), read as the first instant of the next
// minute.
func parseTimestamp(s string) (time.Time, bool) {
	const shape = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(shape)+1 {
		return time.Time{}, false
	}
	b := []byte(s)
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	for i := range len(shape) {
		switch c := b[i]; shape[i] {
		case 'd':
			if !isDigit(c) {
				return time.Time{}, false
			}
		case 'T':
			if c != 'T' && c != 't' {
				return time.Time{}, false
			}
			b[i] = 'T'
		default:
			if c != shape[i] {
				return time.Time{}, false
			}
		}
	}
	rest := b[len(shape):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		rest = rest[n:]
	}
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		rest[0] = 'Z'
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && isDigit(rest[1]) && isDigit(rest[2]) &&
		rest[3] == ':' && isDigit(rest[4]) && isDigit(rest[5]):
		if (rest[1]-'0')*10+rest[2]-'0' > 23 || (rest[4]-'0')*10+rest[5]-'0' > 59 {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	leap := b[17] == '6' && b[18] == '0'
	if leap {
		b[17], b[18] = '5', '9'
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, false
	}
	if leap {
		if u := t.UTC(); u.Hour() != 23 || u.Minute() != 59 {
			return time.Time{}, false
		}
		t = t.Add(time.Second)
	}
	return t, true
}

// eventErrorPath locates err, an error decoding the event at at ("$[3]").
func eventErrorPath(at string, err error) string {
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			return at + keyPath(unq)
		}
	}
	return at
}

func keyPath(k string) string {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			q, _ := json.Marshal(k)
			return "[" + string(q) + "]"
		}
	}
	if k == "" {
		return `[""]`
	}
	return "." + k
}

func describeJSONError(err error, want string) string {
	var syn *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON (at byte %d): %s", syn.Offset, syn.Error())
	case errors.As(err, &te):
		return fmt.Sprintf("got a JSON %s, want %s", te.Value, goTypeName(te.Type.String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field"
	}
	return "not " + want
}

func goTypeName(t string) string {
	switch t {
	case "string":
		return "a string"
	case "[]json.RawMessage":
		return "an array"
	case "timeline.eventWire":
		return "an object"
	}
	return "another type"
}
