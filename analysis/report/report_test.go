package report_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/analysis/report"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/judge"
	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func TestAHistogramBinsScoresByTenths(t *testing.T) {
	var h report.Histogram
	for _, s := range []float64{0, 0.05, 0.1, 0.3, 0.7, 0.95, 0.999, 1, -0.1, 1.01, math.NaN(), math.Inf(1)} {
		h.Add(s)
	}
	assert.Equal(t, report.Histogram{2, 1, 0, 1, 0, 0, 0, 1, 0, 3}, h)
	assert.Equal(t, 8, h.Total(), "what is not a score in [0, 1] is left out, as the aggregate leaves it")
}

func TestLoadRunCountsPageByPageWhatTheItemsSay(t *testing.T) {
	f := newFixture(t, 300)
	data, err := report.LoadRun(context.Background(), f.svc, f.scope, f.run.ID, report.Options{PageSize: 37, MaxListed: 5})
	require.NoError(t, err)
	assert.LessOrEqual(t, f.store.largest, 37, "never more than a page of items at once")

	all := f.items(t)
	require.Len(t, all, 300)
	var (
		hist           report.Histogram
		results        []accuracy.Result
		failed, notYet int
	)
	for _, it := range all {
		switch {
		case it.Error != "":
			failed++
			continue
		case it.JudgeError != "":
			failed++
		case !it.Passed:
			notYet++
		}
		if it.Judge != nil {
			hist.Add(it.Judge.Score)
		}
		if it.Accuracy != nil {
			results = append(results, *it.Accuracy)
		}
	}
	assert.Equal(t, hist, data.JudgeScores)
	require.NotZero(t, failed, "the fixture fails some items")
	assert.Equal(t, failed, data.Failed.Count())
	assert.Len(t, data.Failed.Items, 5)
	assert.Equal(t, notYet, data.NotPassed.Count())
	require.Len(t, data.Confusions, 2, "one matrix per enum field, in field-set order")
	for i, key := range []string{"domain", "outcome"} {
		want, err := accuracy.NewConfusion(starFields[map[string]int{"domain": 0, "outcome": 1}[key]], results)
		require.NoError(t, err)
		assert.Equal(t, want, data.Confusions[i], "the matrix of %s, summed over pages, is the matrix of all items", key)
		// And it agrees with the run's aggregate.
		for _, fa := range f.run.Aggregate.PerFieldAccuracy {
			if fa.Key == key {
				assert.Equal(t, fa.Compared, want.Total)
				assert.InDelta(t, *fa.Accuracy, *want.Accuracy(), 1e-12)
			}
		}
	}
	assert.Nil(t, data.Gaps, "no gap kinds, no findings")
	assert.Nil(t, data.Cost, "no price table")
	assert.Equal(t, f.run.Aggregate, data.Run.Aggregate)
	assert.Empty(t, data.Run.Items)

	var page bytes.Buffer
	require.NoError(t, report.WriteRun(&page, data))
	html := page.String()
	assert.Contains(t, html, `data-metric="total" data-value="300"`)
	assert.Contains(t, html, `And `+strconv.Itoa(failed-5)+` more`)
	assert.Contains(t, html, `data-confusion="domain"`)
	assert.Contains(t, html, `role="img"`)
}

func TestLoadRunAnswersNotFoundForAnotherScope(t *testing.T) {
	f := newFixture(t, 3)
	_, err := report.LoadRun(context.Background(), f.svc, analysis.Scope{Tenant: "globex", Project: "star"}, f.run.ID, report.Options{})
	assert.ErrorIs(t, err, analysis.ErrNotFound)
	_, err = report.LoadTrend(context.Background(), f.svc, analysis.Scope{Tenant: "globex", Project: "star"}, f.def.Key, report.Options{})
	assert.ErrorIs(t, err, analysis.ErrNotFound)
}

func TestACostIsExactForOneModelAndBoundedForTwo(t *testing.T) {
	f := newFixture(t, 20)
	u := f.run.Usage
	require.NotZero(t, u.Total())
	cheap, dear := llm.Price{Input: 0.15, Output: 0.6}, llm.Price{Input: 2.5, Output: 10}
	data, err := report.LoadRun(context.Background(), f.svc, f.scope, f.run.ID, report.Options{
		Prices: llm.PriceTable{"gpt-4o-mini": cheap, "gpt-4o": dear}, Currency: "USD"})
	require.NoError(t, err)
	require.NotNil(t, data.Cost)
	assert.InDelta(t, cheap.Cost(u), data.Cost.Low, 1e-12)
	assert.InDelta(t, dear.Cost(u), data.Cost.High, 1e-12)
	assert.Equal(t, []string{"gpt-4o-mini", "gpt-4o"}, data.Cost.Models)
	var page bytes.Buffer
	require.NoError(t, report.WriteRun(&page, data))
	assert.Contains(t, page.String(), "between ")

	data, err = report.LoadRun(context.Background(), f.svc, f.scope, f.run.ID, report.Options{Prices: llm.PriceTable{"gpt-4o-mini": cheap}})
	require.NoError(t, err)
	assert.Equal(t, []string{"gpt-4o"}, data.Cost.Unpriced)
	assert.Zero(t, data.Cost.High)

	// One model for both: the cost is exact.
	_, err = f.svc.UpdateDefinition(context.Background(), f.scope, f.def.Key, []byte(`{"judgeModelKey":"gpt-4o-mini"}`))
	require.NoError(t, err)
	data, err = report.LoadRun(context.Background(), f.svc, f.scope, f.run.ID, report.Options{Prices: llm.PriceTable{"gpt-4o-mini": cheap}})
	require.NoError(t, err)
	assert.Equal(t, data.Cost.Low, data.Cost.High)
	assert.InDelta(t, cheap.Cost(u), data.Cost.Low, 1e-12)
	page.Reset()
	require.NoError(t, report.WriteRun(&page, data))
	assert.Contains(t, page.String(), "version 1 of the definition", "the page says the definition changed since the run")
}

func TestTheTrendShowsTheLatestRunsOldestFirst(t *testing.T) {
	f := newFixture(t, 30)
	ctx := context.Background()
	_, err := f.svc.StartRun(ctx, f.scope, f.def.Key, analysis.Selection{Strategy: analysis.SelectRandom, SampleSize: 10})
	require.NoError(t, err)
	_, err = f.exec.Drain(ctx)
	require.NoError(t, err)
	cancelled, err := f.svc.StartRun(ctx, f.scope, f.def.Key, analysis.Selection{Strategy: analysis.SelectRandom, SampleSize: 10})
	require.NoError(t, err)
	_, err = f.svc.CancelRun(ctx, f.scope, cancelled.ID)
	require.NoError(t, err)
	data, err := report.LoadTrend(ctx, f.svc, f.scope, f.def.ID, report.Options{RunURL: func(id string) string { return "../../runs/" + id + "/report" }})
	require.NoError(t, err)
	require.Len(t, data.Runs, 3)
	assert.Equal(t, f.run.ID, data.Runs[0].ID, "oldest first")
	assert.Equal(t, f.run.Aggregate.PassRate, data.Runs[0].PassRate)
	assert.NotNil(t, data.Runs[1].PassRate)
	assert.Nil(t, data.Runs[2].PassRate, "a run cancelled before any item has no pass rate")
	var page bytes.Buffer
	require.NoError(t, report.WriteTrend(&page, data))
	html := page.String()
	assert.Contains(t, html, `href="../../runs/`+f.run.ID+`/report"`)
	assert.Contains(t, html, `data-chart="chart-trend"`)
	assert.Equal(t, 3, strings.Count(html, "<tr data-run="))
	assert.Equal(t, 1, strings.Count(html, `<polyline class="s0"`), "one line from the first run to the second, broken at the third")
	assert.Equal(t, 2, strings.Count(html, `r="4.5"><title>Run `), "a marker for each run with a pass rate")

	data, err = report.LoadTrend(ctx, f.svc, f.scope, f.def.Key, report.Options{TrendRuns: 1})
	require.NoError(t, err)
	assert.Len(t, data.Runs, 1)
}

func TestEverythingARunSaysIsEscaped(t *testing.T) {
	hostile := `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	one := 1.0
	data := report.RunData{
		Scope: analysis.Scope{Tenant: "t<b>", Project: "p&q"},
		Run: analysis.Run{ID: "r" + hostile, DefinitionKey: "d" + hostile, Status: analysis.RunFailed, Error: "stopped " + hostile,
			Selection: analysis.Selection{Strategy: analysis.SelectTag, Tag: hostile}, CreatedAt: time.Unix(0, 0),
			Progress:  analysis.Progress{Done: 1, Total: 2},
			Aggregate: &analysis.Aggregate{Total: 2, Completed: 1, Failed: 1, PerFieldAccuracy: []accuracy.FieldAccuracy{{Key: "f" + hostile, Compared: 1, Matched: 1, Accuracy: &one}}}},
		Definition: &analysis.Definition{Key: "d", Name: "Name " + hostile, Version: 1, Modes: analysis.Modes{Judge: &analysis.JudgeMode{}}},
		Confusions: []*accuracy.Confusion{{Field: "e" + hostile, Labels: []string{"v" + hostile, accuracy.NullLabel}, Counts: [][]int{{1, 0}, {0, 0}}, Total: 1}},
		Gaps: &analysis.GapTable{Items: 1, Classified: 1, Kinds: []analysis.GapKindRow{{Kind: "k" + hostile, Count: 1,
			Topics: []analysis.GapTopic{{Topic: "t" + hostile, Count: 1}}}}, Findings: map[string]int{"c" + hostile: 1}},
		Failed:    report.ItemList{Items: []report.ListedItem{{ConversationKey: "c" + hostile, Outcome: report.ExtractionFailed, Reason: "why " + hostile}}},
		NotPassed: report.ItemList{Items: []report.ListedItem{{ConversationKey: "n" + hostile, Outcome: report.NotPassed, Reason: "because " + hostile}}},
		Cost:      &report.Cost{Unpriced: []string{"m" + hostile}},
		TrendURL:  "javascript:alert(3)",
	}
	var page bytes.Buffer
	require.NoError(t, report.WriteRun(&page, data))
	html := page.String()
	assert.NotContains(t, html, "<script")
	assert.NotContains(t, html, "<img")
	assert.NotContains(t, html, "javascript:")
	assert.Contains(t, html, "&lt;script&gt;alert(1)&lt;/script&gt;")

	trend := report.TrendData{Scope: data.Scope, Definition: *data.Definition,
		Runs: []report.TrendRun{{ID: hostile, URL: "javascript:alert(4)", Status: analysis.RunCompleted, PassRate: &one}}}
	page.Reset()
	require.NoError(t, report.WriteTrend(&page, trend))
	assert.NotContains(t, page.String(), "<script")
	assert.NotContains(t, page.String(), "javascript:")
}

func TestThePagesStyleIsTheOneThePolicyAllows(t *testing.T) {
	f := newFixture(t, 5)
	data, err := report.LoadRun(context.Background(), f.svc, f.scope, f.run.ID, report.Options{})
	require.NoError(t, err)
	var page bytes.Buffer
	require.NoError(t, report.WriteRun(&page, data))
	styles := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(page.String(), -1)
	require.Len(t, styles, 1)
	sum := sha256.Sum256([]byte(styles[0][1]))
	assert.Contains(t, report.ContentSecurityPolicy, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	assert.Contains(t, report.ContentSecurityPolicy, "default-src 'none'")
	assert.NotContains(t, page.String(), "<script")
	assert.NotContains(t, page.String(), " style=", "no style attribute: the policy allows the style sheet alone")
	assert.Contains(t, page.String(), "@media print")
}

func TestAPageCarriesThePolicyItIsServedWith(t *testing.T) {
	f := newFixture(t, 5)
	run, err := report.LoadRun(context.Background(), f.svc, f.scope, f.run.ID, report.Options{})
	require.NoError(t, err)
	trend, err := report.LoadTrend(context.Background(), f.svc, f.scope, f.def.Key, report.Options{})
	require.NoError(t, err)
	var runPage, trendPage bytes.Buffer
	require.NoError(t, report.WriteRun(&runPage, run))
	require.NoError(t, report.WriteTrend(&trendPage, trend))
	meta := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`)
	for name, page := range map[string]string{"run": runPage.String(), "trend": trendPage.String()} {
		m := meta.FindAllStringSubmatchIndex(page, -1)
		require.Len(t, m, 1, "%s: one policy", name)
		policy := html.UnescapeString(page[m[0][2]:m[0][3]])
		assert.Less(t, m[0][1], strings.Index(page, "<style>"), "%s: the policy comes before the style sheet it allows", name)
		// The header's directives, but frame-ancestors: a <meta> element
		// cannot deliver it, and browsers say so.
		var want []string
		for _, d := range strings.Split(report.ContentSecurityPolicy, "; ") {
			if !strings.HasPrefix(d, "frame-ancestors ") {
				want = append(want, d)
			}
		}
		assert.Equal(t, want, strings.Split(policy, "; "), name)
		assert.Contains(t, policy, "default-src 'none'", name)
	}
}

func TestARunInProgressAndADeletedDefinitionStillHaveAPage(t *testing.T) {
	data := report.RunData{
		Scope: analysis.Scope{Tenant: "a", Project: "b"},
		Run:   analysis.Run{ID: "r", DefinitionKey: "gone", Status: analysis.RunRunning, Progress: analysis.Progress{Done: 3, Total: 10}},
	}
	var page bytes.Buffer
	require.NoError(t, report.WriteRun(&page, data))
	html := page.String()
	assert.Contains(t, html, "The definition has been deleted")
	assert.Contains(t, html, "3 of 10 conversations are done")
	assert.Contains(t, html, `data-metric="done" data-value="3"`)
	assert.NotContains(t, html, `role="img"`, "no chart without data")
}

func TestARunsKnowledgeGapsAreOnItsPage(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	model := llmtest.NewResponder().
		OnJSON(extract.SchemaName, map[string]any{analysis.FieldGapKind: analysis.GapToolFailure, analysis.FieldGapTurns: "2",
			analysis.FieldGapTopic: "Rebooking rules", analysis.FieldEvidenceSufficient: true, analysis.FieldFindingsDisagreement: nil}).
		OnJSON(judge.SchemaName, judge.Answer{Reasoning: "The answer went on without the tool.", Score: 0.2})
	exec, err := analysis.NewExecutor(analysis.ExecutorConfig{Store: store, Model: model})
	require.NoError(t, err)
	svc, err := analysis.NewService(analysis.Config{Store: store})
	require.NoError(t, err)
	scope := analysis.Scope{Tenant: "acme", Project: "agents"}
	_, err = svc.IngestConversations(ctx, scope, []analysis.ConversationInput{{
		Name: "rebooking", ExternalID: "session:1",
		Transcript: extract.Transcript{{Role: "user", Content: "Rebook me on the next flight"}, {Role: "assistant", Content: "[called rebook]"},
			{Role: "assistant", Content: "Done, you are on the 18:05 flight to Lisbon."}},
		Evidence: &analysis.Evidence{ToolCalls: []analysis.ToolCall{{Turn: new(int(1)), Name: "rebook", Status: analysis.ToolFailed}}},
	}})
	require.NoError(t, err)
	in := analysis.KnowledgeGapDefinition("Gaps")
	in.ExtractionModelKey, in.JudgeModelKey = "m", "m"
	def, err := svc.CreateDefinition(ctx, scope, in)
	require.NoError(t, err)
	run, err := svc.StartRun(ctx, scope, def.Key, analysis.Selection{Strategy: analysis.SelectAll})
	require.NoError(t, err)
	_, err = exec.Drain(ctx)
	require.NoError(t, err)

	data, err := report.LoadRun(ctx, svc, scope, run.ID, report.Options{})
	require.NoError(t, err)
	require.NotNil(t, data.Gaps)
	assert.Equal(t, 1, data.Gaps.Classified)
	assert.Equal(t, map[string]int{analysis.CheckAnswerAfterFailedTool: 1}, data.Gaps.Findings)
	var page bytes.Buffer
	require.NoError(t, report.WriteRun(&page, data))
	html := page.String()
	assert.Contains(t, html, `data-gap="tool_failure" data-count="1"`)
	assert.Contains(t, html, "Rebooking rules (1)")
	assert.Contains(t, html, analysis.CheckAnswerAfterFailedTool)
	assert.Contains(t, html, "judge score 0.20 below the threshold 0.70", "why the item did not pass")
	assert.NotContains(t, html, `data-confusion=`, "no matrix without a comparison: the accuracy mode is off")
}
