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
	// can be assembled; an empty one is a malformed capture, and one this
	// package does not know counts as not terminal.
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
	// AgentTools lists the tools the agent was configured with. It is
	// informational: an agent that had tools but needed none called no tool,
	// which is no missing evidence (see [Assembler] for when no_tool_trace
	// is recorded).
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
	// CustomerMetadata holds free-form facts about the session. It is copied
	// deeply, and its keys and string values are redacted like every other
	// text (see [Redactor]).
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
//   - no_rag_trace: no retrieval trace was captured although retrieval was
//     expected or evidently ran: the agent has knowledge bases
//     (Captures.AgentKBIDs is not empty), or citations or a knowledge-base
//     snapshot were captured.
//   - no_kb_snapshot: at least one retrieval trace was captured but no
//     knowledge-base snapshot.
//   - no_citations: at least one retrieval returned at least one chunk but
//     no citation was captured. (A retrieval that returned nothing leaves
//     nothing to cite: that is evidence of a gap, not missing evidence.)
//   - no_tool_trace: a tool call evidently happened but its trace is
//     missing: a message asks for a tool call (tool_calls) whose id no tool
//     call entry (Captures.ToolCalls) has — whether or not a tool message
//     carries its result. (A tool result naming a call that neither a
//     message nor an entry records is invalid.) An agent that has tools
//     (Captures.AgentTools) and called none is not missing evidence. A host
//     that knows a tool trace was lost lists the reason in
//     Captures.MissingEvidence.
//   - no_csat: no CSAT score was captured.
//   - no_user_feedback: no user feedback was captured.
//   - transcript_redaction_skipped: the assembler has no Redactor and the
//     captures were not redacted upstream (Captures.Redacted is false).
//   - legacy_session: LegacyCutover is set and the session started before
//     it, or MinCaptureVersion is set and Captures.CaptureVersion is lower
//     (an unknown version, 0, counts as lower).
//
// A reason the captures list that their evidence contradicts is dropped:
// no_csat with a CSAT score, no_user_feedback with feedback, no_kb_snapshot
// with a snapshot, transcript_redaction_skipped when the assembler has a
// Redactor. The reasons about lists — no_rag_trace, no_citations,
// no_tool_trace — stay as listed even when some entries were captured: the
// host may know that others were lost.
type Assembler struct {
	// Redactor, when set, redacts every free text before anything else
	// sees it (see [Redactor] for the list); [DefaultRedactor] is a good
	// start. When nil, the texts are kept as captured and the input records
	// transcript_redaction_skipped unless the captures say they were
	// redacted upstream.
	Redactor Redactor
	// MaxMessageChars, when positive, bounds the texts of each message and
	// tool call, counted in characters (Unicode code points), after
	// redaction:
	//
	//   - a message's content is cut at the last grapheme-cluster boundary
	//     within the limit (so a character and its combining marks, or an
	//     emoji sequence, are never split), and the message records
	//     truncated and its original_char_count;
	//   - tool texts — a message's tool_calls[].function.arguments and
	//     tool_results output and error, a tool call's arguments, result and
	//     error — keep at most MaxMessageChars characters of their own and
	//     say where they were cut with [TruncationMarker]. JSON objects and
	//     arrays stay valid JSON: their longest strings are cut, each marked,
	//     and the value is encoded again compactly; only when the structure
	//     alone does not fit is such a text cut like plain text. A tool
	//     call's arguments_parsed is then decoded from the cut arguments
	//     (null when they are no longer JSON).
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
//  1. checks the status: a missing one is a [*ValidationError] (matching
//     [ErrInvalid]); one that is not terminal — an unknown status included
//     — fails with an error matching [ErrNotTerminal];
//  2. copies everything, so c is never modified nor shared with the result,
//     and keeps the free-form reason as completion_reason (c's
//     CompletionReason, else its TerminationReason);
//  3. redacts the free texts with a.Redactor, if any — completion_reason and
//     customer_metadata included;
//  4. truncates messages and tool texts to a.MaxMessageChars, if set;
//  5. derives the outcome ([DeriveOutcome]);
//  6. records the missing-evidence reasons (see [Assembler]);
//  7. validates the result ([SessionAnalysisInput.Validate], the message
//     order excepted), reporting problems with the paths of c's JSON form —
//     "$.citations[1].assistant_turn_id" is c.Citations[1] — as a
//     [*ValidationError];
//  8. sorts the messages by timestamp, stably.
//
// It fails with ctx.Err() once ctx is done, and with a [*RedactionError]
// if the redactor fails.
func (a *Assembler) Assemble(ctx context.Context, c *Captures) (*SessionAnalysisInput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, &ValidationError{What: "captures", Problems: []Problem{{Path: "$", Message: "no captures"}}}
	}
	var ps problems
	if c.Status == "" {
		ps.add("$.status", "is missing")
	}
	for i, r := range c.MissingEvidence {
		if !r.Valid() {
			ps.add(fmt.Sprintf("$.missing_evidence[%d]", i), "is not a missing-evidence reason")
		}
	}
	if err := ps.err("captures"); err != nil {
		return nil, err
	}
	if !c.Status.IsTerminal() {
		status := "not a status this package knows"
		if c.Status.Valid() {
			status = string(c.Status)
		}
		return nil, fmt.Errorf("%w: the session's status is %s", ErrNotTerminal, status)
	}

	in := copyCaptures(c)
	if in.CompletionReason == nil && c.TerminationReason != "" {
		r := string(c.TerminationReason)
		in.CompletionReason = &r
	}
	for i := range in.ToolCalls {
		if p := c.ToolCalls[i].ArgumentsParsed; p != nil {
			v, err := cloneJSONValue(p)
			if err != nil {
				return nil, &ValidationError{What: "captures", Problems: []Problem{{
					Path: fmt.Sprintf("$.tool_calls[%d].arguments_parsed", i), Message: "does not encode as JSON"}}}
			}
			in.ToolCalls[i].ArgumentsParsed = v
		}
	}
	if a.Redactor != nil {
		if err := a.redact(ctx, in); err != nil {
			return nil, err
		}
	}
	for i := range in.ToolCalls {
		if t := &in.ToolCalls[i]; t.ArgumentsParsed == nil {
			t.ArgumentsParsed = parseJSONValue(t.Arguments)
		}
	}
	a.truncate(in)
	if outcome, ok := DeriveOutcome(c.Status, c.TerminationReason); ok {
		in.Outcome = &outcome
	}
	in.MissingEvidenceReasons = a.missingEvidence(c, in)

	if data, err := json.Marshal(in); err != nil {
		ps.add("$", "does not encode as JSON")
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
	if len(in.RagTraces) == 0 && (len(c.AgentKBIDs) > 0 || len(in.Citations) > 0 || in.KBSnapshot != nil) {
		found[NoRagTrace] = true
	}
	if len(in.RagTraces) > 0 && in.KBSnapshot == nil {
		found[NoKBSnapshot] = true
	}
	if len(in.Citations) == 0 && slices.ContainsFunc(in.RagTraces, func(r RagTraceEntry) bool { return len(r.Retrieved) > 0 }) {
		found[NoCitations] = true
	}
	traced := make(map[string]bool, len(in.ToolCalls))
	for _, t := range in.ToolCalls {
		traced[t.ToolCallID] = true
	}
	for _, m := range in.Messages {
		for _, tc := range m.ToolCalls {
			if !traced[tc.ID] {
				found[NoToolTrace] = true
			}
		}
	}
	// Evidence captured contradicts a host-listed reason about a single
	// piece of it: the CSAT, the user feedback, the snapshot are there, and
	// a transcript the assembler redacted was not left unredacted.
	found[NoCSAT] = in.CSAT == nil
	found[NoUserFeedback] = in.UserFeedback == nil
	if in.KBSnapshot != nil {
		found[NoKBSnapshot] = false
	}
	if a.Redactor != nil {
		found[TranscriptRedactionSkipped] = false
	} else if !c.Redacted {
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

// A RedactionError reports that the [Redactor] failed. Its message never
// repeats the redactor's, which may quote the text it was given; the
// redactor's error is available to [errors.Is] and [errors.As] through
// Unwrap.
type RedactionError struct {
	// Err is the redactor's error.
	Err error
}

// Error says that redaction failed, without the redactor's text.
func (e *RedactionError) Error() string { return "session: redaction failed" }

// Unwrap returns the redactor's error.
func (e *RedactionError) Unwrap() error { return e.Err }

// maxJSONNesting bounds how deep redaction follows JSON texts held in the
// strings of JSON texts.
const maxJSONNesting = 4

// redactText redacts one free text: JSON objects, arrays and strings value
// by value (see [Redactor]), anything else as it is. It returns s itself
// when nothing changed.
func (a *Assembler) redactText(ctx context.Context, s string, depth int) (string, error) {
	if s == "" {
		return s, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if depth < maxJSONNesting {
		if t := strings.TrimSpace(s); t != "" && (t[0] == '{' || t[0] == '[' || t[0] == '"') && jsonValid(t) {
			return patchJSON(s, func(v string, _ bool) (string, error) {
				return a.redactText(ctx, v, depth+1)
			}, func(n string) (string, error) {
				return a.redactRaw(ctx, n)
			})
		}
	}
	return a.redactRaw(ctx, s)
}

// redactRaw calls the redactor.
func (a *Assembler) redactRaw(ctx context.Context, s string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	out, err := a.Redactor.Redact(ctx, s)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", &RedactionError{Err: err}
	}
	return out, nil
}

// redact applies a.Redactor to every free text of in.
func (a *Assembler) redact(ctx context.Context, in *SessionAnalysisInput) error {
	r := func(s *string) error {
		out, err := a.redactText(ctx, *s, 0)
		if err != nil {
			return err
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
		if err := r(&t.Arguments); err != nil {
			return err
		}
		if t.ArgumentsParsed != nil {
			v, err := a.redactValue(ctx, t.ArgumentsParsed)
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
	if in.CustomerMetadata != nil {
		v, err := a.redactValue(ctx, in.CustomerMetadata)
		if err != nil {
			return err
		}
		in.CustomerMetadata = v.(map[string]any)
	}
	return rp(in.CompletionReason)
}

// redactValue returns a redacted copy of v, a decoded JSON value: keys and
// strings are redacted as texts, and a number whose digits the redactor
// changes (a card number written as a JSON number, or held as an int,
// int64, float32 or float64) becomes the redacted string. When two keys of an object redact to the same key, the value of
// the key that sorts last is kept. Values of other Go types are returned
// as they are.
func (a *Assembler) redactValue(ctx context.Context, v any) (any, error) {
	switch x := v.(type) {
	case string:
		return a.redactText(ctx, x, 0)
	case json.Number:
		s, err := a.redactRaw(ctx, string(x))
		if err != nil || s == string(x) {
			return x, err
		}
		return s, nil
	case int, int64, float32:
		// As the number JSON would write: the redacted string when the
		// redactor changes its digits, else the number as it was.
		text := fmt.Sprint(x)
		if f, ok := x.(float32); ok {
			text = strconv.FormatFloat(float64(f), 'f', -1, 32)
		}
		s, err := a.redactRaw(ctx, text)
		if err != nil || s == text {
			return x, err
		}
		return s, nil
	case float64:
		orig := strconv.FormatFloat(x, 'f', -1, 64)
		s, err := a.redactRaw(ctx, orig)
		if err != nil || s == orig {
			return x, err
		}
		return s, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(map[string]any, len(x))
		for _, k := range keys {
			rk, err := a.redactText(ctx, k, 0)
			if err != nil {
				return nil, err
			}
			rv, err := a.redactValue(ctx, x[k])
			if err != nil {
				return nil, err
			}
			out[rk] = rv
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			rv, err := a.redactValue(ctx, e)
			if err != nil {
				return nil, err
			}
			out[i] = rv
		}
		return out, nil
	}
	return v, nil
}

// truncate applies a.MaxMessageChars (see [Assembler]).
func (a *Assembler) truncate(in *SessionAnalysisInput) {
	max := a.MaxMessageChars
	if max <= 0 {
		return
	}
	cut := func(s *string) bool {
		out, ok := truncateToolText(*s, max)
		*s = out
		return ok
	}
	cutp := func(s *string) {
		if s != nil {
			cut(s)
		}
	}
	for i := range in.Messages {
		m := &in.Messages[i]
		if text, ok, n := truncateChars(m.Content, max); ok {
			if !m.Truncated || m.OriginalCharCount == nil || *m.OriginalCharCount < n {
				m.OriginalCharCount = &n
			}
			m.Content, m.Truncated = text, true
		}
		for j := range m.ToolCalls {
			cut(&m.ToolCalls[j].Function.Arguments)
		}
		if tr := m.ToolResults; tr != nil {
			cut(&tr.Output)
			cutp(tr.Error)
		}
	}
	for i := range in.ToolCalls {
		t := &in.ToolCalls[i]
		if cut(&t.Arguments) {
			t.ArgumentsParsed = parseJSONValue(t.Arguments)
		}
		cutp(t.Result)
		cutp(t.Error)
	}
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
// ArgumentsParsed is left nil: Assemble sets it.
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
