// Command knowledgegap runs the ready-made knowledge-gap definition over
// real agent logs — three airline sessions from tau-bench, converted with
// the OpenAI agent-log converter and the session assembler — and prints the
// run's gap table: why, session by session, the agent lacked the knowledge
// to serve the customer.
//
// The "model" is scripted (llm/llmtest): it takes the gap the deterministic
// checks suggest, so the program runs offline and prints the same every
// time. Put a real one in its place (see examples/server's -llm-base-url)
// to classify for real.
//
//	go run ./examples/knowledgegap
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
	"github.com/debrief-go/debrief/session"
)

//go:embed testdata/airline-trajectories-3.json
var trajectories []byte

func main() {
	if err := run(context.Background(), os.Stdout, scriptedModel()); err != nil {
		fmt.Fprintln(os.Stderr, "knowledgegap:", err)
		os.Exit(1)
	}
}

var scope = analysis.Scope{Tenant: "airline", Project: "support"}

// run converts the trajectories, ingests them, runs the knowledge-gap
// definition with model and prints the gap table.
func run(ctx context.Context, w io.Writer, model llm.Model) error {
	store := memstore.New()
	svc, err := analysis.NewService(analysis.Config{Store: store, Redactor: session.DefaultRedactor()})
	if err != nil {
		return err
	}
	exec, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: store, Model: model, Owner: "knowledgegap"})
	if err != nil {
		return err
	}
	ins, err := sessions(ctx)
	if err != nil {
		return err
	}
	res, err := svc.IngestConversations(ctx, scope, ins)
	if err != nil {
		return err
	}
	def := analysis.KnowledgeGapDefinition("Knowledge gaps")
	def.ExtractionModelKey, def.JudgeModelKey = "scripted", "scripted"
	d, err := svc.CreateDefinition(ctx, scope, def)
	if err != nil {
		return err
	}
	r, err := svc.StartRun(ctx, scope, d.Key, analysis.Selection{Strategy: analysis.SelectAll})
	if err != nil {
		return err
	}
	if _, err := exec.Drain(ctx); err != nil {
		return err
	}
	r, err = svc.GetRun(ctx, scope, r.ID)
	if err != nil {
		return err
	}
	if r.Status != analysis.RunCompleted {
		return fmt.Errorf("the run ended %s: %s", r.Status, r.Error)
	}
	tab, err := svc.GapTable(ctx, scope, r.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Knowledge gaps of %d tau-bench airline sessions (model: scripted, it takes the gap the checks suggest)\n\n", len(res))
	fmt.Fprintf(w, "%-44s %-17s %-7s %s\n", "session", "gap", "passed", "findings")
	items := slices.SortedFunc(slices.Values(r.Items), func(a, b analysis.Item) int { return strings.Compare(a.ConversationKey, b.ConversationKey) })
	for _, it := range items {
		var checks []string
		for _, f := range it.Findings {
			checks = append(checks, fmt.Sprintf("%s@%d", f.Check, *f.Turn))
		}
		kind, _ := it.ExtractedFields[analysis.FieldGapKind].(string)
		fmt.Fprintf(w, "%-44s %-17s %-7t %s\n", it.ConversationKey, kind, it.Passed, strings.Join(checks, " "))
	}
	fmt.Fprintf(w, "\n%-17s %5s  %s\n", "gap kind", "items", "topics")
	for _, k := range tab.Kinds {
		var topics []string
		for _, t := range k.Topics {
			topics = append(topics, fmt.Sprintf("%s (%d)", t.Topic, t.Count))
		}
		fmt.Fprintf(w, "%-17s %5d  %s\n", k.Kind, k.Count, strings.Join(topics, "; "))
	}
	fmt.Fprintf(w, "\nfindings: %v; unexplained: %d; evidence insufficient: %d\n", tab.Findings, tab.Unexplained, tab.InsufficientEvidence)
	return nil
}

// sessions converts the tau-bench trajectories into conversations with
// their evidence: agent log → captures → the canonical session input →
// a conversation.
func sessions(ctx context.Context) ([]analysis.ConversationInput, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(trajectories, &raws); err != nil {
		return nil, err
	}
	var out []analysis.ConversationInput
	for _, raw := range raws {
		var meta struct {
			TaskID int `json:"task_id"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, err
		}
		c, err := session.FromOpenAILog(raw, session.OpenAILogOptions{
			SessionID:         fmt.Sprintf("7a1e0000-0000-4000-8000-%012d", meta.TaskID),
			OrganizationID:    "0f8fad5b-d9cb-469f-a165-70867728950e",
			Channel:           "chat",
			StartedAt:         time.Date(2024, 5, 15, 20, 0, 0, 0, time.UTC),
			HandoffTools:      []string{"transfer_to_human_agents"},
			ToolErrorPrefixes: []string{"Error:"},
			Metadata:          map[string]any{"task_id": meta.TaskID}, // not the reward: the answer a model must not see
		})
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", meta.TaskID, err)
		}
		in, err := (&session.Assembler{}).Assemble(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", meta.TaskID, err)
		}
		conv, err := analysis.ConversationFromSession(in)
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", meta.TaskID, err)
		}
		out = append(out, conv)
	}
	return out, nil
}

// scriptedModel answers the knowledge-gap definition as a careful model
// would from the evidence alone: the gap the first finding suggests (none
// without findings), a topic naming the tool a failed call used, and a
// verdict that grounded sessions pass.
func scriptedModel() llm.Model {
	return llmtest.NewResponder().
		On(extract.SchemaName, func(req llm.Request, _ *rand.Rand) llmtest.Step {
			ev := evidenceOf(req)
			ans := map[string]any{analysis.FieldGapKind: analysis.GapNone, analysis.FieldGapTurns: nil, analysis.FieldGapTopic: nil,
				analysis.FieldEvidenceSufficient: true, analysis.FieldFindingsDisagreement: nil}
			if len(ev.Findings) > 0 {
				f := ev.Findings[0]
				ans[analysis.FieldGapKind] = f.Suggests
				ans[analysis.FieldGapTurns] = fmt.Sprint(*f.Turn)
				ans[analysis.FieldGapTopic] = f.Check
				var i int
				if _, err := fmt.Sscanf(f.Record, "toolCalls[%d]", &i); err == nil && i < len(ev.ToolCalls) {
					ans[analysis.FieldGapTopic] = "tool " + ev.ToolCalls[i].Name + " failed"
				}
			}
			return llmtest.ReplyJSON(ans)
		}).
		On(judge.SchemaName, func(req llm.Request, _ *rand.Rand) llmtest.Step {
			score := 0.9
			if len(evidenceOf(req).Findings) > 0 {
				score = 0.4
			}
			return llmtest.ReplyJSON(judge.Answer{Reasoning: "Judged from the recorded evidence.", Evidence: []judge.Evidence{}, Score: score})
		})
}

// shownEvidence is what the scripted model reads of the evidence block.
type shownEvidence struct {
	Findings  []analysis.Finding  `json:"findings"`
	ToolCalls []analysis.ToolCall `json:"toolCalls"`
}

// evidenceOf reads the evidence block of a request.
func evidenceOf(req llm.Request) shownEvidence {
	var ev shownEvidence
	msg := req.Messages[0].Content
	start := strings.Index(msg, extract.EvidenceBlockStart)
	end := strings.Index(msg, extract.EvidenceBlockEnd)
	if start >= 0 && end > start {
		_ = json.Unmarshal([]byte(msg[start+len(extract.EvidenceBlockStart):end]), &ev)
	}
	return ev
}
