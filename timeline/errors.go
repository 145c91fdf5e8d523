package timeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/debrief-go/debrief/llm"
)

// The classes of errors of this package. Check them with [errors.Is].
var (
	// ErrNotFound: the flow or analysis does not exist, or belongs to another
	// customer. The two cases are indistinguishable on purpose.
	ErrNotFound = errors.New("timeline: not found")
	// ErrConflict: the request conflicts with the current state of the flow
	// or analysis.
	ErrConflict = errors.New("timeline: conflict")
	// ErrNotEnded: the flow has not ended yet, so it cannot be analysed. It
	// matches [ErrConflict].
	ErrNotEnded = fmt.Errorf("%w: the flow has not ended", ErrConflict)
	// ErrInvalid: an input breaks a rule; the detail is in a
	// [*ValidationError].
	ErrInvalid = errors.New("timeline: invalid input")
	// ErrCooldown: a re-analysis was requested too soon after the previous
	// analysis of the flow finished; the detail is in a [*CooldownError].
	ErrCooldown = errors.New("timeline: re-analysis is cooling down")
	// ErrBusy: too many analyses are waiting to run; try again later.
	ErrBusy = errors.New("timeline: too many analyses are queued")
	// ErrClosed: the [Service] has been closed.
	ErrClosed = errors.New("timeline: service closed")
)

// A Problem is one reason an input was rejected.
type Problem struct {
	// Path locates the offending value as a JSON path: "$.events[3].type".
	Path string `json:"path"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// String renders the problem as "path: message".
func (p Problem) String() string { return p.Path + ": " + p.Message }

// A ValidationError lists every problem found in an input. It matches
// [ErrInvalid]. Its text is built by this package from the input's shape
// and is safe to show to the caller that sent the input.
type ValidationError struct {
	// Problems are in the order they were found.
	Problems []Problem
}

// Error lists the problems as "path: message; ...".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "timeline: invalid input: " + strings.Join(parts, "; ")
}

// Is reports whether target is [ErrInvalid].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// maxProblems bounds the problems a [ValidationError] lists; the last one
// then says how many more there were.
const maxProblems = 100

type validator struct {
	problems []Problem
	more     int
}

func (v *validator) add(path, msg string) {
	if len(v.problems) >= maxProblems {
		v.more++
		return
	}
	v.problems = append(v.problems, Problem{Path: path, Message: msg})
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	out := &ValidationError{Problems: v.problems}
	if v.more > 0 {
		out.Problems = append(out.Problems, Problem{Path: "$", Message: fmt.Sprintf("and %d more problems", v.more)})
	}
	return out
}

// A CooldownError reports a re-analysis requested before the cooldown after
// the previous analysis of the flow ran out. It matches [ErrCooldown].
type CooldownError struct {
	// RetryAfter is how long to wait before a re-analysis is accepted.
	RetryAfter time.Duration
}

// Error says how long to wait.
func (e *CooldownError) Error() string {
	return fmt.Sprintf("timeline: re-analysis is cooling down: retry after %s", e.RetryAfter)
}

// Is reports whether target is [ErrCooldown].
func (e *CooldownError) Is(target error) bool { return target == ErrCooldown }

// The operator-safe failure messages stored in [Analysis.Error]. They are
// fixed texts: nothing a model, a provider or a store said ever reaches an
// analysis record.
const (
	FailRateLimited    = "the model provider is rate limiting requests; try again later"
	FailTransient      = "the model provider failed temporarily; try again later"
	FailModelTimeout   = "the model provider did not answer in time; try again later"
	FailModel          = "the model call failed"
	FailRefused        = "the model declined to analyse this flow"
	FailContextTooLong = "the flow is too large for the model's context window"
	FailTruncated      = "the model's answer was cut off before it was complete"
	FailInvalidOutput  = "the model did not return a valid verdict"
	FailTimeout        = "the analysis did not finish within its time limit"
	FailInterrupted    = "the analysis was interrupted"
	FailLoadEvents     = "the flow's events could not be loaded"
	FailInvalidFlow    = "the flow's header is not valid"
	FailInvalidEvents  = "the flow's events are not valid"
	FailNotEnded       = "the flow has not ended"
	FailInternal       = "the analysis failed because of an internal error"
)

// FailureMessage maps err, the cause of a failed analysis, to the fixed,
// operator-safe message stored in [Analysis.Error]. ctx is the analysis's
// own context. Once it is done, its error decides, whatever err says:
//
//	ctx past its deadline      → FailTimeout
//	ctx cancelled              → FailInterrupted
//
// Otherwise err's class decides, the first match winning:
//
//	a *SourceError of Flow matching ErrInvalid → FailInvalidFlow
//	any other *SourceError     → FailLoadEvents (a deadline of the Source's own too)
//	llm.ErrRateLimited         → FailRateLimited
//	a model call that timed out (a network timeout, or the provider's
//	deadline; not ctx's)       → FailModelTimeout
//	llm.ErrTransient           → FailTransient
//	llm.ErrRefused             → FailRefused
//	llm.ErrContextTooLong      → FailContextTooLong
//	llm.ErrOutputTruncated     → FailTruncated
//	llm.ErrInvalidOutput       → FailInvalidOutput
//	a *ValidationError whose first problem is under "$.flow" → FailInvalidFlow
//	ErrInvalid                 → FailInvalidEvents
//	ErrNotEnded                → FailNotEnded
//	context.DeadlineExceeded,
//	context.Canceled           → FailTransient (the provider's own, as ctx is live)
//	any other model failure    → FailModel
//	anything else              → FailInternal
//
// It returns "" for a nil err. The text of err is never used.
func FailureMessage(ctx context.Context, err error) string {
	if err == nil {
		return ""
	}
	switch ctxErr := ctx.Err(); {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return FailTimeout
	case ctxErr != nil:
		return FailInterrupted
	}
	var se *SourceError
	var ve *ValidationError
	var me *modelError
	switch {
	case errors.As(err, &se) && se.Op == "Flow" && errors.Is(se.Err, ErrInvalid):
		return FailInvalidFlow
	case se != nil:
		return FailLoadEvents
	case errors.Is(err, llm.ErrRateLimited):
		return FailRateLimited
	case errors.As(err, &me) && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)):
		return FailModelTimeout
	case errors.Is(err, llm.ErrTransient):
		return FailTransient
	case errors.Is(err, llm.ErrRefused):
		return FailRefused
	case errors.Is(err, llm.ErrContextTooLong):
		return FailContextTooLong
	case errors.Is(err, llm.ErrOutputTruncated):
		return FailTruncated
	case errors.Is(err, llm.ErrInvalidOutput):
		return FailInvalidOutput
	case errors.As(err, &ve) && len(ve.Problems) > 0 && isFlowPath(ve.Problems[0].Path):
		return FailInvalidFlow
	case errors.Is(err, ErrInvalid):
		return FailInvalidEvents
	case errors.Is(err, ErrNotEnded):
		return FailNotEnded
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return FailTransient
	case me != nil:
		return FailModel
	}
	return FailInternal
}

// isTimeout reports a network timeout in err's chain, such as an HTTP
// client's own.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// isFlowPath reports a problem path about the flow header.
func isFlowPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "$.flow")
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// A SourceError wraps a failure of the host's [Source], so that it is told
// apart from the pipeline's own failures.
type SourceError struct {
	// Op is the Source method that failed: "Flow" or "Events".
	Op string
	// Err is what the Source returned.
	Err error
}

// Error names the method and the cause.
func (e *SourceError) Error() string { return "timeline: source " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the Source's error.
func (e *SourceError) Unwrap() error { return e.Err }
