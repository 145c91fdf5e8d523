package schedule_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/schedule"
)

// at parses "2006-01-02 15:04" (or with ":05") in UTC.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	layout := "2006-01-02 15:04"
	if len(s) > len(layout) {
		layout = "2006-01-02 15:04:05.999999999"
	}
	v, err := time.Parse(layout, s)
	require.NoError(t, err)
	return v
}

func mustParse(t testing.TB, expr string) *schedule.Cron {
	t.Helper()
	c, err := schedule.Parse(expr)
	require.NoError(t, err)
	return c
}

// TestNextSequences follows Next from a start time and checks every slot it
// yields; Latest must retrace the same slots backwards.
func TestNextSequences(t *testing.T) {
	tests := []struct {
		name, expr, from string
		want             []string
	}{
		{"nightly", "0 2 * * *", "2025-03-01 02:00",
			[]string{"2025-03-02 02:00", "2025-03-03 02:00", "2025-03-04 02:00"}},
		{"31st skips short months", "0 0 31 * *", "2025-01-15 00:00",
			[]string{"2025-01-31 00:00", "2025-03-31 00:00", "2025-05-31 00:00", "2025-07-31 00:00", "2025-08-31 00:00", "2025-10-31 00:00", "2025-12-31 00:00", "2026-01-31 00:00"}},
		{"30th skips February", "0 0 30 * *", "2025-01-31 00:00",
			[]string{"2025-03-30 00:00", "2025-04-30 00:00", "2025-05-30 00:00"}},
		{"end of February in a leap year", "0 12 28-31 2 *", "2024-02-27 00:00",
			[]string{"2024-02-28 12:00", "2024-02-29 12:00", "2025-02-28 12:00", "2026-02-28 12:00", "2027-02-28 12:00", "2028-02-28 12:00", "2028-02-29 12:00"}},
		{"leap day 2024 to 2028", "0 0 29 2 *", "2024-01-01 00:00",
			[]string{"2024-02-29 00:00", "2028-02-29 00:00", "2032-02-29 00:00"}},
		{"leap day skips 2100", "0 0 29 2 *", "2096-03-01 00:00",
			[]string{"2104-02-29 00:00", "2108-02-29 00:00"}},
		{"leap day in 2000", "0 0 29 2 *", "1996-03-01 00:00",
			[]string{"2000-02-29 00:00", "2004-02-29 00:00"}},
		{"13th or Friday", "0 0 13 * FRI", "2025-06-01 00:00",
			[]string{"2025-06-06 00:00", "2025-06-13 00:00", "2025-06-20 00:00", "2025-06-27 00:00", "2025-07-04 00:00", "2025-07-11 00:00", "2025-07-13 00:00", "2025-07-18 00:00"}},
		{"1st and 15th or Friday", "30 4 1,15 * 5", "2025-07-30 00:00",
			[]string{"2025-08-01 04:30", "2025-08-08 04:30", "2025-08-15 04:30", "2025-08-22 04:30", "2025-08-29 04:30", "2025-09-01 04:30", "2025-09-05 04:30"}},
		{"first Sunday: */7 leaves the OR rule off", "0 0 1-7 * */7", "2025-01-01 00:00",
			[]string{"2025-01-05 00:00", "2025-02-02 00:00", "2025-03-02 00:00", "2025-04-06 00:00", "2025-05-04 00:00", "2025-06-01 00:00"}},
		{"Mondays of January and July", "30 8 * JAN,jul mon", "2025-01-01 00:00",
			[]string{"2025-01-06 08:30", "2025-01-13 08:30", "2025-01-20 08:30", "2025-01-27 08:30", "2025-07-07 08:30", "2025-07-14 08:30"}},
		{"weekdays business hours", "0 9-17/4 * * MON-FRI", "2025-03-07 12:00",
			[]string{"2025-03-07 13:00", "2025-03-07 17:00", "2025-03-10 09:00", "2025-03-10 13:00"}},
		{"steps", "*/20 */12 * * *", "2025-01-01 00:00",
			[]string{"2025-01-01 00:20", "2025-01-01 00:40", "2025-01-01 12:00", "2025-01-01 12:20", "2025-01-01 12:40", "2025-01-02 00:00"}},
		{"a/n runs to the maximum", "50/5 22/1 * * *", "2025-01-01 21:00",
			[]string{"2025-01-01 22:50", "2025-01-01 22:55", "2025-01-01 23:50", "2025-01-01 23:55", "2025-01-02 22:50"}},
		{"Sunday as 7", "0 0 * * 7", "2025-01-01 00:00",
			[]string{"2025-01-05 00:00", "2025-01-12 00:00"}},
		{"Sunday as 0", "0 0 * * 0", "2025-01-01 00:00",
			[]string{"2025-01-05 00:00", "2025-01-12 00:00"}},
		{"Sunday as SUN", "0 0 * * sun", "2025-01-01 00:00",
			[]string{"2025-01-05 00:00", "2025-01-12 00:00"}},
		{"Friday to Sunday", "0 0 * * FRI-7", "2025-01-01 00:00",
			[]string{"2025-01-03 00:00", "2025-01-04 00:00", "2025-01-05 00:00", "2025-01-10 00:00"}},
		{"last minute of the year", "59 23 31 12 *", "2024-12-31 23:59",
			[]string{"2025-12-31 23:59", "2026-12-31 23:59"}},
		{"new year", "0 0 1 1 *", "2025-12-31 23:59:59.999999999",
			[]string{"2026-01-01 00:00", "2027-01-01 00:00"}},
		{"half hours across new year", "*/30 * * * *", "2025-12-31 23:15",
			[]string{"2025-12-31 23:30", "2026-01-01 00:00", "2026-01-01 00:30"}},
		{"quarterly", "0 0 1 */3 *", "2025-02-01 00:00",
			[]string{"2025-04-01 00:00", "2025-07-01 00:00", "2025-10-01 00:00", "2026-01-01 00:00"}},
		{"yearly macro", "@yearly", "2025-06-01 00:00",
			[]string{"2026-01-01 00:00", "2027-01-01 00:00"}},
		{"weekly macro", "@weekly", "2025-01-01 00:00",
			[]string{"2025-01-05 00:00", "2025-01-12 00:00"}},
		{"every minute", "* * * * *", "2025-01-01 00:00:30",
			[]string{"2025-01-01 00:01", "2025-01-01 00:02"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.expr)
			cur := at(t, tt.from)
			var slots []time.Time
			for _, w := range tt.want {
				want := at(t, w)
				next := c.Next(cur)
				require.Equal(t, want, next, "Next(%s)", cur)
				assert.Equal(t, time.UTC, next.Location())
				slots = append(slots, next)
				cur = next
			}
			for i, s := range slots {
				assert.Equal(t, s, c.Latest(s), "a slot is its own latest slot")
				assert.Equal(t, s, c.Latest(s.Add(59*time.Second+999*time.Millisecond)), "seconds past a slot")
				if i > 0 {
					assert.Equal(t, slots[i-1], c.Latest(s.Add(-time.Nanosecond)), "just before %s", s)
				}
			}
		})
	}
}

func TestNextIsStrictlyAfter(t *testing.T) {
	c := mustParse(t, "0 2 * * *")
	assert.Equal(t, at(t, "2025-03-02 02:00"), c.Next(at(t, "2025-03-01 02:00")))
	assert.Equal(t, at(t, "2025-03-02 02:00"), c.Next(at(t, "2025-03-01 02:00:00.000000001")))
	assert.Equal(t, at(t, "2025-03-01 02:00"), c.Next(at(t, "2025-03-01 01:59:59.999999999")))
	assert.Equal(t, at(t, "2025-03-01 02:00"), c.Latest(at(t, "2025-03-01 02:00")))
	assert.Equal(t, at(t, "2025-02-28 02:00"), c.Latest(at(t, "2025-03-01 01:59:59.999999999")))
}

func TestOtherLocationsAreConvertedToUTC(t *testing.T) {
	c := mustParse(t, "0 2 * * *")
	plus2 := time.FixedZone("UTC+2", 2*60*60)
	minus5 := time.FixedZone("UTC-5", -5*60*60)

	// 03:30 at UTC+2 is 01:30 UTC: tonight's 02:00 UTC is still ahead.
	next := c.Next(time.Date(2025, 3, 1, 3, 30, 0, 0, plus2))
	assert.Equal(t, at(t, "2025-03-01 02:00"), next)
	assert.Equal(t, time.UTC, next.Location())

	// 22:00 on Feb 28 at UTC-5 is 03:00 UTC on Mar 1.
	assert.Equal(t, at(t, "2025-03-01 02:00"), c.Latest(time.Date(2025, 2, 28, 22, 0, 0, 0, minus5)))
	assert.Equal(t, at(t, "2025-03-02 02:00"), c.Next(time.Date(2025, 2, 28, 22, 0, 0, 0, minus5)))

	// A zone offset with minutes: 04:15 at UTC+5:45 is 22:30 UTC the day before.
	nepal := time.FixedZone("UTC+5:45", 5*60*60+45*60)
	half := mustParse(t, "30 22 * * *")
	assert.Equal(t, at(t, "2025-03-01 22:30"), half.Latest(time.Date(2025, 3, 2, 4, 15, 0, 0, nepal)))
}

func TestNoSlots(t *testing.T) {
	for _, expr := range []string{"0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 FEB *", "* * 31 2 */2"} {
		c := mustParse(t, expr)
		for _, from := range []string{"2024-02-28 00:00", "1970-01-01 00:00", "2400-06-01 12:00"} {
			assert.True(t, c.Next(at(t, from)).IsZero(), "%s Next(%s)", expr, from)
			assert.True(t, c.Latest(at(t, from)).IsZero(), "%s Latest(%s)", expr, from)
		}
	}
	var zero schedule.Cron
	assert.True(t, zero.Next(at(t, "2025-01-01 00:00")).IsZero())
	assert.True(t, zero.Latest(at(t, "2025-01-01 00:00")).IsZero())
	var nilCron *schedule.Cron
	assert.True(t, nilCron.Next(at(t, "2025-01-01 00:00")).IsZero())
	assert.True(t, nilCron.Latest(at(t, "2025-01-01 00:00")).IsZero())
}

// TestLongGaps: the rarest schedules still find their slots exactly, decades
// apart.
func TestLongGaps(t *testing.T) {
	// A February 29th that is a Sunday ("*/7" keeps the AND rule).
	c := mustParse(t, "0 0 29 2 */7")
	from := at(t, "2000-01-01 00:00")
	cur := from
	for i := range 5 {
		next := c.Next(cur)
		require.False(t, next.IsZero())
		assert.Equal(t, time.Sunday, next.Weekday())
		assert.Equal(t, time.February, next.Month())
		assert.Equal(t, 29, next.Day())
		// No leap day between cur and next is a Sunday.
		for y := cur.Year(); y < next.Year(); y++ {
			d := time.Date(y, 2, 29, 0, 0, 0, 0, time.UTC)
			if d.Month() == time.February && d.After(cur) {
				assert.NotEqual(t, time.Sunday, d.Weekday(), "%s skipped", d)
			}
		}
		if i > 0 {
			assert.Equal(t, cur, c.Latest(next.Add(-time.Minute)), "Latest retraces the gap")
		}
		cur = next
	}
}

func TestSlotsAreWholeMinutes(t *testing.T) {
	c := mustParse(t, "* * * * *")
	in := at(t, "2025-05-05 10:10:10.123456789")
	assert.Equal(t, at(t, "2025-05-05 10:11"), c.Next(in))
	assert.Equal(t, at(t, "2025-05-05 10:10"), c.Latest(in))
}
