package judge

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/stretchr/testify/assert"
)

func TestAcceptAnswerNeverAcceptsWhatTheSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		data   string
		accept bool
	}{
		{`{"reasoning":"ok","evidence":[{"turn":1,"quote":"Done"}],"score":0.9}`, true},
		{`{"reasoning":"","evidence":[],"score":0}`, true},
		{`{"score":1,"evidence":[{"quote":"a","turn":0}],"reasoning":"x"}`, true},
		{`{"reasoning":"ok","evidence":[],"score":1.000}`, true},
		{`{"reasoning":"ok","evidence":[],"score":1.0000000000000000001}`, false},
		{`{"reasoning":"ok","evidence":[],"score":1.5}`, false},
		{`{"reasoning":"ok","evidence":[],"score":-0.1}`, false},
		{`{"reasoning":"ok","evidence":[],"score":"0.5"}`, false},
		{`{"reasoning":"ok","evidence":[],"score":5e-1}`, false},
		{`{"Reasoning":"ok","evidence":[],"score":0.5}`, false},
		{`{"reasoning":"ok","evidence":[],"score":0.5,"extra":1}`, false},
		{`{"reasoning":"ok","evidence":null,"score":0.5}`, false},
		{`{"reasoning":"ok","evidence":[{"turn":1.5,"quote":"a"}],"score":0.5}`, false},
		{`{"reasoning":"ok","evidence":[{"turn":-1,"quote":"a"}],"score":0.5}`, false},
		{`{"reasoning":"ok","evidence":[{"turn":1,"quote":"a","x":1}],"score":0.5}`, false},
		{`{"reasoning":"ok","evidence":[{"Turn":1,"quote":"a"}],"score":0.5}`, false},
		{`{"reasoning":"ok","evidence":[1],"score":0.5}`, false},
		{`{"reasoning":7,"evidence":[],"score":0.5}`, false},
		{`[]`, false},
	} {
		got := acceptAnswer([]byte(tc.data))
		assert.Equal(t, tc.accept, got, tc.data)
		if got {
			assert.Nil(t, answerSchema.Problems([]byte(tc.data)), "accepted, so the schema must accept: %s", tc.data)
		}
	}
}

// FuzzAcceptAnswer: whatever acceptAnswer accepts, the schema accepts.
func FuzzAcceptAnswer(f *testing.F) {
	f.Add(`{"reasoning":"ok","evidence":[{"turn":1,"quote":"Done"}],"score":0.9}`)
	f.Add(`{"reasoning":"ok","evidence":[],"score":1.0}`)
	f.Add(`{"reasoning":"a","evidence":[{"turn":12,"quote":"b"},{"turn":0,"quote":""}],"score":0.123456789012345}`)
	f.Fuzz(func(t *testing.T, data string) {
		if !json.Valid([]byte(data)) || !acceptAnswer([]byte(data)) {
			return
		}
		if p := answerSchema.Problems([]byte(data)); p != nil {
			t.Fatalf("accepted %s, which the schema rejects: %v", data, p)
		}
	})
}

// FuzzWordsASCII: the ASCII fast path of words folds exactly as NFKC and
// full case folding do.
func FuzzWordsASCII(f *testing.F) {
	f.Add("Hello, WORLD! It's 42 o'clock")
	f.Add("K\x7f\x01 ~`")
	f.Fuzz(func(t *testing.T, s string) {
		if !ascii(s) {
			return
		}
		if got, want := strings.ToLower(s), cases.Fold().String(norm.NFKC.String(s)); got != want {
			t.Fatalf("%q: fast %q, full %q", s, got, want)
		}
	})
}

// BenchmarkAcceptAnswer measures the Go check of a typical verdict.
func BenchmarkAcceptAnswer(b *testing.B) {
	data := []byte(`{"reasoning":"The agent stayed polite and closed the conversation.","evidence":[{"turn":1,"quote":"please"},{"turn":13,"quote":"Thank you and goodbye"}],"score":0.8}`)
	b.ReportAllocs()
	for b.Loop() {
		if !acceptAnswer(data) {
			b.Fatal("refused")
		}
	}
}
