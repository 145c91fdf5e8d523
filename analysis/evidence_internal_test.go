package analysis

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/extract"
)

func TestTheEvidenceAModelSeesIsBounded(t *testing.T) {
	big := strings.Repeat("é", MaxTurnContentLen/2)
	ev := &Evidence{Channel: "chat", CompletionReason: big, Missing: []string{"no_csat"}}
	for i := range MaxEvidenceEntries / 2 {
		r := big
		ev.ToolCalls = append(ev.ToolCalls, ToolCall{Turn: intp(i % 7), Name: "lookup", Status: ToolSucceeded, Arguments: big, Result: &r})
	}
	for range MaxEvidenceEntries / 2 {
		ev.Retrievals = append(ev.Retrievals, Retrieval{Turn: intp(1), Chunks: make([]RetrievedChunk, 40)})
	}
	findings := make([]Finding, 300)
	for i := range findings {
		findings[i] = Finding{Check: CheckAnswerWithoutRetrieval, Turn: intp(i), Suggests: GapNoRetrieval, Detail: "x"}
	}
	raw, err := renderEvidence(ev, findings)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(raw), maxEvidenceBlock)
	var v struct {
		Session   sessionView    `json:"session"`
		ToolCalls []ToolCall     `json:"toolCalls"`
		Omitted   map[string]int `json:"omitted"`
		Missing   []missingView  `json:"missingEvidence"`
		Findings  []Finding      `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(raw, &v), "still one JSON object")
	assert.Contains(t, v.Session.CompletionReason, "[cut: 100000 bytes in all]", "a long text says it was cut")
	assert.Positive(t, v.Omitted["toolCalls"], "a long list says how much was left out")
	assert.Equal(t, len(ev.ToolCalls), len(v.ToolCalls)+v.Omitted["toolCalls"])
	assert.Positive(t, v.Omitted["chunks"])
	assert.Equal(t, len(findings), len(v.Findings)+v.Omitted["findings"])
	assert.Equal(t, []missingView{{Reason: "no_csat", Meaning: missingMeaning("no_csat")}}, v.Missing, "what is missing is always said")
	for _, tc := range v.ToolCalls {
		assert.True(t, strings.HasSuffix(*tc.Result, "bytes in all]"))
	}

	// A small evidence is shown whole.
	small := &Evidence{ToolCalls: []ToolCall{{Turn: intp(0), Name: "a", Status: ToolFailed}}}
	raw, err = renderEvidence(small, nil)
	require.NoError(t, err)
	assert.JSONEq(t, `{"toolCalls":[{"turn":0,"name":"a","status":"failed"}],"missingEvidence":[],"findings":[]}`, string(raw))
}

func TestEveryMissingReasonHasAMeaning(t *testing.T) {
	assert.Len(t, missingReasons, 8)
	for _, r := range missingReasons {
		assert.NotEmpty(t, missingMeaning(r.reason), r.reason)
	}
	assert.Empty(t, missingMeaning("nope"))
}

// BenchmarkEvidence measures what a conversation's evidence costs before
// its model calls: the checks and the bounded view, for a session of 20
// turns with a retrieval, a citation and a tool call per answer, and for
// evidence at its bounds.
func BenchmarkEvidence(b *testing.B) {
	typical := Conversation{Evidence: &Evidence{Channel: "chat", Missing: []string{"no_csat"}}}
	for i := range 20 {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
			res := strings.Repeat("result ", 40)
			typical.Evidence.Retrievals = append(typical.Evidence.Retrievals, Retrieval{Turn: intp(i), Chunks: []RetrievedChunk{{DocID: "d", ChunkID: "c"}, {DocID: "d", ChunkID: "e"}}})
			typical.Evidence.Citations = append(typical.Evidence.Citations, Citation{Turn: intp(i), DocID: "d", ChunkID: "c"})
			typical.Evidence.ToolCalls = append(typical.Evidence.ToolCalls, ToolCall{Turn: intp(i), Name: "lookup", Status: ToolSucceeded, Arguments: `{"id":1}`, Result: &res})
		}
		typical.Transcript = append(typical.Transcript, extract.Turn{Role: role, Content: "some words of the turn"})
	}
	large := Conversation{Transcript: typical.Transcript, Evidence: &Evidence{}}
	big := strings.Repeat("x", 10_000)
	for i := range MaxEvidenceEntries {
		large.Evidence.ToolCalls = append(large.Evidence.ToolCalls, ToolCall{Turn: intp(i % 20), Name: "t", Status: ToolFailed, Error: &big})
	}
	for _, c := range []struct {
		name string
		conv Conversation
	}{{"typical", typical}, {"bounds", large}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				var it Item
				p, err := prepareConversation(c.conv, &it)
				if err != nil {
					b.Fatal(err)
				}
				size = len(p.Block())
			}
			b.ReportMetric(float64(size), "block-bytes")
		})
	}
}

func TestEvidenceTheValidationAcceptsIsAlwaysShownWithinBounds(t *testing.T) {
	// The most the validation lets through, in the characters JSON writes
	// six-fold ("<" as \u003c): still within the block's bound.
	wide := strings.Repeat("<", maxEvidenceIDLen)
	text := strings.Repeat("<", MaxTurnContentLen)
	ev := &Evidence{Channel: wide, Outcome: wide, CompletionReason: text, KBSnapshot: &KBSnapshot{KBVersions: map[string]int{}},
		CustomerMetadata: map[string]any{}, Missing: []string{"no_csat", "no_user_feedback"}}
	for i := range MaxCustomerMetadata {
		k := fmt.Sprintf("%03d%s", i, wide[:maxEvidenceIDLen-3])
		ev.KBSnapshot.KBVersions[k] = i
		ev.CustomerMetadata[k] = text
	}
	for i := range MaxEvidenceEntries / 4 {
		chunks := make([]RetrievedChunk, MaxRetrievedChunks/(MaxEvidenceEntries/4))
		for j := range chunks {
			chunks[j] = RetrievedChunk{DocID: wide, ChunkID: wide, VersionID: wide}
		}
		ev.Retrievals = append(ev.Retrievals, Retrieval{Turn: intp(i), KBIDs: []string{wide}, Chunks: chunks, Answerability: wide})
		ev.Citations = append(ev.Citations, Citation{Turn: intp(i), KBID: wide, DocID: wide, ChunkID: wide, VersionID: wide})
		ev.ToolCalls = append(ev.ToolCalls, ToolCall{Turn: intp(i), ID: wide, Name: wide, Arguments: text, Status: ToolFailed, Error: &text, Result: &text})
		ev.Handoffs = append(ev.Handoffs, Handoff{ToAgentID: wide, Reason: text})
	}
	var p problems
	validateEvidence(&p, 0, "$.evidence", ev, MaxEvidenceEntries)
	require.Zero(t, p.count(), "%v", p.list)
	raw, err := renderEvidence(ev, nil)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(raw), maxEvidenceBlock)
	assert.NotContains(t, string(raw), "<", "escaped")
	_, err = extract.PrepareWithEvidence(extract.Transcript{{Role: "user", Content: "hi"}}, raw)
	require.NoError(t, err, "a prepared conversation: the item does not fail for its evidence")
	var v map[string]any
	require.NoError(t, json.Unmarshal(raw, &v))
	assert.Contains(t, v, "omitted")
	assert.Len(t, v["missingEvidence"], 2, "what is missing is always said")
}
