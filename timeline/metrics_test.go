package timeline

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestComputeMetrics(t *testing.T) {
	u := func(ms int64) Event { return ev(ms, EventUserTranscription) }
	b := func(ms int64) Event { return ev(ms, EventBotTranscription) }
	answer := func(ms int64) Event { return ev(ms, EventAIInitialized) }
	i64 := func(v int64) *int64 { return &v }
	aiFlow := Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefAI, Ended: true}
	unanswered := callFlow()
	unanswered.Reference.Calls[0].AnsweredAt = zeroTime

	tests := []struct {
		name   string
		flow   Flow
		events []Event
		want   *Metrics
	}{
		{"the documented example's shape: first response, pairs and gaps", aiFlow,
			[]Event{answer(0), b(1200), u(3000), b(4000), u(6000), b(8600)},
			&Metrics{TurnsUser: 2, TurnsBot: 3, FirstResponseMS: i64(1200), AvgResponseMS: i64(1800), MaxResponseMS: i64(2600), MaxGapMS: i64(2600)}},
		{"intermediate ticks and other types are not turns", aiFlow,
			[]Event{answer(0), ev(100, EventBotLLMIntermediate), ev(200, EventBotLLM), ev(250, "message_user_transcription_partial"),
				ev(260, "MESSAGE_BOT_TRANSCRIPTION"), b(500), ev(600, EventBotLLMIntermediate), u(1000)},
			&Metrics{TurnsUser: 1, TurnsBot: 1, FirstResponseMS: i64(500), MaxGapMS: i64(500)}},
		{"no turns: no block", aiFlow, []Event{answer(0), ev(100, EventBotLLMIntermediate), ev(200, "call_hangup")}, nil},
		{"no events: no block", aiFlow, nil, nil},
		{"user turns only: no latency, a gap", aiFlow, []Event{u(0), u(700)},
			&Metrics{TurnsUser: 2, MaxGapMS: i64(700)}},
		{"one turn: no gap", aiFlow, []Event{answer(0), b(900)},
			&Metrics{TurnsBot: 1, FirstResponseMS: i64(900)}},
		{"no answer event and no call: no first response", aiFlow, []Event{u(0), b(400)},
			&Metrics{TurnsUser: 1, TurnsBot: 1, AvgResponseMS: i64(400), MaxResponseMS: i64(400), MaxGapMS: i64(400)}},
		{"answer falls back to the call leg's answer time", callFlow(), []Event{b(6_500)},
			&Metrics{TurnsBot: 1, FirstResponseMS: i64(1_500)}},
		{"the answer event wins over the call leg", callFlow(), []Event{answer(6_000), b(6_500)},
			&Metrics{TurnsBot: 1, FirstResponseMS: i64(500)}},
		{"neither answer event nor answered leg", unanswered, []Event{b(6_500)}, &Metrics{TurnsBot: 1}},
		{"the earliest answer event counts", aiFlow, []Event{answer(100), answer(50), b(1000)},
			&Metrics{TurnsBot: 1, FirstResponseMS: i64(950)}},
		{"a bot turn before the answer is clamped to 0", aiFlow, []Event{b(100), answer(300)},
			&Metrics{TurnsBot: 1, FirstResponseMS: i64(0)}},
		{"every user turn pairs with the next bot turn after it", aiFlow,
			[]Event{u(0), u(1000), b(1500), b(4000), u(5000), u(9000)},
			&Metrics{TurnsUser: 4, TurnsBot: 2, AvgResponseMS: i64(1000), MaxResponseMS: i64(1500), MaxGapMS: i64(4000)}},
		{"the product's example: u0 u1000 b1500", aiFlow, []Event{u(0), u(1000), b(1500)},
			&Metrics{TurnsUser: 2, TurnsBot: 1, AvgResponseMS: i64(1000), MaxResponseMS: i64(1500), MaxGapMS: i64(1000)}},
		{"a bot turn pairs only with the user turns since the previous bot turn", aiFlow,
			[]Event{u(0), b(100), b(200), u(300), b(600)},
			&Metrics{TurnsUser: 2, TurnsBot: 3, AvgResponseMS: i64(200), MaxResponseMS: i64(300), MaxGapMS: i64(300)}},
		{"user turns with no bot turn after them make no pair", aiFlow, []Event{b(0), u(100), u(400)},
			&Metrics{TurnsUser: 2, TurnsBot: 1, MaxGapMS: i64(300)}},
		{"other events between the turns change nothing", aiFlow,
			[]Event{u(0), ev(50, EventBotLLMIntermediate), u(100), ev(150, "media_stats"), b(700)},
			&Metrics{TurnsUser: 2, TurnsBot: 1, AvgResponseMS: i64(650), MaxResponseMS: i64(700), MaxGapMS: i64(600)}},
		{"bot then user is not a pair", aiFlow, []Event{b(0), u(800)},
			&Metrics{TurnsUser: 1, TurnsBot: 1, MaxGapMS: i64(800)}},
		{"the average is rounded down", aiFlow, []Event{u(0), b(1), u(10), b(12)},
			&Metrics{TurnsUser: 2, TurnsBot: 2, AvgResponseMS: i64(1), MaxResponseMS: i64(2), MaxGapMS: i64(9)}},
		{"events out of order are put in timeline order", aiFlow, []Event{b(4000), u(3000), answer(0), b(1200)},
			&Metrics{TurnsUser: 1, TurnsBot: 2, FirstResponseMS: i64(1200), AvgResponseMS: i64(1000), MaxResponseMS: i64(1000), MaxGapMS: i64(1800)}},
		{"same timestamp: zero latency", aiFlow, []Event{u(100), b(100)},
			&Metrics{TurnsUser: 1, TurnsBot: 1, AvgResponseMS: i64(0), MaxResponseMS: i64(0), MaxGapMS: i64(0)}},
		{"conversation references have no metrics", Flow{ReferenceType: RefConversation}, []Event{u(0), b(100)}, nil},
		{"api references have no metrics", Flow{ReferenceType: RefAPI}, []Event{u(0), b(100)}, nil},
		{"transcribe references have no metrics", Flow{ReferenceType: RefTranscribe}, []Event{u(0), b(100)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ComputeMetrics(tt.flow, tt.events))
		})
	}
}

// Sub-millisecond differences truncate; Prepare gives the same metrics as
// ComputeMetrics over deduplicated events.
func TestMetricsThroughPrepare(t *testing.T) {
	f := Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefAI, Ended: true}
	events := []Event{ev(0, EventAIInitialized), ev(0, EventAIInitialized), ev(1200, EventBotTranscription),
		ev(3000, EventUserTranscription), ev(3000, EventUserTranscription), ev(4000, EventBotTranscription)}
	p, err := Prepare(f, events, Limits{})
	if assert.NoError(t, err) {
		assert.Equal(t, ComputeMetrics(f, []Event{events[0], events[2], events[3], events[5]}), p.Metrics)
		assert.Equal(t, 2, p.Duplicates)
		assert.Equal(t, 1, p.Metrics.TurnsUser, "a duplicated turn counts once")
	}
}
