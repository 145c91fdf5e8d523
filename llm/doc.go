// Package llm is debrief's contract with language models.
//
// A [Model] has one method: given a [Request] — system instructions, a
// conversation, the JSON Schema the answer must satisfy — it returns a
// [Response] holding the answer's JSON text and the tokens spent. Hosts
// adapt their provider to it; [ModelFunc] turns a function into one.
//
// Everything else in debrief calls models through [GenerateStructured],
// which validates the answer against a compiled [Schema], decodes it into a
// Go value, and repairs an invalid answer by showing the model its own
// mistakes. [StrictSchema] and [SchemaFor] derive a schema from a Go type in
// the strict subset structured-output providers accept; [CheckStrict] tells
// whether a hand-written schema is in it.
//
// Failures are classified: [ErrRateLimited] (with a retry-after, see
// [RetryAfter]), [ErrTransient], [ErrRefused], [ErrContextTooLong],
// [ErrOutputTruncated] and [ErrInvalidOutput], checked with [errors.Is];
// [Retryable] says which are worth another try, and [ErrorFromHTTP] helps
// adapters classify their provider's answers.
//
// Middleware composes around any model with [Chain]: [WithRetry] (backoff
// with jitter that honours retry-after), [WithRateLimit],
// [WithConcurrencyLimit], [WithCache] (never storing a failure; [LRUCache] is
// the in-memory [Cache]) and a [Meter] that sums tokens per model and prices
// them from a [PriceTable].
//
// A [Router] sends each request to the model its model key routes to
// (exact keys, prefixes, a default), so that extraction and judging can use
// different providers.
//
// Package llmtest holds fakes for tests: scripted and recording models, a
// fault injector and a latency simulator.
package llm
