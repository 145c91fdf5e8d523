package memstore_test

import (
	"testing"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/analysis/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) analysis.Store { return memstore.New() })
}
