package session

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validInput returns a fresh valid input with every kind of evidence.
func validInput(t *testing.T) *SessionAnalysisInput {
	t.Helper()
	var a Assembler
	in, err := a.Assemble(t.Context(), fullCaptures())
	require.NoError(t, err)
	fresh, err := ParseInput(mustJSON(t, in))
	require.NoError(t, err)
	return fresh
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalid)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.NotEmpty(t, ve.Problems)
	return ve.Problems
}

func requireProblem(t *testing.T, ps []Problem, path, contains string) {
	t.Helper()
	for _, p := range ps {
		if p.Path == path && strings.Contains(p.Message, contains) {
			return
		}
	}
	t.Fatalf("no problem at %s containing %q in %v", path, contains, ps)
}

func TestValidateAcceptsValid(t *testing.T) {
	in := validInput(t)
	require.NoError(t, in.Validate())

	// Equal timestamps are ordered: non-decreasing is enough.
	in.Messages[1].Timestamp = in.Messages[0].Timestamp
	require.NoError(t, in.Validate())

	// A minimal input: only the required fields.
	minimal := &SessionAnalysisInput{SessionID: sessionA, OrganizationID: orgA, Channel: "voice", StartedAt: t0}
	require.NoError(t, minimal.Validate())
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(in *SessionAnalysisInput)
		path     string
		contains string
	}{
		{"session id not a uuid", func(in *SessionAnalysisInput) { in.SessionID = "not-a-uuid" }, "$.session_id", "uuid"},
		{"organization id missing", func(in *SessionAnalysisInput) { in.OrganizationID = "" }, "$.organization_id", "uuid"},
		{"agent id not a uuid", func(in *SessionAnalysisInput) { in.AgentID = ptr("agent-7") }, "$.agent_id", "uuid"},
		{"version", func(in *SessionAnalysisInput) { in.AnalyzerInputSchemaVersion = 3 }, "$.analyzer_input_schema_version", "version 2"},
		{"zero start", func(in *SessionAnalysisInput) { in.StartedAt = time.Time{} }, "$.started_at", "missing"},
		{"end before start", func(in *SessionAnalysisInput) { e := t0.Add(-time.Second); in.EndedAt = &e }, "$.ended_at", "before started_at"},
		{"outcome outside enum", func(in *SessionAnalysisInput) { o := KnowledgeGapAnalysisOutcome("great"); in.Outcome = &o }, "$.knowledge_gap_analysis_outcome", ""},
		{"duplicate turn id", func(in *SessionAnalysisInput) { in.Messages[2].TurnID = strings.ToUpper(in.Messages[0].TurnID) }, "$.messages[2].turn_id", "repeats the turn_id of $.messages[0]"},
		{"turn id not a uuid", func(in *SessionAnalysisInput) { in.Messages[1].TurnID = "t2" }, "$.messages[1].turn_id", "uuid"},
		{"messages out of order", func(in *SessionAnalysisInput) { in.Messages[2].Timestamp = t0 }, "$.messages[2].timestamp", "chronological"},
		{"zero message time", func(in *SessionAnalysisInput) { in.Messages[3].Timestamp = time.Time{} }, "$.messages[3].timestamp", "missing"},
		{"truncated without count", func(in *SessionAnalysisInput) { in.Messages[0].Truncated = true }, "$.messages[0].original_char_count", "is null"},
		{"count without truncated", func(in *SessionAnalysisInput) { in.Messages[0].OriginalCharCount = ptr(500) }, "$.messages[0].original_char_count", "not truncated"},
		{"count not more than content", func(in *SessionAnalysisInput) {
			in.Messages[0].Truncated, in.Messages[0].OriginalCharCount = true, ptr(3)
		}, "$.messages[0].original_char_count", "not more than"},
		{"negative message latency", func(in *SessionAnalysisInput) { in.Messages[1].LatencyMS = ptr(-1) }, "$.messages[1].latency_ms", "negative"},
		{"citation names no message", func(in *SessionAnalysisInput) { in.Citations[0].AssistantTurnID = humanAgent }, "$.citations[0].assistant_turn_id", "names no message"},
		{"citation names a user turn", func(in *SessionAnalysisInput) { in.Citations[0].AssistantTurnID = turnUser1 }, "$.citations[0].assistant_turn_id", `"user" message, not an assistant`},
		{"rag trace names a tool turn", func(in *SessionAnalysisInput) { in.RagTraces[0].AssistantTurnID = turnTool1 }, "$.rag_traces[0].assistant_turn_id", `"tool" message`},
		{"tool call names no message", func(in *SessionAnalysisInput) { in.ToolCalls[0].AssistantTurnID = kbA }, "$.tool_calls[0].assistant_turn_id", "names no message"},
		{"duplicate rag query", func(in *SessionAnalysisInput) { in.RagTraces = append(in.RagTraces, in.RagTraces[0]) }, "$.rag_traces[1].rag_query_id", "repeats"},
		{"duplicate tool call", func(in *SessionAnalysisInput) { in.ToolCalls = append(in.ToolCalls, in.ToolCalls[0]) }, "$.tool_calls[1].tool_call_id", "repeats"},
		{"negative tool latency", func(in *SessionAnalysisInput) { in.ToolCalls[0].LatencyMS = ptr(-5) }, "$.tool_calls[0].latency_ms", "negative"},
		{"negative rag latency", func(in *SessionAnalysisInput) { in.RagTraces[0].LatencyMS = ptr(-5) }, "$.rag_traces[0].latency_ms", "negative"},
		{"kb id not a uuid", func(in *SessionAnalysisInput) { in.RagTraces[0].KBIDs = []string{"kb-1"} }, "$.rag_traces[0].kb_ids[0]", "uuid"},
		{"csat above scale", func(in *SessionAnalysisInput) { in.CSAT.Score = 6 }, "$.csat.score", "outside 0..5"},
		{"csat scale below one", func(in *SessionAnalysisInput) { in.CSAT.ScaleMax = -2 }, "$.csat.scale_max", "at least 1"},
		{"csat zero time", func(in *SessionAnalysisInput) { in.CSAT.Timestamp = time.Time{} }, "$.csat.timestamp", "missing"},
		{"negative kb version", func(in *SessionAnalysisInput) { in.KBSnapshot.KBVersions[kbA] = -1 }, `$.kb_snapshot.kb_versions["` + kbA + `"]`, "negative"},
		{"kb snapshot key not a uuid", func(in *SessionAnalysisInput) { in.KBSnapshot.KBVersions["faq"] = 1 }, "$.kb_snapshot.kb_versions.faq", "not a knowledge-base UUID"},
		{"handoff zero time", func(in *SessionAnalysisInput) { in.HandoffEvents[0].Timestamp = time.Time{} }, "$.handoff_events[0].timestamp", "missing"},
		{"handoff agent not a uuid", func(in *SessionAnalysisInput) { in.HandoffEvents[0].TransferredToAgentID = ptr("bob") }, "$.handoff_events[0].transferred_to_agent_id", "uuid"},
		{"feedback zero time", func(in *SessionAnalysisInput) { in.UserFeedback.Timestamp = time.Time{} }, "$.user_feedback.timestamp", "missing"},
		{"reopen zero time", func(in *SessionAnalysisInput) { in.Reopen.Timestamp = time.Time{} }, "$.reopen.timestamp", "missing"},
		{"snapshot zero time", func(in *SessionAnalysisInput) { in.KBSnapshot.CapturedAt = time.Time{} }, "$.kb_snapshot.captured_at", "missing"},
		{"unknown missing reason", func(in *SessionAnalysisInput) { in.MissingEvidenceReasons = []MissingEvidenceReason{"no_idea"} }, "$.missing_evidence_reasons[0]", ""},
		{"repeated missing reason", func(in *SessionAnalysisInput) { in.MissingEvidenceReasons = []MissingEvidenceReason{NoCSAT, NoCSAT} }, "$.missing_evidence_reasons[1]", "repeats"},
		{"metadata does not encode", func(in *SessionAnalysisInput) { in.CustomerMetadata = map[string]any{"f": func() {}} }, "$", "does not encode"},
		{"message before the start", func(in *SessionAnalysisInput) { in.Messages[0].Timestamp = t0.Add(-time.Second) }, "$.messages[0].timestamp", "before started_at"},
		{"message after the end", func(in *SessionAnalysisInput) { in.Messages[3].Timestamp = in.EndedAt.Add(time.Millisecond) }, "$.messages[3].timestamp", "after ended_at"},
		{"user message asks for a tool", func(in *SessionAnalysisInput) { in.Messages[0].ToolCalls = in.Messages[1].ToolCalls }, "$.messages[0].tool_calls", "user message"},
		{"tool message asks for a tool", func(in *SessionAnalysisInput) {
			in.Messages[2].ToolCalls = []ToolCall{{ID: "call_9", Function: ToolCallFunction{Name: "f", Arguments: "{}"}}}
		}, "$.messages[2].tool_calls", "tool message"},
		{"tool result names no call", func(in *SessionAnalysisInput) { in.Messages[2].ToolResults.ToolCallID = "call_404" }, "$.messages[2].tool_results.tool_call_id", "names no tool call"},
		{"negative feedback rating", func(in *SessionAnalysisInput) { in.UserFeedback.Rating = ptr(-1) }, "$.user_feedback.rating", "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput(t)
			tt.mutate(in)
			ps := problemsOf(t, in.Validate())
			requireProblem(t, ps, tt.path, tt.contains)
		})
	}
}

func TestValidateAcceptsBoundaries(t *testing.T) {
	in := validInput(t)
	in.Messages[0].Timestamp = in.StartedAt
	in.Messages[3].Timestamp = *in.EndedAt
	require.NoError(t, in.Validate(), "messages at the start and at the end are within the session")

	in = validInput(t)
	in.EndedAt = nil
	in.Messages[3].Timestamp = t0.Add(24 * time.Hour)
	require.NoError(t, in.Validate(), "no end: no upper bound")

	in = validInput(t)
	in.ToolCalls = nil
	require.NoError(t, in.Validate(), "a tool result may name a call only a message records")
	in.UserFeedback.Rating = ptr(0)
	require.NoError(t, in.Validate())
}

func TestValidateNil(t *testing.T) {
	var in *SessionAnalysisInput
	var err error
	require.NotPanics(t, func() { err = in.Validate() })
	requireProblem(t, problemsOf(t, err), "$", "nil")
	assert.False(t, in.Missing(NoCSAT))
	assert.Nil(t, in.Message(turnUser1))
}

// TestValidationMessagesOmitValues: a problem says what is wrong without
// repeating the offending value, which may be personal data.
func TestValidationMessagesOmitValues(t *testing.T) {
	const secret = "jane.doe@example.com"
	in := validInput(t)
	in.SessionID = secret
	in.Messages[0].TurnID = secret + " call 415 555 2671"
	in.Citations[0].AssistantTurnID = "aaaaaaaa-aaaa-4aaa-8aaa-000000000000"
	in.RagTraces[0].AssistantTurnID = turnUser1
	in.Messages[1].Role = secret
	in.ToolCalls[0].AssistantTurnID = turnAsst1
	in.KBSnapshot.KBVersions[secret] = -3
	in.Messages[2].ToolResults.ToolCallID = secret
	in.Messages[1].LatencyMS = ptr(-4155552671)
	err := in.Validate()
	ps := problemsOf(t, err)
	requireProblem(t, ps, "$.session_id", "is not a valid uuid")
	requireProblem(t, ps, "$.citations[0].assistant_turn_id", "names no message")
	requireProblem(t, ps, "$.tool_calls[0].assistant_turn_id", "not \"assistant\"")
	requireProblem(t, ps, "$.messages[2].tool_results.tool_call_id", "names no tool call")
	requireProblem(t, ps, "$.messages[1].latency_ms", "negative")
	for _, p := range ps {
		assert.NotContains(t, p.Message, "jane", "%s", p)
		assert.NotContains(t, p.Message, "4155552671", "%s", p)
	}
	for _, data := range []string{`{"session_id":"` + secret + `"}`, `{"session_id":`} {
		err = ValidateJSON([]byte(data))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "jane")
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	in := validInput(t)
	in.SessionID = "x"
	in.Citations[0].AssistantTurnID = turnUser1
	in.Messages[3].Timestamp = t0
	in.CSAT.Score = 9
	ps := problemsOf(t, in.Validate())
	assert.Len(t, ps, 4, "%v", ps)
	err := in.Validate()
	assert.Contains(t, err.Error(), "$.session_id")
	assert.Contains(t, err.Error(), "$.citations[0].assistant_turn_id")
}

func TestValidationErrorMessageIsBounded(t *testing.T) {
	ve := &ValidationError{What: "analysis input"}
	for i := 0; i < 9; i++ {
		ve.Problems = append(ve.Problems, Problem{Path: "$.x", Message: "bad"})
	}
	assert.Equal(t, "session: invalid analysis input: $.x: bad; $.x: bad; $.x: bad; $.x: bad; $.x: bad; and 4 more", ve.Error())
	assert.True(t, errors.Is(ve, ErrInvalid))
	assert.False(t, errors.Is(ve, ErrNotFound))
}

func TestValidateJSON(t *testing.T) {
	valid := string(mustJSON(t, validInput(t)))
	tests := []struct {
		name     string
		data     string
		path     string
		contains string
	}{
		{"not json", `{"session_id":`, "$", "not valid JSON"},
		{"not an object", `[1,2]`, "$", ""},
		{"required missing", `{"organization_id":"` + orgA + `","channel":"web","started_at":"2024-05-15T15:00:00Z","agent_id":null,"ended_at":null,"completion_reason":null,"knowledge_gap_analysis_outcome":null}`, "$", "session_id"},
		{"nullable required field absent", `{"session_id":"` + sessionA + `","organization_id":"` + orgA + `","channel":"web","started_at":"2024-05-15T15:00:00Z"}`, "$", "agent_id"},
		{"array null", strings.Replace(valid, `"citations":[`, `"citations":null,"x":[`, 1), "$.citations", ""},
		{"bad date-time", strings.Replace(valid, `"started_at":"2024-05-15T15:00:00Z"`, `"started_at":"2024-13-45T15:00:00Z"`, 1), "$.started_at", ""},
		{"explicit version 1", strings.Replace(valid, `"analyzer_input_schema_version":2`, `"analyzer_input_schema_version":1`, 1), "$.analyzer_input_schema_version", "version 2"},
		{"latency not integer", strings.Replace(valid, `"latency_ms":850`, `"latency_ms":"850"`, 1), "$.messages[1].latency_ms", ""},
		{"cross-field after decode", strings.Replace(valid, `"assistant_turn_id":"`+turnAsst2+`","kb_id"`, `"assistant_turn_id":"`+turnUser1+`","kb_id"`, 1), "$.citations[0].assistant_turn_id", "not an assistant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireProblem(t, problemsOf(t, ValidateJSON([]byte(tt.data))), tt.path, tt.contains)
			in, err := ParseInput([]byte(tt.data))
			assert.Nil(t, in)
			assert.ErrorIs(t, err, ErrInvalid)
		})
	}

	t.Run("unknown properties are allowed", func(t *testing.T) {
		data := strings.Replace(valid, `{"analyzer_input_schema_version"`, `{"future_field":{"x":1},"analyzer_input_schema_version"`, 1)
		require.NoError(t, ValidateJSON([]byte(data)))
	})
}

func TestPathKeySortsIndicesNumerically(t *testing.T) {
	assert.Less(t, pathKey("$.messages[2].turn_id"), pathKey("$.messages[10].turn_id"))
	assert.Less(t, pathKey("$.citations[9]"), pathKey("$.messages[0]"))
	assert.Equal(t, pathKey("$.a[x"), "$.a[x")
	assert.Equal(t, pathKey(`$["k"]`), `$["k"]`)
}

func TestCitationsAreASubsetOfTheRetrievedChunks(t *testing.T) {
	in := validInput(t)
	require.NotEmpty(t, in.Citations)
	require.NoError(t, in.Validate(), "the base cites what was retrieved")

	in.Citations[0].ChunkID = "never-retrieved"
	requireProblem(t, problemsOf(t, in.Validate()), "$.citations[0]", "no retrieval of its assistant turn returned")

	in = validInput(t)
	in.Citations[0].DocID = "another-doc"
	requireProblem(t, problemsOf(t, in.Validate()), "$.citations[0]", "subset of the retrieved ones")

	// The chunk retrieved for another assistant turn does not count.
	in = validInput(t)
	in.RagTraces[0].AssistantTurnID = in.Citations[0].AssistantTurnID
	other := otherAssistantTurn(t, in)
	in.Citations[0].AssistantTurnID = other
	requireProblem(t, problemsOf(t, in.Validate()), "$.citations[0]", "no retrieval of its assistant turn returned")

	// Without traces, or with traces known to be incomplete, there is
	// nothing to check against.
	in = validInput(t)
	in.Citations[0].ChunkID = "never-retrieved"
	in.MissingEvidenceReasons = []MissingEvidenceReason{NoRagTrace}
	assert.NoError(t, in.Validate())
	in.RagTraces, in.MissingEvidenceReasons = nil, []MissingEvidenceReason{NoRagTrace}
	assert.NoError(t, in.Validate())
}

// otherAssistantTurn returns the turn id of an assistant message other
// than the one the first citation names.
func otherAssistantTurn(t *testing.T, in *SessionAnalysisInput) string {
	for _, m := range in.Messages {
		if m.Role == RoleAssistant && !strings.EqualFold(m.TurnID, in.Citations[0].AssistantTurnID) {
			return m.TurnID
		}
	}
	t.Fatal("the base input has one assistant message only")
	return ""
}
