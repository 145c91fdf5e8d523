package memstore_test

import (
	"testing"
	"time"

	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/analysis/storetest"
	"github.com/debrief-go/debrief/schedule/scheduletest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Harness {
		clock := scheduletest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
		return storetest.Harness{
			Store:   memstore.New(memstore.WithClock(clock)),
			Advance: func(d time.Duration) { clock.Advance(d) },
		}
	})
}
