package analysis_test

import (
	"context"
	"fmt"
	"time"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/schedule/scheduletest"
)

// A service, an executor and an in-memory store: ingest, define, run.
func Example() {
	ctx := context.Background()
	store := memstore.New()
	// A stand-in for the host's model: every caller wants a refund.
	model := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: `{"intent":"billing","resolved":true}`}, nil
	})
	exec, _ := analysis.NewExecutor(analysis.ExecutorConfig{Store: store, Model: model})
	svc, _ := analysis.NewService(analysis.Config{Store: store, Wake: exec.Wake})
	scope := analysis.Scope{Tenant: "acme", Project: "support"}

	_, err := svc.Ingest(ctx, scope, []byte(`{"conversations":[
		{"name":"Call 1042","transcript":[{"role":"caller","content":"I was charged twice."},{"role":"agent","content":"I've issued a refund."}],
		 "referenceFields":{"intent":"billing","resolved":true}}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	def, err := svc.CreateDefinition(ctx, scope, analysis.DefinitionInput{
		Name: "Call intent & resolution",
		FieldSet: extract.FieldSet{
			{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support"}, Required: true},
			{Key: "resolved", Type: extract.Boolean},
		},
		Modes:              analysis.Modes{Store: true, Accuracy: true},
		ExtractionModelKey: "gpt-4o-mini",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	run, err := svc.StartRun(ctx, scope, def.Key, analysis.Selection{Strategy: analysis.SelectAll})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(def.Key, run.Status)

	// In a service, exec.Run(ctx) runs in the background; here one run.
	if _, err := exec.RunOnce(ctx); err != nil {
		fmt.Println(err)
		return
	}
	run, _ = svc.GetRun(ctx, scope, run.ID)
	a := run.Aggregate
	fmt.Println(run.Status, a.Total, a.Completed, *a.PassRate, *a.AvgExtractionAccuracy, a.AvgJudgeScore)
	// Output:
	// call-intent-resolution pending
	// completed 1 1 1 1 <nil>
}

// Validation reports every problem of a bulk body at once, with its path.
func ExampleService_Ingest() {
	svc, _ := analysis.NewService(analysis.Config{Store: memstore.New()})
	_, err := svc.Ingest(context.Background(), analysis.Scope{Tenant: "acme", Project: "support"}, []byte(`{"conversations":[
		{"name":"ok","transcript":[{"role":"caller","content":"hi"}]},
		{"name":"bad","transcript":[{"role":"caller"}],"source":"email"}]}`))
	fmt.Println(err)
	// Output: invalid: $.conversations[1].transcript[0].content: the content is missing; $.conversations[1].source: "email" is not a source: use imported, platform or manual
}

// A scheduler fires a definition's cron slots; here driven by a fake clock.
func ExampleScheduler() {
	ctx := context.Background()
	clock := scheduletest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	store := memstore.New()
	svc, _ := analysis.NewService(analysis.Config{Store: store, Clock: clock})
	scope := analysis.Scope{Tenant: "acme", Project: "support"}
	_, _ = svc.Ingest(ctx, scope, []byte(`{"name":"Call 1","transcript":[{"role":"caller","content":"hi"}]}`))
	_, err := svc.CreateDefinition(ctx, scope, analysis.DefinitionInput{
		Name:               "Nightly",
		FieldSet:           extract.FieldSet{{Key: "topic", Type: extract.String}},
		ExtractionModelKey: "small",
		Schedule:           &analysis.Schedule{Cron: "0 2 * * *", Enabled: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	sc := svc.Scheduler(analysis.SchedulerConfig{})
	for _, at := range []time.Time{
		time.Date(2026, 5, 1, 23, 0, 0, 0, time.UTC), // before the first slot
		time.Date(2026, 5, 2, 2, 0, 30, 0, time.UTC), // just after it
		time.Date(2026, 5, 2, 2, 1, 0, 0, time.UTC),  // the slot has fired
	} {
		clock.Set(at)
		rep, _ := sc.Tick(ctx)
		for _, f := range rep.Fired {
			fmt.Println(at.Format(time.TimeOnly), "fired", f.DefinitionKey, "for", f.Slot.Format(time.DateTime))
		}
		if len(rep.Fired) == 0 {
			fmt.Println(at.Format(time.TimeOnly), "nothing due")
		}
	}
	// Output:
	// 23:00:00 nothing due
	// 02:00:30 fired nightly for 2026-05-02 02:00:00
	// 02:01:00 nothing due
}
