package otelllm

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/session"
)

// ScopeName is the instrumentation scope of the tracer and the meter the
// middleware uses.
const ScopeName = "github.com/debrief-go/debrief/llm/otelllm"

// DefaultProviderName is the gen_ai.provider.name recorded when
// [Config.ProviderName] is empty.
const DefaultProviderName = "openai"

// Config configures [Middleware]. The zero value is usable: it traces and
// measures with the OpenTelemetry globals and records no content.
type Config struct {
	// TracerProvider creates the tracer. Default: otel.GetTracerProvider()
	// at the time Middleware is called, which does nothing until the host
	// installs an SDK.
	TracerProvider trace.TracerProvider
	// MeterProvider creates the meter. Default: otel.GetMeterProvider() at
	// the time Middleware is called.
	MeterProvider metric.MeterProvider
	// ProviderName is recorded as gen_ai.provider.name. Set it to the
	// well-known value of the provider behind the model, as the conventions
	// list them ("openai", "azure.ai.openai", "anthropic", "aws.bedrock",
	// "gcp.vertex_ai", ...), or to a name of your own for one they do not
	// list. Default [DefaultProviderName].
	ProviderName string
	// ServerAddress is recorded as server.address: the host name or address
	// of the provider's endpoint. Empty records none.
	ServerAddress string
	// ServerPort is recorded as server.port when ServerAddress is set and
	// the port is positive.
	ServerPort int
	// RecordContent records the system instructions, the messages and the
	// answer on the span, after redaction. Prompts and answers may hold
	// personal data: leave it off unless the trace backend may keep them.
	RecordContent bool
	// Redactor redacts the content before it is recorded. Default, when
	// RecordContent is set: [session.DefaultRedactor].
	Redactor session.Redactor
}

// Middleware returns an [llm.Middleware] that wraps every call in a span and
// records the GenAI client metrics (see the package documentation). Place it
// outside [llm.WithRetry], [llm.WithRateLimit] and [llm.WithConcurrencyLimit]
// to see their retries and waits. The returned middleware and the models it
// wraps are safe for concurrent use.
func Middleware(cfg Config) llm.Middleware {
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if isNoop(tp, mp) {
		return func(next llm.Model) llm.Model { return next }
	}
	t := newTelemetry(cfg, tp, mp)
	return func(next llm.Model) llm.Model { return &model{next: next, t: t} }
}

// isNoop reports whether both providers are OpenTelemetry's no-op ones, so
// that nothing the middleware did would be seen.
func isNoop(tp trace.TracerProvider, mp metric.MeterProvider) bool {
	_, noTraces := tp.(tracenoop.TracerProvider)
	_, noMetrics := mp.(metricnoop.MeterProvider)
	return noTraces && noMetrics
}

// model is a model wrapped by the middleware.
type model struct {
	next llm.Model
	t    *telemetry
}

// Generate traces and measures one call to the wrapped model.
func (m *model) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	t := m.t
	sh := t.shapes.get(req.Model)
	ctx, span := t.tracer.Start(ctx, sh.name, sh.start...)
	defer span.End() // also when the model panics
	recording := span.IsRecording()

	// The call's trace costs allocations: it is installed only when someone
	// would see what it is told.
	next := ctx
	var c *call
	if recording || t.retries.Enabled(ctx) || t.waits.Enabled(ctx) {
		c = &call{t: t, ctx: ctx, span: span, recording: recording}
		c.trace = llm.CallTrace{Retry: c.retry, Wait: c.wait}
		next = llm.WithCallTrace(ctx, &c.trace)
	}
	var in inputContent
	if recording && t.recordContent {
		in = t.redactInput(ctx, req)
	}

	start := time.Now() // the duration is the wrapped call's, without the redaction
	resp, err := m.next.Generate(next, req)

	elapsed := time.Since(start).Seconds()
	errType := llm.ErrorType(err)
	requestModel, responseModel := t.metricModel(req.Model), resp.Model
	if requestModel == MetricOverflow {
		responseModel = MetricOverflow
	}
	oc := t.outcomes.get(outcomeKey{requestModel: requestModel, responseModel: responseModel, errorType: errType, cached: resp.Cached})
	t.duration.Record(ctx, elapsed, oc.duration...)
	if !resp.Cached && !resp.Usage.IsZero() {
		t.tokens.Record(ctx, resp.Usage.InputTokens, oc.input...)
		t.tokens.Record(ctx, resp.Usage.OutputTokens, oc.output...)
	}
	if recording {
		c.finish(req, resp, err, errType, in)
	}
	return resp, err
}

// call is the state of one call, told its retries and waits through the
// [llm.CallTrace] it holds. Its functions are called from the goroutine of
// the call, one at a time, before the call returns.
type call struct {
	t         *telemetry
	ctx       context.Context
	span      trace.Span
	recording bool
	retries   int
	trace     llm.CallTrace
}

// retry counts a retry of the call and adds it to the span as an event.
func (c *call) retry(e llm.RetryEvent) {
	c.retries++
	errType := llm.ErrorType(e.Err)
	c.t.retries.Add(c.ctx, 1, c.t.retryOpts.get(classKey{model: c.t.metricModel(e.Model), class: errType})...)
	if c.recording {
		c.span.AddEvent("retry", trace.WithAttributes(
			keyRetryAttempt.Int(e.Attempt),
			keyRetryDelay.Float64(e.Delay.Seconds()),
			keyErrorType.String(errType),
		))
	}
}

// wait measures a wait of the call and adds it to the span as an event.
func (c *call) wait(e llm.WaitEvent) {
	seconds := e.Duration.Seconds()
	c.t.waits.Record(c.ctx, seconds, c.t.waitOpts.get(classKey{model: c.t.metricModel(e.Model), class: string(e.Reason)})...)
	if c.recording {
		c.span.AddEvent("wait", trace.WithAttributes(
			keyWaitReason.String(string(e.Reason)),
			keyWaitDuration.Float64(seconds),
		))
	}
}

// finish sets the attributes known once the call has returned, and the
// status of a failed call.
func (c *call) finish(req llm.Request, resp llm.Response, err error, errType string, in inputContent) {
	attrs := make([]attribute.KeyValue, 0, 16)
	if req.Temperature != nil {
		attrs = append(attrs, keyTemperature.Float64(*req.Temperature))
	}
	if req.MaxOutputTokens > 0 {
		attrs = append(attrs, keyMaxTokens.Int(req.MaxOutputTokens))
	}
	if req.Seed != nil {
		attrs = append(attrs, keySeed.Int64(*req.Seed))
	}
	if resp.Model != "" {
		attrs = append(attrs, keyResponseModel.String(resp.Model))
	}
	attrs = append(attrs, keyFinishReasons.StringSlice([]string{finishReason(resp, err)}))
	if !resp.Usage.IsZero() {
		attrs = append(attrs,
			keyInputTokens.Int64(resp.Usage.InputTokens),
			keyOutputTokens.Int64(resp.Usage.OutputTokens))
		if resp.Usage.CachedInputTokens > 0 {
			attrs = append(attrs, keyCacheReadTokens.Int64(resp.Usage.CachedInputTokens))
		}
	}
	attrs = append(attrs, keyCached.Bool(resp.Cached), keyRetries.Int(c.retries))
	if err != nil {
		attrs = append(attrs, keyErrorType.String(errType))
		c.span.SetStatus(codes.Error, llm.SafeText(err))
	}
	if c.t.recordContent {
		attrs = c.t.appendContent(c.ctx, attrs, in, resp, err)
	}
	c.span.SetAttributes(attrs...)
}

// finishReason returns the reason the model stopped: the response's, "stop"
// for a completed answer that gave none, and "error" for a failed call that
// gave none, as the conventions ask.
func finishReason(resp llm.Response, err error) string {
	switch {
	case resp.FinishReason != "":
		return string(resp.FinishReason)
	case err != nil:
		return "error"
	}
	return string(llm.FinishStop)
}
