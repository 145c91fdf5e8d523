package schedule_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/schedule"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := schedule.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// localLayout writes a wall time with its zone's abbreviation, which says
// which of a repeated hour's two readings it is.
const localLayout = "2006-01-02 15:04 MST"

// local parses a wall time written with localLayout in loc.
func local(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation(localLayout, s, loc)
	require.NoError(t, err)
	require.Equal(t, s, v.Format(localLayout), "%q is not a wall time of %s", s, loc)
	return v
}

// dstYear is one year's pair of transitions of a zone, and the names of its
// standard and summer time.
type dstYear struct {
	zone           string
	spring, fall   string // the dates of the transitions
	std, dst       string // zone abbreviations
	springAt, gap  string // the wall time the clocks spring forward at, and where to
	fallAt, repeat string // the wall time the clocks fall back at, and to
}

var dstYears = []dstYear{
	{"Europe/Berlin", "2026-03-29", "2026-10-25", "CET", "CEST", "02:00", "03:00", "03:00", "02:00"},
	{"Europe/Berlin", "2027-03-28", "2027-10-31", "CET", "CEST", "02:00", "03:00", "03:00", "02:00"},
	{"America/New_York", "2026-03-08", "2026-11-01", "EST", "EDT", "02:00", "03:00", "02:00", "01:00"},
	{"America/New_York", "2027-03-14", "2027-11-07", "EST", "EDT", "02:00", "03:00", "02:00", "01:00"},
}

// day returns the date d days after date.
func day(t testing.TB, date string, d int) string {
	t.Helper()
	v, err := time.Parse(time.DateOnly, date)
	require.NoError(t, err)
	return v.AddDate(0, 0, d).Format(time.DateOnly)
}

// TestTransitionsAreWhereTheTestsSayTheyAre guards the tables below: the
// clocks of each zone jump where dstYears says, and nowhere else that year.
func TestTransitionsAreWhereTheTestsSayTheyAre(t *testing.T) {
	for _, y := range dstYears {
		loc := mustZone(t, y.zone)
		before := local(t, loc, y.spring+" 01:59 "+y.std)
		assert.Equal(t, y.spring+" "+y.gap+" "+y.dst, before.Add(time.Minute).Format(localLayout), "%s springs forward", y.zone)
		fallHour, err := time.Parse("15:04", y.fallAt)
		require.NoError(t, err)
		before = local(t, loc, y.fall+" "+fallHour.Add(-time.Minute).Format("15:04")+" "+y.dst)
		assert.Equal(t, y.fall+" "+y.repeat+" "+y.std, before.Add(time.Minute).Format(localLayout), "%s falls back", y.zone)
		assert.Equal(t, []string{y.spring, y.fall}, transitionDays(loc, before.Year()))
	}
}

// transitionDays lists the local dates on which loc's offset changes in
// year, looking hour by hour.
func transitionDays(loc *time.Location, year int) []string {
	var days []string
	u := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	_, off := u.Zone()
	for ; u.Year() == year; u = u.Add(time.Hour) {
		if _, o := u.Zone(); o != off {
			days = append(days, u.Format(time.DateOnly))
			off = o
		}
	}
	return days
}

// TestInDaylightSaving follows Next across the transitions of Berlin and New
// York in 2026 and 2027 and checks every slot, written as wall times; Latest
// must retrace the same slots. The rules (see Cron.In): a skipped wall time
// fires once, at the end of the gap; a repeated one fires once, the first
// time.
func TestInDaylightSaving(t *testing.T) {
	for _, y := range dstYears {
		s, f, std, dst := y.spring, y.fall, y.std, y.dst
		type dstCase struct {
			name, expr, from string
			want             []string
		}
		var cases []dstCase
		if y.zone == "Europe/Berlin" { // 02:00 CET -> 03:00 CEST, 03:00 CEST -> 02:00 CET
			cases = []dstCase{
				{"daily 02:30 skipped: at the end of the gap", "30 2 * * *", day(t, s, -2) + " 12:00 " + std,
					[]string{day(t, s, -1) + " 02:30 CET", s + " 03:00 CEST", day(t, s, 1) + " 02:30 CEST"}},
				{"daily 02:00 skipped", "0 2 * * *", day(t, s, -2) + " 12:00 " + std,
					[]string{day(t, s, -1) + " 02:00 CET", s + " 03:00 CEST", day(t, s, 1) + " 02:00 CEST"}},
				{"daily 01:30 in spring: unaffected", "30 1 * * *", day(t, s, -2) + " 12:00 " + std,
					[]string{day(t, s, -1) + " 01:30 CET", s + " 01:30 CET", day(t, s, 1) + " 01:30 CEST"}},
				{"daily 03:00 in spring: the end of the gap, once", "0 3 * * *", day(t, s, -1) + " 12:00 " + std,
					[]string{s + " 03:00 CEST", day(t, s, 1) + " 03:00 CEST"}},
				{"hourly in spring", "0 * * * *", s + " 00:30 CET",
					[]string{s + " 01:00 CET", s + " 03:00 CEST", s + " 04:00 CEST"}},
				{"half past every hour in spring", "30 * * * *", s + " 00:45 CET",
					[]string{s + " 01:30 CET", s + " 03:00 CEST", s + " 03:30 CEST"}},
				{"every 15 minutes in spring", "*/15 * * * *", s + " 01:20 CET",
					[]string{s + " 01:30 CET", s + " 01:45 CET", s + " 03:00 CEST", s + " 03:15 CEST"}},
				{"daily 02:30 repeated: the first", "30 2 * * *", day(t, f, -2) + " 12:00 " + dst,
					[]string{day(t, f, -1) + " 02:30 CEST", f + " 02:30 CEST", day(t, f, 1) + " 02:30 CET"}},
				{"daily 01:30 in autumn: unaffected", "30 1 * * *", day(t, f, -2) + " 12:00 " + dst,
					[]string{day(t, f, -1) + " 01:30 CEST", f + " 01:30 CEST", day(t, f, 1) + " 01:30 CET"}},
				{"hourly in autumn", "0 * * * *", f + " 00:30 CEST",
					[]string{f + " 01:00 CEST", f + " 02:00 CEST", f + " 03:00 CET", f + " 04:00 CET"}},
				{"every 15 minutes in autumn", "*/15 * * * *", f + " 02:20 CEST",
					[]string{f + " 02:30 CEST", f + " 02:45 CEST", f + " 03:00 CET", f + " 03:15 CET"}},
			}
		} else { // 02:00 EST -> 03:00 EDT, 02:00 EDT -> 01:00 EST
			cases = []dstCase{
				{"daily 02:30 skipped: at the end of the gap", "30 2 * * *", day(t, s, -2) + " 12:00 " + std,
					[]string{day(t, s, -1) + " 02:30 EST", s + " 03:00 EDT", day(t, s, 1) + " 02:30 EDT"}},
				{"daily 01:30 in spring: unaffected", "30 1 * * *", day(t, s, -2) + " 12:00 " + std,
					[]string{day(t, s, -1) + " 01:30 EST", s + " 01:30 EST", day(t, s, 1) + " 01:30 EDT"}},
				{"hourly in spring", "0 * * * *", s + " 00:30 EST",
					[]string{s + " 01:00 EST", s + " 03:00 EDT", s + " 04:00 EDT"}},
				{"every 15 minutes in spring", "*/15 * * * *", s + " 01:20 EST",
					[]string{s + " 01:30 EST", s + " 01:45 EST", s + " 03:00 EDT", s + " 03:15 EDT"}},
				{"daily 01:30 repeated: the first", "30 1 * * *", day(t, f, -2) + " 12:00 " + dst,
					[]string{day(t, f, -1) + " 01:30 EDT", f + " 01:30 EDT", day(t, f, 1) + " 01:30 EST"}},
				{"daily 01:00 repeated: the first", "0 1 * * *", day(t, f, -1) + " 12:00 " + dst,
					[]string{f + " 01:00 EDT", day(t, f, 1) + " 01:00 EST"}},
				{"daily 02:30 in autumn: unaffected", "30 2 * * *", day(t, f, -2) + " 12:00 " + dst,
					[]string{day(t, f, -1) + " 02:30 EDT", f + " 02:30 EST", day(t, f, 1) + " 02:30 EST"}},
				{"hourly in autumn: 01:00 once", "0 * * * *", f + " 00:30 EDT",
					[]string{f + " 01:00 EDT", f + " 02:00 EST", f + " 03:00 EST"}},
				{"every 15 minutes in autumn: the repeated hour once", "*/15 * * * *", f + " 01:20 EDT",
					[]string{f + " 01:30 EDT", f + " 01:45 EDT", f + " 02:00 EST", f + " 02:15 EST"}},
			}
		}
		for _, tt := range cases {
			t.Run(fmt.Sprintf("%s/%s/%s", y.zone, s[:4], tt.name), func(t *testing.T) {
				loc := mustZone(t, y.zone)
				c := mustParse(t, tt.expr).In(loc)
				prev := local(t, loc, tt.from)
				var got []time.Time
				for range tt.want {
					next := c.Next(prev)
					require.False(t, next.IsZero())
					assert.Equal(t, time.UTC, next.Location(), "slots are instants in UTC")
					got = append(got, next)
					prev = next
				}
				var gotLocal []string
				for _, g := range got {
					gotLocal = append(gotLocal, g.In(loc).Format(localLayout))
				}
				require.Equal(t, tt.want, gotLocal)
				for i, slot := range got {
					assert.Equal(t, slot, c.Latest(slot), "Latest of a slot is the slot")
					assert.Equal(t, slot, c.Latest(slot.Add(59*time.Second)), "a slot is latest for a minute, at least")
					if i > 0 {
						assert.Equal(t, got[i-1], c.Latest(slot.Add(-time.Nanosecond)), "Latest just before %s", gotLocal[i])
					}
					slot, due := schedule.Due(c, slot, slot.Add(-time.Second))
					assert.True(t, due)
					assert.Equal(t, got[i], slot)
				}
			})
		}
	}
}

// zoneSlots is the brute-force definition of a zoned schedule's slots over
// [from, to): walking the zone's clock minute by minute, an instant u is a
// slot when some matching wall time w is read at u for the first time — w
// lies above every reading before u and at or below u's. matches says
// whether a wall time (a civil time in UTC) matches the expression. The
// zone's offsets must be whole minutes.
func zoneSlots(loc *time.Location, matches func(time.Time) bool, from, to time.Time) []time.Time {
	reading := func(u time.Time) time.Time {
		l := u.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), 0, 0, time.UTC)
	}
	var slots []time.Time
	highest := reading(from.Add(-time.Minute)) // from lies two days after any transition
	for u := from; u.Before(to); u = u.Add(time.Minute) {
		w := reading(u)
		for x := highest.Add(time.Minute); !x.After(w); x = x.Add(time.Minute) {
			if matches(x) {
				slots = append(slots, u.UTC())
				break
			}
		}
		if w.After(highest) {
			highest = w
		}
	}
	return slots
}

// TestInAgainstBruteForce compares Next and Latest with zoneSlots over four
// days around every transition of 2026 and 2027 in Berlin and New York, and
// of zones with other kinds of transitions: half an hour (Lord Howe), the
// southern hemisphere (Sydney, Santiago), a whole day skipped (Apia, 2011).
func TestInAgainstBruteForce(t *testing.T) {
	exprs := []string{
		"0 * * * *", "30 * * * *", "*/15 * * * *", "* * * * *", "30 2 * * *", "0 2 * * *", "30 1 * * *",
		"0 1 * * *", "59 1 * * *", "0 3 * * *", "0 0 * * *", "*/7 1-3 * * *", "45 2,23 * * SUN",
	}
	zones := []struct {
		name  string
		years []int
	}{
		{"Europe/Berlin", []int{2026, 2027, 2040}}, // 2040: past the listed transitions, a leap year
		{"America/New_York", []int{2026, 2027, 2044}},
		{"Australia/Lord_Howe", []int{2026}},
		{"Australia/Sydney", []int{2026}},
		{"America/Santiago", []int{2026}},
		{"Pacific/Apia", []int{2011}},
	}
	for _, z := range zones {
		loc := mustZone(t, z.name)
		for _, year := range z.years {
			days := transitionDays(loc, year)
			require.NotEmpty(t, days, "%s has transitions in %d", z.name, year)
			for _, d := range days {
				date, err := time.ParseInLocation(time.DateOnly, d, loc)
				require.NoError(t, err)
				from, to := date.AddDate(0, 0, -2), date.AddDate(0, 0, 2)
				for _, expr := range exprs {
					t.Run(fmt.Sprintf("%s/%s/%s", z.name, d, expr), func(t *testing.T) {
						utc := mustParse(t, expr)
						matches := func(w time.Time) bool { return utc.Latest(w).Equal(w) }
						want := zoneSlots(loc, matches, from, to)
						c := utc.In(loc)

						var got []time.Time
						for s := c.Next(from.Add(-time.Nanosecond)); s.Before(to); s = c.Next(s) {
							got = append(got, s)
						}
						requireSameSlots(t, loc, want, got)

						if len(want) == 0 {
							return
						}
						i := -1 // want[i] is the latest slot at or before u
						for u := want[0]; u.Before(to); u = u.Add(7 * time.Minute) {
							for i+1 < len(want) && !want[i+1].After(u) {
								i++
							}
							require.Equal(t, want[i], c.Latest(u), "Latest(%s)", u.In(loc).Format(localLayout))
							require.Equal(t, want[i], c.Latest(u.Add(59*time.Second)))
						}
					})
				}
			}
		}
	}
}

// requireSameSlots compares two lists of slots and shows the first
// difference as wall times (a diff of thousands of times would be unreadable).
func requireSameSlots(t *testing.T, loc *time.Location, want, got []time.Time) {
	t.Helper()
	show := func(s []time.Time, i int) []string {
		var out []string
		for _, v := range s[max(0, i-2):min(len(s), i+3)] {
			out = append(out, v.In(loc).Format(localLayout))
		}
		return out
	}
	for i := range max(len(want), len(got)) {
		if i >= len(want) || i >= len(got) || !want[i].Equal(got[i]) {
			require.Equal(t, show(want, i), show(got, i), "slot %d of %d (%d found)", i, len(want), len(got))
		}
	}
}

// checkZoned checks the properties every zoned schedule has at t: the latest
// slot is at or before t, no slot lies strictly between it and t, Next and
// Latest agree, and every slot is a wall time that matches or the end of a
// gap a transition skipped.
func checkZoned(t testing.TB, c *schedule.Cron, tm time.Time) {
	t.Helper()
	utc, err := schedule.Parse(c.String())
	require.NoError(t, err)
	loc := c.Location()
	latest, next := c.Latest(tm), c.Next(tm)
	require.False(t, latest.IsZero(), "Latest(%s)", tm)
	require.False(t, next.IsZero(), "Next(%s)", tm)
	require.False(t, latest.After(tm), "Latest(%s) = %s is after t", tm, latest)
	require.True(t, next.After(tm), "Next(%s) = %s is not after t", tm, next)
	require.Equal(t, next, c.Next(latest), "a slot lies strictly between Latest(%s) = %s and t", tm, latest)
	require.Equal(t, latest, c.Latest(latest))
	require.Equal(t, next, c.Latest(next))
	require.Equal(t, latest, c.Latest(next.Add(-time.Nanosecond)))
	for _, s := range []time.Time{latest, next} {
		require.Equal(t, time.UTC, s.Location())
		l := s.In(loc)
		w := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), 0, 0, time.UTC)
		if l.Second() == 0 && l.Nanosecond() == 0 && utc.Latest(w).Equal(w) {
			continue // a wall time that matches
		}
		start, _ := l.ZoneBounds()
		require.True(t, start.Equal(s), "slot %s (%s) neither matches nor ends a gap", s, l)
		_, before := s.Add(-time.Nanosecond).In(loc).Zone()
		_, after := l.Zone()
		require.Greater(t, after, before, "slot %s ends a gap: the clocks sprang forward", s)
	}
}

var propertyZones = []string{
	"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Pacific/Apia",
	"Asia/Kolkata", "Europe/London", "Pacific/Chatham", "UTC",
}

var propertyExprs = []string{
	"30 2 * * *", "30 1 * * *", "0 * * * *", "*/15 * * * *", "0 0 29 2 *", "0 2 * * SUN", "30 23 31 * *",
	"* * * * *", "0 0 1 1 *",
}

// TestInProperties checks checkZoned at random instants from 1970 to 2100.
func TestInProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	lo := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, zone := range propertyZones {
		loc := mustZone(t, zone)
		for _, expr := range propertyExprs {
			c := mustParse(t, expr).In(loc)
			for range 60 {
				checkZoned(t, c, time.Unix(lo+rng.Int64N(hi-lo), rng.Int64N(1e9)).UTC())
			}
			// Hour by hour across the end of a leap year past the zone's
			// listed transitions (where Go reports a period's end wrongly).
			for u := time.Date(2040, 12, 29, 0, 0, 0, 0, time.UTC); u.Year() == 2040 || u.Day() < 3; u = u.Add(time.Hour) {
				checkZoned(t, c, u)
			}
			// and around each transition of 2026
			for _, d := range transitionDays(loc, 2026) {
				date, err := time.ParseInLocation(time.DateOnly, d, loc)
				require.NoError(t, err)
				for range 40 {
					checkZoned(t, c, date.Add(time.Duration(rng.Int64N(int64(48*time.Hour)))))
				}
			}
		}
	}
}

// FuzzLatestInZone checks checkZoned at any instant from 1900 to 2200, in
// any of a few zones, for a few expressions.
func FuzzLatestInZone(f *testing.F) {
	for _, s := range []struct {
		unix       int64
		zone, expr uint8
	}{
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).Unix(), 0, 0},
		{time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC).Unix(), 1, 1},
		{time.Date(2026, 11, 1, 5, 59, 59, 0, time.UTC).Unix(), 1, 3},
		{time.Date(2011, 12, 30, 10, 0, 0, 0, time.UTC).Unix(), 4, 2},
		{0, 8, 4},
	} {
		f.Add(s.unix, s.zone, s.expr)
	}
	lo := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	crons := make([][]*schedule.Cron, len(propertyZones))
	for i, zone := range propertyZones {
		loc := mustZone(f, zone)
		for _, expr := range propertyExprs {
			crons[i] = append(crons[i], mustParse(f, expr).In(loc))
		}
	}
	f.Fuzz(func(t *testing.T, unix int64, zone, expr uint8) {
		if unix < lo || unix >= hi {
			return
		}
		cs := crons[int(zone)%len(crons)]
		checkZoned(t, cs[int(expr)%len(cs)], time.Unix(unix, 0))
	})
}

func TestInUTCIsUnchanged(t *testing.T) {
	c := mustParse(t, "*/15 9-17 * * MON-FRI")
	assert.Equal(t, time.UTC, c.Location())
	assert.Equal(t, c, c.In(time.UTC), "In(UTC) is the schedule Parse returns")
	utc, err := schedule.LoadLocation("")
	require.NoError(t, err)
	assert.Same(t, time.UTC, utc)
	assert.Equal(t, c, c.In(utc))

	berlin := c.In(mustZone(t, "Europe/Berlin"))
	assert.Equal(t, "Europe/Berlin", berlin.Location().String())
	assert.Equal(t, c.String(), berlin.String(), "the expression does not name the zone")
	assert.Equal(t, time.UTC, c.Location(), "In returns a copy")
	assert.Equal(t, c, berlin.In(time.UTC))
	tm := time.Date(2026, 7, 1, 10, 7, 0, 0, time.UTC) // a Wednesday, 12:07 in Berlin
	assert.Equal(t, time.Date(2026, 7, 1, 10, 15, 0, 0, time.UTC), c.Next(tm))
	assert.Equal(t, time.Date(2026, 7, 1, 10, 15, 0, 0, time.UTC), berlin.Next(tm))
	assert.Equal(t, time.Date(2026, 7, 1, 15, 45, 0, 0, time.UTC), berlin.Latest(time.Date(2026, 7, 1, 18, 0, 0, 0, time.UTC)),
		"17:45 Berlin time")

	var none *schedule.Cron
	assert.Nil(t, none.In(time.UTC))
	assert.Equal(t, time.UTC, none.Location())
	assert.PanicsWithValue(t, "schedule: Cron.In with a nil *time.Location", func() { c.In(nil) })

	noDay := mustParse(t, "0 0 30 2 *").In(mustZone(t, "America/New_York"))
	assert.True(t, noDay.Next(tm).IsZero())
	assert.True(t, noDay.Latest(tm).IsZero())
}

func TestInFixedZone(t *testing.T) {
	c := mustParse(t, "0 2 * * *").In(time.FixedZone("UTC+5:30", 5*3600+1800))
	tm := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, time.Date(2026, 3, 14, 20, 30, 0, 0, time.UTC), c.Next(tm))
	assert.Equal(t, time.Date(2026, 3, 13, 20, 30, 0, 0, time.UTC), c.Latest(tm))
}

func TestLoadLocation(t *testing.T) {
	for _, name := range []string{"", "UTC", "Europe/Berlin", "America/New_York", "Etc/GMT+5", "Asia/Kolkata"} {
		loc, err := schedule.LoadLocation(name)
		require.NoError(t, err, name)
		if name == "" {
			name = "UTC"
		}
		assert.Equal(t, name, loc.String())
	}
	for name, msg := range map[string]string{
		"Mars/Olympus":        `time zone "Mars/Olympus": not a zone of the IANA time zone database`,
		"Europe/Berlin ":      `time zone "Europe/Berlin ": not a zone of the IANA time zone database`,
		"../etc/passwd":       `time zone "../etc/passwd": not a zone of the IANA time zone database`,
		"/etc/localtime":      `time zone "/etc/localtime": not a zone of the IANA time zone database`,
		"Europe":              `time zone "Europe": not a zone of the IANA time zone database`,
		"Europe/Berlin\x00":   `time zone "Europe/Berlin\x00": not a zone of the IANA time zone database`,
		"+02:00":              `time zone "+02:00": not a zone of the IANA time zone database`,
		"Local":               `time zone "Local": the zone of the machine is not allowed: name an IANA zone such as "Europe/Berlin"`,
		"localtime":           `time zone "localtime": the zone of the machine is not allowed: name an IANA zone such as "Europe/Berlin"`,
		"posixrules":          `time zone "posixrules": not a zone of the IANA time zone database (a variant some systems install beside it)`,
		"right/Europe/Berlin": `time zone "right/Europe/Berlin": not a zone of the IANA time zone database (a variant some systems install beside it)`,
		"posix/Europe/Berlin": `time zone "posix/Europe/Berlin": not a zone of the IANA time zone database (a variant some systems install beside it)`,
		// Paths a system database would resolve: the embedded one knows names only.
		"./Europe/Berlin":   `time zone "./Europe/Berlin": not a zone of the IANA time zone database`,
		"Europe//Berlin":    `time zone "Europe//Berlin": not a zone of the IANA time zone database`,
		"Europe/./Berlin":   `time zone "Europe/./Berlin": not a zone of the IANA time zone database`,
		"./localtime":       `time zone "./localtime": not a zone of the IANA time zone database`,
		"./posixrules":      `time zone "./posixrules": not a zone of the IANA time zone database`,
		"europe/berlin":     `time zone "europe/berlin": not a zone of the IANA time zone database`,
		"Europe/Berlin/":    `time zone "Europe/Berlin/": not a zone of the IANA time zone database`,
		"zoneinfo.zip":      `time zone "zoneinfo.zip": not a zone of the IANA time zone database`,
		"Europe/Berlin.zip": `time zone "Europe/Berlin.zip": not a zone of the IANA time zone database`,
	} {
		loc, err := schedule.LoadLocation(name)
		assert.Nil(t, loc, name)
		assert.ErrorIs(t, err, schedule.ErrUnknownZone, name)
		assert.NotErrorIs(t, err, schedule.ErrInvalid, name)
		assert.EqualError(t, err, msg)
	}
}

// Zones are read from the embedded database, never from the machine's: a
// $ZONEINFO whose Europe/Berlin holds Tokyo's rules changes nothing.
func TestZonesComeFromTheEmbeddedDatabase(t *testing.T) {
	tokyo, err := schedule.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "Europe"), 0o755))
	sys, err := os.ReadFile("/usr/share/zoneinfo/Asia/Tokyo")
	if err != nil {
		t.Skip("no system zone database to copy Tokyo from:", err)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Europe", "Berlin"), sys, 0o644))
	t.Setenv("ZONEINFO", dir)
	berlin, err := schedule.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	winter := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	_, off := winter.In(berlin).Zone()
	assert.Equal(t, 3600, off, "Berlin is an hour ahead of UTC in January")
	_, off = winter.In(tokyo).Zone()
	assert.Equal(t, 9*3600, off)
	again, err := schedule.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	assert.Same(t, berlin, again, "a zone is parsed once and kept")
	assert.Equal(t, "2025c", schedule.ZoneDataVersion)
}
