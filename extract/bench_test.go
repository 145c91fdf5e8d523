package extract_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/debrief-go/debrief/extract"
)

// benchTranscript is a STAR-sized dialogue: 24 turns, about 1.4 kB.
func benchTranscript() extract.Transcript {
	var t extract.Transcript
	for i := range 24 {
		role := "caller"
		if i%2 == 1 {
			role = "agent"
		}
		t = append(t, extract.Turn{Role: role, Content: fmt.Sprintf("Turn %d: I would like directions to the museum & the café, please <now>.", i)})
	}
	return t
}

// BenchmarkRenderTranscript measures writing a transcript's data block.
func BenchmarkRenderTranscript(b *testing.B) {
	t := benchTranscript()
	b.ReportAllocs()
	b.SetBytes(int64(len(extract.RenderTranscript(t))))
	for b.Loop() {
		if s := extract.RenderTranscript(t); !strings.HasSuffix(s, extract.DataBlockEnd) {
			b.Fatal(s)
		}
	}
}

// BenchmarkPrepare measures validating and rendering a transcript once.
func BenchmarkPrepare(b *testing.B) {
	t := benchTranscript()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := extract.Prepare(t); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCoerce measures coercing the values of one answer: the
// scalars a model writes, and a value the decoder must read.
func BenchmarkCoerce(b *testing.B) {
	fields := []struct {
		f   extract.Field
		raw string
	}{
		{extract.Field{Key: "task", Type: extract.Enum, EnumValues: []string{"billing", "support", "trip_directions"}}, `"Trip_Directions"`},
		{extract.Field{Key: "resolved", Type: extract.Boolean}, `"yes"`},
		{extract.Field{Key: "amount", Type: extract.Number}, `12.5`},
		{extract.Field{Key: "name", Type: extract.String}, `"Alexis"`},
		{extract.Field{Key: "note", Type: extract.String}, `null`},
	}
	b.Run("scalars", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, fv := range fields {
				if _, err := extract.Coerce(fv.f, json.RawMessage(fv.raw)); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("escaped-string", func(b *testing.B) {
		f := extract.Field{Key: "name", Type: extract.String}
		raw := json.RawMessage(`"Al\u00e9xis \"the\" caller"`)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := extract.Coerce(f, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
