package analysishttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
)

func TestARunsKnowledgeGapsAreServed(t *testing.T) {
	e := newEnv(t)
	// A conversation with evidence, over JSON: a failed tool call and an
	// answer after it.
	conv := analysis.ConversationInput{
		Name: "rebooking", ExternalID: "session:1",
		Transcript: extract.Transcript{{Role: "user", Content: "Rebook me"}, {Role: "assistant", Content: "[called rebook]"}, {Role: "assistant", Content: "Done."}},
		Evidence:   &analysis.Evidence{ToolCalls: []analysis.ToolCall{{Turn: new(int(1)), Name: "rebook", Status: analysis.ToolFailed}}},
	}
	body, err := json.Marshal(conv)
	require.NoError(t, err)
	resp, out := e.call(t, "POST", "/api/analysis/conversations", scopeA, string(body))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", out)
	def := analysis.KnowledgeGapDefinition("Gaps")
	def.ExtractionModelKey, def.JudgeModelKey = "m", "m"
	d, err := e.svc.CreateDefinition(context.Background(), analysis.Scope{Tenant: "acme", Project: "support"}, def)
	require.NoError(t, err)
	resp, out = e.call(t, "POST", "/api/analysis/definitions/"+d.Key+"/run", scopeA, `{"selection":{"strategy":"all"}}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%v", out)
	runID := out["run"].(map[string]any)["id"].(string)
	_, err = e.exec.Drain(context.Background())
	require.NoError(t, err)

	resp, out = e.call(t, "GET", "/api/analysis/runs/"+runID+"/gaps", scopeA, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	gaps := out["gaps"].(map[string]any)
	assert.Equal(t, runID, gaps["runId"])
	assert.Equal(t, 1.0, gaps["items"])
	assert.Equal(t, map[string]any{analysis.CheckAnswerAfterFailedTool: 1.0}, gaps["findings"])

	resp, _ = e.call(t, "GET", "/api/analysis/runs/"+runID+"/gaps", scopeB, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "another scope's run")
	resp, _ = e.call(t, "GET", "/api/analysis/runs/nope/gaps", scopeA, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
