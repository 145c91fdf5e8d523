package report_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

// The synthetic conversations imitate the STAR corpus of task-oriented
// dialogues: a user asks a wizard for a task of one domain, slots are
// filled, and the task is done, handed off or abandoned.
var domains = []struct {
	name, cue string
	asks      []string
}{
	{"bank", "balance", []string{"Hi, I need to check the balance of my savings account.", "Can you tell me my account balance please?"}},
	{"hotel", "room", []string{"I'd like to book a hotel room for this weekend.", "Do you have a room available near the centre?"}},
	{"restaurant", "table", []string{"Could you reserve a table for dinner tonight?", "I want a table at an Italian place."}},
	{"ride", "ride", []string{"I need a ride to the airport.", "Can you get me a ride downtown in ten minutes?"}},
	{"weather", "forecast", []string{"What's the forecast for tomorrow?", "Will it rain? I need the forecast."}},
	{"doctor", "appointment", []string{"I need a doctor's appointment this week.", "Can I move my appointment with Dr. Lee?"}},
}

var cities = []string{"Berlin", "Boston", "Lisbon", "Osaka", "Nairobi", "Toronto", "Lyon", "Austin"}

var starFields = extract.FieldSet{
	{Key: "domain", Type: extract.Enum, EnumValues: []string{"bank", "hotel", "restaurant", "ride", "weather", "doctor"}, Required: true},
	{Key: "outcome", Type: extract.Enum, EnumValues: []string{"done", "handoff", "abandoned"}, Required: true},
	{Key: "city", Type: extract.String},
	{Key: "party_size", Type: extract.Number},
}

// starConversation returns the i-th synthetic dialogue and its reference
// fields.
func starConversation(i int) analysis.ConversationInput {
	rng := rand.New(rand.NewPCG(16, uint64(i)))
	d := domains[rng.IntN(len(domains))]
	city := cities[rng.IntN(len(cities))]
	outcome := "done"
	switch p := rng.IntN(10); {
	case p < 2:
		outcome = "handoff"
	case p < 3:
		outcome = "abandoned"
	}
	turns := extract.Transcript{
		{Role: "user", Content: d.asks[rng.IntN(len(d.asks))]},
		{Role: "wizard", Content: "Sure, I can help with that. Which city are you in?"},
		{Role: "user", Content: fmt.Sprintf("I'm in %s. My reference is %d.", city, 1000+i)},
	}
	ref := map[string]any{"domain": d.name, "outcome": outcome, "city": city}
	if d.name == "hotel" || d.name == "restaurant" {
		n := 1 + rng.IntN(6)
		ref["party_size"] = n
		turns = append(turns, extract.Turn{Role: "wizard", Content: "For how many people?"},
			extract.Turn{Role: "user", Content: fmt.Sprintf("%d people, please.", n)})
	}
	switch outcome {
	case "handoff":
		turns = append(turns, extract.Turn{Role: "wizard", Content: "Let me transfer you to a colleague who can finish this."})
	case "abandoned":
		turns = append(turns, extract.Turn{Role: "user", Content: "Actually, never mind. Bye."})
	default:
		turns = append(turns, extract.Turn{Role: "wizard", Content: fmt.Sprintf("All set: your %s request in %s is confirmed.", d.cue, city)},
			extract.Turn{Role: "user", Content: "Thanks, that's all."})
	}
	return analysis.ConversationInput{Name: fmt.Sprintf("STAR dialogue %04d", i), Transcript: turns, ReferenceFields: ref,
		Tags: []string{"star", d.name}}
}

var partySize = regexp.MustCompile(`(\d+) people, please`)

func hashOf(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// starModel is a deterministic stand-in for a model: it reads the
// dialogue and answers as a fair but imperfect model would — a wrong
// domain now and then, a missed city — fails a few extractions and
// gradings outright, and grades with scores spread over [0, 1].
func starModel() llm.Model {
	return llmtest.NewResponder().
		On(extract.SchemaName, func(req llm.Request, _ *rand.Rand) llmtest.Step {
			text := req.Messages[0].Content
			h := hashOf(text)
			usage := llm.Usage{InputTokens: int64(len(text)/4 + 180), OutputTokens: 40, CachedInputTokens: 100}
			if h%50 == 0 {
				return llmtest.Fail(&llm.Error{Kind: llm.ErrRefused}).WithUsage(usage)
			}
			out := map[string]any{"domain": nil, "outcome": "done", "city": nil, "party_size": nil}
			for i, d := range domains {
				if strings.Contains(text, d.cue) {
					out["domain"] = d.name
					if h%9 == 0 {
						out["domain"] = domains[(i+1)%len(domains)].name
					}
					break
				}
			}
			if h%31 == 0 {
				out["domain"] = nil // required and missing: the item does not pass
			}
			switch {
			case strings.Contains(text, "transfer you"):
				out["outcome"] = "handoff"
			case strings.Contains(text, "never mind"):
				out["outcome"] = "abandoned"
			}
			if h%13 == 0 {
				out["outcome"] = "abandoned"
			}
			for _, c := range cities {
				if strings.Contains(text, "in "+c) && h%7 != 0 {
					out["city"] = c
				}
			}
			if m := partySize.FindStringSubmatch(text); m != nil {
				n, _ := strconv.Atoi(m[1])
				out["party_size"] = n
			}
			return llmtest.ReplyJSON(out).WithUsage(usage)
		}).
		On(judge.SchemaName, func(req llm.Request, _ *rand.Rand) llmtest.Step {
			h := hashOf(req.Messages[0].Content)
			usage := llm.Usage{InputTokens: int64(len(req.Messages[0].Content)/4 + 220), OutputTokens: 60}
			if (h>>16)%97 == 0 {
				return llmtest.Fail(&llm.Error{Kind: llm.ErrTransient}).WithUsage(usage)
			}
			// Mostly good, with a tail of poor conversations.
			u := float64((h>>20)%1000) / 999
			s := 1 - u*u
			return llmtest.ReplyJSON(judge.Answer{Reasoning: "The wizard handled the request.", Score: s}).WithUsage(usage)
		})
}

// fixture is a finished run of the STAR-like definition over n dialogues.
type fixture struct {
	svc   *analysis.Service
	exec  *analysis.Executor
	store *countingStore
	scope analysis.Scope
	def   analysis.Definition
	run   analysis.Run
}

// countingStore records the largest page of items a caller asked for.
type countingStore struct {
	analysis.Store
	largest int
}

func (s *countingStore) ListRunItems(ctx context.Context, scope analysis.Scope, runID string, p analysis.Page) ([]analysis.Item, string, error) {
	s.largest = max(s.largest, p.Limit)
	return s.Store.ListRunItems(ctx, scope, runID, p)
}

func newFixture(t testing.TB, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	store := &countingStore{Store: memstore.New()}
	svc, err := analysis.NewService(analysis.Config{Store: store, MaxIngest: max(n, 1)})
	require.NoError(t, err)
	exec, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: store, Model: starModel(), Concurrency: 16})
	require.NoError(t, err)
	scope := analysis.Scope{Tenant: "acme", Project: "star"}
	ins := make([]analysis.ConversationInput, n)
	for i := range ins {
		ins[i] = starConversation(i)
	}
	_, err = svc.IngestConversations(ctx, scope, ins)
	require.NoError(t, err)
	def, err := svc.CreateDefinition(ctx, scope, analysis.DefinitionInput{
		Name:     "STAR task & outcome",
		FieldSet: starFields,
		Modes: analysis.Modes{Store: true, Accuracy: true,
			Judge: &analysis.JudgeMode{Rubric: "Did the wizard complete the user's task politely and correctly?"}},
		ExtractionModelKey: "gpt-4o-mini", JudgeModelKey: "gpt-4o",
	})
	require.NoError(t, err)
	run, err := svc.StartRun(ctx, scope, def.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = exec.Drain(ctx)
	require.NoError(t, err)
	run, err = svc.GetRunStatus(ctx, scope, run.ID)
	require.NoError(t, err)
	require.Equal(t, analysis.RunCompleted, run.Status)
	store.largest = 0
	return &fixture{svc: svc, exec: exec, store: store, scope: scope, def: def, run: run}
}

// items reads every item of the fixture's run at once: what the tests
// compare the report's page-by-page counts with.
func (f *fixture) items(t testing.TB) []analysis.Item {
	t.Helper()
	var all []analysis.Item
	for cursor := ""; ; {
		page, err := f.svc.ListRunItems(context.Background(), f.scope, f.run.ID, cursor, 1000)
		require.NoError(t, err)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}
