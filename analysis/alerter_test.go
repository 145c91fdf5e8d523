package analysis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
)

// switchable is a model whose answers a test changes between runs.
type switchable struct{ wrong atomic.Bool }

// Generate answers as fakeModel, or, when wrong, with the wrong intent and
// resolution for every conversation.
func (m *switchable) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	if m.wrong.Load() && req.SchemaName != "verdict" {
		return llm.Response{Content: `{"intent":"support","resolved":false}`}, nil
	}
	return fakeModel().Generate(ctx, req)
}

// recorder is a notifier that keeps what it was told.
type recorder struct {
	mu     sync.Mutex
	alerts []analysis.Alert
}

func (r *recorder) Notify(_ context.Context, a analysis.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, a)
	return nil
}

func (r *recorder) all() []analysis.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]analysis.Alert(nil), r.alerts...)
}

var accuracyRule = analysis.AlertRuleInput{Rule: analysis.Rule{Name: "accuracy drop", Metric: analysis.MetricAvgAccuracy,
	Op: analysis.OpLT, Threshold: 85, Window: analysis.Window(24 * time.Hour)}}

// alertEnv is a service and an executor whose completed runs the alerter
// evaluates, over one store and clock.
func alertEnv(t *testing.T, n analysis.Notifier, cfg ...func(*analysis.AlerterConfig)) (*env, *switchable, *analysis.Alerter, analysis.Definition) {
	t.Helper()
	model := &switchable{}
	var alerter *analysis.Alerter
	e := newEnv(t, model, func(_ *analysis.Config, ec *analysis.ExecutorConfig) {
		ec.OnRunCompleted = func(ctx context.Context, sc analysis.Scope, runID string) { alerter.RunCompleted(ctx, sc, runID) }
	})
	acfg := analysis.AlerterConfig{Store: e.store, Notifier: n, Clock: e.clock, NewID: counterIDs(), Backoff: time.Second}
	for _, f := range cfg {
		f(&acfg)
	}
	var err error
	alerter, err = analysis.NewAlerter(acfg)
	require.NoError(t, err)
	ingest(t, e, 6)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	return e, model, alerter, d
}

// completeRun runs the definition over every conversation to its end.
func completeRun(t *testing.T, e *env, d analysis.Definition) {
	t.Helper()
	_, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = e.exec.Drain(context.Background())
	require.NoError(t, err)
}

func TestARuleNotifiesOncePerChangeOfState(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	e, model, alerter, d := alertEnv(t, rec)
	rule, err := e.svc.CreateAlertRule(ctx, scope, accuracyRule)
	require.NoError(t, err)
	assert.Equal(t, analysis.AlertOK, rule.State)
	assert.True(t, rule.Enabled, "enabled by default")

	// A run whose extraction is wrong: accuracy falls below 85, and the
	// rule fires after the run, once.
	model.wrong.Store(true)
	completeRun(t, e, d)
	n, err := alerter.Deliver(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	alerts := rec.all()
	require.Len(t, alerts, 1)
	a := alerts[0]
	assert.Equal(t, analysis.AlertFiring, a.State)
	assert.Equal(t, analysis.AlertOK, a.Previous)
	assert.Equal(t, rule.ID, a.RuleID)
	assert.NotEmpty(t, a.ID)
	require.NotNil(t, a.Value.Value)
	assert.Less(t, *a.Value.Value, 85.0)
	assert.Equal(t, 1, a.Value.Runs)
	assert.Equal(t, 24*time.Hour, a.Value.To.Sub(a.Value.From), "the window")
	assert.Equal(t, analysis.Window(24*time.Hour), a.Rule.Window)

	// Still firing: evaluated again and again, nothing more is told.
	for range 3 {
		require.NoError(t, alerter.Evaluate(ctx))
	}
	completeRun(t, e, d) // another wrong run
	n, err = alerter.Deliver(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Len(t, rec.all(), 1)

	// The window slides past the runs: no value, ok again — told once.
	e.clock.Advance(25 * time.Hour)
	require.NoError(t, alerter.Evaluate(ctx))
	require.NoError(t, alerter.Evaluate(ctx))
	_, err = alerter.Deliver(ctx)
	require.NoError(t, err)
	alerts = rec.all()
	require.Len(t, alerts, 2)
	assert.Equal(t, analysis.AlertOK, alerts[1].State)
	assert.Equal(t, analysis.AlertFiring, alerts[1].Previous)
	assert.Nil(t, alerts[1].Value.Value)

	// A good run keeps it ok: nothing told.
	model.wrong.Store(false)
	completeRun(t, e, d)
	_, err = alerter.Deliver(ctx)
	require.NoError(t, err)
	assert.Len(t, rec.all(), 2)

	got, err := e.svc.GetAlertRule(ctx, scope, "accuracy drop")
	require.NoError(t, err)
	assert.Equal(t, analysis.AlertOK, got.State)
	require.NotNil(t, got.StateSince)
	log, err := e.svc.ListAlertNotifications(ctx, scope, rule.ID, 10)
	require.NoError(t, err)
	require.Len(t, log, 2, "the delivery log")
	assert.Equal(t, analysis.AlertOK, log[0].To, "newest first")
	for _, n := range log {
		assert.Equal(t, analysis.DeliveryDelivered, n.Status)
		assert.Equal(t, 1, n.Attempts)
		assert.NotNil(t, n.DeliveredAt)
	}
}

func TestADisabledRuleOrOneOfAnotherDefinitionIsNotEvaluatedAfterARun(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	e, model, alerter, d := alertEnv(t, rec)
	off := accuracyRule
	off.Name, off.Enabled = "off", new(false)
	_, err := e.svc.CreateAlertRule(ctx, scope, off)
	require.NoError(t, err)
	other := accuracyRule
	other.Name, other.DefinitionKey = "other definition", "another-definition"
	_, err = e.svc.CreateAlertRule(ctx, scope, other)
	require.NoError(t, err)
	model.wrong.Store(true)
	completeRun(t, e, d)
	require.NoError(t, alerter.Evaluate(ctx))
	n, err := alerter.Deliver(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "the disabled rule is skipped, the other definition has no run")
}

func TestThreeReplicasNotifyOncePerChange(t *testing.T) {
	// No alerter sees the run complete: the three replicas race for the
	// change itself, then for its delivery.
	ctx := context.Background()
	model := &switchable{}
	model.wrong.Store(true)
	e := newEnv(t, model)
	ingest(t, e, 6)
	d, err := e.svc.CreateDefinition(ctx, scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.CreateAlertRule(ctx, scope, accuracyRule)
	require.NoError(t, err)
	completeRun(t, e, d)
	rule, err := e.svc.GetAlertRule(ctx, scope, accuracyRule.Name)
	require.NoError(t, err)
	require.Equal(t, analysis.AlertOK, rule.State, "nothing evaluated it yet")
	rec := &recorder{}
	var alerters []*analysis.Alerter
	for _, owner := range []string{"a", "b", "c"} {
		a, err := analysis.NewAlerter(analysis.AlerterConfig{Store: e.store, Notifier: rec, Clock: e.clock, Owner: owner})
		require.NoError(t, err)
		alerters = append(alerters, a)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range alerters {
		wg.Go(func() {
			<-start
			for range 20 {
				assert.NoError(t, a.Evaluate(ctx))
				_, err := a.Deliver(ctx)
				assert.NoError(t, err)
			}
		})
	}
	close(start)
	wg.Wait()
	alerts := rec.all()
	require.Len(t, alerts, 1, "one change, told once, whoever found it")
	assert.Equal(t, analysis.AlertFiring, alerts[0].State)
	log, err := e.svc.ListAlertNotifications(ctx, scope, rule.ID, 10)
	require.NoError(t, err)
	assert.Len(t, log, 1, "one notification queued")
}

func TestRetriesBackOffByTheStoresClock(t *testing.T) {
	ctx := context.Background()
	failing := analysis.NotifierFunc(func(context.Context, analysis.Alert) error { return errors.New("down") })
	e, model, alerter, d := alertEnv(t, failing, func(c *analysis.AlerterConfig) { c.MaxAttempts = 4 })
	rule, err := e.svc.CreateAlertRule(ctx, scope, accuracyRule)
	require.NoError(t, err)
	model.wrong.Store(true)
	completeRun(t, e, d)
	for attempt, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		n, err := alerter.Deliver(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n, "attempt %d", attempt+1)
		log, err := e.svc.ListAlertNotifications(ctx, scope, rule.ID, 1)
		require.NoError(t, err)
		require.Equal(t, analysis.DeliveryPending, log[0].Status)
		require.NotNil(t, log[0].NextAttemptAt)
		assert.Equal(t, e.clock.Now().Add(wait), *log[0].NextAttemptAt, "attempt %d: the wait doubles", attempt+1)
		assert.Equal(t, "the notifier failed (an error of type *errors.errorString)", log[0].LastError)
		e.clock.Advance(wait - time.Millisecond)
		n, err = alerter.Deliver(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "not due before the wait has passed")
		e.clock.Advance(time.Millisecond)
	}
	n, err := alerter.Deliver(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	log, err := e.svc.ListAlertNotifications(ctx, scope, rule.ID, 1)
	require.NoError(t, err)
	assert.Equal(t, analysis.DeliveryFailed, log[0].Status, "given up after four attempts")
	assert.Equal(t, 4, log[0].Attempts)
	assert.Nil(t, log[0].NextAttemptAt)
}

func TestAShutdownDuringADeliveryIsNotCountedAsAnAttempt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blocked := analysis.NotifierFunc(func(ctx context.Context, _ analysis.Alert) error {
		cancel() // the alerter shuts down while the receiver is slow
		<-ctx.Done()
		return ctx.Err()
	})
	e, model, alerter, d := alertEnv(t, blocked)
	rule, err := e.svc.CreateAlertRule(context.Background(), scope, accuracyRule)
	require.NoError(t, err)
	model.wrong.Store(true)
	completeRun(t, e, d)
	_, _ = alerter.Deliver(ctx)
	log, err := e.svc.ListAlertNotifications(context.Background(), scope, rule.ID, 1)
	require.NoError(t, err)
	assert.Equal(t, analysis.DeliveryPending, log[0].Status)
	assert.Zero(t, log[0].Attempts, "the lease lapses and another replica tries it, as the first attempt")
}

// receiver is a webhook receiver that verifies each delivery and answers
// the statuses it is given, in turn (the last one for ever after).
type receiver struct {
	mu       sync.Mutex
	secret   []byte
	statuses []int
	got      []analysis.Alert
	ids      []string
	bad      int
	now      func() time.Time
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if err := analysis.VerifyWebhook(rv.secret, r.Header.Get(analysis.WebhookSignatureHeader), body, rv.now(), 5*time.Minute); err != nil {
		rv.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var a analysis.Alert
	_ = json.Unmarshal(body, &a)
	rv.got = append(rv.got, a)
	rv.ids = append(rv.ids, r.Header.Get(analysis.WebhookDeliveryHeader))
	status := rv.statuses[min(len(rv.got)-1, len(rv.statuses)-1)]
	w.WriteHeader(status)
}

func TestAWebhookIsSignedRetriedOn5xxAndGivenUpWithAReason(t *testing.T) {
	ctx := context.Background()
	secret := []byte("0123456789abcdef-secret")
	for _, tc := range []struct {
		name      string
		statuses  []int
		attempts  int
		status    analysis.DeliveryStatus
		lastError string
		logged    string
	}{
		{"delivered after two 503s", []int{503, 503, 200}, 3, analysis.DeliveryDelivered, "", "trying again"},
		{"given up after max attempts", []int{503}, 4, analysis.DeliveryFailed, "webhook: the receiver answered 503", "given up"},
		{"given up at once on a 400", []int{400}, 1, analysis.DeliveryFailed, "webhook: the receiver answered 400", "the notifier refused it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			var e *env
			rv := &receiver{secret: secret, statuses: tc.statuses, now: func() time.Time { return e.clock.Now() }}
			srv := httptest.NewServer(rv)
			defer srv.Close()
			var webhook *analysis.WebhookNotifier
			e, model, alerter, d := alertEnv(t, analysis.NotifierFunc(func(ctx context.Context, a analysis.Alert) error { return webhook.Notify(ctx, a) }),
				func(c *analysis.AlerterConfig) {
					c.MaxAttempts = 4
					c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
				})
			var err error
			webhook, err = analysis.NewWebhookNotifier(analysis.WebhookConfig{URL: srv.URL + "/hook?token=hunter2", Secret: secret, Clock: e.clock})
			require.NoError(t, err)
			rule, err := e.svc.CreateAlertRule(ctx, scope, accuracyRule)
			require.NoError(t, err)
			model.wrong.Store(true)
			completeRun(t, e, d)
			for range 10 {
				_, err := alerter.Deliver(ctx)
				require.NoError(t, err)
				e.clock.Advance(10 * time.Second) // past each backoff (1s, 2s, 4s)
			}
			rv.mu.Lock()
			assert.Zero(t, rv.bad, "every delivery verifies")
			assert.Len(t, rv.got, tc.attempts)
			for i, id := range rv.ids {
				assert.Equal(t, rv.ids[0], id, "the same delivery ID on every attempt")
				assert.Equal(t, i+1, rv.got[i].Attempt)
				assert.Equal(t, analysis.AlertFiring, rv.got[i].State)
			}
			rv.mu.Unlock()
			log, err := e.svc.ListAlertNotifications(ctx, scope, rule.ID, 10)
			require.NoError(t, err)
			require.Len(t, log, 1)
			assert.Equal(t, tc.status, log[0].Status)
			assert.Equal(t, tc.attempts, log[0].Attempts)
			assert.Equal(t, tc.lastError, log[0].LastError)
			assert.Contains(t, logs.String(), tc.logged)
			assert.NotContains(t, logs.String(), "hunter2", "the URL's secret is never logged")
			assert.NotContains(t, log[0].LastError, "hunter2")
		})
	}
}

func TestWebhookSignaturesVerify(t *testing.T) {
	secret := []byte("0123456789abcdef-secret")
	body := []byte(`{"rule":{"name":"x"}}`)
	now := time.Unix(1_800_000_000, 0)
	header := analysis.SignWebhook(secret, now, body)
	require.NoError(t, analysis.VerifyWebhook(secret, header, body, now.Add(time.Minute), 5*time.Minute))
	for name, err := range map[string]error{
		"tampered body": analysis.VerifyWebhook(secret, header, []byte(`{"rule":{"name":"y"}}`), now, 5*time.Minute),
		"wrong secret":  analysis.VerifyWebhook([]byte("another-secret-of-16"), header, body, now, 5*time.Minute),
		"replayed late": analysis.VerifyWebhook(secret, header, body, now.Add(time.Hour), 5*time.Minute),
		"malformed":     analysis.VerifyWebhook(secret, "v1=abc", body, now, 5*time.Minute),
		"empty":         analysis.VerifyWebhook(secret, "", body, now, 5*time.Minute),
	} {
		assert.ErrorIs(t, err, analysis.ErrWebhookSignature, name)
	}
	// A receiver rotating secrets may accept either of two signatures.
	two := header + ",v1=" + strings.Repeat("00", 32)
	assert.NoError(t, analysis.VerifyWebhook(secret, two, body, now, 5*time.Minute))

	for _, bad := range []analysis.WebhookConfig{
		{URL: "ftp://x", Secret: secret}, {URL: "http://", Secret: secret}, {URL: "http://x", Secret: []byte("short")},
		{URL: "http://x", Secret: secret, Timeout: -1},
	} {
		_, err := analysis.NewWebhookNotifier(bad)
		assert.Error(t, err, "%+v", bad)
	}
}

func TestTheSlogNotifierLogsByState(t *testing.T) {
	var logs bytes.Buffer
	n := analysis.SlogNotifier{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	v := 40.0
	require.NoError(t, n.Notify(context.Background(), analysis.Alert{Scope: scope, Rule: accuracyRule.Rule, State: analysis.AlertFiring,
		Previous: analysis.AlertOK, Value: analysis.MetricValue{Value: &v, Runs: 2}}))
	require.NoError(t, n.Notify(context.Background(), analysis.Alert{Scope: scope, Rule: accuracyRule.Rule, State: analysis.AlertOK, Previous: analysis.AlertFiring}))
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], `"level":"WARN"`)
	assert.Contains(t, lines[0], `"value":"40.00"`)
	assert.Contains(t, lines[0], `"window":"24h0m0s"`)
	assert.Contains(t, lines[1], `"level":"INFO"`)
	assert.Contains(t, lines[1], `"value":"none"`)
	assert.Error(t, analysis.SlogNotifier{}.Notify(context.Background(), analysis.Alert{}))
}

func TestAlertRulesAreValidatedAndManaged(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	for _, bad := range []analysis.AlertRuleInput{
		{Rule: analysis.Rule{Metric: analysis.MetricPassRate, Op: analysis.OpLT, Threshold: 1, Window: analysis.Window(time.Hour)}},
		{Rule: analysis.Rule{Name: "x", Metric: "nope", Op: analysis.OpLT, Threshold: 1, Window: analysis.Window(time.Hour)}},
		{Rule: analysis.Rule{Name: "x", Metric: analysis.MetricPassRate, Op: analysis.OpLT, Threshold: 1, Window: analysis.Window(time.Hour), DefinitionKey: "Bad Key"}},
	} {
		_, err := e.svc.CreateAlertRule(ctx, scope, bad)
		assert.ErrorIs(t, err, analysis.ErrInvalid, "%+v", bad)
	}
	r, err := e.svc.CreateAlertRule(ctx, scope, accuracyRule)
	require.NoError(t, err)
	_, err = e.svc.CreateAlertRule(ctx, scope, accuracyRule)
	assert.ErrorIs(t, err, analysis.ErrConflict, "a name is unique in its scope")
	_, err = e.svc.CreateAlertRule(ctx, other, accuracyRule)
	assert.NoError(t, err, "another scope's")
	_, err = e.svc.GetAlertRule(ctx, other, r.ID)
	assert.ErrorIs(t, err, analysis.ErrNotFound, "another scope's rule is not found")

	changed := accuracyRule
	changed.Threshold = 90
	up, err := e.svc.UpdateAlertRule(ctx, scope, r.Name, changed, r.Version)
	require.NoError(t, err)
	assert.Equal(t, int64(2), up.Version)
	assert.Equal(t, 90.0, up.Threshold)
	_, err = e.svc.UpdateAlertRule(ctx, scope, r.ID, changed, 1)
	assert.ErrorIs(t, err, analysis.ErrConflict, "an update landed first")
	rules, err := e.svc.ListAlertRules(ctx, scope, 0)
	require.NoError(t, err)
	require.Len(t, rules, 1)
	assert.Equal(t, 90.0, rules[0].Threshold)
	require.NoError(t, e.svc.DeleteAlertRule(ctx, scope, r.ID))
	assert.ErrorIs(t, e.svc.DeleteAlertRule(ctx, scope, r.ID), analysis.ErrNotFound)
	_, err = e.svc.ListAlertNotifications(ctx, scope, r.ID, 0)
	assert.ErrorIs(t, err, analysis.ErrNotFound)

	_, err = analysis.NewAlerter(analysis.AlerterConfig{})
	assert.Error(t, err)
	_, err = analysis.NewAlerter(analysis.AlerterConfig{Store: e.store})
	assert.Error(t, err, "a notifier is required")
}

func TestRunEvaluatesOnATimerAndDeliversUntilCancelled(t *testing.T) {
	rec := &recorder{}
	e, model, _, d := alertEnv(t, rec)
	_, err := e.svc.CreateAlertRule(context.Background(), scope, accuracyRule)
	require.NoError(t, err)
	model.wrong.Store(true)
	completeRun(t, e, d) // its change is queued after the run; Run delivers it
	a, err := analysis.NewAlerter(analysis.AlerterConfig{Store: e.store, Notifier: rec, Clock: e.clock, Interval: 5 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	require.Eventually(t, func() bool { return len(rec.all()) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Len(t, rec.all(), 1)
}
