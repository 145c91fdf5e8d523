package judge_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func TestAConversationWithEvidenceIsGradedWithIt(t *testing.T) {
	g, err := judge.New(judge.Config{Rubric: "Grounded?"})
	require.NoError(t, err)
	tr := extract.Transcript{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello"}}
	p, err := extract.PrepareWithEvidence(tr, json.RawMessage(`{"findings":[]}`))
	require.NoError(t, err)
	m := llmtest.NewResponder().OnJSON(judge.SchemaName, judge.Answer{Reasoning: "ok", Evidence: []judge.Evidence{{Turn: 1, Quote: "hello"}}, Score: 1})
	v, err := g.GradePrepared(context.Background(), m, p)
	require.NoError(t, err)
	assert.True(t, v.Passed)
	reqs := m.Requests()
	require.Len(t, reqs, 1)
	assert.True(t, strings.HasSuffix(reqs[0].System, extract.EvidenceNote), "the instructions say what the evidence block is")
	assert.Equal(t, p.Block(), reqs[0].Messages[0].Content)
	rendered := g.RenderPrepared(p, 0)
	assert.Equal(t, reqs[0].System, rendered.System)
	assert.Equal(t, reqs[0].Messages, rendered.Messages)

	plain, err := extract.Prepare(tr)
	require.NoError(t, err)
	assert.NotContains(t, g.RenderPrepared(plain, 0).System, extract.EvidenceNote)
}
