package schedule_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/debrief-go/debrief/schedule"
	"github.com/debrief-go/debrief/schedule/scheduletest"
)

func ExampleParse() {
	nightly, err := schedule.Parse("0 2 * * *")
	if err != nil {
		panic(err)
	}
	now := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	fmt.Println("next:  ", nightly.Next(now))
	fmt.Println("latest:", nightly.Latest(now))

	// Day of month and day of week both restricted: either matches.
	c, _ := schedule.Parse("0 0 13 * FRI")
	t := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)
	for range 4 {
		t = c.Next(t)
		fmt.Println(t.Format("Mon Jan 2"))
	}
	// Output:
	// next:   2025-03-15 02:00:00 +0000 UTC
	// latest: 2025-03-14 02:00:00 +0000 UTC
	// Fri Jun 13
	// Fri Jun 20
	// Fri Jun 27
	// Fri Jul 4
}

func ExampleParse_error() {
	_, err := schedule.Parse("0 25 * * *")
	fmt.Println(err)

	var pe *schedule.ParseError
	if errors.As(err, &pe) {
		fmt.Println(pe.Field, "|", pe.Reason)
	}
	fmt.Println(errors.Is(err, schedule.ErrInvalid))

	_, err = schedule.Parse("0 0 2 * * *")
	fmt.Println(err)
	// Output:
	// cron "0 25 * * *": hour field "25": value 25 out of range 0-23
	// hour | value 25 out of range 0-23
	// true
	// cron "0 0 2 * * *": expected 5 fields (minute hour day-of-month month day-of-week), got 6: a seconds field is not supported
}

func ExampleDue() {
	nightly, _ := schedule.Parse("0 2 * * *")
	clock := scheduletest.NewClock(time.Date(2025, 3, 1, 1, 59, 30, 0, time.UTC))
	var lastRun time.Time // the most recent run's creation time; none yet,
	// so the first tick serves the latest slot (Feb 28's) at once.

	for range 4 {
		now := clock.Now()
		slot, due := schedule.Due(nightly, now, lastRun)
		fmt.Printf("%s  slot %s  due %t\n", now.Format("Jan 2 15:04:05"), slot.Format("Jan 2 15:04"), due)
		if due {
			lastRun = now // the run, created now, serves the slot
		}
		clock.Advance(30 * time.Second)
	}

	// Down for three nights: only the latest missed slot fires, once.
	clock.Set(time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC))
	slot, due := schedule.Due(nightly, clock.Now(), lastRun)
	fmt.Println("after downtime:", slot.Format("Jan 2 15:04"), due)
	fmt.Println("late by more than an hour:", schedule.Late(slot, clock.Now(), time.Hour))
	// Output:
	// Mar 1 01:59:30  slot Feb 28 02:00  due true
	// Mar 1 02:00:00  slot Mar 1 02:00  due true
	// Mar 1 02:00:30  slot Mar 1 02:00  due false
	// Mar 1 02:01:00  slot Mar 1 02:00  due false
	// after downtime: Mar 4 02:00 true
	// late by more than an hour: true
}

func ExampleCron_In() {
	berlin, err := schedule.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	nightly, _ := schedule.Parse("30 2 * * *")
	nightly = nightly.In(berlin)

	// On 2026-03-29 Berlin's clocks spring from 02:00 to 03:00: 02:30 is
	// skipped and fires once, at 03:00. On 2026-10-25 they fall back from
	// 03:00 to 02:00: 02:30 comes twice and fires once, the first time.
	for _, from := range []time.Time{
		time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC),
	} {
		slot := from
		for range 3 {
			slot = nightly.Next(slot)
			fmt.Println(slot.Format("Jan 2 15:04 MST"), "=", slot.In(berlin).Format("15:04 MST"))
		}
	}
	// Output:
	// Mar 28 01:30 UTC = 02:30 CET
	// Mar 29 01:00 UTC = 03:00 CEST
	// Mar 30 00:30 UTC = 02:30 CEST
	// Oct 24 00:30 UTC = 02:30 CEST
	// Oct 25 00:30 UTC = 02:30 CEST
	// Oct 26 01:30 UTC = 02:30 CET
}

func ExampleLoadLocation() {
	_, err := schedule.LoadLocation("Europe/Berlim")
	fmt.Println(err)
	fmt.Println(errors.Is(err, schedule.ErrUnknownZone))
	utc, _ := schedule.LoadLocation("")
	fmt.Println(utc)
	// Output:
	// time zone "Europe/Berlim": not a zone of the IANA time zone database
	// true
	// UTC
}
