package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/pgstore"
	"github.com/debrief-go/debrief/extract"
)

// newService is a service on a store on a fresh schema.
func newService(t *testing.T) (*analysis.Service, *pgstore.Store) {
	t.Helper()
	pool := testPool(t)
	st, err := pgstore.New(context.Background(), pool, pgstore.Options{Schema: freshSchema(t, pool)})
	require.NoError(t, err)
	svc, err := analysis.NewService(analysis.Config{Store: st})
	require.NoError(t, err)
	return svc, st
}

// externalBulk is a bulk body of n conversations with external IDs crm-0,
// crm-1, ..., all named "Call" (derived keys collide), saying says.
func externalBulk(t *testing.T, n int, says string) []byte {
	t.Helper()
	var ins []analysis.ConversationInput
	for i := range n {
		ins = append(ins, analysis.ConversationInput{ExternalID: fmt.Sprint("crm-", i), Name: "Call",
			Transcript: extract.Transcript{{Role: "caller", Content: says}}, Tags: []string{says}})
	}
	body, err := json.Marshal(map[string]any{"conversations": ins})
	require.NoError(t, err)
	return body
}

func countConversations(t *testing.T, st *pgstore.Store) int {
	t.Helper()
	cs, err := st.ListConversations(context.Background(), sc, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 100_000}})
	require.NoError(t, err)
	return len(cs)
}

func TestReingestingOnPostgreSQLStoresEachConversationOnce(t *testing.T) {
	svc, st := newService(t)
	ctx := context.Background()
	first, err := svc.IngestBody(ctx, sc, externalBulk(t, 300, "first"))
	require.NoError(t, err)
	assert.Equal(t, 300, first.Created)
	second, err := svc.IngestBody(ctx, sc, externalBulk(t, 300, "second"))
	require.NoError(t, err)
	assert.Equal(t, [3]int{0, 300, 0}, [3]int{second.Created, second.Updated, second.Skipped})
	assert.Equal(t, 300, countConversations(t, st))
	for i := range second.Conversations {
		assert.Equal(t, first.Conversations[i].ID, second.Conversations[i].ID)
		assert.Equal(t, first.Conversations[i].Key, second.Conversations[i].Key)
	}
	found, err := svc.ListConversations(ctx, sc, analysis.ConversationFilter{Search: "second", Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, found, 300, "search sees the new content")
	found, err = svc.ListConversations(ctx, sc, analysis.ConversationFilter{Search: "first", Limit: 1000})
	require.NoError(t, err)
	assert.Empty(t, found, "and not the old")

	skipped, err := svc.IngestWith(ctx, sc, externalBulk(t, 301, "third"), analysis.IngestOptions{OnExisting: analysis.SkipExisting})
	require.NoError(t, err)
	assert.Equal(t, [3]int{1, 0, 300}, [3]int{skipped.Created, skipped.Updated, skipped.Skipped})
	got, err := svc.GetConversation(ctx, sc, first.Conversations[0].Key)
	require.NoError(t, err)
	assert.Equal(t, "second", got.Transcript[0].Content, "skipped: untouched")
	assert.Equal(t, 301, countConversations(t, st))
}

func TestConcurrentIngestsOnPostgreSQLStoreEachConversationOnce(t *testing.T) {
	svc, st := newService(t)
	ctx := context.Background()
	body := externalBulk(t, 40, "same")
	var wg sync.WaitGroup
	results := make([]analysis.IngestResult, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Go(func() { results[i], errs[i] = svc.IngestBody(ctx, sc, body) })
	}
	wg.Wait()
	created := 0
	for i := range 8 {
		require.NoError(t, errs[i], "call %d: a lost race is retried, and the retry finds the conversations", i)
		created += results[i].Created
		assert.Equal(t, 40, results[i].Created+results[i].Updated)
	}
	assert.Equal(t, 40, created, "each conversation created by one call")
	assert.Equal(t, 40, countConversations(t, st))
}
