package session

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tauBench returns the trajectories kept under testdata/tau-bench.
func tauBench(t *testing.T) []json.RawMessage {
	t.Helper()
	var entries []json.RawMessage
	require.NoError(t, json.Unmarshal(readTestdata(t, "tau-bench/airline-trajectories-3.json"), &entries))
	require.Len(t, entries, 3)
	return entries
}

func tauOptions(taskID int, reward float64) OpenAILogOptions {
	return OpenAILogOptions{
		SessionID:         derivedUUID("test-tau-bench", fmt.Sprint(taskID)),
		OrganizationID:    orgA,
		AgentID:           ptr(agentA),
		StartedAt:         time.Date(2024, 5, 15, 20, 0, 0, 0, time.UTC), // 15:00 EST, the time the policy states
		HandoffTools:      []string{"transfer_to_human_agents"},
		ToolErrorPrefixes: []string{"Error:"},
		Metadata:          map[string]any{"task_id": taskID, "reward": reward},
	}
}

func TestFromOpenAILogTauBench(t *testing.T) {
	for _, raw := range tauBench(t) {
		var meta struct {
			TaskID int     `json:"task_id"`
			Reward float64 `json:"reward"`
			Traj   []struct {
				Role      string            `json:"role"`
				ToolCalls []json.RawMessage `json:"tool_calls"`
			} `json:"traj"`
		}
		require.NoError(t, json.Unmarshal(raw, &meta))
		t.Run(fmt.Sprintf("task-%d", meta.TaskID), func(t *testing.T) {
			c, err := FromOpenAILog(raw, tauOptions(meta.TaskID, meta.Reward))
			require.NoError(t, err)

			var nonSystem, calls int
			for _, m := range meta.Traj {
				if m.Role != "system" {
					nonSystem++
				}
				calls += len(m.ToolCalls)
			}
			require.Len(t, c.Messages, nonSystem, "every message but the system prompt")
			require.Len(t, c.ToolCalls, calls)
			for i, m := range c.Messages {
				assert.Equal(t, c.StartedAt.Add(time.Duration(i)*time.Second), m.Timestamp, "synthesised timestamps")
			}
			for _, tc := range c.ToolCalls {
				assert.True(t, tc.Result != nil || tc.Error != nil, "every call of a finished trajectory has an answer: %s", tc.ToolCallID)
			}
			assert.Equal(t, 1, c.CustomerMetadata["system_messages"])
			assert.Len(t, c.CustomerMetadata["system_prompt_sha256"], 64)

			in, err := (&Assembler{Redactor: DefaultRedactor(), MaxMessageChars: 4000}).Assemble(t.Context(), c)
			require.NoError(t, err)
			require.NoError(t, in.Validate())
			golden(t, fmt.Sprintf("tau_bench_task_%d.json", meta.TaskID), mustJSON(t, in))

			switch meta.TaskID {
			case 15: // a tool error, no handoff
				assert.Empty(t, in.HandoffEvents)
				assert.Nil(t, in.Outcome, "a failed task (reward 0) is not claimed resolved")
				assert.Nil(t, in.CompletionReason)
				var errs int
				for _, tc := range in.ToolCalls {
					if tc.Error != nil {
						errs++
						assert.True(t, strings.HasPrefix(*tc.Error, "Error:"))
						assert.Nil(t, tc.Result)
					}
				}
				assert.Equal(t, 1, errs)
			case 16: // no tools at all
				assert.Empty(t, in.ToolCalls)
				assert.NotContains(t, in.MissingEvidenceReasons, NoToolTrace)
				assert.Nil(t, in.Outcome, "a failed task (reward 0) is not claimed resolved")
			case 18: // handed to a human
				require.Len(t, in.HandoffEvents, 1)
				assert.Equal(t, "transfer_to_human_agents", *in.HandoffEvents[0].Reason)
				assert.Equal(t, OutcomeTransferred, *in.Outcome)
			}
		})
	}
}

func TestFromOpenAILogMapping(t *testing.T) {
	log := `{"messages":[
		{"role":"system","content":"Be helpful."},
		{"role":"user","content":[{"type":"text","text":"Book it."},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"Thanks"}]},
		{"role":"assistant","content":null,"tool_calls":[
			{"id":"c1","type":"function","function":{"name":"book","arguments":"{\"seat\":\"12C\"}"}},
			{"id":"c2","function":{"name":"pay","arguments":{"amount":10}}}]},
		{"role":"tool","tool_call_id":"c2","content":"paid"},
		{"role":"tool","tool_call_id":"c1","content":"Error: seat taken"},
		{"role":"assistant","content":"Seat 12C was taken; you paid 10."}
	]}`
	opts := OpenAILogOptions{SessionID: sessionA, OrganizationID: orgA, StartedAt: t0, TurnInterval: 5 * time.Second,
		Model: "gpt-4o-mini", ToolErrorPrefixes: []string{"Error:"}, Metadata: map[string]any{"dataset": "demo"}}
	c, err := FromOpenAILog([]byte(log), opts)
	require.NoError(t, err)
	require.Len(t, c.Messages, 5)
	assert.Equal(t, "Book it.\nThanks", c.Messages[0].Content)
	assert.Equal(t, RoleAssistant, c.Messages[1].Role)
	assert.Equal(t, "", c.Messages[1].Content)
	assert.Equal(t, "gpt-4o-mini", *c.Messages[1].ModelUsed)
	assert.Nil(t, c.Messages[0].ModelUsed)
	require.Len(t, c.Messages[1].ToolCalls, 2)
	assert.Equal(t, ToolCallTypeFunction, c.Messages[1].ToolCalls[1].Type)
	assert.Equal(t, `{"amount":10}`, c.Messages[1].ToolCalls[1].Function.Arguments, "decoded arguments are kept as JSON text")
	assert.Equal(t, RoleTool, c.Messages[2].Role)
	assert.Equal(t, &ToolResult{ToolCallID: "c2", Output: "paid"}, c.Messages[2].ToolResults)
	assert.Equal(t, "Error: seat taken", *c.Messages[3].ToolResults.Error)
	assert.Equal(t, "paid", *c.ToolCalls[1].Result)
	assert.Nil(t, c.ToolCalls[0].Result)
	assert.Equal(t, "Error: seat taken", *c.ToolCalls[0].Error)
	assert.Equal(t, c.Messages[1].TurnID, c.ToolCalls[0].AssistantTurnID)
	assert.Equal(t, t0.Add(20*time.Second), c.Messages[4].Timestamp)
	assert.Equal(t, t0.Add(20*time.Second), *c.EndedAt)
	assert.Equal(t, StatusCompleted, c.Status)
	assert.Equal(t, "chat", c.Channel)
	assert.Equal(t, "demo", c.CustomerMetadata["dataset"])
	assert.Equal(t, "openai_log", c.CustomerMetadata["source"])
	assert.NotContains(t, opts.Metadata, "source", "the caller's metadata map is not modified")

	in, err := (&Assembler{}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"seat": "12C"}, in.ToolCalls[0].ArgumentsParsed)

	// A bare array, and a "traj" object, give the same transcript.
	var wrapper struct {
		Messages json.RawMessage `json:"messages"`
	}
	require.NoError(t, json.Unmarshal([]byte(log), &wrapper))
	bare, err := FromOpenAILog(wrapper.Messages, opts)
	require.NoError(t, err)
	traj, err := FromOpenAILog([]byte(`{"traj":`+string(wrapper.Messages)+`}`), opts)
	require.NoError(t, err)
	assert.Equal(t, string(mustJSON(t, c)), string(mustJSON(t, bare)))
	assert.Equal(t, string(mustJSON(t, c)), string(mustJSON(t, traj)))

	empty, err := FromOpenAILog([]byte(`[]`), opts)
	require.NoError(t, err)
	assert.Equal(t, t0, *empty.EndedAt)
	assert.Empty(t, empty.Messages)
}

func TestFromOpenAILogErrors(t *testing.T) {
	good := OpenAILogOptions{SessionID: sessionA, OrganizationID: orgA, StartedAt: t0}
	tests := []struct {
		name     string
		data     string
		opts     func(o *OpenAILogOptions)
		path     string
		contains string
	}{
		{"session id", `[]`, func(o *OpenAILogOptions) { o.SessionID = "s1" }, "OpenAILogOptions.SessionID", "not a UUID"},
		{"organization id", `[]`, func(o *OpenAILogOptions) { o.OrganizationID = "" }, "OpenAILogOptions.OrganizationID", "not a UUID"},
		{"agent id", `[]`, func(o *OpenAILogOptions) { o.AgentID = ptr("bot") }, "OpenAILogOptions.AgentID", "not a UUID"},
		{"start", `[]`, func(o *OpenAILogOptions) { o.StartedAt = time.Time{} }, "OpenAILogOptions.StartedAt", "not set"},
		{"interval", `[]`, func(o *OpenAILogOptions) { o.TurnInterval = -time.Second }, "OpenAILogOptions.TurnInterval", "negative"},
		{"status", `[]`, func(o *OpenAILogOptions) { o.Status = "done" }, "OpenAILogOptions.Status", "not a session status"},
		{"interval overflows", `[{"role":"user","content":"a"},{"role":"user","content":"b"}]`, func(o *OpenAILogOptions) { o.TurnInterval = time.Duration(math.MaxInt64/2 + 1) }, "OpenAILogOptions.TurnInterval", "overflows"},
		{"not json", `[{"role":`, nil, "$", "not valid JSON"},
		{"a string", `"hi"`, nil, "$", "not an array of messages"},
		{"no messages", `{"conversation":[]}`, nil, "$", `no "messages" or "traj"`},
		{"messages not an array", `{"messages":{}}`, nil, "$.messages", "not an array"},
		{"message not an object", `["hi"]`, nil, "$[0]", "not an object"},
		{"unknown role", `[{"role":"robot","content":"x"}]`, nil, "$[0].role", `is not one of`},
		{"missing role", `[{"content":"x"}]`, nil, "$[0].role", "missing"},
		{"content of the wrong type", `[{"role":"user","content":5}]`, nil, "$[0].content", "not a string"},
		{"tool call without id", `[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}]`, nil, "$[0].tool_calls[0].id", "missing"},
		{"tool call without function", `[{"role":"assistant","tool_calls":[{"id":"c"}]}]`, nil, "$[0].tool_calls[0].function", "not an object"},
		{"tool call without name", `[{"role":"assistant","tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}]`, nil, "$[0].tool_calls[0].function.name", "missing"},
		{"duplicate call id", `[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f"}}]},{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"g"}}]}]`, nil, "$[1].tool_calls[0].id", "repeats"},
		{"tool result for no call", `[{"role":"tool","tool_call_id":"zz","content":"x"}]`, nil, "$[0].tool_call_id", "names no earlier tool call"},
		{"tool result without id", `[{"role":"tool","content":"x"}]`, nil, "$[0].tool_call_id", "missing"},
		{"answered twice", `[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f"}}]},{"role":"tool","tool_call_id":"c","content":"1"},{"role":"tool","tool_call_id":"c","content":"2"}]`, nil, "$[2].tool_call_id", "already answered at $[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := good
			if tt.opts != nil {
				tt.opts(&opts)
			}
			c, err := FromOpenAILog([]byte(tt.data), opts)
			assert.Nil(t, c)
			requireProblem(t, problemsOf(t, err), tt.path, tt.contains)
		})
	}
}

func TestFromOpenAILogRefusal(t *testing.T) {
	opts := OpenAILogOptions{SessionID: sessionA, OrganizationID: orgA, StartedAt: t0}
	c, err := FromOpenAILog([]byte(`[{"role":"user","content":"help me pick a lock"},
		{"role":"assistant","content":null,"refusal":"I can't help with that."},
		{"role":"assistant","content":"Here is why.","refusal":"I can't help with that."}]`), opts)
	require.NoError(t, err)
	assert.Equal(t, "I can't help with that.", c.Messages[1].Content, "the refusal is the answer")
	assert.Equal(t, "Here is why.\n\nI can't help with that.", c.Messages[2].Content)

	_, err = FromOpenAILog([]byte(`[{"role":"assistant","refusal":5}]`), opts)
	requireProblem(t, problemsOf(t, err), "$[0].refusal", "not a string")
}

func TestFromOpenAILogLegacyFunctions(t *testing.T) {
	opts := OpenAILogOptions{SessionID: sessionA, OrganizationID: orgA, StartedAt: t0, ToolErrorPrefixes: []string{"Error:"},
		HandoffTools: []string{"escalate"}}
	log := `[{"role":"user","content":"weather in Paris and Rome?"},
		{"role":"assistant","content":null,"function_call":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
		{"role":"function","name":"weather","content":"sunny"},
		{"role":"assistant","content":null,"function_call":{"name":"weather","arguments":{"city":"Rome"}}},
		{"role":"function","name":"weather","content":"Error: no data"},
		{"role":"assistant","content":null,"function_call":{"name":"escalate","arguments":"{}"}},
		{"role":"assistant","content":"Paris is sunny."}]`
	c, err := FromOpenAILog([]byte(log), opts)
	require.NoError(t, err)
	require.Len(t, c.ToolCalls, 3)
	first, second := c.ToolCalls[0], c.ToolCalls[1]
	assert.True(t, IsUUID(first.ToolCallID), "a derived id")
	assert.Equal(t, derivedUUID("openai-function-call", sessionA, "1"), first.ToolCallID)
	assert.Equal(t, "weather", first.Name)
	assert.Equal(t, `{"city":"Paris"}`, first.Arguments)
	assert.Equal(t, "sunny", *first.Result)
	assert.Equal(t, `{"city":"Rome"}`, second.Arguments)
	assert.Equal(t, "Error: no data", *second.Error)
	assert.Equal(t, c.Messages[1].TurnID, first.AssistantTurnID)
	require.Len(t, c.Messages[1].ToolCalls, 1)
	assert.Equal(t, first.ToolCallID, c.Messages[1].ToolCalls[0].ID)
	assert.Equal(t, RoleTool, c.Messages[2].Role, "a function message is a tool result")
	assert.Equal(t, &ToolResult{ToolCallID: first.ToolCallID, Output: "sunny"}, c.Messages[2].ToolResults)
	assert.Len(t, c.HandoffEvents, 1)

	in, err := (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.NotContains(t, in.MissingEvidenceReasons, NoToolTrace)
	assert.Equal(t, map[string]any{"city": "Paris"}, in.ToolCalls[0].ArgumentsParsed)

	for _, tt := range []struct{ name, data, path, contains string }{
		{"function without a call", `[{"role":"function","name":"weather","content":"x"}]`, "$[0].name", "no function of an earlier"},
		{"function without a name", `[{"role":"function","content":"x"}]`, "$[0].name", "missing"},
		{"answered twice", `[{"role":"assistant","function_call":{"name":"f"}},{"role":"function","name":"f","content":"1"},{"role":"function","name":"f","content":"2"}]`, "$[2].name", "no function of an earlier, unanswered"},
		{"function_call without a name", `[{"role":"assistant","function_call":{"arguments":"{}"}}]`, "$[0].function_call.name", "missing"},
		{"function_call not an object", `[{"role":"assistant","function_call":"f"}]`, "$[0].function_call", "not an object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromOpenAILog([]byte(tt.data), opts)
			requireProblem(t, problemsOf(t, err), tt.path, tt.contains)
		})
	}
}

// TestFromOpenAILogMetadataIsRedacted: the caller's metadata lands in
// customer_metadata, which the assembler redacts.
func TestFromOpenAILogMetadataIsRedacted(t *testing.T) {
	opts := OpenAILogOptions{SessionID: sessionA, OrganizationID: orgA, StartedAt: t0,
		Metadata: map[string]any{"customer": map[string]any{"email": "jane.doe@example.com", "phone": "+1 415 555 2671"}, "tier": "gold"}}
	c, err := FromOpenAILog([]byte(`[{"role":"user","content":"hi"}]`), opts)
	require.NoError(t, err)
	in, err := (&Assembler{Redactor: DefaultRedactor()}).Assemble(t.Context(), c)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"email": "[EMAIL]", "phone": "[PHONE]"}, in.CustomerMetadata["customer"])
	assert.Equal(t, "gold", in.CustomerMetadata["tier"])
}
