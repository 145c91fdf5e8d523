package timeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	EventUserTranscription = "message_user_transcription"
	// EventBotTranscription is one turn of the bot, transcribed.
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
	// MaxTypeLen bounds Type, ResourceType and ResourceID, in bytes.
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
const EventSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "timeline event",
  "description": "One entry of a flow's timeline.",
  "type": "object",
  "properties": {
    "index": {"type": "integer", "minimum": 0, "description": "The host's sequence number; breaks ties between events of one timestamp."},
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
// that is missing, longer than [MaxTypeLen] bytes or not valid UTF-8; a
// zero timestamp; a negative index; a resource type or id that is too long
// or not valid UTF-8; a severity other than "", info, warning and error;
// data that is not one valid JSON value.
func ValidateEvents(events []Event) error {
	var v validator
	validateEvents(&v, "$", events)
	return v.err()
}

func validateEvents(v *validator, root string, events []Event) {
	for i := range events {
		e := &events[i]
		at := func(field string) string { return root + "[" + strconv.Itoa(i) + "]." + field }
		switch {
		case e.Type == "":
			v.add(at("type"), "the type is missing")
		case len(e.Type) > MaxTypeLen:
			v.add(at("type"), fmt.Sprintf("the type is %d bytes, more than %d", len(e.Type), MaxTypeLen))
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
			switch {
			case len(f.val) > MaxTypeLen:
				v.add(at(f.name), fmt.Sprintf("%d bytes, more than %d", len(f.val), MaxTypeLen))
			case !utf8.ValidString(f.val):
				v.add(at(f.name), "not valid UTF-8")
			}
		}
		switch e.Severity {
		case "", "info", "warning", "error":
		default:
			v.add(at("severity"), fmt.Sprintf("%q is not one of \"\", info, warning, error", e.Severity))
		}
		if len(e.Data) > 0 && !json.Valid(e.Data) {
			v.add(at("data"), "not one valid JSON value")
		}
	}
}

// ParseEvents decodes a JSON array of events in the form of [EventSchema]
// and validates them (see [ValidateEvents]). Unknown fields are rejected.
// Every problem is reported as a [*ValidationError] located by JSON path.
func ParseEvents(data []byte) ([]Event, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Path: "$", Message: describeJSONError(err, "a JSON array of events")}}}
	}
	var v validator
	events := make([]Event, len(raw))
	for i, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&events[i]); err != nil {
			v.add(eventErrorPath(i, err), describeJSONError(err, "an event object"))
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := ValidateEvents(events); err != nil {
		return nil, err
	}
	return events, nil
}

func eventErrorPath(i int, err error) string {
	at := "$[" + strconv.Itoa(i) + "]"
	if isTimeError(err) {
		return at + ".timestamp"
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return at + "." + te.Field
	}
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

// isTimeError reports an error of time.Time's JSON decoding.
func isTimeError(err error) bool {
	var pe *time.ParseError
	msg := err.Error()
	return errors.As(err, &pe) || strings.Contains(msg, "Time.UnmarshalJSON") || strings.Contains(msg, "parsing time")
}

func describeJSONError(err error, want string) string {
	var syn *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON (at byte %d): %s", syn.Offset, syn.Error())
	case isTimeError(err):
		return "not an RFC 3339 date-time"
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
	case "int64", "int":
		return "an integer"
	case "time.Time":
		return "an RFC 3339 date-time string"
	case "[]json.RawMessage", "[]timeline.Event":
		return "an array"
	case "timeline.Event":
		return "an object"
	}
	return "another type"
}
