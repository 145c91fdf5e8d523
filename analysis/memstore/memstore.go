// Package memstore is the in-memory [analysis.Store]: the default for
// hosts that embed debrief without a database, and for tests. Everything
// is lost when the process ends. It passes analysis/storetest.
package memstore

import (
	"context"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/cases"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
)

// Store is an in-memory [analysis.Store]. The zero value is not usable:
// call [New]. It is safe for concurrent use; every method holds one lock
// for its whole duration, which makes each of them atomic.
type Store struct {
	mu     sync.Mutex
	scopes map[analysis.Scope]*scopeData
	runs   []runRef // every run, in creation order, for ClaimRun
}

type runRef struct {
	scope analysis.Scope
	id    string
}

type scopeData struct {
	defs     map[string]*analysis.Definition              // by ID
	defKeys  map[string]string                            // key → ID
	retired  map[string]bool                              // keys of deleted definitions
	convs    map[string]*analysis.Conversation            // by ID
	convKeys map[string]string                            // key → ID
	analyzed map[string]map[string]bool                   // definition key → conversation keys
	runs     map[string]*runData                          // by ID
	slots    map[string]map[time.Time]analysis.SlotRecord // definition key → slot → its record
}

type runData struct {
	run   analysis.Run
	items map[string]int // conversation key → index in run.Items
}

// New returns an empty store.
func New() *Store {
	return &Store{scopes: map[analysis.Scope]*scopeData{}}
}

var _ analysis.Store = (*Store)(nil)

// scope returns the data of sc, creating it when create is set; nil if it
// does not exist and create is not set.
func (s *Store) scope(sc analysis.Scope, create bool) *scopeData {
	d, ok := s.scopes[sc]
	if !ok && create {
		d = &scopeData{
			defs: map[string]*analysis.Definition{}, defKeys: map[string]string{}, retired: map[string]bool{},
			convs: map[string]*analysis.Conversation{}, convKeys: map[string]string{},
			analyzed: map[string]map[string]bool{}, runs: map[string]*runData{},
			slots: map[string]map[time.Time]analysis.SlotRecord{},
		}
		s.scopes[sc] = d
	}
	return d
}

// CreateDefinition implements [analysis.DefinitionStore].
func (s *Store) CreateDefinition(ctx context.Context, sc analysis.Scope, d analysis.Definition) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, true)
	if _, taken := data.defs[d.ID]; taken {
		return analysis.ErrConflict
	}
	if _, taken := data.defKeys[d.Key]; taken || data.retired[d.Key] {
		return analysis.ErrConflict
	}
	c := cloneDefinition(d)
	data.defs[d.ID] = &c
	data.defKeys[d.Key] = d.ID
	return nil
}

// GetDefinition implements [analysis.DefinitionStore].
func (s *Store) GetDefinition(ctx context.Context, sc analysis.Scope, idOrKey string) (analysis.Definition, error) {
	if err := ctx.Err(); err != nil {
		return analysis.Definition{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.definition(sc, idOrKey)
	if d == nil {
		return analysis.Definition{}, analysis.ErrNotFound
	}
	return cloneDefinition(*d), nil
}

func (s *Store) definition(sc analysis.Scope, idOrKey string) *analysis.Definition {
	if data := s.scope(sc, false); data != nil {
		return byIDOrKey(data.defs, data.defKeys, idOrKey)
	}
	return nil
}

// byIDOrKey returns the object whose ID or, failing that, key is idOrKey.
func byIDOrKey[T any](byID map[string]*T, keys map[string]string, idOrKey string) *T {
	if v, ok := byID[idOrKey]; ok {
		return v
	}
	if id, ok := keys[idOrKey]; ok {
		return byID[id]
	}
	return nil
}

// UpdateDefinition implements [analysis.DefinitionStore].
func (s *Store) UpdateDefinition(ctx context.Context, sc analysis.Scope, d analysis.Definition) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, false)
	if data == nil || data.defs[d.ID] == nil {
		return analysis.ErrNotFound
	}
	if data.defs[d.ID].Key != d.Key {
		return analysis.ErrConflict
	}
	if data.inProgress(d.Key) {
		return analysis.ErrRunInProgress
	}
	c := cloneDefinition(d)
	data.defs[d.ID] = &c
	return nil
}

// DeleteDefinition implements [analysis.DefinitionStore].
func (s *Store) DeleteDefinition(ctx context.Context, sc analysis.Scope, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, false)
	if data == nil || data.defs[id] == nil {
		return analysis.ErrNotFound
	}
	key := data.defs[id].Key
	if data.inProgress(key) {
		return analysis.ErrRunInProgress
	}
	delete(data.defs, id)
	delete(data.defKeys, key)
	data.retired[key] = true
	return nil
}

// ListDefinitions implements [analysis.DefinitionStore].
func (s *Store) ListDefinitions(ctx context.Context, sc analysis.Scope, q analysis.ListQuery) ([]analysis.Definition, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []analysis.Definition{}
	data := s.scope(sc, false)
	if data == nil {
		return out, nil
	}
	var found []*analysis.Definition
	for _, d := range data.defs {
		if matches(q.Search, d.Name, d.Key) {
			found = append(found, d)
		}
	}
	found = first(found, q.Limit, func(a, b *analysis.Definition) bool { return newerFirst(a.CreatedAt, b.CreatedAt, a.Key, b.Key) })
	for _, d := range found {
		out = append(out, cloneDefinition(*d))
	}
	return out, nil
}

// ListScheduled implements [analysis.DefinitionStore].
func (s *Store) ListScheduled(ctx context.Context) ([]analysis.ScopedDefinition, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []analysis.ScopedDefinition{}
	for sc, data := range s.scopes {
		for _, d := range data.defs {
			if d.Schedule != nil && d.Schedule.Enabled {
				out = append(out, analysis.ScopedDefinition{Scope: sc, Definition: cloneDefinition(*d)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope != out[j].Scope {
			return out[i].Scope.String() < out[j].Scope.String()
		}
		return out[i].Definition.Key < out[j].Definition.Key
	})
	return out, nil
}

// CreateConversations implements [analysis.ConversationStore].
func (s *Store) CreateConversations(ctx context.Context, sc analysis.Scope, cs []analysis.Conversation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, true)
	ids, keys := map[string]bool{}, map[string]bool{}
	for _, c := range cs {
		_, idTaken := data.convs[c.ID]
		_, keyTaken := data.convKeys[c.Key]
		if idTaken || keyTaken || ids[c.ID] || keys[c.Key] {
			return analysis.ErrConflict
		}
		ids[c.ID], keys[c.Key] = true, true
	}
	for _, c := range cs {
		cc := cloneConversation(c)
		data.convs[c.ID] = &cc
		data.convKeys[c.Key] = c.ID
	}
	return nil
}

// GetConversation implements [analysis.ConversationStore].
func (s *Store) GetConversation(ctx context.Context, sc analysis.Scope, idOrKey string) (analysis.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return analysis.Conversation{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conversation(sc, idOrKey)
	if c == nil {
		return analysis.Conversation{}, analysis.ErrNotFound
	}
	return cloneConversation(*c), nil
}

func (s *Store) conversation(sc analysis.Scope, idOrKey string) *analysis.Conversation {
	if data := s.scope(sc, false); data != nil {
		return byIDOrKey(data.convs, data.convKeys, idOrKey)
	}
	return nil
}

// GetConversations implements [analysis.ConversationStore].
func (s *Store) GetConversations(ctx context.Context, sc analysis.Scope, keys []string) ([]analysis.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []analysis.Conversation{}
	data := s.scope(sc, false)
	if data == nil {
		return out, nil
	}
	for _, k := range keys {
		if id, ok := data.convKeys[k]; ok {
			out = append(out, cloneConversation(*data.convs[id]))
		}
	}
	return out, nil
}

// DeleteConversation implements [analysis.ConversationStore].
func (s *Store) DeleteConversation(ctx context.Context, sc analysis.Scope, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, false)
	if data == nil || data.convs[id] == nil {
		return analysis.ErrNotFound
	}
	key := data.convs[id].Key
	delete(data.convs, id)
	delete(data.convKeys, key)
	for _, set := range data.analyzed {
		delete(set, key)
	}
	return nil
}

// ListConversations implements [analysis.ConversationStore].
func (s *Store) ListConversations(ctx context.Context, sc analysis.Scope, q analysis.ConversationQuery) ([]analysis.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []analysis.Conversation{}
	data := s.scope(sc, false)
	if data == nil {
		return out, nil
	}
	var found []*analysis.Conversation
	for _, c := range data.convs {
		if data.selects(c, q) && matches(q.Search, c.Name, c.Key) {
			found = append(found, c)
		}
	}
	found = first(found, q.Limit, func(a, b *analysis.Conversation) bool { return newerFirst(a.CreatedAt, b.CreatedAt, a.Key, b.Key) })
	for _, c := range found {
		out = append(out, cloneConversation(*c))
	}
	return out, nil
}

// ConversationKeys implements [analysis.ConversationStore].
func (s *Store) ConversationKeys(ctx context.Context, sc analysis.Scope, q analysis.ConversationQuery) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	data := s.scope(sc, false)
	if data == nil {
		return out, nil
	}
	for _, c := range data.convs {
		if data.selects(c, q) {
			out = append(out, c.Key)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (d *scopeData) selects(c *analysis.Conversation, q analysis.ConversationQuery) bool {
	if q.Tag != "" && !slices.Contains(c.Tags, q.Tag) {
		return false
	}
	if q.UnanalyzedBy != "" && d.analyzed[q.UnanalyzedBy][c.Key] {
		return false
	}
	return true
}

// CreateRun implements [analysis.RunStore].
func (s *Store) CreateRun(ctx context.Context, sc analysis.Scope, r analysis.Run) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, true)
	if _, taken := data.runs[r.ID]; taken {
		return analysis.ErrConflict
	}
	if data.inProgress(r.DefinitionKey) {
		return analysis.ErrRunInProgress
	}
	if r.Trigger.Slot != nil {
		slot := r.Trigger.Slot.UTC()
		if _, taken := data.slots[r.DefinitionKey][slot]; taken {
			return analysis.ErrSlotTaken
		}
		data.slot(r.DefinitionKey)[slot] = analysis.SlotRecord{Slot: slot, RunID: r.ID, At: r.CreatedAt}
	}
	rd := &runData{run: cloneRun(r), items: map[string]int{}}
	for i, it := range rd.run.Items {
		rd.items[it.ConversationKey] = i
	}
	data.runs[r.ID] = rd
	s.runs = append(s.runs, runRef{scope: sc, id: r.ID})
	return nil
}

func (d *scopeData) slot(defKey string) map[time.Time]analysis.SlotRecord {
	m, ok := d.slots[defKey]
	if !ok {
		m = map[time.Time]analysis.SlotRecord{}
		d.slots[defKey] = m
	}
	return m
}

func (d *scopeData) inProgress(defKey string) bool {
	for _, rd := range d.runs {
		if rd.run.DefinitionKey == defKey && rd.run.Status.InProgress() {
			return true
		}
	}
	return false
}

// GetRun implements [analysis.RunStore].
func (s *Store) GetRun(ctx context.Context, sc analysis.Scope, id string) (analysis.Run, error) {
	if err := ctx.Err(); err != nil {
		return analysis.Run{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd := s.run(sc, id)
	if rd == nil {
		return analysis.Run{}, analysis.ErrNotFound
	}
	return cloneRun(rd.run), nil
}

func (s *Store) run(sc analysis.Scope, id string) *runData {
	data := s.scope(sc, false)
	if data == nil {
		return nil
	}
	return data.runs[id]
}

// ListRuns implements [analysis.RunStore].
func (s *Store) ListRuns(ctx context.Context, sc analysis.Scope, q analysis.RunQuery) ([]analysis.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []analysis.Run{}
	data := s.scope(sc, false)
	if data == nil {
		return out, nil
	}
	var found []*analysis.Run
	for _, rd := range data.runs {
		r := &rd.run
		if q.DefinitionKey != "" && r.DefinitionKey != q.DefinitionKey {
			continue
		}
		if q.Status != "" && r.Status != q.Status {
			continue
		}
		if !q.FinishedAfter.IsZero() && (r.FinishedAt == nil || r.FinishedAt.Before(q.FinishedAfter)) {
			continue
		}
		found = append(found, r)
	}
	found = first(found, q.Limit, func(a, b *analysis.Run) bool { return newerFirst(a.CreatedAt, b.CreatedAt, a.ID, b.ID) })
	for _, r := range found {
		c := *r
		c.Items = nil // not copied: lists leave items out
		c = cloneRun(c)
		out = append(out, c)
	}
	return out, nil
}

// ClaimRun implements [analysis.RunStore].
func (s *Store) ClaimRun(ctx context.Context, owner string, now, leaseUntil time.Time) (analysis.Scope, analysis.Run, bool, error) {
	if err := ctx.Err(); err != nil {
		return analysis.Scope{}, analysis.Run{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var pick *runRef
	var pickRun *runData
	better := func(rd *runData) bool {
		if pickRun == nil {
			return true
		}
		a, b := rd.run, pickRun.run
		if a.Status != b.Status {
			return a.Status == analysis.RunPending
		}
		return a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID)
	}
	for i := range s.runs {
		ref := &s.runs[i]
		rd := s.scopes[ref.scope].runs[ref.id]
		claimable := rd.run.Status == analysis.RunPending ||
			(rd.run.Status == analysis.RunRunning && rd.run.Lease.ExpiresAt.Before(now))
		if claimable && better(rd) {
			pick, pickRun = ref, rd
		}
	}
	if pick == nil {
		return analysis.Scope{}, analysis.Run{}, false, nil
	}
	r := &pickRun.run
	r.Status = analysis.RunRunning
	if r.StartedAt == nil {
		t := now
		r.StartedAt = &t
	}
	r.Lease = analysis.Lease{Owner: owner, ExpiresAt: leaseUntil, Attempts: r.Lease.Attempts + 1}
	return pick.scope, cloneRun(*r), true, nil
}

// held returns the run if owner holds it.
func (s *Store) held(sc analysis.Scope, runID, owner string) (*runData, error) {
	rd := s.run(sc, runID)
	if rd == nil {
		return nil, analysis.ErrNotFound
	}
	if rd.run.Status != analysis.RunRunning || rd.run.Lease.Owner != owner {
		return nil, analysis.ErrLeaseLost
	}
	return rd, nil
}

// RenewLease implements [analysis.RunStore].
func (s *Store) RenewLease(ctx context.Context, sc analysis.Scope, runID, owner string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd, err := s.held(sc, runID, owner)
	if err != nil {
		return err
	}
	rd.run.Lease.ExpiresAt = until
	return nil
}

// ReleaseRun implements [analysis.RunStore].
func (s *Store) ReleaseRun(ctx context.Context, sc analysis.Scope, runID, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd, err := s.held(sc, runID, owner)
	if err != nil {
		return err
	}
	rd.run.Lease = analysis.Lease{Attempts: max(rd.run.Lease.Attempts-1, 0)}
	return nil
}

// SaveItem implements [analysis.RunStore].
func (s *Store) SaveItem(ctx context.Context, sc analysis.Scope, runID, owner string, item analysis.Item, write *analysis.FieldsWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd, err := s.held(sc, runID, owner)
	if err != nil {
		return err
	}
	it := cloneItem(item)
	if i, ok := rd.items[item.ConversationKey]; ok {
		rd.run.Items[i] = it
	} else {
		rd.items[item.ConversationKey] = len(rd.run.Items)
		rd.run.Items = append(rd.run.Items, it)
	}
	rd.run.Usage = rd.run.Usage.Add(item.Usage)
	rd.run.Progress.Done = len(rd.run.Items)
	data := s.scopes[sc]
	if item.Error == "" {
		set, ok := data.analyzed[rd.run.DefinitionKey]
		if !ok {
			set = map[string]bool{}
			data.analyzed[rd.run.DefinitionKey] = set
		}
		set[item.ConversationKey] = true
	}
	if write != nil {
		if id, ok := data.convKeys[item.ConversationKey]; ok {
			c := data.convs[id]
			if c.ExtractedFields == nil {
				c.ExtractedFields = map[string]any{}
			}
			maps.Copy(c.ExtractedFields, cloneValues(write.Fields))
			at := write.At
			c.LastAnalyzedAt = &at
		}
	}
	return nil
}

// FinishRun implements [analysis.RunStore].
func (s *Store) FinishRun(ctx context.Context, sc analysis.Scope, runID, owner string, f analysis.Finish) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd, err := s.held(sc, runID, owner)
	if err != nil {
		return err
	}
	r := &rd.run
	r.Status = f.Status
	r.Aggregate = cloneAggregate(f.Aggregate)
	r.Error = f.Error
	at := f.At
	r.FinishedAt = &at
	r.Lease.Owner, r.Lease.ExpiresAt = "", time.Time{}
	return nil
}

// CancelRun implements [analysis.RunStore].
func (s *Store) CancelRun(ctx context.Context, sc analysis.Scope, runID string, f analysis.Finish) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd := s.run(sc, runID)
	if rd == nil {
		return analysis.ErrNotFound
	}
	if !rd.run.Status.InProgress() {
		return analysis.ErrConflict
	}
	r := &rd.run
	r.Status, r.Aggregate, r.Error = f.Status, cloneAggregate(f.Aggregate), f.Error
	at := f.At
	r.FinishedAt = &at
	r.Lease.Owner, r.Lease.ExpiresAt = "", time.Time{}
	return nil
}

// SkipSlot implements [analysis.RunStore].
func (s *Store) SkipSlot(ctx context.Context, sc analysis.Scope, definitionKey string, slot time.Time, reason string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, true)
	slot = slot.UTC()
	if _, taken := data.slots[definitionKey][slot]; taken {
		return analysis.ErrSlotTaken
	}
	data.slot(definitionKey)[slot] = analysis.SlotRecord{Slot: slot, Skipped: reason, At: at}
	return nil
}

// ListSlots implements [analysis.RunStore].
func (s *Store) ListSlots(ctx context.Context, sc analysis.Scope, definitionKey string, limit int) ([]analysis.SlotRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []analysis.SlotRecord{}
	data := s.scope(sc, false)
	if data == nil {
		return out, nil
	}
	for _, rec := range data.slots[definitionKey] {
		out = append(out, rec)
	}
	return first(out, limit, func(a, b analysis.SlotRecord) bool { return a.Slot.After(b.Slot) }), nil
}

func matches(search string, fields ...string) bool {
	if search == "" {
		return true
	}
	search = cases.Fold().String(search)
	for _, f := range fields {
		if strings.Contains(cases.Fold().String(f), search) {
			return true
		}
	}
	return false
}

func newerFirst(a, b time.Time, ka, kb string) bool {
	if !a.Equal(b) {
		return a.After(b)
	}
	return ka < kb
}

// first returns the n first elements of s in the order less defines (all of
// them when n ≤ 0), reordering s. A small n costs one pass, not a sort.
func first[T any](s []T, n int, less func(a, b T) bool) []T {
	if n <= 0 || n >= len(s)/8 {
		sort.Slice(s, func(i, j int) bool { return less(s[i], s[j]) })
		if n > 0 && len(s) > n {
			return s[:n]
		}
		return s
	}
	// Selection: keep s[:n] sorted; each element better than the worst of
	// them is inserted in place, pushing the worst out.
	sort.Slice(s[:n], func(i, j int) bool { return less(s[i], s[j]) })
	for i := n; i < len(s); i++ {
		x := s[i]
		if !less(x, s[n-1]) {
			continue
		}
		j := n - 1
		for j > 0 && less(x, s[j-1]) {
			s[j] = s[j-1]
			j--
		}
		s[j] = x
	}
	return s[:n]
}

func cloneDefinition(d analysis.Definition) analysis.Definition {
	d.FieldSet = cloneFieldSet(d.FieldSet)
	if d.Modes.Judge != nil {
		j := *d.Modes.Judge
		if j.Threshold != nil {
			t := *j.Threshold
			j.Threshold = &t
		}
		d.Modes.Judge = &j
	}
	if d.Schedule != nil {
		sch := *d.Schedule
		d.Schedule = &sch
	}
	return d
}

func cloneFieldSet(fs extract.FieldSet) extract.FieldSet {
	if fs == nil {
		return nil
	}
	out := make(extract.FieldSet, len(fs))
	for i, f := range fs {
		f.EnumValues = slices.Clone(f.EnumValues)
		out[i] = f
	}
	return out
}

func cloneConversation(c analysis.Conversation) analysis.Conversation {
	c.Transcript = slices.Clone(c.Transcript)
	c.ReferenceFields = cloneValues(c.ReferenceFields)
	c.Tags = slices.Clone(c.Tags)
	c.ExtractedFields = cloneValues(c.ExtractedFields)
	if c.LastAnalyzedAt != nil {
		t := *c.LastAnalyzedAt
		c.LastAnalyzedAt = &t
	}
	return c
}

// cloneValues copies a map of scalar values (the service admits no other).
func cloneValues(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

func cloneRun(r analysis.Run) analysis.Run {
	r.Selection.ConversationKeys = slices.Clone(r.Selection.ConversationKeys)
	if r.Selection.Seed != nil {
		seed := *r.Selection.Seed
		r.Selection.Seed = &seed
	}
	if r.Trigger.Slot != nil {
		t := *r.Trigger.Slot
		r.Trigger.Slot = &t
	}
	r.ConversationKeys = slices.Clone(r.ConversationKeys)
	r.Aggregate = cloneAggregate(r.Aggregate)
	items := make([]analysis.Item, len(r.Items))
	for i, it := range r.Items {
		items[i] = cloneItem(it)
	}
	r.Items = items // never nil: an empty list marshals as []
	for _, p := range []**time.Time{&r.StartedAt, &r.FinishedAt} {
		if *p != nil {
			t := **p
			*p = &t
		}
	}
	return r
}

func cloneAggregate(a *analysis.Aggregate) *analysis.Aggregate {
	if a == nil {
		return nil
	}
	c := *a
	for _, p := range []**float64{&c.PassRate, &c.AvgJudgeScore, &c.AvgExtractionAccuracy} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return &c
}

func cloneItem(it analysis.Item) analysis.Item {
	it.ExtractedFields = cloneValues(it.ExtractedFields)
	it.Missing = slices.Clone(it.Missing)
	it.Extra = slices.Clone(it.Extra)
	if it.Invalid != nil {
		inv := make([]extract.FieldIssue, len(it.Invalid))
		for i, fi := range it.Invalid {
			fi.Value = slices.Clone(fi.Value)
			inv[i] = fi
		}
		it.Invalid = inv
	}
	if it.Judge != nil {
		j := *it.Judge
		it.Judge = &j
	}
	if it.Accuracy != nil {
		a := *it.Accuracy
		if a.Score != nil {
			s := *a.Score
			a.Score = &s
		}
		a.PerField = maps.Clone(a.PerField)
		for k, fr := range a.PerField {
			if fr.F1 != nil {
				f := *fr.F1
				fr.F1 = &f
				a.PerField[k] = fr
			}
		}
		a.InvalidReference = slices.Clone(a.InvalidReference)
		a.UnknownReferenceKeys = slices.Clone(a.UnknownReferenceKeys)
		it.Accuracy = &a
	}
	return it
}
