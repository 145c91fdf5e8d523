package scheduletest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/debrief-go/debrief/schedule"
	"github.com/debrief-go/debrief/schedule/scheduletest"
)

func TestClock(t *testing.T) {
	plus2 := time.FixedZone("UTC+2", 2*60*60)
	start := time.Date(2025, 3, 1, 4, 0, 0, 0, plus2)
	c := scheduletest.NewClock(start)
	var _ schedule.Clock = c

	assert.Equal(t, time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC), c.Now())
	assert.Equal(t, time.UTC, c.Now().Location())
	assert.Equal(t, c.Now(), c.Now(), "time stands still until moved")

	assert.Equal(t, time.Date(2025, 3, 1, 2, 0, 30, 0, time.UTC), c.Advance(30*time.Second))
	assert.Equal(t, time.Date(2025, 3, 1, 2, 0, 30, 0, time.UTC), c.Now())
	assert.Equal(t, time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC), c.Advance(-30*time.Second))

	c.Set(time.Date(2024, 12, 31, 23, 0, 0, 0, plus2))
	assert.Equal(t, time.Date(2024, 12, 31, 21, 0, 0, 0, time.UTC), c.Now(), "Set moves backwards too")
}

func TestZeroClock(t *testing.T) {
	var c scheduletest.Clock
	assert.True(t, c.Now().IsZero())
	c.Advance(time.Hour)
	assert.Equal(t, time.Time{}.Add(time.Hour), c.Now())
}

func TestClockConcurrent(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := scheduletest.NewClock(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.Advance(time.Second)
			}
		}()
		go func() {
			defer wg.Done()
			prev := c.Now()
			for range 1000 {
				now := c.Now()
				if now.Before(prev) {
					t.Errorf("time went backwards: %s after %s", now, prev)
					return
				}
				prev = now
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, start.Add(8000*time.Second), c.Now())
}
