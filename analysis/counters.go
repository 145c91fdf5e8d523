package analysis

import (
	"crypto/md5"
	"encoding/hex"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/llm"
)

// Micros is the scale of the score sums of [Counters]: a score s in [0, 1]
// is counted as round(s × Micros), so that sums are exact integers whatever
// the order items are added and removed in.
const Micros = 1_000_000

// Counters are the sums a store keeps for a run, updated in the same atomic
// step as each item is saved (see [RunStore.SaveItem]). Everything a run
// reports — progress, usage, aggregate — is computed from them, so that the
// report always equals what the items say. A database store keeps them as
// integer columns; [ItemCounters] says what one item adds.
type Counters struct {
	// Items counts the items saved.
	Items int `json:"items"`
	// Completed counts the items without an extraction error.
	Completed int `json:"completed"`
	// Passed counts the items that passed.
	Passed int `json:"passed"`
	// Judged counts the completed items with a verdict.
	Judged int `json:"judged"`
	// JudgeScoreSum sums their scores, in millionths ([Micros]).
	JudgeScoreSum int64 `json:"judgeScoreSum"`
	// JudgeErrors counts the completed items whose grading failed.
	JudgeErrors int `json:"judgeErrors"`
	// AccuracyCount counts the completed items that compared at least one
	// field.
	AccuracyCount int `json:"accuracyCount"`
	// AccuracySum sums their accuracy scores, in millionths.
	AccuracySum int64 `json:"accuracySum"`
	// Fields counts, per field key, the items that compared it and those
	// where it matched.
	Fields map[string]FieldCount `json:"fields,omitempty"`
	// Usage sums the items' token usage.
	Usage llm.Usage `json:"usage"`
}

// FieldCount counts one field's comparisons over a run.
type FieldCount struct {
	// Compared counts the items that compared the field.
	Compared int `json:"compared"`
	// Matched counts those where it matched.
	Matched int `json:"matched"`
}

// ItemCounters returns what it adds to its run's counters. Only an item
// without an extraction error counts as completed and adds its verdict,
// accuracy and fields; a score that is not a finite number in [0, 1] is
// left out, so that NaN or Inf can never enter a sum.
func ItemCounters(it Item) Counters {
	var c Counters
	c.item(it, 1)
	return c
}

// AddItem adds [ItemCounters] of it to c without building them: what a
// store does when it saves an item.
func (c *Counters) AddItem(it Item) { c.item(it, 1) }

// SubItem takes [ItemCounters] of it from c: what a store does with the
// item a save replaces.
func (c *Counters) SubItem(it Item) { c.item(it, -1) }

func (c *Counters) item(it Item, sign int) {
	c.Items += sign
	c.Usage = addUsage(c.Usage, it.Usage, sign)
	if it.Error != "" {
		return
	}
	c.Completed += sign
	if it.Passed {
		c.Passed += sign
	}
	if it.Judge != nil {
		if m, ok := micros(it.Judge.Score); ok {
			c.Judged += sign
			c.JudgeScoreSum += int64(sign) * m
		}
	} else if it.JudgeError != "" {
		c.JudgeErrors += sign
	}
	a := it.Accuracy
	if a == nil {
		return
	}
	if a.ComparedCount > 0 && a.Score != nil {
		if m, ok := micros(*a.Score); ok {
			c.AccuracyCount += sign
			c.AccuracySum += int64(sign) * m
		}
	}
	for k, fr := range a.PerField {
		matched := 0
		if fr.Match {
			matched = 1
		}
		c.addField(k, sign, sign*matched)
	}
}

// addField adds to the counts of field k, dropping counts that reach zero.
func (c *Counters) addField(k string, compared, matched int) {
	if c.Fields == nil {
		c.Fields = map[string]FieldCount{}
	}
	fc := c.Fields[k]
	fc.Compared += compared
	fc.Matched += matched
	if fc == (FieldCount{}) {
		delete(c.Fields, k)
	} else {
		c.Fields[k] = fc
	}
}

func addUsage(u, d llm.Usage, sign int) llm.Usage {
	s := int64(sign)
	return llm.Usage{InputTokens: u.InputTokens + s*d.InputTokens, OutputTokens: u.OutputTokens + s*d.OutputTokens,
		CachedInputTokens: u.CachedInputTokens + s*d.CachedInputTokens}
}

func micros(score float64) (int64, bool) {
	if math.IsNaN(score) || score < 0 || score > 1 {
		return 0, false
	}
	return int64(math.Round(score * Micros)), true
}

// Add adds d to c.
func (c *Counters) Add(d Counters) { c.merge(d, 1) }

// Sub takes d from c: what a store does with the counters of an item that
// is replaced.
func (c *Counters) Sub(d Counters) { c.merge(d, -1) }

func (c *Counters) merge(d Counters, sign int) {
	c.Items += sign * d.Items
	c.Completed += sign * d.Completed
	c.Passed += sign * d.Passed
	c.Judged += sign * d.Judged
	c.JudgeScoreSum += int64(sign) * d.JudgeScoreSum
	c.JudgeErrors += sign * d.JudgeErrors
	c.AccuracyCount += sign * d.AccuracyCount
	c.AccuracySum += int64(sign) * d.AccuracySum
	for k, fd := range d.Fields {
		c.addField(k, sign*fd.Compared, sign*fd.Matched)
	}
	c.Usage = addUsage(c.Usage, d.Usage, sign)
}

// Clone returns a copy of c that shares no memory with it.
func (c Counters) Clone() Counters {
	c.Fields = maps.Clone(c.Fields)
	return c
}

// Aggregate computes a run's aggregate from its counters, for a run of
// total conversations, exactly as the API defines it: Completed counts the
// items without an extraction error and Failed is total − Completed (a
// conversation without an item counts as failed); PassRate is Passed /
// Completed; AvgJudgeScore averages the judged items; AvgExtractionAccuracy
// averages the items that compared at least one field. A ratio with
// nothing to count is nil — never 0, never NaN.
func (c Counters) Aggregate(total int) *Aggregate {
	a := &Aggregate{Total: total, Completed: min(c.Completed, total), Passed: c.Passed, JudgeErrors: c.JudgeErrors}
	a.Failed = total - a.Completed
	a.PassRate = ratio(float64(c.Passed), c.Completed)
	a.AvgJudgeScore = ratio(float64(c.JudgeScoreSum)/Micros, c.Judged)
	a.AvgExtractionAccuracy = ratio(float64(c.AccuracySum)/Micros, c.AccuracyCount)
	if len(c.Fields) > 0 {
		a.PerFieldAccuracy = make([]accuracy.FieldAccuracy, 0, len(c.Fields))
		for _, k := range slices.Sorted(maps.Keys(c.Fields)) {
			fc := c.Fields[k]
			fa := accuracy.FieldAccuracy{Key: k, Compared: fc.Compared, Matched: fc.Matched, Accuracy: ratio(float64(fc.Matched), fc.Compared)}
			a.PerFieldAccuracy = append(a.PerFieldAccuracy, fa)
		}
	}
	return a
}

// Summarize aggregates items for a run of total conversations: the sum of
// their [ItemCounters], aggregated (see [Counters.Aggregate]).
func Summarize(total int, items []Item) *Aggregate {
	var c Counters
	for _, it := range items {
		c.AddItem(it)
	}
	return c.Aggregate(total)
}

func ratio(sum float64, n int) *float64 {
	if n <= 0 {
		return nil
	}
	v := sum / float64(n)
	return &v
}

// derive fills what a run reports from its counters: progress, usage and,
// once it has finished, the aggregate.
func (r *Run) derive() {
	r.Progress.Done = r.Counters.Items
	r.Usage = r.Counters.Usage
	if r.Status.InProgress() {
		r.Aggregate = nil
	} else {
		r.Aggregate = r.Counters.Aggregate(r.Progress.Total)
	}
}

// SampleRank is the rank of a conversation key in the random sample drawn
// with seed: the lower, the sooner it is drawn. It is the hexadecimal MD5
// digest of the seed in decimal, a colon and the key — in SQL,
// md5(seed::text || ':' || key) — so that a database store draws the very
// sample [SampleKeys] draws.
func SampleRank(seed uint64, key string) string {
	sum := md5.Sum([]byte(strconv.FormatUint(seed, 10) + ":" + key))
	return hex.EncodeToString(sum[:])
}

// SampleKeys draws size keys from keys without replacement — those with
// the lowest [SampleRank] under seed, ties by key — and returns them
// sorted: the same keys, size and seed always give the same sample, and a
// key's chance does not depend on its place. When size is at least the
// number of distinct keys, every key is returned.
func SampleKeys(keys []string, size int, seed uint64) []string {
	keys = uniqueSorted(keys)
	if size >= len(keys) {
		return keys
	}
	if size <= 0 {
		return []string{}
	}
	type ranked struct{ rank, key string }
	rs := make([]ranked, len(keys))
	for i, k := range keys {
		rs[i] = ranked{SampleRank(seed, k), k}
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].rank != rs[j].rank {
			return rs[i].rank < rs[j].rank
		}
		return rs[i].key < rs[j].key
	})
	out := make([]string, size)
	for i := range out {
		out[i] = rs[i].key
	}
	sort.Strings(out)
	return out
}
