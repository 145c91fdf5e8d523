package timeline

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

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
		// Lengths count characters, not bytes.
		`{"type":"` + strings.Repeat("é", MaxTypeLen) + `","timestamp":"2024-03-01T10:05:12Z"}`,
		`{"type":"` + strings.Repeat("é", MaxTypeLen+1) + `","timestamp":"2024-03-01T10:05:12Z"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","resource_id":"` + strings.Repeat("日", MaxTypeLen) + `"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","resource_type":"` + strings.Repeat("日", MaxTypeLen+1) + `"}`,
		// An index is any number with an integer value, up to 2^63-1.
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":1.0}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":25e-1}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":250e-1}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":1.5}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":-0.0}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":9223372036854775807}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":9223372036854775808}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":1e30}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":1e-30}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":"1"}`,
		// RFC 3339 in full: lower-case t and z, leap seconds at 23:59 UTC only.
		`{"type":"x","timestamp":"2024-03-01t10:05:12z"}`,
		`{"type":"x","timestamp":"2016-12-31T23:59:60Z"}`,
		`{"type":"x","timestamp":"2016-12-31T23:59:60.5Z"}`,
		`{"type":"x","timestamp":"2016-12-31T15:59:60-08:00"}`,
		`{"type":"x","timestamp":"2016-12-31T22:59:60Z"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12,5Z"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12.Z"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12+24:00"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12+23:59"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12-00:00"}`,
		`{"type":"x","timestamp":"2024-02-30T10:05:12Z"}`,
		`{"type":"x","timestamp":"2024-03-01T24:00:00Z"}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12.1234567890123Z"}`,
		`{"type":"x","timestamp":"2024-03-01 10:05:12Z"}`,
		`{"type":"x","timestamp":"0001-01-02T00:00:00Z"}`,
		// null is a value of no string field.
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","resource_type":null}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","resource_id":null}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","severity":null}`,
		`{"type":"x","timestamp":"2024-03-01T10:05:12Z","index":null}`,
		`{"type":null,"timestamp":"2024-03-01T10:05:12Z"}`,
		`{"type":"x","timestamp":null}`,
	}
	for _, c := range cases {
		schemaOK := schema.ValidateJSON([]byte(c)) == nil
		_, err := ParseEvents([]byte("[" + c + "]"))
		assert.Equal(t, schemaOK, err == nil, "%s: schema valid=%v, ParseEvents error=%v", c, schemaOK, err)
	}

	// The documented differences: the zero instant, and data that is not
	// UTF-8 (which the validator decodes, replacing the bad bytes).
	zero := `{"type":"x","timestamp":"0001-01-01T01:00:00+01:00"}`
	assert.Nil(t, schema.ValidateJSON([]byte(zero)))
	_, err = ParseEvents([]byte("[" + zero + "]"))
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	assert.Equal(t, []Problem{{"$[0].timestamp", "the zero instant 0001-01-01T00:00:00Z stands for a missing timestamp"}}, ve.Problems)
	_, err = ParseEvents([]byte("[{\"type\":\"x\",\"timestamp\":\"2024-03-01T10:05:12Z\",\"data\":\"a\xffb\"}]"))
	require.True(t, errors.As(err, &ve), "%v", err)
	assert.Equal(t, []Problem{{"$[0].data", "the data of the event is not valid UTF-8"}}, ve.Problems)
}

// The values ParseEvents reads that Go's own decoding would not.
func TestParseEventsReadsRFC3339AndJSONIntegers(t *testing.T) {
	events, err := ParseEvents([]byte(`[
		{"type":"a","timestamp":"2016-12-31t23:59:60.25z","index":2.0},
		{"type":"b","timestamp":"2016-12-31T15:59:60-08:00","index":3e2},
		{"type":"c","timestamp":"2024-03-01T10:05:12Z","index":-0,"data":null}
	]`))
	require.NoError(t, err)
	assert.True(t, events[0].Timestamp.Equal(time.Date(2017, 1, 1, 0, 0, 0, 250_000_000, time.UTC)), "%v", events[0].Timestamp)
	assert.True(t, events[1].Timestamp.Equal(time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)), "%v", events[1].Timestamp)
	assert.Equal(t, []int64{2, 300, 0}, []int64{events[0].Index, events[1].Index, events[2].Index})
	assert.Equal(t, json.RawMessage("null"), events[2].Data)

	for num, want := range map[string]struct {
		n                int64
		integer, inRange bool
	}{
		"0": {0, true, true}, "-0.0e5": {0, true, true}, "12": {12, true, true}, "1.20e1": {12, true, true},
		"1200e-2": {12, true, true}, "1.25e1": {0, false, false}, "-7": {-7, true, true},
		"9223372036854775807": {math.MaxInt64, true, true}, "9223372036854775808": {0, true, false},
		"-9223372036854775808": {math.MinInt64, true, true}, "1e19": {0, true, false}, "1e18": {1e18, true, true},
		"1e99999999999999999999": {0, true, false}, "1e-99999999999999999999": {0, false, false},
		"0e99999999999999999999": {0, true, true}, "1" + strings.Repeat("0", 300) + "e-300": {1, true, true},
	} {
		n, integer, inRange := jsonInteger(num)
		assert.Equal(t, want.integer, integer, num)
		assert.Equal(t, want.inRange, inRange, num)
		if want.inRange {
			assert.Equal(t, want.n, n, num)
		}
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
