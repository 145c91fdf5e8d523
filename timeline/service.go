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

	"golang.org/x/sync/semaphore"

	"github.com/debrief-go/debrief/internal/uuid"
)

// Defaults of a [Config].
const (
	DefaultMaxConcurrent = 4
	DefaultMaxQueued     = 1000
	DefaultTimeout       = 5 * time.Minute
	DefaultCooldown      = time.Minute
	// finalWriteTimeout bounds the write of an analysis's end, which uses a
	// context of its own so that it lands after a timeout too.
	finalWriteTimeout = 10 * time.Second
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
	// Now is the clock. Required.
	Now func() time.Time
	// NewID returns a new analysis id, a UUID. Required.
	NewID func() string
	// MaxConcurrent bounds the analyses running at once; 0 means
	// [DefaultMaxConcurrent].
	MaxConcurrent int
	// MaxQueued bounds the analyses waiting for a slot; a create beyond it
	// fails with [ErrBusy]. 0 means [DefaultMaxQueued].
	MaxQueued int
	// Timeout bounds each analysis, from the moment it starts running; 0
	// means [DefaultTimeout].
	Timeout time.Duration
	// Cooldown is how long after an analysis of a flow last changed a
	// re-analysis of the flow is refused with a [*CooldownError]; 0 means
	// [DefaultCooldown], a negative value no cooldown.
	Cooldown time.Duration
	// StaleAfter, when positive, lets a create replace a progressing
	// analysis that this service is not running and that has not changed
	// for this long — one left behind by a process that stopped. The stale
	// analysis is marked failed with [FailInterrupted]. Set it well above
	// Timeout plus the longest queue wait. 0 never replaces one.
	StaleAfter time.Duration
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
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
}

// NewService validates cfg and returns a running service. Missing required
// fields and negative bounds are reported as a [*ValidationError].
func NewService(cfg Config) (*Service, error) {
	var v validator
	if cfg.Source == nil {
		v.add("$.source", "the source is missing")
	}
	if cfg.Now == nil {
		v.add("$.now", "the clock is missing")
	}
	if cfg.NewID == nil {
		v.add("$.new_id", "the id generator is missing")
	}
	for _, f := range []struct {
		name string
		val  int64
	}{{"max_concurrent", int64(cfg.MaxConcurrent)}, {"max_queued", int64(cfg.MaxQueued)},
		{"timeout", int64(cfg.Timeout)}, {"stale_after", int64(cfg.StaleAfter)}} {
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
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:      cfg,
		analyzer: analyzer,
		log:      log,
		sem:      semaphore.NewWeighted(int64(cfg.MaxConcurrent)),
		tracked:  map[string]struct{}{},
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.idle = sync.NewCond(&s.mu)
	return s, nil
}

// Analyzer returns the service's analyzer, to run the pipeline without a
// store.
func (s *Service) Analyzer() *Analyzer { return s.analyzer }

// Create starts an analysis of the ended flow flowID of customerID, or
// returns the analysis that stands for it; started reports which.
//
//   - Bad ids (not UUIDs) are a [*ValidationError]. A flow that does not
//     exist or belongs to another customer is [ErrNotFound], the same in
//     both cases. A flow that has not ended is [ErrNotEnded] (which matches
//     [ErrConflict]). Errors of the Source are wrapped in a [*SourceError].
//   - If the flow has a progressing analysis, that one is returned: there
//     is at most one analysis in flight per flow, and a race of creates
//     starts exactly one.
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
	if s.isClosed() {
		return Analysis{}, false, ErrClosed
	}
	flow, err := s.cfg.Source.Flow(ctx, customerID, flowID)
	switch {
	case errors.Is(err, ErrNotFound):
		return Analysis{}, false, ErrNotFound
	case err != nil:
		return Analysis{}, false, &SourceError{Op: "Flow", Err: err}
	case flow.ID != flowID || flow.CustomerID != customerID:
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
		default:
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
		ID:           s.cfg.NewID(),
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
	s.enqueue(job{a: current, flow: flow})
	s.log.LogAttrs(ctx, slog.LevelInfo, "timeline analysis created",
		slog.String("analysis_id", current.ID), slog.String("customer_id", customerID),
		slog.String("activeflow_id", flowID), slog.Bool("reanalyze", opts.Reanalyze))
	return current, true, nil
}

// stale reports a progressing analysis this service is not running and
// that has not changed for StaleAfter.
func (s *Service) stale(a Analysis) bool {
	if s.cfg.StaleAfter <= 0 || s.cfg.Now().Sub(a.TMUpdate.Time) <= s.cfg.StaleAfter {
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
// 8-4-4-4-12 hexadecimal digits, either case.
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
}

// worker runs j, then the queued jobs, until the queue is empty.
func (s *Service) worker(j job) {
	for {
		s.run(j)
		s.mu.Lock()
		delete(s.tracked, j.a.ID)
		s.pending--
		if s.pending == 0 {
			s.idle.Broadcast()
		}
		if len(s.queue) == 0 {
			s.sem.Release(1)
			s.mu.Unlock()
			return
		}
		j = s.queue[0]
		s.queue[0] = job{}
		s.queue = s.queue[1:]
		s.mu.Unlock()
	}
}

// errPanic stands for a panic of the pipeline or of a host callback.
var errPanic = errors.New("timeline: the analysis panicked")

// run analyses one flow and writes the analysis's end.
func (s *Service) run(j job) {
	ctx, cancel := context.WithTimeout(s.base, s.cfg.Timeout)
	defer cancel()
	rep, err := s.analyse(ctx, j)

	a := j.a
	a.TMUpdate = Timestamp{s.cfg.Now()}
	attrs := []slog.Attr{slog.String("analysis_id", a.ID), slog.String("activeflow_id", a.ActiveflowID),
		slog.Int("model_calls", rep.Calls), slog.Int64("tokens", rep.Usage.Total()), slog.Bool("staged", rep.Staged)}
	if err != nil {
		a.Status, a.Error = StatusFailed, FailureMessage(err)
		s.log.LogAttrs(ctx, slog.LevelWarn, "timeline analysis failed",
			append(attrs, slog.String("reason", a.Error), slog.String("error", err.Error()))...)
	} else {
		a.Status, a.Result = StatusCompleted, &rep.Verdict
		s.log.LogAttrs(ctx, slog.LevelInfo, "timeline analysis completed", append(attrs,
			slog.Int("events_total", rep.TotalEvents), slog.Int("events_analysed", rep.AnalysedEvents),
			slog.Int("evidence_dropped", rep.EvidenceDropped), slog.Int("issues_dropped", rep.IssuesDropped))...)
	}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), finalWriteTimeout)
	defer wcancel()
	if err := s.cfg.Store.Finish(wctx, a); err != nil {
		s.log.LogAttrs(wctx, slog.LevelError, "timeline analysis end not stored",
			slog.String("analysis_id", a.ID), slog.String("error", err.Error()))
	}
}

// analyse loads the events and runs the pipeline, turning a panic into
// errPanic.
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
	events, err := s.cfg.Source.Events(ctx, j.a.CustomerID, j.a.ActiveflowID)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Report{}, ctxErr
		}
		return Report{}, &SourceError{Op: "Events", Err: err}
	}
	return s.analyzer.Analyze(ctx, j.flow, events)
}

// Get returns the analysis id of customerID: [ErrNotFound] when it does not
// exist or belongs to another customer; a [*ValidationError] for bad ids.
func (s *Service) Get(ctx context.Context, customerID, id string) (Analysis, error) {
	var v validator
	checkID(&v, "$.customer_id", customerID)
	checkID(&v, "$.id", id)
	if err := v.err(); err != nil {
		return Analysis{}, err
	}
	return s.cfg.Store.Get(ctx, customerID, id)
}

// List returns a page of the analyses of customerID, newest first, of one
// flow when filter.ActiveflowID is set. Bad ids, a page size outside 0 to
// [MaxPageSize] and a page token the store did not issue are a
// [*ValidationError].
func (s *Service) List(ctx context.Context, customerID string, filter ListFilter, page PageRequest) (Page, error) {
	var v validator
	checkID(&v, "$.customer_id", customerID)
	if filter.ActiveflowID != "" && !ValidUUID(filter.ActiveflowID) {
		v.add("$.activeflow_id", "not a UUID")
	}
	if page.Size < 0 || page.Size > MaxPageSize {
		v.add("$.page_size", fmt.Sprintf("%d is outside 1 to %d", page.Size, MaxPageSize))
	}
	if err := v.err(); err != nil {
		return Page{}, err
	}
	return s.cfg.Store.List(ctx, customerID, filter, page)
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
// Close waits for the queued and running analyses to end. If ctx is done
// first, it cancels them — each is then stored as failed with
// [FailInterrupted] — waits for that, and returns ctx.Err(). Close may be
// called more than once.
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
		s.cancel()
		<-done
		return ctx.Err()
	}
}
