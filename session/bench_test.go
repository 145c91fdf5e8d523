package session

import (
	"context"
	"encoding/json"
	"testing"
)

// BenchmarkAssemble measures assembling a real agent session (a tau-bench
// trajectory: 29 messages, 9 tool calls) with the default redactor.
func BenchmarkAssemble(b *testing.B) {
	var entries []json.RawMessage
	if err := json.Unmarshal(readTestdata(b, "tau-bench/airline-trajectories-3.json"), &entries); err != nil {
		b.Fatal(err)
	}
	c, err := FromOpenAILog(entries[0], OpenAILogOptions{SessionID: sessionA, OrganizationID: orgA, StartedAt: t0})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := compiledSchema(); err != nil { // compile once, outside the measurement
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		asm  *Assembler
	}{
		{"plain", &Assembler{}},
		{"redacted", &Assembler{Redactor: DefaultRedactor(), MaxMessageChars: 2000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.asm.Assemble(context.Background(), c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseInput measures validating and decoding an input received
// as JSON.
func BenchmarkParseInput(b *testing.B) {
	data := readTestdata(b, "golden/tau_bench_task_15.json")
	if _, err := compiledSchema(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseInput(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFromMoveo measures converting the handover record.
func BenchmarkFromMoveo(b *testing.B) {
	data := readTestdata(b, "moveo/handover.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromMoveo(data, MoveoOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
