package timeline

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationScope names the tracer and the meter of this package.
const instrumentationScope = "github.com/debrief-go/debrief/timeline"

// The spans of a [Service].
const (
	// spanAnalysis covers one analysis, from the moment it starts running
	// until its end is stored.
	spanAnalysis = "timeline.analysis"
	// spanEvents covers the Source's Events call.
	spanEvents = "timeline.events"
	// spanPrepare covers Prepare.
	spanPrepare = "timeline.prepare"
	// spanModel covers the model-written parts: every model call of the
	// analysis is a child of it.
	spanModel = "timeline.model"
)

// The metrics of a [Service].
const (
	metricAnalyses = "debrief.timeline.analyses"
	metricDuration = "debrief.timeline.analysis.duration"
	metricRunning  = "debrief.timeline.analyses.running"
	metricQueued   = "debrief.timeline.analyses.queued"
	metricTokens   = "debrief.timeline.tokens"
)

// The attributes of the spans and metrics. Ids are span attributes only: as
// metric attributes they would make a series per analysis.
const (
	attrAnalysisID     = attribute.Key("debrief.timeline.analysis_id")
	attrActiveflowID   = attribute.Key("debrief.timeline.activeflow_id")
	attrStatus         = attribute.Key("debrief.timeline.status")
	attrEventsTotal    = attribute.Key("debrief.timeline.events.total")
	attrEventsAnalysed = attribute.Key("debrief.timeline.events.analysed")
	attrModelCalls     = attribute.Key("debrief.timeline.model_calls")
	attrStaged         = attribute.Key("debrief.timeline.staged")
	attrInputTokens    = attribute.Key("gen_ai.usage.input_tokens")
	attrOutputTokens   = attribute.Key("gen_ai.usage.output_tokens")
	attrTokenType      = attribute.Key("gen_ai.token.type")
	attrErrorType      = attribute.Key("error.type")
)

// errorTypeOther is the error.type of a failure message this package does
// not know, as the semantic conventions name it.
const errorTypeOther = "_OTHER"

// failureCodes maps each operator-safe failure message to the short code
// that is its error.type: the constant's name in snake case.
var failureCodes = map[string]string{
	FailRateLimited:    "rate_limited",
	FailTransient:      "transient",
	FailModelTimeout:   "model_timeout",
	FailModel:          "model",
	FailRefused:        "refused",
	FailContextTooLong: "context_too_long",
	FailTruncated:      "truncated",
	FailInvalidOutput:  "invalid_output",
	FailTimeout:        "timeout",
	FailInterrupted:    "interrupted",
	FailLoadEvents:     "load_events",
	FailInvalidFlow:    "invalid_flow",
	FailInvalidEvents:  "invalid_events",
	FailNotEnded:       "not_ended",
	FailInternal:       "internal",
}

// failureCode returns the error.type of the failure message msg.
func failureCode(msg string) string {
	if code, ok := failureCodes[msg]; ok {
		return code
	}
	return errorTypeOther
}

// The attribute sets of the measurements, computed once so that a
// measurement allocates nothing.
var (
	addCompleted   = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrStatus.String(string(StatusCompleted))))}
	addFailedOther = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		attrStatus.String(string(StatusFailed)), attrErrorType.String(errorTypeOther)))}
	// addFailed holds the options of a failed analysis by failure message.
	addFailed    = failedOptions()
	recCompleted = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrStatus.String(string(StatusCompleted))))}
	recFailed    = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrStatus.String(string(StatusFailed))))}
	addInput     = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrTokenType.String("input")))}
	addOutput    = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrTokenType.String("output")))}
)

func failedOptions() map[string][]metric.AddOption {
	m := make(map[string][]metric.AddOption, len(failureCodes))
	for msg, code := range failureCodes {
		m[msg] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attrStatus.String(string(StatusFailed)), attrErrorType.String(code)))}
	}
	return m
}

// durationBuckets are the bounds of the duration histogram, in seconds: an
// analysis takes from about a second to the default time limit of five
// minutes, or more.
var durationBuckets = []float64{0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}

// telemetry holds a service's tracer and instruments.
type telemetry struct {
	tracer   trace.Tracer
	analyses metric.Int64Counter
	duration metric.Float64Histogram
	running  metric.Int64UpDownCounter
	queued   metric.Int64UpDownCounter
	tokens   metric.Int64Counter
}

// newTelemetry makes the tracer and the instruments of a service: nil
// providers mean the OpenTelemetry global ones. An instrument the meter
// provider fails to make is replaced by a no-op one, and the error handed to
// [otel.Handle].
func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) *telemetry {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(instrumentationScope)
	noop := metricnoop.Meter{}
	t := &telemetry{tracer: tp.Tracer(instrumentationScope)}
	var errs []error
	var err error
	if t.analyses, err = meter.Int64Counter(metricAnalyses, metric.WithUnit("{analysis}"),
		metric.WithDescription("Analyses ended, by status, and by error.type when failed.")); err != nil {
		errs = append(errs, err)
		t.analyses, _ = noop.Int64Counter(metricAnalyses)
	}
	if t.duration, err = meter.Float64Histogram(metricDuration, metric.WithUnit("s"),
		metric.WithDescription("How long analyses ran, from their start until their end was stored, by status."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		errs = append(errs, err)
		t.duration, _ = noop.Float64Histogram(metricDuration)
	}
	if t.running, err = meter.Int64UpDownCounter(metricRunning, metric.WithUnit("{analysis}"),
		metric.WithDescription("Analyses running, each holding one of the service's concurrent slots.")); err != nil {
		errs = append(errs, err)
		t.running, _ = noop.Int64UpDownCounter(metricRunning)
	}
	if t.queued, err = meter.Int64UpDownCounter(metricQueued, metric.WithUnit("{analysis}"),
		metric.WithDescription("Analyses waiting for a slot.")); err != nil {
		errs = append(errs, err)
		t.queued, _ = noop.Int64UpDownCounter(metricQueued)
	}
	if t.tokens, err = meter.Int64Counter(metricTokens, metric.WithUnit("{token}"),
		metric.WithDescription("Model tokens spent by analyses, by gen_ai.token.type.")); err != nil {
		errs = append(errs, err)
		t.tokens, _ = noop.Int64Counter(metricTokens)
	}
	if len(errs) > 0 {
		otel.Handle(errors.Join(errs...))
	}
	// The gauges are reported from the start, at 0.
	t.running.Add(context.Background(), 0)
	t.queued.Add(context.Background(), 0)
	return t
}

// startAnalysis starts the span of the analysis of j, a root linked to the
// span that created it, if any.
func (t *telemetry) startAnalysis(ctx context.Context, j job) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{internal[0],
		trace.WithAttributes(attrAnalysisID.String(j.a.ID), attrActiveflowID.String(j.a.ActiveflowID))}
	if j.creator.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: j.creator}))
	}
	return t.tracer.Start(ctx, spanAnalysis, opts...)
}

// internal is the option of the spans of the steps, made once.
var internal = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}

// start starts the span of a step of an analysis, a child of ctx's.
func (t *telemetry) start(ctx context.Context, name string) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, name, internal...)
}

// fail marks span failed with the operator-safe message of err, ctx being
// the analysis's context, and its code. What err says is never recorded:
// it may hold what a provider wrote.
func fail(ctx context.Context, span trace.Span, err error) {
	if err == nil || !span.IsRecording() {
		return
	}
	msg := FailureMessage(ctx, err)
	span.SetAttributes(attrErrorType.String(failureCode(msg)))
	span.SetStatus(codes.Error, msg)
}

// ended records the end of the analysis a, which has been stored, on its
// span, which it ends, and in the metrics. returned reports that the
// pipeline returned rep before the end was stored; if not, the span does
// not count the work, which is not known yet.
func (t *telemetry) ended(ctx context.Context, span trace.Span, ran time.Duration, a Analysis, rep Report, returned bool) {
	if span.IsRecording() {
		span.SetAttributes(attrStatus.String(string(a.Status)))
		if returned {
			span.SetAttributes(
				attrEventsTotal.Int(rep.TotalEvents), attrEventsAnalysed.Int(rep.AnalysedEvents),
				attrModelCalls.Int(rep.Calls),
				attrInputTokens.Int64(rep.Usage.InputTokens), attrOutputTokens.Int64(rep.Usage.OutputTokens))
		}
		if a.Status == StatusFailed {
			span.SetAttributes(attrErrorType.String(failureCode(a.Error)))
			span.SetStatus(codes.Error, a.Error)
		}
	}
	span.End()
	t.count(ctx, a)
	rec := recCompleted
	if a.Status == StatusFailed {
		rec = recFailed
	}
	t.duration.Record(ctx, ran.Seconds(), rec...)
}

// count counts the end of the analysis a.
func (t *telemetry) count(ctx context.Context, a Analysis) {
	opts := addCompleted
	if a.Status == StatusFailed {
		var ok bool
		if opts, ok = addFailed[a.Error]; !ok {
			opts = addFailedOther
		}
	}
	t.analyses.Add(ctx, 1, opts...)
}

// spent counts the tokens rep spent.
func (t *telemetry) spent(ctx context.Context, rep Report) {
	if n := rep.Usage.InputTokens; n > 0 {
		t.tokens.Add(ctx, n, addInput...)
	}
	if n := rep.Usage.OutputTokens; n > 0 {
		t.tokens.Add(ctx, n, addOutput...)
	}
}
