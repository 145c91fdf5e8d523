package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
)

func slotRun(id, defKey string, slot, created time.Time) analysis.Run {
	r := runOf(id, defKey, created)
	r.Trigger = analysis.Trigger{Type: analysis.TriggerSchedule, Slot: &slot}
	return r
}

// createSlotRun creates a run fired for slot.
func createSlotRun(s analysis.Store, scope analysis.Scope, id, defKey string, slot, created time.Time) error {
	_, err := s.CreateRun(ctx(), scope, slotRun(id, defKey, slot, created), keysSel(10, "k"))
	return err
}

func testSlots(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "nightly")
	define(t, s, scopeA, "other")
	define(t, s, scopeB, "nightly")
	slot1 := t0
	slot2 := t0.Add(24 * time.Hour)
	recs, err := s.ListSlots(ctx(), scopeA, "nightly", 10)
	require.NoError(t, err)
	assert.Empty(t, recs)
	assert.NotNil(t, recs)

	require.NoError(t, createSlotRun(s, scopeA, "r1", "nightly", slot1, slot1.Add(time.Second)))
	completeRun(t, s, scopeA, "r1", slot1.Add(time.Minute))
	assert.ErrorIs(t, createSlotRun(s, scopeA, "r2", "nightly", slot1, slot1.Add(time.Hour)), analysis.ErrSlotTaken, "one run per slot")
	_, err = s.GetRun(ctx(), scopeA, "r2")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "the refused run is not stored")
	recs, err = s.ListSlots(ctx(), scopeA, "nightly", 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.True(t, recs[0].Slot.Equal(slot1))
	assert.Equal(t, "r1", recs[0].RunID)
	assert.Empty(t, recs[0].Skipped)
	assert.True(t, recs[0].At.Equal(slot1.Add(time.Second)), "when the run was created")

	skippedAt := slot2.Add(2 * time.Hour)
	require.NoError(t, s.SkipSlot(ctx(), scopeA, "nightly", slot2, "a run was in progress", skippedAt))
	assert.ErrorIs(t, s.SkipSlot(ctx(), scopeA, "nightly", slot2, "again", skippedAt), analysis.ErrSlotTaken)
	assert.ErrorIs(t, createSlotRun(s, scopeA, "r3", "nightly", slot2, slot2), analysis.ErrSlotTaken, "a skipped slot never fires")
	assert.ErrorIs(t, s.SkipSlot(ctx(), scopeA, "nightly", slot1, "late", skippedAt), analysis.ErrSlotTaken, "a fired slot cannot be skipped")
	recs, err = s.ListSlots(ctx(), scopeA, "nightly", 10)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, analysis.SlotRecord{Slot: slot2, Skipped: "a run was in progress", At: skippedAt}, recs[0], "latest slot first")
	assert.Equal(t, "r1", recs[1].RunID)
	recs, err = s.ListSlots(ctx(), scopeA, "nightly", 1)
	require.NoError(t, err)
	assert.Len(t, recs, 1)

	require.NoError(t, createSlotRun(s, scopeA, "r4", "other", slot1, slot1), "slots are per definition")
	require.NoError(t, createSlotRun(s, scopeB, "r5", "nightly", slot1, slot1), "and per scope")
	recs, err = s.ListSlots(ctx(), scopeC, "nightly", 10)
	require.NoError(t, err)
	assert.Empty(t, recs)

	// A slot given in another time zone is the same instant.
	paris := time.FixedZone("Paris", 3600)
	completeRun(t, s, scopeA, "r4", slot2)
	assert.ErrorIs(t, createSlotRun(s, scopeA, "r6", "other", slot1.In(paris), slot2), analysis.ErrSlotTaken)
	assert.ErrorIs(t, s.SkipSlot(ctx(), scopeA, "nightly", slot2.In(paris), "x", skippedAt), analysis.ErrSlotTaken)
}

func testSlotsConcurrent(t *testing.T, h Harness) {
	// For each slot, replicas race to fire it (CreateRun) or skip it
	// (SkipSlot) at once: exactly one of them takes it.
	s := h.Store
	define(t, s, scopeA, "nightly")
	const slots, replicas = 40, 4
	for i := range slots {
		slot := t0.Add(time.Duration(i) * time.Hour)
		var wg sync.WaitGroup
		results := make([]error, replicas)
		start := make(chan struct{})
		for rep := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if rep%2 == 0 {
					results[rep] = createSlotRun(s, scopeA, fmt.Sprintf("r-%d-%d", i, rep), "nightly", slot, slot)
				} else {
					results[rep] = s.SkipSlot(ctx(), scopeA, "nightly", slot, "late", slot)
				}
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		var runID string
		for rep, err := range results {
			switch {
			case err == nil:
				won++
				if rep%2 == 0 {
					runID = fmt.Sprintf("r-%d-%d", i, rep)
				}
			case !errors.Is(err, analysis.ErrSlotTaken) && !errors.Is(err, analysis.ErrRunInProgress):
				t.Fatalf("slot %d: %v", i, err)
			}
		}
		require.Equal(t, 1, won, "slot %d taken exactly once", i)
		recs, err := s.ListSlots(ctx(), scopeA, "nightly", 1)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		assert.True(t, recs[0].Slot.Equal(slot))
		assert.Equal(t, runID, recs[0].RunID, "the record names the winner")
		if runID != "" {
			completeRun(t, s, scopeA, runID, slot.Add(time.Minute))
		}
	}
	recs, err := s.ListSlots(ctx(), scopeA, "nightly", 1000)
	require.NoError(t, err)
	assert.Len(t, recs, slots, "one record per slot")
	runs, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Limit: 1000})
	require.NoError(t, err)
	for _, r := range runs {
		assert.Equal(t, analysis.RunCompleted, r.Status, "no losing run was stored: %s", r.ID)
	}
}

func testSlotsFailedCreate(t *testing.T, h Harness) {
	// A run refused for another reason takes no slot.
	s := h.Store
	define(t, s, scopeA, "nightly")
	ingest(t, s, scopeA, keyRange("conv", 5))
	slot := t0
	_, err := s.CreateRun(ctx(), scopeA, slotRun("too-big", "nightly", slot, slot), analysis.KeySelection{Max: 4, ChunkSize: 10})
	require.ErrorIs(t, err, analysis.ErrInvalid)
	recs, err := s.ListSlots(ctx(), scopeA, "nightly", 10)
	require.NoError(t, err)
	assert.Empty(t, recs, "a run refused for its size takes no slot")

	startRun(t, s, scopeA, "manual", "nightly", t0, keysSel(10, "k"))
	assert.ErrorIs(t, createSlotRun(s, scopeA, "busy", "nightly", slot, slot), analysis.ErrRunInProgress)
	stale := slotRun("stale", "nightly", slot, slot)
	stale.DefinitionVersion = 7
	_, err = s.CreateRun(ctx(), scopeA, stale, keysSel(10, "k"))
	assert.Error(t, err)
	assert.ErrorIs(t, createSlotRun(s, scopeA, "gone", "nope", slot, slot), analysis.ErrNotFound)
	recs, err = s.ListSlots(ctx(), scopeA, "nightly", 10)
	require.NoError(t, err)
	assert.Empty(t, recs, "a refused run takes no slot")
	require.NoError(t, s.CancelRun(ctx(), scopeA, "manual", "x", t0))
	require.NoError(t, createSlotRun(s, scopeA, "fired", "nightly", slot, slot), "the slot is still free")
}

func testScopeIsolation(t *testing.T, h Harness) {
	s := h.Store
	d := define(t, s, scopeA, "intent")
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c1", "call-1", t0)}))
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, "call-1"))
	c := claim(t, s, "x")
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, item("call-1", true, 1), nil))
	require.NoError(t, s.SkipSlot(ctx(), scopeA, "intent", t0, "x", t0))
	for _, other := range []analysis.Scope{scopeB, scopeC} {
		_, err := s.GetDefinition(ctx(), other, d.ID)
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		_, err = s.GetDefinition(ctx(), other, "intent")
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		assert.ErrorIs(t, s.UpdateDefinition(ctx(), other, d, 1), analysis.ErrNotFound)
		assert.ErrorIs(t, s.DeleteDefinition(ctx(), other, d.ID, 0), analysis.ErrNotFound)
		defs, err := s.ListDefinitions(ctx(), other, analysis.ListQuery{Limit: 10})
		require.NoError(t, err)
		assert.Empty(t, defs)
		_, err = s.GetConversation(ctx(), other, "call-1")
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		convs, err := s.GetConversations(ctx(), other, []string{"call-1"})
		require.NoError(t, err)
		assert.Empty(t, convs)
		keys, err := s.ExistingKeys(ctx(), other, []string{"call-1"})
		require.NoError(t, err)
		assert.Empty(t, keys)
		_, err = s.GetRun(ctx(), other, "r1")
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		_, _, err = s.ListRunItems(ctx(), other, "r1", analysis.Page{Limit: 10})
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		_, _, err = s.ListRunKeys(ctx(), other, "r1", analysis.Page{Limit: 10})
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		assert.ErrorIs(t, s.CancelRun(ctx(), other, "r1", "x", t0), analysis.ErrNotFound)
		runs, err := s.ListRuns(ctx(), other, analysis.RunQuery{Limit: 10})
		require.NoError(t, err)
		assert.Empty(t, runs)
		listed, err := s.ListConversations(ctx(), other, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}})
		require.NoError(t, err)
		assert.Empty(t, listed)
		recs, err := s.ListSlots(ctx(), other, "intent", 10)
		require.NoError(t, err)
		assert.Empty(t, recs)
		assert.ErrorIs(t, s.DeleteConversation(ctx(), other, "c1"), analysis.ErrNotFound)
		_, err = s.CreateRun(ctx(), other, runOf("r1", "intent", t0), keysSel(10, "call-1"))
		assert.ErrorIs(t, err, analysis.ErrNotFound, "the definition is another scope's")

		define(t, s, other, "intent")
		startRun(t, s, other, "r1", "intent", t0.Add(time.Hour), keysSel(10, "call-1"))
		items, _, err := s.ListRunItems(ctx(), other, "r1", analysis.Page{Limit: 10})
		require.NoError(t, err)
		assert.Empty(t, items, "the same run ID in another scope is another run")
		unanalyzed, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}, UnanalyzedBy: "intent"})
		require.NoError(t, err)
		assert.Empty(t, unanalyzed, "scope A's marks stay")
	}
	r := getRun(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunRunning, r.Status, "the other scopes' cancels did not touch it")
	assert.Equal(t, 1, r.Counters.Items)
	got, err := s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	assert.Equal(t, d, got)
	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, item("call-1", true, 2), nil), "still held")
}

func testScopeChunkRef(t *testing.T, h Harness) {
	// A ChunkRef naming the wrong scope never writes: not to the run it was
	// given for, nor to a run of the same ID in that scope.
	s := h.Store
	define(t, s, scopeA, "intent")
	define(t, s, scopeB, "intent")
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, "k1", "k2"))
	c := claim(t, s, "x")
	startRun(t, s, scopeB, "r1", "intent", t0.Add(time.Hour), keysSel(10, "k1", "k2"))
	beforeA, itemsA := checkCounters(t, s, scopeA, "r1")
	beforeB, itemsB := checkCounters(t, s, scopeB, "r1")

	refused := func(what string, err error) {
		t.Helper()
		assert.ErrorIs(t, err, analysis.ErrLeaseLost, "%s: a ref of another scope holds nothing", what)
	}
	for _, other := range []analysis.Scope{scopeB, scopeC} {
		wrong := c.ChunkRef
		wrong.Scope = other
		refused("SaveItem", s.SaveItem(ctx(), wrong, item("k1", true, 1), &analysis.FieldsWrite{Fields: map[string]any{"x": "y"}, At: t0}))
		refused("RenewChunk", s.RenewChunk(ctx(), wrong, lease))
		refused("ReleaseChunk", s.ReleaseChunk(ctx(), wrong))
		_, err := s.CompleteChunk(ctx(), wrong, t0)
		refused("CompleteChunk", err)
		refused("FailRun", s.FailRun(ctx(), wrong, "x", t0))
	}
	afterA, itemsA2 := checkCounters(t, s, scopeA, "r1")
	afterB, itemsB2 := checkCounters(t, s, scopeB, "r1")
	assert.Equal(t, normRun(beforeA), normRun(afterA), "scope A's run unchanged")
	assert.Equal(t, itemsA, itemsA2)
	assert.Equal(t, normRun(beforeB), normRun(afterB), "scope B's run unchanged")
	assert.Equal(t, itemsB, itemsB2)
	assert.Equal(t, analysis.RunPending, afterB.Status)

	require.NoError(t, s.SaveItem(ctx(), c.ChunkRef, item("k1", true, 1), nil), "the real holder still holds it")
	finished, err := s.CompleteChunk(ctx(), c.ChunkRef, t0)
	require.NoError(t, err)
	assert.True(t, finished)
	cb := claim(t, s, "y")
	assert.Equal(t, analysis.ChunkRef{Scope: scopeB, RunID: "r1", Chunk: 0, Token: cb.Token}, cb.ChunkRef)
	assert.Equal(t, []string{"k1", "k2"}, cb.Keys, "nothing was saved to scope B's run")
	assert.Equal(t, 1, cb.Attempt)
}

func testCancelledContext(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "live")
	startRun(t, s, scopeA, "r0", "live", t0, keysSel(10, "k"))
	c := claim(t, s, "x")

	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, s.CreateDefinition(cctx, scopeA, definition("d1", "intent", t0)), context.Canceled)
	assert.ErrorIs(t, s.CreateConversations(cctx, scopeA, []analysis.Conversation{conversation("c1", "call-1", t0)}), context.Canceled)
	_, err := s.CreateRun(cctx, scopeA, runOf("r1", "live", t0), keysSel(10, "k"))
	assert.ErrorIs(t, err, context.Canceled)
	_, _, err = s.ClaimChunk(cctx, "x", lease)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.SaveItem(cctx, c.ChunkRef, item("k", true, 1), nil), context.Canceled)
	_, err = s.CompleteChunk(cctx, c.ChunkRef, t0)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.CancelRun(cctx, scopeA, "r0", "x", t0), context.Canceled)
	_, err = s.GetRun(cctx, scopeA, "r0")
	assert.ErrorIs(t, err, context.Canceled)

	_, err = s.GetDefinition(ctx(), scopeA, "d1")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "nothing was stored")
	_, err = s.GetConversation(ctx(), scopeA, "call-1")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	_, err = s.GetRun(ctx(), scopeA, "r1")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	r := getRun(t, s, scopeA, "r0")
	assert.Equal(t, analysis.RunRunning, r.Status, "nothing was changed")
	assert.Zero(t, r.Counters.Items)
	noClaim(t, s, "the cancelled claim claimed nothing")
	finished, err := s.CompleteChunk(ctx(), c.ChunkRef, t0)
	require.NoError(t, err)
	assert.True(t, finished)
}

// testUnholdableLookups looks things up by strings no store of text can
// hold — a NUL, invalid UTF-8 — in the IDs, keys, search terms and scopes a
// caller passes: each finds nothing, as any other unknown string does,
// rather than failing (a database refuses such text as a parameter).
func testUnholdableLookups(t *testing.T, h Harness) {
	s := h.Store
	define(t, s, scopeA, "intent")
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c1", "call-1", t0, "vip")}))
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, "call-1"))
	c := claim(t, s, "x")
	for _, bad := range []string{"call-1\x00", "\xff\xfe", "intent\x00"} {
		badTenant := analysis.Scope{Tenant: scopeA.Tenant + bad, Project: scopeA.Project}
		badProject := analysis.Scope{Tenant: scopeA.Tenant, Project: scopeA.Project + bad}
		for _, sc := range []analysis.Scope{scopeA, badTenant, badProject} {
			_, err := s.GetDefinition(ctx(), sc, bad)
			assert.ErrorIs(t, err, analysis.ErrNotFound, "GetDefinition %q", bad)
			assert.ErrorIs(t, s.DeleteDefinition(ctx(), sc, bad, 0), analysis.ErrNotFound)
			defs, err := s.ListDefinitions(ctx(), sc, analysis.ListQuery{Search: bad, Limit: 10})
			require.NoError(t, err, "ListDefinitions searching %q", bad)
			assert.Empty(t, defs)
			_, err = s.GetConversation(ctx(), sc, bad)
			assert.ErrorIs(t, err, analysis.ErrNotFound, "GetConversation %q", bad)
			convs, err := s.GetConversations(ctx(), sc, []string{bad})
			require.NoError(t, err)
			assert.Empty(t, convs)
			keys, err := s.ExistingKeys(ctx(), sc, []string{bad})
			require.NoError(t, err)
			assert.Empty(t, keys)
			assert.ErrorIs(t, s.DeleteConversation(ctx(), sc, bad), analysis.ErrNotFound)
			for _, q := range []analysis.ConversationQuery{
				{ListQuery: analysis.ListQuery{Search: bad, Limit: 10}},
				{ListQuery: analysis.ListQuery{Limit: 10}, Tag: bad},
			} {
				listed, err := s.ListConversations(ctx(), sc, q)
				require.NoError(t, err, "ListConversations %+v", q)
				assert.Empty(t, listed)
			}
			_, err = s.GetRun(ctx(), sc, bad)
			assert.ErrorIs(t, err, analysis.ErrNotFound)
			_, _, err = s.ListRunItems(ctx(), sc, bad, analysis.Page{Limit: 10})
			assert.ErrorIs(t, err, analysis.ErrNotFound)
			_, _, err = s.ListRunKeys(ctx(), sc, bad, analysis.Page{Limit: 10})
			assert.ErrorIs(t, err, analysis.ErrNotFound)
			assert.ErrorIs(t, s.CancelRun(ctx(), sc, bad, "x", t0), analysis.ErrNotFound)
			runs, err := s.ListRuns(ctx(), sc, analysis.RunQuery{DefinitionKey: bad, Limit: 10})
			require.NoError(t, err)
			assert.Empty(t, runs)
			recs, err := s.ListSlots(ctx(), sc, bad, 10)
			require.NoError(t, err)
			assert.Empty(t, recs)
			_, err = s.CreateRun(ctx(), sc, runOf("r2", bad, t0), keysSel(10, "call-1"))
			assert.ErrorIs(t, err, analysis.ErrNotFound, "no definition has the key %q", bad)
		}
		// Not analysed by a definition no store can hold: every conversation.
		listed, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}, UnanalyzedBy: bad})
		require.NoError(t, err)
		assert.Len(t, listed, 1)
		for _, ref := range []analysis.ChunkRef{{Scope: scopeA, RunID: bad, Chunk: c.Chunk, Token: c.Token}} {
			assert.ErrorIs(t, s.RenewChunk(ctx(), ref, lease), analysis.ErrLeaseLost)
			assert.ErrorIs(t, s.SaveItem(ctx(), ref, item("call-1", true, 1), nil), analysis.ErrLeaseLost)
			assert.ErrorIs(t, s.SaveItem(ctx(), ref, item(bad, true, 1), nil), analysis.ErrLeaseLost, "a lost lease is said first")
			assert.ErrorIs(t, s.ReleaseChunk(ctx(), ref), analysis.ErrLeaseLost)
			_, err := s.CompleteChunk(ctx(), ref, t0)
			assert.ErrorIs(t, err, analysis.ErrLeaseLost)
			assert.ErrorIs(t, s.FailRun(ctx(), ref, "x", t0), analysis.ErrLeaseLost)
		}
		for _, ref := range []analysis.ChunkRef{
			{Scope: analysis.Scope{Tenant: scopeA.Tenant + bad, Project: scopeA.Project}, RunID: c.RunID, Chunk: c.Chunk, Token: c.Token},
			{Scope: analysis.Scope{Tenant: scopeA.Tenant, Project: scopeA.Project + bad}, RunID: c.RunID, Chunk: c.Chunk, Token: c.Token},
		} {
			assert.ErrorIs(t, s.RenewChunk(ctx(), ref, lease), analysis.ErrLeaseLost)
			_, err := s.CompleteChunk(ctx(), ref, t0)
			assert.ErrorIs(t, err, analysis.ErrLeaseLost)
		}
		err = s.SaveItem(ctx(), c.ChunkRef, item(bad, true, 1), nil)
		assert.ErrorIs(t, err, analysis.ErrInvalid, "an item of a key not the run's")
	}
	// A position after a key no text can hold is a place in byte order.
	for after, want := range map[string]int{"call-0\x00": 1, "call-1\x00": 0, "call-1\xff": 0} {
		listed, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10},
			After: &analysis.Position{CreatedAt: t0, Key: after}})
		require.NoError(t, err, "after %q", after)
		assert.Len(t, listed, want, "after %q", after)
	}
	// Creating what no store can hold may be refused, with ErrInvalid.
	for _, err := range []error{
		s.CreateDefinition(ctx(), scopeC, definition("d-nul", "nul\x00key", t0)),
		s.CreateConversations(ctx(), scopeC, []analysis.Conversation{conversation("c-nul", "call-nul", t0, "tag\xff")}),
	} {
		if err != nil {
			assert.ErrorIs(t, err, analysis.ErrInvalid)
		}
	}

	// A selection by a tag no store can hold, or by not being analysed by
	// a definition no store can hold, is a run like any other.
	define(t, s, scopeA, "other")
	tagged := startRun(t, s, scopeA, "r-tag", "other", t0.Add(time.Minute), analysis.KeySelection{Tag: "vip\x00", Max: 100, ChunkSize: 10})
	assert.Equal(t, 0, tagged.Progress.Total, "no conversation has the tag")
	require.NoError(t, s.CancelRun(ctx(), scopeA, "r-tag", "done", t0.Add(time.Minute)))
	all := startRun(t, s, scopeA, "r-unanalyzed", "other", t0.Add(2*time.Minute), analysis.KeySelection{UnanalyzedBy: "intent\xff", Max: 100, ChunkSize: 10})
	assert.Equal(t, 1, all.Progress.Total, "no conversation is analysed by such a definition")
	require.NoError(t, s.CancelRun(ctx(), scopeA, "r-unanalyzed", "done", t0.Add(2*time.Minute)))

	// A claim's owner, a skip's reason and a run's end may quote what a
	// host or provider wrote: kept, as far as the store can hold them.
	startRun(t, s, scopeA, "r-owner", "other", t0.Add(3*time.Minute), keysSel(10, "call-1"))
	owned, ok, err := s.ClaimChunk(ctx(), "owner\x00\xff", lease)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "r-owner", owned.RunID)
	require.NoError(t, s.FailRun(ctx(), owned.ChunkRef, "failed\x00 \xffhere", t0.Add(3*time.Minute)))
	assert.Contains(t, getRun(t, s, scopeA, "r-owner").Error, "here")
	require.NoError(t, s.SkipSlot(ctx(), scopeA, "intent", t0.Add(time.Hour), "busy\x00 \xffnow", t0))
	recs, err := s.ListSlots(ctx(), scopeA, "intent", 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Contains(t, recs[0].Skipped, "busy")
	assert.Contains(t, recs[0].Skipped, "now")

	// A reason may quote what a provider wrote: it is kept, as far as the
	// store can hold it.
	require.NoError(t, s.CancelRun(ctx(), scopeA, "r1", "stopped\x00 by \xffhand", t0.Add(time.Hour)))
	r := getRun(t, s, scopeA, "r1")
	assert.Equal(t, analysis.RunFailed, r.Status)
	assert.Contains(t, r.Error, "stopped")
	assert.Contains(t, r.Error, "hand")
}
