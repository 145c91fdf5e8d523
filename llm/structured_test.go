package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

var verdictSch = llm.MustSchemaFor[verdict]("verdict")

func baseRequest() llm.Request {
	return llm.Request{Model: "judge", System: "Grade the call.", Messages: []llm.Message{{Role: llm.RoleUser, Content: "transcript"}}}
}

const goodVerdict = `{"reasoning":"polite","evidence":[{"turn":1,"quote":"hello"}],"score":0.75}`

func TestGenerateStructuredFirstTime(t *testing.T) {
	m := llmtest.NewScripted(llmtest.Reply(goodVerdict).WithUsage(llm.Usage{InputTokens: 100, OutputTokens: 20}))
	req := baseRequest()
	res, err := llm.GenerateStructured[verdict](context.Background(), m, verdictSch, req)
	require.NoError(t, err)
	assert.Equal(t, verdict{Reasoning: "polite", Evidence: []evidence{{Turn: 1, Quote: "hello"}}, Score: 0.75}, res.Value)
	assert.Equal(t, 1, res.Attempts)
	assert.Equal(t, llm.Usage{InputTokens: 100, OutputTokens: 20}, res.Usage)
	assert.Equal(t, "judge", res.Response.Model)

	sent := m.Requests()[0]
	assert.JSONEq(t, string(verdictSch.JSON()), string(sent.Schema), "the schema travels with the request")
	assert.Equal(t, "verdict", sent.SchemaName)
	assert.Nil(t, req.Schema, "the caller's request is not modified")
}

func TestGenerateStructuredRepairSendsTheProblemsBack(t *testing.T) {
	bad := `{"reasoning":"polite","evidence":[{"turn":"one","quote":"hello"}],"score":"high","extra":true}`
	m := llmtest.NewScripted(
		llmtest.Reply(bad).WithUsage(llm.Usage{InputTokens: 100, OutputTokens: 30}),
		llmtest.Reply(goodVerdict).WithUsage(llm.Usage{InputTokens: 160, OutputTokens: 20, CachedInputTokens: 100}),
	)
	req := baseRequest()
	res, err := llm.GenerateStructured[verdict](context.Background(), m, verdictSch, req)
	require.NoError(t, err)
	assert.Equal(t, 0.75, res.Value.Score)
	assert.Equal(t, 2, res.Attempts)
	assert.Equal(t, llm.Usage{InputTokens: 260, OutputTokens: 50, CachedInputTokens: 100}, res.Usage, "usage is summed over attempts")

	reqs := m.Requests()
	require.Len(t, reqs, 2)
	assert.Len(t, reqs[0].Messages, 1)
	repair := reqs[1].Messages
	require.Len(t, repair, 3, "the first request's message, the bad answer, the problems")
	assert.Equal(t, req.Messages[0], repair[0])
	assert.Equal(t, llm.Message{Role: llm.RoleAssistant, Content: bad}, repair[1], "the model sees its previous answer")
	assert.Equal(t, llm.RoleUser, repair[2].Role)
	for _, line := range []string{
		"- $: additional properties 'extra' not allowed",
		"- $.evidence[0].turn: got string, want integer",
		"- $.score: got string, want number",
	} {
		assert.Contains(t, repair[2].Content, line, "the exact validation error with its JSON path")
	}
	assert.Contains(t, repair[2].Content, `"verdict"`)
	assert.Len(t, req.Messages, 1, "the caller's messages are not appended to")
}

func TestGenerateStructuredGivesUpAfterTheBound(t *testing.T) {
	m := llmtest.NewScripted(
		llmtest.Reply(`not json at all`).WithUsage(llm.Usage{OutputTokens: 3}),
		llmtest.Reply(`{"reasoning":"x"}`).WithUsage(llm.Usage{OutputTokens: 4}),
		llmtest.Reply(`{"reasoning":"x","evidence":[],"score":7}`).WithUsage(llm.Usage{OutputTokens: 5}),
		llmtest.Reply(goodVerdict), // never reached
	)
	res, err := llm.GenerateStructured[verdict](context.Background(), m, verdictSch, baseRequest())
	require.Error(t, err)
	assert.ErrorIs(t, err, llm.ErrInvalidOutput)
	assert.False(t, llm.Retryable(err))
	var ioe *llm.InvalidOutputError
	require.ErrorAs(t, err, &ioe)
	assert.Equal(t, 3, ioe.Attempts)
	assert.Equal(t, "verdict", ioe.Schema)
	assert.Equal(t, []llm.Problem{{Path: "$.score", Message: "maximum: got 7, want 1"}}, ioe.Problems, "the last answer's problems")
	assert.Equal(t, `{"reasoning":"x","evidence":[],"score":7}`, ioe.Content)
	assert.NotContains(t, err.Error(), `"reasoning":"x"`, "the message does not quote the answer")
	assert.Equal(t, 3, res.Attempts)
	assert.Equal(t, int64(12), res.Usage.OutputTokens)
	assert.Equal(t, 1, m.Remaining())

	reqs := m.Requests()
	assert.Contains(t, reqs[1].Messages[2].Content, "- $: not valid JSON")
	assert.Contains(t, reqs[2].Messages[4].Content, "- $: missing properties 'evidence', 'score'")
}

func TestGenerateStructuredMaxAttempts(t *testing.T) {
	m := llmtest.NewScripted(llmtest.Reply(`{}`), llmtest.Reply(goodVerdict))
	res, err := llm.GenerateStructured[verdict](context.Background(), m, verdictSch, baseRequest(), llm.WithMaxAttempts(1))
	assert.ErrorIs(t, err, llm.ErrInvalidOutput)
	assert.Equal(t, 1, res.Attempts)

	m = llmtest.NewScripted(llmtest.Reply(`{}`), llmtest.Reply(`{}`), llmtest.Reply(`{}`), llmtest.Reply(`{}`), llmtest.Reply(goodVerdict))
	res, err = llm.GenerateStructured[verdict](context.Background(), m, verdictSch, baseRequest(), llm.WithMaxAttempts(5))
	require.NoError(t, err)
	assert.Equal(t, 5, res.Attempts)

	m = llmtest.NewScripted(llmtest.Reply(`{}`), llmtest.Reply(goodVerdict))
	_, err = llm.GenerateStructured[verdict](context.Background(), m, verdictSch, baseRequest(), llm.WithMaxAttempts(0))
	assert.ErrorIs(t, err, llm.ErrInvalidOutput, "a bound below 1 means one attempt")
}

func TestGenerateStructuredAcceptsWrappedJSON(t *testing.T) {
	tests := map[string]string{
		"whitespace":       "\n  " + goodVerdict + "\n",
		"code fence":       "```json\n" + goodVerdict + "\n```",
		"bare fence":       "```\n" + goodVerdict + "\n```",
		"prose around":     "Here is my verdict: " + goodVerdict + " Hope this helps!",
		"braces in quotes": `Sure: {"reasoning":"a } and a { and \" quote","evidence":[],"score":0.75} done`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			m := llmtest.NewScripted(llmtest.Reply(content))
			res, err := llm.GenerateStructured[verdict](context.Background(), m, verdictSch, baseRequest())
			require.NoError(t, err)
			assert.Equal(t, 0.75, res.Value.Score)
			assert.Equal(t, 1, res.Attempts)
		})
	}
}

func TestGenerateStructuredDoesNotRepairFailures(t *testing.T) {
	tests := []struct {
		name string
		step llmtest.Step
		want error
	}{
		{"truncated", llmtest.Reply(goodVerdict[:20]).WithFinish(llm.FinishLength), llm.ErrOutputTruncated},
		{"refusal", llmtest.Reply("").WithFinish(llm.FinishRefusal), llm.ErrRefused},
		{"content filter", llmtest.Reply("").WithFinish(llm.FinishContentFilter), llm.ErrRefused},
		{"rate limited", llmtest.Fail(&llm.Error{Kind: llm.ErrRateLimited}), llm.ErrRateLimited},
		{"transient", llmtest.Fail(&llm.Error{Kind: llm.ErrTransient}), llm.ErrTransient},
		{"context too long", llmtest.Fail(&llm.Error{Kind: llm.ErrContextTooLong}), llm.ErrContextTooLong},
		{"truncated as an error", llmtest.Fail(&llm.Error{Kind: llm.ErrOutputTruncated}), llm.ErrOutputTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := llmtest.NewScripted(tt.step.WithUsage(llm.Usage{InputTokens: 9}), llmtest.Reply(goodVerdict))
			res, err := llm.GenerateStructured[verdict](context.Background(), m, verdictSch, baseRequest())
			assert.ErrorIs(t, err, tt.want)
			assert.NotErrorIs(t, err, llm.ErrInvalidOutput)
			assert.Equal(t, 1, res.Attempts)
			assert.Equal(t, 1, m.Remaining(), "no repair was attempted")
			if tt.step.Err == nil {
				assert.Equal(t, int64(9), res.Usage.InputTokens, "a truncated answer's tokens are still counted")
			}
		})
	}
}

func TestGenerateStructuredDecodeFailure(t *testing.T) {
	type small struct {
		N int8 `json:"n"`
	}
	s := llm.MustSchemaFor[small]("small")
	m := llmtest.NewScripted(llmtest.Reply(`{"n": 1000}`), llmtest.Reply(`{"n": 1.0}`), llmtest.Reply(`{"n": 7}`))
	res, err := llm.GenerateStructured[small](context.Background(), m, s, baseRequest())
	require.NoError(t, err)
	assert.Equal(t, int8(7), res.Value.N)
	assert.Contains(t, m.Requests()[1].Messages[2].Content, "- $.n: maximum: got 1000, want 127",
		"the schema carries the range Go can decode, numbers written plainly")
	assert.Contains(t, m.Requests()[2].Messages[4].Content, "- $.n: number 1.0 does not fit the expected int8",
		"an integer written as 1.0 passes the schema but not the decoder: the problem names the field")
}

func TestGenerateStructuredAmbiguousAnswers(t *testing.T) {
	other := `{"reasoning":"other","evidence":[],"score":0.25}`
	tests := []struct {
		name, content string
		ok            bool
	}{
		{"sample before the answer", "Format example: " + other + ". My answer: " + goodVerdict, false},
		{"two answers", goodVerdict + "\n" + other, false},
		{"two fences", "```json\n" + other + "\n```\n```json\n" + goodVerdict + "\n```", false},
		{"the same value twice", "```json\n" + goodVerdict + "\n```\nAgain: " + goodVerdict, true},
		{"a bracket in the prose first", "Sure (see note [1]). " + goodVerdict, true},
		{"an unclosed bracket in the prose", "Here is the answer [JSON: " + goodVerdict, true},
		{"a non-JSON brace first", "I use the format {score: n}:\n" + goodVerdict, true},
		{"a non-fitting value and a fitting one", `Ignore {"a":1}, the answer is ` + goodVerdict, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := llmtest.NewScripted(llmtest.Reply(tt.content))
			res, err := llm.GenerateStructured[verdict](context.Background(), m, verdictSch, baseRequest(), llm.WithMaxAttempts(1))
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, 0.75, res.Value.Score)
				return
			}
			var ioe *llm.InvalidOutputError
			require.ErrorAs(t, err, &ioe)
			assert.Equal(t, []llm.Problem{{Path: "$",
				Message: "the answer holds 2 different JSON values that satisfy the schema; answer with exactly one"}}, ioe.Problems)
		})
	}
}

func TestInvalidOutputErrorDoesNotQuoteTheAnswer(t *testing.T) {
	type contact struct {
		Email string `json:"email" jsonschema:"format=email"`
		Code  string `json:"code" jsonschema:"pattern=^[A-Z]{3}$"`
	}
	s := llm.MustSchemaFor[contact]("contact")
	m := llmtest.NewScripted(llmtest.Reply(`{"email":"john.smith SSN 123-45-6789","code":"card 4111111111111111"}`))
	_, err := llm.GenerateStructured[contact](context.Background(), m, s, baseRequest(), llm.WithMaxAttempts(1))
	var ioe *llm.InvalidOutputError
	require.ErrorAs(t, err, &ioe)
	assert.Equal(t, `llm: invalid output for schema "contact" after 1 attempt(s): problems at $.code, $.email`, err.Error())
	assert.NotContains(t, err.Error(), "4111")
	assert.Len(t, ioe.Problems, 2, "the detail stays in Problems")
	assert.Contains(t, ioe.Problems[0].Message, "does not match pattern")
}

func TestGenerateStructuredArguments(t *testing.T) {
	m := llmtest.NewScripted(llmtest.Reply(goodVerdict))
	_, err := llm.GenerateStructured[verdict](context.Background(), m, nil, baseRequest())
	assert.ErrorContains(t, err, "nil schema")
	assert.ErrorIs(t, err, llm.ErrInvalidRequest)

	req := baseRequest()
	req.Messages = nil
	_, err = llm.GenerateStructured[verdict](context.Background(), m, verdictSch, req)
	assert.ErrorIs(t, err, llm.ErrInvalidRequest)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := llm.GenerateStructured[verdict](ctx, m, verdictSch, baseRequest())
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, res.Attempts)
	assert.Equal(t, 0, m.Len(), "no call is made with a cancelled context")
}

func TestGenerateStructuredIntoAMap(t *testing.T) {
	s := llm.MustSchema("fields", json.RawMessage(`{"type":"object","properties":{"intent":{"type":"string","enum":["billing","support"]},"resolved":{"type":["boolean","null"]}},"required":["intent","resolved"],"additionalProperties":false}`))
	m := llmtest.NewScripted(llmtest.Reply(`{"intent":"billing","resolved":null}`))
	res, err := llm.GenerateStructured[map[string]json.RawMessage](context.Background(), m, s, baseRequest())
	require.NoError(t, err)
	assert.JSONEq(t, `"billing"`, string(res.Value["intent"]))
	assert.Equal(t, "null", string(res.Value["resolved"]))
}

func TestRepairMessageBoundsTheList(t *testing.T) {
	var problems []llm.Problem
	for i := 0; i < 25; i++ {
		problems = append(problems, llm.Problem{Path: "$.x", Message: "bad"})
	}
	msg := llm.RepairMessage("s", problems)
	assert.Equal(t, 20, strings.Count(msg, "- $.x: bad"))
	assert.Contains(t, msg, "- ... and 5 more")

	e := &llm.InvalidOutputError{Schema: "s", Problems: problems, Attempts: 2}
	assert.Equal(t, `llm: invalid output for schema "s" after 2 attempt(s): problems at $.x`, e.Error())
	assert.True(t, errors.Is(e, llm.ErrInvalidOutput))
	for i := range 8 {
		e.Problems = append(e.Problems, llm.Problem{Path: fmt.Sprintf("$.f%d", i), Message: "bad"})
	}
	assert.Equal(t, `llm: invalid output for schema "s" after 2 attempt(s): problems at $.x, $.f0, $.f1, $.f2, $.f3 and 4 more`, e.Error())
}

func TestGenerateStructuredWithValidation(t *testing.T) {
	lenient := llm.MustSchema("any_object", json.RawMessage(`{"type":"object"}`))
	m := llmtest.NewScripted(llmtest.Reply(`[1]`), llmtest.Reply(`{"score":"high"}`))
	res, err := llm.GenerateStructured[map[string]any](context.Background(), m, verdictSch, baseRequest(), llm.WithValidation(lenient))
	require.NoError(t, err, "an object of the wrong shape passes the lenient check")
	assert.Equal(t, "high", res.Value["score"])
	assert.Equal(t, 2, res.Attempts, "a non-object is still repaired")

	reqs := m.Requests()
	assert.Equal(t, "verdict", reqs[0].SchemaName, "the strict schema is what the provider sees")
	assert.JSONEq(t, string(verdictSch.JSON()), string(reqs[1].Schema))
	assert.Contains(t, reqs[1].Messages[2].Content, `"verdict"`, "the repair names the schema the model was given")
	assert.Contains(t, reqs[1].Messages[2].Content, "- $: got array, want object")
}
