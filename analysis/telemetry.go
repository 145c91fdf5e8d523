package analysis

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/debrief-go/debrief/llm"
)

// instrumentation is the OpenTelemetry instrumentation scope of the
// package's spans and metrics.
const instrumentation = "github.com/debrief-go/debrief/analysis"

// The attribute keys of the package's spans and metrics. Metrics carry
// only those of few values (a definition's key, a model key, a class of
// error); run IDs, scopes and conversation keys are on spans only.
const (
	attrRunID           = attribute.Key("debrief.analysis.run_id")
	attrDefinitionKey   = attribute.Key("debrief.analysis.definition_key")
	attrTenant          = attribute.Key("debrief.analysis.tenant")
	attrProject         = attribute.Key("debrief.analysis.project")
	attrChunk           = attribute.Key("debrief.analysis.chunk")
	attrChunkAttempt    = attribute.Key("debrief.analysis.chunk.attempt")
	attrChunkSize       = attribute.Key("debrief.analysis.chunk.conversations")
	attrChunkOutcome    = attribute.Key("debrief.analysis.chunk.outcome")
	attrRunCompleted    = attribute.Key("debrief.analysis.run.completed")
	attrRunFailed       = attribute.Key("debrief.analysis.run.failed")
	attrConversationKey = attribute.Key("debrief.analysis.conversation_key")
	attrItemStatus      = attribute.Key("debrief.analysis.item.status")
	attrItemPassed      = attribute.Key("debrief.analysis.item.passed")
	attrStep            = attribute.Key("debrief.analysis.step")
	attrErrorType       = attribute.Key("error.type")
	attrModel           = attribute.Key("gen_ai.request.model")
	attrTokenType       = attribute.Key("gen_ai.token.type")
	attrInputTokens     = attribute.Key("gen_ai.usage.input_tokens")
	attrOutputTokens    = attribute.Key("gen_ai.usage.output_tokens")
	attrSlotOutcome     = attribute.Key("debrief.analysis.slot.outcome")
)

// The metric names, as recorded by an [Executor] and a [Scheduler].
const (
	MetricItems          = "debrief.analysis.items"
	MetricItemDuration   = "debrief.analysis.item.duration"
	MetricJudgeFailures  = "debrief.analysis.judge.failures"
	MetricRunsActive     = "debrief.analysis.runs.active"
	MetricTokens         = "debrief.analysis.tokens"
	MetricCost           = "debrief.analysis.cost"
	MetricSchedulerLate  = "debrief.analysis.scheduler.lateness"
	MetricSlotsFired     = "debrief.analysis.scheduler.slots"
	spanRun              = "analysis.run"
	spanChunk            = "analysis.chunk"
	spanConversation     = "analysis.conversation"
	itemStatusCompleted  = "completed"
	itemStatusFailed     = "failed"
	chunkOutcomeComplete = "completed"
)

// durationBuckets are the bounds, in seconds, of the item duration
// histogram: from a cached answer to the longest item timeout.
var durationBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 300}

// telemetry holds an executor's tracer and instruments.
type telemetry struct {
	tracer       trace.Tracer
	items        metric.Int64Counter
	itemDuration metric.Float64Histogram
	judgeFailed  metric.Int64Counter
	runsActive   metric.Int64UpDownCounter
	tokens       metric.Int64Counter
	cost         metric.Float64Counter
	prices       llm.PriceTable
	currency     string
}

// newTelemetry makes the instruments from the providers, or from the
// OpenTelemetry globals when they are nil. An instrument that cannot be
// made is a no-op one; the error goes to the OpenTelemetry error handler.
func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, prices llm.PriceTable, currency string) *telemetry {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentation)
	t := &telemetry{tracer: tp.Tracer(instrumentation), prices: prices, currency: currency}
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	t.items, err = m.Int64Counter(MetricItems, metric.WithUnit("{item}"),
		metric.WithDescription("Conversations analysed, by status (completed or failed) and, for failed ones, error.type."))
	note(err)
	t.itemDuration, err = m.Float64Histogram(MetricItemDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to analyse one conversation and save its item."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	note(err)
	t.judgeFailed, err = m.Int64Counter(MetricJudgeFailures, metric.WithUnit("{item}"),
		metric.WithDescription("Items whose fields were extracted but whose judging failed, by error.type."))
	note(err)
	t.runsActive, err = m.Int64UpDownCounter(MetricRunsActive, metric.WithUnit("{run}"),
		metric.WithDescription("Runs this executor is working on."))
	note(err)
	t.tokens, err = m.Int64Counter(MetricTokens, metric.WithUnit("{token}"),
		metric.WithDescription("Tokens spent analysing conversations, by definition, model and gen_ai.token.type."))
	note(err)
	t.cost, err = m.Float64Counter(MetricCost, metric.WithUnit("{"+currency+"}"),
		metric.WithDescription("What the tokens spent analysing conversations cost at the executor's prices, by definition and model."))
	note(err)
	for _, err := range errs {
		otel.Handle(err)
	}
	return t
}

// jobAttrs are the attribute sets of one run's metrics, made once per run.
type jobAttrs struct {
	def        attribute.KeyValue
	passed     metric.MeasurementOption // completed and passed
	notPassed  metric.MeasurementOption // completed, not passed
	durationOK metric.MeasurementOption
	durationKO metric.MeasurementOption

	mu    sync.Mutex
	usage map[string]*modelAttrs // by model key
}

type modelAttrs struct {
	input, output, cost metric.MeasurementOption
}

func newJobAttrs(definitionKey string) *jobAttrs {
	def := attrDefinitionKey.String(definitionKey)
	set := func(kvs ...attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(kvs...))
	}
	return &jobAttrs{
		def:        def,
		passed:     set(def, attrItemStatus.String(itemStatusCompleted), attrItemPassed.Bool(true)),
		notPassed:  set(def, attrItemStatus.String(itemStatusCompleted), attrItemPassed.Bool(false)),
		durationOK: set(def, attrItemStatus.String(itemStatusCompleted)),
		durationKO: set(def, attrItemStatus.String(itemStatusFailed)),
		usage:      map[string]*modelAttrs{},
	}
}

func (a *jobAttrs) model(key string) *modelAttrs {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.usage[key]
	if m == nil {
		mk := attrModel.String(key)
		m = &modelAttrs{
			input:  metric.WithAttributeSet(attribute.NewSet(a.def, mk, attrTokenType.String("input"))),
			output: metric.WithAttributeSet(attribute.NewSet(a.def, mk, attrTokenType.String("output"))),
			cost:   metric.WithAttributeSet(attribute.NewSet(a.def, mk)),
		}
		a.usage[key] = m
	}
	return m
}

// spend records the tokens u spent on model for a run's definition, and
// their cost when the model has a price.
func (t *telemetry) spend(ctx context.Context, a *jobAttrs, model string, u llm.Usage) {
	if u == (llm.Usage{}) || !t.tokens.Enabled(ctx) && !t.cost.Enabled(ctx) {
		return
	}
	m := a.model(model)
	t.tokens.Add(ctx, u.InputTokens, m.input)
	t.tokens.Add(ctx, u.OutputTokens, m.output)
	if p, ok := t.prices[model]; ok {
		t.cost.Add(ctx, p.Cost(u), m.cost)
	}
}

// item records a saved item: its status, its duration and, when its
// judging failed, that failure. Instruments that keep nothing (those of a
// no-op provider) cost no more than the question.
func (t *telemetry) item(ctx context.Context, a *jobAttrs, it *Item, class string, took time.Duration) {
	failed := it.Error != ""
	if t.items.Enabled(ctx) {
		switch {
		case failed:
			t.items.Add(ctx, 1, metric.WithAttributes(a.def, attrItemStatus.String(itemStatusFailed), attrErrorType.String(class)))
		case it.Passed:
			t.items.Add(ctx, 1, a.passed)
		default:
			t.items.Add(ctx, 1, a.notPassed)
		}
	}
	if t.itemDuration.Enabled(ctx) {
		opt := a.durationOK
		if failed {
			opt = a.durationKO
		}
		t.itemDuration.Record(ctx, took.Seconds(), opt)
	}
	if it.JudgeError != "" {
		t.judgeFailed.Add(ctx, 1, metric.WithAttributes(a.def, attrErrorType.String(class)))
	}
}

// runSpans are the run spans of one [Executor.work] call: a span per run
// it works on, the parent of the spans of the run's chunks, ended when the
// run completes or when the call returns.
type runSpans struct {
	t  *telemetry
	mu sync.Mutex
	m  map[jobKey]*runSpan
}

type runSpan struct {
	ctx           context.Context
	span          trace.Span
	definitionKey string
}

// start returns the context of c's run span, starting it if need be.
func (r *runSpans) start(ctx context.Context, c Claim) context.Context {
	k := jobKey{c.Scope, c.RunID}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rs := r.m[k]; rs != nil {
		return rs.ctx
	}
	sctx, span := r.t.tracer.Start(ctx, spanRun, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
		attrRunID.String(c.RunID), attrDefinitionKey.String(c.DefinitionKey),
		attrTenant.String(c.Scope.Tenant), attrProject.String(c.Scope.Project)))
	r.m[k] = &runSpan{ctx: sctx, span: span, definitionKey: c.DefinitionKey}
	r.t.runsActive.Add(ctx, 1, metric.WithAttributes(attrDefinitionKey.String(c.DefinitionKey)))
	return sctx
}

// end ends the run span of k, if there is one: completed says the run
// completed, failed why it was failed ("" when it was not).
func (r *runSpans) end(k jobKey, completed bool, failed string) {
	r.mu.Lock()
	rs := r.m[k]
	delete(r.m, k)
	r.mu.Unlock()
	if rs == nil {
		return
	}
	r.finish(rs, completed, failed)
}

func (r *runSpans) finish(rs *runSpan, completed bool, failed string) {
	rs.span.SetAttributes(attrRunCompleted.Bool(completed))
	if failed != "" {
		rs.span.SetAttributes(attrRunFailed.Bool(true))
		rs.span.SetStatus(codes.Error, failed)
	}
	rs.span.End()
	r.t.runsActive.Add(context.Background(), -1, metric.WithAttributes(attrDefinitionKey.String(rs.definitionKey)))
}

// endAll ends the spans of the runs the call worked on and did not see
// complete: other executors may finish them.
func (r *runSpans) endAll() {
	r.mu.Lock()
	m := r.m
	r.m = map[jobKey]*runSpan{}
	r.mu.Unlock()
	for _, rs := range m {
		r.finish(rs, false, "")
	}
}
