// Package report renders a run of package analysis as an HTML page a person
// reads — the aggregate, each field's accuracy, how the judge's scores
// spread, a confusion matrix per enum field, the knowledge gaps, the items
// that failed and why, the tokens spent and their cost — and a
// definition's trend over its last runs.
//
// The pages need no JavaScript and load nothing: the style sheet is inline
// (allowed by [ContentSecurityPolicy], which each page also carries in a
// <meta> element, for a page written to a file), the charts are inline SVG, each
// with a role of img, a title and a table holding the same numbers, and
// the pages print. Every text passes WCAG AA contrast. Everything a page
// shows of a run is escaped by html/template: conversation keys, reasons
// and field keys are data.
//
// A run's page stays small whatever the run holds. A confusion matrix
// leaves out rows and columns of zeros and, of more than 13 values, gives
// the 12 found most often a row and a column each and sums the rest in
// one; at most 20 enum fields have a matrix. The accuracy chart draws at
// most 30 fields, the least accurate; the gap table lists at most 20 gap
// kinds; the lists of items are as long as [Options.MaxListed]. Long texts
// are cut and marked with "…", whole in a title. The page says what it
// leaves out.
//
// [LoadRun] gathers a [RunData] from an [analysis.Service], reading the
// run's items a page at a time and keeping only what the page counts;
// [WriteRun] writes it. [LoadTrend] and [WriteTrend] do the same for a
// definition's trend. Package analysishttp serves both.
package report

import (
	"time"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/llm"
)

// Defaults of [Options].
const (
	// DefaultMaxListed bounds the items each list of a run's page names.
	DefaultMaxListed = 200
	// DefaultPageSize is how many items [LoadRun] reads at once.
	DefaultPageSize = 500
	// DefaultTrendRuns is how many of a definition's runs a trend shows.
	DefaultTrendRuns = 30
)

// Options configure [LoadRun] and [LoadTrend]. The zero value works.
type Options struct {
	// Prices, when set, prices the run's tokens (see [Cost]).
	Prices llm.PriceTable
	// Currency names the unit of Prices, such as "USD"; shown after a
	// cost. Default none.
	Currency string
	// MaxListed bounds the items each list of the run's page names (the
	// failed items, the items that did not pass); the page says how many
	// more there are. 0 means [DefaultMaxListed].
	MaxListed int
	// PageSize is how many items LoadRun reads at once (the service caps
	// it). 0 means [DefaultPageSize].
	PageSize int
	// TrendRuns is how many of the definition's latest runs LoadTrend
	// reads (the service caps it). 0 means [DefaultTrendRuns].
	TrendRuns int
	// RunURL, when set, links each run of a trend to its report.
	RunURL func(runID string) string
	// TrendURL, when set, links a run's report to its definition's trend.
	TrendURL func(definitionKey string) string
}

func (o Options) maxListed() int { return orDefault(o.MaxListed, DefaultMaxListed) }
func (o Options) pageSize() int  { return orDefault(o.PageSize, DefaultPageSize) }
func (o Options) trendRuns() int { return orDefault(o.TrendRuns, DefaultTrendRuns) }

func orDefault(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// HistogramBins is the number of bins of a [Histogram]: scores from 0 to 1
// in steps of 0.1.
const HistogramBins = 10

// A Histogram counts judge scores in bins of 0.1: bin i holds the scores s
// with i/10 ≤ s < (i+1)/10, and the last bin also holds 1.
type Histogram [HistogramBins]int

// Add counts score s; it ignores a score outside [0, 1] or NaN, as a run's
// aggregate does.
func (h *Histogram) Add(s float64) {
	if !(s >= 0 && s <= 1) {
		return
	}
	i := int(s*HistogramBins + 1e-9)
	h[min(i, HistogramBins-1)]++
}

// Total returns the number of scores counted.
func (h Histogram) Total() int {
	n := 0
	for _, c := range h {
		n += c
	}
	return n
}

// An Outcome says what went wrong with a listed item.
type Outcome string

// The outcomes of a listed item.
const (
	// ExtractionFailed: the item has an extraction error; it counts as
	// failed.
	ExtractionFailed Outcome = "extraction failed"
	// JudgeFailed: grading failed; the item completed but did not pass.
	JudgeFailed Outcome = "grading failed"
	// NotPassed: the item completed without an error but did not pass.
	NotPassed Outcome = "did not pass"
)

// A ListedItem is an item a run's page names, with why.
type ListedItem struct {
	// ConversationKey names the conversation.
	ConversationKey string
	// Outcome says what went wrong.
	Outcome Outcome
	// Reason says why: the item's operator-safe error, or what kept it
	// from passing.
	Reason string
}

// An ItemList is a bounded list of items: the first ones found, and how
// many more there were.
type ItemList struct {
	// Items are the first items found, in the order the run saved them.
	Items []ListedItem
	// More counts the items found beyond those listed.
	More int
}

// Count returns the items found, listed or not.
func (l ItemList) Count() int { return len(l.Items) + l.More }

// add lists it, or counts it once max are listed.
func (l *ItemList) add(it ListedItem, max int) {
	if len(l.Items) < max {
		l.Items = append(l.Items, it)
	} else {
		l.More++
	}
}

// A Cost is what a run's tokens cost at a price table. A run records its
// tokens without telling the extraction model's from the judge model's, so
// when those two models have different prices the cost is known only
// between Low (every token at the cheaper price of its kind) and High
// (at the dearer one); with one model, Low equals High.
type Cost struct {
	// Low and High bound the cost, in the price table's unit.
	Low, High float64
	// Currency is [Options.Currency].
	Currency string
	// Models are the model keys priced: the definition's extraction model
	// and, with the judge mode on, its judge model.
	Models []string
	// Unpriced lists the model keys the price table lacks; Low and High
	// are then 0 and no cost is known.
	Unpriced []string
}

// RunData is everything a run's page shows. [LoadRun] gathers it; a host
// may also fill it itself.
type RunData struct {
	// Scope is the run's scope.
	Scope analysis.Scope
	// Run is the run without its items: status, progress, usage and, once
	// it has finished, the aggregate.
	Run analysis.Run
	// Definition is the run's definition as it is now; nil when it has
	// been deleted. Its version may be later than the run's.
	Definition *analysis.Definition
	// JudgeScores counts the scores of the completed items the judge
	// graded.
	JudgeScores Histogram
	// Confusions holds a confusion matrix per enum field of the
	// definition, in field-set order, over the completed items that
	// compared it.
	Confusions []*accuracy.Confusion
	// Gaps is the run's knowledge-gap table, when its items classified gaps
	// or the checks found something; nil otherwise.
	Gaps *analysis.GapTable
	// Failed lists the items whose extraction or grading failed.
	Failed ItemList
	// NotPassed lists the items that completed without an error and did
	// not pass.
	NotPassed ItemList
	// Cost is what the run's tokens cost; nil without a price table.
	Cost *Cost
	// TrendURL, when set, links the page to the definition's trend.
	TrendURL string
}

// A TrendRun is one run of a trend.
type TrendRun struct {
	// ID is the run's ID.
	ID string
	// URL, when set, links to the run's report.
	URL string
	// Status is the run's status.
	Status analysis.RunStatus
	// Trigger says what started it.
	Trigger analysis.TriggerType
	// CreatedAt is when it was created.
	CreatedAt time.Time
	// Total counts the conversations it selected.
	Total int
	// PassRate, AvgJudgeScore and AvgExtractionAccuracy are its
	// aggregate's; nil when it has none (in progress) or the ratio is
	// undefined.
	PassRate, AvgJudgeScore, AvgExtractionAccuracy *float64
}

// TrendData is everything a definition's trend page shows.
type TrendData struct {
	// Scope is the definition's scope.
	Scope analysis.Scope
	// Definition is the definition.
	Definition analysis.Definition
	// Runs are its latest runs, oldest first.
	Runs []TrendRun
}
