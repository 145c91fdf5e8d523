package timeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/debrief-go/debrief/llm/llmtest"
	"github.com/debrief-go/debrief/timeline"
)

var start = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }

// exampleFlow is an inbound call answered by an AI agent.
func exampleFlow() (timeline.Flow, []timeline.Event) {
	flow := timeline.Flow{
		ID: "b2c3d4e5-f6a7-8901-bcde-f12345678901", CustomerID: "5e4a0680-804e-11ec-8477-2fea5968d85b",
		ReferenceType: timeline.RefCall, FlowName: "support-ivr", Ended: true, CreatedAt: start,
		Reference: &timeline.Reference{Type: timeline.RefCall, CustomerID: "5e4a0680-804e-11ec-8477-2fea5968d85b",
			Calls: []timeline.CallLeg{{Direction: "incoming", Source: "+14155550100", Destination: "+14155550199",
				Status: "hangup", HangupReason: "normal", HangupBy: "remote",
				CreatedAt: start, AnsweredAt: at(5_000), HungUpAt: at(317_000)}}},
	}
	events, err := timeline.ParseEvents([]byte(`[
		{"index": 0, "type": "call_created", "timestamp": "2024-03-01T10:00:00Z", "resource_type": "call", "resource_id": "c1"},
		{"index": 1, "type": "pipecatcall_initialized", "timestamp": "2024-03-01T10:00:05Z", "resource_type": "pipecatcall", "resource_id": "p1"},
		{"index": 2, "type": "message_bot_transcription", "timestamp": "2024-03-01T10:00:06.2Z", "resource_type": "pipecatcall", "resource_id": "p1",
		 "data": {"text": "Hello, how can I help?"}},
		{"index": 3, "type": "message_bot_llm_intermediate", "timestamp": "2024-03-01T10:00:08Z", "resource_type": "pipecatcall", "resource_id": "p1"},
		{"index": 4, "type": "message_user_transcription", "timestamp": "2024-03-01T10:00:09Z", "resource_type": "pipecatcall", "resource_id": "p1",
		 "data": {"text": "A charge on my bill."}},
		{"index": 5, "type": "message_bot_transcription", "timestamp": "2024-03-01T10:00:10.45Z", "resource_type": "pipecatcall", "resource_id": "p1",
		 "data": {"text": "Let me check that for you."}},
		{"index": 6, "type": "media_error", "timestamp": "2024-03-01T10:03:00Z", "resource_type": "call", "resource_id": "c1", "data": {"mos": 2.8}},
		{"index": 7, "type": "call_hangup", "timestamp": "2024-03-01T10:05:17Z", "resource_type": "call", "resource_id": "c1"}
	]`))
	if err != nil {
		panic(err)
	}
	return flow, events
}

func printJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	_ = enc.Encode(v)
}

// The deterministic blocks need no model.
func ExamplePrepare() {
	flow, events := exampleFlow()
	p, err := timeline.Prepare(flow, events, timeline.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	printJSON(p.SessionContext)
	printJSON(p.Outcome)
	printJSON(p.Metrics)
	printJSON(p.ResourcesUsed)
	fmt.Println(len(p.Events), "events frozen, reduced:", p.InputReduced)
	// Output:
	// {"reference_type":"call","channel":"voice","direction":"inbound","direction_raw":"incoming","participants":[{"role":"source","address":"+14155550100"},{"role":"destination","address":"+14155550199"}],"flow_name":"support-ivr","started_at":"2024-03-01T10:00:05Z","multi_leg":false,"ai_handled":true,"human_involved":false}
	// {"result":"completed","ended_by":"remote","reason":"normal","detail":{"duration_sec":"312","hangup_reason":"normal"}}
	// {"turns_user":1,"turns_bot":2,"first_response_ms":1200,"avg_response_ms":1450,"max_response_ms":1450,"max_gap_ms":2800}
	// [{"type":"call","count":1},{"type":"pipecatcall","count":1}]
	// 8 events frozen, reduced: false
}

func ExampleCallResult() {
	for _, reason := range []string{"normal", "noanswer", "busy", "amd", "none", "rejected"} {
		fmt.Println(reason, "→", timeline.CallResult(reason, true))
	}
	// Output:
	// normal → completed
	// noanswer → no_answer
	// busy → busy
	// amd → failed
	// none → completed
	// rejected → unknown
}

// The model writes the prose and cites events by index; the evidence is
// filled from the real events, and bad citations are dropped.
func ExampleAnalyzer_Analyze() {
	model := llmtest.NewScripted(llmtest.Reply(`{
		"reasoning": "Media quality dropped at event 6; the caller later hung up.",
		"interactions": [{"resource_type": "call", "summary": "The caller asked about a charge on their bill."}],
		"narrative": "An inbound call was answered by the AI agent; media quality degraded mid-call.",
		"issues": [{"area": "media", "summary": "Call media quality (MOS) degraded to 2.8.", "evidence_index": [6, 42], "severity": "warning"}],
		"overall_status": "warning"
	}`))
	analyzer, err := timeline.NewAnalyzer(timeline.AnalyzerConfig{Model: model, ModelKey: "gpt-4o-mini"})
	if err != nil {
		fmt.Println(err)
		return
	}
	flow, events := exampleFlow()
	rep, err := analyzer.Analyze(context.Background(), flow, events)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Verdict.OverallStatus, "-", rep.Verdict.Narrative)
	printJSON(rep.Verdict.Issues)
	fmt.Println("calls:", rep.Calls, "evidence dropped:", rep.EvidenceDropped)
	// Output:
	// warning - An inbound call was answered by the AI agent; media quality degraded mid-call.
	// [{"severity":"warning","area":"media","summary":"Call media quality (MOS) degraded to 2.8.","evidence":[{"evidence_index":6,"event_type":"media_error","timestamp":"2024-03-01T10:03:00.000000Z","resource_id":"c1"}]}]
	// calls: 1 evidence dropped: 1
}

// exampleSource serves the example flow.
type exampleSource struct{}

func (exampleSource) Flow(ctx context.Context, customerID, flowID string) (timeline.Flow, error) {
	flow, _ := exampleFlow()
	if flowID != flow.ID || customerID != flow.CustomerID {
		return timeline.Flow{}, timeline.ErrNotFound
	}
	return flow, nil
}

func (exampleSource) Events(ctx context.Context, customerID, flowID string) ([]timeline.Event, error) {
	_, events := exampleFlow()
	return events, nil
}

// A service creates the analysis at once and runs it in the background.
func ExampleService() {
	model := llmtest.NewScripted(llmtest.Reply(`{"reasoning": "r", "interactions": [], ` +
		`"narrative": "The call was answered and ended normally.", "issues": [], "overall_status": "ok"}`))
	svc, err := timeline.NewService(timeline.Config{
		Source:   exampleSource{},
		Analyzer: timeline.AnalyzerConfig{Model: model},
		Now:      func() time.Time { return time.Date(2024, 3, 1, 10, 6, 0, 0, time.UTC) },
		NewID:    func() string { return "a1b2c3d4-e5f6-7890-abcd-ef1234567890" },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close(context.Background())

	ctx := context.Background()
	customer, flowID := "5e4a0680-804e-11ec-8477-2fea5968d85b", "b2c3d4e5-f6a7-8901-bcde-f12345678901"
	a, started, err := svc.Create(ctx, customer, flowID, timeline.CreateOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Status, started)
	svc.Wait()
	a, err = svc.Get(ctx, customer, a.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Status, a.Result.OverallStatus, a.TMUpdate.Format(timeline.TimestampLayout))
	_, err = svc.Get(ctx, "6f5b1791-915f-42fd-9588-3feb6a79e96c", a.ID)
	fmt.Println(err)
	// Output:
	// progressing true
	// completed ok 2024-03-01T10:06:00.000000Z
	// timeline: not found
}
