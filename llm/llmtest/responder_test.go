package llmtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func TestResponderAnswersBySchemaName(t *testing.T) {
	r := llmtest.NewResponder().
		OnJSON("first", map[string]int{"n": 1}).
		On("second", func(req llm.Request, _ *rand.Rand) llmtest.Step {
			return llmtest.Reply(`{"echo":` + fmt.Sprintf("%q", req.Messages[0].Content) + `}`)
		})
	ask := func(schema, text string) (llm.Response, error) {
		req := request(text)
		req.SchemaName = schema
		return r.Generate(context.Background(), req)
	}
	resp, err := ask("first", "a")
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":1}`, resp.Content)
	assert.Equal(t, llm.FinishStop, resp.FinishReason)
	assert.Equal(t, "fake", resp.Model)

	resp, err = ask("second", "hello")
	require.NoError(t, err)
	assert.JSONEq(t, `{"echo":"hello"}`, resp.Content)

	_, err = ask("third", "x")
	require.ErrorIs(t, err, llmtest.ErrNoAnswer)
	assert.Contains(t, err.Error(), `"third"`, "the missing schema is named")
	assert.Equal(t, 3, r.Len(), "every call is recorded, the failed one too")

	r.On("third", func(llm.Request, *rand.Rand) llmtest.Step { return llmtest.Fail(llm.ErrRefused) })
	_, err = ask("third", "x")
	assert.ErrorIs(t, err, llm.ErrRefused)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Generate(ctx, request("x"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Panics(t, func() { r.On("x", nil) })
}

func TestResponderIsDeterministicPerRequestUnderConcurrency(t *testing.T) {
	// Each request draws from a generator seeded by the request alone: the
	// same conversation gets the same answer whatever the arrival order, and
	// different conversations get different ones.
	newResponder := func() *llmtest.Responder {
		return llmtest.NewResponder().On("score", func(_ llm.Request, rng *rand.Rand) llmtest.Step {
			return llmtest.ReplyJSON(map[string]float64{"score": rng.Float64()})
		})
	}
	answers := func(r *llmtest.Responder, order []int) map[int]string {
		var mu sync.Mutex
		out := map[int]string{}
		var wg sync.WaitGroup
		for _, i := range order {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := request(fmt.Sprint("conversation ", i))
				req.SchemaName = "score"
				resp, err := r.Generate(context.Background(), req)
				assert.NoError(t, err)
				mu.Lock()
				out[i] = resp.Content
				mu.Unlock()
			}()
		}
		wg.Wait()
		return out
	}
	order := make([]int, 200)
	for i := range order {
		order[i] = i
	}
	first := answers(newResponder(), order)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	assert.Equal(t, first, answers(newResponder(), order))
	distinct := map[string]bool{}
	for _, a := range first {
		distinct[a] = true
	}
	assert.Greater(t, len(distinct), 190, "conversations get their own answers")
}

// strictSchema is a strict object schema with a member of each kind the
// violations treat differently: a nullable one first, so that a violation
// that must not pick it has to skip it.
var strictSchema = llm.MustSchema("shape", json.RawMessage(`{
	"type": "object",
	"properties": {
		"note": {"type": ["string", "null"]},
		"name": {"type": "string"},
		"count": {"type": "integer"},
		"tags": {"type": "array", "items": {"type": "string"}}
	},
	"required": ["note", "name", "count", "tags"],
	"additionalProperties": false
}`))

func shapeRequest(text string) llm.Request {
	req := request(text)
	req.Schema = strictSchema.JSON()
	req.SchemaName = strictSchema.Name()
	return req
}

func TestFaultInjectorSchemaViolationsOfEachKind(t *testing.T) {
	valid := llmtest.NewResponder().OnJSON("shape", map[string]any{"note": nil, "name": "n", "count": 2, "tags": []string{"a"}})
	tests := []struct {
		faults   llmtest.Faults
		fault    llmtest.Fault
		path     string
		contains string
	}{
		{llmtest.Faults{WrongType: 1}, llmtest.FaultWrongType, "$.note", "want null or string"},
		{llmtest.Faults{MissingRequired: 1}, llmtest.FaultMissingRequired, "$", "note"},
		{llmtest.Faults{Null: 1}, llmtest.FaultNull, "$.name", "null"},
		{llmtest.Faults{ExtraMember: 1}, llmtest.FaultExtraMember, "$", "injected_extra_member"},
		{llmtest.Faults{SchemaViolation: 1}, llmtest.FaultSchemaViolation, "$", "object"},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			fi := llmtest.InjectFaults(valid, 1, tt.faults)
			resp, err := fi.Generate(context.Background(), shapeRequest("x"))
			require.NoError(t, err)
			require.True(t, json.Valid([]byte(resp.Content)), "a schema violation is valid JSON: %s", resp.Content)
			problems := strictSchema.Problems([]byte(resp.Content))
			require.NotEmpty(t, problems, "the answer breaks the schema: %s", resp.Content)
			assert.Equal(t, tt.path, problems[0].Path, "%v", problems)
			assert.Contains(t, problems[0].Message, tt.contains)
			assert.Equal(t, 1, fi.Counts()[tt.fault])

			// Through GenerateStructured, the failure is an invalid output
			// naming the path.
			_, err = llm.GenerateStructured[map[string]any](context.Background(), fi, strictSchema, shapeRequest("x"))
			var inv *llm.InvalidOutputError
			require.ErrorAs(t, err, &inv)
			assert.Equal(t, tt.path, inv.Problems[0].Path)
		})
	}
}

func TestFaultInjectorViolationsWithoutAnObjectAnswer(t *testing.T) {
	// An answer that is no object, or a schema that gives nothing to break,
	// still gets an answer breaking an object schema the same way.
	scalar := llmtest.NewResponder().On("shape", func(llm.Request, *rand.Rand) llmtest.Step { return llmtest.Reply(`42`) })
	nullable := llm.MustSchema("shape", json.RawMessage(`{"type":"object","properties":{"a":{"type":["string","null"]}},"required":["a"],"additionalProperties":false}`))
	for f, want := range map[llmtest.Faults]string{
		{WrongType: 1}:       `["injected wrong type"]`,
		{Null: 1}:            `null`,
		{MissingRequired: 1}: `{}`,
		{ExtraMember: 1}:     `{"injected_extra_member":true}`,
	} {
		resp, err := llmtest.InjectFaults(scalar, 1, f).Generate(context.Background(), shapeRequest("x"))
		require.NoError(t, err)
		assert.JSONEq(t, want, resp.Content)
	}
	onlyNullable := llmtest.NewResponder().OnJSON("shape", map[string]any{"a": nil})
	req := request("x")
	req.Schema, req.SchemaName = nullable.JSON(), nullable.Name()
	resp, err := llmtest.InjectFaults(onlyNullable, 1, llmtest.Faults{Null: 1}).Generate(context.Background(), req)
	require.NoError(t, err)
	assert.NotEmpty(t, nullable.Problems([]byte(resp.Content)), "null where only nullable members exist: the whole answer is null")
}

func TestFaultInjectorTimeoutAndPermanent(t *testing.T) {
	fi := llmtest.InjectFaults(answering(), 1, llmtest.Faults{Timeout: 1})
	_, err := fi.Generate(context.Background(), request("x"))
	require.ErrorIs(t, err, llm.ErrTransient)
	var ne net.Error
	require.ErrorAs(t, err, &ne, "a timeout looks like an HTTP client's")
	assert.True(t, ne.Timeout())
	assert.True(t, llm.Retryable(err))

	// With TimeoutAfter, the call hangs, and gives up with its context.
	fi = llmtest.InjectFaults(answering(), 1, llmtest.Faults{Timeout: 1, TimeoutAfter: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = fi.Generate(ctx, request("x"))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	fi = llmtest.InjectFaults(answering(), 1, llmtest.Faults{Timeout: 1, TimeoutAfter: 10 * time.Millisecond})
	start := time.Now()
	_, err = fi.Generate(context.Background(), request("x"))
	assert.ErrorIs(t, err, llm.ErrTransient)
	assert.GreaterOrEqual(t, time.Since(start), 10*time.Millisecond, "the call hung first")

	fi = llmtest.InjectFaults(answering(), 1, llmtest.Faults{Permanent: 1})
	_, err = fi.Generate(context.Background(), request("x"))
	var le *llm.Error
	require.ErrorAs(t, err, &le)
	assert.Nil(t, le.Kind, "unclassified")
	assert.Equal(t, 401, le.StatusCode)
	assert.False(t, llm.Retryable(err))
	for _, class := range []error{llm.ErrRateLimited, llm.ErrTransient, llm.ErrRefused, llm.ErrContextTooLong, llm.ErrOutputTruncated, llm.ErrInvalidOutput} {
		assert.False(t, errors.Is(err, class), "%v", class)
	}
	assert.Panics(t, func() { llmtest.InjectFaults(answering(), 1, llmtest.Faults{Timeout: 1, TimeoutAfter: -1}) })
	assert.Equal(t, "missing_required", llmtest.FaultMissingRequired.String())
}
