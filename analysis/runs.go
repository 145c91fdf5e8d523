package analysis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/debrief-go/debrief/extract"
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
		return Run{}, about(err, "definition %q", definitionKey)
	}
	return s.startRun(ctx, scope, d, sel, Trigger{Type: TriggerManual})
}

func (s *Service) startRun(ctx context.Context, scope Scope, d Definition, sel Selection, trigger Trigger) (Run, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.tryStartRun(ctx, scope, d, sel, trigger)
		if !errors.Is(err, ErrConflict) || attempt == 4 {
			return r, err
		}
		// The definition changed between the read and the run's creation
		// (or, rarely, the generated ID was taken): read it again.
		if d, err = s.cfg.Store.GetDefinition(ctx, scope, d.Key); err != nil {
			return Run{}, about(err, "definition %q", d.Key)
		}
	}
}

func (s *Service) tryStartRun(ctx context.Context, scope Scope, d Definition, sel Selection, trigger Trigger) (Run, error) {
	if strings.TrimSpace(d.ExtractionModelKey) == "" {
		return Run{}, invalid("$.extractionModelKey", fmt.Sprintf("definition %q has no extraction model: set extractionModelKey to run it", d.Key))
	}
	ks, sel, err := s.resolve(ctx, scope, d.Key, sel)
	if err != nil {
		return Run{}, err
	}
	sel.ConversationKeys = nil // they are the run's keys, kept by the store
	r := Run{
		ID: s.cfg.NewID(), DefinitionKey: d.Key, DefinitionVersion: d.Version, Status: RunPending, Selection: sel,
		Trigger: trigger, CreatedAt: s.cfg.Clock.Now().UTC(),
	}
	r, err = s.cfg.Store.CreateRun(ctx, scope, r, ks)
	if err != nil {
		var size *SelectionSizeError
		if errors.Is(err, ErrNotFound) { // deleted since it was read
			return Run{}, about(err, "definition %q", d.Key)
		}
		if errors.As(err, &size) {
			return Run{}, invalid("$.selection", fmt.Sprintf("the selection has %d conversations, more than the %d a run may analyse: narrow it with a tag, or use strategy random", size.Selected, size.Max))
		}
		return Run{}, err
	}
	r.derive()
	r.Items = []Item{}
	s.cfg.Logger.InfoContext(ctx, "analysis: run created", "scope", scope.String(), "run", r.ID,
		"definition", d.Key, "conversations", r.Progress.Total, "trigger", string(trigger.Type))
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

// resolve checks a selection and turns it into the store's key selection;
// it records the seed of a random selection.
func (s *Service) resolve(ctx context.Context, scope Scope, defKey string, sel Selection) (KeySelection, Selection, error) {
	maxConv := s.cfg.MaxRunConversations
	if err := checkSelection(sel, maxConv, "$.selection"); err != nil {
		return KeySelection{}, sel, err
	}
	ks := KeySelection{Max: maxConv, ChunkSize: s.cfg.ChunkSize}
	given := sel.Seed
	sel.Seed = nil
	switch sel.Strategy {
	case SelectKeys:
		keys, err := s.resolveKeys(ctx, scope, sel.ConversationKeys)
		if err != nil {
			return KeySelection{}, sel, err
		}
		ks.Keys = keys
	case SelectRandom:
		seed := s.cfg.NewSeed() & MaxSeed
		if given != nil {
			seed = *given
		}
		sel.Seed = &seed
		ks.SampleSize, ks.Seed = sel.SampleSize, seed
	case SelectTag:
		ks.Tag = strings.TrimSpace(sel.Tag)
	case SelectUnanalyzed:
		ks.UnanalyzedBy = defKey
	}
	return ks, sel, nil
}

// resolveKeys checks that every key names a conversation of the scope,
// naming those that do not, and returns them without repeats, sorted.
func (s *Service) resolveKeys(ctx context.Context, scope Scope, keys []string) ([]string, error) {
	unique := uniqueSorted(keys)
	found, err := s.cfg.Store.ExistingKeys(ctx, scope, unique)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(found))
	for _, k := range found {
		known[k] = true
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

// CancelRun ends a pending or running run as failed, with the error "the
// run was cancelled" and the aggregate of the items saved until then, and
// returns it; executors working on it stop at their next write. It fails
// with ErrNotFound for an unknown run and with ErrConflict for a run that
// has already finished.
func (s *Service) CancelRun(ctx context.Context, scope Scope, id string) (Run, error) {
	if err := scope.Validate(); err != nil {
		return Run{}, err
	}
	if err := s.cfg.Store.CancelRun(ctx, scope, id, "the run was cancelled", s.cfg.Clock.Now().UTC()); err != nil {
		if errors.Is(err, ErrConflict) {
			return Run{}, finishedError(id)
		}
		return Run{}, about(err, "run %q", id)
	}
	return s.GetRun(ctx, scope, id)
}

// finishedError is the failure to cancel the run it names, which has
// already finished. It matches [ErrConflict].
type finishedError string

// Error names the run.
func (e finishedError) Error() string {
	return fmt.Sprintf("analysis: run %q has already finished", string(e))
}

// Is makes the error match ErrConflict.
func (e finishedError) Is(target error) bool { return target == ErrConflict }

// GetRun returns the run with its items — all of them when there are at
// most [Config.MaxInlineItems], else the first that many — and, in
// ItemsCursor, the cursor of those that follow (see
// [Service.ListRunItems]): the rest of a large run, or the items a run in
// progress saves later. ErrNotFound if the scope has none.
func (s *Service) GetRun(ctx context.Context, scope Scope, id string) (Run, error) {
	if err := scope.Validate(); err != nil {
		return Run{}, err
	}
	r, err := s.cfg.Store.GetRun(ctx, scope, id)
	if err != nil {
		return Run{}, about(err, "run %q", id)
	}
	r.derive()
	items, next, err := s.cfg.Store.ListRunItems(ctx, scope, id, Page{Limit: s.cfg.MaxInlineItems})
	if err != nil {
		return Run{}, err
	}
	if items == nil {
		items = []Item{}
	}
	r.Items = items
	if r.Status.InProgress() || len(items) < r.Progress.Done {
		r.ItemsCursor = next
	}
	return r, nil
}

// GetRunStatus returns the run without its items: status, progress,
// usage and, once it has finished, the aggregate — what a client watching
// the run needs, read without the items. ErrNotFound if the scope has none.
func (s *Service) GetRunStatus(ctx context.Context, scope Scope, id string) (Run, error) {
	if err := scope.Validate(); err != nil {
		return Run{}, err
	}
	r, err := s.cfg.Store.GetRun(ctx, scope, id)
	if err != nil {
		return Run{}, about(err, "run %q", id)
	}
	r.derive()
	return r, nil
}

// An ItemPage is a page of a run's items.
type ItemPage struct {
	// Items are the page's items, in the order they were saved.
	Items []Item `json:"items"`
	// NextCursor reads the next page; set when this page is full, so that
	// more may follow, empty when it is the last for now.
	NextCursor string `json:"nextCursor,omitempty"`
	// ResumeCursor reads what comes after this page, now or later: poll it
	// to follow a run in progress, item by item, without repeats.
	ResumeCursor string `json:"resumeCursor"`
}

// ListRunItems returns a page of the run's items, in the order they were
// saved: the first page for an empty cursor, else the page after the one
// that returned cursor (as NextCursor or ResumeCursor); at most limit items
// (0 for the default; capped at the maximum). Paging while the run works
// skips and repeats no item. It fails with ErrNotFound for an unknown run
// and with ErrInvalid for a cursor that no page of this run returned.
func (s *Service) ListRunItems(ctx context.Context, scope Scope, runID, cursor string, limit int) (ItemPage, error) {
	p, err := s.page(scope, cursor, limit)
	if err != nil {
		return ItemPage{}, err
	}
	items, next, err := s.cfg.Store.ListRunItems(ctx, scope, runID, p)
	if err != nil {
		return ItemPage{}, about(cursorError(err), "run %q", runID)
	}
	if items == nil {
		items = []Item{}
	}
	page := ItemPage{Items: items, ResumeCursor: next}
	if len(items) == p.Limit {
		page.NextCursor = next
	}
	return page, nil
}

// A KeyPage is a page of a run's selected conversation keys.
type KeyPage struct {
	// Keys are the page's keys, sorted.
	Keys []string `json:"conversationKeys"`
	// NextCursor reads the next page; empty after the last.
	NextCursor string `json:"nextCursor,omitempty"`
}

// ListRunKeys returns a page of the keys of the conversations the run
// selected, sorted; cursor and limit as for [Service.ListRunItems].
func (s *Service) ListRunKeys(ctx context.Context, scope Scope, runID, cursor string, limit int) (KeyPage, error) {
	p, err := s.page(scope, cursor, limit)
	if err != nil {
		return KeyPage{}, err
	}
	keys, next, err := s.cfg.Store.ListRunKeys(ctx, scope, runID, p)
	if err != nil {
		return KeyPage{}, about(cursorError(err), "run %q", runID)
	}
	if keys == nil {
		keys = []string{}
	}
	return KeyPage{Keys: keys, NextCursor: next}, nil
}

func (s *Service) page(scope Scope, cursor string, limit int) (Page, error) {
	if err := scope.Validate(); err != nil {
		return Page{}, err
	}
	n, err := s.limit(limit)
	if err != nil {
		return Page{}, err
	}
	if len(cursor) > maxCursorLen {
		return Page{}, invalid("$.cursor", fmt.Sprintf("the cursor is %d bytes, more than %d", len(cursor), maxCursorLen))
	}
	return Page{Cursor: cursor, Limit: n}, nil
}

// maxCursorLen bounds a cursor a caller passes back.
const maxCursorLen = 1024

// cursorError turns a store's rejection of a cursor into a validation
// error at $.cursor; other errors pass through.
func cursorError(err error) error {
	var ve *extract.ValidationError
	if errors.Is(err, ErrInvalid) && !errors.As(err, &ve) {
		return invalid("$.cursor", "not a cursor this list returned")
	}
	return err
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
	runs, err := s.cfg.Store.ListRuns(ctx, scope, RunQuery{DefinitionKey: definitionKey, Limit: n})
	if err != nil {
		return nil, err
	}
	for i := range runs {
		runs[i].derive()
	}
	return runs, nil
}
