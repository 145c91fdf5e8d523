package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// set returns a bit set with the given values.
func set(values ...int) uint64 {
	var s uint64
	for _, v := range values {
		s |= 1 << v
	}
	return s
}

// span returns a bit set with lo..hi stepping by step.
func span(lo, hi, step int) uint64 {
	var s uint64
	for v := lo; v <= hi; v += step {
		s |= 1 << v
	}
	return s
}

// TestParseFieldSets pins the value set every syntax form selects.
func TestParseFieldSets(t *testing.T) {
	type sets struct{ minute, hour, dom, month, dow uint64 }
	all := sets{span(0, 59, 1), span(0, 23, 1), span(1, 31, 1), span(1, 12, 1), span(0, 6, 1)}
	with := func(f func(*sets)) sets { s := all; f(&s); return s }

	tests := []struct {
		expr string
		want sets
		and  bool
	}{
		{"* * * * *", all, true},
		{"0 2 * * *", with(func(s *sets) { s.minute, s.hour = set(0), set(2) }), true},
		{"59 23 31 12 6", sets{set(59), set(23), set(31), set(12), set(6)}, false},
		{"0 0 1 1 0", sets{set(0), set(0), set(1), set(1), set(0)}, false},
		// ranges and lists
		{"1-5 * * * *", with(func(s *sets) { s.minute = span(1, 5, 1) }), true},
		{"1,5,7 * * * *", with(func(s *sets) { s.minute = set(1, 5, 7) }), true},
		{"1-3,10-12,30 * * * *", with(func(s *sets) { s.minute = set(1, 2, 3, 10, 11, 12, 30) }), true},
		{"5,5,5 * * * *", with(func(s *sets) { s.minute = set(5) }), true},
		{"7-7 * * * *", with(func(s *sets) { s.minute = set(7) }), true},
		{"05 007 * * *", with(func(s *sets) { s.minute, s.hour = set(5), set(7) }), true},
		// steps
		{"*/15 * * * *", with(func(s *sets) { s.minute = set(0, 15, 30, 45) }), true},
		{"*/7 * * * *", with(func(s *sets) { s.minute = set(0, 7, 14, 21, 28, 35, 42, 49, 56) }), true},
		{"10-30/10 * * * *", with(func(s *sets) { s.minute = set(10, 20, 30) }), true},
		{"10-35/10 * * * *", with(func(s *sets) { s.minute = set(10, 20, 30) }), true},
		{"5/20 * * * *", with(func(s *sets) { s.minute = set(5, 25, 45) }), true},
		{"*/59 * * * *", with(func(s *sets) { s.minute = set(0, 59) }), true},
		{"* */6 * * *", with(func(s *sets) { s.hour = set(0, 6, 12, 18) }), true},
		{"* 22/1 * * *", with(func(s *sets) { s.hour = set(22, 23) }), true},
		{"* * */2 * *", with(func(s *sets) { s.dom = span(1, 31, 2) }), true},
		{"* * 2/10 * *", with(func(s *sets) { s.dom = set(2, 12, 22) }), true},
		{"* * * */3 *", with(func(s *sets) { s.month = set(1, 4, 7, 10) }), true},
		{"* * * 2/5 *", with(func(s *sets) { s.month = set(2, 7, 12) }), true},
		{"0,30 9-17/2 * * *", with(func(s *sets) { s.minute, s.hour = set(0, 30), set(9, 11, 13, 15, 17) }), true},
		// names, any case, in ranges and lists
		{"* * * JAN *", with(func(s *sets) { s.month = set(1) }), true},
		{"* * * jan-MAR,Dec *", with(func(s *sets) { s.month = set(1, 2, 3, 12) }), true},
		{"* * * feb-dec/3 *", with(func(s *sets) { s.month = set(2, 5, 8, 11) }), true},
		{"* * * jul/2 *", with(func(s *sets) { s.month = set(7, 9, 11) }), true},
		{"* * * * MON-FRI", with(func(s *sets) { s.dow = span(1, 5, 1) }), true},
		{"* * * * sun,Sat", with(func(s *sets) { s.dow = set(0, 6) }), true},
		{"* * * * tue-thu", with(func(s *sets) { s.dow = set(2, 3, 4) }), true},
		// Sunday is 0 and 7
		{"* * * * 7", with(func(s *sets) { s.dow = set(0) }), true},
		{"* * * * 0,7", with(func(s *sets) { s.dow = set(0) }), true},
		{"* * * * 5-7", with(func(s *sets) { s.dow = set(0, 5, 6) }), true},
		{"* * * * FRI-7", with(func(s *sets) { s.dow = set(0, 5, 6) }), true},
		{"* * * * 0-7", with(func(s *sets) { s.dow = span(0, 6, 1) }), true},
		{"* * * * */2", with(func(s *sets) { s.dow = set(0, 2, 4, 6) }), true},
		{"* * * * 1-7/2", with(func(s *sets) { s.dow = set(0, 1, 3, 5) }), true},
		{"* * * * */7", with(func(s *sets) { s.dow = set(0) }), true},
		{"* * * * 6/1", with(func(s *sets) { s.dow = set(0, 6) }), true},
		// day of month and day of week: OR only when both are restricted
		{"0 0 13 * FRI", sets{set(0), set(0), set(13), span(1, 12, 1), set(5)}, false},
		{"0 0 13 * *", sets{set(0), set(0), set(13), span(1, 12, 1), span(0, 6, 1)}, true},
		{"0 0 * * FRI", sets{set(0), set(0), span(1, 31, 1), span(1, 12, 1), set(5)}, true},
		{"0 0 1-7 * */7", sets{set(0), set(0), span(1, 7, 1), span(1, 12, 1), set(0)}, true},
		{"0 0 */2 * 1", sets{set(0), set(0), span(1, 31, 2), span(1, 12, 1), set(1)}, true},
		{"0 0 1-31 * 0-6", sets{set(0), set(0), span(1, 31, 1), span(1, 12, 1), span(0, 6, 1)}, false},
		// whitespace
		{"  0\t2  *\t* *  ", with(func(s *sets) { s.minute, s.hour = set(0), set(2) }), true},
		// macros
		{"@yearly", sets{set(0), set(0), set(1), set(1), span(0, 6, 1)}, true},
		{"@annually", sets{set(0), set(0), set(1), set(1), span(0, 6, 1)}, true},
		{"@monthly", sets{set(0), set(0), set(1), span(1, 12, 1), span(0, 6, 1)}, true},
		{"@weekly", sets{set(0), set(0), span(1, 31, 1), span(1, 12, 1), set(0)}, true},
		{"@daily", sets{set(0), set(0), span(1, 31, 1), span(1, 12, 1), span(0, 6, 1)}, true},
		{"@midnight", sets{set(0), set(0), span(1, 31, 1), span(1, 12, 1), span(0, 6, 1)}, true},
		{"@hourly", sets{set(0), span(0, 23, 1), span(1, 31, 1), span(1, 12, 1), span(0, 6, 1)}, true},
		{"@DAILY", sets{set(0), set(0), span(1, 31, 1), span(1, 12, 1), span(0, 6, 1)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			c, err := Parse(tt.expr)
			require.NoError(t, err)
			got := sets{c.minute, c.hour, c.dom, c.month, c.dow}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.and, c.and, "day-of-month/day-of-week combination")
			assert.True(t, c.hasSlots)
		})
	}
}

func TestParseHasSlots(t *testing.T) {
	for expr, want := range map[string]bool{
		"0 0 30 2 *":      false, // February 30th
		"0 0 31 2,4 *":    false,
		"0 0 31 4,6,9 *":  false,
		"0 0 30,31 feb *": false,
		"0 0 29 2 *":      true, // leap days
		"0 0 31 2,3 *":    true,
		"0 0 30 2 MON":    true, // or: every Monday in February
		"0 0 30 2 */7":    false,
		"0 0 29 2 */7":    true,
	} {
		c, err := Parse(expr)
		require.NoError(t, err, expr)
		assert.Equal(t, want, c.hasSlots, expr)
	}
	assert.False(t, (&Cron{}).hasSlots)
}

func TestBitHelpers(t *testing.T) {
	s := set(3, 10, 63)
	for _, tt := range []struct{ from, next, prev int }{
		{-5, 3, -1}, {0, 3, -1}, {3, 3, 3}, {4, 10, 3}, {10, 10, 10}, {11, 63, 10}, {63, 63, 63}, {64, -1, 63}, {100, -1, 63},
	} {
		assert.Equal(t, tt.next, nextBit(s, tt.from), "nextBit from %d", tt.from)
		assert.Equal(t, tt.prev, prevBit(s, tt.from), "prevBit from %d", tt.from)
	}
	assert.Equal(t, -1, nextBit(0, 0))
	assert.Equal(t, -1, prevBit(0, 63))
	assert.Equal(t, span(1, 28, 1), daysMask(28))
	assert.Equal(t, span(1, 31, 1), daysMask(31))
}

func TestDaysIn(t *testing.T) {
	for y := 1896; y <= 2404; y++ {
		for m := 1; m <= 12; m++ {
			// The day before the 1st of the next month is the last of this one.
			last := dateUTC(y, m+1, 1).AddDate(0, 0, -1).Day()
			require.Equal(t, last, daysIn(y, m), "%d-%02d", y, m)
		}
	}
}

func dateUTC(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
