package analysis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
)

// finishedRun stores a completed run of defKey, finished at the given time,
// whose twenty items make the aggregate agg asks for: its pass rate (a
// multiple of 1/20) and, when set, every item's judge and accuracy score.
func finishedRun(t *testing.T, e *env, id, defKey string, at time.Time, agg *analysis.Aggregate) {
	t.Helper()
	ctx := context.Background()
	d, err := e.store.GetDefinition(ctx, scope, defKey)
	if errors.Is(err, analysis.ErrNotFound) {
		d = analysis.Definition{ID: "def-" + defKey, Key: defKey, Name: defKey, Version: 1, ExtractionModelKey: "m"}
		require.NoError(t, e.store.CreateDefinition(ctx, scope, d))
	}
	const n = 20
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("call-%02d", i)
	}
	r := analysis.Run{ID: id, DefinitionKey: defKey, DefinitionVersion: d.Version, Status: analysis.RunPending, CreatedAt: at.Add(-time.Minute)}
	_, err = e.store.CreateRun(ctx, scope, r, analysis.KeySelection{Keys: keys, Max: n, ChunkSize: n})
	require.NoError(t, err)
	c, ok, err := e.store.ClaimChunk(ctx, "alerts", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	passed := int(math.Round(*agg.PassRate * n))
	for i, k := range keys {
		it := analysis.Item{ConversationKey: k, Passed: i < passed}
		if agg.AvgJudgeScore != nil {
			it.Judge = &analysis.ItemJudge{Score: *agg.AvgJudgeScore}
		}
		if agg.AvgExtractionAccuracy != nil {
			it.Accuracy = &accuracy.Result{Score: agg.AvgExtractionAccuracy, ComparedCount: 1}
		}
		require.NoError(t, e.store.SaveItem(ctx, c.ChunkRef, it, nil))
	}
	finished, err := e.store.CompleteChunk(ctx, c.ChunkRef, at)
	require.NoError(t, err)
	require.True(t, finished)
}

func f(v float64) *float64 { return &v }

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	now := start
	finishedRun(t, e, "old", "intent", now.Add(-48*time.Hour), &analysis.Aggregate{PassRate: f(0.1), AvgExtractionAccuracy: f(0.1)})
	finishedRun(t, e, "r1", "intent", now.Add(-20*time.Hour), &analysis.Aggregate{PassRate: f(0.9), AvgJudgeScore: f(0.8), AvgExtractionAccuracy: f(0.8)})
	finishedRun(t, e, "r2", "intent", now.Add(-2*time.Hour), &analysis.Aggregate{PassRate: f(0.7), AvgExtractionAccuracy: f(0.9)})
	finishedRun(t, e, "r3", "tone", now.Add(-1*time.Hour), &analysis.Aggregate{PassRate: f(0.5)})

	mv, err := e.svc.Metric(context.Background(), scope, analysis.MetricPassRate, 24*time.Hour, "")
	require.NoError(t, err)
	assert.Equal(t, 3, mv.Runs, "runs outside the window are left out")
	assert.InDelta(t, (90+70+50)/3.0, *mv.Value, 1e-9, "the aggregate × 100, averaged")
	assert.True(t, mv.To.Equal(now))
	assert.True(t, mv.From.Equal(now.Add(-24*time.Hour)))

	mv, err = e.svc.Metric(context.Background(), scope, analysis.MetricAvgJudgeScore, 24*time.Hour, "")
	require.NoError(t, err)
	assert.Equal(t, 1, mv.Runs, "runs where the value is null are left out")
	assert.InDelta(t, 80, *mv.Value, 1e-9)

	mv, err = e.svc.Metric(context.Background(), scope, analysis.MetricAvgAccuracy, 24*time.Hour, "intent")
	require.NoError(t, err)
	assert.InDelta(t, 85, *mv.Value, 1e-9)

	mv, err = e.svc.Metric(context.Background(), scope, analysis.MetricAvgJudgeScore, 24*time.Hour, "tone")
	require.NoError(t, err)
	assert.Nil(t, mv.Value, "no value, not 0")
	assert.Zero(t, mv.Runs)

	mv, err = e.svc.Metric(context.Background(), other, analysis.MetricPassRate, 24*time.Hour, "")
	require.NoError(t, err)
	assert.Nil(t, mv.Value, "another scope's runs do not count")

	_, err = e.svc.Metric(context.Background(), scope, "analysis_latency", time.Hour, "")
	assert.ErrorIs(t, err, analysis.ErrInvalid)
}

func TestEvaluateRules(t *testing.T) {
	e := newEnv(t, nil)
	finishedRun(t, e, "r1", "intent", start.Add(-time.Hour), &analysis.Aggregate{PassRate: f(0.95), AvgExtractionAccuracy: f(0.80)})

	var rules []analysis.Rule
	require.NoError(t, json.Unmarshal([]byte(`[
		{"name":"accuracy drop","metric":"analysis_avg_accuracy","op":"lt","threshold":85,"window":"24h"},
		{"name":"pass rate high","metric":"analysis_pass_rate","op":"gte","threshold":95,"window":"24h"},
		{"name":"pass rate low","metric":"analysis_pass_rate","op":"lte","threshold":90,"window":"24h"},
		{"name":"judge","metric":"analysis_avg_judge_score","op":"lt","threshold":50,"window":"24h"},
		{"name":"other definition","metric":"analysis_avg_accuracy","op":"lt","threshold":85,"window":"24h","definitionKey":"tone"}
	]`), &rules))
	var alerts []analysis.Alert
	n := analysis.NotifierFunc(func(_ context.Context, a analysis.Alert) error {
		alerts = append(alerts, a)
		return nil
	})
	evs, err := e.svc.EvaluateRules(context.Background(), scope, rules, n)
	require.NoError(t, err)
	require.Len(t, evs, 5)
	assert.Equal(t, []bool{true, true, false, false, false}, []bool{evs[0].Fired, evs[1].Fired, evs[2].Fired, evs[3].Fired, evs[4].Fired},
		"a metric without a value never fires")
	require.Len(t, alerts, 2)
	assert.Equal(t, "accuracy drop", alerts[0].Rule.Name)
	assert.InDelta(t, 80, *alerts[0].Value.Value, 1e-9)
	assert.Equal(t, scope, alerts[0].Scope)

	failing := analysis.NotifierFunc(func(context.Context, analysis.Alert) error { return errors.New("pager down") })
	evs, err = e.svc.EvaluateRules(context.Background(), scope, rules, failing)
	assert.ErrorContains(t, err, "pager down")
	assert.Len(t, evs, 5, "every rule is still evaluated")

	bad := []analysis.Rule{{Metric: "nope", Op: "eq", Window: 0}, rules[0]}
	_, err = e.svc.EvaluateRules(context.Background(), scope, bad, n)
	assert.Equal(t, []string{"$[0].metric", "$[0].op", "$[0].window"}, paths(problemsOf(t, err)))

	var w analysis.Window
	assert.Error(t, json.Unmarshal([]byte(`"a day"`), &w))
	assert.Error(t, json.Unmarshal([]byte(`86400`), &w))
	out, err := json.Marshal(analysis.Window(90 * time.Minute))
	require.NoError(t, err)
	assert.Equal(t, `"1h30m0s"`, string(out))
}
