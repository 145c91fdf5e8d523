package timeline

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxChaseHops bounds the origin chase of a transcribe/recording reference:
// transcribe → recording → call is the longest legal chain. A longer (or
// cyclic) chain stops with a header-only card.
const maxChaseHops = 2

// CallResult maps a call's raw hang-up reason to the normalised result
// (case and surrounding space are ignored):
//
//	normal                              → completed
//	noanswer, dialout                   → no_answer
//	busy                                → busy
//	failed, cancel, canceled (cancelled), timeout, amd → failed
//	none or ""                          → completed when hungUp, else in_progress
//	anything else                       → unknown
//
// ("cancel" is the wire value of a cancelled call.) There is no "abandoned": a caller hanging up early is completed, ended by
// remote, with a short duration.
func CallResult(hangupReason string, hungUp bool) OutcomeResult {
	switch strings.ToLower(strings.TrimSpace(hangupReason)) {
	case "normal":
		return ResultCompleted
	case "noanswer", "dialout":
		return ResultNoAnswer
	case "busy":
		return ResultBusy
	case "failed", "cancel", "canceled", "cancelled", "timeout", "amd":
		return ResultFailed
	case "none", "":
		if hungUp {
			return ResultCompleted
		}
		return ResultInProgress
	}
	return ResultUnknown
}

// channelOf normalises a reference type to a channel. transcribe,
// recording, none and unknown types have no channel of their own.
func channelOf(refType string) string {
	switch refType {
	case RefCall, RefCampaign, RefConfbridge:
		return ChannelVoice
	case RefConversation:
		return ChannelChat
	case RefAI:
		return ChannelAI
	case RefAPI:
		return ChannelAPI
	}
	return ""
}

// normalizeDirection maps a call's raw direction to inbound/outbound.
func normalizeDirection(raw string) string {
	switch strings.ToLower(raw) {
	case "incoming", "inbound":
		return DirectionInbound
	case "outgoing", "outbound":
		return DirectionOutbound
	}
	return ""
}

func originKindOf(refType string) string {
	switch refType {
	case RefTranscribe:
		return OriginTranscription
	case RefRecording:
		return OriginRecording
	}
	return ""
}

// formatStart writes a session start time: RFC 3339 in UTC, in seconds.
func formatStart(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ComputeSessionContext returns the session_context block of flow, or nil
// when nothing resolves (no reference type, no flow name and no reference
// record). Its rules:
//
//   - reference_type is the flow's, verbatim; channel is its normalisation
//     (call, campaign, confbridge → voice; conversation → chat; ai → ai;
//     api → api; anything else → "").
//   - For a call, from the primary leg (the earliest created): direction_raw
//     verbatim, direction inbound/outbound, participants source and
//     destination, started_at the answer time (else creation), multi_leg
//     when there is more than one leg. For a conversation: participants
//     self and peer, no direction (a thread is bidirectional), started_at
//     the thread's creation. For an ai reference: started_at the session's
//     creation. Otherwise started_at is the flow's creation.
//   - A transcribe or recording reference chases its origin (up to two
//     hops: transcribe → recording → call): the body (participants,
//     direction, started_at, multi_leg, channel) is the origin's, while
//     reference_type stays transcribe/recording, origin_kind is
//     transcription/recording, origin_type is the immediate origin's type
//     (call, conversation or confbridge — or recording for a transcribe of
//     a recording, a value beyond the API's documented list, kept as the
//     product writes it), flow_name is omitted (the origin belongs to
//     another flow) and ai_handled/human_involved are false. When the
//     origin does not resolve the card is header-only with origin_kind set.
//   - Otherwise ai_handled is true when an event has resource type ai,
//     aicall or pipecatcall, or is an AI session event ([EventAIInitialized],
//     a bot transcription or bot LLM event); human_involved is true when an
//     event has resource type agent or a type starting with "agent_".
//   - A record (or origin) owned by another customer than the flow's is
//     ignored, exactly as if it had not resolved.
func ComputeSessionContext(flow Flow, events []Event) *SessionContext {
	sc, _, chased := contextOf(&flow)
	if sc != nil && !chased {
		for i := range events {
			sc.AIHandled = sc.AIHandled || isAIEvent(&events[i])
			sc.HumanInvolved = sc.HumanInvolved || isAgentEvent(&events[i])
		}
	}
	return sc
}

// ComputeOutcome returns the outcome block of flow, or nil when it does not
// apply: for a call, conversation or ai reference whose record resolves,
// and for a transcribe/recording whose origin resolves to one of those.
//
// For a call (its primary leg): result per [CallResult], ended_by the
// leg's hangup_by, reason the hang-up reason, detail duration_sec (answer
// to hang-up, when both are known) and hangup_reason.
//
// For a conversation: result from the last message's status (done →
// completed, failed → failed, otherwise in_progress; in_progress with only
// chat_platform when there are no messages), reason that status, detail
// chat_platform, last_activity_by (self or peer), turns_self, turns_peer,
// unanswered ("true" when the end user wrote last), delivery_failures (a
// count of failed messages), thread_span_sec and truncated.
//
// For an ai reference: completed when the session status is terminated,
// ended or completed; failed when it is failed; unknown when it is empty;
// otherwise in_progress. Reason is the raw status.
func ComputeOutcome(flow Flow) *Outcome {
	_, oc, _ := contextOf(&flow)
	return oc
}

// contextOf computes the session context and outcome of f, without the
// event-derived flags. chased reports a transcribe/recording card.
func contextOf(f *Flow) (sc *SessionContext, oc *Outcome, chased bool) {
	rt := f.ReferenceType
	if rt == RefTranscribe || rt == RefRecording {
		sc, oc = chase(f.CustomerID, rt, owned(f.Reference, f.CustomerID, rt), 0)
		return sc, oc, true
	}
	sc = &SessionContext{ReferenceType: rt, Channel: channelOf(rt), FlowName: f.FlowName}
	ref := owned(f.Reference, f.CustomerID, rt)
	if ref != nil {
		oc = describe(ref, sc)
	}
	if rt == "" && f.FlowName == "" && ref == nil {
		return nil, nil, false
	}
	if sc.StartedAt == "" && !f.CreatedAt.IsZero() {
		sc.StartedAt = formatStart(f.CreatedAt)
	}
	return sc, oc, false
}

// owned returns r when it is a record of type refType owned by customer.
func owned(r *Reference, customer, refType string) *Reference {
	if r == nil || r.CustomerID != customer || r.Type != refType {
		return nil
	}
	return r
}

// chase builds the card of a transcribe/recording rec (already checked to
// be owned and of type rt, or nil) from its origin.
func chase(customer, rt string, rec *Reference, hop int) (*SessionContext, *Outcome) {
	header := &SessionContext{ReferenceType: rt, OriginKind: originKindOf(rt)}
	if rec == nil || rec.Origin == nil || rec.Origin.CustomerID != customer || hop >= maxChaseHops {
		return header, nil
	}
	origin := rec.Origin
	var sc *SessionContext
	var oc *Outcome
	switch origin.Type {
	case RefTranscribe, RefRecording:
		sc, oc = chase(customer, origin.Type, origin, hop+1)
		if sc.OriginType == "" { // the inner chase found nothing
			return header, nil
		}
	default:
		sc = &SessionContext{Channel: channelOf(origin.Type)}
		oc = describe(origin, sc)
	}
	sc.ReferenceType = rt
	sc.OriginKind = originKindOf(rt)
	sc.OriginType = origin.Type
	sc.FlowName = ""
	sc.AIHandled, sc.HumanInvolved = false, false
	return sc, oc
}

// describe fills sc's body from ref and returns the outcome, or nil.
func describe(ref *Reference, sc *SessionContext) *Outcome {
	switch ref.Type {
	case RefCall:
		return describeCall(ref.Calls, sc)
	case RefConversation:
		if ref.Conversation != nil {
			return describeConversation(ref.Conversation, sc)
		}
	case RefAI:
		if ref.AICall != nil {
			return describeAICall(ref.AICall, sc)
		}
	case RefConfbridge:
		sc.MultiLeg = len(ref.Calls) > 1
		if p := primaryLeg(ref.Calls); p != nil && !p.CreatedAt.IsZero() {
			sc.StartedAt = formatStart(p.CreatedAt)
		}
	}
	return nil
}

// primaryLeg returns the earliest created leg (the first of equals), or nil.
func primaryLeg(legs []CallLeg) *CallLeg {
	var p *CallLeg
	for i := range legs {
		l := &legs[i]
		if p == nil || (!l.CreatedAt.IsZero() && (p.CreatedAt.IsZero() || l.CreatedAt.Before(p.CreatedAt))) {
			p = l
		}
	}
	return p
}

func describeCall(legs []CallLeg, sc *SessionContext) *Outcome {
	p := primaryLeg(legs)
	if p == nil {
		return nil
	}
	sc.MultiLeg = len(legs) > 1
	sc.DirectionRaw = p.Direction
	sc.Direction = normalizeDirection(p.Direction)
	sc.Participants = participants("source", p.Source, "destination", p.Destination)
	switch {
	case !p.AnsweredAt.IsZero():
		sc.StartedAt = formatStart(p.AnsweredAt)
	case !p.CreatedAt.IsZero():
		sc.StartedAt = formatStart(p.CreatedAt)
	}
	hungUp := strings.EqualFold(p.Status, "hangup") || !p.HungUpAt.IsZero()
	detail := map[string]string{}
	if !p.AnsweredAt.IsZero() && !p.HungUpAt.IsZero() {
		detail["duration_sec"] = strconv.FormatInt(int64(max(p.HungUpAt.Sub(p.AnsweredAt), 0)/time.Second), 10)
	}
	if p.HangupReason != "" {
		detail["hangup_reason"] = p.HangupReason
	}
	return &Outcome{
		Result:  CallResult(p.HangupReason, hungUp),
		EndedBy: p.HangupBy,
		Reason:  p.HangupReason,
		Detail:  detailOrNil(detail),
	}
}

func participants(role1, addr1, role2, addr2 string) []Participant {
	var out []Participant
	if addr1 != "" {
		out = append(out, Participant{Role: role1, Address: addr1})
	}
	if addr2 != "" {
		out = append(out, Participant{Role: role2, Address: addr2})
	}
	return out
}

func describeConversation(cv *Conversation, sc *SessionContext) *Outcome {
	sc.Channel = ChannelChat
	sc.Participants = participants("self", cv.Self, "peer", cv.Peer)
	if !cv.CreatedAt.IsZero() {
		sc.StartedAt = formatStart(cv.CreatedAt)
	}
	detail := map[string]string{}
	if cv.Platform != "" {
		detail["chat_platform"] = cv.Platform
	}
	if len(cv.Messages) == 0 {
		return &Outcome{Result: ResultInProgress, Detail: detailOrNil(detail)}
	}
	msgs := slices.Clone(cv.Messages)
	slices.SortStableFunc(msgs, func(a, b ConversationMessage) int { return a.At.Compare(b.At) })
	first, last := msgs[0], msgs[len(msgs)-1]
	var self, peer, failures int
	for _, m := range msgs {
		switch m.Direction {
		case MessageOutgoing: // the business replying
			self++
		case MessageIncoming: // the end user writing
			peer++
		}
		if m.Status == MessageFailed {
			failures++
		}
	}
	lastBy, unanswered := "self", "false"
	if last.Direction == MessageIncoming {
		lastBy, unanswered = "peer", "true"
	}
	result := ResultInProgress
	switch last.Status {
	case MessageDone:
		result = ResultCompleted
	case MessageFailed:
		result = ResultFailed
	}
	detail["last_activity_by"] = lastBy
	detail["turns_self"] = strconv.Itoa(self)
	detail["turns_peer"] = strconv.Itoa(peer)
	detail["unanswered"] = unanswered
	detail["delivery_failures"] = strconv.Itoa(failures)
	detail["thread_span_sec"] = strconv.FormatInt(int64(max(last.At.Sub(first.At), 0)/time.Second), 10)
	detail["truncated"] = strconv.FormatBool(cv.Truncated)
	return &Outcome{Result: result, Reason: last.Status, Detail: detail}
}

func describeAICall(ac *AICall, sc *SessionContext) *Outcome {
	if !ac.CreatedAt.IsZero() {
		sc.StartedAt = formatStart(ac.CreatedAt)
	}
	result := ResultInProgress
	switch strings.ToLower(ac.Status) {
	case "terminated", "ended", "completed":
		result = ResultCompleted
	case "failed":
		result = ResultFailed
	case "":
		result = ResultUnknown
	}
	return &Outcome{Result: result, Reason: ac.Status}
}

func detailOrNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// isAIEvent reports an event of an AI session.
func isAIEvent(e *Event) bool {
	switch e.ResourceType {
	case ResourceAI, ResourceAICall, ResourcePipecatCall:
		return true
	}
	switch e.Type {
	case EventAIInitialized, EventBotTranscription, EventBotLLM, EventBotLLMIntermediate:
		return true
	}
	return false
}

// isAgentEvent reports an event of a human agent's leg.
func isAgentEvent(e *Event) bool {
	return e.ResourceType == ResourceAgent || strings.HasPrefix(e.Type, "agent_")
}

// metricsApply reports whether a reference type gets a metrics block.
func metricsApply(refType string) bool { return refType == RefCall || refType == RefAI }

// ComputeMetrics returns the metrics block of flow and its events, or nil
// when it does not apply: only call and ai references have metrics, and
// only when at least one turn was transcribed. The rules:
//
//   - turns_user and turns_bot count the events of type exactly
//     [EventUserTranscription] and [EventBotTranscription]; intermediate
//     LLM ticks and every other type are not turns.
//   - first_response_ms is from the answer — the earliest
//     [EventAIInitialized] event, else the primary call leg's answer time —
//     to the first bot turn; omitted when either is missing.
//   - avg_response_ms and max_response_ms are over user-then-bot pairs:
//     every user turn is paired with the next bot turn after it, so user
//     turns in a row all pair with the bot turn that follows them (turns
//     at 0, 1000 (user) and 1500 ms (bot) make two pairs, of 1500 and 500
//     ms). A user turn with no bot turn after it makes no pair. The
//     average is rounded down. Both are omitted when there is no pair.
//   - max_gap_ms is the largest gap between adjacent turns; omitted with
//     fewer than two turns.
//   - Every latency is clamped to 0 when negative (clock skew).
//
// Events are taken in timeline order (timestamp, then index) whatever
// their order in the slice; duplicates should be removed first (see
// [Prepare], which does).
func ComputeMetrics(flow Flow, events []Event) *Metrics {
	if !metricsApply(flow.ReferenceType) {
		return nil
	}
	var acc metricsAcc
	order := timelineOrder(events)
	for i := range events {
		acc.add(&events[order.at(i)])
	}
	return acc.result(answerFallback(&flow))
}

// answerFallback is the primary call leg's answer time, or zero.
func answerFallback(f *Flow) time.Time {
	if ref := owned(f.Reference, f.CustomerID, RefCall); ref != nil {
		if p := primaryLeg(ref.Calls); p != nil {
			return p.AnsweredAt
		}
	}
	return time.Time{}
}

// metricsAcc accumulates the metrics over events in timeline order.
type metricsAcc struct {
	user, bot    int
	answer       time.Time
	firstBot     time.Time
	waiting      []time.Time // the user turns since the last bot turn
	haveTurn     bool
	prevAt       time.Time
	respSum      int64
	respMax      int64
	pairs        int64
	gapMax       int64
	haveAnswer   bool
	haveFirstBot bool
}

func (m *metricsAcc) add(e *Event) {
	switch e.Type {
	case EventUserTranscription:
		m.user++
		m.waiting = append(m.waiting, e.Timestamp)
	case EventBotTranscription:
		m.bot++
		if !m.haveFirstBot {
			m.firstBot, m.haveFirstBot = e.Timestamp, true
		}
		for _, u := range m.waiting { // each waiting user turn pairs with this bot turn
			lat := clampMS(e.Timestamp.Sub(u))
			m.respSum += lat
			m.respMax = max(m.respMax, lat)
			m.pairs++
		}
		m.waiting = m.waiting[:0]
	case EventAIInitialized:
		if !m.haveAnswer || e.Timestamp.Before(m.answer) {
			m.answer, m.haveAnswer = e.Timestamp, true
		}
		return
	default:
		return
	}
	if m.haveTurn {
		m.gapMax = max(m.gapMax, clampMS(e.Timestamp.Sub(m.prevAt)))
	}
	m.haveTurn, m.prevAt = true, e.Timestamp
}

func (m *metricsAcc) result(fallbackAnswer time.Time) *Metrics {
	if m.user == 0 && m.bot == 0 {
		return nil
	}
	out := &Metrics{TurnsUser: m.user, TurnsBot: m.bot}
	answer, haveAnswer := m.answer, m.haveAnswer
	if !haveAnswer && !fallbackAnswer.IsZero() {
		answer, haveAnswer = fallbackAnswer, true
	}
	if haveAnswer && m.haveFirstBot {
		out.FirstResponseMS = ptr(clampMS(m.firstBot.Sub(answer)))
	}
	if m.pairs > 0 {
		out.AvgResponseMS = ptr(m.respSum / m.pairs)
		out.MaxResponseMS = ptr(m.respMax)
	}
	if m.user+m.bot >= 2 {
		out.MaxGapMS = ptr(m.gapMax)
	}
	return out
}

func clampMS(d time.Duration) int64 { return max(d.Milliseconds(), 0) }

func ptr[T any](v T) *T { return &v }

// ComputeResourcesUsed counts the resources of events per resource type,
// sorted by type: the number of distinct resource ids of the type, or 1
// when its events carry no id. Events without a resource type are not
// counted. Duplicated events change nothing.
func ComputeResourcesUsed(events []Event) []ResourceUsed {
	var acc resourceAcc
	for i := range events {
		acc.add(&events[i])
	}
	return acc.result()
}

// resourceAcc counts distinct resources per type.
type resourceAcc struct {
	ids      map[string]map[string]struct{}
	lastType string
	lastID   string
	haveLast bool
}

func (r *resourceAcc) add(e *Event) {
	if e.ResourceType == "" {
		return
	}
	if r.haveLast && e.ResourceType == r.lastType && e.ResourceID == r.lastID {
		return
	}
	r.lastType, r.lastID, r.haveLast = e.ResourceType, e.ResourceID, true
	if r.ids == nil {
		r.ids = map[string]map[string]struct{}{}
	}
	set, ok := r.ids[e.ResourceType]
	if !ok {
		set = map[string]struct{}{}
		r.ids[e.ResourceType] = set
	}
	if e.ResourceID != "" {
		set[e.ResourceID] = struct{}{}
	}
}

func (r *resourceAcc) result() []ResourceUsed {
	out := make([]ResourceUsed, 0, len(r.ids))
	for t, set := range r.ids {
		out = append(out, ResourceUsed{Type: t, Count: max(len(set), 1)})
	}
	slices.SortFunc(out, func(a, b ResourceUsed) int { return strings.Compare(a.Type, b.Type) })
	return out
}
