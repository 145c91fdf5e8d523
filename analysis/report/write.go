package report

import (
	"bufio"
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"n":     coord,
	"count": count[int],
}).ParseFS(templateFS, "templates/*.tmpl"))

// WriteRun writes the HTML page of a run's report to w. The page needs
// nothing but itself, and holds itself to [ContentSecurityPolicy] in a
// <meta> element, written to a file or served (serve it with the policy
// in a header too: only a header keeps other pages from framing it).
func WriteRun(w io.Writer, data RunData) error {
	return execute(w, "run", newRunView(data))
}

// WriteTrend writes the HTML page of a definition's trend to w. Like
// [WriteRun]'s, the page needs nothing but itself and carries its policy.
func WriteTrend(w io.Writer, data TrendData) error {
	return execute(w, "trend", newTrendView(data))
}

func execute(w io.Writer, name string, view any) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	if err := templates.ExecuteTemplate(bw, name, view); err != nil {
		return fmt.Errorf("report: %s page: %w", name, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: %s page: %w", name, err)
	}
	return nil
}

// Bounds of a run's page, so that its size grows neither with the labels
// of its enum fields (a confusion matrix would grow with their square)
// nor with the number or the length of what a run's items say.
const (
	// maxConfusionLabels bounds the labels of a confusion matrix with a
	// row and a column of their own; the rest share one.
	maxConfusionLabels = 12
	// maxConfusions bounds the enum fields whose matrix is drawn.
	maxConfusions = 20
	// maxFieldBars bounds the fields of the accuracy chart: of more, it
	// draws the least accurate. maxFieldRows bounds the fields of its
	// table (a field set has at most extract.MaxFields).
	maxFieldBars = 30
	maxFieldRows = extract.MaxFields
	// maxGapKinds bounds the gap kinds listed, most frequent first;
	// maxFindingRows the checks whose findings are counted.
	maxGapKinds    = 20
	maxFindingRows = 20
	// maxLabelRunes bounds the characters of an enum value the page
	// shows; maxKeyRunes those of a field key, a gap kind or a check,
	// maxTopicRunes those of a gap topic. A longer text is cut, marked
	// with "…", and has its full form in a title.
	maxLabelRunes = 32
	maxKeyRunes   = 64
	maxTopicRunes = 80
	// maxFullText bounds the bytes of the full form of a cut text (an
	// enum value is at most 200 bytes: it fits).
	maxFullText = 256
)

// A clipped text is shown as Text; Full, set when Text is cut, is the
// whole text (itself bounded), for a title.
type clipped struct {
	Text, Full string
}

// clip cuts s to n characters, marked with "…", keeping its full form.
func clip(s string, n int) clipped {
	short := shortLabel(s, n)
	if short == s {
		return clipped{Text: s}
	}
	return clipped{Text: short, Full: clipText(s, maxFullText)}
}

// A metric is one figure of the aggregate: its name in data-metric, its
// exact value in data-value (empty when undefined) and its text.
type metric struct {
	Label, Name, Value, Text, Class string
}

func intMetric(label, name string, n int, class string) metric {
	return metric{Label: label, Name: name, Value: strconv.Itoa(n), Text: count(n), Class: class}
}

func ratioMetric(label, name string, v *float64, text func(*float64) string) metric {
	return metric{Label: label, Name: name, Value: raw(v), Text: text(v)}
}

// raw is a ratio's exact value, for a data attribute: the shortest text
// that reads back as the same float64; empty for none.
func raw(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

// pct shows a share as a percentage with one decimal.
func pct(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*v*100, 'f', 1, 64) + "%"
}

// score shows a judge score with two decimals.
func score(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64)
}

// count shows an integer with thousands separated by commas.
func count[T int | int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

type fieldRow struct {
	Key                    string // bounded, for data-field
	Name                   clipped
	Compared, Matched      int
	Value, Text            string
	ComparedText, MatchedT string
}

type binRow struct {
	Label string
	Count int
	Text  string
}

type confCell struct {
	Count int
	Text  string
	Class string
	Title string
}

// A confHead names a row or a column of a confusion matrix.
type confHead struct {
	clipped
	// Others marks the row or column summing the labels without their own.
	Others bool
}

type confRow struct {
	Head   confHead
	Cells  []confCell
	Total  int
	Recall string
}

type confView struct {
	ID, Field        string
	Key              clipped
	Cols             []confHead
	Rows             []confRow
	Precision        []string
	Total, Diagonal  int
	Accuracy         string
	TotalT, DiagText string
	// Zeros is set when a label has no row or no column: it was never the
	// reference or never extracted.
	Zeros bool
	// Found counts the labels of a non-zero row or column; Shown those
	// with their own, Others the rest, summed in OthersLabel's row and
	// column, whose shared cell holds OthersBoth items, OthersMatched of
	// them matches.
	Found, Shown, Others      int
	OthersLabel               string
	OthersBoth, OthersMatched int
}

type findingRow struct {
	Check clipped
	Count int
}

type gapTopic struct {
	clipped
	Count int
}

type gapKindRow struct {
	Kind   string // bounded, for data-gap
	Name   clipped
	Count  int
	Topics []gapTopic
}

// A gapView is a run's gap table, its kinds and checks bounded: MoreKinds
// counts the kinds not listed and MoreKindItems their items; MoreFindings
// counts the checks not listed.
type gapView struct {
	Items, Classified, Unexplained, InsufficientEvidence int
	Kinds                                                []gapKindRow
	MoreKinds, MoreKindItems                             int
	FindingRows                                          []findingRow
	MoreFindings                                         int
}

// A listView is an [ItemList] as the page shows it, its texts bounded.
type listView struct {
	Items       []ListedItem
	More, Count int
}

func newListView(l ItemList) listView {
	v := listView{More: l.More, Count: l.Count()}
	for _, it := range l.Items {
		it.ConversationKey = clipText(it.ConversationKey, maxFullText)
		it.Reason = clipText(it.Reason, maxReason)
		v.Items = append(v.Items, it)
	}
	return v
}

type usageRow struct {
	Label, Name string
	Value       int64
	Text        string
}

type runView struct {
	CSS      template.CSS
	CSP      string
	Title    string
	Name     string
	Data     RunData
	Status   string
	RunError string
	Created  string
	Started  string
	Finished string
	Notes    []string
	Metrics  []metric
	Fields   *chart
	// FieldsDrawn, when set, says which fields the chart draws, not all.
	FieldsDrawn string
	FieldRows   []fieldRow
	// MoreFields counts the fields the table does not list.
	MoreFields int
	Hist       *chart
	BinRows    []binRow
	Judged     string
	JudgeOn    bool
	Confusions []confView
	// MoreConfusions counts the enum fields whose matrix is not drawn.
	MoreConfusions int
	Gaps           *gapView
	Failed         listView
	NotPassed      listView
	Unsaved        int
	Usage          []usageRow
	PerItem        string
	Cost           string
	CostNote       string
}

func statusClass(s analysis.RunStatus) string {
	switch s {
	case analysis.RunCompleted:
		return "good"
	case analysis.RunFailed:
		return "bad"
	}
	return ""
}

func newRunView(d RunData) runView {
	r := d.Run
	v := runView{CSS: template.CSS(stylesheet), CSP: metaPolicy, Data: d, Name: r.DefinitionKey, Status: statusClass(r.Status),
		Created: when(&r.CreatedAt), Started: when(r.StartedAt), Finished: when(r.FinishedAt),
		RunError: clipText(r.Error, maxReason), Failed: newListView(d.Failed), NotPassed: newListView(d.NotPassed)}
	if d.Definition != nil && d.Definition.Name != "" {
		v.Name = d.Definition.Name
	}
	v.Title = "Run report: " + v.Name
	switch {
	case d.Definition == nil:
		v.Notes = append(v.Notes, "The definition has been deleted: its field set, and so its confusion matrices, are not known.")
	case d.Definition.Version != r.DefinitionVersion:
		v.Notes = append(v.Notes, fmt.Sprintf("The run used version %d of the definition; the confusion matrices and the cost follow its fields and models as they are now, at version %d.",
			r.DefinitionVersion, d.Definition.Version))
	}
	if r.Status.InProgress() {
		v.Notes = append(v.Notes, fmt.Sprintf("The run is %s: %d of %d conversations are done. The aggregate is computed when it finishes; the charts show the items saved so far.",
			r.Status, r.Progress.Done, r.Progress.Total))
	}
	if a := r.Aggregate; a != nil {
		failed := ""
		if a.Failed > 0 {
			failed = "bad"
		}
		v.Metrics = []metric{
			intMetric("Conversations", "total", a.Total, ""),
			intMetric("Completed", "completed", a.Completed, ""),
			intMetric("Failed", "failed", a.Failed, failed),
			intMetric("Passed", "passed", a.Passed, ""),
			ratioMetric("Pass rate", "passRate", a.PassRate, pct),
			ratioMetric("Average judge score", "avgJudgeScore", a.AvgJudgeScore, score),
			ratioMetric("Average extraction accuracy", "avgExtractionAccuracy", a.AvgExtractionAccuracy, pct),
			intMetric("Grading errors", "judgeErrors", a.JudgeErrors, ""),
		}
		all := a.PerFieldAccuracy
		for i, f := range all {
			if i == maxFieldRows {
				v.MoreFields = len(all) - i
				break
			}
			v.FieldRows = append(v.FieldRows, fieldRow{Key: clipText(f.Key, maxFullText), Name: clip(f.Key, maxKeyRunes),
				Compared: f.Compared, Matched: f.Matched,
				ComparedText: count(f.Compared), MatchedT: count(f.Matched), Value: raw(f.Accuracy), Text: pct(f.Accuracy)})
		}
		drawn := leastAccurate(all, maxFieldBars)
		fields := make([]fieldBar, 0, len(drawn))
		for _, i := range drawn {
			f := all[i]
			fields = append(fields, fieldBar{Key: f.Key, Compared: f.Compared, Matched: f.Matched, Accuracy: f.Accuracy})
		}
		v.Fields = accuracyBars("chart-fields", fields, len(all))
		if len(drawn) < len(all) {
			listed := "them all"
			if v.MoreFields > 0 {
				listed = fmt.Sprintf("the first %d", len(v.FieldRows))
			}
			v.FieldsDrawn = fmt.Sprintf("The chart draws the %d least accurate of the %d fields; the table lists %s.", len(drawn), len(all), listed)
		}
	} else {
		v.Metrics = []metric{intMetric("Conversations", "total", r.Progress.Total, ""), intMetric("Done", "done", r.Progress.Done, "")}
	}
	v.JudgeOn = d.JudgeScores.Total() > 0 || (d.Definition != nil && d.Definition.Modes.Judge != nil)
	if v.JudgeOn {
		v.Hist = histogramChart("chart-judge", d.JudgeScores)
		for i, n := range d.JudgeScores {
			v.BinRows = append(v.BinRows, binRow{Label: binLabel(i), Count: n, Text: count(n)})
		}
		v.Judged = count(d.JudgeScores.Total())
	}
	for i, c := range d.Confusions {
		switch {
		case c == nil || c.Total == 0:
			// nothing compared: the accuracy mode is off, or nothing had a reference value
		case len(v.Confusions) == maxConfusions:
			v.MoreConfusions++
		default:
			v.Confusions = append(v.Confusions, newConfView(fmt.Sprintf("confusion-%d", i), c))
		}
	}
	if d.Gaps != nil {
		v.Gaps = newGapView(*d.Gaps)
	}
	v.Unsaved = max(0, r.Progress.Total-r.Progress.Done)
	if r.Status.InProgress() {
		v.Unsaved = 0
	}
	u := r.Usage
	v.Usage = []usageRow{
		{"Input tokens", "inputTokens", u.InputTokens, count(u.InputTokens)},
		{"of which served from the prompt cache", "cachedInputTokens", u.CachedInputTokens, count(u.CachedInputTokens)},
		{"Output tokens", "outputTokens", u.OutputTokens, count(u.OutputTokens)},
		{"Total tokens", "totalTokens", u.Total(), count(u.Total())},
	}
	if r.Progress.Done > 0 {
		v.PerItem = count(u.Total() / int64(r.Progress.Done))
	}
	if c := d.Cost; c != nil {
		unit := ""
		if c.Currency != "" {
			unit = " " + c.Currency
		}
		switch {
		case len(c.Unpriced) > 0:
			v.CostNote = "The price table has no price for " + strings.Join(c.Unpriced, ", ") + ": no cost is shown."
		case c.Low == c.High:
			v.Cost = money(c.Low) + unit
			v.CostNote = "At the price of " + strings.Join(c.Models, " and ") + "."
		default:
			v.Cost = "between " + money(c.Low) + " and " + money(c.High) + unit
			v.CostNote = "The run counts its tokens without telling the extraction model's (" + c.Models[0] + ") from the judge model's (" +
				strings.Join(c.Models[1:], ", ") + "), which have different prices: the cost lies between every token at the cheaper price and every token at the dearer one."
		}
	}
	return v
}

// leastAccurate returns the positions of the n least accurate fields (of
// equal accuracy, the first; a field without one last), in their order.
func leastAccurate(fields []accuracy.FieldAccuracy, n int) []int {
	pos := make([]int, len(fields))
	for i := range pos {
		pos[i] = i
	}
	if len(fields) <= n {
		return pos
	}
	acc := func(i int) float64 {
		if a := fields[i].Accuracy; a != nil {
			return *a
		}
		return 2
	}
	slices.SortStableFunc(pos, func(a, b int) int { return cmp.Compare(acc(a), acc(b)) })
	pos = pos[:n]
	slices.Sort(pos)
	return pos
}

func newGapView(t analysis.GapTable) *gapView {
	g := &gapView{Items: t.Items, Classified: t.Classified, Unexplained: t.Unexplained, InsufficientEvidence: t.InsufficientEvidence}
	for i, k := range t.Kinds {
		if i >= maxGapKinds {
			g.MoreKinds++
			g.MoreKindItems += k.Count
			continue
		}
		row := gapKindRow{Kind: clipText(k.Kind, maxFullText), Name: clip(k.Kind, maxKeyRunes), Count: k.Count}
		for j, tp := range k.Topics {
			if j == analysis.MaxGapTopics {
				break
			}
			row.Topics = append(row.Topics, gapTopic{clipped: clip(tp.Topic, maxTopicRunes), Count: tp.Count})
		}
		g.Kinds = append(g.Kinds, row)
	}
	for i, k := range slices.Sorted(maps.Keys(t.Findings)) {
		if i == maxFindingRows {
			g.MoreFindings = len(t.Findings) - i
			break
		}
		g.FindingRows = append(g.FindingRows, findingRow{Check: clip(k, maxKeyRunes), Count: t.Findings[k]})
	}
	return g
}

func money(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// heat is the shade class of a confusion cell holding share of its row.
func heat(share float64) string {
	switch {
	case share <= 0:
		return ""
	case share <= 0.25:
		return "h1"
	case share <= 0.5:
		return "h2"
	case share <= 0.75:
		return "h3"
	}
	return "h4"
}

// newConfView lays out a confusion matrix so that its size does not grow
// with its labels: rows and columns of zeros are left out, and of more
// than maxConfusionLabels+1 labels the maxConfusionLabels most frequent
// (by reference and extracted count together) keep their own row and
// column while the rest are summed in one row and one column. Recall,
// precision and the diagonal are the whole matrix's.
func newConfView(id string, c *accuracy.Confusion) confView {
	v := confView{ID: id, Field: clipText(c.Field, maxFullText), Key: clip(c.Field, maxKeyRunes),
		Total: c.Total, TotalT: count(c.Total), Accuracy: pct(c.Accuracy())}
	n := len(c.Labels)
	at := func(i, j int) int { // a malformed matrix reads as zeros
		if i < len(c.Counts) && j < len(c.Counts[i]) {
			return c.Counts[i][j]
		}
		return 0
	}
	rowSum, colSum := make([]int, n), make([]int, n)
	for i := range n {
		for j := range n {
			rowSum[i] += at(i, j)
			colSum[j] += at(i, j)
		}
		v.Diagonal += at(i, i)
	}
	var found []int
	for i := range n {
		if rowSum[i]+colSum[i] > 0 {
			found = append(found, i)
		}
	}
	v.Found = len(found)
	own := make([]bool, n)
	if len(found) <= maxConfusionLabels+1 {
		for _, i := range found {
			own[i] = true
		}
	} else {
		// Most frequent first; ties in the field's order.
		byCount := slices.Clone(found)
		slices.SortStableFunc(byCount, func(a, b int) int { return (rowSum[b] + colSum[b]) - (rowSum[a] + colSum[a]) })
		for _, i := range byCount[:maxConfusionLabels] {
			own[i] = true
		}
	}
	// Each label's row and column in the view, or -1; others share the last.
	rowOf, colOf := make([]int, n), make([]int, n)
	var rowLabel, colLabel []int // label of each row and column; -1 for the others
	othersRow, othersCol := -1, -1
	othersRowSum, othersColSum := 0, 0
	for i := range n {
		rowOf[i], colOf[i] = -1, -1
		if own[i] {
			if rowSum[i] > 0 {
				rowOf[i] = len(rowLabel)
				rowLabel = append(rowLabel, i)
			}
			if colSum[i] > 0 {
				colOf[i] = len(colLabel)
				colLabel = append(colLabel, i)
			}
		}
		v.Zeros = v.Zeros || rowSum[i] == 0 || colSum[i] == 0
	}
	for _, i := range found {
		if own[i] {
			v.Shown++
			continue
		}
		v.Others++
		v.OthersMatched += at(i, i)
		othersRowSum += rowSum[i]
		othersColSum += colSum[i]
	}
	if v.Others > 0 {
		v.OthersLabel = fmt.Sprintf("(%d others)", v.Others)
		if othersRowSum > 0 {
			othersRow = len(rowLabel)
			rowLabel = append(rowLabel, -1)
		}
		if othersColSum > 0 {
			othersCol = len(colLabel)
			colLabel = append(colLabel, -1)
		}
		for _, i := range found {
			if !own[i] {
				rowOf[i], colOf[i] = othersRow, othersCol
			}
		}
	}
	cells := make([][]int, len(rowLabel))
	for r := range cells {
		cells[r] = make([]int, len(colLabel))
	}
	for i := range n {
		if rowOf[i] < 0 {
			continue
		}
		for j := range n {
			if colOf[j] >= 0 {
				cells[rowOf[i]][colOf[j]] += at(i, j)
			}
		}
	}
	if othersRow >= 0 && othersCol >= 0 {
		v.OthersBoth = cells[othersRow][othersCol]
	}
	head := func(i int) confHead {
		if i < 0 {
			return confHead{clipped: clipped{Text: v.OthersLabel}, Others: true}
		}
		return confHead{clipped: clip(c.Labels[i], maxLabelRunes)}
	}
	name := func(i int) string {
		if i < 0 {
			return fmt.Sprintf("one of the %d others", v.Others)
		}
		return clip(c.Labels[i], maxLabelRunes).Text
	}
	for _, j := range colLabel {
		v.Cols = append(v.Cols, head(j))
	}
	for r, i := range rowLabel {
		row := confRow{Head: head(i)}
		diag := v.OthersMatched
		if i >= 0 {
			row.Total, diag = rowSum[i], at(i, i)
		} else {
			row.Total = othersRowSum
		}
		for k, j := range colLabel {
			m := cells[r][k]
			cell := confCell{Count: m, Text: count(m)}
			if row.Total > 0 {
				cell.Class = heat(float64(m) / float64(row.Total))
			}
			if i >= 0 && i == j {
				cell.Class = strings.TrimSpace(cell.Class + " diag")
			}
			if m > 0 {
				cell.Title = fmt.Sprintf("expected %s, extracted %s: %d", name(i), name(j), m)
				if i < 0 && j < 0 {
					cell.Title += fmt.Sprintf(", %d of them matches", v.OthersMatched)
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		// Recall and precision by position, so that an enum value spelled
		// like a special label keeps its own.
		row.Recall = pct(share(diag, row.Total))
		v.Rows = append(v.Rows, row)
	}
	for _, j := range colLabel {
		if j < 0 {
			v.Precision = append(v.Precision, pct(share(v.OthersMatched, othersColSum)))
		} else {
			v.Precision = append(v.Precision, pct(share(at(j, j), colSum[j])))
		}
	}
	v.DiagText = count(v.Diagonal)
	return v
}

func share(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	s := float64(n) / float64(d)
	return &s
}

type trendRow struct {
	TrendRun
	Index                   int
	TotalText               string
	Created                 string
	StatusClass             string
	PassRate, Judge, Acc    string
	PassRateV, JudgeV, AccV string
}

type trendView struct {
	CSS    template.CSS
	CSP    string
	Title  string
	Data   TrendData
	Name   string
	Chart  *chart
	Rows   []trendRow
	Legend []string
}

func newTrendView(d TrendData) trendView {
	v := trendView{CSS: template.CSS(stylesheet), CSP: metaPolicy, Data: d, Name: d.Definition.Name}
	if v.Name == "" {
		v.Name = d.Definition.Key
	}
	v.Title = "Trend: " + v.Name
	v.Chart = trendChart("chart-trend", d.Runs)
	for i, r := range d.Runs {
		v.Rows = append(v.Rows, trendRow{TrendRun: r, Index: i + 1, TotalText: count(r.Total), Created: when(&r.CreatedAt), StatusClass: statusClass(r.Status),
			PassRate: pct(r.PassRate), Judge: score(r.AvgJudgeScore), Acc: pct(r.AvgExtractionAccuracy),
			PassRateV: raw(r.PassRate), JudgeV: raw(r.AvgJudgeScore), AccV: raw(r.AvgExtractionAccuracy)})
	}
	for _, s := range trendSeries {
		v.Legend = append(v.Legend, s.Name)
	}
	return v
}
