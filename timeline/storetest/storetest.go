// Package storetest checks that a [timeline.Store] keeps the contract
// documented on the interface. Run it from the store's own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) timeline.Store { return newStore(t) })
//	}
//
// newStore must return an empty store each time it is called.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/timeline"
)

// Run runs the conformance tests against stores made by newStore, each in
// its own subtest.
func Run(t *testing.T, newStore func(t *testing.T) timeline.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s timeline.Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"CreateRefusesBadAnalyses", testCreateRefuses},
		{"OneInFlightPerFlow", testOneInFlight},
		{"CreateAfterTheLatest", testCreateAfterLatest},
		{"ConcurrentCreatesStoreOne", testConcurrentCreates},
		{"Finish", testFinish},
		{"TenancyAnswersNotFound", testTenancy},
		{"Latest", testLatest},
		{"ListNewestFirstInPages", testList},
		{"ListRefusesBadPages", testListRefuses},
		{"PageTokensServeTheirListOnly", testPageTokensBound},
		{"ReturnsCopies", testCopies},
		{"HonoursCancellation", testCancelled},
		{"UnholdableText", testUnholdableText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

const (
	customer = "5e4a0680-804e-11ec-8477-2fea5968d85b"
	other    = "6f5b1791-915f-42fd-9588-3feb6a79e96c"
	flow1    = "b2c3d4e5-f6a7-4901-bcde-f12345678901"
	flow2    = "c3d4e5f6-a7b8-4012-8def-123456789012"
)

var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func progressing(n int, cust, flow string, created time.Time) timeline.Analysis {
	return timeline.Analysis{ID: id(n), CustomerID: cust, ActiveflowID: flow, Status: timeline.StatusProgressing,
		Error: "", TMCreate: timeline.Timestamp{Time: created}, TMUpdate: timeline.Timestamp{Time: created}}
}

func completed(a timeline.Analysis, at time.Time) timeline.Analysis {
	a.Status = timeline.StatusCompleted
	a.TMUpdate = timeline.Timestamp{Time: at}
	a.Result = &timeline.Verdict{Version: 3, OverallStatus: timeline.OverallOK, Narrative: "fine",
		SessionContext: &timeline.SessionContext{ReferenceType: "call", Participants: []timeline.Participant{{Role: "source", Address: "+1"}}},
		Outcome:        &timeline.Outcome{Result: timeline.ResultCompleted, Detail: map[string]string{"duration_sec": "3"}},
		ResourcesUsed:  []timeline.ResourceUsed{{Type: "call", Count: 1}}, Interactions: []timeline.Interaction{},
		Issues: []timeline.Issue{{Severity: timeline.SeverityInfo, Evidence: []timeline.Evidence{{EvidenceIndex: 1}}}}}
	return a
}

func mustCreate(t *testing.T, s timeline.Store, a timeline.Analysis, prev string) timeline.Analysis {
	t.Helper()
	got, created, err := s.Create(context.Background(), a, prev)
	require.NoError(t, err)
	require.True(t, created, "Create(%s, prev %q) did not store", a.ID, prev)
	return got
}

func equalTimes(t *testing.T, want, got timeline.Analysis) {
	t.Helper()
	assert.True(t, want.TMCreate.Equal(got.TMCreate.Time), "tm_create %v != %v", want.TMCreate, got.TMCreate)
	assert.True(t, want.TMUpdate.Equal(got.TMUpdate.Time), "tm_update %v != %v", want.TMUpdate, got.TMUpdate)
	want.TMCreate, want.TMUpdate, got.TMCreate, got.TMUpdate = timeline.Timestamp{}, timeline.Timestamp{}, timeline.Timestamp{}, timeline.Timestamp{}
	assert.Equal(t, want, got)
}

func testCreateAndGet(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	a := progressing(1, customer, flow1, t0)
	got := mustCreate(t, s, a, "")
	equalTimes(t, a, got)
	read, err := s.Get(ctx, customer, a.ID)
	require.NoError(t, err)
	equalTimes(t, a, read)
	_, err = s.Get(ctx, customer, id(99))
	assert.ErrorIs(t, err, timeline.ErrNotFound)
}

func testCreateRefuses(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	for name, a := range map[string]timeline.Analysis{
		"not progressing": completed(progressing(1, customer, flow1, t0), t0),
		"no id":           progressing(1, customer, flow1, t0),
		"no customer":     progressing(1, "", flow1, t0),
		"no flow":         progressing(1, customer, "", t0),
	} {
		if name == "no id" {
			a.ID = ""
		}
		_, created, err := s.Create(ctx, a, "")
		assert.ErrorIs(t, err, timeline.ErrInvalid, name)
		assert.False(t, created, name)
	}
	mustCreate(t, s, progressing(1, customer, flow1, t0), "")
	_, created, err := s.Create(ctx, progressing(1, customer, flow2, t0), "")
	assert.ErrorIs(t, err, timeline.ErrConflict, "a reused id")
	assert.False(t, created)
	_, err = s.Latest(ctx, customer, flow2)
	assert.ErrorIs(t, err, timeline.ErrNotFound, "nothing stored")
}

func testOneInFlight(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	first := mustCreate(t, s, progressing(1, customer, flow1, t0), "")
	for _, prev := range []string{"", first.ID} {
		got, created, err := s.Create(ctx, progressing(2, customer, flow1, t0.Add(time.Second)), prev)
		require.NoError(t, err)
		assert.False(t, created, "a progressing analysis blocks, prev %q", prev)
		assert.Equal(t, first.ID, got.ID)
	}
	_, err := s.Get(ctx, customer, id(2))
	assert.ErrorIs(t, err, timeline.ErrNotFound)
	// Another flow, or the same flow id of another customer, is not blocked.
	mustCreate(t, s, progressing(3, customer, flow2, t0), "")
	mustCreate(t, s, progressing(4, other, flow1, t0), "")
}

func testCreateAfterLatest(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	first := mustCreate(t, s, progressing(1, customer, flow1, t0), "")
	require.NoError(t, s.Finish(ctx, completed(first, t0.Add(time.Second))))

	got, created, err := s.Create(ctx, progressing(2, customer, flow1, t0.Add(2*time.Second)), "")
	require.NoError(t, err)
	assert.False(t, created, "prev \"\" but the flow has an analysis")
	assert.Equal(t, first.ID, got.ID)
	assert.Equal(t, timeline.StatusCompleted, got.Status)

	second := mustCreate(t, s, progressing(3, customer, flow1, t0.Add(3*time.Second)), first.ID)
	require.NoError(t, s.Finish(ctx, completed(second, t0.Add(4*time.Second))))
	got, created, err = s.Create(ctx, progressing(4, customer, flow1, t0.Add(5*time.Second)), first.ID)
	require.NoError(t, err)
	assert.False(t, created, "prev is no longer the latest")
	assert.Equal(t, second.ID, got.ID)

	_, created, err = s.Create(ctx, progressing(5, customer, flow2, t0), id(1))
	assert.ErrorIs(t, err, timeline.ErrNotFound, "prev names an analysis but the flow has none")
	assert.False(t, created)
}

func testConcurrentCreates(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	const n = 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdIDs, returned := []string{}, map[string]bool{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, created, err := s.Create(ctx, progressing(100+i, customer, flow1, t0), "")
			assert.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			returned[got.ID] = true
			if created {
				createdIDs = append(createdIDs, got.ID)
			}
		}()
	}
	wg.Wait()
	require.Len(t, createdIDs, 1, "exactly one create stores its analysis")
	assert.Equal(t, map[string]bool{createdIDs[0]: true}, returned, "every caller gets that analysis")
	page, err := s.List(ctx, customer, timeline.ListFilter{ActiveflowID: flow1}, timeline.PageRequest{Size: timeline.MaxPageSize})
	require.NoError(t, err)
	assert.Len(t, page.Items, 1)
}

func testFinish(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, progressing(1, customer, flow1, t0), "")
	done := completed(a, t0.Add(20*time.Second))
	done.ActiveflowID = flow2 // not a field Finish writes
	require.NoError(t, s.Finish(ctx, done))
	got, err := s.Get(ctx, customer, a.ID)
	require.NoError(t, err)
	assert.Equal(t, timeline.StatusCompleted, got.Status)
	assert.Equal(t, flow1, got.ActiveflowID, "other fields are kept")
	assert.True(t, got.TMCreate.Equal(t0))
	assert.True(t, got.TMUpdate.Equal(t0.Add(20*time.Second)))
	assert.Equal(t, done.Result, got.Result)

	failed := a
	failed.Status, failed.Error = timeline.StatusFailed, timeline.FailTimeout
	assert.ErrorIs(t, s.Finish(ctx, failed), timeline.ErrConflict, "no longer progressing")
	got, err = s.Get(ctx, customer, a.ID)
	require.NoError(t, err)
	assert.Equal(t, timeline.StatusCompleted, got.Status, "left unchanged")

	assert.ErrorIs(t, s.Finish(ctx, completed(progressing(9, customer, flow1, t0), t0)), timeline.ErrNotFound)
	foreign := completed(a, t0)
	foreign.CustomerID = other
	assert.ErrorIs(t, s.Finish(ctx, foreign), timeline.ErrNotFound)
	b := mustCreate(t, s, progressing(2, customer, flow2, t0), "")
	assert.ErrorIs(t, s.Finish(ctx, b), timeline.ErrInvalid, "progressing is not an end")
	b.Status, b.Error, b.TMUpdate = timeline.StatusFailed, timeline.FailRefused, timeline.Timestamp{Time: t0.Add(time.Minute)}
	require.NoError(t, s.Finish(ctx, b))
	got, err = s.Get(ctx, customer, b.ID)
	require.NoError(t, err)
	assert.Equal(t, timeline.FailRefused, got.Error)
	assert.Nil(t, got.Result)
}

func testTenancy(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, progressing(1, customer, flow1, t0), "")
	_, errOther := s.Get(ctx, other, a.ID)
	_, errMissing := s.Get(ctx, other, id(42))
	assert.ErrorIs(t, errOther, timeline.ErrNotFound)
	assert.Equal(t, errMissing, errOther, "another customer's analysis looks missing")
	_, err := s.Latest(ctx, other, flow1)
	assert.ErrorIs(t, err, timeline.ErrNotFound)
	page, err := s.List(ctx, other, timeline.ListFilter{}, timeline.PageRequest{})
	require.NoError(t, err)
	assert.Empty(t, page.Items)
	page, err = s.List(ctx, other, timeline.ListFilter{ActiveflowID: flow1}, timeline.PageRequest{})
	require.NoError(t, err)
	assert.Empty(t, page.Items)
}

func testLatest(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	_, err := s.Latest(ctx, customer, flow1)
	assert.ErrorIs(t, err, timeline.ErrNotFound)
	prev := ""
	for i := 1; i <= 3; i++ {
		a := mustCreate(t, s, progressing(i, customer, flow1, t0.Add(time.Duration(i)*time.Minute)), prev)
		got, err := s.Latest(ctx, customer, flow1)
		require.NoError(t, err)
		assert.Equal(t, a.ID, got.ID)
		require.NoError(t, s.Finish(ctx, completed(a, a.TMCreate.Add(time.Second))))
		prev = a.ID
	}

	// The analysis created last, even when its TMCreate equals the previous
	// one's and its id sorts before it.
	first := mustCreate(t, s, progressing(90, customer, flow2, t0), "")
	require.NoError(t, s.Finish(ctx, completed(first, t0)))
	second := mustCreate(t, s, progressing(10, customer, flow2, t0), first.ID)
	got, err := s.Latest(ctx, customer, flow2)
	require.NoError(t, err)
	assert.Equal(t, second.ID, got.ID, "the analysis created last, not the one sorting first")
	require.NoError(t, s.Finish(ctx, completed(second, t0)))
	got, err = s.Latest(ctx, customer, flow2)
	require.NoError(t, err)
	assert.Equal(t, second.ID, got.ID)
	_, created, err := s.Create(ctx, progressing(91, customer, flow2, t0), first.ID)
	require.NoError(t, err)
	assert.False(t, created, "the latest is the one created last")
}

func testList(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	type entry struct {
		id      string
		created time.Time
	}
	var want []entry
	prev := map[string]string{}
	for i, n := range []int{5, 2, 7, 1, 6, 3, 4} { // ids not in creation order
		flow := []string{flow1, flow2}[i%2]
		created := t0.Add(time.Duration(i/2) * time.Minute) // pairs share a creation time: ids break the tie
		a := mustCreate(t, s, progressing(n, customer, flow, created), prev[flow])
		require.NoError(t, s.Finish(ctx, completed(a, created.Add(time.Second))))
		prev[flow] = a.ID
		want = append(want, entry{a.ID, created})
	}
	sort.Slice(want, func(i, j int) bool {
		if !want[i].created.Equal(want[j].created) {
			return want[i].created.After(want[j].created)
		}
		return want[i].id > want[j].id
	})
	wantIDs := make([]string, len(want))
	for i, e := range want {
		wantIDs[i] = e.id
	}
	mustCreate(t, s, progressing(50, other, flow1, t0), "")
	var got []string
	token := ""
	pages := 0
	for {
		page, err := s.List(ctx, customer, timeline.ListFilter{}, timeline.PageRequest{Size: 3, Token: token})
		require.NoError(t, err)
		assert.LessOrEqual(t, len(page.Items), 3)
		for _, a := range page.Items {
			got = append(got, a.ID)
		}
		pages++
		if page.NextToken == "" {
			break
		}
		require.Less(t, pages, 10, "the pages must end")
		token = page.NextToken
	}
	assert.Equal(t, wantIDs, got, "newest first, ids descending on ties")
	assert.Equal(t, 3, pages)

	page, err := s.List(ctx, customer, timeline.ListFilter{ActiveflowID: flow2}, timeline.PageRequest{})
	require.NoError(t, err)
	assert.Len(t, page.Items, 3)
	for _, a := range page.Items {
		assert.Equal(t, flow2, a.ActiveflowID)
	}
	assert.Empty(t, page.NextToken)
	page, err = s.List(ctx, customer, timeline.ListFilter{}, timeline.PageRequest{Size: 7})
	require.NoError(t, err)
	assert.Len(t, page.Items, 7)
	assert.Empty(t, page.NextToken, "an exactly full last page has no next page")
}

func testListRefuses(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	for _, p := range []timeline.PageRequest{{Size: -1}, {Size: timeline.MaxPageSize + 1}, {Token: "not-a-token"}, {Token: "e30"}} {
		_, err := s.List(ctx, customer, timeline.ListFilter{}, p)
		assert.ErrorIs(t, err, timeline.ErrInvalid, "%+v", p)
	}
	page, err := s.List(ctx, customer, timeline.ListFilter{}, timeline.PageRequest{})
	require.NoError(t, err)
	assert.NotNil(t, page.Items, "an empty page has an empty, non-nil list")
	assert.Empty(t, page.Items)
}

func testPageTokensBound(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	prev := ""
	for i := 1; i <= 3; i++ {
		a := mustCreate(t, s, progressing(i, customer, flow1, t0.Add(time.Duration(i)*time.Minute)), prev)
		require.NoError(t, s.Finish(ctx, completed(a, a.TMCreate.Add(time.Second))))
		prev = a.ID
	}
	mustCreate(t, s, progressing(4, other, flow1, t0), "")
	all, err := s.List(ctx, customer, timeline.ListFilter{}, timeline.PageRequest{Size: 1})
	require.NoError(t, err)
	require.NotEmpty(t, all.NextToken)
	oneFlow, err := s.List(ctx, customer, timeline.ListFilter{ActiveflowID: flow1}, timeline.PageRequest{Size: 1})
	require.NoError(t, err)
	require.NotEmpty(t, oneFlow.NextToken)
	for name, c := range map[string]struct {
		customer string
		filter   timeline.ListFilter
		token    string
	}{
		"another customer":            {other, timeline.ListFilter{}, all.NextToken},
		"another customer, same flow": {other, timeline.ListFilter{ActiveflowID: flow1}, oneFlow.NextToken},
		"a filter added":              {customer, timeline.ListFilter{ActiveflowID: flow1}, all.NextToken},
		"the filter dropped":          {customer, timeline.ListFilter{}, oneFlow.NextToken},
		"another filter":              {customer, timeline.ListFilter{ActiveflowID: flow2}, oneFlow.NextToken},
	} {
		_, err := s.List(ctx, c.customer, c.filter, timeline.PageRequest{Size: 1, Token: c.token})
		assert.ErrorIs(t, err, timeline.ErrInvalid, name)
	}
	for _, c := range []struct {
		filter timeline.ListFilter
		token  string
	}{{timeline.ListFilter{}, all.NextToken}, {timeline.ListFilter{ActiveflowID: flow1}, oneFlow.NextToken}} {
		page, err := s.List(ctx, customer, c.filter, timeline.PageRequest{Size: 1, Token: c.token})
		require.NoError(t, err, "the token's own list")
		require.Len(t, page.Items, 1)
		assert.Equal(t, id(2), page.Items[0].ID)
	}
}

func testCopies(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	a := progressing(1, customer, flow1, t0)
	got := mustCreate(t, s, a, "")
	done := completed(got, t0.Add(time.Second))
	require.NoError(t, s.Finish(ctx, done))
	done.Result.Narrative = "changed by the caller"
	done.Result.Outcome.Detail["duration_sec"] = "999"
	read, err := s.Get(ctx, customer, a.ID)
	require.NoError(t, err)
	assert.Equal(t, "fine", read.Result.Narrative)
	read.Result.SessionContext.Participants[0].Address = "changed"
	read.Result.Issues[0].Evidence[0].EvidenceIndex = 7
	again, err := s.Get(ctx, customer, a.ID)
	require.NoError(t, err)
	assert.Equal(t, "+1", again.Result.SessionContext.Participants[0].Address)
	assert.Equal(t, "3", again.Result.Outcome.Detail["duration_sec"])
	assert.Equal(t, 1, again.Result.Issues[0].Evidence[0].EvidenceIndex)
}

func testCancelled(t *testing.T, s timeline.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, created, err := s.Create(ctx, progressing(1, customer, flow1, t0), "")
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.False(t, created)
	_, err = s.Latest(context.Background(), customer, flow1)
	assert.ErrorIs(t, err, timeline.ErrNotFound, "nothing stored")
	_, err = s.Get(ctx, customer, id(1))
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.Latest(ctx, customer, flow1)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.List(ctx, customer, timeline.ListFilter{}, timeline.PageRequest{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Finish(ctx, completed(progressing(1, customer, flow1, t0), t0)), context.Canceled)

	// Finish stores nothing either, on an analysis that exists.
	a := mustCreate(t, s, progressing(2, customer, flow2, t0), "")
	assert.ErrorIs(t, s.Finish(ctx, completed(a, t0.Add(time.Minute))), context.Canceled)
	got, err := s.Get(context.Background(), customer, a.ID)
	require.NoError(t, err)
	assert.Equal(t, timeline.StatusProgressing, got.Status, "nothing stored")
	assert.Nil(t, got.Result)
	assert.True(t, got.TMUpdate.Equal(t0))
}

// testUnholdableText passes strings no store of text can hold — a NUL,
// invalid UTF-8 — as lookups, which find nothing as any unknown string
// does, and in a model's narrative, which is kept (a database store writes
// each such character as U+FFFD).
func testUnholdableText(t *testing.T, s timeline.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, progressing(1, customer, flow1, t0), "")
	for _, bad := range []string{a.ID + "\x00", "\xff\xfe"} {
		_, err := s.Get(ctx, customer, bad)
		assert.ErrorIs(t, err, timeline.ErrNotFound, "Get %q", bad)
		_, err = s.Get(ctx, bad, a.ID)
		assert.ErrorIs(t, err, timeline.ErrNotFound, "Get of customer %q", bad)
		_, err = s.Latest(ctx, customer, bad)
		assert.ErrorIs(t, err, timeline.ErrNotFound, "Latest %q", bad)
		page, err := s.List(ctx, bad, timeline.ListFilter{}, timeline.PageRequest{})
		require.NoError(t, err, "List of customer %q", bad)
		assert.Empty(t, page.Items)
		page, err = s.List(ctx, customer, timeline.ListFilter{ActiveflowID: bad}, timeline.PageRequest{})
		require.NoError(t, err, "List of flow %q", bad)
		assert.Empty(t, page.Items)
		foreign := completed(a, t0)
		foreign.ID = bad
		assert.ErrorIs(t, s.Finish(ctx, foreign), timeline.ErrNotFound)
	}
	bad := completed(a, t0)
	bad.CustomerID = customer + "\x00"
	assert.ErrorIs(t, s.Finish(ctx, bad), timeline.ErrNotFound, "a customer no store can hold")

	// A forged page token whose id no text can hold starts its page where
	// it says, in byte order.
	b := mustCreate(t, s, progressing(2, customer, flow2, t0), "")
	mustCreate(t, s, progressing(3, customer, "e5f6a7b8-c9d0-4123-9abc-def012345678", t0.Add(time.Second)), "")
	token := timeline.PageToken(customer, timeline.ListFilter{}, timeline.Analysis{ID: b.ID + "\x00", TMCreate: b.TMCreate})
	page, err := s.List(ctx, customer, timeline.ListFilter{}, timeline.PageRequest{Token: token})
	require.NoError(t, err)
	var ids []string
	for _, it := range page.Items {
		ids = append(ids, it.ID)
	}
	assert.Equal(t, []string{b.ID, a.ID}, ids, "the analyses before (t0, %q) in byte order", b.ID+"\x00")

	done := completed(a, t0.Add(time.Minute))
	done.Result.Narrative = "before\x00after"
	done.Result.Issues[0].Summary = "odd \xff byte"
	require.NoError(t, s.Finish(ctx, done), "a model's narrative may hold a NUL")
	got, err := s.Get(ctx, customer, a.ID)
	require.NoError(t, err)
	assert.Contains(t, []string{"before\x00after", "before\uFFFDafter"}, got.Result.Narrative)
	assert.Contains(t, []string{"odd \xff byte", "odd \uFFFD byte"}, got.Result.Issues[0].Summary)
}
