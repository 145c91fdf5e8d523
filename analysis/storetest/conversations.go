package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
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

// external is a conversation with an external ID.
func external(id, key, ext string, created time.Time, tags ...string) analysis.Conversation {
	c := conversation(id, key, created, tags...)
	c.ExternalID = ext
	return c
}

// actions returns the action of each outcome.
func actions(outs []analysis.PutOutcome) []analysis.PutAction {
	out := []analysis.PutAction{}
	for _, o := range outs {
		out = append(out, o.Action)
	}
	return out
}

// listAll returns every conversation of the scope.
func listAll(t *testing.T, s analysis.Store, scope analysis.Scope) []analysis.Conversation {
	t.Helper()
	all, err := s.ListConversations(ctx(), scope, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 100_000}})
	require.NoError(t, err)
	return all
}

func testConversationPut(t *testing.T, h Harness) {
	s := h.Store
	// The stored conversation carries what runs wrote on it.
	analysed := t0.Add(time.Hour)
	first := external("c1", "call-1", "crm-1", t0, "old-tag")
	first.ExtractedFields = map[string]any{"intent": "billing"}
	first.LastAnalyzedAt = &analysed
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{first}))

	// A new version: everything differs, identity included.
	next := external("c1-new", "call-1-new", "crm-1", t0.Add(24*time.Hour), "new-tag")
	next.Name = "Call 1, corrected"
	next.Transcript = extract.Transcript{{Role: "caller", Content: "My parcel never arrived."}}
	next.ReferenceFields = map[string]any{"intent": "support"}
	next.Source = analysis.SourcePlatform
	next.Evidence = &analysis.Evidence{SessionID: "s-1", Channel: "chat"}
	fresh := external("c2", "call-2", "crm-2", t0.Add(time.Minute))
	plain := conversation("c3", "call-3", t0.Add(2*time.Minute)) // no external ID: always created
	outs, err := s.PutConversations(ctx(), scopeA, []analysis.Conversation{fresh, next, plain}, analysis.UpdateExisting)
	require.NoError(t, err)
	require.Len(t, outs, 3, "one outcome per conversation")
	assert.Equal(t, []analysis.PutAction{analysis.PutCreated, analysis.PutUpdated, analysis.PutCreated}, actions(outs), "in the order given")
	assert.Equal(t, fresh, outs[0].Conversation, "a created conversation as given")
	assert.Equal(t, plain, outs[2].Conversation)

	want := first // kept: ID, Key, ExternalID, CreatedAt, ExtractedFields, LastAnalyzedAt
	want.Name, want.Transcript, want.ReferenceFields = next.Name, next.Transcript, next.ReferenceFields
	want.Source, want.Tags, want.Evidence = next.Source, next.Tags, next.Evidence
	assert.Equal(t, want, outs[1].Conversation, "the update as stored: identity and run results kept, content replaced")
	got, err := s.GetConversation(ctx(), scopeA, "call-1")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	for _, gone := range []string{"c1-new", "call-1-new"} {
		_, err = s.GetConversation(ctx(), scopeA, gone)
		assert.ErrorIs(t, err, analysis.ErrNotFound, "the new version's own ID and key are not stored: %s", gone)
	}
	assert.Len(t, listAll(t, s, scopeA), 3, "an update stores no copy")

	// Search and tag filters see the new content only.
	keysOf := func(cs []analysis.Conversation) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.Key)
		}
		return out
	}
	found, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Search: "parcel", Limit: 10}})
	require.NoError(t, err)
	assert.Equal(t, []string{"call-1"}, keysOf(found), "the new transcript is searched")
	found, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Search: "corrected", Limit: 10}})
	require.NoError(t, err)
	assert.Equal(t, []string{"call-1"}, keysOf(found), "the new name is searched")
	found, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Search: "charged twice", Limit: 10}})
	require.NoError(t, err)
	assert.Equal(t, []string{"call-3", "call-2"}, keysOf(found), "the old transcript is no longer searched")
	found, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}, Tag: "new-tag"})
	require.NoError(t, err)
	assert.Equal(t, []string{"call-1"}, keysOf(found), "the new tags are filtered on")
	found, err = s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}, Tag: "old-tag"})
	require.NoError(t, err)
	assert.Empty(t, found, "the old tags are gone")

	// Skip leaves the stored conversation as it is.
	again := external("c1-skip", "call-1-skip", "crm-1", t0, "skip-tag")
	again.Name = "Ignored"
	outs, err = s.PutConversations(ctx(), scopeA, []analysis.Conversation{again, external("c4", "call-4", "crm-4", t0)}, analysis.SkipExisting)
	require.NoError(t, err)
	assert.Equal(t, []analysis.PutAction{analysis.PutSkipped, analysis.PutCreated}, actions(outs))
	assert.Equal(t, want, outs[0].Conversation, "a skipped conversation as stored")
	got, err = s.GetConversation(ctx(), scopeA, "c1")
	require.NoError(t, err)
	assert.Equal(t, want, got, "skipped: unchanged")

	// An empty mode updates.
	again.Name = "Updated by default"
	outs, err = s.PutConversations(ctx(), scopeA, []analysis.Conversation{again}, "")
	require.NoError(t, err)
	assert.Equal(t, []analysis.PutAction{analysis.PutUpdated}, actions(outs))
	assert.Equal(t, "Updated by default", outs[0].Conversation.Name)
	assert.Equal(t, "call-1", outs[0].Conversation.Key)

	// KeysByExternalID: the stored keys, by external ID; unknown, empty
	// and unholdable ones left out.
	keys, err := s.KeysByExternalID(ctx(), scopeA, []string{"crm-2", "nope", "crm-1", "", "crm-1\x00", "\xff", "CRM-1"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"crm-1": "call-1", "crm-2": "call-2"}, keys)
	keys, err = s.KeysByExternalID(ctx(), scopeA, nil)
	require.NoError(t, err)
	assert.Empty(t, keys)

	// Deleting a conversation frees its external ID.
	require.NoError(t, s.DeleteConversation(ctx(), scopeA, "c2"))
	outs, err = s.PutConversations(ctx(), scopeA, []analysis.Conversation{external("c5", "call-5", "crm-2", t0)}, analysis.UpdateExisting)
	require.NoError(t, err)
	assert.Equal(t, []analysis.PutAction{analysis.PutCreated}, actions(outs))
	keys, err = s.KeysByExternalID(ctx(), scopeA, []string{"crm-2"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"crm-2": "call-5"}, keys)
}

func testConversationPutAllOrNothing(t *testing.T, h Harness) {
	s := h.Store
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{external("c1", "call-1", "crm-1", t0)}))
	update := external("c1-new", "call-1-new", "crm-1", t0)
	update.Name = "Changed"
	for _, tc := range []struct {
		name string
		cs   []analysis.Conversation
	}{
		{"a created conversation's key is taken", []analysis.Conversation{update, external("c2", "call-1", "crm-2", t0)}},
		{"a created conversation's ID is taken", []analysis.Conversation{update, external("c1", "call-2", "crm-2", t0)}},
		{"two created conversations share a key", []analysis.Conversation{update, external("c2", "call-2", "crm-2", t0), conversation("c3", "call-2", t0)}},
		{"two created conversations share an ID", []analysis.Conversation{update, conversation("c2", "call-2", t0), conversation("c2", "call-3", t0)}},
		{"an external ID is repeated", []analysis.Conversation{external("c2", "call-2", "crm-2", t0), external("c3", "call-3", "crm-2", t0)}},
		{"an external ID is repeated, stored", []analysis.Conversation{update, external("c3", "call-3", "crm-1", t0)}},
		{"a created conversation takes an updated one's key", []analysis.Conversation{update, conversation("c2", "call-1", t0)}},
	} {
		for _, mode := range []analysis.OnExisting{analysis.UpdateExisting, analysis.SkipExisting} {
			outs, err := s.PutConversations(ctx(), scopeA, tc.cs, mode)
			assert.ErrorIs(t, err, analysis.ErrConflict, "%s (%s)", tc.name, mode)
			assert.Nil(t, outs, "%s (%s)", tc.name, mode)
		}
	}
	all := listAll(t, s, scopeA)
	require.Len(t, all, 1, "no failed put stored anything")
	assert.Equal(t, external("c1", "call-1", "crm-1", t0), all[0], "no failed put updated anything")
	keys, err := s.KeysByExternalID(ctx(), scopeA, []string{"crm-1", "crm-2"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"crm-1": "call-1"}, keys)

	// CreateConversations refuses an external ID that is taken, or repeated.
	err = s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c2", "call-2", t0), external("c3", "call-3", "crm-1", t0)})
	assert.ErrorIs(t, err, analysis.ErrConflict, "a taken external ID")
	err = s.CreateConversations(ctx(), scopeA, []analysis.Conversation{external("c2", "call-2", "crm-2", t0), external("c3", "call-3", "crm-2", t0)})
	assert.ErrorIs(t, err, analysis.ErrConflict, "an external ID repeated in the batch")
	assert.Len(t, listAll(t, s, scopeA), 1, "nothing stored")
	require.NoError(t, s.CreateConversations(ctx(), scopeA, []analysis.Conversation{conversation("c2", "call-2", t0), conversation("c3", "call-3", t0)}),
		"conversations without an external ID never collide by it")
}

func testConversationPutScopes(t *testing.T, h Harness) {
	s := h.Store
	a := external("c1", "call-1", "crm-1", t0)
	b := external("c1", "call-1", "crm-1", t0)
	b.Name = "Another scope's"
	for _, tc := range []struct {
		scope analysis.Scope
		c     analysis.Conversation
	}{{scopeA, a}, {scopeB, b}, {scopeC, a}} {
		outs, err := s.PutConversations(ctx(), tc.scope, []analysis.Conversation{tc.c}, analysis.UpdateExisting)
		require.NoError(t, err)
		assert.Equal(t, []analysis.PutAction{analysis.PutCreated}, actions(outs), "a scope's external IDs are its own: %s", tc.scope)
	}
	a.Name = "Updated in A"
	outs, err := s.PutConversations(ctx(), scopeA, []analysis.Conversation{a}, analysis.UpdateExisting)
	require.NoError(t, err)
	assert.Equal(t, []analysis.PutAction{analysis.PutUpdated}, actions(outs))
	got, err := s.GetConversation(ctx(), scopeB, "call-1")
	require.NoError(t, err)
	assert.Equal(t, "Another scope's", got.Name, "another scope's conversation is untouched")
	got, err = s.GetConversation(ctx(), scopeC, "call-1")
	require.NoError(t, err)
	assert.Equal(t, "Call call-1", got.Name)
	require.NoError(t, s.DeleteConversation(ctx(), scopeB, "c1"))
	keys, err := s.KeysByExternalID(ctx(), scopeB, []string{"crm-1"})
	require.NoError(t, err)
	assert.Empty(t, keys)
	keys, err = s.KeysByExternalID(ctx(), scopeA, []string{"crm-1"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"crm-1": "call-1"}, keys, "deleting in one scope frees the external ID there only")
}

func testConversationPutConcurrent(t *testing.T, h Harness) {
	s := h.Store
	const callers = 8
	// Each caller puts the same external ID under its own ID and key.
	var wg sync.WaitGroup
	errs := make([]error, callers)
	outs := make([][]analysis.PutOutcome, callers)
	for i := range callers {
		wg.Go(func() {
			c := external(fmt.Sprint("c", i), fmt.Sprint("call-", i), "crm-1", t0)
			c.Name = fmt.Sprint("Caller ", i)
			outs[i], errs[i] = s.PutConversations(ctx(), scopeA, []analysis.Conversation{c}, analysis.UpdateExisting)
		})
	}
	wg.Wait()
	created, succeeded := 0, 0
	for i, err := range errs {
		if err != nil {
			assert.ErrorIs(t, err, analysis.ErrConflict, "caller %d fails with a conflict or not at all", i)
			continue
		}
		succeeded++
		require.Len(t, outs[i], 1)
		if outs[i][0].Action == analysis.PutCreated {
			created++
		} else {
			assert.Equal(t, analysis.PutUpdated, outs[i][0].Action)
		}
	}
	assert.Positive(t, succeeded, "at least one caller succeeds")
	assert.Equal(t, 1, created, "exactly one caller created the conversation")
	all := listAll(t, s, scopeA)
	require.Len(t, all, 1, "one conversation for one external ID")
	assert.Equal(t, "crm-1", all[0].ExternalID)

	// Batches of the same external IDs in different orders, with some
	// conversations of their own: each external ID stored once.
	exts := keyRange("crm-batch", 20)
	for i := range callers {
		wg.Go(func() {
			var cs []analysis.Conversation
			for j := range exts {
				k := (j + 3*i) % len(exts) // a different order each: rotated, and reversed for odd callers
				if i%2 == 1 {
					k = len(exts) - 1 - k
				}
				cs = append(cs, external(fmt.Sprintf("b%d-%d", i, j), fmt.Sprintf("batch-%d-%d", i, j), exts[k], t0))
			}
			cs = append(cs, conversation(fmt.Sprint("own-", i), fmt.Sprint("own-", i), t0))
			outs[i], errs[i] = s.PutConversations(ctx(), scopeA, cs, analysis.UpdateExisting)
		})
	}
	wg.Wait()
	succeeded = 0
	for i, err := range errs {
		if err != nil {
			assert.ErrorIs(t, err, analysis.ErrConflict, "caller %d fails with a conflict or not at all", i)
			continue
		}
		succeeded++
	}
	assert.Positive(t, succeeded, "at least one batch is stored")
	keys, err := s.KeysByExternalID(ctx(), scopeA, exts)
	require.NoError(t, err)
	assert.Len(t, keys, len(exts), "every external ID stored")
	perExt := map[string]int{}
	own := 0
	for _, c := range listAll(t, s, scopeA) {
		if c.ExternalID != "" {
			perExt[c.ExternalID]++
		} else {
			own++
		}
	}
	for _, ext := range exts {
		assert.Equal(t, 1, perExt[ext], "external ID %s stored once", ext)
	}
	assert.Equal(t, succeeded, own, "each batch stored, all of it, or nothing")
}

func testConversationPutCopies(t *testing.T, h Harness) {
	s := h.Store
	evidence := func() *analysis.Evidence {
		turn := 0
		return &analysis.Evidence{SessionID: "s-1", Missing: []string{"no_csat"},
			ToolCalls: []analysis.ToolCall{{Turn: &turn, Name: "refund", Status: analysis.ToolSucceeded}}}
	}
	c := external("c1", "call-1", "crm-1", t0, "a")
	c.Evidence = evidence()
	outs, err := s.PutConversations(ctx(), scopeA, []analysis.Conversation{c}, analysis.UpdateExisting)
	require.NoError(t, err)
	update := external("c1-new", "call-1-new", "crm-1", t0, "b")
	update.Evidence = evidence()
	updated, err := s.PutConversations(ctx(), scopeA, []analysis.Conversation{update}, analysis.UpdateExisting)
	require.NoError(t, err)
	skipped, err := s.PutConversations(ctx(), scopeA, []analysis.Conversation{update}, analysis.SkipExisting)
	require.NoError(t, err)
	for _, mutated := range []*analysis.Conversation{&c, &outs[0].Conversation, &update, &updated[0].Conversation, &skipped[0].Conversation} {
		mutated.Transcript[0].Content = "mutated"
		mutated.Tags[0] = "mutated"
		mutated.ReferenceFields["intent"] = "mutated"
		mutated.Evidence.SessionID = "mutated"
		mutated.Evidence.Missing[0] = "mutated"
		*mutated.Evidence.ToolCalls[0].Turn = 7
		mutated.Evidence.ToolCalls[0].Name = "mutated"
	}
	got, err := s.GetConversation(ctx(), scopeA, "call-1")
	require.NoError(t, err)
	assert.Equal(t, "I was charged twice.", got.Transcript[0].Content, "neither what was put nor what a put returned is the store's")
	assert.Equal(t, []string{"b"}, got.Tags)
	assert.Equal(t, "billing", got.ReferenceFields["intent"])
	require.NotNil(t, got.Evidence)
	assert.Equal(t, evidence(), got.Evidence, "the evidence is copied in and out, all of it")
}

func testConversationPutReanalysis(t *testing.T, h Harness) {
	// A new version whose words or evidence changed is unanalysed again;
	// the same content put again is not, and the fields written stay.
	s := h.Store
	define(t, s, scopeA, "intent")
	c := conversation("c1", "call-1", t0)
	c.ExternalID = "ext-1"
	// Numbers a store may hold in another form than given.
	c.Evidence = &analysis.Evidence{CustomerMetadata: map[string]any{"amount": json.Number("1.50"), "id": int64(1234567890123456789)}}
	_, err := s.PutConversations(ctx(), scopeA, []analysis.Conversation{c}, analysis.UpdateExisting)
	require.NoError(t, err)
	startRun(t, s, scopeA, "r1", "intent", t0, keysSel(10, "call-1"))
	cl := claim(t, s, "x")
	require.NoError(t, s.SaveItem(ctx(), cl.ChunkRef, item("call-1", true, 1), &analysis.FieldsWrite{Fields: map[string]any{"intent": "billing"}, At: t0}))
	unanalysed := func() []string {
		t.Helper()
		cs, err := s.ListConversations(ctx(), scopeA, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 10}, UnanalyzedBy: "intent"})
		require.NoError(t, err)
		var keys []string
		for _, c := range cs {
			keys = append(keys, c.Key)
		}
		return keys
	}
	require.Empty(t, unanalysed())

	same := c
	same.Name = "renamed" // the name is not what was analysed
	_, err = s.PutConversations(ctx(), scopeA, []analysis.Conversation{same}, analysis.UpdateExisting)
	require.NoError(t, err)
	assert.Empty(t, unanalysed(), "the same words: still analysed")

	changed := c
	changed.Transcript = append(slices.Clone(c.Transcript), extract.Turn{Role: "caller", Content: "one more thing"})
	out, err := s.PutConversations(ctx(), scopeA, []analysis.Conversation{changed}, analysis.UpdateExisting)
	require.NoError(t, err)
	assert.Equal(t, analysis.PutUpdated, out[0].Action)
	assert.Equal(t, []string{"call-1"}, unanalysed(), "new words: to analyse again")
	got, err := s.GetConversation(ctx(), scopeA, "call-1")
	require.NoError(t, err)
	assert.Equal(t, "billing", got.ExtractedFields["intent"], "the fields written stay")

	// Skipping leaves the marks as they are, and so does new evidence put
	// with skip.
	_, err = s.PutConversations(ctx(), scopeA, []analysis.Conversation{c}, analysis.SkipExisting)
	require.NoError(t, err)
	assert.Equal(t, []string{"call-1"}, unanalysed())
}
