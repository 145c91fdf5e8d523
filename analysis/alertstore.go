package analysis

import (
	"context"
	"time"
)

// An AlertState is where a stored alert rule stands.
type AlertState string

// The states of a stored rule. A rule starts ok; it fires when its metric
// meets its condition, and is ok again when it no longer does (or has no
// value). Each change of state is notified once.
const (
	AlertOK     AlertState = "ok"
	AlertFiring AlertState = "firing"
)

// An AlertRule is an alert rule the service keeps: evaluated after every
// run that completes and on a timer (see [Alerter]), it notifies only when
// its state changes.
type AlertRule struct {
	// ID is generated when the rule is created.
	ID string `json:"id"`
	// Rule is what is watched; its Name is unique in the scope.
	Rule
	// Enabled switches evaluation on.
	Enabled bool `json:"enabled"`
	// Version is 1 when the rule is created and grows by one with each
	// update; an update that names the version it read fails when another
	// landed first.
	Version int64 `json:"version"`
	// State is ok or firing.
	State AlertState `json:"state"`
	// StateSince is when the rule entered its state; nil until its first
	// change.
	StateSince *time.Time `json:"stateSince,omitempty"`
	// LastValue is the metric at the rule's last change of state.
	LastValue *MetricValue `json:"lastValue,omitempty"`
	// CreatedAt and UpdatedAt are when the rule was created and last
	// changed by a caller.
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// A ScopedAlertRule is a rule with its scope.
type ScopedAlertRule struct {
	// Scope is the rule's scope.
	Scope Scope
	// Rule is the rule.
	Rule AlertRule
}

// A DeliveryStatus is where a notification's delivery stands.
type DeliveryStatus string

// The statuses of a notification's delivery.
const (
	// DeliveryPending: not delivered yet; it is tried at NextAttemptAt.
	DeliveryPending DeliveryStatus = "pending"
	// DeliveryDelivered: the notifier took it.
	DeliveryDelivered DeliveryStatus = "delivered"
	// DeliveryFailed: given up, for the reason in LastError.
	DeliveryFailed DeliveryStatus = "failed"
)

// An AlertNotification is the notice of one change of a rule's state,
// queued with the change and kept, with every attempt to deliver it, as
// the rule's delivery log.
type AlertNotification struct {
	// ID identifies the notification; a notifier passes it on so that a
	// receiver can drop a repeat (see [Alert]).
	ID string `json:"id"`
	// Scope is the rule's scope.
	Scope Scope `json:"scope"`
	// RuleID is the rule's ID.
	RuleID string `json:"ruleId"`
	// Rule is the rule as it was evaluated.
	Rule Rule `json:"rule"`
	// From and To are the states before and after the change.
	From AlertState `json:"from"`
	To   AlertState `json:"to"`
	// Value is the metric that made the change, with its window.
	Value MetricValue `json:"value"`
	// At is when the change was found.
	At time.Time `json:"at"`
	// Status is pending, delivered or failed.
	Status DeliveryStatus `json:"status"`
	// Attempts counts the deliveries tried.
	Attempts int `json:"attempts"`
	// LastError is why the last attempt failed, operator-safe.
	LastError string `json:"lastError,omitempty"`
	// NextAttemptAt is when a pending notification is tried next; a
	// pending one without it is never tried.
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	// DeliveredAt is when it was delivered.
	DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
	// RetryAfter, when above 0 on a pending notification recorded with
	// [AlertStore.RecordAlertDelivery], makes it due that long after the
	// store's now, in place of NextAttemptAt: the store's clock, not the
	// caller's, times retries. It is not stored.
	RetryAfter time.Duration `json:"-"`
	// Token is the fencing token of the claim that holds it for delivery,
	// as [AlertStore.ClaimAlertNotification] returns it; 0 in the delivery
	// log. It is not part of the wire form.
	Token int64 `json:"-"`
}

// An AlertStore keeps alert rules, their states and their notifications.
// Its methods follow the rules of [Store]; beyond them:
//
//   - A rule's Name is unique in its scope, like its ID.
//   - A change of state is a compare-and-set: of callers that evaluated a
//     rule at once, on as many replicas, one changes its state and queues
//     its notification; the others see that it changed and do nothing.
//   - A notification is delivered by one claimant at a time, under a lease
//     judged by the store's clock, with a fencing token: a claim whose lease
//     lapsed cannot record its attempt over a newer one's.
type AlertStore interface {
	// CreateAlertRule stores r, whose Version is 1 and State ok. It fails
	// with ErrConflict if r's ID or Name is taken in the scope.
	CreateAlertRule(ctx context.Context, scope Scope, r AlertRule) error
	// GetAlertRule returns the rule whose ID or, failing that, Name is
	// idOrName; ErrNotFound if none.
	GetAlertRule(ctx context.Context, scope Scope, idOrName string) (AlertRule, error)
	// UpdateAlertRule replaces the caller's part of the rule with r's ID —
	// Rule, Enabled and UpdatedAt — stored with Version ifVersion+1; its
	// State, StateSince, LastValue and CreatedAt stay as stored. It fails
	// with ErrNotFound if there is none, and with ErrConflict if the stored
	// Version is not ifVersion or r's Name is another rule's.
	UpdateAlertRule(ctx context.Context, scope Scope, r AlertRule, ifVersion int64) error
	// DeleteAlertRule deletes the rule with the ID and its notifications;
	// ErrNotFound if there is none.
	DeleteAlertRule(ctx context.Context, scope Scope, id string) error
	// ListAlertRules returns the scope's rules by name, at most limit.
	ListAlertRules(ctx context.Context, scope Scope, limit int) ([]AlertRule, error)
	// ListEnabledAlertRules returns every enabled rule of every scope, by
	// scope then name, for the timer. It crosses scopes.
	ListEnabledAlertRules(ctx context.Context) ([]ScopedAlertRule, error)
	// TransitionAlert changes the state of the rule with ID ruleID from
	// from to n.To, with StateSince n.At and LastValue n.Value, and queues
	// n (pending, tried first at n.At) — one atomic step, done only if the
	// rule's state is from; changed is false, and nothing is written, when
	// it is not (another caller changed it first) or the rule is gone. It
	// fails with ErrConflict, writing nothing, when n.ID is taken in the
	// scope.
	TransitionAlert(ctx context.Context, scope Scope, ruleID string, from AlertState, n AlertNotification) (changed bool, err error)
	// ClaimAlertNotification gives owner the pending notification of any
	// scope whose NextAttemptAt has come by the store's clock and that no
	// unexpired lease holds — the one tried first the earliest, then by At
	// and ID — leased to owner for lease, with a fresh Token. ok is false
	// when there is none.
	ClaimAlertNotification(ctx context.Context, owner string, lease time.Duration) (n AlertNotification, ok bool, err error)
	// RecordAlertDelivery records an attempt to deliver the notification
	// n names, held under n.Token: its Status, Attempts, LastError,
	// NextAttemptAt (or, for a pending n with RetryAfter above 0, the
	// store's now plus RetryAfter) and DeliveredAt become n's, and its
	// lease ends. It
	// fails with ErrLeaseLost, recording nothing, when n.Token is not the
	// notification's latest claim or its lease has expired, and with
	// ErrNotFound when it is gone.
	RecordAlertDelivery(ctx context.Context, n AlertNotification) error
	// ListAlertNotifications returns the notifications of the rule with ID
	// ruleID, newest first (by At, then ID), at most limit — its delivery
	// log. ErrNotFound if there is no such rule.
	ListAlertNotifications(ctx context.Context, scope Scope, ruleID string, limit int) ([]AlertNotification, error)
}
