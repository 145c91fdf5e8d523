package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func keysOf(cs []analysis.Conversation) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Key)
	}
	return out
}

func TestStartRunReturnsAPendingRun(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 3)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)

	r, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	assert.Equal(t, analysis.RunPending, r.Status)
	assert.Nil(t, r.Aggregate)
	assert.Equal(t, []analysis.Item{}, r.Items)
	assert.Equal(t, analysis.Progress{Total: 3}, r.Progress)
	assert.Equal(t, analysis.Trigger{Type: analysis.TriggerManual}, r.Trigger)
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"aggregate":null`)
	assert.Contains(t, string(b), `"items":[]`)

	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	assert.ErrorIs(t, err, analysis.ErrRunInProgress, "the 409")
	_, err = e.svc.StartRun(context.Background(), scope, "no-such-definition", analysis.Selection{Strategy: analysis.SelectAll})
	assert.ErrorIs(t, err, analysis.ErrNotFound, "the 404 for an unknown definition key")
	_, err = e.svc.StartRun(context.Background(), other, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	assert.ErrorIs(t, err, analysis.ErrNotFound, "another scope's definition")

	ok, err := e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ok)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	assert.NoError(t, err, "a finished run no longer blocks")
}

func TestStartRunValidation(t *testing.T) {
	e := newEnv(t, fakeModel(), func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxRunConversations = 5 })
	ingest(t, e, 6)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	tests := []struct {
		name  string
		sel   analysis.Selection
		paths []string
	}{
		{"no strategy", analysis.Selection{}, []string{"$.selection.strategy"}},
		{"unknown strategy", analysis.Selection{Strategy: "newest"}, []string{"$.selection.strategy"}},
		{"tag without tag", analysis.Selection{Strategy: analysis.SelectTag}, []string{"$.selection.tag"}},
		{"random without size", analysis.Selection{Strategy: analysis.SelectRandom}, []string{"$.selection.sampleSize"}},
		{"random too large", analysis.Selection{Strategy: analysis.SelectRandom, SampleSize: 6}, []string{"$.selection.sampleSize"}},
		{"keys without keys", analysis.Selection{Strategy: analysis.SelectKeys}, []string{"$.selection.conversationKeys"}},
		{"unknown keys", analysis.Selection{Strategy: analysis.SelectKeys, ConversationKeys: []string{"call-1", "call-99", "nope"}},
			[]string{"$.selection.conversationKeys[1]", "$.selection.conversationKeys[2]"}},
		{"over the maximum", analysis.Selection{Strategy: analysis.SelectAll}, []string{"$.selection"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.StartRun(context.Background(), scope, d.Key, tt.sel)
			ps := problemsOf(t, err)
			assert.Equal(t, tt.paths, paths(ps))
			if tt.name == "unknown keys" {
				assert.Equal(t, `no conversation has the key "call-99"`, ps[0].Message, "unknown keys are named")
			}
		})
	}
	runs, err := e.svc.ListRuns(context.Background(), scope, "", 0)
	require.NoError(t, err)
	assert.Empty(t, runs, "no refused run was stored")

	in := intentDefinition()
	in.Name, in.ExtractionModelKey = "No model", ""
	nm, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	_, err = e.svc.StartRun(context.Background(), scope, nm.Key, analysis.Selection{Strategy: analysis.SelectKeys, ConversationKeys: []string{"call-1"}})
	assert.Equal(t, []string{"$.extractionModelKey"}, paths(problemsOf(t, err)))
}

func TestSelections(t *testing.T) {
	e := newEnv(t, fakeModel())
	cs := ingest(t, e, 10)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	run := func(sel analysis.Selection) analysis.Run {
		t.Helper()
		r, err := e.svc.StartRun(context.Background(), scope, d.Key, sel)
		require.NoError(t, err)
		ok, err := e.exec.RunOnce(context.Background())
		require.NoError(t, err)
		require.True(t, ok)
		r, err = e.svc.GetRun(context.Background(), scope, r.ID)
		require.NoError(t, err)
		require.Equal(t, analysis.RunCompleted, r.Status)
		return r
	}

	r := run(analysis.Selection{Strategy: analysis.SelectKeys, ConversationKeys: []string{"call-3", "call-1", "call-3"}})
	assert.Equal(t, []string{"call-1", "call-3"}, runKeys(t, e, r), "keys, without repeats")
	assert.Nil(t, r.Selection.ConversationKeys, "the run does not carry its keys: the store pages them")
	stored, err := e.store.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Nil(t, stored.Selection.ConversationKeys)

	r = run(analysis.Selection{Strategy: analysis.SelectTag, Tag: "even"})
	assert.Equal(t, []string{"call-10", "call-2", "call-4", "call-6", "call-8"}, runKeys(t, e, r))

	r = run(analysis.Selection{Strategy: analysis.SelectUnanalyzed})
	assert.Equal(t, []string{"call-5", "call-7", "call-9"}, runKeys(t, e, r), "never analysed by this definition")
	r = run(analysis.Selection{Strategy: analysis.SelectUnanalyzed})
	assert.Empty(t, runKeys(t, e, r), "all analysed now")
	assert.Equal(t, &analysis.Aggregate{Total: 0}, r.Aggregate, "an empty run completes, its ratios null")

	in := intentDefinition()
	in.Name = "Another"
	d2, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	r2, err := e.svc.StartRun(context.Background(), scope, d2.Key, analysis.Selection{Strategy: analysis.SelectUnanalyzed})
	require.NoError(t, err)
	assert.Len(t, runKeys(t, e, r2), 10, "another definition has analysed nothing")
	ok, err := e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ok)

	r = run(analysis.Selection{Strategy: analysis.SelectAll})
	assert.Len(t, runKeys(t, e, r), 10)

	r = run(analysis.Selection{Strategy: analysis.SelectRandom, SampleSize: 4})
	require.NotNil(t, r.Selection.Seed, "the seed is recorded")
	assert.Equal(t, uint64(42), *r.Selection.Seed)
	assert.Len(t, runKeys(t, e, r), 4)
	assert.Equal(t, runKeys(t, e, r), analysis.SampleKeys(keysOf(cs), 4, *r.Selection.Seed), "reproducible from the recorded seed")
}

func TestRandomSelectionSeeds(t *testing.T) {
	e := newEnv(t, fakeModel(), func(c *analysis.Config, _ *analysis.ExecutorConfig) {
		c.NewSeed = func() uint64 { return 1<<64 - 1 }
	})
	ingest(t, e, 20)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	r, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectRandom, SampleSize: 5})
	require.NoError(t, err)
	require.NotNil(t, r.Selection.Seed)
	assert.LessOrEqual(t, *r.Selection.Seed, uint64(analysis.MaxSeed), "a recorded seed survives any JSON reader")
	var viaFloat map[string]any
	b, err := json.Marshal(r.Selection)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &viaFloat))
	assert.Equal(t, float64(*r.Selection.Seed), viaFloat["seed"])
	assert.Equal(t, *r.Selection.Seed, uint64(viaFloat["seed"].(float64)), "exact through a float64")
	_, err = e.exec.RunOnce(context.Background())
	require.NoError(t, err)

	again, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectRandom, SampleSize: 5, Seed: r.Selection.Seed})
	require.NoError(t, err)
	assert.Equal(t, runKeys(t, e, r), runKeys(t, e, again), "the recorded seed draws the same sample again")
	assert.Equal(t, *r.Selection.Seed, *again.Selection.Seed)
	_, err = e.exec.RunOnce(context.Background())
	require.NoError(t, err)

	big := uint64(1 << 60)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectRandom, SampleSize: 5, Seed: &big})
	assert.Equal(t, []string{"$.selection.seed"}, paths(problemsOf(t, err)))
	one := uint64(1)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll, Seed: &one})
	assert.Equal(t, []string{"$.selection.seed"}, paths(problemsOf(t, err)))

	dup := []string{"call-1", "call-1", "call-1", "call-2"}
	e2 := newEnv(t, fakeModel(), func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxRunConversations = 2 })
	ingest(t, e2, 3)
	d2, err := e2.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	r, err = e2.svc.StartRun(context.Background(), scope, d2.Key, analysis.Selection{Strategy: analysis.SelectKeys, ConversationKeys: dup})
	require.NoError(t, err, "repeated keys count once against the maximum")
	assert.Equal(t, []string{"call-1", "call-2"}, runKeys(t, e2, r))
}

func TestItemsReportValuesThatFailedCoercion(t *testing.T) {
	model := llm.ModelFunc(func(_ context.Context, req llm.Request) (llm.Response, error) {
		if req.SchemaName == "verdict" {
			return llm.Response{Content: `{"reasoning":"ok","evidence":[{"turn":0,"quote":"invented words here"}],"score":0.9}`}, nil
		}
		return llm.Response{Content: `{"intent":"refunds","resolved":"about twelve","mood":"calm"}`}, nil
	})
	e := newEnv(t, model)
	ingest(t, e, 1)
	_, r := startAll(t, e, true)
	_, err := e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	it := r.Items[0]
	require.Len(t, it.Invalid, 2, "reported, never silently dropped")
	assert.Equal(t, "intent", it.Invalid[0].Key)
	assert.Equal(t, json.RawMessage(`"refunds"`), it.Invalid[0].Value)
	assert.Equal(t, "resolved", it.Invalid[1].Key)
	assert.Equal(t, []string{"mood"}, it.Extra)
	assert.Equal(t, 1, it.Judge.DroppedEvidence, "a quote not in the transcript is counted")
	assert.False(t, it.Passed)
}

func TestSampleKeys(t *testing.T) {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%03d", i)
	}
	a := analysis.SampleKeys(keys, 10, 7)
	assert.Equal(t, a, analysis.SampleKeys(keys, 10, 7), "same seed, same sample")
	assert.NotEqual(t, a, analysis.SampleKeys(keys, 10, 8), "another seed, another sample")
	assert.Len(t, a, 10)
	assert.IsIncreasing(t, a)
	assert.Equal(t, keys, analysis.SampleKeys(keys, 200, 1), "a sample larger than the pool is the pool")
	// Every key has the same chance: over many seeds each is drawn about
	// size/len of the time.
	counts := map[string]int{}
	for seed := range uint64(2000) {
		for _, k := range analysis.SampleKeys(keys, 10, seed) {
			counts[k]++
		}
	}
	for _, k := range keys {
		assert.InDelta(t, 200, counts[k], 60, k)
	}
}

func TestExecutorAnalysesARun(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 6)
	_, r := startAll(t, e, true)
	e.clock.Advance(time.Minute)
	ok, err := e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ok)

	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, r.Status)
	require.Len(t, r.Items, 6)
	assert.Equal(t, analysis.Progress{Done: 6, Total: 6}, r.Progress)
	agg := r.Aggregate
	require.NotNil(t, agg)
	assert.Equal(t, []int{6, 6, 0, 6}, []int{agg.Total, agg.Completed, agg.Failed, agg.Passed})
	assert.Equal(t, 1.0, *agg.PassRate)
	assert.InDelta(t, 0.8, *agg.AvgJudgeScore, 1e-12)
	assert.Equal(t, 1.0, *agg.AvgExtractionAccuracy)
	assert.Positive(t, r.Usage.InputTokens, "usage summed per run")
	require.NotNil(t, r.StartedAt)
	require.NotNil(t, r.FinishedAt)

	byKey := map[string]analysis.Item{}
	for _, it := range r.Items {
		byKey[it.ConversationKey] = it
	}
	it := byKey["call-3"]
	assert.True(t, it.Passed)
	assert.Equal(t, map[string]any{"intent": "support", "resolved": true}, it.ExtractedFields)
	assert.Equal(t, []string{}, it.Missing)
	assert.Equal(t, &analysis.ItemJudge{Score: 0.8, Passed: true, Reasoning: "Polite."}, it.Judge)
	require.NotNil(t, it.Accuracy)
	assert.Equal(t, 2, it.Accuracy.ComparedCount)
	assert.Equal(t, 1.0, *it.Accuracy.Score)

	b, err := json.Marshal(it)
	require.NoError(t, err)
	var shape map[string]any
	require.NoError(t, json.Unmarshal(b, &shape))
	for _, k := range []string{"conversationKey", "passed", "extractedFields", "missing", "judge", "accuracy"} {
		assert.Contains(t, shape, k, "the seed's item shape")
	}
	assert.Equal(t, map[string]any{"score": 0.8, "passed": true, "reasoning": "Polite."}, shape["judge"])
	acc := shape["accuracy"].(map[string]any)
	assert.Equal(t, 1.0, acc["score"])
	assert.Equal(t, 2.0, acc["comparedCount"])
	assert.Equal(t, map[string]any{"expected": "support", "actual": "support", "match": true}, acc["perField"].(map[string]any)["intent"])

	c, err := e.svc.GetConversation(context.Background(), scope, "call-3")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"intent": "support", "resolved": true}, c.ExtractedFields, "store mode")
	require.NotNil(t, c.LastAnalyzedAt)
	assert.True(t, c.LastAnalyzedAt.Equal(start.Add(time.Minute)))

	ok, err = e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	assert.False(t, ok, "nothing left to claim")
}

func TestItemPassRules(t *testing.T) {
	// intent is required: a transcript the model cannot place yields null.
	model := llm.ModelFunc(func(_ context.Context, req llm.Request) (llm.Response, error) {
		content := req.Messages[0].Content
		switch {
		case req.SchemaName == "verdict" && strings.Contains(content, "Ticket 2."):
			return llm.Response{Content: `{"reasoning":"Rude.","evidence":[],"score":0.2}`}, nil
		case req.SchemaName == "verdict":
			return llm.Response{Content: `{"reasoning":"Fine.","evidence":[],"score":0.9}`}, nil
		case strings.Contains(content, "Ticket 1."):
			return llm.Response{Content: `{"intent":null,"resolved":true}`}, nil
		case strings.Contains(content, "Ticket 3."):
			return llm.Response{}, &llm.Error{Kind: llm.ErrRefused, Message: "policy violation text from the provider"}
		}
		return llm.Response{Content: `{"intent":"billing","resolved":false}`}, nil
	})
	e := newEnv(t, model)
	ingest(t, e, 4)
	_, r := startAll(t, e, true)
	_, err := e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, r.Status, "one failing conversation never fails the run")
	byKey := map[string]analysis.Item{}
	for _, it := range r.Items {
		byKey[it.ConversationKey] = it
	}
	assert.False(t, byKey["call-1"].Passed, "a required field is missing")
	assert.Equal(t, []string{"intent"}, byKey["call-1"].Missing)
	assert.False(t, byKey["call-2"].Passed, "the judge did not pass")
	assert.False(t, byKey["call-3"].Passed)
	assert.Equal(t, "extraction: the model refused to answer", byKey["call-3"].Error, "an operator-safe error naming the step")
	assert.NotContains(t, byKey["call-3"].Error, "policy")
	assert.Nil(t, byKey["call-3"].Judge, "no judging without an extraction")
	assert.True(t, byKey["call-4"].Passed)

	agg := r.Aggregate
	assert.Equal(t, 4, agg.Total)
	assert.Equal(t, 3, agg.Completed)
	assert.Equal(t, 1, agg.Failed)
	assert.Equal(t, 1, agg.Passed)
	assert.InDelta(t, 1.0/3.0, *agg.PassRate, 1e-12, "passed / completed")
	assert.InDelta(t, (0.9+0.2+0.9)/3, *agg.AvgJudgeScore, 1e-12, "over the judged items")
	// call-1: intent null vs billing (miss), resolved true (match) = 0.5;
	// call-2 and call-4: billing matches, resolved false vs true = 0.5.
	assert.InDelta(t, 0.5, *agg.AvgExtractionAccuracy, 1e-12)
}

func TestAggregateNullWhenNoItemUsedAMode(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 2)
	in := intentDefinition()
	in.Modes = analysis.Modes{}
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	r, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Nil(t, r.Aggregate.AvgJudgeScore)
	assert.Nil(t, r.Aggregate.AvgExtractionAccuracy)
	b, err := json.Marshal(r.Aggregate)
	require.NoError(t, err)
	assert.JSONEq(t, `{"total":2,"completed":2,"failed":0,"passed":2,"passRate":1,"avgJudgeScore":null,"avgExtractionAccuracy":null}`, string(b))
	c, err := e.svc.GetConversation(context.Background(), scope, "call-1")
	require.NoError(t, err)
	assert.Nil(t, c.ExtractedFields, "no store mode, nothing written")
}

func TestSummarize(t *testing.T) {
	one, half := 1.0, 0.5
	agg := analysis.Summarize(3, []analysis.Item{
		{Passed: true, Judge: &analysis.ItemJudge{Score: 1}},
		{Error: "boom"},
	})
	assert.Equal(t, &analysis.Aggregate{Total: 3, Completed: 1, Failed: 2, Passed: 1, PassRate: &one, AvgJudgeScore: &one}, agg,
		"a conversation without an item counts as failed")
	agg = analysis.Summarize(2, []analysis.Item{{Error: "x"}, {Error: "y"}})
	assert.Nil(t, agg.PassRate, "nothing completed: null, not NaN")
	agg = analysis.Summarize(1, nil)
	assert.Equal(t, 1, agg.Failed)
	agg = analysis.Summarize(2, []analysis.Item{{Passed: false}, {Passed: true}})
	assert.Equal(t, &half, agg.PassRate)
}

func TestDeletedConversationIsAFailedItem(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 2)
	_, r := startAll(t, e, true)
	require.NoError(t, e.svc.DeleteConversation(context.Background(), scope, "call-2"))
	_, err := e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Aggregate.Failed)
	for _, it := range r.Items {
		if it.ConversationKey == "call-2" {
			assert.Equal(t, "the conversation was deleted", it.Error)
		}
	}
}

func TestProgressIsVisibleWhileRunning(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	model := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		if calls.Add(1) > 2 {
			select {
			case <-release:
			case <-ctx.Done():
				return llm.Response{}, ctx.Err()
			}
		}
		return fakeModel().Generate(ctx, req)
	})
	e := newEnv(t, model, func(_ *analysis.Config, ec *analysis.ExecutorConfig) { ec.Concurrency = 1 })
	ingest(t, e, 5)
	_, r := startAll(t, e, false)
	done := make(chan error)
	go func() {
		_, err := e.exec.RunOnce(context.Background())
		done <- err
	}()
	require.Eventually(t, func() bool {
		got, err := e.svc.GetRun(context.Background(), scope, r.ID)
		return err == nil && got.Progress.Done == 2
	}, 5*time.Second, time.Millisecond)
	got, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunRunning, got.Status)
	assert.Equal(t, analysis.Progress{Done: 2, Total: 5}, got.Progress, "each item is saved as it completes")
	assert.Len(t, got.Items, 2)
	close(release)
	require.NoError(t, <-done)
}

func TestFaultInjectionOverManyConversations(t *testing.T) {
	const n = 500
	faulty := llmtest.InjectFaults(fakeModel(), 2026, llmtest.Faults{
		RateLimited: 0.05, Transient: 0.10, Refused: 0.03, ContextTooLong: 0.02,
		Truncated: 0.03, MalformedJSON: 0.04, SchemaViolation: 0.03,
	})
	model := llm.Chain(faulty, llm.WithRetry(llm.RetryOptions{
		MaxAttempts: 8, Sleep: func(context.Context, time.Duration) error { return nil },
	}))
	e := newEnv(t, model, func(c *analysis.Config, ec *analysis.ExecutorConfig) { ec.Concurrency = 8 })
	ingest(t, e, n)
	_, r := startAll(t, e, true)
	_, err := e.exec.Drain(context.Background())
	require.NoError(t, err)
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)

	agg := r.Aggregate
	require.Equal(t, analysis.RunCompleted, r.Status)
	assert.Equal(t, n, agg.Total)
	assert.Equal(t, agg.Total, agg.Completed+agg.Failed, "completed + failed = total")
	assert.Len(t, r.Items, n, "every conversation has an item")
	for _, v := range []*float64{agg.PassRate, agg.AvgJudgeScore, agg.AvgExtractionAccuracy} {
		require.NotNil(t, v)
		assert.False(t, math.IsNaN(*v) || math.IsInf(*v, 0), "no NaN anywhere")
	}
	b, err := json.Marshal(r)
	require.NoError(t, err, "the run encodes: no NaN")
	assert.NotContains(t, string(b), "NaN")

	counts := faulty.Counts()
	assert.Positive(t, counts[llmtest.FaultTransient])
	assert.Positive(t, counts[llmtest.FaultRateLimited])
	reasons := map[string]int{}
	for _, it := range r.Items {
		if it.Error != "" {
			reasons[it.Error]++
		}
		if it.JudgeError != "" {
			reasons[it.JudgeError]++
		}
	}
	assert.Zero(t, reasons["extraction: the model provider failed temporarily"], "transient faults were recovered by retries")
	assert.Zero(t, reasons["extraction: the model provider rate-limited the request"])
	assert.Positive(t, reasons["extraction: the model refused to answer"], "refusals are not retried and fail their item")
	assert.Positive(t, agg.Failed)
	assert.Greater(t, agg.Completed, n*8/10)
	t.Logf("faults %v; item errors %v; aggregate %+v", counts, reasons, *agg)
}

func TestCancelledExecutorIsResumedByAnother(t *testing.T) {
	const n = 40
	var firstCalls atomic.Int32
	ctx1, cancel1 := context.WithCancel(context.Background())
	slowFirst := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		if firstCalls.Add(1) > 15 {
			cancel1() // the first executor is shut down mid-run
			<-ctx.Done()
			return llm.Response{}, ctx.Err()
		}
		return fakeModel().Generate(ctx, req)
	})
	e := newEnv(t, slowFirst, func(_ *analysis.Config, ec *analysis.ExecutorConfig) { ec.Concurrency = 4 })
	ingest(t, e, n)
	_, r := startAll(t, e, false)

	ok, err := e.exec.RunOnce(ctx1)
	require.True(t, ok)
	require.NoError(t, err, "a cancelled executor stops quietly")
	mid, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunRunning, mid.Status, "left running for another executor")
	doneFirst := len(mid.Items)
	require.True(t, doneFirst > 0 && doneFirst <= 15, "the items finished before the shutdown were saved: %d", doneFirst)
	firstItems := map[string]analysis.Item{}
	for _, it := range mid.Items {
		firstItems[it.ConversationKey] = it
	}

	var mu sync.Mutex
	secondCalls := map[string]int{}
	counting := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		mu.Lock()
		secondCalls[req.Messages[0].Content]++
		mu.Unlock()
		return fakeModel().Generate(ctx, req)
	})
	spy := &spyStore{Store: e.store}
	second, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: spy, Model: counting, Clock: e.clock, Owner: "exec-2", Concurrency: 4})
	require.NoError(t, err)
	// No waiting for a lease to lapse: the first executor released the run.
	ok, err = second.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ok, "the released run is claimable at once")
	final, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, final.Status)
	require.Len(t, final.Items, n, "every conversation analysed")
	assert.Equal(t, n, final.Aggregate.Completed)
	assert.Len(t, secondCalls, n-doneFirst, "the second executor analysed only what was left")
	for prompt, calls := range secondCalls {
		assert.Equal(t, 1, calls, "once each: %.40s", prompt)
	}
	for _, it := range final.Items {
		if first, ok := firstItems[it.ConversationKey]; ok {
			assert.Equal(t, first, it, "finished items were not redone")
		}
	}
	assert.Equal(t, []int{1}, spy.attempts(), "the release took back the first attempt")
}

func TestCrashedExecutorsLeaseLapses(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 2)
	_, r := startAll(t, e, true)
	// An executor claims the run's chunk and crashes without a word.
	_, ok, err := e.store.ClaimChunk(context.Background(), "crashed", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	assert.False(t, ok, "its lease still holds")
	e.clock.Advance(2 * time.Minute)
	ok, err = e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ok, "once the lease lapses the chunk is taken over")
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, r.Status)
	assert.Equal(t, 2, r.Aggregate.Completed)
	assert.Equal(t, []int{2}, e.spy.attempts())
}

func TestChunkIsAbandonedAfterTooManyAttempts(t *testing.T) {
	e := newEnv(t, fakeModel(), func(_ *analysis.Config, ec *analysis.ExecutorConfig) { ec.MaxAttempts = 2 })
	ingest(t, e, 1)
	d, r := startAll(t, e, true)
	// Two executors take the chunk up and die without a trace.
	for range 2 {
		_, ok, err := e.store.ClaimChunk(context.Background(), "dead", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		e.clock.Advance(2 * time.Minute)
	}
	ok, err := e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ok)
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, r.Status, "never left running forever")
	require.Len(t, r.Items, 1)
	assert.Equal(t, "the conversation's analysis was abandoned after 2 attempts", r.Items[0].Error)
	assert.Equal(t, 1, r.Aggregate.Failed)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	assert.NoError(t, err, "and no longer blocks new runs")
}

func TestAttemptsCountPerChunk(t *testing.T) {
	e := newEnv(t, fakeModel(), func(c *analysis.Config, ec *analysis.ExecutorConfig) {
		c.ChunkSize, ec.MaxAttempts = 1, 2
	})
	ingest(t, e, 4)
	_, r := startAll(t, e, true)
	// Three hard crashes, each on a different chunk: attempts counted per
	// run would give up on the run; per chunk, each has one to spare.
	for range 3 {
		_, ok, err := e.store.ClaimChunk(context.Background(), "dead", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
	}
	e.clock.Advance(2 * time.Minute)
	n, err := e.exec.Drain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, r.Status)
	assert.Equal(t, 4, r.Aggregate.Completed, "no conversation was given up")
	assert.Equal(t, []int{2, 2, 2, 1}, e.spy.attempts())
}

func TestExecutorLoopWakesAndStops(t *testing.T) {
	e := newEnv(t, fakeModel(), func(c *analysis.Config, ec *analysis.ExecutorConfig) { ec.PollInterval = time.Hour })
	exec := e.exec
	svc, err := analysis.NewService(analysis.Config{Store: e.store, Clock: e.clock, Wake: exec.Wake})
	require.NoError(t, err)
	ingest(t, e, 3)
	d, err := svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- exec.Run(ctx) }()
	r, err := svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := svc.GetRun(context.Background(), scope, r.ID)
		return err == nil && got.Status == analysis.RunCompleted
	}, 5*time.Second, time.Millisecond, "woken at once, not after the hour-long poll")
	cancel()
	assert.NoError(t, <-stopped)
}

func TestCancelRun(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 2)
	d, r := startAll(t, e, true)
	assert.ErrorIs(t, e.svc.DeleteDefinition(context.Background(), scope, d.Key), analysis.ErrRunInProgress)
	c, err := e.svc.CancelRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunFailed, c.Status)
	assert.Equal(t, "the run was cancelled", c.Error)
	require.NotNil(t, c.Aggregate)
	assert.Equal(t, 2, c.Aggregate.Failed)
	_, err = e.svc.CancelRun(context.Background(), scope, r.ID)
	assert.ErrorIs(t, err, analysis.ErrConflict)
	_, err = e.svc.CancelRun(context.Background(), other, r.ID)
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	ok, err := e.exec.RunOnce(context.Background())
	require.NoError(t, err)
	assert.False(t, ok, "a cancelled run is never taken up")
	require.NoError(t, e.svc.DeleteDefinition(context.Background(), scope, d.Key), "and no longer blocks its definition")
}

func TestOperatorMessage(t *testing.T) {
	for err, want := range map[error]string{
		nil:                      "",
		context.DeadlineExceeded: "the model call timed out",
		&llm.Error{Kind: llm.ErrTransient, Message: "upstream 10.0.0.1 said sk-secret"}: "the model provider failed temporarily",
		&llm.InvalidOutputError{}: "the model's answer did not match the expected format",
		fmt.Errorf("wrapped: %w", &llm.Error{Kind: llm.ErrContextTooLong}): "the conversation is too long for the model's context window",
		fmt.Errorf("dial tcp https://api.example.com?key=sk-123: refused"): "the model call failed",
	} {
		assert.Equal(t, want, analysis.OperatorMessage(err))
	}
}

func TestExecutorThatLostItsLeaseWritesNothing(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	blocking := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		entered <- struct{}{}
		<-release
		return fakeModel().Generate(ctx, req)
	})
	e := newEnv(t, blocking, func(_ *analysis.Config, ec *analysis.ExecutorConfig) {
		ec.Concurrency, ec.LeaseDuration = 2, time.Hour
	})
	ingest(t, e, 2)
	_, r := startAll(t, e, false)
	done := make(chan error)
	go func() {
		_, err := e.exec.RunOnce(context.Background())
		done <- err
	}()
	<-entered
	<-entered
	// The executor stalls past its lease; another one takes the run over.
	e.clock.Advance(2 * time.Hour)
	taken, ok, err := e.store.ClaimChunk(context.Background(), "usurper", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, r.ID, taken.RunID)
	close(release)
	assert.ErrorIs(t, <-done, analysis.ErrLeaseLost, "the stalled executor learns it lost the run")
	got, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Empty(t, got.Items, "none of its items was saved")
	for _, key := range []string{"call-1", "call-2"} {
		c, err := e.svc.GetConversation(context.Background(), scope, key)
		require.NoError(t, err)
		assert.Nil(t, c.ExtractedFields, "and nothing was written in store mode")
	}
}

func TestExecutorRenewsItsLease(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	blocking := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return llm.Response{}, ctx.Err()
		}
		return fakeModel().Generate(ctx, req)
	})
	e := newEnv(t, blocking, func(_ *analysis.Config, ec *analysis.ExecutorConfig) {
		ec.Concurrency, ec.LeaseDuration, ec.RenewInterval = 1, time.Minute, time.Millisecond
	})
	ingest(t, e, 1)
	in := intentDefinition()
	in.Modes.Judge, in.JudgeModelKey = nil, ""
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	done := make(chan error)
	go func() {
		_, err := e.exec.RunOnce(context.Background())
		done <- err
	}()
	<-entered
	// Time passes well beyond the first lease; the executor keeps renewing.
	for range 5 {
		e.clock.Advance(50 * time.Second)
		require.Eventually(t, func() bool {
			_, ok, err := e.store.ClaimChunk(context.Background(), "other", time.Minute)
			require.NoError(t, err)
			require.False(t, ok, "a renewed lease is never taken over")
			return true
		}, time.Second, time.Millisecond)
		time.Sleep(5 * time.Millisecond) // let a renewal or two land at the new time
	}
	close(release)
	require.NoError(t, <-done)
}

func TestRenewalFindsTheLeaseLostAndStops(t *testing.T) {
	entered := make(chan struct{}, 4)
	stuck := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		entered <- struct{}{}
		<-ctx.Done() // a model call that would never end on its own
		return llm.Response{}, ctx.Err()
	})
	e := newEnv(t, stuck, func(_ *analysis.Config, ec *analysis.ExecutorConfig) {
		ec.Concurrency, ec.LeaseDuration, ec.RenewInterval = 1, time.Minute, time.Millisecond
	})
	ingest(t, e, 1)
	_, r := startAll(t, e, true)
	done := make(chan error)
	go func() {
		_, err := e.exec.RunOnce(context.Background())
		done <- err
	}()
	<-entered
	_, err := e.svc.CancelRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.ErrorIs(t, <-done, analysis.ErrLeaseLost, "the next renewal learns of it and stops the work in flight")
}

// flakyStore fails the first SaveItem calls, as a database hiccup would.
type flakyStore struct {
	analysis.Store
	failures atomic.Int32
}

func (f *flakyStore) SaveItem(ctx context.Context, c analysis.ChunkRef, it analysis.Item, w *analysis.FieldsWrite) error {
	if f.failures.Add(-1) >= 0 {
		return fmt.Errorf("connection reset by peer")
	}
	return f.Store.SaveItem(ctx, c, it, w)
}

func TestExecutorRetriesAFailedSave(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 2)
	_, r := startAll(t, e, true)
	flaky := &flakyStore{Store: e.store}
	flaky.failures.Store(2)
	exec, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: flaky, Model: fakeModel(), Clock: e.clock, Concurrency: 1})
	require.NoError(t, err)
	ok, err := exec.RunOnce(context.Background())
	require.NoError(t, err, "two hiccups are absorbed")
	require.True(t, ok)
	r, err = e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, r.Status)
	assert.Len(t, r.Items, 2)

	_, err = analysis.NewExecutor(analysis.ExecutorConfig{Store: e.store, Model: fakeModel(), LeaseDuration: 2})
	assert.ErrorContains(t, err, "too short", "a lease in nanoseconds is refused, not a crash")
	_, err = analysis.NewExecutor(analysis.ExecutorConfig{Store: e.store, Model: fakeModel(), LeaseDuration: time.Minute, RenewInterval: time.Hour})
	assert.ErrorContains(t, err, "lets a lease")
	_, err = analysis.NewExecutor(analysis.ExecutorConfig{Store: e.store})
	assert.Error(t, err, "a model is required")
}

// startAll creates the intent definition — without its judge mode unless
// judged — and starts a run of it over every conversation.
func startAll(t *testing.T, e *env, judged bool) (analysis.Definition, analysis.Run) {
	t.Helper()
	in := intentDefinition()
	if !judged {
		in.Modes.Judge, in.JudgeModelKey = nil, ""
	}
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	r, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	return d, r
}
