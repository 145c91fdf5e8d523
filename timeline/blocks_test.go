package timeline

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCallResult(t *testing.T) {
	tests := []struct {
		reason string
		hungUp bool
		want   OutcomeResult
	}{
		{"normal", true, ResultCompleted},
		{"normal", false, ResultCompleted},
		{"noanswer", true, ResultNoAnswer},
		{"dialout", true, ResultNoAnswer},
		{"busy", true, ResultBusy},
		{"failed", true, ResultFailed},
		{"cancel", true, ResultFailed}, // the wire value of a cancelled call
		{"canceled", true, ResultFailed},
		{"cancelled", true, ResultFailed},
		{"timeout", true, ResultFailed},
		{"amd", true, ResultFailed},
		{"none", true, ResultCompleted},
		{"none", false, ResultInProgress},
		{"", true, ResultCompleted},
		{"", false, ResultInProgress},
		{" Normal ", true, ResultCompleted},
		{"BUSY", false, ResultBusy},
		{"abandoned", true, ResultUnknown},
		{"rejected", false, ResultUnknown},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, CallResult(tt.reason, tt.hungUp), "reason %q hung up %v", tt.reason, tt.hungUp)
	}
}

func TestComputeSessionContextCall(t *testing.T) {
	f := callFlow()
	events := []Event{withRes(ev(0, "call_created"), "call", "c1"), withRes(ev(1000, "pipecatcall_initialized"), "pipecatcall", "p1"),
		withRes(ev(2000, "agent_joined"), "agent", "a1")}
	sc := ComputeSessionContext(f, events)
	assert.Equal(t, &SessionContext{
		ReferenceType: "call", Channel: "voice", Direction: "inbound", DirectionRaw: "incoming",
		Participants: []Participant{{"source", "+14155550100"}, {"destination", "+14155550199"}},
		FlowName:     "support-ivr", StartedAt: "2024-03-01T10:00:05Z", AIHandled: true, HumanInvolved: true,
	}, sc)

	// Outbound, two legs: the earliest created is the primary leg.
	f.Reference.Calls = []CallLeg{
		{Direction: "incoming", Source: "b", Destination: "c", CreatedAt: at(9_000)},
		{Direction: "outgoing", Source: "+1000", Destination: "+2000", CreatedAt: at(1_000)},
	}
	sc = ComputeSessionContext(f, nil)
	assert.Equal(t, "outbound", sc.Direction)
	assert.Equal(t, "outgoing", sc.DirectionRaw)
	assert.True(t, sc.MultiLeg)
	assert.Equal(t, "2024-03-01T10:00:01Z", sc.StartedAt, "not answered: the leg's creation")
	assert.Equal(t, []Participant{{"source", "+1000"}, {"destination", "+2000"}}, sc.Participants)
	assert.False(t, sc.AIHandled)
	assert.False(t, sc.HumanInvolved)
}

func TestComputeSessionContext(t *testing.T) {
	base := Flow{ID: flowA, CustomerID: customerA, Ended: true, CreatedAt: at(500)}
	with := func(refType, name string, ref *Reference) Flow {
		f := base
		f.ReferenceType, f.FlowName, f.Reference = refType, name, ref
		return f
	}
	call := &Reference{Type: RefCall, CustomerID: customerA, Calls: []CallLeg{{Direction: "outgoing", Source: "+1", Destination: "+2",
		CreatedAt: at(1_000), AnsweredAt: at(3_000), HangupReason: "busy", HangupBy: "remote"}}}
	conv := &Reference{Type: RefConversation, CustomerID: customerA, Conversation: &Conversation{Platform: "line", Self: "biz", Peer: "user", CreatedAt: at(2_000)}}
	tests := []struct {
		name string
		flow Flow
		want *SessionContext
	}{
		{"nothing resolves", with("", "", nil), nil},
		{"none with a flow name", with("", "welcome", nil), &SessionContext{FlowName: "welcome", StartedAt: "2024-03-01T10:00:00Z"}},
		{"api", with(RefAPI, "hook", nil), &SessionContext{ReferenceType: "api", Channel: "api", FlowName: "hook", StartedAt: "2024-03-01T10:00:00Z"}},
		{"campaign", with(RefCampaign, "", nil), &SessionContext{ReferenceType: "campaign", Channel: "voice", StartedAt: "2024-03-01T10:00:00Z"}},
		{"unknown type kept verbatim", with("fax", "", nil), &SessionContext{ReferenceType: "fax", StartedAt: "2024-03-01T10:00:00Z"}},
		{"call whose record is missing: header only", with(RefCall, "ivr", nil),
			&SessionContext{ReferenceType: "call", Channel: "voice", FlowName: "ivr", StartedAt: "2024-03-01T10:00:00Z"}},
		{"call record of another customer is ignored", with(RefCall, "ivr", &Reference{Type: RefCall, CustomerID: customerB, Calls: call.Calls}),
			&SessionContext{ReferenceType: "call", Channel: "voice", FlowName: "ivr", StartedAt: "2024-03-01T10:00:00Z"}},
		{"call without legs", with(RefCall, "", &Reference{Type: RefCall, CustomerID: customerA}),
			&SessionContext{ReferenceType: "call", Channel: "voice", StartedAt: "2024-03-01T10:00:00Z"}},
		{"call leg without addresses: no participants", with(RefCall, "", &Reference{Type: RefCall, CustomerID: customerA, Calls: []CallLeg{{Direction: "sideways"}}}),
			&SessionContext{ReferenceType: "call", Channel: "voice", DirectionRaw: "sideways", StartedAt: "2024-03-01T10:00:00Z"}},
		{"conversation: self and peer, no direction", with(RefConversation, "chat-bot", conv),
			&SessionContext{ReferenceType: "conversation", Channel: "chat", FlowName: "chat-bot",
				Participants: []Participant{{"self", "biz"}, {"peer", "user"}}, StartedAt: "2024-03-01T10:00:02Z"}},
		{"ai", with(RefAI, "agent", &Reference{Type: RefAI, CustomerID: customerA, AICall: &AICall{Status: "terminated", CreatedAt: at(4_000)}}),
			&SessionContext{ReferenceType: "ai", Channel: "ai", FlowName: "agent", StartedAt: "2024-03-01T10:00:04Z"}},
		{"transcribe of a call: the call's body", with(RefTranscribe, "transcriber",
			&Reference{Type: RefTranscribe, CustomerID: customerA, Origin: call}),
			&SessionContext{ReferenceType: "transcribe", Channel: "voice", Direction: "outbound", DirectionRaw: "outgoing",
				Participants: []Participant{{"source", "+1"}, {"destination", "+2"}}, StartedAt: "2024-03-01T10:00:03Z",
				OriginKind: "transcription", OriginType: "call"}},
		{"recording of a conversation", with(RefRecording, "x", &Reference{Type: RefRecording, CustomerID: customerA, Origin: conv}),
			&SessionContext{ReferenceType: "recording", Channel: "chat", Participants: []Participant{{"self", "biz"}, {"peer", "user"}},
				StartedAt: "2024-03-01T10:00:02Z", OriginKind: "recording", OriginType: "conversation"}},
		{"transcribe of a recording of a call: two hops", with(RefTranscribe, "", &Reference{Type: RefTranscribe, CustomerID: customerA,
			Origin: &Reference{Type: RefRecording, CustomerID: customerA, Origin: call}}),
			&SessionContext{ReferenceType: "transcribe", Channel: "voice", Direction: "outbound", DirectionRaw: "outgoing",
				Participants: []Participant{{"source", "+1"}, {"destination", "+2"}}, StartedAt: "2024-03-01T10:00:03Z",
				OriginKind: "transcription", OriginType: "recording"}},
		{"transcribe of a confbridge", with(RefTranscribe, "", &Reference{Type: RefTranscribe, CustomerID: customerA,
			Origin: &Reference{Type: RefConfbridge, CustomerID: customerA, Calls: []CallLeg{{CreatedAt: at(7_000)}, {CreatedAt: at(8_000)}}}}),
			&SessionContext{ReferenceType: "transcribe", Channel: "voice", StartedAt: "2024-03-01T10:00:07Z", MultiLeg: true,
				OriginKind: "transcription", OriginType: "confbridge"}},
		{"transcribe whose record is missing: header with marker", with(RefTranscribe, "t", nil),
			&SessionContext{ReferenceType: "transcribe", OriginKind: "transcription"}},
		{"recording without origin", with(RefRecording, "", &Reference{Type: RefRecording, CustomerID: customerA}),
			&SessionContext{ReferenceType: "recording", OriginKind: "recording"}},
		{"origin of another customer is never shown", with(RefRecording, "", &Reference{Type: RefRecording, CustomerID: customerA,
			Origin: &Reference{Type: RefCall, CustomerID: customerB, Calls: call.Calls}}),
			&SessionContext{ReferenceType: "recording", OriginKind: "recording"}},
		{"record of another customer is never chased", with(RefTranscribe, "", &Reference{Type: RefTranscribe, CustomerID: customerB, Origin: call}),
			&SessionContext{ReferenceType: "transcribe", OriginKind: "transcription"}},
		{"inner chase that finds nothing", with(RefTranscribe, "", &Reference{Type: RefTranscribe, CustomerID: customerA,
			Origin: &Reference{Type: RefRecording, CustomerID: customerA}}),
			&SessionContext{ReferenceType: "transcribe", OriginKind: "transcription"}},
		{"a chain longer than two hops stops", with(RefTranscribe, "", &Reference{Type: RefTranscribe, CustomerID: customerA,
			Origin: &Reference{Type: RefRecording, CustomerID: customerA, Origin: &Reference{Type: RefTranscribe, CustomerID: customerA, Origin: call}}}),
			&SessionContext{ReferenceType: "transcribe", OriginKind: "transcription"}},
	}
	agent := []Event{withRes(ev(0, "agent_connected"), "agent", "a"), withRes(ev(1, "aicall_started"), "aicall", "x")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ComputeSessionContext(tt.flow, agent)
			if tt.want != nil && tt.want.OriginKind == "" {
				tt.want.AIHandled, tt.want.HumanInvolved = true, true // direct references read the events
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCyclicOriginTerminates(t *testing.T) {
	rec := &Reference{Type: RefRecording, CustomerID: customerA}
	tr := &Reference{Type: RefTranscribe, CustomerID: customerA, Origin: rec}
	rec.Origin = tr // a cycle a host should never produce
	f := Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefTranscribe, Ended: true, Reference: tr}
	assert.Equal(t, &SessionContext{ReferenceType: "transcribe", OriginKind: "transcription"}, ComputeSessionContext(f, nil))
}

func TestAIAndHumanFlags(t *testing.T) {
	f := Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefAPI, Ended: true}
	tests := []struct {
		event     Event
		ai, human bool
	}{
		{withRes(ev(0, "x"), "ai", ""), true, false},
		{withRes(ev(0, "x"), "aicall", ""), true, false},
		{withRes(ev(0, "x"), "pipecatcall", ""), true, false},
		{ev(0, EventAIInitialized), true, false},
		{ev(0, EventBotTranscription), true, false},
		{ev(0, EventBotLLM), true, false},
		{ev(0, EventBotLLMIntermediate), true, false},
		{ev(0, EventUserTranscription), false, false},
		{withRes(ev(0, "x"), "agent", ""), false, true},
		{ev(0, "agent_call_answered"), false, true},
		{ev(0, "agentless_thing"), false, false},
		{withRes(ev(0, "call_created"), "call", "c"), false, false},
	}
	for _, tt := range tests {
		sc := ComputeSessionContext(f, []Event{tt.event})
		assert.Equal(t, tt.ai, sc.AIHandled, "%+v", tt.event)
		assert.Equal(t, tt.human, sc.HumanInvolved, "%+v", tt.event)
	}
}

func TestComputeOutcome(t *testing.T) {
	leg := func(mod func(*CallLeg)) Flow {
		f := callFlow()
		mod(&f.Reference.Calls[0])
		return f
	}
	conversation := func(cv Conversation) Flow {
		return Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefConversation, Ended: true,
			Reference: &Reference{Type: RefConversation, CustomerID: customerA, Conversation: &cv}}
	}
	ai := func(status string) Flow {
		return Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefAI, Ended: true,
			Reference: &Reference{Type: RefAI, CustomerID: customerA, AICall: &AICall{Status: status}}}
	}
	msg := func(sec int64, dir, status string) ConversationMessage {
		return ConversationMessage{Direction: dir, Status: status, At: at(sec * 1000)}
	}
	tests := []struct {
		name string
		flow Flow
		want *Outcome
	}{
		{"call answered and hung up by the remote party", callFlow(),
			&Outcome{Result: ResultCompleted, EndedBy: "remote", Reason: "normal", Detail: map[string]string{"duration_sec": "312", "hangup_reason": "normal"}}},
		{"call not answered: no duration", leg(func(l *CallLeg) { l.AnsweredAt = zeroTime; l.HangupReason = "noanswer"; l.HangupBy = "local" }),
			&Outcome{Result: ResultNoAnswer, EndedBy: "local", Reason: "noanswer", Detail: map[string]string{"hangup_reason": "noanswer"}}},
		{"call with no reason, hung up", leg(func(l *CallLeg) { l.HangupReason = ""; l.HangupBy = "" }),
			&Outcome{Result: ResultCompleted, Detail: map[string]string{"duration_sec": "312"}}},
		{"call with no reason, hung-up time only", leg(func(l *CallLeg) { l.HangupReason = ""; l.Status = "" }),
			&Outcome{Result: ResultCompleted, EndedBy: "remote", Detail: map[string]string{"duration_sec": "312"}}},
		{"call still up", leg(func(l *CallLeg) {
			l.HangupReason = ""
			l.Status = "progressing"
			l.HungUpAt = zeroTime
			l.HangupBy = ""
		}),
			&Outcome{Result: ResultInProgress}},
		{"hang-up before the answer: duration clamped to 0", leg(func(l *CallLeg) { l.HungUpAt = at(1_000) }),
			&Outcome{Result: ResultCompleted, EndedBy: "remote", Reason: "normal", Detail: map[string]string{"duration_sec": "0", "hangup_reason": "normal"}}},
		{"call whose record is missing", Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefCall, Ended: true}, nil},
		{"conversation: the end user wrote last", conversation(Conversation{Platform: "whatsapp", Truncated: true, Messages: []ConversationMessage{
			msg(50, MessageIncoming, MessageDone), msg(0, MessageIncoming, MessageDone), msg(10, MessageOutgoing, MessageFailed), msg(20, MessageOutgoing, MessageDone)}}),
			&Outcome{Result: ResultCompleted, Reason: "done", Detail: map[string]string{"chat_platform": "whatsapp", "last_activity_by": "peer",
				"turns_self": "2", "turns_peer": "2", "unanswered": "true", "delivery_failures": "1", "thread_span_sec": "50", "truncated": "true"}}},
		{"conversation: the business replied last and it failed", conversation(Conversation{Platform: "line", Messages: []ConversationMessage{
			msg(0, MessageIncoming, MessageDone), msg(7, MessageOutgoing, MessageFailed)}}),
			&Outcome{Result: ResultFailed, Reason: "failed", Detail: map[string]string{"chat_platform": "line", "last_activity_by": "self",
				"turns_self": "1", "turns_peer": "1", "unanswered": "false", "delivery_failures": "1", "thread_span_sec": "7", "truncated": "false"}}},
		{"conversation: last message still progressing", conversation(Conversation{Messages: []ConversationMessage{msg(0, MessageOutgoing, MessageProgressing)}}),
			&Outcome{Result: ResultInProgress, Reason: "progressing", Detail: map[string]string{"last_activity_by": "self",
				"turns_self": "1", "turns_peer": "0", "unanswered": "false", "delivery_failures": "0", "thread_span_sec": "0", "truncated": "false"}}},
		{"conversation without messages", conversation(Conversation{Platform: "message"}),
			&Outcome{Result: ResultInProgress, Detail: map[string]string{"chat_platform": "message"}}},
		{"conversation without anything", conversation(Conversation{}), &Outcome{Result: ResultInProgress}},
		{"ai terminated", ai("terminated"), &Outcome{Result: ResultCompleted, Reason: "terminated"}},
		{"ai failed", ai("failed"), &Outcome{Result: ResultFailed, Reason: "failed"}},
		{"ai still running", ai("progressing"), &Outcome{Result: ResultInProgress, Reason: "progressing"}},
		{"ai without status", ai(""), &Outcome{Result: ResultUnknown}},
		{"api: not applicable", Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefAPI, Ended: true}, nil},
		{"transcribe inherits its origin's outcome", Flow{ID: flowA, CustomerID: customerA, ReferenceType: RefTranscribe, Ended: true,
			Reference: &Reference{Type: RefTranscribe, CustomerID: customerA, Origin: callFlow().Reference}},
			&Outcome{Result: ResultCompleted, EndedBy: "remote", Reason: "normal", Detail: map[string]string{"duration_sec": "312", "hangup_reason": "normal"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ComputeOutcome(tt.flow))
		})
	}
}

func TestComputeResourcesUsed(t *testing.T) {
	events := []Event{
		withRes(ev(0, "call_created"), "call", "c1"),
		withRes(ev(1, "call_progressing"), "call", "c1"),
		withRes(ev(2, "call_created"), "call", "c2"),
		withRes(ev(3, "transcribe_started"), "transcribe", "t1"),
		withRes(ev(4, "flow_step"), "activeflow", ""),
		withRes(ev(5, "flow_step"), "activeflow", ""),
		ev(6, "no_resource"),
		withRes(ev(7, "call_hangup"), "call", "c1"),
		withRes(ev(8, "call_hangup"), "call", "c2"),
	}
	assert.Equal(t, []ResourceUsed{{"activeflow", 1}, {"call", 2}, {"transcribe", 1}}, ComputeResourcesUsed(events))
	got := ComputeResourcesUsed(nil)
	require.NotNil(t, got)
	assert.Empty(t, got)
}
