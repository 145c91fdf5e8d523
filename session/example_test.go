package session_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/debrief-go/debrief/session"
)

// A host fills Captures from its own storage and assembles the input an
// analyzer reads: redacted, with the outcome derived and the missing
// evidence recorded.
func ExampleAssembler_Assemble() {
	start := time.Date(2024, 5, 15, 15, 0, 0, 0, time.UTC)
	end := start.Add(2 * time.Minute)
	captures := &session.Captures{
		SessionID:         "0b7c6d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e",
		OrganizationID:    "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
		Channel:           "web",
		StartedAt:         start,
		EndedAt:           &end,
		Status:            session.StatusCompleted,
		TerminationReason: session.ReasonAgentResolved,
		AgentKBIDs:        []string{"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"},
		Messages: []session.MessageEntry{
			{TurnID: "11111111-1111-4111-8111-111111111111", Role: session.RoleUser, Timestamp: start.Add(time.Second),
				Content: "Can I return shoes? I'm jane@example.com, +1 415 555 2671."},
			{TurnID: "22222222-2222-4222-8222-222222222222", Role: session.RoleAssistant, Timestamp: start.Add(3 * time.Second),
				Content: "Yes, within 30 days."},
		},
	}
	asm := session.Assembler{Redactor: session.DefaultRedactor(), MaxMessageChars: 4000}
	in, err := asm.Assemble(context.Background(), captures)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(in.Messages[0].Content)
	fmt.Println(*in.Outcome, *in.CompletionReason)
	fmt.Println(in.MissingEvidenceReasons)
	if in.Missing(session.NoRagTrace) {
		fmt.Println("no retrieval trace: skip evidence-backed classification")
	}
	// Output:
	// Can I return shoes? I'm [EMAIL], [PHONE].
	// resolved agent_resolved
	// [no_rag_trace no_csat no_user_feedback]
	// no retrieval trace: skip evidence-backed classification
}

// A session that has not ended cannot be analysed yet.
func ExampleAssembler_Assemble_notTerminal() {
	var asm session.Assembler
	_, err := asm.Assemble(context.Background(), &session.Captures{Status: session.StatusWaitingForHuman})
	fmt.Println(errors.Is(err, session.ErrNotTerminal))
	// Output: true
}

// FromMoveo converts a Moveo.ai get_session_content response; its
// timestamps carry no zone and are read as UTC.
func ExampleFromMoveo() {
	response := []byte(`{"data":{"get_session_content":[{
		"session_id":"cd0c20e2-338d-485f-91ca-cb34766d1ceb","account_id":"8fb5d9d4-c3f0-4165-a8e9-41655e0fe624",
		"channel":"web","start_time":"2024-01-06T07:34:37.346","end_time":"2024-01-06T07:34:44.286",
		"is_contained":true,"is_covered":true,"tags":["kg"],
		"messages":[
			{"time":"2024-01-06T07:34:43.252","event":"message:received","message":{"text":"hi"}},
			{"time":"2024-01-06T07:34:44.286","event":"message:brain_send","response_time":0.017,
			 "message":{"responses":[{"type":"text","text":"Hello!"},{"type":"text","text":"How can I help you?"}]}}]}]}}`)
	records, err := session.FromMoveo(response, session.MoveoOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	var asm session.Assembler
	in, err := asm.Assemble(context.Background(), &records[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range in.Messages {
		fmt.Printf("%s %s %q\n", m.Timestamp.Format(time.RFC3339Nano), m.Role, m.Content)
	}
	fmt.Println(*in.Outcome, in.CustomerMetadata["tags"])
	// Output:
	// 2024-01-06T07:34:43.252Z user "hi"
	// 2024-01-06T07:34:44.286Z assistant "Hello!\n\nHow can I help you?"
	// resolved [kg]
}

// FromOpenAILog converts an agent log; the caller supplies the identifiers
// and the start time, and the timestamps are synthesised from it.
func ExampleFromOpenAILog() {
	log := []byte(`[
		{"role":"system","content":"You are an airline agent."},
		{"role":"user","content":"Cancel reservation SI5UKW."},
		{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"cancel_reservation","arguments":"{\"reservation_id\":\"SI5UKW\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"cancelled"},
		{"role":"assistant","content":"Done: SI5UKW is cancelled."}]`)
	c, err := session.FromOpenAILog(log, session.OpenAILogOptions{
		SessionID:      "0b7c6d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e",
		OrganizationID: "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
		StartedAt:      time.Date(2024, 5, 15, 20, 0, 0, 0, time.UTC),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range c.Messages {
		fmt.Printf("%s %s %q\n", m.Timestamp.Format("15:04:05"), m.Role, m.Content)
	}
	fmt.Println(c.ToolCalls[0].Name, *c.ToolCalls[0].Result)
	// Output:
	// 20:00:00 user "Cancel reservation SI5UKW."
	// 20:00:01 assistant ""
	// 20:00:02 tool "cancelled"
	// 20:00:03 assistant "Done: SI5UKW is cancelled."
	// cancel_reservation cancelled
}

func ExampleDeriveOutcome() {
	for _, c := range []struct {
		status session.SessionStatus
		reason session.SessionTerminationReason
	}{
		{session.StatusCompleted, session.ReasonHandedOff},
		{session.StatusCompleted, session.ReasonUserEnded},
		{session.StatusExpired, session.ReasonUserEnded},
		{session.StatusFailed, session.ReasonBusy},
		{session.StatusActive, ""},
	} {
		outcome, ok := session.DeriveOutcome(c.status, c.reason)
		fmt.Printf("%s/%s -> %q %v\n", c.status, c.reason, outcome, ok)
	}
	// Output:
	// completed/handed_off -> "transferred" true
	// completed/user_ended -> "" false
	// expired/user_ended -> "expired" true
	// failed/busy -> "call_failed" true
	// active/ -> "" false
}

func ExampleDefaultRedactor() {
	out, _ := session.DefaultRedactor().Redact(context.Background(),
		"Order 88123 on 2024-05-15: card 4111 1111 1111 1111, mail sam@example.org, call (415) 555-2671.")
	fmt.Println(out)
	// Output: Order 88123 on 2024-05-15: card [CARD], mail [EMAIL], call [PHONE].
}

// ParseInput validates an input received as JSON and reports every problem
// with its JSON path.
func ExampleParseInput() {
	_, err := session.ParseInput([]byte(`{"session_id":"42","organization_id":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
		"agent_id":null,"channel":"web","started_at":"2024-05-15T15:00:00Z","ended_at":null,
		"completion_reason":null,"knowledge_gap_analysis_outcome":"fine"}`))
	var ve *session.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p.Path)
		}
	}
	// Output:
	// $.knowledge_gap_analysis_outcome
	// $.session_id
}
