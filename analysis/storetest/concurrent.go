package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
)

// pause lets other goroutines run while one waits for them; it is never
// used to let a lease lapse (the suite calls Advance for that).
func pause() { time.Sleep(50 * time.Microsecond) }

func testRunCountersUnderCancel(t *testing.T, h Harness) {
	// Writers save and replace items on four claimed chunks — their own
	// chunk's conversations, and a few shared ones all of them write
	// (the item's conversation need not be in the chunk) — while the run
	// is cancelled midway: the counters equal what the items left say, and
	// every write started after the cancel returned fails.
	s := h.Store
	define(t, s, scopeA, "intent")
	keys := keyRange("conv", 80)
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(20, keys...))
	var claims []analysis.Claim
	for range 4 {
		claims = append(claims, claim(t, s, "x"))
	}

	shared := []string{keys[0], keys[25], keys[50], keys[79]}
	var saved, cancelled atomic.Int64 // successful saves; 1 once CancelRun returned
	type writer struct {
		last      map[string]analysis.Item   // the last item saved of each of its own keys
		sharedOK  map[string][]analysis.Item // the items saved of each shared key
		lateOK    int                        // writes that succeeded after the cancel returned
		otherErrs []error
	}
	writers := make([]*writer, len(claims))
	var wg sync.WaitGroup
	var writing atomic.Int64
	writing.Store(int64(len(claims)))
	for w, c := range claims {
		wr := &writer{last: map[string]analysis.Item{}, sharedOK: map[string][]analysis.Item{}}
		writers[w] = wr
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer writing.Add(-1)
			late := 0
			for v := 0; v < 100_000 && late < 10; v++ {
				key, isShared := c.Keys[v%len(c.Keys)], v%4 == 3
				if isShared {
					key = shared[(v/4+w)%len(shared)]
				} else if slices.Contains(shared, key) {
					continue
				}
				it := variedItem(key, v+w)
				after := cancelled.Load() == 1
				err := s.SaveItem(ctx(), c.ChunkRef, it, nil)
				switch {
				case err == nil && isShared:
					wr.sharedOK[key] = append(wr.sharedOK[key], it)
					saved.Add(1)
					if after {
						wr.lateOK++
					}
				case err == nil:
					wr.last[key] = it
					saved.Add(1)
					if after {
						wr.lateOK++
					}
				case !isLeaseLost(err):
					wr.otherErrs = append(wr.otherErrs, err)
					return
				}
				if after {
					late++
				}
			}
		}()
	}
	var cancelErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for saved.Load() < 100 && writing.Load() > 0 {
			pause()
		}
		cancelErr = s.CancelRun(ctx(), scopeA, "r1", "the run was cancelled", t0.Add(time.Hour))
		cancelled.Store(1)
	}()
	wg.Wait()
	require.NoError(t, cancelErr)
	for w, wr := range writers {
		assert.Empty(t, wr.otherErrs, "writer %d: writes fail with ErrLeaseLost only", w)
		assert.Zero(t, wr.lateOK, "writer %d: a write after the cancel succeeded", w)
	}

	r, items := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunFailed, r.Status)
	assert.Equal(t, "the run was cancelled", r.Error)
	want := map[string]analysis.Item{}
	for _, wr := range writers {
		for k, it := range wr.last {
			want[k] = it
		}
	}
	got := map[string]analysis.Item{}
	for _, it := range items {
		_, dup := got[it.ConversationKey]
		assert.False(t, dup, "one item per conversation: %s", it.ConversationKey)
		if slices.Contains(shared, it.ConversationKey) {
			var candidates []analysis.Item
			for _, wr := range writers {
				candidates = append(candidates, wr.sharedOK[it.ConversationKey]...)
			}
			assert.Contains(t, candidates, it, "shared item %s is one saved successfully", it.ConversationKey)
			continue
		}
		got[it.ConversationKey] = it
	}
	assert.Equal(t, want, got, "the items are the last ones saved successfully")
	for _, k := range shared {
		anySaved := false
		for _, wr := range writers {
			anySaved = anySaved || len(wr.sharedOK[k]) > 0
		}
		assert.Equal(t, anySaved, slices.ContainsFunc(items, func(it analysis.Item) bool { return it.ConversationKey == k }),
			"shared item %s is there if and only if it was saved", k)
	}
	for _, c := range claims {
		_, err := s.CompleteChunk(ctx(), c.ChunkRef, t0)
		assert.ErrorIs(t, err, analysis.ErrLeaseLost)
	}
	noClaim(t, s)
	after, items2 := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, normRun(r), normRun(after))
	assert.Equal(t, items, items2)
}

func testRunPagingWhileSaving(t *testing.T, h Harness) {
	// One goroutine saves new items and replaces old ones while the test
	// pages through the items with a small limit: no page repeats an item,
	// and the pass, continued to the end once saving stopped, sees every
	// item once, in the order first saved.
	s := h.Store
	define(t, s, scopeA, "intent")
	keys := keyRange("conv", 120)
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(len(keys), keys...))
	c := claim(t, s, "x")

	order := append([]string{}, keys...)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var done atomic.Bool
	pagerStarted, pagerProgressed := make(chan struct{}), make(chan struct{})
	var startOnce, progressOnce sync.Once
	started := func() { startOnce.Do(func() { close(pagerStarted) }) }
	progressed := func() { progressOnce.Do(func() { close(pagerProgressed) }) }
	defer started() // never leave the saver waiting, even if the test fails
	defer progressed()
	latest := map[string]analysis.Item{}
	var saveErr error
	var replaced []string
	go func() {
		defer done.Store(true)
		save := func(it analysis.Item) bool {
			if err := s.SaveItem(ctx(), c.ChunkRef, it, nil); err != nil {
				saveErr = err
				return false
			}
			latest[it.ConversationKey] = it
			return true
		}
		for i, k := range order {
			switch i {
			case 10:
				<-pagerStarted
			case 60:
				<-pagerProgressed
			}
			if !save(variedItem(k, i)) {
				return
			}
			if i%3 == 2 {
				old := order[rng.IntN(i+1)]
				replaced = append(replaced, old)
				if !save(variedItem(old, 1000+i)) {
					return
				}
			}
		}
	}()

	var pass []string
	seen := map[string]bool{}
	cursor := ""
	accepted, whileSaving := 0, 0
	var settleBy time.Time // once the saves are done, how long the pass may wait for the last items listed
	for reads := 0; ; reads++ {
		require.Less(t, reads, 1_000_000, "paging never ended")
		finished := done.Load()
		if finished {
			require.NoError(t, saveErr, "saving the items being paged")
			if settleBy.IsZero() {
				settleBy = time.Now().Add(30 * time.Second)
			}
		}
		items, next, err := s.ListRunItems(ctx(), scopeA, "r1", analysis.Page{Cursor: cursor, Limit: 4})
		require.NoError(t, err)
		require.LessOrEqual(t, len(items), 4)
		require.NotEmpty(t, next, "the next cursor of items is never empty")
		for _, it := range items {
			require.False(t, seen[it.ConversationKey], "item %s seen twice while paging", it.ConversationKey)
			seen[it.ConversationKey] = true
			pass = append(pass, it.ConversationKey)
		}
		accepted++
		if !finished {
			whileSaving++
		}
		switch accepted {
		case 1:
			started()
		case 4:
			progressed()
		}
		cursor = next
		if len(items) < 4 {
			if finished && (len(seen) == len(order) || time.Now().After(settleBy)) {
				break // the end, and nothing more will come (or the pass missed some: asserted below)
			}
			pause() // the end for now: poll the next cursor once more is saved (or listed)
		}
	}
	require.NoError(t, saveErr)
	assert.GreaterOrEqual(t, whileSaving, 4, "pages were read while items were saved")
	assert.Equal(t, order, pass, "the pass saw every item once, in the order first saved")

	final := allItems(t, s, scopeA, "r1")
	assert.Equal(t, order, keysOfItems(final), "items in the order first saved: a replaced item keeps its place")
	for _, it := range final {
		assert.Equal(t, latest[it.ConversationKey], it, "item %s is the last saved", it.ConversationKey)
	}
	assert.NotEmpty(t, replaced)
	checkCounters(t, s, scopeA, "r1")
}

func testRunCompleteExactlyOnce(t *testing.T, h Harness) {
	// Executors complete the chunks of several runs at once: each run
	// completes exactly once.
	s := h.Store
	const runs, chunks, executors = 4, 25, 8
	for i := range runs {
		key := fmt.Sprintf("def-%d", i)
		define(t, s, scopeA, key)
		startRun(t, s, scopeA, fmt.Sprint("r", i), key, t0.Add(time.Duration(i)*time.Second), keysSel(1, keyRange("k", chunks)...))
	}
	var mu sync.Mutex
	finishes := map[string]int{}
	completes := 0
	var errs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for e := range executors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range runs * chunks * 2 {
				c, ok, err := s.ClaimChunk(ctx(), fmt.Sprint("e", e), lease)
				if err != nil || !ok {
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
					return
				}
				finished, err := s.CompleteChunk(ctx(), c.ChunkRef, t0.Add(time.Hour))
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					completes++
				}
				if finished {
					finishes[c.RunID]++
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Empty(t, errs)
	assert.Equal(t, runs*chunks, completes, "every chunk completed once")
	for i := range runs {
		id := fmt.Sprint("r", i)
		assert.Equal(t, 1, finishes[id], "run %s: exactly one CompleteChunk reports it finished", id)
		r := getRun(t, s, scopeA, id)
		assert.Equal(t, analysis.RunCompleted, r.Status, id)
		if assert.NotNil(t, r.FinishedAt, id) {
			assert.True(t, r.FinishedAt.Equal(t0.Add(time.Hour)), id)
		}
	}
	noClaim(t, s)
}

// execResult is what a simulated executor did.
type execResult struct {
	claims   []analysis.Claim
	finished int
	errs     []error
}

// execute is an executor using only the Store API: it claims chunks until
// none is left, saves an item for each of a chunk's keys and completes it.
func execute(s analysis.Store, owner string, res *execResult) {
	for range 10_000 {
		c, ok, err := s.ClaimChunk(ctx(), owner, lease)
		if err != nil {
			res.errs = append(res.errs, err)
			return
		}
		if !ok {
			return
		}
		res.claims = append(res.claims, c)
		for _, k := range c.Keys {
			if err := s.SaveItem(ctx(), c.ChunkRef, variedItem(k, 1), nil); err != nil {
				res.errs = append(res.errs, fmt.Errorf("%s: save %s: %w", owner, k, err))
			}
		}
		finished, err := s.CompleteChunk(ctx(), c.ChunkRef, t0.Add(time.Hour))
		if err != nil {
			res.errs = append(res.errs, fmt.Errorf("%s: complete chunk %d: %w", owner, c.Chunk, err))
		}
		if finished {
			res.finished++
		}
	}
	res.errs = append(res.errs, errors.New(owner+": never ran out of chunks"))
}

func testRunThreeExecutorsOneFrozen(t *testing.T, h Harness) {
	// Three executors work one run of 20 chunks. The third claims a chunk,
	// saves one item and freezes; its lease lapses; the two others take its
	// chunk over and finish the run. When the frozen one wakes, every write
	// it tries fails and changes nothing.
	s := h.Store
	define(t, s, scopeA, "three")
	keys := keyRange("conv", 40)
	startRun(t, s, scopeA, "r1", "three", t0, keysSel(2, keys...))
	frozen := claim(t, s, "e3")
	require.Equal(t, 0, frozen.Chunk)
	require.NoError(t, s.SaveItem(ctx(), frozen.ChunkRef, variedItem(keys[0], 3), nil))

	phase := func() []*execResult {
		var wg sync.WaitGroup
		results := []*execResult{{}, {}}
		for i, res := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				execute(s, fmt.Sprint("e", i+1), res)
			}()
		}
		wg.Wait()
		for _, res := range results {
			require.Empty(t, res.errs)
		}
		return results
	}
	first := phase()
	claimed := 0
	for _, res := range first {
		claimed += len(res.claims)
		assert.Zero(t, res.finished, "the frozen chunk is not done")
		for _, c := range res.claims {
			assert.NotEqual(t, 0, c.Chunk, "the frozen chunk is held")
		}
	}
	assert.Equal(t, 19, claimed, "the others did every other chunk")
	r := getRun(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunRunning, r.Status)
	assert.Equal(t, 39, r.Counters.Items)

	h.Advance(expire)
	second := phase()
	var takeover []analysis.Claim
	finished := 0
	for _, res := range append(first, second...) {
		finished += res.finished
	}
	for _, res := range second {
		takeover = append(takeover, res.claims...)
	}
	require.Len(t, takeover, 1, "only the frozen chunk was left")
	assert.Equal(t, 0, takeover[0].Chunk)
	assert.Equal(t, 2, takeover[0].Attempt)
	assert.Greater(t, takeover[0].Token, frozen.Token)
	assert.Equal(t, []string{keys[1]}, takeover[0].Keys, "the frozen executor's item is kept, not redone")
	assert.Equal(t, 1, finished, "the run completed exactly once")

	before, items := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunCompleted, before.Status)
	require.NotNil(t, before.FinishedAt)

	// The frozen executor wakes.
	ref := frozen.ChunkRef
	assert.ErrorIs(t, s.SaveItem(ctx(), ref, variedItem(keys[1], 4), nil), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.SaveItem(ctx(), ref, variedItem(keys[0], 4), nil), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.RenewChunk(ctx(), ref, lease), analysis.ErrLeaseLost)
	done, err := s.CompleteChunk(ctx(), ref, t0.Add(2*time.Hour))
	assert.ErrorIs(t, err, analysis.ErrLeaseLost)
	assert.False(t, done)
	assert.ErrorIs(t, s.FailRun(ctx(), ref, "woke up", t0.Add(2*time.Hour)), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.ReleaseChunk(ctx(), ref), analysis.ErrLeaseLost)

	after, items2 := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, normRun(before), normRun(after), "the frozen executor changed nothing")
	assert.Equal(t, items, items2)
	assert.ElementsMatch(t, keys, keysOfItems(items), "every key has exactly one item")
	assert.Len(t, items, len(keys))
	for _, it := range items {
		v := 1
		if it.ConversationKey == keys[0] {
			v = 3
		}
		assert.Equal(t, variedItem(it.ConversationKey, v), it)
	}
	noClaim(t, s)
}
