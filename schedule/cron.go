package schedule

import (
	"math/bits"
	"time"
)

// cycleYears is the length of the Gregorian calendar's cycle: dates and
// weekdays repeat exactly every 400 years (146097 days, a whole number of
// weeks). A cron expression that has any slot has one in every 400 years, so
// Next and Latest never look further.
const cycleYears = 400

// A Cron is a parsed five-field cron expression. Its fields are read on the
// wall clock of UTC, or of the time zone given to [Cron.In], and its slots
// are whole minutes of that clock, returned as instants in UTC. Make one
// with [Parse].
//
// A Cron does not change once made (except through UnmarshalText) and is
// safe for concurrent use. The zero Cron has no slots: its Next and Latest
// return the zero time.
type Cron struct {
	expr string
	// loc is the zone of the wall clock, nil for UTC. With a zone, next and
	// latest work on civil times (see zone.go).
	loc *time.Location
	// Bit v of each set is value v of the field: minute 0-59, hour 0-23,
	// day of month 1-31, month 1-12, day of week 0-6 (Sunday 0).
	minute, hour, dom, month, dow uint64
	// and: a day must match both day of month and day of week (one of the
	// fields starts with "*"); otherwise either suffices.
	and bool
	// dowDays[w] has bit d set when day d (1-31) of a month whose 1st is
	// weekday w falls on a day of week in dow.
	dowDays [7]uint64
	// hasSlots: some month in the set has a day that matches, so Next and
	// Latest always find a slot within cycleYears.
	hasSlots bool
}

// newCron builds a Cron from its field sets and precomputes what Next and
// Latest need.
func newCron(expr string, minute, hour, dom, month, dow uint64, and bool) *Cron {
	c := &Cron{expr: expr, minute: minute, hour: hour, dom: dom, month: month, dow: dow, and: and}
	for w := range 7 {
		for d := 1; d <= 31; d++ {
			if dow&(1<<((w+d-1)%7)) != 0 {
				c.dowDays[w] |= 1 << d
			}
		}
	}
	// Every valid date falls on every weekday within the 400-year cycle, so a
	// month can match iff some day of it matches the day-of-month set (and)
	// or either set is non-empty (or). February counts 29 days.
	someDay := false
	for m := 1; m <= 12; m++ {
		if month&(1<<m) == 0 {
			continue
		}
		days := dom & daysMask(daysIn(2000, m))
		if c.and {
			someDay = someDay || (days != 0 && dow != 0)
		} else {
			someDay = someDay || days != 0 || dow != 0
		}
	}
	c.hasSlots = someDay && minute != 0 && hour != 0
	return c
}

// String returns the expression: its five fields separated by single
// spaces, or the macro in lower case. It does not name the time zone.
func (c *Cron) String() string { return c.expr }

// MarshalText returns the expression, as [Cron.String] does, without the
// time zone.
func (c *Cron) MarshalText() ([]byte, error) { return []byte(c.expr), nil }

// UnmarshalText parses text with [Parse] and, when it is valid, sets c to
// the result, evaluated in UTC. An invalid text leaves c unchanged and
// returns a [*ParseError].
func (c *Cron) UnmarshalText(text []byte) error {
	p, err := Parse(string(text))
	if err != nil {
		return err
	}
	*c = *p
	return nil
}

// Next returns the first slot strictly after t, in UTC, or the zero time
// when the expression has no slot at all (such as "0 0 30 2 *"). t may be in
// any location and carry seconds: Next(t) is the first whole minute after t
// that the expression matches. In a zone with daylight saving time (see
// [Cron.In]), a skipped wall time is a slot at the end of the gap and a
// repeated one a slot at its first occurrence only.
func (c *Cron) Next(t time.Time) time.Time {
	if c == nil || !c.hasSlots {
		return time.Time{}
	}
	if c.loc == nil {
		return c.next(t)
	}
	w := c.next(maxWall(t, c.loc))
	if w.IsZero() {
		return w
	}
	return firstInstant(w, c.loc)
}

// next returns the first whole minute after the civil time t (read in UTC)
// that the expression matches, or the zero time.
func (c *Cron) next(t time.Time) time.Time {
	t = floorMinute(t).Add(time.Minute)
	y, mo, d := t.Date()
	m, h, mi := int(mo), t.Hour(), t.Minute()
	for limit := y + cycleYears; y <= limit; {
		if c.month&(1<<m) == 0 {
			if m = nextBit(c.month, m); m < 0 {
				y, m = y+1, nextBit(c.month, 1)
			}
			d, h, mi = 1, 0, 0
		}
		nd := nextBit(c.days(y, m), d)
		if nd < 0 {
			if m++; m > 12 {
				y, m = y+1, 1
			}
			d, h, mi = 1, 0, 0
			continue
		}
		if nd != d {
			d, h, mi = nd, 0, 0
		}
		nh := nextBit(c.hour, h)
		if nh < 0 {
			d, h, mi = d+1, 0, 0
			continue
		}
		if nh != h {
			h, mi = nh, 0
		}
		nmi := nextBit(c.minute, mi)
		if nmi < 0 {
			h, mi = h+1, 0
			continue
		}
		return time.Date(y, time.Month(m), d, h, nmi, 0, 0, time.UTC)
	}
	return time.Time{}
}

// Latest returns the latest slot at or before t, in UTC, or the zero time
// when the expression has no slot at all. t may be in any location and
// carry seconds: a slot at 02:00 is the latest slot at 02:00:59.
//
// For every t with a slot before it, Latest(t) <= t < Next(Latest(t)), in a
// time zone too (see [Cron.In]). Latest is exact, with no horizon: the
// package function [Latest] uses it for a *Cron instead of searching.
func (c *Cron) Latest(t time.Time) time.Time {
	if c == nil || !c.hasSlots {
		return time.Time{}
	}
	if c.loc == nil {
		return c.latest(t)
	}
	w := c.latest(maxWall(t, c.loc))
	if w.IsZero() {
		return w
	}
	return firstInstant(w, c.loc)
}

// latest returns the latest whole minute at or before the civil time t
// (read in UTC) that the expression matches, or the zero time.
func (c *Cron) latest(t time.Time) time.Time {
	t = floorMinute(t)
	y, mo, d := t.Date()
	m, h, mi := int(mo), t.Hour(), t.Minute()
	for limit := y - cycleYears; y >= limit; {
		if c.month&(1<<m) == 0 {
			if m = prevBit(c.month, m); m < 0 {
				y, m = y-1, prevBit(c.month, 12)
			}
			d, h, mi = daysIn(y, m), 23, 59
		}
		pd := prevBit(c.days(y, m), d)
		if pd < 0 {
			if m--; m < 1 {
				y, m = y-1, 12
			}
			d, h, mi = daysIn(y, m), 23, 59
			continue
		}
		if pd != d {
			d, h, mi = pd, 23, 59
		}
		ph := prevBit(c.hour, h)
		if ph < 0 {
			d, h, mi = d-1, 23, 59
			continue
		}
		if ph != h {
			h, mi = ph, 59
		}
		pmi := prevBit(c.minute, mi)
		if pmi < 0 {
			h, mi = h-1, 59
			continue
		}
		return time.Date(y, time.Month(m), d, h, pmi, 0, 0, time.UTC)
	}
	return time.Time{}
}

// days returns the days of month m of year y that match, as bits 1-31.
func (c *Cron) days(y, m int) uint64 {
	first := time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC).Weekday()
	byWeek := c.dowDays[first]
	var days uint64
	if c.and {
		days = c.dom & byWeek
	} else {
		days = c.dom | byWeek
	}
	return days & daysMask(daysIn(y, m))
}

// floorMinute converts t to UTC and drops its seconds and nanoseconds.
func floorMinute(t time.Time) time.Time {
	t = t.UTC()
	return t.Add(-time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
}

// daysIn returns the number of days of month m of year y (proleptic
// Gregorian).
func daysIn(y, m int) int {
	switch m {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 31
}

// daysMask has bits 1 to n set.
func daysMask(n int) uint64 { return (uint64(1)<<(n+1) - 1) &^ 1 }

// nextBit returns the smallest set bit of set at or above from, or -1.
func nextBit(set uint64, from int) int {
	if from > 63 {
		return -1
	}
	if from < 0 {
		from = 0
	}
	if s := set >> from << from; s != 0 {
		return bits.TrailingZeros64(s)
	}
	return -1
}

// prevBit returns the largest set bit of set at or below from, or -1.
func prevBit(set uint64, from int) int {
	if from < 0 {
		return -1
	}
	if from > 63 {
		from = 63
	}
	if s := set << (63 - from) >> (63 - from); s != 0 {
		return 63 - bits.LeadingZeros64(s)
	}
	return -1
}
