package timeline

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// The default [Limits].
const (
	// DefaultMaxBytes is the default byte budget of the events a model
	// receives: 96 KiB of their JSON encoding.
	DefaultMaxBytes = 96 * 1024
	// DefaultMaxEvents is the default cap on the events a model receives.
	DefaultMaxEvents = 2000
	// DefaultMaxDataBytes is the default length of an event's data shown to
	// a model; longer data is cut to an excerpt.
	DefaultMaxDataBytes = 2048
)

// Limits bound the events a model receives (see [Prepare]). Zero fields
// take the defaults; negative ones are invalid.
type Limits struct {
	// MaxBytes is the byte budget of the events' JSON encoding (default
	// [DefaultMaxBytes]).
	MaxBytes int `json:"max_bytes,omitempty"`
	// MaxEvents caps how many events are kept (default [DefaultMaxEvents]).
	MaxEvents int `json:"max_events,omitempty"`
	// MaxDataBytes bounds each event's data as shown to the model (default
	// [DefaultMaxDataBytes]); longer data becomes a data_excerpt string, and
	// the input counts as reduced.
	MaxDataBytes int `json:"max_data_bytes,omitempty"`
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxEvents == 0 {
		l.MaxEvents = DefaultMaxEvents
	}
	if l.MaxDataBytes == 0 {
		l.MaxDataBytes = DefaultMaxDataBytes
	}
	return l
}

func (l Limits) validate(v *validator, root string) {
	if l.MaxBytes < 0 {
		v.add(root+".max_bytes", fmt.Sprintf("%d is negative", l.MaxBytes))
	}
	if l.MaxEvents < 0 {
		v.add(root+".max_events", fmt.Sprintf("%d is negative", l.MaxEvents))
	}
	if l.MaxDataBytes < 0 {
		v.add(root+".max_data_bytes", fmt.Sprintf("%d is negative", l.MaxDataBytes))
	}
}

// Prepared is the deterministic part of an analysis: the blocks computed
// from the flow and the frozen event list a model cites evidence from.
// [Prepare] makes it; one made otherwise shows each event's data up to
// [DefaultMaxDataBytes].
type Prepared struct {
	// Flow is the analysed flow.
	Flow Flow
	// Events is the reduced, frozen event list, in timeline order. An
	// evidence index is a position in it. The events share their Data with
	// the events given to [Prepare]; do not modify them.
	Events []Event
	// InputReduced is true when events other than duplicates were left out,
	// or when the data of a kept event is longer than Limits.MaxDataBytes
	// and the model sees only an excerpt of it.
	InputReduced bool
	// TotalEvents counts the events given to Prepare.
	TotalEvents int
	// Duplicates counts the duplicated events removed.
	Duplicates int
	// SessionContext is the session_context block, or nil.
	SessionContext *SessionContext
	// Outcome is the outcome block, or nil.
	Outcome *Outcome
	// Metrics is the metrics block, or nil.
	Metrics *Metrics
	// ResourcesUsed is the resources_used block.
	ResourcesUsed []ResourceUsed

	maxDataBytes int
}

// Prepare runs the deterministic part of an analysis over flow and its
// events, without any model:
//
//  1. It validates them (a [*ValidationError] with paths under "$.flow",
//     "$.events" and "$.limits") and refuses a flow that has not ended
//     ([ErrNotEnded]).
//  2. It puts the events in timeline order (timestamp, then index; stable)
//     and removes duplicates: events with the same timestamp, type,
//     resource type, resource id, severity and data bytes (the index is
//     ignored, so a record logged twice counts once).
//  3. It computes session_context, outcome, metrics and resources_used
//     over every remaining event (see [ComputeSessionContext],
//     [ComputeOutcome], [ComputeMetrics], [ComputeResourcesUsed]).
//  4. It reduces the events the model will see: error events
//     ([IsErrorEvent]) and hang-up events ([IsHangupEvent]) are always
//     kept; the other events are kept in timeline order while their JSON
//     encoding fits in what is left of lim.MaxBytes and their count in what
//     is left of lim.MaxEvents — the first one that does not fit ends the
//     selection. The JSON encoding counted is the one the model receives
//     (see [DataBlockStart]): the array of the kept events, every string
//     escaped as encoding/json escapes it, data longer than
//     lim.MaxDataBytes as an excerpt. InputReduced reports that some event
//     was left out or that some kept event's data was cut to an excerpt.
//     (Error and hang-up events alone may exceed both limits.)
//  5. It freezes the kept events, in timeline order: evidence indexes are
//     positions in Prepared.Events.
func Prepare(flow Flow, events []Event, lim Limits) (*Prepared, error) {
	var v validator
	validateFlow(&v, "$.flow", &flow)
	validateEvents(&v, "$.events", events)
	lim.validate(&v, "$.limits")
	if len(events) > math.MaxInt32 {
		v.add("$.events", fmt.Sprintf("%d events are more than %d", len(events), math.MaxInt32))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if !flow.Ended {
		return nil, ErrNotEnded
	}
	lim = lim.withDefaults()

	p := &Prepared{Flow: flow, TotalEvents: len(events), maxDataBytes: lim.MaxDataBytes}
	ord := timelineOrder(events)
	at := func(i int) *Event { return &events[ord.at(i)] }

	// Pass 1: remove duplicates, accumulate the blocks, find the pinned
	// (error and hang-up) events and their cost.
	dups := make(bitset, (len(events)+63)/64)
	dd := deduper{}
	var (
		metrics     metricsAcc
		resources   resourceAcc
		aiHandled   bool
		human       bool
		pinned      []int32
		pinnedBytes int
	)
	for i := range events {
		e := at(i)
		if dd.isDup(events, ord, dups, i) {
			dups.set(i)
			p.Duplicates++
			continue
		}
		metrics.add(e)
		resources.add(e)
		aiHandled = aiHandled || isAIEvent(e)
		human = human || isAgentEvent(e)
		if isErr, hangup := classify(e); isErr || hangup {
			pinned = append(pinned, int32(i))
			pinnedBytes += eventCost(e, lim.MaxDataBytes)
		}
	}
	unique := len(events) - p.Duplicates

	// Pass 2: keep the other events in order while they fit. The costs
	// count a separator after each event; the array adds its brackets and
	// drops the last separator.
	budget := lim.MaxBytes - 1 - pinnedBytes
	slots := lim.MaxEvents - len(pinned)
	var others []int32
	next := 0 // the next pinned position
	for i := range events {
		if dups.get(i) {
			continue
		}
		if next < len(pinned) && int(pinned[next]) == i {
			next++
			continue
		}
		c := eventCost(at(i), lim.MaxDataBytes)
		if slots <= 0 || c > budget {
			break
		}
		others = append(others, int32(i))
		budget -= c
		slots--
	}

	// Freeze: merge the two ordered selections.
	p.Events = make([]Event, 0, len(pinned)+len(others))
	for a, b := 0, 0; a < len(pinned) || b < len(others); {
		if b == len(others) || (a < len(pinned) && pinned[a] < others[b]) {
			p.Events = append(p.Events, *at(int(pinned[a])))
			a++
		} else {
			p.Events = append(p.Events, *at(int(others[b])))
			b++
		}
	}
	p.InputReduced = len(p.Events) < unique
	for i := 0; i < len(p.Events) && !p.InputReduced; i++ {
		p.InputReduced = len(p.Events[i].Data) > lim.MaxDataBytes
	}

	sc, oc, chased := contextOf(&p.Flow)
	if sc != nil && !chased {
		sc.AIHandled, sc.HumanInvolved = aiHandled, human
	}
	p.SessionContext, p.Outcome = sc, oc
	if metricsApply(flow.ReferenceType) {
		p.Metrics = metrics.result(answerFallback(&p.Flow))
	}
	p.ResourcesUsed = resources.result()
	return p, nil
}

// order maps a position in timeline order to an index of the event slice;
// nil means the slice is already in order.
type order []int32

func (o order) at(i int) int {
	if o == nil {
		return i
	}
	return int(o[i])
}

// compareEvents orders events by timestamp, then index.
func compareEvents(a, b *Event) int {
	if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
		return c
	}
	return cmp.Compare(a.Index, b.Index)
}

// timelineOrder returns the timeline order of events: nil when they are
// already in order, else a stable sort of their indexes.
func timelineOrder(events []Event) order {
	sorted := true
	for i := 1; i < len(events); i++ {
		if compareEvents(&events[i-1], &events[i]) > 0 {
			sorted = false
			break
		}
	}
	if sorted {
		return nil
	}
	o := make(order, len(events))
	for i := range o {
		o[i] = int32(i)
	}
	slices.SortStableFunc(o, func(a, b int32) int { return compareEvents(&events[a], &events[b]) })
	return o
}

type bitset []uint64

func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) get(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

// smallRun is the size up to which a run of events with one timestamp is
// searched for duplicates linearly; longer runs use a hash map.
const smallRun = 8

// deduper finds duplicates among events of one timestamp. It is fed the
// positions in timeline order, each once, in increasing order.
type deduper struct {
	runStart int
	mapped   int              // positions [runStart, mapped) are in seen
	seen     map[uint64]int32 // hash → first kept position of the run with it
}

func (d *deduper) isDup(events []Event, ord order, dups bitset, i int) bool {
	at := func(j int) *Event { return &events[ord.at(j)] }
	e := at(i)
	if i == 0 || !e.Timestamp.Equal(at(i-1).Timestamp) {
		d.runStart, d.mapped = i, i
		if len(d.seen) > 0 {
			clear(d.seen)
		}
		return false
	}
	linear := func() bool {
		for j := d.runStart; j < i; j++ {
			if !dups.get(j) && sameEvent(at(j), e) {
				return true
			}
		}
		return false
	}
	if i-d.runStart <= smallRun {
		return linear()
	}
	if d.seen == nil {
		d.seen = map[uint64]int32{}
	}
	for ; d.mapped < i; d.mapped++ {
		if dups.get(d.mapped) {
			continue
		}
		h := hashEvent(at(d.mapped))
		if _, ok := d.seen[h]; !ok {
			d.seen[h] = int32(d.mapped)
		}
	}
	j, ok := d.seen[hashEvent(e)]
	if !ok {
		return false
	}
	if sameEvent(at(int(j)), e) {
		return true
	}
	return linear() // a hash collision: look properly
}

// sameEvent reports whether a and b, of the same timestamp, are duplicates.
func sameEvent(a, b *Event) bool {
	return a.Type == b.Type && a.ResourceType == b.ResourceType && a.ResourceID == b.ResourceID &&
		a.Severity == b.Severity && bytes.Equal(a.Data, b.Data)
}

// hashEvent is FNV-1a over the fields sameEvent compares.
func hashEvent(e *Event) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	str := func(s string) {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
		h = (h ^ 0xff) * prime
	}
	str(e.Type)
	str(e.ResourceType)
	str(e.ResourceID)
	str(e.Severity)
	for _, c := range e.Data {
		h = (h ^ uint64(c)) * prime
	}
	return h
}

// modelEvent is how an event is shown to a model.
type modelEvent struct {
	Index        int             `json:"index"`
	Timestamp    string          `json:"timestamp"`
	Type         string          `json:"type"`
	ResourceType string          `json:"resource_type,omitempty"`
	ResourceID   string          `json:"resource_id,omitempty"`
	Error        bool            `json:"error,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	DataExcerpt  string          `json:"data_excerpt,omitempty"`
}

// excerptMark ends a data excerpt.
const excerptMark = "…"

// toModelEvent renders the event at index i of the frozen list, its data
// cut to an excerpt beyond maxData bytes (0 meaning [DefaultMaxDataBytes]).
func toModelEvent(i int, e *Event, maxData int) modelEvent {
	if maxData <= 0 {
		maxData = DefaultMaxDataBytes
	}
	me := modelEvent{
		Index:        i,
		Timestamp:    e.Timestamp.UTC().Format(TimestampLayout),
		Type:         e.Type,
		ResourceType: e.ResourceType,
		ResourceID:   e.ResourceID,
		Error:        IsErrorEvent(e),
	}
	switch {
	case len(e.Data) == 0:
	case len(e.Data) <= maxData && json.Valid(e.Data):
		me.Data = e.Data
	default:
		me.DataExcerpt = excerpt(e.Data, maxData)
	}
	return me
}

// excerpt cuts b to at most n bytes at a rune boundary and marks the cut.
func excerpt(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	cut := n
	for cut > 0 && cut < len(b) && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + excerptMark
}

// Fixed parts of a rendered event, for eventCost.
var (
	costBase         = len(`{"index":,"timestamp":"","type":""},`) + 7 + len("2006-01-02T15:04:05.000000Z")
	costResourceType = len(`,"resource_type":""`)
	costResourceID   = len(`,"resource_id":""`)
	costError        = len(`,"error":true`)
	costData         = len(`,"data":`)
	costExcerpt      = len(`,"data_excerpt":""`) + len(excerptMark)
)

// eventCost estimates the bytes of e's JSON rendering (see toModelEvent):
// exact for the fixed parts and strings, an upper bound for data (its
// insignificant white space is counted).
func eventCost(e *Event, maxData int) int {
	n := costBase + jsonStringLen(e.Type)
	if e.ResourceType != "" {
		n += costResourceType + jsonStringLen(e.ResourceType)
	}
	if e.ResourceID != "" {
		n += costResourceID + jsonStringLen(e.ResourceID)
	}
	if IsErrorEvent(e) {
		n += costError
	}
	switch {
	case len(e.Data) == 0:
	case len(e.Data) <= maxData:
		n += costData + jsonRawLen(e.Data)
	default:
		n += costExcerpt + jsonStringLen(e.Data[:maxData])
	}
	return n
}

// jsonStringLen is the length of s encoded as a JSON string by
// encoding/json with HTML escaping, quotes excluded: two bytes for " and \,
// six for a control character, <, >, &, U+2028, U+2029 and each byte that
// is not valid UTF-8 (written as \ufffd), the rune's own bytes otherwise.
func jsonStringLen[S ~string | ~[]byte](s S) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			switch {
			case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
				n += 6
			default:
				n += size
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			n += 2
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 6
		default:
			n++
		}
		i++
	}
	return n
}

// jsonRawLen bounds the length of raw JSON re-encoded by encoding/json with
// HTML escaping: <, > and & become six bytes, as do U+2028 and U+2029.
func jsonRawLen(b []byte) int {
	n := len(b)
	for i, c := range b {
		switch {
		case c == '<' || c == '>' || c == '&':
			n += 5
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8: // U+2028, U+2029
			n += 3
		}
	}
	return n
}
