package report_test

import (
	"bytes"
	"fmt"
	"html"
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
