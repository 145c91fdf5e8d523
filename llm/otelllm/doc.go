// Package otelllm traces and measures model calls with OpenTelemetry,
// following the OpenTelemetry semantic conventions for generative AI
// (development status, as published in the open-telemetry/semantic-conventions-genai
// repository). It lives in its own package so that hosts who do not use
// OpenTelemetry do not link it.
//
// [Middleware] wraps every call in a span of kind Client named
// "chat {gen_ai.request.model}" and records the metrics
// gen_ai.client.operation.duration and gen_ai.client.token.usage, with the
// attributes gen_ai.operation.name ("chat"), gen_ai.provider.name,
// gen_ai.request.model, gen_ai.response.model, server.address, server.port
// and error.type. The span also carries the request's temperature,
// max_tokens and seed, gen_ai.output.type ("json"),
// gen_ai.response.finish_reasons, the token counts gen_ai.usage.input_tokens,
// gen_ai.usage.output_tokens and gen_ai.usage.cache_read.input_tokens, and
// two attributes of debrief's own: debrief.llm.cached (the response came
// from a cache, see [llm.WithCache]) and debrief.llm.retries.
//
// # Retries and waits
//
// The middleware installs an [llm.CallTrace] in the context it passes on,
// so that [llm.WithRetry], [llm.WithRateLimit] and [llm.WithConcurrencyLimit]
// placed inside it tell it what they did: each retry becomes a span event
// "retry" (debrief.llm.retry.attempt, debrief.llm.retry.delay in seconds,
// error.type) and adds one to the counter debrief.llm.retries
// (gen_ai.provider.name, gen_ai.request.model, error.type of the failed
// attempt); each wait becomes a span event "wait" (debrief.llm.wait.reason,
// debrief.llm.wait.duration in seconds) and a measurement of the histogram
// debrief.llm.wait.duration (gen_ai.provider.name, gen_ai.request.model,
// debrief.llm.wait.reason: "rate_limit" or "concurrency"). It sees them only
// when it is OUTSIDE those middlewares in the chain, as the conventions want
// anyway (one span per logical call, its retries included):
//
//	model := llm.Chain(provider,
//		otelllm.Middleware(otelllm.Config{}), // outermost: one span per call, retries and waits included
//		meter.Middleware(),
//		llm.WithCache(cache),
//		llm.WithRetry(llm.RetryOptions{}),
//		llm.WithConcurrencyLimit(8),
//		llm.WithRateLimit(limiter),
//	)
//
// A call answered from the cache is measured (its duration carries
// debrief.llm.cached=true) but spends no tokens, so no token usage is
// recorded for it.
//
// # Errors
//
// A failed call's span has status Error, described by [llm.SafeText] —
// never by what the provider wrote — and error.type, a low-cardinality class
// from [llm.ErrorType]: "timeout" (the context's deadline passed, or the
// connection timed out), "canceled", "rate_limited", "transient", "refused",
// "context_too_long", "output_truncated", "invalid_output",
// "invalid_request", else the provider's HTTP status ("401") when an
// [*llm.Error] carries one, else "_OTHER". The error's text is never
// recorded: no exception event is added.
//
// # Content
//
// Prompts and answers are not recorded unless [Config.RecordContent] is
// set. Then the system instructions, the messages and the answer pass
// through a [session.Redactor] (the [session.DefaultRedactor] unless another
// is given; JSON texts are redacted value by value, see
// [session.RedactText]) and are recorded on the span as
// gen_ai.system_instructions, gen_ai.input.messages and
// gen_ai.output.messages, JSON strings in the shape the conventions define
// (a role and parts of type "text"). When any redaction fails, none of the
// content is recorded and debrief.llm.content.withheld is set instead.
// Nothing of the content ever goes to metrics.
//
// # Providers
//
// The tracer and meter providers are the host's ([Config.TracerProvider],
// [Config.MeterProvider]); when none is given, the OpenTelemetry globals at
// the time Middleware is called, which do nothing until the host installs
// an SDK. With the providers of OpenTelemetry's no-op packages the
// middleware leaves the model as it is.
package otelllm
