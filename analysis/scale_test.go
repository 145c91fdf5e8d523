package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// executors sharing one store, with a model that fails often. Two work
// normally; the third hangs mid-run in model calls that ignore their
// context, holding chunks: it stops renewing them once a call has outlived
// its timeout by a lease, and the others take them over when the leases
// lapse. When it wakes, every write it tries is refused. Every
// conversation ends with exactly one item, and the stored aggregate equals
// a recomputation from the items.
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
			Store: spy, Model: m, Clock: e.clock, Owner: owner, Concurrency: 4, ItemTimeout: 30 * time.Second,
			LeaseDuration: time.Minute, RenewInterval: 2 * time.Millisecond, PollInterval: time.Millisecond,
		})
		require.NoError(t, err)
		return ex, spy
	}
	// The third executor's model hangs from its 30th call until released,
	// deaf to cancellation.
	var calls atomic.Int32
	hung, release := make(chan struct{}), make(chan struct{})
	hanging := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		if n := calls.Add(1); n == 30 {
			close(hung)
		} else if n < 30 {
			return model.Generate(ctx, req)
		}
		<-release
		return model.Generate(ctx, req)
	})
	c, cSpy := newExec("exec-c", hanging)
	cDone := make(chan error, 1)
	go func() {
		_, err := c.Drain(context.Background())
		cDone <- err
	}()
	<-hung

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, aSpy := newExec("exec-a", model)
	b, bSpy := newExec("exec-b", model)
	for _, ex := range []*analysis.Executor{a, b} {
		go func() { _ = ex.Run(ctx) }()
	}
	// Time passes in steps shorter than a lease: the healthy executors keep
	// theirs; the hung one gives its chunks up, and they lapse.
	require.Eventually(t, func() bool {
		e.clock.Advance(5 * time.Second)
		got, err := e.svc.GetRun(context.Background(), scope, r.ID)
		require.NoError(t, err)
		return got.Status == analysis.RunCompleted
	}, 60*time.Second, 5*time.Millisecond)
	cancel()

	before, err := e.store.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	close(release) // the hung executor wakes up
	cErr := <-cDone
	// It gave its chunks up, or — if the race detector starved its renewals
	// while the clock ran fast — lost them: the others took over either way.
	if !errors.Is(cErr, analysis.ErrLeaseLost) {
		assert.ErrorContains(t, cErr, "did not return in time")
	}
	after, err := e.store.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, before.Counters, after.Counters, "its late answers change nothing")

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
	for _, it := range items {
		assert.NotContains(t, it.Error, "abandoned", "no chunk was given up: %s", it.ConversationKey)
	}

	// The hung executor's chunks were claimed again by the others.
	type chunkID struct {
		run   string
		chunk int
	}
	hungChunks := map[chunkID]bool{}
	for _, cl := range cSpy.all() {
		hungChunks[chunkID{cl.RunID, cl.Chunk}] = true
	}
	retaken := 0
	for _, spy := range []*spyStore{aSpy, bSpy} {
		assert.NotEmpty(t, spy.all(), "every healthy executor claimed chunks")
		for _, cl := range spy.all() {
			if hungChunks[chunkID{cl.RunID, cl.Chunk}] {
				assert.Greater(t, cl.Attempt, 1)
				retaken++
			}
		}
	}
	assert.Positive(t, retaken, "the hung executor's chunks were taken over")
}

// TestBusyExecutorLeavesChunksToIdleOnes: an executor whose workers are
// all busy claims no chunk it cannot start on, so an idle executor finds
// work.
func TestBusyExecutorLeavesChunksToIdleOnes(t *testing.T) {
	entered, release := make(chan struct{}, 10), make(chan struct{})
	blocking := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		entered <- struct{}{}
		<-release
		return fakeModel().Generate(ctx, req)
	})
	e := newEnv(t, blocking, func(c *analysis.Config, ec *analysis.ExecutorConfig) {
		c.ChunkSize, ec.Concurrency, ec.LeaseDuration = 1, 1, time.Hour
	})
	ingest(t, e, 3)
	_, r := startAll(t, e, false)
	done := make(chan error, 1)
	go func() {
		_, err := e.exec.Drain(context.Background())
		done <- err
	}()
	<-entered // its only worker is busy on chunk 0
	idle, idleSpy := newIdleExecutor(t, e)
	n, err := idle.Drain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the idle executor got the chunks the busy one could not start")
	assert.Equal(t, []int{0}, chunksOf(e.spy.all()), "the busy one held only what it worked on")
	assert.Equal(t, []int{1, 2}, chunksOf(idleSpy.all()))
	close(release)
	require.NoError(t, <-done)
	got, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, got.Status)
}

func newIdleExecutor(t *testing.T, e *env) (*analysis.Executor, *spyStore) {
	spy := &spyStore{Store: e.store}
	ex, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: spy, Model: fakeModel(), Clock: e.clock, Owner: "idle", Concurrency: 2})
	require.NoError(t, err)
	return ex, spy
}

func chunksOf(cs []analysis.Claim) []int {
	out := []int{}
	for _, c := range cs {
		out = append(out, c.Chunk)
	}
	return out
}

// boundStore watches what an executor asks of the store: how many chunks
// it holds at once and how many conversations it reads in one call. It
// fails the test if the executor reads a run whole.
type boundStore struct {
	analysis.Store
	t                  *testing.T
	mu                 sync.Mutex
	held, maxHeld      int
	maxBatch, maxClaim int
}

func (b *boundStore) ClaimChunk(ctx context.Context, owner string, lease time.Duration) (analysis.Claim, bool, error) {
	c, ok, err := b.Store.ClaimChunk(ctx, owner, lease)
	if ok {
		b.mu.Lock()
		b.held++
		b.maxHeld, b.maxClaim = max(b.maxHeld, b.held), max(b.maxClaim, len(c.Keys))
		b.mu.Unlock()
	}
	return c, ok, err
}

func (b *boundStore) CompleteChunk(ctx context.Context, c analysis.ChunkRef, at time.Time) (bool, error) {
	finished, err := b.Store.CompleteChunk(ctx, c, at)
	if err == nil {
		b.mu.Lock()
		b.held--
		b.mu.Unlock()
	}
	return finished, err
}

func (b *boundStore) GetConversations(ctx context.Context, sc analysis.Scope, keys []string) ([]analysis.Conversation, error) {
	b.mu.Lock()
	b.maxBatch = max(b.maxBatch, len(keys))
	b.mu.Unlock()
	return b.Store.GetConversations(ctx, sc, keys)
}

func (b *boundStore) GetRun(context.Context, analysis.Scope, string) (analysis.Run, error) {
	b.t.Error("the executor read a whole run")
	return analysis.Run{}, analysis.ErrNotFound
}

func (b *boundStore) ListRunItems(context.Context, analysis.Scope, string, analysis.Page) ([]analysis.Item, string, error) {
	b.t.Error("the executor read a run's items")
	return nil, "", analysis.ErrNotFound
}

func (b *boundStore) ListRunKeys(context.Context, analysis.Scope, string, analysis.Page) ([]string, string, error) {
	b.t.Error("the executor read a run's keys")
	return nil, "", analysis.ErrNotFound
}

// TestExecutorHoldsABoundedShareOfARun runs 3,000 conversations and checks
// what bounds the executor's memory: it never holds more chunks than it
// has workers, reads at most a chunk of conversations at a time, and never
// reads the run, its keys or its items.
func TestExecutorHoldsABoundedShareOfARun(t *testing.T) {
	const n, chunk, workers = 3000, 40, 6
	e := newEnv(t, fakeModel(), func(c *analysis.Config, _ *analysis.ExecutorConfig) {
		c.MaxRunConversations, c.ChunkSize = n, chunk
	})
	ingestBulk(t, e, n)
	_, r := startAll(t, e, true)
	bound := &boundStore{Store: e.store, t: t}
	ex, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: bound, Model: fakeModel(), Clock: e.clock, Concurrency: workers})
	require.NoError(t, err)
	claimed, err := ex.Drain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, n/chunk, claimed)
	got, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, got.Status)
	assert.Equal(t, n, got.Aggregate.Completed)
	assert.LessOrEqual(t, bound.maxHeld, workers, "chunks held at once")
	assert.Greater(t, bound.maxHeld, 1, "chunks overlap: no worker waits for a chunk's slowest conversation")
	assert.LessOrEqual(t, bound.maxBatch, chunk, "conversations read at once")
	assert.LessOrEqual(t, bound.maxClaim, chunk, "keys claimed at once")
	assert.Zero(t, bound.held, "every chunk completed")
}

// TestFollowARunningRunsItems polls a run's items with the resume cursor
// while the run works: every item arrives once, in the order saved.
func TestFollowARunningRunsItems(t *testing.T) {
	step := make(chan struct{})
	stepped := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		select {
		case <-step:
		case <-ctx.Done():
			return llm.Response{}, ctx.Err()
		}
		return fakeModel().Generate(ctx, req)
	})
	e := newEnv(t, stepped, func(c *analysis.Config, ec *analysis.ExecutorConfig) { c.ChunkSize, ec.Concurrency = 3, 2 })
	cs := ingest(t, e, 12)
	_, r := startAll(t, e, false)
	done := make(chan error, 1)
	go func() {
		_, err := e.exec.Drain(context.Background())
		done <- err
	}()
	var followed []string
	cursor := ""
	for polls := 0; len(followed) < 12; polls++ {
		require.Less(t, polls, 10000)
		if polls%3 == 0 {
			select {
			case step <- struct{}{}: // let one answer through
			case <-time.After(time.Millisecond):
			}
		}
		p, err := e.svc.ListRunItems(context.Background(), scope, r.ID, cursor, 4)
		require.NoError(t, err)
		require.NotEmpty(t, p.ResumeCursor)
		for _, it := range p.Items {
			followed = append(followed, it.ConversationKey)
		}
		if len(p.Items) == 4 {
			assert.Equal(t, p.ResumeCursor, p.NextCursor, "a full page says more may follow")
		} else {
			assert.Empty(t, p.NextCursor, "a short page is the last for now")
		}
		cursor = p.ResumeCursor
	}
	require.NoError(t, <-done)
	assert.ElementsMatch(t, keysOf(cs), followed, "every item once")
	all := allItems(t, e, r.ID, 100)
	order := []string{}
	for _, it := range all {
		order = append(order, it.ConversationKey)
	}
	assert.Equal(t, order, followed, "in the order saved")
	got, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Empty(t, got.ItemsCursor, "a finished run within the bound has no cursor")
}

// hiccupStore fails its first reads of conversations, as a database that
// restarts would.
type hiccupStore struct {
	analysis.Store
	failures atomic.Int32
}

func (h *hiccupStore) GetConversations(ctx context.Context, sc analysis.Scope, keys []string) ([]analysis.Conversation, error) {
	if h.failures.Add(-1) >= 0 {
		return nil, fmt.Errorf("connection refused")
	}
	return h.Store.GetConversations(ctx, sc, keys)
}

// TestStoreHiccupsCostNoAttempt: reads that fail are tried again, and a
// chunk whose store keeps failing is given back, not left to lapse, so
// that no attempt is counted and no conversation is given up.
func TestStoreHiccupsCostNoAttempt(t *testing.T) {
	e := newEnv(t, fakeModel(), func(_ *analysis.Config, ec *analysis.ExecutorConfig) { ec.MaxAttempts = 1 })
	ingest(t, e, 5)
	_, r := startAll(t, e, false)
	flaky := &hiccupStore{Store: e.store}
	flaky.failures.Store(5)
	spy := &spyStore{Store: flaky}
	ex, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: spy, Model: fakeModel(), Clock: e.clock})
	require.NoError(t, err)
	var errs []error
	for range 5 {
		if _, err := ex.Drain(context.Background()); err != nil {
			errs = append(errs, err)
		}
		if got, _ := e.svc.GetRun(context.Background(), scope, r.ID); got.Status == analysis.RunCompleted {
			break
		}
	}
	require.NotEmpty(t, errs, "the failing store was reported")
	assert.ErrorContains(t, errs[0], "connection refused")
	got, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	require.Equal(t, analysis.RunCompleted, got.Status)
	assert.Equal(t, 5, got.Aggregate.Completed, "nothing was given up")
	for _, a := range spy.attempts() {
		assert.Equal(t, 1, a, "a chunk given back counts no attempt")
	}
	assert.Len(t, spy.attempts(), 2, "three tries in the first claim, the rest in the second")
}

// poisonStore always fails to read one conversation, as a row the database
// cannot decode would.
type poisonStore struct {
	analysis.Store
	poison string
}

func (p *poisonStore) GetConversations(ctx context.Context, sc analysis.Scope, keys []string) ([]analysis.Conversation, error) {
	if slices.Contains(keys, p.poison) {
		return nil, fmt.Errorf("cannot decode row")
	}
	return p.Store.GetConversations(ctx, sc, keys)
}

// TestPoisonedChunkCannotHoldTheRun: a chunk the store always fails on is
// given back once, then left to lapse so that its attempts count; the
// executor works on the other chunks meanwhile, and the poisoned one is
// finally given up, its conversation recorded as failed.
func TestPoisonedChunkCannotHoldTheRun(t *testing.T) {
	e := newEnv(t, fakeModel(), func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.ChunkSize = 1 })
	ingest(t, e, 3)
	_, r := startAll(t, e, false)
	spy := &spyStore{Store: &poisonStore{Store: e.store, poison: "call-1"}}
	ex, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: spy, Model: fakeModel(), Clock: e.clock, MaxAttempts: 2, LeaseDuration: time.Minute})
	require.NoError(t, err)
	for range 40 { // polls, a third of a lease apart
		_, err := ex.Drain(context.Background())
		if err != nil {
			require.ErrorContains(t, err, "cannot decode row")
		}
		if got, _ := e.svc.GetRun(context.Background(), scope, r.ID); got.Status == analysis.RunCompleted {
			break
		}
		e.clock.Advance(20 * time.Second)
	}
	got, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	require.Equal(t, analysis.RunCompleted, got.Status, "claims %v", spy.all())
	byKey := map[string]analysis.Item{}
	for _, it := range got.Items {
		byKey[it.ConversationKey] = it
	}
	assert.Equal(t, "the conversation's analysis was abandoned after 2 attempts", byKey["call-1"].Error)
	assert.Empty(t, byKey["call-2"].Error)
	assert.Empty(t, byKey["call-3"].Error)
	assert.Equal(t, 2, got.Aggregate.Completed)
	assert.Contains(t, chunksOf(spy.all())[:3], 1, "the other chunks were worked on before the poisoned one was given up")
}

func TestRunOfExactlyTheInlineBoundHasNoCursor(t *testing.T) {
	e := newEnv(t, fakeModel(), func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxInlineItems = 3 })
	ingest(t, e, 3)
	_, r := startAll(t, e, false)
	pending, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.NotEmpty(t, pending.ItemsCursor, "a run in progress has a cursor to follow")
	_, err = e.exec.Drain(context.Background())
	require.NoError(t, err)
	got, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	assert.Len(t, got.Items, 3)
	assert.Empty(t, got.ItemsCursor, "every item is there: no cursor to an empty page")
}

// TestHungModelCallIsLeftToLapse: a model call that ignores its context
// keeps its chunk renewed until it has run for ItemTimeout and a lease;
// then the executor stops renewing, the lease lapses, and another
// executor can claim the chunk.
func TestHungModelCallIsLeftToLapse(t *testing.T) {
	release := make(chan struct{})
	hung := make(chan struct{}, 10)
	deaf := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		hung <- struct{}{}
		<-release // deaf to cancellation
		return fakeModel().Generate(context.Background(), llm.Request{Messages: []llm.Message{{Content: "about billing"}}})
	})
	e := newEnv(t, deaf, func(_ *analysis.Config, ec *analysis.ExecutorConfig) {
		ec.Concurrency, ec.ItemTimeout, ec.LeaseDuration, ec.RenewInterval = 1, 10*time.Second, time.Minute, time.Millisecond
	})
	ingest(t, e, 1)
	startAll(t, e, false)
	done := make(chan error, 1)
	go func() {
		_, err := e.exec.Drain(context.Background())
		done <- err
	}()
	<-hung
	began := e.clock.Now()
	var claimedAt time.Time
	for step := 0; step < 400; step++ {
		e.clock.Advance(time.Second)
		time.Sleep(2 * time.Millisecond) // renewals run at real-time intervals
		if _, ok, err := e.store.ClaimChunk(context.Background(), "other", time.Minute); err == nil && ok {
			claimedAt = e.clock.Now()
			break
		}
	}
	require.False(t, claimedAt.IsZero(), "the hung chunk was never left to lapse")
	held := claimedAt.Sub(began)
	assert.GreaterOrEqual(t, held, 10*time.Second+time.Minute, "renewed while the call was within its timeout and a lease")
	assert.LessOrEqual(t, held, 10*time.Second+2*time.Minute+5*time.Second, "then left to lapse")
	close(release)
	assert.ErrorContains(t, <-done, "did not return in time")
}
