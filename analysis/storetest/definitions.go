package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
)

func testDefinitionCreateGet(t *testing.T, h Harness) {
	s := h.Store
	d := definition("d1", "intent", t0)
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, d))
	byID, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, d, byID)
	assert.Equal(t, int64(1), byID.Version, "a new definition is at version 1")
	byKey, err := s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	assert.Equal(t, d, byKey, "found by key too")
	_, err = s.GetDefinition(ctx(), scopeA, "nope")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
}

func testDefinitionConflicts(t *testing.T, h Harness) {
	s := h.Store
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, definition("d1", "intent", t0)))
	assert.ErrorIs(t, s.CreateDefinition(ctx(), scopeA, definition("d2", "intent", t0)), analysis.ErrConflict, "the key is taken")
	assert.ErrorIs(t, s.CreateDefinition(ctx(), scopeA, definition("d1", "other", t0)), analysis.ErrConflict, "the ID is taken")
	_, err := s.GetDefinition(ctx(), scopeA, "other")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "a failed create stores nothing")
	_, err = s.GetDefinition(ctx(), scopeA, "d2")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "a failed create stores nothing")
	require.NoError(t, s.CreateDefinition(ctx(), scopeB, definition("d1", "intent", t0)), "keys and IDs are per scope")
}

func testDefinitionUpdate(t *testing.T, h Harness) {
	s := h.Store
	d := definition("d1", "intent", t0)
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, d))
	d.Name, d.Modes.Judge, d.UpdatedAt = "Renamed", nil, t0.Add(time.Hour)
	d.Schedule = &analysis.Schedule{Cron: "0 2 * * *", Enabled: true}
	require.NoError(t, s.UpdateDefinition(ctx(), scopeA, d, 1))
	got, err := s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	d.Version = 2
	assert.Equal(t, d, got, "the whole definition is replaced, at the next version")

	moved := d
	moved.Key = "moved"
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeA, moved, 2), analysis.ErrConflict, "the key never changes")
	missing := definition("d9", "nine", t0)
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeA, missing, 1), analysis.ErrNotFound)
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeB, d, 2), analysis.ErrNotFound, "another scope's definition")
	got, err = s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	assert.Equal(t, d, got, "failed updates changed nothing")

	r1 := runOf("r1", "intent", t0)
	r1.DefinitionVersion = 2
	_, err = s.CreateRun(ctx(), scopeA, r1, keysSel(10, "call-1"))
	require.NoError(t, err)
	changed := d
	changed.Name = "During a run"
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeA, changed, 2), analysis.ErrRunInProgress, "a run works with the definition as it started")
	got, err = s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	assert.Equal(t, d, got, "the refused update changed nothing, the version neither")
	completeRun(t, s, scopeA, "r1", t0)
	require.NoError(t, s.UpdateDefinition(ctx(), scopeA, changed, 2), "once it is finished")
	got, err = s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	assert.Equal(t, "During a run", got.Name)
	assert.Equal(t, int64(3), got.Version)
}

func testDefinitionVersions(t *testing.T, h Harness) {
	s := h.Store
	d := definition("d1", "intent", t0)
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, d))

	// The stored version is ifVersion+1, whatever d.Version says.
	d.Name, d.Version = "Second", 99
	require.NoError(t, s.UpdateDefinition(ctx(), scopeA, d, 1))
	got, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Version, "ifVersion+1, not d.Version")
	assert.Equal(t, "Second", got.Name)

	// A stale or future ifVersion is a conflict that changes nothing.
	stale := got
	stale.Name = "Stale"
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeA, stale, 1), analysis.ErrConflict, "another update landed first")
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeA, stale, 3), analysis.ErrConflict, "a version that never was")
	assert.ErrorIs(t, s.UpdateDefinition(ctx(), scopeA, stale, 0), analysis.ErrConflict)
	again, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, got, again, "nothing changed")

	third := got
	third.Name = "Third"
	require.NoError(t, s.UpdateDefinition(ctx(), scopeA, third, 2))
	again, err = s.GetDefinition(ctx(), scopeA, "intent")
	require.NoError(t, err)
	assert.Equal(t, int64(3), again.Version, "each update adds one")
	assert.Equal(t, "Third", again.Name)

	// Runs name the version they work with.
	_, err = s.CreateRun(ctx(), scopeA, runOf("old", "intent", t0), keysSel(10, "k"))
	assert.ErrorIs(t, err, analysis.ErrConflict, "a run of a stale version")
	future := runOf("future", "intent", t0)
	future.DefinitionVersion = 4
	_, err = s.CreateRun(ctx(), scopeA, future, keysSel(10, "k"))
	assert.ErrorIs(t, err, analysis.ErrConflict, "a run of a version that never was")
	for _, id := range []string{"old", "future"} {
		_, err = s.GetRun(ctx(), scopeA, id)
		assert.ErrorIs(t, err, analysis.ErrNotFound, "the refused run %s is not stored", id)
	}
	current := runOf("current", "intent", t0)
	current.DefinitionVersion = 3
	r, err := s.CreateRun(ctx(), scopeA, current, keysSel(10, "k"))
	require.NoError(t, err, "the definition is free: the refused runs left nothing behind")
	assert.Equal(t, int64(3), r.DefinitionVersion)
	c := claim(t, s, "x")
	assert.Equal(t, "intent", c.DefinitionKey)
	assert.Equal(t, int64(3), c.DefinitionVersion, "a claim names the version the run works with")
}

func testDefinitionConcurrentUpdates(t *testing.T, h Harness) {
	// N writers each read, modify and write back with the version they
	// read, retrying on conflict: no update is lost.
	s := h.Store
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, definition("d1", "intent", t0)))
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for attempt := 0; attempt < 10_000; attempt++ {
				d, err := s.GetDefinition(ctx(), scopeA, "d1")
				if err != nil {
					errs[i] = err
					return
				}
				read := d.Version
				d.ExtractionInstructions += fmt.Sprintf(" [m%02d]", i)
				err = s.UpdateDefinition(ctx(), scopeA, d, read)
				if err == nil {
					return
				}
				if !errors.Is(err, analysis.ErrConflict) {
					errs[i] = err
					return
				}
			}
			errs[i] = errors.New("never landed")
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	d, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, int64(1+n), d.Version, "one version per update")
	for i := range n {
		marker := fmt.Sprintf(" [m%02d]", i)
		assert.Equal(t, 1, strings.Count(d.ExtractionInstructions, marker), "writer %d's update landed exactly once", i)
	}
}

func testDefinitionDelete(t *testing.T, h Harness) {
	s := h.Store
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, definition("d1", "intent", t0)))
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, "call-1"))
	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeA, "d1", 0), analysis.ErrRunInProgress, "pending")
	_, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err, "nothing was deleted")
	c := claim(t, s, "x")
	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeA, "d1", 0), analysis.ErrRunInProgress, "running")
	finished, err := s.CompleteChunk(ctx(), c.ChunkRef, t0)
	require.NoError(t, err)
	require.True(t, finished)

	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeB, "d1", 0), analysis.ErrNotFound)
	require.NoError(t, s.DeleteDefinition(ctx(), scopeA, "d1", 0))
	_, err = s.GetDefinition(ctx(), scopeA, "intent")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeA, "d1", 0), analysis.ErrNotFound)
	_, err = s.GetRun(ctx(), scopeA, "r1")
	assert.NoError(t, err, "the definition's runs are kept")
	_, err = s.CreateRun(ctx(), scopeA, runOf("r2", "intent", t0), keysSel(10, "call-1"))
	assert.ErrorIs(t, err, analysis.ErrNotFound, "a deleted definition is not run")
	assert.ErrorIs(t, s.CreateDefinition(ctx(), scopeA, definition("d2", "intent", t0)), analysis.ErrConflict,
		"a deleted definition's key is never reused: its runs must not attach to a new definition")
	require.NoError(t, s.CreateDefinition(ctx(), scopeB, definition("d2", "intent", t0)), "in its own scope only")
}

func testDefinitionList(t *testing.T, h Harness) {
	s := h.Store
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

func testListScheduled(t *testing.T, h Harness) {
	s := h.Store
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

func testDefinitionCopies(t *testing.T, h Harness) {
	s := h.Store
	d := definition("d1", "intent", t0)
	d.Schedule = &analysis.Schedule{Cron: "0 2 * * *", TimeZone: "Europe/Berlin", Enabled: true}
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, d))
	d.FieldSet[0].EnumValues[0] = "mutated"
	*d.Modes.Judge.Threshold = 0.1
	d.Schedule.Cron = "mutated"
	got, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, "billing", got.FieldSet[0].EnumValues[0], "the store kept its own copy")
	assert.Equal(t, 0.7, *got.Modes.Judge.Threshold)
	assert.Equal(t, "0 2 * * *", got.Schedule.Cron)
	assert.Equal(t, "Europe/Berlin", got.Schedule.TimeZone, "the schedule's time zone is kept")
	got.FieldSet[0].Key = "mutated"
	got.FieldSet[0].EnumValues[1] = "mutated"
	*got.Modes.Judge.Threshold = 0.2
	got.Schedule.Enabled = false
	again, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, "intent", again.FieldSet[0].Key, "a returned value is a copy")
	assert.Equal(t, "support", again.FieldSet[0].EnumValues[1])
	assert.Equal(t, 0.7, *again.Modes.Judge.Threshold)
	assert.True(t, again.Schedule.Enabled)

	// An update is copied in too.
	upd := again
	require.NoError(t, s.UpdateDefinition(ctx(), scopeA, upd, again.Version))
	upd.FieldSet[0].EnumValues[0] = "mutated"
	*upd.Modes.Judge.Threshold = 0.3
	after, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, "billing", after.FieldSet[0].EnumValues[0])
	assert.Equal(t, 0.7, *after.Modes.Judge.Threshold)
	list, err := s.ListDefinitions(ctx(), scopeA, analysis.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list[0].FieldSet[0].EnumValues[0] = "mutated"
	after, err = s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	assert.Equal(t, "billing", after.FieldSet[0].EnumValues[0], "a listed value is a copy")
}

func testDefinitionDeleteAtVersion(t *testing.T, h Harness) {
	s := h.Store
	require.NoError(t, s.CreateDefinition(ctx(), scopeA, definition("d1", "intent", t0)))
	d, err := s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err)
	require.NoError(t, s.UpdateDefinition(ctx(), scopeA, d, 1)) // now at version 2
	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeA, "d1", 1), analysis.ErrConflict, "a stale version")
	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeA, "d1", 3), analysis.ErrConflict, "a version not reached")
	_, err = s.GetDefinition(ctx(), scopeA, "d1")
	require.NoError(t, err, "nothing was deleted")
	assert.ErrorIs(t, s.DeleteDefinition(ctx(), scopeB, "d1", 2), analysis.ErrNotFound)
	require.NoError(t, s.DeleteDefinition(ctx(), scopeA, "d1", 2))
	_, err = s.GetDefinition(ctx(), scopeA, "d1")
	assert.ErrorIs(t, err, analysis.ErrNotFound)

	// An update and a delete at the same version, racing: exactly one wins.
	for round := range 20 {
		id := fmt.Sprintf("race-%02d", round)
		require.NoError(t, s.CreateDefinition(ctx(), scopeA, definition(id, id, t0)))
		d, err := s.GetDefinition(ctx(), scopeA, id)
		require.NoError(t, err)
		var upd, del error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			d.Name = "changed"
			upd = s.UpdateDefinition(ctx(), scopeA, d, 1)
		}()
		go func() {
			defer wg.Done()
			<-start
			del = s.DeleteDefinition(ctx(), scopeA, id, 1)
		}()
		close(start)
		wg.Wait()
		require.True(t, (upd == nil) != (del == nil), "round %d: exactly one succeeds (update %v, delete %v)", round, upd, del)
		got, err := s.GetDefinition(ctx(), scopeA, id)
		if del == nil {
			assert.ErrorIs(t, err, analysis.ErrNotFound)
			assert.Error(t, upd, "the update lost")
		} else {
			require.NoError(t, err)
			assert.Equal(t, "changed", got.Name)
			assert.ErrorIs(t, del, analysis.ErrConflict)
		}
	}
}
