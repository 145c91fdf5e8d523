package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

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
	// LeaseDuration is how long a claim on a run lasts without renewal, at
	// least a second. Default [DefaultLeaseDuration].
	LeaseDuration time.Duration
	// RenewInterval is how often the executor renews its lease while it
	// works; it must be shorter than LeaseDuration. Default a third of it.
	RenewInterval time.Duration
	// MaxAttempts bounds how many times executors may take a run up; a run
	// whose executors keep dying is failed with a clear reason rather than
	// left running, blocking new runs. Default [DefaultMaxAttempts].
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

// An Executor processes runs: it claims a pending run (or one whose
// executor died), analyses its conversations with bounded concurrency,
// saves each item as it completes, renews its lease while it works, and
// finishes the run with its aggregate. Any number of executors, in any
// number of processes, may share a store: each run is processed by one at a
// time, and a run taken over resumes where its last executor stopped,
// without redoing finished items.
type Executor struct {
	cfg  ExecutorConfig
	wake chan struct{}
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
	return &Executor{cfg: cfg, wake: make(chan struct{}, 1)}, nil
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

// Run processes runs until ctx is done, then returns nil. A run it is
// working on when ctx ends is left running: its lease lapses and another
// executor resumes it. Errors of the store are logged and retried at the
// next poll.
func (e *Executor) Run(ctx context.Context) error {
	for {
		processed, err := e.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			e.cfg.Logger.ErrorContext(ctx, "analysis: executor", "owner", e.cfg.Owner, "error", err)
		}
		if processed {
			continue
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

// RunOnce claims one run and processes it to its end, or until ctx ends or
// the lease is lost. It reports whether it claimed a run.
func (e *Executor) RunOnce(ctx context.Context) (bool, error) {
	now := e.cfg.Clock.Now().UTC()
	scope, run, ok, err := e.cfg.Store.ClaimRun(ctx, e.cfg.Owner, now, now.Add(e.cfg.LeaseDuration))
	if err != nil || !ok {
		return false, err
	}
	return true, e.process(ctx, scope, run)
}

// fail ends the run as failed with an operator-safe reason.
func (e *Executor) fail(ctx context.Context, scope Scope, run Run, reason string) error {
	e.cfg.Logger.WarnContext(ctx, "analysis: run failed", "scope", scope.String(), "run", run.ID, "reason", reason)
	return e.cfg.Store.FinishRun(ctx, scope, run.ID, e.cfg.Owner, Finish{
		Status: RunFailed, Aggregate: Summarize(len(run.ConversationKeys), run.Items), Error: reason, At: e.cfg.Clock.Now().UTC(),
	})
}

// job is what analysing one conversation of a run needs.
type job struct {
	scope  Scope
	run    Run
	def    Definition
	ex     *extract.Extractor
	grader *judge.Grader
}

func (e *Executor) process(ctx context.Context, scope Scope, run Run) error {
	done := map[string]bool{}
	for _, it := range run.Items {
		done[it.ConversationKey] = true
	}
	remaining := 0
	for _, key := range run.ConversationKeys {
		if !done[key] {
			remaining++
		}
	}
	if run.Lease.Attempts > e.cfg.MaxAttempts && remaining > 0 {
		return e.fail(ctx, scope, run, fmt.Sprintf("the run was taken up %d times without finishing; giving up", e.cfg.MaxAttempts))
	}
	j := job{scope: scope, run: run}
	var err error
	j.def, err = e.cfg.Store.GetDefinition(ctx, scope, run.DefinitionKey)
	if errors.Is(err, ErrNotFound) {
		return e.fail(ctx, scope, run, "the definition was deleted")
	}
	if err != nil {
		return err
	}
	if j.def.ExtractionModelKey == "" {
		return e.fail(ctx, scope, run, "the definition has no extraction model")
	}
	if j.ex, err = extract.New(extract.Config{FieldSet: j.def.FieldSet, Instructions: j.def.ExtractionInstructions, Model: j.def.ExtractionModelKey}); err != nil {
		return e.fail(ctx, scope, run, "the definition's field set is invalid")
	}
	if jm := j.def.Modes.Judge; jm != nil {
		if j.grader, err = judge.New(judge.Config{Rubric: jm.Rubric, Threshold: jm.Threshold, Model: j.def.JudgeModelKey}); err != nil {
			return e.fail(ctx, scope, run, "the definition's judge settings are invalid")
		}
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopRenewal := e.renewLease(runCtx, cancel, scope, run.ID)
	// A fixed pool of workers, rather than a goroutine per conversation:
	// bounded, and each worker's stack grows once, not once per item.
	todo := make(chan string)
	grp, gctx := errgroup.WithContext(runCtx)
	for range min(e.cfg.Concurrency, max(remaining, 1)) {
		grp.Go(func() error {
			for key := range todo {
				if err := e.analyse(gctx, j, key); err != nil {
					return err
				}
			}
			return nil
		})
	}
feed:
	for _, key := range run.ConversationKeys {
		if done[key] {
			continue
		}
		select {
		case todo <- key:
		case <-gctx.Done():
			break feed
		}
	}
	close(todo)
	err = grp.Wait()
	stopRenewal()
	if cause := context.Cause(runCtx); cause != nil {
		if errors.Is(cause, ErrLeaseLost) {
			return cause
		}
		// Cancelled: give the run back, so that another executor resumes it
		// at once and without counting an attempt.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer rcancel()
		if err := e.cfg.Store.ReleaseRun(rctx, scope, run.ID, e.cfg.Owner); err != nil && !errors.Is(err, ErrLeaseLost) {
			e.cfg.Logger.WarnContext(ctx, "analysis: releasing the run failed; its lease will lapse", "run", run.ID, "error", err)
		}
		return nil
	}
	if err != nil {
		return err // the store failed: the run is resumed once the lease lapses
	}
	final, err := e.cfg.Store.GetRun(ctx, scope, run.ID)
	if err != nil {
		return err
	}
	return e.cfg.Store.FinishRun(ctx, scope, run.ID, e.cfg.Owner, Finish{
		Status: RunCompleted, Aggregate: Summarize(len(final.ConversationKeys), final.Items), At: e.cfg.Clock.Now().UTC(),
	})
}

// renewLease renews the lease on the run every RenewInterval until
// the returned function is called; a lost lease cancels the run's context.
func (e *Executor) renewLease(ctx context.Context, cancel context.CancelCauseFunc, scope Scope, runID string) (stop func()) {
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
				until := e.cfg.Clock.Now().UTC().Add(e.cfg.LeaseDuration)
				err := e.cfg.Store.RenewLease(ctx, scope, runID, e.cfg.Owner, until)
				switch {
				case errors.Is(err, ErrLeaseLost):
					cancel(ErrLeaseLost)
					return
				case err != nil && ctx.Err() == nil:
					e.cfg.Logger.WarnContext(ctx, "analysis: lease renewal failed", "run", runID, "error", err)
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
// only when the run cannot go on: its context ended, the lease was lost or
// the store failed. A failing model makes a failed item, not an error.
func (e *Executor) analyse(ctx context.Context, j job, key string) error {
	item := Item{ConversationKey: key, ExtractedFields: map[string]any{}, Missing: []string{}}
	conv, err := e.cfg.Store.GetConversation(ctx, j.scope, key)
	switch {
	case errors.Is(err, ErrNotFound):
		item.Error = "the conversation was deleted"
	case err != nil:
		return err
	default:
		if err := e.analyseConversation(ctx, j, conv, &item); err != nil {
			return err
		}
	}
	item.FinishedAt = e.cfg.Clock.Now().UTC()
	var write *FieldsWrite
	if j.def.Modes.Store && item.Error == "" {
		write = &FieldsWrite{Fields: item.ExtractedFields, At: item.FinishedAt}
	}
	return e.save(ctx, j, item, write)
}

// saveAttempts bounds the tries of one SaveItem; saveBackoff is the wait
// before the second, doubling after.
const (
	saveAttempts = 3
	saveBackoff  = 100 * time.Millisecond
)

// save saves the item, trying again after a store failure that is neither
// a lost lease nor the end of ctx, so that one hiccup does not abort the run.
func (e *Executor) save(ctx context.Context, j job, item Item, write *FieldsWrite) error {
	wait := saveBackoff
	for attempt := 1; ; attempt++ {
		err := e.cfg.Store.SaveItem(ctx, j.scope, j.run.ID, e.cfg.Owner, item, write)
		if err == nil || errors.Is(err, ErrLeaseLost) || ctx.Err() != nil || attempt == saveAttempts {
			return err
		}
		e.cfg.Logger.WarnContext(ctx, "analysis: saving an item failed; trying again", "run", j.run.ID,
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

func (e *Executor) analyseConversation(ctx context.Context, j job, conv Conversation, item *Item) error {
	itemCtx, cancel := context.WithTimeout(ctx, e.cfg.ItemTimeout)
	defer cancel()
	res, err := j.ex.Extract(itemCtx, e.cfg.Model, conv.Transcript)
	item.Usage = res.Usage
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		item.Error = OperatorMessage(err)
		e.cfg.Logger.WarnContext(ctx, "analysis: extraction failed", "run", j.run.ID, "conversation", conv.Key, "error", err)
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
			e.cfg.Logger.WarnContext(ctx, "analysis: judging failed", "run", j.run.ID, "conversation", conv.Key, "error", err)
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
