package analysis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
)

const seedBulk = `{
  "conversations": [
    {
      "name": "Call 1042",
      "transcript": [
        { "role": "caller", "content": "I was charged twice." },
        { "role": "agent", "content": "I've issued a refund." }
      ],
      "referenceFields": { "intent": "billing", "resolved": true }
    }
  ]
}`

func TestIngestSeedBulkBody(t *testing.T) {
	e := newEnv(t, nil)
	cs, err := e.svc.Ingest(context.Background(), scope, []byte(seedBulk))
	require.NoError(t, err)
	require.Len(t, cs, 1)
	c := cs[0]
	assert.Equal(t, "call-1042", c.Key)
	assert.Equal(t, analysis.SourceImported, c.Source, "imported by default")
	assert.Equal(t, map[string]any{"intent": "billing", "resolved": true}, c.ReferenceFields)
	assert.Equal(t, []string{}, c.Tags)
	got, err := e.svc.GetConversation(context.Background(), scope, "call-1042")
	require.NoError(t, err)
	assert.Equal(t, c, got)
}

func TestIngestSingleConversation(t *testing.T) {
	e := newEnv(t, nil)
	cs, err := e.svc.Ingest(context.Background(), scope, []byte(`{"transcript":[{"role":"caller","content":"hi"}],"source":"manual","tags":["vip"," vip ","x"]}`))
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Regexp(t, `^conversation-[0-9a-z]+$`, cs[0].Key, "generated without a name")
	assert.Equal(t, analysis.SourceManual, cs[0].Source)
	assert.Equal(t, []string{"vip", "x"}, cs[0].Tags, "tags trimmed and deduplicated")
}

func TestIngestKeys(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"conversations":[
		{"name":"Call 7","transcript":[{"role":"a","content":"x"}]},
		{"name":"Call 7","transcript":[{"role":"a","content":"x"}]},
		{"key":"call-7-3","transcript":[{"role":"a","content":"x"}]},
		{"name":"Call 7","transcript":[{"role":"a","content":"x"}]}
	]}`
	cs, err := e.svc.Ingest(context.Background(), scope, []byte(body))
	require.NoError(t, err)
	assert.Equal(t, []string{"call-7", "call-7-2", "call-7-3", "call-7-4"}, []string{cs[0].Key, cs[1].Key, cs[2].Key, cs[3].Key},
		"derived keys go round explicit ones and each other")
	cs, err = e.svc.Ingest(context.Background(), scope, []byte(`{"name":"Call 7","transcript":[{"role":"a","content":"x"}]}`))
	require.NoError(t, err)
	assert.Equal(t, "call-7-5", cs[0].Key, "and round the stored ones")

	_, err = e.svc.Ingest(context.Background(), scope, []byte(`{"key":"call-7","transcript":[{"role":"a","content":"x"}]}`))
	assert.ErrorIs(t, err, analysis.ErrConflict, "an explicit key that is taken")
	assert.ErrorContains(t, err, `$.key: the key "call-7" is taken`)
	_, err = e.svc.Ingest(context.Background(), scope, []byte(`{"conversations":[{"key":"k","transcript":[{"role":"a","content":"x"}]},{"key":"k","transcript":[{"role":"a","content":"x"}]}]}`))
	assert.Equal(t, []string{"$.conversations[1].key"}, paths(problemsOf(t, err)))
	_, err = e.svc.Ingest(context.Background(), scope, []byte(`{"key":"Not A Key","transcript":[{"role":"a","content":"x"}]}`))
	assert.Equal(t, []string{"$.key"}, paths(problemsOf(t, err)))
	_, err = e.svc.Ingest(context.Background(), scope, []byte(`{"key":"6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9","transcript":[{"role":"a","content":"x"}]}`))
	ps := problemsOf(t, err)
	assert.Equal(t, "a key must not look like a UUID, which would be taken for an ID", ps[0].Message)
}

func TestIngestIsAllOrNothing(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"conversations":[
		{"name":"Good","transcript":[{"role":"caller","content":"hi"}]},
		{"name":"Bad","transcript":[{"role":"caller","content":"hi"},{"role":"","content":""}]},
		{"name":"Also good","transcript":[{"role":"caller","content":"hi"}]},
		{"name":"Worse","transcript":[],"source":"email","referenceFields":{"nested":{"a":1}},"tags":[""]}
	]}`
	_, err := e.svc.Ingest(context.Background(), scope, []byte(body))
	ps := problemsOf(t, err)
	assert.Equal(t, []string{
		"$.conversations[1].transcript[1].role", "$.conversations[1].transcript[1].content",
		"$.conversations[3].transcript", "$.conversations[3].source", "$.conversations[3].tags[0]",
		"$.conversations[3].referenceFields.nested",
	}, paths(ps))
	assert.Equal(t, 1, ps[0].Index, "the index of the bad conversation")
	assert.Equal(t, 3, ps[2].Index)
	list, err := e.svc.ListConversations(context.Background(), scope, analysis.ConversationFilter{})
	require.NoError(t, err)
	assert.Empty(t, list, "nothing was stored")
}

func TestIngestBadBodies(t *testing.T) {
	e := newEnv(t, nil)
	for body, want := range map[string]string{
		`not json`:                       "$",
		`[1,2]`:                          "$",
		`{"conversations":{}}`:           "$.conversations",
		`{"conversations":[]}`:           "$.conversations",
		`{"conversations":[],"extra":1}`: "$.extra",
		`{"conversations":[{"transcript":[{"role":"a","content":"x"}],"colour":"red"}]}`: "$.conversations[0].colour",
		`{"conversations":[{"transcript":"hello"}]}`:                                     "$.conversations[0].transcript",
		`{"transcript":[{"role":"a","content":5}]}`:                                      "$.transcript[0].content",
		`{"Transcript":[{"role":"a","content":"x"}]}`:                                    "$.Transcript",
		`{"name":"no transcript"}`:                                                       "$.transcript",
	} {
		_, err := e.svc.Ingest(context.Background(), scope, []byte(body))
		ps := problemsOf(t, err)
		assert.Equal(t, want, ps[0].Path, body)
	}
}

func TestIngestReportsEveryProblemOfABulkBody(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"conversations":[
		{"name":"ok","transcript":[{"role":"a","content":"x"}]},
		{"name":"typed wrong","transcript":[{"role":"a","content":7}],"Tags":["x"]},
		{"name":"semantic","transcript":[{"role":"","content":"x"}]}
	]}`
	_, err := e.svc.Ingest(context.Background(), scope, []byte(body))
	ps := problemsOf(t, err)
	assert.Equal(t, []string{"$.conversations[1].Tags", "$.conversations[1].transcript[0].content", "$.conversations[2].transcript[0].role"}, paths(ps),
		"type errors at their full path and the other conversations' problems too")
	assert.Contains(t, ps[0].Message, `names are case-sensitive: "tags"`)
	assert.Equal(t, "got a number, want a string", ps[1].Message)
	assert.Equal(t, []int{1, 1, 2}, []int{ps[0].Index, ps[1].Index, ps[2].Index})
}

func TestIngestLimits(t *testing.T) {
	e := newEnv(t, nil, func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxIngest = 3 })
	var ins []analysis.ConversationInput
	for range 4 {
		ins = append(ins, analysis.ConversationInput{Transcript: extract.Transcript{{Role: "a", Content: "x"}}})
	}
	_, err := e.svc.IngestConversations(context.Background(), scope, ins)
	assert.Equal(t, []string{"$.conversations"}, paths(problemsOf(t, err)))

	long := analysis.ConversationInput{Transcript: extract.Transcript{{Role: "a", Content: strings.Repeat("x", analysis.MaxTurnContentLen+1)}}}
	_, err = e.svc.IngestConversations(context.Background(), scope, []analysis.ConversationInput{long})
	assert.Equal(t, []string{"$.conversations[0].transcript[0].content"}, paths(problemsOf(t, err)))
}

func TestListGetDeleteConversations(t *testing.T) {
	e := newEnv(t, nil)
	ingest(t, e, 12)
	got, err := e.svc.ListConversations(context.Background(), scope, analysis.ConversationFilter{Search: "CALL 1"})
	require.NoError(t, err)
	assert.Len(t, got, 4, "Call 1, 10, 11, 12: case-insensitive")
	got, err = e.svc.ListConversations(context.Background(), scope, analysis.ConversationFilter{Tag: "even", Limit: 2})
	require.NoError(t, err)
	assert.Len(t, got, 2)
	got, err = e.svc.ListConversations(context.Background(), scope, analysis.ConversationFilter{Limit: 100000})
	require.NoError(t, err)
	assert.Len(t, got, 12, "a limit above the maximum is capped, not refused")
	capped := newEnv(t, nil, func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxListLimit = 5 })
	ingest(t, capped, 8)
	got, err = capped.svc.ListConversations(context.Background(), scope, analysis.ConversationFilter{})
	require.NoError(t, err)
	assert.Len(t, got, 5, "the default limit is capped by the maximum too")
	_, err = e.svc.ListConversations(context.Background(), scope, analysis.ConversationFilter{Limit: -5})
	assert.ErrorIs(t, err, analysis.ErrInvalid)

	c, err := e.svc.GetConversation(context.Background(), scope, "call-3")
	require.NoError(t, err)
	_, err = e.svc.GetConversation(context.Background(), other, "call-3")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "another scope's conversation is not found")
	assert.ErrorIs(t, e.svc.DeleteConversation(context.Background(), other, c.ID), analysis.ErrNotFound)
	require.NoError(t, e.svc.DeleteConversation(context.Background(), scope, c.ID))
	_, err = e.svc.GetConversation(context.Background(), scope, "call-3")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	require.NoError(t, e.svc.DeleteConversation(context.Background(), scope, "call-4"), "by key too")
	for i := 1; i <= 12; i++ {
		_, err := e.svc.GetConversation(context.Background(), scope, fmt.Sprint("call-", i))
		if i == 3 || i == 4 {
			assert.ErrorIs(t, err, analysis.ErrNotFound)
		} else {
			assert.NoError(t, err)
		}
	}
}

func TestIngestManySameNames(t *testing.T) {
	e := newEnv(t, nil)
	seen := map[string]bool{}
	for range 3 {
		var ins []analysis.ConversationInput
		for range 500 {
			ins = append(ins, analysis.ConversationInput{Name: "Call", Transcript: extract.Transcript{{Role: "a", Content: "x"}}})
		}
		cs, err := e.svc.IngestConversations(context.Background(), scope, ins)
		require.NoError(t, err)
		for _, c := range cs {
			require.False(t, seen[c.Key], "key %s given twice", c.Key)
			seen[c.Key] = true
			assert.Regexp(t, `^call(-[2-9]|-[0-9a-z]{6,12})?$`, c.Key)
		}
	}
	assert.Len(t, seen, 1500)
	for _, k := range []string{"call", "call-2", "call-9"} {
		assert.True(t, seen[k], k)
	}
}

func TestListConversationsPage(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ingest(t, e, 9) // created at one instant: ordered by key
	var seen []string
	cursor := ""
	pages := 0
	for {
		p, err := e.svc.ListConversationsPage(ctx, scope, analysis.ConversationFilter{Limit: 4}, cursor)
		require.NoError(t, err)
		pages++
		for _, c := range p.Conversations {
			seen = append(seen, c.Key)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
		// A conversation ingested meanwhile shifts nothing.
		e.clock.Advance(time.Second)
		_, err = e.svc.IngestConversations(ctx, scope, []analysis.ConversationInput{{Name: fmt.Sprint("late ", pages), Transcript: extract.Transcript{{Role: "a", Content: "b"}}}})
		require.NoError(t, err)
	}
	assert.Equal(t, 3, pages)
	all, err := e.svc.ListConversations(ctx, scope, analysis.ConversationFilter{Limit: 100})
	require.NoError(t, err)
	var want []string
	for _, c := range all {
		if !strings.HasPrefix(c.Key, "late-") {
			want = append(want, c.Key)
		}
	}
	assert.Equal(t, want, seen, "every conversation once, in order")

	p, err := e.svc.ListConversationsPage(ctx, scope, analysis.ConversationFilter{Limit: 2, Tag: "even"}, "")
	require.NoError(t, err)
	assert.Len(t, p.Conversations, 2)
	assert.NotEmpty(t, p.NextCursor)
	for _, bad := range []string{"nope", "p1.!!", "p1." + strings.Repeat("A", 600), "p1.MTIz"} {
		_, err = e.svc.ListConversationsPage(ctx, scope, analysis.ConversationFilter{}, bad)
		assert.ErrorIs(t, err, analysis.ErrInvalid, bad)
		assert.ErrorContains(t, err, "$.cursor")
	}
	_, err = e.svc.ListConversationsPage(ctx, scope, analysis.ConversationFilter{Limit: -1}, "")
	assert.ErrorIs(t, err, analysis.ErrInvalid)
	p, err = e.svc.ListConversationsPage(ctx, other, analysis.ConversationFilter{}, "")
	require.NoError(t, err)
	assert.Empty(t, p.Conversations)
	assert.Empty(t, p.NextCursor)
}
