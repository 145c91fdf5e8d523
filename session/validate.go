package session

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// Validate reports every problem of in as a [*ValidationError] (matching
// [ErrInvalid]); nil means in is valid. A problem is either a way in's JSON
// form fails [JSONSchema] (a required field missing, a malformed UUID or
// date-time, a value outside an enum) or a broken cross-field rule:
//
//   - analyzer_input_schema_version is 2 (zero counts as 2);
//   - started_at and every other required timestamp is set (not the zero
//     time), and ended_at is not before started_at;
//   - turn_ids are unique (UUIDs compare case-insensitively);
//   - message timestamps are ordered: each is equal to or later than the
//     one before (non-decreasing, since two messages may share a clock tick);
//   - every message lies within the session: not before started_at, and
//     not after ended_at when it is set;
//   - user and tool messages ask for no tool calls;
//   - a message's tool_results names a tool call of the session: the id of
//     a tool call entry or of a message's tool_calls;
//   - a truncated message has an original_char_count greater than its
//     content's length in characters, and a message that is not truncated
//     has none;
//   - each citation's, retrieval trace's and tool call's assistant_turn_id
//     names a message whose role is "assistant";
//   - cited chunks are a subset of the retrieved ones: each citation's
//     chunk_id and doc_id were returned by a retrieval of its assistant
//     turn — checked when retrieval traces are present and
//     missing_evidence_reasons does not say they are incomplete
//     (no_rag_trace);
//   - rag_query_ids are unique, and so are tool_call_ids;
//   - latencies are not negative; a feedback rating is not negative; a CSAT
//     score lies between 0 and scale_max, which is at least 1 (the API sets
//     no lower bound, and surveys scored from 0 exist); kb_versions maps
//     UUIDs to counts that are not negative;
//   - missing_evidence_reasons does not repeat a reason.
//
// Each problem carries the JSON path of the offending value, such as
// "$.citations[1].assistant_turn_id", and says what is wrong without
// repeating the value, which may be personal data. A nil input is one
// problem at "$".
func (in *SessionAnalysisInput) Validate() error {
	var ps problems
	if in == nil {
		ps.add("$", "is nil: there is no input")
		return ps.err("analysis input")
	}
	data, err := json.Marshal(in)
	if err != nil {
		ps.add("$", "does not encode as JSON")
		return ps.err("analysis input")
	}
	if err := schemaProblems(&ps, data); err != nil {
		return err
	}
	crossFieldProblems(&ps, in, true)
	return ps.err("analysis input")
}

// ValidateJSON reports every problem of data, which must hold one
// [SessionAnalysisInput] as JSON, like [SessionAnalysisInput.Validate]
// does; nil means valid. Unknown properties are allowed.
func ValidateJSON(data []byte) error {
	_, err := ParseInput(data)
	return err
}

// ParseInput validates data (see [ValidateJSON]) and decodes it. It returns
// a [*ValidationError] listing every problem when data is not a valid input.
func ParseInput(data []byte) (*SessionAnalysisInput, error) {
	var ps problems
	if err := schemaProblems(&ps, data); err != nil {
		return nil, err
	}
	var in SessionAnalysisInput
	if err := json.Unmarshal(data, &in); err != nil {
		if len(ps.list) == 0 {
			ps.add("$", "does not decode into an analysis input")
		}
		return nil, ps.err("analysis input")
	}
	crossFieldProblems(&ps, &in, true)
	if err := ps.err("analysis input"); err != nil {
		return nil, err
	}
	return &in, nil
}

func schemaProblems(ps *problems, data []byte) error {
	s, err := compiledSchema()
	if err != nil {
		return err
	}
	found := s.compiled.ValidateJSON(data)
	sort.SliceStable(found, func(i, j int) bool { return pathKey(found[i].Path) < pathKey(found[j].Path) })
	for _, p := range found {
		ps.list = append(ps.list, Problem{Path: p.Path, Message: withoutValue(p.Message)})
	}
	return nil
}

// withoutValue rewrites the schema validator's messages that quote the
// offending value ("'jane@example.com' is not valid uuid: ...") so that
// they say what is wrong without it.
func withoutValue(msg string) string {
	if strings.HasPrefix(msg, "'") {
		for _, marker := range []string{"' is not valid ", "' does not match pattern "} {
			if i := strings.LastIndex(msg, marker); i > 0 {
				rest := msg[i+len(marker):]
				if j := strings.IndexByte(rest, ':'); j >= 0 {
					rest = rest[:j]
				}
				if strings.HasPrefix(marker, "' is not valid") {
					return "is not a valid " + rest
				}
				return "does not match the pattern " + rest
			}
		}
	}
	if strings.HasPrefix(msg, "invalid propertyName ") {
		return "has a property name that is not valid"
	}
	if strings.HasPrefix(msg, "not valid JSON: ") {
		return "not valid JSON"
	}
	return msg
}

// pathKey makes JSON paths sort naturally: array indices compare as
// numbers ("[2]" before "[10]").
func pathKey(path string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(path, '[')
		if i < 0 {
			b.WriteString(path)
			return b.String()
		}
		j := strings.IndexByte(path[i:], ']')
		if j < 0 {
			b.WriteString(path)
			return b.String()
		}
		b.WriteString(path[:i+1])
		idx := path[i+1 : i+j]
		if n, err := strconv.Atoi(idx); err == nil && n >= 0 {
			fmt.Fprintf(&b, "%012d", n)
		} else {
			b.WriteString(idx)
		}
		b.WriteByte(']')
		path = path[i+j+1:]
	}
}

// crossFieldProblems adds the problems of in's cross-field rules; the
// message order is checked only when checkOrder is set. Messages never
// quote the offending values.
func crossFieldProblems(ps *problems, in *SessionAnalysisInput, checkOrder bool) {
	if v := in.AnalyzerInputSchemaVersion; v != 0 && v != SchemaVersion {
		ps.add("$.analyzer_input_schema_version", "is not version %d, the one this package reads", SchemaVersion)
	}
	if in.StartedAt.IsZero() {
		ps.add("$.started_at", "is missing (the zero time)")
	}
	if in.EndedAt != nil && !in.StartedAt.IsZero() && in.EndedAt.Before(in.StartedAt) {
		ps.add("$.ended_at", "is before started_at")
	}

	roles := make(map[string]string, len(in.Messages))
	firstAt := make(map[string]int, len(in.Messages))
	calls := make(map[string]bool, len(in.ToolCalls))
	for _, c := range in.ToolCalls {
		calls[c.ToolCallID] = true
	}
	for _, m := range in.Messages {
		for _, c := range m.ToolCalls {
			calls[c.ID] = true
		}
	}
	var prev time.Time
	prevIndex := -1
	for i, m := range in.Messages {
		at := "$.messages" + schemaval.Index(i)
		id := strings.ToLower(m.TurnID)
		if j, dup := firstAt[id]; dup && m.TurnID != "" {
			ps.add(at+".turn_id", "repeats the turn_id of $.messages[%d]", j)
		} else {
			firstAt[id] = i
			roles[id] = m.Role
		}
		if m.Timestamp.IsZero() {
			ps.add(at+".timestamp", "is missing (the zero time)")
		} else {
			switch {
			case !in.StartedAt.IsZero() && m.Timestamp.Before(in.StartedAt):
				ps.add(at+".timestamp", "is before started_at: a message cannot precede its session")
			case in.EndedAt != nil && m.Timestamp.After(*in.EndedAt):
				ps.add(at+".timestamp", "is after ended_at: a message cannot follow its session")
			}
			if checkOrder && prevIndex >= 0 && m.Timestamp.Before(prev) {
				ps.add(at+".timestamp", "is earlier than the timestamp of $.messages[%d]: messages must be in chronological order", prevIndex)
			}
			prev, prevIndex = m.Timestamp, i
		}
		switch {
		case m.Truncated && m.OriginalCharCount == nil:
			ps.add(at+".original_char_count", "is null but the message is truncated")
		case m.Truncated && *m.OriginalCharCount <= utf8.RuneCountInString(m.Content):
			ps.add(at+".original_char_count", "is not more than the truncated content's length in characters")
		case !m.Truncated && m.OriginalCharCount != nil:
			ps.add(at+".original_char_count", "is set but the message is not truncated")
		}
		if len(m.ToolCalls) > 0 && (m.Role == RoleUser || m.Role == RoleTool) {
			ps.add(at+".tool_calls", "is set on a %s message: only the agent asks for tool calls", m.Role)
		}
		if tr := m.ToolResults; tr != nil && tr.ToolCallID != "" && !calls[tr.ToolCallID] {
			ps.add(at+".tool_results.tool_call_id", "names no tool call of the session")
		}
		nonNegative(ps, at+".latency_ms", m.LatencyMS)
	}

	assistantTurn := func(at, turnID string) {
		role, ok := roles[strings.ToLower(turnID)]
		switch {
		case turnID == "":
			// the schema reports it
		case !ok:
			ps.add(at, "names no message of the session")
		case role != RoleAssistant:
			if slices.Contains([]string{RoleUser, RoleHumanAgent, RoleTool}, role) {
				ps.add(at, "names a %q message, not an assistant message", role)
			} else {
				ps.add(at, "names a message whose role is not %q", RoleAssistant)
			}
		}
	}
	seenQuery := map[string]int{}
	for i, r := range in.RagTraces {
		at := "$.rag_traces" + schemaval.Index(i)
		assistantTurn(at+".assistant_turn_id", r.AssistantTurnID)
		if j, dup := seenQuery[strings.ToLower(r.RagQueryID)]; dup {
			ps.add(at+".rag_query_id", "repeats the rag_query_id of $.rag_traces[%d]", j)
		} else {
			seenQuery[strings.ToLower(r.RagQueryID)] = i
		}
		nonNegative(ps, at+".latency_ms", r.LatencyMS)
	}
	// A citation is one of the chunks retrieved for its turn. Where no
	// retrieval was traced, or the traces are known to be incomplete, there
	// is nothing to check it against.
	type chunkOfTurn struct{ turn, doc, chunk string }
	var retrieved map[chunkOfTurn]bool
	if len(in.RagTraces) > 0 && !slices.Contains(in.MissingEvidenceReasons, NoRagTrace) {
		retrieved = map[chunkOfTurn]bool{}
		for _, r := range in.RagTraces {
			for _, c := range r.Retrieved {
				retrieved[chunkOfTurn{strings.ToLower(r.AssistantTurnID), c.DocID, c.ChunkID}] = true
			}
		}
	}
	for i, c := range in.Citations {
		at := "$.citations" + schemaval.Index(i)
		before := len(ps.list)
		assistantTurn(at+".assistant_turn_id", c.AssistantTurnID)
		if len(ps.list) == before && retrieved != nil && !retrieved[chunkOfTurn{strings.ToLower(c.AssistantTurnID), c.DocID, c.ChunkID}] {
			ps.add(at, "cites a chunk that no retrieval of its assistant turn returned: cited chunks are a subset of the retrieved ones")
		}
	}
	seenCall := map[string]int{}
	for i, c := range in.ToolCalls {
		at := "$.tool_calls" + schemaval.Index(i)
		assistantTurn(at+".assistant_turn_id", c.AssistantTurnID)
		if j, dup := seenCall[c.ToolCallID]; dup {
			ps.add(at+".tool_call_id", "repeats the tool_call_id of $.tool_calls[%d]", j)
		} else {
			seenCall[c.ToolCallID] = i
		}
		nonNegative(ps, at+".latency_ms", c.LatencyMS)
	}
	for i, h := range in.HandoffEvents {
		if h.Timestamp.IsZero() {
			ps.add("$.handoff_events"+schemaval.Index(i)+".timestamp", "is missing (the zero time)")
		}
	}
	if s := in.KBSnapshot; s != nil {
		if s.CapturedAt.IsZero() {
			ps.add("$.kb_snapshot.captured_at", "is missing (the zero time)")
		}
		kbs := make([]string, 0, len(s.KBVersions))
		for kb := range s.KBVersions {
			kbs = append(kbs, kb)
		}
		slices.Sort(kbs)
		for _, kb := range kbs {
			if !IsUUID(kb) {
				// The schema's propertyNames rule reports this too, but
				// without the key's path.
				ps.add("$.kb_snapshot.kb_versions"+schemaval.Key(kb), "the key is not a knowledge-base UUID")
			}
			if n := s.KBVersions[kb]; n < 0 {
				ps.add("$.kb_snapshot.kb_versions"+schemaval.Key(kb), "is negative; a version count cannot be")
			}
		}
	}
	if f := in.UserFeedback; f != nil {
		if f.Timestamp.IsZero() {
			ps.add("$.user_feedback.timestamp", "is missing (the zero time)")
		}
		if f.Rating != nil && *f.Rating < 0 {
			ps.add("$.user_feedback.rating", "is negative; a rating cannot be")
		}
	}
	if c := in.CSAT; c != nil {
		if c.Timestamp.IsZero() {
			ps.add("$.csat.timestamp", "is missing (the zero time)")
		}
		scale := c.ScaleMax
		if scale == 0 {
			scale = DefaultCSATScaleMax
		}
		if scale < 1 {
			ps.add("$.csat.scale_max", "is less than 1; it must be at least 1")
		} else if c.Score < 0 || c.Score > scale {
			ps.add("$.csat.score", "is outside 0..%d (scale_max)", scale)
		}
	}
	if r := in.Reopen; r != nil && r.Timestamp.IsZero() {
		ps.add("$.reopen.timestamp", "is missing (the zero time)")
	}
	seenReason := map[MissingEvidenceReason]int{}
	for i, r := range in.MissingEvidenceReasons {
		if j, dup := seenReason[r]; dup {
			ps.add("$.missing_evidence_reasons"+schemaval.Index(i), "repeats $.missing_evidence_reasons[%d]", j)
		} else {
			seenReason[r] = i
		}
	}
}

func nonNegative(ps *problems, path string, v *int) {
	if v != nil && *v < 0 {
		ps.add(path, "is negative; a latency cannot be")
	}
}
