package pgstore

import (
	"encoding/json"
	"maps"
	"math"
	"strconv"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/internal/pgtext"
)

// itemDoc is an item as its doc column holds it: JSON cannot hold NaN or
// ±Inf, which a model's score may be (the counters leave them out, but the
// item keeps what was saved), so each such score is written as 0 and named
// in NonFinite with its value.
type itemDoc struct {
	Item      analysis.Item     `json:"item"`
	NonFinite map[string]string `json:"nonFinite,omitempty"`
}

// encodeItem returns the doc of it.
func encodeItem(it analysis.Item) ([]byte, error) {
	doc := itemDoc{Item: it}
	keep := func(name string, v float64) float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if doc.NonFinite == nil {
				doc.NonFinite = map[string]string{}
			}
			doc.NonFinite[name] = strconv.FormatFloat(v, 'g', -1, 64)
			return 0
		}
		return v
	}
	if it.Judge != nil {
		j := *it.Judge
		j.Score = keep("judge.score", j.Score)
		doc.Item.Judge = &j
	}
	if it.Accuracy != nil {
		a := *it.Accuracy
		if a.Score != nil {
			s := keep("accuracy.score", *a.Score)
			a.Score = &s
		}
		if a.PerField != nil {
			a.PerField = maps.Clone(a.PerField)
			for k, f := range a.PerField {
				if f.F1 != nil {
					v := keep("accuracy.perField."+k+".f1", *f.F1)
					f.F1 = &v
					a.PerField[k] = f
				}
			}
		}
		doc.Item.Accuracy = &a
	}
	return pgtext.JSON(doc)
}

// decodeItem reads a doc encodeItem wrote.
func decodeItem(raw []byte) (analysis.Item, error) {
	var doc itemDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return analysis.Item{}, err
	}
	it := doc.Item
	for name, text := range doc.NonFinite {
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			continue
		}
		switch {
		case name == "judge.score" && it.Judge != nil:
			it.Judge.Score = v
		case name == "accuracy.score" && it.Accuracy != nil:
			it.Accuracy.Score = &v
		case it.Accuracy != nil:
			for k, f := range it.Accuracy.PerField {
				if name == "accuracy.perField."+k+".f1" {
					f.F1 = &v
					it.Accuracy.PerField[k] = f
				}
			}
		}
	}
	return it, nil
}
