package extract_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func ExampleExtract() {
	fields := extract.FieldSet{
		{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support"}, Required: true},
		{Key: "resolved", Type: extract.Boolean},
		{Key: "refund", Type: extract.Number},
	}
	transcript := extract.Transcript{
		{Role: "caller", Content: "I was charged twice."},
		{Role: "agent", Content: "I've issued a refund of 9.99."},
	}
	// A scripted model stands in for a real one; its answer needs coercion.
	model := llmtest.NewScripted(llmtest.Reply(`{"intent":"Billing","resolved":"yes","refund":"9.99"}`))

	res, err := extract.Extract(context.Background(), model, extract.Config{
		FieldSet:     fields,
		Instructions: "Focus on the caller's primary reason.",
		Model:        "gpt-4o-mini",
	}, transcript)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Fields["intent"], res.Fields["resolved"], res.Fields["refund"], res.Missing)
	// Output: billing true 9.99 []
}

func ExampleFieldSet_Validate() {
	fields := extract.FieldSet{
		{Key: "intent", Type: extract.Enum},
		{Key: "intent", Type: "date"},
	}
	var ve *extract.ValidationError
	if errors.As(fields.Validate(), &ve) {
		for _, p := range ve.Under("$.fieldSet").Problems {
			fmt.Printf("%s: %s\n", p.Path, p.Message)
		}
	}
	// Output:
	// $.fieldSet[0].enumValues: an enum field needs enumValues
	// $.fieldSet[1].key: "intent" repeats the key of field 0
	// $.fieldSet[1].type: "date" is not a field type: use string, number, boolean or enum
}

func ExampleCoerceValue() {
	enabled := extract.Field{Key: "enabled", Type: extract.Boolean}
	for _, v := range []any{"Yes", 0.0, "maybe"} {
		got, err := extract.CoerceValue(enabled, v)
		fmt.Println(got, err)
	}
	// Output:
	// true <nil>
	// false <nil>
	// <nil> "maybe" is not a boolean (true/yes/1 or false/no/0)
}
