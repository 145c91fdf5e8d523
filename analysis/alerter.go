package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/debrief-go/debrief/schedule"
)

// AlertRuleInput is a stored alert rule as a caller writes it.
type AlertRuleInput struct {
	// Rule is what is watched; its Name is required and unique in the
	// scope.
	Rule
	// Enabled switches evaluation on; default true.
	Enabled *bool `json:"enabled,omitempty" jsonschema:"nullable"`
}

func (in AlertRuleInput) validate() error {
	var p problems
	switch {
	case strings.TrimSpace(in.Name) == "":
		p.add(-1, "$.name", "the name is missing")
	case len(in.Name) > MaxNameLen:
		p.add(-1, "$.name", fmt.Sprintf("the name is %d bytes, more than %d", len(in.Name), MaxNameLen))
	case badText(in.Name):
		p.add(-1, "$.name", notUTF8)
	}
	if in.DefinitionKey != "" && !keyRE.MatchString(in.DefinitionKey) {
		p.add(-1, "$.definitionKey", fmt.Sprintf("%q is not a valid key: it must match %s", in.DefinitionKey, KeyPattern))
	}
	if err := p.merge(in.Rule.Validate(), -1, "$"); err != nil {
		return err
	}
	return p.err()
}

// MaxAlertRules bounds the alert rules of a scope: each is evaluated after
// every run of the scope.
const MaxAlertRules = 100

// CreateAlertRule stores a rule, ok until its first evaluation finds it
// firing. ErrConflict when its name is taken in the scope; ErrInvalid when
// the scope has [MaxAlertRules] already.
func (s *Service) CreateAlertRule(ctx context.Context, scope Scope, in AlertRuleInput) (AlertRule, error) {
	if err := scope.Validate(); err != nil {
		return AlertRule{}, err
	}
	if err := in.validate(); err != nil {
		return AlertRule{}, err
	}
	existing, err := s.cfg.Store.ListAlertRules(ctx, scope, MaxAlertRules+1)
	if err != nil {
		return AlertRule{}, wrap(err, "create alert rule %q", in.Name)
	}
	if len(existing) >= MaxAlertRules {
		return AlertRule{}, invalid("$", fmt.Sprintf("the scope has %d alert rules, the most it may have", MaxAlertRules))
	}
	now := s.cfg.Clock.Now().UTC()
	r := AlertRule{ID: s.cfg.NewID(), Rule: in.Rule, Enabled: in.Enabled == nil || *in.Enabled, Version: 1, State: AlertOK, CreatedAt: now, UpdatedAt: now}
	r.Name = strings.TrimSpace(r.Name)
	if err := s.cfg.Store.CreateAlertRule(ctx, scope, r); err != nil {
		return AlertRule{}, wrap(err, "create alert rule %q", r.Name)
	}
	return r, nil
}

// GetAlertRule returns the rule whose ID or name is idOrName.
func (s *Service) GetAlertRule(ctx context.Context, scope Scope, idOrName string) (AlertRule, error) {
	if err := scope.Validate(); err != nil {
		return AlertRule{}, err
	}
	r, err := s.cfg.Store.GetAlertRule(ctx, scope, idOrName)
	if err != nil {
		return AlertRule{}, wrap(err, "alert rule %q", idOrName)
	}
	return r, nil
}

// UpdateAlertRule replaces what the rule whose ID or name is idOrName
// watches, and whether it is enabled, keeping its state. With ifVersion
// above 0 it fails with ErrConflict unless the stored version is
// ifVersion (an update landed first).
func (s *Service) UpdateAlertRule(ctx context.Context, scope Scope, idOrName string, in AlertRuleInput, ifVersion int64) (AlertRule, error) {
	if err := scope.Validate(); err != nil {
		return AlertRule{}, err
	}
	if err := in.validate(); err != nil {
		return AlertRule{}, err
	}
	r, err := s.cfg.Store.GetAlertRule(ctx, scope, idOrName)
	if err != nil {
		return AlertRule{}, wrap(err, "alert rule %q", idOrName)
	}
	if ifVersion > 0 && r.Version != ifVersion {
		return AlertRule{}, wrap(ErrConflict, "alert rule %q is at version %d, not %d", idOrName, r.Version, ifVersion)
	}
	r.Rule, r.Enabled, r.UpdatedAt = in.Rule, in.Enabled == nil || *in.Enabled, s.cfg.Clock.Now().UTC()
	r.Name = strings.TrimSpace(r.Name)
	if err := s.cfg.Store.UpdateAlertRule(ctx, scope, r, r.Version); err != nil {
		return AlertRule{}, wrap(err, "update alert rule %q", idOrName)
	}
	r.Version++
	return r, nil
}

// DeleteAlertRule deletes the rule whose ID or name is idOrName, with its
// notifications.
func (s *Service) DeleteAlertRule(ctx context.Context, scope Scope, idOrName string) error {
	r, err := s.GetAlertRule(ctx, scope, idOrName)
	if err != nil {
		return err
	}
	return wrap(s.cfg.Store.DeleteAlertRule(ctx, scope, r.ID), "delete alert rule %q", idOrName)
}

// ListAlertRules returns the scope's rules by name, at most limit (0 for
// the default).
func (s *Service) ListAlertRules(ctx context.Context, scope Scope, limit int) ([]AlertRule, error) {
	if err := scope.Validate(); err != nil {
		return nil, err
	}
	n, err := s.limit(limit)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.ListAlertRules(ctx, scope, n)
}

// ListAlertNotifications returns the delivery log of the rule whose ID or
// name is idOrName: its notifications, newest first, at most limit.
func (s *Service) ListAlertNotifications(ctx context.Context, scope Scope, idOrName string, limit int) ([]AlertNotification, error) {
	r, err := s.GetAlertRule(ctx, scope, idOrName)
	if err != nil {
		return nil, err
	}
	n, err := s.limit(limit)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.ListAlertNotifications(ctx, scope, r.ID, n)
}

// Defaults of an [Alerter].
const (
	DefaultAlertInterval    = time.Minute
	DefaultAlertLease       = time.Minute
	DefaultAlertMaxAttempts = 8
	DefaultAlertBackoff     = 5 * time.Second
	maxAlertBackoff         = time.Hour
)

// AlerterConfig configures an [Alerter]. Store and Notifier are required.
type AlerterConfig struct {
	// Store keeps the rules and their notifications.
	Store Store
	// Notifier delivers the notifications: [WebhookNotifier],
	// [SlogNotifier], or the host's own.
	Notifier Notifier
	// Clock tells the time; default [schedule.SystemClock].
	Clock schedule.Clock
	// NewID returns a new unique ID; default a random UUID.
	NewID func() string
	// Owner names this alerter among the replicas in delivery claims;
	// default "alerter".
	Owner string
	// Interval is how often [Alerter.Run] evaluates every enabled rule
	// (a rule's window slides with time) and delivers what is due; default
	// [DefaultAlertInterval].
	Interval time.Duration
	// Lease is how long a delivery is held before another replica may take
	// it over; default [DefaultAlertLease]. An attempt is cut off at four
	// fifths of it, whatever the notifier's own timeout.
	Lease time.Duration
	// MaxAttempts bounds the deliveries of one notification before it is
	// given up; default [DefaultAlertMaxAttempts].
	MaxAttempts int
	// Backoff is the wait before the second attempt, doubling after, at
	// most an hour, timed by the store's clock; default
	// [DefaultAlertBackoff].
	Backoff time.Duration
	// Logger receives the alerter's records; default none.
	Logger *slog.Logger
}

// An Alerter evaluates the stored alert rules — after every run that
// completes ([Alerter.RunCompleted], wired to
// [ExecutorConfig.OnRunCompleted]) and on a timer ([Alerter.Run]) — and
// notifies each change of a rule's state once:
//
//   - A rule fires when its metric over its window meets its condition and
//     is ok otherwise (a metric without a value — no completed run in the
//     window — is ok). Only a change of state is notified, with the value
//     and the window: a rule that keeps firing is not notified again.
//   - The change is a compare-and-set in the store, which queues its
//     notification in the same step: replicas evaluating the same rule at
//     once make one change and one notification between them.
//   - Notifications are delivered from the store's queue by one replica at
//     a time, under a lease: a failed delivery is tried again after a
//     backoff that doubles, and given up, with its reason logged and kept
//     in the delivery log, after MaxAttempts or at once when the notifier
//     says retrying cannot help ([PermanentError]). A replica that dies
//     while delivering leaves the notification to another when its lease
//     lapses: delivery is at least once, and [Alert.ID] lets a receiver
//     drop a repeat.
//
// It is safe for concurrent use.
type Alerter struct {
	cfg  AlerterConfig
	wake chan struct{}
	once sync.Once
}

// NewAlerter returns an alerter over cfg.
func NewAlerter(cfg AlerterConfig) (*Alerter, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("analysis: NewAlerter: a Store is required")
	case cfg.Notifier == nil:
		return nil, errors.New("analysis: NewAlerter: a Notifier is required")
	case cfg.Interval < 0, cfg.Lease < 0, cfg.MaxAttempts < 0, cfg.Backoff < 0:
		return nil, errors.New("analysis: NewAlerter: Interval, Lease, MaxAttempts and Backoff must not be negative")
	}
	if cfg.Clock == nil {
		cfg.Clock = schedule.SystemClock{}
	}
	if cfg.NewID == nil {
		cfg.NewID = NewUUID
	}
	if cfg.Owner == "" {
		cfg.Owner = "alerter"
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultAlertInterval
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultAlertLease
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultAlertMaxAttempts
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultAlertBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Alerter{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Evaluate evaluates every enabled rule of every scope now. A rule that
// fails to evaluate is logged and the others go on; the errors are joined.
func (a *Alerter) Evaluate(ctx context.Context) error {
	rules, err := a.cfg.Store.ListEnabledAlertRules(ctx)
	if err != nil {
		return fmt.Errorf("analysis: list alert rules: %w", err)
	}
	var errs []error
	for _, sr := range rules {
		if err := a.evaluate(ctx, sr.Scope, sr.Rule); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RunCompleted evaluates the scope's enabled rules that watch the run's
// definition (or every definition) after the run completed — at most
// [MaxAlertRules], within 30 seconds; what it leaves, the timer does. Its
// signature is [ExecutorConfig.OnRunCompleted]'s; failures are logged.
func (a *Alerter) RunCompleted(ctx context.Context, scope Scope, runID string) {
	ctx, cancel := context.WithTimeout(ctx, runCompletedTimeout)
	defer cancel()
	run, err := a.cfg.Store.GetRun(ctx, scope, runID)
	if err != nil {
		a.cfg.Logger.WarnContext(ctx, "analysis: alert rules not evaluated after a run", "scope", scope.String(), "run", runID, "error", err)
		return
	}
	rules, err := a.cfg.Store.ListAlertRules(ctx, scope, 0)
	if err != nil {
		a.cfg.Logger.WarnContext(ctx, "analysis: alert rules not evaluated after a run", "scope", scope.String(), "run", runID, "error", err)
		return
	}
	for _, r := range rules {
		if r.Enabled && (r.DefinitionKey == "" || r.DefinitionKey == run.DefinitionKey) {
			_ = a.evaluate(ctx, scope, r) // logged
		}
	}
}

// runCompletedTimeout bounds the evaluation after a run.
const runCompletedTimeout = 30 * time.Second

// evaluate reads the rule again, computes its metric now and, when the
// state it gives differs from the stored one, changes it and queues its
// notification.
func (a *Alerter) evaluate(ctx context.Context, scope Scope, r AlertRule) error {
	// The rule as it is now: another replica may have changed its state, or
	// a caller its condition, since the list it came from was read.
	fresh, err := a.cfg.Store.GetAlertRule(ctx, scope, r.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil // deleted meanwhile
	case err != nil:
		return fmt.Errorf("analysis: evaluate alert rule %q: %w", r.Name, err)
	case !fresh.Enabled:
		return nil
	}
	r = fresh
	now := a.cfg.Clock.Now().UTC()
	mv, err := metricOver(ctx, a.cfg.Store, scope, r.Metric, time.Duration(r.Window), r.DefinitionKey, now)
	if err != nil {
		a.cfg.Logger.WarnContext(ctx, "analysis: an alert rule could not be evaluated", "scope", scope.String(), "rule", r.Name, "error", err)
		return fmt.Errorf("analysis: evaluate alert rule %q: %w", r.Name, err)
	}
	to := AlertOK
	if mv.Value != nil && r.Op.holds(*mv.Value, r.Threshold) {
		to = AlertFiring
	}
	if to == r.State {
		return nil
	}
	n := AlertNotification{ID: a.cfg.NewID(), Scope: scope, RuleID: r.ID, Rule: r.Rule, From: r.State, To: to, Value: mv, At: now}
	changed, err := a.cfg.Store.TransitionAlert(ctx, scope, r.ID, r.State, n)
	if err != nil {
		a.cfg.Logger.WarnContext(ctx, "analysis: an alert rule's change was not recorded", "scope", scope.String(), "rule", r.Name, "error", err)
		return fmt.Errorf("analysis: change alert rule %q: %w", r.Name, err)
	}
	if changed {
		a.cfg.Logger.InfoContext(ctx, "analysis: alert rule changed", "scope", scope.String(), "rule", r.Name, "from", string(r.State), "to", string(to))
		a.Wake()
	}
	return nil
}

// Wake makes a running [Alerter.Run] deliver at once.
func (a *Alerter) Wake() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Deliver delivers the notifications that are due, one at a time, until
// none is left or ctx ends, and returns how many it tried.
func (a *Alerter) Deliver(ctx context.Context) (int, error) {
	tried := 0
	for ctx.Err() == nil {
		n, ok, err := a.cfg.Store.ClaimAlertNotification(ctx, a.cfg.Owner, a.cfg.Lease)
		if err != nil {
			return tried, fmt.Errorf("analysis: claim a notification: %w", err)
		}
		if !ok {
			return tried, nil
		}
		tried++
		a.deliver(ctx, n)
	}
	return tried, ctx.Err()
}

// deliver tries one claimed notification and records the attempt.
func (a *Alerter) deliver(ctx context.Context, n AlertNotification) {
	n.Attempts++
	alert := Alert{ID: n.ID, Scope: n.Scope, RuleID: n.RuleID, Rule: n.Rule, State: n.To, Previous: n.From, Value: n.Value, At: n.At, Attempt: n.Attempts}
	// The attempt ends well within the lease, so that no other replica
	// takes the notification over while it is under way.
	nctx, cancel := context.WithTimeout(ctx, a.cfg.Lease*4/5)
	err := a.cfg.Notifier.Notify(nctx, alert)
	cancel()
	if err != nil && ctx.Err() != nil {
		// Shutting down: the attempt is not the receiver's failure. Record
		// nothing; the lease lapses and the notification is tried again.
		return
	}
	now := a.cfg.Clock.Now().UTC()
	log := a.cfg.Logger.With("scope", n.Scope.String(), "rule", n.Rule.Name, "notification", n.ID, "attempt", n.Attempts)
	var perm *PermanentError
	switch {
	case err == nil:
		n.Status, n.LastError, n.NextAttemptAt, n.DeliveredAt = DeliveryDelivered, "", nil, &now
		log.InfoContext(ctx, "analysis: alert delivered", "state", string(n.To))
	case errors.As(err, &perm) || n.Attempts >= a.cfg.MaxAttempts:
		n.Status, n.LastError, n.NextAttemptAt = DeliveryFailed, notifyText(err), nil
		why := "the notifier refused it"
		if perm == nil {
			why = fmt.Sprintf("%d attempts failed", n.Attempts)
		}
		log.ErrorContext(ctx, "analysis: alert delivery given up", "why", why, "error", n.LastError)
	default:
		wait := a.cfg.Backoff << min(n.Attempts-1, 20)
		if wait > maxAlertBackoff || wait <= 0 {
			wait = maxAlertBackoff
		}
		next := now.Add(wait)
		n.Status, n.LastError, n.NextAttemptAt, n.RetryAfter = DeliveryPending, notifyText(err), &next, wait
		log.WarnContext(ctx, "analysis: alert delivery failed; trying again", "retry_in", wait.String(), "error", n.LastError)
	}
	if err := a.cfg.Store.RecordAlertDelivery(context.WithoutCancel(ctx), n); err != nil {
		log.WarnContext(ctx, "analysis: an alert delivery was not recorded", "error", err)
	}
}

// notifyText is what the delivery log keeps of a notifier's error: its
// operator-safe text when it has one ([PermanentError] and the webhook's
// errors do), else its kind.
func notifyText(err error) string {
	var safe interface{ SafeText() string }
	if errors.As(err, &safe) {
		return clip(safe.SafeText(), 500)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the notifier timed out"
	case errors.Is(err, context.Canceled):
		return "the delivery was cancelled"
	}
	return fmt.Sprintf("the notifier failed (an error of type %T)", err)
}

// A PermanentError is a notifier's failure that retrying cannot mend (a
// receiver that refuses the request, say): the notification is given up at
// once.
type PermanentError struct {
	// Err is the failure.
	Err error
}

// Error returns the failure's text.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the failure.
func (e *PermanentError) Unwrap() error { return e.Err }

// SafeText is the failure's operator-safe text, when it has one.
func (e *PermanentError) SafeText() string { return notifyText(e.Err) }

// Run evaluates every enabled rule every Interval and delivers the
// notifications due — at once when a change is queued, and retries every
// Backoff at the soonest — until ctx ends; it returns ctx's error. Errors
// along the way are logged.
func (a *Alerter) Run(ctx context.Context) error {
	evaluate := time.NewTicker(a.cfg.Interval)
	defer evaluate.Stop()
	// Retries come due every Backoff at the soonest: look that often.
	deliver := time.NewTicker(min(a.cfg.Interval, a.cfg.Backoff))
	defer deliver.Stop()
	eval := true
	for {
		if eval {
			if err := a.Evaluate(ctx); err != nil && ctx.Err() == nil {
				a.cfg.Logger.WarnContext(ctx, "analysis: alert evaluation failed", "error", err)
			}
		}
		if _, err := a.Deliver(ctx); err != nil && ctx.Err() == nil {
			a.cfg.Logger.WarnContext(ctx, "analysis: alert delivery failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-evaluate.C:
			eval = true
		case <-deliver.C:
			eval = false
		case <-a.wake:
			eval = false
		}
	}
}
