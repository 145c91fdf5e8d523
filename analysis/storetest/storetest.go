// Package storetest is the conformance suite of [analysis.Store]: every
// implementation — analysis/memstore, a host's own — must pass it.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Harness {
//			clock := newFakeClock() // the clock the store judges leases by
//			return storetest.Harness{Store: newStore(t, clock), Advance: clock.Advance}
//		})
//	}
//
// Each subtest gets a fresh, empty store from newHarness, with a way to
// move the store's clock: lease expiry is judged by the store's own clock,
// so the suite never sleeps for a lease to lapse — it calls Advance. (A
// database store can take its now() plus an offset that Advance grows.) The
// suite checks every method's contract as the Store documentation states
// it: the sentinel errors, scope isolation (another scope's objects are not
// found), ordering, paging with opaque cursors, copying, definition
// versions, run selection and chunking, leases and fencing tokens, the
// counters kept with each item, and the atomicity of the definition, run,
// chunk and slot operations under concurrency.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

// A Harness is a fresh, empty store and a way to move its clock.
type Harness struct {
	// Store is the store under test; it is empty.
	Store analysis.Store
	// Advance moves the store's clock forward by d: leases the store judges
	// expire as if d had passed.
	Advance func(d time.Duration)
}

// Run runs the suite against the stores newHarness makes, one per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Definitions/CreateGet", testDefinitionCreateGet},
		{"Definitions/Conflicts", testDefinitionConflicts},
		{"Definitions/Update", testDefinitionUpdate},
		{"Definitions/Versions", testDefinitionVersions},
		{"Definitions/ConcurrentUpdates", testDefinitionConcurrentUpdates},
		{"Definitions/Delete", testDefinitionDelete},
		{"Definitions/DeleteAtVersion", testDefinitionDeleteAtVersion},
		{"Definitions/List", testDefinitionList},
		{"Definitions/ListScheduled", testListScheduled},
		{"Definitions/Copies", testDefinitionCopies},
		{"Conversations/CreateGet", testConversationCreateGet},
		{"Conversations/AllOrNothing", testConversationAllOrNothing},
		{"Conversations/ListAndExistingKeys", testConversationList},
		{"Conversations/ListAfter", testConversationListAfter},
		{"Conversations/Delete", testConversationDelete},
		{"Conversations/Copies", testConversationCopies},
		{"Conversations/Put", testConversationPut},
		{"Conversations/PutAllOrNothing", testConversationPutAllOrNothing},
		{"Conversations/PutScopes", testConversationPutScopes},
		{"Conversations/PutConcurrent", testConversationPutConcurrent},
		{"Conversations/PutCopies", testConversationPutCopies},
		{"Conversations/PutReanalysis", testConversationPutReanalysis},
		{"Runs/CreateGetList", testRunCreateGetList},
		{"Runs/CreateChecks", testRunCreateChecks},
		{"Runs/StartVsDelete", testRunStartVsDelete},
		{"Runs/OneInProgress", testRunOneInProgress},
		{"Runs/ConcurrentCreate", testRunConcurrentCreate},
		{"Runs/Selection/Keys", testSelectionKeys},
		{"Runs/Selection/Tag", testSelectionTag},
		{"Runs/Selection/Unanalyzed", testSelectionUnanalyzed},
		{"Runs/Selection/Sample", testSelectionSample},
		{"Runs/Selection/Max", testSelectionMax},
		{"Runs/Selection/Empty", testSelectionEmpty},
		{"Runs/Chunks", testRunChunks},
		{"Runs/Cursors", testRunCursors},
		{"Runs/ClaimOrder", testRunClaimOrder},
		{"Runs/ConcurrentClaim", testRunConcurrentClaim},
		{"Runs/Leases", testRunLeases},
		{"Runs/LeaseLapsedUnclaimed", testRunLeaseLapsedUnclaimed},
		{"Runs/Renew", testRunRenew},
		{"Runs/StaleToken", testRunStaleToken},
		{"Runs/Release", testRunRelease},
		{"Runs/SaveItem", testRunSaveItem},
		{"Runs/Counters", testRunCounters},
		{"Runs/CountersNonFinite", testRunCountersNonFinite},
		{"Runs/CountersUnderCancel", testRunCountersUnderCancel},
		{"Runs/PagingWhileSaving", testRunPagingWhileSaving},
		{"Runs/Complete", testRunComplete},
		{"Runs/CompleteExactlyOnce", testRunCompleteExactlyOnce},
		{"Runs/ThreeExecutorsOneFrozen", testRunThreeExecutorsOneFrozen},
		{"Runs/Fail", testRunFail},
		{"Runs/Cancel", testRunCancel},
		{"Runs/Copies", testRunCopies},
		{"Slots/CreateAndSkip", testSlots},
		{"Slots/ConcurrentClaim", testSlotsConcurrent},
		{"Slots/FailedCreateKeepsSlot", testSlotsFailedCreate},
		{"Scopes/Isolation", testScopeIsolation},
		{"Scopes/ChunkRef", testScopeChunkRef},
		{"Lookups/Unholdable", testUnholdableLookups},
		{"Context/Cancelled", testCancelledContext},
		{"Alerts/RuleCreateGet", testAlertRuleCreateGet},
		{"Alerts/RuleConflicts", testAlertRuleConflicts},
		{"Alerts/RuleUpdate", testAlertRuleUpdate},
		{"Alerts/RuleConcurrentUpdates", testAlertRuleConcurrentUpdates},
		{"Alerts/RuleDelete", testAlertRuleDelete},
		{"Alerts/RuleList", testAlertRuleList},
		{"Alerts/RuleListEnabled", testAlertRuleListEnabled},
		{"Alerts/Transition", testAlertTransition},
		{"Alerts/ConcurrentTransition", testAlertConcurrentTransition},
		{"Alerts/ClaimOrder", testAlertClaimOrder},
		{"Alerts/Leases", testAlertLeases},
		{"Alerts/Deliveries", testAlertDeliveries},
		{"Alerts/ConcurrentClaims", testAlertConcurrentClaims},
		{"Alerts/Log", testAlertLog},
		{"Alerts/Copies", testAlertCopies},
		{"Alerts/Scopes", testAlertScopes},
		{"Alerts/Unholdable", testAlertUnholdable},
		{"Alerts/CancelledContext", testAlertCancelledContext},
		{"Alerts/RetryAfter", testAlertRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			require.NotNil(t, h.Store, "the harness has no store")
			require.NotNil(t, h.Advance, "the harness cannot move the store's clock")
			tt.fn(t, h)
		})
	}
}

var (
	scopeA = analysis.Scope{Tenant: "tenant-a", Project: "project-1"}
	scopeB = analysis.Scope{Tenant: "tenant-b", Project: "project-1"}
	scopeC = analysis.Scope{Tenant: "tenant-a", Project: "project-2"}
	t0     = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

// lease is the lease every claim of the suite asks for; expire is an
// Advance that lets it lapse.
const (
	lease  = time.Minute
	expire = lease + time.Second
)

func ctx() context.Context { return context.Background() }

func definition(id, key string, created time.Time) analysis.Definition {
	threshold := 0.7
	return analysis.Definition{
		ID: id, Key: key, Version: 1, Name: "Definition " + key,
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

// define stores a definition with the given key (ID "def-"+key) in scope.
func define(t *testing.T, s analysis.Store, scope analysis.Scope, key string) analysis.Definition {
	t.Helper()
	d := definition("def-"+key, key, t0)
	require.NoError(t, s.CreateDefinition(ctx(), scope, d))
	return d
}

func conversation(id, key string, created time.Time, tags ...string) analysis.Conversation {
	return analysis.Conversation{
		ID: id, Key: key, Name: "Call " + key,
		Transcript:      extract.Transcript{{Role: "caller", Content: "I was charged twice."}, {Role: "agent", Content: "Refunded."}},
		ReferenceFields: map[string]any{"intent": "billing", "resolved": true},
		Source:          analysis.SourceImported, Tags: append([]string{}, tags...), CreatedAt: created,
	}
}

// ingest stores a conversation for each key (ID "c-"+key) with the tags.
func ingest(t *testing.T, s analysis.Store, scope analysis.Scope, keys []string, tags ...string) {
	t.Helper()
	cs := make([]analysis.Conversation, len(keys))
	for i, k := range keys {
		cs[i] = conversation("c-"+k, k, t0.Add(time.Duration(i)*time.Second), tags...)
	}
	require.NoError(t, s.CreateConversations(ctx(), scope, cs))
}

// keyRange returns n keys prefix-000, prefix-001, … (sorted).
func keyRange(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// runOf is a pending manual run of the definition's first version.
func runOf(id, defKey string, created time.Time) analysis.Run {
	return analysis.Run{
		ID: id, DefinitionKey: defKey, DefinitionVersion: 1, Status: analysis.RunPending,
		Selection: analysis.Selection{Strategy: analysis.SelectKeys},
		Trigger:   analysis.Trigger{Type: analysis.TriggerManual}, CreatedAt: created,
	}
}

// keysSel selects explicit keys, cut into chunks of chunk keys.
func keysSel(chunk int, keys ...string) analysis.KeySelection {
	return analysis.KeySelection{Keys: keys, Max: 100_000, ChunkSize: chunk}
}

// startRun creates a run of defKey over sel, which must succeed.
func startRun(t *testing.T, s analysis.Store, scope analysis.Scope, id, defKey string, created time.Time, sel analysis.KeySelection) analysis.Run {
	t.Helper()
	r, err := s.CreateRun(ctx(), scope, runOf(id, defKey, created), sel)
	require.NoError(t, err, "create run %s", id)
	return r
}

// claim claims a chunk, which must be there.
func claim(t *testing.T, s analysis.Store, owner string) analysis.Claim {
	t.Helper()
	c, ok, err := s.ClaimChunk(ctx(), owner, lease)
	require.NoError(t, err)
	require.True(t, ok, "a chunk is claimable")
	return c
}

// noClaim checks that no chunk is claimable.
func noClaim(t *testing.T, s analysis.Store, msgAndArgs ...any) {
	t.Helper()
	c, ok, err := s.ClaimChunk(ctx(), "nobody", lease)
	require.NoError(t, err)
	if ok {
		assert.Failf(t, "a chunk was claimable", "claimed %s/%s chunk %d: %v", c.Scope, c.RunID, c.Chunk, fmt.Sprint(msgAndArgs...))
	}
}

// completeRun claims and completes every remaining chunk of the run, which
// must be the only run in progress with claimable chunks.
func completeRun(t *testing.T, s analysis.Store, scope analysis.Scope, id string, at time.Time) {
	t.Helper()
	for range 10_000 {
		c := claim(t, s, "finisher")
		require.Equal(t, scope, c.Scope)
		require.Equal(t, id, c.RunID, "the run to complete is the oldest one in progress")
		finished, err := s.CompleteChunk(ctx(), c.ChunkRef, at)
		require.NoError(t, err)
		if finished {
			r := getRun(t, s, scope, id)
			require.Equal(t, analysis.RunCompleted, r.Status)
			return
		}
	}
	t.Fatalf("run %s never completed", id)
}

func getRun(t *testing.T, s analysis.Store, scope analysis.Scope, id string) analysis.Run {
	t.Helper()
	r, err := s.GetRun(ctx(), scope, id)
	require.NoError(t, err)
	return r
}

// allItems pages through every item of a run, once all saved are listed.
func allItems(t *testing.T, s analysis.Store, scope analysis.Scope, runID string) []analysis.Item {
	t.Helper()
	settle(t, s, scope, runID)
	return listItems(t, s, scope, runID)
}

// settle waits until every item saved to the run is listed — as many as
// its counters count: a store may list an item a moment after its save
// (see [analysis.RunStore.ListRunItems]) while its run is in progress; every
// item of a finished run is listed at once.
func settle(t *testing.T, s analysis.Store, scope analysis.Scope, runID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.GetRun(ctx(), scope, runID)
		require.NoError(t, err)
		listed := len(listItems(t, s, scope, runID))
		if !r.Status.InProgress() {
			require.Equal(t, r.Counters.Items, listed, "every item of finished run %s is listed at once", runID)
			return
		}
		if listed == r.Counters.Items {
			return
		}
		require.True(t, time.Now().Before(deadline), "the items of run %s are never all listed", runID)
		time.Sleep(10 * time.Millisecond)
	}
}

// listItems pages through the items of a run listed now.
func listItems(t *testing.T, s analysis.Store, scope analysis.Scope, runID string) []analysis.Item {
	t.Helper()
	var out []analysis.Item
	cursor := ""
	for range 100_000 {
		items, next, err := s.ListRunItems(ctx(), scope, runID, analysis.Page{Cursor: cursor, Limit: 7})
		require.NoError(t, err)
		require.LessOrEqual(t, len(items), 7, "a page holds at most Limit items")
		out = append(out, items...)
		require.NotEmpty(t, next, "the next cursor of items is never empty")
		if len(items) < 7 {
			return out // the last page for now
		}
		cursor = next
	}
	t.Fatal("ListRunItems never ended")
	return nil
}

// allKeys pages through every selected key of a run.
func allKeys(t *testing.T, s analysis.Store, scope analysis.Scope, runID string, limit int) []string {
	t.Helper()
	out := []string{}
	cursor := ""
	for range 100_000 {
		keys, next, err := s.ListRunKeys(ctx(), scope, runID, analysis.Page{Cursor: cursor, Limit: limit})
		require.NoError(t, err)
		require.LessOrEqual(t, len(keys), limit, "a page holds at most Limit keys")
		out = append(out, keys...)
		if next == "" {
			return out
		}
		require.NotEmpty(t, keys, "a page before the last is not empty")
		cursor = next
	}
	t.Fatal("ListRunKeys never ended")
	return nil
}

func keysOfItems(items []analysis.Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ConversationKey)
	}
	return out
}

// sumCounters is what the items' counters add up to.
func sumCounters(items []analysis.Item) analysis.Counters {
	var c analysis.Counters
	for _, it := range items {
		c.Add(analysis.ItemCounters(it))
	}
	return norm(c)
}

// norm makes counters comparable: no field counts is nil, not empty.
func norm(c analysis.Counters) analysis.Counters {
	c = c.Clone()
	if len(c.Fields) == 0 {
		c.Fields = nil
	}
	return c
}

// checkCounters checks that the run's counters, progress and usage are
// those its items make.
func checkCounters(t *testing.T, s analysis.Store, scope analysis.Scope, runID string) (analysis.Run, []analysis.Item) {
	t.Helper()
	r := getRun(t, s, scope, runID)
	items := allItems(t, s, scope, runID)
	assert.Equal(t, sumCounters(items), norm(r.Counters), "the counters are the sum of the items' counters")
	assert.Equal(t, len(items), r.Counters.Items, "Counters.Items counts the items")
	assert.Equal(t, len(items), r.Counters.Items, "the counters count the items")
	assert.Nil(t, r.Items, "GetRun leaves the items out")
	checkAggregate(t, r)
	return r, items
}

// checkAggregate checks a run's aggregate: none while it is in progress;
// once it has finished the store may leave it to the service, but if it
// sets one it is the one its counters make.
func checkAggregate(t *testing.T, r analysis.Run) {
	t.Helper()
	if r.Status.InProgress() {
		assert.Nil(t, r.Aggregate, "a run in progress has no aggregate")
		return
	}
	if r.Aggregate != nil {
		assert.Equal(t, r.Counters.Aggregate(r.Progress.Total), r.Aggregate, "the aggregate is computed from the counters")
	}
}

// item is an item that passed, judged and compared.
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

// variedItem is one of several kinds of item, chosen by v, so that every
// counter moves: failed, judged, judge error, compared fields, usage.
func variedItem(key string, v int) analysis.Item {
	it := analysis.Item{
		ConversationKey: key, ExtractedFields: map[string]any{"intent": "billing"}, Missing: []string{},
		Usage: llm.Usage{InputTokens: int64(10 + v), OutputTokens: int64(v % 7), CachedInputTokens: int64(v % 3)}, FinishedAt: t0,
	}
	switch v % 5 {
	case 0:
		it.Error = "the model call failed"
	case 1:
		it.Passed = true
		it.Judge = &analysis.ItemJudge{Score: float64(v%10) / 10, Passed: true}
	case 2:
		it.JudgeError = "the judge failed"
	}
	if v%5 != 0 && v%2 == 1 {
		score := float64(v%4) / 4
		it.Accuracy = &accuracy.Result{Score: &score, ComparedCount: 2, PerField: map[string]accuracy.FieldResult{
			"intent":   {Expected: "billing", Actual: "billing", Match: true},
			"resolved": {Expected: true, Actual: false, Match: v%3 == 0},
		}}
	}
	return it
}

// sortedCopy returns keys sorted, leaving keys as they are.
func sortedCopy(keys []string) []string {
	out := append([]string{}, keys...)
	sort.Strings(out)
	return out
}

// isLeaseLost reports whether err is ErrLeaseLost.
func isLeaseLost(err error) bool { return errors.Is(err, analysis.ErrLeaseLost) }
