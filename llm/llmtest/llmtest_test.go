package llmtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func request(content string) llm.Request {
	return llm.Request{Model: "fake", Messages: []llm.Message{{Role: llm.RoleUser, Content: content}}}
}

func TestScriptedAnswersInOrder(t *testing.T) {
	boom := errors.New("boom")
	m := llmtest.NewScripted(
		llmtest.Reply(`{"n":1}`).WithUsage(llm.Usage{InputTokens: 3}),
		llmtest.Fail(boom),
		llmtest.ReplyJSON(map[string]int{"n": 3}),
	)
	ctx := context.Background()

	resp, err := m.Generate(ctx, request("a"))
	require.NoError(t, err)
	assert.Equal(t, llm.Response{Content: `{"n":1}`, Model: "fake", FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 3}}, resp)

	_, err = m.Generate(ctx, request("b"))
	assert.Same(t, boom, err)

	resp, err = m.Generate(ctx, request("c"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":3}`, resp.Content)

	_, err = m.Generate(ctx, request("d"))
	assert.ErrorIs(t, err, llmtest.ErrScriptExhausted)

	m.Push(llmtest.Reply("late").WithFinish(llm.FinishLength))
	assert.Equal(t, 1, m.Remaining())
	resp, err = m.Generate(ctx, request("e"))
	require.NoError(t, err)
	assert.Equal(t, llm.FinishLength, resp.FinishReason)

	var contents []string
	for _, r := range m.Requests() {
		contents = append(contents, r.Messages[0].Content)
	}
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, contents, "every request is recorded, failed ones too")
	calls := m.Calls()
	assert.Same(t, boom, calls[1].Err)
	assert.ErrorIs(t, calls[3].Err, llmtest.ErrScriptExhausted)

	m.Reset()
	assert.Equal(t, 0, m.Len())
	assert.Panics(t, func() { llmtest.ReplyJSON(func() {}) })
}

func TestScriptedRecordsACopy(t *testing.T) {
	m := llmtest.NewScripted(llmtest.Reply("{}"))
	req := request("original")
	_, _ = m.Generate(context.Background(), req)
	req.Messages[0].Content = "mutated"
	assert.Equal(t, "original", m.Requests()[0].Messages[0].Content)
}

func TestScriptedHonoursCancellation(t *testing.T) {
	m := llmtest.NewScripted(llmtest.Reply("{}"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Generate(ctx, request("x"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, m.Remaining(), "a cancelled call consumes no step")
	assert.Equal(t, 1, m.Len(), "but it is recorded")
}

func TestScriptedConcurrentUse(t *testing.T) {
	const n = 200
	m := llmtest.NewScripted()
	for i := range n {
		m.Push(llmtest.Reply(fmt.Sprint(i)))
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen []string
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := m.Generate(context.Background(), request("x"))
			assert.NoError(t, err)
			mu.Lock()
			seen = append(seen, resp.Content)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Strings(seen)
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	sort.Strings(want)
	assert.Equal(t, want, seen, "every step was used exactly once")
	assert.Equal(t, n, m.Len())
}

func TestHandler(t *testing.T) {
	h := llmtest.Handler(func(_ context.Context, req llm.Request) (llm.Response, error) {
		return llm.Response{Content: `"` + req.Messages[0].Content + `"`}, nil
	})
	resp, err := h.Generate(context.Background(), request("echo"))
	require.NoError(t, err)
	assert.Equal(t, `"echo"`, resp.Content)
	assert.Equal(t, 1, h.Len())
	assert.Equal(t, `"echo"`, h.Calls()[0].Response.Content)
}

// answering returns a handler answering every request with a fixed JSON object.
func answering() *llmtest.Recorder {
	return llmtest.Handler(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: `{"answer":"a fairly long answer to cut in half","n":1}`, FinishReason: llm.FinishStop,
			Usage: llm.Usage{InputTokens: 10, OutputTokens: 10}}, nil
	})
}

func TestFaultInjectorRatesHold(t *testing.T) {
	faults := llmtest.Faults{RateLimited: 0.05, Transient: 0.10, Refused: 0.02, ContextTooLong: 0.03,
		Truncated: 0.04, MalformedJSON: 0.06, SchemaViolation: 0.05}
	const calls = 20000
	fi := llmtest.InjectFaults(answering(), 7, faults)
	for i := range calls {
		_, _ = fi.Generate(context.Background(), request(fmt.Sprint("conversation ", i)))
	}
	counts := fi.Counts()
	assert.Equal(t, calls, fi.Calls())
	want := map[llmtest.Fault]float64{
		llmtest.FaultRateLimited: 0.05, llmtest.FaultTransient: 0.10, llmtest.FaultRefused: 0.02,
		llmtest.FaultContextTooLong: 0.03, llmtest.FaultTruncated: 0.04, llmtest.FaultMalformedJSON: 0.06,
		llmtest.FaultSchemaViolation: 0.05, llmtest.NoFault: 0.65,
	}
	for f, p := range want {
		sigma := math.Sqrt(p * (1 - p) / calls)
		got := float64(counts[f]) / calls
		assert.InDelta(t, p, got, 4*sigma, "%s: rate %.4f, want %.4f ± %.4f", f, got, p, 4*sigma)
	}
}

func TestFaultInjectorIsDeterministic(t *testing.T) {
	faults := llmtest.Faults{Transient: 0.3, MalformedJSON: 0.2}
	run := func(seed uint64, order []int) []string {
		fi := llmtest.InjectFaults(answering(), seed, faults)
		out := make([]string, len(order))
		for _, i := range order {
			resp, err := fi.Generate(context.Background(), request(fmt.Sprint(i)))
			out[i] = fmt.Sprint(resp.Content, err)
		}
		return out
	}
	order := make([]int, 300)
	for i := range order {
		order[i] = i
	}
	first := run(99, order)
	assert.Equal(t, first, run(99, order), "same seed, same faults")
	shuffled := append([]int(nil), order...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	assert.Equal(t, first, run(99, shuffled), "arrival order does not change which request gets which fault")
	assert.NotEqual(t, first, run(100, order), "another seed, other faults")
}

func TestFaultInjectorRetriedRequestsDrawAfresh(t *testing.T) {
	fi := llmtest.InjectFaults(answering(), 3, llmtest.Faults{Transient: 0.5})
	recovered := 0
	for i := range 200 {
		req := request(fmt.Sprint(i))
		for attempt := 0; attempt < 20; attempt++ {
			if _, err := fi.Generate(context.Background(), req); err == nil {
				recovered++
				break
			}
		}
	}
	assert.Equal(t, 200, recovered, "every request eventually goes through when retried")
}

func TestFaultInjectorEachFault(t *testing.T) {
	schema := llm.MustSchema("s", json.RawMessage(`{"type":"object","properties":{"answer":{"type":"string"},"n":{"type":"integer"}},"required":["answer","n"],"additionalProperties":false}`))
	tests := []struct {
		faults llmtest.Faults
		check  func(t *testing.T, resp llm.Response, err error)
	}{
		{llmtest.Faults{RateLimited: 1, RetryAfter: 2 * time.Second}, func(t *testing.T, _ llm.Response, err error) {
			assert.ErrorIs(t, err, llm.ErrRateLimited)
			d, ok := llm.RetryAfter(err)
			assert.True(t, ok)
			assert.Equal(t, 2*time.Second, d)
			assert.True(t, llm.Retryable(err))
		}},
		{llmtest.Faults{Transient: 1}, func(t *testing.T, _ llm.Response, err error) {
			assert.ErrorIs(t, err, llm.ErrTransient)
			assert.True(t, llm.Retryable(err))
		}},
		{llmtest.Faults{Refused: 1}, func(t *testing.T, resp llm.Response, err error) {
			if err == nil {
				err = resp.Err()
			}
			assert.ErrorIs(t, err, llm.ErrRefused)
			assert.False(t, llm.Retryable(err))
		}},
		{llmtest.Faults{ContextTooLong: 1}, func(t *testing.T, _ llm.Response, err error) {
			assert.ErrorIs(t, err, llm.ErrContextTooLong)
		}},
		{llmtest.Faults{Truncated: 1}, func(t *testing.T, resp llm.Response, err error) {
			if err == nil {
				err = resp.Err()
			}
			assert.ErrorIs(t, err, llm.ErrOutputTruncated)
			assert.False(t, json.Valid([]byte(resp.Content)))
			assert.Equal(t, int64(10), resp.Usage.OutputTokens, "the tokens were spent")
		}},
		{llmtest.Faults{MalformedJSON: 1}, func(t *testing.T, resp llm.Response, err error) {
			require.NoError(t, err)
			assert.NoError(t, resp.Err())
			assert.False(t, json.Valid([]byte(resp.Content)))
		}},
		{llmtest.Faults{SchemaViolation: 1}, func(t *testing.T, resp llm.Response, err error) {
			require.NoError(t, err)
			assert.True(t, json.Valid([]byte(resp.Content)))
			assert.NotEmpty(t, schema.Problems([]byte(resp.Content)))
		}},
		{llmtest.Faults{}, func(t *testing.T, resp llm.Response, err error) {
			require.NoError(t, err)
			assert.Empty(t, schema.Problems([]byte(resp.Content)))
		}},
	}
	for _, tt := range tests {
		fi := llmtest.InjectFaults(answering(), 1, tt.faults)
		for i := range 20 {
			resp, err := fi.Generate(context.Background(), request(fmt.Sprint(i)))
			tt.check(t, resp, err)
		}
	}
}

func TestFaultInjectorUsesBothShapes(t *testing.T) {
	for _, faults := range []llmtest.Faults{{Refused: 1}, {Truncated: 1}} {
		fi := llmtest.InjectFaults(answering(), 5, faults)
		errs, responses := 0, 0
		for i := range 200 {
			if _, err := fi.Generate(context.Background(), request(fmt.Sprint(i))); err != nil {
				errs++
			} else {
				responses++
			}
		}
		assert.Greater(t, errs, 60, "%+v: as an error", faults)
		assert.Greater(t, responses, 60, "%+v: as a response with its finish reason", faults)
	}
}

func TestFaultInjectorCutsCharactersWhole(t *testing.T) {
	accented := llmtest.Handler(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: `{"answer":"éééééééé"}`}, nil
	})
	for _, faults := range []llmtest.Faults{{Truncated: 1}, {MalformedJSON: 1}} {
		fi := llmtest.InjectFaults(accented, 9, faults)
		for i := range 50 {
			resp, _ := fi.Generate(context.Background(), request(fmt.Sprint(i)))
			assert.True(t, utf8.ValidString(resp.Content), "%q", resp.Content)
		}
	}
}

func TestFaultInjectorMalformedAnswersNeverParse(t *testing.T) {
	schema := llm.MustSchema("s", json.RawMessage(`{"type":"object","properties":{"score":{"type":"integer"}},"required":["score"],"additionalProperties":false}`))
	chatty := llmtest.Handler(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: "Sure: {\"score\": 1}\n\nThat is my final answer, and here is why: ..."}, nil
	})
	fi := llmtest.InjectFaults(chatty, 3, llmtest.Faults{MalformedJSON: 1})
	for i := range 50 {
		_, err := llm.GenerateStructured[map[string]any](context.Background(), fi, schema, request(fmt.Sprint(i)), llm.WithMaxAttempts(1))
		assert.ErrorIs(t, err, llm.ErrInvalidOutput, "a malformed answer must not survive in the prose around it")
	}
}

func TestFaultInjectorAndStructuredOutput(t *testing.T) {
	// Answers that are malformed or of the wrong shape are repaired by
	// GenerateStructured; failures are classified, never raw.
	schema := llm.MustSchema("s", json.RawMessage(`{"type":"object","properties":{"answer":{"type":"string"},"n":{"type":"integer"}},"required":["answer","n"],"additionalProperties":false}`))
	fi := llmtest.InjectFaults(answering(), 11, llmtest.Faults{MalformedJSON: 0.2, SchemaViolation: 0.2, Transient: 0.1})
	ok, invalid, transient := 0, 0, 0
	for i := range 500 {
		_, err := llm.GenerateStructured[map[string]any](context.Background(), fi, schema, request(fmt.Sprint(i)))
		switch {
		case err == nil:
			ok++
		case errors.Is(err, llm.ErrInvalidOutput):
			invalid++
		case errors.Is(err, llm.ErrTransient):
			transient++
		default:
			t.Fatalf("unclassified error: %v", err)
		}
	}
	assert.Equal(t, 500, ok+invalid+transient)
	assert.Greater(t, ok, 300)
	assert.Positive(t, transient)
	assert.Positive(t, invalid, "three bad answers in a row happen at these rates")
	calls := fi.Counts()
	assert.Greater(t, fi.Calls(), 500, "bad answers were repaired with further calls")
	assert.Positive(t, calls[llmtest.FaultMalformedJSON])
	assert.Positive(t, calls[llmtest.FaultSchemaViolation])
}

func TestFaultInjectorValidation(t *testing.T) {
	assert.PanicsWithValue(t, "llmtest: InjectFaults: rate of transient is 1.5, outside [0, 1]", func() {
		llmtest.InjectFaults(answering(), 1, llmtest.Faults{Transient: 1.5})
	})
	assert.Panics(t, func() { llmtest.InjectFaults(answering(), 1, llmtest.Faults{Refused: -0.1}) })
	assert.Panics(t, func() { llmtest.InjectFaults(answering(), 1, llmtest.Faults{Transient: 0.6, Refused: 0.6}) })
	assert.Equal(t, "schema_violation", llmtest.FaultSchemaViolation.String())
	assert.Equal(t, "Fault(99)", llmtest.Fault(99).String())

	fi := llmtest.InjectFaults(answering(), 1, llmtest.Faults{Transient: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := fi.Generate(ctx, request("x"))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestLatencyDistributions(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 20000
	mean := func(l llmtest.Latency) (avg float64, lo, hi time.Duration, samples []time.Duration) {
		lo = time.Duration(math.MaxInt64)
		for range n {
			d := l.Sample(r)
			samples = append(samples, d)
			avg += float64(d)
			lo, hi = min(lo, d), max(hi, d)
		}
		return avg / n, lo, hi, samples
	}

	avg, lo, hi, _ := mean(llmtest.Fixed(30 * time.Millisecond))
	assert.Equal(t, float64(30*time.Millisecond), avg)
	assert.Equal(t, lo, hi)

	avg, lo, hi, _ = mean(llmtest.Uniform(10*time.Millisecond, 50*time.Millisecond))
	assert.InDelta(t, float64(30*time.Millisecond), avg, float64(time.Millisecond))
	assert.GreaterOrEqual(t, lo, 10*time.Millisecond)
	assert.LessOrEqual(t, hi, 50*time.Millisecond)

	_, lo, _, samples := mean(llmtest.LogNormal(200*time.Millisecond, 0.5))
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	assert.InDelta(t, float64(200*time.Millisecond), float64(samples[n/2]), float64(10*time.Millisecond), "the median")
	assert.GreaterOrEqual(t, lo, time.Duration(0))
	assert.Greater(t, samples[n*99/100], 2*samples[n/2], "a long tail")

	assert.Panics(t, func() { llmtest.Fixed(-1) })
	assert.Panics(t, func() { llmtest.Uniform(5, 1) })
	assert.Panics(t, func() { llmtest.LogNormal(-1, 1) })
}

func TestLatencySimulator(t *testing.T) {
	var delays []time.Duration
	inner := llmtest.NewScripted(llmtest.Reply("{}"), llmtest.Reply("{}"))
	s := llmtest.SimulateLatency(inner, llmtest.Uniform(time.Second, 2*time.Second), 42)
	s.Sleep = func(ctx context.Context, d time.Duration) error {
		delays = append(delays, d)
		return ctx.Err()
	}
	for range 2 {
		_, err := s.Generate(context.Background(), request("x"))
		require.NoError(t, err)
	}
	require.Len(t, delays, 2)
	for _, d := range delays {
		assert.True(t, d >= time.Second && d <= 2*time.Second, "%s", d)
	}

	again := llmtest.SimulateLatency(llmtest.NewScripted(llmtest.Reply("{}"), llmtest.Reply("{}")), llmtest.Uniform(time.Second, 2*time.Second), 42)
	var delays2 []time.Duration
	again.Sleep = func(_ context.Context, d time.Duration) error { delays2 = append(delays2, d); return nil }
	for range 2 {
		_, _ = again.Generate(context.Background(), request("x"))
	}
	assert.Equal(t, delays, delays2, "the same seed draws the same delays")
}

func TestLatencySimulatorHonoursContext(t *testing.T) {
	inner := llmtest.NewScripted(llmtest.Reply("{}"))
	s := llmtest.SimulateLatency(inner, llmtest.Fixed(time.Hour), 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := s.Generate(ctx, request("x"))
		done <- err
	}()
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled, "the hour-long wait ends with the context")
	assert.Equal(t, 0, inner.Len(), "the wrapped model was never called")

	fast := llmtest.SimulateLatency(llmtest.NewScripted(llmtest.Reply("{}")), llmtest.Fixed(time.Millisecond), 1)
	resp, err := fast.Generate(context.Background(), request("x"))
	require.NoError(t, err)
	assert.Equal(t, "{}", resp.Content)

	instant := llmtest.NewScripted(llmtest.Reply("{}"))
	zero := llmtest.SimulateLatency(instant, llmtest.Fixed(0), 1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for range 100 {
		_, err := zero.Generate(ctx2, request("x"))
		assert.ErrorIs(t, err, context.Canceled)
	}
	assert.Zero(t, instant.Len(), "a cancelled call never reaches the model, even without delay")
}
