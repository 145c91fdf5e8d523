package session

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, checked with [errors.Is].
var (
	// ErrInvalid is matched by every [*ValidationError]: an input, a capture
	// or a platform record that breaks a rule.
	ErrInvalid = errors.New("session: invalid")
	// ErrNotFound means the session does not exist for the organisation
	// asking — which includes a session that belongs to another
	// organisation, so that existence never leaks. HTTP: 404.
	ErrNotFound = errors.New("session: not found")
	// ErrNotTerminal means the session has not ended (it is active, paused,
	// waiting for a human, ...), so there is nothing to analyse yet. HTTP: 409.
	ErrNotTerminal = errors.New("session: not in a terminal state")
)

// A Problem is one rule a value breaks.
type Problem struct {
	// Path locates the offending value as a JSON path: "$" for the whole
	// document, "$.citations[1].assistant_turn_id" for a nested one.
	Path string `json:"path"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// String renders the problem as "path: message".
func (p Problem) String() string { return p.Path + ": " + p.Message }

// A ValidationError lists every problem found in a value. It matches
// [ErrInvalid].
type ValidationError struct {
	// What names the value: "analysis input", "captures", "Moveo record", ...
	What string
	// Problems lists every problem found: those of the JSON Schema first,
	// ordered by path, then those of the cross-field rules. It is never
	// empty.
	Problems []Problem
}

// maxErrorProblems bounds the problems Error spells out.
const maxErrorProblems = 5

// Error lists the first few problems.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "session: invalid %s", e.What)
	for i, p := range e.Problems {
		if i == maxErrorProblems {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-i)
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Is reports whether target is [ErrInvalid].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// problems collects problems; err returns nil when there are none.
type problems struct {
	list []Problem
}

func (ps *problems) add(path, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (ps *problems) err(what string) error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{What: what, Problems: ps.list}
}
