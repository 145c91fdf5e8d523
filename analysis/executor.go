package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
	// MaxAttempts bounds how many times executors may claim one chunk of a
	// run: when executors keep dying on a chunk, its conversations that
	// have no item are recorded as failed items, with a clear reason,
	// rather than left to block the run. A chunk given back at shutdown
	// does not count. Default [DefaultMaxAttempts].
	MaxAttempts int
	// ItemTimeout bounds the model calls of one conversation; default
	// [DefaultItemTimeout].
	ItemTimeout time.Duration
	// PollInterval is how often an idle [Executor.Run] looks for work when
	// nothing wakes it; default [DefaultPollInterval].
	PollInterval time.Duration
	// Logger receives the executor's records; default none.
	Logger *slog.Logger
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
// An executor keeps one chunk feeding its workers and claims the next as
// soon as every conversation of the current one has been handed out, so
// its workers never wait for the slowest conversation of a chunk; its
// memory is bounded by Concurrency and the chunk size, whatever the size
// of the run.
type Executor struct {
	cfg  ExecutorConfig
	wake chan struct{}

	mu   sync.Mutex
	jobs map[jobKey]*job // the prepared definitions of recent runs
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
	return &Executor{cfg: cfg, wake: make(chan struct{}, 1), jobs: map[jobKey]*job{}}, nil
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
// executor resumes them at once. Errors of the store are logged and
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
	// open counts the conversations handed out and not yet saved, plus one
	// while the feeder is still handing them out; the chunk is finished
	// when it drops to 0.
	open atomic.Int32
	// saved counts the items saved; with all of them saved, a chunk is
	// completed even when the executor is shutting down.
	saved atomic.Int32
}

type task struct {
	ch   *chunk
	key  string
	conv *Conversation // nil when the conversation was deleted
}

// work claims up to limit chunks (0: as many as there are) and works on
// them with a fixed pool of Concurrency workers.
func (e *Executor) work(ctx context.Context, limit int) (int, error) {
	var (
		errMu sync.Mutex
		errs  []error
	)
	report := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	held := &heldChunks{m: map[*chunk]struct{}{}}
	tasks := make(chan task)
	var workers sync.WaitGroup
	for range e.cfg.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for t := range tasks {
				if t.ch.ctx.Err() == nil {
					if err := e.analyse(t.ch, t.key, t.conv); err != nil {
						t.ch.cancel(err)
					} else {
						t.ch.saved.Add(1)
					}
				}
				e.release(ctx, t.ch, held, report)
			}
		}()
	}
	stopRenewal := e.renew(ctx, held)
	claimed := 0
	for limit == 0 || claimed < limit {
		if ctx.Err() != nil {
			break
		}
		c, ok, err := e.cfg.Store.ClaimChunk(ctx, e.cfg.Owner, e.cfg.LeaseDuration)
		if err != nil {
			if ctx.Err() == nil {
				report(fmt.Errorf("analysis: claim a chunk: %w", err))
			}
			break
		}
		if !ok {
			break
		}
		claimed++
		e.feed(ctx, c, tasks, held, report)
	}
	close(tasks)
	workers.Wait()
	stopRenewal()
	return claimed, errors.Join(errs...)
}

// feed prepares a claimed chunk and hands its conversations to the
// workers; it returns once all are handed out.
func (e *Executor) feed(ctx context.Context, c Claim, tasks chan<- task, held *heldChunks, report func(error)) {
	ch := &chunk{claim: c}
	ch.ctx, ch.cancel = context.WithCancelCause(ctx)
	ch.open.Store(1)
	held.add(ch)
	defer e.release(ctx, ch, held, report) // the feeder's own count
	log := e.cfg.Logger.With("scope", c.Scope.String(), "run", c.RunID, "chunk", c.Chunk)

	j, reason, err := e.prepare(ch.ctx, c)
	if err != nil {
		ch.cancel(err)
		return
	}
	if reason != "" {
		log.WarnContext(ctx, "analysis: run failed", "reason", reason)
		if err := e.cfg.Store.FailRun(ch.ctx, c.ChunkRef, reason, e.cfg.Clock.Now().UTC()); err != nil {
			ch.cancel(err)
			return
		}
		ch.cancel(errRunEnded)
		return
	}
	ch.job = j
	if c.Attempt > e.cfg.MaxAttempts {
		// Executors keep dying on this chunk: record its conversations as
		// failed rather than let it block the run for ever.
		reason := fmt.Sprintf("the conversation's analysis was abandoned after %d attempts", e.cfg.MaxAttempts)
		log.WarnContext(ctx, "analysis: chunk abandoned", "attempt", c.Attempt, "conversations", len(c.Keys))
		for _, key := range c.Keys {
			it := Item{ConversationKey: key, ExtractedFields: map[string]any{}, Missing: []string{}, Error: reason, FinishedAt: e.cfg.Clock.Now().UTC()}
			if err := e.save(ch.ctx, c.ChunkRef, it, nil); err != nil {
				ch.cancel(err)
				return
			}
			ch.saved.Add(1)
		}
		return
	}
	convs, err := e.cfg.Store.GetConversations(ch.ctx, c.Scope, c.Keys)
	if err != nil {
		ch.cancel(err)
		return
	}
	byKey := make(map[string]*Conversation, len(convs))
	for i := range convs {
		byKey[convs[i].Key] = &convs[i]
	}
	for _, key := range c.Keys {
		ch.open.Add(1)
		select {
		case tasks <- task{ch: ch, key: key, conv: byKey[key]}:
		case <-ch.ctx.Done():
			ch.open.Add(-1)
			return
		}
	}
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
	d, err := e.cfg.Store.GetDefinition(ctx, c.Scope, c.DefinitionKey)
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
	j = &job{def: d}
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

// release drops one of the chunk's open counts; the last one finishes the
// chunk: it is completed when all went well, given back when the executor
// is shutting down, and left to lapse when its lease was lost or the store
// failed.
func (e *Executor) release(ctx context.Context, ch *chunk, held *heldChunks, report func(error)) {
	if ch.open.Add(-1) != 0 {
		return
	}
	held.remove(ch)
	c := ch.claim
	cause := context.Cause(ch.ctx)
	defer ch.cancel(nil)
	complete := cause == nil ||
		// shutting down, but every conversation was saved: complete it
		(ch.job != nil && ctx.Err() != nil && errors.Is(cause, ctx.Err()) && int(ch.saved.Load()) == len(c.Keys))
	switch {
	case complete:
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ch.ctx), 10*time.Second)
		defer cancel()
		finished, err := e.cfg.Store.CompleteChunk(cctx, c.ChunkRef, e.cfg.Clock.Now().UTC())
		switch {
		case err != nil:
			report(fmt.Errorf("analysis: complete chunk %d of run %s: %w", c.Chunk, c.RunID, err))
		case finished:
			e.cfg.Logger.InfoContext(ctx, "analysis: run completed", "scope", c.Scope.String(), "run", c.RunID)
			e.mu.Lock()
			delete(e.jobs, jobKey{c.Scope, c.RunID})
			e.mu.Unlock()
		}
	case errors.Is(cause, errRunEnded):
	case ctx.Err() != nil && !errors.Is(cause, ErrLeaseLost):
		// Shutting down: give the chunk back, so that another executor
		// resumes it at once and without counting an attempt.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := e.cfg.Store.ReleaseChunk(rctx, c.ChunkRef); err != nil && !errors.Is(err, ErrLeaseLost) {
			e.cfg.Logger.WarnContext(ctx, "analysis: releasing a chunk failed; its lease will lapse", "run", c.RunID, "chunk", c.Chunk, "error", err)
		}
	default:
		report(fmt.Errorf("analysis: chunk %d of run %s: %w", c.Chunk, c.RunID, cause))
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
// returned function is called; a lost lease stops its chunk.
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
			for _, ch := range held.list() {
				err := e.cfg.Store.RenewChunk(ch.ctx, ch.claim.ChunkRef, e.cfg.LeaseDuration)
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
func (e *Executor) analyse(ch *chunk, key string, conv *Conversation) error {
	ctx, j := ch.ctx, ch.job
	item := Item{ConversationKey: key, ExtractedFields: map[string]any{}, Missing: []string{}}
	if conv == nil {
		item.Error = "the conversation was deleted"
	} else if err := e.analyseConversation(ctx, ch.claim.RunID, j, *conv, &item); err != nil {
		return err
	}
	item.FinishedAt = e.cfg.Clock.Now().UTC()
	var write *FieldsWrite
	if j.def.Modes.Store && item.Error == "" {
		write = &FieldsWrite{Fields: item.ExtractedFields, At: item.FinishedAt}
	}
	return e.save(ctx, ch.claim.ChunkRef, item, write)
}

// saveAttempts bounds the tries of one SaveItem; saveBackoff is the wait
// before the second, doubling after.
const (
	saveAttempts = 3
	saveBackoff  = 100 * time.Millisecond
)

// save saves the item, trying again after a store failure that is neither
// a lost lease nor the end of ctx, so that one hiccup does not abort the run.
func (e *Executor) save(ctx context.Context, ref ChunkRef, item Item, write *FieldsWrite) error {
	wait := saveBackoff
	for attempt := 1; ; attempt++ {
		err := e.cfg.Store.SaveItem(ctx, ref, item, write)
		if err == nil || errors.Is(err, ErrLeaseLost) || ctx.Err() != nil || attempt == saveAttempts {
			return err
		}
		e.cfg.Logger.WarnContext(ctx, "analysis: saving an item failed; trying again", "run", ref.RunID,
			"conversation", item.ConversationKey, "error", err)
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

func (e *Executor) analyseConversation(ctx context.Context, runID string, j *job, conv Conversation, item *Item) error {
	itemCtx, cancel := context.WithTimeout(ctx, e.cfg.ItemTimeout)
	defer cancel()
	res, err := j.ex.Extract(itemCtx, e.cfg.Model, conv.Transcript)
	item.Usage = res.Usage
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		item.Error = OperatorMessage(err)
		e.cfg.Logger.WarnContext(ctx, "analysis: extraction failed", "run", runID, "conversation", conv.Key, "error", err)
		return nil
	}
	item.ExtractedFields, item.Missing = res.Fields, res.Missing
	if len(res.Invalid) > 0 {
		item.Invalid = res.Invalid
	}
	if len(res.Extra) > 0 {
		item.Extra = res.Extra
	}
	if j.grader != nil {
		v, err := j.grader.Grade(itemCtx, e.cfg.Model, conv.Transcript)
		item.Usage = item.Usage.Add(v.Usage)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			item.JudgeError = OperatorMessage(err)
			e.cfg.Logger.WarnContext(ctx, "analysis: judging failed", "run", runID, "conversation", conv.Key, "error", err)
		default:
			item.Judge = &ItemJudge{Score: v.Score, Passed: v.Passed, Reasoning: v.Reasoning, DroppedEvidence: v.DroppedEvidence}
		}
	}
	if j.def.Modes.Accuracy {
		acc := accuracy.Compare(j.def.FieldSet, res.Fields, conv.ReferenceFields, accuracy.Options{})
		item.Accuracy = &acc
	}
	item.Passed = len(item.Missing) == 0 && (j.grader == nil || (item.Judge != nil && item.Judge.Passed))
	return nil
}

// OperatorMessage turns an error of a model call into a fixed sentence fit
// for an operator's eyes: it says what kind of failure happened and never
// repeats the provider's text, a key, a URL or a stack.
func OperatorMessage(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
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
