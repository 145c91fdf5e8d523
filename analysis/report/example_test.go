package report_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/analysis/report"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

// A run's report, written from Go: gather it from the service, then write
// it anywhere — a file, an e-mail, an HTTP answer. Every figure of the
// aggregate is also in a data attribute, for tools that read the page.
func ExampleWriteRun() {
	ctx := context.Background()
	store := memstore.New()
	// A stand-in for the host's model: every caller wants a refund.
	model := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: `{"intent":"billing"}`, Usage: llm.Usage{InputTokens: 900, OutputTokens: 12}}, nil
	})
	exec, _ := analysis.NewExecutor(analysis.ExecutorConfig{Store: store, Model: model})
	svc, _ := analysis.NewService(analysis.Config{Store: store})
	scope := analysis.Scope{Tenant: "acme", Project: "support"}
	_, _ = svc.Ingest(ctx, scope, []byte(`{"conversations":[
		{"name":"Call 1","transcript":[{"role":"caller","content":"I was charged twice."}],"referenceFields":{"intent":"billing"}},
		{"name":"Call 2","transcript":[{"role":"caller","content":"My line is down."}],"referenceFields":{"intent":"support"}}]}`))
	def, _ := svc.CreateDefinition(ctx, scope, analysis.DefinitionInput{
		Name:               "Call intent",
		FieldSet:           extract.FieldSet{{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support"}, Required: true}},
		Modes:              analysis.Modes{Accuracy: true},
		ExtractionModelKey: "gpt-4o-mini",
	})
	run, _ := svc.StartRun(ctx, scope, def.Key, analysis.Selection{Strategy: analysis.SelectAll})
	_, _ = exec.Drain(ctx)

	data, err := report.LoadRun(ctx, svc, scope, run.ID, report.Options{
		Prices: llm.PriceTable{"gpt-4o-mini": {Input: 0.15, Output: 0.60}}, Currency: "USD"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var page bytes.Buffer
	if err := report.WriteRun(&page, data); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range regexp.MustCompile(`data-metric="(\w+)" data-value="([^"]*)">([^<]*)<`).FindAllStringSubmatch(page.String(), -1) {
		fmt.Printf("%-22s %-6s %s\n", m[1], m[2], m[3])
	}
	fmt.Println("cost", regexp.MustCompile(`data-cost>([^<]*)<`).FindStringSubmatch(page.String())[1])
	fmt.Println("billing expected, billing extracted:", data.Confusions[0].Count("billing", "billing"))
	fmt.Println("support expected, billing extracted:", data.Confusions[0].Count("support", "billing"))
	// Output:
	// total                  2      2
	// completed              2      2
	// failed                 0      0
	// passed                 2      2
	// passRate               1      100.0%
	// avgJudgeScore                 n/a
	// avgExtractionAccuracy  0.5    50.0%
	// judgeErrors            0      0
	// cost 0.0003 USD
	// billing expected, billing extracted: 1
	// support expected, billing extracted: 1
}
