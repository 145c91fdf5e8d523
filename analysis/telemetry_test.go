package analysis_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/otelllm"
)

const secret = "sk-secret-123"

var ticketNo = regexp.MustCompile(`Ticket (\d+)\.`)

// usageModel answers as instantModel does, spending tokens that depend on
// the conversation; it fails the extraction of Ticket 7 with an
// unclassified 401 and the judging of Ticket 9 with a 503, both saying a
// secret.
var usageModel = llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
	m := ticketNo.FindStringSubmatch(req.Messages[len(req.Messages)-1].Content)
	n := 0
	if m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	resp, _ := instantModel.Generate(ctx, req)
	judging := req.SchemaName == "verdict"
	switch {
	case n == 7 && !judging:
		return llm.Response{}, &llm.Error{StatusCode: 401, Message: "invalid key " + secret}
	case n == 9 && judging:
		return llm.Response{}, &llm.Error{Kind: llm.ErrTransient, StatusCode: 503, Message: secret + " is overloaded"}
	}
	resp.Usage = llm.Usage{InputTokens: int64(100 + n), OutputTokens: int64(10 + n%4), CachedInputTokens: int64(n % 3)}
	if judging {
		resp.Usage.InputTokens += 1000
	}
	return resp, nil
})

// observed is a run's telemetry read back from the SDK's in-memory readers.
type observed struct {
	spans   tracetest.SpanStubs
	metrics metricdata.ResourceMetrics
}

func (o observed) named(name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range o.spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func (o observed) metric(t *testing.T, name string) metricdata.Aggregation {
	t.Helper()
	for _, sm := range o.metrics.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// sumWhere adds the data points of a counter or histogram (its sum) whose
// attributes include every one of want.
func (o observed) sumWhere(t *testing.T, name string, want ...attribute.KeyValue) float64 {
	t.Helper()
	match := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	var total float64
	switch d := o.metric(t, name).(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				total += float64(p.Value)
			}
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				total += p.Value
			}
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				total += float64(p.Sum)
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				total += float64(p.Count) // durations: how many
			}
		}
	default:
		t.Fatalf("%s: unexpected %T", name, d)
	}
	return total
}

// observedRun runs the intent definition over n conversations, in chunks
// of 8, through the otelllm middleware, and returns the run and what the
// SDK recorded.
func observedRun(t *testing.T, n int, prices llm.PriceTable) (analysis.Run, observed) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	model := llm.Chain(usageModel, otelllm.Middleware(otelllm.Config{TracerProvider: tp, MeterProvider: mp}))
	e := newEnv(t, model, func(c *analysis.Config, ec *analysis.ExecutorConfig) {
		c.ChunkSize = 8
		ec.TracerProvider, ec.MeterProvider, ec.Prices = tp, mp, prices
	})
	ingest(t, e, n)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	run, err := e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = e.exec.Drain(context.Background())
	require.NoError(t, err)
	run, err = e.svc.GetRun(context.Background(), scope, run.ID)
	require.NoError(t, err)
	require.Equal(t, analysis.RunCompleted, run.Status)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Len(t, rec.Started(), len(rec.Ended()), "every span started was ended")
	return run, observed{spans: tracetest.SpanStubsFromReadOnlySpans(rec.Ended()), metrics: rm}
}

func TestARunsSpanTree(t *testing.T) {
	run, o := observedRun(t, 20, nil)
	runs := o.named("analysis.run")
	require.Len(t, runs, 1, "one executor worked on the run")
	r := runs[0]
	v, _ := attr(r, "debrief.analysis.run_id")
	assert.Equal(t, run.ID, v.AsString())
	v, _ = attr(r, "debrief.analysis.definition_key")
	assert.Equal(t, run.DefinitionKey, v.AsString())
	v, _ = attr(r, "debrief.analysis.run.completed")
	assert.True(t, v.AsBool())

	chunks := o.named("analysis.chunk")
	require.Len(t, chunks, 3, "20 conversations in chunks of 8")
	chunkIDs := map[string]bool{}
	for _, c := range chunks {
		assert.Equal(t, r.SpanContext.SpanID(), c.Parent.SpanID(), "a chunk is a child of its run")
		assert.Equal(t, r.SpanContext.TraceID(), c.SpanContext.TraceID())
		v, _ := attr(c, "debrief.analysis.chunk.outcome")
		assert.Equal(t, "completed", v.AsString())
		chunkIDs[c.SpanContext.SpanID().String()] = true
	}

	convs := o.named("analysis.conversation")
	require.Len(t, convs, 20)
	convIDs := map[string]tracetest.SpanStub{}
	keys := map[string]bool{}
	for _, c := range convs {
		assert.True(t, chunkIDs[c.Parent.SpanID().String()], "a conversation is a child of a chunk")
		convIDs[c.SpanContext.SpanID().String()] = c
		v, _ := attr(c, "debrief.analysis.conversation_key")
		keys[v.AsString()] = true
	}
	assert.Len(t, keys, 20)

	calls := 0
	for _, s := range o.spans {
		if !strings.HasPrefix(s.Name, "chat ") {
			continue
		}
		calls++
		_, ok := convIDs[s.Parent.SpanID().String()]
		assert.True(t, ok, "model call %s is a child of a conversation", s.Name)
	}
	assert.Equal(t, 20+19, calls, "an extraction per conversation and a judging for each extracted one")

	var failed, judgeFailed int
	for _, c := range convs {
		v, _ := attr(c, "error.type")
		switch {
		case c.Status.Code == codes.Error:
			failed++
			assert.Equal(t, "401", v.AsString())
			assert.Contains(t, c.Status.Description, "extraction:")
		case v.AsString() != "":
			judgeFailed++
			assert.Equal(t, "transient", v.AsString())
		}
	}
	assert.Equal(t, 1, failed)
	assert.Equal(t, 1, judgeFailed)

	for _, s := range o.spans {
		blob := fmt.Sprint(s.Name, s.Attributes, s.Events, s.Status)
		assert.NotContains(t, blob, secret, "span %s", s.Name)
		assert.NotContains(t, blob, "Hello, this is about", "no transcript text by default: span %s", s.Name)
	}
}

func TestARunsMetricsEqualItsUsage(t *testing.T) {
	in, cached, out := 2.0, 0.5, 8.0
	prices := llm.PriceTable{"gpt-4o-mini": {Input: in, Output: out}, "gpt-4o": {Input: in * 10, CachedInput: &cached, Output: out * 10}}
	run, o := observedRun(t, 20, prices)
	require.NotZero(t, run.Usage.InputTokens)

	input := attribute.String("gen_ai.token.type", "input")
	output := attribute.String("gen_ai.token.type", "output")
	assert.Equal(t, float64(run.Usage.InputTokens), o.sumWhere(t, analysis.MetricTokens, input))
	assert.Equal(t, float64(run.Usage.OutputTokens), o.sumWhere(t, analysis.MetricTokens, output))
	assert.Equal(t, float64(run.Usage.InputTokens), o.sumWhere(t, "gen_ai.client.token.usage", input), "the middleware saw the same tokens")
	assert.Equal(t, float64(run.Usage.OutputTokens), o.sumWhere(t, "gen_ai.client.token.usage", output))

	// The cost, recomputed from what the model spent on each conversation.
	var want float64
	for n := 1; n <= 20; n++ {
		u := llm.Usage{InputTokens: int64(100 + n), OutputTokens: int64(10 + n%4), CachedInputTokens: int64(n % 3)}
		if n != 7 {
			want += prices["gpt-4o-mini"].Cost(u)
		}
		if n != 7 && n != 9 {
			u.InputTokens += 1000
			want += prices["gpt-4o"].Cost(u)
		}
	}
	def := attribute.String("debrief.analysis.definition_key", run.DefinitionKey)
	assert.InDelta(t, want, o.sumWhere(t, analysis.MetricCost, def), 1e-9)

	assert.Equal(t, 18.0, o.sumWhere(t, analysis.MetricItems, attribute.String("debrief.analysis.item.status", "completed"), attribute.Bool("debrief.analysis.item.passed", true)))
	assert.Equal(t, 1.0, o.sumWhere(t, analysis.MetricItems, attribute.String("debrief.analysis.item.status", "completed"), attribute.Bool("debrief.analysis.item.passed", false)), "the one whose judging failed")
	assert.Equal(t, 1.0, o.sumWhere(t, analysis.MetricItems, attribute.String("debrief.analysis.item.status", "failed"), attribute.String("error.type", "401")))
	assert.Equal(t, 1.0, o.sumWhere(t, analysis.MetricJudgeFailures, attribute.String("error.type", "transient")))
	assert.Equal(t, 20.0, o.sumWhere(t, analysis.MetricItemDuration, def), "one duration per item")
	assert.Equal(t, 0.0, o.sumWhere(t, analysis.MetricRunsActive), "no run in progress once it completed")
	assert.Equal(t, 20.0, o.sumWhere(t, analysis.MetricItems, attribute.String("debrief.analysis.tenant", scope.Tenant),
		attribute.String("debrief.analysis.project", scope.Project)), "metrics name the scope, since keys are unique only in one")
	assert.Equal(t, float64(run.Aggregate.Failed), 1.0)
}

func TestSchedulerMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	e := newEnv(t, instantModel)
	e.clock.Set(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	ingest(t, e, 1)
	d := scheduled(t, e, "0 2 * * *")
	sc := e.svc.Scheduler(analysis.SchedulerConfig{MeterProvider: mp})
	e.clock.Set(time.Date(2026, 5, 2, 2, 0, 42, 0, time.UTC))
	rep, err := sc.Tick(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Fired, 1)
	e.clock.Set(time.Date(2026, 5, 3, 2, 1, 0, 0, time.UTC))
	rep, err = sc.Tick(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Waiting, 1, "the first night's run is still in progress")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	o := observed{metrics: rm}
	g, ok := o.metric(t, analysis.MetricSchedulerLate).(metricdata.Gauge[float64])
	require.True(t, ok)
	require.Len(t, g.DataPoints, 1)
	assert.Equal(t, 42.0, g.DataPoints[0].Value, "fired 42 s after its slot")
	def := attribute.String("debrief.analysis.definition_key", d.Key)
	assert.Equal(t, 1.0, o.sumWhere(t, analysis.MetricSlotsFired, def, attribute.String("debrief.analysis.slot.outcome", "fired")))
	assert.Equal(t, 1.0, o.sumWhere(t, analysis.MetricSlotsFired, def, attribute.String("debrief.analysis.slot.outcome", "waiting")))
}

func TestARunSpanSaysWhyTheRunFailedAndRunsActiveReturnsToZero(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	e := newEnv(t, instantModel, func(c *analysis.Config, ec *analysis.ExecutorConfig) {
		ec.TracerProvider, ec.MeterProvider = tp, mp
		ec.Store = goneDefinitions{ec.Store}
	})
	ingest(t, e, 3)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = e.exec.Drain(context.Background())
	require.NoError(t, err)

	o := observed{spans: tracetest.SpanStubsFromReadOnlySpans(rec.Ended())}
	runs := o.named("analysis.run")
	require.Len(t, runs, 1)
	assert.Equal(t, codes.Error, runs[0].Status.Code)
	assert.Equal(t, "the definition was deleted", runs[0].Status.Description)
	v, _ := attr(runs[0], "debrief.analysis.run.completed")
	assert.False(t, v.AsBool())
	chunks := o.named("analysis.chunk")
	require.Len(t, chunks, 1)
	v, _ = attr(chunks[0], "debrief.analysis.chunk.outcome")
	assert.Equal(t, "run_ended", v.AsString())
	assert.Empty(t, o.named("analysis.conversation"))

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	o.metrics = rm
	assert.Equal(t, 0.0, o.sumWhere(t, analysis.MetricRunsActive))
}

// goneDefinitions is a store whose definitions the executor finds deleted.
type goneDefinitions struct{ analysis.Store }

func (goneDefinitions) GetDefinition(context.Context, analysis.Scope, string) (analysis.Definition, error) {
	return analysis.Definition{}, analysis.ErrNotFound
}

// An executor that stops in the middle of a run ends its run span, not
// completed, and gives its chunk back: the span says so.
func TestAnExecutorStoppingEndsItsSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	model := llm.ModelFunc(func(c context.Context, req llm.Request) (llm.Response, error) {
		calls++
		if calls == 2 {
			cancel()
			<-c.Done()
			return llm.Response{}, c.Err()
		}
		return instantModel.Generate(c, req)
	})
	e := newEnv(t, model, func(c *analysis.Config, ec *analysis.ExecutorConfig) {
		ec.TracerProvider, ec.Concurrency = tp, 1
	})
	ingest(t, e, 3)
	d, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.StartRun(context.Background(), scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, _ = e.exec.Drain(ctx)

	o := observed{spans: tracetest.SpanStubsFromReadOnlySpans(rec.Ended())}
	runs := o.named("analysis.run")
	require.Len(t, runs, 1, "the run span ended although the run did not complete")
	v, _ := attr(runs[0], "debrief.analysis.run.completed")
	assert.False(t, v.AsBool())
	chunks := o.named("analysis.chunk")
	require.Len(t, chunks, 1)
	v, _ = attr(chunks[0], "debrief.analysis.chunk.outcome")
	assert.Equal(t, "given_back", v.AsString())
	for _, c := range o.named("analysis.conversation") {
		if c.Status.Code == codes.Error {
			assert.Contains(t, c.Status.Description, "the item was not saved")
		}
	}
}

// A run cancelled while this executor works on it: its span ends, not
// completed, as soon as the executor moves on to another run, not when it
// stops; its conversation in flight says the lease was lost, not that the
// model failed; and it no longer counts as active.
func TestACancelledRunsSpanEndsWhenTheExecutorMovesOn(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	var e *env
	var runA string
	cancelled := false
	var activeWhileB []float64
	model := llm.ModelFunc(func(c context.Context, req llm.Request) (llm.Response, error) {
		if !cancelled {
			cancelled = true
			_, err := e.svc.CancelRun(context.Background(), scope, runA)
			require.NoError(t, err)
			return llm.Response{}, &llm.Error{Kind: llm.ErrTransient}
		}
		if strings.Contains(req.Messages[len(req.Messages)-1].Content, "Ticket") {
			var rm metricdata.ResourceMetrics
			require.NoError(t, reader.Collect(context.Background(), &rm))
			activeWhileB = append(activeWhileB, observed{metrics: rm}.sumWhere(t, analysis.MetricRunsActive))
		}
		return instantModel.Generate(c, req)
	})
	e = newEnv(t, model, func(c *analysis.Config, ec *analysis.ExecutorConfig) {
		ec.TracerProvider, ec.MeterProvider, ec.Concurrency = tp, mp, 1
	})
	ingest(t, e, 3)
	a, err := e.svc.CreateDefinition(context.Background(), scope, intentDefinition())
	require.NoError(t, err)
	in := intentDefinition()
	in.Name = "Second"
	b, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	run, err := e.svc.StartRun(context.Background(), scope, a.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	runA = run.ID
	_, err = e.svc.StartRun(context.Background(), scope, b.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, _ = e.exec.Drain(context.Background())

	o := observed{spans: tracetest.SpanStubsFromReadOnlySpans(rec.Ended())}
	assert.Len(t, rec.Started(), len(rec.Ended()), "every span started was ended")
	runs := o.named("analysis.run")
	require.Len(t, runs, 2)
	var spanA, spanB tracetest.SpanStub
	for _, r := range runs {
		if v, _ := attr(r, "debrief.analysis.run_id"); v.AsString() == runA {
			spanA = r
		} else {
			spanB = r
		}
	}
	v, _ := attr(spanA, "debrief.analysis.run.completed")
	assert.False(t, v.AsBool())
	assert.True(t, spanA.EndTime.Before(spanB.StartTime) || spanA.EndTime.Equal(spanB.StartTime), "A's span ended when B's began")
	require.NotEmpty(t, activeWhileB)
	for _, n := range activeWhileB {
		assert.Equal(t, 1.0, n, "only B is active while B is analysed")
	}
	for _, c := range o.named("analysis.conversation") {
		if c.Parent.TraceID() == spanA.SpanContext.TraceID() && c.Status.Code == codes.Error {
			assert.NotContains(t, c.Status.Description, "model call failed")
		}
	}
}
