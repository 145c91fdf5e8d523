package analysis_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// allItems reads every item of the run, a page at a time.
func allItems(t testing.TB, e *env, runID string, limit int) []analysis.Item {
	t.Helper()
	var items []analysis.Item
	cursor := ""
	for {
		p, err := e.svc.ListRunItems(context.Background(), scope, runID, cursor, limit)
		require.NoError(t, err)
		items = append(items, p.Items...)
		if p.NextCursor == "" {
			return items
		}
		cursor = p.NextCursor
	}
}

// TestThreeExecutorsShareARun runs 2,000 conversations through three
// executors sharing one store, with a model that fails often: two work
// normally, the third freezes mid-run holding chunks, which the others
// take over once its leases lapse; when it wakes, every write it tries is
// refused. Every conversation ends with exactly one item, and the stored
// aggregate equals a recomputation from the items.
func TestThreeExecutorsShareARun(t *testing.T) {
	const n = 2000
	faulty := llmtest.InjectFaults(fakeModel(), 7, llmtest.Faults{
		RateLimited: 0.05, Transient: 0.10, Refused: 0.03, Truncated: 0.02, MalformedJSON: 0.04, SchemaViolation: 0.03,
	})
	model := llm.Chain(faulty, llm.WithRetry(llm.RetryOptions{MaxAttempts: 6, Sleep: func(context.Context, time.Duration) error { return nil }}))
	e := newEnv(t, model, func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxRunConversations = n })
	ingestBulk(t, e, n)
	_, r := startAll(t, e, true)

	newExec := func(owner string, m llm.Model) (*analysis.Executor, *spyStore) {
		spy := &spyStore{Store: e.store}
		ex, err := analysis.NewExecutor(analysis.ExecutorConfig{
			Store: spy, Model: m, Clock: e.clock, Owner: owner, Concurrency: 4,
			LeaseDuration: time.Minute, RenewInterval: 2 * time.Millisecond, PollInterval: time.Millisecond,
		})
		require.NoError(t, err)
		return ex, spy
	}
	// The third executor's model freezes after 30 calls until released.
	var calls atomic.Int32
	frozen, release := make(chan struct{}), make(chan struct{})
	freezing := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		if calls.Add(1) == 30 {
			close(frozen)
		}
		if calls.Load() >= 30 {
			<-release
		}
		return model.Generate(ctx, req)
	})
	c, cSpy := newExec("exec-c", freezing)
	cDone := make(chan error, 1)
	go func() {
		_, err := c.Drain(context.Background())
		cDone <- err
	}()
	<-frozen

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, aSpy := newExec("exec-a", model)
	b, bSpy := newExec("exec-b", model)
	for _, ex := range []*analysis.Executor{a, b} {
		go func() { _ = ex.Run(ctx) }()
	}
	// Time passes: the frozen executor renews nothing, the others renew as
	// they go; its chunks lapse and are taken over.
	require.Eventually(t, func() bool {
		e.clock.Advance(2 * time.Minute)
		got, err := e.svc.GetRun(context.Background(), scope, r.ID)
		require.NoError(t, err)
		return got.Status == analysis.RunCompleted
	}, 60*time.Second, 20*time.Millisecond)
	cancel()

	before, err := e.store.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	close(release) // the frozen executor wakes up
	assert.ErrorIs(t, <-cDone, analysis.ErrLeaseLost, "its writes are refused")
	after, err := e.store.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, before.Counters, after.Counters, "and change nothing")

	items := allItems(t, e, r.ID, 137)
	seen := map[string]int{}
	var sum analysis.Counters
	for _, it := range items {
		seen[it.ConversationKey]++
		sum.Add(analysis.ItemCounters(it))
	}
	assert.Len(t, items, n, "one item per conversation")
	assert.Len(t, seen, n, "for every conversation")
	for k, c := range seen {
		require.Equal(t, 1, c, "conversation %s", k)
	}
	final, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, sum, final.Counters, "the store-kept counters equal the items' sum")
	assert.Equal(t, analysis.Summarize(n, items), final.Aggregate, "the aggregate equals a recomputation from the items")
	assert.Equal(t, n, final.Progress.Done)
	assert.Positive(t, final.Aggregate.Failed, "the faults failed some items")
	assert.Equal(t, n, final.Aggregate.Completed+final.Aggregate.Failed)
	for name, spy := range map[string]*spyStore{"a": aSpy, "b": bSpy, "c": cSpy} {
		assert.NotEmpty(t, spy.attempts(), "executor %s claimed chunks", name)
	}
	retaken := 0
	for _, spy := range []*spyStore{aSpy, bSpy} {
		for _, at := range spy.attempts() {
			if at > 1 {
				retaken++
			}
		}
	}
	assert.Positive(t, retaken, "the frozen executor's chunks were claimed again")
}
