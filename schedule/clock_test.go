package schedule_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/debrief-go/debrief/schedule"
)

func TestSystemClock(t *testing.T) {
	var c schedule.Clock = schedule.SystemClock{}
	before := time.Now().Round(0)
	now := c.Now()
	after := time.Now().Round(0)
	assert.Equal(t, time.UTC, now.Location())
	assert.False(t, now.Before(before), "%s before %s", now, before)
	assert.False(t, now.After(after), "%s after %s", now, after)
}
