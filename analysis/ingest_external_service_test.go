package analysis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
)

// externalBody is a bulk body of n conversations with external IDs
// crm-0, crm-1, ... whose caller says what; every third is named "Call",
// so that derived keys collide, the others "Call <i>".
func externalBody(t testing.TB, n int, says string) []byte {
	t.Helper()
	var ins []analysis.ConversationInput
	for i := range n {
		name := fmt.Sprint("Call ", i)
		if i%3 == 0 {
			name = "Call"
		}
		ins = append(ins, analysis.ConversationInput{
			ExternalID: fmt.Sprint("crm-", i), Name: name,
			Transcript:      extract.Transcript{{Role: "caller", Content: says}, {Role: "agent", Content: "Done."}},
			ReferenceFields: map[string]any{"intent": "billing"},
			Tags:            []string{says},
		})
	}
	body, err := json.Marshal(map[string]any{"conversations": ins})
	require.NoError(t, err)
	return body
}

func listAll(t testing.TB, e *env, sc analysis.Scope) []analysis.Conversation {
	t.Helper()
	cs, err := e.store.ListConversations(context.Background(), sc, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 1 << 20}})
	require.NoError(t, err)
	return cs
}

func byExternalID(cs []analysis.Conversation) map[string]analysis.Conversation {
	out := map[string]analysis.Conversation{}
	for _, c := range cs {
		out[c.ExternalID] = c
	}
	return out
}

func TestReingestingTheSameConversationsStoresThemOnce(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	first, err := e.svc.IngestBody(ctx, scope, externalBody(t, 300, "first"))
	require.NoError(t, err)
	assert.Equal(t, [3]int{300, 0, 0}, [3]int{first.Created, first.Updated, first.Skipped})
	require.Len(t, first.Conversations, 300)
	assert.True(t, first.Bulk)

	e.clock.Advance(time.Hour)
	second, err := e.svc.IngestBody(ctx, scope, externalBody(t, 300, "second"))
	require.NoError(t, err)
	assert.Equal(t, [3]int{0, 300, 0}, [3]int{second.Created, second.Updated, second.Skipped}, "every conversation updated")
	stored := listAll(t, e, scope)
	assert.Len(t, stored, 300, "no copies")
	for i, c := range second.Conversations {
		was := first.Conversations[i]
		assert.Equal(t, analysis.PutUpdated, second.Actions[i])
		assert.Equal(t, was.ID, c.ID, "%s keeps its ID", was.ExternalID)
		assert.Equal(t, was.Key, c.Key, "%s keeps its key", was.ExternalID)
		assert.True(t, was.CreatedAt.Equal(c.CreatedAt), "%s keeps its creation time", was.ExternalID)
		assert.Equal(t, "second", c.Transcript[0].Content, "%s has the new content", was.ExternalID)
		assert.Equal(t, []string{"second"}, c.Tags)
	}
	assert.Equal(t, second.Conversations, listAllInOrder(t, e, second.Conversations), "what the ingest returned is what is stored")

	// The Ingest and IngestConversations forms update too.
	cs, err := e.svc.Ingest(ctx, scope, externalBody(t, 300, "third"))
	require.NoError(t, err)
	assert.Equal(t, "third", cs[299].Transcript[0].Content)
	res, err := e.svc.IngestConversationsWith(ctx, scope, []analysis.ConversationInput{{ExternalID: "crm-7", Transcript: extract.Transcript{{Role: "caller", Content: "fourth"}}}}, analysis.IngestOptions{})
	require.NoError(t, err)
	assert.Equal(t, [3]int{0, 1, 0}, [3]int{res.Created, res.Updated, res.Skipped})
	assert.Equal(t, first.Conversations[7].Key, res.Conversations[0].Key)
	assert.Len(t, listAll(t, e, scope), 300)
}

// listAllInOrder reads the conversations like want, by key, from the store.
func listAllInOrder(t testing.TB, e *env, want []analysis.Conversation) []analysis.Conversation {
	t.Helper()
	var keys []string
	for _, c := range want {
		keys = append(keys, c.Key)
	}
	got, err := e.store.GetConversations(context.Background(), scope, keys)
	require.NoError(t, err)
	return got
}

func TestAnUpdateKeepsWhatRunsWrote(t *testing.T) {
	e := newEnv(t, fakeModel())
	ctx := context.Background()
	body := `{"externalId":"crm-1","name":"Call 1","transcript":[{"role":"caller","content":"Hello, this is about support."}],"referenceFields":{"intent":"support"}}`
	cs, err := e.svc.Ingest(ctx, scope, []byte(body))
	require.NoError(t, err)
	d, err := e.svc.CreateDefinition(ctx, scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.StartRun(ctx, scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = e.exec.Drain(ctx)
	require.NoError(t, err)
	analysed, err := e.svc.GetConversation(ctx, scope, cs[0].Key)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"intent": "support", "resolved": true}, analysed.ExtractedFields, "store mode wrote the fields")
	require.NotNil(t, analysed.LastAnalyzedAt)

	res, err := e.svc.IngestBody(ctx, scope, []byte(strings.Replace(body, "Call 1", "Call 1, again", 1)))
	require.NoError(t, err)
	assert.Equal(t, []analysis.PutAction{analysis.PutUpdated}, res.Actions)
	got := res.Conversations[0]
	assert.Equal(t, "Call 1, again", got.Name)
	assert.Equal(t, analysed.ExtractedFields, got.ExtractedFields, "the fields runs wrote are kept")
	assert.Equal(t, analysed.LastAnalyzedAt, got.LastAnalyzedAt)
	assert.Equal(t, cs[0].Key, got.Key)
	// And it stays analysed: the unanalyzed strategy leaves it out.
	run, err := e.svc.StartRun(ctx, scope, d.Key, analysis.Selection{Strategy: analysis.SelectUnanalyzed})
	require.NoError(t, err)
	assert.Equal(t, 0, run.Progress.Total, "nothing left to analyse")
}

func TestSkipModeLeavesStoredConversationsUntouched(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	first, err := e.svc.IngestBody(ctx, scope, externalBody(t, 300, "first"))
	require.NoError(t, err)
	before := listAll(t, e, scope)

	res, err := e.svc.IngestWith(ctx, scope, externalBody(t, 300, "second"), analysis.IngestOptions{OnExisting: analysis.SkipExisting})
	require.NoError(t, err)
	assert.Equal(t, [3]int{0, 0, 300}, [3]int{res.Created, res.Updated, res.Skipped})
	assert.Equal(t, before, listAll(t, e, scope), "nothing changed")
	assert.Equal(t, first.Conversations, res.Conversations, "a skipped conversation is returned as stored")
	for _, a := range res.Actions {
		assert.Equal(t, analysis.PutSkipped, a)
	}
}

func TestMixedBatches(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		mode    analysis.OnExisting
		actions []analysis.PutAction
		content string
	}{
		{analysis.UpdateExisting, []analysis.PutAction{analysis.PutCreated, analysis.PutUpdated, analysis.PutCreated, analysis.PutUpdated, analysis.PutCreated}, "new"},
		{analysis.SkipExisting, []analysis.PutAction{analysis.PutCreated, analysis.PutSkipped, analysis.PutCreated, analysis.PutSkipped, analysis.PutCreated}, "one"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			e := newEnv(t, nil)
			_, err := e.svc.Ingest(ctx, scope, []byte(`{"conversations":[
				{"externalId":"crm-1","name":"Call","transcript":[{"role":"caller","content":"one"}]},
				{"externalId":"crm-2","key":"chosen","transcript":[{"role":"caller","content":"two"}]}
			]}`))
			require.NoError(t, err)
			res, err := e.svc.IngestWith(ctx, scope, []byte(`{"conversations":[
				{"name":"Call","transcript":[{"role":"caller","content":"new"}]},
				{"externalId":"crm-1","name":"Call","transcript":[{"role":"caller","content":"new"}]},
				{"externalId":"crm-3","name":"Call","transcript":[{"role":"caller","content":"new"}]},
				{"externalId":"crm-2","key":"chosen","transcript":[{"role":"caller","content":"new"}]},
				{"name":"Chosen","transcript":[{"role":"caller","content":"new"}]}
			]}`), analysis.IngestOptions{OnExisting: tc.mode})
			require.NoError(t, err)
			assert.Equal(t, tc.actions, res.Actions)
			assert.Equal(t, 3, res.Created)
			assert.Equal(t, 2, res.Updated+res.Skipped)
			keys := []string{}
			for _, c := range res.Conversations {
				keys = append(keys, c.Key)
			}
			assert.Equal(t, []string{"call-2", "call", "call-3", "chosen", "chosen-2"}, keys,
				"the stored conversations keep their keys and consume none: the new ones take the next free ones")
			assert.Equal(t, tc.content, res.Conversations[1].Transcript[0].Content)
			assert.Len(t, listAll(t, e, scope), 5)
		})
	}
}

func TestExplicitKeysOfStoredConversations(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	_, err := e.svc.Ingest(ctx, scope, []byte(`{"conversations":[
		{"externalId":"crm-1","key":"call-1","transcript":[{"role":"caller","content":"one"}]},
		{"externalId":"crm-2","name":"Derived","transcript":[{"role":"caller","content":"two"}]},
		{"key":"other","transcript":[{"role":"caller","content":"three"}]}
	]}`))
	require.NoError(t, err)

	// The stored key, given again: not a conflict, whatever the mode.
	for _, mode := range []analysis.OnExisting{analysis.UpdateExisting, analysis.SkipExisting} {
		res, err := e.svc.IngestWith(ctx, scope, []byte(`{"externalId":"crm-1","key":"call-1","transcript":[{"role":"caller","content":"again"}]}`),
			analysis.IngestOptions{OnExisting: mode})
		require.NoError(t, err, mode)
		assert.Equal(t, 0, res.Created, mode)
		assert.Equal(t, "call-1", res.Conversations[0].Key)
	}
	// A key given without one before takes the stored one: also fine.
	res, err := e.svc.IngestBody(ctx, scope, []byte(`{"externalId":"crm-2","key":"derived","transcript":[{"role":"caller","content":"again"}]}`))
	require.NoError(t, err)
	assert.Equal(t, [3]int{0, 1, 0}, [3]int{res.Created, res.Updated, res.Skipped})

	// Another key for a stored conversation: a conflict naming the path,
	// the external ID and the stored key; nothing stored.
	_, err = e.svc.Ingest(ctx, scope, []byte(`{"conversations":[
		{"name":"Fine","transcript":[{"role":"caller","content":"x"}]},
		{"externalId":"crm-1","key":"renamed","transcript":[{"role":"caller","content":"x"}]}
	]}`))
	assert.ErrorIs(t, err, analysis.ErrConflict)
	assert.ErrorContains(t, err, `$.conversations[1].key: the conversation with external ID "crm-1" is stored with the key "call-1", not "renamed"`)
	_, err = e.svc.Ingest(ctx, scope, []byte(`{"externalId":"crm-1","key":"other","transcript":[{"role":"caller","content":"x"}]}`))
	assert.ErrorIs(t, err, analysis.ErrConflict, "a key another conversation holds")
	assert.ErrorContains(t, err, `$.key: the conversation with external ID "crm-1" is stored with the key "call-1", not "other"`)
	// A new external ID with a taken key: the key is taken.
	_, err = e.svc.Ingest(ctx, scope, []byte(`{"externalId":"crm-9","key":"call-1","transcript":[{"role":"caller","content":"x"}]}`))
	assert.ErrorIs(t, err, analysis.ErrConflict)
	assert.ErrorContains(t, err, `$.key: the key "call-1" is taken`)
	// A new conversation taking the key of one the batch updates.
	_, err = e.svc.Ingest(ctx, scope, []byte(`{"conversations":[
		{"externalId":"crm-1","transcript":[{"role":"caller","content":"x"}]},
		{"key":"call-1","transcript":[{"role":"caller","content":"x"}]}
	]}`))
	assert.ErrorIs(t, err, analysis.ErrConflict)
	assert.ErrorContains(t, err, `$.conversations[1].key: the key "call-1" is taken`)
	assert.Len(t, listAll(t, e, scope), 3, "no refused ingest stored anything")
	got, err := e.svc.GetConversation(ctx, scope, "call-1")
	require.NoError(t, err)
	assert.Equal(t, "again", got.Transcript[0].Content, "nor changed anything")
}

func TestExternalIDsAreChecked(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	turn := `"transcript":[{"role":"caller","content":"x"}]`
	long := strings.Repeat("x", analysis.MaxExternalIDLen+1)
	_, err := e.svc.Ingest(ctx, scope, []byte(`{"conversations":[
		{"externalId":"`+long+`",`+turn+`},
		{"externalId":"   ",`+turn+`},
		{"externalId":"a\u0000b",`+turn+`},
		{"externalId":"crm-1",`+turn+`},
		{"externalId":"`+long[:analysis.MaxExternalIDLen]+`",`+turn+`},
		{"externalId":"",`+turn+`}
	]}`))
	ps := problemsOf(t, err)
	assert.Equal(t, []string{"$.conversations[0].externalId", "$.conversations[1].externalId", "$.conversations[2].externalId"}, paths(ps))
	assert.Equal(t, "the external ID is 201 bytes, more than 200", ps[0].Message)
	assert.Equal(t, "an external ID must not be blank", ps[1].Message)
	assert.Equal(t, []int{0, 1, 2}, []int{ps[0].Index, ps[1].Index, ps[2].Index})

	// Repeated in one call: the later one names the first.
	_, err = e.svc.Ingest(ctx, scope, []byte(`{"conversations":[
		{"externalId":"crm-1",`+turn+`}, {"externalId":"crm-2",`+turn+`}, {"externalId":"crm-1",`+turn+`}, {"externalId":"crm-1",`+turn+`}
	]}`))
	ps = problemsOf(t, err)
	assert.Equal(t, []string{"$.conversations[2].externalId", "$.conversations[3].externalId"}, paths(ps))
	assert.Equal(t, `"crm-1" is also the external ID of conversation 0`, ps[0].Message)
	assert.Equal(t, `"crm-1" is also the external ID of conversation 0`, ps[1].Message)

	// Text no store can hold, given as Go values.
	_, err = e.svc.IngestConversations(ctx, scope, []analysis.ConversationInput{
		{ExternalID: "ok", Transcript: extract.Transcript{{Role: "a", Content: "x"}}},
		{ExternalID: "bad\xff", Transcript: extract.Transcript{{Role: "a", Content: "x"}}},
	})
	ps = problemsOf(t, err)
	assert.Equal(t, []string{"$.conversations[1].externalId"}, paths(ps))
	assert.Equal(t, "the text is not valid UTF-8, or holds a NUL character", ps[0].Message)
	_, err = e.svc.Ingest(ctx, scope, []byte(`{"externalId":" ",`+turn+`}`))
	assert.Equal(t, []string{"$.externalId"}, paths(problemsOf(t, err)), "a single conversation's path")

	// A mode that is neither.
	_, err = e.svc.IngestWith(ctx, scope, []byte(`{`+turn+`}`), analysis.IngestOptions{OnExisting: "merge"})
	assert.Equal(t, []string{"$.onExisting"}, paths(problemsOf(t, err)))
	_, err = e.svc.IngestConversationsWith(ctx, scope, []analysis.ConversationInput{{Transcript: extract.Transcript{{Role: "a", Content: "x"}}}},
		analysis.IngestOptions{OnExisting: "Skip"})
	assert.Equal(t, []string{"$.onExisting"}, paths(problemsOf(t, err)))
	assert.Empty(t, listAll(t, e, scope), "nothing refused was stored")

	// An external ID at the bound, and spaces inside one, are fine.
	res, err := e.svc.IngestBody(ctx, scope, []byte(`{"conversations":[{"externalId":"`+long[:analysis.MaxExternalIDLen]+`",`+turn+`},{"externalId":" a b ",`+turn+`}]}`))
	require.NoError(t, err)
	assert.Equal(t, 2, res.Created)
	assert.Equal(t, " a b ", res.Conversations[1].ExternalID, "kept exactly")
}

// racingStore lets another ingest store the external ID "crm-1" just
// before the first put, which then fails with a conflict, as a database
// store's put does when it loses such a race.
type racingStore struct {
	analysis.Store
	mu    sync.Mutex
	puts  int
	racer analysis.Conversation
}

func (s *racingStore) PutConversations(ctx context.Context, sc analysis.Scope, cs []analysis.Conversation, mode analysis.OnExisting) ([]analysis.PutOutcome, error) {
	s.mu.Lock()
	s.puts++
	first := s.puts == 1
	s.mu.Unlock()
	if first {
		if _, err := s.Store.PutConversations(ctx, sc, []analysis.Conversation{s.racer}, analysis.UpdateExisting); err != nil {
			return nil, err
		}
		return nil, analysis.ErrConflict
	}
	return s.Store.PutConversations(ctx, sc, cs, mode)
}

func TestARetriedIngestSeesWhatAnotherStoredMeanwhile(t *testing.T) {
	racer := analysis.Conversation{ID: "racer-id", Key: "racer", ExternalID: "crm-1", Name: "The racer's",
		Transcript: extract.Transcript{{Role: "caller", Content: "racer"}}, Tags: []string{}, Source: analysis.SourceImported, CreatedAt: start}
	for _, tc := range []struct {
		mode   analysis.OnExisting
		action analysis.PutAction
		name   string
	}{{analysis.UpdateExisting, analysis.PutUpdated, "Call"}, {analysis.SkipExisting, analysis.PutSkipped, "The racer's"}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			var rs *racingStore
			e := newEnv(t, nil, func(c *analysis.Config, _ *analysis.ExecutorConfig) {
				rs = &racingStore{Store: c.Store, racer: racer}
				c.Store = rs
			})
			res, err := e.svc.IngestWith(context.Background(), scope, []byte(`{"conversations":[
				{"externalId":"crm-1","name":"Call","transcript":[{"role":"caller","content":"mine"}]},
				{"name":"Call","transcript":[{"role":"caller","content":"plain"}]}
			]}`), analysis.IngestOptions{OnExisting: tc.mode})
			require.NoError(t, err, "the conflict is retried")
			assert.Equal(t, 2, rs.puts, "once lost, once stored")
			assert.Equal(t, []analysis.PutAction{tc.action, analysis.PutCreated}, res.Actions, "the retry sees the racer's conversation as stored")
			assert.Equal(t, "racer", res.Conversations[0].Key)
			assert.Equal(t, "racer-id", res.Conversations[0].ID)
			assert.Equal(t, tc.name, res.Conversations[0].Name)
			assert.Equal(t, "call", res.Conversations[1].Key)
			assert.Len(t, listAll(t, e, scope), 2, "one conversation for crm-1")
		})
	}
}

func TestConcurrentIngestsOfTheSameConversations(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	body := externalBody(t, 40, "same")
	var wg sync.WaitGroup
	results := make([]analysis.IngestResult, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Go(func() { results[i], errs[i] = e.svc.IngestBody(ctx, scope, bytes.Clone(body)) })
	}
	wg.Wait()
	created := 0
	for i := range 8 {
		require.NoError(t, errs[i])
		created += results[i].Created
		assert.Equal(t, 40, results[i].Created+results[i].Updated, "call %d", i)
	}
	assert.Equal(t, 40, created, "each conversation created once")
	stored := listAll(t, e, scope)
	assert.Len(t, stored, 40)
	assert.Len(t, byExternalID(stored), 40)
	assert.Empty(t, listAll(t, e, other), "another scope has none")
	// Another scope's same external IDs are other conversations.
	res, err := e.svc.IngestBody(ctx, other, body)
	require.NoError(t, err)
	assert.Equal(t, 40, res.Created)
}
