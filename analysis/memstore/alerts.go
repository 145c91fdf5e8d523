package memstore

import (
	"context"
	"sort"
	"time"

	"github.com/debrief-go/debrief/analysis"
)

// noteData is a queued notification with its delivery lease.
type noteData struct {
	n       analysis.AlertNotification
	owner   string
	expires time.Time // the lease's end; zero when none holds it
}

func cloneRule(r analysis.AlertRule) analysis.AlertRule {
	if r.StateSince != nil {
		t := *r.StateSince
		r.StateSince = &t
	}
	if r.LastValue != nil {
		v := cloneValue(*r.LastValue)
		r.LastValue = &v
	}
	return r
}

func cloneValue(v analysis.MetricValue) analysis.MetricValue {
	if v.Value != nil {
		x := *v.Value
		v.Value = &x
	}
	return v
}

func cloneNote(n analysis.AlertNotification) analysis.AlertNotification {
	n.Value = cloneValue(n.Value)
	for _, t := range []**time.Time{&n.NextAttemptAt, &n.DeliveredAt} {
		if *t != nil {
			c := **t
			*t = &c
		}
	}
	return n
}

// CreateAlertRule implements [analysis.AlertStore].
func (s *Store) CreateAlertRule(ctx context.Context, sc analysis.Scope, r analysis.AlertRule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, true)
	if _, taken := data.rules[r.ID]; taken {
		return analysis.ErrConflict
	}
	if _, taken := data.ruleName[r.Name]; taken {
		return analysis.ErrConflict
	}
	r = cloneRule(r)
	r.Version, r.State = 1, analysis.AlertOK
	data.rules[r.ID] = &r
	data.ruleName[r.Name] = r.ID
	return nil
}

// rule returns the rule whose ID or name is idOrName, or nil.
func (s *Store) rule(sc analysis.Scope, idOrName string) *analysis.AlertRule {
	data := s.scope(sc, false)
	if data == nil {
		return nil
	}
	if r, ok := data.rules[idOrName]; ok {
		return r
	}
	if id, ok := data.ruleName[idOrName]; ok {
		return data.rules[id]
	}
	return nil
}

// GetAlertRule implements [analysis.AlertStore].
func (s *Store) GetAlertRule(ctx context.Context, sc analysis.Scope, idOrName string) (analysis.AlertRule, error) {
	if err := ctx.Err(); err != nil {
		return analysis.AlertRule{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rule(sc, idOrName)
	if r == nil {
		return analysis.AlertRule{}, analysis.ErrNotFound
	}
	return cloneRule(*r), nil
}

// UpdateAlertRule implements [analysis.AlertStore].
func (s *Store) UpdateAlertRule(ctx context.Context, sc analysis.Scope, r analysis.AlertRule, ifVersion int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, false)
	if data == nil || data.rules[r.ID] == nil {
		return analysis.ErrNotFound
	}
	stored := data.rules[r.ID]
	if stored.Version != ifVersion {
		return analysis.ErrConflict
	}
	if id, taken := data.ruleName[r.Name]; taken && id != r.ID {
		return analysis.ErrConflict
	}
	delete(data.ruleName, stored.Name)
	stored.Rule, stored.Enabled, stored.UpdatedAt = r.Rule, r.Enabled, r.UpdatedAt
	stored.Version = ifVersion + 1
	data.ruleName[stored.Name] = stored.ID
	return nil
}

// DeleteAlertRule implements [analysis.AlertStore].
func (s *Store) DeleteAlertRule(ctx context.Context, sc analysis.Scope, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, false)
	if data == nil || data.rules[id] == nil {
		return analysis.ErrNotFound
	}
	delete(data.ruleName, data.rules[id].Name)
	delete(data.rules, id)
	kept := s.notes[:0]
	for _, nd := range s.notes {
		if nd.n.Scope != sc || nd.n.RuleID != id {
			kept = append(kept, nd)
		}
	}
	clear(s.notes[len(kept):])
	s.notes = kept
	return nil
}

// ListAlertRules implements [analysis.AlertStore].
func (s *Store) ListAlertRules(ctx context.Context, sc analysis.Scope, limit int) ([]analysis.AlertRule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []analysis.AlertRule{}
	if data := s.scope(sc, false); data != nil {
		for _, r := range data.rules {
			out = append(out, cloneRule(*r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ListEnabledAlertRules implements [analysis.AlertStore].
func (s *Store) ListEnabledAlertRules(ctx context.Context) ([]analysis.ScopedAlertRule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []analysis.ScopedAlertRule{}
	for sc, data := range s.scopes {
		for _, r := range data.rules {
			if r.Enabled {
				out = append(out, analysis.ScopedAlertRule{Scope: sc, Rule: cloneRule(*r)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope != out[j].Scope {
			return out[i].Scope.String() < out[j].Scope.String()
		}
		return out[i].Rule.Name < out[j].Rule.Name
	})
	return out, nil
}

// TransitionAlert implements [analysis.AlertStore].
func (s *Store) TransitionAlert(ctx context.Context, sc analysis.Scope, ruleID string, from analysis.AlertState, n analysis.AlertNotification) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, false)
	if data == nil || data.rules[ruleID] == nil || data.rules[ruleID].State != from {
		return false, nil
	}
	for _, nd := range s.notes {
		if nd.n.Scope == sc && nd.n.ID == n.ID {
			return false, analysis.ErrConflict
		}
	}
	r := data.rules[ruleID]
	at := n.At
	v := cloneValue(n.Value)
	r.State, r.StateSince, r.LastValue = n.To, &at, &v
	n = cloneNote(n)
	n.Scope, n.RuleID, n.Status, n.Attempts, n.Token = sc, ruleID, analysis.DeliveryPending, 0, 0
	next := n.At
	n.NextAttemptAt, n.DeliveredAt, n.LastError = &next, nil, ""
	s.notes = append(s.notes, &noteData{n: n})
	return true, nil
}

// ClaimAlertNotification implements [analysis.AlertStore].
func (s *Store) ClaimAlertNotification(ctx context.Context, owner string, lease time.Duration) (analysis.AlertNotification, bool, error) {
	if err := ctx.Err(); err != nil {
		return analysis.AlertNotification{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now().UTC()
	var best *noteData
	for _, nd := range s.notes {
		n := &nd.n
		if n.Status != analysis.DeliveryPending || n.NextAttemptAt == nil || n.NextAttemptAt.After(now) || (!nd.expires.IsZero() && now.Before(nd.expires)) {
			continue
		}
		if best == nil || n.NextAttemptAt.Before(*best.n.NextAttemptAt) ||
			n.NextAttemptAt.Equal(*best.n.NextAttemptAt) && (n.At.Before(best.n.At) || n.At.Equal(best.n.At) && n.ID < best.n.ID) {
			best = nd
		}
	}
	if best == nil {
		return analysis.AlertNotification{}, false, nil
	}
	s.token++
	best.owner, best.expires, best.n.Token = owner, now.Add(lease), s.token
	return cloneNote(best.n), true, nil
}

// RecordAlertDelivery implements [analysis.AlertStore].
func (s *Store) RecordAlertDelivery(ctx context.Context, n analysis.AlertNotification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now().UTC()
	for _, nd := range s.notes {
		if nd.n.ID != n.ID || nd.n.Scope != n.Scope {
			continue
		}
		if n.Token == 0 || nd.n.Token != n.Token || nd.expires.IsZero() || !now.Before(nd.expires) {
			return analysis.ErrLeaseLost
		}
		c := cloneNote(n)
		if c.Status == analysis.DeliveryPending && c.RetryAfter > 0 {
			next := now.Add(c.RetryAfter)
			c.NextAttemptAt = &next
		}
		c.RetryAfter = 0
		nd.n.Status, nd.n.Attempts, nd.n.LastError = c.Status, c.Attempts, c.LastError
		nd.n.NextAttemptAt, nd.n.DeliveredAt = c.NextAttemptAt, c.DeliveredAt
		nd.owner, nd.expires = "", time.Time{}
		return nil
	}
	return analysis.ErrNotFound
}

// ListAlertNotifications implements [analysis.AlertStore].
func (s *Store) ListAlertNotifications(ctx context.Context, sc analysis.Scope, ruleID string, limit int) ([]analysis.AlertNotification, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, false)
	if data == nil || data.rules[ruleID] == nil {
		return nil, analysis.ErrNotFound
	}
	out := []analysis.AlertNotification{}
	for _, nd := range s.notes {
		if nd.n.Scope == sc && nd.n.RuleID == ruleID {
			n := cloneNote(nd.n)
			n.Token = 0
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.After(out[j].At)
		}
		return out[i].ID > out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
