package timeline_test

import (
	"testing"

	"github.com/debrief-go/debrief/timeline"
	"github.com/debrief-go/debrief/timeline/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) timeline.Store { return timeline.NewMemoryStore() })
}
