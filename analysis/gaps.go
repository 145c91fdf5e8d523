package analysis

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/internal/schemaval"
)

// A Finding is what a deterministic check of a conversation's evidence
// found, before any model reads it: a fact of the records, which a model
// must agree with or explain (see [KnowledgeGapDefinition]).
type Finding struct {
	// Check names the check: one of the Check constants.
	Check string `json:"check"`
	// Turn is the index of the turn it is about.
	Turn *int `json:"turn"`
	// Suggests is the knowledge gap it points to: one of the Gap constants.
	Suggests string `json:"suggests"`
	// Record names the entry of the evidence it is about, such as
	// "toolCalls[2]"; empty when it is about a turn alone.
	Record string `json:"record,omitempty"`
	// Detail says what was found, in a sentence of fixed wording.
	Detail string `json:"detail"`
}

// The deterministic checks of [CheckEvidence].
const (
	// CheckAnswerWithoutRetrieval: an assistant turn answered a user turn
	// without a retrieval, in a session whose other turns retrieved.
	CheckAnswerWithoutRetrieval = "answer_without_retrieval"
	// CheckRetrievalFoundNothing: a retrieval returned no chunk, or said
	// it missed, and its turn answered anyway.
	CheckRetrievalFoundNothing = "retrieval_found_nothing"
	// CheckCitationNotRetrieved: a turn cited a chunk no retrieval of that
	// turn returned.
	CheckCitationNotRetrieved = "citation_not_retrieved"
	// CheckAnswerAfterFailedTool: a tool call failed and the assistant
	// answered without a later successful call of the same tool.
	CheckAnswerAfterFailedTool = "answer_after_failed_tool"
)

// The kinds of knowledge gap: the values of the knowledge-gap definition's
// gap_kind field.
const (
	GapNone             = "none"
	GapNoRetrieval      = "no_retrieval"
	GapRetrievalMiss    = "retrieval_miss"
	GapUngroundedAnswer = "ungrounded_answer"
	GapToolFailure      = "tool_failure"
	GapOutOfScope       = "out_of_scope"
	GapOther            = "other"
)

// The keys of the knowledge-gap definition's fields.
const (
	FieldGapKind              = "gap_kind"
	FieldGapTurns             = "gap_turns"
	FieldGapTopic             = "gap_topic"
	FieldEvidenceSufficient   = "evidence_sufficient"
	FieldFindingsDisagreement = "findings_disagreement"
)

// isAssistant reports whether a turn's role is the AI assistant's (not a
// human agent's).
func isAssistant(role string) bool {
	switch strings.ToLower(role) {
	case "assistant", "bot", "ai":
		return true
	}
	return false
}

// isUser reports whether a turn's role is the customer's.
func isUser(role string) bool {
	switch strings.ToLower(role) {
	case "user", "customer", "caller", "client":
		return true
	}
	return false
}

// CheckEvidence runs the deterministic knowledge-gap checks over c's
// evidence and returns what they found, in turn order; none without
// evidence. A check that needs evidence the session could not capture (its
// missing-evidence reasons say so) stays silent rather than guess. The
// checks look at the AI assistant's turns (role assistant, bot or ai; not a
// human agent's) that answer with text — more than the "[called …]" or
// "[no text]" that [ConversationFromSession] gives a turn that only called
// tools:
//
//   - answer_without_retrieval: a turn that answers a customer's question
//     asking for knowledge — a question (a question mark, or a question
//     word first) of at least five words, not opening with a greeting or
//     a thank-you — with an answer of at least four words that does not
//     ask back, before any handoff, with neither a retrieval nor a tool
//     call since that question, in a session that retrieved for other
//     turns (needs the retrieval trace);
//   - retrieval_found_nothing: a retrieval that returned no chunk or said
//     it missed (hit false), whose turn answered;
//   - citation_not_retrieved: a citation of a chunk that no retrieval up to
//     the citing turn returned (needs the retrieval trace);
//   - answer_after_failed_tool: a failed tool call followed by an answer,
//     with no successful call of the same tool in between.
//
// A finding's detail is fixed wording with turn numbers, and its Record
// names the entry of the evidence it is about ("toolCalls[2]"), never the
// records' own text.
func CheckEvidence(c Conversation) []Finding {
	ev := c.Evidence
	if ev == nil {
		return nil
	}
	t := c.Transcript
	var out []Finding
	answered := func(i int) bool {
		return i >= 0 && i < len(t) && isAssistant(t[i].Role) && !noAnswer(t[i].Content)
	}
	retrieving := map[int]bool{}
	for _, r := range ev.Retrievals {
		if r.Turn != nil {
			retrieving[*r.Turn] = true
		}
	}
	calling := map[int]bool{}
	for _, tc := range ev.ToolCalls {
		if tc.Turn != nil {
			calling[*tc.Turn] = true
		}
	}
	handedOff := len(t) // the first turn after a handoff
	for _, h := range ev.Handoffs {
		after := -1
		if h.AfterTurn != nil {
			after = *h.AfterTurn
		}
		handedOff = min(handedOff, after+1)
	}
	traced := !ev.missing("no_rag_trace")
	if traced && len(ev.Retrievals) > 0 {
		for i := range min(len(t), handedOff) {
			q := askedBefore(t, i)
			if !answered(i) || q < 0 || !substantive(t[i].Content) {
				continue
			}
			looked := false
			for k := q + 1; k <= i; k++ {
				looked = looked || retrieving[k] || calling[k]
			}
			if !looked {
				out = append(out, Finding{Check: CheckAnswerWithoutRetrieval, Turn: intp(i), Suggests: GapNoRetrieval,
					Detail: fmt.Sprintf("turn %d answered the customer's question of turn %d without retrieving or calling a tool, where other turns retrieved", i, q)})
			}
		}
	}
	for j, r := range ev.Retrievals {
		if r.Turn == nil || !answered(*r.Turn) {
			continue
		}
		rec := "retrievals" + schemaval.Index(j)
		switch {
		case len(r.Chunks) == 0:
			out = append(out, Finding{Check: CheckRetrievalFoundNothing, Turn: intp(*r.Turn), Suggests: GapRetrievalMiss, Record: rec,
				Detail: fmt.Sprintf("%s, for turn %d, returned no chunk, and the turn answered", rec, *r.Turn)})
		case r.Hit != nil && !*r.Hit:
			out = append(out, Finding{Check: CheckRetrievalFoundNothing, Turn: intp(*r.Turn), Suggests: GapRetrievalMiss, Record: rec,
				Detail: fmt.Sprintf("%s, for turn %d, found nothing relevant (hit false), and the turn answered", rec, *r.Turn)})
		}
	}
	if traced {
		for j, ci := range ev.Citations {
			if ci.Turn == nil || retrievedUpTo(ev, *ci.Turn, ci.DocID, ci.ChunkID) {
				continue
			}
			rec := "citations" + schemaval.Index(j)
			out = append(out, Finding{Check: CheckCitationNotRetrieved, Turn: intp(*ci.Turn), Suggests: GapUngroundedAnswer, Record: rec,
				Detail: fmt.Sprintf("%s, of turn %d, names a chunk that no retrieval up to that turn returned", rec, *ci.Turn)})
		}
	}
	for j, tc := range ev.ToolCalls {
		if tc.Turn == nil || tc.Status != ToolFailed {
			continue
		}
		from := *tc.Turn
		// The turn that answers next: the failing turn itself when it has
		// text, else the next assistant turn with text.
		next := -1
		for i := from; i < len(t); i++ {
			if answered(i) {
				next = i
				break
			}
		}
		if next < 0 {
			continue
		}
		retried := false
		for k, later := range ev.ToolCalls {
			if k != j && later.Turn != nil && later.Name == tc.Name && later.Status == ToolSucceeded &&
				*later.Turn >= from && *later.Turn <= next && (*later.Turn > from || k > j) {
				retried = true
				break
			}
		}
		if !retried {
			rec := "toolCalls" + schemaval.Index(j)
			out = append(out, Finding{Check: CheckAnswerAfterFailedTool, Turn: intp(next), Suggests: GapToolFailure, Record: rec,
				Detail: fmt.Sprintf("%s failed at turn %d and turn %d answered without a successful call of the same tool", rec, from, next)})
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return *out[a].Turn < *out[b].Turn })
	return out
}

// retrievedUpTo reports whether a retrieval of a turn up to turn returned
// the chunk.
func retrievedUpTo(ev *Evidence, turn int, docID, chunkID string) bool {
	for _, r := range ev.Retrievals {
		if r.Turn == nil || *r.Turn > turn {
			continue
		}
		for _, ch := range r.Chunks {
			if ch.DocID == docID && ch.ChunkID == chunkID {
				return true
			}
		}
	}
	return false
}

// questionWords open a question.
var questionWords = map[string]bool{
	"what": true, "how": true, "when": true, "where": true, "why": true, "which": true, "who": true, "whom": true, "whose": true,
	"can": true, "could": true, "do": true, "does": true, "did": true, "is": true, "are": true, "was": true, "were": true,
	"will": true, "would": true, "should": true, "may": true, "might": true, "am": true, "have": true, "has": true,
}

// askedBefore returns the index of the customer's turn that turn i
// answers — the last one before it, with only tool turns or turns that
// answered nothing between — when it asks a question; -1 otherwise.
func askedBefore(t extract.Transcript, i int) int {
	for j := i - 1; j >= 0; j-- {
		switch {
		case isUser(t[j].Role):
			if asks(t[j].Content) {
				return j
			}
			return -1
		case isAssistant(t[j].Role) && !noAnswer(t[j].Content):
			return -1 // the assistant answered in between
		case !isAssistant(t[j].Role) && strings.ToLower(t[j].Role) != "tool":
			return -1 // someone else spoke
		}
	}
	return -1
}

// greetings open small talk, which asks for no knowledge.
var greetings = map[string]bool{
	"hi": true, "hello": true, "hey": true, "thanks": true, "thank": true, "sorry": true, "pardon": true,
	"ok": true, "okay": true, "bye": true, "good": true,
}

// minQuestionWords and minAnswerWords are how many words a question asking
// for knowledge, and an answer giving it, hold at least.
const (
	minQuestionWords = 5
	minAnswerWords   = 4
)

func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\'' })
}

// asks reports whether a customer's text asks for knowledge: a question
// (a question mark, or a question word first) of at least minQuestionWords
// words that does not open with a greeting or a thank-you ("Hi, how are
// you?", "Sorry, what?" and "Is that all?" ask for none).
func asks(text string) bool {
	w := words(text)
	if len(w) < minQuestionWords || greetings[w[0]] {
		return false
	}
	return strings.Contains(text, "?") || questionWords[w[0]]
}

// substantive reports whether an answer gives something: at least
// minAnswerWords words, and not a question back ("What is your booking
// reference?").
func substantive(text string) bool {
	t := strings.TrimSpace(text)
	return len(words(t)) >= minAnswerWords && !strings.HasSuffix(t, "?")
}

// The text [ConversationFromSession] gives a turn without text: such a
// turn answered nothing.
const (
	calledPrefix = "[called "
	noText       = "[no text]"
)

// noAnswer reports whether a turn's content answers nothing: blank, or the
// text of a turn that only called tools.
func noAnswer(content string) bool {
	c := strings.TrimSpace(content)
	return c == "" || c == noText || strings.HasPrefix(c, calledPrefix) && strings.HasSuffix(c, "]") && !strings.Contains(c, "\n")
}

func intp(i int) *int { return &i }

func ptr[T any](v T) *T { return &v }

// KnowledgeGapInstructions are the extraction instructions of
// [KnowledgeGapDefinition].
const KnowledgeGapInstructions = `Decide whether the assistant lacked the knowledge to serve the customer, and why.
Read the transcript, then the evidence block: retrievals, citations and tool calls are what the platform recorded.
gap_kind: "none" when the assistant had what it needed; "no_retrieval" when it answered without looking anything up;
"retrieval_miss" when retrieval found nothing relevant; "ungrounded_answer" when the answer is not supported by what
was retrieved or cited; "tool_failure" when a tool failed and the answer went on without it; "out_of_scope" when the
customer asked for something the assistant is not meant to handle; "other" for a gap of another kind.
gap_turns: the indexes of the turns that show the gap, comma-separated ("3,5"), or null for none.
gap_topic: what knowledge was missing, in one line of at most ten words, or null for none.
evidence_sufficient: false when the missing evidence keeps you from deciding with confidence.
The evidence's findings are facts computed from the records. If your gap_kind is not one a finding suggests,
findings_disagreement must say which finding you disagree with and why; otherwise it is null.
Never claim what missing evidence would show.`

// KnowledgeGapRubric is the judge rubric of [KnowledgeGapDefinition]:
// whether the assistant's answers are grounded.
const KnowledgeGapRubric = `Groundedness. Score 1 when every factual answer of the assistant is supported by what it
retrieved, cited or got from a tool, or is plain conversation; 0.5 when some answers go beyond that support; 0 when
the answers that matter are unsupported or contradict the evidence. When evidence is missing, judge only what is
recorded and say what could not be checked.`

// KnowledgeGapDefinition returns a ready-made definition that classifies
// why a session went wrong for lack of knowledge: its fields are gap_kind
// (one of the Gap constants), gap_turns, gap_topic, evidence_sufficient
// and findings_disagreement, its extraction instructions
// [KnowledgeGapInstructions] and its judge rubric [KnowledgeGapRubric]
// (passing at 0.7). Run it over conversations with evidence (see
// [ConversationFromSession]); the executor shows the model the findings
// of [CheckEvidence] and records on each item those its answer neither
// agreed with nor explained ([Item.Unexplained]), which fail the item. Set
// the model keys and the schedule on the returned input as needed.
func KnowledgeGapDefinition(name string) DefinitionInput {
	return DefinitionInput{
		Name: name,
		FieldSet: extract.FieldSet{
			{Key: FieldGapKind, Type: extract.Enum, Required: true, Description: "why knowledge was lacking, or none",
				EnumValues: []string{GapNone, GapNoRetrieval, GapRetrievalMiss, GapUngroundedAnswer, GapToolFailure, GapOutOfScope, GapOther}},
			{Key: FieldGapTurns, Type: extract.String, Description: "indexes of the turns that show the gap, comma-separated"},
			{Key: FieldGapTopic, Type: extract.String, Description: "the missing knowledge, in one line"},
			{Key: FieldEvidenceSufficient, Type: extract.Boolean, Required: true, Description: "whether the recorded evidence sufficed to decide"},
			{Key: FieldFindingsDisagreement, Type: extract.String, Description: "which finding you disagree with and why, when your gap_kind is none of those suggested"},
		},
		ExtractionInstructions: KnowledgeGapInstructions,
		Modes:                  Modes{Judge: &JudgeMode{Rubric: KnowledgeGapRubric, Threshold: ptr(0.7)}},
	}
}

// unexplainedFindings returns the checks of the findings a knowledge-gap
// answer neither agreed with nor explained: when fields hold a gap_kind
// that none of the findings suggests and no findings_disagreement, every
// finding's check, once each; nil when the definition has no gap_kind
// field, when there are no findings, or when the answer agrees or
// explains.
func unexplainedFindings(fs extract.FieldSet, fields map[string]any, findings []Finding) []string {
	if len(findings) == 0 || !hasField(fs, FieldGapKind) || !hasField(fs, FieldFindingsDisagreement) {
		return nil
	}
	kind, _ := fields[FieldGapKind].(string)
	if why, _ := fields[FieldFindingsDisagreement].(string); strings.TrimSpace(why) != "" {
		return nil
	}
	for _, f := range findings {
		if f.Suggests == kind {
			return nil
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range findings {
		if !seen[f.Check] {
			seen[f.Check] = true
			out = append(out, f.Check)
		}
	}
	return out
}

func hasField(fs extract.FieldSet, key string) bool {
	for _, f := range fs {
		if f.Key == key {
			return true
		}
	}
	return false
}

// A GapTable is the knowledge gaps of a run: how many items found each gap
// kind, the topics most often named for each, and what the deterministic
// checks found.
type GapTable struct {
	// RunID is the run.
	RunID string `json:"runId"`
	// Items counts the items read; Classified those with a gap kind.
	Items      int `json:"items"`
	Classified int `json:"classified"`
	// Kinds are the gap kinds found, most frequent first (ties by kind).
	Kinds []GapKindRow `json:"kinds"`
	// Findings counts the deterministic findings by check.
	Findings map[string]int `json:"findings"`
	// Unexplained counts the items whose answer neither agreed with nor
	// explained the findings.
	Unexplained int `json:"unexplained"`
	// InsufficientEvidence counts the items whose model said the evidence
	// did not suffice.
	InsufficientEvidence int `json:"insufficientEvidence"`
}

// A GapKindRow is one gap kind of a [GapTable].
type GapKindRow struct {
	// Kind is the gap kind.
	Kind string `json:"kind"`
	// Count is the items that found it.
	Count int `json:"count"`
	// Topics are the topics named with it, most frequent first, at most
	// [MaxGapTopics]; topics are compared without case and spacing.
	Topics []GapTopic `json:"topics"`
}

// A GapTopic is a topic and how many items named it.
type GapTopic struct {
	// Topic is the topic as first named.
	Topic string `json:"topic"`
	// Count is the items that named it.
	Count int `json:"count"`
}

// MaxGapTopics bounds the topics of a gap kind in a [GapTable].
const MaxGapTopics = 10

// GapTable reads the items of a run page by page and tabulates their
// knowledge gaps: the gap_kind and gap_topic fields of the knowledge-gap
// definition (see [KnowledgeGapDefinition]) and the findings recorded on
// each item. An item without a gap_kind is counted but not classified.
// ErrNotFound when the scope has no such run.
func (s *Service) GapTable(ctx context.Context, scope Scope, runID string) (GapTable, error) {
	if err := scope.Validate(); err != nil {
		return GapTable{}, err
	}
	tab := GapTable{RunID: runID, Kinds: []GapKindRow{}, Findings: map[string]int{}}
	type topicCount struct {
		first string
		n     int
		order int
	}
	kinds := map[string]int{}
	topics := map[string]map[string]*topicCount{}
	cursor := ""
	for {
		page, err := s.ListRunItems(ctx, scope, runID, cursor, s.cfg.MaxListLimit)
		if err != nil {
			return GapTable{}, err
		}
		for _, it := range page.Items {
			tab.Items++
			for _, f := range it.Findings {
				tab.Findings[f.Check]++
			}
			if len(it.Unexplained) > 0 {
				tab.Unexplained++
			}
			if ok, isBool := it.ExtractedFields[FieldEvidenceSufficient].(bool); isBool && !ok {
				tab.InsufficientEvidence++
			}
			kind, _ := it.ExtractedFields[FieldGapKind].(string)
			if kind == "" {
				continue
			}
			tab.Classified++
			kinds[kind]++
			topic, _ := it.ExtractedFields[FieldGapTopic].(string)
			norm := strings.Join(strings.Fields(strings.ToLower(topic)), " ")
			if norm == "" {
				continue
			}
			if topics[kind] == nil {
				topics[kind] = map[string]*topicCount{}
			}
			tc := topics[kind][norm]
			if tc == nil {
				tc = &topicCount{first: strings.Join(strings.Fields(topic), " "), order: len(topics[kind])}
				topics[kind][norm] = tc
			}
			tc.n++
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	for kind, n := range kinds {
		row := GapKindRow{Kind: kind, Count: n, Topics: []GapTopic{}}
		list := make([]*topicCount, 0, len(topics[kind]))
		for _, tc := range topics[kind] {
			list = append(list, tc)
		}
		sort.Slice(list, func(a, b int) bool {
			if list[a].n != list[b].n {
				return list[a].n > list[b].n
			}
			return list[a].order < list[b].order
		})
		for _, tc := range list[:min(len(list), MaxGapTopics)] {
			row.Topics = append(row.Topics, GapTopic{Topic: tc.first, Count: tc.n})
		}
		tab.Kinds = append(tab.Kinds, row)
	}
	sort.Slice(tab.Kinds, func(a, b int) bool {
		if tab.Kinds[a].Count != tab.Kinds[b].Count {
			return tab.Kinds[a].Count > tab.Kinds[b].Count
		}
		return tab.Kinds[a].Kind < tab.Kinds[b].Kind
	})
	return tab, nil
}
