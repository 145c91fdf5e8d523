package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/pgstore"
)

// alertRecorder is a notifier that keeps what it was told, failing the
// first attempt of each notification when failFirst is set.
type alertRecorder struct {
	mu        sync.Mutex
	failFirst bool
	alerts    []analysis.Alert
}

func (r *alertRecorder) Notify(_ context.Context, a analysis.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, a)
	if r.failFirst && a.Attempt == 1 {
		return errors.New("the receiver is down")
	}
	return nil
}

func (r *alertRecorder) all() []analysis.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]analysis.Alert(nil), r.alerts...)
}

// completeWithAccuracy saves an item of the given accuracy for each of the
// run's conversations and completes it now.
func completeWithAccuracy(t *testing.T, st *pgstore.Store, score float64) {
	t.Helper()
	ctx := context.Background()
	c, ok, err := st.ClaimChunk(ctx, "exec", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	for _, k := range c.Keys {
		require.NoError(t, st.SaveItem(ctx, c.ChunkRef, analysis.Item{ConversationKey: k,
			Accuracy: &accuracy.Result{Score: &score, ComparedCount: 1}}, nil))
	}
	finished, err := st.CompleteChunk(ctx, c.ChunkRef, time.Now().UTC())
	require.NoError(t, err)
	require.True(t, finished)
}

// TestReplicasOnPostgreSQLNotifyEachChangeOnce runs alerters on four
// stores of one schema — four replicas — that evaluate a rule at once
// after its metric dropped, then deliver at once: one change, one
// notification, delivered once, on its second attempt after the first
// failed.
func TestReplicasOnPostgreSQLNotifyEachChangeOnce(t *testing.T) {
	first, _, schema := newRunIn(t, 4, 4)
	ctx := context.Background()
	completeWithAccuracy(t, first, 0.5)
	svc, err := analysis.NewService(analysis.Config{Store: first})
	require.NoError(t, err)
	rule, err := svc.CreateAlertRule(ctx, sc, analysis.AlertRuleInput{Rule: analysis.Rule{Name: "accuracy drop",
		Metric: analysis.MetricAvgAccuracy, Op: analysis.OpLT, Threshold: 85, Window: analysis.Window(24 * time.Hour)}})
	require.NoError(t, err)

	notifier := &alertRecorder{failFirst: true}
	const replicas = 4
	alerters := make([]*analysis.Alerter, replicas)
	for i := range alerters {
		st, err := pgstore.New(ctx, first.Pool(), pgstore.Options{Schema: schema})
		require.NoError(t, err)
		alerters[i], err = analysis.NewAlerter(analysis.AlerterConfig{Store: st, Notifier: notifier,
			Owner: fmt.Sprint("replica-", i), Backoff: time.Millisecond})
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for _, a := range alerters {
		wg.Go(func() { assert.NoError(t, a.Evaluate(ctx)) })
	}
	wg.Wait()
	got, err := svc.GetAlertRule(ctx, sc, rule.ID)
	require.NoError(t, err)
	assert.Equal(t, analysis.AlertFiring, got.State)
	log, err := svc.ListAlertNotifications(ctx, sc, rule.ID, 10)
	require.NoError(t, err)
	require.Len(t, log, 1, "one change, one notification")

	// Deliver: the first attempt fails, the retry a millisecond later (by
	// the alerter's clock) is due once the database's clock has passed it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, a := range alerters {
			wg.Go(func() {
				_, err := a.Deliver(ctx)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		log, err = svc.ListAlertNotifications(ctx, sc, rule.ID, 10)
		require.NoError(t, err)
		if log[0].Status != analysis.DeliveryPending || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Len(t, log, 1)
	assert.Equal(t, analysis.DeliveryDelivered, log[0].Status)
	assert.Equal(t, 2, log[0].Attempts, "a failed attempt, then the delivery")
	assert.NotNil(t, log[0].DeliveredAt)
	alerts := notifier.all()
	require.Len(t, alerts, 2, "each attempt made once, by one replica")
	for i, a := range alerts {
		assert.Equal(t, log[0].ID, a.ID, "the notification's ID, on every attempt")
		assert.Equal(t, i+1, a.Attempt)
		assert.Equal(t, analysis.AlertFiring, a.State)
		assert.Equal(t, analysis.AlertOK, a.Previous)
		require.NotNil(t, a.Value.Value)
		assert.InDelta(t, 50, *a.Value.Value, 1e-9)
	}
}
