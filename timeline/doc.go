// Package timeline computes the verdict of an ended flow — a call, a chat
// conversation, an AI-agent session — from its timeline of events.
//
// Hosts describe a flow with a [Flow] header (its reference type, owner,
// whether it has ended, and the referenced record they resolved: call legs,
// a conversation thread, an AI session, or the origin of a transcribe or
// recording) and its events ([Event]), mapped from their own logs (the
// JSON form is [EventSchema]; [ParseEvents] reads it). A [Source] gives
// both by customer and flow id.
//
// The verdict ([Verdict], version 3) has two kinds of parts:
//
//   - Deterministic blocks, computed in Go and never by a model:
//     session_context ([ComputeSessionContext]), outcome ([ComputeOutcome],
//     with [CallResult] mapping hang-up reasons), metrics
//     ([ComputeMetrics]) and resources_used ([ComputeResourcesUsed]).
//     [Prepare] computes them all in one pass, removes duplicated events
//     and reduces a very large flow to the events a model can read (error
//     and hang-up events always kept, the others up to a byte budget and
//     an event cap), freezing the list that evidence indexes point into.
//   - Model-written parts: overall_status, interactions, narrative and
//     issues with evidence. An [Analyzer] asks for them through
//     [llm.GenerateStructured] with strict schemas — in one call for a small
//     flow, in three stages (inventory, content, diagnosis) for a large one
//     — handing the deterministic blocks over as read-only facts and the
//     events as a JSON data block after the instructions. It then checks
//     the answer against the frozen events: bad evidence is dropped and
//     counted, and each evidence's event type, timestamp and resource id
//     are copied from the real event.
//
// A [Service] runs the lifecycle of [Analysis] records in a [Store]
// ([MemoryStore] is the in-memory one; package timeline/storetest checks
// any other): a create on an ended flow returns a progressing record at
// once and analyses it in the background, with bounded concurrency and a
// time limit; at most one analysis per flow is in flight; re-analysis is
// on request, after a cooldown; a failure is stored with a fixed,
// operator-safe message ([FailureMessage]). Package timeline/timelinehttp
// serves it over HTTP as /timeline-analyses.
//
// # Tracing and metrics
//
// A Service traces and measures its analyses with OpenTelemetry, through
// the tracer and meter providers of its [Config] (nil means the global
// ones, no-ops unless the host set them), under the instrumentation scope
// "github.com/debrief-go/debrief/timeline". Each analysis has a span
// "timeline.analysis", from the moment it starts running until its end is
// stored: a root linked to the span of the Create that started it, with
// the attributes debrief.timeline.analysis_id, debrief.timeline.activeflow_id
// and, at the end, debrief.timeline.status, debrief.timeline.events.total,
// debrief.timeline.events.analysed, debrief.timeline.model_calls,
// gen_ai.usage.input_tokens and gen_ai.usage.output_tokens (the counts
// only if the pipeline returned before the end was stored, which a time
// limit may prevent). A failed analysis's span has the status Error with
// the operator-safe message of [FailureMessage] and an error.type naming
// it: the name of its constant in snake case without the prefix Fail
// ([FailRateLimited] is rate_limited, [FailModelTimeout] model_timeout),
// _OTHER for a message this package does not know. Nothing a provider or
// the Source wrote is recorded. Its steps are child
// spans — "timeline.events" (the Source's Events), "timeline.prepare"
// ([Prepare]) and "timeline.model" (the model-written parts) — and the
// model calls are made with the context of "timeline.model", so that a
// traced model's spans are its children.
//
// The metrics are debrief.timeline.analyses ({analysis}, the analyses
// ended, by debrief.timeline.status and, when failed, error.type; the
// queued ones a Close abandons included), debrief.timeline.analysis.duration
// (s, from the start of a run until its end was stored, by status),
// debrief.timeline.analyses.running and debrief.timeline.analyses.queued
// ({analysis}, up-down counters) and debrief.timeline.tokens ({token}, the
// model's tokens, by gen_ai.token.type input or output). No id is a metric
// attribute.
package timeline
