package storetest

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
)

// normRun makes a run comparable: see norm.
func normRun(r analysis.Run) analysis.Run {
	r.Counters = norm(r.Counters)
	return r
}

func testRunCreateGetList(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	define(t, s, scopeA, "tone")
	r1 := runOf("r1", "intent", t0)
	r1.Selection.ConversationKeys = []string{"call-1", "call-2"}
	created, err := s.CreateRun(ctx(), scopeA, r1, keysSel(10, "call-1", "call-2"))
	require.NoError(t, err)
	want := r1
	want.Progress = analysis.Progress{Total: 2}
	assert.Equal(t, normRun(want), normRun(created), "CreateRun returns the run, pending, with Progress.Total")
	got := getRun(t, s, scopeA, "r1")
	assert.Equal(t, normRun(want), normRun(got), "GetRun returns it as stored, without items")
	assert.Nil(t, got.Items)
	assert.Nil(t, got.Aggregate, "no aggregate while in progress")

	_, err = s.CreateRun(ctx(), scopeA, runOf("r1", "tone", t0), keysSel(10, "x"))
	assert.ErrorIs(t, err, analysis.ErrConflict, "the ID is taken")
	_, err = s.GetRun(ctx(), scopeA, "r9")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	runs, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{DefinitionKey: "tone", Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, runs, "the refused run is not stored")

	completeRun(t, s, scopeA, "r1", t0.Add(time.Minute))
	startRun(t, s, scopeA, "r2", "intent", t0.Add(2*time.Minute), keysSel(10, "call-1"))
	startRun(t, s, scopeA, "r3", "tone", t0.Add(3*time.Minute), keysSel(10, "call-1"))

	scope := scopeA
	ids := func(rs []analysis.Run) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
			assert.Nil(t, r.Items, "lists leave items out")
			assert.Equal(t, normRun(getRun(t, s, scope, r.ID)), normRun(r), "listed as GetRun returns it")
		}
		return out
	}
	all, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"r3", "r2", "r1"}, ids(all), "newest first")
	byDef, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{DefinitionKey: "intent", Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"r2", "r1"}, ids(byDef))
	done, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Status: analysis.RunCompleted, FinishedAfter: t0, Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"r1"}, ids(done))
	pending, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Status: analysis.RunPending, Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"r3", "r2"}, ids(pending))
	late, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{FinishedAfter: t0.Add(time.Hour), Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, late)
	limited, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"r3"}, ids(limited))

	// Ties of CreatedAt are broken by ID.
	define(t, s, scopeC, "a")
	define(t, s, scopeC, "b")
	startRun(t, s, scopeC, "run-b", "b", t0, keysSel(10, "x"))
	startRun(t, s, scopeC, "run-a", "a", t0, keysSel(10, "x"))
	scope = scopeC
	tied, err := s.ListRuns(ctx(), scopeC, analysis.RunQuery{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"run-a", "run-b"}, ids(tied))
}

func testRunCreateChecks(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	define(t, s, scopeB, "only-b")
	_, err := s.CreateRun(ctx(), scopeA, runOf("r1", "nope", t0), keysSel(10, "k"))
	assert.ErrorIs(t, err, analysis.ErrNotFound, "no such definition")
	_, err = s.CreateRun(ctx(), scopeA, runOf("r1", "only-b", t0), keysSel(10, "k"))
	assert.ErrorIs(t, err, analysis.ErrNotFound, "another scope's definition")
	_, err = s.CreateRun(ctx(), scopeA, runOf("r1", "def-intent", t0), keysSel(10, "k"))
	assert.Error(t, err, "DefinitionKey is a key, not an ID")
	runs, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, runs, "the refused runs are not stored")
	noClaim(t, s, "the refused runs left no chunk")
	r := startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, "k"))
	assert.Equal(t, analysis.RunPending, r.Status)
}

func testRunStartVsDelete(t *testing.T, h Harness) {
	// Of a run creation and a delete of its definition racing, exactly one
	// succeeds: the loser sees why.
	s := h.Store
	const rounds = 100
	runsWon, deletesWon := 0, 0
	for i := range rounds {
		key := fmt.Sprintf("race-%03d", i)
		d := definition("id-"+key, key, t0)
		require.NoError(t, s.CreateDefinition(ctx(), scopeA, d))
		runID := "run-" + key
		start := make(chan struct{})
		var runErr, delErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, runErr = s.CreateRun(ctx(), scopeA, runOf(runID, key, t0.Add(time.Duration(i)*time.Second)), keysSel(10, "k"))
		}()
		go func() {
			defer wg.Done()
			<-start
			delErr = s.DeleteDefinition(ctx(), scopeA, d.ID, 0)
		}()
		close(start)
		wg.Wait()
		switch {
		case runErr == nil && delErr == nil:
			t.Fatalf("round %d: both the run and the delete of its definition succeeded", i)
		case delErr == nil:
			deletesWon++
			require.ErrorIs(t, runErr, analysis.ErrNotFound, "round %d: the delete won, so the definition is not found", i)
			_, err := s.GetRun(ctx(), scopeA, runID)
			require.ErrorIs(t, err, analysis.ErrNotFound, "round %d: the refused run is not stored", i)
			_, err = s.GetDefinition(ctx(), scopeA, key)
			require.ErrorIs(t, err, analysis.ErrNotFound, "round %d", i)
		case runErr == nil:
			runsWon++
			require.ErrorIs(t, delErr, analysis.ErrRunInProgress, "round %d: the run won, so the definition has a run in progress", i)
			_, err := s.GetDefinition(ctx(), scopeA, key)
			require.NoError(t, err, "round %d: the refused delete deleted nothing", i)
			r := getRun(t, s, scopeA, runID)
			require.Equal(t, analysis.RunPending, r.Status)
		default:
			t.Fatalf("round %d: neither succeeded: run %v, delete %v", i, runErr, delErr)
		}
	}
	t.Logf("%d runs won, %d deletes won", runsWon, deletesWon)
}

func testRunOneInProgress(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	define(t, s, scopeA, "tone")
	define(t, s, scopeB, "intent")
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, "k"))
	_, err := s.CreateRun(ctx(), scopeA, runOf("r2", "intent", t0), keysSel(10, "k"))
	assert.ErrorIs(t, err, analysis.ErrRunInProgress, "pending")
	startRun(t, s, scopeA, "r3", "tone", t0, keysSel(10, "k"))
	startRun(t, s, scopeB, "r4", "intent", t0, keysSel(10, "k"))
	_, err = s.GetRun(ctx(), scopeA, "r2")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "a refused run is not stored")

	c := claim(t, s, "x")
	// Ties between r1, r3 and r4 are broken by ID: r1 comes first.
	require.Equal(t, scopeA, c.Scope, "the oldest run, ties by ID")
	require.Equal(t, "r1", c.RunID, "the oldest run, ties by ID")
	_, err = s.CreateRun(ctx(), scopeA, runOf("r5", "intent", t0), keysSel(10, "k"))
	assert.ErrorIs(t, err, analysis.ErrRunInProgress, "running")
	require.NoError(t, s.FailRun(ctx(), c.ChunkRef, "boom", t0))
	startRun(t, s, scopeA, "r6", "intent", t0, keysSel(10, "k"))
}

func testRunConcurrentCreate(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = s.CreateRun(ctx(), scopeA, runOf(fmt.Sprint("r", i), "intent", t0), keysSel(10, "k"))
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			assert.ErrorIs(t, err, analysis.ErrRunInProgress)
		}
	}
	assert.Equal(t, 1, ok, "exactly one of %d concurrent runs of one definition is created", n)
	runs, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, runs, 1)
}

func testSelectionKeys(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	keys := keyRange("conv", 10)
	ingest(t, s, scopeA, keys[:5], "vip")
	ingest(t, s, scopeA, keys[5:])
	sel := keysSel(2, keys[1], keys[3], keys[6])
	sel.Tag, sel.UnanalyzedBy = "vip", "intent"
	r, err := s.CreateRun(ctx(), scopeA, runOf("r1", "intent", t0), sel)
	require.NoError(t, err)
	assert.Equal(t, 3, r.Progress.Total)
	assert.Equal(t, []string{keys[1], keys[3], keys[6]}, allKeys(t, s, scopeA, "r1", 100), "explicit keys, the filters ignored")
	assert.Equal(t, 3, getRun(t, s, scopeA, "r1").Progress.Total)
	c := claim(t, s, "x")
	assert.Equal(t, []string{keys[1], keys[3]}, c.Keys)
	c = claim(t, s, "x")
	assert.Equal(t, []string{keys[6]}, c.Keys)
	noClaim(t, s)
}

func testSelectionTag(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	keys := keyRange("conv", 12)
	var vip, plain []string
	for i, k := range keys {
		if i%3 == 0 {
			vip = append(vip, k)
		} else {
			plain = append(plain, k)
		}
	}
	// Stored out of order: the selection is sorted by the store.
	ingest(t, s, scopeA, reversed(vip), "vip", "other")
	ingest(t, s, scopeA, plain, "other")
	ingest(t, s, scopeB, []string{"conv-000-b", "conv-100"}, "vip")
	sel := analysis.KeySelection{Tag: "vip", Max: 100, ChunkSize: 3}
	r, err := s.CreateRun(ctx(), scopeA, runOf("r1", "intent", t0), sel)
	require.NoError(t, err)
	assert.Equal(t, len(vip), r.Progress.Total)
	assert.Equal(t, vip, allKeys(t, s, scopeA, "r1", 3), "the tagged conversations of the scope, sorted")
	require.NoError(t, s.CancelRun(ctx(), scopeA, "r1", "done", t0))

	all := analysis.KeySelection{Max: 100, ChunkSize: 5}
	r, err = s.CreateRun(ctx(), scopeA, runOf("r2", "intent", t0), all)
	require.NoError(t, err)
	assert.Equal(t, len(keys), r.Progress.Total)
	assert.Equal(t, keys, allKeys(t, s, scopeA, "r2", 5), "no filter: every conversation of the scope")
}

func reversed(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[len(keys)-1-i] = k
	}
	return out
}

func testSelectionUnanalyzed(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	define(t, s, scopeA, "tone")
	define(t, s, scopeB, "intent")
	keys := keyRange("conv", 6)
	ingest(t, s, scopeA, keys[:3], "vip")
	ingest(t, s, scopeA, keys[3:])
	ingest(t, s, scopeB, keys[:3])

	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, keys[0], keys[1], keys[2]))
	c := claim(t, s, "x")
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, item(keys[0], true, 1), nil))
	failed := analysis.Item{ConversationKey: keys[1], Error: "the model call failed", ExtractedFields: map[string]any{}, Missing: []string{}}
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, failed, nil))
	finished, err := s.CompleteChunk(ctx(), c.ChunkRef, t0)
	require.NoError(t, err)
	require.True(t, finished)

	unanalyzed := func(scope analysis.Scope, id, defKey, tag string) []string {
		t.Helper()
		sel := analysis.KeySelection{UnanalyzedBy: defKey, Tag: tag, Max: 100, ChunkSize: 10}
		r := runOf(id, defKey, t0.Add(time.Minute))
		_, err := s.CreateRun(ctx(), scope, r, sel)
		require.NoError(t, err)
		got := allKeys(t, s, scope, id, 2)
		require.NoError(t, s.CancelRun(ctx(), scope, id, "done", t0))
		return got
	}
	assert.Equal(t, []string{keys[1], keys[2], keys[3], keys[4], keys[5]}, unanalyzed(scopeA, "r2", "intent", ""),
		"an item without error marks its conversation analysed; one with an error does not")
	assert.Equal(t, []string{keys[1], keys[2]}, unanalyzed(scopeA, "r3", "intent", "vip"), "with a tag too")
	assert.Equal(t, keys, unanalyzed(scopeA, "r4", "tone", ""), "per definition")
	assert.Equal(t, keys[:3], unanalyzed(scopeB, "r5", "intent", ""), "per scope")

	listed, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 100}, UnanalyzedBy: "intent"})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{keys[1], keys[2], keys[3], keys[4], keys[5]}, keysOfConversations(listed), "ListConversations filters alike")
}

func keysOfConversations(cs []analysis.Conversation) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Key)
	}
	return out
}

func testSelectionSample(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	keys := keyRange("conv", 30)
	var vip, plain []string
	for i, k := range keys {
		if i%2 == 0 {
			vip = append(vip, k)
		} else {
			plain = append(plain, k)
		}
	}
	ingest(t, s, scopeA, vip, "vip")
	ingest(t, s, scopeA, plain)
	n := 0
	sample := func(tag string, size int, seed uint64) []string {
		t.Helper()
		n++
		id := fmt.Sprint("r", n)
		sel := analysis.KeySelection{Tag: tag, SampleSize: size, Seed: seed, Max: 100, ChunkSize: 4}
		r, err := s.CreateRun(ctx(), scopeA, runOf(id, "intent", t0), sel)
		require.NoError(t, err)
		got := allKeys(t, s, scopeA, id, 3)
		assert.Equal(t, len(got), r.Progress.Total)
		require.NoError(t, s.CancelRun(ctx(), scopeA, id, "done", t0))
		return got
	}
	for _, seed := range []uint64{0, 1, 42, 1 << 52} {
		assert.Equal(t, analysis.SampleKeys(keys, 7, seed), sample("", 7, seed), "seed %d: the sample SampleKeys draws", seed)
		assert.Equal(t, analysis.SampleKeys(vip, 4, seed), sample("vip", 4, seed), "seed %d: a sample of the tagged ones", seed)
	}
	assert.Equal(t, keys, sample("", 100, 3), "a sample larger than the selection is all of it")
}

func testSelectionMax(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	keys := keyRange("conv", 10)
	ingest(t, s, scopeA, keys)
	refuse := func(id string, sel analysis.KeySelection, selected, max int) {
		t.Helper()
		_, err := s.CreateRun(ctx(), scopeA, runOf(id, "intent", t0), sel)
		require.Error(t, err)
		assert.ErrorIs(t, err, analysis.ErrInvalid, "a selection too large is invalid")
		var size *analysis.SelectionSizeError
		if assert.True(t, errors.As(err, &size), "a *SelectionSizeError: %v", err) && selected > 0 {
			assert.Equal(t, analysis.SelectionSizeError{Selected: selected, Max: max}, *size)
		}
		_, err = s.GetRun(ctx(), scopeA, id)
		assert.ErrorIs(t, err, analysis.ErrNotFound, "nothing created")
	}
	refuse("r1", analysis.KeySelection{Max: 9, ChunkSize: 5}, 10, 9)
	refuse("r2", keysSelMax(2, keys[0], keys[1], keys[2]), 3, 2)
	refuse("r3", analysis.KeySelection{SampleSize: 6, Max: 5, ChunkSize: 5}, 0, 5)
	runs, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, runs, "nothing created")
	noClaim(t, s, "nothing created")

	// The definition stays free; exactly Max is allowed.
	r, err := s.CreateRun(ctx(), scopeA, runOf("r4", "intent", t0), analysis.KeySelection{Max: 10, ChunkSize: 5})
	require.NoError(t, err, "the definition is free, and Max conversations may be selected")
	assert.Equal(t, 10, r.Progress.Total)
	require.NoError(t, s.CancelRun(ctx(), scopeA, "r4", "done", t0))
	r, err = s.CreateRun(ctx(), scopeA, runOf("r5", "intent", t0), analysis.KeySelection{SampleSize: 5, Max: 5, ChunkSize: 5})
	require.NoError(t, err, "Max bounds the sample, not what it is drawn from")
	assert.Equal(t, 5, r.Progress.Total)
}

func keysSelMax(max int, keys ...string) analysis.KeySelection {
	sel := keysSel(10, keys...)
	sel.Max = max
	return sel
}

func testSelectionEmpty(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	ingest(t, s, scopeA, []string{"conv-1"})
	r, err := s.CreateRun(ctx(), scopeA, runOf("r1", "intent", t0), analysis.KeySelection{Tag: "none", Max: 10, ChunkSize: 5})
	require.NoError(t, err)
	assert.Equal(t, 0, r.Progress.Total)
	keys, next, err := s.ListRunKeys(ctx(), scopeA, "r1", analysis.Page{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, keys)
	assert.Empty(t, next)
	items, next, err := s.ListRunItems(ctx(), scopeA, "r1", analysis.Page{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, items)
	require.NotEmpty(t, next, "the cursor to poll for items")
	items, again, err := s.ListRunItems(ctx(), scopeA, "r1", analysis.Page{Cursor: next, Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, items)
	assert.NotEmpty(t, again)

	c := claim(t, s, "x")
	assert.Equal(t, "r1", c.RunID)
	assert.Equal(t, 0, c.Chunk, "a run without keys has one empty chunk")
	assert.Empty(t, c.Keys)
	assert.Equal(t, 1, c.Attempt)
	noClaim(t, s, "only one chunk")
	finished, err := s.CompleteChunk(ctx(), c.ChunkRef, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.True(t, finished, "completing the empty chunk completes the run")
	got := getRun(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunCompleted, got.Status)
	require.NotNil(t, got.FinishedAt)
	assert.True(t, got.FinishedAt.Equal(t0.Add(time.Minute)))
	assert.Equal(t, analysis.Progress{}, got.Progress)
	checkAggregate(t, got)
	noClaim(t, s)
}

func testRunSaveItem(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c1", "call-1", t0), conversation("c2", "call-2", t0)}))
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, "call-1", "call-2", "call-3"))
	c := claim(t, s, "x")
	ref := c.ChunkRef

	at := t0.Add(time.Minute)
	first := item("call-1", true, 10)
	require.NoError(t, s.SaveItem(ctx(), ref, first, &analysis.FieldsWrite{Fields: map[string]any{"intent": "billing", "resolved": nil}, At: at}))
	failed := analysis.Item{ConversationKey: "call-2", Error: "the model call failed", ExtractedFields: map[string]any{}, Missing: []string{}, Usage: llm.Usage{InputTokens: 5}}
	require.NoError(t, s.SaveItem(ctx(), ref, failed, nil))
	gone := analysis.Item{ConversationKey: "call-3", Error: "the conversation was deleted", ExtractedFields: map[string]any{}, Missing: []string{}}
	require.NoError(t, s.SaveItem(ctx(), ref, gone, &analysis.FieldsWrite{Fields: map[string]any{"x": 1.0}, At: at}),
		"writing fields onto a missing conversation is skipped, not an error")
	_, err := s.GetConversation(ctx(), scopeA, "call-3")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "the skipped write created no conversation")

	items := allItems(t, s, scopeA, "r1")
	require.Len(t, items, 3)
	assert.Equal(t, first, items[0], "items in the order saved, as saved")
	assert.Equal(t, failed, items[1])
	assert.Equal(t, gone, items[2])
	r, _ := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, 3, r.Progress.Total)
	assert.Equal(t, 3, r.Counters.Items)
	assert.Equal(t, llm.Usage{InputTokens: 15, OutputTokens: 1}, r.Counters.Usage, "usage summed")
	assert.Equal(t, analysis.RunRunning, r.Status, "saving every item does not complete the run")

	conv, err := s.GetConversation(ctx(), scopeA, "call-1")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"intent": "billing", "resolved": nil}, conv.ExtractedFields, "store mode wrote the fields")
	require.NotNil(t, conv.LastAnalyzedAt)
	assert.True(t, conv.LastAnalyzedAt.Equal(at))
	other, err := s.GetConversation(ctx(), scopeA, "call-2")
	require.NoError(t, err)
	assert.Nil(t, other.ExtractedFields, "no write, no fields")
	assert.Nil(t, other.LastAnalyzedAt)

	// A later write merges by key; the item replaces the old one in place.
	again := item("call-1", false, 1)
	require.NoError(t, s.SaveItem(ctx(), ref, again, &analysis.FieldsWrite{Fields: map[string]any{"resolved": true, "tone": "calm"}, At: at.Add(time.Minute)}))
	conv, err = s.GetConversation(ctx(), scopeA, "call-1")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"intent": "billing", "resolved": true, "tone": "calm"}, conv.ExtractedFields)
	require.NotNil(t, conv.LastAnalyzedAt)
	assert.True(t, conv.LastAnalyzedAt.Equal(at.Add(time.Minute)))
	items = allItems(t, s, scopeA, "r1")
	require.Len(t, items, 3, "an item for the same conversation replaces the old one")
	assert.Equal(t, again, items[0], "in its place")
	r, _ = checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, 3, r.Progress.Total)
	assert.Equal(t, 3, r.Counters.Items)
	assert.Equal(t, llm.Usage{InputTokens: 6, OutputTokens: 1}, r.Counters.Usage, "the replaced item's usage is taken off")

	// Only items without an error mark their conversation analysed.
	listed, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}, UnanalyzedBy: "intent"})
	require.NoError(t, err)
	assert.Equal(t, []string{"call-2"}, keysOfConversations(listed))
	listed, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}, UnanalyzedBy: "tone"})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"call-1", "call-2"}, keysOfConversations(listed), "per definition")

	// An item of a conversation the run did not select is refused, and
	// changes nothing.
	before, _ := checkCounters(t, s, scopeA, "r1")
	err = s.SaveItem(ctx(), ref, item("call-9", true, 1), nil)
	assert.ErrorIs(t, err, analysis.ErrInvalid)
	after, _ := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, before.Counters, after.Counters)
	items = allItems(t, s, scopeA, "r1")
	assert.Equal(t, []string{"call-1", "call-2", "call-3"}, keysOfItems(items))
}

func testRunCounters(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, "a", "b", "c", "d", "e"))
	c := claim(t, s, "x")
	one, half, zero := 1.0, 0.5, 0.0
	a := analysis.Item{
		ConversationKey: "a", Passed: true, Judge: &analysis.ItemJudge{Score: 0.8, Passed: true},
		Accuracy: &accuracy.Result{Score: &one, ComparedCount: 2, PerField: map[string]accuracy.FieldResult{
			"intent": {Match: true}, "resolved": {Match: true}}},
		Usage: llm.Usage{InputTokens: 100, OutputTokens: 10, CachedInputTokens: 5},
	}
	b := analysis.Item{
		ConversationKey: "b", Judge: &analysis.ItemJudge{Score: 0.25},
		Accuracy: &accuracy.Result{Score: &half, ComparedCount: 2, PerField: map[string]accuracy.FieldResult{
			"intent": {Match: true}, "resolved": {Match: false}}},
		Usage: llm.Usage{InputTokens: 50, OutputTokens: 5},
	}
	failed := analysis.Item{ConversationKey: "c", Error: "boom", Passed: true, Judge: &analysis.ItemJudge{Score: 1},
		Accuracy: &accuracy.Result{Score: &one, ComparedCount: 1, PerField: map[string]accuracy.FieldResult{"intent": {Match: true}}},
		Usage:    llm.Usage{InputTokens: 7}}
	judgeErr := analysis.Item{ConversationKey: "d", JudgeError: "judge down", Usage: llm.Usage{InputTokens: 1, OutputTokens: 1},
		Accuracy: &accuracy.Result{Score: nil, ComparedCount: 0}}
	for _, it := range []analysis.Item{a, b, failed, judgeErr} {
		require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, it, nil))
	}
	want := analysis.Counters{
		Items: 4, Completed: 3, Passed: 1, Judged: 2, JudgeScoreSum: 1_050_000, JudgeErrors: 1,
		AccuracyCount: 2, AccuracySum: 1_500_000,
		Fields: map[string]analysis.FieldCount{"intent": {Compared: 2, Matched: 2}, "resolved": {Compared: 2, Matched: 1}},
		Usage:  llm.Usage{InputTokens: 158, OutputTokens: 16, CachedInputTokens: 5},
	}
	r, _ := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, want, norm(r.Counters), "each item adds what it counts; a failed item only itself and its usage")
	assert.Equal(t, 5, r.Progress.Total)
	assert.Equal(t, 4, r.Counters.Items)

	// Replacing an item takes off what the old one counted.
	b2 := analysis.Item{ConversationKey: "b", Passed: true, Judge: &analysis.ItemJudge{Score: 1, Passed: true}, Usage: llm.Usage{InputTokens: 3}}
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, b2, nil))
	want = analysis.Counters{
		Items: 4, Completed: 3, Passed: 2, Judged: 2, JudgeScoreSum: 1_800_000, JudgeErrors: 1,
		AccuracyCount: 1, AccuracySum: 1_000_000,
		Fields: map[string]analysis.FieldCount{"intent": {Compared: 1, Matched: 1}, "resolved": {Compared: 1, Matched: 1}},
		Usage:  llm.Usage{InputTokens: 111, OutputTokens: 11, CachedInputTokens: 5},
	}
	r, _ = checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, want, norm(r.Counters), "the replaced item's contribution is taken off")
	assert.Equal(t, 5, r.Progress.Total)
	assert.Equal(t, 4, r.Counters.Items, "a replacement is not a new item")

	// A failed item replaced by a completed one, and the reverse.
	c2 := analysis.Item{ConversationKey: "c", Accuracy: &accuracy.Result{Score: &zero, ComparedCount: 1, PerField: map[string]accuracy.FieldResult{"intent": {Match: false}}}}
	a2 := analysis.Item{ConversationKey: "a", Error: "second try failed"}
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, c2, nil))
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, a2, nil))
	want = analysis.Counters{
		Items: 4, Completed: 3, Passed: 1, Judged: 1, JudgeScoreSum: 1_000_000, JudgeErrors: 1,
		AccuracyCount: 1, AccuracySum: 0,
		Fields: map[string]analysis.FieldCount{"intent": {Compared: 1, Matched: 0}},
		Usage:  llm.Usage{InputTokens: 4, OutputTokens: 1},
	}
	r, _ = checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, want, norm(r.Counters))

	finished, err := s.CompleteChunk(ctx(), c.ChunkRef, t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, finished)
	r, _ = checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, want, norm(r.Counters), "completing changes no counter")
	agg := r.Counters.Aggregate(r.Progress.Total)
	assert.Equal(t, 5, agg.Total)
	assert.Equal(t, 3, agg.Completed)
	assert.Equal(t, 2, agg.Failed, "a conversation without an item counts as failed")
}

func testRunCountersNonFinite(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	keys := keyRange("conv", 9)
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, keys...))
	c := claim(t, s, "x")
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1.5, -0.1}
	for i, v := range bad {
		it := analysis.Item{ConversationKey: keys[i], Judge: &analysis.ItemJudge{Score: v}}
		acc := v
		it.Accuracy = &accuracy.Result{Score: &acc, ComparedCount: 1, PerField: map[string]accuracy.FieldResult{"intent": {Match: true}}}
		require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, it, nil), "score %v", v)
	}
	r, _ := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, 0, r.Counters.Judged, "a judge score that is not a finite number in [0, 1] is left out")
	assert.Equal(t, int64(0), r.Counters.JudgeScoreSum)
	assert.Equal(t, 0, r.Counters.AccuracyCount, "an accuracy score that is not a finite number in [0, 1] is left out")
	assert.Equal(t, int64(0), r.Counters.AccuracySum)
	assert.Equal(t, len(bad), r.Counters.Completed)

	// Good scores next to them count as usual; the averages stay finite.
	good, quarter := 0.5, 0.25
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, analysis.Item{ConversationKey: keys[5], Judge: &analysis.ItemJudge{Score: good},
		Accuracy: &accuracy.Result{Score: &quarter, ComparedCount: 4}}, nil))
	// A bad score replacing a good one takes the good one off.
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, analysis.Item{ConversationKey: keys[6], Judge: &analysis.ItemJudge{Score: 1}}, nil))
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, analysis.Item{ConversationKey: keys[6], Judge: &analysis.ItemJudge{Score: math.NaN()}}, nil))
	r, _ = checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, 1, r.Counters.Judged)
	assert.Equal(t, int64(500_000), r.Counters.JudgeScoreSum)
	assert.Equal(t, 1, r.Counters.AccuracyCount)
	assert.Equal(t, int64(250_000), r.Counters.AccuracySum)
	agg := r.Counters.Aggregate(r.Progress.Total)
	for name, p := range map[string]*float64{"pass rate": agg.PassRate, "judge score": agg.AvgJudgeScore, "accuracy": agg.AvgExtractionAccuracy} {
		if assert.NotNil(t, p, name) {
			assert.False(t, math.IsNaN(*p) || math.IsInf(*p, 0), "%s is finite: %v", name, *p)
		}
	}
	assert.InDelta(t, 0.5, *agg.AvgJudgeScore, 1e-9)
	assert.InDelta(t, 0.25, *agg.AvgExtractionAccuracy, 1e-9)
}

func testRunComplete(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(1, "a", "b"))
	c0 := claim(t, s, "x")
	c1 := claim(t, s, "y")
	require.Equal(t, []int{0, 1}, []int{c0.Chunk, c1.Chunk})
	require.NoError(t, s.SaveItem(ctx(), c1.ChunkRef, item("b", true, 1), nil))
	finished, err := s.CompleteChunk(ctx(), c1.ChunkRef, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, finished, "a chunk remains")
	r := getRun(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunRunning, r.Status)
	assert.Nil(t, r.FinishedAt)
	_, err = s.CompleteChunk(ctx(), c1.ChunkRef, t0.Add(time.Minute))
	assert.ErrorIs(t, err, analysis.ErrLeaseLost, "a completed chunk is no longer held")
	assert.ErrorIs(t, s.SaveItem(ctx(), c1.ChunkRef, item("b", false, 1), nil), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.RenewChunk(ctx(), c1.ChunkRef, lease), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.ReleaseChunk(ctx(), c1.ChunkRef), analysis.ErrLeaseLost)
	noClaim(t, s, "chunk 0 is held, chunk 1 completed")
	h.Advance(expire)
	// c0's lease lapsed with the Advance: it is re-claimed, but never the
	// completed chunk.
	c0 = claim(t, s, "z")
	require.Equal(t, 0, c0.Chunk)
	noClaim(t, s, "a completed chunk is never claimed again")
	at := t0.Add(2 * time.Minute)
	finished, err = s.CompleteChunk(ctx(), c0.ChunkRef, at)
	require.NoError(t, err)
	assert.True(t, finished, "the last chunk completes the run")
	r, items := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunCompleted, r.Status)
	require.NotNil(t, r.FinishedAt)
	assert.True(t, r.FinishedAt.Equal(at), "FinishedAt is the caller's time")
	assert.Empty(t, r.Error)
	assert.Len(t, items, 1)
	_, err = s.CompleteChunk(ctx(), c0.ChunkRef, at)
	assert.ErrorIs(t, err, analysis.ErrLeaseLost, "completed once")
	assert.ErrorIs(t, s.FailRun(ctx(), c0.ChunkRef, "late", at), analysis.ErrLeaseLost)
	h.Advance(24 * time.Hour)
	noClaim(t, s, "a finished run is never claimed again")
	assert.ErrorIs(t, s.CancelRun(ctx(), scopeA, "r1", "late", at), analysis.ErrConflict, "already finished")
	again := getRun(t, s, scopeA, "r1")
	assert.Equal(t, normRun(r), normRun(again), "the refused writes changed nothing")
	startRun(t, s, scopeA, "r2", "intent", at, keysSel(1, "a"))
}

func testRunFail(t *testing.T, h Harness) {
	s := h.Store
	d := define(t, s, scopeA, "intent")
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(2, keyRange("conv", 6)...))
	x := claim(t, s, "x")
	y := claim(t, s, "y")
	require.NoError(t, s.SaveItem(ctx(), x.ChunkRef, item(x.Keys[0], true, 3), nil))
	at := t0.Add(time.Hour)
	require.NoError(t, s.FailRun(ctx(), x.ChunkRef, "the definition has no extraction model", at))
	r, items := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunFailed, r.Status)
	assert.Equal(t, "the definition has no extraction model", r.Error)
	require.NotNil(t, r.FinishedAt)
	assert.True(t, r.FinishedAt.Equal(at))
	assert.Len(t, items, 1, "the items saved are kept")

	noClaim(t, s, "a failed run's chunks can no longer be claimed")
	h.Advance(expire)
	noClaim(t, s, "nor once the leases lapsed")
	for name, ref := range map[string]analysis.ChunkRef{"the failer": x.ChunkRef, "another holder": y.ChunkRef} {
		assert.ErrorIs(t, s.SaveItem(ctx(), ref, item(y.Keys[0], true, 1), nil), analysis.ErrLeaseLost, name)
		assert.ErrorIs(t, s.RenewChunk(ctx(), ref, lease), analysis.ErrLeaseLost, name)
		assert.ErrorIs(t, s.ReleaseChunk(ctx(), ref), analysis.ErrLeaseLost, name)
		_, err := s.CompleteChunk(ctx(), ref, at)
		assert.ErrorIs(t, err, analysis.ErrLeaseLost, name)
		assert.ErrorIs(t, s.FailRun(ctx(), ref, "again", at.Add(time.Hour)), analysis.ErrLeaseLost, name)
	}
	assert.ErrorIs(t, s.CancelRun(ctx(), scopeA, "r1", "cancel", at), analysis.ErrConflict, "already finished")
	again, items2 := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, normRun(r), normRun(again), "nothing changed")
	assert.Equal(t, items, items2)

	// The definition is free again.
	require.NoError(t, s.UpdateDefinition(ctx(), scopeA, d, 1), "no run in progress")
	r2 := runOf("r2", "intent", at)
	r2.DefinitionVersion = 2
	_, err := s.CreateRun(ctx(), scopeA, r2, keysSel(2, "a"))
	require.NoError(t, err)
}

func testRunCancel(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "d1")
	define(t, s, scopeA, "d2")
	define(t, s, scopeA, "d3")
	startRun(t, s, scopeA, "pending", "d1", t0, keysSel(1, "call-1"))
	startRun(t, s, scopeA, "running", "d2", t0.Add(time.Second), keysSel(1, "call-1", "call-2"))
	at := t0.Add(time.Hour)
	require.NoError(t, s.CancelRun(ctx(), scopeA, "pending", "the run was cancelled", at))
	r := getRun(t, s, scopeA, "pending")
	assert.Equal(t, analysis.RunFailed, r.Status)
	assert.Equal(t, "the run was cancelled", r.Error)
	require.NotNil(t, r.FinishedAt)
	assert.True(t, r.FinishedAt.Equal(at))
	checkAggregate(t, r)

	c := claim(t, s, "x")
	require.Equal(t, "running", c.RunID, "a cancelled run's chunks are not claimed")
	startRun(t, s, scopeA, "next", "d1", t0.Add(time.Hour), keysSel(1, "call-1"))
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, item("call-1", true, 1), nil))
	require.NoError(t, s.CancelRun(ctx(), scopeA, "running", "the run was cancelled", at), "whoever holds it")
	before, items := checkCounters(t, s, scopeA, "running")
	assert.Equal(t, analysis.RunFailed, before.Status)
	assert.Equal(t, "the run was cancelled", before.Error)
	assert.Len(t, items, 1)

	assert.ErrorIs(t, s.SaveItem(ctx(), c.ChunkRef, item("call-2", true, 1), nil), analysis.ErrLeaseLost, "its executor stops at its next write")
	assert.ErrorIs(t, s.RenewChunk(ctx(), c.ChunkRef, lease), analysis.ErrLeaseLost)
	_, err := s.CompleteChunk(ctx(), c.ChunkRef, at)
	assert.ErrorIs(t, err, analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.ReleaseChunk(ctx(), c.ChunkRef), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.FailRun(ctx(), c.ChunkRef, "x", at), analysis.ErrLeaseLost)
	after, items2 := checkCounters(t, s, scopeA, "running")
	assert.Equal(t, normRun(before), normRun(after), "the refused writes changed nothing")
	assert.Equal(t, items, items2)

	next := claim(t, s, "y")
	assert.Equal(t, "next", next.RunID, "the cancelled run's other chunk is not claimed")
	noClaim(t, s)

	assert.ErrorIs(t, s.CancelRun(ctx(), scopeA, "running", "again", at), analysis.ErrConflict, "already finished")
	assert.ErrorIs(t, s.CancelRun(ctx(), scopeA, "nope", "x", at), analysis.ErrNotFound)
	assert.ErrorIs(t, s.CancelRun(ctx(), scopeB, "next", "x", at), analysis.ErrNotFound, "another scope's run")
	assert.Equal(t, analysis.RunRunning, getRun(t, s, scopeA, "next").Status, "untouched")

	startRun(t, s, scopeA, "done", "d3", t0.Add(2*time.Hour), keysSel(1, "call-1"))
	require.NoError(t, s.CancelRun(ctx(), scopeA, "next", "x", at))
	completeRun(t, s, scopeA, "done", at)
	assert.ErrorIs(t, s.CancelRun(ctx(), scopeA, "done", "x", at), analysis.ErrConflict, "a completed run")
	assert.Equal(t, analysis.RunCompleted, getRun(t, s, scopeA, "done").Status)

	// The cancelled runs' definitions are free.
	startRun(t, s, scopeA, "again-1", "d1", at, keysSel(1, "call-1"))
	startRun(t, s, scopeA, "again-2", "d2", at, keysSel(1, "call-1"))
	require.NoError(t, s.CancelRun(ctx(), scopeA, "again-2", "x", at))
	require.NoError(t, s.DeleteDefinition(ctx(), scopeA, "def-d2", 0), "no run in progress")
}

func testRunCopies(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	ingest(t, s, scopeA, []string{"a"})
	seed := uint64(7)
	r := runOf("r1", "intent", t0)
	r.Selection = analysis.Selection{Strategy: analysis.SelectKeys, ConversationKeys: []string{"a", "b"}, Seed: &seed}
	sel := keysSel(2, "a", "b")
	created, err := s.CreateRun(ctx(), scopeA, r, sel)
	require.NoError(t, err)
	r.Selection.ConversationKeys[0] = "mutated"
	*r.Selection.Seed = 9
	sel.Keys[0] = "mutated"
	created.Selection.ConversationKeys[1] = "mutated"
	*created.Selection.Seed = 10
	got := getRun(t, s, scopeA, "r1")
	assert.Equal(t, []string{"a", "b"}, got.Selection.ConversationKeys, "the store kept its own copy")
	require.NotNil(t, got.Selection.Seed)
	assert.Equal(t, uint64(7), *got.Selection.Seed)
	assert.Equal(t, []string{"a", "b"}, allKeys(t, s, scopeA, "r1", 10), "the selected keys were copied")

	keys, _, err := s.ListRunKeys(ctx(), scopeA, "r1", analysis.Page{Limit: 10})
	require.NoError(t, err)
	keys[0] = "mutated"
	assert.Equal(t, []string{"a", "b"}, allKeys(t, s, scopeA, "r1", 10), "returned keys are a copy")

	c := claim(t, s, "x")
	c.Keys[0] = "mutated"
	require.NoError(t, s.ReleaseChunk(ctx(), c.ChunkRef))
	c = claim(t, s, "x")
	assert.Equal(t, []string{"a", "b"}, c.Keys, "a claim's keys are a copy")

	it := item("a", true, 3)
	fields := map[string]any{"intent": "billing"}
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, it, &analysis.FieldsWrite{Fields: fields, At: t0}))
	it.ExtractedFields["intent"] = "mutated"
	it.Missing = append(it.Missing, "mutated")
	it.Judge.Score = 0.1
	*it.Accuracy.Score = 0.1
	it.Accuracy.PerField["intent"] = accuracy.FieldResult{Expected: "mutated"}
	fields["intent"] = "mutated"
	want := item("a", true, 3)
	items := allItems(t, s, scopeA, "r1")
	require.Len(t, items, 1)
	assert.Equal(t, want, items[0], "the store kept its own copy of the item")
	conv, err := s.GetConversation(ctx(), scopeA, "a")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"intent": "billing"}, conv.ExtractedFields, "and of the fields written")

	items[0].ExtractedFields["intent"] = "mutated"
	items[0].Judge.Score = 0.1
	*items[0].Accuracy.Score = 0.1
	items[0].Accuracy.PerField["intent"] = accuracy.FieldResult{Expected: "mutated"}
	again := allItems(t, s, scopeA, "r1")
	assert.Equal(t, want, again[0], "returned items are copies")

	run := getRun(t, s, scopeA, "r1")
	require.NotNil(t, run.StartedAt)
	started := *run.StartedAt
	*run.StartedAt = started.Add(time.Hour)
	run.Counters.Fields["intent"] = analysis.FieldCount{Compared: 99}
	run.Selection.ConversationKeys[0] = "mutated"
	runs, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	runs[0].Counters.Fields["intent"] = analysis.FieldCount{Compared: 98}
	run = getRun(t, s, scopeA, "r1")
	assert.True(t, run.StartedAt.Equal(started), "a returned run is a copy")
	assert.Equal(t, analysis.FieldCount{Compared: 1, Matched: 1}, run.Counters.Fields["intent"], "its counters too")
	assert.Equal(t, []string{"a", "b"}, run.Selection.ConversationKeys)
}
