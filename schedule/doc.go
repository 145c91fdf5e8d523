// Package schedule evaluates five-field cron expressions, in UTC or on the
// wall clock of a time zone, and decides when a scheduled slot is due.
//
// [Parse] turns an expression such as "0 2 * * *" (02:00 UTC nightly) into a
// [*Cron], with the semantics of a crontab: names, ranges, lists and steps,
// 0 and 7 both Sunday, and day of month OR day of week when both are
// restricted. A rejected expression yields a [*ParseError] that names the
// field and says why, and matches [ErrInvalid]. A Cron finds the next slot
// after a time ([Cron.Next]) and the latest slot at or before one
// ([Cron.Latest]). Slots are whole minutes of the wall clock the fields are
// read on (in UTC, whole minutes of UTC; in a zone whose offset once had
// seconds, such as a local mean time before 1912, an instant with seconds);
// times in other locations are converted to UTC and their seconds ignored.
//
// # Time zones
//
// [Cron.In] reads an expression's fields on the wall clock of a zone, which
// [LoadLocation] finds by its IANA name ("Europe/Berlin"): "0 2 * * *" is
// then 02:00 Berlin time all year. Slots are still returned as instants in
// UTC. On the days the clocks change, a wall time that is skipped fires
// once, at the end of the gap (02:30 on the day Berlin springs from 02:00
// to 03:00 fires at 03:00), and one that is repeated fires once, the first
// time; [Cron.In] states the rules in full. The package embeds the time
// zone database (release [ZoneDataVersion]) and reads zones from it alone,
// so that every machine finds the same zones with the same rules.
//
// [Schedule] is the one-method interface (Next) the rest of the library
// depends on, so a host may plug in another schedule; [Latest] finds the
// latest slot of any Schedule.
//
// # Each slot fires at most once
//
// [Due] decides against the most recent run: at time now the candidate is
// the latest slot at or before now, and it is due iff no run was created at
// or after it. After downtime only the latest missed slot fires, once.
// [Late] lets a caller skip a slot that is too old to be worth running.
//
// The functions keep no state, so a scheduler loop may tick every few
// seconds on several replicas and restart at will: all it needs is the
// creation time of each definition's most recent run, from its store. Two
// replicas may both find a slot due on the same tick; the store settles it
// with an atomic claim that re-checks the rule — create the run only if no
// run of the definition was created at or after the slot (in one
// transaction, or with a unique key on the definition and the slot) — and
// the replica that loses the claim does nothing. One tick of such a loop:
//
//	now := clock.Now()
//	slot, due := schedule.Due(cron, now, lastRunCreatedAt)
//	if !due || schedule.Late(slot, now, maxLateness) {
//		return
//	}
//	created, err := store.CreateRunIfNoneSince(ctx, def, slot, now) // atomic
//
// The run's creation time must come from the same clock as now (or the slot
// must be stored with the run and compared too): a run stamped by a clock
// running behind could be "created" before the slot it served, which would
// then be due again.
//
// Time comes from a [Clock]: [SystemClock] in production, and the settable
// clock of package scheduletest in tests.
//
// This package is pure: no I/O (but for reading the system's time zone
// database), no goroutines, no wall clock outside SystemClock, and only the
// standard library.
package schedule
