package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

// LoadRun gathers what the page of the run with the given ID shows. It
// reads the run without its items, then the items a page at a time
// ([Options.PageSize]), keeping of each page only what the page counts —
// the judge-score histogram, the confusion matrices, the first items that
// failed or did not pass — so that its memory does not grow with the
// run. It reads the gap table ([analysis.Service.GapTable]) when the
// definition classifies knowledge gaps or an item has findings. A run in
// progress is read as far as it has got.
//
// It fails with the service's errors: [analysis.ErrNotFound] when the
// scope has no such run.
func LoadRun(ctx context.Context, svc *analysis.Service, scope analysis.Scope, runID string, opts Options) (RunData, error) {
	run, err := svc.GetRunStatus(ctx, scope, runID)
	if err != nil {
		return RunData{}, err
	}
	run.Items, run.ItemsCursor = nil, ""
	data := RunData{Scope: scope, Run: run}
	def, err := svc.GetDefinition(ctx, scope, run.DefinitionKey)
	switch {
	case err == nil:
		data.Definition = &def
	case !errors.Is(err, analysis.ErrNotFound):
		return RunData{}, err
	}
	var enums []extract.Field
	if data.Definition != nil {
		for _, f := range data.Definition.FieldSet {
			if f.Type == extract.Enum && len(f.EnumValues) > 0 {
				enums = append(enums, f)
			}
		}
	}
	data.Confusions = make([]*accuracy.Confusion, len(enums))
	for i, f := range enums {
		if data.Confusions[i], err = accuracy.NewConfusion(f, nil); err != nil {
			return RunData{}, err
		}
	}
	findings := false
	max := opts.maxListed()
	results := make([]accuracy.Result, 0, opts.pageSize())
	for cursor := ""; ; {
		page, err := svc.ListRunItems(ctx, scope, runID, cursor, opts.pageSize())
		if err != nil {
			return RunData{}, err
		}
		results = results[:0]
		for _, it := range page.Items {
			findings = findings || len(it.Findings) > 0
			switch {
			case it.Error != "":
				data.Failed.add(ListedItem{ConversationKey: it.ConversationKey, Outcome: ExtractionFailed, Reason: it.Error}, max)
				continue
			case it.JudgeError != "":
				data.Failed.add(ListedItem{ConversationKey: it.ConversationKey, Outcome: JudgeFailed, Reason: it.JudgeError}, max)
			case !it.Passed:
				data.NotPassed.add(ListedItem{ConversationKey: it.ConversationKey, Outcome: NotPassed, Reason: whyNotPassed(it, data.Definition)}, max)
			}
			if it.Judge != nil {
				data.JudgeScores.Add(it.Judge.Score)
			}
			if it.Accuracy != nil {
				results = append(results, *it.Accuracy)
			}
		}
		for i, f := range enums {
			c, err := accuracy.NewConfusion(f, results)
			if err != nil {
				return RunData{}, err
			}
			addConfusion(data.Confusions[i], c)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if findings || (data.Definition != nil && hasField(data.Definition.FieldSet, analysis.FieldGapKind)) {
		gaps, err := svc.GapTable(ctx, scope, runID)
		if err != nil {
			return RunData{}, err
		}
		if gaps.Classified > 0 || len(gaps.Findings) > 0 {
			data.Gaps = &gaps
		}
	}
	if opts.Prices != nil && data.Definition != nil {
		data.Cost = priceRun(run.Usage, modelsOf(*data.Definition), opts.Prices, opts.Currency)
	}
	if opts.TrendURL != nil {
		data.TrendURL = opts.TrendURL(run.DefinitionKey)
	}
	return data, nil
}

// addConfusion adds the counts of src to dst, two matrices of one field:
// their labels agree but for the last, "(other)", which only one may have.
func addConfusion(dst, src *accuracy.Confusion) {
	for len(dst.Labels) < len(src.Labels) {
		dst.Labels = append(dst.Labels, src.Labels[len(dst.Labels)])
		for i := range dst.Counts {
			dst.Counts[i] = append(dst.Counts[i], 0)
		}
		dst.Counts = append(dst.Counts, make([]int, len(dst.Labels)))
	}
	for i := range src.Counts {
		for j, n := range src.Counts[i] {
			dst.Counts[i][j] += n
		}
	}
	dst.Total += src.Total
}

func hasField(fs extract.FieldSet, key string) bool {
	return slices.ContainsFunc(fs, func(f extract.Field) bool { return f.Key == key })
}

// whyNotPassed says what kept a completed item without a grading error
// from passing.
func whyNotPassed(it analysis.Item, def *analysis.Definition) string {
	var why []string
	if len(it.Missing) > 0 {
		why = append(why, "required fields missing: "+strings.Join(it.Missing, ", "))
	}
	if len(it.Unexplained) > 0 {
		why = append(why, "findings neither agreed with nor explained: "+strings.Join(it.Unexplained, ", "))
	}
	if it.Judge != nil && !it.Judge.Passed {
		s := fmt.Sprintf("judge score %.2f", it.Judge.Score)
		if def != nil && def.Modes.Judge != nil {
			threshold := 0.5
			if def.Modes.Judge.Threshold != nil {
				threshold = *def.Modes.Judge.Threshold
			}
			s += fmt.Sprintf(" below the threshold %.2f", threshold)
		} else {
			s += " below the threshold"
		}
		why = append(why, s)
	}
	if len(why) == 0 {
		return "not passed"
	}
	return clipText(strings.Join(why, "; "), maxReason)
}

// maxReason bounds the bytes of a reason a page shows.
const maxReason = 600

func clipText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// modelsOf returns the model keys a run of d calls, without repeats.
func modelsOf(d analysis.Definition) []string {
	models := []string{d.ExtractionModelKey}
	if d.Modes.Judge != nil && d.JudgeModelKey != "" && d.JudgeModelKey != d.ExtractionModelKey {
		models = append(models, d.JudgeModelKey)
	}
	return models
}

// priceRun prices u, spent on models: exactly with one model, else between
// every token at the cheaper and at the dearer price of its kind.
func priceRun(u llm.Usage, models []string, prices llm.PriceTable, currency string) *Cost {
	c := &Cost{Currency: currency, Models: models}
	var low, high [3]float64 // input, cached input, output
	for i, m := range models {
		p, ok := prices[m]
		if !ok {
			c.Unpriced = append(c.Unpriced, m)
			continue
		}
		cached := p.Input
		if p.CachedInput != nil {
			cached = *p.CachedInput
		}
		each := [3]float64{p.Input, cached, p.Output}
		for k, v := range each {
			if i == 0 || v < low[k] {
				low[k] = v
			}
			if i == 0 || v > high[k] {
				high[k] = v
			}
		}
	}
	if len(c.Unpriced) > 0 {
		return c
	}
	at := func(p [3]float64) float64 {
		return llm.Price{Input: p[0], CachedInput: &p[1], Output: p[2]}.Cost(u)
	}
	c.Low, c.High = at(low), at(high)
	return c
}

// LoadTrend gathers what the trend page of the definition with the given
// ID or key shows: its latest runs ([Options.TrendRuns]), oldest first,
// with their aggregates. It fails with the service's errors:
// [analysis.ErrNotFound] when the scope has no such definition.
func LoadTrend(ctx context.Context, svc *analysis.Service, scope analysis.Scope, definitionIDOrKey string, opts Options) (TrendData, error) {
	def, err := svc.GetDefinition(ctx, scope, definitionIDOrKey)
	if err != nil {
		return TrendData{}, err
	}
	runs, err := svc.ListRuns(ctx, scope, def.Key, opts.trendRuns())
	if err != nil {
		return TrendData{}, err
	}
	data := TrendData{Scope: scope, Definition: def, Runs: make([]TrendRun, 0, len(runs))}
	for i := len(runs) - 1; i >= 0; i-- { // newest first: turn around
		r := runs[i]
		tr := TrendRun{ID: r.ID, Status: r.Status, Trigger: r.Trigger.Type, CreatedAt: r.CreatedAt, Total: r.Progress.Total}
		if a := r.Aggregate; a != nil {
			tr.PassRate, tr.AvgJudgeScore, tr.AvgExtractionAccuracy = a.PassRate, a.AvgJudgeScore, a.AvgExtractionAccuracy
		}
		if opts.RunURL != nil {
			tr.URL = opts.RunURL(r.ID)
		}
		data.Runs = append(data.Runs, tr)
	}
	return data, nil
}
