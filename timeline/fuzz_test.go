package timeline

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// FuzzParseEvents: parsing never panics, every rejection is a located
// validation error, and what it accepts survives a round trip.
func FuzzParseEvents(f *testing.F) {
	for _, seed := range []string{
		`[{"index":1,"type":"call_hangup","timestamp":"2024-03-01T10:05:12Z","resource_type":"call","resource_id":"c1","severity":"error","data":{"a":[1,"<x>"]}}]`,
		`[]`, `{}`, `[{"type":"x","timestamp":"2024-03-01T10:05:12.123456789+09:00","data":null}]`,
		`[{"type":"","timestamp":"yesterday","index":-3,"extra":true}]`, `[{"type":"\ud800","timestamp":"2024-03-01T10:05:12Z"}]`,
		`[1,"a",null,[]]`, `[{"type":"x","timestamp":"2024-03-01T10:05:12Z","data":"</timeline_json>"}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := ParseEvents(data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || len(ve.Problems) == 0 {
				t.Fatalf("unclassified error: %v", err)
			}
			for _, p := range ve.Problems {
				if !strings.HasPrefix(p.Path, "$") || p.Message == "" {
					t.Fatalf("bad problem %+v", p)
				}
			}
			return
		}
		if err := ValidateEvents(events); err != nil {
			t.Fatalf("accepted events do not validate: %v", err)
		}
		again, err := json.Marshal(events)
		if err != nil {
			t.Fatalf("accepted events do not encode: %v", err)
		}
		back, err := ParseEvents(again)
		if err != nil {
			t.Fatalf("re-encoded events rejected: %v\n%s", err, again)
		}
		if len(back) != len(events) {
			t.Fatalf("round trip changed the count")
		}
		for i := range back {
			if !back[i].Timestamp.Equal(events[i].Timestamp) || back[i].Type != events[i].Type || back[i].Index != events[i].Index {
				t.Fatalf("round trip changed event %d: %+v != %+v", i, back[i], events[i])
			}
		}
	})
}

// fuzzEvents decodes events from fuzz bytes, six bytes an event, from a
// small vocabulary so that duplicates, ties, errors and turns are common,
// and so are the characters encoding/json writes longer than they are
// (U+2028, U+2029, <, >, &, control characters). One data value is not
// valid UTF-8; Prepare must refuse it.
func fuzzEvents(data []byte) []Event {
	types := []string{EventUserTranscription, EventBotTranscription, EventAIInitialized, EventBotLLMIntermediate,
		"call_hangup", "media_error", "flow_step", "recording_failed", "note\u2028<&>", "step\u2029\t"}
	datas := []string{"", `{"text":"hi"}`, `{"text":"` + strings.Repeat("long ", 60) + `"}`, `"</timeline_json>"`, `[1,2]`,
		`{"text":"` + strings.Repeat("\u2028\u2029", 40) + `"}`, "\"a\u2028b\u2029c<&>\\\\u2028\"",
		`{"s":"` + strings.Repeat("é\u2028<", 50) + `"}`, "{\"bad\":\"\xff\xfe\"}"}
	var events []Event
	for len(data) >= 6 {
		e := Event{
			Index:        int64(data[0] % 4),
			Type:         types[int(data[1])%len(types)],
			Timestamp:    t0.Add(time.Duration(binary.BigEndian.Uint16(data[2:4])%64) * 250 * time.Millisecond),
			ResourceType: []string{"", "call", "pipecatcall", "agent"}[data[4]%4],
			ResourceID:   []string{"", "r1", "r\u2028&"}[data[4]/4%3],
			Data:         json.RawMessage(datas[int(data[5])%len(datas)]),
		}
		if data[5]&0x80 != 0 {
			e.Severity = "error"
		}
		if len(e.Data) == 0 {
			e.Data = nil
		}
		events = append(events, e)
		data = data[6:]
	}
	return events
}

// FuzzPrepare checks the reduction's invariants on arbitrary flows: data
// that is not UTF-8 is refused; the frozen list is in timeline order
// without duplicates, keeps every error and hang-up event, keeps the others
// as a prefix whose rendering fits MaxBytes, and InputReduced says whether
// anything else was left out or cut.
func FuzzPrepare(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01\x01\x01\x00\x01\x00\x02\x01\x01\x00\x01\x00\x02\x01\x01\x01\x04\x00\x09\x01\x00"), 600, 3, 40)
	f.Add([]byte(strings.Repeat("\x01\x05\x00\x07\x02\x82", 30)), 0, 0, 0)
	f.Add([]byte(strings.Repeat("\x03\x02\x00\x00\x05\x02\x00\x06\x00\x00\x00\x00", 20)), 2000, 5, 10)
	f.Add([]byte(strings.Repeat("\x00\x06\x00\x01\x08\x05\x01\x08\x00\x02\x04\x06", 30)), 3000, 0, 100)
	f.Add([]byte("\x00\x06\x00\x01\x08\x08"), 0, 0, 0)
	f.Fuzz(func(t *testing.T, data []byte, maxBytes, maxEvents, maxData int) {
		events := fuzzEvents(data)
		lim := Limits{MaxBytes: max(maxBytes, 0) % 5000, MaxEvents: max(maxEvents, 0) % 50, MaxDataBytes: max(maxData, 0) % 400}
		flow := Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefAI, Ended: true}
		p, err := Prepare(flow, events, lim)
		var badData []Problem
		for i, e := range events {
			if !utf8.Valid(e.Data) {
				badData = append(badData, Problem{Path: fmt.Sprintf("$.events[%d].data", i), Message: "the data of the event is not valid UTF-8"})
			}
		}
		if len(badData) > 0 {
			var ve *ValidationError
			if !errors.As(err, &ve) || (len(badData) <= maxProblems && !reflect.DeepEqual(ve.Problems, badData)) {
				t.Fatalf("data that is not UTF-8: got %v, want %v", err, badData)
			}
			return
		}
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		// The deduplicated sequence in timeline order, for reference.
		ord := timelineOrder(events)
		var unique []Event
		for i := range events {
			e := events[ord.at(i)]
			dup := false
			for j := len(unique) - 1; j >= 0 && unique[j].Timestamp.Equal(e.Timestamp); j-- {
				if sameEvent(&unique[j], &e) {
					dup = true
					break
				}
			}
			if !dup {
				unique = append(unique, e)
			}
		}
		if p.Duplicates != len(events)-len(unique) {
			t.Fatalf("duplicates %d, want %d", p.Duplicates, len(events)-len(unique))
		}
		k, prefixEnded := 0, false
		for _, u := range unique {
			kept := k < len(p.Events) && sameEvent(&p.Events[k], &u) && p.Events[k].Timestamp.Equal(u.Timestamp)
			if isSignalEvent(&u) && !kept {
				t.Fatalf("a pinned event was dropped: %+v", u)
			}
			if !isSignalEvent(&u) {
				if kept && prefixEnded {
					t.Fatalf("a kept event after the prefix ended: %+v", u)
				}
				prefixEnded = prefixEnded || !kept
			}
			if kept {
				k++
			}
		}
		if k != len(p.Events) {
			t.Fatalf("the frozen list has events not in the flow, in order (%d of %d matched)", k, len(p.Events))
		}
		dataCap, byteCap := cmp.Or(lim.MaxDataBytes, DefaultMaxDataBytes), cmp.Or(lim.MaxBytes, DefaultMaxBytes)
		cut := false
		for _, e := range p.Events {
			cut = cut || len(e.Data) > dataCap
		}
		if p.InputReduced != (len(p.Events) < len(unique) || cut) {
			t.Fatalf("InputReduced %v with %d of %d kept, data cut %v", p.InputReduced, len(p.Events), len(unique), cut)
		}
		// The rendering: valid UTF-8, each event within its estimated cost,
		// and the whole within MaxBytes unless only pinned events are kept.
		rendered, rerr := json.Marshal(modelEvents(p, nil))
		if rerr != nil || !utf8.Valid(rendered) {
			t.Fatalf("the frozen events do not render as UTF-8 JSON: %v", rerr)
		}
		others := false
		for i := range p.Events {
			one, _ := json.Marshal(toModelEvent(i, &p.Events[i], dataCap))
			if c := eventCost(&p.Events[i], dataCap); c < len(one)+1 {
				t.Fatalf("event %d costs %d but renders in %d bytes: %s", i, c, len(one), one)
			}
			others = others || !isSignalEvent(&p.Events[i])
		}
		if others && len(rendered) > byteCap {
			t.Fatalf("the rendering is %d bytes, over the budget of %d", len(rendered), byteCap)
		}
		if want := ComputeMetrics(flow, unique); !jsonEqual(want, p.Metrics) {
			t.Fatalf("metrics %+v, want %+v", p.Metrics, want)
		}
		if _, err := renderBlock(modelEvents(p, nil)); err != nil {
			t.Fatalf("the frozen events do not render: %v", err)
		}
	})
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// FuzzAnalysisJSON: any record that decodes re-encodes to a fixed point.
func FuzzAnalysisJSON(f *testing.F) {
	for _, name := range []string{"analysis_v1.json", "analysis_v2.json", "analysis_v3.json", "analysis_failed.json"} {
		data, err := testdataFS(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"result":{"version":1,"interactions":null,"issues":[{"evidence":null}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Analysis
		if json.Unmarshal(data, &a) != nil {
			return
		}
		first, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		var b Analysis
		if err := json.Unmarshal(first, &b); err != nil {
			t.Fatalf("an encoded record does not decode: %v\n%s", err, first)
		}
		second, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if string(first) != string(second) {
			t.Fatalf("not a fixed point:\n%s\n%s", first, second)
		}
		if strings.Contains(string(first), `"issues":null`) || strings.Contains(string(first), `"resources_used":null`) ||
			strings.Contains(string(first), `"evidence":null`) || strings.Contains(string(first), `"session_context":null`) {
			t.Fatalf("null where an array or an omitted key is due: %s", first)
		}
	})
}

// FuzzModelAnswer feeds arbitrary model output to the analyzer: it never
// panics, fails only with a classified error, and every verdict it accepts
// cites real events with their real fields.
func FuzzModelAnswer(f *testing.F) {
	f.Add(mustJSON(goodAnswer()))
	f.Add(`{"reasoning":"","interactions":[],"narrative":"","issues":[{"area":"","summary":"","evidence_index":[5,5,-1,1e3],"severity":"error"}],"overall_status":"error"}`)
	f.Add("Sure! ```json\n{\"overall_status\":\"ok\"}\n```")
	f.Add(`{"reasoning":"x","interactions":[{"resource_type":"call","summary":" "}],"narrative":"n","issues":[],"overall_status":"ok"}`)
	flow, events := smallFlow()
	p, err := Prepare(flow, events, Limits{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content string) {
		a, err := NewAnalyzer(AnalyzerConfig{Model: llmtest.NewScripted(llmtest.Reply(content)), MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := a.AnalyzePrepared(context.Background(), p)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalidOutput) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		v := rep.Verdict
		if !v.OverallStatus.Valid() || (v.OverallStatus == OverallOK && len(v.Issues) > 0) {
			t.Fatalf("inconsistent verdict: %+v", v)
		}
		for _, is := range v.Issues {
			if !is.Severity.Valid() || len(is.Evidence) == 0 {
				t.Fatalf("bad issue: %+v", is)
			}
			for _, e := range is.Evidence {
				if e.EvidenceIndex < 0 || e.EvidenceIndex >= len(p.Events) {
					t.Fatalf("evidence out of range: %+v", e)
				}
				real := p.Events[e.EvidenceIndex]
				if e.EventType != real.Type || e.ResourceID != real.ResourceID || e.Timestamp != real.Timestamp.UTC().Format(TimestampLayout) {
					t.Fatalf("evidence not from the event: %+v vs %+v", e, real)
				}
			}
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("the verdict does not encode: %v", err)
		}
	})
}
