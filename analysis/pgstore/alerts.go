package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/debrief-go/debrief/analysis"
)

// errAlertsPending: the alert tables are being added.
var errAlertsPending = errors.New("pgstore: alert rules are not kept on PostgreSQL yet")

// CreateAlertRule implements [analysis.AlertStore].
func (st *Store) CreateAlertRule(context.Context, analysis.Scope, analysis.AlertRule) error {
	return errAlertsPending
}

// GetAlertRule implements [analysis.AlertStore].
func (st *Store) GetAlertRule(context.Context, analysis.Scope, string) (analysis.AlertRule, error) {
	return analysis.AlertRule{}, errAlertsPending
}

// UpdateAlertRule implements [analysis.AlertStore].
func (st *Store) UpdateAlertRule(context.Context, analysis.Scope, analysis.AlertRule, int64) error {
	return errAlertsPending
}

// DeleteAlertRule implements [analysis.AlertStore].
func (st *Store) DeleteAlertRule(context.Context, analysis.Scope, string) error {
	return errAlertsPending
}

// ListAlertRules implements [analysis.AlertStore].
func (st *Store) ListAlertRules(context.Context, analysis.Scope, int) ([]analysis.AlertRule, error) {
	return nil, errAlertsPending
}

// ListEnabledAlertRules implements [analysis.AlertStore].
func (st *Store) ListEnabledAlertRules(context.Context) ([]analysis.ScopedAlertRule, error) {
	return nil, errAlertsPending
}

// TransitionAlert implements [analysis.AlertStore].
func (st *Store) TransitionAlert(context.Context, analysis.Scope, string, analysis.AlertState, analysis.AlertNotification) (bool, error) {
	return false, errAlertsPending
}

// ClaimAlertNotification implements [analysis.AlertStore].
func (st *Store) ClaimAlertNotification(context.Context, string, time.Duration) (analysis.AlertNotification, bool, error) {
	return analysis.AlertNotification{}, false, errAlertsPending
}

// RecordAlertDelivery implements [analysis.AlertStore].
func (st *Store) RecordAlertDelivery(context.Context, analysis.AlertNotification) error {
	return errAlertsPending
}

// ListAlertNotifications implements [analysis.AlertStore].
func (st *Store) ListAlertNotifications(context.Context, analysis.Scope, string, int) ([]analysis.AlertNotification, error) {
	return nil, errAlertsPending
}
