package report_test

import (
	"bytes"
	"fmt"
	"html"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/report"
	"github.com/debrief-go/debrief/extract"
)

// countingWriter counts what is written to it and keeps nothing.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// longText returns a text of n bytes, words of letters, unique to seed.
func longText(seed string, n int) string {
	var b strings.Builder
	b.WriteString(seed)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, " word%d", i)
	}
	return b.String()[:n]
}

// zipf draws from 0..n-1, the first values the most frequent.
func zipf(rng *rand.Rand, n int) int {
	return min(n-1, int(float64(n)*rng.Float64()*rng.Float64()*rng.Float64()))
}

// worstCaseRun is a run whose definition has as many enum fields as a
// field set may have, each with as many values as long as allowed, over a
// run of as many conversations as a run may select: each field's reference
// values fall mostly on a few values, and the model extracts a fair share
// of them wrong, as another value or none. Its gap table has a thousand
// gap kinds with long topics, and its lists of items are as long as their
// default bound with reasons as long as the page shows.
func worstCaseRun(t testing.TB) report.RunData {
	t.Helper()
	const (
		fields = extract.MaxFields
		values = extract.MaxEnumValues
		items  = analysis.DefaultMaxRunConversations
	)
	rng := rand.New(rand.NewPCG(7, 11))
	one := 1.0
	agg := &analysis.Aggregate{Total: items, Completed: items - 300, Failed: 300, Passed: items / 2, PassRate: &one}
	var confusions []*accuracy.Confusion
	for f := range fields {
		key := fmt.Sprintf("f%02d_%s", f, strings.Repeat("k", 59))
		field := extract.Field{Key: key, Type: extract.Enum}
		for v := range values {
			field.EnumValues = append(field.EnumValues, longText(fmt.Sprintf("field %d value %d:", f, v), extract.MaxEnumValueLen))
		}
		c, err := accuracy.NewConfusion(field, nil)
		require.NoError(t, err)
		for range items - 300 {
			want := zipf(rng, values)
			got := want
			switch p := rng.IntN(100); {
			case p < 10:
				got = zipf(rng, values)
			case p < 13:
				got = values // (null)
			}
			c.Counts[want][got]++
			c.Total++
		}
		matched := 0
		for i := range c.Labels {
			matched += c.Counts[i][i]
		}
		acc := float64(matched) / float64(c.Total)
		agg.PerFieldAccuracy = append(agg.PerFieldAccuracy, accuracy.FieldAccuracy{Key: key, Compared: c.Total, Matched: matched, Accuracy: &acc})
		confusions = append(confusions, c)
	}
	gaps := &analysis.GapTable{Items: items, Classified: items, Findings: map[string]int{}}
	for k := range 1000 {
		row := analysis.GapKindRow{Kind: longText(fmt.Sprintf("kind %d", k), 500), Count: 1000 - k}
		for i := range analysis.MaxGapTopics {
			row.Topics = append(row.Topics, analysis.GapTopic{Topic: longText(fmt.Sprintf("topic %d of kind %d", i, k), 2000), Count: 10 - i})
		}
		gaps.Kinds = append(gaps.Kinds, row)
		gaps.Findings[longText(fmt.Sprintf("check %d", k), 200)] = k + 1
	}
	var failed, notPassed report.ItemList
	for i := range report.DefaultMaxListed {
		failed.Items = append(failed.Items, report.ListedItem{ConversationKey: fmt.Sprintf("conv-%06d", i), Outcome: report.ExtractionFailed,
			Reason: longText("extraction: the model's output was invalid", 10_000)})
		notPassed.Items = append(notPassed.Items, report.ListedItem{ConversationKey: fmt.Sprintf("conv-%06d", 1000+i), Outcome: report.NotPassed,
			Reason: longText("required fields missing", 10_000)})
	}
	failed.More, notPassed.More = 100, items/2-report.DefaultMaxListed
	return report.RunData{
		Scope: analysis.Scope{Tenant: "acme", Project: "star"},
		Run: analysis.Run{ID: "run-1", DefinitionKey: "wide", DefinitionVersion: 1, Status: analysis.RunFailed, CreatedAt: time.Unix(0, 0),
			Error: longText("stopped", 100_000), Progress: analysis.Progress{Done: items, Total: items}, Aggregate: agg},
		Definition: &analysis.Definition{Key: "wide", Name: "Wide", Version: 1},
		Confusions: confusions,
		Gaps:       gaps,
		Failed:     failed,
		NotPassed:  notPassed,
	}
}

// TestTheWorstCaseRunPageStaysSmall renders the page of a run as wide as
// the limits allow — every field of the field set an enum of the most
// values, the longest ones — and checks that it stays small enough to
// hold in memory and to read.
func TestTheWorstCaseRunPageStaysSmall(t *testing.T) {
	data := worstCaseRun(t)
	var w countingWriter
	require.NoError(t, report.WriteRun(&w, data))
	t.Logf("the page of a run of %d enum fields of %d values of %d bytes: %d bytes of HTML",
		extract.MaxFields, extract.MaxEnumValues, extract.MaxEnumValueLen, w.n)
	assert.Less(t, w.n, 2_000_000, "the worst-case page weighs under 2 MB")

	// What it leaves out, it says.
	page := writeRun(t, data)
	tables := confusionTables(t, page)
	assert.Equal(t, 20, len(tables), "20 enum fields have a matrix")
	for field, rows := range tables {
		assert.LessOrEqual(t, len(rows), 1+13+1, "%s: a head, 12 values and the others, and the precision", field)
		for _, row := range rows {
			assert.LessOrEqual(t, len(row), 1+13+1, "%s: a head, 12 values and the others, and the recall", field)
		}
	}
	assertPageHas(t, page, "And 80 more enum fields, whose matrices are not drawn")
	assert.Equal(t, 30, strings.Count(page, `<rect class="bar"`), "the accuracy chart draws 30 fields")
	assertPageHas(t, page, "The chart draws the 30 least accurate of the 100 fields; the table lists them all.")
	assert.Equal(t, 100, strings.Count(page, "<tr data-field="), "the table lists every field")
	assert.Equal(t, 20, strings.Count(page, "<tr data-gap="), "20 gap kinds")
	assertPageHas(t, page, "And 980 more gap kinds, found by 480,690 items, not listed.")
	assert.Equal(t, 20*analysis.MaxGapTopics, strings.Count(page, `<span title="topic `), "each topic cut, whole in a title")
	assert.Equal(t, 20, strings.Count(page, "<tr><th scope=\"row\"><code title=\"check "), "20 checks")
	assertPageHas(t, page, "And 980 more checks, not listed.")
	for _, m := range regexp.MustCompile(`<td class="reason">([^<]*)</td>`).FindAllStringSubmatch(page, -1) {
		assert.LessOrEqual(t, len(html.UnescapeString(m[1])), 600+len("…"), "a reason is cut at 600 bytes and marked")
	}
	assert.Equal(t, 2*report.DefaultMaxListed+20, strings.Count(page, `<td class="reason">`), "the reasons of the items listed, and the topics of the gap kinds")
	alert := regexp.MustCompile(`<p class="bad" role="alert">The run failed: ([^<]*)</p>`).FindStringSubmatch(page)
	require.NotNil(t, alert)
	assert.LessOrEqual(t, len(html.UnescapeString(alert[1])), 600+len("…"), "the run's error is cut at 600 bytes and marked")
	assert.True(t, strings.HasSuffix(alert[1], "…"))
}

func TestTheAccuracyChartDrawsTheLeastAccurateFields(t *testing.T) {
	data := confusionRun(nil)
	data.Confusions = nil
	data.Run.Aggregate = &analysis.Aggregate{Total: 100, Completed: 100}
	for i := range 35 {
		acc := 1 - float64((i*8)%35)/100 // 35 distinct accuracies
		data.Run.Aggregate.PerFieldAccuracy = append(data.Run.Aggregate.PerFieldAccuracy,
			accuracy.FieldAccuracy{Key: fmt.Sprintf("field_%02d_%s", i, strings.Repeat("x", 20)), Compared: 100, Matched: int(acc * 100), Accuracy: &acc})
	}
	page := writeRun(t, data)
	var drawn []string
	for _, m := range regexp.MustCompile(`<rect class="bar"[^>]*><title>(field_\d\d)_x+: `).FindAllStringSubmatch(page, -1) {
		drawn = append(drawn, m[1])
	}
	var want []string
	for i := range 35 {
		if (i*8)%35 >= 5 { // the five most accurate are left out
			want = append(want, fmt.Sprintf("field_%02d", i))
		}
	}
	assert.Equal(t, want, drawn, "the 30 least accurate, in the table's order")
	assert.Equal(t, 35, strings.Count(page, "<tr data-field="))
	assertPageHas(t, page, ">Accuracy of the 30 least accurate fields</title>")
	assertPageHas(t, page, "The chart draws the 30 least accurate of the 35 fields; the table lists them all.")
	// A key too long for the chart is cut there, whole in a title.
	assert.True(t, regexp.MustCompile(`<text [^>]*><title>field_01_x{20}</title>field_01_x{10}…</text>`).MatchString(page), "field_01 cut in the chart")
}

// A drawnCell is a cell of a table as the page writes it.
type drawnCell struct {
	Tag, Attrs, Text string
}

var (
	tableRE = regexp.MustCompile(`(?s)<table class="confusion"[^>]*data-confusion="([^"]*)"[^>]*>(.*?)</table>`)
	rowRE   = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	cellRE  = regexp.MustCompile(`(?s)<(th|td)([^>]*)>(.*?)</(?:th|td)>`)
	titleRE = regexp.MustCompile(`title="([^"]*)"`)
	tagRE   = regexp.MustCompile(`<[^>]*>`)
)

// confusionTables reads the confusion matrices of a page: by field, the
// rows of each (the head first, the precision last), cell by cell.
func confusionTables(t *testing.T, page string) map[string][][]drawnCell {
	t.Helper()
	out := map[string][][]drawnCell{}
	for _, m := range tableRE.FindAllStringSubmatch(page, -1) {
		var rows [][]drawnCell
		for _, r := range rowRE.FindAllStringSubmatch(m[2], -1) {
			var row []drawnCell
			for _, c := range cellRE.FindAllStringSubmatch(r[1], -1) {
				row = append(row, drawnCell{Tag: c[1], Attrs: c[2] + " " + strings.Join(titleRE.FindAllString(c[3], -1), " "), Text: html.UnescapeString(tagRE.ReplaceAllString(c[3], ""))})
			}
			rows = append(rows, row)
		}
		out[html.UnescapeString(m[1])] = rows
	}
	return out
}

func (c drawnCell) title() string {
	if m := titleRE.FindStringSubmatch(c.Attrs); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func (c drawnCell) number(t *testing.T) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(c.Text, ",", ""))
	require.NoError(t, err, "cell %q", c.Text)
	return n
}

func writeRun(t *testing.T, data report.RunData) string {
	t.Helper()
	var page bytes.Buffer
	require.NoError(t, report.WriteRun(&page, data))
	return page.String()
}

// confusionRun is a run whose one enum field has the given values and
// matrix.
func confusionRun(c *accuracy.Confusion) report.RunData {
	return report.RunData{
		Scope:      analysis.Scope{Tenant: "acme", Project: "star"},
		Run:        analysis.Run{ID: "r", DefinitionKey: "d", Status: analysis.RunCompleted, CreatedAt: time.Unix(0, 0)},
		Definition: &analysis.Definition{Key: "d", Version: 0},
		Confusions: []*accuracy.Confusion{c},
	}
}

func TestAConfusionMatrixLeavesOutRowsAndColumnsOfZeros(t *testing.T) {
	c, err := accuracy.NewConfusion(extract.Field{Key: "outcome", Type: extract.Enum, EnumValues: []string{"done", "handoff", "abandoned", "unused"}}, nil)
	require.NoError(t, err)
	// done and handoff are the references; abandoned is only extracted,
	// unused and (null) never come up.
	c.Counts[0][0], c.Counts[0][1], c.Counts[0][2] = 50, 3, 2
	c.Counts[1][1], c.Counts[1][0] = 20, 0
	c.Total = 75
	tables := confusionTables(t, writeRun(t, confusionRun(c)))
	rows := tables["outcome"]
	require.Equal(t, 4, len(rows), "head, done, handoff, precision")
	var head []string
	for _, h := range rows[0][1 : len(rows[0])-1] {
		head = append(head, h.Text)
	}
	assert.Equal(t, []string{"done", "handoff", "abandoned"}, head, "a column for each value extracted")
	assert.Equal(t, "done", rows[1][0].Text)
	assert.Equal(t, "handoff", rows[2][0].Text, "a row for each reference value: abandoned has none")
	for _, row := range rows[1:3] {
		for _, cell := range row[1 : len(row)-1] {
			if cell.number(t) == 0 {
				assert.Empty(t, cell.title(), "no title on a zero")
			} else {
				assert.NotEmpty(t, cell.title())
			}
		}
	}
	assert.Equal(t, "expected done, extracted abandoned: 2", rows[1][3].title())
	assert.Equal(t, "90.9%", rows[1][4].Text, "done's recall: 50 of 55")
	assert.Equal(t, []string{"Precision", "100.0%", "87.0%", "0.0%", ""}, texts(rows[3]))
	assert.NotContains(t, tables, "(null)")
	page := writeRun(t, confusionRun(c))
	assertPageHas(t, page, "Rows and columns of zeros are left out.")
	assertPageLacks(t, page, " others)")
}

func texts(row []drawnCell) []string {
	var out []string
	for _, c := range row {
		out = append(out, c.Text)
	}
	return out
}

func TestAConfusionMatrixDrawsItsMostFrequentValuesAndSumsTheRest(t *testing.T) {
	long := "a value far longer than a column of the matrix is wide, and then some more words"
	field := extract.Field{Key: "intent", Type: extract.Enum}
	for i := range extract.MaxEnumValues {
		field.EnumValues = append(field.EnumValues, fmt.Sprintf("v%03d", i))
	}
	field.EnumValues[3] = long
	c, err := accuracy.NewConfusion(field, nil)
	require.NoError(t, err)
	null := len(c.Labels) - 1
	// Values 0 to 19 are references, 20 to 29 extracted only; each
	// reference is matched mostly, mistaken for the next value now and
	// then, and missed.
	for i := range 20 {
		c.Counts[i][i] += 100 - 4*i
		c.Counts[i][i+1] += 1 + i%3
		c.Counts[i][20+i/2]++
		c.Counts[i][null] += i % 2
	}
	rowSum, colSum := map[int]int{}, map[int]int{}
	for i := range c.Counts {
		for j, n := range c.Counts[i] {
			c.Total += n
			rowSum[i] += n
			colSum[j] += n
		}
	}
	page := writeRun(t, confusionRun(c))
	rows := confusionTables(t, page)["intent"]
	head, body, precision := rows[0], rows[1:len(rows)-1], rows[len(rows)-1]

	// 31 values found: the 12 most frequent have a row and column each.
	found := 0
	for i := range c.Labels {
		if rowSum[i]+colSum[i] > 0 {
			found++
		}
	}
	require.Equal(t, 31, found)
	others := fmt.Sprintf("(%d others)", found-12)
	require.Equal(t, 12+1+2, len(head), "a corner, 12 values, the others and recall")
	require.Equal(t, 12+1, len(body), "12 values and the others")
	assert.Equal(t, others, head[len(head)-2].Text)
	assert.Equal(t, others, body[len(body)-1][0].Text)
	assertPageHas(t, page, "The 12 values found most often, as reference or extracted, have a row and a column each; the other 19 share those of “"+others+"”")

	// Every item is in a cell; each row holds its value's references.
	sum, titled, nonZero := 0, 0, 0
	byLabel := map[string]int{}
	for i, l := range c.Labels {
		byLabel[l] = i
	}
	for _, row := range body {
		rowTotal := 0
		for _, cell := range row[1 : len(row)-1] {
			n := cell.number(t)
			rowTotal += n
			if n > 0 {
				nonZero++
			}
			if cell.title() != "" {
				titled++
			}
		}
		sum += rowTotal
		if i, ok := byLabel[row[0].Text]; ok {
			assert.Equal(t, rowSum[i], rowTotal, "row %s", row[0].Text)
		}
	}
	assert.Equal(t, c.Total, sum, "the matrix holds every item")
	assert.Equal(t, nonZero, titled, "a title on each non-zero cell, and on no other")
	assert.Equal(t, 12+1+2, len(precision))
	assertPageHas(t, page, fmt.Sprintf(`data-total="%d" data-diagonal="%d"`, c.Total, diagonal(c)), "the whole matrix's diagonal")

	// The long value is cut, marked, and whole in its title.
	assert.Equal(t, "a value far longer than a colum…", head[4].Text)
	assert.Equal(t, long, head[4].title())
	assert.Equal(t, head[4].Text, body[3][0].Text)
	assert.Equal(t, long, body[3][0].title())
	assert.Equal(t, "expected a value far longer than a colum…, extracted v004: 1", body[3][5].title())
}

func diagonal(c *accuracy.Confusion) int {
	n := 0
	for i := range c.Labels {
		n += c.Counts[i][i]
	}
	return n
}

func TestAtMost20EnumFieldsHaveAMatrix(t *testing.T) {
	data := confusionRun(nil)
	data.Confusions = nil
	for i := range 26 {
		c, err := accuracy.NewConfusion(extract.Field{Key: fmt.Sprintf("e%02d", i), Type: extract.Enum, EnumValues: []string{"yes", "no"}}, nil)
		require.NoError(t, err)
		if i != 3 { // e03 compared nothing: no matrix, and not counted
			c.Counts[0][0], c.Total = 1, 1
		}
		data.Confusions = append(data.Confusions, c)
	}
	page := writeRun(t, data)
	tables := confusionTables(t, page)
	assert.Equal(t, 20, len(tables))
	assert.Contains(t, tables, "e20", "the first 20 fields that compared something, in field-set order")
	assert.NotContains(t, tables, "e03")
	assert.NotContains(t, tables, "e21")
	assertPageHas(t, page, "And 5 more enum fields, whose matrices are not drawn")
}

// assertPageHas and assertPageLacks look for s in a page without
// printing the page.
func assertPageHas(t *testing.T, page, s string, why ...string) {
	t.Helper()
	assert.True(t, strings.Contains(page, s), "the page has %q %s", s, strings.Join(why, " "))
}

func assertPageLacks(t *testing.T, page, s string, why ...string) {
	t.Helper()
	assert.False(t, strings.Contains(page, s), "the page lacks %q %s", s, strings.Join(why, " "))
}
