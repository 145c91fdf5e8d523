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
package timeline
