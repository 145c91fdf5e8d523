package otelllm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
	"github.com/debrief-go/debrief/session"
)

const (
	systemText = "SYSTEM-INSTRUCTIONS-7f3a: grade the agent"
	promptText = "PROMPT-TEXT-91c2: the caller said hello"
	answerText = `{"verdict":"ANSWER-TEXT-5d8e"}`
)

func contentRequest() llm.Request {
	return llm.Request{Model: "m", System: systemText, Messages: []llm.Message{
		{Role: llm.RoleUser, Content: promptText},
		{Role: llm.RoleAssistant, Content: `{"draft":"PROMPT-TEXT-91c2 again"}`},
		{Role: llm.RoleUser, Content: "fix it"},
	}}
}

func TestNoContentByDefault(t *testing.T) {
	h := newHarness(t)
	m := h.wrap(llmtest.NewScripted(
		llmtest.Reply(answerText).WithUsage(llm.Usage{InputTokens: 9, OutputTokens: 3}),
		llmtest.Fail(&llm.Error{Kind: llm.ErrTransient, Message: "echo: " + promptText}),
		llmtest.Reply(answerText),
	), llm.WithRetry(llm.RetryOptions{Sleep: noSleep}))
	for range 2 {
		_, err := m.Generate(context.Background(), contentRequest())
		require.NoError(t, err)
	}

	texts := everyText(t, h)
	require.True(t, contains(texts, "gen_ai.usage.input_tokens"), "the scan sees the attributes")
	require.True(t, contains(texts, "retry"), "the scan sees the events")
	for _, needle := range []string{"SYSTEM-INSTRUCTIONS-7f3a", "PROMPT-TEXT-91c2", "ANSWER-TEXT-5d8e", "caller said hello", "grade the agent"} {
		assert.False(t, contains(texts, needle), "%q was recorded", needle)
	}
	for _, s := range h.spans.Ended() {
		a := attrs(t, s.Attributes())
		for _, key := range []string{"gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages", "debrief.llm.content.withheld"} {
			assert.NotContains(t, a, key)
		}
	}
}

type part struct {
	Type    string `json:"type"`
	Content string `json:"content"`
}

type message struct {
	Role         string  `json:"role"`
	Parts        []part  `json:"parts"`
	FinishReason *string `json:"finish_reason"`
}

func decode[T any](t *testing.T, v any) T {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "%v is not a string", v)
	var out T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&out), s)
	return out
}

func TestRecordContentRedacts(t *testing.T) {
	h := newHarness(t)
	h.cfg.RecordContent = true
	m := h.wrap(llmtest.NewScripted(
		llmtest.Reply(`{"summary":"Write to jane.doe@example.com or call +1 415 555 2671 <soon> & then"}`).
			WithFinish(llm.FinishLength),
	))
	req := contentRequest()
	req.Messages[0].Content = "My e-mail is jane.doe@example.com, card 4111 1111 1111 1111."
	_, err := m.Generate(context.Background(), req)
	require.NoError(t, err)

	a := attrs(t, h.span(t).Attributes())
	assert.NotContains(t, a, "debrief.llm.content.withheld")
	assert.Equal(t, []part{{Type: "text", Content: systemText}}, decode[[]part](t, a["gen_ai.system_instructions"]))

	in := decode[[]message](t, a["gen_ai.input.messages"])
	require.Len(t, in, 3)
	assert.Equal(t, message{Role: "user", Parts: []part{{Type: "text", Content: "My e-mail is [EMAIL], card [CARD]."}}}, in[0])
	assert.Equal(t, message{Role: "assistant", Parts: []part{{Type: "text", Content: `{"draft":"PROMPT-TEXT-91c2 again"}`}}}, in[1])
	assert.Equal(t, "user", in[2].Role)

	out := decode[[]message](t, a["gen_ai.output.messages"])
	require.Len(t, out, 1)
	assert.Equal(t, "assistant", out[0].Role)
	require.NotNil(t, out[0].FinishReason)
	assert.Equal(t, "length", *out[0].FinishReason)
	require.Len(t, out[0].Parts, 1)
	assert.Equal(t, part{Type: "text", Content: `{"summary":"Write to [EMAIL] or call [PHONE] <soon> & then"}`}, out[0].Parts[0])

	requireAbsent(t, h, "jane.doe", "example.com", "4111", "555 2671")
}

func TestRecordContentWithoutSystemOrAnswer(t *testing.T) {
	h := newHarness(t)
	h.cfg.RecordContent = true
	m := h.wrap(llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrRefused})))
	_, err := m.Generate(context.Background(), request("m", "write to a@b.example"))
	require.Error(t, err)
	a := attrs(t, h.span(t).Attributes())
	assert.NotContains(t, a, "gen_ai.system_instructions")
	assert.NotContains(t, a, "gen_ai.output.messages", "a failed call has no answer")
	in := decode[[]message](t, a["gen_ai.input.messages"])
	assert.Equal(t, []message{{Role: "user", Parts: []part{{Type: "text", Content: "write to [EMAIL]"}}}}, in)
}

func TestRecordContentWithTheHostsRedactor(t *testing.T) {
	h := newHarness(t)
	h.cfg.RecordContent = true
	h.cfg.Redactor = session.RedactorFunc(func(_ context.Context, text string) (string, error) {
		return strings.ReplaceAll(text, "Alexis", "[NAME]"), nil
	})
	m := h.wrap(llmtest.NewScripted(llmtest.Reply(`{"caller":"Alexis"}`)))
	_, err := m.Generate(context.Background(), request("m", "Alexis called about jane@example.com"))
	require.NoError(t, err)
	a := attrs(t, h.span(t).Attributes())
	assert.Equal(t, []message{{Role: "user", Parts: []part{{Type: "text", Content: "[NAME] called about jane@example.com"}}}},
		decode[[]message](t, a["gen_ai.input.messages"]), "the host's redactor replaces the default one")
	assert.Equal(t, `{"caller":"[NAME]"}`, decode[[]message](t, a["gen_ai.output.messages"])[0].Parts[0].Content)
}

func TestFailedRedactionWithholdsAllContent(t *testing.T) {
	// A JSON text reaches the redactor value by value: the answer's string.
	for _, failOn := range []string{systemText, promptText, "PROMPT-TEXT-91c2 again", "fix it", "ANSWER-TEXT-5d8e"} {
		t.Run(failOn, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.RecordContent = true
			h.cfg.Redactor = session.RedactorFunc(func(_ context.Context, text string) (string, error) {
				if text == failOn {
					return "", errors.New("redactor down: " + text)
				}
				return text, nil
			})
			m := h.wrap(llmtest.NewScripted(llmtest.Reply(answerText)))
			_, err := m.Generate(context.Background(), contentRequest())
			require.NoError(t, err, "a failed redaction does not fail the call")

			a := attrs(t, h.span(t).Attributes())
			assert.Equal(t, true, a["debrief.llm.content.withheld"])
			for _, key := range []string{"gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages"} {
				assert.NotContains(t, a, key)
			}
			requireAbsent(t, h, "SYSTEM-INSTRUCTIONS-7f3a", "PROMPT-TEXT-91c2", "ANSWER-TEXT-5d8e", "redactor down")
		})
	}
}
