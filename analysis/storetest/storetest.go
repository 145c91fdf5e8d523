// Package storetest is the conformance suite of [analysis.Store]: every
// implementation — analysis/memstore, a host's own — must pass it.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) analysis.Store { return newStore(t) })
//	}
//
// Each subtest gets a fresh, empty store from newStore. The suite checks
// every method's contract as the Store documentation states it: the
// sentinel errors, scope isolation (another scope's objects are not found),
// ordering, copying, atomicity of the run and slot operations under
// concurrency, and leases.
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

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

// Run runs the suite against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) analysis.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, analysis.Store)
	}{
		{"Definitions/CreateGet", testDefinitionCreateGet},
		{"Definitions/Conflicts", testDefinitionConflicts},
		{"Definitions/Update", testDefinitionUpdate},
		{"Definitions/Delete", testDefinitionDelete},
		{"Definitions/List", testDefinitionList},
		{"Definitions/ListScheduled", testListScheduled},
		{"Definitions/Copies", testDefinitionCopies},
		{"Conversations/CreateGet", testConversationCreateGet},
		{"Conversations/AllOrNothing", testConversationAllOrNothing},
		{"Conversations/ListAndKeys", testConversationList},
		{"Conversations/Delete", testConversationDelete},
		{"Conversations/Copies", testConversationCopies},
		{"Runs/CreateGetList", testRunCreateGetList},
		{"Runs/OneInProgress", testRunOneInProgress},
		{"Runs/ConcurrentCreate", testRunConcurrentCreate},
		{"Runs/Claim", testRunClaim},
		{"Runs/ConcurrentClaim", testRunConcurrentClaim},
		{"Runs/Leases", testRunLeases},
		{"Runs/Release", testRunRelease},
		{"Runs/ClaimKeepsItems", testClaimKeepsItems},
		{"Runs/SaveItem", testRunSaveItem},
		{"Runs/Finish", testRunFinish},
		{"Runs/Cancel", testRunCancel},
		{"Slots/CreateAndSkip", testSlots},
		{"Slots/ConcurrentClaim", testSlotsConcurrent},
		{"Scopes/Isolation", testScopeIsolation},
		{"Context/Cancelled", testCancelledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

var (
	scopeA = analysis.Scope{Tenant: "tenant-a", Project: "project-1"}
	scopeB = analysis.Scope{Tenant: "tenant-b", Project: "project-1"}
	scopeC = analysis.Scope{Tenant: "tenant-a", Project: "project-2"}
	t0     = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

func ctx() context.Context { return context.Background() }

func definition(id, key string, created time.Time) analysis.Definition {
	threshold := 0.7
	return analysis.Definition{
		ID: id, Key: key, Name: "Definition " + key,
		FieldSet: extract.FieldSet{
			{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support"}, Required: true},
			{Key: "resolved", Type: extract.Boolean},
		},
		ExtractionInstructions: "Focus on the caller.",
		Modes:                  analysis.Modes{Store: true, Accuracy: true, Judge: &analysis.JudgeMode{Rubric: "Polite?", Threshold: &threshold}},
		ExtractionModelKey:     "small", JudgeModelKey: "large",
		CreatedAt: created, UpdatedAt: created,
	}
}

func conversation(id, key string, created time.Time, tags ...string) analysis.Conversation {
	return analysis.Conversation{
		ID: id, Key: key, Name: "Call " + key,
		Transcript:      extract.Transcript{{Role: "caller", Content: "I was charged twice."}, {Role: "agent", Content: "Refunded."}},
		ReferenceFields: map[string]any{"intent": "billing", "resolved": true},
		Source:          analysis.SourceImported, Tags: append([]string{}, tags...), CreatedAt: created,
	}
}

func pendingRun(id, defKey string, created time.Time, keys ...string) analysis.Run {
	return analysis.Run{
		ID: id, DefinitionKey: defKey, Status: analysis.RunPending,
		Selection: analysis.Selection{Strategy: analysis.SelectKeys, ConversationKeys: keys},
		Trigger:   analysis.Trigger{Type: analysis.TriggerManual}, ConversationKeys: keys,
		Items: []analysis.Item{}, Progress: analysis.Progress{Total: len(keys)}, CreatedAt: created,
	}
}

func testDefinitionCreateGet(t *testing.T, s analysis.Store) {
	d := definition("d1", "intent", t0)
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, d))
	byID, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, d, byID)
	byKey, err := s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	assert.Equal(t, d, byKey, "found by key too")
	_, err = s.GetDefinition(ctx(), scopeA, "nope")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
}

func testDefinitionConflicts(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, definition("d1", "intent", t0)))
	assert.ErrorIs(t, s.CreateDefinition(ctx(), scopeA, definition("d2", "intent", t0)), analysis.ErrConflict, "the key is taken")
	assert.ErrorIs(t, s.CreateDefinition(ctx(), scopeA, definition("d1", "other", t0)), analysis.ErrConflict, "the ID is taken")
	_, err := s.GetDefinition(ctx(), scopeA, "other")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "a failed create stores nothing")
	require.NoError(t, s.CreateDefinition(ctx(), scopeB, definition("d1", "intent", t0)), "keys and IDs are per scope")
}

func testDefinitionUpdate(t *testing.T, s analysis.Store) {
	d := definition("d1", "intent", t0)
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, d))
	d.Name, d.Modes.Judge, d.UpdatedAt = "Renamed", nil, t0.Add(time.Hour)
	d.Schedule = &analysis.Schedule{Cron: "0 2 * * *", Enabled: true}
	require.NoError(t, s.UpdateDefinition(ctx(), scopeA, d))
	got, err := s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	assert.Equal(t, d, got, "the whole definition is replaced")

	moved := d
	moved.Key = "moved"
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeA, moved), analysis.ErrConflict, "the key never changes")
	missing := definition("d9", "nine", t0)
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeA, missing), analysis.ErrNotFound)
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeB, d), analysis.ErrNotFound, "another scope's definition")

	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "intent", t0)))
	changed := d
	changed.Name = "During a run"
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeA, changed), analysis.ErrRunInProgress, "a run works with the definition as it started")
	got, err = s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	assert.Equal(t, d.Name, got.Name)
	finish(t, s, scopeA, "r1", t0)
	require.NoError(t, s.UpdateDefinition(ctx(), scopeA, changed), "once it is finished")
}

func testDefinitionDelete(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, definition("d1", "intent", t0)))
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "intent", t0)))
	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeA, "d1"), analysis.ErrRunInProgress)
	_, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err, "nothing was deleted")

	_, r, ok, err := s.ClaimRun(ctx(), "x", t0, t0.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.FinishRun(ctx(), scopeA, r.ID, "x", analysis.Finish{Status: analysis.RunCompleted, At: t0}))
	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeB, "d1"), analysis.ErrNotFound)
	require.NoError(t, s.DeleteDefinition(ctx(), scopeA, "d1"))
	_, err = s.GetDefinition(ctx(), scopeA, "intent")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeA, "d1"), analysis.ErrNotFound)
	_, err = s.GetRun(ctx(), scopeA, "r1")
	assert.NoError(t, err, "the definition's runs are kept")
	assert.ErrorIs(t, s.CreateDefinition(ctx(), scopeA, definition("d2", "intent", t0)), analysis.ErrConflict,
		"a deleted definition's key is never reused: its runs must not attach to a new definition")
	require.NoError(t, s.CreateDefinition(ctx(), scopeB, definition("d2", "intent", t0)), "in its own scope only")
}

func testDefinitionList(t *testing.T, s analysis.Store) {
	names := map[string]string{"a": "Call Intent", "b": "Refunds", "c": "intent audit", "d": "Tone"}
	for i, key := range []string{"a", "b", "c", "d"} {
		d := definition("id-"+key, key, t0.Add(time.Duration(i)*time.Minute))
		d.Name = names[key]
		require.NoError(t, s.CreateDefinition(ctx(), scopeA, d))
	}
	tie := definition("id-e", "e", t0.Add(3*time.Minute)) // same time as d
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, tie))

	keysOf := func(ds []analysis.Definition) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.Key)
		}
		return out
	}
	all, err := s.ListDefinitions(ctx(), scopeA, analysis.ListQuery{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"d", "e", "c", "b", "a"}, keysOf(all), "newest first, ties by key")
	got, err := s.ListDefinitions(ctx(), scopeA, analysis.ListQuery{Search: "INTENT", Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, []string{"c", "a"}, keysOf(got), "search ignores case, on the name")
	got, err = s.ListDefinitions(ctx(), scopeA, analysis.ListQuery{Search: "e", Limit: 10})
	require.NoError(t, err)
	assert.Contains(t, keysOf(got), "e", "search matches the key too")
	got, err = s.ListDefinitions(ctx(), scopeA, analysis.ListQuery{Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"d", "e"}, keysOf(got), "the limit keeps the newest")
	got, err = s.ListDefinitions(ctx(), scopeB, analysis.ListQuery{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.NotNil(t, got, "an empty list, not nil")
}

func testListScheduled(t *testing.T, s analysis.Store) {
	on := definition("d1", "nightly", t0)
	on.Schedule = &analysis.Schedule{Cron: "0 2 * * *", Enabled: true}
	off := definition("d2", "paused", t0)
	off.Schedule = &analysis.Schedule{Cron: "0 2 * * *", Enabled: false}
	none := definition("d3", "manual", t0)
	otherScope := definition("d1", "nightly", t0)
	otherScope.Schedule = &analysis.Schedule{Cron: "*/5 * * * *", Enabled: true}
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, on))
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, off))
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, none))
	require.NoError(t, s.CreateDefinition(ctx(), scopeB, otherScope))
	got, err := s.ListScheduled(ctx())
	require.NoError(t, err)
	require.Len(t, got, 2, "only enabled schedules, from every scope")
	byScope := map[analysis.Scope]analysis.Definition{}
	for _, sd := range got {
		byScope[sd.Scope] = sd.Definition
	}
	assert.Equal(t, on, byScope[scopeA])
	assert.Equal(t, otherScope, byScope[scopeB])
}

func testDefinitionCopies(t *testing.T, s analysis.Store) {
	d := definition("d1", "intent", t0)
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, d))
	d.FieldSet[0].EnumValues[0] = "mutated"
	*d.Modes.Judge.Threshold = 0.1
	got, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, "billing", got.FieldSet[0].EnumValues[0], "the store kept its own copy")
	assert.Equal(t, 0.7, *got.Modes.Judge.Threshold)
	got.FieldSet[0].Key = "mutated"
	again, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, "intent", again.FieldSet[0].Key, "a returned value is a copy")
}

func testConversationCreateGet(t *testing.T, s analysis.Store) {
	cs := []analysis.Conversation{conversation("c1", "call-1", t0, "vip"), conversation("c2", "call-2", t0)}
	require.NoError(t, s.CreateConversations(ctx(), scopeA, cs))
	got, err := s.GetConversation(ctx(), scopeA, "c1")
	require.NoError(t, err)
	assert.Equal(t, cs[0], got)
	got, err = s.GetConversation(ctx(), scopeA, "call-2")
	require.NoError(t, err)
	assert.Equal(t, cs[1], got)
	_, err = s.GetConversation(ctx(), scopeA, "call-3")
	assert.ErrorIs(t, err, analysis.ErrNotFound)

	some, err := s.GetConversations(ctx(), scopeA, []string{"call-2", "missing", "call-1"})
	require.NoError(t, err)
	require.Len(t, some, 2)
	assert.Equal(t, "call-2", some[0].Key, "in the order asked")
	assert.Equal(t, "call-1", some[1].Key)
	none, err := s.GetConversations(ctx(), scopeB, []string{"call-1"})
	require.NoError(t, err)
	assert.Empty(t, none)
}

func testConversationAllOrNothing(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c1", "call-1", t0)}))
	err := s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c2", "call-2", t0), conversation("c3", "call-1", t0)})
	assert.ErrorIs(t, err, analysis.ErrConflict, "a taken key")
	err = s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c4", "call-4", t0), conversation("c5", "call-4", t0)})
	assert.ErrorIs(t, err, analysis.ErrConflict, "a key repeated in the batch")
	err = s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c6", "call-6", t0), conversation("c1", "call-7", t0)})
	assert.ErrorIs(t, err, analysis.ErrConflict, "a taken ID")
	keys, err := s.ConversationKeys(ctx(), scopeA, analysis.ConversationQuery{})
	require.NoError(t, err)
	assert.Equal(t, []string{"call-1"}, keys, "no failed batch stored anything")
}

func testConversationList(t *testing.T, s analysis.Store) {
	var cs []analysis.Conversation
	for i, key := range []string{"refund-1", "refund-2", "outage", "Refund-Vip"} {
		c := conversation(fmt.Sprint("c", i), key, t0.Add(time.Duration(i)*time.Minute))
		if i%2 == 0 {
			c.Tags = []string{"billing"}
		}
		cs = append(cs, c)
	}
	cs[2].Name = "Big REFUND outage"
	require.NoError(t, s.CreateConversations(ctx(), scopeA, cs))
	keysOf := func(cs []analysis.Conversation) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.Key)
		}
		return out
	}
	got, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Search: "refund", Limit: 10}})
	require.NoError(t, err)
	assert.Equal(t, []string{"Refund-Vip", "outage", "refund-2", "refund-1"}, keysOf(got), "newest first; name or key, any case")
	got, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}, Tag: "billing"})
	require.NoError(t, err)
	assert.Equal(t, []string{"outage", "refund-1"}, keysOf(got))
	got, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 1}})
	require.NoError(t, err)
	assert.Equal(t, []string{"Refund-Vip"}, keysOf(got))

	// Many conversations, a small limit: still the newest, ties by key.
	var many []analysis.Conversation
	for i := range 40 {
		many = append(many, conversation(fmt.Sprint("m", i), fmt.Sprintf("many-%02d", i), t0.Add(time.Duration(i%7)*time.Hour)))
	}
	require.NoError(t, s.CreateConversations(ctx(), scopeC, many))
	got, err = s.ListConversations(ctx(), scopeC, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 3}})
	require.NoError(t, err)
	assert.Equal(t, []string{"many-06", "many-13", "many-20"}, keysOf(got))

	keys, err := s.ConversationKeys(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Search: "nothing", Limit: 1}})
	require.NoError(t, err)
	assert.Equal(t, []string{"Refund-Vip", "outage", "refund-1", "refund-2"}, keys, "sorted; search and limit ignored")
	keys, err = s.ConversationKeys(ctx(), scopeA, analysis.ConversationQuery{Tag: "billing"})
	require.NoError(t, err)
	assert.Equal(t, []string{"outage", "refund-1"}, keys)
	keys, err = s.ConversationKeys(ctx(), scopeB, analysis.ConversationQuery{})
	require.NoError(t, err)
	assert.Empty(t, keys)
	assert.NotNil(t, keys)
}

func testConversationDelete(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c1", "call-1", t0)}))
	assert.ErrorIs(t, s.DeleteConversation(ctx(), scopeB, "c1"), analysis.ErrNotFound)
	require.NoError(t, s.DeleteConversation(ctx(), scopeA, "c1"))
	_, err := s.GetConversation(ctx(), scopeA, "call-1")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	assert.ErrorIs(t, s.DeleteConversation(ctx(), scopeA, "c1"), analysis.ErrNotFound)
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c2", "call-1", t0)}), "the key is free again")
}

func testConversationCopies(t *testing.T, s analysis.Store) {
	c := conversation("c1", "call-1", t0, "a")
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{c}))
	c.Transcript[0].Content = "mutated"
	c.ReferenceFields["intent"] = "mutated"
	c.Tags[0] = "mutated"
	got, err := s.GetConversation(ctx(), scopeA, "c1")
	require.NoError(t, err)
	assert.Equal(t, "I was charged twice.", got.Transcript[0].Content)
	assert.Equal(t, "billing", got.ReferenceFields["intent"])
	assert.Equal(t, []string{"a"}, got.Tags)
}

func testRunCreateGetList(t *testing.T, s analysis.Store) {
	r1 := pendingRun("r1", "intent", t0, "call-1")
	require.NoError(t, s.CreateRun(ctx(), scopeA, r1))
	got, err := s.GetRun(ctx(), scopeA, "r1")
	require.NoError(t, err)
	assert.Equal(t, r1, got)
	assert.ErrorIs(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "other", t0)), analysis.ErrConflict, "the ID is taken")
	_, err = s.GetRun(ctx(), scopeA, "r9")
	assert.ErrorIs(t, err, analysis.ErrNotFound)

	finish(t, s, scopeA, "r1", t0.Add(time.Minute))
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r2", "intent", t0.Add(2*time.Minute))))
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r3", "tone", t0.Add(3*time.Minute))))

	ids := func(rs []analysis.Run) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
			assert.Empty(t, r.Items, "lists leave items out")
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
	late, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{FinishedAfter: t0.Add(time.Hour), Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, late)
	limited, err := s.ListRuns(ctx(), scopeA, analysis.RunQuery{Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"r3"}, ids(limited))
}

// finish claims the scope's oldest claimable run — which must be id — and
// completes it.
func finish(t *testing.T, s analysis.Store, scope analysis.Scope, id string, at time.Time) {
	t.Helper()
	sc, r, ok, err := s.ClaimRun(ctx(), "finisher", at, at.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, scope, sc)
	require.Equal(t, id, r.ID)
	require.NoError(t, s.FinishRun(ctx(), scope, id, "finisher", analysis.Finish{Status: analysis.RunCompleted, Aggregate: &analysis.Aggregate{}, At: at}))
}

func testRunOneInProgress(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "intent", t0)))
	assert.ErrorIs(t, s.CreateRun(ctx(), scopeA, pendingRun("r2", "intent", t0)), analysis.ErrRunInProgress, "pending")
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r3", "tone", t0)), "another definition")
	require.NoError(t, s.CreateRun(ctx(), scopeB, pendingRun("r4", "intent", t0)), "another scope")
	_, err := s.GetRun(ctx(), scopeA, "r2")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "a refused run is not stored")

	sc, r, ok, err := s.ClaimRun(ctx(), "x", t0, t0.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	if sc != scopeA || r.ID != "r1" {
		// Ties between r1, r3 and r4 are broken by ID: r1 comes first.
		t.Fatalf("claimed %s/%s, want the oldest pending run r1", sc, r.ID)
	}
	assert.ErrorIs(t, s.CreateRun(ctx(), scopeA, pendingRun("r5", "intent", t0)), analysis.ErrRunInProgress, "running")
	require.NoError(t, s.FinishRun(ctx(), scopeA, "r1", "x", analysis.Finish{Status: analysis.RunFailed, Error: "boom", At: t0}))
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r6", "intent", t0)), "a finished run does not block")
}

func testRunConcurrentCreate(t *testing.T, s analysis.Store) {
	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateRun(ctx(), scopeA, pendingRun(fmt.Sprint("r", i), "intent", t0))
		}()
	}
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

func testRunClaim(t *testing.T, s analysis.Store) {
	_, _, ok, err := s.ClaimRun(ctx(), "x", t0, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, ok, "nothing to claim")

	require.NoError(t, s.CreateRun(ctx(), scopeB, pendingRun("late", "d", t0.Add(time.Minute))))
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("early", "d", t0)))
	sc, r, ok, err := s.ClaimRun(ctx(), "x", t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, scopeA, sc)
	assert.Equal(t, "early", r.ID, "the oldest pending run of any scope")
	assert.Equal(t, analysis.RunRunning, r.Status)
	require.NotNil(t, r.StartedAt)
	assert.True(t, r.StartedAt.Equal(t0.Add(2*time.Minute)))
	assert.Equal(t, analysis.Lease{Owner: "x", ExpiresAt: t0.Add(3 * time.Minute), Attempts: 1}, r.Lease)

	sc, r, ok, err = s.ClaimRun(ctx(), "y", t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, scopeB, sc)
	assert.Equal(t, "late", r.ID)
	_, _, ok, err = s.ClaimRun(ctx(), "z", t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	require.NoError(t, err)
	assert.False(t, ok, "running runs with a live lease are not claimable")

	// The lease of "early" lapses: another executor takes it over.
	sc, r, ok, err = s.ClaimRun(ctx(), "z", t0.Add(4*time.Minute), t0.Add(5*time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, scopeA, sc)
	assert.Equal(t, "early", r.ID)
	assert.Equal(t, 2, r.Lease.Attempts, "the attempt is counted")
	assert.Equal(t, "z", r.Lease.Owner)
	assert.True(t, r.StartedAt.Equal(t0.Add(2*time.Minute)), "StartedAt keeps its first value")
}

func testRunConcurrentClaim(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "d", t0)))
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	claimed := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, ok, err := s.ClaimRun(ctx(), fmt.Sprint("e", i), t0, t0.Add(time.Minute))
			assert.NoError(t, err)
			if ok {
				mu.Lock()
				claimed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, claimed, "one run, one executor")
}

func testRunLeases(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "d", t0, "call-1")))
	_, _, ok, err := s.ClaimRun(ctx(), "x", t0, t0.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.RenewLease(ctx(), scopeA, "r1", "x", t0.Add(10*time.Minute)))
	_, _, ok, err = s.ClaimRun(ctx(), "y", t0.Add(5*time.Minute), t0.Add(6*time.Minute))
	require.NoError(t, err)
	assert.False(t, ok, "the renewed lease holds")

	assert.ErrorIs(t, s.RenewLease(ctx(), scopeA, "r1", "y", t0.Add(time.Hour)), analysis.ErrLeaseLost, "not the owner")
	_, _, ok, err = s.ClaimRun(ctx(), "y", t0.Add(11*time.Minute), t0.Add(12*time.Minute))
	require.NoError(t, err)
	require.True(t, ok, "the lease lapsed")
	assert.ErrorIs(t, s.RenewLease(ctx(), scopeA, "r1", "x", t0.Add(time.Hour)), analysis.ErrLeaseLost, "x lost it")
	assert.ErrorIs(t, s.SaveItem(ctx(), scopeA, "r1", "x", analysis.Item{ConversationKey: "call-1"}, nil), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.FinishRun(ctx(), scopeA, "r1", "x", analysis.Finish{Status: analysis.RunCompleted, At: t0}), analysis.ErrLeaseLost)
	assert.ErrorIs(t, s.RenewLease(ctx(), scopeB, "r1", "y", t0.Add(time.Hour)), analysis.ErrNotFound, "another scope's run")
}

func testRunRelease(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "d", t0, "call-1")))
	_, _, ok, err := s.ClaimRun(ctx(), "x", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, ok)
	assert.ErrorIs(t, s.ReleaseRun(ctx(), scopeA, "r1", "y"), analysis.ErrLeaseLost, "only the owner releases")
	require.NoError(t, s.ReleaseRun(ctx(), scopeA, "r1", "x"))
	assert.ErrorIs(t, s.SaveItem(ctx(), scopeA, "r1", "x", analysis.Item{ConversationKey: "call-1"}, nil), analysis.ErrLeaseLost,
		"a released run is no longer held")
	r, err := s.GetRun(ctx(), scopeA, "r1")
	require.NoError(t, err)
	assert.Equal(t, analysis.RunRunning, r.Status, "it stays running")
	_, r, ok, err = s.ClaimRun(ctx(), "y", t0.Add(time.Second), t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, ok, "claimable at once, long before the old lease would have lapsed")
	assert.Equal(t, "y", r.Lease.Owner)
	assert.Equal(t, 1, r.Lease.Attempts, "the release took back the first attempt")
	assert.ErrorIs(t, s.ReleaseRun(ctx(), scopeB, "r1", "y"), analysis.ErrNotFound)
}

func testClaimKeepsItems(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("expired", "d1", t0, "call-1", "call-2")))
	_, _, ok, err := s.ClaimRun(ctx(), "x", t0, t0.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	saved := item("call-1", true, 3)
	require.NoError(t, s.SaveItem(ctx(), scopeA, "expired", "x", saved, nil))
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("pending", "d2", t0.Add(time.Hour), "call-9")))

	later := t0.Add(2 * time.Hour)
	_, r, ok, err := s.ClaimRun(ctx(), "y", later, later.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "pending", r.ID, "a pending run comes before one whose lease lapsed")
	_, r, ok, err = s.ClaimRun(ctx(), "z", later, later.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "expired", r.ID)
	assert.Equal(t, []analysis.Item{saved}, r.Items, "a run taken over comes with its saved items, so none is redone")
	assert.Equal(t, analysis.Progress{Done: 1, Total: 2}, r.Progress)
}

func item(key string, passed bool, usage int64) analysis.Item {
	score := 1.0
	return analysis.Item{
		ConversationKey: key, Passed: passed, ExtractedFields: map[string]any{"intent": "billing", "resolved": nil},
		Missing: []string{}, Judge: &analysis.ItemJudge{Score: 0.8, Passed: true},
		Accuracy: &accuracy.Result{Score: &score, ComparedCount: 1, PerField: map[string]accuracy.FieldResult{
			"intent": {Expected: "billing", Actual: "billing", Match: true}}},
		Usage: llm.Usage{InputTokens: usage, OutputTokens: 1}, FinishedAt: t0,
	}
}

func testRunSaveItem(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c1", "call-1", t0), conversation("c2", "call-2", t0)}))
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "intent", t0, "call-1", "call-2", "call-3")))
	_, _, ok, err := s.ClaimRun(ctx(), "x", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, ok)

	at := t0.Add(time.Minute)
	first := item("call-1", true, 10)
	require.NoError(t, s.SaveItem(ctx(), scopeA, "r1", "x", first, &analysis.FieldsWrite{Fields: map[string]any{"intent": "billing", "resolved": nil}, At: at}))
	failed := analysis.Item{ConversationKey: "call-2", Error: "the model call failed", ExtractedFields: map[string]any{}, Missing: []string{}, Usage: llm.Usage{InputTokens: 5}}
	require.NoError(t, s.SaveItem(ctx(), scopeA, "r1", "x", failed, nil))
	gone := analysis.Item{ConversationKey: "call-3", Error: "the conversation was deleted", ExtractedFields: map[string]any{}, Missing: []string{}}
	require.NoError(t, s.SaveItem(ctx(), scopeA, "r1", "x", gone, &analysis.FieldsWrite{Fields: map[string]any{"x": 1.0}, At: at}),
		"writing fields onto a missing conversation is skipped, not an error")

	r, err := s.GetRun(ctx(), scopeA, "r1")
	require.NoError(t, err)
	require.Len(t, r.Items, 3)
	assert.Equal(t, first, r.Items[0], "items in the order saved, as saved")
	assert.Equal(t, "call-2", r.Items[1].ConversationKey)
	assert.Equal(t, analysis.Progress{Done: 3, Total: 3}, r.Progress)
	assert.Equal(t, llm.Usage{InputTokens: 15, OutputTokens: 1}, r.Usage, "usage summed")

	conv, err := s.GetConversation(ctx(), scopeA, "call-1")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"intent": "billing", "resolved": nil}, conv.ExtractedFields, "store mode wrote the fields")
	require.NotNil(t, conv.LastAnalyzedAt)
	assert.True(t, conv.LastAnalyzedAt.Equal(at))
	other, err := s.GetConversation(ctx(), scopeA, "call-2")
	require.NoError(t, err)
	assert.Nil(t, other.ExtractedFields)
	assert.Nil(t, other.LastAnalyzedAt)

	// A later write merges by key.
	again := item("call-1", false, 1)
	require.NoError(t, s.SaveItem(ctx(), scopeA, "r1", "x", again, &analysis.FieldsWrite{Fields: map[string]any{"resolved": true, "tone": "calm"}, At: at.Add(time.Minute)}))
	conv, err = s.GetConversation(ctx(), scopeA, "call-1")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"intent": "billing", "resolved": true, "tone": "calm"}, conv.ExtractedFields)
	r, err = s.GetRun(ctx(), scopeA, "r1")
	require.NoError(t, err)
	require.Len(t, r.Items, 3, "an item for the same conversation replaces the old one")
	assert.False(t, r.Items[0].Passed)
	assert.Equal(t, int64(16), r.Usage.InputTokens, "the replaced item's tokens were spent too")

	// Only items without an error mark their conversation analysed.
	keys, err := s.ConversationKeys(ctx(), scopeA, analysis.ConversationQuery{UnanalyzedBy: "intent"})
	require.NoError(t, err)
	assert.Equal(t, []string{"call-2"}, keys)
	keys, err = s.ConversationKeys(ctx(), scopeA, analysis.ConversationQuery{UnanalyzedBy: "tone"})
	require.NoError(t, err)
	assert.Equal(t, []string{"call-1", "call-2"}, keys, "per definition")

	first.Missing = append(first.Missing, "mutated")
	r, err = s.GetRun(ctx(), scopeA, "r1")
	require.NoError(t, err)
	assert.Empty(t, r.Items[1].Missing)
}

func testRunFinish(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "intent", t0, "call-1")))
	_, _, ok, err := s.ClaimRun(ctx(), "x", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, ok)
	rate := 0.5
	agg := &analysis.Aggregate{Total: 1, Completed: 1, Passed: 0, PassRate: &rate}
	require.NoError(t, s.FinishRun(ctx(), scopeA, "r1", "x", analysis.Finish{Status: analysis.RunCompleted, Aggregate: agg, At: t0.Add(time.Minute)}))
	rate = 0.9
	r, err := s.GetRun(ctx(), scopeA, "r1")
	require.NoError(t, err)
	assert.Equal(t, analysis.RunCompleted, r.Status)
	require.NotNil(t, r.Aggregate)
	assert.Equal(t, 0.5, *r.Aggregate.PassRate, "the aggregate was copied")
	require.NotNil(t, r.FinishedAt)
	assert.True(t, r.FinishedAt.Equal(t0.Add(time.Minute)))
	assert.Empty(t, r.Lease.Owner, "a finished run has no lease")
	assert.ErrorIs(t, s.FinishRun(ctx(), scopeA, "r1", "x", analysis.Finish{Status: analysis.RunFailed, At: t0}), analysis.ErrLeaseLost, "finished once")
	_, _, ok, err = s.ClaimRun(ctx(), "y", t0.Add(24*time.Hour), t0.Add(25*time.Hour))
	require.NoError(t, err)
	assert.False(t, ok, "a finished run is never claimed again")
}

func testRunCancel(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("pending", "d1", t0)))
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("running", "d2", t0.Add(time.Second), "call-1")))
	stop := analysis.Finish{Status: analysis.RunFailed, Error: "the run was cancelled", At: t0.Add(time.Hour)}
	require.NoError(t, s.CancelRun(ctx(), scopeA, "pending", stop))
	r, err := s.GetRun(ctx(), scopeA, "pending")
	require.NoError(t, err)
	assert.Equal(t, analysis.RunFailed, r.Status)
	assert.Equal(t, "the run was cancelled", r.Error)
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("next", "d1", t0.Add(time.Hour))), "the definition is free again")

	_, r, ok, err := s.ClaimRun(ctx(), "x", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "running", r.ID)
	require.NoError(t, s.CancelRun(ctx(), scopeA, "running", stop), "whoever holds it")
	assert.ErrorIs(t, s.SaveItem(ctx(), scopeA, "running", "x", analysis.Item{ConversationKey: "call-1"}, nil), analysis.ErrLeaseLost,
		"its executor stops at its next write")
	assert.ErrorIs(t, s.CancelRun(ctx(), scopeA, "running", stop), analysis.ErrConflict, "already finished")
	assert.ErrorIs(t, s.CancelRun(ctx(), scopeB, "next", stop), analysis.ErrNotFound)
}

func slotRun(id, defKey string, slot, created time.Time) analysis.Run {
	r := pendingRun(id, defKey, created)
	r.Trigger = analysis.Trigger{Type: analysis.TriggerSchedule, Slot: &slot}
	return r
}

func testSlots(t *testing.T, s analysis.Store) {
	slot1 := t0
	slot2 := t0.Add(24 * time.Hour)
	recs, err := s.ListSlots(ctx(), scopeA, "nightly", 10)
	require.NoError(t, err)
	assert.Empty(t, recs)
	assert.NotNil(t, recs)

	require.NoError(t, s.CreateRun(ctx(), scopeA, slotRun("r1", "nightly", slot1, slot1.Add(time.Second))))
	finish(t, s, scopeA, "r1", slot1.Add(time.Minute))
	assert.ErrorIs(t, s.CreateRun(ctx(), scopeA, slotRun("r2", "nightly", slot1, slot1.Add(time.Hour))), analysis.ErrSlotTaken, "one run per slot")
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
	assert.ErrorIs(t, s.CreateRun(ctx(), scopeA, slotRun("r3", "nightly", slot2, slot2)), analysis.ErrSlotTaken, "a skipped slot never fires")
	assert.ErrorIs(t, s.SkipSlot(ctx(), scopeA, "nightly", slot1, "late", skippedAt), analysis.ErrSlotTaken, "a fired slot cannot be skipped")
	recs, err = s.ListSlots(ctx(), scopeA, "nightly", 10)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, analysis.SlotRecord{Slot: slot2, Skipped: "a run was in progress", At: skippedAt}, recs[0], "latest slot first")
	assert.Equal(t, "r1", recs[1].RunID)
	recs, err = s.ListSlots(ctx(), scopeA, "nightly", 1)
	require.NoError(t, err)
	assert.Len(t, recs, 1)

	require.NoError(t, s.CreateRun(ctx(), scopeA, slotRun("r4", "other", slot1, slot1)), "slots are per definition")
	require.NoError(t, s.CreateRun(ctx(), scopeB, slotRun("r5", "nightly", slot1, slot1)), "and per scope")
	recs, err = s.ListSlots(ctx(), scopeC, "nightly", 10)
	require.NoError(t, err)
	assert.Empty(t, recs)

	// A slot given in another time zone is the same instant.
	paris := time.FixedZone("Paris", 3600)
	finish(t, s, scopeA, "r4", slot2)
	assert.ErrorIs(t, s.CreateRun(ctx(), scopeA, slotRun("r6", "other", slot1.In(paris), slot2)), analysis.ErrSlotTaken)
	assert.ErrorIs(t, s.SkipSlot(ctx(), scopeA, "nightly", slot2.In(paris), "x", skippedAt), analysis.ErrSlotTaken)
}

func testSlotsConcurrent(t *testing.T, s analysis.Store) {
	// For each slot, replicas race to fire it (CreateRun) or skip it
	// (SkipSlot) at once: exactly one of them takes it.
	const slots, replicas = 40, 4
	for i := range slots {
		slot := t0.Add(time.Duration(i) * time.Hour)
		var wg sync.WaitGroup
		results := make([]error, replicas)
		for rep := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if rep%2 == 0 {
					results[rep] = s.CreateRun(ctx(), scopeA, slotRun(fmt.Sprintf("r-%d-%d", i, rep), "nightly", slot, slot))
				} else {
					results[rep] = s.SkipSlot(ctx(), scopeA, "nightly", slot, "late", slot)
				}
			}()
		}
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
		if runID != "" {
			finish(t, s, scopeA, runID, slot.Add(time.Minute))
		}
	}
	recs, err := s.ListSlots(ctx(), scopeA, "nightly", 1000)
	require.NoError(t, err)
	assert.Len(t, recs, slots, "one record per slot")
}

func testScopeIsolation(t *testing.T, s analysis.Store) {
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, definition("d1", "intent", t0)))
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c1", "call-1", t0)}))
	require.NoError(t, s.CreateRun(ctx(), scopeA, pendingRun("r1", "intent", t0, "call-1")))
	for _, other := range []analysis.Scope{scopeB, scopeC} {
		_, err := s.GetDefinition(ctx(), other, "d1")
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		_, err = s.GetDefinition(ctx(), other, "intent")
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		_, err = s.GetConversation(ctx(), other, "call-1")
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		_, err = s.GetRun(ctx(), other, "r1")
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		runs, err := s.ListRuns(ctx(), other, analysis.RunQuery{Limit: 10})
		require.NoError(t, err)
		assert.Empty(t, runs)
		convs, err := s.ListConversations(ctx(), other, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}})
		require.NoError(t, err)
		assert.Empty(t, convs)
		assert.ErrorIs(t, s.DeleteConversation(ctx(), other, "c1"), analysis.ErrNotFound)
		require.NoError(t, s.CreateRun(ctx(), other, pendingRun("r1", "intent", t0)), "the same run ID in another scope")
	}
}

func testCancelledContext(t *testing.T, s analysis.Store) {
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, s.CreateDefinition(cctx, scopeA, definition("d1", "intent", t0)), context.Canceled)
	assert.ErrorIs(t, s.CreateConversations(cctx, scopeA, []analysis.Conversation{conversation("c1", "call-1", t0)}), context.Canceled)
	assert.ErrorIs(t, s.CreateRun(cctx, scopeA, pendingRun("r1", "intent", t0)), context.Canceled)
	_, _, _, err := s.ClaimRun(cctx, "x", t0, t0)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.GetDefinition(ctx(), scopeA, "d1")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "nothing was stored")
}
