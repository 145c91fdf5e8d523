package analysis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/schedule"
)

// zoned creates the intent definition scheduled on cron in the named zone.
func zoned(t *testing.T, e *env, cron, zone string) analysis.Definition {
	t.Helper()
	in := intentDefinition()
	in.Schedule = &analysis.Schedule{Cron: cron, TimeZone: zone, Enabled: true, Selection: &analysis.Selection{Strategy: analysis.SelectAll}}
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	return d
}

// tickThrough advances the clock by step until end, ticking a scheduler
// (a new one every few ticks, as after a restart) and finishing every run
// started, and returns the slots that fired, in UTC.
func tickThrough(t *testing.T, e *env, defKey string, end time.Time, step time.Duration) []time.Time {
	t.Helper()
	sc := e.svc.Scheduler(analysis.SchedulerConfig{})
	for i := 0; e.clock.Now().Before(end); i++ {
		e.clock.Advance(step)
		if i%13 == 0 {
			sc = e.svc.Scheduler(analysis.SchedulerConfig{})
		}
		_, err := sc.Tick(context.Background())
		require.NoError(t, err)
		drain(t, e)
	}
	var slots []time.Time
	for _, r := range slotRuns(t, e, defKey) {
		require.NotNil(t, r.Trigger.Slot)
		slots = append([]time.Time{r.Trigger.Slot.UTC()}, slots...) // ListRuns is latest first
	}
	return slots
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// The daylight-saving days of 2026 in both zones: a skipped 02:30 fires
// once, at the end of the gap; a repeated 01:30 fires once, the first time.
func TestSchedulerInTimeZonesAcrossDaylightSavingTransitions(t *testing.T) {
	for _, tc := range []struct {
		name, zone, cron string
		from, to         string
		want             []string
	}{
		{
			name: "Berlin spring forward: 02:30 does not exist on 29 March",
			zone: "Europe/Berlin", cron: "30 2 * * *",
			from: "2026-03-27T12:00:00Z", to: "2026-03-31T12:00:00Z",
			want: []string{
				"2026-03-28T02:30:00+01:00",
				"2026-03-29T03:00:00+02:00", // the end of the gap, once
				"2026-03-30T02:30:00+02:00",
				"2026-03-31T02:30:00+02:00",
			},
		},
		{
			name: "Berlin fall back: 02:30 happens twice on 25 October",
			zone: "Europe/Berlin", cron: "30 2 * * *",
			from: "2026-10-23T12:00:00Z", to: "2026-10-27T12:00:00Z",
			want: []string{
				"2026-10-24T02:30:00+02:00",
				"2026-10-25T02:30:00+02:00", // the first, in summer time, only
				"2026-10-26T02:30:00+01:00",
				"2026-10-27T02:30:00+01:00",
			},
		},
		{
			name: "New York spring forward: 02:30 does not exist on 8 March",
			zone: "America/New_York", cron: "30 2 * * *",
			from: "2026-03-06T12:00:00Z", to: "2026-03-10T12:00:00Z",
			want: []string{
				"2026-03-07T02:30:00-05:00",
				"2026-03-08T03:00:00-04:00",
				"2026-03-09T02:30:00-04:00",
				"2026-03-10T02:30:00-04:00",
			},
		},
		{
			name: "New York fall back: 01:30 happens twice on 1 November",
			zone: "America/New_York", cron: "30 1 * * *",
			from: "2026-10-30T12:00:00Z", to: "2026-11-03T12:00:00Z",
			want: []string{
				"2026-10-31T01:30:00-04:00",
				"2026-11-01T01:30:00-04:00", // EDT; not again at 01:30 EST
				"2026-11-02T01:30:00-05:00",
				"2026-11-03T01:30:00-05:00",
			},
		},
		{
			name: "New York hourly through the repeated hour",
			zone: "America/New_York", cron: "0 * * * *",
			from: "2026-11-01T03:30:00Z", to: "2026-11-01T08:30:00Z",
			want: []string{
				"2026-11-01T00:00:00-04:00",
				"2026-11-01T01:00:00-04:00",
				// 01:00 EST is the same wall-clock slot: it does not fire again
				"2026-11-01T02:00:00-05:00",
				"2026-11-01T03:00:00-05:00",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []time.Duration{time.Minute, 7 * time.Minute} {
				e := newEnv(t, instantModel)
				e.clock.Set(utc(tc.from))
				ingest(t, e, 1)
				d := zoned(t, e, tc.cron, tc.zone)
				got := tickThrough(t, e, d.Key, utc(tc.to), step)
				var want []time.Time
				for _, w := range tc.want {
					want = append(want, utc(w))
				}
				assert.Equal(t, want, got, "ticking every %s", step)
			}
		})
	}
}

// A nightly 02:00 in each zone fires 365 times in 2026, each at 02:00 on the
// zone's wall clock — or, on the night the clocks spring forward past
// 02:00, at 03:00, the first minute after the gap.
func TestSchedulerNightlyInTimeZonesForAYear(t *testing.T) {
	if testing.Short() {
		t.Skip("a year of ticks; run without -short")
	}
	for _, zone := range []string{"Europe/Berlin", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			loc, err := schedule.LoadLocation(zone)
			require.NoError(t, err)
			e := newEnv(t, instantModel)
			e.clock.Set(time.Date(2025, 12, 31, 12, 0, 0, 0, loc))
			ingest(t, e, 1)
			d := zoned(t, e, "0 2 * * *", zone)
			slots := tickThrough(t, e, d.Key, time.Date(2027, 1, 1, 0, 0, 0, 0, loc), 20*time.Minute)
			require.Len(t, slots, 365)
			days := map[string]bool{}
			springs := 0
			for _, s := range slots {
				l := s.In(loc)
				days[l.Format(time.DateOnly)] = true
				switch {
				case l.Hour() == 2 && l.Minute() == 0:
				case l.Hour() == 3 && l.Minute() == 0 && time.Date(l.Year(), l.Month(), l.Day(), 2, 0, 0, 0, loc).Hour() != 2:
					springs++ // 02:00 did not exist that night
				default:
					t.Errorf("slot %s is %s on the wall clock", s, l.Format("15:04 MST"))
				}
			}
			assert.Len(t, days, 365, "one slot each night")
			assert.Equal(t, 1, springs, "both zones spring from 02:00 to 03:00 once a year (29 March, 8 March): 02:00 fires at 03:00 that night")
		})
	}
}

func TestAScheduleNamesAZoneOfTheDatabase(t *testing.T) {
	e := newEnv(t, nil)
	for _, zone := range []string{"Mars/Olympus", "Local", "localtime", "europe/berlin", "posix/Europe/Berlin", "../../etc/passwd", strings.Repeat("A", 70)} {
		in := intentDefinition()
		in.Schedule = &analysis.Schedule{Cron: "0 2 * * *", TimeZone: zone}
		_, err := e.svc.CreateDefinition(context.Background(), scope, in)
		assert.ErrorIs(t, err, analysis.ErrInvalid, zone)
		assert.Equal(t, []string{"$.schedule.timeZone"}, paths(problemsOf(t, err)), zone)
		assert.Less(t, len(err.Error()), 300, "the error does not echo a long name whole")
	}
	in := intentDefinition()
	in.Schedule = &analysis.Schedule{Cron: "0 2 * * *", TimeZone: "Asia/Kolkata"}
	d, err := e.svc.CreateDefinition(context.Background(), scope, in)
	require.NoError(t, err)
	assert.Equal(t, "Asia/Kolkata", d.Schedule.TimeZone)
	_, err = e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"schedule":{"cron":"0 2 * * *","timeZone":"Nowhere/Else"}}`))
	assert.Equal(t, []string{"$.schedule.timeZone"}, paths(problemsOf(t, err)), "nor set by a patch")
	got, err := e.svc.GetDefinition(context.Background(), scope, d.Key)
	require.NoError(t, err)
	assert.Equal(t, "Asia/Kolkata", got.Schedule.TimeZone, "a refused patch changes nothing")
	for _, utcName := range []string{"", "UTC"} {
		_, err := e.svc.UpdateDefinition(context.Background(), scope, d.Key, []byte(`{"schedule":{"cron":"0 2 * * *","timeZone":"`+utcName+`"}}`))
		assert.NoError(t, err, "%q is UTC", utcName)
	}
}
