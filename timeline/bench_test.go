package timeline

import (
	"testing"
	"time"
)

// BenchmarkPrepare measures the deterministic part of an analysis —
// validation, ordering, duplicate removal, the four blocks and the
// reduction — over a synthetic flow of a million events.
func BenchmarkPrepare(b *testing.B) {
	flow := callFlow()
	flow.ReferenceType, flow.Reference.Type = RefCall, RefCall
	ordered := syntheticFlow(1_000_000)

	// The same events, each block of ten reversed: Prepare must sort them.
	unordered := append([]Event(nil), ordered...)
	for i := 0; i+10 <= len(unordered); i += 10 {
		for l, r := i, i+9; l < r; l, r = l+1, r-1 {
			unordered[l], unordered[r] = unordered[r], unordered[l]
		}
	}
	// Timestamps at one-second resolution: long runs of one timestamp.
	coarse := append([]Event(nil), ordered...)
	for i := range coarse {
		coarse[i].Timestamp = coarse[i].Timestamp.Truncate(time.Second)
	}

	for _, bc := range []struct {
		name   string
		events []Event
	}{{"1M-ordered", ordered}, {"1M-unordered", unordered}, {"1M-coarse-timestamps", coarse}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var p *Prepared
			for b.Loop() {
				var err error
				if p, err = Prepare(flow, bc.events, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(p.Events)), "kept")
		})
	}
}

// BenchmarkRenderDataBlock measures rendering the reduced events of a
// million-event flow into the model's data block.
func BenchmarkRenderDataBlock(b *testing.B) {
	p, err := Prepare(callFlow(), syntheticFlow(1_000_000), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := renderBlock(struct {
			Flow   dataFlow     `json:"flow"`
			Facts  dataFacts    `json:"facts"`
			Events []modelEvent `json:"events"`
		}{flowOf(p), factsOf(p), modelEvents(p, nil)}); err != nil {
			b.Fatal(err)
		}
	}
}
