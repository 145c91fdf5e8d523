package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// fakeSource serves flows and events from maps, masking other customers'.
type fakeSource struct {
	mu        sync.Mutex
	flows     map[string]Flow
	events    map[string][]Event
	flowErr   error
	eventsErr error
	leaky     bool // return flows whatever the customer (a broken host)
	onEvents  func(ctx context.Context) error
	loads     atomic.Int32
}

func newFakeSource(flows ...Flow) *fakeSource {
	s := &fakeSource{flows: map[string]Flow{}, events: map[string][]Event{}}
	for _, f := range flows {
		s.flows[f.ID] = f
		_, events := smallFlow()
		s.events[f.ID] = events
	}
	return s
}

func (s *fakeSource) Flow(ctx context.Context, customerID, flowID string) (Flow, error) {
	if err := ctx.Err(); err != nil {
		return Flow{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flowErr != nil {
		return Flow{}, s.flowErr
	}
	f, ok := s.flows[flowID]
	if !ok || (!strings.EqualFold(f.CustomerID, customerID) && !s.leaky) {
		return Flow{}, fmt.Errorf("flow %s: %w", flowID, ErrNotFound)
	}
	return f, nil
}

func (s *fakeSource) Events(ctx context.Context, customerID, flowID string) ([]Event, error) {
	s.loads.Add(1)
	if s.onEvents != nil {
		if err := s.onEvents(ctx); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eventsErr != nil {
		return nil, s.eventsErr
	}
	return s.events[flowID], nil
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// seqIDs returns UUIDs 00000000-0000-4000-8000-000000000001, ...
func seqIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)) }
}

// gatedModel answers goodAnswer once its gate is open, counting calls in
// flight; it fails with the context's error when the context ends first.
type gatedModel struct {
	gate     chan struct{}
	entered  chan struct{}
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	calls    atomic.Int32
}

func newGatedModel() *gatedModel {
	return &gatedModel{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (m *gatedModel) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	m.calls.Add(1)
	n := m.inFlight.Add(1)
	defer m.inFlight.Add(-1)
	for {
		seen := m.maxSeen.Load()
		if n <= seen || m.maxSeen.CompareAndSwap(seen, n) {
			break
		}
	}
	m.entered <- struct{}{}
	select {
	case <-m.gate:
		return llm.Response{Content: mustJSON(goodAnswer()), FinishReason: llm.FinishStop}, nil
	case <-ctx.Done():
		return llm.Response{}, ctx.Err()
	}
}

func flowN(n int) Flow {
	f := callFlow()
	f.ID = fmt.Sprintf("b2c3d4e5-f6a7-4901-bcde-%012d", n)
	return f
}

func newService(t *testing.T, src Source, model llm.Model, mod ...func(*Config)) (*Service, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: t0.Add(time.Hour)}
	cfg := Config{Source: src, Analyzer: AnalyzerConfig{Model: model, ModelKey: "best"}, Now: clock.Now, NewID: seqIDs(),
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}
	for _, f := range mod {
		f(&cfg)
	}
	s, err := NewService(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { // bounded: a failed test must not hang here
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s, clock
}

// waitIdle waits for the service to have nothing queued or running, and
// fails the test if that takes too long.
func waitIdle(t *testing.T, svc *Service) {
	t.Helper()
	idle := make(chan struct{})
	go func() {
		svc.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-time.After(10 * time.Second):
		t.Fatal("the service is still busy after 10s")
	}
}

// receive waits for a value on ch, and fails the test if that takes too
// long.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("still waiting for %s after 10s", what)
		panic("unreachable")
	}
}

func TestServiceCreateAndComplete(t *testing.T) {
	ctx := context.Background()
	model := llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()))
	svc, clock := newService(t, newFakeSource(callFlow()), model)
	created := clock.Now()

	a, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	assert.True(t, started)
	assert.Equal(t, "00000000-0000-4000-8000-000000000001", a.ID)
	assert.Equal(t, StatusProgressing, a.Status)
	assert.Nil(t, a.Result)
	assert.Equal(t, "", a.Error)
	assert.True(t, a.TMCreate.Equal(created))

	waitIdle(t, svc)
	got, err := svc.Get(ctx, customerA, a.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusCompleted, got.Status)
	require.NotNil(t, got.Result)
	assert.Equal(t, OverallWarning, got.Result.OverallStatus)
	assert.Equal(t, "", got.Error)
	assert.True(t, got.TMCreate.Equal(created))
	assert.True(t, got.TMUpdate.Equal(created), "the clock did not move")

	// The stored record has the documented shape.
	raw, err := json.Marshal(got)
	require.NoError(t, err)
	var keys map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &keys))
	assert.Len(t, keys, 8)
	for _, k := range []string{"id", "customer_id", "activeflow_id", "status", "result", "error", "tm_create", "tm_update"} {
		assert.Contains(t, keys, k)
	}
}

func TestServiceCreateErrors(t *testing.T) {
	ctx := context.Background()
	notEnded := flowN(2)
	notEnded.Ended = false
	foreign := flowN(3)
	foreign.CustomerID = customerB
	src := newFakeSource(callFlow(), notEnded, foreign)
	svc, _ := newService(t, src, llmtest.NewScripted())

	_, _, err := svc.Create(ctx, "not-a-uuid", "", CreateOptions{})
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	assert.Equal(t, []Problem{{"$.customer_id", "not a UUID"}, {"$.activeflow_id", "missing"}}, ve.Problems)

	_, _, err = svc.Create(ctx, customerA, "11111111-2222-4333-8444-555555555555", CreateOptions{})
	assert.Equal(t, ErrNotFound, err, "missing")
	_, _, errForeign := svc.Create(ctx, customerA, foreign.ID, CreateOptions{})
	assert.Equal(t, ErrNotFound, errForeign, "another customer's flow looks missing")

	src.leaky = true // a source that forgets the customer: still masked
	_, _, err = svc.Create(ctx, customerA, foreign.ID, CreateOptions{})
	assert.Equal(t, ErrNotFound, err)
	src.leaky = false

	_, _, err = svc.Create(ctx, customerA, notEnded.ID, CreateOptions{})
	assert.ErrorIs(t, err, ErrNotEnded)
	assert.ErrorIs(t, err, ErrConflict)

	src.flowErr = errors.New("connection refused")
	_, _, err = svc.Create(ctx, customerA, flowA, CreateOptions{})
	var se *SourceError
	require.True(t, errors.As(err, &se))
	assert.Equal(t, "Flow", se.Op)
	src.flowErr = nil

	page, err := svc.List(ctx, customerA, ListFilter{}, PageRequest{})
	require.NoError(t, err)
	assert.Empty(t, page.Items, "nothing was stored")
	assert.Zero(t, src.loads.Load())
}

func TestServiceReturnsTheInFlightAnalysis(t *testing.T) {
	ctx := context.Background()
	model := newGatedModel()
	svc, _ := newService(t, newFakeSource(callFlow()), model)
	first, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	require.True(t, started)
	receive(t, model.entered, "a model call")

	for _, opts := range []CreateOptions{{}, {Reanalyze: true}} {
		again, started, err := svc.Create(ctx, customerA, flowA, opts)
		require.NoError(t, err)
		assert.False(t, started)
		assert.Equal(t, first.ID, again.ID)
		assert.Equal(t, StatusProgressing, again.Status)
	}
	close(model.gate)
	waitIdle(t, svc)
	assert.EqualValues(t, 1, model.calls.Load())
}

func TestServiceCreateRaceYieldsOneAnalysis(t *testing.T) {
	ctx := context.Background()
	model := newGatedModel()
	close(model.gate)
	src := newFakeSource(callFlow())
	svc, _ := newService(t, src, model)
	const n = 64
	var wg sync.WaitGroup
	var startedCount atomic.Int32
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
			assert.NoError(t, err)
			ids[i] = a.ID
			if started {
				startedCount.Add(1)
			}
		}()
	}
	wg.Wait()
	waitIdle(t, svc)
	assert.EqualValues(t, 1, startedCount.Load())
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}
	page, err := svc.List(ctx, customerA, ListFilter{ActiveflowID: flowA}, PageRequest{})
	require.NoError(t, err)
	assert.Len(t, page.Items, 1)
	assert.EqualValues(t, 1, model.calls.Load())
	assert.EqualValues(t, 1, src.loads.Load())
}

func TestServiceReanalysis(t *testing.T) {
	ctx := context.Background()
	model := llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()), llmtest.ReplyJSON(goodAnswer()))
	svc, clock := newService(t, newFakeSource(callFlow()), model, func(c *Config) { c.Cooldown = time.Minute })
	first, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	waitIdle(t, svc)

	again, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	assert.False(t, started, "without Reanalyze the finished analysis is returned")
	assert.Equal(t, first.ID, again.ID)
	assert.Equal(t, StatusCompleted, again.Status)

	clock.Advance(30 * time.Second)
	_, _, err = svc.Create(ctx, customerA, flowA, CreateOptions{Reanalyze: true})
	var ce *CooldownError
	require.True(t, errors.As(err, &ce), "%v", err)
	assert.ErrorIs(t, err, ErrCooldown)
	assert.Equal(t, 30*time.Second, ce.RetryAfter)

	clock.Advance(30 * time.Second)
	second, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{Reanalyze: true})
	require.NoError(t, err)
	assert.True(t, started)
	assert.NotEqual(t, first.ID, second.ID)
	waitIdle(t, svc)

	page, err := svc.List(ctx, customerA, ListFilter{ActiveflowID: flowA}, PageRequest{})
	require.NoError(t, err)
	require.Len(t, page.Items, 2, "the earlier analysis is kept")
	assert.Equal(t, []string{second.ID, first.ID}, []string{page.Items[0].ID, page.Items[1].ID})
	assert.Equal(t, StatusCompleted, page.Items[1].Status)
	assert.Equal(t, 2, model.Len())
}

func TestServiceNoCooldown(t *testing.T) {
	ctx := context.Background()
	model := llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()), llmtest.ReplyJSON(goodAnswer()))
	svc, _ := newService(t, newFakeSource(callFlow()), model, func(c *Config) { c.Cooldown = -1 })
	_, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	waitIdle(t, svc)
	_, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{Reanalyze: true})
	require.NoError(t, err)
	assert.True(t, started)
}

func TestServiceBoundsConcurrency(t *testing.T) {
	ctx := context.Background()
	var flows []Flow
	for i := range 6 {
		flows = append(flows, flowN(10+i))
	}
	model := newGatedModel()
	svc, _ := newService(t, newFakeSource(flows...), model, func(c *Config) { c.MaxConcurrent = 2 })
	for _, f := range flows {
		_, started, err := svc.Create(ctx, customerA, f.ID, CreateOptions{})
		require.NoError(t, err)
		require.True(t, started)
	}
	receive(t, model.entered, "the first model call")
	receive(t, model.entered, "the second model call")
	assert.EqualValues(t, 2, model.inFlight.Load(), "two run, four wait")
	close(model.gate)
	waitIdle(t, svc)
	assert.EqualValues(t, 2, model.maxSeen.Load())
	assert.EqualValues(t, 6, model.calls.Load())
	page, err := svc.List(ctx, customerA, ListFilter{}, PageRequest{})
	require.NoError(t, err)
	require.Len(t, page.Items, 6)
	for _, a := range page.Items {
		assert.Equal(t, StatusCompleted, a.Status)
	}
}

func TestServiceBusy(t *testing.T) {
	ctx := context.Background()
	model := newGatedModel()
	svc, _ := newService(t, newFakeSource(flowN(1), flowN(2), flowN(3)), model, func(c *Config) { c.MaxConcurrent, c.MaxQueued = 1, 1 })
	_, _, err := svc.Create(ctx, customerA, flowN(1).ID, CreateOptions{})
	require.NoError(t, err)
	_, _, err = svc.Create(ctx, customerA, flowN(2).ID, CreateOptions{})
	require.NoError(t, err)
	_, _, err = svc.Create(ctx, customerA, flowN(3).ID, CreateOptions{})
	assert.ErrorIs(t, err, ErrBusy)
	page, err := svc.List(ctx, customerA, ListFilter{ActiveflowID: flowN(3).ID}, PageRequest{})
	require.NoError(t, err)
	assert.Empty(t, page.Items, "nothing stored for the refused create")
	close(model.gate)
	waitIdle(t, svc)
	_, started, err := svc.Create(ctx, customerA, flowN(3).ID, CreateOptions{})
	require.NoError(t, err)
	assert.True(t, started, "room again once the queue drained")
}

func TestServiceTimeLimit(t *testing.T) {
	ctx := context.Background()
	model := newGatedModel() // never opened: only the time limit ends the call
	svc, _ := newService(t, newFakeSource(callFlow()), model, func(c *Config) { c.Timeout = 20 * time.Millisecond })
	a, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	waitIdle(t, svc)
	got, err := svc.Get(ctx, customerA, a.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, got.Status)
	assert.Equal(t, FailTimeout, got.Error)
	assert.Nil(t, got.Result)
}

// Failures are stored with fixed messages: nothing of what the model, the
// provider or the source said reaches the record.
func TestServiceStoresOperatorSafeFailures(t *testing.T) {
	const secret = "sk-live-0123456789 at https://api.provider.example/v1/chat: stack trace goroutine 1"
	tests := []struct {
		name    string
		model   llm.Model
		prepare func(*fakeSource)
		want    string
	}{
		{"rate limited", llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrRateLimited, StatusCode: 429, Message: secret})), nil, FailRateLimited},
		{"transient", llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrTransient, Message: secret})), nil, FailTransient},
		{"refused", llmtest.NewScripted(llmtest.Reply(secret).WithFinish(llm.FinishContentFilter)), nil, FailRefused},
		{"context too long", llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrContextTooLong, Message: secret})), nil, FailContextTooLong},
		{"truncated", llmtest.NewScripted(llmtest.Reply(`{"reasoning":"` + secret).WithFinish(llm.FinishLength)), nil, FailTruncated},
		{"invalid output", llmtest.NewScripted(llmtest.Reply(secret), llmtest.Reply(secret), llmtest.Reply(secret)), nil, FailInvalidOutput},
		{"unclassified", llmtest.NewScripted(llmtest.Fail(errors.New(secret))), nil, FailModel},
		{"a network timeout", llmtest.NewScripted(llmtest.Fail(&llm.Error{Kind: llm.ErrTransient, Message: secret, Err: timeoutErr{}})), nil, FailModelTimeout},
		{"an unclassified network timeout", llmtest.NewScripted(llmtest.Fail(fmt.Errorf("%s: %w", secret, timeoutErr{}))), nil, FailModelTimeout},
		{"source failure", llmtest.NewScripted(), func(s *fakeSource) { s.eventsErr = errors.New(secret) }, FailLoadEvents},
		{"invalid events", llmtest.NewScripted(), func(s *fakeSource) { s.events[flowA] = []Event{{Type: secret}} }, FailInvalidEvents},
		{"panic", llmtest.NewScripted(), func(s *fakeSource) { s.onEvents = func(context.Context) error { panic(secret) } }, FailInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := newFakeSource(callFlow())
			if tt.prepare != nil {
				tt.prepare(src)
			}
			var logs bytes.Buffer
			svc, _ := newService(t, src, tt.model, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
			a, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
			require.NoError(t, err)
			waitIdle(t, svc)
			got, err := svc.Get(ctx, customerA, a.ID)
			require.NoError(t, err)
			assert.Equal(t, StatusFailed, got.Status)
			assert.Equal(t, tt.want, got.Error)
			raw, _ := json.Marshal(got)
			assert.NotContains(t, string(raw), "sk-live")
			assert.NotContains(t, string(raw), "https://")
			assert.Contains(t, logs.String(), `"msg":"timeline analysis failed"`, "the detail goes to the host's logs")
			if tt.prepare == nil { // a model's failure: what the provider wrote stays out of the logs too
				assert.NotContains(t, logs.String(), "sk-live")
				assert.NotContains(t, logs.String(), "https://")
			}
		})
	}
}

func TestServiceClose(t *testing.T) {
	ctx := context.Background()
	model := newGatedModel()
	svc, _ := newService(t, newFakeSource(flowN(1), flowN(2)), model, func(c *Config) { c.MaxConcurrent = 1 })
	a1, _, err := svc.Create(ctx, customerA, flowN(1).ID, CreateOptions{})
	require.NoError(t, err)
	a2, _, err := svc.Create(ctx, customerA, flowN(2).ID, CreateOptions{})
	require.NoError(t, err)
	receive(t, model.entered, "a model call")

	expired, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, svc.Close(expired), context.Canceled)
	waitIdle(t, svc)
	for _, a := range []Analysis{a1, a2} {
		got, err := svc.Get(ctx, customerA, a.ID)
		require.NoError(t, err)
		assert.Equal(t, StatusFailed, got.Status, "nothing is left progressing")
		assert.Equal(t, FailInterrupted, got.Error)
	}
	assert.EqualValues(t, 1, model.calls.Load(), "the queued analysis never called the model")
	_, _, err = svc.Create(ctx, customerA, flowN(1).ID, CreateOptions{Reanalyze: true})
	assert.ErrorIs(t, err, ErrClosed)
	assert.NoError(t, svc.Close(ctx), "a second Close")
}

func TestServiceCloseWaitsForRunningAnalyses(t *testing.T) {
	ctx := context.Background()
	model := newGatedModel()
	svc, _ := newService(t, newFakeSource(callFlow()), model)
	a, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	receive(t, model.entered, "a model call")
	closed := make(chan error)
	go func() { closed <- svc.Close(ctx) }()
	close(model.gate)
	require.NoError(t, receive(t, closed, "Close"))
	got, err := svc.Get(ctx, customerA, a.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusCompleted, got.Status)
}

// A progressing analysis left behind by a stopped process is replaced once
// stale; a recent one is not.
func TestServiceReplacesStaleAnalyses(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	left := Analysis{ID: "00000000-0000-4000-8000-999999999999", CustomerID: customerA, ActiveflowID: flowA,
		Status: StatusProgressing, TMCreate: Timestamp{t0}, TMUpdate: Timestamp{t0}}
	_, _, err := store.Create(ctx, left, "")
	require.NoError(t, err)
	model := llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()))
	svc, clock := newService(t, newFakeSource(callFlow()), model, func(c *Config) { c.Store, c.StaleAfter = store, 2*time.Hour })

	got, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	assert.False(t, started, "one hour old: still in flight")
	assert.Equal(t, left.ID, got.ID)

	clock.Advance(90 * time.Minute)
	got, started, err = svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	assert.True(t, started)
	assert.NotEqual(t, left.ID, got.ID)
	waitIdle(t, svc)
	old, err := svc.Get(ctx, customerA, left.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, old.Status)
	assert.Equal(t, FailInterrupted, old.Error)
}

func TestServiceNeverReplacesItsOwnRunningAnalysis(t *testing.T) {
	ctx := context.Background()
	model := newGatedModel()
	svc, clock := newService(t, newFakeSource(callFlow()), model, func(c *Config) { c.StaleAfter = time.Minute })
	first, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	receive(t, model.entered, "a model call")
	clock.Advance(time.Hour)
	again, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	assert.False(t, started)
	assert.Equal(t, first.ID, again.ID)
	close(model.gate)
	waitIdle(t, svc)
}

func TestNewServiceValidates(t *testing.T) {
	_, err := NewService(Config{MaxConcurrent: -1, MaxQueued: -1, Timeout: -1, StaleAfter: -1, Analyzer: AnalyzerConfig{MaxAttempts: -1}})
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{"$.source", "$.max_concurrent", "$.max_queued", "$.timeout",
		"$.analyzer.model", "$.analyzer.max_attempts"}, paths)
}

// Without a clock or an id generator, the service uses the wall clock in
// UTC and random UUIDs; StaleAfter defaults to Timeout plus a margin.
func TestNewServiceDefaults(t *testing.T) {
	ctx := context.Background()
	svc, err := NewService(Config{Source: newFakeSource(callFlow()), Analyzer: AnalyzerConfig{Model: llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()))}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(ctx) })
	assert.Equal(t, DefaultTimeout+DefaultStaleMargin, svc.cfg.StaleAfter)
	before := time.Now()
	a, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	require.True(t, started)
	assert.True(t, ValidUUID(a.ID), a.ID)
	assert.Equal(t, strings.ToLower(a.ID), a.ID)
	assert.Equal(t, byte('4'), a.ID[14], "a version 4 UUID")
	assert.Equal(t, time.UTC, a.TMCreate.Location())
	assert.False(t, a.TMCreate.Before(before.Add(-time.Second)), "the wall clock")
	waitIdle(t, svc)
	b, _, err := svc.Create(ctx, customerA, flowN(2).ID, CreateOptions{})
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Empty(t, b.ID)

	svc2, err := NewService(Config{Source: newFakeSource(callFlow()), Analyzer: AnalyzerConfig{Model: llmtest.NewScripted()},
		Timeout: time.Minute, StaleAfter: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc2.Close(ctx) })
	assert.Negative(t, svc2.cfg.StaleAfter, "never")
	svc3, err := NewService(Config{Source: newFakeSource(callFlow()), Analyzer: AnalyzerConfig{Model: llmtest.NewScripted()}, Timeout: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc3.Close(ctx) })
	assert.Equal(t, time.Minute+DefaultStaleMargin, svc3.cfg.StaleAfter)
}

func TestServiceRefusesIDsThatAreNotUUIDs(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, newFakeSource(callFlow()), llmtest.NewScripted(), func(c *Config) { c.NewID = func() string { return "analysis-1" } })
	_, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a UUID")
	page, err := svc.List(ctx, customerA, ListFilter{}, PageRequest{})
	require.NoError(t, err)
	assert.Empty(t, page.Items)
	waitIdle(t, svc) // the reservation was given back
}

func TestServiceGetAndList(t *testing.T) {
	ctx := context.Background()
	model := llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()), llmtest.ReplyJSON(goodAnswer()), llmtest.ReplyJSON(goodAnswer()))
	svc, clock := newService(t, newFakeSource(flowN(1), flowN(2), flowN(3)), model)
	var ids []string
	for i := 1; i <= 3; i++ {
		a, _, err := svc.Create(ctx, customerA, flowN(i).ID, CreateOptions{})
		require.NoError(t, err)
		ids = append(ids, a.ID)
		clock.Advance(time.Second)
	}
	waitIdle(t, svc)

	_, err := svc.Get(ctx, customerB, ids[0])
	assert.Equal(t, ErrNotFound, err)
	_, err = svc.Get(ctx, customerA, "nope")
	assert.ErrorIs(t, err, ErrInvalid)

	page, err := svc.List(ctx, customerA, ListFilter{}, PageRequest{Size: 2})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	assert.Equal(t, []string{ids[2], ids[1]}, []string{page.Items[0].ID, page.Items[1].ID})
	page, err = svc.List(ctx, customerA, ListFilter{}, PageRequest{Size: 2, Token: page.NextToken})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	assert.Equal(t, ids[0], page.Items[0].ID)
	assert.Empty(t, page.NextToken)

	for _, tt := range []struct {
		filter ListFilter
		page   PageRequest
		path   string
	}{
		{ListFilter{ActiveflowID: "x"}, PageRequest{}, "$.activeflow_id"},
		{ListFilter{}, PageRequest{Size: MaxPageSize + 1}, "$.page_size"},
		{ListFilter{}, PageRequest{Size: -1}, "$.page_size"},
		{ListFilter{}, PageRequest{Token: "%%%"}, "$.page_token"},
	} {
		_, err := svc.List(ctx, customerA, tt.filter, tt.page)
		var ve *ValidationError
		require.True(t, errors.As(err, &ve), "%+v", tt)
		assert.Equal(t, tt.path, ve.Problems[0].Path)
	}
	_, err = svc.List(ctx, customerA, ListFilter{}, PageRequest{Size: -1})
	assert.EqualError(t, err, "timeline: invalid input: $.page_size: -1 is outside 0 to 100 (0 means 20)")
	page, err = svc.List(ctx, customerA, ListFilter{}, PageRequest{Size: 0})
	require.NoError(t, err)
	assert.Len(t, page.Items, 3, "0 is the default size")
}

func TestValidUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"a1b2c3d4-e5f6-7890-abcd-ef1234567890":   true,
		"A1B2C3D4-E5F6-7890-ABCD-EF1234567890":   true,
		"a1b2c3d4e5f67890abcdef1234567890":       false,
		"a1b2c3d4-e5f6-7890-abcd-ef123456789g":   false,
		"a1b2c3d4-e5f6-7890-abcd_ef1234567890":   false,
		"{a1b2c3d4-e5f6-7890-abcd-ef1234567890}": false,
		"":                                       false,
	} {
		assert.Equal(t, want, ValidUUID(s), s)
	}
}

// failingStore wraps a MemoryStore and fails the chosen methods; Finish
// fails only its first finishFailures calls when that is set.
type failingStore struct {
	*MemoryStore
	latest, create, finish error
	finishFailures         int64
	finishCalls            atomic.Int64
}

func (s *failingStore) Latest(ctx context.Context, c, f string) (Analysis, error) {
	if s.latest != nil {
		return Analysis{}, s.latest
	}
	return s.MemoryStore.Latest(ctx, c, f)
}

func (s *failingStore) Create(ctx context.Context, a Analysis, prev string) (Analysis, bool, error) {
	if s.create != nil {
		return Analysis{}, false, s.create
	}
	return s.MemoryStore.Create(ctx, a, prev)
}

func (s *failingStore) Finish(ctx context.Context, a Analysis) error {
	n := s.finishCalls.Add(1)
	if s.finish != nil && (s.finishFailures == 0 || n <= s.finishFailures) {
		return s.finish
	}
	return s.MemoryStore.Finish(ctx, a)
}

func TestServiceStoreFailures(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("store unavailable")
	store := &failingStore{MemoryStore: NewMemoryStore(), latest: boom}
	var logs bytes.Buffer
	svc, _ := newService(t, newFakeSource(callFlow()), llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer())), func(c *Config) {
		c.Store, c.Logger = store, slog.New(slog.NewTextHandler(&logs, nil))
	})
	_, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	assert.ErrorIs(t, err, boom)

	store.latest, store.create = nil, boom
	_, _, err = svc.Create(ctx, customerA, flowA, CreateOptions{})
	assert.ErrorIs(t, err, boom)
	waitIdle(t, svc) // the reservation was given back

	store.create, store.finish = nil, boom
	_, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	assert.True(t, started)
	waitIdle(t, svc)
	assert.Contains(t, logs.String(), "timeline analysis end not stored")
	assert.Same(t, svc.analyzer, svc.Analyzer())
}

// A failure of the store at the final write is tried again, with a growing
// wait, before the service gives up.
func TestServiceRetriesTheFinalWrite(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("store unavailable")
	store := &failingStore{MemoryStore: NewMemoryStore(), finish: boom, finishFailures: 2}
	var mu sync.Mutex
	var waits []time.Duration
	svc, _ := newService(t, newFakeSource(callFlow(), flowN(2)), llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()), llmtest.ReplyJSON(goodAnswer())), func(c *Config) {
		c.Store = store
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			waits = append(waits, d)
			return nil
		}
	})
	a, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	waitIdle(t, svc)
	got, err := svc.Get(ctx, customerA, a.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusCompleted, got.Status, "the third attempt stored it")
	assert.Equal(t, []time.Duration{finalWriteBackoff, 2 * finalWriteBackoff}, waits)
	assert.EqualValues(t, 3, store.finishCalls.Load())

	// A conflict is final: someone else has ended the analysis.
	store.finish, store.finishFailures = fmt.Errorf("%w: already failed", ErrConflict), 100
	store.finishCalls.Store(0)
	waits = nil
	_, _, err = svc.Create(ctx, customerA, flowN(2).ID, CreateOptions{})
	require.NoError(t, err)
	waitIdle(t, svc)
	assert.EqualValues(t, 1, store.finishCalls.Load())
	assert.Empty(t, waits)
}

// When the end of an analysis cannot be stored at all, the record stays
// progressing; once stale (by default after Timeout plus a margin) a create
// replaces it, without being asked to re-analyse.
func TestServiceAfterAFailedFinish(t *testing.T) {
	ctx := context.Background()
	store := &failingStore{MemoryStore: NewMemoryStore(), finish: errors.New("store unavailable"), finishFailures: finalWriteAttempts}
	var logs bytes.Buffer
	model := llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()), llmtest.ReplyJSON(goodAnswer()))
	svc, clock := newService(t, newFakeSource(callFlow()), model, func(c *Config) {
		c.Store, c.Logger = store, slog.New(slog.NewTextHandler(&logs, nil))
	})
	first, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	waitIdle(t, svc)
	assert.EqualValues(t, finalWriteAttempts, store.finishCalls.Load())
	assert.Contains(t, logs.String(), "timeline analysis end not stored")
	got, err := svc.Get(ctx, customerA, first.ID)
	require.NoError(t, err)
	require.Equal(t, StatusProgressing, got.Status, "the end was lost")

	// Not stale yet: the lost analysis still stands for the flow.
	clock.Advance(DefaultTimeout)
	again, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{Reanalyze: true})
	require.NoError(t, err)
	assert.False(t, started)
	assert.Equal(t, first.ID, again.ID)

	clock.Advance(DefaultStaleMargin + time.Second)
	second, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	assert.True(t, started, "the stuck analysis was replaced")
	assert.NotEqual(t, first.ID, second.ID)
	waitIdle(t, svc)
	old, err := svc.Get(ctx, customerA, first.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, old.Status)
	assert.Equal(t, FailInterrupted, old.Error)
	now, err := svc.Get(ctx, customerA, second.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusCompleted, now.Status)
}

// A progressing analysis left by a process that stopped is replaced once
// stale under the default configuration too.
func TestServiceReplacesLeftoversByDefault(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	left := Analysis{ID: "00000000-0000-4000-8000-999999999999", CustomerID: customerA, ActiveflowID: flowA,
		Status: StatusProgressing, TMCreate: Timestamp{t0}, TMUpdate: Timestamp{t0}}
	_, _, err := store.Create(ctx, left, "")
	require.NoError(t, err)
	svc, _ := newService(t, newFakeSource(callFlow()), llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer())), func(c *Config) { c.Store = store })
	got, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{}) // the clock is an hour past t0
	require.NoError(t, err)
	assert.True(t, started)
	assert.NotEqual(t, left.ID, got.ID)
	waitIdle(t, svc)
}

// Ids are case-blind: both cases of one flow's id are one flow, and an
// analysis is found by its id in either case.
func TestServiceCanonicalisesIDs(t *testing.T) {
	ctx := context.Background()
	model := newGatedModel()
	upperFlow := flowN(7)
	upperFlow.ID = strings.ToUpper(upperFlow.ID) // a host that answers in upper case
	upperFlow.CustomerID = strings.ToUpper(customerA)
	src := newFakeSource(callFlow())
	src.flows[strings.ToLower(upperFlow.ID)] = upperFlow
	svc, _ := newService(t, src, model, func(c *Config) {
		next := seqIDs()
		c.NewID = func() string { return strings.Replace(next(), "00000000-", "ABCDEF00-", 1) }
	})

	first, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	require.True(t, started)
	assert.Equal(t, "abcdef00-0000-4000-8000-000000000001", first.ID, "stored in lower case")
	receive(t, model.entered, "a model call")
	for _, c := range []struct{ customer, flow string }{
		{customerA, strings.ToUpper(flowA)}, {strings.ToUpper(customerA), flowA}, {strings.ToUpper(customerA), strings.ToUpper(flowA)},
	} {
		again, started, err := svc.Create(ctx, c.customer, c.flow, CreateOptions{Reanalyze: true})
		require.NoError(t, err)
		assert.False(t, started, "%+v: one analysis in flight per flow", c)
		assert.Equal(t, first.ID, again.ID)
	}
	other, started, err := svc.Create(ctx, customerA, strings.ToUpper(upperFlow.ID), CreateOptions{})
	require.NoError(t, err)
	assert.True(t, started, "a flow whose header is in upper case")
	assert.Equal(t, strings.ToLower(upperFlow.ID), other.ActiveflowID)
	assert.Equal(t, customerA, other.CustomerID)
	close(model.gate)
	waitIdle(t, svc)
	assert.EqualValues(t, 2, model.calls.Load())

	got, err := svc.Get(ctx, strings.ToUpper(customerA), strings.ToUpper(first.ID))
	require.NoError(t, err)
	assert.Equal(t, first.ID, got.ID)
	page, err := svc.List(ctx, strings.ToUpper(customerA), ListFilter{ActiveflowID: strings.ToUpper(flowA)}, PageRequest{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	assert.Equal(t, first.ID, page.Items[0].ID)
}

// blockingSource never returns from Events before it is released,
// whatever its context says: a host that does not honour ctx.
type blockingSource struct {
	*fakeSource
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlockingSource(flows ...Flow) *blockingSource {
	return &blockingSource{fakeSource: newFakeSource(flows...), entered: make(chan struct{}, 10), release: make(chan struct{})}
}

// Release lets every call of Events return.
func (s *blockingSource) Release() { s.once.Do(func() { close(s.release) }) }

func (s *blockingSource) Events(ctx context.Context, customerID, flowID string) ([]Event, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.fakeSource.Events(context.Background(), customerID, flowID)
}

// notifyingStore reports every stored end.
type notifyingStore struct {
	*MemoryStore
	finished chan Analysis
}

func (s *notifyingStore) Finish(ctx context.Context, a Analysis) error {
	err := s.MemoryStore.Finish(ctx, a)
	if err == nil {
		s.finished <- a
	}
	return err
}

// The time limit holds even when the Source ignores its context: the
// analysis is stored as failed at the deadline, and keeps its slot until
// the Source returns.
func TestServiceTimeLimitWithASourceThatIgnoresCtx(t *testing.T) {
	ctx := context.Background()
	store := &notifyingStore{MemoryStore: NewMemoryStore(), finished: make(chan Analysis, 10)}
	model := llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()))
	src := newBlockingSource(callFlow(), flowN(2))
	svc, _ := newService(t, src, model, func(c *Config) {
		c.Store, c.Timeout, c.MaxConcurrent = store, 20*time.Millisecond, 1
	})
	t.Cleanup(src.Release) // before the service's cleanup: a failed test must not hang
	a, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	receive(t, src.entered, "the events to be asked for")
	ended := receive(t, store.finished, "the end at the deadline")
	assert.Equal(t, a.ID, ended.ID)
	got, err := svc.Get(ctx, customerA, a.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, got.Status)
	assert.Equal(t, FailTimeout, got.Error)

	// The slot is still taken: a second analysis waits.
	b, started, err := svc.Create(ctx, customerA, flowN(2).ID, CreateOptions{})
	require.NoError(t, err)
	require.True(t, started)
	select {
	case <-src.entered:
		t.Fatal("a second analysis ran while the first one's Source had not returned")
	default:
	}
	src.Release()
	waitIdle(t, svc)
	got, err = svc.Get(ctx, customerA, b.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusCompleted, got.Status)
	got, err = svc.Get(ctx, customerA, a.ID)
	require.NoError(t, err)
	assert.Equal(t, FailTimeout, got.Error, "the late answer changes nothing")
}

// Close honours its context even when a Source ignores its own: it returns
// ctx.Err() at once, and the running and queued analyses are stored as
// interrupted.
func TestServiceCloseWithASourceThatIgnoresCtx(t *testing.T) {
	ctx := context.Background()
	store := &notifyingStore{MemoryStore: NewMemoryStore(), finished: make(chan Analysis, 10)}
	src := newBlockingSource(flowN(1), flowN(2))
	svc, _ := newService(t, src, llmtest.NewScripted(), func(c *Config) { c.Store, c.MaxConcurrent = store, 1 })
	t.Cleanup(src.Release) // before the service's cleanup: a failed test must not hang
	a1, _, err := svc.Create(ctx, customerA, flowN(1).ID, CreateOptions{})
	require.NoError(t, err)
	a2, _, err := svc.Create(ctx, customerA, flowN(2).ID, CreateOptions{})
	require.NoError(t, err)
	receive(t, src.entered, "the events to be asked for")

	expired, cancel := context.WithCancel(ctx)
	cancel()
	closed := make(chan error, 1)
	go func() { closed <- svc.Close(expired) }()
	assert.ErrorIs(t, receive(t, closed, "Close"), context.Canceled)
	ids := map[string]bool{}
	for range 2 {
		ids[receive(t, store.finished, "an interrupted analysis").ID] = true
	}
	assert.Equal(t, map[string]bool{a1.ID: true, a2.ID: true}, ids)
	for _, a := range []Analysis{a1, a2} {
		got, err := svc.Get(ctx, customerA, a.ID)
		require.NoError(t, err)
		assert.Equal(t, StatusFailed, got.Status)
		assert.Equal(t, FailInterrupted, got.Error)
	}
	src.Release()
	waitIdle(t, svc)
	assert.Len(t, src.entered, 0, "the queued analysis never asked for its events")
}

// A deadline or cancellation of the Source's or the provider's own is not
// the analysis's time limit.
func TestServiceTellsItsOwnTimeoutFromOthers(t *testing.T) {
	tests := []struct {
		name    string
		model   llm.Model
		prepare func(*fakeSource)
		want    string
	}{
		{"the source's deadline", llmtest.NewScripted(), func(s *fakeSource) { s.eventsErr = fmt.Errorf("db: %w", context.DeadlineExceeded) }, FailLoadEvents},
		{"the source's cancellation", llmtest.NewScripted(), func(s *fakeSource) { s.eventsErr = context.Canceled }, FailLoadEvents},
		{"the provider's deadline", llmtest.NewScripted(llmtest.Fail(fmt.Errorf("http: %w", context.DeadlineExceeded))), nil, FailModelTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := newFakeSource(callFlow())
			if tt.prepare != nil {
				tt.prepare(src)
			}
			svc, _ := newService(t, src, tt.model)
			a, _, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
			require.NoError(t, err)
			waitIdle(t, svc)
			got, err := svc.Get(ctx, customerA, a.ID)
			require.NoError(t, err)
			assert.Equal(t, StatusFailed, got.Status)
			assert.Equal(t, tt.want, got.Error)
		})
	}
}

// A flow header that breaks the rules is refused at Create, before any
// analysis is stored or accepted, as an error of the Source.
func TestServiceCreateValidatesTheFlowHeader(t *testing.T) {
	ctx := context.Background()
	mismatch := callFlow()
	mismatch.Reference.Type = RefConversation
	noID := callFlow()
	noID.ID = ""
	noCustomer := callFlow()
	noCustomer.CustomerID = ""
	for name, tc := range map[string]struct {
		flow Flow
		path string
	}{
		"a reference of another type": {mismatch, "$.flow.reference.type"},
		"no flow id":                  {noID, "$.flow.id"},
		"no customer id":              {noCustomer, "$.flow.customer_id"},
	} {
		t.Run(name, func(t *testing.T) {
			src := newFakeSource()
			src.flows[flowA] = tc.flow
			src.leaky = true // the header's customer is not checked by this host
			svc, _ := newService(t, src, llmtest.NewScripted())
			_, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
			require.Error(t, err)
			assert.False(t, started)
			assert.NotErrorIs(t, err, ErrNotFound)
			assert.ErrorIs(t, err, ErrInvalid)
			var se *SourceError
			require.True(t, errors.As(err, &se), "%v", err)
			assert.Equal(t, "Flow", se.Op)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve))
			assert.Equal(t, tc.path, ve.Problems[0].Path)
			assert.Equal(t, FailInvalidFlow, FailureMessage(ctx, err))
			page, err := svc.List(ctx, customerA, ListFilter{}, PageRequest{})
			require.NoError(t, err)
			assert.Empty(t, page.Items, "nothing stored")
			assert.Zero(t, src.loads.Load())
		})
	}
}

// With the cooldown disabled, a re-analysis is accepted even when the
// latest analysis's tm_update is ahead of the clock.
func TestServiceNoCooldownWithAClockBehind(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	future := t0.Add(3 * time.Hour) // the service's clock is at t0 + 1h
	done := Analysis{ID: "00000000-0000-4000-8000-999999999999", CustomerID: customerA, ActiveflowID: flowA,
		Status: StatusProgressing, TMCreate: Timestamp{future}, TMUpdate: Timestamp{future}}
	_, _, err := store.Create(ctx, done, "")
	require.NoError(t, err)
	done.Status, done.Error = StatusFailed, FailTransient
	require.NoError(t, store.Finish(ctx, done))

	model := llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()))
	svc, _ := newService(t, newFakeSource(callFlow()), model, func(c *Config) { c.Store, c.Cooldown = store, -1 })
	_, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{Reanalyze: true})
	require.NoError(t, err)
	assert.True(t, started)
	waitIdle(t, svc)

	cooling, _ := newService(t, newFakeSource(callFlow()), llmtest.NewScripted(), func(c *Config) { c.Store = store })
	_, _, err = cooling.Create(ctx, customerA, flowN(1).ID, CreateOptions{})
	assert.ErrorIs(t, err, ErrNotFound)
}

// A page token serves only the list it came from.
func TestServicePageTokensAreBoundToTheirList(t *testing.T) {
	ctx := context.Background()
	model := llmtest.NewScripted(llmtest.ReplyJSON(goodAnswer()), llmtest.ReplyJSON(goodAnswer()), llmtest.ReplyJSON(goodAnswer()))
	svc, clock := newService(t, newFakeSource(flowN(1), flowN(2), flowN(3)), model)
	for i := 1; i <= 3; i++ {
		_, _, err := svc.Create(ctx, customerA, flowN(i).ID, CreateOptions{})
		require.NoError(t, err)
		clock.Advance(time.Second)
	}
	waitIdle(t, svc)
	page, err := svc.List(ctx, customerA, ListFilter{}, PageRequest{Size: 1})
	require.NoError(t, err)
	require.NotEmpty(t, page.NextToken)
	for name, tc := range map[string]struct {
		customer string
		filter   ListFilter
	}{
		"another customer": {customerB, ListFilter{}},
		"another filter":   {customerA, ListFilter{ActiveflowID: flowN(1).ID}},
	} {
		_, err := svc.List(ctx, tc.customer, tc.filter, PageRequest{Size: 1, Token: page.NextToken})
		var ve *ValidationError
		require.True(t, errors.As(err, &ve), "%s: %v", name, err)
		assert.Equal(t, "$.page_token", ve.Problems[0].Path, name)
	}
	next, err := svc.List(ctx, strings.ToUpper(customerA), ListFilter{}, PageRequest{Size: 1, Token: page.NextToken})
	require.NoError(t, err, "the same list, whatever the case of the id")
	assert.Len(t, next.Items, 1)
}

func TestCooldownErrorText(t *testing.T) {
	err := &CooldownError{RetryAfter: 42 * time.Second}
	assert.Equal(t, "timeline: re-analysis is cooling down: retry after 42s", err.Error())
	assert.ErrorIs(t, err, ErrCooldown)
}

// timeoutErr is a network timeout, as an HTTP client reports its own.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
