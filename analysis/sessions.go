package analysis

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/session"
)

// SessionExternalIDPrefix begins the ExternalID of a conversation made
// from a session: ingesting the same session again updates it.
const SessionExternalIDPrefix = "session:"

// ConversationFromSession returns the conversation of a finished session,
// ready to ingest, keeping its evidence:
//
//   - each message becomes a turn, in order, with its role; a message
//     without text (an assistant turn that only called tools) reads
//     "[called get_order, cancel_order]" or "[no text]", so that turn
//     indexes stay those of the messages; a text longer than
//     [MaxTurnContentLen] is cut with a marker;
//   - retrieval traces with their chunks, citations, tool calls (succeeded
//     when they have a result, failed when they have an error, no_result
//     otherwise), handoffs (placed after the last message at or before
//     them), the KB snapshot, feedback, CSAT, reopen and customer metadata
//     (a value that is not a string, number, boolean or null is kept as its
//     JSON text) become its [Evidence], with turns as transcript indexes;
//   - the missing-evidence reasons are kept as they are;
//   - a text of the evidence longer than [MaxTurnContentLen] (a tool's
//     result, a reason, a metadata value) is cut with a marker, as a turn
//     is; an ID or name longer than the evidence takes is refused at ingest;
//   - the name is "Session <id>", the ExternalID "session:<id>", the source
//     platform, and the tags "outcome:<outcome>" (when known) and
//     "channel:<channel>".
//
// It fails, naming the field, for a session with no messages or more than
// [MaxTurns], or more evidence than [MaxEvidenceEntries] and
// [MaxRetrievedChunks] allow. The session's text is taken as it is: the
// service redacts at ingest when configured with a redactor (see
// [Config.Redactor]).
func ConversationFromSession(in *session.SessionAnalysisInput) (ConversationInput, error) {
	if in == nil {
		return ConversationInput{}, fmt.Errorf("analysis: no session: %w", ErrInvalid)
	}
	switch {
	case strings.TrimSpace(in.SessionID) == "":
		return ConversationInput{}, invalid("$.session_id", "the session has no id")
	case len(in.Messages) == 0:
		return ConversationInput{}, invalid("$.messages", "the session has no messages")
	case len(in.Messages) > MaxTurns:
		return ConversationInput{}, invalid("$.messages", fmt.Sprintf("%d messages, more than the %d turns of a conversation", len(in.Messages), MaxTurns))
	}
	turnOf := make(map[string]int, len(in.Messages))
	tr := make(extract.Transcript, len(in.Messages))
	for i, m := range in.Messages {
		if m.TurnID != "" {
			if _, dup := turnOf[strings.ToLower(m.TurnID)]; !dup {
				turnOf[strings.ToLower(m.TurnID)] = i
			}
		}
		role := strings.TrimSpace(m.Role)
		if role == "" {
			role = "unknown"
		}
		content := m.Content
		if strings.TrimSpace(content) == "" {
			content = noText
			if len(m.ToolCalls) > 0 {
				names := make([]string, len(m.ToolCalls))
				for j, c := range m.ToolCalls {
					names[j] = c.Function.Name
				}
				content = calledPrefix + strings.Join(names, ", ") + "]"
			}
		}
		tr[i] = extract.Turn{Role: clip(role, extract.MaxRoleLen), Content: clipMarked(content, MaxTurnContentLen-64)}
	}
	turn := func(id string) *int {
		if i, ok := turnOf[strings.ToLower(id)]; ok {
			return intp(i)
		}
		return nil
	}
	ev := &Evidence{SessionID: in.SessionID, Channel: in.Channel}
	if in.Outcome != nil {
		ev.Outcome = string(*in.Outcome)
	}
	if in.CompletionReason != nil {
		ev.CompletionReason = cut(*in.CompletionReason)
	}
	entries := len(in.RagTraces) + len(in.Citations) + len(in.ToolCalls) + len(in.HandoffEvents)
	if entries > MaxEvidenceEntries {
		return ConversationInput{}, invalid("$", fmt.Sprintf("%d retrieval traces, citations, tool calls and handoffs, more than %d", entries, MaxEvidenceEntries))
	}
	chunks := 0
	for _, r := range in.RagTraces {
		chunks += len(r.Retrieved)
		rv := Retrieval{Turn: turn(r.AssistantTurnID), TurnID: r.AssistantTurnID, KBIDs: r.KBIDs, Chunks: []RetrievedChunk{}, TopScore: r.TopScore, Hit: r.Hit}
		for _, c := range r.Retrieved {
			rv.Chunks = append(rv.Chunks, RetrievedChunk{DocID: c.DocID, ChunkID: c.ChunkID, VersionID: deref(c.VersionID), Score: c.Score})
		}
		if r.Answerability != nil {
			rv.Answerability = deref(r.Answerability.Label)
		}
		ev.Retrievals = append(ev.Retrievals, rv)
	}
	if chunks > MaxRetrievedChunks {
		return ConversationInput{}, invalid("$.rag_traces", fmt.Sprintf("%d retrieved chunks, more than %d", chunks, MaxRetrievedChunks))
	}
	for _, c := range in.Citations {
		ev.Citations = append(ev.Citations, Citation{Turn: turn(c.AssistantTurnID), TurnID: c.AssistantTurnID, KBID: c.KBID,
			DocID: c.DocID, ChunkID: c.ChunkID, VersionID: deref(c.VersionID)})
	}
	for _, c := range in.ToolCalls {
		tc := ToolCall{Turn: turn(c.AssistantTurnID), TurnID: c.AssistantTurnID, ID: c.ToolCallID, Name: c.Name,
			Arguments: cut(c.Arguments), Result: cutp(c.Result), Error: cutp(c.Error), Status: ToolNoResult}
		switch {
		case c.Error != nil:
			tc.Status = ToolFailed
		case c.Result != nil:
			tc.Status = ToolSucceeded
		}
		ev.ToolCalls = append(ev.ToolCalls, tc)
	}
	for _, h := range in.HandoffEvents {
		hv := Handoff{At: h.Timestamp.UTC(), ToAgentID: deref(h.TransferredToAgentID), Reason: cut(deref(h.Reason))}
		for i, m := range in.Messages {
			if !m.Timestamp.After(h.Timestamp) {
				hv.AfterTurn = intp(i)
			}
		}
		ev.Handoffs = append(ev.Handoffs, hv)
	}
	if k := in.KBSnapshot; k != nil {
		ev.KBSnapshot = &KBSnapshot{CapturedAt: k.CapturedAt.UTC(), KBVersions: k.KBVersions}
	}
	if f := in.UserFeedback; f != nil {
		ev.Feedback = &Feedback{Rating: f.Rating, Comment: cut(deref(f.Comment))}
	}
	if c := in.CSAT; c != nil {
		ev.CSAT = &CSAT{Score: c.Score, ScaleMax: c.ScaleMax}
		if ev.CSAT.ScaleMax == 0 {
			ev.CSAT.ScaleMax = 5
		}
	}
	if r := in.Reopen; r != nil {
		ev.Reopen = &Reopen{At: r.Timestamp.UTC(), Reason: cut(deref(r.Reason))}
	}
	if len(in.CustomerMetadata) > 0 {
		ev.CustomerMetadata = make(map[string]any, len(in.CustomerMetadata))
		for k, v := range in.CustomerMetadata {
			if !scalar(v) {
				raw, err := json.Marshal(v)
				if err != nil {
					return ConversationInput{}, invalid("$.customer_metadata"+quoteKey(k), "the value cannot be written as JSON")
				}
				v = string(raw)
			}
			if str, ok := v.(string); ok {
				v = cut(str)
			}
			ev.CustomerMetadata[k] = v
		}
	}
	for _, r := range in.MissingEvidenceReasons {
		ev.Missing = append(ev.Missing, string(r))
	}
	tags := []string{}
	if ev.Outcome != "" {
		tags = append(tags, clip("outcome:"+ev.Outcome, MaxTagLen))
	}
	if strings.TrimSpace(in.Channel) != "" {
		tags = append(tags, clip("channel:"+strings.TrimSpace(in.Channel), MaxTagLen))
	}
	sort.Strings(tags)
	return ConversationInput{
		Name:       "Session " + in.SessionID,
		Transcript: tr,
		Source:     SourcePlatform,
		Tags:       tags,
		ExternalID: SessionExternalIDPrefix + strings.ToLower(in.SessionID),
		Evidence:   ev,
	}, nil
}

// cut cuts a text longer than a conversation holds, with a marker.
func cut(s string) string { return clipMarked(s, MaxTurnContentLen-64) }

// cutp is cut of a text that may be absent.
func cutp(s *string) *string {
	if s == nil {
		return nil
	}
	c := cut(*s)
	return &c
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func quoteKey(k string) string { return "[" + strconv.Quote(k) + "]" }
