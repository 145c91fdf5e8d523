package analysis

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
