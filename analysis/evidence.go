package analysis

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/debrief-go/debrief/internal/schemaval"
	"github.com/debrief-go/debrief/session"
)

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

// maxEvidenceIDLen bounds an ID or a name in evidence.
const maxEvidenceIDLen = 200

// validateEvidence adds the problems of ev, at path at, to p; turns is the
// length of the transcript.
func validateEvidence(p *problems, i int, at string, ev *Evidence, turns int) {
	if ev == nil {
		return
	}
	entries := len(ev.Retrievals) + len(ev.Citations) + len(ev.ToolCalls) + len(ev.Handoffs)
	if entries > MaxEvidenceEntries {
		p.add(i, at, fmt.Sprintf("%d retrievals, citations, tool calls and handoffs, more than %d", entries, MaxEvidenceEntries))
		return
	}
	chunks := 0
	for _, r := range ev.Retrievals {
		chunks += len(r.Chunks)
	}
	if chunks > MaxRetrievedChunks {
		p.add(i, at+".retrievals", fmt.Sprintf("%d retrieved chunks, more than %d", chunks, MaxRetrievedChunks))
		return
	}
	text := func(path, s string, limit int, required bool) {
		switch {
		case required && s == "":
			p.add(i, path, "it is missing")
		case len(s) > limit:
			p.add(i, path, fmt.Sprintf("%d bytes, more than %d", len(s), limit))
		case badText(s):
			p.add(i, path, notUTF8)
		}
	}
	turn := func(path string, t *int) {
		if t != nil && (*t < 0 || *t >= turns) {
			p.add(i, path, fmt.Sprintf("turn %d is not in the transcript of %d turns", *t, turns))
		}
	}
	score := func(path string, f *float64) {
		if f != nil && (math.IsNaN(*f) || math.IsInf(*f, 0)) {
			p.add(i, path, "the score is not a finite number")
		}
	}
	text(at+".sessionId", ev.SessionID, maxEvidenceIDLen, false)
	text(at+".channel", ev.Channel, maxEvidenceIDLen, false)
	text(at+".outcome", ev.Outcome, maxEvidenceIDLen, false)
	text(at+".completionReason", ev.CompletionReason, MaxTurnContentLen, false)
	for j, r := range ev.Retrievals {
		rp := at + ".retrievals" + schemaval.Index(j)
		turn(rp+".turn", r.Turn)
		text(rp+".turnId", r.TurnID, maxEvidenceIDLen, false)
		for k, kb := range r.KBIDs {
			text(rp+".kbIds"+schemaval.Index(k), kb, maxEvidenceIDLen, true)
		}
		for k, c := range r.Chunks {
			cp := rp + ".chunks" + schemaval.Index(k)
			text(cp+".docId", c.DocID, maxEvidenceIDLen, true)
			text(cp+".chunkId", c.ChunkID, maxEvidenceIDLen, true)
			text(cp+".versionId", c.VersionID, maxEvidenceIDLen, false)
			score(cp+".score", c.Score)
		}
		score(rp+".topScore", r.TopScore)
		text(rp+".answerability", r.Answerability, maxEvidenceIDLen, false)
	}
	for j, c := range ev.Citations {
		cp := at + ".citations" + schemaval.Index(j)
		turn(cp+".turn", c.Turn)
		text(cp+".turnId", c.TurnID, maxEvidenceIDLen, false)
		text(cp+".kbId", c.KBID, maxEvidenceIDLen, false)
		text(cp+".docId", c.DocID, maxEvidenceIDLen, true)
		text(cp+".chunkId", c.ChunkID, maxEvidenceIDLen, true)
		text(cp+".versionId", c.VersionID, maxEvidenceIDLen, false)
	}
	for j, c := range ev.ToolCalls {
		tp := at + ".toolCalls" + schemaval.Index(j)
		turn(tp+".turn", c.Turn)
		text(tp+".turnId", c.TurnID, maxEvidenceIDLen, false)
		text(tp+".id", c.ID, maxEvidenceIDLen, false)
		text(tp+".name", c.Name, maxEvidenceIDLen, true)
		text(tp+".arguments", c.Arguments, MaxTurnContentLen, false)
		switch c.Status {
		case ToolSucceeded, ToolFailed, ToolNoResult:
		default:
			p.add(i, tp+".status", fmt.Sprintf("%q is not a status: use succeeded, failed or no_result", c.Status))
		}
		if c.Result != nil {
			text(tp+".result", *c.Result, MaxTurnContentLen, false)
		}
		if c.Error != nil {
			text(tp+".error", *c.Error, MaxTurnContentLen, false)
		}
	}
	for j, h := range ev.Handoffs {
		hp := at + ".handoffs" + schemaval.Index(j)
		turn(hp+".afterTurn", h.AfterTurn)
		text(hp+".toAgentId", h.ToAgentID, maxEvidenceIDLen, false)
		text(hp+".reason", h.Reason, MaxTurnContentLen, false)
	}
	if ev.KBSnapshot != nil {
		if len(ev.KBSnapshot.KBVersions) > MaxCustomerMetadata {
			p.add(i, at+".kbSnapshot.kbVersions", fmt.Sprintf("%d knowledge bases, more than %d", len(ev.KBSnapshot.KBVersions), MaxCustomerMetadata))
		}
		for _, k := range sortedKeys(anyMap(ev.KBSnapshot.KBVersions)) {
			text(at+".kbSnapshot.kbVersions"+schemaval.Key(k), k, maxEvidenceIDLen, true)
		}
	}
	if ev.Feedback != nil {
		text(at+".feedback.comment", ev.Feedback.Comment, MaxTurnContentLen, false)
	}
	if c := ev.CSAT; c != nil && (c.ScaleMax < 1 || c.Score < 0 || c.Score > c.ScaleMax) {
		p.add(i, at+".csat", fmt.Sprintf("a score of %d on a scale to %d: want 0 to scaleMax, scaleMax at least 1", c.Score, c.ScaleMax))
	}
	if ev.Reopen != nil {
		text(at+".reopen.reason", ev.Reopen.Reason, MaxTurnContentLen, false)
	}
	if len(ev.CustomerMetadata) > MaxCustomerMetadata {
		p.add(i, at+".customerMetadata", fmt.Sprintf("%d members, more than %d", len(ev.CustomerMetadata), MaxCustomerMetadata))
	} else {
		for _, k := range sortedKeys(ev.CustomerMetadata) {
			mp := at + ".customerMetadata" + schemaval.Key(k)
			v := ev.CustomerMetadata[k]
			switch str, isString := v.(string); {
			case !scalar(v):
				p.add(i, mp, "a metadata value must be a string, number, boolean or null")
			case badText(k) || len(k) > maxEvidenceIDLen:
				p.add(i, mp, "the name is not valid UTF-8 of at most 200 bytes without NUL")
			case isString:
				text(mp, str, MaxTurnContentLen, false)
			}
		}
	}
	seen := map[string]bool{}
	for j, m := range ev.Missing {
		switch {
		case !session.MissingEvidenceReason(m).Valid():
			p.add(i, at+".missingEvidence"+schemaval.Index(j), fmt.Sprintf("%q is not a missing-evidence reason: use one of %s", m, reasonList()))
		case seen[m]:
			p.add(i, at+".missingEvidence"+schemaval.Index(j), fmt.Sprintf("%q is given twice", m))
		}
		seen[m] = true
	}
}

func anyMap(m map[string]int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// reasonList names the missing-evidence reasons, comma-separated.
func reasonList() string {
	out := ""
	for i, r := range missingReasons {
		if i > 0 {
			out += ", "
		}
		out += r.reason
	}
	return out
}

// missingReasons says what each missing-evidence reason means to a model
// reading the evidence, in the order of seed 001.
var missingReasons = []struct{ reason, meaning string }{
	{"no_rag_trace", "no retrieval trace was captured: whether and what the assistant retrieved is unknown, not absent"},
	{"no_kb_snapshot", "the state of the knowledge bases at the time was not captured"},
	{"no_citations", "no citations were captured: which retrieved chunks the answers used is unknown"},
	{"no_tool_trace", "no tool trace was captured: which tools ran and how they ended is unknown"},
	{"no_csat", "no satisfaction score was captured"},
	{"no_user_feedback", "no user feedback was captured"},
	{"transcript_redaction_skipped", "the transcript was not redacted"},
	{"legacy_session", "the session predates full capture: any evidence may be incomplete"},
}

// missingMeaning returns what the missing-evidence reason means.
func missingMeaning(reason string) string {
	for _, r := range missingReasons {
		if r.reason == reason {
			return r.meaning
		}
	}
	return ""
}

// missing reports whether ev says the evidence reason names is missing.
func (ev *Evidence) missing(reason string) bool {
	if ev == nil {
		return true
	}
	for _, m := range ev.Missing {
		if m == reason {
			return true
		}
	}
	return false
}

// texts calls fn with every text of ev a model is shown, for a redactor to
// see: the session's channel, outcome and completion reason; the
// knowledge-base, document, chunk and version IDs and answerability labels
// of retrievals and citations; tool calls' IDs, names, arguments, results
// and errors; handoffs' agents and reasons; feedback comments and reopen
// reasons. The session's and turns' IDs, which link the evidence and are
// not shown, and the statuses and missing-evidence reasons, which are
// enums, are not texts. The knowledge-base snapshot's names and the
// customer metadata are redacted as JSON values (see redactConversations).
func (ev *Evidence) texts(fn func(*string) error) error {
	var err error
	do := func(ss ...*string) {
		for _, s := range ss {
			if err == nil && s != nil && *s != "" {
				err = fn(s)
			}
		}
	}
	do(&ev.Channel, &ev.Outcome, &ev.CompletionReason)
	for j := range ev.Retrievals {
		r := &ev.Retrievals[j]
		for k := range r.KBIDs {
			do(&r.KBIDs[k])
		}
		for k := range r.Chunks {
			do(&r.Chunks[k].DocID, &r.Chunks[k].ChunkID, &r.Chunks[k].VersionID)
		}
		do(&r.Answerability)
	}
	for j := range ev.Citations {
		c := &ev.Citations[j]
		do(&c.KBID, &c.DocID, &c.ChunkID, &c.VersionID)
	}
	for j := range ev.ToolCalls {
		c := &ev.ToolCalls[j]
		do(&c.ID, &c.Name, &c.Arguments, c.Result, c.Error)
	}
	for j := range ev.Handoffs {
		do(&ev.Handoffs[j].ToAgentID, &ev.Handoffs[j].Reason)
	}
	if ev.Feedback != nil {
		do(&ev.Feedback.Comment)
	}
	if ev.Reopen != nil {
		do(&ev.Reopen.Reason)
	}
	return err
}

// Bounds of the evidence a model is shown: the JSON of the evidence block
// is at most maxEvidenceBlock bytes; lists and texts are cut, with a
// marker, until it fits.
const maxEvidenceBlock = 24 << 10

// evidenceView is the evidence as a model sees it.
type evidenceView struct {
	Session    *sessionView    `json:"session,omitempty"`
	Retrievals []retrievalView `json:"retrievals,omitempty"`
	Citations  []Citation      `json:"citations,omitempty"`
	ToolCalls  []ToolCall      `json:"toolCalls,omitempty"`
	Handoffs   []Handoff       `json:"handoffs,omitempty"`
	KBSnapshot *KBSnapshot     `json:"kbSnapshot,omitempty"`
	Feedback   *Feedback       `json:"feedback,omitempty"`
	CSAT       *CSAT           `json:"csat,omitempty"`
	Reopen     *Reopen         `json:"reopen,omitempty"`
	Metadata   map[string]any  `json:"customerMetadata,omitempty"`
	Missing    []missingView   `json:"missingEvidence"`
	Findings   []Finding       `json:"findings"`
	Omitted    map[string]int  `json:"omitted,omitempty"`
}

type sessionView struct {
	Channel          string `json:"channel,omitempty"`
	Outcome          string `json:"outcome,omitempty"`
	CompletionReason string `json:"completionReason,omitempty"`
}

type retrievalView struct {
	Turn          *int             `json:"turn"`
	Chunks        []RetrievedChunk `json:"chunks"`
	TopScore      *float64         `json:"topScore,omitempty"`
	Hit           *bool            `json:"hit,omitempty"`
	Answerability string           `json:"answerability,omitempty"`
}

type missingView struct {
	Reason  string `json:"reason"`
	Meaning string `json:"meaning"`
}

// renderEvidence returns the JSON object a model is shown of ev with the
// findings: at most maxEvidenceBlock bytes, each list cut to a bound and
// each text and ID clipped with a marker, the bounds halved until it fits;
// what was cut is counted under "omitted". Evidence too large even at one
// entry a list is shown as its missing-evidence reasons and first findings
// alone, with "omitted": {"evidence": 1}.
func renderEvidence(ev *Evidence, findings []Finding) (json.RawMessage, error) {
	for list, textLen := 100, 2000; list >= 1; list, textLen = list/2, max(textLen/2, 16) {
		raw, err := json.Marshal(evidenceViewOf(ev, findings, list, textLen))
		if err != nil {
			return nil, err
		}
		if len(raw) <= maxEvidenceBlock {
			return raw, nil
		}
	}
	// Still too large at one entry a list (texts escaped six-fold, say):
	// what is missing and the first findings, and that the rest was cut.
	v := evidenceView{Missing: []missingView{}, Findings: findings[:min(len(findings), 20)], Omitted: map[string]int{"evidence": 1}}
	if len(findings) > 20 {
		v.Omitted["findings"] = len(findings) - 20
	}
	if v.Findings == nil {
		v.Findings = []Finding{}
	}
	for _, m := range ev.Missing {
		v.Missing = append(v.Missing, missingView{Reason: m, Meaning: missingMeaning(m)})
	}
	return json.Marshal(v)
}

func evidenceViewOf(ev *Evidence, findings []Finding, list, textLen int) evidenceView {
	v := evidenceView{Missing: []missingView{}, Findings: findings, Omitted: map[string]int{}}
	if v.Findings == nil {
		v.Findings = []Finding{}
	}
	if len(v.Findings) > list {
		v.Omitted["findings"] = len(v.Findings) - list
		v.Findings = v.Findings[:list]
	}
	clipText := func(s string) string { return clipMarked(s, textLen) }
	clipID := func(s string) string { return clipMarked(s, min(textLen, maxEvidenceIDLen)) }
	if ev.Channel != "" || ev.Outcome != "" || ev.CompletionReason != "" {
		v.Session = &sessionView{Channel: clipID(ev.Channel), Outcome: clipID(ev.Outcome), CompletionReason: clipText(ev.CompletionReason)}
	}
	cut := func(name string, n int) int {
		if n > list {
			v.Omitted[name] = n - list
			return list
		}
		return n
	}
	for _, r := range ev.Retrievals[:cut("retrievals", len(ev.Retrievals))] {
		rv := retrievalView{Turn: r.Turn, Chunks: []RetrievedChunk{}, TopScore: r.TopScore, Hit: r.Hit, Answerability: clipID(r.Answerability)}
		chunks := min(len(r.Chunks), 10, list)
		if len(r.Chunks) > chunks {
			v.Omitted["chunks"] += len(r.Chunks) - chunks
		}
		for _, ch := range r.Chunks[:chunks] {
			ch.DocID, ch.ChunkID, ch.VersionID = clipID(ch.DocID), clipID(ch.ChunkID), clipID(ch.VersionID)
			rv.Chunks = append(rv.Chunks, ch)
		}
		v.Retrievals = append(v.Retrievals, rv)
	}
	for _, c := range ev.Citations[:cut("citations", len(ev.Citations))] {
		c.TurnID, c.KBID, c.DocID, c.ChunkID, c.VersionID = "", clipID(c.KBID), clipID(c.DocID), clipID(c.ChunkID), clipID(c.VersionID)
		v.Citations = append(v.Citations, c)
	}
	for _, c := range ev.ToolCalls[:cut("toolCalls", len(ev.ToolCalls))] {
		c.TurnID, c.ID, c.Name, c.Arguments = "", clipID(c.ID), clipID(c.Name), clipText(c.Arguments)
		if c.Result != nil {
			r := clipText(*c.Result)
			c.Result = &r
		}
		if c.Error != nil {
			e := clipText(*c.Error)
			c.Error = &e
		}
		v.ToolCalls = append(v.ToolCalls, c)
	}
	for _, h := range ev.Handoffs[:cut("handoffs", len(ev.Handoffs))] {
		h.Reason, h.ToAgentID = clipText(h.Reason), clipID(h.ToAgentID)
		v.Handoffs = append(v.Handoffs, h)
	}
	v.CSAT = ev.CSAT
	if k := ev.KBSnapshot; k != nil {
		v.KBSnapshot = &KBSnapshot{CapturedAt: k.CapturedAt}
		names := slices.Sorted(maps.Keys(k.KBVersions))
		if len(names) > list {
			v.Omitted["kbVersions"] = len(names) - list
			names = names[:list]
		}
		if len(names) > 0 {
			v.KBSnapshot.KBVersions = map[string]int{}
		}
		for _, n := range names {
			v.KBSnapshot.KBVersions[clipID(n)] = k.KBVersions[n]
		}
	}
	if ev.Feedback != nil {
		f := *ev.Feedback
		f.Comment = clipText(f.Comment)
		v.Feedback = &f
	}
	if ev.Reopen != nil {
		r := *ev.Reopen
		r.Reason = clipText(r.Reason)
		v.Reopen = &r
	}
	if len(ev.CustomerMetadata) > 0 {
		v.Metadata = map[string]any{}
		for n, k := range sortedKeys(ev.CustomerMetadata) {
			if n == list {
				v.Omitted["customerMetadata"] = len(ev.CustomerMetadata) - list
				break
			}
			val := ev.CustomerMetadata[k]
			if s, ok := val.(string); ok {
				val = clipText(s)
			}
			v.Metadata[clipID(k)] = val
		}
	}
	for _, m := range ev.Missing {
		v.Missing = append(v.Missing, missingView{Reason: m, Meaning: missingMeaning(m)})
	}
	if len(v.Omitted) == 0 {
		v.Omitted = nil
	}
	return v
}

// clipMarked cuts s to at most n bytes at a rune boundary, saying how much
// was cut.
func clipMarked(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := clip(s, n)
	return cut + " [cut: " + strconv.Itoa(len(s)) + " bytes in all]"
}
