package analysis_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/extract"
)

const oneTurn = `{"transcript":[{"role":"caller","content":"I was charged twice."}]}`

// bulkBody is {"conversations":[...]} with n copies of conv.
func bulkBody(n int, conv string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"conversations":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(conv)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func storedCount(t testing.TB, s *memstore.Store) int {
	t.Helper()
	cs, err := s.ListConversations(context.Background(), scope, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 1 << 30}})
	require.NoError(t, err)
	return len(cs)
}

func TestIngestBounds(t *testing.T) {
	e := newEnv(t, nil, func(c *analysis.Config, _ *analysis.ExecutorConfig) {
		c.MaxIngest, c.MaxIngestBytes, c.MaxConversationBytes = 3, 4096, 200
	})
	ctx := context.Background()

	_, err := e.svc.Ingest(ctx, scope, bulkBody(100, oneTurn))
	assert.Equal(t, []string{"$"}, paths(problemsOf(t, err)), "the body is over its bound before anything is decoded")
	assert.ErrorContains(t, err, "more than the 4096 one call may ingest")

	_, err = e.svc.Ingest(ctx, scope, bulkBody(4, `{}`))
	assert.Equal(t, []string{"$.conversations"}, paths(problemsOf(t, err)))
	assert.ErrorContains(t, err, "more than the 3 conversations one call may ingest")

	long := fmt.Sprintf(`{"transcript":[{"role":"caller","content":%q}]}`, strings.Repeat("x", 300))
	_, err = e.svc.Ingest(ctx, scope, bulkBody(2, long))
	assert.Equal(t, []string{"$.conversations[0]", "$.conversations[1]"}, paths(problemsOf(t, err)))
	assert.ErrorContains(t, err, "bytes, more than 200")
	_, err = e.svc.Ingest(ctx, scope, []byte(long))
	assert.Equal(t, []string{"$"}, paths(problemsOf(t, err)), "a single conversation too")

	_, err = e.svc.Ingest(ctx, scope, []byte(`{"conversations":[`+oneTurn+`],"conversations":[]}`))
	assert.Equal(t, []string{"$.conversations"}, paths(problemsOf(t, err)))
	assert.ErrorContains(t, err, "more than once")
	_, err = e.svc.Ingest(ctx, scope, []byte(`{"conversations":[`+oneTurn+`],"extra":1}`))
	assert.Equal(t, []string{"$.extra"}, paths(problemsOf(t, err)))
	_, err = e.svc.Ingest(ctx, scope, []byte(`null`))
	assert.ErrorContains(t, err, "the body must be a JSON object")
	_, err = e.svc.Ingest(ctx, scope, []byte(`{"conversations":[`+oneTurn+`]} {}`))
	assert.ErrorIs(t, err, analysis.ErrInvalid, "one JSON value")
	_, err = e.svc.Ingest(ctx, scope, []byte(`{"conversations":[`+oneTurn+`,]}`))
	assert.ErrorIs(t, err, analysis.ErrInvalid)

	assert.Zero(t, storedCount(t, e.store), "a refused ingest stores nothing")
	cs, err := e.svc.Ingest(ctx, scope, bulkBody(3, oneTurn))
	require.NoError(t, err, "within every bound")
	assert.Len(t, cs, 3)
}

func TestIngestReportsAtMostAHundredProblems(t *testing.T) {
	e := newEnv(t, nil, func(c *analysis.Config, _ *analysis.ExecutorConfig) { c.MaxIngest = 1000 })
	_, err := e.svc.Ingest(context.Background(), scope, bulkBody(500, `{"transcript":[]}`))
	ps := problemsOf(t, err)
	require.Len(t, ps, analysis.MaxReportedProblems+1)
	assert.Equal(t, "$.conversations[0].transcript", ps[0].Path)
	last := ps[len(ps)-1]
	assert.Equal(t, "$", last.Path)
	assert.Equal(t, "and 400 more problems", last.Message)
	assert.Less(t, len(err.Error()), 20_000, "the message stays small")
	assert.Zero(t, storedCount(t, e.store))
}

// BenchmarkIngestRefusals measures what refusing a hostile ingest body
// costs (see B/op): a 50 MB conversation, 100,000 small conversations, and
// 100,000 invalid ones, and the same with the count limit raised so that
// every one is checked and the problems are capped.
// BenchmarkIngestRefusals measures what refusing a hostile body costs:
// allocation per refusal and "peak-heap-B", the largest live heap a
// garbage collection measured during one refusal (collections made
// frequent), against the body's size.
func BenchmarkIngestRefusals(b *testing.B) {
	huge := []byte(fmt.Sprintf(`{"transcript":[{"role":"caller","content":%q}]}`, strings.Repeat("x", 50<<20)))
	many := bulkBody(100_000, `{"transcript":[{"role":"a","content":"b"}]}`)
	invalid := bulkBody(100_000, `{"transcript":[]}`)
	// Conversations just under the 2 MiB bound made of tiny values, which
	// cost far more decoded than as text.
	tinyValues := func(member string, value string) string {
		n := (2<<20 - 200) / (len(value) + 1)
		return `{"transcript":[{"role":"a","content":"b"}],` + member + `[` + value + strings.Repeat(","+value, n-1) + `]` + strings.Repeat("}", strings.Count(member, "{")+1)
	}
	refArrays := bulkBody(15, tinyValues(`"referenceFields":{"a":`, "{}"))
	zeros := bulkBody(15, tinyValues(`"referenceFields":{"a":`, "0"))
	tags := bulkBody(15, tinyValues(`"tags":`, `""`))
	longNames := bulkBody(30, `{"transcript":[{"role":"a","content":"b"}],"`+strings.Repeat("k", 1<<20)+`":1}`)
	for _, tc := range []struct {
		name     string
		body     []byte
		maxCount int
	}{
		{"50MB-conversation", huge, 0},
		{"100k-conversations", many, 0},
		{"100k-invalid", invalid, 0},
		{"100k-invalid-all-checked", invalid, 200_000},
		{"15x2MB-reference-arrays-of-objects", refArrays, 0},
		{"15x2MB-reference-arrays-of-zeros", zeros, 0},
		{"15x2MB-empty-tags", tags, 0},
		{"30x1MB-member-names", longNames, 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			svc, err := analysis.NewService(analysis.Config{Store: memstore.New(), MaxIngest: tc.maxCount})
			require.NoError(b, err)
			runtime.GC()
			base := lastLive()
			sampler := startPeakSampler()
			_, err = svc.Ingest(context.Background(), scope, tc.body)
			peak := sampler.Stop()
			require.ErrorIs(b, err, analysis.ErrInvalid)
			require.NotContains(b, err.Error(), "not valid JSON", "the body is well-formed")
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.Ingest(context.Background(), scope, tc.body); err == nil {
					b.Fatal("accepted")
				}
			}
			b.ReportMetric(float64(peak-min(peak, base)), "peak-heap-B")
			b.ReportMetric(float64(len(err.Error())), "error-B")
		})
	}
}

func TestIngestRefusesWhatTheStreamingReaderCouldMiss(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, body := range []string{
		`{"conversations":[` + oneTurn + `]}]`,
		`{"conversations":[` + oneTurn + `]}}`,
		`{"conversations":[` + oneTurn + `]} ]]]garbage`,
		`{"conversations" [` + oneTurn + `]}`,
		`{"conversations":[` + oneTurn,
	} {
		_, err := e.svc.Ingest(ctx, scope, []byte(body))
		assert.ErrorIs(t, err, analysis.ErrInvalid, body)
	}
	_, err := e.svc.Ingest(ctx, scope, []byte(`{"conversations":[1,{]}`))
	assert.ErrorContains(t, err, "at byte 22", "a syntax error is located in the body, as json.Unmarshal locates it")
	assert.Zero(t, storedCount(t, e.store))
}

func TestIngestProblemsStayBoundedWhateverTheBody(t *testing.T) {
	e := newEnv(t, nil)
	ones := `{"transcript":[1` + strings.Repeat(",1", 500_000) + `]}`
	_, err := e.svc.Ingest(context.Background(), scope, []byte(ones))
	ps := problemsOf(t, err)
	require.Len(t, ps, 1, "refused at the value past the bound, before anything is decoded")
	// The bound: four values a turn, one a tag, two a reference field, the
	// evidence's (16 an entry, 6 a chunk, 2 a metadata member, 256 more)
	// and 64 for the rest.
	bound := 4*analysis.MaxTurns + analysis.MaxTags + 2*analysis.MaxReferenceFields +
		16*analysis.MaxEvidenceEntries + 6*analysis.MaxRetrievedChunks + 2*analysis.MaxCustomerMetadata + 256 + 64
	assert.Equal(t, fmt.Sprintf("the document holds more than %d values", bound), ps[0].Message)
	assert.Equal(t, fmt.Sprintf("$.transcript[%d]", bound-2), ps[0].Path)
	assert.Less(t, len(err.Error()), 20_000)

	// Within the bound of values, every problem is counted, a hundred told.
	fewer := `{"transcript":[1` + strings.Repeat(",1", 40_000) + `]}`
	_, err = e.svc.Ingest(context.Background(), scope, []byte(fewer))
	ps = problemsOf(t, err)
	assert.Len(t, ps, analysis.MaxReportedProblems+1)
	assert.Equal(t, "and 39901 more problems", ps[len(ps)-1].Message)
	assert.Less(t, len(err.Error()), 20_000)

	var members strings.Builder
	members.WriteString("{")
	for i := range 100_000 {
		fmt.Fprintf(&members, `"k%d":0,`, i)
	}
	members.WriteString(`"transcript":[]}`)
	_, err = e.svc.Ingest(context.Background(), scope, []byte(members.String()))
	assert.ErrorIs(t, err, analysis.ErrInvalid, "a hundred thousand members are read in linear time and refused")
	assert.LessOrEqual(t, len(problemsOf(t, err)), analysis.MaxReportedProblems+1)
}

func TestIngestRefusesWhatTheDecoderWouldChangeSilently(t *testing.T) {
	// encoding/json keeps the last of two members of the same name and turns
	// invalid UTF-8 into U+FFFD: ingest refuses both, naming where, and stores
	// nothing.
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, tc := range []struct{ body, want string }{
		{`{"name":"a","name":"b","transcript":[{"role":"agent","content":"hi"}]}`,
			`$.name: the member appears more than once`},
		{`{"conversations":[` + oneTurn + `,{"name":"b","transcript":[{"role":"agent","content":"hi","content":"bye"}]}]}`,
			`$.conversations[1].transcript[0].content: the member appears more than once`},
		{`{"conversations":[` + oneTurn + `,{"name":"b","referenceFields":{"intent":"x","\u0069ntent":"y"},"transcript":[{"role":"agent","content":"hi"}]}]}`,
			`$.conversations[1].referenceFields.intent: the member appears more than once`},
		{"{\"name\":\"caf\xe9\",\"transcript\":[{\"role\":\"agent\",\"content\":\"hi\"}]}",
			`$.name: the text is not valid UTF-8`},
		{`{"name":"a\u0000b","transcript":[{"role":"agent","content":"hi"}]}`,
			`$.name: the text is not valid UTF-8, or holds a NUL character`},
		{`{"transcript":[{"role":"agent","content":"hi\u0000"}]}`,
			`$.transcript[0].content: the text is not valid UTF-8, or holds a NUL character`},
		{`{"conversations":[{"name":"b","transcript":[{"role":"agent","content":"\udc00 hi"}]}]}`,
			`$.conversations[0].transcript[0].content: the text escapes a lone surrogate`},
	} {
		_, err := e.svc.Ingest(ctx, scope, []byte(tc.body))
		require.ErrorIs(t, err, analysis.ErrInvalid, tc.body)
		assert.ErrorContains(t, err, tc.want)
	}
	assert.Zero(t, storedCount(t, e.store))

	_, err := e.svc.IngestConversations(ctx, scope, []analysis.ConversationInput{{Name: "ok", Transcript: extract.Transcript{{Role: "agent", Content: "caf\xe9"}}}})
	assert.ErrorContains(t, err, "$.conversations[0].transcript[0].content: the text is not valid UTF-8", "decoded input with invalid UTF-8 is refused too")
	_, err = e.svc.IngestConversations(ctx, scope, []analysis.ConversationInput{{Name: "\xff", Tags: []string{"ok", "t\xff"},
		ReferenceFields: map[string]any{"intent": "\xfe", "k\xff": 1},
		Transcript:      extract.Transcript{{Role: "ag\xffent", Content: "hi"}}}})
	for _, path := range []string{".name", ".tags[1]", `.referenceFields.intent`, `.referenceFields["k\ufffd"]`, ".transcript[0].role"} {
		assert.ErrorContains(t, err, "$.conversations[0]"+path+": the text is not valid UTF-8")
	}
	assert.Zero(t, storedCount(t, e.store))

	d, err := e.svc.CreateDefinition(ctx, scope, intentDefinition())
	require.NoError(t, err)
	_, err = e.svc.UpdateDefinition(ctx, scope, d.Key, []byte(`{"name":"a","name":"b"}`))
	assert.ErrorContains(t, err, "$.name: the member appears more than once")
	_, err = e.svc.UpdateDefinition(ctx, scope, d.Key, []byte("{\"name\":\"\xff\"}"))
	assert.ErrorContains(t, err, "$.name: the text is not valid UTF-8")
	got, err := e.svc.GetDefinition(ctx, scope, d.Key)
	require.NoError(t, err)
	assert.Equal(t, d, got, "a refused patch changes nothing")
}
