package judge_test

import (
	"context"
	"fmt"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func ExampleGrade() {
	transcript := extract.Transcript{
		{Role: "caller", Content: "I was charged twice."},
		{Role: "agent", Content: "Sorry about that! I've issued a refund."},
	}
	// A scripted model stands in for a real one. One of its quotes is not in
	// the transcript: it is dropped and counted.
	model := llmtest.NewScripted(llmtest.Reply(`{
		"reasoning": "The agent apologised and fixed the problem.",
		"evidence": [{"turn": 1, "quote": "Sorry about that!"}, {"turn": 1, "quote": "Have a lovely day"}],
		"score": 0.9}`))

	v, err := judge.Grade(context.Background(), model, judge.Config{
		Rubric: "Was the caller helped politely?",
		Model:  "gpt-4o",
	}, transcript)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v.Score, v.Passed, v.Evidence, v.DroppedEvidence)
	// Output: 0.9 true [{1 Sorry about that!}] 1
}
