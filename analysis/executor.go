package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/schedule"
)

// Defaults of an [ExecutorConfig].
const (
	DefaultConcurrency   = 8
	DefaultLeaseDuration = time.Minute
	DefaultMaxAttempts   = 3
	DefaultItemTimeout   = 5 * time.Minute
	DefaultPollInterval  = 2 * time.Second
)

// ExecutorConfig configures an [Executor]. Store and Model are required.
type ExecutorConfig struct {
	// Store is where runs are claimed and items saved.
	Store Store
	// Model answers the extraction and judge requests; a request's Model is
	// the definition's extractionModelKey or judgeModelKey, for the host's
	// model to route on. Wrap it with llm.WithRetry and limits as needed.
	Model llm.Model
	// Clock tells the time; default [schedule.SystemClock].
	Clock schedule.Clock
	// Owner identifies this executor in leases; default a random UUID.
	Owner string
	// Concurrency bounds the conversations analysed at once; default
	// [DefaultConcurrency].
	Concurrency int
	// LeaseDuration is how long a claim on a chunk lasts without renewal,
	// by the store's clock, at least a second. Default [DefaultLeaseDuration].
	LeaseDuration time.Duration
	// RenewInterval is how often the executor renews its lease while it
	// works; it must be shorter than LeaseDuration. Default a third of it.
	RenewInterval time.Duration
	// MaxAttempts bounds the claims of one chunk whose leases lapsed: when
	// a chunk is claimed once more after MaxAttempts claims that ended with
	// its lease lapsing — executors died, hung or lost the store on it —
	// its conversations that have no item are recorded as failed items,
	// with a clear reason, rather than left to block the run. A chunk given
	// back (at shutdown, or after the store failed) does not count.
	// Default [DefaultMaxAttempts].
	MaxAttempts int
	// ItemTimeout bounds the model calls of one conversation; default
	// [DefaultItemTimeout].
	ItemTimeout time.Duration
	// PollInterval is how often an idle [Executor.Run] looks for work when
	// nothing wakes it; default [DefaultPollInterval].
	PollInterval time.Duration
	// Logger receives the executor's records; default none.
	Logger *slog.Logger
	// OnRunCompleted, when set, is called by the one executor, of all that
	// share a run, that completed it — for example [Alerter.RunCompleted],
	// so that alert rules are evaluated after every run that completes. It
	// runs on the goroutine that completed the run, with a context that the
	// executor's shutdown does not cancel; it should return promptly.
	OnRunCompleted func(ctx context.Context, scope Scope, runID string)
	// TracerProvider makes the executor's spans: one per run it works on,
	// per chunk and per conversation, each the parent of the next, and of
	// the spans of the model calls made with its context. nil means the
	// OpenTelemetry global provider, a no-op unless the host set one.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the executor's metrics (see [MetricItems] and
	// the other Metric* names). nil means the OpenTelemetry global
	// provider, a no-op unless the host set one.
	MeterProvider metric.MeterProvider
	// Prices, when set, prices the tokens the executor records as
	// [MetricTokens] into [MetricCost], by model key; a model without a
	// price is left out of the cost.
	Prices llm.PriceTable
	// Currency is the unit of [MetricCost]; default "USD".
	Currency string
}

// An Executor works on runs: it claims chunks of runs in progress,
// analyses their conversations with bounded concurrency, saves each item
// as it completes and completes each chunk, renewing its leases while it
// works. Any number of executors, in any number of processes, may share a
// store and work on one run at once: each chunk is held by one executor at
// a time, a chunk whose executor died is claimed again once its lease
// lapses, without redoing its finished items, and the run completes when
// its last chunk does.
//
// An executor claims a chunk only when one of its workers is free, so that
// it never holds work that idle executors could do, and it claims the next
// chunk as soon as a worker is free, so that its workers never wait for
// the slowest conversation of a chunk. It holds at most Concurrency chunks
// and reads a chunk's conversations at a time: its memory is bounded by
// Concurrency and the chunk size, whatever the size of the run.
//
// A model call that ignores its context cannot be stopped: when one has
// run for ItemTimeout and a lease more, the executor stops renewing its
// chunk, which another executor then takes over; the worker stays busy
// until the call returns, and its answer is dropped.
type Executor struct {
	cfg  ExecutorConfig
	wake chan struct{}
	tel  *telemetry

	mu       sync.Mutex
	jobs     map[jobKey]*job   // the prepared definitions of recent runs
	gaveBack map[chunkKey]bool // chunks given back after a store failure
}

type chunkKey struct {
	scope Scope
	runID string
	chunk int
}

// NewExecutor returns an executor for cfg.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	if cfg.Store == nil || cfg.Model == nil {
		return nil, errors.New("analysis: NewExecutor: a Store and a Model are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = schedule.SystemClock{}
	}
	if cfg.Owner == "" {
		cfg.Owner = NewUUID()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	cfg.LeaseDuration = positive(cfg.LeaseDuration, DefaultLeaseDuration)
	if cfg.LeaseDuration < time.Second {
		return nil, fmt.Errorf("analysis: NewExecutor: a lease of %s is too short: at least a second", cfg.LeaseDuration)
	}
	cfg.RenewInterval = positive(cfg.RenewInterval, cfg.LeaseDuration/3)
	if cfg.RenewInterval >= cfg.LeaseDuration {
		return nil, fmt.Errorf("analysis: NewExecutor: renewing every %s lets a lease of %s lapse", cfg.RenewInterval, cfg.LeaseDuration)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	cfg.ItemTimeout = positive(cfg.ItemTimeout, DefaultItemTimeout)
	cfg.PollInterval = positive(cfg.PollInterval, DefaultPollInterval)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Currency == "" {
		cfg.Currency = "USD"
	}
	return &Executor{cfg: cfg, wake: make(chan struct{}, 1), jobs: map[jobKey]*job{}, gaveBack: map[chunkKey]bool{},
		tel: newTelemetry(cfg.TracerProvider, cfg.MeterProvider, cfg.Prices, cfg.Currency)}, nil
}

func positive(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Wake makes an idle [Executor.Run] look for work at once. It never blocks.
func (e *Executor) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx is done, then returns nil: it drains every claimable
// chunk (see [Executor.Drain]), then waits for [Executor.Wake] or the poll
// interval. Chunks it holds when ctx ends are released, so that another
// executor resumes them at once; it returns once its model calls have
// (a call that ignores ctx delays it). Errors of the store are logged and
// retried at the next poll.
func (e *Executor) Run(ctx context.Context) error {
	for {
		_, err := e.work(ctx, 0)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, ErrLeaseLost):
			e.cfg.Logger.WarnContext(ctx, "analysis: executor lost a chunk", "owner", e.cfg.Owner, "error", err)
		case err != nil:
			e.cfg.Logger.ErrorContext(ctx, "analysis: executor", "owner", e.cfg.Owner, "error", err)
		}
		t := time.NewTimer(e.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-e.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce claims one chunk and works on it to its end, or until ctx ends
// or the lease is lost. It reports whether it claimed a chunk; the error
// reports a store failure or a lost lease.
func (e *Executor) RunOnce(ctx context.Context) (bool, error) {
	n, err := e.work(ctx, 1)
	return n > 0, err
}

// Drain claims and works on chunks until none is claimable — every run in
// progress is finished or its remaining chunks are held by other executors
// — or ctx ends, and returns the number of chunks it claimed. The error
// joins the store failures and lost leases met on the way.
func (e *Executor) Drain(ctx context.Context) (int, error) {
	return e.work(ctx, 0)
}

// job is what analysing the conversations of one run needs.
type job struct {
	def    Definition
	ex     *extract.Extractor
	grader *judge.Grader
	attrs  *jobAttrs
}

type jobKey struct {
	scope Scope
	runID string
}

// maxJobs bounds the prepared definitions an executor keeps.
const maxJobs = 64

// chunk is a claimed chunk while the executor works on it.
type chunk struct {
	claim  Claim
	job    *job
	ctx    context.Context
	cancel context.CancelCauseFunc
	span   trace.Span
	// open counts the conversations handed out and not yet saved, plus one
	// while the feeder is still handing them out; the chunk is finished
	// when it drops to 0.
	open atomic.Int32
	// saved counts the items saved; with all of them saved, a chunk is
	// completed even when the executor is shutting down.
	saved atomic.Int32

	mu       sync.Mutex
	inFlight map[string]time.Time // conversation key → when its analysis began
}

// begin and end bracket the analysis of one conversation of the chunk.
func (ch *chunk) begin(key string, now time.Time) {
	ch.mu.Lock()
	ch.inFlight[key] = now
	ch.mu.Unlock()
}

func (ch *chunk) end(key string) {
	ch.mu.Lock()
	delete(ch.inFlight, key)
	ch.mu.Unlock()
}

// oldest returns when the longest-running analysis of the chunk began.
func (ch *chunk) oldest() (time.Time, bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	var first time.Time
	for _, t := range ch.inFlight {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first, !first.IsZero()
}

type task struct {
	ch    *chunk
	key   string
	conv  Conversation
	found bool // false when the conversation was deleted
}

// pool is the fixed set of workers of one [Executor.work] call. The
// workers take their tasks themselves, one at a time, from the chunk being
// handed out; the worker that finds it empty claims the next one. So a
// chunk is claimed only when a worker is free — an executor never holds
// work that idle executors could do — and no worker waits on another
// goroutine to be handed its next conversation.
type pool struct {
	mu      sync.Mutex
	cur     *chunk // the chunk being handed out
	queue   []task // its conversations not yet taken
	claimed int
	limit   int  // the most chunks to claim; 0 for no limit
	done    bool // claim no more

	held        *heldChunks
	runs        *runSpans
	report      func(error)
	storeFailed atomic.Bool
}

// work claims up to limit chunks (0: as many as there are) and works on
// them with a fixed pool of Concurrency workers.
func (e *Executor) work(ctx context.Context, limit int) (int, error) {
	var (
		errMu sync.Mutex
		errs  []error
	)
	p := &pool{
		limit: limit, held: &heldChunks{m: map[*chunk]struct{}{}}, runs: &runSpans{t: e.tel, m: map[jobKey]*runSpan{}},
		report: func(err error) {
			errMu.Lock()
			errs = append(errs, err)
			errMu.Unlock()
		},
	}
	stopRenewal := e.renew(ctx, p.held)
	var workers sync.WaitGroup
	for range e.cfg.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				t, ok := e.next(ctx, p)
				if !ok {
					return
				}
				if t.ch.ctx.Err() == nil {
					t.ch.begin(t.key, e.cfg.Clock.Now())
					err := e.analyse(t.ch, t)
					t.ch.end(t.key)
					if err != nil {
						t.ch.cancel(err)
					} else {
						t.ch.saved.Add(1)
					}
				}
				e.release(ctx, t.ch, p)
			}
		}()
	}
	workers.Wait()
	stopRenewal()
	p.runs.endAll()
	return p.claimed, errors.Join(errs...)
}

// next returns the next conversation to analyse: the next of the chunk
// being handed out or, when it has none left, the first of a chunk it
// claims. ok is false when there is nothing more to do.
func (e *Executor) next(ctx context.Context, p *pool) (task, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if len(p.queue) > 0 {
			t := p.queue[0]
			p.queue[0] = task{} // the queue does not keep the conversation alive
			p.queue = p.queue[1:]
			return t, true
		}
		if p.cur != nil {
			ch := p.cur
			p.cur = nil
			e.release(ctx, ch, p) // the hand-out's own count
		}
		if p.done || ctx.Err() != nil || p.storeFailed.Load() || (p.limit > 0 && p.claimed >= p.limit) {
			p.done = true
			return task{}, false
		}
		c, ok, err := e.cfg.Store.ClaimChunk(ctx, e.cfg.Owner, e.cfg.LeaseDuration)
		if err != nil || !ok {
			if err != nil && ctx.Err() == nil {
				p.report(wrap(err, "claim a chunk"))
			}
			p.done = true
			return task{}, false
		}
		p.claimed++
		p.cur, p.queue = e.open(ctx, c, p)
	}
}

// open prepares a claimed chunk and returns it with the conversations to
// hand out; the chunk's open count holds one for the hand-out, released
// when the queue runs dry (or at once, when there is nothing to hand out).
func (e *Executor) open(ctx context.Context, c Claim, p *pool) (*chunk, []task) {
	ch := &chunk{claim: c, inFlight: map[string]time.Time{}}
	sctx, span := e.tel.tracer.Start(p.runs.start(ctx, c), spanChunk, trace.WithAttributes(
		attrRunID.String(c.RunID), attrChunk.Int(c.Chunk), attrChunkAttempt.Int(c.Attempt), attrChunkSize.Int(len(c.Keys))))
	ch.span = span
	ch.ctx, ch.cancel = context.WithCancelCause(sctx)
	ch.open.Store(1)
	p.held.add(ch)
	log := e.cfg.Logger.With("scope", c.Scope.String(), "run", c.RunID, "chunk", c.Chunk)

	j, reason, err := e.prepare(ch.ctx, c)
	if err != nil {
		ch.cancel(err)
		return ch, nil
	}
	if reason != "" {
		log.WarnContext(ctx, "analysis: run failed", "reason", reason)
		err := e.retry(ch.ctx, "fail the run", func(ctx context.Context) error {
			return e.cfg.Store.FailRun(ctx, c.ChunkRef, reason, e.cfg.Clock.Now().UTC())
		})
		if err != nil {
			ch.cancel(err)
			return ch, nil
		}
		p.runs.end(jobKey{c.Scope, c.RunID}, false, reason)
		ch.cancel(errRunEnded)
		return ch, nil
	}
	ch.job = j
	if c.Attempt > e.cfg.MaxAttempts {
		// Its leases keep lapsing — executors die, hang or lose the store
		// on it: record its conversations as failed rather than let it
		// block the run for ever.
		reason := fmt.Sprintf("the conversation's analysis was abandoned after %d attempts", e.cfg.MaxAttempts)
		log.WarnContext(ctx, "analysis: chunk abandoned", "attempt", c.Attempt, "conversations", len(c.Keys))
		for _, key := range c.Keys {
			it := Item{ConversationKey: key, ExtractedFields: map[string]any{}, Missing: []string{}, Error: reason, FinishedAt: e.cfg.Clock.Now().UTC()}
			if err := e.save(ch.ctx, c.ChunkRef, it, nil); err != nil {
				ch.cancel(err)
				return ch, nil
			}
			e.tel.item(ch.ctx, j.attrs, &it, "abandoned", -1)
			ch.saved.Add(1)
		}
		return ch, nil
	}
	var convs []Conversation
	err = e.retry(ch.ctx, "read the chunk's conversations", func(ctx context.Context) (err error) {
		convs, err = e.cfg.Store.GetConversations(ctx, c.Scope, c.Keys)
		return err
	})
	if err != nil {
		ch.cancel(err)
		return ch, nil
	}
	byKey := make(map[string]int, len(convs))
	for i := range convs {
		byKey[convs[i].Key] = i
	}
	queue := make([]task, len(c.Keys))
	for i, key := range c.Keys {
		queue[i] = task{ch: ch, key: key}
		if k, ok := byKey[key]; ok {
			queue[i].conv, queue[i].found = convs[k], true
		}
	}
	ch.open.Add(int32(len(queue)))
	return ch, queue
}

// errRunEnded stops a chunk whose run the executor failed.
var errRunEnded = errors.New("analysis: the run was ended")

// prepare returns the job of the claim's run — from the cache, or built
// from its definition — or the operator-safe reason the run cannot go on.
func (e *Executor) prepare(ctx context.Context, c Claim) (*job, string, error) {
	k := jobKey{c.Scope, c.RunID}
	e.mu.Lock()
	j := e.jobs[k]
	e.mu.Unlock()
	if j != nil {
		return j, "", nil
	}
	var d Definition
	err := e.retry(ctx, "read the definition", func(ctx context.Context) (err error) {
		d, err = e.cfg.Store.GetDefinition(ctx, c.Scope, c.DefinitionKey)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, "the definition was deleted", nil
	case err != nil:
		return nil, "", err
	case c.DefinitionVersion != 0 && d.Version != c.DefinitionVersion:
		return nil, "the definition changed while the run was in progress", nil
	case d.ExtractionModelKey == "":
		return nil, "the definition has no extraction model", nil
	}
	j = &job{def: d, attrs: e.tel.newJobAttrs(c.Scope, d.Key)}
	if j.ex, err = extract.New(extract.Config{FieldSet: d.FieldSet, Instructions: d.ExtractionInstructions, Model: d.ExtractionModelKey}); err != nil {
		return nil, "the definition's field set is invalid", nil
	}
	if jm := d.Modes.Judge; jm != nil {
		if j.grader, err = judge.New(judge.Config{Rubric: jm.Rubric, Threshold: jm.Threshold, Model: d.JudgeModelKey}); err != nil {
			return nil, "the definition's judge settings are invalid", nil
		}
	}
	e.mu.Lock()
	if len(e.jobs) >= maxJobs {
		clear(e.jobs)
	}
	e.jobs[k] = j
	e.mu.Unlock()
	return j, "", nil
}

// errStuck stops a chunk one of whose model calls outlived ItemTimeout by
// a lease: the call ignores its context, so the chunk's lease is left to
// lapse for another executor to take over.
var errStuck = errors.New("analysis: a model call did not return in time; the chunk is left to another executor")

// release drops one of the chunk's open counts; the last one finishes the
// chunk: it is completed when all went well, given back when the executor
// is shutting down or its store failed, and left to lapse when its lease
// was lost or a model call hung.
func (e *Executor) release(ctx context.Context, ch *chunk, p *pool) {
	if ch.open.Add(-1) != 0 {
		return
	}
	p.held.remove(ch)
	c := ch.claim
	cause := context.Cause(ch.ctx)
	defer ch.cancel(nil)
	complete := cause == nil ||
		// shutting down, but every conversation was saved: complete it
		(ch.job != nil && ctx.Err() != nil && errors.Is(cause, context.Cause(ctx)) && int(ch.saved.Load()) == len(c.Keys))
	bg := context.WithoutCancel(ch.ctx)
	outcome, runDone := "given_back", false
	defer func() {
		ch.span.SetAttributes(attrChunkOutcome.String(outcome))
		if outcome != chunkOutcomeComplete && outcome != "run_ended" && outcome != "given_back" {
			ch.span.SetStatus(codes.Error, outcome)
		}
		ch.span.End()
		p.runs.release(jobKey{c.Scope, c.RunID})
		if runDone {
			p.runs.end(jobKey{c.Scope, c.RunID}, true, "")
		}
	}()
	switch {
	case complete:
		cctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		var finished bool
		err := e.retry(cctx, "complete the chunk", func(ctx context.Context) (err error) {
			finished, err = e.cfg.Store.CompleteChunk(ctx, c.ChunkRef, e.cfg.Clock.Now().UTC())
			return err
		})
		switch {
		case err != nil:
			outcome = "store_failed"
			p.report(wrap(err, "complete chunk %d of run %s", c.Chunk, c.RunID))
		case finished:
			outcome, runDone = chunkOutcomeComplete, true
			e.cfg.Logger.InfoContext(ctx, "analysis: run completed", "scope", c.Scope.String(), "run", c.RunID)
			e.mu.Lock()
			delete(e.jobs, jobKey{c.Scope, c.RunID})
			e.mu.Unlock()
			if e.cfg.OnRunCompleted != nil {
				e.cfg.OnRunCompleted(bg, c.Scope, c.RunID)
			}
		default:
			outcome = chunkOutcomeComplete
		}
	case errors.Is(cause, errRunEnded):
		outcome = "run_ended"
	case errors.Is(cause, ErrLeaseLost):
		outcome = "lease_lost"
		p.report(wrap(cause, "chunk %d of run %s", c.Chunk, c.RunID))
	case errors.Is(cause, errStuck):
		outcome = "stuck"
		p.report(wrap(cause, "chunk %d of run %s", c.Chunk, c.RunID))
	default:
		// Shutting down, or the store failed: give the chunk back, so that
		// it is resumed at once and without counting an attempt — but only
		// once after a store failure: a chunk the store keeps failing on is
		// left to lapse, so that its attempts count and it cannot hold the
		// run for ever.
		if ctx.Err() == nil {
			outcome = "store_failed"
			p.storeFailed.Store(true) // claim no more until the next poll
			p.report(wrap(cause, "chunk %d of run %s", c.Chunk, c.RunID))
			k := chunkKey{c.Scope, c.RunID, c.Chunk}
			e.mu.Lock()
			again := e.gaveBack[k]
			if len(e.gaveBack) >= maxJobs*16 {
				clear(e.gaveBack)
			}
			e.gaveBack[k] = !again
			e.mu.Unlock()
			if again {
				return
			}
		}
		rctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		if err := e.cfg.Store.ReleaseChunk(rctx, c.ChunkRef); err != nil && !errors.Is(err, ErrLeaseLost) {
			e.cfg.Logger.WarnContext(ctx, "analysis: releasing a chunk failed; its lease will lapse", "run", c.RunID, "chunk", c.Chunk, "error", err)
		}
	}
}

// heldChunks are the chunks an executor works on, for lease renewal.
type heldChunks struct {
	mu sync.Mutex
	m  map[*chunk]struct{}
}

func (h *heldChunks) add(ch *chunk) {
	h.mu.Lock()
	h.m[ch] = struct{}{}
	h.mu.Unlock()
}

func (h *heldChunks) remove(ch *chunk) {
	h.mu.Lock()
	delete(h.m, ch)
	h.mu.Unlock()
}

func (h *heldChunks) list() []*chunk {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*chunk, 0, len(h.m))
	for ch := range h.m {
		out = append(out, ch)
	}
	return out
}

// renew renews the leases of the held chunks every RenewInterval until the
// returned function is called; a lost lease stops its chunk. A chunk whose
// oldest model call has run for ItemTimeout and a lease more — a call that
// ignores its context — is no longer renewed, so that another executor
// takes it over.
func (e *Executor) renew(ctx context.Context, held *heldChunks) (stop func()) {
	stopped := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(e.cfg.RenewInterval)
		defer t.Stop()
		for {
			select {
			case <-stopped:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// One deadline for the whole pass: a store call that hangs for one
			// chunk must not hold back the renewal of the others for long.
			deadline := time.Now().Add(min(e.cfg.LeaseDuration/3, max(e.cfg.RenewInterval, time.Second)))
			for _, ch := range held.list() {
				if began, ok := ch.oldest(); ok && e.cfg.Clock.Now().Sub(began) > e.cfg.ItemTimeout+e.cfg.LeaseDuration {
					e.cfg.Logger.WarnContext(ctx, "analysis: a model call outlived its timeout; leaving the chunk to lapse",
						"run", ch.claim.RunID, "chunk", ch.claim.Chunk, "since", began)
					ch.cancel(errStuck)
					held.remove(ch) // warned once; renewed no more
					continue
				}
				rctx, cancel := context.WithDeadline(ch.ctx, deadline)
				err := e.cfg.Store.RenewChunk(rctx, ch.claim.ChunkRef, e.cfg.LeaseDuration)
				cancel()
				switch {
				case errors.Is(err, ErrLeaseLost):
					ch.cancel(ErrLeaseLost)
				case err != nil && ch.ctx.Err() == nil:
					e.cfg.Logger.WarnContext(ctx, "analysis: lease renewal failed", "run", ch.claim.RunID, "chunk", ch.claim.Chunk, "error", err)
				}
			}
		}
	}()
	return func() {
		close(stopped)
		<-finished
	}
}

// analyse analyses one conversation and saves its item. It returns an error
// only when the chunk cannot go on: its context ended, the lease was lost
// or the store failed. A failing model makes a failed item, not an error.
func (e *Executor) analyse(ch *chunk, t task) (err error) {
	j := ch.job
	began := time.Now()
	ctx, span := e.tel.tracer.Start(ch.ctx, spanConversation)
	recording := span.IsRecording() // attributes are built only for a span that keeps them
	if recording {
		span.SetAttributes(attrRunID.String(ch.claim.RunID), attrConversationKey.String(t.key))
	}
	item := Item{ConversationKey: t.key, ExtractedFields: map[string]any{}, Missing: []string{}}
	var class string
	defer func() {
		switch {
		case err != nil:
			why, class := notSaved(context.Cause(ch.ctx), err)
			span.SetAttributes(attrErrorType.String(class))
			span.SetStatus(codes.Error, "the item was not saved: "+why)
		default:
			e.tel.item(ctx, j.attrs, &item, class, time.Since(began))
			if !recording {
				break
			}
			span.SetAttributes(attrInputTokens.Int64(item.Usage.InputTokens), attrOutputTokens.Int64(item.Usage.OutputTokens))
			if item.Error != "" {
				span.SetAttributes(attrItemStatus.String(itemStatusFailed), attrErrorType.String(class))
				span.SetStatus(codes.Error, item.Error)
			} else {
				span.SetAttributes(attrItemStatus.String(itemStatusCompleted), attrItemPassed.Bool(item.Passed))
				if item.JudgeError != "" {
					span.SetAttributes(attrErrorType.String(class))
				}
			}
		}
		span.End()
	}()
	if !t.found {
		item.Error, class = "the conversation was deleted", "deleted"
	} else if class, err = e.analyseConversation(ctx, ch.claim.RunID, j, t.conv, &item); err != nil {
		return err
	}
	item.FinishedAt = e.cfg.Clock.Now().UTC()
	var write *FieldsWrite
	if j.def.Modes.Store && item.Error == "" {
		write = &FieldsWrite{Fields: item.ExtractedFields, At: item.FinishedAt}
	}
	return e.save(ctx, ch.claim.ChunkRef, item, write)
}

// notSaved says, in operator-safe words and as an error.type, why a
// conversation's item was not saved: err is what stopped it, cause the
// cause of its chunk's end, if it ended.
func notSaved(cause, err error) (why, class string) {
	for _, e := range []error{cause, err} {
		switch {
		case e == nil:
		case errors.Is(e, ErrLeaseLost):
			return "the chunk's lease was lost (the run was cancelled, or another executor took the chunk over)", "lease_lost"
		case errors.Is(e, errStuck):
			return "a model call did not return in time; the chunk is left to another executor", "stuck"
		case errors.Is(e, errRunEnded):
			return "the run was ended", "run_ended"
		case errors.Is(e, context.DeadlineExceeded):
			return "the executor's deadline passed", "timeout"
		case errors.Is(e, context.Canceled):
			return "the executor stopped; the chunk is given back", "canceled"
		}
	}
	return "the store failed", "store"
}

// storeAttempts bounds the tries of one store call; storeBackoff is the
// wait before the second, doubling after.
const (
	storeAttempts = 3
	storeBackoff  = 100 * time.Millisecond
)

// save saves the item, trying again after a passing store failure.
func (e *Executor) save(ctx context.Context, ref ChunkRef, item Item, write *FieldsWrite) error {
	return e.retry(ctx, "save an item", func(ctx context.Context) error {
		return e.cfg.Store.SaveItem(ctx, ref, item, write)
	})
}

// retry calls fn until it succeeds, trying again after a store failure
// that is neither a lost lease nor the end of ctx, so that one hiccup does
// not cost the chunk.
func (e *Executor) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	wait := storeBackoff
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) ||
			ctx.Err() != nil || attempt == storeAttempts {
			return err
		}
		e.cfg.Logger.WarnContext(ctx, "analysis: the store failed; trying again", "call", what, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

// class is the error.type of the failure of its extraction, or else of its
// judging, when one failed (see [llm.ErrorType]).
func (e *Executor) analyseConversation(ctx context.Context, runID string, j *job, conv Conversation, item *Item) (class string, _ error) {
	itemCtx, cancel := context.WithTimeout(ctx, e.cfg.ItemTimeout)
	defer cancel()
	prepared, err := prepareConversation(conv, item) // rendered once, for extraction and judge
	if err != nil {
		item.Error = ItemReason("extraction", err)
		e.cfg.Logger.WarnContext(ctx, "analysis: the transcript cannot be analysed", "run", runID, "conversation", conv.Key, "error", err)
		return "invalid_conversation", nil
	}
	res, err := j.ex.ExtractPrepared(itemCtx, e.cfg.Model, prepared)
	item.Usage = res.Usage
	e.tel.spend(ctx, j.attrs, j.def.ExtractionModelKey, res.Usage)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		item.Error = ItemReason("extraction", err)
		e.cfg.Logger.WarnContext(ctx, "analysis: extraction failed", "run", runID, "conversation", conv.Key, "error", llm.SafeText(err))
		return llm.ErrorType(err), nil
	}
	item.ExtractedFields, item.Missing = res.Fields, res.Missing
	item.Unexplained = unexplainedFindings(j.def.FieldSet, res.Fields, item.Findings)
	if len(res.Invalid) > 0 {
		item.Invalid = res.Invalid
	}
	if len(res.Extra) > 0 {
		item.Extra = res.Extra
	}
	if j.grader != nil {
		v, err := j.grader.GradePrepared(itemCtx, e.cfg.Model, prepared)
		item.Usage = item.Usage.Add(v.Usage)
		e.tel.spend(ctx, j.attrs, j.def.JudgeModelKey, v.Usage)
		switch {
		case err != nil && ctx.Err() != nil:
			return "", ctx.Err()
		case err != nil:
			class = llm.ErrorType(err)
			item.JudgeError = ItemReason("judge", err)
			e.cfg.Logger.WarnContext(ctx, "analysis: judging failed", "run", runID, "conversation", conv.Key, "error", llm.SafeText(err))
		default:
			item.Judge = &ItemJudge{Score: v.Score, Passed: v.Passed, Reasoning: v.Reasoning, DroppedEvidence: v.DroppedEvidence}
		}
	}
	if j.def.Modes.Accuracy {
		acc := accuracy.Compare(j.def.FieldSet, res.Fields, conv.ReferenceFields, accuracy.Options{})
		item.Accuracy = &acc
	}
	item.Passed = len(item.Missing) == 0 && len(item.Unexplained) == 0 && (j.grader == nil || (item.Judge != nil && item.Judge.Passed))
	return class, nil
}

// prepareConversation validates and renders conv once for its extraction
// and grading: with its evidence, when it has some, after the transcript,
// and the findings of the deterministic checks, which it records on item.
func prepareConversation(conv Conversation, item *Item) (extract.Prepared, error) {
	if conv.Evidence == nil {
		return extract.Prepare(conv.Transcript)
	}
	item.Findings = CheckEvidence(conv)
	raw, err := renderEvidence(conv.Evidence, item.Findings)
	if err != nil {
		return extract.Prepared{}, err
	}
	return extract.PrepareWithEvidence(conv.Transcript, raw)
}

// ItemReason is the reason an item records when step ("extraction" or
// "judge") failed with err: the step, [OperatorMessage]'s sentence and, for
// an answer that did not fit its schema, the schema, the attempts and the
// first problems with their JSON paths and what was expected (a message
// that quotes anything, which may be the model's own text, is left out and
// the path alone given); for an error
// of no known class, its Go type ([llm.SafeText]). It never repeats what a
// provider wrote.
func ItemReason(step string, err error) string {
	msg := step + ": " + OperatorMessage(err)
	var inv *llm.InvalidOutputError
	switch {
	case errors.As(err, &inv):
		var b strings.Builder
		fmt.Fprintf(&b, "%s (schema %q, %d attempt(s))", msg, inv.Schema, inv.Attempts)
		for i, p := range inv.Problems {
			if i == maxReasonProblems {
				fmt.Fprintf(&b, " and %d more", len(inv.Problems)-i)
				break
			}
			sep := "; "
			if i == 0 {
				sep = ": "
			}
			b.WriteString(sep + p.Path)
			if text := problemText(p.Message); text != "" {
				b.WriteString(": " + clip(text, maxReasonProblemLen))
			}
		}
		return b.String()
	case msg == step+": the model call failed":
		return msg + " (" + llm.SafeText(err) + ")"
	}
	return msg
}

// problemText returns what an item's reason says of a schema problem: the
// validator's message when it quotes nothing, or quotes only what the
// schema itself names (a missing member, the allowed values); a fixed
// sentence for a member the schema does not declare (its name is the
// model's); "" for any other message that quotes, since a quoted value may
// be the model's own text.
func problemText(msg string) string {
	switch {
	case !strings.ContainsAny(msg, `'"`+"`"):
		return msg
	case strings.HasPrefix(msg, "missing property "), strings.HasPrefix(msg, "missing properties "),
		strings.HasPrefix(msg, "value must be "):
		return msg
	case strings.HasPrefix(msg, "additional properties ") || strings.HasPrefix(msg, "additional property "):
		return "a member the schema does not declare"
	}
	return ""
}

// An item's reason lists at most maxReasonProblems problems, each message
// cut to maxReasonProblemLen bytes.
const (
	maxReasonProblems   = 3
	maxReasonProblemLen = 120
)

// clip cuts s to at most n bytes, at a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// isTimeout reports a network timeout an adapter left unclassified, such
// as an HTTP client's own.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// OperatorMessage turns an error of a model call into a fixed sentence fit
// for an operator's eyes: it says what kind of failure happened and never
// repeats the provider's text, a key, a URL or a stack.
func OperatorMessage(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "the model call timed out"
	case errors.Is(err, context.Canceled):
		return "the model call was cancelled"
	case errors.Is(err, llm.ErrRateLimited):
		return "the model provider rate-limited the request"
	case errors.Is(err, llm.ErrTransient):
		return "the model provider failed temporarily"
	case errors.Is(err, llm.ErrRefused):
		return "the model refused to answer"
	case errors.Is(err, llm.ErrContextTooLong):
		return "the conversation is too long for the model's context window"
	case errors.Is(err, llm.ErrOutputTruncated):
		return "the model's answer was cut off by its output token limit"
	case errors.Is(err, llm.ErrInvalidOutput):
		return "the model's answer did not match the expected format"
	case errors.Is(err, ErrInvalid):
		return "the conversation's transcript is invalid"
	}
	return "the model call failed"
}
