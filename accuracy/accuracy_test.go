package accuracy_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/extract"
)

var fields = extract.FieldSet{
	{Key: "intent", Type: extract.Enum, EnumValues: []string{"billing", "support", "cancel"}, Required: true},
	{Key: "resolved", Type: extract.Boolean},
	{Key: "amount", Type: extract.Number},
	{Key: "summary", Type: extract.String},
	{Key: "agent", Type: extract.String},
}

func TestCompareSeedExample(t *testing.T) {
	res := accuracy.Compare(fields, map[string]any{"intent": "billing", "resolved": true}, map[string]any{"intent": "billing", "resolved": true}, accuracy.Options{})
	require.NotNil(t, res.Score)
	assert.Equal(t, 1.0, *res.Score)
	assert.Equal(t, 2, res.ComparedCount)
	b, err := json.Marshal(res)
	require.NoError(t, err)
	assert.JSONEq(t, `{"score":1,"comparedCount":2,"perField":{
		"intent":{"expected":"billing","actual":"billing","match":true},
		"resolved":{"expected":true,"actual":true,"match":true}}}`, string(b), "the seed's item.accuracy shape")
}

func TestCompareOnlyReferenceKeys(t *testing.T) {
	res := accuracy.Compare(fields,
		map[string]any{"intent": "billing", "resolved": false, "amount": 3.0, "summary": "x"},
		map[string]any{"intent": "billing", "amount": 4, "typo_key": 1, "another": "x"},
		accuracy.Options{})
	assert.Equal(t, 2, res.ComparedCount, "only the reference's keys of the field set")
	assert.Equal(t, 0.5, *res.Score)
	assert.NotContains(t, res.PerField, "resolved")
	assert.False(t, res.PerField["amount"].Match)
	assert.Equal(t, []string{"another", "typo_key"}, res.UnknownReferenceKeys)
	assert.Equal(t, 1, res.Matched())
}

func TestCompareNothingComparedIsNil(t *testing.T) {
	res := accuracy.Compare(fields, map[string]any{"intent": "billing"}, map[string]any{}, accuracy.Options{})
	assert.Nil(t, res.Score, "nil, never NaN")
	assert.Zero(t, res.ComparedCount)
	b, err := json.Marshal(res)
	require.NoError(t, err)
	assert.JSONEq(t, `{"score":null,"comparedCount":0,"perField":{}}`, string(b))

	res = accuracy.Compare(fields, nil, nil, accuracy.Options{})
	assert.Nil(t, res.Score)
}

func TestCompareNulls(t *testing.T) {
	res := accuracy.Compare(fields,
		map[string]any{"intent": nil, "resolved": true, "amount": nil},
		map[string]any{"intent": nil, "resolved": nil, "amount": 5.0, "summary": nil},
		accuracy.Options{})
	assert.True(t, res.PerField["intent"].Match, "null matches null")
	assert.False(t, res.PerField["resolved"].Match, "a value does not match null")
	assert.False(t, res.PerField["amount"].Match, "null does not match a value")
	assert.True(t, res.PerField["summary"].Match, "an absent extracted key is null")
	assert.Equal(t, 4, res.ComparedCount)
}

func TestCompareStrings(t *testing.T) {
	for _, tt := range []struct {
		expected, actual string
		match            bool
	}{
		{"Refund issued", "refund issued", true},
		{"  Refund   issued. ", "refund issued", true},
		{"«Refund issued»", "Refund issued!", true},
		{"STRASSE", "straße", true},
		{"café", "cafe\u0301", true},
		{"refund issued", "refund not issued", false},
		{"a-b", "a b", false},
	} {
		res := accuracy.Compare(fields, map[string]any{"summary": tt.actual}, map[string]any{"summary": tt.expected}, accuracy.Options{})
		assert.Equal(t, tt.match, res.PerField["summary"].Match, "%q vs %q", tt.expected, tt.actual)
		assert.Nil(t, res.PerField["summary"].F1)
	}
}

func TestCompareStringsByTokenF1(t *testing.T) {
	ref := map[string]any{"summary": "The agent issued a refund for the double charge"}
	got := map[string]any{"summary": "agent issued refund for double charge"}
	res := accuracy.Compare(fields, got, ref, accuracy.Options{TokenF1: 0.8})
	fr := res.PerField["summary"]
	require.NotNil(t, fr.F1)
	// 6 shared tokens; precision 6/6, recall 6/9: F1 = 2·1·(2/3)/(1+2/3) = 0.8
	assert.InDelta(t, 0.8, *fr.F1, 1e-12)
	assert.True(t, fr.Match)

	res = accuracy.Compare(fields, got, ref, accuracy.Options{TokenF1: 0.81})
	assert.False(t, res.PerField["summary"].Match)
}

func TestTokenF1(t *testing.T) {
	assert.Equal(t, 1.0, accuracy.TokenF1("a b c", "c, b, a."))
	assert.Equal(t, 1.0, accuracy.TokenF1("", "..."))
	assert.Equal(t, 0.0, accuracy.TokenF1("", "a"))
	assert.Equal(t, 0.0, accuracy.TokenF1("a b", "c d"))
	assert.InDelta(t, 2.0/3.0, accuracy.TokenF1("the the cat", "the cat sat"), 1e-12, "multiset counting")
}

func TestCompareNumbers(t *testing.T) {
	for _, tt := range []struct {
		expected, actual any
		opts             accuracy.Options
		match            bool
	}{
		{12.5, 12.5, accuracy.Options{}, true},
		{12, "12", accuracy.Options{}, true},
		{json.Number("12.0"), 12.0, accuracy.Options{}, true},
		{12.5, 12.51, accuracy.Options{}, false},
		{12.5, 12.51, accuracy.Options{AbsTolerance: 0.02}, true},
		{12.5, 12.6, accuracy.Options{AbsTolerance: 0.02}, false},
		{200.0, 204.0, accuracy.Options{RelTolerance: 0.02}, true},
		{200.0, 205.0, accuracy.Options{RelTolerance: 0.02}, false},
		{-200.0, -196.0, accuracy.Options{RelTolerance: 0.02}, true},
		{0.0, 0.0001, accuracy.Options{RelTolerance: 0.5}, false},
		{3.0, "three", accuracy.Options{}, false},
	} {
		res := accuracy.Compare(fields, map[string]any{"amount": tt.actual}, map[string]any{"amount": tt.expected}, tt.opts)
		assert.Equal(t, tt.match, res.PerField["amount"].Match, "%v vs %v with %+v", tt.expected, tt.actual, tt.opts)
	}
}

func TestCompareBooleansAndEnumsAfterCoercion(t *testing.T) {
	res := accuracy.Compare(fields,
		map[string]any{"intent": "BILLING", "resolved": "yes"},
		map[string]any{"intent": " billing ", "resolved": true},
		accuracy.Options{})
	assert.True(t, res.PerField["intent"].Match)
	assert.Equal(t, "billing", res.PerField["intent"].Expected, "canonical spelling")
	assert.Equal(t, "billing", res.PerField["intent"].Actual)
	assert.True(t, res.PerField["resolved"].Match)

	res = accuracy.Compare(fields, map[string]any{"resolved": "no"}, map[string]any{"resolved": 1.0}, accuracy.Options{})
	assert.False(t, res.PerField["resolved"].Match)
	assert.Equal(t, true, res.PerField["resolved"].Expected)
	assert.Equal(t, false, res.PerField["resolved"].Actual)
}

func TestCompareInvalidValues(t *testing.T) {
	res := accuracy.Compare(fields,
		map[string]any{"intent": "refunds", "resolved": true, "amount": 1.0},
		map[string]any{"intent": "billing", "resolved": "sometimes", "amount": map[string]any{"x": 1}},
		accuracy.Options{})
	assert.Equal(t, 1, res.ComparedCount, "bad reference values are not compared")
	assert.Equal(t, []accuracy.ReferenceIssue{
		{Key: "resolved", Reason: `"sometimes" is not a boolean (true/yes/1 or false/no/0)`},
		{Key: "amount", Reason: "an object cannot be a number"},
	}, res.InvalidReference)
	fr := res.PerField["intent"]
	assert.False(t, fr.Match)
	assert.Nil(t, fr.Actual, "an extracted value that cannot be coerced counts as null")
}

func TestPerField(t *testing.T) {
	results := []accuracy.Result{
		accuracy.Compare(fields, map[string]any{"intent": "billing", "resolved": true}, map[string]any{"intent": "billing", "resolved": false}, accuracy.Options{}),
		accuracy.Compare(fields, map[string]any{"intent": "support", "resolved": true}, map[string]any{"intent": "billing", "resolved": true}, accuracy.Options{}),
		accuracy.Compare(fields, map[string]any{"intent": "cancel"}, map[string]any{"intent": "cancel"}, accuracy.Options{}),
	}
	got := accuracy.PerField(results)
	require.Len(t, got, 2)
	assert.Equal(t, "intent", got[0].Key)
	assert.Equal(t, 3, got[0].Compared)
	assert.Equal(t, 2, got[0].Matched)
	assert.InDelta(t, 2.0/3.0, *got[0].Accuracy, 1e-12)
	assert.Equal(t, "resolved", got[1].Key)
	assert.Equal(t, 2, got[1].Compared)
	assert.Equal(t, 0.5, *got[1].Accuracy)
	assert.Empty(t, accuracy.PerField(nil))
}

func TestConfusion(t *testing.T) {
	pairs := [][2]any{
		{"billing", "billing"}, {"billing", "billing"}, {"billing", "support"},
		{"support", "support"}, {"support", nil},
		{"cancel", "cancel"}, {nil, "cancel"},
	}
	var results []accuracy.Result
	for _, p := range pairs {
		results = append(results, accuracy.Compare(fields, map[string]any{"intent": p[1]}, map[string]any{"intent": p[0]}, accuracy.Options{}))
	}
	results = append(results, accuracy.Compare(fields, map[string]any{}, map[string]any{"summary": "not about intent"}, accuracy.Options{}))

	c, err := accuracy.NewConfusion(fields[0], results)
	require.NoError(t, err)
	assert.Equal(t, []string{"billing", "support", "cancel", accuracy.NullLabel}, c.Labels)
	assert.Equal(t, 7, c.Total, "items where the field was not compared are left out")
	assert.Equal(t, [][]int{
		{2, 1, 0, 0},
		{0, 1, 0, 1},
		{0, 0, 1, 0},
		{0, 0, 1, 0},
	}, c.Counts)
	assert.Equal(t, 2, c.Count("billing", "billing"))
	assert.Equal(t, 1, c.Count(accuracy.NullLabel, "cancel"))
	assert.Equal(t, 0, c.Count("nope", "billing"))
	assert.InDelta(t, 4.0/7.0, *c.Accuracy(), 1e-12)
	assert.Equal(t, 0.5, *c.Precision("cancel"))
	assert.InDelta(t, 2.0/3.0, *c.Recall("billing"), 1e-12)
	assert.Equal(t, 0.0, *c.Precision(accuracy.NullLabel), "one item extracted as null, wrongly")
	assert.Nil(t, c.Recall("nope"))
	assert.Contains(t, c.String(), "expected \\ actual")

	other := []accuracy.Result{{PerField: map[string]accuracy.FieldResult{"intent": {Expected: "legacy_value", Actual: "billing"}}}}
	c, err = accuracy.NewConfusion(fields[0], other)
	require.NoError(t, err)
	assert.Equal(t, accuracy.OtherLabel, c.Labels[len(c.Labels)-1])
	assert.Equal(t, 1, c.Count(accuracy.OtherLabel, "billing"))

	empty, err := accuracy.NewConfusion(fields[0], nil)
	require.NoError(t, err)
	assert.Nil(t, empty.Accuracy())

	_, err = accuracy.NewConfusion(fields[1], results)
	assert.Error(t, err, "a boolean field has no confusion matrix")
}

func TestCohenKappaTextbook(t *testing.T) {
	// Two raters, 50 items: both yes 20, A yes and B no 5, A no and B yes
	// 10, both no 15: po = 0.7, pe = 0.5, kappa = 0.4.
	a, b := ratings(20, 5, 10, 15)
	k, err := accuracy.CohenKappa(a, b)
	require.NoError(t, err)
	assert.InDelta(t, 0.4, k, 1e-12)

	// 100 items: 45, 15, 25, 15: po = 0.6, pe = 0.54, kappa = 0.06/0.46.
	a, b = ratings(45, 15, 25, 15)
	k, err = accuracy.CohenKappa(a, b)
	require.NoError(t, err)
	assert.InDelta(t, 0.130434782608696, k, 1e-12)

	a, b = ratings(25, 35, 5, 35) // A says yes 60 times, B 30: po 0.6, pe 0.46
	k, err = accuracy.CohenKappa(a, b)
	require.NoError(t, err)
	assert.InDelta(t, 0.14/0.54, k, 1e-12)

	k, err = accuracy.CohenKappa([]bool{true, false, true}, []bool{true, false, true})
	require.NoError(t, err)
	assert.Equal(t, 1.0, k)
	k, err = accuracy.CohenKappa([]bool{true, false}, []bool{false, true})
	require.NoError(t, err)
	assert.Equal(t, -1.0, k)

	_, err = accuracy.CohenKappa([]bool{true, true}, []bool{true, true})
	assert.ErrorIs(t, err, accuracy.ErrUndefined)
	_, err = accuracy.CohenKappa(nil, nil)
	assert.ErrorIs(t, err, accuracy.ErrUndefined)
	_, err = accuracy.CohenKappa([]bool{true}, nil)
	assert.Error(t, err)
	assert.False(t, errors.Is(err, accuracy.ErrUndefined))
}

// ratings builds two raters' labels from a 2×2 table.
func ratings(yesYes, yesNo, noYes, noNo int) (a, b []bool) {
	add := func(n int, x, y bool) {
		for range n {
			a, b = append(a, x), append(b, y)
		}
	}
	add(yesYes, true, true)
	add(yesNo, true, false)
	add(noYes, false, true)
	add(noNo, false, false)
	return a, b
}

func TestSpearmanTextbook(t *testing.T) {
	// IQ against hours of television per week: ρ = −29/165.
	iq := []float64{106, 100, 86, 101, 99, 103, 97, 113, 112, 110}
	tv := []float64{7, 27, 2, 50, 28, 29, 20, 12, 6, 17}
	rho, err := accuracy.Spearman(iq, tv)
	require.NoError(t, err)
	assert.InDelta(t, -29.0/165.0, rho, 1e-12)

	rho, err = accuracy.Spearman([]float64{1, 2, 3, 4}, []float64{10, 20, 30, 1000})
	require.NoError(t, err)
	assert.InDelta(t, 1, rho, 1e-12, "monotone, not linear")
	rho, err = accuracy.Spearman([]float64{1, 2, 3}, []float64{3, 2, 1})
	require.NoError(t, err)
	assert.InDelta(t, -1, rho, 1e-12)

	// Ties share the mean rank: x ranks 1, 2.5, 2.5, 4; y ranks 1, 2, 3, 4.
	rho, err = accuracy.Spearman([]float64{0.1, 0.5, 0.5, 0.9}, []float64{1, 2, 3, 4})
	require.NoError(t, err)
	want := pearsonByHand([]float64{1, 2.5, 2.5, 4}, []float64{1, 2, 3, 4})
	assert.InDelta(t, want, rho, 1e-12)
	assert.InDelta(t, 0.948683298050514, rho, 1e-12)

	_, err = accuracy.Spearman([]float64{1, 1, 1}, []float64{1, 2, 3})
	assert.ErrorIs(t, err, accuracy.ErrUndefined)
	_, err = accuracy.Spearman([]float64{1}, []float64{1})
	assert.ErrorIs(t, err, accuracy.ErrUndefined)
	_, err = accuracy.Spearman([]float64{1, 2}, []float64{1})
	assert.Error(t, err)
	_, err = accuracy.Spearman([]float64{1, math.NaN()}, []float64{1, 2})
	assert.ErrorContains(t, err, "NaN at index 1")
}

func pearsonByHand(x, y []float64) float64 {
	var mx, my float64
	for i := range x {
		mx += x[i] / float64(len(x))
		my += y[i] / float64(len(y))
	}
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

func TestNormalizeUnicode(t *testing.T) {
	for a, b := range map[string]string{
		"ＢＩＬＬＩＮＧ":       "billing",
		"billing™":      "billing",
		"bill\u200bing": "billing",
		"$20":           "20",
		"«Refund»":      "refund",
	} {
		assert.Equal(t, accuracy.Normalize(b), accuracy.Normalize(a), "%q", a)
	}
	assert.NotEqual(t, accuracy.Normalize("a-b"), accuracy.Normalize("a b"), "inner punctuation stays")
}

func TestConfusionWithAnEnumValueNamedLikeALabel(t *testing.T) {
	f := extract.Field{Key: "x", Type: extract.Enum, EnumValues: []string{"a", accuracy.NullLabel}}
	res := []accuracy.Result{
		{PerField: map[string]accuracy.FieldResult{"x": {Expected: accuracy.NullLabel, Actual: accuracy.NullLabel, Match: true}}},
		{PerField: map[string]accuracy.FieldResult{"x": {Expected: nil, Actual: "a"}}},
	}
	c, err := accuracy.NewConfusion(f, res)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", accuracy.NullLabel, accuracy.NullLabel}, c.Labels, "the value keeps its row; null has its own")
	assert.Equal(t, [][]int{{0, 0, 0}, {0, 1, 0}, {1, 0, 0}}, c.Counts)
	assert.Equal(t, 0.5, *c.Accuracy())
}
