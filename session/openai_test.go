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
				assert.Equal(t, OutcomeResolved, *in.Outcome)
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
		{"unknown role", `[{"role":"robot","content":"x"}]`, nil, "$[0].role", `"robot" is not one of`},
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
