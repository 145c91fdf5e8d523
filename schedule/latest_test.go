package schedule_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/schedule"
)

// oracle describes an expression's slots by hand, independently of the
// parser: which days match and which times of day.
type oracle struct {
	expr string
	day  func(d time.Time) bool // d is midnight UTC
	tod  func(h, m int) bool
}

func in(v int, set ...int) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

func oracles() []oracle {
	anyDay := func(time.Time) bool { return true }
	return []oracle{
		{"0 2 * * *", anyDay, func(h, m int) bool { return h == 2 && m == 0 }},
		{"* * * * *", anyDay, func(h, m int) bool { return true }},
		{"*/15 9-17 * * MON-FRI",
			func(d time.Time) bool { return d.Weekday() >= time.Monday && d.Weekday() <= time.Friday },
			func(h, m int) bool { return m%15 == 0 && h >= 9 && h <= 17 }},
		{"0 0 13 * FRI",
			func(d time.Time) bool { return d.Day() == 13 || d.Weekday() == time.Friday },
			func(h, m int) bool { return h == 0 && m == 0 }},
		{"30 4 1,15 * 5",
			func(d time.Time) bool { return in(d.Day(), 1, 15) || d.Weekday() == time.Friday },
			func(h, m int) bool { return h == 4 && m == 30 }},
		{"0 0 31 * *", func(d time.Time) bool { return d.Day() == 31 }, func(h, m int) bool { return h == 0 && m == 0 }},
		{"0 0 29 2 *",
			func(d time.Time) bool { return d.Month() == time.February && d.Day() == 29 },
			func(h, m int) bool { return h == 0 && m == 0 }},
		{"0 0 1-7 * */7",
			func(d time.Time) bool { return d.Day() <= 7 && d.Weekday() == time.Sunday },
			func(h, m int) bool { return h == 0 && m == 0 }},
		{"0 9 1-7 * 1",
			func(d time.Time) bool { return d.Day() <= 7 || d.Weekday() == time.Monday },
			func(h, m int) bool { return h == 9 && m == 0 }},
		{"0 12 * JAN,jul sun",
			func(d time.Time) bool {
				return in(int(d.Month()), 1, 7) && d.Weekday() == time.Sunday
			},
			func(h, m int) bool { return h == 12 && m == 0 }},
		{"5/20 */6 */2 * *",
			func(d time.Time) bool { return d.Day()%2 == 1 },
			func(h, m int) bool { return in(m, 5, 25, 45) && h%6 == 0 }},
		{"0 0 29 2 mon",
			func(d time.Time) bool {
				return d.Month() == time.February && (d.Day() == 29 || d.Weekday() == time.Monday)
			},
			func(h, m int) bool { return h == 0 && m == 0 }},
		{"59 23 31 12 *",
			func(d time.Time) bool { return d.Month() == time.December && d.Day() == 31 },
			func(h, m int) bool { return h == 23 && m == 59 }},
		{"0 0 1 */3 *",
			func(d time.Time) bool { return d.Day() == 1 && in(int(d.Month()), 1, 4, 7, 10) },
			func(h, m int) bool { return h == 0 && m == 0 }},
		{"15,45 3-4,22 * * 0,6-7",
			func(d time.Time) bool { return d.Weekday() == time.Saturday || d.Weekday() == time.Sunday },
			func(h, m int) bool { return in(m, 15, 45) && in(h, 3, 4, 22) }},
		{"@hourly", anyDay, func(h, m int) bool { return m == 0 }},
		{"30 23 13 * *", func(d time.Time) bool { return d.Day() == 13 }, func(h, m int) bool { return h == 23 && m == 30 }},
		{"5 0 * * MON",
			func(d time.Time) bool { return d.Weekday() == time.Monday },
			func(h, m int) bool { return h == 0 && m == 5 }},
		{"45 23 * * mon",
			func(d time.Time) bool { return d.Weekday() == time.Monday },
			func(h, m int) bool { return h == 23 && m == 45 }},
	}
}

const oracleDays = 12 * 366 // the oracle's search limit: every oracle slot recurs within it

// next walks day by day, then minute by minute, to the first slot after t.
func (o oracle) next(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for range oracleDays {
		if o.day(day) {
			for i := range 24 * 60 {
				s := day.Add(time.Duration(i) * time.Minute)
				if s.After(t) && o.tod(i/60, i%60) {
					return s
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{}
}

// latest walks backwards to the last slot at or before t.
func (o oracle) latest(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for range oracleDays {
		if o.day(day) {
			for i := 24*60 - 1; i >= 0; i-- {
				s := day.Add(time.Duration(i) * time.Minute)
				if !s.After(t) && o.tod(i/60, i%60) {
					return s
				}
			}
		}
		day = day.AddDate(0, 0, -1)
	}
	return time.Time{}
}

// randomTime returns a time between 1900 and 2500 with random seconds and
// nanoseconds.
func randomTime(rng *rand.Rand) time.Time {
	lo := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	return time.Unix(lo+rng.Int64N(hi-lo), rng.Int64N(1e9)).UTC()
}

// TestAgainstOracle compares Next and Latest with a brute-force search.
func TestAgainstOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, o := range oracles() {
		t.Run(o.expr, func(t *testing.T) {
			c := mustParse(t, o.expr)
			samples := 40
			if testing.Short() {
				samples = 8
			}
			for range samples {
				tm := randomTime(rng)
				require.Equal(t, o.next(tm), c.Next(tm), "Next(%s)", tm)
				require.Equal(t, o.latest(tm), c.Latest(tm), "Latest(%s)", tm)
			}
		})
	}
}

// TestLatestProperties: for random times t, latest := Latest(t) satisfies
// latest <= t < Next(latest) and Next(latest - 1min) == latest, both for
// Cron.Latest and for the generic search over a Schedule with only Next.
func TestLatestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	exprs := []string{
		"0 2 * * *", "* * * * *", "*/7 * * * *", "0 0 13 * FRI", "0 0 31 * *", "0 0 29 2 *",
		"30 4 1,15 * 5", "0 0 1-7 * */7", "0 9-17 * * 1-5", "@monthly", "@yearly", "59 23 31 12 *",
		"0 0 29 2 mon",
	}
	for _, expr := range exprs {
		t.Run(expr, func(t *testing.T) {
			c := mustParse(t, expr)
			generic := nextOnly{c}
			for range 300 {
				tm := randomTime(rng)
				latest := c.Latest(tm)
				require.False(t, latest.IsZero(), "Latest(%s)", tm)
				require.False(t, latest.After(tm), "Latest(%s) = %s is after t", tm, latest)
				require.True(t, c.Next(latest).After(tm), "Next(Latest(%s)) = %s is not after t", tm, c.Next(latest))
				require.Equal(t, latest, c.Next(latest.Add(-time.Minute)), "Next(Latest(%s)-1min)", tm)
				require.Zero(t, latest.Second())
				require.Zero(t, latest.Nanosecond())

				got, ok := schedule.Latest(generic, tm)
				require.True(t, ok, "generic Latest(%s)", tm)
				require.Equal(t, latest, got, "generic Latest(%s)", tm)

				got, ok = schedule.Latest(c, tm)
				require.True(t, ok)
				require.Equal(t, latest, got)
			}
		})
	}
}

// nextOnly hides every method of a Schedule but Next, as a host's schedule
// would.
type nextOnly struct{ s schedule.Schedule }

func (n nextOnly) Next(t time.Time) time.Time { return n.s.Next(t) }

// counting counts the calls to Next.
type counting struct {
	s     schedule.Schedule
	calls int
}

func (c *counting) Next(t time.Time) time.Time { c.calls++; return c.s.Next(t) }

func TestGenericLatestCost(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	worst := map[string]int{}
	for _, expr := range []string{"* * * * *", "0 2 * * *", "0 0 1 1 *", "0 0 29 2 *", "0 0 30 2 *", "*/5 * * * *", "0,1 0 * * *", "*/5 0 1 * *"} {
		c := mustParse(t, expr)
		for range 200 {
			tm := randomTime(rng)
			cs := &counting{s: c}
			got, ok := schedule.Latest(cs, tm)
			want := c.Latest(tm)
			assert.Equal(t, !want.IsZero(), ok)
			assert.Equal(t, want, got)
			assert.LessOrEqual(t, cs.calls, 150, "%s at %s", expr, tm)
			worst[expr] = max(worst[expr], cs.calls)
		}
	}
	// A slot every minute is found in the first window.
	assert.LessOrEqual(t, worst["* * * * *"], 2)
	// A slot a day away costs about log2(1440) windows plus a short bisection.
	assert.LessOrEqual(t, worst["0 2 * * *"], 30)
	// Many slots in the window: the bisection stops as soon as it holds one.
	assert.LessOrEqual(t, worst["*/5 * * * *"], 12)
	// Bursts of slots, far apart: the bisection stops once its window is
	// narrower than the burst's spacing, long before nanoseconds.
	assert.LessOrEqual(t, worst["0,1 0 * * *"], 50)
	assert.LessOrEqual(t, worst["*/5 0 1 * *"], 50)
	// A slot a year away: about log2(525600) windows plus a short bisection.
	assert.LessOrEqual(t, worst["0 0 1 1 *"], 40)
	t.Logf("worst number of Next calls: %v", worst)
}

// sparse has one slot only, at a fixed time.
type sparse struct{ at time.Time }

func (s sparse) Next(t time.Time) time.Time {
	if t.Before(s.at) {
		return s.at
	}
	return time.Time{}
}

// nanos has a slot every 3 nanoseconds: the bisection must go down to the
// nanosecond.
type nanos struct{}

func (nanos) Next(t time.Time) time.Time {
	ns := t.UnixNano()
	return time.Unix(0, ns-ns%3+3).UTC()
}

func TestGenericLatestHorizonAndEdges(t *testing.T) {
	now := at(t, "2025-06-01 12:00")

	// Within the horizon: found exactly; beyond it: not found.
	for _, back := range []time.Duration{0, time.Nanosecond, time.Minute + time.Nanosecond, 90 * 24 * time.Hour, schedule.LatestHorizon - time.Nanosecond, schedule.LatestHorizon} {
		slot := now.Add(-back)
		got, ok := schedule.Latest(sparse{slot}, now)
		assert.True(t, ok, "slot %s back", back)
		assert.Equal(t, slot, got, "slot %s back", back)
	}
	_, ok := schedule.Latest(sparse{now.Add(-schedule.LatestHorizon - time.Nanosecond)}, now)
	assert.False(t, ok, "a slot beyond the horizon is not found")

	// A slot after t is not at or before it.
	_, ok = schedule.Latest(sparse{now.Add(time.Nanosecond)}, now)
	assert.False(t, ok)

	// A schedule that never fires.
	cs := &counting{s: sparse{}}
	got, ok := schedule.Latest(cs, now)
	assert.False(t, ok)
	assert.True(t, got.IsZero())
	assert.LessOrEqual(t, cs.calls, 30, "giving up costs one call per window")

	// Sub-minute slots.
	for _, tm := range []time.Time{now, now.Add(1), now.Add(2), now.Add(12345)} {
		got, ok := schedule.Latest(nanos{}, tm)
		require.True(t, ok)
		ns := tm.UnixNano()
		assert.Equal(t, time.Unix(0, ns-ns%3).UTC(), got, "at %s", tm)
	}

	// Cron.Latest has no horizon: a Sunday leap day decades back is found.
	c := mustParse(t, "0 0 29 2 */7")
	slot := c.Latest(now)
	require.False(t, slot.IsZero())
	assert.Equal(t, time.Sunday, slot.Weekday())
	assert.Equal(t, "02-29", slot.Format("01-02"))
	require.Greater(t, now.Sub(slot), schedule.LatestHorizon, "the latest Sunday leap day lies beyond the horizon")
	_, ok = schedule.Latest(nextOnly{c}, now)
	assert.False(t, ok, "the generic search stops at the horizon")
	got, ok = schedule.Latest(c, now)
	assert.True(t, ok)
	assert.Equal(t, slot, got)
}

func ExampleLatest() {
	// A host's own schedule: every 90 minutes from midnight UTC.
	every90 := scheduleFunc(func(t time.Time) time.Time {
		day := t.UTC().Truncate(24 * time.Hour)
		for s := day; ; s = s.Add(90 * time.Minute) {
			if s.After(t) {
				return s
			}
		}
	})
	slot, ok := schedule.Latest(every90, time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC))
	fmt.Println(slot, ok)
	// Output: 2025-03-14 09:00:00 +0000 UTC true
}

// scheduleFunc adapts a function to a Schedule.
type scheduleFunc func(time.Time) time.Time

func (f scheduleFunc) Next(t time.Time) time.Time { return f(t) }

// TestGenericLatestMisbehavingSchedules: a schedule that breaks the Next
// contract cannot make Latest loop or panic.
func TestGenericLatestMisbehavingSchedules(t *testing.T) {
	now := at(t, "2025-06-01 12:00")
	for name, s := range map[string]schedule.Schedule{
		"returns its argument": scheduleFunc(func(t time.Time) time.Time { return t }),
		"returns the past":     scheduleFunc(func(t time.Time) time.Time { return t.Add(-time.Hour) }),
		"returns a constant":   scheduleFunc(func(time.Time) time.Time { return now.Add(-time.Minute) }),
	} {
		t.Run(name, func(t *testing.T) {
			cs := &counting{s: s}
			slot, ok := schedule.Latest(cs, now)
			if ok {
				assert.False(t, slot.After(now))
			}
			assert.LessOrEqual(t, cs.calls, 150)
		})
	}
}
