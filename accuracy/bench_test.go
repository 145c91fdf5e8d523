package accuracy_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

// starFields is a field set for the STAR dialogues' reference fields.
var starFields = extract.FieldSet{
	{Key: "task", Type: extract.Enum, Required: true, EnumValues: []string{
		"apartment_schedule", "apartment_search", "bank_balance", "bank_fraud_report", "doctor_followup",
		"doctor_schedule", "hotel_book", "hotel_search", "hotel_service_request", "meeting_schedule", "party_plan",
		"party_rsvp", "plane_book", "plane_search", "restaurant_book", "restaurant_search", "ride_book", "ride_change",
		"ride_status", "spaceship_access_codes", "spaceship_life_support", "trip_directions", "trivia", "weather"}},
	{Key: "completion", Type: extract.Enum, EnumValues: []string{"complete", "other"}, Required: true},
	{Key: "happy_path", Type: extract.Boolean},
	{Key: "kb_queries", Type: extract.Number, Description: "How many knowledge-base look-ups the agent made."},
	{Key: "agent_helpful", Type: extract.Boolean},
	{Key: "user_annoyed", Type: extract.Boolean},
}

type starConversation struct {
	Name            string             `json:"name"`
	Transcript      extract.Transcript `json:"transcript"`
	ReferenceFields map[string]any     `json:"referenceFields"`
}

func loadStar(t testing.TB) []starConversation {
	t.Helper()
	data, err := os.ReadFile("testdata/star/star-sample-5.json")
	require.NoError(t, err)
	var doc struct {
		Conversations []starConversation `json:"conversations"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	return doc.Conversations
}

// echoModel answers every extraction with the same JSON, the way a model
// that agrees with the reference would, with string-typed values to coerce.
func echoModel(answer string) llm.Model {
	return llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{Content: answer, FinishReason: llm.FinishStop}, nil
	})
}

func TestStarRoundTrip(t *testing.T) {
	e, err := extract.New(extract.Config{FieldSet: starFields, Model: "m"})
	require.NoError(t, err)
	for _, c := range loadStar(t) {
		answer, err := json.Marshal(c.ReferenceFields)
		require.NoError(t, err)
		res, err := e.Extract(context.Background(), echoModel(string(answer)), c.Transcript)
		require.NoError(t, err, c.Name)
		cmp := accuracy.Compare(starFields, res.Fields, c.ReferenceFields, accuracy.Options{})
		require.NotNil(t, cmp.Score, c.Name)
		require.Equal(t, 1.0, *cmp.Score, c.Name)
		require.Equal(t, len(c.ReferenceFields), cmp.ComparedCount, c.Name)
	}
}

// BenchmarkExtractAndCompare measures debrief's own work for one STAR-sized
// conversation (24 turns, 1.4 kB): rendering the request, parsing and
// validating the answer, coercing its values and comparing them with the
// reference. The model answers instantly.
func BenchmarkExtractAndCompare(b *testing.B) {
	convs := loadStar(b)
	c := convs[1] // the longest transcript of the sample
	e, err := extract.New(extract.Config{FieldSet: starFields, Model: "m", Instructions: "Read the whole dialogue."})
	require.NoError(b, err)
	m := echoModel(`{"task":"Trip_Directions","completion":"complete","happy_path":"yes","kb_queries":"1","agent_helpful":true,"user_annoyed":"no"}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Extract(ctx, m, c.Transcript)
		if err != nil {
			b.Fatal(err)
		}
		cmp := accuracy.Compare(starFields, res.Fields, c.ReferenceFields, accuracy.Options{})
		if *cmp.Score != 1 {
			b.Fatalf("score %v", *cmp.Score)
		}
	}
}

// BenchmarkCompare measures the comparison alone: one STAR conversation's
// coerced fields against its reference fields.
func BenchmarkCompare(b *testing.B) {
	c := loadStar(b)[1]
	extracted := map[string]any{"task": "trip_directions", "completion": "complete", "happy_path": true, "kb_queries": 1.0,
		"agent_helpful": true, "user_annoyed": false}
	b.ReportAllocs()
	for b.Loop() {
		if cmp := accuracy.Compare(starFields, extracted, c.ReferenceFields, accuracy.Options{}); cmp.ComparedCount == 0 {
			b.Fatal("nothing compared")
		}
	}
}
