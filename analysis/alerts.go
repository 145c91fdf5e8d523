package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// A Metric is a quality measure of completed runs that alert rules watch.
type Metric string

// The metrics: an aggregate value × 100, averaged over the completed runs
// of a window; runs where the value is null are left out.
const (
	// MetricPassRate is aggregate.passRate × 100.
	MetricPassRate Metric = "analysis_pass_rate"
	// MetricAvgJudgeScore is aggregate.avgJudgeScore × 100.
	MetricAvgJudgeScore Metric = "analysis_avg_judge_score"
	// MetricAvgAccuracy is aggregate.avgExtractionAccuracy × 100.
	MetricAvgAccuracy Metric = "analysis_avg_accuracy"
)

func (m Metric) of(a *Aggregate) *float64 {
	if a == nil {
		return nil
	}
	switch m {
	case MetricPassRate:
		return a.PassRate
	case MetricAvgJudgeScore:
		return a.AvgJudgeScore
	case MetricAvgAccuracy:
		return a.AvgExtractionAccuracy
	}
	return nil
}

// An Op compares a metric with a threshold.
type Op string

// The comparison operators of a rule.
const (
	OpLT  Op = "lt"
	OpLTE Op = "lte"
	OpGT  Op = "gt"
	OpGTE Op = "gte"
)

func (o Op) holds(value, threshold float64) bool {
	switch o {
	case OpLT:
		return value < threshold
	case OpLTE:
		return value <= threshold
	case OpGT:
		return value > threshold
	case OpGTE:
		return value >= threshold
	}
	return false
}

// A Rule fires when a metric, over the runs that completed within the
// window before now, compares with the threshold as Op says — for example
// {analysis_avg_accuracy lt 85 over 24h}.
type Rule struct {
	// Name identifies the rule in alerts.
	Name string `json:"name"`
	// Metric is the measure watched.
	Metric Metric `json:"metric"`
	// Op is lt, lte, gt or gte.
	Op Op `json:"op"`
	// Threshold is compared with the metric, on its 0–100 scale.
	Threshold float64 `json:"threshold"`
	// Window is how far back runs count.
	Window Window `json:"window"`
	// DefinitionKey restricts the rule to one definition's runs, when set.
	DefinitionKey string `json:"definitionKey,omitempty"`
}

// A Window is a duration written in JSON as a Go duration string ("24h",
// "90m").
type Window time.Duration

// MarshalJSON writes the window as a duration string.
func (w Window) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(w).String()) }

// UnmarshalJSON reads a duration string.
func (w *Window) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a window is a duration string such as \"24h\"")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("a window is a duration string such as \"24h\": %v", err)
	}
	*w = Window(d)
	return nil
}

// Validate reports every problem of the rule.
func (r Rule) Validate() error {
	var p problems
	switch r.Metric {
	case MetricPassRate, MetricAvgJudgeScore, MetricAvgAccuracy:
	default:
		p.add(-1, "$.metric", fmt.Sprintf("%q is not a metric: use %s, %s or %s", r.Metric, MetricPassRate, MetricAvgJudgeScore, MetricAvgAccuracy))
	}
	switch r.Op {
	case OpLT, OpLTE, OpGT, OpGTE:
	default:
		p.add(-1, "$.op", fmt.Sprintf("%q is not an operator: use lt, lte, gt or gte", r.Op))
	}
	if r.Window <= 0 {
		p.add(-1, "$.window", "the window must be a positive duration")
	}
	if math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0) {
		p.add(-1, "$.threshold", fmt.Sprintf("%v is not a finite number: a rule with it would never fire, or always", r.Threshold))
	}
	return p.err()
}

// A MetricValue is a metric's value over a window.
type MetricValue struct {
	// Value is the average, on the 0–100 scale; nil when no completed run of
	// the window has the value.
	Value *float64 `json:"value" jsonschema:"nullable"`
	// Runs counts the runs averaged.
	Runs int `json:"runs"`
	// From is the start of the window.
	From time.Time `json:"from"`
	// To is its end: the time of the computation.
	To time.Time `json:"to"`
}

// maxWindowRuns bounds the runs one metric reads.
const maxWindowRuns = 10000

// Metric computes m over the scope's runs that completed in the window
// ending now, of one definition when definitionKey is set.
func (s *Service) Metric(ctx context.Context, scope Scope, m Metric, window time.Duration, definitionKey string) (MetricValue, error) {
	if err := scope.Validate(); err != nil {
		return MetricValue{}, err
	}
	if err := (Rule{Metric: m, Op: OpLT, Window: Window(window)}).Validate(); err != nil {
		return MetricValue{}, err
	}
	return metricOver(ctx, s.cfg.Store, scope, m, window, definitionKey, s.cfg.Clock.Now().UTC())
}

// metricOver computes m over the scope's runs that completed in the window
// ending at to.
func metricOver(ctx context.Context, store Store, scope Scope, m Metric, window time.Duration, definitionKey string, to time.Time) (MetricValue, error) {
	mv := MetricValue{From: to.Add(-window), To: to}
	runs, err := store.ListRuns(ctx, scope, RunQuery{
		DefinitionKey: definitionKey, Status: RunCompleted, FinishedAfter: mv.From, Limit: maxWindowRuns,
	})
	if err != nil {
		return MetricValue{}, err
	}
	var sum float64
	for _, r := range runs {
		r.derive()
		if r.FinishedAt == nil || r.FinishedAt.After(to) {
			continue
		}
		if v := m.of(r.Aggregate); v != nil {
			sum += *v * 100
			mv.Runs++
		}
	}
	mv.Value = ratio(sum, mv.Runs)
	return mv, nil
}

// An Alert is what a [Notifier] is told: a rule that fired or, for a
// stored rule, a change of its state.
type Alert struct {
	// ID identifies the notification of a stored rule's change, the same
	// on every attempt to deliver it, so that a receiver can drop a repeat;
	// empty for [Service.EvaluateRules].
	ID string `json:"id,omitempty"`
	// Scope is where the rule was evaluated.
	Scope Scope `json:"scope"`
	// RuleID is the stored rule's ID; empty for [Service.EvaluateRules].
	RuleID string `json:"ruleId,omitempty"`
	// Rule is the rule.
	Rule Rule `json:"rule"`
	// State is the rule's state now: firing, or ok when a stored rule stops
	// firing.
	State AlertState `json:"state"`
	// Previous is the stored rule's state before the change; empty for
	// [Service.EvaluateRules].
	Previous AlertState `json:"previous,omitempty"`
	// Value is the metric's value that made the change, with its window.
	Value MetricValue `json:"value"`
	// At is when the change was found.
	At time.Time `json:"at"`
	// Attempt counts the deliveries of this alert tried, this one
	// included; 1 for [Service.EvaluateRules].
	Attempt int `json:"attempt"`
}

// A Notifier delivers alerts; hosts send them to their paging, chat or
// e-mail systems.
type Notifier interface {
	Notify(ctx context.Context, a Alert) error
}

// NotifierFunc adapts a function to [Notifier].
type NotifierFunc func(ctx context.Context, a Alert) error

// Notify calls f(ctx, a).
func (f NotifierFunc) Notify(ctx context.Context, a Alert) error { return f(ctx, a) }

// An Evaluation is the outcome of one rule.
type Evaluation struct {
	// Rule is the rule evaluated.
	Rule Rule `json:"rule"`
	// Value is the metric over the rule's window.
	Value MetricValue `json:"value"`
	// Fired reports that the metric had a value and met the condition; a
	// metric without a value (no run in the window) never fires.
	Fired bool `json:"fired"`
}

// EvaluateRules computes each rule's metric now and notifies n of every
// rule that fires. Invalid rules are reported together before anything is
// evaluated (paths "$[i].metric" ...). A failing notification does not stop
// the others: their errors are joined and returned with all evaluations.
func (s *Service) EvaluateRules(ctx context.Context, scope Scope, rules []Rule, n Notifier) ([]Evaluation, error) {
	var p problems
	for i, r := range rules {
		if err := p.merge(r.Validate(), i, fmt.Sprintf("$[%d]", i)); err != nil {
			return nil, err
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	out := make([]Evaluation, 0, len(rules))
	var notifyErrs []error
	for _, r := range rules {
		mv, err := s.Metric(ctx, scope, r.Metric, time.Duration(r.Window), r.DefinitionKey)
		if err != nil {
			return out, err
		}
		ev := Evaluation{Rule: r, Value: mv, Fired: mv.Value != nil && r.Op.holds(*mv.Value, r.Threshold)}
		out = append(out, ev)
		if ev.Fired && n != nil {
			if err := n.Notify(ctx, Alert{Scope: scope, Rule: r, State: AlertFiring, Value: mv, At: mv.To, Attempt: 1}); err != nil {
				notifyErrs = append(notifyErrs, fmt.Errorf("analysis: notify rule %q: %w", r.Name, err))
			}
		}
	}
	return out, errors.Join(notifyErrs...)
}
