package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAssembleFullCaptures(t *testing.T) {
	var a Assembler
	in, err := a.Assemble(t.Context(), fullCaptures())
	require.NoError(t, err)
	assert.Equal(t, []MissingEvidenceReason{TranscriptRedactionSkipped}, in.MissingEvidenceReasons)
	require.NotNil(t, in.Outcome)
	assert.Equal(t, OutcomeResolved, *in.Outcome)
	require.NotNil(t, in.CompletionReason)
	assert.Equal(t, "agent_resolved", *in.CompletionReason)
	assert.Equal(t, SchemaVersion, in.AnalyzerInputSchemaVersion)
	assert.Equal(t, map[string]any{"order_id": "88123", "email": "jane.doe@example.com"}, in.ToolCalls[0].ArgumentsParsed,
		"arguments_parsed is filled from JSON arguments")
	require.NoError(t, in.Validate())
}

// TestMissingEvidenceRules gives each of the eight reasons its positive and
// negative cases. The base captures have every kind of evidence and the
// assembler a redactor, so the base records no reason at all.
func TestMissingEvidenceRules(t *testing.T) {
	redacting := Assembler{Redactor: DefaultRedactor()}
	base, err := redacting.Assemble(t.Context(), fullCaptures())
	require.NoError(t, err)
	require.Empty(t, base.MissingEvidenceReasons)
	require.NotNil(t, base.MissingEvidenceReasons, "an empty list, never nil")

	tests := []struct {
		name    string
		asm     Assembler
		mutate  func(c *Captures)
		reason  MissingEvidenceReason
		present bool
	}{
		{"no_rag_trace: agent has KBs, nothing retrieved", redacting, func(c *Captures) { c.RagTraces, c.Citations = nil, nil }, NoRagTrace, true},
		{"no_rag_trace: agent without KBs", redacting, func(c *Captures) { c.RagTraces, c.Citations, c.AgentKBIDs, c.KBSnapshot = nil, nil, nil, nil }, NoRagTrace, false},
		{"no_rag_trace: citations without a trace", redacting, func(c *Captures) { c.RagTraces, c.AgentKBIDs = nil, nil }, NoRagTrace, true},
		{"no_rag_trace: a KB snapshot without a trace", redacting, func(c *Captures) { c.RagTraces, c.Citations, c.AgentKBIDs = nil, nil, nil }, NoRagTrace, true},
		{"no_rag_trace: traces captured", redacting, func(c *Captures) {}, NoRagTrace, false},

		{"no_kb_snapshot: retrieval ran, no snapshot", redacting, func(c *Captures) { c.KBSnapshot = nil }, NoKBSnapshot, true},
		{"no_kb_snapshot: no retrieval, no snapshot", redacting, func(c *Captures) { c.KBSnapshot, c.RagTraces, c.Citations, c.AgentKBIDs = nil, nil, nil, nil }, NoKBSnapshot, false},
		{"no_kb_snapshot: snapshot captured", redacting, func(c *Captures) {}, NoKBSnapshot, false},

		{"no_citations: chunks retrieved, none cited", redacting, func(c *Captures) { c.Citations = nil }, NoCitations, true},
		{"no_citations: retrieval returned nothing", redacting, func(c *Captures) { c.Citations, c.RagTraces[0].Retrieved = nil, nil }, NoCitations, false},
		{"no_citations: no retrieval", redacting, func(c *Captures) { c.Citations, c.RagTraces, c.AgentKBIDs = nil, nil, nil }, NoCitations, false},
		{"no_citations: citations captured", redacting, func(c *Captures) {}, NoCitations, false},

		{"no_tool_trace: agent has tools but called none", redacting, func(c *Captures) {
			c.ToolCalls = nil
			c.Messages[1].ToolCalls, c.Messages[2].ToolResults = nil, nil
		}, NoToolTrace, false},
		{"no_tool_trace: a message asked for a call that has no entry", redacting, func(c *Captures) {
			c.ToolCalls, c.AgentTools = nil, nil
			c.Messages[2].ToolResults = nil
		}, NoToolTrace, true},
		{"no_tool_trace: a call with its result but no entry", redacting, func(c *Captures) { c.ToolCalls = nil }, NoToolTrace, true},
		{"no_tool_trace: one of two calls has no entry", redacting, func(c *Captures) {
			c.Messages[1].ToolCalls = append(c.Messages[1].ToolCalls, ToolCall{ID: "call_2", Function: ToolCallFunction{Name: "lookup_order", Arguments: "{}"}})
		}, NoToolTrace, true},
		{"no_tool_trace: no tools anywhere", redacting, func(c *Captures) {
			c.ToolCalls, c.AgentTools = nil, nil
			c.Messages[1].ToolCalls, c.Messages[2].ToolResults = nil, nil
		}, NoToolTrace, false},
		{"no_tool_trace: every call has its entry", redacting, func(c *Captures) {}, NoToolTrace, false},
		{"no_tool_trace: entries without message-level calls", redacting, func(c *Captures) {
			c.Messages[1].ToolCalls, c.Messages[2].ToolResults = nil, nil
		}, NoToolTrace, false},

		{"no_csat: none", redacting, func(c *Captures) { c.CSAT = nil }, NoCSAT, true},
		{"no_csat: captured", redacting, func(c *Captures) {}, NoCSAT, false},
		{"no_csat: listed by the host, but a score was captured", redacting, func(c *Captures) { c.MissingEvidence = []MissingEvidenceReason{NoCSAT} }, NoCSAT, false},
		{"no_user_feedback: listed by the host, but feedback was captured", redacting, func(c *Captures) { c.MissingEvidence = []MissingEvidenceReason{NoUserFeedback} }, NoUserFeedback, false},
		{"no_kb_snapshot: listed by the host, but a snapshot was captured", redacting, func(c *Captures) { c.MissingEvidence = []MissingEvidenceReason{NoKBSnapshot} }, NoKBSnapshot, false},
		{"transcript_redaction_skipped: listed by the host, but the assembler redacted", redacting, func(c *Captures) {
			c.MissingEvidence = []MissingEvidenceReason{TranscriptRedactionSkipped}
		}, TranscriptRedactionSkipped, false},
		{"no_citations: listed by the host with some captured (others may be lost)", redacting, func(c *Captures) {
			c.MissingEvidence = []MissingEvidenceReason{NoCitations}
		}, NoCitations, true},
		{"no_csat: listed by the host, none captured", redacting, func(c *Captures) {
			c.CSAT, c.MissingEvidence = nil, []MissingEvidenceReason{NoCSAT}
		}, NoCSAT, true},

		{"no_user_feedback: none", redacting, func(c *Captures) { c.UserFeedback = nil }, NoUserFeedback, true},
		{"no_user_feedback: captured", redacting, func(c *Captures) {}, NoUserFeedback, false},

		{"transcript_redaction_skipped: no redactor", Assembler{}, func(c *Captures) {}, TranscriptRedactionSkipped, true},
		{"transcript_redaction_skipped: redacted upstream", Assembler{}, func(c *Captures) { c.Redacted = true }, TranscriptRedactionSkipped, false},
		{"transcript_redaction_skipped: redactor set", redacting, func(c *Captures) {}, TranscriptRedactionSkipped, false},

		{"legacy_session: started before the cut-over", Assembler{Redactor: DefaultRedactor(), LegacyCutover: t0.Add(time.Hour)}, func(c *Captures) {}, LegacySession, true},
		{"legacy_session: started at the cut-over", Assembler{Redactor: DefaultRedactor(), LegacyCutover: t0}, func(c *Captures) {}, LegacySession, false},
		{"legacy_session: started after the cut-over", Assembler{Redactor: DefaultRedactor(), LegacyCutover: t0.Add(-time.Hour)}, func(c *Captures) {}, LegacySession, false},
		{"legacy_session: older capture version", Assembler{Redactor: DefaultRedactor(), MinCaptureVersion: 4}, func(c *Captures) {}, LegacySession, true},
		{"legacy_session: unknown capture version", Assembler{Redactor: DefaultRedactor(), MinCaptureVersion: 1}, func(c *Captures) { c.CaptureVersion = 0 }, LegacySession, true},
		{"legacy_session: current capture version", Assembler{Redactor: DefaultRedactor(), MinCaptureVersion: 3}, func(c *Captures) {}, LegacySession, false},
		{"legacy_session: no rule configured", redacting, func(c *Captures) { c.CaptureVersion = 0 }, LegacySession, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fullCaptures()
			tt.mutate(c)
			in, err := tt.asm.Assemble(t.Context(), c)
			require.NoError(t, err)
			assert.Equal(t, tt.present, in.Missing(tt.reason), "%v", in.MissingEvidenceReasons)
			if tt.present {
				assert.Equal(t, []MissingEvidenceReason{tt.reason}, in.MissingEvidenceReasons, "only this rule fires")
			}
		})
	}
}

func TestMissingEvidenceOrderAndHostReasons(t *testing.T) {
	a := Assembler{LegacyCutover: t0.Add(time.Hour)}
	c := &Captures{
		SessionID: sessionA, OrganizationID: orgA, Channel: "voice", StartedAt: t0, Status: StatusCompleted,
		AgentKBIDs: []string{kbA}, AgentTools: []string{"t"},
		MissingEvidence: []MissingEvidenceReason{LegacySession, NoKBSnapshot, NoKBSnapshot},
	}
	in, err := a.Assemble(t.Context(), c)
	require.NoError(t, err)
	want := []MissingEvidenceReason{NoRagTrace, NoKBSnapshot, NoCSAT, NoUserFeedback, TranscriptRedactionSkipped, LegacySession}
	assert.Equal(t, want, in.MissingEvidenceReasons, "enum order, each once, host reasons merged")

	c.MissingEvidence = []MissingEvidenceReason{"no_everything"}
	_, err = a.Assemble(t.Context(), c)
	requireProblem(t, problemsOf(t, err), "$.missing_evidence[0]", "not a missing-evidence reason")
}

func TestAssembleRedactsEveryFreeText(t *testing.T) {
	c := fullCaptures()
	c.ToolCalls[0].Error = ptr("failed for jane.doe@example.com")
	c.ToolCalls[0].ArgumentsParsed = map[string]any{"email": "jane.doe@example.com", "card": json.Number("4111111111111111"),
		"cards": []any{4111111111111111.0, "ok"}, "n": 3}
	c.Messages[2].ToolResults.Error = ptr("retry +44 20 7946 0958")
	c.CompletionReason = ptr("caller gave 415-555-2671 and left")
	a := Assembler{Redactor: DefaultRedactor()}
	in, err := a.Assemble(t.Context(), c)
	require.NoError(t, err)

	assert.Equal(t, "Where is order 88123? Mail me at [EMAIL] or call [PHONE].", in.Messages[0].Content)
	assert.Equal(t, `{"order_id":"88123","email":"[EMAIL]"}`, in.Messages[1].ToolCalls[0].Function.Arguments)
	assert.Equal(t, `{"status":"shipped","card":"[CARD]"}`, in.Messages[2].ToolResults.Output)
	assert.Equal(t, "retry [PHONE]", *in.Messages[2].ToolResults.Error)
	assert.Equal(t, `{"order_id":"88123","email":"[EMAIL]"}`, in.ToolCalls[0].Arguments)
	assert.Equal(t, map[string]any{"email": "[EMAIL]", "card": "[CARD]", "cards": []any{"[CARD]", "ok"}, "n": json.Number("3")},
		in.ToolCalls[0].ArgumentsParsed)
	assert.Equal(t, "failed for [EMAIL]", *in.ToolCalls[0].Error)
	assert.Equal(t, "Quick answer, reach me on [PHONE]", *in.UserFeedback.Comment)
	assert.Equal(t, "caller gave [PHONE] and left", *in.CompletionReason)
	assert.Empty(t, in.MissingEvidenceReasons)

	// Nothing of the originals survives anywhere in the encoded input.
	data := string(mustJSON(t, in))
	for _, secret := range []string{"jane.doe@example.com", "555 2671", "4111 1111", "4111111111111111", "7946"} {
		assert.NotContains(t, data, secret)
	}
}

func TestAssembleRedactsBeforeTruncating(t *testing.T) {
	var seen []string
	rec := RedactorFunc(func(ctx context.Context, s string) (string, error) {
		seen = append(seen, s)
		return DefaultRedactor().Redact(ctx, s)
	})
	c := fullCaptures()
	c.Messages[0].Content = "jane.doe@example.com " + strings.Repeat("é", 30)
	in, err := (&Assembler{Redactor: rec, MaxMessageChars: 10}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Contains(t, seen, c.Messages[0].Content, "the redactor sees the full original text")
	m := in.Messages[0]
	assert.Equal(t, "[EMAIL] éé", m.Content)
	assert.True(t, m.Truncated)
	require.NotNil(t, m.OriginalCharCount)
	assert.Equal(t, utf8.RuneCountInString("[EMAIL] ")+30, *m.OriginalCharCount, "counted in characters after redaction")
}

func TestAssembleTruncation(t *testing.T) {
	c := fullCaptures()
	c.Messages[0].Content = strings.Repeat("日本語", 10) // 30 characters, 90 bytes
	c.Messages[1].Content = "short"                   // untouched
	c.Messages[2].Content = strings.Repeat("🙂", 12)   // 4-byte characters
	c.Messages[3].Content = strings.Repeat("x", 25)   // already cut upstream
	c.Messages[3].Truncated, c.Messages[3].OriginalCharCount = true, ptr(900)
	in, err := (&Assembler{MaxMessageChars: 10}).Assemble(t.Context(), c)
	require.NoError(t, err)

	assert.Equal(t, strings.Repeat("日本語", 3)+"日", in.Messages[0].Content)
	assert.Equal(t, 30, *in.Messages[0].OriginalCharCount)
	assert.Equal(t, "short", in.Messages[1].Content)
	assert.False(t, in.Messages[1].Truncated)
	assert.Nil(t, in.Messages[1].OriginalCharCount)
	assert.Equal(t, strings.Repeat("🙂", 10), in.Messages[2].Content)
	assert.True(t, utf8.ValidString(in.Messages[2].Content))
	assert.Equal(t, 12, *in.Messages[2].OriginalCharCount)
	assert.Equal(t, strings.Repeat("x", 10), in.Messages[3].Content)
	assert.Equal(t, 900, *in.Messages[3].OriginalCharCount, "the upstream original length is kept")

	// No limit: nothing is cut.
	in, err = (&Assembler{}).Assemble(t.Context(), fullCaptures())
	require.NoError(t, err)
	for _, m := range in.Messages {
		assert.False(t, m.Truncated)
	}
}

func TestTruncateChars(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
		cut  bool
		orig int
	}{
		{"hello", 5, "hello", false, 0},
		{"hello", 4, "hell", true, 5},
		{"héllo", 2, "hé", true, 5},
		{"ab🙂cd", 3, "ab🙂", true, 5},
		{"🙂🙂🙂", 3, "🙂🙂🙂", false, 0},
		{"abc", 0, "", true, 3},
		{"abc", -1, "abc", false, 0},
		{"", 3, "", false, 0},
		{"a\xffbc", 2, "a\xff", true, 4},
	}
	for _, tt := range tests {
		got, cut, orig := truncateChars(tt.in, tt.max)
		assert.Equal(t, tt.want, got, "%q/%d", tt.in, tt.max)
		assert.Equal(t, tt.cut, cut, "%q/%d", tt.in, tt.max)
		assert.Equal(t, tt.orig, orig, "%q/%d", tt.in, tt.max)
	}
}

func TestAssembleDoesNotMutateOrShareCaptures(t *testing.T) {
	c := fullCaptures()
	c.ToolCalls[0].ArgumentsParsed = map[string]any{"email": "jane.doe@example.com", "list": []any{"a"}}
	before := string(mustJSON(t, c))

	for _, a := range []*Assembler{{}, {Redactor: DefaultRedactor(), MaxMessageChars: 60}} {
		in, err := a.Assemble(t.Context(), c)
		require.NoError(t, err)
		require.Equal(t, before, string(mustJSON(t, c)), "the captures are unchanged")

		// Change every reachable part of the result: the captures must not move.
		*in.AgentID = "changed"
		*in.EndedAt = time.Time{}
		in.Messages[0].Content = "changed"
		in.Messages[1].ToolCalls[0].Function.Arguments = "changed"
		*in.Messages[1].ModelUsed = "changed"
		*in.Messages[1].LatencyMS = -1
		in.Messages[2].ToolResults.Output = "changed"
		in.RagTraces[0].KBIDs[0] = "changed"
		in.RagTraces[0].Retrieved[0].DocID = "changed"
		*in.RagTraces[0].Retrieved[0].Score = -1
		*in.RagTraces[0].TopScore = -1
		*in.Citations[0].VersionID = "changed"
		in.ToolCalls[0].ArgumentsParsed.(map[string]any)["list"].([]any)[0] = "changed"
		*in.ToolCalls[0].Result = "changed"
		*in.HandoffEvents[0].Reason = "changed"
		in.KBSnapshot.KBVersions[kbA] = -1
		*in.UserFeedback.Comment = "changed"
		*in.UserFeedback.Rating = -1
		in.CSAT.Score = -1
		*in.Reopen.Reason = "changed"
		in.CustomerMetadata["nested"].(map[string]any)["n"] = 2
		in.CustomerMetadata["tags"].([]any)[0] = "changed"
		require.Equal(t, before, string(mustJSON(t, c)), "the result shares nothing with the captures")
	}
}

func TestAssembleSortsMessagesStably(t *testing.T) {
	c := fullCaptures()
	// Reverse the transcript; give two messages the same time.
	c.Messages[0], c.Messages[3] = c.Messages[3], c.Messages[0]
	c.Messages[1].Timestamp = c.Messages[2].Timestamp
	in, err := (&Assembler{}).Assemble(t.Context(), c)
	require.NoError(t, err)
	var ids []string
	for _, m := range in.Messages {
		ids = append(ids, m.TurnID)
	}
	assert.Equal(t, []string{turnUser1, turnAsst1, turnTool1, turnAsst2}, ids)
	require.NoError(t, in.Validate())
	assert.Equal(t, turnAsst2, c.Messages[0].TurnID, "the captures keep their order")
}

func TestAssembleReportsCapturePaths(t *testing.T) {
	c := fullCaptures()
	c.Messages[0], c.Messages[3] = c.Messages[3], c.Messages[0] // unsorted: paths are still the captures'
	c.Citations[0].AssistantTurnID = turnUser1
	c.Messages[0].TurnID = "nope"
	_, err := (&Assembler{}).Assemble(t.Context(), c)
	ps := problemsOf(t, err)
	requireProblem(t, ps, "$.citations[0].assistant_turn_id", "user")
	requireProblem(t, ps, "$.messages[0].turn_id", "uuid")
	assert.Contains(t, err.Error(), "invalid captures")
}

func TestAssembleStatus(t *testing.T) {
	for _, s := range []SessionStatus{StatusActive, StatusPaused, StatusWaitingForHuman, StatusWithHuman} {
		c := fullCaptures()
		c.Status = s
		in, err := (&Assembler{}).Assemble(t.Context(), c)
		assert.Nil(t, in)
		assert.ErrorIs(t, err, ErrNotTerminal, "%s", s)
		assert.NotErrorIs(t, err, ErrInvalid)
	}
	// A status this package does not know is not terminal, as IsTerminal
	// says: the session cannot be analysed (yet), which is no fault of the
	// captures.
	for _, s := range []SessionStatus{"closed", "COMPLETED", "archived"} {
		c := fullCaptures()
		c.Status = s
		in, err := (&Assembler{}).Assemble(t.Context(), c)
		assert.Nil(t, in)
		assert.ErrorIs(t, err, ErrNotTerminal, "%s", s)
		assert.NotErrorIs(t, err, ErrInvalid, "%s", s)
		assert.NotContains(t, err.Error(), string(s), "an unknown status is not repeated")
	}
	c := fullCaptures()
	c.Status = ""
	_, err := (&Assembler{}).Assemble(t.Context(), c)
	requireProblem(t, problemsOf(t, err), "$.status", "missing")
	_, err = (&Assembler{}).Assemble(t.Context(), nil)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestAssembleOutcomeAndCompletionReason(t *testing.T) {
	tests := []struct {
		name       string
		status     SessionStatus
		reason     SessionTerminationReason
		freeForm   *string
		outcome    *KnowledgeGapAnalysisOutcome
		completion *string
	}{
		{"reason kept as completion reason", StatusCompleted, ReasonHandedOff, nil, ptr(OutcomeTransferred), ptr("handed_off")},
		{"free-form reason wins", StatusFailed, ReasonNoAnswer, ptr("carrier: 486 busy here"), ptr(OutcomeCallFailed), ptr("carrier: 486 busy here")},
		{"unknown reason: no outcome, text preserved", StatusCompleted, "caller_hung_up", nil, nil, ptr("caller_hung_up")},
		{"no reason: no outcome", StatusCompleted, "", nil, nil, nil},
		{"the user left: no outcome", StatusCompleted, ReasonUserEnded, nil, nil, ptr("user_ended")},
		{"known reasons match case-insensitively", StatusCompleted, "Agent_Resolved", nil, ptr(OutcomeResolved), ptr("Agent_Resolved")},
		{"no reason, expired", StatusExpired, "", nil, ptr(OutcomeExpired), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fullCaptures()
			c.Status, c.TerminationReason, c.CompletionReason = tt.status, tt.reason, tt.freeForm
			in, err := (&Assembler{}).Assemble(t.Context(), c)
			require.NoError(t, err)
			assert.Equal(t, tt.outcome, in.Outcome)
			assert.Equal(t, tt.completion, in.CompletionReason)
		})
	}
}

// TestAssembleRedactsCompletionReason: a free-form termination reason
// becomes completion_reason, and is redacted like every other text.
func TestAssembleRedactsCompletionReason(t *testing.T) {
	c := fullCaptures()
	c.Status, c.TerminationReason = StatusFailed, "caller jane.doe@example.com hung up, call back on 415-555-2671"
	in, err := (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), c)
	require.NoError(t, err)
	require.NotNil(t, in.CompletionReason)
	assert.Equal(t, "caller [EMAIL] hung up, call back on [PHONE]", *in.CompletionReason)
	assert.Equal(t, OutcomeError, *in.Outcome)
	assert.NotContains(t, string(mustJSON(t, in)), "jane.doe")
}

func TestAssembleFailures(t *testing.T) {
	boom := errors.New("redaction service down")
	_, err := (&Assembler{Redactor: RedactorFunc(func(context.Context, string) (string, error) { return "", boom })}).Assemble(t.Context(), fullCaptures())
	assert.ErrorIs(t, err, boom)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = (&Assembler{}).Assemble(ctx, fullCaptures())
	assert.ErrorIs(t, err, context.Canceled)

	// A redactor that notices cancellation midway.
	ctx, cancel = context.WithCancel(t.Context())
	calls := 0
	_, err = (&Assembler{Redactor: RedactorFunc(func(ctx context.Context, s string) (string, error) {
		calls++
		if calls == 2 {
			cancel()
		}
		return s, nil
	})}).Assemble(ctx, fullCaptures())
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 2, calls, "redaction stops once the context is done")

	c := fullCaptures()
	c.ToolCalls[0].ArgumentsParsed = map[string]any{"ch": make(chan int)}
	_, err = (&Assembler{}).Assemble(t.Context(), c)
	requireProblem(t, problemsOf(t, err), "$.tool_calls[0].arguments_parsed", "does not encode")
}

func TestArgumentsParsed(t *testing.T) {
	type args struct {
		OrderID string `json:"order_id"`
		Count   int    `json:"count"`
	}
	c := fullCaptures()
	c.ToolCalls = append(c.ToolCalls,
		ToolCallEntry{ToolCallID: "call_2", AssistantTurnID: turnAsst1, Name: "f", Arguments: "not json"},
		ToolCallEntry{ToolCallID: "call_3", AssistantTurnID: turnAsst1, Name: "f", Arguments: `{"ignored":true}`, ArgumentsParsed: args{OrderID: "A1", Count: 2}},
	)
	for _, a := range []*Assembler{{}, {Redactor: DefaultRedactor()}} {
		in, err := a.Assemble(t.Context(), c)
		require.NoError(t, err)
		assert.Nil(t, in.ToolCalls[1].ArgumentsParsed, "arguments that are not JSON have no parsed form")
		assert.Equal(t, map[string]any{"order_id": "A1", "count": json.Number("2")}, in.ToolCalls[2].ArgumentsParsed, "a Go value is kept as its JSON form")
	}
}

func TestLoad(t *testing.T) {
	store := map[string]*Captures{orgA + "/" + sessionA: fullCaptures()}
	src := SourceFunc(func(ctx context.Context, orgID, sessionID string) (*Captures, error) {
		if c, ok := store[orgID+"/"+sessionID]; ok {
			return c, nil
		}
		return nil, ErrNotFound
	})
	var a Assembler
	in, err := a.Load(t.Context(), src, orgA, sessionA)
	require.NoError(t, err)
	assert.Equal(t, sessionA, in.SessionID)

	_, err = a.Load(t.Context(), src, orgB, sessionA)
	assert.ErrorIs(t, err, ErrNotFound, "another organisation's session is not found")

	var logs bytes.Buffer
	a.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	leaky := SourceFunc(func(ctx context.Context, orgID, sessionID string) (*Captures, error) { return fullCaptures(), nil })
	_, err = a.Load(t.Context(), leaky, orgB, sessionA)
	assert.ErrorIs(t, err, ErrNotFound, "captures of another organisation are never served")
	assert.Contains(t, logs.String(), "another session or organisation")

	_, err = a.Load(t.Context(), leaky, orgA, "11111111-2222-4333-8444-555555555555")
	assert.ErrorIs(t, err, ErrNotFound, "captures of another session are never served")

	empty := SourceFunc(func(context.Context, string, string) (*Captures, error) { return nil, nil })
	_, err = a.Load(t.Context(), empty, orgA, sessionA)
	assert.ErrorIs(t, err, ErrNotFound)

	boom := errors.New("db down")
	failing := SourceFunc(func(context.Context, string, string) (*Captures, error) { return nil, boom })
	_, err = a.Load(t.Context(), failing, orgA, sessionA)
	assert.ErrorIs(t, err, boom)

	active := SourceFunc(func(context.Context, string, string) (*Captures, error) {
		c := fullCaptures()
		c.Status = StatusActive
		return c, nil
	})
	_, err = a.Load(t.Context(), active, orgA, sessionA)
	assert.ErrorIs(t, err, ErrNotTerminal)

	logs.Reset()
	_, err = a.Load(t.Context(), src, orgA, sessionA)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), `"session_id":"`+sessionA+`"`)
	assert.NotContains(t, logs.String(), "jane.doe", "logs carry identifiers and counts, never text")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = a.Load(ctx, src, orgA, sessionA)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestAssembleRedactsInsideJSON: PII hidden by JSON escapes is found in
// every JSON text, what changed is written back in place, and the JSON stays
// valid — a card written as a number becomes a string.
func TestAssembleRedactsInsideJSON(t *testing.T) {
	args := `{"note": "call\n415-555-2671",  "email":"jane\u0040example.com", "card":4111111111111111, "n":3, "ok":true, "list":[null, "x"]}`
	want := `{"note": "call\n[PHONE]",  "email":"[EMAIL]", "card":"[CARD]", "n":3, "ok":true, "list":[null, "x"]}`
	output := `{"status":"shipped","contact":{"mail":"jos\u00e9@example.com"},"nested":"{\"phone\":\"+1 415 555 2671\"}"}`
	wantOutput := `{"status":"shipped","contact":{"mail":"[EMAIL]"},"nested":"{\"phone\":\"[PHONE]\"}"}`
	c := fullCaptures()
	c.Messages[1].ToolCalls[0].Function.Arguments = args
	c.ToolCalls[0].Arguments = args
	c.Messages[2].Content = output
	c.Messages[2].ToolResults.Output = output
	c.ToolCalls[0].Result = ptr(output)
	c.ToolCalls[0].Error = ptr(`"retry jane\u0040example.com"`)
	in, err := (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), c)
	require.NoError(t, err)

	assert.Equal(t, want, in.Messages[1].ToolCalls[0].Function.Arguments)
	assert.Equal(t, want, in.ToolCalls[0].Arguments)
	assert.Equal(t, wantOutput, in.Messages[2].Content)
	assert.Equal(t, wantOutput, in.Messages[2].ToolResults.Output)
	assert.Equal(t, wantOutput, *in.ToolCalls[0].Result)
	assert.Equal(t, `"retry [EMAIL]"`, *in.ToolCalls[0].Error)
	for _, text := range []string{in.ToolCalls[0].Arguments, in.Messages[2].ToolResults.Output, *in.ToolCalls[0].Result} {
		assert.True(t, json.Valid([]byte(text)), "%s", text)
	}
	assert.Equal(t, map[string]any{"note": "call\n[PHONE]", "email": "[EMAIL]", "card": "[CARD]", "n": json.Number("3"), "ok": true,
		"list": []any{nil, "x"}}, in.ToolCalls[0].ArgumentsParsed, "arguments_parsed is the redacted arguments, decoded")

	data := string(mustJSON(t, in))
	for _, secret := range []string{"2671", "example.com", "4111111111111111"} {
		if i := strings.Index(data, secret); i >= 0 {
			t.Errorf("%q survives: %s", secret, data[max(0, i-80):min(len(data), i+40)])
		}
	}

	// JSON without anything to redact is kept byte for byte.
	c = fullCaptures()
	c.ToolCalls[0].Arguments = "{ \"order_id\" : \"88123\" }"
	in, err = (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, "{ \"order_id\" : \"88123\" }", in.ToolCalls[0].Arguments)
}

// TestAssembleRedactsCustomerMetadata: keys and string values of
// customer_metadata go through the redactor, at any depth; numbers that
// are card numbers become strings.
func TestAssembleRedactsCustomerMetadata(t *testing.T) {
	c := fullCaptures()
	c.CustomerMetadata = map[string]any{
		"email":    "jane.doe@example.com",
		"profile":  map[string]any{"phone": "+44 20 7946 0958", "cards": []any{json.Number("4111111111111111"), 4111111111111111.0}},
		"contacts": []any{"sam@example.org", map[string]any{"sam@example.org": "owner"}},
		"plan":     "pro",
		"visits":   12,
	}
	in, err := (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"email":    "[EMAIL]",
		"profile":  map[string]any{"phone": "[PHONE]", "cards": []any{"[CARD]", "[CARD]"}},
		"contacts": []any{"[EMAIL]", map[string]any{"[EMAIL]": "owner"}},
		"plan":     "pro",
		"visits":   json.Number("12"),
	}, in.CustomerMetadata)
	assert.Equal(t, "jane.doe@example.com", c.CustomerMetadata["email"], "the captures are not modified")

	// Without a redactor the metadata is kept, and the input says so.
	in, err = (&Assembler{}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, "jane.doe@example.com", in.CustomerMetadata["email"])
	assert.True(t, in.Missing(TranscriptRedactionSkipped))
}

// TestAssembleTruncatesToolText: MaxMessageChars bounds tool outputs,
// results, errors and arguments too; JSON stays JSON, cuts are marked.
func TestAssembleTruncatesToolText(t *testing.T) {
	long := strings.Repeat("x", 200)
	args := `{"query":"` + long + `","limit":5}`
	output := `{"items":["` + long + `","short"],"total":2}`
	c := fullCaptures()
	c.Messages[1].ToolCalls[0].Function.Arguments = args
	c.ToolCalls[0].Arguments = args
	c.Messages[2].Content = output
	c.Messages[2].ToolResults.Output = output
	c.Messages[2].ToolResults.Error = ptr("stack: " + long)
	c.ToolCalls[0].Result = ptr(output)
	c.ToolCalls[0].Error = ptr(long)
	const max = 60
	in, err := (&Assembler{MaxMessageChars: max}).Assemble(t.Context(), c)
	require.NoError(t, err)

	own := func(s string) int {
		return utf8.RuneCountInString(s) - strings.Count(s, TruncationMarker)*utf8.RuneCountInString(TruncationMarker)
	}
	for name, text := range map[string]string{
		"function.arguments":   in.Messages[1].ToolCalls[0].Function.Arguments,
		"tool_calls.arguments": in.ToolCalls[0].Arguments,
		"tool_results.output":  in.Messages[2].ToolResults.Output,
		"tool_results.error":   *in.Messages[2].ToolResults.Error,
		"tool_calls.result":    *in.ToolCalls[0].Result,
		"tool_calls.error":     *in.ToolCalls[0].Error,
	} {
		assert.LessOrEqual(t, own(text), max, "%s: %s", name, text)
		assert.Contains(t, text, TruncationMarker, "%s is marked", name)
	}
	for _, text := range []string{in.ToolCalls[0].Arguments, in.Messages[2].ToolResults.Output, *in.ToolCalls[0].Result} {
		require.True(t, json.Valid([]byte(text)), "JSON stays JSON: %s", text)
	}
	assert.Equal(t, in.ToolCalls[0].Arguments, in.Messages[1].ToolCalls[0].Function.Arguments)
	parsed, ok := in.ToolCalls[0].ArgumentsParsed.(map[string]any)
	require.True(t, ok, "arguments_parsed is decoded from the cut arguments")
	assert.Equal(t, json.Number("5"), parsed["limit"], "numbers and keys are kept")
	assert.True(t, strings.HasSuffix(parsed["query"].(string), TruncationMarker))
	assert.Equal(t, []any{"short"}, decodeJSON(t, in.Messages[2].ToolResults.Output)["items"].([]any)[1:], "short strings are kept")
	assert.True(t, in.Messages[2].Truncated, "the content is cut as a message")
	assert.Equal(t, utf8.RuneCountInString(output), *in.Messages[2].OriginalCharCount)
	assert.Equal(t, "stack: "+strings.Repeat("x", max-7)+TruncationMarker, *in.Messages[2].ToolResults.Error)
	require.NoError(t, in.Validate())

	// Short tool texts are untouched.
	in, err = (&Assembler{MaxMessageChars: 4000}).Assemble(t.Context(), fullCaptures())
	require.NoError(t, err)
	assert.Equal(t, fullCaptures().ToolCalls[0].Arguments, in.ToolCalls[0].Arguments)
	assert.NotContains(t, string(mustJSON(t, in)), TruncationMarker)
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &v))
	return v
}

func TestTruncateToolText(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"plain", "abcdefgh", 5, "abcde" + TruncationMarker},
		{"no limit", "abcdefgh", 0, "abcdefgh"},
		{"json strings cut", `{"a":"0123456789","b":"xy"}`, 20, `{"a":"012` + TruncationMarker + `","b":"xy"}`},
		{"json compacted without a cut", "{\n  \"a\": \"0123456789\"\n}", 20, `{"a":"0123456789"}`},
		{"json structure too large", `[1,2,3,4,5,6,7,8,9,10]`, 5, `[1,2,` + TruncationMarker},
		{"not json", `{"a":"0123456789`, 8, `{"a":"01` + TruncationMarker},
		{"grapheme kept whole", "ab👍🏽cd", 3, "ab" + TruncationMarker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := truncateToolText(tt.in, tt.max)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestTruncateGraphemeClusters: a cut never splits a grapheme cluster.
func TestTruncateGraphemeClusters(t *testing.T) {
	family := "👨\u200d👩\u200d👧" // man ZWJ woman ZWJ girl: 5 code points
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"family emoji not split after a joiner", "hi " + family, 5, "hi "},
		{"family emoji not split before a joiner", "hi " + family, 4, "hi "},
		{"family emoji kept whole", "hi " + family + "!", 8, "hi " + family},
		{"combining accent stays", "cafe\u0301 au lait", 4, "caf"},
		{"combining accent kept", "cafe\u0301 au lait", 5, "cafe\u0301"},
		{"variation selector stays", "I \u2764\ufe0f it", 3, "I "},
		{"skin tone stays", "ok 👍🏽", 4, "ok "},
		{"flag pair not split", "🇫🇷🇩🇪", 3, "🇫🇷"},
		{"flag pair kept", "🇫🇷🇩🇪", 2, "🇫🇷"},
		{"keycap stays", "press 1\ufe0f\u20e3 now", 7, "press "},
		{"crlf stays", "a\r\nb", 2, "a"},
		{"hangul jamo stay", "\u1100\u1161\u11a8x", 2, ""},
		{"one long cluster", "e\u0301\u0302\u0303\u0304", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cut, n := truncateChars(tt.in, tt.max)
			assert.Equal(t, tt.want, got)
			assert.True(t, cut)
			assert.Equal(t, utf8.RuneCountInString(tt.in), n)
			assert.LessOrEqual(t, utf8.RuneCountInString(got), tt.max)
			if got != "" {
				last, _ := utf8.DecodeLastRuneInString(got)
				assert.NotEqual(t, '\u200d', last, "no dangling joiner")
			}
		})
	}

	c := fullCaptures()
	c.Messages[0].Content = "Thanks " + family + family
	in, err := (&Assembler{MaxMessageChars: 10}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, "Thanks ", in.Messages[0].Content)
	assert.Equal(t, 17, *in.Messages[0].OriginalCharCount)
	require.NoError(t, in.Validate())
}

// TestAssembleErrorsCarryNoText: neither a redactor's error text nor an
// offending value reaches an error message.
func TestAssembleErrorsCarryNoText(t *testing.T) {
	boom := errors.New("redaction service rejected \"jane.doe@example.com call me\"")
	_, err := (&Assembler{Redactor: RedactorFunc(func(context.Context, string) (string, error) { return "", boom })}).Assemble(t.Context(), fullCaptures())
	require.Error(t, err)
	assert.ErrorIs(t, err, boom, "the cause stays available")
	var re *RedactionError
	require.ErrorAs(t, err, &re)
	assert.NotContains(t, err.Error(), "jane")
	assert.Equal(t, "session: redaction failed", err.Error())

	c := fullCaptures()
	c.Messages[0].TurnID = "jane.doe@example.com call 415"
	c.Citations[0].AssistantTurnID = "jane.doe@example.com"
	c.AgentID = ptr("Jane Doe")
	_, err = (&Assembler{}).Assemble(t.Context(), c)
	ps := problemsOf(t, err)
	requireProblem(t, ps, "$.messages[0].turn_id", "is not a valid uuid")
	requireProblem(t, ps, "$.citations[0].assistant_turn_id", "is not a valid uuid")
	requireProblem(t, ps, "$.agent_id", "is not a valid uuid")
	for _, p := range ps {
		assert.NotContains(t, p.Message, "jane")
		assert.NotContains(t, p.Message, "Jane")
	}
	assert.NotContains(t, err.Error(), "jane")
}
