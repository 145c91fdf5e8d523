package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
)

func testConversationCreateGet(t *testing.T, h Harness) {
	s := h.Store
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

func testConversationAllOrNothing(t *testing.T, h Harness) {
	s := h.Store
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c1", "call-1", t0)}))
	err := s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c2", "call-2", t0), conversation("c3", "call-1", t0)})
	assert.ErrorIs(t, err, analysis.ErrConflict, "a taken key")
	err = s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c4", "call-4", t0), conversation("c5", "call-4", t0)})
	assert.ErrorIs(t, err, analysis.ErrConflict, "a key repeated in the batch")
	err = s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c6", "call-6", t0), conversation("c1", "call-7", t0)})
	assert.ErrorIs(t, err, analysis.ErrConflict, "a taken ID")
	err = s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c8", "call-8", t0), conversation("c8", "call-9", t0)})
	assert.ErrorIs(t, err, analysis.ErrConflict, "an ID repeated in the batch")
	all, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 100}})
	require.NoError(t, err)
	require.Len(t, all, 1, "no failed batch stored anything")
	assert.Equal(t, "call-1", all[0].Key)
	keys, err := s.ExistingKeys(ctx(), scopeA, []string{"call-2", "call-4", "call-6", "call-7", "call-8", "call-9", "call-1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"call-1"}, keys, "no failed batch stored anything")
}

func testConversationList(t *testing.T, h Harness) {
	s := h.Store
	var cs []analysis.Conversation
	for i, key := range []string{"refund-1", "refund-2", "outage", "Refund-Vip"} {
		c := conversation(fmt.Sprint("c", i), key, t0.Add(time.Duration(i)*time.Minute))
		if i%2 == 0 {
			c.Tags = []string{"billing"}
		}
		cs = append(cs, c)
	}
	cs[2].Name = "Big REFUND outage"
	cs[1].Transcript = extract.Transcript{{Role: "caller", Content: "My parcel never arrived."}, {Role: "agent", Content: "Sorry to hear."}}
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
	got, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Search: "PARCEL never", Limit: 10}})
	require.NoError(t, err)
	assert.Equal(t, []string{"refund-2"}, keysOf(got), "what was said is searched too, in any case")
	got, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Search: "charged twice", Limit: 10}})
	require.NoError(t, err)
	assert.Equal(t, []string{"Refund-Vip", "outage", "refund-1"}, keysOf(got))
	for _, notSaid := range []string{"caller", "content", "arrived. Sorry", "arrived.Sorry"} {
		got, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Search: notSaid, Limit: 10}})
		require.NoError(t, err)
		assert.Empty(t, got, "%q: roles, member names and text across turns are not what was said", notSaid)
	}
	got, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}, Tag: "billing"})
	require.NoError(t, err)
	assert.Equal(t, []string{"outage", "refund-1"}, keysOf(got))
	got, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 1}})
	require.NoError(t, err)
	assert.Equal(t, []string{"Refund-Vip"}, keysOf(got))
	got, err = s.ListConversations(ctx(), scopeB, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}})
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.NotNil(t, got, "an empty list, not nil")

	// Many conversations, a small limit: still the newest, ties by key.
	var many []analysis.Conversation
	for i := range 40 {
		many = append(many, conversation(fmt.Sprint("m", i), fmt.Sprintf("many-%02d", i), t0.Add(time.Duration(i%7)*time.Hour)))
	}
	require.NoError(t, s.CreateConversations(ctx(), scopeC, many))
	got, err = s.ListConversations(ctx(), scopeC, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 3}})
	require.NoError(t, err)
	assert.Equal(t, []string{"many-06", "many-13", "many-20"}, keysOf(got))

	// ExistingKeys: those of the keys that name a conversation, in their order.
	keys, err := s.ExistingKeys(ctx(), scopeA, []string{"outage", "nope", "refund-2", "Refund-Vip", "many-01", "refund-1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"outage", "refund-2", "Refund-Vip", "refund-1"}, keys, "in the order asked, missing ones (and another scope's) left out")
	keys, err = s.ExistingKeys(ctx(), scopeA, []string{"refund-vip", "REFUND-1"})
	require.NoError(t, err)
	assert.Empty(t, keys, "keys are matched exactly")
	keys, err = s.ExistingKeys(ctx(), scopeB, []string{"outage", "refund-1"})
	require.NoError(t, err)
	assert.Empty(t, keys, "another scope's conversations do not exist")
	keys, err = s.ExistingKeys(ctx(), scopeA, nil)
	require.NoError(t, err)
	assert.Empty(t, keys)
}

func testConversationListAfter(t *testing.T, h Harness) {
	s := h.Store
	// 40 conversations over 7 instants: paging by position visits each
	// once, in the list's order, whatever the page size, with filters.
	var many []analysis.Conversation
	for i := range 40 {
		c := conversation(fmt.Sprint("m", i), fmt.Sprintf("many-%02d", i), t0.Add(time.Duration(i%7)*time.Hour))
		if i%3 == 0 {
			c.Tags = []string{"third"}
		}
		many = append(many, c)
	}
	require.NoError(t, s.CreateConversations(ctx(), scopeA, many))
	all, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 100}})
	require.NoError(t, err)
	require.Len(t, all, 40)
	for _, tc := range []struct {
		size int
		tag  string
	}{{1, ""}, {3, ""}, {7, ""}, {40, ""}, {2, "third"}} {
		var seen []string
		var after *analysis.Position
		for range 50 {
			page, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: tc.size}, Tag: tc.tag, After: after})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			for _, c := range page {
				seen = append(seen, c.Key)
			}
			last := page[len(page)-1]
			after = &analysis.Position{CreatedAt: last.CreatedAt, Key: last.Key}
		}
		var want []string
		for _, c := range all {
			if tc.tag == "" || slices.Contains(c.Tags, tc.tag) {
				want = append(want, c.Key)
			}
		}
		assert.Equal(t, want, seen, "pages of %d, tag %q", tc.size, tc.tag)
	}
	// A position between two instants, and one past the end.
	got, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 100},
		After: &analysis.Position{CreatedAt: t0.Add(90 * time.Minute), Key: "zzz"}})
	require.NoError(t, err)
	assert.Len(t, got, 12, "the conversations created at t0 and t0+1h")
	got, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 100},
		After: &analysis.Position{CreatedAt: t0, Key: "many-35"}})
	require.NoError(t, err)
	assert.Empty(t, got, "nothing after the last")
	assert.NotNil(t, got)
}

func testConversationDelete(t *testing.T, h Harness) {
	s := h.Store
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c1", "call-1", t0)}))
	assert.ErrorIs(t, s.DeleteConversation(ctx(), scopeB, "c1"), analysis.ErrNotFound)
	require.NoError(t, s.DeleteConversation(ctx(), scopeA, "c1"))
	_, err := s.GetConversation(ctx(), scopeA, "call-1")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	keys, err := s.ExistingKeys(ctx(), scopeA, []string{"call-1"})
	require.NoError(t, err)
	assert.Empty(t, keys)
	assert.ErrorIs(t, s.DeleteConversation(ctx(), scopeA, "c1"), analysis.ErrNotFound)
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c2", "call-1", t0)}), "the key is free again")
}

func testConversationCopies(t *testing.T, h Harness) {
	s := h.Store
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
	got.Transcript[0].Content = "mutated"
	got.ReferenceFields["intent"] = "mutated"
	got.Tags[0] = "mutated"
	again, err := s.GetConversation(ctx(), scopeA, "c1")
	require.NoError(t, err)
	assert.Equal(t, "I was charged twice.", again.Transcript[0].Content, "a returned value is a copy")
	assert.Equal(t, "billing", again.ReferenceFields["intent"])
	assert.Equal(t, []string{"a"}, again.Tags)
	list, err := s.GetConversations(ctx(), scopeA, []string{"call-1"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list[0].Tags[0] = "mutated"
	again, err = s.GetConversation(ctx(), scopeA, "c1")
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, again.Tags, "GetConversations returns copies")
}
