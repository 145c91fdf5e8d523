package schedule_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/debrief-go/debrief/schedule"
)

// FuzzParse parses arbitrary strings: Parse must never panic; it either
// returns a schedule whose slots move forward and agree with Latest, or a
// *ParseError that matches ErrInvalid and names a field (or the whole
// expression).
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"0 2 * * *", "* * * * *", "*/15 9-17 * * MON-FRI", "0 0 13 * FRI", "0 0 29 2 *", "0 0 30 2 *",
		"5/20 */6 */2 jan-dec/2 0-7", "0 0 1-7 * */7", "@daily", "@every 5m", "@reboot", "0 0 * * * *",
		"0 25 * * *", "1,,2 * * * *", "*/0 * * * *", "0 0 ? * MON#2", "0 0 L * *", "99999999999999999999 * * * *",
		"\t0\t2\t*\t*\t*\t", "0 0 * * SAT-SUN", "", "@", "*-5 * * * *", "ÿ * * * *",
	} {
		f.Add(seed)
	}
	fields := map[string]bool{"": true, "minute": true, "hour": true, "day-of-month": true, "month": true, "day-of-week": true}
	start := time.Date(2025, 2, 27, 23, 58, 30, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		c, err := schedule.Parse(expr)
		if err != nil {
			var pe *schedule.ParseError
			if !errors.As(err, &pe) || !errors.Is(err, schedule.ErrInvalid) {
				t.Fatalf("Parse(%q): unclassified error %v", expr, err)
			}
			if !fields[pe.Field] || pe.Reason == "" || pe.Expr != expr {
				t.Fatalf("Parse(%q): malformed error %+v", expr, pe)
			}
			if pe.Field != "" && !strings.Contains(err.Error(), pe.Field+" field") {
				t.Fatalf("Parse(%q): message %q does not name the field", expr, err)
			}
			return
		}
		again, err := schedule.Parse(c.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", expr, c.String(), err)
		}
		prev := start
		for i := range 4 {
			next := c.Next(prev)
			if next.IsZero() {
				if i > 0 || !c.Latest(start).IsZero() {
					t.Fatalf("%q: slots stop after %s", expr, prev)
				}
				return
			}
			if !next.After(prev) || next.Second() != 0 || next.Nanosecond() != 0 || next.Location() != time.UTC {
				t.Fatalf("%q: Next(%s) = %s", expr, prev, next)
			}
			if l := c.Latest(next); !l.Equal(next) {
				t.Fatalf("%q: Latest(%s) = %s, want the slot itself", expr, next, l)
			}
			if l := c.Latest(next.Add(-time.Nanosecond)); !l.Before(next) || (i > 0 && !l.Equal(prev)) {
				t.Fatalf("%q: Latest just before %s = %s (previous slot %s)", expr, next, l, prev)
			}
			if a := again.Next(prev); !a.Equal(next) {
				t.Fatalf("%q and its String %q disagree: %s vs %s", expr, c.String(), next, a)
			}
			prev = next
		}
	})
}
