package session

import "strings"

// SessionStatus is where a session is in its life. A session can be
// analysed only once its status is terminal (see [SessionStatus.IsTerminal]).
type SessionStatus string

// The statuses. The first four are not terminal: the session may still
// change.
const (
	// StatusActive: the conversation is going on.
	StatusActive SessionStatus = "active"
	// StatusPaused: the conversation is on hold and may resume.
	StatusPaused SessionStatus = "paused"
	// StatusWaitingForHuman: handed to a queue, waiting for a human agent.
	StatusWaitingForHuman SessionStatus = "waiting_for_human"
	// StatusWithHuman: a human agent is handling the conversation.
	StatusWithHuman SessionStatus = "with_human"

	// StatusCompleted: the session ended in an orderly way.
	StatusCompleted SessionStatus = "completed"
	// StatusExpired: the platform closed the session, typically after
	// inactivity or when its maximum lifetime ran out.
	StatusExpired SessionStatus = "expired"
	// StatusFailed: the session broke off because something failed (a
	// technical error, a call that could not be connected).
	StatusFailed SessionStatus = "failed"
)

// AllStatuses returns every status, the non-terminal ones first.
func AllStatuses() []SessionStatus {
	return []SessionStatus{
		StatusActive, StatusPaused, StatusWaitingForHuman, StatusWithHuman,
		StatusCompleted, StatusExpired, StatusFailed,
	}
}

// Valid reports whether s is one of [AllStatuses].
func (s SessionStatus) Valid() bool {
	for _, v := range AllStatuses() {
		if s == v {
			return true
		}
	}
	return false
}

// IsTerminal reports whether a session in status s has ended:
// [StatusCompleted], [StatusExpired] or [StatusFailed]. An unknown status is
// not terminal.
func (s SessionStatus) IsTerminal() bool {
	return s == StatusCompleted || s == StatusExpired || s == StatusFailed
}

// SessionTerminationReason says why a session ended. The empty reason means
// none was recorded. Hosts may use reasons of their own; [DeriveOutcome]
// matches the known ones case-insensitively (and ignoring surrounding
// spaces), treats a reason it does not know like the empty one, and the
// assembler keeps its text as completion_reason.
type SessionTerminationReason string

// The termination reasons.
const (
	// ReasonUserEnded: the user closed the conversation, and nothing
	// failed. That the user left says nothing about whether the issue was
	// resolved, so a completed session with this reason has no outcome; a
	// host that knows the issue was resolved reports ReasonAgentResolved.
	ReasonUserEnded SessionTerminationReason = "user_ended"
	// ReasonAgentResolved: the agent (or the user's confirmation) marked
	// the issue resolved.
	ReasonAgentResolved SessionTerminationReason = "agent_resolved"
	// ReasonAgentUnresolved: the conversation ended with the issue
	// explicitly not resolved (the agent could not help, or the topic was
	// outside its scope).
	ReasonAgentUnresolved SessionTerminationReason = "agent_unresolved"
	// ReasonHandedOff: the AI agent handed the conversation to a human.
	ReasonHandedOff SessionTerminationReason = "handed_off"
	// ReasonTransferred: the conversation was transferred to another queue,
	// number or system.
	ReasonTransferred SessionTerminationReason = "transferred"
	// ReasonEscalated: the issue was escalated (to a supervisor, a ticket,
	// a specialist team).
	ReasonEscalated SessionTerminationReason = "escalated"
	// ReasonInactivityTimeout: the session timed out for lack of activity
	// or ran out its maximum lifetime.
	ReasonInactivityTimeout SessionTerminationReason = "inactivity_timeout"
	// ReasonUserLeftBeforeAnswer: the user left before the agent answered.
	ReasonUserLeftBeforeAnswer SessionTerminationReason = "user_left_before_answer"
	// ReasonVoicemail: a call reached voicemail.
	ReasonVoicemail SessionTerminationReason = "voicemail"
	// ReasonNoAnswer: a call rang out unanswered.
	ReasonNoAnswer SessionTerminationReason = "no_answer"
	// ReasonBusy: a call met a busy line.
	ReasonBusy SessionTerminationReason = "busy"
	// ReasonCallFailed: a call could not be placed or dropped for a network
	// or carrier reason.
	ReasonCallFailed SessionTerminationReason = "call_failed"
	// ReasonError: a technical error ended the session.
	ReasonError SessionTerminationReason = "error"
)

// AllReasons returns every termination reason this package knows.
func AllReasons() []SessionTerminationReason {
	return []SessionTerminationReason{
		ReasonUserEnded, ReasonAgentResolved, ReasonAgentUnresolved, ReasonHandedOff, ReasonTransferred,
		ReasonEscalated, ReasonInactivityTimeout, ReasonUserLeftBeforeAnswer, ReasonVoicemail,
		ReasonNoAnswer, ReasonBusy, ReasonCallFailed, ReasonError,
	}
}

// Valid reports whether r is one of [AllReasons]. The empty reason is not.
func (r SessionTerminationReason) Valid() bool {
	for _, v := range AllReasons() {
		if r == v {
			return true
		}
	}
	return false
}

// canonical returns r as one of [AllReasons] when it names one, ignoring
// case and surrounding spaces, and r unchanged otherwise.
func (r SessionTerminationReason) canonical() SessionTerminationReason {
	t := strings.TrimSpace(string(r))
	for _, v := range AllReasons() {
		if strings.EqualFold(t, string(v)) {
			return v
		}
	}
	return r
}

// DeriveOutcome returns the outcome of a session that ended with status and
// reason, and false (with an empty outcome) when there is none: when status
// is not terminal — unknown statuses included — or when the session
// completed without a reason that says how (see below). The outcome is
// nullable in the input, and an outcome is never claimed without evidence:
// a completed session whose reason is missing, unknown or only says the
// user left is not assumed resolved. Known reasons match case-insensitively.
// It never panics. The table, status across the top, reason down the side
// ("(none)" is the empty reason or one this package does not know, and "—"
// means no outcome):
//
//	reason                    completed     expired       failed
//	user_ended                —             expired       error
//	agent_resolved            resolved      expired       error
//	agent_unresolved          unresolved    expired       error
//	handed_off                transferred   transferred   error
//	transferred               transferred   transferred   error
//	escalated                 escalated     escalated     error
//	inactivity_timeout        expired       expired       error
//	user_left_before_answer   abandoned     abandoned     abandoned
//	voicemail                 voicemail     voicemail     voicemail
//	no_answer                 call_failed   call_failed   call_failed
//	busy                      call_failed   call_failed   call_failed
//	call_failed               call_failed   call_failed   call_failed
//	error                     error         error         error
//	(none)                    —             expired       error
//
// In words: the reason decides, except that an expired session whose
// reason does not explain the expiry is expired, and a failed session whose
// reason is not itself a failure is an error. A handoff, transfer or
// escalation followed by expiry still counts as what happened first.
func DeriveOutcome(status SessionStatus, reason SessionTerminationReason) (KnowledgeGapAnalysisOutcome, bool) {
	if !status.IsTerminal() {
		return "", false
	}
	reason = reason.canonical()
	switch reason {
	case ReasonUserLeftBeforeAnswer:
		return OutcomeAbandoned, true
	case ReasonVoicemail:
		return OutcomeVoicemail, true
	case ReasonNoAnswer, ReasonBusy, ReasonCallFailed:
		return OutcomeCallFailed, true
	case ReasonError:
		return OutcomeError, true
	}
	if status == StatusFailed {
		return OutcomeError, true
	}
	switch reason {
	case ReasonHandedOff, ReasonTransferred:
		return OutcomeTransferred, true
	case ReasonEscalated:
		return OutcomeEscalated, true
	case ReasonInactivityTimeout:
		return OutcomeExpired, true
	}
	if status == StatusExpired {
		return OutcomeExpired, true
	}
	switch reason {
	case ReasonAgentResolved:
		return OutcomeResolved, true
	case ReasonAgentUnresolved:
		return OutcomeUnresolved, true
	}
	return "", false // completed: user_ended, empty or unknown
}
