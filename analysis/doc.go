// Package analysis runs definitions over conversations: the Analysis API
// of debrief, embeddable in a host's own service.
//
// A [Definition] names a field set to extract, instructions, the modes of a
// run (store the fields on each conversation, compare them with reference
// fields, judge against a rubric), the models to use and an optional cron
// schedule. A [Conversation] is an ingested transcript with its reference
// fields and tags. A [Run] executes a definition over a [Selection] of
// conversations — all, a tag, a random sample, those never analysed by the
// definition, or explicit keys — and ends with one [Item] per conversation
// and an [Aggregate].
//
// Three pieces cooperate:
//
//   - The [Service] validates every request (each problem with its JSON
//     path), stores definitions and conversations, and creates runs: a run
//     is pending when StartRun returns, and a definition has at most one run
//     in progress.
//   - An [Executor] claims pending runs, analyses their conversations with
//     bounded concurrency, saves each item as it completes and finishes the
//     run. It holds a lease on the run and renews it; a run whose executor
//     died is taken over by another, which skips the finished items.
//   - A [Store] keeps it all: analysis/memstore in memory, or the host's own
//     database behind the interface, held to its contract by
//     analysis/storetest.
//
// Everything is scoped to a tenant and project ([Scope]): another scope's
// objects are not found. [Service.EvaluateRules] turns completed runs'
// aggregates into alert metrics and notifies a host [Notifier].
package analysis
