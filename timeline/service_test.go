package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	if !ok || (f.CustomerID != customerID && !s.leaky) {
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
	cfg := Config{Source: src, Analyzer: AnalyzerConfig{Model: model, ModelKey: "best"}, Now: clock.Now, NewID: seqIDs()}
	for _, f := range mod {
		f(&cfg)
	}
	s, err := NewService(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s, clock
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

	svc.Wait()
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
	<-model.entered

	for _, opts := range []CreateOptions{{}, {Reanalyze: true}} {
		again, started, err := svc.Create(ctx, customerA, flowA, opts)
		require.NoError(t, err)
		assert.False(t, started)
		assert.Equal(t, first.ID, again.ID)
		assert.Equal(t, StatusProgressing, again.Status)
	}
	close(model.gate)
	svc.Wait()
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
	svc.Wait()
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
	svc.Wait()

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
	svc.Wait()

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
	svc.Wait()
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
	<-model.entered
	<-model.entered
	assert.EqualValues(t, 2, model.inFlight.Load(), "two run, four wait")
	close(model.gate)
	svc.Wait()
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
	svc.Wait()
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
	svc.Wait()
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
		{"unclassified", llmtest.NewScripted(llmtest.Fail(errors.New(secret))), nil, FailInternal},
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
			svc.Wait()
			got, err := svc.Get(ctx, customerA, a.ID)
			require.NoError(t, err)
			assert.Equal(t, StatusFailed, got.Status)
			assert.Equal(t, tt.want, got.Error)
			raw, _ := json.Marshal(got)
			assert.NotContains(t, string(raw), "sk-live")
			assert.NotContains(t, string(raw), "https://")
			assert.Contains(t, logs.String(), `"msg":"timeline analysis failed"`, "the detail goes to the host's logs")
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
	<-model.entered

	expired, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, svc.Close(expired), context.Canceled)
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
	<-model.entered
	closed := make(chan error)
	go func() { closed <- svc.Close(ctx) }()
	close(model.gate)
	require.NoError(t, <-closed)
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
	svc.Wait()
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
	<-model.entered
	clock.Advance(time.Hour)
	again, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	assert.False(t, started)
	assert.Equal(t, first.ID, again.ID)
	close(model.gate)
	svc.Wait()
}

func TestNewServiceValidates(t *testing.T) {
	_, err := NewService(Config{MaxConcurrent: -1, MaxQueued: -1, Timeout: -1, StaleAfter: -1, Analyzer: AnalyzerConfig{MaxAttempts: -1}})
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	assert.Equal(t, []string{"$.source", "$.now", "$.new_id", "$.max_concurrent", "$.max_queued", "$.timeout", "$.stale_after",
		"$.analyzer.model", "$.analyzer.max_attempts"}, paths)
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
	svc.Wait() // the reservation was given back
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
	svc.Wait()

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

// failingStore wraps a MemoryStore and fails the chosen methods.
type failingStore struct {
	*MemoryStore
	latest, create, finish error
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
	if s.finish != nil {
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
	svc.Wait() // the reservation was given back

	store.create, store.finish = nil, boom
	_, started, err := svc.Create(ctx, customerA, flowA, CreateOptions{})
	require.NoError(t, err)
	assert.True(t, started)
	svc.Wait()
	assert.Contains(t, logs.String(), "timeline analysis end not stored")
	assert.Same(t, svc.analyzer, svc.Analyzer())
}

func TestCooldownErrorText(t *testing.T) {
	err := &CooldownError{RetryAfter: 42 * time.Second}
	assert.Equal(t, "timeline: re-analysis is cooling down: retry after 42s", err.Error())
	assert.ErrorIs(t, err, ErrCooldown)
}
