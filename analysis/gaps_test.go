package analysis_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
)

func TestAScheduleThatCanNeverFireIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	in := intentDefinition()
	in.Schedule = &analysis.Schedule{Cron: "0 0 31 2 *", Enabled: true}
	_, err := e.svc.CreateDefinition(context.Background(), scope, in)
	assert.Equal(t, []string{"$.schedule.cron"}, paths(problemsOf(t, err)))
	assert.ErrorContains(t, err, "would never fire")

	in.Schedule.Enabled = false
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err, "a disabled schedule is only kept")
	_, err = e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"schedule":{"cron":"0 0 31 2 *","enabled":true}}`))
	assert.Equal(t, []string{"$.schedule.cron"}, paths(problemsOf(t, err)), "nor enabled by a patch")
	in.Schedule = &analysis.Schedule{Cron: "0 0 29 2 *", Enabled: true}
	in.Name = "Leap days"
	_, err = e.svc.CreateDefinition(context.Background(), scope, in)
	assert.NoError(t, err, "February 29th exists")
}

func TestAlertThresholdsMustBeFinite(t *testing.T) {
	for _, th := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		err := analysis.Rule{Name: "r", Metric: analysis.MetricPassRate, Op: analysis.OpLT, Threshold: th, Window: analysis.Window(time.Hour)}.Validate()
		assert.Equal(t, []string{"$.threshold"}, paths(problemsOf(t, err)), "%v", th)
	}
}

type netTimeout struct{}

func (netTimeout) Error() string   { return "i/o timeout" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }

var _ net.Error = netTimeout{}

func TestATimeoutSaysTimedOut(t *testing.T) {
	assert.Equal(t, "the model call timed out", analysis.OperatorMessage(fmt.Errorf("Post: %w", netTimeout{})))
	assert.Equal(t, "the model call timed out", analysis.OperatorMessage(&llm.Error{Kind: llm.ErrTransient, Err: netTimeout{}}))
	assert.Equal(t, "the model call timed out", analysis.OperatorMessage(context.DeadlineExceeded))
	assert.Equal(t, "the model provider failed temporarily", analysis.OperatorMessage(&llm.Error{Kind: llm.ErrTransient}))
}

func TestItemReasonsSayWhatFailed(t *testing.T) {
	inv := &llm.InvalidOutputError{Schema: "verdict", Attempts: 3, Content: "sk-secret answer", Problems: []llm.Problem{
		{Path: "$.score", Message: "maximum: got 7, want 1"},
		{Path: "$.evidence[0].turn", Message: "got string, want integer"},
		{Path: "$", Message: "missing property 'reasoning'"},
		{Path: "$.extra", Message: "additional properties 'extra' not allowed"},
	}}
	assert.Equal(t, `judge: the model's answer did not match the expected format (schema "verdict", 3 attempt(s)): `+
		`$.score: maximum: got 7, want 1; $.evidence[0].turn: got string, want integer; $: missing property 'reasoning' and 1 more`,
		analysis.ItemReason("judge", fmt.Errorf("grade: %w", inv)), "a missing member is named: the schema names it")
	extra := &llm.InvalidOutputError{Schema: "s", Attempts: 1, Problems: []llm.Problem{
		{Path: "$", Message: "additional properties 'extra' not allowed"},
		{Path: "$.intent", Message: "value must be one of 'billing', 'support'"},
		{Path: "$.code", Message: "'sk_live_PLANTED' does not match pattern '^[a-z]+$'"},
	}}
	assert.Equal(t, `extraction: the model's answer did not match the expected format (schema "s", 1 attempt(s)): `+
		`$: a member the schema does not declare; $.intent: value must be one of 'billing', 'support'; $.code`,
		analysis.ItemReason("extraction", extra), "the allowed values are the schema's; a member's name and a quoted value may be the model's text")
	planted := &llm.InvalidOutputError{Schema: "verdict", Attempts: 1, Problems: []llm.Problem{
		{Path: "$", Message: "additional properties 'sk_live_PLANTED' not allowed"}}}
	assert.NotContains(t, analysis.ItemReason("judge", planted), "PLANTED")
	long := &llm.InvalidOutputError{Schema: "s", Attempts: 1, Problems: []llm.Problem{{Path: "$", Message: strings.Repeat("é", 100)}}}
	cut := analysis.ItemReason("extraction", long)
	assert.LessOrEqual(t, len(cut), 250, "each problem is cut short")
	assert.True(t, strings.HasSuffix(cut, "…"), cut)
	assert.Equal(t, "extraction: the model refused to answer", analysis.ItemReason("extraction", llm.ErrRefused))
	unknown := analysis.ItemReason("extraction", fmt.Errorf("script exhausted after 3 answers: key sk-secret"))
	assert.Equal(t, "extraction: the model call failed (an error of type *errors.errorString)", unknown, "its type, never its text")
	assert.Equal(t, "judge: the model call timed out", analysis.ItemReason("judge", context.DeadlineExceeded))
}

func TestErrorsNameWhatTheyAreAboutAndSayThePackageOnce(t *testing.T) {
	e := newEnv(t, fakeModel())
	ctx := context.Background()
	_, err := e.svc.GetDefinition(ctx, scope, "call-intent")
	assert.EqualError(t, err, `analysis: definition "call-intent" not found`)
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	_, err = e.svc.GetConversation(ctx, scope, "call-9")
	assert.EqualError(t, err, `analysis: conversation "call-9" not found`)
	_, err = e.svc.GetRun(ctx, scope, "r-1")
	assert.EqualError(t, err, `analysis: run "r-1" not found`)
	_, err = e.svc.GetRun(ctx, scope, "a\nanalysis: fake line")
	assert.EqualError(t, err, `analysis: run "a\nanalysis: fake line" not found`, "an id cannot forge a line")
	_, err = e.svc.StartRun(ctx, scope, "nope", analysis.Selection{Strategy: analysis.SelectAll})
	assert.EqualError(t, err, `analysis: definition "nope" not found`)

	ingest(t, e, 1)
	d, r := startAll(t, e, false)
	_, err = e.svc.UpdateDefinition(ctx, scope, d.Key, []byte(`{"name":"New"}`))
	assert.EqualError(t, err, fmt.Sprintf(`analysis: update definition %q: a run of this definition is already in progress`, d.Key))
	assert.ErrorIs(t, err, analysis.ErrRunInProgress)
	err = e.svc.DeleteDefinition(ctx, scope, d.Key)
	assert.EqualError(t, err, fmt.Sprintf(`analysis: delete definition %q: a run of this definition is already in progress`, d.Key))
	_, err = e.exec.Drain(ctx)
	require.NoError(t, err)
	_, err = e.svc.CancelRun(ctx, scope, r.ID)
	assert.EqualError(t, err, fmt.Sprintf("analysis: run %q has already finished", r.ID))
	assert.ErrorIs(t, err, analysis.ErrConflict)
	for _, err := range []error{err} {
		assert.Equal(t, 1, strings.Count(err.Error(), "analysis:"), err.Error())
	}
}

func TestANumberOutOfRangeIsCalledSo(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.svc.Ingest(context.Background(), scope, []byte(`{"transcript":[{"role":"a","content":"b"}],"referenceFields":{"n":1e400}}`))
	ps := problemsOf(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "1e400 is out of the range of a number", ps[0].Message)
	assert.Equal(t, "$.referenceFields.n", ps[0].Path, "located at the member")

	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"extractionInstructions":1e400}`))
	assert.Equal(t, "got a number, want a string", problemsOf(t, err)[0].Message, "a patch's number is checked where it lands")
	_, err = e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"modes":{"judge":{"rubric":"r","threshold":-1e400}}}`))
	ps = problemsOf(t, err)
	require.NotEmpty(t, ps)
	assert.Equal(t, "-1e400 is out of the range of a number", ps[0].Message)
	assert.Equal(t, "$.modes.judge.threshold", ps[0].Path)
	_, err = e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"schedule":{"cron":"0 2 * * *","enabled":true,"selection":{"strategy":"random","sampleSize":3,"seed":-1}}}`))
	ps = problemsOf(t, err)
	require.NotEmpty(t, ps)
	assert.NotContains(t, ps[0].Message, "out of the range of a number", "-1 is a number; it does not fit a seed")
}
