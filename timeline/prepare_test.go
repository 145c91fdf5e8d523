package timeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrepareRefusesBadInput(t *testing.T) {
	_, err := Prepare(Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefCall}, nil, Limits{})
	assert.ErrorIs(t, err, ErrNotEnded)
	assert.ErrorIs(t, err, ErrConflict)

	f := Flow{ReferenceType: RefCall, ReferenceID: "r1", Ended: true, Reference: &Reference{Type: RefConversation, ID: "r2"}}
	_, err = Prepare(f, []Event{{Type: "x"}}, Limits{MaxBytes: -1, MaxEvents: -2, MaxDataBytes: -3})
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{"$.flow.id", "$.flow.customer_id", "$.flow.reference.type", "$.flow.reference.id",
		"$.events[0].timestamp", "$.limits.max_bytes", "$.limits.max_events", "$.limits.max_data_bytes"}, paths)
}

func TestPrepareOrdersAndRemovesDuplicates(t *testing.T) {
	f := callFlow()
	a := withData(withRes(ev(1000, "call_progressing"), "call", "c1"), `{"s":1}`)
	dupOfA := a
	dupOfA.Index = 99 // the index does not make a record distinct
	otherData := withData(a, `{"s":2}`)
	otherType := a
	otherType.Type = "call_ringing"
	events := []Event{
		withRes(ev(2000, "call_hangup"), "call", "c1"),
		a, dupOfA, otherData, otherType,
		{Type: "call_created", Timestamp: at(0), ResourceType: "call", ResourceID: "c1", Index: 1},
		{Type: "call_created", Timestamp: at(0), ResourceType: "call", ResourceID: "c1", Index: 0},
	}
	p, err := Prepare(f, events, Limits{})
	require.NoError(t, err)
	assert.Equal(t, 2, p.Duplicates)
	assert.Equal(t, 7, p.TotalEvents)
	assert.False(t, p.InputReduced, "removing duplicates is not a reduction")
	var got []string
	for _, e := range p.Events {
		got = append(got, fmt.Sprintf("%d %s %s", e.Timestamp.Sub(t0).Milliseconds(), e.Type, e.Data))
	}
	assert.Equal(t, []string{"0 call_created ", "1000 call_progressing {\"s\":1}", "1000 call_progressing {\"s\":2}",
		"1000 call_ringing {\"s\":1}", "2000 call_hangup "}, got)
	assert.EqualValues(t, 0, p.Events[0].Index, "ties broken by index")
	assert.Equal(t, []ResourceUsed{{"call", 1}}, p.ResourcesUsed)
	assert.Equal(t, "support-ivr", p.SessionContext.FlowName)
	assert.Equal(t, ResultCompleted, p.Outcome.Result)
	assert.Nil(t, p.Metrics, "no turns")
}

// Long runs of one timestamp use the hash map; the result is the same as a
// pairwise comparison.
func TestPrepareDuplicatesInLongRuns(t *testing.T) {
	f := callFlow()
	var events []Event
	want := 0
	for i := range 300 {
		e := withData(ev(5000, "tick"), fmt.Sprintf(`{"n":%d}`, i%97))
		events = append(events, e)
		if i < 97 {
			want++
		}
	}
	events = append(events, ev(5000, "tick"), ev(5000, "tick")) // no data: one more distinct event
	p, err := Prepare(f, events, Limits{})
	require.NoError(t, err)
	assert.Equal(t, want+1, len(p.Events))
	assert.Equal(t, 302-want-1, p.Duplicates)
	seen := map[string]bool{}
	for _, e := range p.Events {
		k := string(e.Data)
		assert.False(t, seen[k], "kept twice: %s", k)
		seen[k] = true
	}
	for i := range 20 { // the runs are cleared between timestamps
		d := withData(ev(int64(6000+i), "tick"), `{"n":1}`)
		events = append(events, d)
	}
	p, err = Prepare(f, events, Limits{})
	require.NoError(t, err)
	assert.Equal(t, want+1+20, len(p.Events))
}

func TestHashCollisionFallsBackToComparison(t *testing.T) {
	// Force the map path and make two distinct events meet under one hash by
	// planting a fake entry: the deduper must compare, not trust the hash.
	events := make([]Event, smallRun+3)
	for i := range events {
		events[i] = withData(ev(0, "tick"), fmt.Sprintf(`{"n":%d}`, i))
	}
	events[len(events)-1] = events[2] // a real duplicate after the collision
	dups := make(bitset, 1)
	d := deduper{}
	for i := range smallRun + 1 {
		require.False(t, d.isDup(events, nil, dups, i))
	}
	d.seen = map[uint64]int32{}
	d.mapped = smallRun + 1
	d.seen[hashEvent(&events[smallRun+1])] = 0 // events[0] differs from events[smallRun+1]
	assert.False(t, d.isDup(events, nil, dups, smallRun+1))
	d.seen[hashEvent(&events[2])] = 1 // collides with events[1], while events[2] is the real twin
	assert.True(t, d.isDup(events, nil, dups, smallRun+2))
}

func TestPrepareReduction(t *testing.T) {
	f := callFlow()
	payload := `{"text":"` + strings.Repeat("x", 150) + `"}`
	var events []Event
	for i := range 40 {
		events = append(events, withData(withRes(ev(int64(i*100), "media_stats"), "call", "c1"), payload))
	}
	events = append(events,
		withRes(ev(3950, "recording_failed"), "recording", "r1"),
		withRes(ev(3960, "call_hangup"), "call", "c1"),
		Event{Type: "custom", Timestamp: at(3970), Severity: "error"},
	)
	// Room for the three pinned events and exactly four others.
	pinnedCost := 0
	for _, e := range events[40:] {
		pinnedCost += eventCost(&e, DefaultMaxDataBytes)
	}
	other := eventCost(&events[0], DefaultMaxDataBytes)
	lim := Limits{MaxBytes: pinnedCost + 4*other + other/2}
	p, err := Prepare(f, events, lim)
	require.NoError(t, err)
	assert.True(t, p.InputReduced)
	require.Len(t, p.Events, 7)
	for i := range 4 {
		assert.Equal(t, at(int64(i*100)), p.Events[i].Timestamp, "the others are a prefix, in order")
	}
	assert.Equal(t, []string{"recording_failed", "call_hangup", "custom"}, []string{p.Events[4].Type, p.Events[5].Type, p.Events[6].Type})
	assert.Equal(t, []ResourceUsed{{"call", 1}, {"recording", 1}}, p.ResourcesUsed, "computed over every event")

	// The event cap: two slots left after the pinned events.
	p, err = Prepare(f, events, Limits{MaxEvents: 5})
	require.NoError(t, err)
	assert.Len(t, p.Events, 5)
	assert.True(t, p.InputReduced)

	// Pinned events are kept even beyond both limits.
	p, err = Prepare(f, events, Limits{MaxEvents: 1, MaxBytes: 10})
	require.NoError(t, err)
	require.Len(t, p.Events, 3)
	assert.Equal(t, "recording_failed", p.Events[0].Type)

	// Everything fits: nothing is reduced.
	p, err = Prepare(f, events, Limits{})
	require.NoError(t, err)
	assert.Len(t, p.Events, 43)
	assert.False(t, p.InputReduced)
}

// A synthetic flow of 100,000 events, one in a thousand an error, with
// duplicates: every error and hang-up survives, the rest is a prefix that
// fits the budget, and the rendering respects it.
func TestPrepareReduces100kEvents(t *testing.T) {
	f := callFlow()
	events := syntheticFlow(100_000)
	p, err := Prepare(f, events, Limits{})
	require.NoError(t, err)

	assert.Equal(t, 100_000, p.TotalEvents)
	assert.Equal(t, 100_000/50, p.Duplicates, "every fiftieth event is logged twice")
	assert.True(t, p.InputReduced)

	wantPinned := 0
	for i := range events {
		if i%50 != 49 && (IsErrorEvent(&events[i]) || IsHangupEvent(&events[i])) {
			wantPinned++
		}
	}
	gotPinned, others, lastOther := 0, 0, -1
	for i := range p.Events {
		e := &p.Events[i]
		if i > 0 {
			require.LessOrEqual(t, compareEvents(&p.Events[i-1], e), 0, "timeline order")
		}
		if IsErrorEvent(e) || IsHangupEvent(e) {
			gotPinned++
			continue
		}
		others++
		require.Greater(t, int(e.Index), lastOther)
		lastOther = int(e.Index)
	}
	assert.Equal(t, wantPinned, gotPinned, "every error and hang-up event is kept")
	assert.Equal(t, 110, wantPinned)
	assert.Positive(t, others)
	// The others are exactly the first non-pinned events, none skipped.
	n := 0
	for i := range events {
		if i%50 == 49 || IsErrorEvent(&events[i]) || IsHangupEvent(&events[i]) {
			continue
		}
		if n == others {
			break
		}
		var found bool
		for j := range p.Events {
			if p.Events[j].Index == events[i].Index && p.Events[j].Type == events[i].Type {
				found = true
				break
			}
		}
		require.True(t, found, "event %d is missing from the prefix", i)
		n++
	}
	// The rendered events fit the budget.
	rendered, err := json.Marshal(modelEvents(p, nil))
	require.NoError(t, err)
	assert.LessOrEqual(t, len(rendered), DefaultMaxBytes)
	assert.Greater(t, len(rendered), DefaultMaxBytes*9/10, "the budget is used")
	// The blocks are computed over every (deduplicated) event.
	require.NotNil(t, p.Metrics)
	assert.Equal(t, countType(events, EventUserTranscription)-duplicatesOf(events, EventUserTranscription), p.Metrics.TurnsUser)
}

func countType(events []Event, typ string) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func duplicatesOf(events []Event, typ string) int {
	n := 0
	for i, e := range events {
		if i%50 == 49 && e.Type == typ {
			n++
		}
	}
	return n
}

// syntheticFlow builds n events of a long AI call: turns, media stats,
// intermediate ticks, a hundred errors and ten hang-ups spread evenly, and
// every fiftieth event a copy of its predecessor.
func syntheticFlow(n int) []Event {
	events := make([]Event, n)
	types := []string{EventUserTranscription, EventBotLLMIntermediate, EventBotTranscription, "media_stats", "flow_step"}
	data := []json.RawMessage{
		json.RawMessage(`{"text":"I would like to check my last invoice, please."}`),
		json.RawMessage(`{"delta":"Sure"}`),
		json.RawMessage(`{"text":"Of course. Could you confirm your account number?"}`),
		json.RawMessage(`{"mos":4.1,"jitter_ms":12,"packet_loss":0.001}`),
		json.RawMessage(`{"action":"talk","step":"menu"}`),
	}
	errorEvery, hangupEvery := max(n/100, 100), max(n/10, 1000)
	for i := range events {
		if i%50 == 49 {
			events[i] = events[i-1]
			continue
		}
		k := i % len(types)
		e := Event{Index: int64(i), Type: types[k], Timestamp: at(int64(i) * 37), ResourceType: "pipecatcall",
			ResourceID: fmt.Sprintf("p%d", i/10_000), Data: data[k]}
		switch {
		case i%hangupEvery == hangupEvery-2:
			e.Type, e.ResourceType, e.Data = "call_hangup", "call", json.RawMessage(`{"hangup_reason":"normal"}`)
		case i%errorEvery == errorEvery/2-2:
			e.Type, e.Data = "media_error", json.RawMessage(`{"error":"rtp timeout"}`)
		}
		events[i] = e
	}
	if n > 0 {
		events[0].Type, events[0].Data = EventAIInitialized, nil
	}
	return events
}

func TestEventRenderingAndCost(t *testing.T) {
	big := `{"text":"` + strings.Repeat("é", 40) + `"}`
	tests := []struct {
		name string
		e    Event
		max  int
		want string
	}{
		{"minimal", ev(0, "x"), 100, `{"index":3,"timestamp":"2024-03-01T10:00:00.000000Z","type":"x"}`},
		{"everything", Event{Type: "call_failed", Timestamp: at(1), ResourceType: "call", ResourceID: "c<1>",
			Data: json.RawMessage(`{ "a" : "</timeline_json>" }`)}, 100,
			`{"index":3,"timestamp":"2024-03-01T10:00:00.001000Z","type":"call_failed","resource_type":"call","resource_id":"c\u003c1\u003e",` +
				`"error":true,"data":{"a":"\u003c/timeline_json\u003e"}}`},
		{"long data becomes an excerpt cut at a rune boundary", withData(ev(0, "x"), big), 20,
			`{"index":3,"timestamp":"2024-03-01T10:00:00.000000Z","type":"x","data_excerpt":"{\"text\":\"ééééé…"}`},
		{"data at the limit stays JSON", withData(ev(0, "x"), `{"a":1}`), 7,
			`{"index":3,"timestamp":"2024-03-01T10:00:00.000000Z","type":"x","data":{"a":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(toModelEvent(3, &tt.e, tt.max))
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
			cost := eventCost(&tt.e, tt.max)
			assert.GreaterOrEqual(t, cost, len(got)+1, "the cost bounds the rendering and its separator")
			assert.LessOrEqual(t, cost, len(got)+1+7+10, "and is close to it")
		})
	}
}

// The budget holds for what encoding/json writes longer than it reads:
// U+2028 and U+2029 become six bytes each, in raw data, in excerpts and in
// strings.
func TestPrepareBudgetCountsEscapedSeparators(t *testing.T) {
	seps := strings.Repeat("\u2028\u2029", 5)
	tests := []struct {
		name string
		lim  Limits
		make func(i int) Event
	}{
		{"raw data", Limits{MaxBytes: 8192}, func(i int) Event {
			return withData(ev(int64(i), "x"), `{"t":"`+seps+`"}`)
		}},
		{"excerpts", Limits{MaxBytes: 8192, MaxDataBytes: 40}, func(i int) Event {
			return withData(ev(int64(i), "x"), `{"t":"`+strings.Repeat(seps, 4)+`"}`)
		}},
		{"type and resource", Limits{MaxBytes: 8192}, func(i int) Event {
			return withRes(ev(int64(i), "x"+seps), "r"+seps, "id"+seps)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events []Event
			for i := range 400 {
				events = append(events, tt.make(i))
			}
			p, err := Prepare(Flow{ID: flowA, CustomerID: customerA, Ended: true}, events, tt.lim)
			require.NoError(t, err)
			assert.True(t, p.InputReduced)
			rendered, err := json.Marshal(modelEvents(p, nil))
			require.NoError(t, err)
			assert.LessOrEqual(t, len(rendered), tt.lim.MaxBytes)
			assert.Greater(t, len(rendered), tt.lim.MaxBytes*8/10, "the budget is used")
			for i := range p.Events {
				one, err := json.Marshal(toModelEvent(i, &p.Events[i], p.maxDataBytes))
				require.NoError(t, err)
				assert.GreaterOrEqual(t, eventCost(&p.Events[i], p.maxDataBytes), len(one)+1)
			}
		})
	}
}

func TestJSONLengths(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "tab\tnl\n", "<&>", "é日\U0001F600", "\u2028\u2029", "\ufffd",
		"bad\xff\xfebytes", "cut\xe2\x80", "x\xe2\x80\xa8y"} {
		enc, err := json.Marshal(s)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, jsonStringLen(s), len(enc)-2, "%q", s)
		assert.Equal(t, jsonStringLen(s), jsonStringLen([]byte(s)), "%q", s)
	}
	assert.Equal(t, 12, jsonStringLen("\u2028\u2029"))
	assert.Equal(t, 6+6+2, jsonStringLen("\xff\xfeok"))
	for _, raw := range []string{`{"a":"\u2028"}`, "{\"a\":\"\u2028\u2029<>&\"}", `[1, 2]`, "\"é\""} {
		enc, err := json.Marshal(json.RawMessage(raw))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, jsonRawLen([]byte(raw)), len(enc), "%s", raw)
	}
	assert.Equal(t, len("\"\u2028\"")+3, jsonRawLen([]byte("\"\u2028\"")))
}

// Data that is not UTF-8 would be written as \ufffd (six bytes a byte) in
// an excerpt, or reach the model as bytes that are not UTF-8: it is
// refused, naming the event.
func TestPrepareRefusesDataThatIsNotUTF8(t *testing.T) {
	events := []Event{withData(ev(0, "x"), `"fine"`), withData(ev(1, "call_hangup"), "\"caf\xe9\""),
		withData(ev(2, "y"), "{\"k\":\""+strings.Repeat("\xff", 3000)+"\"}")}
	_, err := Prepare(callFlow(), events, Limits{})
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	assert.Equal(t, []Problem{{"$.events[1].data", "the data of the event is not valid UTF-8"},
		{"$.events[2].data", "the data of the event is not valid UTF-8"}}, ve.Problems)
	assert.ErrorIs(t, ValidateEvents(events), ErrInvalid)
}

// Data cut to an excerpt is a reduction of the input.
func TestPrepareExcerptsReduceTheInput(t *testing.T) {
	events := []Event{withData(ev(0, "x"), `{"text":"`+strings.Repeat("a", 100)+`"}`), ev(1, "y")}
	p, err := Prepare(callFlow(), events, Limits{MaxDataBytes: 50})
	require.NoError(t, err)
	assert.Len(t, p.Events, 2, "nothing left out")
	assert.True(t, p.InputReduced, "but the data was cut")
	assert.NotEmpty(t, toModelEvent(0, &p.Events[0], p.maxDataBytes).DataExcerpt)

	p, err = Prepare(callFlow(), events, Limits{MaxDataBytes: 200})
	require.NoError(t, err)
	assert.False(t, p.InputReduced)
}
