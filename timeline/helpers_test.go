package timeline

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test -update")
	require.Equal(t, string(want), string(got), "golden file %s differs; run go test -update if the change is intended", path)
}

// t0 is the start of the synthetic flows.
var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// ev builds an event at ms milliseconds after t0.
func ev(ms int64, typ string) Event { return Event{Type: typ, Timestamp: at(ms)} }

// withRes sets an event's resource.
func withRes(e Event, rtype, rid string) Event {
	e.ResourceType, e.ResourceID = rtype, rid
	return e
}

// withData sets an event's data.
func withData(e Event, data string) Event {
	e.Data = json.RawMessage(data)
	return e
}

const (
	customerA = "5e4a0680-804e-11ec-8477-2fea5968d85b"
	customerB = "6f5b1791-915f-22fd-9588-3feb6a79e96c"
	flowA     = "b2c3d4e5-f6a7-8901-bcde-f12345678901"
)

// callFlow is an ended inbound call flow with one answered leg.
func callFlow() Flow {
	return Flow{
		ID: flowA, CustomerID: customerA, ReferenceType: RefCall, ReferenceID: "c3d4e5f6-a7b8-9012-cdef-123456789012",
		FlowName: "support-ivr", Ended: true, CreatedAt: t0, EndedAt: at(312_000),
		Reference: &Reference{Type: RefCall, ID: "c3d4e5f6-a7b8-9012-cdef-123456789012", CustomerID: customerA,
			Calls: []CallLeg{{
				ID: "c3d4e5f6-a7b8-9012-cdef-123456789012", Direction: "incoming", Source: "+14155550100",
				Destination: "+14155550199", Status: "hangup", HangupReason: "normal", HangupBy: "remote",
				CreatedAt: t0, AnsweredAt: at(5_000), HungUpAt: at(317_000),
			}}},
	}
}

// zeroTime is the zero time, for unset optional times.
var zeroTime time.Time

// testdataFS reads a file under testdata/.
func testdataFS(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }
