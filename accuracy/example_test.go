package accuracy_test

import (
	"fmt"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/extract"
)

func ExampleCompare() {
	fields := extract.FieldSet{
		{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support"}},
		{Key: "resolved", Type: extract.Boolean},
		{Key: "amount", Type: extract.Number},
		{Key: "summary", Type: extract.String},
	}
	extracted := map[string]any{"intent": "billing", "resolved": true, "amount": 9.95, "summary": "Refund issued."}
	reference := map[string]any{"intent": "Billing", "resolved": "yes", "amount": 10, "summary": "refund issued"}

	res := accuracy.Compare(fields, extracted, reference, accuracy.Options{AbsTolerance: 0.01})
	fmt.Printf("score %.2f over %d fields\n", *res.Score, res.ComparedCount)
	for _, key := range []string{"intent", "resolved", "amount", "summary"} {
		fmt.Println(key, res.PerField[key].Match)
	}
	// Output:
	// score 0.75 over 4 fields
	// intent true
	// resolved true
	// amount false
	// summary true
}

func ExampleNewConfusion() {
	intent := extract.Field{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support"}}
	fields := extract.FieldSet{intent}
	var results []accuracy.Result
	for _, pair := range [][2]string{{"billing", "billing"}, {"billing", "support"}, {"support", "support"}} {
		results = append(results, accuracy.Compare(fields,
			map[string]any{"intent": pair[1]}, map[string]any{"intent": pair[0]}, accuracy.Options{}))
	}
	c, err := accuracy.NewConfusion(intent, results)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(c)
	fmt.Printf("recall of billing: %.2f\n", *c.Recall("billing"))
	// Output:
	// expected \ actual  billing  support  (null)
	// billing            1        1        0
	// support            0        1        0
	// (null)             0        0        0
	// recall of billing: 0.50
}

func ExampleCohenKappa() {
	judge := []bool{true, true, false, true, false, false, true, true}
	human := []bool{true, true, false, false, false, true, true, true}
	k, err := accuracy.CohenKappa(judge, human)
	fmt.Printf("%.3f %v\n", k, err)
	// Output: 0.467 <nil>
}

func ExampleSpearman() {
	judge := []float64{0.9, 0.7, 0.4, 0.8, 0.1}
	human := []float64{5, 3, 2, 4, 1}
	rho, err := accuracy.Spearman(judge, human)
	fmt.Println(rho, err)
	// Output: 1 <nil>
}
