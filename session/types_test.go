package session

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestZeroInputMarshalsArraysAndNulls(t *testing.T) {
	var in SessionAnalysisInput
	var got map[string]any
	require.NoError(t, json.Unmarshal(mustJSON(t, in), &got))

	assert.Equal(t, float64(SchemaVersion), got["analyzer_input_schema_version"], "zero version is written as the default")
	for _, key := range []string{"messages", "rag_traces", "citations", "tool_calls", "handoff_events", "missing_evidence_reasons"} {
		assert.Equal(t, []any{}, got[key], "%s must be [] when nil", key)
	}
	for _, key := range []string{"agent_id", "ended_at", "completion_reason", "knowledge_gap_analysis_outcome",
		"kb_snapshot", "user_feedback", "csat", "reopen", "customer_metadata"} {
		v, present := got[key]
		assert.True(t, present, "%s must be written", key)
		assert.Nil(t, v, "%s must be null", key)
	}
	assert.Len(t, got, 20, "every property of SessionAnalysisInput is written")
}

func TestPointerInputMarshalsLikeValue(t *testing.T) {
	in := SessionAnalysisInput{SessionID: sessionA}
	assert.JSONEq(t, string(mustJSON(t, in)), string(mustJSON(t, &in)))
}

func TestNestedNilSlicesAndDefaults(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"rag trace arrays", RagTraceEntry{RagQueryID: ragQueryA, AssistantTurnID: turnAsst1},
			`{"rag_query_id":"` + ragQueryA + `","assistant_turn_id":"` + turnAsst1 + `","query_hash":null,"kb_ids":[],"retrieved":[],"top_score":null,"hit":null,"latency_ms":null,"answerability":null}`},
		{"message tool_calls is nullable", MessageEntry{TurnID: turnUser1, Role: RoleUser, Timestamp: t0, Content: "hi"},
			`{"turn_id":"` + turnUser1 + `","role":"user","timestamp":"2024-05-15T15:00:00Z","content":"hi","tool_calls":null,"tool_results":null,"model_used":null,"latency_ms":null,"truncated":false,"original_char_count":null}`},
		{"message empty tool_calls stays []", MessageEntry{TurnID: turnUser1, Role: RoleUser, Timestamp: t0, ToolCalls: []ToolCall{}},
			`{"turn_id":"` + turnUser1 + `","role":"user","timestamp":"2024-05-15T15:00:00Z","content":"","tool_calls":[],"tool_results":null,"model_used":null,"latency_ms":null,"truncated":false,"original_char_count":null}`},
		{"tool call type defaults to function", ToolCall{ID: "c", Function: ToolCallFunction{Name: "f", Arguments: "{}"}},
			`{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}`},
		{"tool call type kept", ToolCall{ID: "c", Type: "custom", Function: ToolCallFunction{Name: "f"}},
			`{"id":"c","type":"custom","function":{"name":"f","arguments":""}}`},
		{"csat scale defaults to 5", CSATEntry{Timestamp: t0, Score: 3}, `{"timestamp":"2024-05-15T15:00:00Z","score":3,"scale_max":5}`},
		{"csat scale kept", CSATEntry{Timestamp: t0, Score: 9, ScaleMax: 10}, `{"timestamp":"2024-05-15T15:00:00Z","score":9,"scale_max":10}`},
		{"kb snapshot nil map", KbSnapshotEntry{CapturedAt: t0}, `{"captured_at":"2024-05-15T15:00:00Z","kb_versions":{}}`},
		{"tool call entry nulls", ToolCallEntry{ToolCallID: "c", AssistantTurnID: turnAsst1, Name: "f", Arguments: ""},
			`{"tool_call_id":"c","assistant_turn_id":"` + turnAsst1 + `","name":"f","arguments":"","arguments_parsed":null,"result":null,"error":null,"latency_ms":null}`},
		{"answerability all null", RagTraceAnswerability{},
			`{"label":null,"reason_code":null,"raw_top_score":null,"score_basis":null,"mode":null,"action":null,"threshold_low":null,"threshold_high":null}`},
		{"handoff", HandoffEvent{Timestamp: t0}, `{"timestamp":"2024-05-15T15:00:00Z","transferred_to_agent_id":null,"reason":null}`},
		{"feedback", FeedbackEntry{Timestamp: t0}, `{"timestamp":"2024-05-15T15:00:00Z","rating":null,"comment":null}`},
		{"reopen", ReopenEntry{Timestamp: t0}, `{"timestamp":"2024-05-15T15:00:00Z","reason":null}`},
		{"retrieved chunk", RetrievedChunk{ChunkID: "c", DocID: "d"}, `{"chunk_id":"c","doc_id":"d","version_id":null,"score":null}`},
		{"cited chunk", CitedChunk{AssistantTurnID: turnAsst1, KBID: kbA, DocID: "d", ChunkID: "c"},
			`{"assistant_turn_id":"` + turnAsst1 + `","kb_id":"` + kbA + `","doc_id":"d","chunk_id":"c","version_id":null}`},
		{"tool result", ToolResult{ToolCallID: "c", Output: "o"}, `{"tool_call_id":"c","output":"o","error":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.JSONEq(t, tt.want, string(mustJSON(t, tt.v)))
		})
	}
}

func TestUnmarshalDefaults(t *testing.T) {
	var in SessionAnalysisInput
	require.NoError(t, json.Unmarshal([]byte(`{"session_id":"`+sessionA+`","csat":{"timestamp":"2024-05-15T15:00:00Z","score":2},
		"messages":[{"turn_id":"`+turnAsst1+`","role":"assistant","timestamp":"2024-05-15T15:00:00Z","content":"",
		"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}],
		"tool_calls":[{"tool_call_id":"c","assistant_turn_id":"`+turnAsst1+`","name":"f","arguments":"{}","arguments_parsed":{"n":12345678901234567890}}],
		"customer_metadata":{"big":12345678901234567890}}`), &in))
	assert.Equal(t, SchemaVersion, in.AnalyzerInputSchemaVersion)
	require.NotNil(t, in.CSAT)
	assert.Equal(t, DefaultCSATScaleMax, in.CSAT.ScaleMax)
	assert.Equal(t, ToolCallTypeFunction, in.Messages[0].ToolCalls[0].Type)
	assert.Equal(t, json.Number("12345678901234567890"), in.CustomerMetadata["big"], "numbers decode losslessly")
	assert.Equal(t, map[string]any{"n": json.Number("12345678901234567890")}, in.ToolCalls[0].ArgumentsParsed)

	var explicit SessionAnalysisInput
	require.NoError(t, json.Unmarshal([]byte(`{"analyzer_input_schema_version":3,"csat":{"timestamp":"2024-05-15T15:00:00Z","score":2,"scale_max":10}}`), &explicit))
	assert.Equal(t, 3, explicit.AnalyzerInputSchemaVersion)
	assert.Equal(t, 10, explicit.CSAT.ScaleMax)
}

func TestRoundTripFullInput(t *testing.T) {
	var a Assembler
	in, err := a.Assemble(t.Context(), fullCaptures())
	require.NoError(t, err)
	data := mustJSON(t, in)
	golden(t, "full_input.json", data)

	back, err := ParseInput(data)
	require.NoError(t, err)
	assert.JSONEq(t, string(data), string(mustJSON(t, back)), "decode then encode is lossless")
}

func TestEnumsValid(t *testing.T) {
	assert.Len(t, AllOutcomes(), 9)
	assert.Len(t, AllMissingEvidenceReasons(), 8)
	for _, o := range AllOutcomes() {
		assert.True(t, o.Valid())
	}
	for _, r := range AllMissingEvidenceReasons() {
		assert.True(t, r.Valid())
	}
	assert.False(t, KnowledgeGapAnalysisOutcome("Resolved").Valid())
	assert.False(t, MissingEvidenceReason("").Valid())
}

func TestInputHelpers(t *testing.T) {
	in := &SessionAnalysisInput{
		Messages:               []MessageEntry{{TurnID: turnUser1}, {TurnID: turnAsst1}},
		MissingEvidenceReasons: []MissingEvidenceReason{NoCSAT},
	}
	assert.True(t, in.Missing(NoCSAT))
	assert.False(t, in.Missing(NoRagTrace))
	require.NotNil(t, in.Message(turnAsst1))
	assert.Equal(t, turnAsst1, in.Message(turnAsst1).TurnID)
	assert.Nil(t, in.Message(turnTool1))
}
