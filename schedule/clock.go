package schedule

import "time"

// A Clock tells the time. Code that decides with [Due] takes a Clock instead
// of reading the wall clock, so that tests control time; the scheduletest
// subpackage has a settable one. Now must be safe for concurrent use.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real [Clock]: the wall clock, in UTC.
type SystemClock struct{}

// Now returns the current time in UTC (without a monotonic reading).
func (SystemClock) Now() time.Time { return time.Now().UTC() }
