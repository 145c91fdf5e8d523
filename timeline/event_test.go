package timeline

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/internal/schemaval"
)

func TestIsErrorEvent(t *testing.T) {
	tests := []struct {
		typ, severity string
		want          bool
	}{
		{"recording_failed", "", true},
		{"call.media_error", "", true},
		{"ai_timeout", "", true},
		{"transfer_failure", "", true},
		{"Call_FAILED", "", true},
		{"error", "", true},
		{"call_created", "error", true},
		{"call_created", "warning", false},
		{"call_hangup", "", false},
		{"errorless_event", "", false},
		{"call_failedover", "", false},
		{"message_bot_transcription", "", false},
	}
	for _, tt := range tests {
		e := Event{Type: tt.typ, Severity: tt.severity}
		assert.Equal(t, tt.want, IsErrorEvent(&e), "%s/%s", tt.typ, tt.severity)
	}
}

func TestIsHangupEvent(t *testing.T) {
	for typ, want := range map[string]bool{"call_hangup": true, "confbridge.leg_HANGUP": true, "hangup": true, "call_hangups": false, "call_created": false} {
		e := Event{Type: typ}
		assert.Equal(t, want, IsHangupEvent(&e), typ)
	}
}

func TestValidateEvents(t *testing.T) {
	good := withData(withRes(ev(0, "call_created"), "call", "c1"), `{"a":1}`)
	require.NoError(t, ValidateEvents([]Event{good, {Type: "x", Timestamp: t0, Severity: "error"}}))
	require.NoError(t, ValidateEvents(nil))

	bad := []Event{
		{Timestamp: t0},
		{Type: strings.Repeat("a", MaxTypeLen+1), Index: -1},
		{Type: "x\xff", Timestamp: t0, ResourceType: strings.Repeat("r", MaxTypeLen+1), ResourceID: "\xfe", Severity: "fatal", Data: json.RawMessage(`{"a":`)},
	}
	err := ValidateEvents(bad)
	require.ErrorIs(t, err, ErrInvalid)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{
		"$[0].type",
		"$[1].type", "$[1].timestamp", "$[1].index",
		"$[2].type", "$[2].resource_type", "$[2].resource_id", "$[2].severity", "$[2].data",
	}, paths)
}

func TestValidationErrorIsBounded(t *testing.T) {
	events := make([]Event, 250)
	err := ValidateEvents(events)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	require.Len(t, ve.Problems, maxProblems+1)
	assert.Equal(t, Problem{Path: "$", Message: "and 400 more problems"}, ve.Problems[maxProblems])
	assert.Contains(t, err.Error(), "$[0].type: the type is missing")
}

func TestParseEvents(t *testing.T) {
	events, err := ParseEvents([]byte(`[
		{"index": 1, "type": "call_hangup", "timestamp": "2024-03-01T10:05:12Z", "resource_type": "call", "resource_id": "c1",
		 "severity": "info", "data": {"hangup_reason": "normal"}},
		{"type": "message_user_transcription", "timestamp": "2024-03-01T10:05:11.250+01:00"}
	]`))
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, Event{Index: 1, Type: "call_hangup", Timestamp: at(312_000), ResourceType: "call", ResourceID: "c1",
		Severity: "info", Data: json.RawMessage(`{"hangup_reason": "normal"}`)}, events[0])
	assert.True(t, events[1].Timestamp.Equal(at(311_250-3_600_000)))

	tests := []struct {
		name, in string
		want     []Problem
	}{
		{"not JSON", `[{`, []Problem{{"$", "not valid JSON (at byte 2): unexpected end of JSON input"}}},
		{"not an array", `{"type":"x"}`, []Problem{{"$", "got a JSON object, want an array"}}},
		{"unknown field", `[{"type":"x","timestamp":"2024-03-01T10:00:00Z","kind":1}]`, []Problem{{"$[0].kind", "unknown field"}}},
		{"wrong type", `[{"type":1,"timestamp":"2024-03-01T10:00:00Z"}]`, []Problem{{"$[0].type", "got a JSON number, want a string"}}},
		{"bad time", `[{"type":"x","timestamp":"yesterday"}]`, []Problem{{"$[0].timestamp", "not an RFC 3339 date-time"}}},
		{"time without zone", `[{"type":"x","timestamp":"2024-03-01T10:00:00"}]`, []Problem{{"$[0].timestamp", "not an RFC 3339 date-time"}}},
		{"time as number", `[{"type":"x","timestamp":12}]`, []Problem{{"$[0].timestamp", "not an RFC 3339 date-time"}}},
		{"element not an object", `[3]`, []Problem{{"$[0]", "got a JSON number, want an object"}}},
		{"missing fields", `[{"index":2}]`, []Problem{{"$[0].type", "the type is missing"}, {"$[0].timestamp", "the timestamp is missing"}}},
		{"odd unknown key", `[{"type":"x","timestamp":"2024-03-01T10:00:00Z","a b":1}]`, []Problem{{`$[0]["a b"]`, "unknown field"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEvents([]byte(tt.in))
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			assert.Equal(t, tt.want, ve.Problems)
		})
	}
}

// The JSON Schema and the Go checks agree on what an event is.
func TestEventSchemaAgreesWithParseEvents(t *testing.T) {
	golden(t, "event.schema.json", []byte(EventSchema+"\n"))
	schema, err := schemaval.Compile([]byte(EventSchema))
	require.NoError(t, err)
	cases := []string{
		`{"type":"call_hangup","timestamp":"2024-03-01T10:05:12Z"}`,
		`{"index":3,"type":"x","timestamp":"2024-03-01T10:05:12.123456789-07:00","resource_type":"call","resource_id":"c","severity":"","data":null}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","severity":"error","data":{"nested":["<x>"]}}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","data":"text"}`,
		`{"type":"","timestamp":"2024-03-01T10:05:12Z"}`,
		`{"timestamp":"2024-03-01T10:05:12Z"}`,
		`{"type":"x"}`,
		`{"type":"x","timestamp":"2024-03-01"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":-1}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","severity":"fatal"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","other":1}`,
		`{"type":"` + strings.Repeat("t", MaxTypeLen+1) + `","timestamp":"2024-03-01T10:05:12Z"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","resource_id":7}`,
	}
	for _, c := range cases {
		schemaOK := schema.ValidateJSON([]byte(c)) == nil
		_, err := ParseEvents([]byte("[" + c + "]"))
		assert.Equal(t, schemaOK, err == nil, "%s: schema valid=%v, ParseEvents error=%v", c, schemaOK, err)
	}
}

// The documented example file parses and satisfies the schema.
func TestEventsExampleFile(t *testing.T) {
	data, err := testdataFS("events_example.json")
	require.NoError(t, err)
	events, err := ParseEvents(data)
	require.NoError(t, err)
	require.Len(t, events, 3)
	assert.True(t, IsErrorEvent(&events[0]), "media_error")
	assert.True(t, IsHangupEvent(&events[1]))
	schema, err := schemaval.Compile([]byte(EventSchema))
	require.NoError(t, err)
	var raw []json.RawMessage
	require.NoError(t, json.Unmarshal(data, &raw))
	for i, r := range raw {
		assert.Nil(t, schema.ValidateJSON(r), "event %d", i)
	}
}
