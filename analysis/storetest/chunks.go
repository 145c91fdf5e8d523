package storetest

import (
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
)

func testRunChunks(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	keys := keyRange("conv", 23)
	ingest(t, s, scopeA, reversed(keys), "t")
	r, err := s.CreateRun(ctx(), scopeA, runOf("r1", "intent", t0), analysis.KeySelection{Tag: "t", Max: 100, ChunkSize: 5})
	require.NoError(t, err)
	assert.Equal(t, 23, r.Progress.Total)
	assert.Equal(t, keys, allKeys(t, s, scopeA, "r1", 4), "ListRunKeys pages through every key, sorted")
	assert.Equal(t, keys, allKeys(t, s, scopeA, "r1", 23), "in one page")
	assert.Equal(t, keys, allKeys(t, s, scopeA, "r1", 1000))
	assert.Equal(t, analysis.RunPending, getRun(t, s, scopeA, "r1").Status)
	assert.Nil(t, getRun(t, s, scopeA, "r1").StartedAt)

	first := claim(t, s, "x")
	assert.Equal(t, analysis.ChunkRef{Scope: scopeA, RunID: "r1", Chunk: 0, Token: first.Token}, first.ChunkRef)
	assert.Equal(t, "intent", first.DefinitionKey)
	assert.Equal(t, int64(1), first.DefinitionVersion)
	assert.Equal(t, keys[0:5], first.Keys, "chunks of ChunkSize keys, in key order")
	assert.Equal(t, 1, first.Attempt)
	assert.False(t, first.ExpiresAt.IsZero(), "ExpiresAt is set")
	started := getRun(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunRunning, started.Status, "running from the first claim")
	require.NotNil(t, started.StartedAt, "StartedAt is set on the first claim")

	// The holder of chunk 0 saves an item of chunk 3: chunk 3 is claimed
	// without it.
	require.NoError(t, s.SaveItem(ctx(), first.ChunkRef, item(keys[0], true, 1), nil))
	require.NoError(t, s.SaveItem(ctx(), first.ChunkRef, item(keys[16], true, 1), nil))
	tokens := map[int64]bool{first.Token: true}
	want := [][]string{keys[5:10], keys[10:15], {keys[15], keys[17], keys[18], keys[19]}, keys[20:23]}
	for i, w := range want {
		c := claim(t, s, "x")
		assert.Equal(t, "r1", c.RunID)
		assert.Equal(t, i+1, c.Chunk, "chunks in index order")
		assert.Equal(t, w, c.Keys, "chunk %d: its keys without an item, sorted", c.Chunk)
		assert.Equal(t, 1, c.Attempt)
		assert.False(t, tokens[c.Token], "each claim gets a fresh token")
		tokens[c.Token] = true
	}
	noClaim(t, s, "every chunk is held")
	again := getRun(t, s, scopeA, "r1")
	require.NotNil(t, again.StartedAt)
	assert.True(t, again.StartedAt.Equal(*started.StartedAt), "StartedAt keeps its first value")
	assert.Equal(t, keys, allKeys(t, s, scopeA, "r1", 6), "the keys stay as selected")
}

func testRunCursors(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	define(t, s, scopeA, "tone")
	keys := keyRange("conv", 12)
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(12, keys...))
	startRun(t, s, scopeA, "r2", "tone", t0.Add(time.Second), keysSel(12, keys...))
	for range 2 {
		c := claim(t, s, "x")
		for _, k := range keys {
			require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, item(k, true, 1), nil))
		}
	}
	settle(t, s, scopeA, "r1")
	settle(t, s, scopeA, "r2")
	_, keysNext, err := s.ListRunKeys(ctx(), scopeA, "r1", analysis.Page{Limit: 5})
	require.NoError(t, err)
	require.NotEmpty(t, keysNext)
	_, itemsNext, err := s.ListRunItems(ctx(), scopeA, "r1", analysis.Page{Limit: 5})
	require.NoError(t, err)
	require.NotEmpty(t, itemsNext)
	_, otherKeys, err := s.ListRunKeys(ctx(), scopeA, "r2", analysis.Page{Limit: 5})
	require.NoError(t, err)
	require.NotEmpty(t, otherKeys)
	_, otherItems, err := s.ListRunItems(ctx(), scopeA, "r2", analysis.Page{Limit: 5})
	require.NoError(t, err)
	require.NotEmpty(t, otherItems)

	// The cursors work.
	page, _, err := s.ListRunKeys(ctx(), scopeA, "r1", analysis.Page{Cursor: keysNext, Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, keys[5:10], page)
	items, _, err := s.ListRunItems(ctx(), scopeA, "r1", analysis.Page{Cursor: itemsNext, Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, keys[5:10], keysOfItems(items))

	garbage := []string{"garbage", "!!!", "%00", "0", "-1", "999999", base64.RawURLEncoding.EncodeToString([]byte("keys\x00r1\x00-5")),
		base64.StdEncoding.EncodeToString([]byte("items")), keysNext + "x"}
	for _, cur := range garbage {
		_, _, err := s.ListRunKeys(ctx(), scopeA, "r1", analysis.Page{Cursor: cur, Limit: 5})
		assert.ErrorIs(t, err, analysis.ErrInvalid, "keys, garbage cursor %q", cur)
		_, _, err = s.ListRunItems(ctx(), scopeA, "r1", analysis.Page{Cursor: cur, Limit: 5})
		assert.ErrorIs(t, err, analysis.ErrInvalid, "items, garbage cursor %q", cur)
	}
	_, _, err = s.ListRunItems(ctx(), scopeA, "r1", analysis.Page{Cursor: keysNext, Limit: 5})
	assert.ErrorIs(t, err, analysis.ErrInvalid, "a keys cursor used for items")
	_, _, err = s.ListRunKeys(ctx(), scopeA, "r1", analysis.Page{Cursor: itemsNext, Limit: 5})
	assert.ErrorIs(t, err, analysis.ErrInvalid, "an items cursor used for keys")
	_, _, err = s.ListRunKeys(ctx(), scopeA, "r1", analysis.Page{Cursor: otherKeys, Limit: 5})
	assert.ErrorIs(t, err, analysis.ErrInvalid, "a keys cursor of another run")
	_, _, err = s.ListRunItems(ctx(), scopeA, "r1", analysis.Page{Cursor: otherItems, Limit: 5})
	assert.ErrorIs(t, err, analysis.ErrInvalid, "an items cursor of another run")

	for _, scope := range []analysis.Scope{scopeA, scopeB} {
		_, _, err = s.ListRunKeys(ctx(), scope, "nope", analysis.Page{Limit: 5})
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		_, _, err = s.ListRunItems(ctx(), scope, "nope", analysis.Page{Limit: 5})
		assert.ErrorIs(t, err, analysis.ErrNotFound)
	}
}

func testRunClaimOrder(t *testing.T, h Harness) {
	s := h.Store
	noClaim(t, s, "nothing to claim")
	define(t, s, scopeA, "early")
	define(t, s, scopeA, "tie-a")
	define(t, s, scopeA, "tie-b")
	define(t, s, scopeB, "late")
	// The IDs sort otherwise than the runs' creation: order is by
	// CreatedAt, and only ties by ID.
	startRun(t, s, scopeB, "r-1", "late", t0.Add(time.Minute), keysSel(1, "x"))
	startRun(t, s, scopeA, "r-9", "early", t0, keysSel(1, "a", "b", "c"))
	startRun(t, s, scopeA, "r-5", "tie-b", t0.Add(2*time.Minute), keysSel(1, "y"))
	startRun(t, s, scopeA, "r-4", "tie-a", t0.Add(2*time.Minute), keysSel(1, "z"))

	type at struct {
		scope   analysis.Scope
		run     string
		chunk   int
		attempt int
	}
	claimed := func() at {
		t.Helper()
		c := claim(t, s, "x")
		return at{c.Scope, c.RunID, c.Chunk, c.Attempt}
	}
	var got []at
	var claims []analysis.Claim
	for range 6 {
		c := claim(t, s, "x")
		claims = append(claims, c)
		got = append(got, at{c.Scope, c.RunID, c.Chunk, c.Attempt})
	}
	assert.Equal(t, []at{
		{scopeA, "r-9", 0, 1}, {scopeA, "r-9", 1, 1}, {scopeA, "r-9", 2, 1},
		{scopeB, "r-1", 0, 1}, {scopeA, "r-4", 0, 1}, {scopeA, "r-5", 0, 1},
	}, got, "the first chunk of the oldest run of any scope (ties by ID), in index order")
	noClaim(t, s, "every chunk is held")

	// r-9's chunk 1 completes; then every lease lapses.
	finished, err := s.CompleteChunk(ctx(), claims[1].ChunkRef, t0)
	require.NoError(t, err)
	require.False(t, finished)
	noClaim(t, s, "a completed chunk is not claimable")
	h.Advance(expire)
	got = nil
	for range 5 {
		got = append(got, claimed())
	}
	assert.Equal(t, []at{
		{scopeA, "r-9", 0, 2}, {scopeA, "r-9", 2, 2},
		{scopeB, "r-1", 0, 2}, {scopeA, "r-4", 0, 2}, {scopeA, "r-5", 0, 2},
	}, got, "lapsed chunks are claimed again in the same order, completed ones never")
	noClaim(t, s)
}

func testRunConcurrentClaim(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "d")
	startRun(t, s, scopeA, "r1", "d", t0, keysSel(1, keyRange("k", 10)...))
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	var claims []analysis.Claim
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, ok, err := s.ClaimChunk(ctx(), fmt.Sprint("e", i), lease)
			assert.NoError(t, err)
			if ok {
				mu.Lock()
				claims = append(claims, c)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Len(t, claims, 10, "ten chunks, ten claims")
	chunks, tokens := map[int]bool{}, map[int64]bool{}
	for _, c := range claims {
		assert.False(t, chunks[c.Chunk], "chunk %d claimed twice", c.Chunk)
		assert.False(t, tokens[c.Token], "token %d given twice", c.Token)
		chunks[c.Chunk], tokens[c.Token] = true, true
		assert.Equal(t, 1, c.Attempt)
	}
}

func testRunLeases(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "d")
	startRun(t, s, scopeA, "r1", "d", t0, keysSel(10, "k1", "k2"))
	c1 := claim(t, s, "x")
	assert.Equal(t, 1, c1.Attempt)
	started := getRun(t, s, scopeA, "r1").StartedAt
	require.NotNil(t, started)
	noClaim(t, s, "the chunk is held")
	h.Advance(lease / 2)
	noClaim(t, s, "the lease has not lapsed")
	require.NoError(t, s.SaveItem(ctx(), c1.ChunkRef, item("k1", true, 1), nil), "still held")

	h.Advance(lease)
	c2 := claim(t, s, "y")
	assert.Equal(t, c1.ChunkRef.Chunk, c2.Chunk)
	assert.Equal(t, "r1", c2.RunID)
	assert.Equal(t, 2, c2.Attempt, "the attempt is counted")
	assert.Greater(t, c2.Token, c1.Token, "a new claim of the chunk gets a greater token")
	assert.Equal(t, []string{"k2"}, c2.Keys, "only the keys without an item")
	assert.GreaterOrEqual(t, c2.ExpiresAt.Sub(c1.ExpiresAt), lease+lease/2, "leases run from the store's now")
	assert.ErrorIs(t, s.SaveItem(ctx(), c1.ChunkRef, item("k2", true, 1), nil), analysis.ErrLeaseLost, "x lost it")
	require.NoError(t, s.SaveItem(ctx(), c2.ChunkRef, item("k2", true, 1), nil), "y holds it")
	r := getRun(t, s, scopeA, "r1")
	require.NotNil(t, r.StartedAt)
	assert.True(t, r.StartedAt.Equal(*started), "StartedAt keeps its first value")
	assert.Equal(t, analysis.RunRunning, r.Status)
	finished, err := s.CompleteChunk(ctx(), c2.ChunkRef, t0)
	require.NoError(t, err)
	assert.True(t, finished)
}

func testRunLeaseLapsedUnclaimed(t *testing.T, h Harness) {
	// A write after the lease lapsed fails even though nobody claimed the
	// chunk since.
	s := h.Store
	define(t, s, scopeA, "d")
	startRun(t, s, scopeA, "r1", "d", t0, keysSel(10, "k1", "k2", "k3"))
	c := claim(t, s, "x")
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, item("k1", true, 1), nil))
	before, items := checkCounters(t, s, scopeA, "r1")
	h.Advance(expire)
	assert.ErrorIs(t, s.SaveItem(ctx(), c.ChunkRef, item("k2", true, 1), nil), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.SaveItem(ctx(), c.ChunkRef, item("k1", false, 9), nil), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.RenewChunk(ctx(), c.ChunkRef, lease), analysis.ErrLeaseLost, "a lapsed lease is not renewed")
	_, err := s.CompleteChunk(ctx(), c.ChunkRef, t0)
	assert.ErrorIs(t, err, analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.FailRun(ctx(), c.ChunkRef, "x", t0), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.ReleaseChunk(ctx(), c.ChunkRef), analysis.ErrLeaseLost)
	after, items2 := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, normRun(before), normRun(after), "the refused writes changed nothing")
	assert.Equal(t, items, items2)
	assert.Equal(t, analysis.RunRunning, after.Status)

	c2 := claim(t, s, "y")
	assert.Equal(t, 0, c2.Chunk)
	assert.Equal(t, 2, c2.Attempt, "the failed Release took back no attempt")
	assert.Equal(t, []string{"k2", "k3"}, c2.Keys)
	finished, err := s.CompleteChunk(ctx(), c2.ChunkRef, t0)
	require.NoError(t, err)
	assert.True(t, finished, "the refused Complete did not complete the chunk")
}

func testRunRenew(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "d")
	startRun(t, s, scopeA, "r1", "d", t0, keysSel(10, "k1", "k2"))
	c := claim(t, s, "x")
	h.Advance(40 * time.Second)
	require.NoError(t, s.RenewChunk(ctx(), c.ChunkRef, lease))
	h.Advance(40 * time.Second) // past the first expiry, before the renewed one
	noClaim(t, s, "the renewed lease holds")
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, item("k1", true, 1), nil), "the renewed lease holds")
	require.NoError(t, s.RenewChunk(ctx(), c.ChunkRef, 2*lease), "renewed again, longer")
	h.Advance(lease + 30*time.Second)
	noClaim(t, s, "the longer lease holds")
	h.Advance(lease)
	assert.ErrorIs(t, s.RenewChunk(ctx(), c.ChunkRef, lease), analysis.ErrLeaseLost, "too late")
	c2 := claim(t, s, "y")
	assert.Equal(t, 2, c2.Attempt)
	assert.Equal(t, []string{"k2"}, c2.Keys)
	assert.ErrorIs(t, s.RenewChunk(ctx(), c.ChunkRef, lease), analysis.ErrLeaseLost, "x lost it")
	require.NoError(t, s.RenewChunk(ctx(), c2.ChunkRef, lease))
}

func testRunStaleToken(t *testing.T, h Harness) {
	// An executor whose lease lapsed and whose chunk was claimed again by
	// another: every write it tries fails and changes nothing.
	s := h.Store
	define(t, s, scopeA, "d")
	keys := keyRange("k", 6)
	startRun(t, s, scopeA, "r1", "d", t0, keysSel(3, keys...))
	old := claim(t, s, "old")
	require.Equal(t, 0, old.Chunk)
	require.NoError(t, s.SaveItem(ctx(), old.ChunkRef, variedItem(keys[0], 1), nil))
	h.Advance(expire)
	cur := claim(t, s, "new")
	require.Equal(t, 0, cur.Chunk, "the lapsed chunk comes first")
	assert.Equal(t, 2, cur.Attempt)
	assert.Greater(t, cur.Token, old.Token)
	assert.Equal(t, keys[1:3], cur.Keys)
	before, items := checkCounters(t, s, scopeA, "r1")

	stale := old.ChunkRef
	assert.ErrorIs(t, s.SaveItem(ctx(), stale, variedItem(keys[1], 2), nil), analysis.ErrLeaseLost, "SaveItem")
	assert.ErrorIs(t, s.SaveItem(ctx(), stale, variedItem(keys[0], 3), nil), analysis.ErrLeaseLost, "SaveItem replacing")
	assert.ErrorIs(t, s.RenewChunk(ctx(), stale, lease), analysis.ErrLeaseLost, "RenewChunk")
	_, err := s.CompleteChunk(ctx(), stale, t0)
	assert.ErrorIs(t, err, analysis.ErrLeaseLost, "CompleteChunk")
	assert.ErrorIs(t, s.ReleaseChunk(ctx(), stale), analysis.ErrLeaseLost, "ReleaseChunk")
	assert.ErrorIs(t, s.FailRun(ctx(), stale, "stale", t0), analysis.ErrLeaseLost, "FailRun")
	// A token from the future is no better.
	future := cur.ChunkRef
	future.Token += 1000
	assert.ErrorIs(t, s.SaveItem(ctx(), future, variedItem(keys[1], 4), nil), analysis.ErrLeaseLost, "a token never given")
	other := cur.ChunkRef
	other.Chunk = 1
	assert.ErrorIs(t, s.SaveItem(ctx(), other, variedItem(keys[3], 4), nil), analysis.ErrLeaseLost, "an unclaimed chunk")
	other.Chunk = 7
	assert.Error(t, s.SaveItem(ctx(), other, variedItem(keys[3], 4), nil), "a chunk the run does not have")

	after, items2 := checkCounters(t, s, scopeA, "r1")
	assert.Equal(t, normRun(before), normRun(after), "nothing changed")
	assert.Equal(t, items, items2)
	assert.Equal(t, analysis.RunRunning, after.Status, "the stale FailRun did not end the run")

	next := claim(t, s, "third")
	assert.Equal(t, 1, next.Chunk, "chunk 0 is still held by its new holder: the stale Release did not free it")
	noClaim(t, s)
	require.NoError(t, s.SaveItem(ctx(), cur.ChunkRef, variedItem(keys[1], 5), nil), "the new holder writes")
	require.NoError(t, s.RenewChunk(ctx(), cur.ChunkRef, lease))
	finished, err := s.CompleteChunk(ctx(), cur.ChunkRef, t0)
	require.NoError(t, err, "the stale Complete did not complete the chunk")
	assert.False(t, finished)
	finished, err = s.CompleteChunk(ctx(), next.ChunkRef, t0)
	require.NoError(t, err)
	assert.True(t, finished)
	checkCounters(t, s, scopeA, "r1")
}

func testRunRelease(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "d")
	startRun(t, s, scopeA, "r1", "d", t0, keysSel(10, "call-1", "call-2"))
	c1 := claim(t, s, "x")
	assert.Equal(t, 1, c1.Attempt)
	require.NoError(t, s.SaveItem(ctx(), c1.ChunkRef, item("call-1", true, 1), nil))
	require.NoError(t, s.ReleaseChunk(ctx(), c1.ChunkRef))
	assert.ErrorIs(t, s.SaveItem(ctx(), c1.ChunkRef, item("call-2", true, 1), nil), analysis.ErrLeaseLost, "a released chunk is no longer held")
	assert.ErrorIs(t, s.ReleaseChunk(ctx(), c1.ChunkRef), analysis.ErrLeaseLost, "released once")
	assert.ErrorIs(t, s.RenewChunk(ctx(), c1.ChunkRef, lease), analysis.ErrLeaseLost)
	_, err := s.CompleteChunk(ctx(), c1.ChunkRef, t0)
	assert.ErrorIs(t, err, analysis.ErrLeaseLost)
	r := getRun(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunRunning, r.Status, "it stays running")

	c2 := claim(t, s, "y")
	assert.Equal(t, 0, c2.Chunk, "claimable at once, long before the old lease would have lapsed")
	assert.Equal(t, 1, c2.Attempt, "the release took back the first attempt")
	assert.Greater(t, c2.Token, c1.Token)
	assert.Equal(t, []string{"call-2"}, c2.Keys)
	h.Advance(expire)
	c3 := claim(t, s, "z")
	assert.Equal(t, 2, c3.Attempt, "a lapsed claim counts")
	require.NoError(t, s.ReleaseChunk(ctx(), c3.ChunkRef))
	c4 := claim(t, s, "w")
	assert.Equal(t, 2, c4.Attempt, "the release took back the third attempt")
	assert.ErrorIs(t, s.ReleaseChunk(ctx(), c2.ChunkRef), analysis.ErrLeaseLost, "a stale claim")
	wrong := c4.ChunkRef
	wrong.Scope = scopeB
	err = s.ReleaseChunk(ctx(), wrong)
	assert.ErrorIs(t, err, analysis.ErrLeaseLost, "a ref of another scope holds nothing")
	noClaim(t, s, "c4 still holds it")
	finished, err := s.CompleteChunk(ctx(), c4.ChunkRef, t0)
	require.NoError(t, err)
	assert.True(t, finished)
}
