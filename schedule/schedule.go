package schedule

import "time"

// A Schedule yields the slots at which something should run.
//
// Next returns the first slot strictly after t, or the zero time when there
// is none. Successive calls must agree: Next(t) > t, and no slot lies in
// (t, Next(t)). [*Cron] is this package's implementation; a host may plug in
// its own.
type Schedule interface {
	Next(t time.Time) time.Time
}

// A LatestScheduler is a [Schedule] that can also find its latest slot at or
// before a time directly, returning the zero time when there is none.
// [Latest] and [Due] use that method instead of searching with Next.
// [*Cron] is one.
type LatestScheduler interface {
	Schedule
	Latest(t time.Time) time.Time
}

// LatestHorizon is how far back [Latest] searches a [Schedule] that is not a
// [LatestScheduler]: about ten years, longer than the longest gap of any
// calendar schedule that fires at least once in a leap cycle (a February
// 29th schedule waits eight years across 2100). Slots older than this are
// not found; a slot exactly LatestHorizon before t is.
const LatestHorizon = 10 * 366 * 24 * time.Hour

// Latest returns the latest slot of s at or before t, and whether there is
// one.
//
// When s is a [LatestScheduler] (a [*Cron] is), Latest returns its answer,
// exact and with no horizon. Otherwise it searches with s.Next alone: it
// looks back over windows of one minute, two, four, ... up to
// [LatestHorizon] until one holds a slot, then bisects that window. That
// costs about log2(gap/1min) calls to s.Next to find the window, where gap
// is how far back the latest slot lies, and a bisection that usually ends as
// soon as the window is narrower than the spacing of the slots; never more
// than 150 calls in all. When no slot lies within LatestHorizon before t,
// Latest returns the zero time and false.
func Latest(s Schedule, t time.Time) (time.Time, bool) {
	if l, ok := s.(LatestScheduler); ok {
		slot := l.Latest(t)
		return slot, !slot.IsZero()
	}
	// in reports whether x is a slot in (after, t].
	in := func(x, after time.Time) bool { return !x.IsZero() && x.After(after) && !x.After(t) }

	// Find a window (lo, t] that holds a slot; no slot lies in (hi, t].
	lo, hi := t, t
	for w := time.Minute; ; w *= 2 {
		w = min(w, LatestHorizon)
		lo = t.Add(-w)
		if w == LatestHorizon {
			lo = lo.Add(-time.Nanosecond) // a slot exactly LatestHorizon back counts
		}
		x := s.Next(lo)
		if in(x, lo) {
			if !in(s.Next(x), x) {
				return x, true // x is the only slot in the window
			}
			break
		}
		if w == LatestHorizon {
			return time.Time{}, false
		}
		hi = lo
	}
	// Bisect: the latest slot lies in (lo, hi].
	for hi.Sub(lo) > time.Nanosecond {
		mid := lo.Add(hi.Sub(lo) / 2)
		x := s.Next(mid)
		if !in(x, mid) {
			hi = mid
			continue
		}
		if !in(s.Next(x), x) {
			return x, true
		}
		lo = mid
	}
	if x := s.Next(lo); in(x, lo) {
		return x, true
	}
	return time.Time{}, false // s.Next broke its contract
}

// Due applies the rule that each slot fires at most once, decided against
// the most recent run.
//
// At time now, the candidate slot is the latest slot of s at or before now
// (see [Latest]: exact for a [*Cron], within [LatestHorizon] for a host's
// Schedule). It is due iff there is such a slot and lastRun — the time
// the most recent run was created, the zero time if there has been none — is
// strictly before it: a run created at or after the slot, scheduled or on
// demand, has already served it. After downtime only the latest missed slot
// is due, once; the slots missed before it are never backfilled.
//
// Due returns the candidate slot even when it is not due, and the zero time
// when s has no slot at or before now. Pass slot to [Late] to skip a slot
// that is too old to be worth running.
//
// With no run yet, the latest slot is due at once: a schedule enabled at
// 10:00 with "0 2 * * *" fires at 10:00 for that morning's slot. A caller
// that wants only slots after the schedule was enabled passes the time it was
// enabled as lastRun until the first run exists.
func Due(s Schedule, now, lastRun time.Time) (slot time.Time, due bool) {
	slot, ok := Latest(s, now)
	if !ok {
		return time.Time{}, false
	}
	return slot, lastRun.IsZero() || lastRun.Before(slot)
}

// Late reports whether slot is more than maxLateness old at now, so that a
// caller may skip it instead of running it. A maxLateness of zero or less
// means no slot is ever late.
//
// A skipped slot stays due — no run was created for it — until the next
// slot replaces it, so a caller that skips it on one tick will see it, late
// again, on every tick until then: skipping must be cheap and idempotent
// (record it once, keyed by the slot, if it is recorded at all).
func Late(slot, now time.Time, maxLateness time.Duration) bool {
	return maxLateness > 0 && now.Sub(slot) > maxLateness
}
