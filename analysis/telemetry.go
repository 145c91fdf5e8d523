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

	"github.com/debrief-go/debrief/internal/seriescap"
	"github.com/debrief-go/debrief/llm"
)

// instrumentation is the OpenTelemetry instrumentation scope of the
// package's spans and metrics.
const instrumentation = "github.com/debrief-go/debrief/analysis"

// The attribute keys of the package's spans and metrics. Metrics carry
// only those of few values (a scope, a definition's key, a model key, a
// class of error), and at most MaxMetricDefinitions definitions and
// MaxMetricModels model keys per executor; run IDs and conversation keys
// are on spans only.
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

// Bounds of the metrics' cardinality: an executor records the first
// MaxMetricDefinitions definitions (by scope and key) and the first
// MaxMetricModels model keys it meets under their names, and any further
// one as [MetricOverflow], so that tenants creating definitions or naming
// models cannot grow the number of series without bound.
const (
	MaxMetricDefinitions = 1000
	MaxMetricModels      = 100
	// MetricOverflow stands for the definitions and model keys beyond the
	// bounds in metrics' attributes.
	MetricOverflow = seriescap.Overflow
)

// durationBuckets are the bounds, in seconds, of the item duration
// histogram: from a cached answer to the longest item timeout.
var durationBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 300}

// telemetry holds an executor's tracer and instruments.
type telemetry struct {
	*seriesGuard
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
	t := &telemetry{tracer: tp.Tracer(instrumentation), prices: prices, currency: currency, seriesGuard: newSeriesGuard()}
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

// seriesGuard bounds the definitions and model keys named in metrics.
type seriesGuard struct {
	definitions *seriescap.Set[definitionRef]
	models      *seriescap.Set[string]
}

func newSeriesGuard() *seriesGuard {
	return &seriesGuard{definitions: seriescap.New[definitionRef](MaxMetricDefinitions), models: seriescap.New[string](MaxMetricModels)}
}

type definitionRef struct {
	scope Scope
	key   string
}

// modelName returns the name a model key is recorded under.
func (t *seriesGuard) modelName(key string) string { return seriescap.Name(t.models, key) }

// scopeAttrs returns the attributes naming a definition in metrics: its
// scope and key, or [MetricOverflow] beyond the bound.
func (t *seriesGuard) scopeAttrs(scope Scope, key string) []attribute.KeyValue {
	if !t.definitions.Admit(definitionRef{scope, key}) {
		return []attribute.KeyValue{attrTenant.String(MetricOverflow), attrProject.String(MetricOverflow), attrDefinitionKey.String(MetricOverflow)}
	}
	return []attribute.KeyValue{attrTenant.String(scope.Tenant), attrProject.String(scope.Project), attrDefinitionKey.String(key)}
}

// jobAttrs are the attribute sets of one run's metrics, made once per run.
type jobAttrs struct {
	t          *telemetry
	def        []attribute.KeyValue     // scope and definition
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

func (t *telemetry) newJobAttrs(scope Scope, definitionKey string) *jobAttrs {
	def := t.scopeAttrs(scope, definitionKey)
	set := func(kvs ...attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(append(kvs, def...)...))
	}
	return &jobAttrs{
		t:          t,
		def:        def,
		passed:     set(attrItemStatus.String(itemStatusCompleted), attrItemPassed.Bool(true)),
		notPassed:  set(attrItemStatus.String(itemStatusCompleted), attrItemPassed.Bool(false)),
		durationOK: set(attrItemStatus.String(itemStatusCompleted)),
		durationKO: set(attrItemStatus.String(itemStatusFailed)),
		usage:      map[string]*modelAttrs{},
	}
}

// with returns the job's attributes and kvs, for a measurement.
func (a *jobAttrs) with(kvs ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append(kvs, a.def...)...)
}

func (a *jobAttrs) model(key string) *modelAttrs {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.usage[key]
	if m == nil {
		mk := attrModel.String(a.t.modelName(key))
		set := func(kvs ...attribute.KeyValue) metric.MeasurementOption {
			return metric.WithAttributeSet(attribute.NewSet(append(kvs, a.def...)...))
		}
		m = &modelAttrs{
			input:  set(mk, attrTokenType.String("input")),
			output: set(mk, attrTokenType.String("output")),
			cost:   set(mk),
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

// item records a saved item: its status, its duration (unless took is
// negative) and, when its judging failed, that failure. Instruments that
// keep nothing (those of a no-op provider) cost no more than the question.
func (t *telemetry) item(ctx context.Context, a *jobAttrs, it *Item, class string, took time.Duration) {
	failed := it.Error != ""
	if t.items.Enabled(ctx) {
		switch {
		case failed:
			t.items.Add(ctx, 1, a.with(attrItemStatus.String(itemStatusFailed), attrErrorType.String(class)))
		case it.Passed:
			t.items.Add(ctx, 1, a.passed)
		default:
			t.items.Add(ctx, 1, a.notPassed)
		}
	}
	if took >= 0 && t.itemDuration.Enabled(ctx) {
		opt := a.durationOK
		if failed {
			opt = a.durationKO
		}
		t.itemDuration.Record(ctx, took.Seconds(), opt)
	}
	if it.JudgeError != "" {
		t.judgeFailed.Add(ctx, 1, a.with(attrErrorType.String(class)))
	}
}

// runSpans are the run spans of one [Executor.work] call: a span per run
// it works on, the parent of the spans of the run's chunks. A run's span
// ends when the run completes or fails, when the executor claims a chunk
// of another run while it holds none of this one (other executors may be
// finishing it, or it was cancelled), or when the call returns.
type runSpans struct {
	t  *telemetry
	mu sync.Mutex
	m  map[jobKey]*runSpan
}

type runSpan struct {
	ctx    context.Context
	span   trace.Span
	active []attribute.KeyValue // of runs.active
	chunks int                  // the chunks of the run held
}

// start returns the context of c's run span, starting it if need be, and
// counts c's chunk as held.
func (r *runSpans) start(ctx context.Context, c Claim) context.Context {
	k := jobKey{c.Scope, c.RunID}
	r.mu.Lock()
	defer r.mu.Unlock()
	for other, rs := range r.m {
		if other != k && rs.chunks == 0 {
			delete(r.m, other)
			r.finish(rs, false, "")
		}
	}
	rs := r.m[k]
	if rs == nil {
		sctx, span := r.t.tracer.Start(ctx, spanRun, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
			attrRunID.String(c.RunID), attrDefinitionKey.String(c.DefinitionKey),
			attrTenant.String(c.Scope.Tenant), attrProject.String(c.Scope.Project)))
		rs = &runSpan{ctx: sctx, span: span, active: r.t.scopeAttrs(c.Scope, c.DefinitionKey)}
		r.m[k] = rs
		r.t.runsActive.Add(ctx, 1, metric.WithAttributes(rs.active...))
	}
	rs.chunks++
	return rs.ctx
}

// release counts a chunk of k as no longer held.
func (r *runSpans) release(k jobKey) {
	r.mu.Lock()
	if rs := r.m[k]; rs != nil && rs.chunks > 0 {
		rs.chunks--
	}
	r.mu.Unlock()
}

// end ends the run span of k, if there is one: completed says the run
// completed, failed why it was failed ("" when it was not).
func (r *runSpans) end(k jobKey, completed bool, failed string) {
	r.mu.Lock()
	rs := r.m[k]
	delete(r.m, k)
	r.mu.Unlock()
	if rs != nil {
		r.finish(rs, completed, failed)
	}
}

func (r *runSpans) finish(rs *runSpan, completed bool, failed string) {
	rs.span.SetAttributes(attrRunCompleted.Bool(completed))
	if failed != "" {
		rs.span.SetAttributes(attrRunFailed.Bool(true))
		rs.span.SetStatus(codes.Error, failed)
	}
	rs.span.End()
	r.t.runsActive.Add(context.Background(), -1, metric.WithAttributes(rs.active...))
}

// endAll ends the spans of the runs the call worked on and did not see
// end: other executors may finish them.
func (r *runSpans) endAll() {
	r.mu.Lock()
	m := r.m
	r.m = map[jobKey]*runSpan{}
	r.mu.Unlock()
	for _, rs := range m {
		r.finish(rs, false, "")
	}
}
