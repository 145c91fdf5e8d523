package analysis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/llm"
)

func randomItem(rng *rand.Rand, key string) analysis.Item {
	it := analysis.Item{ConversationKey: key, Usage: llm.Usage{InputTokens: rng.Int64N(500), OutputTokens: rng.Int64N(50), CachedInputTokens: rng.Int64N(10)}}
	if rng.IntN(5) == 0 {
		it.Error = "the model call failed"
		return it
	}
	it.Passed = rng.IntN(2) == 0
	switch rng.IntN(3) {
	case 0:
		it.Judge = &analysis.ItemJudge{Score: float64(rng.IntN(101)) / 100}
	case 1:
		it.JudgeError = "the model refused to answer"
	}
	if rng.IntN(2) == 0 {
		per := map[string]accuracy.FieldResult{}
		matched := 0
		for _, f := range []string{"intent", "resolved", "amount"}[:1+rng.IntN(3)] {
			m := rng.IntN(2) == 0
			if m {
				matched++
			}
			per[f] = accuracy.FieldResult{Match: m}
		}
		score := float64(matched) / float64(len(per))
		it.Accuracy = &accuracy.Result{Score: &score, ComparedCount: len(per), PerField: per}
	}
	return it
}

// TestCountersAddAndSub saves and replaces random items the way a store
// does and checks that the counters always equal the sum over the items
// kept, and the aggregate Summarize's.
func TestCountersAddAndSub(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kept, replaced := map[string]analysis.Item{}, map[string]analysis.Item{}
	var c, direct analysis.Counters // built with Add and Sub, and with AddItem and SubItem
	for i := range 3000 {
		key := fmt.Sprint("call-", rng.IntN(400))
		it := randomItem(rng, key)
		if old, ok := kept[key]; ok {
			c.Sub(analysis.ItemCounters(old))
		}
		kept[key] = it
		c.Add(analysis.ItemCounters(it))
		direct.AddItem(it)
		if old, ok := replaced[key]; ok {
			direct.SubItem(old)
		}
		replaced[key] = it
		if i%500 == 0 || i == 2999 {
			var sum analysis.Counters
			items := []analysis.Item{}
			for _, it := range kept {
				sum.Add(analysis.ItemCounters(it))
				items = append(items, it)
			}
			require.Equal(t, sum, c, "after %d saves", i+1)
			require.Equal(t, sum, direct, "AddItem and SubItem agree, after %d saves", i+1)
			require.Equal(t, analysis.Summarize(400, items), c.Aggregate(400))
		}
	}
	agg := c.Aggregate(400)
	require.NotEmpty(t, agg.PerFieldAccuracy)
	for _, fa := range agg.PerFieldAccuracy {
		fc := c.Fields[fa.Key]
		assert.Equal(t, fc.Compared, fa.Compared)
		assert.InDelta(t, float64(fc.Matched)/float64(fc.Compared), *fa.Accuracy, 1e-12)
	}
	assert.Positive(t, agg.JudgeErrors)
}

func TestCountersNeverHoldNaN(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, score := range []float64{nan, inf, -inf, -0.1, 1.5} {
		it := analysis.Item{Judge: &analysis.ItemJudge{Score: score}, Accuracy: &accuracy.Result{Score: &score, ComparedCount: 1}}
		c := analysis.ItemCounters(it)
		assert.Zero(t, c.Judged, "score %v", score)
		assert.Zero(t, c.AccuracyCount)
		agg := c.Aggregate(1)
		assert.Nil(t, agg.AvgJudgeScore)
		assert.Nil(t, agg.AvgExtractionAccuracy)
		_, err := json.Marshal(agg)
		assert.NoError(t, err, "the aggregate always encodes")
	}
	one := 1.0
	c := analysis.ItemCounters(analysis.Item{Judge: &analysis.ItemJudge{Score: 1}, Accuracy: &accuracy.Result{Score: &one, ComparedCount: 1}})
	assert.Equal(t, int64(analysis.Micros), c.JudgeScoreSum, "the bounds are scores")
	assert.Equal(t, int64(analysis.Micros), c.AccuracySum)
	failed := analysis.ItemCounters(analysis.Item{Error: "x", Judge: &analysis.ItemJudge{Score: 1}, Usage: llm.Usage{InputTokens: 3}})
	assert.Equal(t, analysis.Counters{Items: 1, Usage: llm.Usage{InputTokens: 3}}, failed, "a failed item counts its tokens, nothing else")
}

func TestSelectionSizeError(t *testing.T) {
	var err error = &analysis.SelectionSizeError{Selected: 7, Max: 5}
	assert.ErrorIs(t, err, analysis.ErrInvalid)
	assert.False(t, errors.Is(err, analysis.ErrConflict))
	assert.Equal(t, "analysis: the selection has 7 conversations, more than the 5 a run may analyse", err.Error())
}

func TestSampleRank(t *testing.T) {
	// md5("42:call-1"), as PostgreSQL computes md5('42' || ':' || 'call-1').
	assert.Equal(t, "0ea124c74cda50614028fcf71fe5474f", analysis.SampleRank(42, "call-1"))
	keys := []string{"d", "a", "c", "b", "a"}
	assert.Equal(t, []string{"a", "b", "c", "d"}, analysis.SampleKeys(keys, 9, 1), "repeats count once")
	assert.Equal(t, []string{}, analysis.SampleKeys(keys, 0, 1))
}

// TestRunOfABrokenDefinitionFails stores definitions the service would
// refuse, as a host's store may hold from an older version, and runs them:
// the run fails with a reason an operator can act on.
func TestRunOfABrokenDefinitionFails(t *testing.T) {
	e := newEnv(t, fakeModel())
	ingest(t, e, 3)
	ctx := context.Background()
	for i, tc := range []struct {
		def    analysis.Definition
		reason string
	}{
		{analysis.Definition{Name: "No model", FieldSet: intentDefinition().FieldSet}, "the definition has no extraction model"},
		{analysis.Definition{Name: "No fields", ExtractionModelKey: "m"}, "the definition's field set is invalid"},
		{analysis.Definition{Name: "Bad judge", FieldSet: intentDefinition().FieldSet, ExtractionModelKey: "m",
			Modes: analysis.Modes{Judge: &analysis.JudgeMode{}}}, "the definition's judge settings are invalid"},
	} {
		d := tc.def
		d.ID, d.Key, d.Version = fmt.Sprint("broken-", i), fmt.Sprint("broken-", i), 1
		require.NoError(t, e.store.CreateDefinition(ctx, scope, d))
		r, err := e.store.CreateRun(ctx, scope, analysis.Run{ID: fmt.Sprint("run-", i), DefinitionKey: d.Key, DefinitionVersion: 1, Status: analysis.RunPending, CreatedAt: start},
			analysis.KeySelection{Max: 10, ChunkSize: 1})
		require.NoError(t, err)
		assert.Equal(t, 3, r.Progress.Total)
		_, err = e.exec.Drain(ctx)
		require.NoError(t, err)
		got, err := e.svc.GetRun(ctx, scope, r.ID)
		require.NoError(t, err)
		assert.Equal(t, analysis.RunFailed, got.Status, tc.reason)
		assert.Equal(t, tc.reason, got.Error)
		assert.Equal(t, 3, got.Aggregate.Failed)
		require.NotNil(t, got.FinishedAt)
	}
}

func TestServiceConfigBounds(t *testing.T) {
	store := memstore.New()
	_, err := analysis.NewService(analysis.Config{Store: store, ChunkSize: analysis.MaxChunkSize + 1})
	assert.ErrorContains(t, err, "chunk of 1001 conversations")
	_, err = analysis.NewService(analysis.Config{Store: store, MaxInlineItems: analysis.MaxMaxInlineItems + 1})
	assert.ErrorContains(t, err, "inline items")
	_, err = analysis.NewService(analysis.Config{Store: store, ChunkSize: analysis.MaxChunkSize, MaxInlineItems: analysis.MaxMaxInlineItems})
	assert.NoError(t, err, "the bounds themselves are allowed")
}

// BenchmarkCountersAddItem measures what a store adds to a run's counters
// per item saved.
func BenchmarkCountersAddItem(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	items := make([]analysis.Item, 256)
	for i := range items {
		items[i] = randomItem(rng, fmt.Sprint("call-", i))
	}
	var c analysis.Counters
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.AddItem(items[i%len(items)])
		i++
	}
	if c.Items == 0 {
		b.Fatal("nothing counted")
	}
}

// BenchmarkAggregate measures turning a run's counters into its aggregate.
func BenchmarkAggregate(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var c analysis.Counters
	for i := range 1000 {
		c.AddItem(randomItem(rng, fmt.Sprint("call-", i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		if a := c.Aggregate(1000); a.PassRate == nil {
			b.Fatal("no pass rate")
		}
	}
}
