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
//   - An [Executor] claims chunks of runs in progress — about fifty
//     conversations each ([Config.ChunkSize]) — analyses their
//     conversations with bounded concurrency and saves each item as it
//     completes. It holds a lease on each chunk and renews it; a chunk whose
//     executor died is claimed again once its lease lapses, and its
//     finished items are not redone. Any number of executors, in one
//     process or many, work on one run at once; the run completes when its
//     last chunk does.
//   - A [Store] keeps it all: analysis/memstore in memory, or the host's own
//     database behind the interface, held to its contract by
//     analysis/storetest. A run's keys, items and aggregate live in the
//     store: nothing in a process grows with the size of a run. Items are
//     read in pages ([Service.ListRunItems]); [Service.GetRun] returns a
//     run with its items up to a bound.
//
// Everything is scoped to a tenant and project ([Scope]): another scope's
// objects are not found. [Service.EvaluateRules] turns completed runs'
// aggregates into alert metrics and notifies a host [Notifier].
//
// # Implementing a Store
//
// A host that keeps its data in its own database implements [Store]; the
// rules each method follows are in the doc comments of [Store],
// [DefinitionStore], [ConversationStore] and [RunStore], and
// analysis/storetest checks every one of them:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Harness {
//			s := newStore(t) // fresh and empty
//			return storetest.Harness{Store: s, Advance: s.advanceClock}
//		})
//	}
//
// What a store must get right, in short:
//
//   - Scopes: another scope's object is not found, never changed.
//   - Atomic steps: every exactly-once rule is one atomic step of the store
//     (a transaction, a unique constraint): one run in progress per
//     definition, one run per schedule slot, one item per conversation and
//     run, a run created only while its definition exists at the version
//     the run names, a definition updated only from the version the caller
//     read (compare-and-swap on [Definition.Version]).
//   - Selections are resolved by the store when it creates a run
//     ([KeySelection]): keys never travel through the caller. A random
//     sample keeps the keys of lowest [SampleRank].
//   - Chunks and leases: a chunk is claimed with a lease judged by the
//     store's own clock and a fresh fencing token ([ChunkRef.Token]); a
//     write whose token is not the chunk's latest, or whose lease expired,
//     fails with [ErrLeaseLost] and changes nothing. On PostgreSQL: claim
//     with SELECT … FOR UPDATE SKIP LOCKED, compare expiry with now().
//   - Counters: saving an item adds its [ItemCounters] to the run's
//     [Counters] (less those of the item it replaces) in the same
//     transaction, so that the aggregate always equals what the items say.
//   - Pages: items in first-save order and keys in key order, read with
//     opaque cursors that skip and repeat nothing while items are saved.
package analysis
