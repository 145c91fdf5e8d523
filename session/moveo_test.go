package session

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return data
}

func TestFromMoveoDocumentedExample(t *testing.T) {
	cs, err := FromMoveo(readTestdata(t, "moveo/documented_example.json"), MoveoOptions{})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	c := cs[0]
	assert.Equal(t, "cd0c20e2-338d-485f-91ca-cb34766d1ceb", c.SessionID)
	assert.Equal(t, "8fb5d9d4-c3f0-4165-a8e9-41655e0fe624", c.OrganizationID)
	assert.Equal(t, "21f45e59-feab-445b-a133-0bb5bf26912f", *c.AgentID)
	assert.Equal(t, time.Date(2024, 1, 6, 7, 34, 37, 346_000_000, time.UTC), c.StartedAt, "zone-less times are UTC")
	assert.Equal(t, StatusCompleted, c.Status)
	assert.Equal(t, ReasonAgentResolved, c.TerminationReason, "contained and covered")

	in, err := (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), &c)
	require.NoError(t, err)
	require.Len(t, in.Messages, 2)
	assert.Equal(t, RoleUser, in.Messages[0].Role)
	assert.Equal(t, "hi", in.Messages[0].Content)
	assert.Equal(t, RoleAssistant, in.Messages[1].Role)
	assert.Equal(t, "Hello! How can I help you?", in.Messages[1].Content)
	assert.Equal(t, 17, *in.Messages[1].LatencyMS)
	assert.Equal(t, OutcomeResolved, *in.Outcome)
	assert.Equal(t, []MissingEvidenceReason{NoCSAT, NoUserFeedback}, in.MissingEvidenceReasons)
	for _, key := range []string{"is_contained", "is_covered", "is_test", "tags", "rule_ids", "desk_id", "integration_id", "brain_version", "participated_brains", "user_id"} {
		assert.Contains(t, in.CustomerMetadata, key)
	}
	for _, key := range []string{"user_email", "user_name", "csat_brain", "rating", "feedback", "messages"} {
		assert.NotContains(t, in.CustomerMetadata, key, "null or personal values are not kept")
	}
	golden(t, "moveo_documented_example.json", mustJSON(t, in))
}

func TestFromMoveoHandover(t *testing.T) {
	cs, err := FromMoveo(readTestdata(t, "moveo/handover.json"), MoveoOptions{})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	c := cs[0]
	assert.True(t, IsUUID(c.SessionID), "a session id that is not a UUID gets a derived one")
	assert.Equal(t, derivedUUID("moveo-session", "web-sess-000042"), c.SessionID)
	assert.Equal(t, "web-sess-000042", c.CustomerMetadata["moveo_session_id"])
	assert.Equal(t, "0e7d7a9c-42a3-4f7c-9d55-3f1d2c6b8e01", *c.AgentID, "the parent brain is the agent")
	assert.Equal(t, StatusExpired, c.Status)
	assert.Equal(t, ReasonHandedOff, c.TerminationReason)

	in, err := (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), &c)
	require.NoError(t, err)
	assert.Equal(t, OutcomeTransferred, *in.Outcome, "handed off, then expired")

	roles := []string{}
	for _, m := range in.Messages {
		roles = append(roles, m.Role)
	}
	assert.Equal(t, []string{RoleUser, RoleAssistant, RoleUser, RoleAssistant, RoleHumanAgent}, roles)
	assert.Equal(t, "What is the fee for a replacement card? My email is [EMAIL]", in.Messages[0].Content)
	assert.Equal(t, "Replacement cards are free once a year.\n\nAnything else?", in.Messages[1].Content, "texts of the responses joined")
	assert.Equal(t, 1250, *in.Messages[1].LatencyMS)
	assert.Equal(t, time.Date(2024, 2, 10, 10, 12, 40, 0, time.UTC), in.Messages[4].Timestamp)

	require.Len(t, in.RagTraces, 2)
	assert.Equal(t, in.Messages[1].TurnID, in.RagTraces[0].AssistantTurnID)
	assert.Equal(t, []string{"5f0c6a0e-1d7b-4a53-9a0e-2f8b1c3d4e5f"}, in.RagTraces[0].KBIDs)
	assert.Equal(t, []RetrievedChunk{
		{ChunkID: "card-fees#2", DocID: "card-fees", VersionID: ptr("2024-01"), Score: ptr(0.71)},
		{ChunkID: "faq-cards", DocID: "faq-cards"},
	}, in.RagTraces[0].Retrieved)
	assert.Empty(t, in.RagTraces[1].Retrieved, "a retrieval that found nothing")
	require.Len(t, in.Citations, 2)
	assert.Equal(t, "card-fees", in.Citations[0].DocID)

	require.Len(t, in.HandoffEvents, 1, "one handoff per human agent")
	assert.Equal(t, "7c1e4b1a-9a2d-4f3e-8b5c-6d7e8f901234", *in.HandoffEvents[0].TransferredToAgentID)
	assert.Equal(t, "conversation:member_join", *in.HandoffEvents[0].Reason)

	require.NotNil(t, in.CSAT)
	assert.Equal(t, 5, in.CSAT.Score, "the human agent's CSAT wins")
	assert.Equal(t, *in.EndedAt, in.CSAT.Timestamp)
	require.NotNil(t, in.UserFeedback)
	assert.Equal(t, 3, *in.UserFeedback.Rating)
	assert.Equal(t, "The bot did not know the fee; the agent did. Call me on [PHONE].", *in.UserFeedback.Comment)

	assert.Equal(t, map[string]any{"message:correction": json.Number("1")}, in.CustomerMetadata["unknown_events"], "assembled metadata numbers are json.Number")
	assert.NotContains(t, in.CustomerMetadata, "user_email")
	assert.Len(t, in.CustomerMetadata["reactions"], 1)
	assert.Equal(t, []MissingEvidenceReason{NoKBSnapshot}, in.MissingEvidenceReasons)
	golden(t, "moveo_handover.json", mustJSON(t, in))
}

func TestFromMoveoIsDeterministic(t *testing.T) {
	data := readTestdata(t, "moveo/handover.json")
	a, err := FromMoveo(data, MoveoOptions{})
	require.NoError(t, err)
	b, err := FromMoveo(data, MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, string(mustJSON(t, a)), string(mustJSON(t, b)))

	other := strings.Replace(string(data), "web-sess-000042", "web-sess-000043", 1)
	c, err := FromMoveo([]byte(other), MoveoOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, a[0].Messages[0].TurnID, c[0].Messages[0].TurnID, "turn ids depend on the session")
}

func TestFromMoveoShapesAndOptions(t *testing.T) {
	record := `{"session_id":"s-1","account_id":"acct-1","channel":"web","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:40:00",
		"csat_brain":8,"messages":[{"time":"2024-01-06T07:34:43","event":"message:received","message":{"text":"hi"}}]}`
	opts := MoveoOptions{OrganizationID: orgA, CSATScaleMax: 10}

	bare, err := FromMoveo([]byte(record), opts)
	require.NoError(t, err)
	require.Len(t, bare, 1)
	assert.Equal(t, orgA, bare[0].OrganizationID, "the option wins over account_id")
	require.NotNil(t, bare[0].CSAT)
	assert.Equal(t, 8, bare[0].CSAT.Score)
	assert.Equal(t, 10, bare[0].CSAT.ScaleMax)
	assert.Equal(t, ReasonSessionUnknown(), bare[0].TerminationReason, "no signal: no reason")

	arr, err := FromMoveo([]byte("["+record+","+strings.Replace(record, "s-1", "s-2", 1)+"]"), opts)
	require.NoError(t, err)
	require.Len(t, arr, 2)
	assert.NotEqual(t, arr[0].SessionID, arr[1].SessionID)

	single, err := FromMoveo([]byte(`{"data":{"get_session_content":`+record+`}}`), opts)
	require.NoError(t, err)
	require.Len(t, single, 1)

	derived, err := FromMoveo([]byte(record), MoveoOptions{CSATScaleMax: 10})
	require.NoError(t, err)
	assert.Equal(t, derivedUUID("moveo-account", "acct-1"), derived[0].OrganizationID)

	active, err := FromMoveo([]byte(`{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37"}`), MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, StatusActive, active[0].Status, "no end time: still going on")
	_, err = (&Assembler{}).Assemble(t.Context(), &active[0])
	assert.ErrorIs(t, err, ErrNotTerminal)

	goal, err := FromMoveo([]byte(`{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:35:37","goal_achieved":0,"is_covered":true,"is_contained":true}`), MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, ReasonAgentUnresolved, goal[0].TerminationReason, "goal_achieved decides before containment")

	uncovered, err := FromMoveo([]byte(`{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:35:37","is_covered":false,
		"messages":[{"time":"2024-01-06T07:34:43","event":"message:received","message":{"text":"can I pay in bitcoin?"}}]}`), MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, ReasonAgentUnresolved, uncovered[0].TerminationReason)

	expired, err := FromMoveo([]byte(`{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","messages":[{"time":"2024-01-06T08:34:37","event":"session:expired"},{"event":"message:received","message":"late"}]}`), MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, StatusExpired, expired[0].Status)
	assert.Equal(t, ReasonInactivityTimeout, expired[0].TerminationReason)
	assert.Equal(t, time.Date(2024, 1, 6, 8, 34, 37, 0, time.UTC), *expired[0].EndedAt, "the expiry ends the session")
	require.Len(t, expired[0].Messages, 1)
	assert.Equal(t, "late", expired[0].Messages[0].Content, "a plain string message is its text")
	assert.Equal(t, *expired[0].EndedAt, expired[0].Messages[0].Timestamp, "an event without a time takes the time before it")

	noStart, err := FromMoveo([]byte(`{"session_id":"s","account_id":"a","end_time":"2024-01-06T07:35:37","messages":[{"time":"2024-01-06T07:35:00","event":"message:received","message":{"text":"x"}}]}`), MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, time.Date(2024, 1, 6, 7, 35, 0, 0, time.UTC), noStart[0].StartedAt, "the first event starts the session")
}

// ReasonSessionUnknown is the empty reason, spelled out for the test.
func ReasonSessionUnknown() SessionTerminationReason { return "" }

func TestFromMoveoErrors(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		path     string
		contains string
	}{
		{"not json", `{"data":`, "$", "not valid JSON"},
		{"trailing data", `{"session_id":"s"} x`, "$", "not valid JSON"},
		{"a number", `42`, "$", "not an object or an array"},
		{"data not an object", `{"data":[1]}`, "$.data", "not an object"},
		{"records not an array", `{"data":{"get_session_content":"x"}}`, "$.data.get_session_content", "not an array"},
		{"graphql errors", `{"errors":[{"message":"forbidden"}]}`, "$.errors", "GraphQL errors"},
		{"graphql errors with null data", `{"data":null,"errors":[{"message":"forbidden"}]}`, "$.errors", "GraphQL errors"},
		{"record not an object", `{"data":{"get_session_content":[7]}}`, "$.data.get_session_content[0]", "not an object"},
		{"session id missing", `{"account_id":"a","start_time":"2024-01-06T07:34:37"}`, "$.session_id", "missing"},
		{"session id empty", `{"session_id":" ","account_id":"a","start_time":"2024-01-06T07:34:37"}`, "$.session_id", "empty"},
		{"session id a number", `{"session_id":5,"account_id":"a","start_time":"2024-01-06T07:34:37"}`, "$.session_id", "not a string"},
		{"no organisation", `{"session_id":"s","start_time":"2024-01-06T07:34:37"}`, "$.account_id", "OrganizationID"},
		{"no start", `{"session_id":"s","account_id":"a"}`, "$.start_time", "missing"},
		{"bad start", `{"session_id":"s","account_id":"a","start_time":"yesterday"}`, "$.start_time", "not a timestamp"},
		{"zero start", `{"session_id":"s","account_id":"a","start_time":"0001-01-01T00:00:00"}`, "$.start_time", "not a timestamp"},
		{"end before start", `{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:00:00"}`, "$.end_time", "before the session's start"},
		{"messages not an array", `{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","messages":{}}`, "$.messages", "not an array"},
		{"event not an object", `{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","messages":["hi"]}`, "$.messages[0]", "not an object"},
		{"bad event time", `{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","messages":[{"time":"noon","event":"message:received"}]}`, "$.messages[0].time", "not a timestamp"},
		{"csat out of scale", `{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:40:00","csat_brain":9}`, "$.csat_brain", "outside the CSAT scale 0..5"},
		{"csat not an integer", `{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","csat_human_agent":4.5}`, "$.csat_human_agent", "not an integer"},
		{"flag of the wrong type", `{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","is_covered":"yes"}`, "$.is_covered", "not a boolean"},
		{"second record", `{"data":{"get_session_content":[{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37"},{"account_id":"a","start_time":"2024-01-06T07:34:37"}]}}`, "$.data.get_session_content[1].session_id", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := FromMoveo([]byte(tt.data), MoveoOptions{})
			assert.Nil(t, cs)
			requireProblem(t, problemsOf(t, err), tt.path, tt.contains)
		})
	}

	for _, empty := range []string{`{"data":{"get_session_content":[]}}`, `{"data":{"get_session_content":null}}`, `{"data":null}`, `[]`} {
		_, err := FromMoveo([]byte(empty), MoveoOptions{})
		assert.ErrorIs(t, err, ErrNotFound, "%s", empty)
	}
}

func TestFromMoveoUnknownEventsDoNotFail(t *testing.T) {
	data := `{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:40:00","messages":[
		{"time":"2024-01-06T07:34:40","event":"message:received","message":{"text":"hi"}},
		{"time":"2024-01-06T07:34:41","event":"brain:new_event"},
		{"time":"2024-01-06T07:34:42","event":"brain:new_event","message":{"text":"internal"}},
		{"time":"2024-01-06T07:34:43"},
		{"time":"2024-01-06T07:34:44","event":"message:brain_send","message":{}}
	]}`
	cs, err := FromMoveo([]byte(data), MoveoOptions{})
	require.NoError(t, err)
	require.Len(t, cs[0].Messages, 2)
	assert.Equal(t, "", cs[0].Messages[1].Content, "a brain_send without text is still an assistant turn")
	assert.Equal(t, map[string]any{"brain:new_event": 2, "(none)": 1}, cs[0].CustomerMetadata["unknown_events"])
	_, err = (&Assembler{}).Assemble(t.Context(), &cs[0])
	require.NoError(t, err)
}

// moveoRecord is a minimal finished record with one exchange; extra is
// spliced into it.
func moveoRecord(extra string, events ...string) string {
	msgs := `{"time":"2024-01-06T07:34:40","event":"message:received","message":{"text":"what is the fee?"}}`
	for _, e := range events {
		msgs += "," + e
	}
	return `{"session_id":"s-9","account_id":"a","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:40:00"` + extra + `,"messages":[` + msgs + `]}`
}

func TestFromMoveoRetrievalKnowledgeBase(t *testing.T) {
	const kb = "5f0c6a0e-1d7b-4a53-9a0e-2f8b1c3d4e5f"
	sources := `{"time":"2024-01-06T07:34:41","event":"message:brain_send","message":{"responses":[{"text":"5 EUR"}]},"collection_sources":[{"document_id":"fees"}]}`

	// No collection_id and no single participated collection: no
	// invented knowledge base, and nothing to cite.
	c, err := FromMoveoRecord([]byte(moveoRecord("", sources)), MoveoOptions{})
	require.NoError(t, err)
	require.Len(t, c.RagTraces, 1)
	assert.Empty(t, c.RagTraces[0].KBIDs)
	assert.Equal(t, []RetrievedChunk{{ChunkID: "fees#0", DocID: "fees"}}, c.RagTraces[0].Retrieved)
	assert.Empty(t, c.Citations, "a citation needs its knowledge base")
	assert.Empty(t, c.AgentKBIDs)
	assert.NotContains(t, string(mustJSON(t, c)), derivedUUID("moveo-collection", ""))
	in, err := (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Contains(t, in.MissingEvidenceReasons, NoCitations, "the sources could not be cited")
	assert.Equal(t, []string{}, in.RagTraces[0].KBIDs)

	// Exactly one participated collection: it is the knowledge base.
	c, err = FromMoveoRecord([]byte(moveoRecord(`,"participated_collections":["`+kb+`"]`, sources)), MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{kb}, c.RagTraces[0].KBIDs)
	require.Len(t, c.Citations, 1)
	assert.Equal(t, kb, c.Citations[0].KBID)
	assert.Equal(t, []string{kb}, c.AgentKBIDs)

	// Several: unknown again.
	c, err = FromMoveoRecord([]byte(moveoRecord(`,"participated_collections":["`+kb+`","c-2"]`, sources)), MoveoOptions{})
	require.NoError(t, err)
	assert.Empty(t, c.RagTraces[0].KBIDs)
	assert.Empty(t, c.Citations)

	// Sources as retrieval only.
	c, err = FromMoveoRecord([]byte(moveoRecord(`,"participated_collections":["`+kb+`"]`, sources)), MoveoOptions{SourcesNotCited: true})
	require.NoError(t, err)
	assert.Len(t, c.RagTraces[0].Retrieved, 1)
	assert.Empty(t, c.Citations)
	in, err = (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Contains(t, in.MissingEvidenceReasons, NoCitations)
}

func TestFromMoveoStatusAndReason(t *testing.T) {
	expired := `{"time":"2024-01-06T08:40:00","event":"session:expired"}`
	noEnd := func(s string) string { return strings.Replace(s, `,"end_time":"2024-01-06T07:40:00"`, "", 1) }
	tests := []struct {
		name    string
		record  string
		status  SessionStatus
		reason  SessionTerminationReason
		outcome *KnowledgeGapAnalysisOutcome
	}{
		{"goal achieved, then expired", noEnd(moveoRecord(`,"goal_achieved":1`, expired)), StatusCompleted, ReasonAgentResolved, ptr(OutcomeResolved)},
		{"goal missed, then expired", noEnd(moveoRecord(`,"goal_achieved":0`, expired)), StatusCompleted, ReasonAgentUnresolved, ptr(OutcomeUnresolved)},
		{"expired without a goal", noEnd(moveoRecord(``, expired)), StatusExpired, ReasonInactivityTimeout, ptr(OutcomeExpired)},
		{"expired_time is a deadline, not an expiry", moveoRecord(`,"expired_time":"2024-01-06T08:40:00","is_contained":true,"is_covered":true`),
			StatusCompleted, ReasonAgentResolved, ptr(OutcomeResolved)},
		{"expired_time without end_time: still active", noEnd(moveoRecord(`,"expired_time":"2024-01-06T08:40:00"`)), StatusActive, "", nil},
		{"no flags: no outcome", moveoRecord(``), StatusCompleted, "", nil},
		{"flags without a user message: no outcome",
			`{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:40:00","is_contained":true,"is_covered":true}`,
			StatusCompleted, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromMoveoRecord([]byte(tt.record), MoveoOptions{})
			require.NoError(t, err)
			assert.Equal(t, tt.status, c.Status)
			assert.Equal(t, tt.reason, c.TerminationReason)
			in, err := (&Assembler{}).Assemble(t.Context(), c)
			if tt.status == StatusActive {
				assert.ErrorIs(t, err, ErrNotTerminal)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.outcome, in.Outcome)
		})
	}
}

func TestFromMoveoMetadataAndPeople(t *testing.T) {
	record := moveoRecord(`,"participated_agents":[{"agent_id":"7c1e4b1a-9a2d-4f3e-8b5c-6d7e8f901234","name":"Sam Agent","email":"sam.agent@example.com"},"a-2"],`+
		`"insights":{"summary":"customer jane.doe@example.com asked for a callback on +44 20 7946 0958"},"rating":4,"feedback":"ok"`,
		`{"time":"2024-01-06T07:34:41","event":"message:agent_send","agent_id":"a-2","message":{"text":"hello"}}`)
	c, err := FromMoveoRecord([]byte(record), MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, []any{"7c1e4b1a-9a2d-4f3e-8b5c-6d7e8f901234", "a-2"}, c.CustomerMetadata["participated_agents"], "ids only")
	assert.NotContains(t, string(mustJSON(t, c)), "Sam Agent")
	assert.NotContains(t, string(mustJSON(t, c)), "sam.agent@")

	in, err := (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"summary": "customer [EMAIL] asked for a callback on [PHONE]"}, in.CustomerMetadata["insights"])
	assert.NotContains(t, string(mustJSON(t, in)), "jane.doe")

	_, err = FromMoveoRecord([]byte(moveoRecord(`,"rating":-1`)), MoveoOptions{})
	requireProblem(t, problemsOf(t, err), "$.rating", "negative")
}

func TestFromMoveoWidensTheSession(t *testing.T) {
	record := moveoRecord(``,
		`{"time":"2024-01-06T07:30:00","event":"message:received","message":{"text":"early"}}`,
		`{"time":"2024-01-06T07:45:00","event":"message:brain_send","message":{"responses":[{"text":"late"}]}}`)
	c, err := FromMoveoRecord([]byte(record), MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, time.Date(2024, 1, 6, 7, 30, 0, 0, time.UTC), c.StartedAt)
	assert.Equal(t, time.Date(2024, 1, 6, 7, 45, 0, 0, time.UTC), *c.EndedAt)
	_, err = (&Assembler{}).Assemble(t.Context(), c)
	require.NoError(t, err, "every message lies within the session")
}

func TestFromMoveoRecord(t *testing.T) {
	one := moveoRecord(``)
	c, err := FromMoveoRecord([]byte(`{"data":{"get_session_content":[`+one+`]}}`), MoveoOptions{})
	require.NoError(t, err)
	assert.Equal(t, derivedUUID("moveo-session", "s-9"), c.SessionID)

	_, err = FromMoveoRecord([]byte(`[`+one+`,`+strings.Replace(one, "s-9", "s-10", 1)+`]`), MoveoOptions{})
	requireProblem(t, problemsOf(t, err), "$", "holds 2 session records")

	_, err = FromMoveoRecord([]byte(`{"data":{"get_session_content":[]}}`), MoveoOptions{})
	assert.ErrorIs(t, err, ErrNotFound)

	_, err = FromMoveoRecord([]byte(`{"session_id":"jane.doe@example.com","account_id":"a","start_time":"yesterday at jane.doe@example.com"}`), MoveoOptions{})
	requireProblem(t, problemsOf(t, err), "$.start_time", "not a timestamp")
	assert.NotContains(t, err.Error(), "jane")
}
