package session

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// OpenAILogOptions configures [FromOpenAILog]. An agent log carries no
// identifiers and no times, so the caller supplies them.
type OpenAILogOptions struct {
	// SessionID identifies the session (a UUID). Required.
	SessionID string
	// OrganizationID identifies its organisation (a UUID). Required.
	OrganizationID string
	// AgentID identifies the agent (a UUID), or is nil.
	AgentID *string
	// Channel names the channel; empty means "chat".
	Channel string
	// StartedAt is when the session started. Required.
	StartedAt time.Time
	// TurnInterval is the time between two consecutive messages; 0 means
	// one second. See [FromOpenAILog] for how timestamps are made.
	TurnInterval time.Duration
	// Model names the model that wrote the assistant messages (model_used),
	// or is empty when unknown.
	Model string
	// Status is the session's status; empty means completed.
	Status SessionStatus
	// TerminationReason says why the session ended; when empty, it is
	// handed_off if a handoff tool was called, else none.
	TerminationReason SessionTerminationReason
	// HandoffTools names the tools that hand the conversation to a human
	// (such as "transfer_to_human_agents"); each call records a handoff
	// event.
	HandoffTools []string
	// ToolErrorPrefixes lists the prefixes (such as "Error:") that mark a
	// tool message's content as the tool's error rather than its result.
	ToolErrorPrefixes []string
	// Metadata is copied into customer_metadata, next to what the
	// conversion records there.
	Metadata map[string]any
}

// FromOpenAILog converts an OpenAI-style agent log into captures. data is an
// array of chat messages, or an object holding them under "messages" (a
// chat-completions request) or "traj" (a recorded trajectory). Each message
// has a role — system (or developer), user, assistant, tool or, in logs of
// the older function-calling API, function — a content (a string, null, or
// an array of parts whose text parts are joined with newlines), an
// assistant's tool_calls ([{id, type, function: {name, arguments}}]) or
// legacy function_call ({name, arguments}), an assistant's refusal, a tool
// message's tool_call_id and a function message's name.
//
// The conversion:
//
//   - System messages are instructions, not part of the conversation: they
//     are left out of the transcript, and customer_metadata records how
//     many there were and the SHA-256 of their contents (system_messages,
//     system_prompt_sha256).
//   - Every other message becomes a transcript message with a turn_id
//     derived from opts.SessionID and its index in the log, in log order.
//     Its timestamp is synthesised: opts.StartedAt plus TurnInterval times
//     its position among the transcript messages (0, 1, 2, ...). EndedAt is
//     the last message's timestamp (StartedAt when there is none).
//   - An assistant message's refusal (the text the model wrote when it
//     declined, with content null) becomes its content; when the message
//     has content as well, the refusal follows it after a blank line.
//   - An assistant message's tool_calls are kept on the message and each
//     becomes a tool call entry of that assistant turn. A legacy
//     function_call becomes one more tool call of that turn, with an id
//     derived from opts.SessionID and the message's index (a UUID).
//   - A tool message becomes a [RoleTool] message whose content is the
//     tool's output and whose tool_results names the call; the output is
//     also the call entry's result — or its error, when it starts with one
//     of opts.ToolErrorPrefixes. A legacy function message is the result
//     of the earliest unanswered function_call of the function it names,
//     and becomes a [RoleTool] message the same way.
//   - A call to one of opts.HandoffTools records a handoff event at its
//     message's timestamp.
//
// Problems — an unknown role, a tool call without an id, an id used twice,
// a tool message naming no earlier call, a function message naming no
// unanswered function_call, missing or malformed options — are reported
// together as a [*ValidationError] (matching [ErrInvalid]) with the JSON
// path of each offending value (or the option's name); the messages do not
// repeat the values.
func FromOpenAILog(data []byte, opts OpenAILogOptions) (*Captures, error) {
	var ps problems
	if !IsUUID(opts.SessionID) {
		ps.add("OpenAILogOptions.SessionID", "is not a UUID")
	}
	if !IsUUID(opts.OrganizationID) {
		ps.add("OpenAILogOptions.OrganizationID", "is not a UUID")
	}
	if opts.AgentID != nil && !IsUUID(*opts.AgentID) {
		ps.add("OpenAILogOptions.AgentID", "is not a UUID")
	}
	if opts.StartedAt.IsZero() {
		ps.add("OpenAILogOptions.StartedAt", "is not set")
	}
	if opts.TurnInterval < 0 {
		ps.add("OpenAILogOptions.TurnInterval", "is negative")
	}
	if opts.Status != "" && !opts.Status.Valid() {
		ps.add("OpenAILogOptions.Status", "is not a session status")
	}
	if err := ps.err("agent log"); err != nil {
		return nil, err
	}

	root, err := decodeLoose(data)
	if err != nil {
		ps.add("$", "%s", notJSON(err))
		return nil, ps.err("agent log")
	}
	msgs, path := openAIMessages(root, &ps)
	if err := ps.err("agent log"); err != nil {
		return nil, err
	}

	interval := opts.TurnInterval
	if interval == 0 {
		interval = time.Second
	}
	if n := time.Duration(len(msgs)); n > 0 && interval > time.Duration(math.MaxInt64)/n {
		ps.add("OpenAILogOptions.TurnInterval", "times the %d messages overflows a duration", n)
		return nil, ps.err("agent log")
	}
	c := &Captures{
		SessionID:         opts.SessionID,
		OrganizationID:    opts.OrganizationID,
		AgentID:           clonePtr(opts.AgentID),
		Channel:           opts.Channel,
		StartedAt:         opts.StartedAt,
		Status:            opts.Status,
		TerminationReason: opts.TerminationReason,
	}
	if c.Channel == "" {
		c.Channel = "chat"
	}
	if c.Status == "" {
		c.Status = StatusCompleted
	}
	meta := map[string]any{}
	for k, v := range opts.Metadata {
		meta[k] = v
	}
	meta["source"] = "openai_log"

	r := reader{ps: &ps}
	var (
		systemCount int
		systemHash  = sha256.New()
		calls       = map[string]int{} // tool_call_id -> index in c.ToolCalls
		callAt      = map[string]string{}
		answered    = map[string]string{}
		functions   = map[string][]string{} // function name -> ids of its unanswered function_calls
		position    int
	)
	// addCall records a tool call of the assistant turn turnID.
	addCall := func(entry *MessageEntry, call ToolCall, at, turnID string, when time.Time) {
		if _, dup := calls[call.ID]; dup {
			ps.add(at, "repeats the id of the tool call at %s", callAt[call.ID])
			return
		}
		calls[call.ID] = len(c.ToolCalls)
		callAt[call.ID] = at
		entry.ToolCalls = append(entry.ToolCalls, call)
		c.ToolCalls = append(c.ToolCalls, ToolCallEntry{
			ToolCallID: call.ID, AssistantTurnID: turnID, Name: call.Function.Name, Arguments: call.Function.Arguments,
		})
		if slices.Contains(opts.HandoffTools, call.Function.Name) {
			c.HandoffEvents = append(c.HandoffEvents, HandoffEvent{Timestamp: when, Reason: ptr(call.Function.Name)})
		}
	}
	// addResult records, on entry, the result of the call id.
	addResult := func(entry *MessageEntry, id, content string) {
		result := &ToolResult{ToolCallID: id, Output: content}
		call := &c.ToolCalls[calls[id]]
		if hasAnyPrefix(content, opts.ToolErrorPrefixes) {
			result.Error = ptr(content)
			call.Error = ptr(content)
		} else {
			call.Result = ptr(content)
		}
		entry.Role = RoleTool
		entry.ToolResults = result
	}
	for i, v := range msgs {
		at := path + schemaval.Index(i)
		m, ok := r.object(v, at)
		if !ok {
			continue
		}
		role, _ := m.str("role")
		content := openAIContent(m)
		if role == "system" || role == "developer" {
			systemCount++
			systemHash.Write([]byte(content))
			systemHash.Write([]byte{0})
			continue
		}
		when := opts.StartedAt.Add(time.Duration(position) * interval)
		turnID := derivedUUID("openai-turn", strings.ToLower(opts.SessionID), strconv.Itoa(i))
		entry := MessageEntry{TurnID: turnID, Role: role, Timestamp: when, Content: content}
		switch role {
		case "user":
		case "assistant":
			if opts.Model != "" {
				entry.ModelUsed = ptr(opts.Model)
			}
			if refusal, ok := m.str("refusal"); ok && refusal != "" {
				if entry.Content == "" {
					entry.Content = refusal
				} else {
					entry.Content += "\n\n" + refusal
				}
			}
			for j, tc := range m.array("tool_calls") {
				tat := m.at("tool_calls") + schemaval.Index(j)
				if call, ok := openAIToolCall(r, tc, tat); ok {
					addCall(&entry, call, tat+".id", turnID, when)
				}
			}
			if fc := m.raw("function_call"); fc != nil {
				fat := m.at("function_call")
				if fn, ok := openAIFunction(r, fc, fat); ok {
					id := derivedUUID("openai-function-call", strings.ToLower(opts.SessionID), strconv.Itoa(i))
					addCall(&entry, ToolCall{ID: id, Type: ToolCallTypeFunction, Function: fn}, fat, turnID, when)
					functions[fn.Name] = append(functions[fn.Name], id)
				}
			}
		case "tool":
			id, _ := m.str("tool_call_id")
			_, known := calls[id]
			switch {
			case id == "":
				ps.add(m.at("tool_call_id"), "is missing: a tool message must name the call it answers")
				continue
			case !known:
				ps.add(m.at("tool_call_id"), "names no earlier tool call")
				continue
			case answered[id] != "":
				ps.add(m.at("tool_call_id"), "names a call already answered at %s", answered[id])
				continue
			}
			answered[id] = at
			addResult(&entry, id, content)
		case "function":
			name, _ := m.str("name")
			pending := functions[name]
			switch {
			case name == "":
				ps.add(m.at("name"), "is missing: a function message must name the function whose result it is")
				continue
			case len(pending) == 0:
				ps.add(m.at("name"), "names no function of an earlier, unanswered function_call")
				continue
			}
			id := pending[0]
			functions[name] = pending[1:]
			answered[id] = at
			addResult(&entry, id, content)
		case "":
			ps.add(m.at("role"), "is missing")
			continue
		default:
			ps.add(m.at("role"), "is not one of system, developer, user, assistant, tool, function")
			continue
		}
		c.Messages = append(c.Messages, entry)
		position++
	}
	if err := ps.err("agent log"); err != nil {
		return nil, err
	}
	end := opts.StartedAt
	if n := len(c.Messages); n > 0 {
		end = c.Messages[n-1].Timestamp
	}
	c.EndedAt = &end
	if c.TerminationReason == "" && len(c.HandoffEvents) > 0 {
		c.TerminationReason = ReasonHandedOff
	}
	if systemCount > 0 {
		meta["system_messages"] = systemCount
		meta["system_prompt_sha256"] = hex.EncodeToString(systemHash.Sum(nil))
	}
	c.CustomerMetadata = meta
	return c, nil
}

// openAIMessages finds the messages array of a decoded log.
func openAIMessages(root any, ps *problems) ([]any, string) {
	switch x := root.(type) {
	case []any:
		return x, "$"
	case map[string]any:
		for _, key := range []string{"messages", "traj"} {
			if v, ok := x[key]; ok {
				arr, ok := v.([]any)
				if !ok {
					ps.add("$"+schemaval.Key(key), "is %s, not an array of messages", jsonKind(v))
					return nil, ""
				}
				return arr, "$" + schemaval.Key(key)
			}
		}
		ps.add("$", "holds no \"messages\" or \"traj\" array")
	default:
		ps.add("$", "is %s, not an array of messages or an object holding one", jsonKind(root))
	}
	return nil, ""
}

// openAIContent returns a message's text: its content string, or the text
// parts of a content array joined with newlines.
func openAIContent(m obj) string {
	switch c := m.raw("content").(type) {
	case string:
		return c
	case []any:
		var texts []string
		for _, p := range c {
			switch x := p.(type) {
			case string:
				texts = append(texts, x)
			case map[string]any:
				if t, ok := x["text"].(string); ok {
					texts = append(texts, t)
				}
			}
		}
		return strings.Join(texts, "\n")
	case nil:
		return ""
	default:
		m.r.ps.add(m.at("content"), "is %s, not a string or an array of parts", jsonKind(c))
		return ""
	}
}

// openAIToolCall reads one tool call of an assistant message.
func openAIToolCall(r reader, v any, at string) (ToolCall, bool) {
	o, ok := r.object(v, at)
	if !ok {
		return ToolCall{}, false
	}
	before := len(r.ps.list)
	id, _ := o.str("id")
	if id == "" {
		r.ps.add(o.at("id"), "is missing")
	}
	typ, _ := o.str("type")
	if typ == "" {
		typ = ToolCallTypeFunction
	}
	fn, ok := openAIFunction(r, o.raw("function"), o.at("function"))
	if !ok || len(r.ps.list) > before {
		return ToolCall{}, false
	}
	return ToolCall{ID: id, Type: typ, Function: fn}, true
}

// openAIFunction reads the function of a tool call, or a legacy
// function_call: {name, arguments}.
func openAIFunction(r reader, v any, at string) (ToolCallFunction, bool) {
	fn, ok := r.object(v, at)
	if !ok {
		return ToolCallFunction{}, false
	}
	before := len(r.ps.list)
	name, _ := fn.str("name")
	if name == "" {
		r.ps.add(fn.at("name"), "is missing")
	}
	var args string
	switch a := fn.raw("arguments").(type) {
	case string:
		args = a
	case nil:
	default:
		// Some logs store the arguments decoded; keep them as JSON text.
		b, err := json.Marshal(a)
		if err != nil {
			r.ps.add(fn.at("arguments"), "does not encode as JSON")
		}
		args = string(b)
	}
	if len(r.ps.list) > before {
		return ToolCallFunction{}, false
	}
	return ToolCallFunction{Name: name, Arguments: args}, true
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
