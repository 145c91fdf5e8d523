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
		{"no_rag_trace: agent without KBs", redacting, func(c *Captures) { c.RagTraces, c.Citations, c.AgentKBIDs = nil, nil, nil }, NoRagTrace, false},
		{"no_rag_trace: traces captured", redacting, func(c *Captures) {}, NoRagTrace, false},

		{"no_kb_snapshot: retrieval ran, no snapshot", redacting, func(c *Captures) { c.KBSnapshot = nil }, NoKBSnapshot, true},
		{"no_kb_snapshot: no retrieval, no snapshot", redacting, func(c *Captures) { c.KBSnapshot, c.RagTraces, c.Citations, c.AgentKBIDs = nil, nil, nil, nil }, NoKBSnapshot, false},
		{"no_kb_snapshot: snapshot captured", redacting, func(c *Captures) {}, NoKBSnapshot, false},

		{"no_citations: chunks retrieved, none cited", redacting, func(c *Captures) { c.Citations = nil }, NoCitations, true},
		{"no_citations: retrieval returned nothing", redacting, func(c *Captures) { c.Citations, c.RagTraces[0].Retrieved = nil, nil }, NoCitations, false},
		{"no_citations: no retrieval", redacting, func(c *Captures) { c.Citations, c.RagTraces, c.AgentKBIDs = nil, nil, nil }, NoCitations, false},
		{"no_citations: citations captured", redacting, func(c *Captures) {}, NoCitations, false},

		{"no_tool_trace: agent has tools, no calls captured", redacting, func(c *Captures) {
			c.ToolCalls = nil
			c.Messages[1].ToolCalls, c.Messages[2].ToolResults = nil, nil
		}, NoToolTrace, true},
		{"no_tool_trace: a message asked for a tool", redacting, func(c *Captures) { c.ToolCalls, c.AgentTools = nil, nil; c.Messages[2].ToolResults = nil }, NoToolTrace, true},
		{"no_tool_trace: a message carries a tool result", redacting, func(c *Captures) { c.ToolCalls, c.AgentTools = nil, nil; c.Messages[1].ToolCalls = nil }, NoToolTrace, true},
		{"no_tool_trace: no tools anywhere", redacting, func(c *Captures) {
			c.ToolCalls, c.AgentTools = nil, nil
			c.Messages[1].ToolCalls, c.Messages[2].ToolResults = nil, nil
		}, NoToolTrace, false},
		{"no_tool_trace: calls captured", redacting, func(c *Captures) {}, NoToolTrace, false},

		{"no_csat: none", redacting, func(c *Captures) { c.CSAT = nil }, NoCSAT, true},
		{"no_csat: captured", redacting, func(c *Captures) {}, NoCSAT, false},

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
	want := []MissingEvidenceReason{NoRagTrace, NoKBSnapshot, NoToolTrace, NoCSAT, NoUserFeedback, TranscriptRedactionSkipped, LegacySession}
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
		{"abc", 0, "abc", false, 0},
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

	for _, a := range []*Assembler{{}, {Redactor: DefaultRedactor(), MaxMessageChars: 5}} {
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
	for _, s := range []SessionStatus{"", "closed"} {
		c := fullCaptures()
		c.Status = s
		_, err := (&Assembler{}).Assemble(t.Context(), c)
		requireProblem(t, problemsOf(t, err), "$.status", "")
	}
	_, err := (&Assembler{}).Assemble(t.Context(), nil)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestAssembleOutcomeAndCompletionReason(t *testing.T) {
	tests := []struct {
		name       string
		status     SessionStatus
		reason     SessionTerminationReason
		freeForm   *string
		outcome    KnowledgeGapAnalysisOutcome
		completion *string
	}{
		{"reason kept as completion reason", StatusCompleted, ReasonHandedOff, nil, OutcomeTransferred, ptr("handed_off")},
		{"free-form reason wins", StatusFailed, ReasonNoAnswer, ptr("carrier: 486 busy here"), OutcomeCallFailed, ptr("carrier: 486 busy here")},
		{"unknown reason preserved", StatusCompleted, "caller_hung_up", nil, OutcomeResolved, ptr("caller_hung_up")},
		{"no reason", StatusExpired, "", nil, OutcomeExpired, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fullCaptures()
			c.Status, c.TerminationReason, c.CompletionReason = tt.status, tt.reason, tt.freeForm
			in, err := (&Assembler{}).Assemble(t.Context(), c)
			require.NoError(t, err)
			require.NotNil(t, in.Outcome)
			assert.Equal(t, tt.outcome, *in.Outcome)
			assert.Equal(t, tt.completion, in.CompletionReason)
		})
	}
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
