package analysis

import "time"

// Evidence is what a platform recorded of a conversation besides its
// words — the retrievals, citations, tool calls, handoffs, feedback and
// CSAT of a finished session (see [ConversationFromSession]) — and which of
// that could not be captured. Turns are numbered as the conversation's
// transcript is, from 0; a record whose turn is not in the transcript has
// a nil Turn. Extraction and judging show it to the model after the
// transcript, bounded, with the deterministic findings of [CheckEvidence].
type Evidence struct {
	// SessionID is the session the conversation was converted from.
	SessionID string `json:"sessionId,omitempty"`
	// Channel is the session's channel (chat, voice, ...).
	Channel string `json:"channel,omitempty"`
	// Outcome is the session's knowledge_gap_analysis_outcome.
	Outcome string `json:"outcome,omitempty"`
	// CompletionReason is the session's free-form completion reason.
	CompletionReason string `json:"completionReason,omitempty"`
	// Retrievals are the knowledge-base retrievals, each feeding one turn.
	Retrievals []Retrieval `json:"retrievals,omitempty"`
	// Citations are the chunks turns cited.
	Citations []Citation `json:"citations,omitempty"`
	// ToolCalls are the tool invocations, with their outcome.
	ToolCalls []ToolCall `json:"toolCalls,omitempty"`
	// Handoffs are the transfers to a human.
	Handoffs []Handoff `json:"handoffs,omitempty"`
	// KBSnapshot is the state of the knowledge bases at the first retrieval.
	KBSnapshot *KBSnapshot `json:"kbSnapshot,omitempty"`
	// Feedback is the user's free-form feedback.
	Feedback *Feedback `json:"feedback,omitempty"`
	// CSAT is the satisfaction score.
	CSAT *CSAT `json:"csat,omitempty"`
	// Reopen is a reopening of the ticket.
	Reopen *Reopen `json:"reopen,omitempty"`
	// CustomerMetadata is the host's metadata of the customer: strings,
	// numbers, booleans and nulls.
	CustomerMetadata map[string]any `json:"customerMetadata,omitempty"`
	// Missing names the evidence that could not be captured, with the
	// session's missing-evidence reasons (no_rag_trace, no_kb_snapshot,
	// no_citations, no_tool_trace, no_csat, no_user_feedback,
	// transcript_redaction_skipped, legacy_session): what it would show is
	// unknown, not absent.
	Missing []string `json:"missingEvidence,omitempty"`
}

// A Retrieval is one knowledge-base retrieval that fed a turn.
type Retrieval struct {
	// Turn is the index of the turn it fed.
	Turn *int `json:"turn"`
	// TurnID is the session's ID of that turn.
	TurnID string `json:"turnId,omitempty"`
	// KBIDs are the knowledge bases searched.
	KBIDs []string `json:"kbIds,omitempty"`
	// Chunks are the chunks it returned, best first.
	Chunks []RetrievedChunk `json:"chunks"`
	// TopScore is the best chunk's score.
	TopScore *float64 `json:"topScore,omitempty"`
	// Hit reports whether the retrieval found something relevant.
	Hit *bool `json:"hit,omitempty"`
	// Answerability is the answerability gate's label, when it ran.
	Answerability string `json:"answerability,omitempty"`
}

// A RetrievedChunk is one chunk a retrieval returned.
type RetrievedChunk struct {
	// DocID and ChunkID name the chunk.
	DocID   string `json:"docId"`
	ChunkID string `json:"chunkId"`
	// VersionID is the version of its document.
	VersionID string `json:"versionId,omitempty"`
	// Score is its retrieval score.
	Score *float64 `json:"score,omitempty"`
}

// A Citation is a chunk a turn cited.
type Citation struct {
	// Turn is the index of the citing turn.
	Turn *int `json:"turn"`
	// TurnID is the session's ID of that turn.
	TurnID string `json:"turnId,omitempty"`
	// KBID, DocID and ChunkID name the chunk.
	KBID    string `json:"kbId,omitempty"`
	DocID   string `json:"docId"`
	ChunkID string `json:"chunkId"`
	// VersionID is the version of its document.
	VersionID string `json:"versionId,omitempty"`
}

// The outcomes of a tool call.
const (
	ToolSucceeded = "succeeded"
	ToolFailed    = "failed"
	ToolNoResult  = "no_result"
)

// A ToolCall is one tool invocation of a turn.
type ToolCall struct {
	// Turn is the index of the turn that made it.
	Turn *int `json:"turn"`
	// TurnID is the session's ID of that turn.
	TurnID string `json:"turnId,omitempty"`
	// ID is the call's ID.
	ID string `json:"id,omitempty"`
	// Name is the tool's name.
	Name string `json:"name"`
	// Arguments are its arguments, as the model wrote them.
	Arguments string `json:"arguments,omitempty"`
	// Status is succeeded, failed or no_result (nothing came back).
	Status string `json:"status"`
	// Result is what the tool returned.
	Result *string `json:"result,omitempty"`
	// Error is how it failed.
	Error *string `json:"error,omitempty"`
}

// A Handoff is a transfer to a human.
type Handoff struct {
	// At is when it happened.
	At time.Time `json:"at"`
	// AfterTurn is the index of the last turn before it, nil if it came
	// before the first.
	AfterTurn *int `json:"afterTurn"`
	// ToAgentID is the agent it went to.
	ToAgentID string `json:"toAgentId,omitempty"`
	// Reason says why.
	Reason string `json:"reason,omitempty"`
}

// A KBSnapshot is the state of the knowledge bases a session used.
type KBSnapshot struct {
	// CapturedAt is when it was taken.
	CapturedAt time.Time `json:"capturedAt"`
	// KBVersions maps each knowledge base to its count of active document
	// versions.
	KBVersions map[string]int `json:"kbVersions,omitempty"`
}

// Feedback is a user's free-form feedback.
type Feedback struct {
	// Rating is the rating given, if any.
	Rating *int `json:"rating,omitempty"`
	// Comment is the comment given, if any.
	Comment string `json:"comment,omitempty"`
}

// A CSAT is a satisfaction score.
type CSAT struct {
	// Score is the score, from 0 to ScaleMax.
	Score int `json:"score"`
	// ScaleMax is the top of the scale.
	ScaleMax int `json:"scaleMax"`
}

// A Reopen is a ticket reopened after the session.
type Reopen struct {
	// At is when.
	At time.Time `json:"at"`
	// Reason says why.
	Reason string `json:"reason,omitempty"`
}

// Bounds of a conversation's evidence.
const (
	// MaxEvidenceEntries bounds the retrievals, citations, tool calls and
	// handoffs of one conversation, together.
	MaxEvidenceEntries = 2000
	// MaxRetrievedChunks bounds the chunks of all its retrievals.
	MaxRetrievedChunks = 5000
	// MaxCustomerMetadata bounds the members of its customer metadata.
	MaxCustomerMetadata = 100
	// MaxExternalIDLen bounds a conversation's external ID.
	MaxExternalIDLen = 200
)

// evidenceValues is the most JSON values a valid evidence holds: about 16
// per entry and 6 per chunk, with room for the rest.
const evidenceValues = 16*MaxEvidenceEntries + 6*MaxRetrievedChunks + 2*MaxCustomerMetadata + 256

// validateEvidence adds the problems of ev, at path at, to p; turns is the
// length of the transcript.
func validateEvidence(p *problems, i int, at string, ev *Evidence, turns int) {
	// Filled in with the evidence checks.
	_, _, _, _, _ = p, i, at, ev, turns
}
