package analysis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/debrief-go/debrief/schedule"
)

// DefaultTick is how often a [Scheduler] looks for due slots.
const DefaultTick = 30 * time.Second

// SchedulerConfig configures a [Scheduler]. The zero value is usable.
type SchedulerConfig struct {
	// Tick is the interval of [Scheduler.Run]; default [DefaultTick].
	Tick time.Duration
	// MaxLateness, when positive, skips a due slot once it is more than
	// MaxLateness old — typically because a run was in progress all that
	// time — and records the skip (see [RunStore.ListSlots]). Zero keeps a
	// slot due until its run can start or a newer slot replaces it.
	MaxLateness time.Duration
	// MeterProvider makes the scheduler's metrics: [MetricSchedulerLate],
	// how late each slot fired, and [MetricSlotsFired], the slots fired,
	// skipped or left waiting, by definition. nil means the OpenTelemetry
	// global provider, a no-op unless the host set one.
	MeterProvider metric.MeterProvider
}

// A Scheduler fires the cron schedules of definitions, each read on the
// wall clock of its [Schedule.TimeZone] (UTC when empty). Every tick it looks
// at each definition with an enabled schedule and applies the rule that
// each slot fires at most once, decided against the most recent run (see
// [schedule.Due]): the latest slot at or before now is due unless a run
// was created at or after it, or it was already fired or skipped. A due slot
// starts a run with trigger schedule and the slot recorded; the store
// creates it only if no run of the definition is in progress and the slot
// is not taken, in one atomic step, so that any number of schedulers —
// one per replica — can share a store and each slot fires exactly once.
//
// After downtime only the latest missed slot fires: no backfill. A slot
// due while a run is in progress stays due until the run finishes, or is
// skipped past [SchedulerConfig.MaxLateness]. A slot whose run cannot start
// (its selection exceeds the maximum, a key names no conversation) is
// skipped, with the reason recorded. A definition whose schedule is enabled
// before it has any run waits for the first slot after its creation.
//
// All its state is in the store: a scheduler can be restarted, or replaced
// by another, at any time.
type Scheduler struct {
	svc      *Service
	cfg      SchedulerConfig
	lateness metric.Float64Gauge
	slots    metric.Int64Counter
	series   *seriesGuard
}

// Scheduler returns a scheduler that starts runs through s.
func (s *Service) Scheduler(cfg SchedulerConfig) *Scheduler {
	cfg.Tick = positive(cfg.Tick, DefaultTick)
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentation)
	sc := &Scheduler{svc: s, cfg: cfg, series: newSeriesGuard()}
	var err error
	if sc.lateness, err = m.Float64Gauge(MetricSchedulerLate, metric.WithUnit("s"),
		metric.WithDescription("How long after its slot the latest scheduled run of a definition started.")); err != nil {
		otel.Handle(err)
	}
	if sc.slots, err = m.Int64Counter(MetricSlotsFired, metric.WithUnit("{slot}"),
		metric.WithDescription("Schedule slots due, by what became of them: fired, skipped or waiting for a run in progress.")); err != nil {
		otel.Handle(err)
	}
	return sc
}

// A SlotEvent is what a tick did with one definition's due slot.
type SlotEvent struct {
	// Scope and DefinitionKey name the definition.
	Scope Scope `json:"scope"`
	// DefinitionKey is the definition's key.
	DefinitionKey string `json:"definitionKey"`
	// Slot is the due slot.
	Slot time.Time `json:"slot"`
	// RunID is the run started for it, when one was.
	RunID string `json:"runId,omitempty"`
	// Skipped is why the slot was skipped, when it was.
	Skipped string `json:"skipped,omitempty"`
}

// A TickReport says what one tick did.
type TickReport struct {
	// Fired lists the slots that started a run.
	Fired []SlotEvent `json:"fired"`
	// Skipped lists the slots skipped, with the reason.
	Skipped []SlotEvent `json:"skipped"`
	// Waiting lists the due slots that wait for a run in progress.
	Waiting []SlotEvent `json:"waiting"`
}

// Run ticks until ctx is done, then returns nil. A tick's errors are logged
// and the next tick tries again.
func (sc *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(sc.cfg.Tick)
	defer t.Stop()
	for {
		if _, err := sc.Tick(ctx); err != nil && ctx.Err() == nil {
			sc.svc.cfg.Logger.ErrorContext(ctx, "analysis: scheduler tick", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick fires, once, every slot due now. Errors about one definition do not
// stop the others; they are joined and returned with the report.
func (sc *Scheduler) Tick(ctx context.Context) (TickReport, error) {
	rep := TickReport{Fired: []SlotEvent{}, Skipped: []SlotEvent{}, Waiting: []SlotEvent{}}
	defs, err := sc.svc.cfg.Store.ListScheduled(ctx)
	if err != nil {
		return rep, wrap(err, "scheduler")
	}
	var errs []error
	for _, sd := range defs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := sc.tickOne(ctx, sd.Scope, sd.Definition, &rep); err != nil {
			errs = append(errs, wrap(err, "scheduler: %s/%s", sd.Scope, sd.Definition.Key))
		}
	}
	return rep, errors.Join(errs...)
}

func (sc *Scheduler) tickOne(ctx context.Context, scope Scope, d Definition, rep *TickReport) error {
	log := sc.svc.cfg.Logger
	cron, err := d.Schedule.cron()
	if err != nil {
		log.WarnContext(ctx, "analysis: scheduler: invalid schedule", "scope", scope.String(), "definition", d.Key, "error", err)
		return nil // validated when stored; a host's store may hold an older one: nothing to fire
	}
	last, err := sc.lastServed(ctx, scope, d)
	if err != nil {
		return err
	}
	now := sc.svc.cfg.Clock.Now().UTC()
	slot, due := schedule.Due(cron, now, last)
	if !due {
		return nil
	}
	ev := SlotEvent{Scope: scope, DefinitionKey: d.Key, Slot: slot}
	if schedule.Late(slot, now, sc.cfg.MaxLateness) {
		return sc.skip(ctx, ev, fmt.Sprintf("the slot was more than %s late", sc.cfg.MaxLateness), rep)
	}
	run, err := sc.svc.startRun(ctx, scope, d, d.Schedule.selection(), Trigger{Type: TriggerSchedule, Slot: &slot})
	switch {
	case err == nil:
		ev.RunID = run.ID
		rep.Fired = append(rep.Fired, ev)
		def := sc.series.scopeAttrs(scope, d.Key)
		sc.lateness.Record(ctx, now.Sub(slot).Seconds(), metric.WithAttributes(def...))
		sc.slots.Add(ctx, 1, metric.WithAttributes(append(def, attrSlotOutcome.String("fired"))...))
		log.InfoContext(ctx, "analysis: scheduled run started", "scope", scope.String(), "definition", d.Key, "slot", slot, "run", run.ID)
	case errors.Is(err, ErrRunInProgress):
		rep.Waiting = append(rep.Waiting, ev)
		sc.slots.Add(ctx, 1, metric.WithAttributes(append(sc.series.scopeAttrs(scope, d.Key), attrSlotOutcome.String("waiting"))...))
	case errors.Is(err, ErrSlotTaken):
		// another scheduler fired or skipped it first
	case errors.Is(err, ErrInvalid):
		return sc.skip(ctx, ev, "the run could not start: "+err.Error(), rep)
	default:
		return err
	}
	return nil
}

// cron returns the schedule's expression read on the wall clock of its time
// zone.
func (sch *Schedule) cron() (*schedule.Cron, error) {
	c, err := schedule.Parse(sch.Cron)
	if err != nil {
		return nil, err
	}
	loc, err := schedule.LoadLocation(sch.TimeZone)
	if err != nil {
		return nil, err
	}
	return c.In(loc), nil
}

// lastServed is the time against which a slot is due: the latest of the
// most recent run's creation and the latest slot fired or skipped — or,
// before either exists, the definition's creation, so that a new schedule
// waits for its first slot.
func (sc *Scheduler) lastServed(ctx context.Context, scope Scope, d Definition) (time.Time, error) {
	store := sc.svc.cfg.Store
	runs, err := store.ListRuns(ctx, scope, RunQuery{DefinitionKey: d.Key, Limit: 1})
	if err != nil {
		return time.Time{}, err
	}
	slots, err := store.ListSlots(ctx, scope, d.Key, 1)
	if err != nil {
		return time.Time{}, err
	}
	var last time.Time
	if len(runs) > 0 {
		last = runs[0].CreatedAt
	}
	if len(slots) > 0 && slots[0].Slot.After(last) {
		last = slots[0].Slot
	}
	if last.IsZero() {
		last = d.CreatedAt
	}
	return last, nil
}

func (sc *Scheduler) skip(ctx context.Context, ev SlotEvent, reason string, rep *TickReport) error {
	err := sc.svc.cfg.Store.SkipSlot(ctx, ev.Scope, ev.DefinitionKey, ev.Slot, reason, sc.svc.cfg.Clock.Now().UTC())
	switch {
	case err == nil:
		ev.Skipped = reason
		rep.Skipped = append(rep.Skipped, ev)
		sc.slots.Add(ctx, 1, metric.WithAttributes(append(sc.series.scopeAttrs(ev.Scope, ev.DefinitionKey), attrSlotOutcome.String("skipped"))...))
		sc.svc.cfg.Logger.WarnContext(ctx, "analysis: schedule slot skipped", "scope", ev.Scope.String(),
			"definition", ev.DefinitionKey, "slot", ev.Slot, "reason", reason)
		return nil
	case errors.Is(err, ErrSlotTaken):
		return nil // another scheduler took it first
	}
	return err
}

// ListSlots returns what became of the latest schedule slots of the
// definition whose ID or key is definitionKey —
// the run each started or why it was skipped — latest first, at most limit
// of them (0 for the default; capped at the maximum).
func (s *Service) ListSlots(ctx context.Context, scope Scope, definitionKey string, limit int) ([]SlotRecord, error) {
	if err := scope.Validate(); err != nil {
		return nil, err
	}
	n, err := s.limit(limit)
	if err != nil {
		return nil, err
	}
	d, err := s.cfg.Store.GetDefinition(ctx, scope, definitionKey)
	if err != nil {
		return nil, about(err, "definition %q", definitionKey)
	}
	return s.cfg.Store.ListSlots(ctx, scope, d.Key, n)
}
