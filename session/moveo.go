package session

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// MoveoOptions configures [FromMoveo]. The zero value is ready to use.
type MoveoOptions struct {
	// OrganizationID is the organisation the sessions belong to. When
	// empty, the record's account_id is used (as it is when it is a UUID,
	// else a UUID derived from it).
	OrganizationID string
	// CSATScaleMax is the best score of the platform's CSAT survey; 0
	// means 5.
	CSATScaleMax int
	// SourcesNotCited, when set, records a message:brain_send's
	// collection_sources as retrieved chunks only, not as citations. By
	// default every source counts as cited, since Moveo shows the sources
	// an answer was written from — which means that no_citations never
	// fires for a Moveo session. Set it when the platform's sources are
	// what retrieval returned rather than what the answer used, so that
	// uncited retrievals are reported.
	SourcesNotCited bool
}

// MoveoResponseSeparator joins the texts of the responses of one
// message:brain_send event into one assistant message: the responses are
// separate chat bubbles, so they become separate paragraphs.
const MoveoResponseSeparator = "\n\n"

// FromMoveo converts the records of a Moveo.ai get_session_content answer
// into captures, one per record, in the record order. It returns a slice
// because the GraphQL response holds an array of records
// ({"data": {"get_session_content": [...]}}); [FromMoveoRecord] converts a
// response that must hold exactly one. data is the GraphQL response, a bare
// record, or an array of records. A response with no record fails with
// [ErrNotFound]; a malformed one with a [*ValidationError] (matching
// [ErrInvalid]) listing every problem with its JSON path. Unknown event
// types never fail a conversion.
//
// The conversion, per record:
//
//   - session_id becomes SessionID as it is when it is a UUID, otherwise a
//     UUID derived from it by name (SHA-1, version 5), so that conversion is
//     reproducible; the original is kept in customer_metadata as
//     moveo_session_id. The organisation is [MoveoOptions].OrganizationID
//     or account_id (derived likewise). The agent is brain_parent_id (the
//     AI agent across its versions), else brain_id.
//   - Timestamps carry no zone ("2024-01-06T07:34:43.252") and are read as
//     UTC; RFC 3339 timestamps with a zone are accepted too. start_time is
//     StartedAt (else the first event's time); end_time is EndedAt (else
//     the session:expired event's time). When a message is timed before
//     the start or after the end, the session is widened to hold it.
//     expired_time, the time at which the platform expires (or would
//     expire) the session — an hour after end_time in Moveo's own example —
//     is a deadline, not evidence that the session expired: it is kept in
//     customer_metadata and affects neither the status nor the times.
//   - Each message has a turn_id derived from the session id and its index
//     in the record's messages. message:received becomes a user message
//     with message.text; message:brain_send an assistant message joining the
//     texts of message.responses with [MoveoResponseSeparator], its
//     response_time (seconds) as latency_ms. An event from a human agent
//     (agent_id set, or an event name mentioning "agent") that carries text
//     becomes a [RoleHumanAgent] message; the first event of each human
//     agent, and any handover, transfer, assignment or member-join event,
//     records a handoff event (transferred_to_agent_id when agent_id is a
//     UUID). session:expired ends the session as expired. Other events are
//     counted in customer_metadata.unknown_events by name.
//   - A message:brain_send with collection_id or collection_sources becomes
//     a retrieval trace of that assistant turn, its collection_sources the
//     retrieved chunks (top_score their best score). The trace's knowledge
//     base is collection_id, else the one collection of
//     participated_collections when there is exactly one; otherwise it is
//     unknown, kb_ids stays empty and the sources cannot be cited (a
//     citation names its knowledge base). The sources also become the
//     turn's citations unless [MoveoOptions].SourcesNotCited is set.
//     participated_collections and the collections of the traces are the
//     agent's knowledge bases.
//   - The status is completed when end_time is set or the session expired
//     with goal_achieved set (the goal then says how it went); expired after
//     a session:expired event otherwise; else active (which the assembler
//     refuses as not terminal). The termination reason is, in this order:
//     handed_off when a human agent took part (handoff events or
//     participated_agents); agent_resolved when goal_achieved is positive,
//     agent_unresolved when it is set otherwise; inactivity_timeout after
//     session:expired; and, when the user wrote at least one message,
//     agent_unresolved when is_covered is false or agent_resolved when
//     is_contained and is_covered are true; else none — and a completed
//     session without a reason has no outcome (see [DeriveOutcome]).
//   - csat_human_agent, when set, is the CSAT (a human agent had the last
//     word with the user); otherwise csat_brain. rating and feedback become
//     user_feedback (a negative rating is a problem). Both are timestamped
//     at the session's end.
//   - customer_metadata keeps the record's other facts (account, brain,
//     desk and integration ids, is_contained, is_covered, is_test, tags,
//     goal_achieved, user_sentiment, rule_ids, insights, expired_time, the
//     participating brains and collections, user id, both CSAT scores,
//     rating, message reactions, ...); of participated_agents it keeps the
//     agents' ids only (agent_id or id of an entry that is an object), not
//     their names or e-mail addresses. user_name, user_email,
//     channel_user_id and external_user_id are personal data (a phone
//     number, for a messaging channel) and are not kept. The assembler
//     redacts the rest of the metadata, insights included, with its
//     [Redactor]; names in free-form insights are beyond [DefaultRedactor].
func FromMoveo(data []byte, opts MoveoOptions) ([]Captures, error) {
	var ps problems
	root, err := decodeLoose(data)
	if err != nil {
		ps.add("$", "%s", notJSON(err))
		return nil, ps.err("Moveo record")
	}
	records, path, indexed := moveoRecords(root, &ps)
	if err := ps.err("Moveo record"); err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: the response holds no session record", ErrNotFound)
	}
	out := make([]Captures, 0, len(records))
	for i, rec := range records {
		at := path
		if indexed {
			at += schemaval.Index(i)
		}
		c, ok := convertMoveo(rec, at, opts, &ps)
		if ok {
			out = append(out, c)
		}
	}
	if err := ps.err("Moveo record"); err != nil {
		return nil, err
	}
	return out, nil
}

// FromMoveoRecord converts a Moveo.ai get_session_content answer that
// holds exactly one session record, in any of the shapes [FromMoveo]
// accepts, with the same conversion. A response with no record fails with
// [ErrNotFound], one with several with a [*ValidationError].
func FromMoveoRecord(data []byte, opts MoveoOptions) (*Captures, error) {
	cs, err := FromMoveo(data, opts)
	if err != nil {
		return nil, err
	}
	if len(cs) != 1 {
		return nil, &ValidationError{What: "Moveo record", Problems: []Problem{{Path: "$",
			Message: fmt.Sprintf("holds %d session records, not one (FromMoveo converts several)", len(cs))}}}
	}
	return &cs[0], nil
}

// moveoRecords finds the records in a decoded response, the path of the
// value holding them, and whether that value is an array (so that each
// record's path takes an index).
func moveoRecords(root any, ps *problems) ([]any, string, bool) {
	const field = "get_session_content"
	graphQLErrors := func(x map[string]any) {
		if errs, ok := x["errors"]; ok && errs != nil {
			ps.add("$.errors", "the response reports GraphQL errors and holds no data")
		}
	}
	switch x := root.(type) {
	case []any:
		return x, "$", true
	case map[string]any:
		d, hasData := x["data"]
		if !hasData {
			if _, hasErrors := x["errors"]; hasErrors {
				graphQLErrors(x)
				return nil, "$", false
			}
			return []any{x}, "$", false
		}
		data, ok := d.(map[string]any)
		if !ok {
			if d == nil {
				graphQLErrors(x)
				return nil, "$.data", false
			}
			ps.add("$.data", "is %s, not an object", jsonKind(d))
			return nil, "$.data", false
		}
		switch c := data[field].(type) {
		case nil:
			return nil, "$.data." + field, false
		case []any:
			return c, "$.data." + field, true
		case map[string]any:
			return []any{c}, "$.data." + field, false
		default:
			ps.add("$.data."+field, "is %s, not an array of session records", jsonKind(c))
			return nil, "$.data." + field, false
		}
	default:
		ps.add("$", "is %s, not an object or an array of session records", jsonKind(root))
		return nil, "$", false
	}
}

// moveoEvent is one element of a record's messages, read.
type moveoEvent struct {
	index int
	obj   obj
	name  string
	time  *time.Time
}

func convertMoveo(v any, at string, opts MoveoOptions, ps *problems) (Captures, bool) {
	r := reader{ps: ps}
	before := len(ps.list)
	rec, ok := r.object(v, at)
	if !ok {
		return Captures{}, false
	}
	var c Captures
	meta := map[string]any{"source": "moveo"}

	rawSession, isString := rec.str("session_id")
	switch {
	case !rec.has("session_id"):
		ps.add(rec.at("session_id"), "is missing")
	case isString && strings.TrimSpace(rawSession) == "":
		ps.add(rec.at("session_id"), "is empty")
	}
	c.SessionID = uuidOrDerived("moveo-session", rawSession)
	meta["moveo_session_id"] = rawSession

	switch account, _ := rec.str("account_id"); {
	case opts.OrganizationID != "":
		c.OrganizationID = opts.OrganizationID
	case account != "":
		c.OrganizationID = uuidOrDerived("moveo-account", account)
	default:
		ps.add(rec.at("account_id"), "is missing and MoveoOptions.OrganizationID is not set: the session has no organisation")
	}
	if id, ok := rec.str("brain_parent_id"); ok && id != "" {
		c.AgentID = ptr(uuidOrDerived("moveo-brain", id))
	} else if id, ok := rec.str("brain_id"); ok && id != "" {
		c.AgentID = ptr(uuidOrDerived("moveo-brain", id))
	}
	c.Channel, _ = rec.str("channel")
	start := rec.time("start_time")
	end := rec.time("end_time")

	// Plain facts kept as metadata.
	for _, key := range []string{
		"account_id", "brain_id", "brain_parent_id", "brain_version", "desk_id", "integration_id",
		"user_id", "is_contained", "is_covered", "is_test", "tags",
		"goal_achieved", "user_sentiment", "rule_ids", "insights", "total_user_messages", "expired_time",
		"participated_brains", "participated_collections",
		"csat_brain", "csat_human_agent", "rating",
	} {
		if rec.has(key) {
			meta[key] = rec.raw(key)
		}
	}
	agents := rec.array("participated_agents")
	if agents != nil {
		ids := []any{}
		for _, a := range agents {
			switch x := a.(type) {
			case string:
				ids = append(ids, x)
			case map[string]any:
				if id := firstString(x, "agent_id", "id"); id != "" {
					ids = append(ids, id)
				}
			}
		}
		meta["participated_agents"] = ids
	}
	for i, kb := range rec.array("participated_collections") {
		switch x := kb.(type) {
		case string:
			c.AgentKBIDs = append(c.AgentKBIDs, uuidOrDerived("moveo-collection", x))
		case map[string]any:
			if id, ok := x["collection_id"].(string); ok {
				c.AgentKBIDs = append(c.AgentKBIDs, uuidOrDerived("moveo-collection", id))
			}
		default:
			ps.add(rec.at("participated_collections")+schemaval.Index(i), "is %s, not a collection id", jsonKind(kb))
		}
	}
	onlyKB := ""
	if len(c.AgentKBIDs) == 1 {
		onlyKB = c.AgentKBIDs[0]
	}

	events := rec.array("messages")
	var (
		expiredAt   *time.Time
		lastTime    *time.Time
		unknown     = map[string]any{}
		reactions   []any
		agentsSeen  = map[string]bool{}
		humanJoined bool
	)
	var parsed []moveoEvent
	for i, ev := range events {
		eat := rec.at("messages") + schemaval.Index(i)
		eo, ok := r.object(ev, eat)
		if !ok {
			continue
		}
		name, _ := eo.str("event")
		e := moveoEvent{index: i, obj: eo, name: name, time: eo.time("time")}
		parsed = append(parsed, e)
	}
	if start == nil {
		for _, e := range parsed {
			if e.time != nil {
				start = e.time
				break
			}
		}
	}
	if start == nil {
		ps.add(rec.at("start_time"), "is missing, and no event has a time to start the session from")
	}
	lastTime = start

	for _, e := range parsed {
		when := e.time
		if when == nil {
			when = lastTime // an event without a time happened after the one before
		}
		if when != nil {
			lastTime = when
		}
		turnID := derivedUUID("moveo-turn", rawSession, strconv.Itoa(e.index))
		agentID, _ := e.obj.str("agent_id")
		lower := strings.ToLower(e.name)
		human := agentID != "" || strings.Contains(lower, "agent")
		handoverEvent := strings.Contains(lower, "handover") || strings.Contains(lower, "transfer") ||
			strings.Contains(lower, "assign") || strings.Contains(lower, "member_join")

		if reaction, ok := e.obj.str("reaction"); ok && reaction != "" {
			reactions = append(reactions, map[string]any{"turn_id": turnID, "event_index": e.index, "reaction": reaction})
		}
		switch {
		case e.name == "message:received":
			text := moveoText(e.obj, false)
			if when != nil {
				c.Messages = append(c.Messages, MessageEntry{TurnID: turnID, Role: RoleUser, Timestamp: *when, Content: text})
			}
		case e.name == "message:brain_send":
			text := moveoText(e.obj, true)
			if when == nil {
				continue
			}
			m := MessageEntry{TurnID: turnID, Role: RoleAssistant, Timestamp: *when, Content: text}
			if rt := e.obj.float("response_time"); rt != nil && *rt >= 0 && *rt*1000 < math.MaxInt32 {
				m.LatencyMS = ptr(int(math.Round(*rt * 1000)))
			}
			c.Messages = append(c.Messages, m)
			moveoRetrieval(&c, e, turnID, rawSession, onlyKB, !opts.SourcesNotCited)
		case e.name == "session:expired":
			if when != nil && expiredAt == nil {
				expiredAt = when
			}
		case handoverEvent || human && moveoHasText(e.obj):
			if when == nil {
				continue
			}
			key := agentID
			if key == "" {
				key = "\x00unknown"
			}
			if !agentsSeen[key] || handoverEvent {
				agentsSeen[key] = true
				h := HandoffEvent{Timestamp: *when, Reason: ptr(e.name)}
				if IsUUID(agentID) {
					h.TransferredToAgentID = ptr(strings.ToLower(agentID))
				}
				c.HandoffEvents = append(c.HandoffEvents, h)
			}
			humanJoined = true
			if text := moveoText(e.obj, true); human && text != "" {
				c.Messages = append(c.Messages, MessageEntry{TurnID: turnID, Role: RoleHumanAgent, Timestamp: *when, Content: text})
			}
		default:
			label := e.name
			if label == "" {
				label = "(none)"
			}
			n, _ := unknown[label].(int)
			unknown[label] = n + 1
		}
	}
	if len(unknown) > 0 {
		meta["unknown_events"] = unknown
	}
	if len(reactions) > 0 {
		meta["reactions"] = reactions
	}
	if end == nil && expiredAt != nil {
		end = expiredAt
	}
	if end != nil && start != nil && end.Before(*start) {
		ps.add(rec.at("end_time"), "is before the session's start")
	}
	// Widen the session to hold every message.
	for _, m := range c.Messages {
		if start != nil && m.Timestamp.Before(*start) {
			start = ptr(m.Timestamp)
		}
		if end != nil && m.Timestamp.After(*end) {
			end = ptr(m.Timestamp)
		}
	}
	if start != nil {
		c.StartedAt = *start
	}
	if end != nil {
		c.EndedAt = end
	}
	for _, tr := range c.RagTraces {
		for _, kb := range tr.KBIDs {
			if !slices.Contains(c.AgentKBIDs, kb) {
				c.AgentKBIDs = append(c.AgentKBIDs, kb)
			}
		}
	}

	// Status and reason.
	goal := rec.int("goal_achieved")
	switch {
	case expiredAt != nil && goal == nil:
		c.Status = StatusExpired
	case expiredAt != nil || end != nil:
		c.Status = StatusCompleted
	default:
		c.Status = StatusActive
	}
	covered, contained := rec.boolean("is_covered"), rec.boolean("is_contained")
	if len(agents) > 0 {
		humanJoined = true
	}
	userWrote := slices.ContainsFunc(c.Messages, func(m MessageEntry) bool { return m.Role == RoleUser })
	switch {
	case humanJoined:
		c.TerminationReason = ReasonHandedOff
	case goal != nil && *goal > 0:
		c.TerminationReason = ReasonAgentResolved
	case goal != nil:
		c.TerminationReason = ReasonAgentUnresolved
	case expiredAt != nil:
		c.TerminationReason = ReasonInactivityTimeout
	case !userWrote:
		// Nothing to judge the flags by.
	case covered != nil && !*covered:
		c.TerminationReason = ReasonAgentUnresolved
	case covered != nil && *covered && contained != nil && *contained:
		c.TerminationReason = ReasonAgentResolved
	}

	// Satisfaction and feedback, at the session's end.
	closing := end
	if closing == nil {
		closing = lastTime
	}
	scale := opts.CSATScaleMax
	if scale <= 0 {
		scale = DefaultCSATScaleMax
	}
	csatKey := "csat_human_agent"
	score := rec.int(csatKey)
	if score == nil {
		csatKey = "csat_brain"
		score = rec.int(csatKey)
	} else {
		rec.int("csat_brain") // type-check it too
	}
	if score != nil && closing != nil {
		if *score < 0 || *score > scale {
			ps.add(rec.at(csatKey), "is outside the CSAT scale 0..%d", scale)
		} else {
			c.CSAT = &CSATEntry{Timestamp: *closing, Score: *score, ScaleMax: scale}
		}
	}
	rating := rec.int("rating")
	if rating != nil && *rating < 0 {
		ps.add(rec.at("rating"), "is negative; a rating cannot be")
		rating = nil
	}
	comment, hasComment := rec.str("feedback")
	if (rating != nil || hasComment && comment != "") && closing != nil {
		f := &FeedbackEntry{Timestamp: *closing, Rating: rating}
		if hasComment && comment != "" {
			f.Comment = ptr(comment)
		}
		c.UserFeedback = f
	}
	c.CustomerMetadata = meta
	return c, len(ps.list) == before
}

// moveoText returns the text of an event's message: message.text, or the
// texts of message.responses joined with [MoveoResponseSeparator] when
// responses is set (a plain string message is its own text).
func moveoText(e obj, responses bool) string {
	switch m := e.m["message"].(type) {
	case string:
		return m
	case map[string]any:
		if responses {
			if rs, ok := m["responses"].([]any); ok {
				var texts []string
				for _, r := range rs {
					if ro, ok := r.(map[string]any); ok {
						if t, ok := ro["text"].(string); ok && strings.TrimSpace(t) != "" {
							texts = append(texts, t)
						}
					}
				}
				if len(texts) > 0 {
					return strings.Join(texts, MoveoResponseSeparator)
				}
			}
		}
		if t, ok := m["text"].(string); ok {
			return t
		}
	}
	return ""
}

func moveoHasText(e obj) bool { return moveoText(e, true) != "" }

// moveoRetrieval records the retrieval trace and citations of a
// message:brain_send that used a knowledge-base collection. onlyKB is the
// session's one participated collection, or "".
func moveoRetrieval(c *Captures, e moveoEvent, turnID, rawSession, onlyKB string, cite bool) {
	collection, _ := e.obj.str("collection_id")
	sources := e.obj.array("collection_sources")
	if collection == "" && len(sources) == 0 {
		return
	}
	kb := onlyKB
	if collection != "" {
		kb = uuidOrDerived("moveo-collection", collection)
	}
	trace := RagTraceEntry{
		RagQueryID:      derivedUUID("moveo-retrieval", rawSession, strconv.Itoa(e.index)),
		AssistantTurnID: turnID,
		KBIDs:           []string{},
		Retrieved:       []RetrievedChunk{},
	}
	if kb != "" {
		trace.KBIDs = append(trace.KBIDs, kb)
	}
	for i, s := range sources {
		doc, chunk, version, score := moveoSource(s, i)
		if doc == "" {
			continue
		}
		trace.Retrieved = append(trace.Retrieved, RetrievedChunk{ChunkID: chunk, DocID: doc, VersionID: version, Score: score})
		if score != nil && (trace.TopScore == nil || *score > *trace.TopScore) {
			trace.TopScore = ptr(*score)
		}
		if cite && kb != "" {
			c.Citations = append(c.Citations, CitedChunk{AssistantTurnID: turnID, KBID: kb, DocID: doc, ChunkID: chunk, VersionID: clonePtr(version)})
		}
	}
	c.RagTraces = append(c.RagTraces, trace)
}

// moveoSource reads one collection source: a string naming the document,
// or an object with a document id (document_id, doc_id, source_id, id,
// url, link, name or title), an optional chunk id (chunk_id or
// fragment_id; else the document id and the source's index), version and
// score.
func moveoSource(v any, i int) (doc, chunk string, version *string, score *float64) {
	switch x := v.(type) {
	case string:
		return x, x, nil, nil
	case map[string]any:
		doc = firstString(x, "document_id", "doc_id", "source_id", "id", "url", "link", "name", "title")
		chunk = firstString(x, "chunk_id", "fragment_id")
		if chunk == "" && doc != "" {
			chunk = doc + "#" + strconv.Itoa(i)
		}
		if v := firstString(x, "version_id", "version"); v != "" {
			version = &v
		}
		if n, ok := x["score"].(json.Number); ok {
			if f, err := n.Float64(); err == nil && !math.IsInf(f, 0) {
				score = &f
			}
		}
		return doc, chunk, version, score
	}
	return "", "", nil, nil
}

func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
