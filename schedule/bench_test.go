package schedule_test

import (
	"testing"
	"time"

	"github.com/debrief-go/debrief/schedule"
)

var benchExprs = []struct{ name, expr string }{
	{"nightly", "0 2 * * *"},
	{"business", "*/15 9-17 * * MON-FRI"},
	{"or", "0 0 13 * FRI"},
	{"leapday", "0 0 29 2 *"},
}

func BenchmarkParse(b *testing.B) {
	for _, e := range benchExprs {
		b.Run(e.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := schedule.Parse(e.expr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNext(b *testing.B) {
	berlin, err := schedule.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range benchExprs {
		for _, loc := range []*time.Location{time.UTC, berlin} {
			name := e.name
			if loc != time.UTC {
				name += "/berlin"
			}
			b.Run(name, func(b *testing.B) {
				c, err := schedule.Parse(e.expr)
				if err != nil {
					b.Fatal(err)
				}
				c = c.In(loc)
				t := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
				b.ReportAllocs()
				for b.Loop() {
					t = c.Next(t)
				}
			})
		}
	}
}

func BenchmarkLatest(b *testing.B) {
	for _, e := range benchExprs {
		c, err := schedule.Parse(e.expr)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
		b.Run(e.name+"/cron", func(b *testing.B) {
			b.ReportAllocs()
			t := start
			for b.Loop() {
				t = c.Latest(t).Add(-time.Second)
			}
		})
		berlin, err := schedule.LoadLocation("Europe/Berlin")
		if err != nil {
			b.Fatal(err)
		}
		zoned := c.In(berlin)
		b.Run(e.name+"/cron/berlin", func(b *testing.B) {
			b.ReportAllocs()
			t := start
			for b.Loop() {
				t = zoned.Latest(t).Add(-time.Second)
			}
		})
		b.Run(e.name+"/generic", func(b *testing.B) {
			// A host's schedule with only Next: the bisection search.
			var s schedule.Schedule = nextOnly{c}
			b.ReportAllocs()
			t := start
			for b.Loop() {
				l, _ := schedule.Latest(s, t)
				t = l.Add(-time.Second)
			}
		})
	}
}

func BenchmarkDue(b *testing.B) {
	c, err := schedule.Parse("0 2 * * *")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	lastRun := time.Date(2025, 3, 14, 2, 0, 10, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(30 * time.Second)
		schedule.Due(c, now, lastRun)
	}
}

func BenchmarkLoadLocation(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schedule.LoadLocation("Europe/Berlin"); err != nil {
			b.Fatal(err)
		}
	}
}
