package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/schedule/scheduletest"
)

var (
	scope = analysis.Scope{Tenant: "acme", Project: "support"}
	other = analysis.Scope{Tenant: "globex", Project: "support"}
	start = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
)

// env is a service, an executor and a store over a fake clock.
type env struct {
	store *memstore.Store
	clock *scheduletest.Clock
	svc   *analysis.Service
	model llm.Model
	exec  *analysis.Executor
	spy   *spyStore // the executor's view of the store
}

// spyStore records the chunks claimed through it.
type spyStore struct {
	analysis.Store
	mu     sync.Mutex
	claims []analysis.Claim
}

func (s *spyStore) ClaimChunk(ctx context.Context, owner string, lease time.Duration) (analysis.Claim, bool, error) {
	c, ok, err := s.Store.ClaimChunk(ctx, owner, lease)
	if ok {
		s.mu.Lock()
		s.claims = append(s.claims, c)
		s.mu.Unlock()
	}
	return c, ok, err
}

// all returns the claims made, in order.
func (s *spyStore) all() []analysis.Claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]analysis.Claim(nil), s.claims...)
}

// attempts returns the Attempt of every claim made, in order.
func (s *spyStore) attempts() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []int{}
	for _, c := range s.claims {
		out = append(out, c.Attempt)
	}
	return out
}

func counterIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("id-%04d", n.Add(1)) }
}

func newEnv(t testing.TB, model llm.Model, tweak ...func(*analysis.Config, *analysis.ExecutorConfig)) *env {
	t.Helper()
	e := &env{clock: scheduletest.NewClock(start), model: model}
	e.store = memstore.New(memstore.WithClock(e.clock))
	cfg := analysis.Config{Store: e.store, Clock: e.clock, NewID: counterIDs(), NewSeed: func() uint64 { return 42 }}
	e.spy = &spyStore{Store: e.store}
	ecfg := analysis.ExecutorConfig{Store: e.spy, Model: model, Clock: e.clock, Owner: "exec-1", Concurrency: 4}
	for _, f := range tweak {
		f(&cfg, &ecfg)
	}
	var err error
	e.svc, err = analysis.NewService(cfg)
	require.NoError(t, err)
	if model != nil {
		e.exec, err = analysis.NewExecutor(ecfg)
		require.NoError(t, err)
	}
	return e
}

func intentDefinition() analysis.DefinitionInput {
	return analysis.DefinitionInput{
		Name: "Call intent & resolution",
		FieldSet: extract.FieldSet{
			{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support"}, Required: true},
			{Key: "resolved", Type: extract.Boolean},
		},
		ExtractionInstructions: "Focus on the caller's primary reason.",
		Modes:                  analysis.Modes{Store: true, Accuracy: true, Judge: &analysis.JudgeMode{Rubric: "Was the caller helped politely?"}},
		ExtractionModelKey:     "gpt-4o-mini",
		JudgeModelKey:          "gpt-4o",
	}
}

// ingest stores n conversations named "Call 1", "Call 2", ... whose
// transcripts say their intent, with reference fields, tagged "even" or
// "odd".
func ingest(t testing.TB, e *env, n int) []analysis.Conversation {
	t.Helper()
	var ins []analysis.ConversationInput
	for i := 1; i <= n; i++ {
		intent := "billing"
		if i%3 == 0 {
			intent = "support"
		}
		tag := "odd"
		if i%2 == 0 {
			tag = "even"
		}
		ins = append(ins, analysis.ConversationInput{
			Name: fmt.Sprint("Call ", i),
			Transcript: extract.Transcript{
				{Role: "caller", Content: fmt.Sprintf("Hello, this is about %s. Ticket %d.", intent, i)},
				{Role: "agent", Content: "Done, anything else?"},
			},
			ReferenceFields: map[string]any{"intent": intent, "resolved": true},
			Tags:            []string{tag},
		})
	}
	cs, err := e.svc.IngestConversations(context.Background(), scope, ins)
	require.NoError(t, err)
	return cs
}

// fakeModel answers extraction and judge requests by reading the
// transcript: the intent the caller names, resolved true; a judge score of
// 0.8. It is instant and safe for concurrent use.
func fakeModel() llm.Model {
	return llm.ModelFunc(func(ctx context.Context, req llm.Request) (llm.Response, error) {
		if err := ctx.Err(); err != nil {
			return llm.Response{}, err
		}
		content := req.Messages[0].Content
		usage := llm.Usage{InputTokens: int64(len(req.System)+len(content)) / 4, OutputTokens: 20}
		if req.SchemaName == "verdict" {
			return llm.Response{Content: `{"reasoning":"Polite.","evidence":[{"turn":1,"quote":"Done"}],"score":0.8}`, Usage: usage}, nil
		}
		intent := "billing"
		if strings.Contains(content, "about support") {
			intent = "support"
		}
		body, _ := json.Marshal(map[string]any{"intent": intent, "resolved": true})
		return llm.Response{Content: string(body), Usage: usage}, nil
	})
}

// runKeys reads the keys the run selected, two to a page, so that paging
// is exercised too.
func runKeys(t testing.TB, e *env, r analysis.Run) []string {
	t.Helper()
	keys := []string{}
	cursor := ""
	for {
		p, err := e.svc.ListRunKeys(context.Background(), scope, r.ID, cursor, 2)
		require.NoError(t, err)
		keys = append(keys, p.Keys...)
		if p.NextCursor == "" {
			return keys
		}
		cursor = p.NextCursor
	}
}
