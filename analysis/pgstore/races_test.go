package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/pgstore"
)

var (
	sc  = analysis.Scope{Tenant: "acme", Project: "support"}
	day = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
)

// newRun makes a store on a fresh schema with a definition and a run over
// n conversations in chunks of size; skew moves the store's clock.
func newRun(t *testing.T, n, size int) (*pgstore.Store, *atomic.Int64) {
	st, skew, _ := newRunIn(t, n, size)
	return st, skew
}

// newRunIn is newRun, also returning the schema.
func newRunIn(t *testing.T, n, size int) (*pgstore.Store, *atomic.Int64, string) {
	t.Helper()
	pool := testPool(t)
	var skew atomic.Int64
	schema := freshSchema(t, pool)
	st, err := pgstore.New(context.Background(), pool, pgstore.Options{Schema: schema,
		ClockSkew: func() time.Duration { return time.Duration(skew.Load()) }})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, st.CreateDefinition(ctx, sc, analysis.Definition{ID: "d1", Key: "intent", Version: 1, Name: "Intent", CreatedAt: day}))
	var cs []analysis.Conversation
	var keys []string
	for i := range n {
		k := fmt.Sprintf("conv-%03d", i)
		keys = append(keys, k)
		cs = append(cs, analysis.Conversation{ID: "c" + k, Key: k, CreatedAt: day, Tags: []string{}})
	}
	require.NoError(t, st.CreateConversations(ctx, sc, cs))
	_, err = st.CreateRun(ctx, sc, analysis.Run{ID: "r1", DefinitionKey: "intent", DefinitionVersion: 1, CreatedAt: day},
		analysis.KeySelection{Keys: keys, Max: 1000, ChunkSize: size})
	require.NoError(t, err)
	return st, &skew, schema
}

func TestALongTransactionElsewhereHidesNoItemOfAFinishedRun(t *testing.T) {
	st, _ := newRun(t, 5, 5)
	ctx := context.Background()
	// A transaction of another connection, open all along, holding the
	// oldest transaction id back.
	other, err := st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx) //nolint:errcheck
	_, err = other.Exec(ctx, "SELECT pg_current_xact_id()")
	require.NoError(t, err)

	c, ok, err := st.ClaimChunk(ctx, "x", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	for _, k := range c.Keys {
		require.NoError(t, st.SaveItem(ctx, c.ChunkRef, analysis.Item{ConversationKey: k}, nil))
	}
	items, _, err := st.ListRunItems(ctx, sc, "r1", analysis.Page{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, items, "while the run works, items wait for the older transaction")
	finished, err := st.CompleteChunk(ctx, c.ChunkRef, day)
	require.NoError(t, err)
	require.True(t, finished)
	items, _, err = st.ListRunItems(ctx, sc, "r1", analysis.Page{Limit: 10})
	require.NoError(t, err)
	assert.Len(t, items, 5, "a finished run's items are all read: none can be saved any more")
	r, err := st.GetRun(ctx, sc, "r1")
	require.NoError(t, err)
	assert.Equal(t, 5, r.Counters.Items, "the counters frozen at the end")
}

func TestASaveInFlightHoldsItsChunk(t *testing.T) {
	st, skew, schema := newRunIn(t, 2, 2)
	ctx := context.Background()
	c, ok, err := st.ClaimChunk(ctx, "a", time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	// Another transaction holds the conversation's row: the save, in store
	// mode, waits for it.
	blocker, err := st.Pool().Begin(ctx)
	require.NoError(t, err)
	_, err = blocker.Exec(ctx, "SELECT 1 FROM "+schema+".conversations WHERE key = 'conv-000' FOR UPDATE")
	require.NoError(t, err)
	saved := make(chan error, 1)
	go func() {
		saved <- st.SaveItem(ctx, c.ChunkRef, analysis.Item{ConversationKey: "conv-000"},
			&analysis.FieldsWrite{Fields: map[string]any{"intent": "billing"}, At: day})
	}()
	time.Sleep(200 * time.Millisecond) // the save is now waiting
	skew.Add(int64(time.Minute))       // its lease has lapsed
	_, ok, err = st.ClaimChunk(ctx, "b", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "the chunk is not claimed away from a save in flight")
	require.NoError(t, blocker.Rollback(ctx))
	require.NoError(t, <-saved, "the save that began under its lease lands")
	b, ok, err := st.ClaimChunk(ctx, "b", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "then the chunk is claimed")
	assert.Equal(t, []string{"conv-001"}, b.Keys)
	assert.ErrorIs(t, st.SaveItem(ctx, c.ChunkRef, analysis.Item{ConversationKey: "conv-001"}, nil), analysis.ErrLeaseLost)
}

func TestEndingARunFromSeveralPlacesDoesNotDeadlock(t *testing.T) {
	for round := range 5 {
		st, _ := newRun(t, 6, 2)
		ctx := context.Background()
		var claims []analysis.Claim
		for range 3 {
			c, ok, err := st.ClaimChunk(ctx, "x", time.Minute)
			require.NoError(t, err)
			require.True(t, ok)
			claims = append(claims, c)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for _, c := range claims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- st.FailRun(ctx, c.ChunkRef, "failed", day)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.CancelRun(ctx, sc, "r1", "cancelled", day)
			if err != nil && !assert.ErrorIs(t, err, analysis.ErrConflict) {
				errs <- err
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				assert.ErrorIs(t, err, analysis.ErrLeaseLost, "round %d: the run ended by another, never a deadlock", round)
			}
		}
		r, err := st.GetRun(ctx, sc, "r1")
		require.NoError(t, err)
		assert.Equal(t, analysis.RunFailed, r.Status)
	}
}

func TestAModelsNULCharacterIsStored(t *testing.T) {
	st, _ := newRun(t, 1, 1)
	ctx := context.Background()
	c, ok, err := st.ClaimChunk(ctx, "x", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	it := analysis.Item{ConversationKey: "conv-000", ExtractedFields: map[string]any{"name": "Al\x00ice"},
		Judge: &analysis.ItemJudge{Score: 0.5, Reasoning: "nul\x00here"}}
	require.NoError(t, st.SaveItem(ctx, c.ChunkRef, it, &analysis.FieldsWrite{Fields: map[string]any{"name": "Al\x00ice"}, At: day}),
		"PostgreSQL takes no NUL in text: it is written as U+FFFD")
	_, err = st.CompleteChunk(ctx, c.ChunkRef, day)
	require.NoError(t, err)
	items, _, err := st.ListRunItems(ctx, sc, "r1", analysis.Page{Limit: 5})
	require.NoError(t, err)
	require.Len(t, items, 1)
	assert.Equal(t, "Al\uFFFDice", items[0].ExtractedFields["name"])
	assert.Equal(t, "nul\uFFFDhere", items[0].Judge.Reasoning)
	conv, err := st.GetConversation(ctx, sc, "conv-000")
	require.NoError(t, err)
	assert.Equal(t, "Al\uFFFDice", conv.ExtractedFields["name"])
}

func TestDefinitionSearchFoldsCaseAsMemstoreDoes(t *testing.T) {
	pool := testPool(t)
	st, err := pgstore.New(context.Background(), pool, pgstore.Options{Schema: freshSchema(t, pool)})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, st.CreateDefinition(ctx, sc, analysis.Definition{ID: "d1", Key: "elan", Version: 1, Name: "ÉLAN Straße", CreatedAt: day}))
	for _, q := range []string{"élan", "strasse", "STRASSE", "élan straße", "elan"} {
		ds, err := st.ListDefinitions(ctx, sc, analysis.ListQuery{Search: q, Limit: 5})
		require.NoError(t, err)
		assert.Len(t, ds, 1, q)
	}
	ds, err := st.ListDefinitions(ctx, sc, analysis.ListQuery{Search: "%", Limit: 5})
	require.NoError(t, err)
	assert.Empty(t, ds, "LIKE's wildcards are plain characters")
}
