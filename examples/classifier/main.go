// Command classifier shows how a host unit-tests its own classifier in
// isolation: analysis inputs built with the session assembler from
// fixtures, a small evidence-based classifier that consults the inputs'
// missing-evidence reasons before it classifies, and — in main_test.go and
// classifier_test.go — a scripted model from llm/llmtest in place of a real
// one.
//
// The classifier asks: did the agent answer from retrieved knowledge
// without citing it? Here the "model" is a deterministic keyword demo that
// says so, so the program runs offline and prints the same every time.
//
//	go run ./examples/classifier
package main

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/session"
)

//go:embed fixtures/*.json
var fixtures embed.FS

func main() {
	if err := run(context.Background(), os.Stdout, llm.ModelFunc(keywordJudge)); err != nil {
		fmt.Fprintln(os.Stderr, "classifier:", err)
		os.Exit(1)
	}
}

// run assembles every fixture and prints the classifier's verdict on it.
func run(ctx context.Context, w io.Writer, model llm.Model) error {
	inputs, err := loadInputs(ctx, &session.Assembler{Redactor: session.DefaultRedactor(), MaxMessageChars: 2000})
	if err != nil {
		return err
	}
	c := &Classifier{Model: model, ModelName: "demo-keywords"}
	fmt.Fprintln(w, "Model: a deterministic keyword demo standing in for an LLM (not a real model).")
	for _, f := range inputs {
		v, err := c.Classify(ctx, f.input)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		fmt.Fprintf(w, "%-13s %-21s confidence=%-4s calls=%d  %s\n", f.name, v.Label, v.Confidence, v.ModelCalls, v.Reason)
	}
	return nil
}

type namedInput struct {
	name  string
	input *session.SessionAnalysisInput
}

// loadInputs assembles the fixtures, in name order.
func loadInputs(ctx context.Context, asm *session.Assembler) ([]namedInput, error) {
	names, err := fs.Glob(fixtures, "fixtures/*.json")
	if err != nil {
		return nil, err
	}
	var out []namedInput
	for _, name := range names {
		data, err := fixtures.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var c session.Captures
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		in, err := asm.Assemble(ctx, &c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		short := strings.TrimSuffix(strings.TrimPrefix(name, "fixtures/"), ".json")
		out = append(out, namedInput{name: short, input: in})
	}
	return out, nil
}

// keywordJudge answers like a model asked for a Judgement: an answer with
// a digit or a policy word states facts.
func keywordJudge(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return llm.Response{}, err
	}
	block := req.Messages[len(req.Messages)-1].Content
	block = strings.TrimSuffix(strings.TrimPrefix(block, "<data>"), "</data>")
	var data struct {
		Answer string `json:"answer"`
	}
	if err := json.Unmarshal([]byte(block), &data); err != nil {
		return llm.Response{}, &llm.Error{Kind: llm.ErrRefused, Message: "no data block"}
	}
	j := Judgement{Reasoning: "No numbers or policy terms: small talk.", FactualClaims: false}
	lower := strings.ToLower(data.Answer)
	if strings.IndexFunc(lower, unicode.IsDigit) >= 0 || strings.Contains(lower, "policy") {
		j = Judgement{Reasoning: "The answer states a number or a policy.", FactualClaims: true}
	}
	out, _ := json.Marshal(j)
	return llm.Response{Content: string(out), Model: "demo-keywords-1", FinishReason: llm.FinishStop,
		Usage: llm.Usage{InputTokens: int64(len(req.System)+len(block)) / 4, OutputTokens: int64(len(out)) / 4}}, nil
}
