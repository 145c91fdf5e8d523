// Command quickstart runs debrief's analysis end to end, in memory, offline:
// it ingests sixty real customer-service dialogues (from the STAR corpus,
// with their ground-truth labels), defines the fields to extract and a
// rubric to judge by, runs the definition over every conversation, and
// prints the aggregate, the accuracy per field and a few items.
//
// The model is a deterministic keyword demo, not a language model, so that
// the program needs no API key and prints the same thing every time. Swap
// in your provider (see examples/custommodel) to analyse for real.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/schedule/scheduletest"
)

//go:embed data/star-sample-60.json
var sample []byte

// tasks are the STAR task labels, with the words that give each away.
var tasks = []struct{ label, words string }{
	{"spaceship_access_codes", "access code"},
	{"spaceship_life_support", "life support"},
	{"bank_fraud_report", "robbed|fraud|stolen|unauthori"},
	{"bank_balance", "balance"},
	{"apartment_schedule", "viewing"},
	{"apartment_search", "apartment"},
	{"doctor_followup", "follow up|follow-up|followup|instructions"},
	{"doctor_schedule", "doctor|dr. |appointment"},
	{"hotel_service_request", "towel|room service|housekeeping"},
	{"hotel_book", "book a hotel|book a room|hotel room|reserve a room"},
	{"hotel_search", "hotel"},
	{"meeting_schedule", "meeting"},
	{"party_rsvp", "rsvp|attend|invit"},
	{"party_plan", "party|venue"},
	{"plane_book", "book a flight|book the flight|book flight"},
	{"plane_search", "flight|fly"},
	{"restaurant_book", "table|reservation"},
	{"restaurant_search", "restaurant|food|eat"},
	{"ride_change", "change my ride|change the ride"},
	{"ride_status", "where is my ride|ride status|driver"},
	{"ride_book", "ride|taxi|uber|cab|pick me up"},
	{"trip_directions", "direction|get to|route|walk"},
	{"trivia", "trivia|question|quiz"},
	{"weather", "weather|rain|snow|temperature"},
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	clock := scheduletest.NewClock(time.Date(2026, 1, 5, 2, 0, 0, 0, time.UTC))
	store := memstore.New()
	exec, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: store, Model: llm.ModelFunc(demoModel), Clock: clock})
	if err != nil {
		return err
	}
	svc, err := analysis.NewService(analysis.Config{Store: store, Clock: clock, NewSeed: func() uint64 { return 1 }})
	if err != nil {
		return err
	}
	scope := analysis.Scope{Tenant: "acme", Project: "support"}

	// 1. Ingest: the body is the API's bulk-ingest shape.
	convs, err := svc.Ingest(ctx, scope, sample)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Ingested %d conversations.\n", len(convs))
	fmt.Fprintln(w, "Model: demo-keywords, a deterministic keyword demo standing in for an LLM (not a real model).")

	// 2. Define what to extract and how to judge.
	taskLabels := make([]string, len(tasks))
	for i, t := range tasks {
		taskLabels[i] = t.label
	}
	sort.Strings(taskLabels)
	def, err := svc.CreateDefinition(ctx, scope, analysis.DefinitionInput{
		Name: "STAR task and completion",
		FieldSet: extract.FieldSet{
			{Key: "task", Type: extract.Enum, EnumValues: taskLabels, Required: true, Description: "What the caller wants done."},
			{Key: "completion", Type: extract.Enum, EnumValues: []string{"complete", "other"}, Required: true,
				Description: "Whether the dialogue ran to its end."},
		},
		ExtractionInstructions: "Label the caller's task from the whole dialogue.",
		Modes: analysis.Modes{Store: true, Accuracy: true,
			Judge: &analysis.JudgeMode{Rubric: "Did the agent close the conversation politely, offering more help?"}},
		ExtractionModelKey: "demo-keywords",
		JudgeModelKey:      "demo-keywords",
	})
	if err != nil {
		return err
	}

	// 3. Run it over every conversation and let the executor work.
	r, err := svc.StartRun(ctx, scope, def.Key, analysis.Selection{Strategy: analysis.SelectAll})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Started a run of %q: %s, %d conversations.\n", def.Key, r.Status, r.Progress.Total)
	if _, err := exec.Drain(ctx); err != nil {
		return err
	}
	if r, err = svc.GetRun(ctx, scope, r.ID); err != nil {
		return err
	}

	// 4. Report.
	a := r.Aggregate
	fmt.Fprintf(w, "Run %s: total %d, completed %d, failed %d, passed %d, pass rate %s, avg judge score %s, avg extraction accuracy %s\n",
		r.Status, a.Total, a.Completed, a.Failed, a.Passed, pct(a.PassRate), pct(a.AvgJudgeScore), pct(a.AvgExtractionAccuracy))
	fmt.Fprintln(w, "Accuracy per field:")
	for _, fa := range a.PerFieldAccuracy { // kept by the store, whatever the size of the run
		fmt.Fprintf(w, "  %-11s %s (%d/%d)\n", fa.Key, pct(fa.Accuracy), fa.Matched, fa.Compared)
	}
	items := append([]analysis.Item(nil), r.Items...)
	sort.Slice(items, func(i, j int) bool { return items[i].ConversationKey < items[j].ConversationKey })
	fmt.Fprintln(w, "A few items:")
	for _, it := range items[:min(4, len(items))] {
		if it.Error != "" { // with a real model, a call can fail: the item says why
			fmt.Fprintf(w, "  %-18s failed: %s\n", it.ConversationKey, it.Error)
			continue
		}
		expected := any("-")
		if it.Accuracy != nil {
			if fr, ok := it.Accuracy.PerField["task"]; ok {
				expected = fr.Expected
			}
		}
		judge := "-"
		if it.Judge != nil {
			judge = fmt.Sprintf("%.1f", it.Judge.Score)
		}
		fmt.Fprintf(w, "  %-18s task %-20v (expected %v), passed %v, judge %s\n",
			it.ConversationKey, it.ExtractedFields["task"], expected, it.Passed, judge)
	}
	return nil
}

func pct(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", *v*100)
}

// demoModel answers extraction and judge requests from keywords. It reads
// the transcript from the request's data block, as a real model would.
func demoModel(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return llm.Response{}, err
	}
	turns, err := transcriptOf(req)
	if err != nil {
		return llm.Response{}, &llm.Error{Kind: llm.ErrRefused, Message: "no transcript"}
	}
	var all strings.Builder
	for _, t := range turns {
		all.WriteString(strings.ToLower(t.Content))
		all.WriteString("\n")
	}
	text := all.String()
	var answer any
	if req.SchemaName == "verdict" { // the judge
		last := strings.ToLower(turns[len(turns)-1].Content)
		score, why := 0.3, "The agent did not offer more help at the end."
		if strings.Contains(text, "anything else") || strings.Contains(last, "bye") || strings.Contains(last, "welcome") {
			score, why = 0.9, "The agent closed politely and offered more help."
		}
		answer = map[string]any{"reasoning": why, "evidence": []any{}, "score": score}
	} else { // the extraction
		task := "weather"
		for _, t := range tasks {
			if containsAny(text, t.words) {
				task = t.label
				break
			}
		}
		completion := "complete"
		if len(turns) < 4 {
			completion = "other"
		}
		answer = map[string]any{"task": task, "completion": completion}
	}
	b, _ := json.Marshal(answer)
	return llm.Response{Content: string(b), Model: "demo-keywords", FinishReason: llm.FinishStop,
		Usage: llm.Usage{InputTokens: int64(len(req.System)+len(text)) / 4, OutputTokens: int64(len(b)) / 4}}, nil
}

func containsAny(text, words string) bool {
	for _, w := range strings.Split(words, "|") {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// transcriptOf decodes the transcript data block of an extraction or judge
// request.
func transcriptOf(req llm.Request) (extract.Transcript, error) {
	content := req.Messages[0].Content
	_, rest, ok := strings.Cut(content, extract.DataBlockStart)
	block, _, ok2 := strings.Cut(rest, extract.DataBlockEnd)
	if !ok || !ok2 {
		return nil, fmt.Errorf("no data block")
	}
	var doc struct {
		Turns extract.Transcript `json:"turns"`
	}
	if err := json.Unmarshal([]byte(block), &doc); err != nil || len(doc.Turns) == 0 {
		return nil, fmt.Errorf("bad data block")
	}
	return doc.Turns, nil
}
