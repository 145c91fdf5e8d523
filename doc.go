// Package debrief analyses finished customer conversations — chat, voice and
// IVR calls, AI-agent sessions — inside a Go service. It is a library, not a
// server: a host application imports the packages it needs, brings its own
// storage and its own language-model provider through small interfaces, and
// mounts the optional net/http handlers wherever it likes.
//
// This root package holds only this overview. The work is done by the
// packages below it, each usable on its own; imports only go down this list.
//
//   - llm: the contract with language models. A Model has one method, a
//     structured JSON completion. GenerateStructured validates an answer
//     against a JSON Schema, decodes it and repairs it when it is wrong;
//     StrictSchema derives a provider-ready schema from a Go type. Errors are
//     classified (rate limited, transient, refused, context too long,
//     truncated, invalid output), and middleware adds retries that honour
//     retry-after, rate and concurrency limits, a response cache and cost
//     accounting. llm/llmtest has the fakes every test uses: scripted and
//     recording models, a fault injector, a latency simulator.
//   - session: the canonical analysis input of a finished session (messages,
//     retrieval traces, citations, tool calls, handoffs, feedback, CSAT), its
//     outcome derived from status and termination reason, the reasons evidence
//     is missing, truncation and redaction, and converters from other
//     platforms' records and OpenAI-style agent logs. session/sessionhttp
//     serves it over HTTP.
//   - extract: typed field sets, the strict schema a model answers with, and
//     Extract, which pulls the fields out of a transcript and coerces them.
//   - judge: grading a conversation against a rubric, with evidence quotes
//     checked against the transcript and optional repeated samples.
//   - accuracy: comparing extracted fields with reference fields, per field
//     and per run, enum confusion matrices, and agreement statistics for
//     calibrating a judge against human labels.
//   - schedule: five-field cron expressions in UTC and the rule that fires
//     each slot at most once.
//   - timeline: the verdict of an ended flow from its event timeline: the
//     context, outcome and metrics computed in Go, the narrative and issues
//     written by a model whose evidence is checked against the real events.
//     timeline/timelinehttp serves it over HTTP.
//   - analysis: definitions, conversations and runs over selections of
//     conversations — an executor with bounded concurrency and leases that
//     survive a crashed process, aggregates, a scheduler that fires cron
//     slots once across replicas, alert rules — behind a Store interface
//     with an in-memory implementation and a conformance suite every
//     implementation must pass.
//
// A typical host wires a provider adapter into llm.Chain with the wrappers it
// wants, hands the resulting Model to extract, judge, timeline or analysis,
// and tests its own code against llmtest's fakes. The examples directory
// holds runnable programs to start from.
package debrief
