package session

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Captures is what a host's platform recorded about one session: the raw
// material an [Assembler] builds a [SessionAnalysisInput] from. The lists use
// the input's own types; the assembler copies them, so a Captures value is
// never modified and can be reused.
//
// The JSON names are those of the input where the two share a field, so
// that a host may keep captures as JSON and so that problems are reported
// with paths such as "$.citations[1].assistant_turn_id".
type Captures struct {
	// SessionID identifies the session (a UUID).
	SessionID string `json:"session_id"`
	// OrganizationID identifies the organisation that owns it (a UUID).
	OrganizationID string `json:"organization_id"`
	// AgentID identifies the AI agent that served it (a UUID), or is nil.
	AgentID *string `json:"agent_id,omitempty"`
	// Channel names the channel: "web", "voice", ...
	Channel string `json:"channel"`
	// StartedAt is when the session started.
	StartedAt time.Time `json:"started_at"`
	// EndedAt is when it ended, or nil when that was not recorded.
	EndedAt *time.Time `json:"ended_at,omitempty"`
	// Status is where the session is in its life. Only a terminal status
	// can be assembled.
	Status SessionStatus `json:"status"`
	// TerminationReason says why the session ended; empty when unknown.
	TerminationReason SessionTerminationReason `json:"termination_reason,omitempty"`
	// CompletionReason is the platform's own free-form account of why the
	// session ended, kept as completion_reason. When nil, a non-empty
	// TerminationReason is kept instead.
	CompletionReason *string `json:"completion_reason,omitempty"`

	// AgentKBIDs lists the knowledge bases the agent was configured with.
	// When it is not empty, retrieval traces are expected.
	AgentKBIDs []string `json:"agent_kb_ids,omitempty"`
	// AgentTools lists the tools the agent was configured with. When it is
	// not empty, a tool trace is expected.
	AgentTools []string `json:"agent_tools,omitempty"`
	// CaptureVersion is the version of the host's capture pipeline that
	// recorded the session; 0 means unknown. See [Assembler].MinCaptureVersion.
	CaptureVersion int `json:"capture_version,omitempty"`
	// Redacted reports that the texts were already redacted upstream.
	Redacted bool `json:"redacted,omitempty"`
	// MissingEvidence lists reasons the host already knows evidence is
	// missing (a capture that failed, say). The assembler adds its own.
	MissingEvidence []MissingEvidenceReason `json:"missing_evidence,omitempty"`

	// Messages is the transcript, in any order: the assembler sorts it by
	// timestamp, keeping the given order among equal timestamps.
	Messages []MessageEntry `json:"messages,omitempty"`
	// RagTraces lists the retrievals.
	RagTraces []RagTraceEntry `json:"rag_traces,omitempty"`
	// Citations lists the chunks cited.
	Citations []CitedChunk `json:"citations,omitempty"`
	// ToolCalls lists the tool invocations. An ArgumentsParsed left nil is
	// filled from Arguments when they are JSON.
	ToolCalls []ToolCallEntry `json:"tool_calls,omitempty"`
	// HandoffEvents lists the handoffs to a human.
	HandoffEvents []HandoffEvent `json:"handoff_events,omitempty"`
	// KBSnapshot is the knowledge-base snapshot, or nil.
	KBSnapshot *KbSnapshotEntry `json:"kb_snapshot,omitempty"`
	// UserFeedback is the user's feedback, or nil.
	UserFeedback *FeedbackEntry `json:"user_feedback,omitempty"`
	// CSAT is the satisfaction score, or nil.
	CSAT *CSATEntry `json:"csat,omitempty"`
	// Reopen is the reopen event, or nil.
	Reopen *ReopenEntry `json:"reopen,omitempty"`
	// CustomerMetadata holds free-form facts about the session; it is
	// copied as it is, without redaction.
	CustomerMetadata map[string]any `json:"customer_metadata,omitempty"`
}

// A Source loads the captures of sessions; hosts implement it over their
// storage. Its one method observes these rules:
//
//   - It returns the captures of the session sessionID owned by the
//     organisation orgID, or an error matching [ErrNotFound] when there is
//     none — including when sessionID exists but belongs to another
//     organisation, so that existence never leaks.
//   - It returns promptly with ctx.Err() (possibly wrapped) once ctx is
//     done.
//   - It may return captures of a session that has not ended; the
//     assembler turns them into [ErrNotTerminal].
//   - Other errors are internal: callers log them and never show their
//     text to an operator or an API client.
type Source interface {
	Captures(ctx context.Context, orgID, sessionID string) (*Captures, error)
}

// SourceFunc adapts an ordinary function to the [Source] interface.
type SourceFunc func(ctx context.Context, orgID, sessionID string) (*Captures, error)

// Captures calls f(ctx, orgID, sessionID).
func (f SourceFunc) Captures(ctx context.Context, orgID, sessionID string) (*Captures, error) {
	return f(ctx, orgID, sessionID)
}

// An Assembler builds a [SessionAnalysisInput] from [Captures]. The zero
// value is ready to use: no redactor, no truncation, no legacy rules. Set
// the fields before the first call and do not change them afterwards; an
// Assembler is then safe for concurrent use.
//
// [Assembler.Assemble] records missing_evidence_reasons by these rules, in
// this order (the order of [AllMissingEvidenceReasons]), each at most once,
// together with any the captures already list:
//
//   - no_rag_trace: the agent has knowledge bases (Captures.AgentKBIDs is
//     not empty) but no retrieval trace was captured.
//   - no_kb_snapshot: at least one retrieval trace was captured but no
//     knowledge-base snapshot.
//   - no_citations: at least one retrieval returned at least one chunk but
//     no citation was captured. (A retrieval that returned nothing leaves
//     nothing to cite: that is evidence of a gap, not missing evidence.)
//   - no_tool_trace: no tool call was captured although the agent has tools
//     (Captures.AgentTools is not empty) or a message asked for a tool call
//     or carries a tool result.
//   - no_csat: no CSAT score was captured.
//   - no_user_feedback: no user feedback was captured.
//   - transcript_redaction_skipped: the assembler has no Redactor and the
//     captures were not redacted upstream (Captures.Redacted is false).
//   - legacy_session: LegacyCutover is set and the session started before
//     it, or MinCaptureVersion is set and Captures.CaptureVersion is lower
//     (an unknown version, 0, counts as lower).
type Assembler struct {
	// Redactor, when set, redacts every free text before anything else
	// sees it (see [Redactor] for the list); [DefaultRedactor] is a good
	// start. When nil, the texts are kept as captured and the input records
	// transcript_redaction_skipped unless the captures say they were
	// redacted upstream.
	Redactor Redactor
	// MaxMessageChars, when positive, bounds each message's content in
	// characters (Unicode code points). Longer content is cut, never in the
	// middle of a character, and the message records truncated and its
	// original_char_count (counted after redaction).
	MaxMessageChars int
	// LegacyCutover, when set, is the time before which sessions were
	// captured by a pipeline too old to trust: sessions that started
	// earlier record legacy_session.
	LegacyCutover time.Time
	// MinCaptureVersion, when positive, is the oldest capture version that
	// is not legacy: captures with a lower CaptureVersion record
	// legacy_session.
	MinCaptureVersion int
	// Logger receives debug records of assembled sessions (identifiers and
	// counts, never text) and warnings about misbehaving sources; nil
	// discards them.
	Logger *slog.Logger
}

// Assemble builds the analysis input of the session c describes. It
//
//  1. checks the status: an unknown one is a [*ValidationError] (matching
//     [ErrInvalid]); one that is not terminal fails with an error matching
//     [ErrNotTerminal];
//  2. copies everything, so c is never modified nor shared with the result;
//  3. redacts the free texts with a.Redactor, if any;
//  4. truncates messages to a.MaxMessageChars, if set;
//  5. derives the outcome ([DeriveOutcome]) and keeps the free-form reason as
//     completion_reason;
//  6. records the missing-evidence reasons (see [Assembler]);
//  7. validates the result ([SessionAnalysisInput.Validate], the message
//     order excepted), reporting problems with the paths of c's JSON form —
//     "$.citations[1].assistant_turn_id" is c.Citations[1] — as a
//     [*ValidationError];
//  8. sorts the messages by timestamp, stably.
//
// It fails with ctx.Err() once ctx is done, and with the redactor's error,
// wrapped, if redaction fails.
func (a *Assembler) Assemble(ctx context.Context, c *Captures) (*SessionAnalysisInput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, &ValidationError{What: "captures", Problems: []Problem{{Path: "$", Message: "no captures"}}}
	}
	var ps problems
	switch {
	case c.Status == "":
		ps.add("$.status", "is missing")
	case !c.Status.Valid():
		ps.add("$.status", "%q is not a session status", c.Status)
	}
	for i, r := range c.MissingEvidence {
		if !r.Valid() {
			ps.add(fmt.Sprintf("$.missing_evidence[%d]", i), "%q is not a missing-evidence reason", r)
		}
	}
	if err := ps.err("captures"); err != nil {
		return nil, err
	}
	if !c.Status.IsTerminal() {
		return nil, fmt.Errorf("%w: session %s is %s", ErrNotTerminal, c.SessionID, c.Status)
	}

	in := copyCaptures(c)
	if a.Redactor != nil {
		if err := a.redact(ctx, in, c); err != nil {
			return nil, err
		}
	}
	if err := fillParsedArguments(in, c); err != nil {
		return nil, err
	}
	for i := range in.Messages {
		m := &in.Messages[i]
		if cut, ok, n := truncateChars(m.Content, a.MaxMessageChars); ok {
			if !m.Truncated || m.OriginalCharCount == nil || *m.OriginalCharCount < n {
				m.OriginalCharCount = &n
			}
			m.Content, m.Truncated = cut, true
		}
	}
	if outcome, ok := DeriveOutcome(c.Status, c.TerminationReason); ok {
		in.Outcome = &outcome
	}
	if in.CompletionReason == nil && c.TerminationReason != "" {
		r := string(c.TerminationReason)
		in.CompletionReason = &r
	}
	in.MissingEvidenceReasons = a.missingEvidence(c, in)

	if data, err := json.Marshal(in); err != nil {
		ps.add("$", "does not encode as JSON: %v", err)
	} else if err := schemaProblems(&ps, data); err != nil {
		return nil, err
	}
	crossFieldProblems(&ps, in, false)
	if err := ps.err("captures"); err != nil {
		return nil, err
	}
	sort.SliceStable(in.Messages, func(i, j int) bool { return in.Messages[i].Timestamp.Before(in.Messages[j].Timestamp) })

	if a.Logger != nil {
		a.Logger.LogAttrs(ctx, slog.LevelDebug, "session: assembled analysis input",
			slog.String("session_id", in.SessionID),
			slog.String("organization_id", in.OrganizationID),
			slog.Int("messages", len(in.Messages)),
			slog.Any("missing_evidence_reasons", in.MissingEvidenceReasons))
	}
	return in, nil
}

// Load fetches the captures of session sessionID of organisation orgID from
// src and assembles them. Errors of src are returned as they are (wrapped),
// so [ErrNotFound] stays recognisable. Captures that name another session
// or another organisation than asked for — a misbehaving source — are
// treated as not found and logged as a warning, so that one organisation
// never sees another's session.
func (a *Assembler) Load(ctx context.Context, src Source, orgID, sessionID string) (*SessionAnalysisInput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := src.Captures(ctx, orgID, sessionID)
	if err != nil {
		return nil, fmt.Errorf("session: load captures: %w", err)
	}
	if c == nil {
		return nil, ErrNotFound
	}
	if !strings.EqualFold(c.OrganizationID, orgID) || !strings.EqualFold(c.SessionID, sessionID) {
		if a.Logger != nil {
			a.Logger.LogAttrs(ctx, slog.LevelWarn, "session: source returned captures of another session or organisation; answering not found",
				slog.String("requested_session_id", sessionID))
		}
		return nil, ErrNotFound
	}
	return a.Assemble(ctx, c)
}

// missingEvidence applies the rules documented on [Assembler].
func (a *Assembler) missingEvidence(c *Captures, in *SessionAnalysisInput) []MissingEvidenceReason {
	found := map[MissingEvidenceReason]bool{}
	for _, r := range c.MissingEvidence {
		found[r] = true
	}
	if len(c.AgentKBIDs) > 0 && len(in.RagTraces) == 0 {
		found[NoRagTrace] = true
	}
	if len(in.RagTraces) > 0 && in.KBSnapshot == nil {
		found[NoKBSnapshot] = true
	}
	if len(in.Citations) == 0 && slices.ContainsFunc(in.RagTraces, func(r RagTraceEntry) bool { return len(r.Retrieved) > 0 }) {
		found[NoCitations] = true
	}
	if len(in.ToolCalls) == 0 {
		asked := slices.ContainsFunc(in.Messages, func(m MessageEntry) bool { return len(m.ToolCalls) > 0 || m.ToolResults != nil })
		if len(c.AgentTools) > 0 || asked {
			found[NoToolTrace] = true
		}
	}
	if in.CSAT == nil {
		found[NoCSAT] = true
	}
	if in.UserFeedback == nil {
		found[NoUserFeedback] = true
	}
	if a.Redactor == nil && !c.Redacted {
		found[TranscriptRedactionSkipped] = true
	}
	if !a.LegacyCutover.IsZero() && c.StartedAt.Before(a.LegacyCutover) ||
		a.MinCaptureVersion > 0 && c.CaptureVersion < a.MinCaptureVersion {
		found[LegacySession] = true
	}
	out := []MissingEvidenceReason{}
	for _, r := range AllMissingEvidenceReasons() {
		if found[r] {
			out = append(out, r)
		}
	}
	return out
}

// redact applies a.Redactor to every free text of in (a copy of c).
func (a *Assembler) redact(ctx context.Context, in *SessionAnalysisInput, c *Captures) error {
	r := func(s *string) error {
		if *s == "" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := a.Redactor.Redact(ctx, *s)
		if err != nil {
			return fmt.Errorf("session: redact: %w", err)
		}
		*s = out
		return nil
	}
	rp := func(s *string) error {
		if s == nil {
			return nil
		}
		return r(s)
	}
	for i := range in.Messages {
		m := &in.Messages[i]
		if err := r(&m.Content); err != nil {
			return err
		}
		for j := range m.ToolCalls {
			if err := r(&m.ToolCalls[j].Function.Arguments); err != nil {
				return err
			}
		}
		if tr := m.ToolResults; tr != nil {
			if err := r(&tr.Output); err != nil {
				return err
			}
			if err := rp(tr.Error); err != nil {
				return err
			}
		}
	}
	for i := range in.ToolCalls {
		t := &in.ToolCalls[i]
		orig := t.Arguments
		if err := r(&t.Arguments); err != nil {
			return err
		}
		parsed := c.ToolCalls[i].ArgumentsParsed
		if parsed == nil {
			parsed = parseJSONValue(orig)
		}
		if parsed != nil {
			v, err := a.redactValue(ctx, parsed, r)
			if err != nil {
				return err
			}
			t.ArgumentsParsed = v
		}
		if err := rp(t.Result); err != nil {
			return err
		}
		if err := rp(t.Error); err != nil {
			return err
		}
	}
	for i := range in.HandoffEvents {
		if err := rp(in.HandoffEvents[i].Reason); err != nil {
			return err
		}
	}
	if f := in.UserFeedback; f != nil {
		if err := rp(f.Comment); err != nil {
			return err
		}
	}
	if ro := in.Reopen; ro != nil {
		if err := rp(ro.Reason); err != nil {
			return err
		}
	}
	return rp(in.CompletionReason)
}

// redactValue returns a redacted deep copy of v, a JSON value: strings are
// redacted, and a number whose digits the redactor changes (a card number
// written as a JSON number) becomes the redacted string.
func (a *Assembler) redactValue(ctx context.Context, v any, r func(*string) error) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		err := r(&x)
		return x, err
	case json.Number:
		s := string(x)
		if err := r(&s); err != nil {
			return nil, err
		}
		if s != string(x) {
			return s, nil
		}
		return x, nil
	case float64:
		orig := strconv.FormatFloat(x, 'f', -1, 64)
		s := orig
		if err := r(&s); err != nil {
			return nil, err
		}
		if s != orig {
			return s, nil
		}
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			rv, err := a.redactValue(ctx, e, r)
			if err != nil {
				return nil, err
			}
			out[k] = rv
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			rv, err := a.redactValue(ctx, e, r)
			if err != nil {
				return nil, err
			}
			out[i] = rv
		}
		return out, nil
	default:
		// Any other Go value: redact its JSON form.
		data, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("session: arguments_parsed does not encode as JSON: %w", err)
		}
		return a.redactValue(ctx, parseJSONValue(string(data)), r)
	}
}

// fillParsedArguments sets, where redaction did not, each tool call's
// ArgumentsParsed: a deep copy of the captured value, or else Arguments
// decoded when they are JSON.
func fillParsedArguments(in *SessionAnalysisInput, c *Captures) error {
	for i := range in.ToolCalls {
		t := &in.ToolCalls[i]
		if t.ArgumentsParsed != nil {
			continue
		}
		if p := c.ToolCalls[i].ArgumentsParsed; p != nil {
			v, err := cloneJSONValue(p)
			if err != nil {
				return &ValidationError{What: "captures", Problems: []Problem{{
					Path: fmt.Sprintf("$.tool_calls[%d].arguments_parsed", i), Message: err.Error()}}}
			}
			t.ArgumentsParsed = v
			continue
		}
		t.ArgumentsParsed = parseJSONValue(t.Arguments)
	}
	return nil
}

// parseJSONValue decodes s as one JSON value with numbers as json.Number,
// or returns nil when s is not JSON (or is JSON null).
func parseJSONValue(s string) any {
	s = strings.TrimSpace(s)
	if s == "" || !json.Valid([]byte(s)) {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// cloneJSONValue deep-copies a JSON value.
func cloneJSONValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, json.Number, float64:
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := cloneJSONValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := cloneJSONValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		data, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("does not encode as JSON: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var out any
		if err := dec.Decode(&out); err != nil {
			return nil, err
		}
		return out, nil
	}
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// copyCaptures returns the input c describes, sharing nothing with c.
// ArgumentsParsed is left nil: redaction or fillParsedArguments sets it.
func copyCaptures(c *Captures) *SessionAnalysisInput {
	in := &SessionAnalysisInput{
		AnalyzerInputSchemaVersion: SchemaVersion,
		SessionID:                  c.SessionID,
		OrganizationID:             c.OrganizationID,
		AgentID:                    clonePtr(c.AgentID),
		Channel:                    c.Channel,
		StartedAt:                  c.StartedAt,
		EndedAt:                    clonePtr(c.EndedAt),
		CompletionReason:           clonePtr(c.CompletionReason),
		Messages:                   make([]MessageEntry, len(c.Messages)),
		RagTraces:                  make([]RagTraceEntry, len(c.RagTraces)),
		Citations:                  make([]CitedChunk, len(c.Citations)),
		ToolCalls:                  make([]ToolCallEntry, len(c.ToolCalls)),
		HandoffEvents:              make([]HandoffEvent, len(c.HandoffEvents)),
		UserFeedback:               clonePtr(c.UserFeedback),
		CSAT:                       clonePtr(c.CSAT),
		Reopen:                     clonePtr(c.Reopen),
	}
	for i, m := range c.Messages {
		m.ToolCalls = slices.Clone(m.ToolCalls)
		if m.ToolResults != nil {
			tr := *m.ToolResults
			tr.Error = clonePtr(tr.Error)
			m.ToolResults = &tr
		}
		m.ModelUsed = clonePtr(m.ModelUsed)
		m.LatencyMS = clonePtr(m.LatencyMS)
		m.OriginalCharCount = clonePtr(m.OriginalCharCount)
		in.Messages[i] = m
	}
	for i, r := range c.RagTraces {
		r.QueryHash = clonePtr(r.QueryHash)
		r.KBIDs = slices.Clone(r.KBIDs)
		r.Retrieved = slices.Clone(r.Retrieved)
		for j := range r.Retrieved {
			r.Retrieved[j].VersionID = clonePtr(r.Retrieved[j].VersionID)
			r.Retrieved[j].Score = clonePtr(r.Retrieved[j].Score)
		}
		r.TopScore = clonePtr(r.TopScore)
		r.Hit = clonePtr(r.Hit)
		r.LatencyMS = clonePtr(r.LatencyMS)
		if an := r.Answerability; an != nil {
			cp := RagTraceAnswerability{
				Label: clonePtr(an.Label), ReasonCode: clonePtr(an.ReasonCode), RawTopScore: clonePtr(an.RawTopScore),
				ScoreBasis: clonePtr(an.ScoreBasis), Mode: clonePtr(an.Mode), Action: clonePtr(an.Action),
				ThresholdLow: clonePtr(an.ThresholdLow), ThresholdHigh: clonePtr(an.ThresholdHigh),
			}
			r.Answerability = &cp
		}
		in.RagTraces[i] = r
	}
	for i, ct := range c.Citations {
		ct.VersionID = clonePtr(ct.VersionID)
		in.Citations[i] = ct
	}
	for i, t := range c.ToolCalls {
		t.ArgumentsParsed = nil
		t.Result = clonePtr(t.Result)
		t.Error = clonePtr(t.Error)
		t.LatencyMS = clonePtr(t.LatencyMS)
		in.ToolCalls[i] = t
	}
	for i, h := range c.HandoffEvents {
		h.TransferredToAgentID = clonePtr(h.TransferredToAgentID)
		h.Reason = clonePtr(h.Reason)
		in.HandoffEvents[i] = h
	}
	if s := c.KBSnapshot; s != nil {
		cp := KbSnapshotEntry{CapturedAt: s.CapturedAt, KBVersions: make(map[string]int, len(s.KBVersions))}
		for k, v := range s.KBVersions {
			cp.KBVersions[k] = v
		}
		in.KBSnapshot = &cp
	}
	if f := in.UserFeedback; f != nil {
		f.Rating = clonePtr(f.Rating)
		f.Comment = clonePtr(f.Comment)
	}
	if r := in.Reopen; r != nil {
		r.Reason = clonePtr(r.Reason)
	}
	if c.CustomerMetadata != nil {
		meta, err := cloneJSONValue(map[string]any(c.CustomerMetadata))
		if err == nil {
			in.CustomerMetadata = meta.(map[string]any)
		} else {
			// Keep a shallow copy: validation reports the value that does
			// not encode.
			in.CustomerMetadata = make(map[string]any, len(c.CustomerMetadata))
			for k, v := range c.CustomerMetadata {
				in.CustomerMetadata[k] = v
			}
		}
	}
	return in
}
