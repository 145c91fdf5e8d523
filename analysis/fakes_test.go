package analysis_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// responder answers extraction from the transcript and grades every
// conversation 0.8, by schema name, with the library's exported answer
// types.
func responder() *llmtest.Responder {
	return llmtest.NewResponder().
		On(extract.SchemaName, func(req llm.Request, _ *rand.Rand) llmtest.Step {
			intent := "billing"
			if strings.Contains(req.Messages[0].Content, "about support") {
				intent = "support"
			}
			return llmtest.ReplyJSON(map[string]any{"intent": intent, "resolved": true})
		}).
		OnJSON(judge.SchemaName, judge.Answer{Reasoning: "Polite.", Evidence: []judge.Evidence{{Turn: 1, Quote: "Done"}}, Score: 0.8})
}

func TestAResponderRunsADefinitionUnderConcurrency(t *testing.T) {
	r := responder()
	e := newEnv(t, r)
	ingest(t, e, 30)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	run, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = e.exec.Drain(context.Background())
	require.NoError(t, err)
	run, err = e.svc.GetRun(context.Background(), scope, run.ID)
	require.NoError(t, err)
	require.Equal(t, analysis.RunCompleted, run.Status)
	require.NotNil(t, run.Aggregate)
	assert.Equal(t, 30, run.Aggregate.Passed)
	require.NotNil(t, run.Aggregate.AvgExtractionAccuracy)
	assert.InDelta(t, 1.0, *run.Aggregate.AvgExtractionAccuracy, 1e-9, "every answer read from its own transcript")
	assert.Equal(t, 60, r.Len(), "one extraction and one verdict per conversation")
}

func TestFailedItemsSayWhyThroughARun(t *testing.T) {
	// Each fault a fake can inject into the judge's answers reaches the
	// item's reason with the step, the schema, the path and what was
	// expected, and the aggregate counts the judge failures.
	for _, tc := range []struct {
		name   string
		faults llmtest.Faults
		model  func(llm.Model) llm.Model
		want   string
	}{
		{"wrong type", llmtest.Faults{WrongType: 1}, nil, `judge: the model's answer did not match the expected format (schema "verdict", 3 attempt(s)): $.reasoning: got object, want string`},
		{"missing required", llmtest.Faults{MissingRequired: 1}, nil, `(schema "verdict", 3 attempt(s)): $: missing property 'reasoning'`},
		{"null", llmtest.Faults{Null: 1}, nil, `$.reasoning: got null, want string`},
		{"extra member", llmtest.Faults{ExtraMember: 1}, nil, `$: a member the schema does not declare`},
		{"truncated JSON", llmtest.Faults{MalformedJSON: 1}, nil, `$: not valid JSON`},
		{"timeout", llmtest.Faults{Timeout: 1}, nil, `judge: the model call timed out`},
		{"unclassified permanent", llmtest.Faults{Permanent: 1}, nil, `judge: the model call failed (llm: provider error (status 401))`},
		{"no answer scripted", llmtest.Faults{}, func(llm.Model) llm.Model {
			return llmtest.NewResponder().On(extract.SchemaName, func(llm.Request, *rand.Rand) llmtest.Step {
				return llmtest.Reply(`{"intent":"billing","resolved":true}`)
			})
		}, `judge: the model call failed (llmtest: no answer for schema "verdict")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var model llm.Model = responder()
			injected := llmtest.InjectFaults(model, 1, tc.faults)
			model = llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
				if req.SchemaName == judge.SchemaName {
					return injected.Generate(ctx, req) // only the judge's answers are broken
				}
				return responder().Generate(ctx, req)
			})
			if tc.model != nil {
				model = tc.model(model)
			}
			e := newEnv(t, model)
			ingest(t, e, 3)
			d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
			require.NoError(t, err)
			run, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
			require.NoError(t, err)
			_, err = e.exec.Drain(context.Background())
			require.NoError(t, err)
			run, err = e.svc.GetRun(context.Background(), scope, run.ID)
			require.NoError(t, err)
			require.Len(t, run.Items, 3)
			for _, it := range run.Items {
				assert.Empty(t, it.Error, "extraction went through")
				assert.Contains(t, it.JudgeError, tc.want)
			}
			require.NotNil(t, run.Aggregate)
			assert.Equal(t, 3, run.Aggregate.JudgeErrors)
		})
	}
}
