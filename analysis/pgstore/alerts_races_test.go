package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/pgstore"
)

// newAlertStore makes a store on a fresh schema, and returns its schema.
func newAlertStore(t *testing.T) (*pgstore.Store, string) {
	t.Helper()
	pool := testPool(t)
	schema := freshSchema(t, pool)
	st, err := pgstore.New(context.Background(), pool, pgstore.Options{Schema: schema})
	require.NoError(t, err)
	return st, schema
}

// storeRule stores storeRuleValue(id, name) in scope.
func storeRule(t *testing.T, st *pgstore.Store, scope analysis.Scope, id, name string) analysis.AlertRule {
	t.Helper()
	r := storeRuleValue(id, name)
	require.NoError(t, st.CreateAlertRule(context.Background(), scope, r))
	return r
}

// storeRuleValue is an enabled rule watching accuracy under 85 over a day.
func storeRuleValue(id, name string) analysis.AlertRule {
	return analysis.AlertRule{ID: id, Rule: analysis.Rule{Name: name, Metric: analysis.MetricAvgAccuracy, Op: analysis.OpLT,
		Threshold: 85, Window: analysis.Window(24 * time.Hour)}, Enabled: true, Version: 1, State: analysis.AlertOK, CreatedAt: day, UpdatedAt: day}
}

// firing is the notification of r's change from ok to firing at at.
func firing(id string, scope analysis.Scope, r analysis.AlertRule, at time.Time) analysis.AlertNotification {
	v := 50.0
	return analysis.AlertNotification{ID: id, Scope: scope, RuleID: r.ID, Rule: r.Rule, From: analysis.AlertOK, To: analysis.AlertFiring,
		Value: analysis.MetricValue{Value: &v, Runs: 1, From: at.Add(-24 * time.Hour), To: at}, At: at}
}

func TestAClaimTakesTheNextNotificationWhileAnotherTransactionHoldsTheFirst(t *testing.T) {
	st, schema := newAlertStore(t)
	ctx := context.Background()
	due := time.Now().UTC().Add(-time.Hour) // by the database's clock
	for i, id := range []string{"n-1", "n-2"} {
		r := storeRule(t, st, sc, "rule-"+id, "Rule "+id)
		changed, err := st.TransitionAlert(ctx, sc, r.ID, analysis.AlertOK, firing(id, sc, r, due.Add(time.Duration(i)*time.Minute)))
		require.NoError(t, err)
		require.True(t, changed)
	}
	// Another transaction — a claim in flight, say — holds the first.
	blocker, err := st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer blocker.Rollback(ctx) //nolint:errcheck
	_, err = blocker.Exec(ctx, "SELECT 1 FROM "+schema+".alert_notifications WHERE id = 'n-1' FOR UPDATE")
	require.NoError(t, err)

	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, ok, err := st.ClaimAlertNotification(quick, "a", time.Minute)
	require.NoError(t, err, "the claim does not wait for the row another transaction holds")
	require.True(t, ok)
	assert.Equal(t, "n-2", n.ID, "it takes the next")
	_, ok, err = st.ClaimAlertNotification(quick, "b", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "the first is locked, the second leased")

	require.NoError(t, blocker.Rollback(ctx))
	n, ok, err = st.ClaimAlertNotification(ctx, "b", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "n-1", n.ID, "once the other transaction ends")
}

func TestATransitionWhoseNotificationIDIsTakenChangesNothing(t *testing.T) {
	st, _ := newAlertStore(t)
	ctx := context.Background()
	r1 := storeRule(t, st, sc, "rule-1", "One")
	r2 := storeRule(t, st, sc, "rule-2", "Two")
	changed, err := st.TransitionAlert(ctx, sc, r1.ID, analysis.AlertOK, firing("n-1", sc, r1, day))
	require.NoError(t, err)
	require.True(t, changed)

	changed, err = st.TransitionAlert(ctx, sc, r2.ID, analysis.AlertOK, firing("n-1", sc, r2, day))
	assert.ErrorIs(t, err, analysis.ErrConflict, "a notification's ID is unique in its scope")
	assert.False(t, changed)
	got, err := st.GetAlertRule(ctx, sc, r2.ID)
	require.NoError(t, err)
	assert.Equal(t, r2, got, "the refused change wrote nothing: the rule is as it was")
	log, err := st.ListAlertNotifications(ctx, sc, r2.ID, 10)
	require.NoError(t, err)
	assert.Empty(t, log)

	other := analysis.Scope{Tenant: sc.Tenant, Project: "billing"}
	r3 := storeRule(t, st, other, "rule-1", "One")
	changed, err = st.TransitionAlert(ctx, other, r3.ID, analysis.AlertOK, firing("n-1", other, r3, day))
	require.NoError(t, err, "another scope's notification may have the ID")
	assert.True(t, changed)
}

func TestAlertTextPostgreSQLCannotHoldIsRefused(t *testing.T) {
	st, _ := newAlertStore(t)
	ctx := context.Background()
	good := storeRule(t, st, sc, "rule-1", "One")
	for _, bad := range []func(*analysis.AlertRule){
		func(r *analysis.AlertRule) { r.ID = "rule\x00" },
		func(r *analysis.AlertRule) { r.Name = "name\xff" },
		func(r *analysis.AlertRule) { r.DefinitionKey = "key\x00" },
	} {
		r := storeRuleValue("rule-2", "Two")
		bad(&r)
		assert.ErrorIs(t, st.CreateAlertRule(ctx, sc, r), analysis.ErrInvalid, "%+v", r)
		upd := good
		bad(&upd)
		if upd.ID == good.ID {
			assert.ErrorIs(t, st.UpdateAlertRule(ctx, sc, upd, 1), analysis.ErrInvalid, "%+v", upd)
		} else {
			assert.ErrorIs(t, st.UpdateAlertRule(ctx, sc, upd, 1), analysis.ErrNotFound, "no rule has the ID %q", upd.ID)
		}
	}
	assert.ErrorIs(t, st.CreateAlertRule(ctx, analysis.Scope{Tenant: "t\x00", Project: "p"}, storeRuleValue("rule-2", "Two")), analysis.ErrInvalid)
	rules, err := st.ListAlertRules(ctx, sc, 10)
	require.NoError(t, err)
	assert.Equal(t, []analysis.AlertRule{good}, rules, "nothing stored, nothing changed")

	n := firing("n\x00", sc, good, day)
	changed, err := st.TransitionAlert(ctx, sc, good.ID, analysis.AlertOK, n)
	assert.ErrorIs(t, err, analysis.ErrInvalid, "a notification's ID")
	assert.False(t, changed)
	got, err := st.GetAlertRule(ctx, sc, good.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.AlertOK, got.State, "nothing changed")

	// Text of a notification that is no ID is kept as far as PostgreSQL
	// can hold it.
	n = firing("n-1", sc, good, day)
	n.Rule.Name = "One\x00 \xffrule"
	changed, err = st.TransitionAlert(ctx, sc, good.ID, analysis.AlertOK, n)
	require.NoError(t, err)
	require.True(t, changed)
	log, err := st.ListAlertNotifications(ctx, sc, good.ID, 10)
	require.NoError(t, err)
	require.Len(t, log, 1)
	assert.Equal(t, "One\uFFFD \uFFFDrule", log[0].Rule.Name)
}
