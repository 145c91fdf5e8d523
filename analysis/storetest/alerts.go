package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
)

// alertRule is an enabled rule watching accuracy under 85 over a day.
func alertRule(id, name string, created time.Time) analysis.AlertRule {
	return analysis.AlertRule{
		ID: id,
		Rule: analysis.Rule{Name: name, Metric: analysis.MetricAvgAccuracy, Op: analysis.OpLT, Threshold: 85,
			Window: analysis.Window(24 * time.Hour), DefinitionKey: "intent"},
		Enabled: true, Version: 1, State: analysis.AlertOK, CreatedAt: created, UpdatedAt: created,
	}
}

// createRule stores alertRule(id, name, t0) in scope, which must succeed.
func createRule(t *testing.T, s analysis.Store, scope analysis.Scope, id, name string) analysis.AlertRule {
	t.Helper()
	r := alertRule(id, name, t0)
	require.NoError(t, s.CreateAlertRule(ctx(), scope, r), "create rule %s", id)
	return r
}

func getRule(t *testing.T, s analysis.Store, scope analysis.Scope, idOrName string) analysis.AlertRule {
	t.Helper()
	r, err := s.GetAlertRule(ctx(), scope, idOrName)
	require.NoError(t, err, "get rule %s", idOrName)
	return r
}

// notice is the notification of r's change from one state to another,
// found at at with the metric at value.
func notice(id string, scope analysis.Scope, r analysis.AlertRule, from, to analysis.AlertState, at time.Time, value float64) analysis.AlertNotification {
	return analysis.AlertNotification{
		ID: id, Scope: scope, RuleID: r.ID, Rule: r.Rule, From: from, To: to,
		Value: analysis.MetricValue{Value: &value, Runs: 3, From: at.Add(-24 * time.Hour), To: at}, At: at,
	}
}

// queued is n as it is queued: pending, tried first at n.At.
func queued(n analysis.AlertNotification) analysis.AlertNotification {
	at := n.At
	n.Status, n.Attempts, n.LastError, n.NextAttemptAt, n.DeliveredAt, n.Token = analysis.DeliveryPending, 0, "", &at, nil, 0
	return n
}

// transition changes the state of r from n.From to n.To, which must
// happen, queuing n.
func transition(t *testing.T, s analysis.Store, scope analysis.Scope, ruleID string, n analysis.AlertNotification) {
	t.Helper()
	changed, err := s.TransitionAlert(ctx(), scope, ruleID, n.From, n)
	require.NoError(t, err)
	require.True(t, changed, "rule %s changes from %s to %s", ruleID, n.From, n.To)
}

// fire makes the rule, which is ok, fire at at, queuing notification id.
func fire(t *testing.T, s analysis.Store, scope analysis.Scope, ruleID, id string, at time.Time) analysis.AlertNotification {
	t.Helper()
	n := notice(id, scope, getRule(t, s, scope, ruleID), analysis.AlertOK, analysis.AlertFiring, at, 80)
	transition(t, s, scope, ruleID, n)
	return n
}

// claimNote claims a notification, which must be there.
func claimNote(t *testing.T, s analysis.Store, owner string) analysis.AlertNotification {
	t.Helper()
	n, ok, err := s.ClaimAlertNotification(ctx(), owner, lease)
	require.NoError(t, err)
	require.True(t, ok, "a notification is claimable")
	require.NotZero(t, n.Token, "a claim has a token")
	return n
}

// claimID claims notifications until it claims the one with the ID,
// which must come; those claimed before it stay held.
func claimID(t *testing.T, s analysis.Store, id string) analysis.AlertNotification {
	t.Helper()
	for range 1000 {
		if n := claimNote(t, s, "x"); n.ID == id {
			return n
		}
	}
	t.Fatalf("notification %s never claimed", id)
	return analysis.AlertNotification{}
}

// noNote checks that no notification is claimable.
func noNote(t *testing.T, s analysis.Store, msgAndArgs ...any) {
	t.Helper()
	n, ok, err := s.ClaimAlertNotification(ctx(), "nobody", lease)
	require.NoError(t, err)
	if ok {
		assert.Failf(t, "a notification was claimable", "claimed %s/%s: %v", n.Scope, n.ID, fmt.Sprint(msgAndArgs...))
	}
}

// alertLog returns the rule's whole delivery log.
func alertLog(t *testing.T, s analysis.Store, scope analysis.Scope, ruleID string) []analysis.AlertNotification {
	t.Helper()
	ns, err := s.ListAlertNotifications(ctx(), scope, ruleID, 1000)
	require.NoError(t, err)
	return ns
}

func noteIDs(ns []analysis.AlertNotification) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

func ruleNames(rs []analysis.AlertRule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// scopeClock is where storeNow keeps what it stores.
var scopeClock = analysis.Scope{Tenant: "storetest-clock", Project: "clock"}

var clockProbes atomic.Int64

// storeNow returns the store's now. Due notifications are judged by the
// store's clock, which the suite moves but does not read: a chunk claim's
// lease runs from the store's now, so storeNow starts a run of a
// definition of its own, in a scope of its own, claims its chunk and
// completes it. No other run may be in progress.
func storeNow(t *testing.T, s analysis.Store) time.Time {
	t.Helper()
	key := fmt.Sprintf("clock-%d", clockProbes.Add(1))
	define(t, s, scopeClock, key)
	startRun(t, s, scopeClock, key, key, t0, keysSel(10, "k"))
	c := claim(t, s, "clock")
	require.Equal(t, scopeClock, c.Scope, "no other run is in progress")
	finished, err := s.CompleteChunk(ctx(), c.ChunkRef, t0)
	require.NoError(t, err)
	require.True(t, finished)
	return c.ExpiresAt.Add(-lease)
}

func testAlertRuleCreateGet(t *testing.T, h Harness) {
	s := h.Store
	r := alertRule("rule-1", "Accuracy drop", t0)
	in := r
	in.Version, in.State = 7, analysis.AlertFiring
	require.NoError(t, s.CreateAlertRule(ctx(), scopeA, in))
	byID := getRule(t, s, scopeA, "rule-1")
	assert.Equal(t, r, byID, "stored at version 1, ok, whatever the rule said")
	byName := getRule(t, s, scopeA, "Accuracy drop")
	assert.Equal(t, r, byName, "found by name too")
	_, err := s.GetAlertRule(ctx(), scopeA, "nope")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	_, err = s.GetAlertRule(ctx(), scopeA, "accuracy drop")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "a name is matched exactly")

	// An ID is looked for first, then a name.
	require.NoError(t, s.CreateAlertRule(ctx(), scopeA, alertRule("rule-2", "rule-1", t0)))
	assert.Equal(t, "Accuracy drop", getRule(t, s, scopeA, "rule-1").Name, "the rule with the ID, not the one with the name")
	assert.Equal(t, "rule-2", getRule(t, s, scopeA, "rule-2").ID)
}

func testAlertRuleConflicts(t *testing.T, h Harness) {
	s := h.Store
	createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	assert.ErrorIs(t, s.CreateAlertRule(ctx(), scopeA, alertRule("rule-2", "Accuracy drop", t0)), analysis.ErrConflict, "the name is taken")
	assert.ErrorIs(t, s.CreateAlertRule(ctx(), scopeA, alertRule("rule-1", "Other", t0)), analysis.ErrConflict, "the ID is taken")
	for _, idOrName := range []string{"rule-2", "Other"} {
		_, err := s.GetAlertRule(ctx(), scopeA, idOrName)
		assert.ErrorIs(t, err, analysis.ErrNotFound, "a failed create stores nothing")
	}
	rules, err := s.ListAlertRules(ctx(), scopeA, 10)
	require.NoError(t, err)
	assert.Len(t, rules, 1)
	require.NoError(t, s.CreateAlertRule(ctx(), scopeB, alertRule("rule-1", "Accuracy drop", t0)), "IDs and names are per scope")
	require.NoError(t, s.CreateAlertRule(ctx(), scopeC, alertRule("rule-1", "Accuracy drop", t0)))
}

func testAlertRuleUpdate(t *testing.T, h Harness) {
	s := h.Store
	createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	read := getRule(t, s, scopeA, "rule-1")
	// The rule fires between the read and the update: the update keeps
	// the state.
	n := fire(t, s, scopeA, "rule-1", "n1", t0.Add(time.Minute))
	fired := getRule(t, s, scopeA, "rule-1")

	upd := read
	upd.Name, upd.Threshold, upd.Op, upd.Window, upd.DefinitionKey = "Accuracy under 90", 90, analysis.OpLTE, analysis.Window(time.Hour), ""
	upd.Enabled, upd.UpdatedAt = false, t0.Add(time.Hour)
	upd.Version, upd.CreatedAt = 99, t0.Add(time.Hour) // neither is the caller's to set
	require.NoError(t, s.UpdateAlertRule(ctx(), scopeA, upd, 1))
	got := getRule(t, s, scopeA, "rule-1")
	want := fired
	want.Rule, want.Enabled, want.UpdatedAt, want.Version = upd.Rule, false, upd.UpdatedAt, 2
	assert.Equal(t, want, got, "the caller's part replaced at the next version; state, its time and value, and creation kept")
	assert.Equal(t, analysis.AlertFiring, got.State)
	require.NotNil(t, got.StateSince)
	assert.True(t, got.StateSince.Equal(n.At))
	require.NotNil(t, got.LastValue)
	assert.Equal(t, n.Value, *got.LastValue)
	assert.True(t, got.CreatedAt.Equal(t0))
	assert.Equal(t, got, getRule(t, s, scopeA, "Accuracy under 90"), "found by its new name")
	_, err := s.GetAlertRule(ctx(), scopeA, "Accuracy drop")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "the old name is free")

	// A stale or future version is a conflict that changes nothing.
	stale := got
	stale.Threshold = 1
	assert.ErrorIs(t, s.UpdateAlertRule(ctx(), scopeA, stale, 1), analysis.ErrConflict, "another update landed first")
	assert.ErrorIs(t, s.UpdateAlertRule(ctx(), scopeA, stale, 3), analysis.ErrConflict, "a version that never was")
	assert.ErrorIs(t, s.UpdateAlertRule(ctx(), scopeA, stale, 0), analysis.ErrConflict)

	// Names stay unique: a rename to another rule's name is a conflict.
	createRule(t, s, scopeA, "rule-2", "Accuracy drop")
	taken := got
	taken.Name = "Accuracy drop"
	assert.ErrorIs(t, s.UpdateAlertRule(ctx(), scopeA, taken, 2), analysis.ErrConflict, "the name is rule-2's")
	assert.Equal(t, got, getRule(t, s, scopeA, "rule-1"), "failed updates changed nothing")
	assert.Equal(t, "rule-2", getRule(t, s, scopeA, "Accuracy drop").ID)

	missing := alertRule("rule-9", "Nine", t0)
	assert.ErrorIs(t, s.UpdateAlertRule(ctx(), scopeA, missing, 1), analysis.ErrNotFound)
	assert.ErrorIs(t, s.UpdateAlertRule(ctx(), scopeB, got, 2), analysis.ErrNotFound, "another scope's rule")
	assert.Equal(t, got, getRule(t, s, scopeA, "rule-1"), "failed updates changed nothing")

	// Keeping its own name is no conflict; the version grows by one.
	same := got
	same.Enabled = true
	require.NoError(t, s.UpdateAlertRule(ctx(), scopeA, same, 2))
	again := getRule(t, s, scopeA, "rule-1")
	assert.Equal(t, int64(3), again.Version)
	assert.True(t, again.Enabled)
	assert.Len(t, alertLog(t, s, scopeA, "rule-1"), 1, "an update queues no notification")

	// Two rules swap names, one step at a time.
	a, b := getRule(t, s, scopeA, "rule-1"), getRule(t, s, scopeA, "rule-2")
	a.Name = "swap"
	require.NoError(t, s.UpdateAlertRule(ctx(), scopeA, a, a.Version))
	b.Name = "Accuracy under 90"
	require.NoError(t, s.UpdateAlertRule(ctx(), scopeA, b, b.Version), "a name given up is free")
	a.Name = "Accuracy drop"
	require.NoError(t, s.UpdateAlertRule(ctx(), scopeA, a, a.Version+1))
	assert.Equal(t, "rule-1", getRule(t, s, scopeA, "Accuracy drop").ID)
	assert.Equal(t, "rule-2", getRule(t, s, scopeA, "Accuracy under 90").ID)
	_, err = s.GetAlertRule(ctx(), scopeA, "swap")
	assert.ErrorIs(t, err, analysis.ErrNotFound)
}

func testAlertRuleConcurrentUpdates(t *testing.T, h Harness) {
	// N writers each read, raise the threshold by one and write back with
	// the version they read, retrying on conflict: no update is lost.
	s := h.Store
	createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	const n = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 10_000 {
				r, err := s.GetAlertRule(ctx(), scopeA, "rule-1")
				if err != nil {
					errs[i] = err
					return
				}
				r.Threshold++
				err = s.UpdateAlertRule(ctx(), scopeA, r, r.Version)
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
	r := getRule(t, s, scopeA, "rule-1")
	assert.Equal(t, int64(1+n), r.Version, "one version per update")
	assert.Equal(t, float64(85+n), r.Threshold, "each update landed once")
}

func testAlertRuleDelete(t *testing.T, h Harness) {
	s := h.Store
	createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	createRule(t, s, scopeA, "rule-2", "Other")
	now := storeNow(t, s)
	fire(t, s, scopeA, "rule-1", "n1", now.Add(-time.Hour))
	fire(t, s, scopeA, "rule-2", "n2", now.Add(-time.Minute))
	held := claimNote(t, s, "x")
	require.Equal(t, "n1", held.ID)

	assert.ErrorIs(t, s.DeleteAlertRule(ctx(), scopeB, "rule-1"), analysis.ErrNotFound, "another scope's rule")
	assert.ErrorIs(t, s.DeleteAlertRule(ctx(), scopeA, "Accuracy drop"), analysis.ErrNotFound, "deleted by ID, not by name")
	require.NoError(t, s.DeleteAlertRule(ctx(), scopeA, "rule-1"))
	for _, idOrName := range []string{"rule-1", "Accuracy drop"} {
		_, err := s.GetAlertRule(ctx(), scopeA, idOrName)
		assert.ErrorIs(t, err, analysis.ErrNotFound)
	}
	assert.ErrorIs(t, s.DeleteAlertRule(ctx(), scopeA, "rule-1"), analysis.ErrNotFound, "deleted already")
	_, err := s.ListAlertNotifications(ctx(), scopeA, "rule-1", 10)
	assert.ErrorIs(t, err, analysis.ErrNotFound, "no such rule, no log")
	delivered := held
	delivered.Status, delivered.Attempts, delivered.DeliveredAt = analysis.DeliveryDelivered, 1, &now
	assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), delivered), analysis.ErrNotFound, "the notification went with its rule")
	changed, err := s.TransitionAlert(ctx(), scopeA, "rule-1", analysis.AlertFiring, notice("n3", scopeA, alertRule("rule-1", "Accuracy drop", t0), analysis.AlertFiring, analysis.AlertOK, now, 90))
	require.NoError(t, err)
	assert.False(t, changed, "a deleted rule changes no more")

	h.Advance(expire)
	n := claimNote(t, s, "y")
	assert.Equal(t, "n2", n.ID, "the deleted rule's notification is never claimed")
	noNote(t, s)

	// Its ID and name are free; the new rule starts afresh.
	created := createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	assert.Equal(t, created, getRule(t, s, scopeA, "Accuracy drop"))
	assert.Empty(t, alertLog(t, s, scopeA, "rule-1"), "the old rule's notifications are gone")
	assert.Len(t, alertLog(t, s, scopeA, "rule-2"), 1, "the other rule's stay")
}

func testAlertRuleList(t *testing.T, h Harness) {
	s := h.Store
	for i, name := range []string{"beta", "alpha", "Gamma", "Alpha", "alpha 2"} {
		createRule(t, s, scopeA, fmt.Sprintf("rule-%d", i), name)
	}
	createRule(t, s, scopeB, "rule-b", "aaa")
	all, err := s.ListAlertRules(ctx(), scopeA, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"Alpha", "Gamma", "alpha", "alpha 2", "beta"}, ruleNames(all), "by name, in byte order")
	assert.Equal(t, getRule(t, s, scopeA, "Gamma"), all[1], "each as GetAlertRule returns it")
	got, err := s.ListAlertRules(ctx(), scopeA, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"Alpha", "Gamma"}, ruleNames(got), "the limit keeps the first")
	got, err = s.ListAlertRules(ctx(), scopeC, 10)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.NotNil(t, got, "an empty list, not nil")
	got, err = s.ListAlertRules(ctx(), scopeB, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"aaa"}, ruleNames(got), "only the scope's own")
}

func testAlertRuleListEnabled(t *testing.T, h Harness) {
	s := h.Store
	got, err := s.ListEnabledAlertRules(ctx())
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.NotNil(t, got, "an empty list, not nil")

	add := func(scope analysis.Scope, id, name string, enabled bool) {
		r := alertRule(id, name, t0)
		r.Enabled = enabled
		require.NoError(t, s.CreateAlertRule(ctx(), scope, r))
	}
	add(scopeB, "r1", "b-first", true)
	add(scopeA, "r1", "zeta", true)
	add(scopeA, "r2", "Beta", true)
	add(scopeA, "r3", "alpha", true)
	add(scopeA, "r4", "off", false)
	add(scopeC, "r1", "c-first", true)
	add(scopeC, "r2", "c-off", false)
	got, err = s.ListEnabledAlertRules(ctx())
	require.NoError(t, err)
	type entry struct {
		Scope analysis.Scope
		Name  string
	}
	var entries []entry
	for _, sr := range got {
		entries = append(entries, entry{sr.Scope, sr.Rule.Name})
		assert.True(t, sr.Rule.Enabled)
		assert.Equal(t, getRule(t, s, sr.Scope, sr.Rule.ID), sr.Rule, "each as GetAlertRule returns it")
	}
	assert.Equal(t, []entry{
		{scopeA, "Beta"}, {scopeA, "alpha"}, {scopeA, "zeta"}, // tenant-a/project-1
		{scopeC, "c-first"}, // tenant-a/project-2
		{scopeB, "b-first"}, // tenant-b/project-1
	}, entries, "only enabled rules, of every scope, by scope then name")

	// An update that switches a rule off takes it off the list, and one
	// that switches it on puts it there.
	off := getRule(t, s, scopeA, "zeta")
	off.Enabled = false
	require.NoError(t, s.UpdateAlertRule(ctx(), scopeA, off, off.Version))
	on := getRule(t, s, scopeC, "c-off")
	on.Enabled = true
	require.NoError(t, s.UpdateAlertRule(ctx(), scopeC, on, on.Version))
	require.NoError(t, s.DeleteAlertRule(ctx(), scopeB, "r1"))
	got, err = s.ListEnabledAlertRules(ctx())
	require.NoError(t, err)
	entries = nil
	for _, sr := range got {
		entries = append(entries, entry{sr.Scope, sr.Rule.Name})
	}
	assert.Equal(t, []entry{{scopeA, "Beta"}, {scopeA, "alpha"}, {scopeC, "c-first"}, {scopeC, "c-off"}}, entries)
}

func testAlertTransition(t *testing.T, h Harness) {
	s := h.Store
	r := createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)

	// Not from the state it is in: nothing happens.
	wrong := notice("n0", scopeA, r, analysis.AlertFiring, analysis.AlertOK, t1, 90)
	changed, err := s.TransitionAlert(ctx(), scopeA, "rule-1", analysis.AlertFiring, wrong)
	require.NoError(t, err)
	assert.False(t, changed, "the rule is ok, not firing")
	assert.Equal(t, r, getRule(t, s, scopeA, "rule-1"), "nothing was written")
	assert.Empty(t, alertLog(t, s, scopeA, "rule-1"), "nothing was queued")

	// From ok to firing: the state, its time and value, and one pending
	// notification tried first when the change was found.
	n1 := notice("n1", scopeA, r, analysis.AlertOK, analysis.AlertFiring, t1, 80)
	changed, err = s.TransitionAlert(ctx(), scopeA, "rule-1", analysis.AlertOK, n1)
	require.NoError(t, err)
	require.True(t, changed)
	got := getRule(t, s, scopeA, "rule-1")
	want := r
	want.State, want.StateSince, want.LastValue = analysis.AlertFiring, &t1, &n1.Value
	assert.Equal(t, want, got, "the state changed, with its time and value; the version and UpdatedAt are the caller's")
	log := alertLog(t, s, scopeA, "rule-1")
	require.Len(t, log, 1, "exactly one notification")
	assert.Equal(t, queued(n1), log[0], "pending, tried first at its At")
	require.NotNil(t, log[0].NextAttemptAt)
	assert.True(t, log[0].NextAttemptAt.Equal(t1))

	// Again from ok — another replica that evaluated it at once: nothing.
	late := notice("n1-late", scopeA, r, analysis.AlertOK, analysis.AlertFiring, t1.Add(time.Second), 79)
	changed, err = s.TransitionAlert(ctx(), scopeA, "rule-1", analysis.AlertOK, late)
	require.NoError(t, err)
	assert.False(t, changed, "it changed first")
	assert.Equal(t, want, getRule(t, s, scopeA, "rule-1"), "nothing was written")
	assert.Equal(t, []string{"n1"}, noteIDs(alertLog(t, s, scopeA, "rule-1")), "nothing was queued")

	// Back to ok.
	n2 := notice("n2", scopeA, r, analysis.AlertFiring, analysis.AlertOK, t2, 95)
	transition(t, s, scopeA, "rule-1", n2)
	got = getRule(t, s, scopeA, "rule-1")
	assert.Equal(t, analysis.AlertOK, got.State)
	require.NotNil(t, got.StateSince)
	assert.True(t, got.StateSince.Equal(t2))
	require.NotNil(t, got.LastValue)
	assert.Equal(t, n2.Value, *got.LastValue)
	assert.Equal(t, int64(1), got.Version)
	assert.Equal(t, []analysis.AlertNotification{queued(n2), queued(n1)}, alertLog(t, s, scopeA, "rule-1"), "one notification per change")

	// No such rule, here or in its scope: nothing.
	for _, c := range []struct {
		scope analysis.Scope
		id    string
	}{{scopeA, "rule-9"}, {scopeB, "rule-1"}, {scopeC, "rule-1"}, {scopeA, "Accuracy drop"}} {
		changed, err := s.TransitionAlert(ctx(), c.scope, c.id, analysis.AlertOK, notice("n-"+c.id, c.scope, r, analysis.AlertOK, analysis.AlertFiring, t2, 1))
		require.NoError(t, err, "%s %s", c.scope, c.id)
		assert.False(t, changed, "no rule %s in %s (a rule is named by its ID)", c.id, c.scope)
	}
	assert.Equal(t, got, getRule(t, s, scopeA, "rule-1"))
	assert.Len(t, alertLog(t, s, scopeA, "rule-1"), 2)
}

func testAlertConcurrentTransition(t *testing.T, h Harness) {
	// Replicas evaluate a rule at once and find that it changed: exactly
	// one changes its state and queues its notification, change after
	// change.
	s := h.Store
	createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	const replicas, rounds = 8, 6
	for round := range rounds {
		from, to := analysis.AlertOK, analysis.AlertFiring
		if round%2 == 1 {
			from, to = to, from
		}
		r := getRule(t, s, scopeA, "rule-1")
		at := t0.Add(time.Duration(round) * time.Hour)
		results := make([]bool, replicas)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				n := notice(fmt.Sprintf("n-%d-%d", round, i), scopeA, r, from, to, at, float64(i))
				results[i], errs[i] = s.TransitionAlert(ctx(), scopeA, "rule-1", from, n)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i := range replicas {
			require.NoError(t, errs[i], "round %d, replica %d", round, i)
			if results[i] {
				require.Equal(t, -1, winner, "round %d: replicas %d and %d both changed the rule", round, winner, i)
				winner = i
			}
		}
		require.NotEqual(t, -1, winner, "round %d: one replica changed the rule", round)
		got := getRule(t, s, scopeA, "rule-1")
		assert.Equal(t, to, got.State, "round %d", round)
		require.NotNil(t, got.LastValue)
		assert.Equal(t, float64(winner), *got.LastValue.Value, "round %d: the winner's value", round)
		log := alertLog(t, s, scopeA, "rule-1")
		require.Len(t, log, round+1, "round %d: one notification per change", round)
		assert.Equal(t, fmt.Sprintf("n-%d-%d", round, winner), log[0].ID, "round %d: the winner's notification", round)
		assert.Equal(t, from, log[0].From)
		assert.Equal(t, to, log[0].To)
	}
}

func testAlertClaimOrder(t *testing.T, h Harness) {
	s := h.Store
	now := storeNow(t, s)
	createRule(t, s, scopeA, "r1", "one")
	createRule(t, s, scopeA, "r2", "two")
	createRule(t, s, scopeA, "r3", "three")
	createRule(t, s, scopeB, "r1", "one")
	createRule(t, s, scopeC, "r1", "one")
	noNote(t, s, "nothing is queued")
	fire(t, s, scopeA, "r1", "n-y", now.Add(-5*time.Hour))
	fire(t, s, scopeB, "r1", "n-z", now.Add(-4*time.Hour))
	fire(t, s, scopeA, "r2", "n-a", now.Add(-3*time.Hour))
	fire(t, s, scopeA, "r3", "n-B", now.Add(-3*time.Hour))
	fire(t, s, scopeC, "r1", "n-0", now.Add(time.Hour)) // not due yet

	// Tried first the earliest: n-y, then n-z. Each is tried again later.
	y := claimNote(t, s, "x")
	assert.Equal(t, "n-y", y.ID)
	assert.Equal(t, scopeA, y.Scope)
	z := claimNote(t, s, "x")
	assert.Equal(t, "n-z", z.ID, "of any scope")
	assert.Equal(t, scopeB, z.Scope)
	for _, retry := range []struct {
		n    analysis.AlertNotification
		next time.Time
	}{{y, now.Add(-time.Hour)}, {z, now.Add(-3 * time.Hour)}} {
		n := retry.n
		next := retry.next
		n.Attempts, n.LastError, n.NextAttemptAt = 1, "timeout", &next
		require.NoError(t, s.RecordAlertDelivery(ctx(), n))
	}
	// Now n-z, n-B and n-a are tried first at -3h: n-z changed earliest;
	// n-B and n-a at the same time are in the order of their IDs' bytes.
	// n-y follows, tried at -1h; n-0 is not due.
	var order []string
	for range 4 {
		n := claimNote(t, s, "x")
		order = append(order, n.ID)
		n.Status, n.Attempts, n.DeliveredAt = analysis.DeliveryDelivered, n.Attempts+1, &now
		require.NoError(t, s.RecordAlertDelivery(ctx(), n))
	}
	assert.Equal(t, []string{"n-z", "n-B", "n-a", "n-y"}, order, "by the time tried next, then the change's time, then ID")
	noNote(t, s, "n-0 is not due, the others are delivered")
	h.Advance(time.Hour - time.Minute)
	noNote(t, s, "n-0 is not due yet")
	h.Advance(time.Minute + time.Second)
	n := claimNote(t, s, "x")
	assert.Equal(t, "n-0", n.ID, "due once the store's clock reaches it")
	assert.Equal(t, scopeC, n.Scope)
	noNote(t, s)
}

func testAlertLeases(t *testing.T, h Harness) {
	s := h.Store
	now := storeNow(t, s)
	createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	n := fire(t, s, scopeA, "rule-1", "n1", now.Add(-time.Minute))

	c1 := claimNote(t, s, "x")
	want := queued(n)
	want.Token = c1.Token
	assert.Equal(t, want, c1, "the notification as queued, with its claim's token")
	noNote(t, s, "it is held")
	h.Advance(lease / 2)
	noNote(t, s, "the lease has not lapsed")

	h.Advance(lease)
	c2 := claimNote(t, s, "y")
	assert.Equal(t, "n1", c2.ID, "claimable again once the lease lapsed")
	assert.NotEqual(t, c1.Token, c2.Token, "a fresh token each claim")
	noNote(t, s, "y holds it")

	// x's claim lapsed: its attempt is not recorded over y's.
	late := c1
	late.Status, late.Attempts, late.DeliveredAt = analysis.DeliveryDelivered, 1, &now
	assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), late), analysis.ErrLeaseLost, "a stale token")
	forged := late
	forged.Token = 0
	assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), forged), analysis.ErrLeaseLost, "no token")
	forged.Token = c2.Token + 1000
	assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), forged), analysis.ErrLeaseLost, "a token never given")
	assert.Equal(t, []analysis.AlertNotification{queued(n)}, alertLog(t, s, scopeA, "rule-1"), "nothing recorded")

	// y's lease lapses too, before it records: lost, and nothing recorded.
	h.Advance(expire)
	failed := c2
	failed.Status, failed.Attempts, failed.LastError = analysis.DeliveryFailed, 1, "refused"
	assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), failed), analysis.ErrLeaseLost, "after its lease expired")
	assert.Equal(t, []analysis.AlertNotification{queued(n)}, alertLog(t, s, scopeA, "rule-1"), "nothing recorded")

	// z claims it and records the delivery; its lease ends with it.
	c3 := claimNote(t, s, "z")
	assert.NotEqual(t, c2.Token, c3.Token)
	assert.NotEqual(t, c1.Token, c3.Token)
	done := c3
	delivered := now.Add(time.Second)
	done.Status, done.Attempts, done.DeliveredAt, done.NextAttemptAt = analysis.DeliveryDelivered, 1, &delivered, nil
	require.NoError(t, s.RecordAlertDelivery(ctx(), done))
	again := done
	again.Attempts = 2
	assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), again), analysis.ErrLeaseLost, "a recorded attempt ends the lease")
	log := alertLog(t, s, scopeA, "rule-1")
	require.Len(t, log, 1)
	assert.Equal(t, analysis.DeliveryDelivered, log[0].Status)
	assert.Equal(t, 1, log[0].Attempts)

	gone := c3
	gone.ID = "n9"
	assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), gone), analysis.ErrNotFound, "no such notification")
	gone = c3
	gone.Scope = scopeB
	assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), gone), analysis.ErrNotFound, "none in that scope")
}

func testAlertDeliveries(t *testing.T, h Harness) {
	s := h.Store
	now := storeNow(t, s)
	createRule(t, s, scopeA, "r1", "one")
	createRule(t, s, scopeA, "r2", "two")
	createRule(t, s, scopeA, "r3", "three")
	fire(t, s, scopeA, "r1", "delivered", now.Add(-3*time.Minute))
	fire(t, s, scopeA, "r2", "failed", now.Add(-2*time.Minute))
	fire(t, s, scopeA, "r3", "retried", now.Add(-time.Minute))

	// Delivered, and failed for good: neither is claimed again.
	d := claimNote(t, s, "x")
	require.Equal(t, "delivered", d.ID)
	at := now.Add(time.Second)
	d.Status, d.Attempts, d.DeliveredAt, d.NextAttemptAt = analysis.DeliveryDelivered, 1, &at, nil
	require.NoError(t, s.RecordAlertDelivery(ctx(), d))
	f := claimNote(t, s, "x")
	require.Equal(t, "failed", f.ID)
	f.Status, f.Attempts, f.LastError, f.NextAttemptAt = analysis.DeliveryFailed, 1, "the receiver refused it: 400", nil
	require.NoError(t, s.RecordAlertDelivery(ctx(), f))

	// A failed attempt tried again in ten minutes: claimable only then.
	r := claimNote(t, s, "x")
	require.Equal(t, "retried", r.ID)
	next := now.Add(10 * time.Minute)
	r.Attempts, r.LastError, r.NextAttemptAt = 1, "timed out", &next
	require.NoError(t, s.RecordAlertDelivery(ctx(), r))
	noNote(t, s, "the retry is not due, the others are done")
	h.Advance(5 * time.Minute)
	noNote(t, s, "the retry is not due yet")
	h.Advance(5*time.Minute + time.Second)
	again := claimNote(t, s, "y")
	assert.Equal(t, "retried", again.ID, "due at its next attempt")
	assert.Equal(t, 1, again.Attempts, "with its attempts")
	assert.Equal(t, "timed out", again.LastError)
	require.NotNil(t, again.NextAttemptAt)
	assert.True(t, again.NextAttemptAt.Equal(next))
	assert.NotEqual(t, r.Token, again.Token)
	again.Status, again.Attempts, again.LastError, again.NextAttemptAt = analysis.DeliveryFailed, 2, "gave up", nil
	require.NoError(t, s.RecordAlertDelivery(ctx(), again))

	h.Advance(1000 * time.Hour)
	noNote(t, s, "delivered and failed notifications are never claimed again")
	log := alertLog(t, s, scopeA, "r1")
	require.Len(t, log, 1)
	assert.Equal(t, analysis.DeliveryDelivered, log[0].Status)
	require.NotNil(t, log[0].DeliveredAt)
	assert.True(t, log[0].DeliveredAt.Equal(at))
	assert.Nil(t, log[0].NextAttemptAt)
	log = alertLog(t, s, scopeA, "r2")
	require.Len(t, log, 1)
	assert.Equal(t, analysis.DeliveryFailed, log[0].Status)
	assert.Equal(t, "the receiver refused it: 400", log[0].LastError)
	log = alertLog(t, s, scopeA, "r3")
	require.Len(t, log, 1)
	assert.Equal(t, analysis.DeliveryFailed, log[0].Status)
	assert.Equal(t, 2, log[0].Attempts)
	assert.Equal(t, "gave up", log[0].LastError)
}

func testAlertConcurrentClaims(t *testing.T, h Harness) {
	// Claimants deliver notifications at once, each needing three attempts:
	// a notification is held by one of them at a time, every attempt is
	// recorded under the claim that made it, and every token is fresh.
	s := h.Store
	now := storeNow(t, s)
	const rules, claimants, attempts = 12, 8, 3
	for i := range rules {
		id := fmt.Sprintf("rule-%02d", i)
		createRule(t, s, scopeA, id, id)
		fire(t, s, scopeA, id, "n-"+id, now.Add(-time.Duration(i)*time.Second))
	}
	var mu sync.Mutex
	held := map[string]string{} // notification → claimant
	tokens := map[int64]bool{}
	var claims atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range claimants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			owner := fmt.Sprint("claimant-", c)
			idle := 0
			for idle < 20 {
				n, ok, err := s.ClaimAlertNotification(ctx(), owner, lease)
				if !assert.NoError(t, err) {
					return
				}
				if !ok {
					idle++
					pause()
					continue
				}
				idle = 0
				if claims.Add(1) > 2*rules*attempts {
					assert.Fail(t, "more claims than attempts", "%s claimed %s again", owner, n.ID)
					return
				}
				mu.Lock()
				if other, taken := held[n.ID]; taken {
					assert.Failf(t, "held twice", "%s holds %s, claimed by %s too", other, n.ID, owner)
				}
				held[n.ID] = owner
				assert.False(t, tokens[n.Token], "token %d given twice", n.Token)
				tokens[n.Token] = true
				mu.Unlock()
				pause()
				n.Attempts++
				if n.Attempts < attempts {
					n.LastError = fmt.Sprint("attempt ", n.Attempts, " failed")
				} else {
					at := now
					n.Status, n.LastError, n.NextAttemptAt, n.DeliveredAt = analysis.DeliveryDelivered, "", nil, &at
				}
				mu.Lock()
				delete(held, n.ID)
				mu.Unlock()
				assert.NoError(t, s.RecordAlertDelivery(ctx(), n), "%s holds %s", owner, n.ID)
			}
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int64(rules*attempts), claims.Load(), "each notification claimed once per attempt")
	for i := range rules {
		log := alertLog(t, s, scopeA, fmt.Sprintf("rule-%02d", i))
		require.Len(t, log, 1)
		assert.Equal(t, analysis.DeliveryDelivered, log[0].Status, "%s", log[0].ID)
		assert.Equal(t, attempts, log[0].Attempts, "%s: no attempt lost", log[0].ID)
	}
	noNote(t, s, "all delivered")
}

func testAlertLog(t *testing.T, h Harness) {
	s := h.Store
	now := storeNow(t, s)
	r := createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	createRule(t, s, scopeA, "rule-2", "Other")
	createRule(t, s, scopeB, "rule-1", "Accuracy drop")
	_, err := s.ListAlertNotifications(ctx(), scopeA, "rule-9", 10)
	assert.ErrorIs(t, err, analysis.ErrNotFound, "no such rule")
	_, err = s.ListAlertNotifications(ctx(), scopeC, "rule-1", 10)
	assert.ErrorIs(t, err, analysis.ErrNotFound, "no such rule in the scope")
	_, err = s.ListAlertNotifications(ctx(), scopeA, "Accuracy drop", 10)
	assert.ErrorIs(t, err, analysis.ErrNotFound, "a rule is named by its ID")
	empty, err := s.ListAlertNotifications(ctx(), scopeA, "rule-1", 10)
	require.NoError(t, err)
	assert.Empty(t, empty)
	assert.NotNil(t, empty, "an empty log, not nil")

	// Four changes: two at the same time (IDs decide), found out of order.
	base := now.Add(-time.Hour)
	n1 := notice("n-1", scopeA, r, analysis.AlertOK, analysis.AlertFiring, base, 80)
	n2 := notice("n-2", scopeA, r, analysis.AlertFiring, analysis.AlertOK, base.Add(10*time.Minute), 90)
	n3 := notice("n-3", scopeA, r, analysis.AlertOK, analysis.AlertFiring, base.Add(10*time.Minute), 70)
	n4 := notice("n-0", scopeA, r, analysis.AlertFiring, analysis.AlertOK, base.Add(20*time.Minute), 95)
	for _, n := range []analysis.AlertNotification{n1, n2, n3, n4} {
		transition(t, s, scopeA, "rule-1", n)
	}
	fire(t, s, scopeA, "rule-2", "n-other", base)
	fire(t, s, scopeB, "rule-1", "n-b", base)

	// Deliver n-1 on the second attempt; n-3 fails for good. (The others
	// claimed on the way stay pending.)
	c := claimID(t, s, "n-1")
	retry := base.Add(time.Minute)
	c.Attempts, c.LastError, c.NextAttemptAt = 1, "timed out", &retry
	require.NoError(t, s.RecordAlertDelivery(ctx(), c))
	c = claimID(t, s, "n-1")
	deliveredAt := base.Add(2 * time.Minute)
	c.Status, c.Attempts, c.LastError, c.NextAttemptAt, c.DeliveredAt = analysis.DeliveryDelivered, 2, "", nil, &deliveredAt
	require.NoError(t, s.RecordAlertDelivery(ctx(), c))
	c = claimID(t, s, "n-3")
	c.Status, c.Attempts, c.LastError, c.NextAttemptAt = analysis.DeliveryFailed, 1, "the receiver refused it: 400", nil
	require.NoError(t, s.RecordAlertDelivery(ctx(), c))

	log := alertLog(t, s, scopeA, "rule-1")
	assert.Equal(t, []string{"n-0", "n-3", "n-2", "n-1"}, noteIDs(log), "newest first, by At, then ID")
	w1 := queued(n1)
	w1.Status, w1.Attempts, w1.NextAttemptAt, w1.DeliveredAt = analysis.DeliveryDelivered, 2, nil, &deliveredAt
	w3 := queued(n3)
	w3.Status, w3.Attempts, w3.LastError, w3.NextAttemptAt = analysis.DeliveryFailed, 1, "the receiver refused it: 400", nil
	assert.Equal(t, []analysis.AlertNotification{queued(n4), w3, queued(n2), w1}, log,
		"each with its delivery: status, attempts, last error, next attempt, delivered at; no token")
	for _, n := range log {
		assert.Zero(t, n.Token)
	}
	page, err := s.ListAlertNotifications(ctx(), scopeA, "rule-1", 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"n-0", "n-3"}, noteIDs(page), "the limit keeps the newest")
	assert.Equal(t, []string{"n-other"}, noteIDs(alertLog(t, s, scopeA, "rule-2")), "only the rule's own")
	assert.Equal(t, []string{"n-b"}, noteIDs(alertLog(t, s, scopeB, "rule-1")), "only the scope's own")
}

func testAlertCopies(t *testing.T, h Harness) {
	s := h.Store
	now := storeNow(t, s)
	createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	n := fire(t, s, scopeA, "rule-1", "n1", now.Add(-time.Minute))
	*n.Value.Value = -1 // the caller's copy of what it queued
	n.Value.Runs = -1

	r := getRule(t, s, scopeA, "rule-1")
	require.NotNil(t, r.LastValue)
	assert.Equal(t, 80.0, *r.LastValue.Value, "the store kept its own copy of the value")
	*r.LastValue.Value = -2
	r.LastValue.Runs = -2
	*r.StateSince = t0.Add(-1000 * time.Hour)
	list, err := s.ListAlertRules(ctx(), scopeA, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	*list[0].LastValue.Value = -3
	*list[0].StateSince = t0.Add(-2000 * time.Hour)
	enabled, err := s.ListEnabledAlertRules(ctx())
	require.NoError(t, err)
	require.Len(t, enabled, 1)
	*enabled[0].Rule.LastValue.Value = -4
	*enabled[0].Rule.StateSince = t0.Add(-3000 * time.Hour)
	again := getRule(t, s, scopeA, "rule-1")
	assert.Equal(t, 80.0, *again.LastValue.Value, "a returned value is a copy")
	assert.Equal(t, 3, again.LastValue.Runs)
	assert.True(t, again.StateSince.Equal(n.At))

	log := alertLog(t, s, scopeA, "rule-1")
	require.Len(t, log, 1)
	assert.Equal(t, 80.0, *log[0].Value.Value)
	assert.Equal(t, 3, log[0].Value.Runs)
	*log[0].Value.Value = -5
	*log[0].NextAttemptAt = t0.Add(-1000 * time.Hour)
	c := claimNote(t, s, "x")
	assert.Equal(t, 80.0, *c.Value.Value, "a listed value is a copy")
	require.NotNil(t, c.NextAttemptAt)
	assert.True(t, c.NextAttemptAt.Equal(n.At))
	*c.Value.Value = -6

	// A recorded attempt is copied in.
	next := now.Add(time.Hour)
	c.Attempts, c.LastError, c.NextAttemptAt = 1, "timed out", &next
	require.NoError(t, s.RecordAlertDelivery(ctx(), c))
	next = now.Add(-time.Hour) // due at once, were it the store's
	noNote(t, s, "the store kept its own next attempt")
	log = alertLog(t, s, scopeA, "rule-1")
	require.Len(t, log, 1)
	assert.Equal(t, 80.0, *log[0].Value.Value, "a claimed value is a copy, and a record writes only the delivery")
	require.NotNil(t, log[0].NextAttemptAt)
	assert.True(t, log[0].NextAttemptAt.Equal(now.Add(time.Hour)))
}

func testAlertScopes(t *testing.T, h Harness) {
	s := h.Store
	now := storeNow(t, s)
	r := createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	fire(t, s, scopeA, "rule-1", "n1", now.Add(-time.Minute))
	held := claimNote(t, s, "x")
	rule := getRule(t, s, scopeA, "rule-1")
	for _, other := range []analysis.Scope{scopeB, scopeC} {
		for _, idOrName := range []string{"rule-1", "Accuracy drop"} {
			_, err := s.GetAlertRule(ctx(), other, idOrName)
			assert.ErrorIs(t, err, analysis.ErrNotFound, "%s in %s", idOrName, other)
		}
		assert.ErrorIs(t, s.UpdateAlertRule(ctx(), other, rule, rule.Version), analysis.ErrNotFound)
		assert.ErrorIs(t, s.DeleteAlertRule(ctx(), other, "rule-1"), analysis.ErrNotFound)
		rules, err := s.ListAlertRules(ctx(), other, 10)
		require.NoError(t, err)
		assert.Empty(t, rules)
		_, err = s.ListAlertNotifications(ctx(), other, "rule-1", 10)
		assert.ErrorIs(t, err, analysis.ErrNotFound)
		changed, err := s.TransitionAlert(ctx(), other, "rule-1", analysis.AlertFiring,
			notice("n-"+other.Tenant+other.Project, other, r, analysis.AlertFiring, analysis.AlertOK, now, 90))
		require.NoError(t, err)
		assert.False(t, changed)
		wrong := held
		wrong.Scope = other
		wrong.Status, wrong.Attempts, wrong.DeliveredAt = analysis.DeliveryDelivered, 1, &now
		assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), wrong), analysis.ErrNotFound, "a claim holds nothing in another scope")

		// The same IDs and name in another scope are another rule and
		// another notification: the claim's token holds nothing there.
		createRule(t, s, other, "rule-1", "Accuracy drop")
		fire(t, s, other, "rule-1", "n1", now.Add(-time.Minute))
		assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), wrong), analysis.ErrLeaseLost, "another scope's notification of the same ID")
		log := alertLog(t, s, other, "rule-1")
		require.Len(t, log, 1)
		assert.Equal(t, analysis.DeliveryPending, log[0].Status, "nothing recorded")
		assert.Equal(t, other, log[0].Scope)
	}
	assert.Equal(t, rule, getRule(t, s, scopeA, "rule-1"), "scope A's rule unchanged")
	log := alertLog(t, s, scopeA, "rule-1")
	require.Len(t, log, 1)
	assert.Equal(t, analysis.DeliveryPending, log[0].Status)
	done := held
	done.Status, done.Attempts, done.DeliveredAt = analysis.DeliveryDelivered, 1, &now
	require.NoError(t, s.RecordAlertDelivery(ctx(), done), "the real holder still holds it")
	for range 2 {
		n := claimNote(t, s, "y")
		assert.NotEqual(t, scopeA, n.Scope, "the other scopes' notifications")
	}
	noNote(t, s)
}

// testAlertUnholdable looks rules and notifications up by strings no store
// of text can hold: each finds nothing, as any other unknown string does.
func testAlertUnholdable(t *testing.T, h Harness) {
	s := h.Store
	now := storeNow(t, s)
	r := createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	fire(t, s, scopeA, "rule-1", "n1", now.Add(-time.Minute))
	held := claimNote(t, s, "owner\x00\xff")
	for _, bad := range []string{"rule-1\x00", "\xff\xfe", "Accuracy drop\x00"} {
		badTenant := analysis.Scope{Tenant: scopeA.Tenant + bad, Project: scopeA.Project}
		badProject := analysis.Scope{Tenant: scopeA.Tenant, Project: scopeA.Project + bad}
		for _, sc := range []analysis.Scope{scopeA, badTenant, badProject} {
			_, err := s.GetAlertRule(ctx(), sc, bad)
			assert.ErrorIs(t, err, analysis.ErrNotFound, "GetAlertRule %q", bad)
			assert.ErrorIs(t, s.DeleteAlertRule(ctx(), sc, bad), analysis.ErrNotFound)
			missing := r
			missing.ID = bad
			assert.ErrorIs(t, s.UpdateAlertRule(ctx(), sc, missing, 1), analysis.ErrNotFound)
			_, err = s.ListAlertNotifications(ctx(), sc, bad, 10)
			assert.ErrorIs(t, err, analysis.ErrNotFound)
			changed, err := s.TransitionAlert(ctx(), sc, bad, analysis.AlertFiring, notice("n2", sc, r, analysis.AlertFiring, analysis.AlertOK, now, 90))
			require.NoError(t, err)
			assert.False(t, changed)
			ref := held
			ref.ID = bad
			assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), ref), analysis.ErrNotFound)
		}
		for _, sc := range []analysis.Scope{badTenant, badProject} {
			_, err := s.GetAlertRule(ctx(), sc, "rule-1")
			assert.ErrorIs(t, err, analysis.ErrNotFound)
			rules, err := s.ListAlertRules(ctx(), sc, 10)
			require.NoError(t, err)
			assert.Empty(t, rules)
			_, err = s.ListAlertNotifications(ctx(), sc, "rule-1", 10)
			assert.ErrorIs(t, err, analysis.ErrNotFound)
			ref := held
			ref.Scope = sc
			assert.ErrorIs(t, s.RecordAlertDelivery(ctx(), ref), analysis.ErrNotFound)
		}
		changed, err := s.TransitionAlert(ctx(), scopeA, "rule-1", analysis.AlertState("firing"+bad), notice("n2", scopeA, r, analysis.AlertState("firing"+bad), analysis.AlertOK, now, 90))
		require.NoError(t, err)
		assert.False(t, changed, "no rule is in a state %q", "firing"+bad)
	}
	assert.Equal(t, analysis.AlertFiring, getRule(t, s, scopeA, "rule-1").State)

	// A last error may quote what a receiver wrote: kept, as far as the
	// store can hold it.
	held.Attempts, held.LastError = 1, "refused\x00 by \xffreceiver"
	require.NoError(t, s.RecordAlertDelivery(ctx(), held))
	log := alertLog(t, s, scopeA, "rule-1")
	require.Len(t, log, 1)
	assert.Contains(t, log[0].LastError, "refused")
	assert.Contains(t, log[0].LastError, "receiver")

	// Creating what no store can hold may be refused, with ErrInvalid.
	for _, bad := range []analysis.AlertRule{alertRule("rule-nul\x00", "fine", t0), alertRule("rule-bad", "name\xff", t0)} {
		if err := s.CreateAlertRule(ctx(), scopeC, bad); err != nil {
			assert.ErrorIs(t, err, analysis.ErrInvalid)
		}
	}
	renamed := getRule(t, s, scopeA, "rule-1")
	renamed.Name = "nul\x00name"
	if err := s.UpdateAlertRule(ctx(), scopeA, renamed, renamed.Version); err != nil {
		assert.ErrorIs(t, err, analysis.ErrInvalid)
		assert.Equal(t, "Accuracy drop", getRule(t, s, scopeA, "rule-1").Name, "a refused update changes nothing")
	}
}

func testAlertCancelledContext(t *testing.T, h Harness) {
	s := h.Store
	now := storeNow(t, s)
	createRule(t, s, scopeA, "rule-1", "Accuracy drop")
	n := fire(t, s, scopeA, "rule-1", "n1", now.Add(-time.Minute))
	held := claimNote(t, s, "x")
	rule := getRule(t, s, scopeA, "rule-1")

	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, s.CreateAlertRule(cctx, scopeA, alertRule("rule-2", "Two", t0)), context.Canceled)
	_, err := s.GetAlertRule(cctx, scopeA, "rule-1")
	assert.ErrorIs(t, err, context.Canceled)
	upd := rule
	upd.Enabled = false
	assert.ErrorIs(t, s.UpdateAlertRule(cctx, scopeA, upd, rule.Version), context.Canceled)
	assert.ErrorIs(t, s.DeleteAlertRule(cctx, scopeA, "rule-1"), context.Canceled)
	_, err = s.ListAlertRules(cctx, scopeA, 10)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.ListEnabledAlertRules(cctx)
	assert.ErrorIs(t, err, context.Canceled)
	back := notice("n2", scopeA, rule, analysis.AlertFiring, analysis.AlertOK, now, 90)
	_, err = s.TransitionAlert(cctx, scopeA, "rule-1", analysis.AlertFiring, back)
	assert.ErrorIs(t, err, context.Canceled)
	h.Advance(expire)
	_, _, err = s.ClaimAlertNotification(cctx, "y", lease)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.ListAlertNotifications(cctx, scopeA, "rule-1", 10)
	assert.ErrorIs(t, err, context.Canceled)

	_, err = s.GetAlertRule(ctx(), scopeA, "rule-2")
	assert.ErrorIs(t, err, analysis.ErrNotFound, "nothing was stored")
	assert.Equal(t, rule, getRule(t, s, scopeA, "rule-1"), "nothing was changed or deleted")
	assert.Equal(t, []analysis.AlertNotification{queued(n)}, alertLog(t, s, scopeA, "rule-1"), "nothing was queued")
	again := claimNote(t, s, "y")
	assert.Equal(t, "n1", again.ID, "the cancelled claim claimed nothing")
	assert.NotEqual(t, held.Token, again.Token)
	done := again
	done.Status, done.Attempts, done.DeliveredAt = analysis.DeliveryDelivered, 1, &now
	assert.ErrorIs(t, s.RecordAlertDelivery(cctx, done), context.Canceled)
	assert.Equal(t, analysis.DeliveryPending, alertLog(t, s, scopeA, "rule-1")[0].Status, "nothing was recorded")
	require.NoError(t, s.RecordAlertDelivery(ctx(), done), "the claim still holds it")
}

func testAlertRetryAfter(t *testing.T, h Harness) {
	// A retry timed by the store's clock: due RetryAfter after the store's
	// now, whatever NextAttemptAt the caller's clock gave.
	s := h.Store
	now := storeNow(t, s)
	createRule(t, s, scopeA, "r1", "one")
	fire(t, s, scopeA, "r1", "n-1", now.Add(-time.Minute))
	n := claimNote(t, s, "x")
	far := now.Add(-100 * time.Hour) // a caller's clock far behind: ignored
	n.Attempts, n.LastError, n.NextAttemptAt, n.RetryAfter = 1, "timeout", &far, 30*time.Second
	require.NoError(t, s.RecordAlertDelivery(ctx(), n))
	noNote(t, s, "not due before RetryAfter has passed by the store's clock")
	log, err := s.ListAlertNotifications(ctx(), scopeA, "r1", 10)
	require.NoError(t, err)
	require.NotNil(t, log[0].NextAttemptAt)
	assert.WithinDuration(t, now.Add(30*time.Second), *log[0].NextAttemptAt, 5*time.Second)
	assert.Zero(t, log[0].RetryAfter, "not stored")
	h.Advance(31 * time.Second)
	again := claimNote(t, s, "x")
	assert.Equal(t, "n-1", again.ID)
	assert.Equal(t, 1, again.Attempts)
}
