package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/internal/pgtext"
)

// ruleColumns are the columns scanRule reads.
const ruleColumns = `id, version, enabled, rule, state, state_since, last_value, created_at, updated_at`

// scanRule reads a rule of ruleColumns.
func scanRule(row pgx.Row) (analysis.AlertRule, error) {
	var r analysis.AlertRule
	var rule, last []byte
	var state string
	var since *time.Time
	if err := row.Scan(&r.ID, &r.Version, &r.Enabled, &rule, &state, &since, &last, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return analysis.AlertRule{}, err
	}
	if err := json.Unmarshal(rule, &r.Rule); err != nil {
		return analysis.AlertRule{}, err
	}
	r.State = analysis.AlertState(state)
	if since != nil {
		t := since.UTC()
		r.StateSince = &t
	}
	if last != nil {
		var v analysis.MetricValue
		if err := json.Unmarshal(last, &v); err != nil {
			return analysis.AlertRule{}, err
		}
		r.LastValue = &v
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

// collectRules reads the rules of rows, each of ruleColumns.
func collectRules(rows pgx.Rows) ([]analysis.AlertRule, error) {
	defer rows.Close()
	out := []analysis.AlertRule{}
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// holdableRule returns ErrInvalid when the scope, ID, name or definition
// key of the rule is text PostgreSQL cannot hold.
func holdableRule(sc analysis.Scope, r analysis.AlertRule) error {
	return holdable("alert rule", sc, r.ID, r.Name, r.DefinitionKey)
}

// valueJSON returns v as a jsonb value, NULL when v is nil.
func valueJSON(v *analysis.MetricValue) (any, error) {
	if v == nil {
		return nil, nil
	}
	return pgtext.JSON(*v)
}

// CreateAlertRule implements [analysis.AlertStore].
func (st *Store) CreateAlertRule(ctx context.Context, sc analysis.Scope, r analysis.AlertRule) error {
	if err := holdableRule(sc, r); err != nil {
		return err
	}
	rule, err := pgtext.JSON(r.Rule)
	if err != nil {
		return err
	}
	last, err := valueJSON(r.LastValue)
	if err != nil {
		return err
	}
	_, err = st.pool.Exec(ctx, `INSERT INTO `+st.s+`.alert_rules (tenant, project, id, name, version, enabled, rule, state, state_since, last_value, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11)`,
		sc.Tenant, sc.Project, r.ID, r.Name, r.Enabled, rule, string(analysis.AlertOK), r.StateSince, last, r.CreatedAt, r.UpdatedAt)
	if constraint(err) != "" {
		return analysis.ErrConflict // the ID or the name is taken
	}
	return err
}

// GetAlertRule implements [analysis.AlertStore].
func (st *Store) GetAlertRule(ctx context.Context, sc analysis.Scope, idOrName string) (analysis.AlertRule, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, idOrName) {
		return analysis.AlertRule{}, analysis.ErrNotFound
	}
	r, err := scanRule(st.pool.QueryRow(ctx, `SELECT `+ruleColumns+` FROM `+st.s+`.alert_rules
		WHERE tenant = $1 AND project = $2 AND (id = $3 OR name = $3)
		ORDER BY id = $3 DESC LIMIT 1`, sc.Tenant, sc.Project, idOrName))
	if errors.Is(err, pgx.ErrNoRows) {
		return analysis.AlertRule{}, analysis.ErrNotFound
	}
	return r, err
}

// UpdateAlertRule implements [analysis.AlertStore]: one UPDATE, compared
// on the version; the name's unique key refuses another rule's name.
func (st *Store) UpdateAlertRule(ctx context.Context, sc analysis.Scope, r analysis.AlertRule, ifVersion int64) error {
	if !pgtext.Storable(sc.Tenant, sc.Project, r.ID) {
		return analysis.ErrNotFound
	}
	if err := holdableRule(sc, r); err != nil {
		return err
	}
	rule, err := pgtext.JSON(r.Rule)
	if err != nil {
		return err
	}
	tag, err := st.pool.Exec(ctx, `UPDATE `+st.s+`.alert_rules SET name = $5, rule = $6, enabled = $7, updated_at = $8, version = version + 1
		WHERE tenant = $1 AND project = $2 AND id = $3 AND version = $4`,
		sc.Tenant, sc.Project, r.ID, ifVersion, r.Name, rule, r.Enabled, r.UpdatedAt)
	if constraint(err) != "" {
		return analysis.ErrConflict // the name is another rule's
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := st.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+st.s+`.alert_rules WHERE tenant = $1 AND project = $2 AND id = $3)`,
		sc.Tenant, sc.Project, r.ID).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return analysis.ErrConflict // another update landed first
	}
	return analysis.ErrNotFound
}

// DeleteAlertRule implements [analysis.AlertStore]; the rule's
// notifications go with it (a foreign key's cascade).
func (st *Store) DeleteAlertRule(ctx context.Context, sc analysis.Scope, id string) error {
	if !pgtext.Storable(sc.Tenant, sc.Project, id) {
		return analysis.ErrNotFound
	}
	tag, err := st.pool.Exec(ctx, `DELETE FROM `+st.s+`.alert_rules WHERE tenant = $1 AND project = $2 AND id = $3`, sc.Tenant, sc.Project, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return analysis.ErrNotFound
	}
	return nil
}

// ListAlertRules implements [analysis.AlertStore].
func (st *Store) ListAlertRules(ctx context.Context, sc analysis.Scope, limit int) ([]analysis.AlertRule, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project) {
		return []analysis.AlertRule{}, nil
	}
	rows, err := st.pool.Query(ctx, `SELECT `+ruleColumns+` FROM `+st.s+`.alert_rules
		WHERE tenant = $1 AND project = $2 ORDER BY name LIMIT $3`, sc.Tenant, sc.Project, limitOf(limit))
	if err != nil {
		return nil, err
	}
	return collectRules(rows)
}

// ListEnabledAlertRules implements [analysis.AlertStore]: by scope as
// [analysis.Scope.String] writes it, in byte order, then by name.
func (st *Store) ListEnabledAlertRules(ctx context.Context) ([]analysis.ScopedAlertRule, error) {
	rows, err := st.pool.Query(ctx, `SELECT tenant, project, `+ruleColumns+` FROM `+st.s+`.alert_rules
		WHERE enabled ORDER BY tenant || '/' || project COLLATE "C", name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []analysis.ScopedAlertRule{}
	for rows.Next() {
		var sr analysis.ScopedAlertRule
		r, err := scanRule(scopedRow{rows, &sr.Scope})
		if err != nil {
			return nil, err
		}
		sr.Rule = r
		out = append(out, sr)
	}
	return out, rows.Err()
}

// scopedRow is a row whose first two columns, the scope's, are scanned
// into scope before the others.
type scopedRow struct {
	pgx.Row
	scope *analysis.Scope
}

// Scan scans the scope, then dest.
func (r scopedRow) Scan(dest ...any) error {
	return r.Row.Scan(append([]any{&r.scope.Tenant, &r.scope.Project}, dest...)...)
}

// TransitionAlert implements [analysis.AlertStore] in one statement: the
// rule's UPDATE, compared on its state — of callers racing, the first
// changes it, and the others, once its row is theirs, see a state that is
// no longer from and change nothing — and the notification's INSERT of
// the row it returned.
func (st *Store) TransitionAlert(ctx context.Context, sc analysis.Scope, ruleID string, from analysis.AlertState, n analysis.AlertNotification) (bool, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, ruleID, string(from)) {
		return false, nil // no rule has such an ID, or such a state
	}
	if err := holdable("alert notification", sc, n.ID, string(n.From), string(n.To)); err != nil {
		return false, err
	}
	rule, err := pgtext.JSON(n.Rule)
	if err != nil {
		return false, err
	}
	value, err := pgtext.JSON(n.Value)
	if err != nil {
		return false, err
	}
	tag, err := st.pool.Exec(ctx, `WITH changed AS (
			UPDATE `+st.s+`.alert_rules SET state = $5::text, state_since = $6::timestamptz, last_value = $7::jsonb
			WHERE tenant = $1 AND project = $2 AND id = $3 AND state = $4::text
			RETURNING tenant, project, id
		)
		INSERT INTO `+st.s+`.alert_notifications (tenant, project, id, rule_id, rule, from_state, to_state, value, at, status, next_attempt_at)
		SELECT tenant, project, $8::text, id, $9::jsonb, $10::text, $5::text, $7::jsonb, $6::timestamptz, $11::text, $6::timestamptz FROM changed`,
		sc.Tenant, sc.Project, ruleID, string(from), string(n.To), n.At, value, n.ID, rule, string(n.From), string(analysis.DeliveryPending))
	if constraint(err) != "" {
		return false, analysis.ErrConflict // the notification's ID is taken in the scope
	}
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// noteColumns are the columns scanNote reads.
const noteColumns = `tenant, project, id, rule_id, rule, from_state, to_state, value, at, status, attempts, last_error, next_attempt_at, delivered_at, token`

// scanNote reads a notification of noteColumns.
func scanNote(row pgx.Row) (analysis.AlertNotification, error) {
	var n analysis.AlertNotification
	var rule, value []byte
	var from, to, status string
	var next, delivered *time.Time
	if err := row.Scan(&n.Scope.Tenant, &n.Scope.Project, &n.ID, &n.RuleID, &rule, &from, &to, &value, &n.At,
		&status, &n.Attempts, &n.LastError, &next, &delivered, &n.Token); err != nil {
		return analysis.AlertNotification{}, err
	}
	if err := json.Unmarshal(rule, &n.Rule); err != nil {
		return analysis.AlertNotification{}, err
	}
	if err := json.Unmarshal(value, &n.Value); err != nil {
		return analysis.AlertNotification{}, err
	}
	n.From, n.To, n.Status = analysis.AlertState(from), analysis.AlertState(to), analysis.DeliveryStatus(status)
	n.At = n.At.UTC()
	if next != nil {
		t := next.UTC()
		n.NextAttemptAt = &t
	}
	if delivered != nil {
		t := delivered.UTC()
		n.DeliveredAt = &t
	}
	return n, nil
}

// ClaimAlertNotification implements [analysis.AlertStore] in one
// statement (see claimNoteSQL).
func (st *Store) ClaimAlertNotification(ctx context.Context, owner string, lease time.Duration) (analysis.AlertNotification, bool, error) {
	n, err := scanNote(st.pool.QueryRow(ctx, st.claimNoteSQL(), pgtext.Text(owner), lease.Microseconds()))
	if errors.Is(err, pgx.ErrNoRows) {
		return analysis.AlertNotification{}, false, nil
	}
	if err != nil {
		return analysis.AlertNotification{}, false, err
	}
	return n, true, nil
}

// claimNoteSQL is the claim of a notification, for the owner $1 and a
// lease of $2 microseconds: the first due notification no lease holds, in
// the order of the alert_notifications_due index, locked with SKIP LOCKED
// — a claim racing for it takes the next — and leased with a fresh token
// from the chunks' sequence. Due and held are judged by the database's
// now.
func (st *Store) claimNoteSQL() string {
	now := st.nowSQL()
	return `WITH due AS (
			SELECT tenant, project, id FROM ` + st.s + `.alert_notifications
			WHERE status = 'pending' AND next_attempt_at <= ` + now + ` AND (lease_until IS NULL OR lease_until <= ` + now + `)
			ORDER BY next_attempt_at, at, id, tenant, project
			LIMIT 1 FOR UPDATE SKIP LOCKED
		)
		UPDATE ` + st.s + `.alert_notifications n SET token = nextval('` + st.s + `.tokens'), owner = $1,
			lease_until = ` + now + ` + make_interval(secs => $2::double precision / 1e6)
		FROM due WHERE n.tenant = due.tenant AND n.project = due.project AND n.id = due.id
		RETURNING n.` + strings.ReplaceAll(noteColumns, ", ", ", n.")
}

// RecordAlertDelivery implements [analysis.AlertStore]: one UPDATE of the
// notification held under n.Token by a lease the database's now has not
// passed, which ends the lease; when it changes nothing, the notification
// is either gone or held by no such claim.
func (st *Store) RecordAlertDelivery(ctx context.Context, n analysis.AlertNotification) error {
	if !pgtext.Storable(n.Scope.Tenant, n.Scope.Project, n.ID) {
		return analysis.ErrNotFound
	}
	tag, err := st.pool.Exec(ctx, `UPDATE `+st.s+`.alert_notifications
		SET status = $5, attempts = $6, last_error = $7, delivered_at = $9, owner = '', lease_until = NULL,
			next_attempt_at = CASE WHEN $5 = 'pending' AND $10::bigint > 0 THEN `+st.nowSQL()+` + make_interval(secs => $10::bigint::double precision / 1e6) ELSE $8 END
		WHERE tenant = $1 AND project = $2 AND id = $3 AND token = $4 AND token <> 0 AND lease_until > `+st.nowSQL(),
		n.Scope.Tenant, n.Scope.Project, n.ID, n.Token, pgtext.Text(string(n.Status)), n.Attempts, pgtext.Text(n.LastError), n.NextAttemptAt, n.DeliveredAt,
		n.RetryAfter.Microseconds())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := st.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+st.s+`.alert_notifications WHERE tenant = $1 AND project = $2 AND id = $3)`,
		n.Scope.Tenant, n.Scope.Project, n.ID).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return analysis.ErrLeaseLost
	}
	return analysis.ErrNotFound
}

// logSQL is the delivery log of the rule $1/$2/$3, newest first, at most
// $4, in the order of the alert_notifications_log index.
func (st *Store) logSQL() string {
	return `SELECT ` + noteColumns + ` FROM ` + st.s + `.alert_notifications
		WHERE tenant = $1 AND project = $2 AND rule_id = $3 ORDER BY at DESC, id DESC LIMIT $4`
}

// ListAlertNotifications implements [analysis.AlertStore]: the rule and
// its log read in one snapshot.
func (st *Store) ListAlertNotifications(ctx context.Context, sc analysis.Scope, ruleID string, limit int) ([]analysis.AlertNotification, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, ruleID) {
		return nil, analysis.ErrNotFound
	}
	var out []analysis.AlertNotification
	err := pgx.BeginTxFunc(ctx, st.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+st.s+`.alert_rules WHERE tenant = $1 AND project = $2 AND id = $3)`,
			sc.Tenant, sc.Project, ruleID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return analysis.ErrNotFound
		}
		rows, err := tx.Query(ctx, st.logSQL(), sc.Tenant, sc.Project, ruleID, limitOf(limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		out = []analysis.AlertNotification{}
		for rows.Next() {
			n, err := scanNote(rows)
			if err != nil {
				return err
			}
			n.Token = 0 // the log is no claim
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
