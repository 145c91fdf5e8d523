package session

import (
	"bytes"
	"encoding/json"
	"time"
)

// SchemaVersion is the analyzer_input_schema_version this package reads and
// writes.
const SchemaVersion = 2

// DefaultCSATScaleMax is the scale_max of a [CSATEntry] that does not say.
const DefaultCSATScaleMax = 5

// ToolCallTypeFunction is the type of a [ToolCall] that does not say: the
// only kind of tool call there is today.
const ToolCallTypeFunction = "function"

// The roles a [MessageEntry] has in the inputs this package builds. The
// schema allows any string; these are the ones the assembler's rules and the
// converters know.
const (
	// RoleUser: the customer.
	RoleUser = "user"
	// RoleAssistant: the AI agent. Citations, retrieval traces and tool
	// calls name assistant turns.
	RoleAssistant = "assistant"
	// RoleHumanAgent: a human agent who took over the conversation.
	RoleHumanAgent = "human_agent"
	// RoleTool: the result of a tool call, as agent logs record it.
	RoleTool = "tool"
)

// SessionAnalysisInput is the canonical analyzer input built from one
// completed session.
//
// Required fields are populated for every analysed completed session.
// Conditionally-required fields populate when the corresponding capture
// succeeded (for example RagTraces when retrieval ran). Nullable enrichment
// fields are best-effort. Consumers should consult MissingEvidenceReasons
// (see [SessionAnalysisInput.Missing]) before attempting evidence-backed
// classifications.
//
// Marshalled, the arrays are written as [] when nil and a zero
// AnalyzerInputSchemaVersion as [SchemaVersion]. Unmarshalled, numbers inside
// the free-form values (CustomerMetadata, ToolCallEntry.ArgumentsParsed)
// decode as [json.Number], so that large integers survive a round trip.
type SessionAnalysisInput struct {
	// AnalyzerInputSchemaVersion is the version of this shape: 2. Zero means
	// the default, 2.
	AnalyzerInputSchemaVersion int `json:"analyzer_input_schema_version" jsonschema:"default=2"`
	// SessionID identifies the session (a UUID).
	SessionID string `json:"session_id" jsonschema:"required,format=uuid"`
	// OrganizationID identifies the organisation that owns the session (a UUID).
	OrganizationID string `json:"organization_id" jsonschema:"required,format=uuid"`
	// AgentID identifies the AI agent that served the session (a UUID), or
	// is nil when none did.
	AgentID *string `json:"agent_id" jsonschema:"required,nullable,format=uuid"`
	// Channel names the channel: "web", "voice", "whatsapp", ...
	Channel string `json:"channel" jsonschema:"required"`
	// StartedAt is when the session started.
	StartedAt time.Time `json:"started_at" jsonschema:"required"`
	// EndedAt is when the session ended, or nil when that was not recorded.
	EndedAt *time.Time `json:"ended_at" jsonschema:"required,nullable"`
	// CompletionReason is the free-form termination reason, kept for
	// forensic detail next to the derived Outcome; nil when none was given.
	CompletionReason *string `json:"completion_reason" jsonschema:"required,nullable"`
	// Outcome is the canonical outcome derived from the session's status and
	// termination reason (see [DeriveOutcome]); nil when unknown.
	Outcome *KnowledgeGapAnalysisOutcome `json:"knowledge_gap_analysis_outcome" jsonschema:"required,nullable"`
	// Messages is the redacted transcript, oldest first.
	Messages []MessageEntry `json:"messages"`
	// RagTraces lists the retrievals, each tied to the assistant turn it fed.
	RagTraces []RagTraceEntry `json:"rag_traces"`
	// Citations lists the chunks exposed to the model, each tied to the
	// assistant turn that cited it.
	Citations []CitedChunk `json:"citations"`
	// ToolCalls lists the tool invocations of the session.
	ToolCalls []ToolCallEntry `json:"tool_calls"`
	// HandoffEvents lists the transitions to a human agent.
	HandoffEvents []HandoffEvent `json:"handoff_events"`
	// KBSnapshot is the knowledge-base state at the session's first
	// retrieval, or nil when it was not captured.
	KBSnapshot *KbSnapshotEntry `json:"kb_snapshot" jsonschema:"nullable"`
	// UserFeedback is the user's free-form feedback, or nil.
	UserFeedback *FeedbackEntry `json:"user_feedback" jsonschema:"nullable"`
	// CSAT is the user's satisfaction score, or nil.
	CSAT *CSATEntry `json:"csat" jsonschema:"nullable"`
	// Reopen is the ticket reopen event, or nil.
	Reopen *ReopenEntry `json:"reopen" jsonschema:"nullable"`
	// CustomerMetadata holds free-form facts about the session from the
	// host's platform, or is nil.
	CustomerMetadata map[string]any `json:"customer_metadata" jsonschema:"nullable"`
	// MissingEvidenceReasons says which expected traces are unavailable, in
	// the order of [AllMissingEvidenceReasons].
	MissingEvidenceReasons []MissingEvidenceReason `json:"missing_evidence_reasons"`
}

// Missing reports whether r is among in's MissingEvidenceReasons; false
// for a nil input.
func (in *SessionAnalysisInput) Missing(r MissingEvidenceReason) bool {
	if in == nil {
		return false
	}
	for _, m := range in.MissingEvidenceReasons {
		if m == r {
			return true
		}
	}
	return false
}

// Message returns the message whose turn_id is turnID, or nil (also for a
// nil input).
func (in *SessionAnalysisInput) Message(turnID string) *MessageEntry {
	if in == nil {
		return nil
	}
	for i := range in.Messages {
		if in.Messages[i].TurnID == turnID {
			return &in.Messages[i]
		}
	}
	return nil
}

// MarshalJSON writes in with its arrays as [] when nil and a zero schema
// version as [SchemaVersion].
func (in SessionAnalysisInput) MarshalJSON() ([]byte, error) {
	type plain SessionAnalysisInput
	p := plain(in)
	if p.AnalyzerInputSchemaVersion == 0 {
		p.AnalyzerInputSchemaVersion = SchemaVersion
	}
	p.Messages = nonNil(p.Messages)
	p.RagTraces = nonNil(p.RagTraces)
	p.Citations = nonNil(p.Citations)
	p.ToolCalls = nonNil(p.ToolCalls)
	p.HandoffEvents = nonNil(p.HandoffEvents)
	p.MissingEvidenceReasons = nonNil(p.MissingEvidenceReasons)
	return json.Marshal(p)
}

// UnmarshalJSON reads an input; an absent schema version is [SchemaVersion].
// Numbers in free-form values decode as [json.Number].
func (in *SessionAnalysisInput) UnmarshalJSON(data []byte) error {
	type plain SessionAnalysisInput
	p := plain{AnalyzerInputSchemaVersion: SchemaVersion}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*in = SessionAnalysisInput(p)
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// MessageEntry is one redacted message in the transcript view of a session.
type MessageEntry struct {
	// TurnID identifies the message (a UUID), unique within the session.
	TurnID string `json:"turn_id" jsonschema:"required,format=uuid"`
	// Role says who wrote it: see [RoleUser], [RoleAssistant],
	// [RoleHumanAgent], [RoleTool].
	Role string `json:"role" jsonschema:"required"`
	// Timestamp is when the message was sent.
	Timestamp time.Time `json:"timestamp" jsonschema:"required"`
	// Content is the message's redacted, possibly truncated, text.
	Content string `json:"content" jsonschema:"required"`
	// ToolCalls lists the tools an assistant message asked for; nil (written
	// as null) when it asked for none.
	ToolCalls []ToolCall `json:"tool_calls" jsonschema:"nullable"`
	// ToolResults is the tool result a tool message carries, or nil.
	ToolResults *ToolResult `json:"tool_results" jsonschema:"nullable"`
	// ModelUsed names the model that wrote an assistant message, or is nil.
	ModelUsed *string `json:"model_used" jsonschema:"nullable"`
	// LatencyMS is how long the message took to produce, in milliseconds,
	// or nil.
	LatencyMS *int `json:"latency_ms" jsonschema:"nullable"`
	// Truncated reports that Content was cut to the assembler's limit.
	Truncated bool `json:"truncated" jsonschema:"default=false"`
	// OriginalCharCount is the length of the redacted content before it was
	// cut, in characters (Unicode code points); nil unless Truncated.
	OriginalCharCount *int `json:"original_char_count" jsonschema:"nullable"`
}

// RagTraceEntry is one retrieval that fed a specific assistant turn.
//
// Marshalled, KBIDs and Retrieved are written as [] when nil.
type RagTraceEntry struct {
	// RagQueryID identifies the retrieval (a UUID).
	RagQueryID string `json:"rag_query_id" jsonschema:"required,format=uuid"`
	// AssistantTurnID names the assistant message the retrieval fed.
	AssistantTurnID string `json:"assistant_turn_id" jsonschema:"required,format=uuid"`
	// QueryHash is a hash of the query text, or nil.
	QueryHash *string `json:"query_hash" jsonschema:"nullable"`
	// KBIDs lists the knowledge bases searched (UUIDs).
	KBIDs []string `json:"kb_ids" jsonschema:"format=uuid"`
	// Retrieved lists the chunks returned, best first.
	Retrieved []RetrievedChunk `json:"retrieved"`
	// TopScore is the best chunk's score, or nil.
	TopScore *float64 `json:"top_score" jsonschema:"nullable"`
	// Hit reports whether the retrieval found something relevant, or is nil.
	Hit *bool `json:"hit" jsonschema:"nullable"`
	// LatencyMS is how long the retrieval took, in milliseconds, or nil.
	LatencyMS *int `json:"latency_ms" jsonschema:"nullable"`
	// Answerability is the answerability gate's verdict, or nil when the
	// gate did not run.
	Answerability *RagTraceAnswerability `json:"answerability" jsonschema:"nullable"`
}

// MarshalJSON writes e with KBIDs and Retrieved as [] when nil.
func (e RagTraceEntry) MarshalJSON() ([]byte, error) {
	type plain RagTraceEntry
	p := plain(e)
	p.KBIDs = nonNil(p.KBIDs)
	p.Retrieved = nonNil(p.Retrieved)
	return json.Marshal(p)
}

// RetrievedChunk is one chunk returned by a retrieval call.
type RetrievedChunk struct {
	// ChunkID identifies the chunk.
	ChunkID string `json:"chunk_id" jsonschema:"required"`
	// DocID identifies the document the chunk belongs to.
	DocID string `json:"doc_id" jsonschema:"required"`
	// VersionID identifies the document version, or is nil.
	VersionID *string `json:"version_id" jsonschema:"nullable"`
	// Score is the retrieval score, or nil.
	Score *float64 `json:"score" jsonschema:"nullable"`
}

// RagTraceAnswerability is the answerability verdict persisted on a
// retrieval trace. Every field is optional so that a partial or older
// payload still decodes.
type RagTraceAnswerability struct {
	// Label is the verdict's label, or nil.
	Label *string `json:"label" jsonschema:"nullable"`
	// ReasonCode explains the label, or is nil.
	ReasonCode *string `json:"reason_code" jsonschema:"nullable"`
	// RawTopScore is the top score before normalisation, or nil.
	RawTopScore *float64 `json:"raw_top_score" jsonschema:"nullable"`
	// ScoreBasis names what the score measures, or is nil.
	ScoreBasis *string `json:"score_basis" jsonschema:"nullable"`
	// Mode is the gate's mode (for example shadow or enforce), or nil.
	Mode *string `json:"mode" jsonschema:"nullable"`
	// Action is what the gate did, or nil.
	Action *string `json:"action" jsonschema:"nullable"`
	// ThresholdLow is the gate's lower threshold, or nil.
	ThresholdLow *float64 `json:"threshold_low" jsonschema:"nullable"`
	// ThresholdHigh is the gate's upper threshold, or nil.
	ThresholdHigh *float64 `json:"threshold_high" jsonschema:"nullable"`
}

// CitedChunk is one chunk the runtime exposed to the model (a subset of
// what was retrieved), tied to the assistant turn that cited it.
type CitedChunk struct {
	// AssistantTurnID names the assistant message that cited the chunk.
	AssistantTurnID string `json:"assistant_turn_id" jsonschema:"required,format=uuid"`
	// KBID identifies the knowledge base (a UUID).
	KBID string `json:"kb_id" jsonschema:"required,format=uuid"`
	// DocID identifies the document.
	DocID string `json:"doc_id" jsonschema:"required"`
	// ChunkID identifies the chunk.
	ChunkID string `json:"chunk_id" jsonschema:"required"`
	// VersionID identifies the document version, or is nil.
	VersionID *string `json:"version_id" jsonschema:"nullable"`
}

// ToolCallEntry is one tool invocation in the session.
type ToolCallEntry struct {
	// ToolCallID identifies the call, unique within the session.
	ToolCallID string `json:"tool_call_id" jsonschema:"required"`
	// AssistantTurnID names the assistant message that made the call.
	AssistantTurnID string `json:"assistant_turn_id" jsonschema:"required,format=uuid"`
	// Name is the tool's name.
	Name string `json:"name" jsonschema:"required"`
	// Arguments is the call's arguments as the model wrote them (usually
	// JSON), redacted.
	Arguments string `json:"arguments" jsonschema:"required"`
	// ArgumentsParsed is Arguments decoded, any JSON value, or nil.
	ArgumentsParsed any `json:"arguments_parsed" jsonschema:"nullable"`
	// Result is the tool's output, or nil.
	Result *string `json:"result" jsonschema:"nullable"`
	// Error is the tool's error, or nil.
	Error *string `json:"error" jsonschema:"nullable"`
	// LatencyMS is how long the call took, in milliseconds, or nil.
	LatencyMS *int `json:"latency_ms" jsonschema:"nullable"`
}

// ToolCall is a tool call as an assistant message asked for it.
//
// An empty Type is written as [ToolCallTypeFunction], and read as it when
// absent.
type ToolCall struct {
	// ID identifies the call; a [ToolResult] names it.
	ID string `json:"id" jsonschema:"required"`
	// Type is the kind of call: "function".
	Type string `json:"type" jsonschema:"default=function"`
	// Function names the function and carries its arguments.
	Function ToolCallFunction `json:"function" jsonschema:"required"`
}

// MarshalJSON writes c with an empty Type as [ToolCallTypeFunction].
func (c ToolCall) MarshalJSON() ([]byte, error) {
	type plain ToolCall
	p := plain(c)
	if p.Type == "" {
		p.Type = ToolCallTypeFunction
	}
	return json.Marshal(p)
}

// UnmarshalJSON reads a tool call; an absent type is [ToolCallTypeFunction].
func (c *ToolCall) UnmarshalJSON(data []byte) error {
	type plain ToolCall
	p := plain{Type: ToolCallTypeFunction}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*c = ToolCall(p)
	return nil
}

// ToolCallFunction is the function a [ToolCall] invokes.
type ToolCallFunction struct {
	// Name is the function's name.
	Name string `json:"name" jsonschema:"required"`
	// Arguments is the call's arguments as the model wrote them, redacted.
	Arguments string `json:"arguments" jsonschema:"required"`
}

// ToolResult is the result of one tool call, as a tool message carries it.
type ToolResult struct {
	// ToolCallID names the call this is the result of.
	ToolCallID string `json:"tool_call_id" jsonschema:"required"`
	// Output is the tool's output, redacted.
	Output string `json:"output" jsonschema:"required"`
	// Error is the tool's error, redacted, or nil.
	Error *string `json:"error" jsonschema:"nullable"`
}

// HandoffEvent is a human handoff transition recorded against the session.
type HandoffEvent struct {
	// Timestamp is when the handoff happened.
	Timestamp time.Time `json:"timestamp" jsonschema:"required"`
	// TransferredToAgentID identifies the agent taken over to (a UUID), or
	// is nil.
	TransferredToAgentID *string `json:"transferred_to_agent_id" jsonschema:"nullable,format=uuid"`
	// Reason says why, or is nil.
	Reason *string `json:"reason" jsonschema:"nullable"`
}

// KbSnapshotEntry is the knowledge-base state captured at the moment of the
// session's first retrieval: each knowledge base used in the session mapped
// to its active document-version count, a coarse fingerprint of what the
// knowledge base was at the time.
//
// Marshalled, a nil KBVersions is written as {}.
type KbSnapshotEntry struct {
	// CapturedAt is when the snapshot was taken.
	CapturedAt time.Time `json:"captured_at" jsonschema:"required"`
	// KBVersions maps knowledge-base IDs (UUIDs) to active document-version
	// counts.
	KBVersions map[string]int `json:"kb_versions"`
}

// MarshalJSON writes e with a nil KBVersions as {}.
func (e KbSnapshotEntry) MarshalJSON() ([]byte, error) {
	type plain KbSnapshotEntry
	p := plain(e)
	if p.KBVersions == nil {
		p.KBVersions = map[string]int{}
	}
	return json.Marshal(p)
}

// FeedbackEntry is free-form user feedback against a session.
type FeedbackEntry struct {
	// Timestamp is when the feedback was given.
	Timestamp time.Time `json:"timestamp" jsonschema:"required"`
	// Rating is the user's rating, or nil.
	Rating *int `json:"rating" jsonschema:"nullable"`
	// Comment is the user's comment, redacted, or nil.
	Comment *string `json:"comment" jsonschema:"nullable"`
}

// CSATEntry is a CSAT score against a session.
//
// A zero ScaleMax is written as [DefaultCSATScaleMax], and read as it when
// absent.
type CSATEntry struct {
	// Timestamp is when the score was given.
	Timestamp time.Time `json:"timestamp" jsonschema:"required"`
	// Score is the score, from 0 to ScaleMax.
	Score int `json:"score" jsonschema:"required"`
	// ScaleMax is the best possible score; zero means the default, 5.
	ScaleMax int `json:"scale_max" jsonschema:"default=5"`
}

// MarshalJSON writes e with a zero ScaleMax as [DefaultCSATScaleMax].
func (e CSATEntry) MarshalJSON() ([]byte, error) {
	type plain CSATEntry
	p := plain(e)
	if p.ScaleMax == 0 {
		p.ScaleMax = DefaultCSATScaleMax
	}
	return json.Marshal(p)
}

// UnmarshalJSON reads a CSAT entry; an absent scale_max is
// [DefaultCSATScaleMax].
func (e *CSATEntry) UnmarshalJSON(data []byte) error {
	type plain CSATEntry
	p := plain{ScaleMax: DefaultCSATScaleMax}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*e = CSATEntry(p)
	return nil
}

// ReopenEntry is a ticket reopen event.
type ReopenEntry struct {
	// Timestamp is when the ticket was reopened.
	Timestamp time.Time `json:"timestamp" jsonschema:"required"`
	// Reason says why, or is nil.
	Reason *string `json:"reason" jsonschema:"nullable"`
}

// KnowledgeGapAnalysisOutcome is the canonical, analyzer-friendly outcome
// of a completed session, derived from its [SessionStatus] and
// [SessionTerminationReason] (see [DeriveOutcome]).
type KnowledgeGapAnalysisOutcome string

// The outcomes.
const (
	OutcomeResolved    KnowledgeGapAnalysisOutcome = "resolved"
	OutcomeUnresolved  KnowledgeGapAnalysisOutcome = "unresolved"
	OutcomeTransferred KnowledgeGapAnalysisOutcome = "transferred"
	OutcomeExpired     KnowledgeGapAnalysisOutcome = "expired"
	OutcomeError       KnowledgeGapAnalysisOutcome = "error"
	OutcomeAbandoned   KnowledgeGapAnalysisOutcome = "abandoned"
	OutcomeVoicemail   KnowledgeGapAnalysisOutcome = "voicemail"
	OutcomeEscalated   KnowledgeGapAnalysisOutcome = "escalated"
	OutcomeCallFailed  KnowledgeGapAnalysisOutcome = "call_failed"
)

// AllOutcomes returns every outcome, in the order of the schema's enum.
func AllOutcomes() []KnowledgeGapAnalysisOutcome {
	return []KnowledgeGapAnalysisOutcome{
		OutcomeResolved, OutcomeUnresolved, OutcomeTransferred, OutcomeExpired, OutcomeError,
		OutcomeAbandoned, OutcomeVoicemail, OutcomeEscalated, OutcomeCallFailed,
	}
}

// Valid reports whether o is one of [AllOutcomes].
func (o KnowledgeGapAnalysisOutcome) Valid() bool {
	for _, v := range AllOutcomes() {
		if o == v {
			return true
		}
	}
	return false
}

// MissingEvidenceReason says why a downstream classification may need to
// lower its confidence or skip. The [Assembler] records them; the rule for
// each is documented there.
type MissingEvidenceReason string

// The missing-evidence reasons.
const (
	NoRagTrace                 MissingEvidenceReason = "no_rag_trace"
	NoKBSnapshot               MissingEvidenceReason = "no_kb_snapshot"
	NoCitations                MissingEvidenceReason = "no_citations"
	NoToolTrace                MissingEvidenceReason = "no_tool_trace"
	NoCSAT                     MissingEvidenceReason = "no_csat"
	NoUserFeedback             MissingEvidenceReason = "no_user_feedback"
	TranscriptRedactionSkipped MissingEvidenceReason = "transcript_redaction_skipped"
	LegacySession              MissingEvidenceReason = "legacy_session"
)

// AllMissingEvidenceReasons returns every reason, in the order of the
// schema's enum, which is also the order the assembler records them in.
func AllMissingEvidenceReasons() []MissingEvidenceReason {
	return []MissingEvidenceReason{
		NoRagTrace, NoKBSnapshot, NoCitations, NoToolTrace, NoCSAT, NoUserFeedback,
		TranscriptRedactionSkipped, LegacySession,
	}
}

// Valid reports whether r is one of [AllMissingEvidenceReasons].
func (r MissingEvidenceReason) Valid() bool {
	for _, v := range AllMissingEvidenceReasons() {
		if r == v {
			return true
		}
	}
	return false
}
