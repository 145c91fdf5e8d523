package session

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden compares got, indented JSON, with testdata/golden/name, or rewrites
// the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, got, "", "  "))
	buf.WriteByte('\n')
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test ./session -update")
	require.Equal(t, string(want), buf.String(), "%s differs; if the change is intended, run go test ./session -update", path)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// Fixed identifiers and times of the test fixtures.
const (
	sessionA   = "0b7c6d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"
	orgA       = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
	orgB       = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"
	agentA     = "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706"
	turnUser1  = "11111111-1111-4111-8111-111111111111"
	turnAsst1  = "22222222-2222-4222-8222-222222222222"
	turnTool1  = "33333333-3333-4333-8333-333333333333"
	turnAsst2  = "44444444-4444-4444-8444-444444444444"
	kbA        = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	ragQueryA  = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
	humanAgent = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
)

var t0 = time.Date(2024, 5, 15, 15, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// fullCaptures returns captures with every kind of evidence, so that no
// missing-evidence rule fires except the redaction one when no redactor is
// set.
func fullCaptures() *Captures {
	end := at(60)
	return &Captures{
		SessionID:         sessionA,
		OrganizationID:    orgA,
		AgentID:           ptr(agentA),
		Channel:           "web",
		StartedAt:         t0,
		EndedAt:           &end,
		Status:            StatusCompleted,
		TerminationReason: ReasonAgentResolved,
		AgentKBIDs:        []string{kbA},
		AgentTools:        []string{"lookup_order"},
		CaptureVersion:    3,
		Messages: []MessageEntry{
			{TurnID: turnUser1, Role: RoleUser, Timestamp: at(1), Content: "Where is order 88123? Mail me at jane.doe@example.com or call +1 415 555 2671."},
			{TurnID: turnAsst1, Role: RoleAssistant, Timestamp: at(2), Content: "Let me look that up.", ModelUsed: ptr("gpt-4o-mini"), LatencyMS: ptr(850),
				ToolCalls: []ToolCall{{ID: "call_1", Function: ToolCallFunction{Name: "lookup_order", Arguments: `{"order_id":"88123","email":"jane.doe@example.com"}`}}}},
			{TurnID: turnTool1, Role: RoleTool, Timestamp: at(3), Content: `{"status":"shipped"}`,
				ToolResults: &ToolResult{ToolCallID: "call_1", Output: `{"status":"shipped","card":"4111 1111 1111 1111"}`}},
			{TurnID: turnAsst2, Role: RoleAssistant, Timestamp: at(4), Content: "Your order shipped yesterday; returns are free for 30 days."},
		},
		RagTraces: []RagTraceEntry{{
			RagQueryID: ragQueryA, AssistantTurnID: turnAsst2, KBIDs: []string{kbA},
			Retrieved: []RetrievedChunk{{ChunkID: "c1", DocID: "returns-policy", Score: ptr(0.82)}},
			TopScore:  ptr(0.82), Hit: ptr(true), LatencyMS: ptr(40),
		}},
		Citations: []CitedChunk{{AssistantTurnID: turnAsst2, KBID: kbA, DocID: "returns-policy", ChunkID: "c1", VersionID: ptr("v7")}},
		ToolCalls: []ToolCallEntry{{ToolCallID: "call_1", AssistantTurnID: turnAsst1, Name: "lookup_order",
			Arguments: `{"order_id":"88123","email":"jane.doe@example.com"}`, Result: ptr(`{"status":"shipped"}`), LatencyMS: ptr(120)}},
		HandoffEvents: []HandoffEvent{{Timestamp: at(50), TransferredToAgentID: ptr(humanAgent), Reason: ptr("customer asked for a person")}},
		KBSnapshot:    &KbSnapshotEntry{CapturedAt: at(4), KBVersions: map[string]int{kbA: 42}},
		UserFeedback:  &FeedbackEntry{Timestamp: at(60), Rating: ptr(4), Comment: ptr("Quick answer, reach me on 020 7946 0958")},
		CSAT:          &CSATEntry{Timestamp: at(60), Score: 4},
		Reopen:        &ReopenEntry{Timestamp: at(3600), Reason: ptr("parcel lost")},
		CustomerMetadata: map[string]any{
			"plan": "pro", "tags": []any{"vip"}, "nested": map[string]any{"n": 1},
		},
	}
}
