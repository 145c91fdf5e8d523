package analysis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// StartRun creates a pending run of the definition with the given key over
// the conversations sel selects, and returns it at once (the API's 202): an
// [Executor] does the work. The selection is resolved now and fixed on the
// run — a random sample is drawn with a seed recorded on the run (see
// [SampleKeys]).
//
// It fails with ErrNotFound for an unknown definition key; with an
// [*extract.ValidationError] (ErrInvalid) for a bad selection — unknown
// strategy, missing tag or sample size, unknown conversation keys (named),
// more conversations than the maximum per run — or a definition without an
// extraction model; and with ErrRunInProgress when the definition already
// has a run pending or running (the API's 409).
func (s *Service) StartRun(ctx context.Context, scope Scope, definitionKey string, sel Selection) (Run, error) {
	if err := scope.Validate(); err != nil {
		return Run{}, err
	}
	d, err := s.cfg.Store.GetDefinition(ctx, scope, definitionKey)
	if err != nil {
		return Run{}, err
	}
	return s.startRun(ctx, scope, d, sel, Trigger{Type: TriggerManual})
}

func (s *Service) startRun(ctx context.Context, scope Scope, d Definition, sel Selection, trigger Trigger) (Run, error) {
	if strings.TrimSpace(d.ExtractionModelKey) == "" {
		return Run{}, invalid("$.extractionModelKey", fmt.Sprintf("definition %q has no extraction model: set extractionModelKey to run it", d.Key))
	}
	keys, sel, err := s.resolve(ctx, scope, d.Key, sel)
	if err != nil {
		return Run{}, err
	}
	r := Run{
		ID: s.cfg.NewID(), DefinitionKey: d.Key, Status: RunPending, Selection: sel, Trigger: trigger,
		ConversationKeys: keys, Items: []Item{}, Progress: Progress{Total: len(keys)}, CreatedAt: s.cfg.Clock.Now().UTC(),
	}
	if err := s.cfg.Store.CreateRun(ctx, scope, r); err != nil {
		return Run{}, err
	}
	s.cfg.Logger.InfoContext(ctx, "analysis: run created", "scope", scope.String(), "run", r.ID,
		"definition", d.Key, "conversations", len(keys), "trigger", string(trigger.Type))
	if s.cfg.Wake != nil {
		s.cfg.Wake()
	}
	return r, nil
}

// checkSelection reports the problems of sel that need no store, with paths
// under root.
func checkSelection(sel Selection, maxConv int, root string) error {
	var p problems
	switch sel.Strategy {
	case SelectAll, SelectUnanalyzed:
	case SelectTag:
		if strings.TrimSpace(sel.Tag) == "" {
			p.add(-1, root+".tag", "strategy tag needs a tag")
		}
	case SelectRandom:
		if sel.SampleSize < 1 || sel.SampleSize > maxConv {
			p.add(-1, root+".sampleSize", fmt.Sprintf("strategy random needs a sampleSize from 1 to %d, not %d", maxConv, sel.SampleSize))
		}
	case SelectKeys:
		if len(sel.ConversationKeys) == 0 {
			p.add(-1, root+".conversationKeys", "strategy keys needs conversationKeys")
		}
		if n := len(uniqueSorted(sel.ConversationKeys)); n > maxConv {
			p.add(-1, root+".conversationKeys", fmt.Sprintf("%d keys, more than the %d a run may analyse", n, maxConv))
		}
	case "":
		p.add(-1, root+".strategy", "the strategy is missing: use all, tag, random, unanalyzed or keys")
	default:
		p.add(-1, root+".strategy", fmt.Sprintf("%q is not a strategy: use all, tag, random, unanalyzed or keys", sel.Strategy))
	}
	if sel.Seed != nil && sel.Strategy != SelectRandom {
		p.add(-1, root+".seed", "a seed goes with strategy random only")
	}
	if sel.Seed != nil && *sel.Seed > MaxSeed {
		p.add(-1, root+".seed", fmt.Sprintf("%d is above the largest seed, 2^53 − 1", *sel.Seed))
	}
	return p.err()
}

// MaxSeed is the largest seed of a random selection, 2^53 − 1: the largest
// integer every JSON reader holds exactly.
const MaxSeed = 1<<53 - 1

func uniqueSorted(keys []string) []string {
	out := slices.Clone(keys)
	sort.Strings(out)
	return slices.Compact(out)
}

// resolve turns a selection into the sorted keys of its conversations,
// checking it; it records the seed of a random selection.
func (s *Service) resolve(ctx context.Context, scope Scope, defKey string, sel Selection) ([]string, Selection, error) {
	maxConv := s.cfg.MaxRunConversations
	if err := checkSelection(sel, maxConv, "$.selection"); err != nil {
		return nil, sel, err
	}
	given := sel.Seed
	sel.Seed = nil
	var keys []string
	var err error
	switch sel.Strategy {
	case SelectKeys:
		keys, err = s.resolveKeys(ctx, scope, sel.ConversationKeys)
	case SelectRandom:
		var all []string
		if all, err = s.cfg.Store.ConversationKeys(ctx, scope, ConversationQuery{}); err == nil {
			seed := s.cfg.NewSeed() & MaxSeed
			if given != nil {
				seed = *given
			}
			sel.Seed = &seed
			keys = SampleKeys(all, sel.SampleSize, seed)
		}
	default:
		keys, err = s.cfg.Store.ConversationKeys(ctx, scope, ConversationQuery{Tag: strings.TrimSpace(sel.Tag), UnanalyzedBy: unanalyzedBy(sel, defKey)})
	}
	if err != nil {
		return nil, sel, err
	}
	if len(keys) > maxConv {
		return nil, sel, invalid("$.selection", fmt.Sprintf("the selection has %d conversations, more than the %d a run may analyse: narrow it with a tag, or use strategy random", len(keys), maxConv))
	}
	return keys, sel, nil
}

func unanalyzedBy(sel Selection, defKey string) string {
	if sel.Strategy == SelectUnanalyzed {
		return defKey
	}
	return ""
}

// resolveKeys checks that every key names a conversation of the scope,
// naming those that do not, and returns them without repeats, sorted.
func (s *Service) resolveKeys(ctx context.Context, scope Scope, keys []string) ([]string, error) {
	unique := uniqueSorted(keys)
	found, err := s.cfg.Store.GetConversations(ctx, scope, unique)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, c := range found {
		known[c.Key] = true
	}
	var p problems
	for i, k := range keys {
		if !known[k] {
			p.add(i, "$.selection.conversationKeys"+schemaval.Index(i), fmt.Sprintf("no conversation has the key %q", k))
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return unique, nil
}

// SampleKeys draws size keys from keys without replacement, with a
// generator seeded from seed, and returns them sorted: the same keys, size
// and seed always give the same sample. keys must be sorted (as the store
// returns them). When size is at least len(keys), every key is returned.
func SampleKeys(keys []string, size int, seed uint64) []string {
	if size >= len(keys) {
		return slices.Clone(keys)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	pool := slices.Clone(keys)
	for i := range size { // a partial Fisher–Yates shuffle
		j := i + rng.IntN(len(pool)-i)
		pool[i], pool[j] = pool[j], pool[i]
	}
	sample := pool[:size]
	sort.Strings(sample)
	return sample
}

// CancelRun ends a pending or running run as failed, with the error "the run
// was cancelled" and the aggregate of the items saved so far; an executor
// working on it stops at its next write. It fails with ErrNotFound for an
// unknown run and with ErrConflict for a run that has already finished.
func (s *Service) CancelRun(ctx context.Context, scope Scope, id string) (Run, error) {
	if err := scope.Validate(); err != nil {
		return Run{}, err
	}
	r, err := s.cfg.Store.GetRun(ctx, scope, id)
	if err != nil {
		return Run{}, err
	}
	if !r.Status.InProgress() {
		return Run{}, fmt.Errorf("analysis: run %s has already finished: %w", id, ErrConflict)
	}
	f := Finish{Status: RunFailed, Aggregate: Summarize(len(r.ConversationKeys), r.Items), Error: "the run was cancelled", At: s.cfg.Clock.Now().UTC()}
	if err := s.cfg.Store.CancelRun(ctx, scope, id, f); err != nil {
		return Run{}, err
	}
	return s.cfg.Store.GetRun(ctx, scope, id)
}

// GetRun returns the run with its items; ErrNotFound if the scope has none.
func (s *Service) GetRun(ctx context.Context, scope Scope, id string) (Run, error) {
	if err := scope.Validate(); err != nil {
		return Run{}, err
	}
	return s.cfg.Store.GetRun(ctx, scope, id)
}

// ListRuns returns the scope's runs, of one definition when definitionKey is
// set, newest first, without their items, at most limit of them (0 for the
// default; capped at the maximum).
func (s *Service) ListRuns(ctx context.Context, scope Scope, definitionKey string, limit int) ([]Run, error) {
	if err := scope.Validate(); err != nil {
		return nil, err
	}
	n, err := s.limit(limit)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.ListRuns(ctx, scope, RunQuery{DefinitionKey: definitionKey, Limit: n})
}

// Summarize aggregates items for a run of total conversations, exactly as
// the API defines it: Completed counts the items without an extraction
// error and Failed is total − Completed (a conversation without an item
// counts as failed); PassRate is Passed / Completed; AvgJudgeScore averages
// the judged items; AvgExtractionAccuracy averages the items that compared
// at least one field. A ratio with nothing to count is nil — never 0, never
// NaN.
func Summarize(total int, items []Item) *Aggregate {
	a := &Aggregate{Total: total}
	var judged, compared int
	var judgeSum, accSum float64
	for _, it := range items {
		if it.Error != "" {
			continue
		}
		a.Completed++
		if it.Passed {
			a.Passed++
		}
		if it.Judge != nil {
			judged++
			judgeSum += it.Judge.Score
		}
		if it.Accuracy != nil && it.Accuracy.ComparedCount > 0 && it.Accuracy.Score != nil {
			compared++
			accSum += *it.Accuracy.Score
		}
	}
	a.Completed = min(a.Completed, total)
	a.Failed = total - a.Completed
	a.PassRate = ratio(float64(a.Passed), a.Completed)
	a.AvgJudgeScore = ratio(judgeSum, judged)
	a.AvgExtractionAccuracy = ratio(accSum, compared)
	return a
}

func ratio(sum float64, n int) *float64 {
	if n == 0 {
		return nil
	}
	v := sum / float64(n)
	return &v
}
