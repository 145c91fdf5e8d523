// Package scheduletest provides a settable [schedule.Clock] for tests: code
// that takes a Clock can be driven through days of schedule in microseconds,
// with no sleeping.
package scheduletest

import (
	"sync"
	"time"

	"github.com/debrief-go/debrief/schedule"
)

var _ schedule.Clock = (*Clock)(nil)

// A Clock is a [schedule.Clock] whose time moves only when it is told to.
// Its methods are safe for concurrent use. The zero Clock reads the zero
// time; [NewClock] starts one at a given time.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads start, in UTC.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start.UTC()}
}

// Now returns the clock's current time, in UTC.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t (converted to UTC), forwards or backwards.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC()
}

// Advance moves the clock by d (backwards when d is negative) and returns
// the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}
