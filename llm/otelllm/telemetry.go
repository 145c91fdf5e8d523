package otelllm

import (
	"slices"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/debrief-go/debrief/internal/seriescap"
	"github.com/debrief-go/debrief/session"
)

// The attributes, spelled as the GenAI semantic conventions spell them, and
// debrief's own.
const (
	keyOperation          = attribute.Key("gen_ai.operation.name")
	keyProvider           = attribute.Key("gen_ai.provider.name")
	keyRequestModel       = attribute.Key("gen_ai.request.model")
	keyTemperature        = attribute.Key("gen_ai.request.temperature")
	keyMaxTokens          = attribute.Key("gen_ai.request.max_tokens")
	keySeed               = attribute.Key("gen_ai.request.seed")
	keyOutputType         = attribute.Key("gen_ai.output.type")
	keyResponseModel      = attribute.Key("gen_ai.response.model")
	keyFinishReasons      = attribute.Key("gen_ai.response.finish_reasons")
	keyInputTokens        = attribute.Key("gen_ai.usage.input_tokens")
	keyOutputTokens       = attribute.Key("gen_ai.usage.output_tokens")
	keyCacheReadTokens    = attribute.Key("gen_ai.usage.cache_read.input_tokens")
	keyTokenType          = attribute.Key("gen_ai.token.type")
	keySystemInstructions = attribute.Key("gen_ai.system_instructions")
	keyInputMessages      = attribute.Key("gen_ai.input.messages")
	keyOutputMessages     = attribute.Key("gen_ai.output.messages")
	keyServerAddress      = attribute.Key("server.address")
	keyServerPort         = attribute.Key("server.port")
	keyErrorType          = attribute.Key("error.type")

	keyCached          = attribute.Key("debrief.llm.cached")
	keyRetries         = attribute.Key("debrief.llm.retries")
	keyRetryAttempt    = attribute.Key("debrief.llm.retry.attempt")
	keyRetryDelay      = attribute.Key("debrief.llm.retry.delay")
	keyWaitReason      = attribute.Key("debrief.llm.wait.reason")
	keyWaitDuration    = attribute.Key("debrief.llm.wait.duration")
	keyContentWithheld = attribute.Key("debrief.llm.content.withheld")
)

// operationChat is the gen_ai.operation.name of every call: a chat
// completion.
const operationChat = "chat"

// The advisory bucket boundaries the conventions give for the duration and
// the token histograms.
var (
	durationBounds = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	tokenBounds    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
)

// telemetry is what the models wrapped by one middleware share: the
// instruments and the attribute sets computed once per model key and
// outcome.
type telemetry struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	tokens   metric.Int64Histogram
	retries  metric.Int64Counter
	waits    metric.Float64Histogram

	provider      string
	server        []attribute.KeyValue // server.address and server.port, when set
	recordContent bool
	redactor      session.Redactor

	models *seriescap.Set[string] // the model keys metrics name

	shapes    cache[string, *shape]
	outcomes  cache[outcomeKey, *outcome]
	retryOpts cache[classKey, []metric.AddOption]
	waitOpts  cache[classKey, []metric.RecordOption]
}

func newTelemetry(cfg Config, tp trace.TracerProvider, mp metric.MeterProvider) *telemetry {
	t := &telemetry{
		tracer:        tp.Tracer(ScopeName),
		provider:      cfg.ProviderName,
		recordContent: cfg.RecordContent,
		redactor:      cfg.Redactor,
		models:        seriescap.New[string](MaxMetricModels),
	}
	if t.provider == "" {
		t.provider = DefaultProviderName
	}
	if t.recordContent && t.redactor == nil {
		t.redactor = session.DefaultRedactor()
	}
	if cfg.ServerAddress != "" {
		t.server = append(t.server, keyServerAddress.String(cfg.ServerAddress))
		if cfg.ServerPort > 0 {
			t.server = append(t.server, keyServerPort.Int(cfg.ServerPort))
		}
	}

	meter := mp.Meter(ScopeName)
	var err error
	t.duration, err = meter.Float64Histogram("gen_ai.client.operation.duration",
		metric.WithDescription("GenAI operation duration."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	handle(err)
	t.tokens, err = meter.Int64Histogram("gen_ai.client.token.usage",
		metric.WithDescription("Number of input and output tokens used."),
		metric.WithUnit("{token}"),
		metric.WithExplicitBucketBoundaries(tokenBounds...))
	handle(err)
	t.retries, err = meter.Int64Counter("debrief.llm.retries",
		metric.WithDescription("Attempts of model calls that failed and were made again."),
		metric.WithUnit("{retry}"))
	handle(err)
	t.waits, err = meter.Float64Histogram("debrief.llm.wait.duration",
		metric.WithDescription("Time model calls waited for a rate-limit token or a concurrency slot."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	handle(err)

	t.shapes.build = t.shape
	t.outcomes.build = t.outcome
	t.retryOpts.build = func(k classKey) []metric.AddOption {
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			keyProvider.String(t.provider), keyRequestModel.String(k.model), keyErrorType.String(k.class)))}
	}
	t.waitOpts.build = func(k classKey) []metric.RecordOption {
		return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			keyProvider.String(t.provider), keyRequestModel.String(k.model), keyWaitReason.String(k.class)))}
	}
	return t
}

// handle reports an error of instrument creation to OpenTelemetry's error
// handler; the instrument returned along with it still works, recording
// nothing or what it can.
func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// shape is what the spans of one model key start with.
type shape struct {
	name  string
	start []trace.SpanStartOption
}

func (t *telemetry) shape(model string) *shape {
	attrs := []attribute.KeyValue{keyOperation.String(operationChat), keyProvider.String(t.provider)}
	name := operationChat
	if model != "" {
		attrs = append(attrs, keyRequestModel.String(model))
		name += " " + model
	}
	attrs = append(attrs, keyOutputType.String("json"))
	attrs = append(attrs, t.server...)
	return &shape{name: name, start: []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrs...),
	}}
}

// outcomeKey is what the metric attributes of a call depend on.
type outcomeKey struct {
	requestModel, responseModel, errorType string
	cached                                 bool
}

// outcome holds the measurement options of one outcomeKey.
type outcome struct {
	duration, input, output []metric.RecordOption
}

func (t *telemetry) outcome(k outcomeKey) *outcome {
	attrs := []attribute.KeyValue{keyOperation.String(operationChat), keyProvider.String(t.provider)}
	if k.requestModel != "" {
		attrs = append(attrs, keyRequestModel.String(k.requestModel))
	}
	if k.responseModel != "" {
		attrs = append(attrs, keyResponseModel.String(k.responseModel))
	}
	attrs = append(attrs, t.server...)
	with := func(extra ...attribute.KeyValue) []metric.RecordOption {
		return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(slices.Concat(attrs, extra)...))}
	}
	var extra []attribute.KeyValue
	if k.errorType != "" {
		extra = append(extra, keyErrorType.String(k.errorType))
	}
	if k.cached {
		extra = append(extra, keyCached.Bool(true))
	}
	return &outcome{
		duration: with(extra...),
		input:    with(keyTokenType.String("input")),
		output:   with(keyTokenType.String("output")),
	}
}

// classKey is a model key and a class: of error, or of wait.
type classKey struct{ model, class string }

// maxCached bounds each cache, so that a host sending unbounded model keys
// does not grow memory without end; past it, sets are computed per call.
const maxCached = 1024

// cache remembers what build computes for each key, up to maxCached keys.
type cache[K comparable, V any] struct {
	build func(K) V

	mu sync.RWMutex
	m  map[K]V
}

func (c *cache[K, V]) get(k K) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = c.build(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		return old
	}
	if c.m == nil {
		c.m = make(map[K]V)
	}
	if len(c.m) < maxCached {
		c.m[k] = v
	}
	return v
}

// MaxMetricModels bounds the model keys the metrics of one middleware name:
// the first MaxMetricModels keys it meets are recorded under their names,
// any further one as [MetricOverflow] (and its response model too), so
// that requests naming arbitrary models cannot grow the number of series
// without bound. Spans always carry the key.
const MaxMetricModels = 100

// MetricOverflow stands for the model keys beyond [MaxMetricModels] in
// metrics' attributes.
const MetricOverflow = seriescap.Overflow

// metricModel returns the name metrics give the model key.
func (t *telemetry) metricModel(key string) string { return seriescap.Name(t.models, key) }
