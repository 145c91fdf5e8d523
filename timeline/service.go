package timeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"

	"github.com/debrief-go/debrief/internal/uuid"
	"github.com/debrief-go/debrief/llm"
)

// Defaults of a [Config].
const (
	DefaultMaxConcurrent = 4
	DefaultMaxQueued     = 1000
	DefaultTimeout       = 5 * time.Minute
	DefaultCooldown      = time.Minute
	// DefaultStaleMargin is what a zero [Config.StaleAfter] adds to the
	// Timeout.
	DefaultStaleMargin = 10 * time.Minute
)

// The write of an analysis's end uses a context of its own, so that it
// lands after a timeout or a Close too, and is tried again after a failure
// of the store.
const (
	// finalWriteTimeout bounds each attempt.
	finalWriteTimeout = 10 * time.Second
	// finalWriteAttempts bounds the attempts.
	finalWriteAttempts = 4
	// finalWriteBackoff is the wait before the second attempt; it doubles
	// before each further one.
	finalWriteBackoff = 250 * time.Millisecond
)

// Config configures a [Service].
type Config struct {
	// Source reads the host's flows and events. Required.
	Source Source
	// Store keeps the analyses; nil means a new [MemoryStore].
	Store Store
	// Analyzer configures the pipeline: the model, its key, the limits, ...
	// Its Model is required.
	Analyzer AnalyzerConfig
	// Now is the clock; nil means the system's wall clock, in UTC.
	Now func() time.Time
	// NewID returns a new analysis id, a UUID; nil means a random UUID
	// (version 4). The id is stored in lower case.
	NewID func() string
	// Sleep waits for d or until ctx is done, returning ctx.Err() then. The
	// service waits with it between the attempts to store an analysis's
	// end. nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxConcurrent bounds the analyses running at once; 0 means
	// [DefaultMaxConcurrent].
	MaxConcurrent int
	// MaxQueued bounds the analyses waiting for a slot; a create beyond it
	// fails with [ErrBusy]. 0 means [DefaultMaxQueued].
	MaxQueued int
	// Timeout bounds each analysis, from the moment it starts running; 0
	// means [DefaultTimeout]. At the deadline the analysis's context is
	// cancelled and the analysis is stored as failed with [FailTimeout] at
	// once, whether or not the Source and the Model have returned. They must
	// honour their context (see [Source] and [llm.Model]): until they
	// return, the analysis keeps its place among the MaxConcurrent.
	Timeout time.Duration
	// Cooldown is how long after an analysis of a flow last changed a
	// re-analysis of the flow is refused with a [*CooldownError]; 0 means
	// [DefaultCooldown], a negative value no cooldown.
	Cooldown time.Duration
	// StaleAfter lets a create replace a progressing analysis that this
	// service is not running and that has not changed for this long — one
	// left behind by a process that stopped, or whose end could not be
	// stored. The stale analysis is marked failed with [FailInterrupted].
	// 0 means Timeout plus [DefaultStaleMargin]; a negative value never
	// replaces one. When several services share one store, set it above
	// Timeout plus the longest wait in a queue, or one service may replace
	// an analysis still queued at another.
	StaleAfter time.Duration
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// TracerProvider makes the tracer of the service's spans (see the
	// package documentation); nil means the OpenTelemetry global one,
	// [go.opentelemetry.io/otel.GetTracerProvider], a no-op unless the host
	// set it.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meter of the service's metrics (see the
	// package documentation); nil means the OpenTelemetry global one,
	// [go.opentelemetry.io/otel.GetMeterProvider], a no-op unless the host
	// set it.
	MeterProvider metric.MeterProvider
}

// CreateOptions are the options of [Service.Create].
type CreateOptions struct {
	// Reanalyze asks for a new analysis even though the flow already has a
	// finished one (subject to the cooldown).
	Reanalyze bool
}

// A Service runs the analysis lifecycle over a [Source] and a [Store]:
// analyses are created at once as progressing records and run in the
// background, with bounded concurrency, a time limit each, and their end
// (completed with the verdict, or failed with an operator-safe message)
// written to the store.
//
// Every method is safe for concurrent use. Call [Service.Close] to stop it.
type Service struct {
	cfg      Config
	analyzer *Analyzer
	log      *slog.Logger
	tel      *telemetry
	sem      *semaphore.Weighted
	base     context.Context
	cancel   context.CancelFunc

	mu      sync.Mutex
	idle    *sync.Cond
	queue   []job
	pending int                 // reserved, queued or running
	tracked map[string]struct{} // ids of the analyses queued or running
	closed  bool
}

type job struct {
	a    Analysis
	flow Flow
	// creator is the span of the Create that started the analysis, if any;
	// the analysis's span links to it.
	creator trace.SpanContext
}

// NewService validates cfg and returns a running service. A missing
// Source or model and negative bounds are reported as a
// [*ValidationError].
func NewService(cfg Config) (*Service, error) {
	var v validator
	if cfg.Source == nil {
		v.add("$.source", "the source is missing")
	}
	for _, f := range []struct {
		name string
		val  int64
	}{{"max_concurrent", int64(cfg.MaxConcurrent)}, {"max_queued", int64(cfg.MaxQueued)}, {"timeout", int64(cfg.Timeout)}} {
		if f.val < 0 {
			v.add("$."+f.name, "negative")
		}
	}
	analyzer, err := NewAnalyzer(cfg.Analyzer)
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		for _, p := range ve.Problems {
			v.add("$.analyzer"+strings.TrimPrefix(p.Path, "$"), p.Message)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.NewID == nil {
		cfg.NewID = uuid.New
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepContext
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.Cooldown == 0:
		cfg.Cooldown = DefaultCooldown
	case cfg.Cooldown < 0:
		cfg.Cooldown = 0
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = cfg.Timeout + DefaultStaleMargin
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:      cfg,
		analyzer: analyzer,
		log:      log,
		tel:      newTelemetry(cfg.TracerProvider, cfg.MeterProvider),
		sem:      semaphore.NewWeighted(int64(cfg.MaxConcurrent)),
		tracked:  map[string]struct{}{},
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.idle = sync.NewCond(&s.mu)
	return s, nil
}

// sleepContext waits for d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Analyzer returns the service's analyzer, to run the pipeline without a
// store.
func (s *Service) Analyzer() *Analyzer { return s.analyzer }

// Create starts an analysis of the ended flow flowID of customerID, or
// returns the analysis that stands for it; started reports which.
//
//   - Bad ids (not UUIDs) are a [*ValidationError]. Ids are case-blind: they
//     are lower-cased before anything else, and stored so. A flow that does
//     not exist or belongs to another customer is [ErrNotFound], the same
//     in both cases. A flow that has not ended is [ErrNotEnded] (which
//     matches [ErrConflict]). Errors of the Source are wrapped in a
//     [*SourceError]; so is a flow header that breaks the rules of [Flow]
//     (no id, a reference of another type, ...), as a [*ValidationError]
//     with paths under "$.flow", which then matches [ErrInvalid] too.
//   - If the flow has a progressing analysis, that one is returned: there
//     is at most one analysis in flight per flow, and a race of creates
//     starts exactly one. A progressing analysis left unchanged for
//     StaleAfter that this service is not running is first marked failed
//     (see [Config.StaleAfter]) and then counts as finished.
//   - If the flow has a finished analysis, the latest one is returned,
//     unless opts.Reanalyze asks for a new one. A re-analysis within the
//     cooldown after the latest analysis last changed is refused with a
//     [*CooldownError] saying how long to wait.
//   - A new analysis is stored as progressing and returned at once; it runs
//     in the background when a slot is free. With MaxQueued analyses
//     already waiting, Create fails with [ErrBusy]; after Close, with
//     [ErrClosed].
func (s *Service) Create(ctx context.Context, customerID, flowID string, opts CreateOptions) (a Analysis, started bool, err error) {
	var v validator
	checkID(&v, "$.customer_id", customerID)
	checkID(&v, "$.activeflow_id", flowID)
	if err := v.err(); err != nil {
		return Analysis{}, false, err
	}
	customerID, flowID = strings.ToLower(customerID), strings.ToLower(flowID)
	if s.isClosed() {
		return Analysis{}, false, ErrClosed
	}
	flow, err := s.cfg.Source.Flow(ctx, customerID, flowID)
	switch {
	case errors.Is(err, ErrNotFound):
		return Analysis{}, false, ErrNotFound
	case err != nil:
		return Analysis{}, false, &SourceError{Op: "Flow", Err: err}
	}
	var fv validator
	validateFlow(&fv, "$.flow", &flow)
	switch {
	case fv.err() != nil:
		return Analysis{}, false, &SourceError{Op: "Flow", Err: fv.err()}
	case !strings.EqualFold(flow.ID, flowID) || !strings.EqualFold(flow.CustomerID, customerID):
		return Analysis{}, false, ErrNotFound
	case !flow.Ended:
		return Analysis{}, false, ErrNotEnded
	}

	prevID := ""
	latest, err := s.cfg.Store.Latest(ctx, customerID, flowID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Analysis{}, false, fmt.Errorf("timeline: reading the latest analysis: %w", err)
	default:
		replace := false // the latest analysis was left behind and is now failed
		if latest.Status == StatusProgressing && s.stale(latest) {
			if latest, err = s.reclaim(ctx, latest); err != nil {
				return Analysis{}, false, err
			}
			replace = latest.Status == StatusFailed && latest.Error == FailInterrupted
		}
		prevID = latest.ID
		switch {
		case latest.Status == StatusProgressing:
			return latest, false, nil
		case replace:
		case !opts.Reanalyze:
			return latest, false, nil
		case s.cfg.Cooldown > 0:
			if wait := latest.TMUpdate.Add(s.cfg.Cooldown).Sub(s.cfg.Now()); wait > 0 {
				return Analysis{}, false, &CooldownError{RetryAfter: wait}
			}
		}
	}

	if err := s.reserve(); err != nil {
		return Analysis{}, false, err
	}
	now := Timestamp{s.cfg.Now()}
	a = Analysis{
		ID:           strings.ToLower(s.cfg.NewID()),
		CustomerID:   customerID,
		ActiveflowID: flowID,
		Status:       StatusProgressing,
		TMCreate:     now,
		TMUpdate:     now,
	}
	if !ValidUUID(a.ID) {
		s.release()
		return Analysis{}, false, fmt.Errorf("timeline: the id generator returned %q, not a UUID", a.ID)
	}
	current, created, err := s.cfg.Store.Create(ctx, a, prevID)
	if err != nil || !created {
		s.release()
		if err != nil {
			return Analysis{}, false, fmt.Errorf("timeline: storing the analysis: %w", err)
		}
		return current, false, nil
	}
	s.enqueue(job{a: current, flow: flow, creator: trace.SpanContextFromContext(ctx)})
	s.log.LogAttrs(ctx, slog.LevelInfo, "timeline analysis created",
		slog.String("analysis_id", current.ID), slog.String("customer_id", customerID),
		slog.String("activeflow_id", flowID), slog.Bool("reanalyze", opts.Reanalyze))
	return current, true, nil
}

// stale reports a progressing analysis this service is not running and
// that has not changed for StaleAfter.
func (s *Service) stale(a Analysis) bool {
	if s.cfg.StaleAfter < 0 || s.cfg.Now().Sub(a.TMUpdate.Time) <= s.cfg.StaleAfter {
		return false
	}
	s.mu.Lock()
	_, running := s.tracked[a.ID]
	s.mu.Unlock()
	return !running
}

// reclaim marks a stale analysis failed and returns the flow's latest
// analysis after that.
func (s *Service) reclaim(ctx context.Context, a Analysis) (Analysis, error) {
	a.Status, a.Error, a.TMUpdate = StatusFailed, FailInterrupted, Timestamp{s.cfg.Now()}
	err := s.cfg.Store.Finish(ctx, a)
	if err != nil && !errors.Is(err, ErrConflict) {
		return Analysis{}, fmt.Errorf("timeline: marking a stale analysis failed: %w", err)
	}
	if err == nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "timeline analysis left progressing marked failed",
			slog.String("analysis_id", a.ID), slog.String("activeflow_id", a.ActiveflowID))
	}
	latest, err := s.cfg.Store.Latest(ctx, a.CustomerID, a.ActiveflowID)
	if err != nil {
		return Analysis{}, fmt.Errorf("timeline: reading the latest analysis: %w", err)
	}
	return latest, nil
}

func checkID(v *validator, path, id string) {
	if id == "" {
		v.add(path, "missing")
	} else if !ValidUUID(id) {
		v.add(path, "not a UUID")
	}
}

// ValidUUID reports whether s is a UUID in its canonical textual form:
// 8-4-4-4-12 hexadecimal digits, either case. The [Service] lower-cases the
// ids it is given, so that both cases name one object.
func ValidUUID(s string) bool { return uuid.Valid(s) }

func (s *Service) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// reserve takes a place for a new analysis, or fails with ErrBusy or
// ErrClosed.
func (s *Service) reserve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.pending >= s.cfg.MaxConcurrent+s.cfg.MaxQueued:
		return ErrBusy
	}
	s.pending++
	return nil
}

// release gives back a place that was not used, or that a finished job used.
func (s *Service) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	if s.pending == 0 {
		s.idle.Broadcast()
	}
}

// enqueue runs j in a free slot, or queues it.
func (s *Service) enqueue(j job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracked[j.a.ID] = struct{}{}
	if s.sem.TryAcquire(1) {
		go s.worker(j)
		return
	}
	s.queue = append(s.queue, j)
	s.tel.queued.Add(context.Background(), 1)
}

// worker runs j, then the queued jobs, until the queue is empty.
func (s *Service) worker(j job) {
	for {
		s.run(j)
		s.mu.Lock()
		s.doneLocked(j.a.ID)
		if len(s.queue) == 0 {
			s.sem.Release(1)
			s.mu.Unlock()
			return
		}
		j = s.queue[0]
		s.queue[0] = job{}
		s.queue = s.queue[1:]
		s.tel.queued.Add(context.Background(), -1)
		s.mu.Unlock()
	}
}

// doneLocked forgets a job that has ended; s.mu is held.
func (s *Service) doneLocked(id string) {
	delete(s.tracked, id)
	s.pending--
	if s.pending == 0 {
		s.idle.Broadcast()
	}
}

// errPanic stands for a panic of the pipeline or of a host callback.
var errPanic = errors.New("timeline: the analysis panicked")

// outcome is what the pipeline returned.
type outcome struct {
	rep Report
	err error
}

// run analyses one flow and writes the analysis's end. The end is written
// when the pipeline returns or, if the analysis's context ends first, at
// once with the context's failure; run then waits for the pipeline to
// return, so that the slot stays taken until it does. The analysis's span
// covers it until its end is stored.
func (s *Service) run(j job) {
	start := time.Now()
	s.tel.running.Add(context.Background(), 1)
	defer s.tel.running.Add(context.Background(), -1)
	sctx, span := s.tel.startAnalysis(s.base, j)
	ctx, cancel := context.WithTimeout(sctx, s.cfg.Timeout)
	defer cancel()
	done := make(chan outcome, 1)
	go func() {
		rep, err := s.analyse(ctx, j)
		done <- outcome{rep, err}
	}()
	select {
	case out := <-done:
		s.ended(ctx, span, start, j.a, out)
		return
	case <-ctx.Done():
	}
	select {
	case out := <-done: // it stopped in time
		s.ended(ctx, span, start, j.a, out)
		return
	default:
	}
	a := s.end(ctx, j.a, Report{}, ctx.Err())
	s.tel.ended(ctx, span, time.Since(start), a, Report{}, false)
	out := <-done
	s.tel.spent(ctx, out.rep)
	s.log.LogAttrs(ctx, slog.LevelDebug, "timeline analysis returned after its end was stored",
		slog.String("analysis_id", j.a.ID), slog.Int("model_calls", out.rep.Calls), slog.Int64("tokens", out.rep.Usage.Total()))
}

// ended stores the end of the analysis a, whose pipeline returned out, and
// records it on span, which it ends, and in the metrics.
func (s *Service) ended(ctx context.Context, span trace.Span, start time.Time, a Analysis, out outcome) {
	a = s.end(ctx, a, out.rep, out.err)
	s.tel.spent(ctx, out.rep)
	s.tel.ended(ctx, span, time.Since(start), a, out.rep, true)
}

// end logs how the analysis a ended and stores its end: completed with the
// verdict when err is nil, else failed with [FailureMessage](ctx, err). It
// returns the end.
func (s *Service) end(ctx context.Context, a Analysis, rep Report, err error) Analysis {
	a.TMUpdate = Timestamp{s.cfg.Now()}
	attrs := []slog.Attr{slog.String("analysis_id", a.ID), slog.String("activeflow_id", a.ActiveflowID),
		slog.Int("model_calls", rep.Calls), slog.Int64("tokens", rep.Usage.Total()), slog.Bool("staged", rep.Staged)}
	if err != nil {
		a.Status, a.Error = StatusFailed, FailureMessage(ctx, err)
		s.log.LogAttrs(ctx, slog.LevelWarn, "timeline analysis failed",
			append(attrs, slog.String("reason", a.Error), slog.String("error", logText(err)))...)
	} else {
		a.Status, a.Result = StatusCompleted, &rep.Verdict
		s.log.LogAttrs(ctx, slog.LevelInfo, "timeline analysis completed", append(attrs,
			slog.Int("events_total", rep.TotalEvents), slog.Int("events_analysed", rep.AnalysedEvents),
			slog.Int("evidence_dropped", rep.EvidenceDropped), slog.Int("issues_dropped", rep.IssuesDropped))...)
	}
	s.finish(ctx, a)
	return a
}

// logText is err as a log may show it: a model's failure — any error of a
// model call, classified or not — without what the provider wrote
// ([llm.SafeText]), any other — the source's, the store's, the events' —
// in full.
func logText(err error) string {
	var me *modelError
	var le *llm.Error
	var inv *llm.InvalidOutputError
	if errors.As(err, &me) || errors.As(err, &le) || errors.As(err, &inv) || llm.Class(err) != nil {
		return llm.SafeText(err)
	}
	return err.Error()
}

// finish stores the end of a, trying again with a growing wait after a
// failure of the store that may pass. Each attempt has a context of its
// own, live after ctx has ended.
func (s *Service) finish(ctx context.Context, a Analysis) {
	wctx := context.WithoutCancel(ctx)
	wait := finalWriteBackoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(wctx, finalWriteTimeout)
		err := s.cfg.Store.Finish(actx, a)
		cancel()
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) ||
			attempt == finalWriteAttempts:
			s.log.LogAttrs(wctx, slog.LevelError, "timeline analysis end not stored",
				slog.String("analysis_id", a.ID), slog.Int("attempts", attempt), slog.String("error", err.Error()))
			return
		}
		s.log.LogAttrs(wctx, slog.LevelWarn, "timeline analysis end not stored; trying again",
			slog.String("analysis_id", a.ID), slog.Int("attempt", attempt), slog.Duration("wait", wait),
			slog.String("error", err.Error()))
		if serr := s.cfg.Sleep(wctx, wait); serr != nil {
			s.log.LogAttrs(wctx, slog.LevelError, "timeline analysis end not stored",
				slog.String("analysis_id", a.ID), slog.Int("attempts", attempt), slog.String("error", err.Error()))
			return
		}
		wait *= 2
	}
}

// analyse loads the events and runs the pipeline, turning a panic into
// errPanic. Each step has a span, a child of ctx's.
func (s *Service) analyse(ctx context.Context, j job) (rep Report, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "timeline analysis panicked",
				slog.String("analysis_id", j.a.ID), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			rep, err = Report{}, errPanic
		}
	}()
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	events, err := s.events(ctx, j)
	if err != nil {
		return Report{}, err
	}
	p, err := s.prepare(ctx, j.flow, events)
	if err != nil {
		return Report{}, err
	}
	return s.model(ctx, p)
}

// events loads the events of the analysed flow.
func (s *Service) events(ctx context.Context, j job) (_ []Event, err error) {
	sctx, span := s.tel.start(ctx, spanEvents)
	defer func() {
		fail(ctx, span, err)
		span.End()
	}()
	events, err := s.cfg.Source.Events(sctx, j.a.CustomerID, j.a.ActiveflowID)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &SourceError{Op: "Events", Err: err}
	}
	return events, nil
}

// prepare runs [Prepare] with the analyzer's limits.
func (s *Service) prepare(ctx context.Context, flow Flow, events []Event) (_ *Prepared, err error) {
	_, span := s.tel.start(ctx, spanPrepare)
	defer func() {
		fail(ctx, span, err)
		span.End()
	}()
	return Prepare(flow, events, s.analyzer.cfg.Limits)
}

// model asks the model for the parts it writes.
func (s *Service) model(ctx context.Context, p *Prepared) (rep Report, err error) {
	sctx, span := s.tel.start(ctx, spanModel)
	defer func() {
		if span.IsRecording() {
			span.SetAttributes(attrStaged.Bool(rep.Staged), attrModelCalls.Int(rep.Calls))
		}
		fail(ctx, span, err)
		span.End()
	}()
	return s.analyzer.AnalyzePrepared(sctx, p)
}

// Get returns the analysis id of customerID: [ErrNotFound] when it does not
// exist or belongs to another customer; a [*ValidationError] for bad ids.
// Ids are case-blind.
func (s *Service) Get(ctx context.Context, customerID, id string) (Analysis, error) {
	var v validator
	checkID(&v, "$.customer_id", customerID)
	checkID(&v, "$.id", id)
	if err := v.err(); err != nil {
		return Analysis{}, err
	}
	return s.cfg.Store.Get(ctx, strings.ToLower(customerID), strings.ToLower(id))
}

// List returns a page of the analyses of customerID, newest first, of one
// flow when filter.ActiveflowID is set. Ids are case-blind. Bad ids, a page
// size outside 0 to [MaxPageSize] (0 meaning [DefaultPageSize]) and a page
// token that is not one the store issued for this customer and filter are
// a [*ValidationError].
func (s *Service) List(ctx context.Context, customerID string, filter ListFilter, page PageRequest) (Page, error) {
	var v validator
	checkID(&v, "$.customer_id", customerID)
	if filter.ActiveflowID != "" && !ValidUUID(filter.ActiveflowID) {
		v.add("$.activeflow_id", "not a UUID")
	}
	if page.Size < 0 || page.Size > MaxPageSize {
		v.add("$.page_size", fmt.Sprintf("%d is outside 0 to %d (0 means %d)", page.Size, MaxPageSize, DefaultPageSize))
	}
	if err := v.err(); err != nil {
		return Page{}, err
	}
	filter.ActiveflowID = strings.ToLower(filter.ActiveflowID)
	return s.cfg.Store.List(ctx, strings.ToLower(customerID), filter, page)
}

// Wait blocks until no analysis is queued or running.
func (s *Service) Wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.pending > 0 {
		s.idle.Wait()
	}
}

// Close stops the service: Create fails with [ErrClosed] from then on, and
// Close waits for the queued and running analyses to end, then returns
// nil. If ctx is done first, Close cancels them and returns ctx.Err() at
// once, as [net/http.Server.Shutdown] does: the queued analyses are stored
// as failed with [FailInterrupted] without running, and so are the running
// ones as soon as their context is cancelled, whether or not their Source
// and Model have returned yet ([Service.Wait] waits until they have). Close
// may be called more than once.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	select {
	case <-done: // both at once: everything had ended
		s.cancel()
		return nil
	default:
	}
	s.cancel()
	s.abandonQueued()
	return ctx.Err()
}

// abandonQueued takes the queued jobs off the queue and stores each as
// interrupted, in the background.
func (s *Service) abandonQueued() {
	s.mu.Lock()
	jobs := s.queue
	s.queue = nil
	s.tel.queued.Add(context.Background(), -int64(len(jobs)))
	s.mu.Unlock()
	if len(jobs) == 0 {
		return
	}
	go func() {
		for _, j := range jobs {
			a := s.end(s.base, j.a, Report{}, context.Canceled)
			s.tel.count(s.base, a)
			s.mu.Lock()
			s.doneLocked(j.a.ID)
			s.mu.Unlock()
		}
	}()
}
