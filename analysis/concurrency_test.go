package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
)

func TestDefinitionVersions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d, err := e.svc.CreateDefinition(ctx, scope, intentDefinition())
	require.NoError(t, err)
	assert.Equal(t, int64(1), d.Version)

	up, err := e.svc.UpdateDefinition(ctx, scope, d.Key, []byte(`{"name":"Renamed"}`))
	require.NoError(t, err)
	assert.Equal(t, int64(2), up.Version)
	got, err := e.svc.GetDefinition(ctx, scope, d.Key)
	require.NoError(t, err)
	assert.Equal(t, up, got, "what the update returns is what is stored")

	_, err = e.svc.UpdateDefinitionAt(ctx, scope, d.Key, 1, []byte(`{"name":"Stale"}`))
	assert.ErrorIs(t, err, analysis.ErrConflict, "the If-Match of an older version fails")
	assert.ErrorContains(t, err, "at version 2, not 1")
	got, err = e.svc.GetDefinition(ctx, scope, d.Key)
	require.NoError(t, err)
	assert.Equal(t, "Renamed", got.Name, "and changes nothing")

	up, err = e.svc.UpdateDefinitionAt(ctx, scope, d.Key, 2, []byte(`{"name":"Current"}`))
	require.NoError(t, err)
	assert.Equal(t, int64(3), up.Version)
	assert.Equal(t, "Current", up.Name)

	_, err = e.svc.UpdateDefinitionAt(ctx, scope, d.Key, 0, []byte(`{"name":"X"}`))
	assert.Equal(t, []string{"$.version"}, paths(problemsOf(t, err)))
	_, err = e.svc.UpdateDefinition(ctx, scope, d.Key, []byte(`{"version":9}`))
	assert.Equal(t, []string{"$.version"}, paths(problemsOf(t, err)), "the version is not patched")
	_, err = e.svc.UpdateDefinitionAt(ctx, scope, "nope", 1, []byte(`{"name":"X"}`))
	assert.ErrorIs(t, err, analysis.ErrNotFound)
}

// TestConcurrentPatchesLoseNothing patches six different members of one
// definition at once, round after round: each patch reads, merges and
// writes, and a write that lost the race merges again over the winner, so
// every member ends with its patch's value.
func TestConcurrentPatchesLoseNothing(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d, err := e.svc.CreateDefinition(ctx, scope, intentDefinition())
	require.NoError(t, err)
	version := d.Version
	for round := range 40 {
		patches := []string{
			fmt.Sprintf(`{"name":"Name %d"}`, round),
			fmt.Sprintf(`{"extractionInstructions":"Instructions %d"}`, round),
			fmt.Sprintf(`{"extractionModelKey":"extract-%d"}`, round),
			fmt.Sprintf(`{"judgeModelKey":"judge-%d"}`, round),
			fmt.Sprintf(`{"modes":{"store":%t}}`, round%2 == 0),
			fmt.Sprintf(`{"schedule":{"cron":"%d 2 * * *","enabled":false}}`, round),
		}
		var wg sync.WaitGroup
		errs := make([]error, len(patches))
		for i, p := range patches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.svc.UpdateDefinition(ctx, scope, d.Key, []byte(p))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, patch %d", round, i)
		}
		got, err := e.svc.GetDefinition(ctx, scope, d.Key)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("Name %d", round), got.Name)
		assert.Equal(t, fmt.Sprintf("Instructions %d", round), got.ExtractionInstructions)
		assert.Equal(t, fmt.Sprintf("extract-%d", round), got.ExtractionModelKey)
		assert.Equal(t, fmt.Sprintf("judge-%d", round), got.JudgeModelKey)
		assert.Equal(t, round%2 == 0, got.Modes.Store)
		require.NotNil(t, got.Schedule)
		assert.Equal(t, fmt.Sprintf("%d 2 * * *", round), got.Schedule.Cron)
		assert.True(t, got.Modes.Accuracy, "members no patch named are kept")
		version += int64(len(patches))
		require.Equal(t, version, got.Version, "one version per patch, round %d", round)
	}
}

// TestStartRunRacesDeleteDefinition starts a run and deletes its definition
// at the same moment, many times: never do both succeed.
func TestStartRunRacesDeleteDefinition(t *testing.T) {
	e := newEnv(t, nil)
	ingest(t, e, 3)
	ctx := context.Background()
	var started, deleted int
	for round := range 100 {
		in := intentDefinition()
		in.Name = fmt.Sprint("Race ", round)
		d, err := e.svc.CreateDefinition(ctx, scope, in)
		require.NoError(t, err)
		var runErr, delErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, runErr = e.svc.StartRun(ctx, scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
		}()
		go func() {
			defer wg.Done()
			delErr = e.svc.DeleteDefinition(ctx, scope, d.Key)
		}()
		wg.Wait()
		require.False(t, runErr == nil && delErr == nil, "round %d: the run started and its definition was deleted", round)
		switch {
		case runErr == nil:
			started++
			assert.ErrorIs(t, delErr, analysis.ErrRunInProgress)
		case delErr == nil:
			deleted++
			assert.ErrorIs(t, runErr, analysis.ErrNotFound)
		default:
			t.Fatalf("round %d: neither succeeded: %v / %v", round, runErr, delErr)
		}
	}
	t.Logf("%d runs started first, %d deletes won", started, deleted)
}

// TestCancelWhileItemsAreSaved cancels a run while its executor works on
// it — some model answers in flight, some items being saved: the cancelled
// run's aggregate counts exactly the items stored, and nothing is stored
// after the cancel.
func TestCancelWhileItemsAreSaved(t *testing.T) {
	for round := range 10 {
		k := int32(40 + round*25)
		var calls atomic.Int32
		reached, gate := make(chan struct{}), make(chan struct{})
		gated := llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
			switch n := calls.Add(1); {
			case n == k:
				close(reached)
				fallthrough
			case n > k:
				select {
				case <-gate:
				case <-ctx.Done():
					return llm.Response{}, ctx.Err()
				}
			}
			return fakeModel().Generate(ctx, req)
		})
		e := newEnv(t, gated, func(c *analysis.Config, ec *analysis.ExecutorConfig) { c.ChunkSize, ec.Concurrency = 7, 8 })
		ingest(t, e, 300)
		_, r := startAll(t, e, true)
		done := make(chan error, 1)
		go func() {
			_, err := e.exec.Drain(context.Background())
			done <- err
		}()
		<-reached
		cancelled, err := e.svc.CancelRun(context.Background(), scope, r.ID)
		require.NoError(t, err)
		close(gate) // the answers held back arrive after the cancel
		if err := <-done; err != nil {
			require.ErrorIs(t, err, analysis.ErrLeaseLost, "the executor stops at its next write")
		}
		final, err := e.svc.GetRun(context.Background(), scope, r.ID)
		require.NoError(t, err)
		assert.Equal(t, analysis.RunFailed, final.Status)
		assert.Equal(t, "the run was cancelled", final.Error)
		items := allItems(t, e, r.ID, 50)
		assert.Equal(t, analysis.Summarize(300, items), final.Aggregate, "round %d: the aggregate counts every stored item", round)
		assert.Equal(t, cancelled.Aggregate, final.Aggregate, "and nothing was stored after the cancel")
		assert.Less(t, len(items), 300)
		assert.Positive(t, len(items))
	}
}

func TestRunItemsArePaged(t *testing.T) {
	e := newEnv(t, fakeModel(), func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxInlineItems, c.ChunkSize = 10, 4 })
	cs := ingest(t, e, 23)
	_, r := startAll(t, e, false)
	n, err := e.exec.Drain(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 6, n, "23 conversations in chunks of 4")

	got, err := e.svc.GetRun(context.Background(), scope, r.ID)
	require.NoError(t, err)
	require.Equal(t, analysis.RunCompleted, got.Status)
	assert.Len(t, got.Items, 10, "a large run carries its first items")
	require.NotEmpty(t, got.ItemsCursor, "and the cursor of the rest")
	rest := []analysis.Item{}
	cursor := got.ItemsCursor
	for cursor != "" {
		p, err := e.svc.ListRunItems(context.Background(), scope, r.ID, cursor, 5)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(p.Items), 5)
		rest = append(rest, p.Items...)
		cursor = p.NextCursor
	}
	all := append(got.Items, rest...)
	assert.Len(t, all, 23)
	assert.Equal(t, allItems(t, e, r.ID, 1000), all, "the same items, in the same order, whatever the page size")
	keys := map[string]bool{}
	for _, it := range all {
		keys[it.ConversationKey] = true
	}
	assert.Len(t, keys, 23)
	assert.ElementsMatch(t, keysOf(cs), runKeys(t, e, got))

	small := newEnv(t, fakeModel())
	ingest(t, small, 3)
	_, sr := startAll(t, small, false)
	_, err = small.exec.Drain(context.Background())
	require.NoError(t, err)
	sr, err = small.svc.GetRun(context.Background(), scope, sr.ID)
	require.NoError(t, err)
	assert.Len(t, sr.Items, 3)
	assert.Empty(t, sr.ItemsCursor, "a run within the bound has all its items and no cursor")

	for _, bad := range []string{"garbage", got.ItemsCursor + "x", "aXRlbXMAcjEAMw"} {
		_, err = e.svc.ListRunItems(context.Background(), scope, r.ID, bad, 5)
		assert.Equal(t, []string{"$.cursor"}, paths(problemsOf(t, err)), "cursor %q", bad)
	}
	second, err := e.svc.StartRun(context.Background(), scope, got.DefinitionKey, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = e.svc.ListRunItems(context.Background(), scope, second.ID, got.ItemsCursor, 5)
	assert.Equal(t, []string{"$.cursor"}, paths(problemsOf(t, err)), "another run's cursor")
	keyPage, err := e.svc.ListRunKeys(context.Background(), scope, r.ID, "", 5)
	require.NoError(t, err)
	_, err = e.svc.ListRunItems(context.Background(), scope, r.ID, keyPage.NextCursor, 5)
	assert.Equal(t, []string{"$.cursor"}, paths(problemsOf(t, err)), "a cursor of the keys, not the items")
	_, err = e.svc.ListRunItems(context.Background(), scope, "no-such-run", "", 5)
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	_, err = e.svc.ListRunItems(context.Background(), other, r.ID, "", 5)
	assert.ErrorIs(t, err, analysis.ErrNotFound, "another scope's run is not found")
	_, err = e.svc.ListRunKeys(context.Background(), other, r.ID, "", 5)
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	_, err = e.svc.ListRunKeys(context.Background(), scope, r.ID, "", -1)
	assert.Equal(t, []string{"$.limit"}, paths(problemsOf(t, err)))
}

func TestSelectionLargerThanTheMaximum(t *testing.T) {
	e := newEnv(t, fakeModel(), func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxRunConversations = 5 })
	ingest(t, e, 8)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	assert.Equal(t, []string{"$.selection"}, paths(problemsOf(t, err)))
	assert.ErrorContains(t, err, "the selection has 8 conversations, more than the 5 a run may analyse")
	var se *analysis.SelectionSizeError
	assert.False(t, errors.As(err, &se), "the service reports it as a validation error")
	r, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectTag, Tag: "even"})
	require.NoError(t, err, "nothing was created by the refused run: the definition is free")
	assert.Equal(t, 4, r.Progress.Total)
}
