package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func addSeeds(f *testing.F, files []string, literals []string) {
	for _, name := range files {
		f.Add(readTestdata(f, name))
	}
	for _, s := range literals {
		f.Add([]byte(s))
	}
}

func checkValidationError(t *testing.T, err error) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || len(ve.Problems) == 0 {
		t.Fatalf("unclassified error: %v", err)
	}
	for _, p := range ve.Problems {
		if p.Path == "" || p.Message == "" {
			t.Fatalf("malformed problem %+v", p)
		}
	}
}

// checkAssembles assembles converted captures: they must assemble (or be
// refused as not terminal), and the result must survive a JSON round trip
// through ParseInput.
func checkAssembles(t *testing.T, c *Captures) {
	t.Helper()
	in, err := (&Assembler{Redactor: DefaultRedactor(), MaxMessageChars: 40}).Assemble(context.Background(), c)
	if errors.Is(err, ErrNotTerminal) {
		return
	}
	if err != nil {
		t.Fatalf("converted captures do not assemble: %v", err)
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("assembled input does not encode: %v", err)
	}
	if _, err := ParseInput(data); err != nil {
		t.Fatalf("assembled input does not parse back: %v", err)
	}
}

// FuzzFromMoveo converts arbitrary bytes as a Moveo response: no panic,
// every failure classified, every success assembling into a valid input,
// the same way every time.
func FuzzFromMoveo(f *testing.F) {
	addSeeds(f, []string{"moveo/documented_example.json", "moveo/handover.json"}, []string{
		`{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:35:37","messages":[{"time":"2024-01-06T07:34:40","event":"message:received","message":{"text":"hi"}}]}`,
		`{"data":{"get_session_content":[]}}`,
		`[{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37Z","messages":[{"event":"session:expired"}]}]`,
		`{"session_id":"s","account_id":"a","start_time":"2024-01-06T07:34:37","end_time":"2024-01-06T07:35:37","csat_human_agent":5,"rating":1,"feedback":"bad","participated_agents":["x"],"messages":[{"time":"2024-01-06T07:34:40","event":"message:brain_send","collection_id":"c","collection_sources":[{"url":"u"},7,"d"],"message":{"responses":[{"text":"a"},{"text":""}]}},{"time":"2024-01-06T07:34:41","event":"message:agent_send","agent_id":"z","message":"hello"}]}`,
		`{"errors":[{"message":"x"}]}`,
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := FromMoveo(data, MoveoOptions{})
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return
			}
			checkValidationError(t, err)
			return
		}
		if len(cs) == 0 {
			t.Fatal("no captures and no error")
		}
		again, err := FromMoveo(data, MoveoOptions{})
		if err != nil {
			t.Fatalf("second conversion failed: %v", err)
		}
		a, _ := json.Marshal(cs)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatal("conversion is not deterministic")
		}
		for i := range cs {
			checkAssembles(t, &cs[i])
		}
	})
}

// FuzzFromOpenAILog converts arbitrary bytes as an agent log, with the same
// expectations as FuzzFromMoveo.
func FuzzFromOpenAILog(f *testing.F) {
	addSeeds(f, nil, []string{
		`[{"role":"system","content":"s"},{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":4111111111111111}"}}]},{"role":"tool","tool_call_id":"c","content":"Error: no"},{"role":"assistant","content":"done"}]`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}]}`,
		`{"traj":[{"role":"assistant","tool_calls":[{"id":"h","function":{"name":"transfer_to_human_agents","arguments":{}}}]}]}`,
		`[{"role":"tool","tool_call_id":"x","content":"y"}]`,
		`[]`,
	})
	var entries []json.RawMessage
	if err := json.Unmarshal(readTestdata(f, "tau-bench/airline-trajectories-3.json"), &entries); err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add([]byte(e))
	}
	opts := OpenAILogOptions{SessionID: sessionA, OrganizationID: orgA, StartedAt: t0,
		HandoffTools: []string{"transfer_to_human_agents"}, ToolErrorPrefixes: []string{"Error:"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := FromOpenAILog(data, opts)
		if err != nil {
			checkValidationError(t, err)
			return
		}
		again, err := FromOpenAILog(data, opts)
		if err != nil {
			t.Fatalf("second conversion failed: %v", err)
		}
		a, _ := json.Marshal(c)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatal("conversion is not deterministic")
		}
		if len(c.Messages) > 0 && !c.Messages[len(c.Messages)-1].Timestamp.Equal(*c.EndedAt) {
			t.Fatal("the last message does not end the session")
		}
		checkAssembles(t, c)
	})
}

// FuzzParseInput validates arbitrary bytes as an analysis input: no panic,
// every rejection classified, and every accepted input valid, encodable and
// stable under a round trip.
func FuzzParseInput(f *testing.F) {
	addSeeds(f, []string{"golden/full_input.json", "golden/moveo_handover.json", "golden/moveo_documented_example.json"}, []string{
		`{}`, `null`, `[]`, `{"session_id":"x"}`,
		`{"session_id":"0b7c6d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e","organization_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","agent_id":null,"channel":"web","started_at":"2024-05-15T15:00:00Z","ended_at":null,"completion_reason":null,"knowledge_gap_analysis_outcome":null}`,
		`{"session_id":"0b7c6d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e","organization_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","agent_id":null,"channel":"web","started_at":"2024-05-15T15:00:00+02:00","ended_at":"2024-05-15T15:00:00.5+02:00","completion_reason":null,"knowledge_gap_analysis_outcome":"error","customer_metadata":{"a":[1e400]},"kb_snapshot":{"captured_at":"2024-05-15T15:00:00Z","kb_versions":{}}}`,
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParseInput(data)
		if err != nil {
			checkValidationError(t, err)
			if in != nil {
				t.Fatal("an input returned with an error")
			}
			return
		}
		if err := in.Validate(); err != nil {
			t.Fatalf("accepted input does not validate: %v", err)
		}
		out, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("accepted input does not encode: %v", err)
		}
		back, err := ParseInput(out)
		if err != nil {
			t.Fatalf("encoded input does not parse back: %v\n%s", err, out)
		}
		out2, err := json.Marshal(back)
		if err != nil || string(out) != string(out2) {
			t.Fatalf("round trip is not stable:\n%s\n%s", out, out2)
		}
	})
}

// FuzzDefaultRedactor redacts arbitrary text: no panic, valid UTF-8 stays
// valid, text without digits or "@" is untouched, and redacting twice
// changes nothing more.
func FuzzDefaultRedactor(f *testing.F) {
	for _, s := range []string{
		"call +1 (415) 555-2671 or jane@example.com", "4111 1111 1111 1111 12/25", "2024-05-15 15:00:00",
		"ORD-2024-000123", "020 7946 0958", "a@b@c.com-415-555-2671", strings.Repeat("1 ", 40), "é4111111111111111é",
	} {
		f.Add(s)
	}
	r := DefaultRedactor()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, s string) {
		out, err := r.Redact(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("redaction broke UTF-8: %q -> %q", s, out)
		}
		if !strings.ContainsAny(s, "0123456789@") && out != s {
			t.Fatalf("text without digits or @ changed: %q -> %q", s, out)
		}
		twice, _ := r.Redact(ctx, out)
		if twice != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, twice)
		}
	})
}
