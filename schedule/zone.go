package schedule

import (
	"archive/zip"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// ZoneDataVersion is the release of the IANA time zone database this
// package embeds and reads every zone from.
const ZoneDataVersion = "2025c"

// zoneData is the IANA time zone database, release ZoneDataVersion, as Go
// distributes it. Zones are read from it and never from the machine: the
// system's database, or a $ZONEINFO, may be of another release, and two
// replicas that read a zone's rules differently would put one wall-clock
// slot at two instants and fire it twice, or not know a zone the others
// accepted and never fire it. Replicas built from one version of this
// package agree whatever machine they run on. See tzdata/README.md.
//
//go:embed tzdata/zoneinfo.zip
var zoneData []byte

// ErrUnknownZone is matched (with [errors.Is]) by every error
// [LoadLocation] returns: the name is not a time zone a schedule may name.
var ErrUnknownZone = errors.New("schedule: unknown time zone")

var zones struct {
	once  sync.Once
	files map[string]*zip.File // by name, exactly as the database spells it
	err   error

	mu     sync.Mutex
	loaded map[string]*time.Location
}

// zoneFile returns the entry of the named zone in the embedded database.
func zoneFile(name string) (*zip.File, error) {
	zones.once.Do(func() {
		r, err := zip.NewReader(bytes.NewReader(zoneData), int64(len(zoneData)))
		if err != nil {
			zones.err = fmt.Errorf("schedule: the embedded time zone database: %w", err)
			return
		}
		zones.files = make(map[string]*zip.File, len(r.File))
		for _, f := range r.File {
			zones.files[f.Name] = f
		}
		zones.loaded = map[string]*time.Location{}
	})
	if zones.err != nil {
		return nil, zones.err
	}
	return zones.files[name], nil
}

// LoadLocation returns the time zone a schedule names: "" and "UTC" are UTC,
// and any other name must be a zone of the IANA time zone database, such as
// "Europe/Berlin" or "America/New_York", spelt exactly as the database
// spells it (case and all).
//
// Zones are read from the copy of the database this package embeds
// (release [ZoneDataVersion]), never from the machine, so that every
// replica that evaluates a schedule finds the same slots: "Local" and
// "localtime" (each machine's own zone), paths ("./Europe/Berlin",
// "Europe//Berlin") and the variants some systems install beside the
// database ("posix/…", "right/…") are refused. A zone is parsed once and
// kept.
//
// Every error matches [ErrUnknownZone] and names the zone, for example:
//
//	time zone "Mars/Olympus": not a zone of the IANA time zone database
func LoadLocation(name string) (*time.Location, error) {
	switch {
	case name == "" || name == "UTC":
		return time.UTC, nil
	case name == "Local" || name == "localtime":
		return nil, &zoneError{name, `the zone of the machine is not allowed: name an IANA zone such as "Europe/Berlin"`}
	case name == "posixrules" || strings.HasPrefix(name, "posix/") || strings.HasPrefix(name, "right/"):
		return nil, &zoneError{name, "not a zone of the IANA time zone database (a variant some systems install beside it)"}
	}
	f, err := zoneFile(name)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, &zoneError{name, "not a zone of the IANA time zone database"}
	}
	zones.mu.Lock()
	defer zones.mu.Unlock()
	if loc := zones.loaded[name]; loc != nil {
		return loc, nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("schedule: the embedded time zone database: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("schedule: the embedded time zone database: %w", err)
	}
	loc, err := time.LoadLocationFromTZData(name, data)
	if err != nil {
		return nil, &zoneError{name, "its rules in the time zone database cannot be read"}
	}
	zones.loaded[name] = loc
	return loc, nil
}

// zoneError is the error of LoadLocation.
type zoneError struct{ name, reason string }

func (e *zoneError) Error() string        { return fmt.Sprintf("time zone %q: %s", e.name, e.reason) }
func (e *zoneError) Is(target error) bool { return target == ErrUnknownZone }

// maxOffset bounds the UTC offset of every zone, historical local mean times
// included (the widest, Asia/Manila's before 1845, is 15h56m); today's
// offsets lie within -12h and +14h.
const maxOffset = 24 * time.Hour

// In returns a copy of c whose fields are read on the wall clock of loc:
// "0 2 * * *" in Europe/Berlin is 02:00 Berlin time, whether that is 01:00
// UTC in winter or 00:00 UTC in summer. The slots it returns — from Next,
// Latest, and so from the package's [Latest] and [Due] — are still instants
// in UTC, so that a slot recorded by one replica means the same moment to
// every other. In(time.UTC) is c as [Parse] returned it. In panics if loc is
// nil, as [time.Time.In] does; a nil c stays nil.
//
// A slot is a wall-clock minute of loc that the expression matches, and it
// fires at most once, at the first instant the wall clock reads it or later.
// So on the days of a daylight-saving transition:
//
//   - A wall time skipped when the clocks spring forward fires once, at the
//     instant of the transition: "30 2 * * *" in Europe/Berlin fires on
//     2026-03-29, when 02:00 CET becomes 03:00 CEST, at 03:00 CEST (01:00
//     UTC). All the slots of the skipped hour become that one slot:
//     "*/15 * * * *" fires at 01:45 CET and then once at 03:00 CEST, and
//     "30 * * * *" at 01:30 CET, 03:00 CEST and 03:30 CEST. This is what
//     Vixie cron and cronie do with jobs of a fixed time: "those jobs that
//     would have run in the interval that has been skipped will be run
//     immediately".
//   - A wall time repeated when the clocks fall back fires once, at its
//     first occurrence: "30 1 * * *" in America/New_York fires on
//     2026-11-01 at 01:30 EDT (05:30 UTC) and not again at 01:30 EST. The
//     rule holds for every expression, so "*/15 * * * *" fires at 01:45 EDT
//     and next at 02:00 EST, 75 minutes later, and "0 * * * *" does not
//     fire at 01:00 EST. (Vixie cron runs its jobs of an hour or less in
//     the repeated hour again; here a wall-clock slot never fires twice.)
//
// Every other slot is the one instant its wall time has. The same rules hold
// for any transition of any zone, whatever its size: a wall time that does
// not exist fires at the end of the gap; one that exists twice, the first
// time.
func (c *Cron) In(loc *time.Location) *Cron {
	if loc == nil {
		panic("schedule: Cron.In with a nil *time.Location")
	}
	if c == nil {
		return nil
	}
	z := *c
	z.loc = loc
	if loc == time.UTC {
		z.loc = nil
	}
	return &z
}

// Location returns the time zone whose wall clock c's fields are read on:
// [time.UTC] unless c was made with [Cron.In].
func (c *Cron) Location() *time.Location {
	if c == nil || c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// The helpers below represent a wall-clock reading of a zone as the time in
// UTC with the same fields (a civil time), so that the calendar arithmetic
// of Cron.next and Cron.latest applies to it unchanged. Reading the clock of
// loc over time, wall(u) rises with u except where a transition sets it
// back; a civil time w is a slot instant at firstInstant(w): the first
// instant whose reading is w or later, which is w's first occurrence or, for
// a w that a transition skips, the end of the gap. firstInstant never
// decreases as w grows, so the slots at or before t are those of the civil
// times at or before maxWall(t), the highest reading up to t.

// wall returns the reading of loc's clock at instant u, as a civil time.
func wall(u time.Time, loc *time.Location) time.Time {
	_, off := u.In(loc).Zone()
	return u.UTC().Add(time.Duration(off) * time.Second)
}

// maxWall returns the highest reading of loc's clock at any instant at or
// before t. It is wall(t) unless the clock was set back shortly before t:
// then it is the reading just before that transition, until the clock
// catches up. No transition more than 2*maxOffset before t can matter: the
// clock then read at most wall(t).
func maxWall(t time.Time, loc *time.Location) time.Time {
	m := wall(t, loc)
	horizon := t.Add(-2 * maxOffset)
	for u := t; ; {
		start, _ := u.In(loc).ZoneBounds()
		if start.IsZero() || !start.After(horizon) {
			return m
		}
		u = start.Add(-time.Nanosecond)
		if w := wall(u, loc); w.After(m) {
			m = w
		}
	}
}

// firstInstant returns, in UTC, the first instant at which loc's clock
// reads the civil time w or later. It lies within maxOffset of w: before
// w-maxOffset the clock reads less than w, and from w+maxOffset on it reads
// w or more.
//
// It walks the zone's periods backwards from w+maxOffset, as maxWall does,
// and then forwards through them: the start of a period, from
// [time.Time.ZoneBounds], is always at or before the instant asked about,
// while its end may be, for zones past their last listed transition, the
// end of a year, and in a leap year the day before it.
func firstInstant(w time.Time, loc *time.Location) time.Time {
	lo, hi := w.Add(-maxOffset), w.Add(maxOffset)
	type period struct {
		start time.Time // until the start of the period before it in the list
		off   time.Duration
	}
	periods := make([]period, 0, 8) // latest first
	for u := hi; ; {
		l := u.In(loc)
		_, off := l.Zone()
		start, _ := l.ZoneBounds()
		if start.IsZero() || !start.After(lo) {
			periods = append(periods, period{lo, time.Duration(off) * time.Second})
			break
		}
		periods = append(periods, period{start.UTC(), time.Duration(off) * time.Second})
		u = start.Add(-time.Nanosecond)
	}
	for i := len(periods) - 1; ; i-- {
		p := periods[i]
		// In this period the clock reads x+off at instant x.
		x := w.Add(-p.off)
		if !x.After(p.start) {
			return p.start // the clock jumped past w as the period began
		}
		if i == 0 || x.Before(periods[i-1].start) {
			return x // i == 0: wall(hi) >= w, so x <= hi
		}
	}
}
