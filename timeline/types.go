package timeline

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"time"
)

// Status is the lifecycle state of an [Analysis].
type Status string

// The analysis states.
const (
	// StatusProgressing: the analysis is queued or running; no result yet.
	StatusProgressing Status = "progressing"
	// StatusCompleted: the verdict is in [Analysis.Result].
	StatusCompleted Status = "completed"
	// StatusFailed: the analysis failed; [Analysis.Error] says why.
	StatusFailed Status = "failed"
)

// Valid reports whether s is one of the three states.
func (s Status) Valid() bool {
	return s == StatusProgressing || s == StatusCompleted || s == StatusFailed
}

// TimestampLayout is how an analysis record writes its times: ISO 8601 in
// UTC with microseconds, "2024-03-01T10:06:00.000000Z". Evidence timestamps
// use it too.
const TimestampLayout = "2006-01-02T15:04:05.000000Z07:00"

// A Timestamp is a time that marshals in [TimestampLayout], always in UTC.
// It unmarshals from any RFC 3339 time.
type Timestamp struct{ time.Time }

// MarshalJSON writes t in [TimestampLayout].
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(TimestampLayout) + `"`), nil
}

// UnmarshalJSON reads an RFC 3339 time; null and other values are errors.
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("timeline: a timestamp must be an RFC 3339 string")
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errors.New("timeline: a timestamp must be an RFC 3339 string")
	}
	t.Time = parsed
	return nil
}

// An Analysis is the record of one timeline analysis of an ended flow, as
// the API returns it.
type Analysis struct {
	// ID identifies the analysis (a UUID).
	ID string `json:"id"`
	// CustomerID is the customer who owns it (a UUID).
	CustomerID string `json:"customer_id"`
	// ActiveflowID is the ended flow it analyses (a UUID).
	ActiveflowID string `json:"activeflow_id"`
	// Status is the lifecycle state.
	Status Status `json:"status"`
	// Result is the verdict, present only when Status is completed.
	Result *Verdict `json:"result,omitempty"`
	// Error is the operator-safe failure reason when Status is failed (see
	// [FailureMessage]), and "" otherwise. It is always written.
	Error string `json:"error"`
	// TMCreate is when the analysis was created.
	TMCreate Timestamp `json:"tm_create"`
	// TMUpdate is when it last changed.
	TMUpdate Timestamp `json:"tm_update"`
}

// Clone returns a deep copy of a.
func (a Analysis) Clone() Analysis {
	a.Result = a.Result.Clone()
	return a
}

// CurrentVersion is the verdict version this package writes.
const CurrentVersion = 3

// OverallStatus is the holistic verdict of a flow.
type OverallStatus string

// The overall statuses.
const (
	OverallOK      OverallStatus = "ok"
	OverallWarning OverallStatus = "warning"
	OverallError   OverallStatus = "error"
)

// Valid reports whether s is ok, warning or error.
func (s OverallStatus) Valid() bool {
	return s == OverallOK || s == OverallWarning || s == OverallError
}

// Severity is how serious an [Issue] is.
type Severity string

// The severities.
const (
	SeverityInfo    Severity = "info"
	SeverityWarning Severity = "warning"
	SeverityError   Severity = "error"
)

// Valid reports whether s is info, warning or error.
func (s Severity) Valid() bool {
	return s == SeverityInfo || s == SeverityWarning || s == SeverityError
}

// A Verdict is the result of a completed analysis: deterministic blocks
// computed from the flow (session_context, outcome, metrics,
// resources_used) and the parts a model wrote (overall_status,
// interactions, narrative, issues), validated against the flow's events.
//
// Version 3 adds session_context, outcome and metrics; version 2 adds
// interactions; version 1 has neither. Records of every version decode and
// re-encode without gaining keys they did not have: the three blocks are
// omitted when nil, and interactions is omitted from a version 1 (or
// unversioned) verdict when nil. resources_used and issues are always
// arrays, as is interactions from version 2 on.
type Verdict struct {
	// Version is the verdict schema version.
	Version int `json:"version"`
	// OverallStatus is the holistic verdict.
	OverallStatus OverallStatus `json:"overall_status"`
	// InputReduced is true when the events were reduced before analysis
	// because the flow was very large: events were left out, or the data of
	// an event was cut to an excerpt (see [Limits] and [Prepare]).
	InputReduced bool `json:"input_reduced"`
	// SessionContext describes what the session was; nil (an omitted key)
	// when nothing resolves.
	SessionContext *SessionContext `json:"session_context,omitempty"`
	// Outcome says how the session ended; nil (an omitted key) when not
	// applicable.
	Outcome *Outcome `json:"outcome,omitempty"`
	// Metrics holds voice/AI turn counts and latencies; nil (an omitted key)
	// for other references and when there were no turns.
	Metrics *Metrics `json:"metrics,omitempty"`
	// ResourcesUsed counts the resources of the flow per type.
	ResourcesUsed []ResourceUsed `json:"resources_used"`
	// Interactions summarises what each resource carried (version 2 on).
	Interactions []Interaction `json:"interactions"`
	// Narrative is a human-readable account of the flow.
	Narrative string `json:"narrative"`
	// Issues lists the problems found; empty when OverallStatus is ok.
	Issues []Issue `json:"issues"`
}

type verdictWire struct {
	Version        int             `json:"version"`
	OverallStatus  OverallStatus   `json:"overall_status"`
	InputReduced   bool            `json:"input_reduced"`
	SessionContext *SessionContext `json:"session_context,omitempty"`
	Outcome        *Outcome        `json:"outcome,omitempty"`
	Metrics        *Metrics        `json:"metrics,omitempty"`
	ResourcesUsed  []ResourceUsed  `json:"resources_used"`
	Interactions   *[]Interaction  `json:"interactions,omitempty"`
	Narrative      string          `json:"narrative"`
	Issues         []Issue         `json:"issues"`
}

// MarshalJSON writes v with its arrays as [] rather than null, and
// interactions left out of a nil-interactions verdict older than version 2.
func (v Verdict) MarshalJSON() ([]byte, error) {
	w := verdictWire{
		Version:        v.Version,
		OverallStatus:  v.OverallStatus,
		InputReduced:   v.InputReduced,
		SessionContext: v.SessionContext,
		Outcome:        v.Outcome,
		Metrics:        v.Metrics,
		ResourcesUsed:  nonNil(v.ResourcesUsed),
		Narrative:      v.Narrative,
		Issues:         nonNil(v.Issues),
	}
	if v.Interactions != nil || v.Version >= 2 {
		in := nonNil(v.Interactions)
		w.Interactions = &in
	}
	return json.Marshal(w)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Clone returns a deep copy of v, or nil for nil.
func (v *Verdict) Clone() *Verdict {
	if v == nil {
		return nil
	}
	out := *v
	if v.SessionContext != nil {
		sc := *v.SessionContext
		sc.Participants = slices.Clone(sc.Participants)
		out.SessionContext = &sc
	}
	if v.Outcome != nil {
		oc := *v.Outcome
		oc.Detail = maps.Clone(oc.Detail)
		out.Outcome = &oc
	}
	if v.Metrics != nil {
		m := *v.Metrics
		m.FirstResponseMS = cloneInt(m.FirstResponseMS)
		m.AvgResponseMS = cloneInt(m.AvgResponseMS)
		m.MaxResponseMS = cloneInt(m.MaxResponseMS)
		m.MaxGapMS = cloneInt(m.MaxGapMS)
		out.Metrics = &m
	}
	out.ResourcesUsed = slices.Clone(v.ResourcesUsed)
	out.Interactions = slices.Clone(v.Interactions)
	if v.Issues != nil {
		out.Issues = make([]Issue, len(v.Issues))
		for i, is := range v.Issues {
			is.Evidence = slices.Clone(is.Evidence)
			out.Issues[i] = is
		}
	}
	return &out
}

func cloneInt(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// The normalised channels of [SessionContext.Channel].
const (
	ChannelVoice = "voice"
	ChannelChat  = "chat"
	ChannelAI    = "ai"
	ChannelAPI   = "api"
)

// The normalised directions of [SessionContext.Direction].
const (
	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
)

// The markers of [SessionContext.OriginKind].
const (
	OriginTranscription = "transcription"
	OriginRecording     = "recording"
)

// A SessionContext is the channel-neutral header of a session: who, when,
// how and over which channel. It is computed from the [Flow], never by a
// model. Optional fields are omitted when they cannot be resolved.
type SessionContext struct {
	// ReferenceType is the flow's reference type, verbatim: call,
	// conversation, ai, api, transcribe, recording, campaign, or "".
	ReferenceType string `json:"reference_type"`
	// Channel is the normalised channel: voice, chat, ai, api, or "".
	Channel string `json:"channel"`
	// Direction is inbound or outbound; omitted for a conversation.
	Direction string `json:"direction,omitempty"`
	// DirectionRaw is the source channel's direction, verbatim.
	DirectionRaw string `json:"direction_raw,omitempty"`
	// Participants are the session's parties; omitted when none resolve.
	Participants []Participant `json:"participants,omitempty"`
	// FlowName is the name of the executed flow.
	FlowName string `json:"flow_name,omitempty"`
	// StartedAt is the channel-appropriate start time, RFC 3339 in UTC.
	StartedAt string `json:"started_at,omitempty"`
	// OriginKind marks a transcribe/recording reference whose body shows
	// the source it was made from: transcription or recording.
	OriginKind string `json:"origin_kind,omitempty"`
	// OriginType is the type of the immediate source: call, conversation
	// or confbridge, the values the API documents — or recording, for a
	// transcribe made from a recording (transcribe → recording → call):
	// the body is then the call's, as in the product the API describes.
	// Consumers should accept recording here too.
	OriginType string `json:"origin_type,omitempty"`
	// MultiLeg is true when the reference has more than one leg.
	MultiLeg bool `json:"multi_leg"`
	// AIHandled is true when an AI session took part (false on a chased
	// transcribe/recording card).
	AIHandled bool `json:"ai_handled"`
	// HumanInvolved is true when a human agent took part (false on a chased
	// transcribe/recording card).
	HumanInvolved bool `json:"human_involved"`
}

// A Participant is one party of a session.
type Participant struct {
	// Role is source or destination for a call, self or peer for a
	// conversation.
	Role string `json:"role"`
	// Address is the party's address: a phone number, a handle, ...
	Address string `json:"address"`
}

// OutcomeResult is the normalised result of a session.
type OutcomeResult string

// The outcome results.
const (
	ResultCompleted  OutcomeResult = "completed"
	ResultFailed     OutcomeResult = "failed"
	ResultNoAnswer   OutcomeResult = "no_answer"
	ResultBusy       OutcomeResult = "busy"
	ResultInProgress OutcomeResult = "in_progress"
	ResultUnknown    OutcomeResult = "unknown"
)

// The values of [Outcome.EndedBy].
const (
	EndedByRemote = "remote"
	EndedByLocal  = "local"
)

// An Outcome says how a session ended. Its meaning depends on the
// reference type; it is computed from the [Flow], never by a model.
type Outcome struct {
	// Result is the normalised result.
	Result OutcomeResult `json:"result"`
	// EndedBy is, for a call only, who hung up relative to the platform:
	// remote or local. Omitted otherwise.
	EndedBy string `json:"ended_by,omitempty"`
	// Reason is the channel's raw reason: a call's hang-up reason, a
	// conversation's last-message status.
	Reason string `json:"reason,omitempty"`
	// Detail holds channel-raw extras as strings (see [ComputeOutcome]).
	Detail map[string]string `json:"detail,omitempty"`
}

// Metrics are the deterministic voice/AI interaction metrics (see
// [ComputeMetrics]). Latencies are in milliseconds; a latency whose inputs
// are missing is nil and omitted.
type Metrics struct {
	// TurnsUser counts the end user's transcription turns.
	TurnsUser int `json:"turns_user"`
	// TurnsBot counts the bot's transcription turns.
	TurnsBot int `json:"turns_bot"`
	// FirstResponseMS is from the session's answer to the first bot turn.
	FirstResponseMS *int64 `json:"first_response_ms,omitempty"`
	// AvgResponseMS is the mean latency of user-then-bot turn pairs, each
	// user turn paired with the next bot turn after it (see
	// [ComputeMetrics]).
	AvgResponseMS *int64 `json:"avg_response_ms,omitempty"`
	// MaxResponseMS is the largest latency of those pairs.
	MaxResponseMS *int64 `json:"max_response_ms,omitempty"`
	// MaxGapMS is the largest gap between adjacent turns.
	MaxGapMS *int64 `json:"max_gap_ms,omitempty"`
}

// A ResourceUsed counts the resources of one type that took part in a flow.
type ResourceUsed struct {
	// Type is the resource type: call, transcribe, ...
	Type string `json:"type"`
	// Count is how many distinct resources of that type took part.
	Count int `json:"count"`
}

// An Interaction summarises what one resource type carried.
type Interaction struct {
	// ResourceType is the resource or channel described: call, transcribe, ...
	ResourceType string `json:"resource_type"`
	// Summary says what was communicated and the intent or outcome.
	Summary string `json:"summary"`
}

// An Issue is a problem found in a flow.
type Issue struct {
	// Severity is info, warning or error.
	Severity Severity `json:"severity"`
	// Area is the functional area: media, flow, ...
	Area string `json:"area"`
	// Summary describes the problem.
	Summary string `json:"summary"`
	// Evidence points at the events that support it.
	Evidence []Evidence `json:"evidence"`
}

// MarshalJSON writes the issue with its evidence as [] rather than null.
func (is Issue) MarshalJSON() ([]byte, error) {
	type plain Issue
	p := plain(is)
	p.Evidence = nonNil(p.Evidence)
	return json.Marshal(p)
}

// Evidence points at one event of the analysed (reduced, frozen) event
// list. The model cites only the index; the other fields are copied from
// the event itself.
type Evidence struct {
	// EvidenceIndex is the event's position in the analysed event list.
	EvidenceIndex int `json:"evidence_index"`
	// EventType is the event's type.
	EventType string `json:"event_type,omitempty"`
	// Timestamp is the event's time in [TimestampLayout].
	Timestamp string `json:"timestamp,omitempty"`
	// ResourceID is the event's resource, omitted when it has none.
	ResourceID string `json:"resource_id,omitempty"`
}
