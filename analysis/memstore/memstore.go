// Package memstore is the in-memory [analysis.Store]: the default for
// hosts that embed debrief without a database, and for tests. Everything
// is lost when the process ends. It passes analysis/storetest.
package memstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/cases"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/schedule"
)

// Store is an in-memory [analysis.Store]. The zero value is not usable:
// call [New]. It is safe for concurrent use; every method holds one lock
// for its whole duration, which makes each of them atomic. Leases are
// judged by its clock (see [WithClock]).
type Store struct {
	mu     sync.Mutex
	clock  schedule.Clock
	scopes map[analysis.Scope]*scopeData
	active []*runData  // the runs in progress, by creation time then ID
	token  int64       // the last fencing token handed out
	notes  []*noteData // every scope's alert notifications, in the order queued
}

type scopeData struct {
	defs     map[string]*analysis.Definition              // by ID
	defKeys  map[string]string                            // key → ID
	retired  map[string]bool                              // keys of deleted definitions
	convs    map[string]*analysis.Conversation            // by ID
	convKeys map[string]string                            // key → ID
	convExt  map[string]string                            // external ID → ID
	analyzed map[string]map[string]bool                   // definition key → conversation keys
	runs     map[string]*runData                          // by ID
	running  map[string]*runData                          // definition key → its run in progress
	slots    map[string]map[time.Time]analysis.SlotRecord // definition key → slot → its record
	rules    map[string]*analysis.AlertRule               // by ID
	ruleName map[string]string                            // name → ID
}

type runData struct {
	scope     analysis.Scope
	run       analysis.Run // without items; its Counters are kept current
	keys      []string     // sorted
	chunkSize int
	chunks    []chunkData
	firstOpen int // every chunk before it is done
	done      int // chunks done
	items     itemLog
	itemAt    map[string]int // conversation key → index in items
}

// itemLog keeps a run's items in save order, in fixed-size blocks, so that
// appending never copies what is stored.
type itemLog struct {
	blocks [][]analysis.Item
	n      int
}

const itemBlock = 256

func (l *itemLog) len() int { return l.n }

func (l *itemLog) at(i int) *analysis.Item { return &l.blocks[i/itemBlock][i%itemBlock] }

func (l *itemLog) append(it analysis.Item) {
	if l.n%itemBlock == 0 {
		l.blocks = append(l.blocks, make([]analysis.Item, 0, itemBlock))
	}
	b := &l.blocks[len(l.blocks)-1]
	*b = append(*b, it)
	l.n++
}

type chunkData struct {
	done     bool
	held     bool
	owner    string // who holds it, for the record: writes are told apart by token
	token    int64
	expires  time.Time
	attempts int
}

// An Option configures a [Store].
type Option func(*Store)

// WithClock makes the store judge leases by c; the default is the system
// clock.
func WithClock(c schedule.Clock) Option {
	return func(s *Store) { s.clock = c }
}

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{scopes: map[analysis.Scope]*scopeData{}, clock: schedule.SystemClock{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

var _ analysis.Store = (*Store)(nil)

// scope returns the data of sc, creating it when create is set; nil if it
// does not exist and create is not set.
func (s *Store) scope(sc analysis.Scope, create bool) *scopeData {
	d, ok := s.scopes[sc]
	if !ok && create {
		d = &scopeData{
			defs: map[string]*analysis.Definition{}, defKeys: map[string]string{}, retired: map[string]bool{},
			convs: map[string]*analysis.Conversation{}, convKeys: map[string]string{}, convExt: map[string]string{},
			analyzed: map[string]map[string]bool{}, runs: map[string]*runData{}, running: map[string]*runData{},
			slots: map[string]map[time.Time]analysis.SlotRecord{},
			rules: map[string]*analysis.AlertRule{}, ruleName: map[string]string{},
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
func (s *Store) UpdateDefinition(ctx context.Context, sc analysis.Scope, d analysis.Definition, ifVersion int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, false)
	if data == nil || data.defs[d.ID] == nil {
		return analysis.ErrNotFound
	}
	if cur := data.defs[d.ID]; cur.Key != d.Key || cur.Version != ifVersion {
		return analysis.ErrConflict
	}
	if data.running[d.Key] != nil {
		return analysis.ErrRunInProgress
	}
	c := cloneDefinition(d)
	c.Version = ifVersion + 1
	data.defs[d.ID] = &c
	return nil
}

// DeleteDefinition implements [analysis.DefinitionStore].
func (s *Store) DeleteDefinition(ctx context.Context, sc analysis.Scope, id string, ifVersion int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, false)
	if data == nil || data.defs[id] == nil {
		return analysis.ErrNotFound
	}
	if ifVersion > 0 && data.defs[id].Version != ifVersion {
		return analysis.ErrConflict
	}
	key := data.defs[id].Key
	if data.running[key] != nil {
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
	if !data.creatable(cs, nil) {
		return analysis.ErrConflict
	}
	for _, c := range cs {
		data.create(c)
	}
	return nil
}

// creatable reports whether the conversations of cs not marked in existing
// can be created: none's ID, Key or ExternalID is taken in the scope or by
// another of them. Conversations marked in existing have their ExternalID
// checked for repeats only.
func (d *scopeData) creatable(cs []analysis.Conversation, existing []bool) bool {
	ids, keys, exts := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, c := range cs {
		if c.ExternalID != "" {
			if exts[c.ExternalID] {
				return false
			}
			exts[c.ExternalID] = true
		}
		if existing != nil && existing[i] {
			continue
		}
		_, idTaken := d.convs[c.ID]
		_, keyTaken := d.convKeys[c.Key]
		_, extTaken := d.convExt[c.ExternalID]
		if idTaken || keyTaken || c.ExternalID != "" && extTaken || ids[c.ID] || keys[c.Key] {
			return false
		}
		ids[c.ID], keys[c.Key] = true, true
	}
	return true
}

// create stores a copy of c.
func (d *scopeData) create(c analysis.Conversation) {
	cc := cloneConversation(c)
	d.convs[c.ID] = &cc
	d.convKeys[c.Key] = c.ID
	if c.ExternalID != "" {
		d.convExt[c.ExternalID] = c.ID
	}
}

// PutConversations implements [analysis.ConversationStore].
func (s *Store) PutConversations(ctx context.Context, sc analysis.Scope, cs []analysis.Conversation, onExisting analysis.OnExisting) ([]analysis.PutOutcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, true)
	existing := make([]bool, len(cs))
	for i, c := range cs {
		_, stored := data.convExt[c.ExternalID]
		existing[i] = stored && c.ExternalID != ""
	}
	if !data.creatable(cs, existing) {
		return nil, analysis.ErrConflict
	}
	out := make([]analysis.PutOutcome, len(cs))
	for i, c := range cs {
		if !existing[i] {
			data.create(c)
			out[i] = analysis.PutOutcome{Action: analysis.PutCreated, Conversation: c}
			continue
		}
		stored := data.convs[data.convExt[c.ExternalID]]
		if onExisting == analysis.SkipExisting {
			out[i] = analysis.PutOutcome{Action: analysis.PutSkipped, Conversation: cloneConversation(*stored)}
			continue
		}
		c = cloneConversation(c)
		if contentChanged(*stored, c) {
			for _, set := range data.analyzed {
				delete(set, stored.Key) // analysed no more: its content is new
			}
		}
		stored.Name, stored.Transcript, stored.ReferenceFields = c.Name, c.Transcript, c.ReferenceFields
		stored.Source, stored.Tags, stored.Evidence = c.Source, c.Tags, c.Evidence
		out[i] = analysis.PutOutcome{Action: analysis.PutUpdated, Conversation: cloneConversation(*stored)}
	}
	return out, nil
}

// contentChanged reports whether a new version of a conversation says
// something else: its transcript or its evidence differ.
func contentChanged(old, c analysis.Conversation) bool {
	// Compared as JSON values, as a database compares them: 1.50 and 1.5,
	// an int64 and the float64 of the same value, are the same number.
	var a, b any
	ra, _ := json.Marshal([]any{old.Transcript, old.Evidence})
	rb, _ := json.Marshal([]any{c.Transcript, c.Evidence})
	_ = json.Unmarshal(ra, &a)
	_ = json.Unmarshal(rb, &b)
	return !reflect.DeepEqual(a, b)
}

// KeysByExternalID implements [analysis.ConversationStore].
func (s *Store) KeysByExternalID(ctx context.Context, sc analysis.Scope, externalIDs []string) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	data := s.scope(sc, false)
	if data == nil {
		return out, nil
	}
	for _, ext := range externalIDs {
		if id, ok := data.convExt[ext]; ok && ext != "" {
			out[ext] = data.convs[id].Key
		}
	}
	return out, nil
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
	key, ext := data.convs[id].Key, data.convs[id].ExternalID
	delete(data.convs, id)
	delete(data.convKeys, key)
	if ext != "" {
		delete(data.convExt, ext)
	}
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
	folded := cases.Fold().String(q.Search)
	var found []*analysis.Conversation
	for _, c := range data.convs {
		if q.After != nil && !newerFirst(q.After.CreatedAt, c.CreatedAt, q.After.Key, c.Key) {
			continue // at or before the position
		}
		if data.selects(c, q) && (matches(q.Search, c.Name, c.Key) || said(folded, c.Transcript)) {
			found = append(found, c)
		}
	}
	found = first(found, q.Limit, func(a, b *analysis.Conversation) bool { return newerFirst(a.CreatedAt, b.CreatedAt, a.Key, b.Key) })
	for _, c := range found {
		out = append(out, cloneConversation(*c))
	}
	return out, nil
}

// ExistingKeys implements [analysis.ConversationStore].
func (s *Store) ExistingKeys(ctx context.Context, sc analysis.Scope, keys []string) ([]string, error) {
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
	for _, k := range keys {
		if _, ok := data.convKeys[k]; ok {
			out = append(out, k)
		}
	}
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
func (s *Store) CreateRun(ctx context.Context, sc analysis.Scope, r analysis.Run, sel analysis.KeySelection) (analysis.Run, error) {
	if err := ctx.Err(); err != nil {
		return analysis.Run{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data := s.scope(sc, true)
	d := byIDOrKey(data.defs, data.defKeys, r.DefinitionKey)
	switch {
	case d == nil || d.Key != r.DefinitionKey:
		return analysis.Run{}, analysis.ErrNotFound
	case d.Version != r.DefinitionVersion:
		return analysis.Run{}, analysis.ErrConflict
	case data.runs[r.ID] != nil:
		return analysis.Run{}, analysis.ErrConflict
	case data.running[r.DefinitionKey] != nil:
		return analysis.Run{}, analysis.ErrRunInProgress
	}
	var slot time.Time
	if r.Trigger.Slot != nil {
		slot = r.Trigger.Slot.UTC()
		if _, taken := data.slots[r.DefinitionKey][slot]; taken {
			return analysis.Run{}, analysis.ErrSlotTaken
		}
	}
	keys := data.selectKeys(sel)
	if len(keys) > sel.Max {
		return analysis.Run{}, &analysis.SelectionSizeError{Selected: len(keys), Max: sel.Max}
	}
	size := max(sel.ChunkSize, 1)
	rd := &runData{scope: sc, keys: keys, chunkSize: size, chunks: make([]chunkData, max((len(keys)+size-1)/size, 1)), itemAt: map[string]int{}}
	rd.run = cloneRun(r)
	rd.run.Status, rd.run.Items, rd.run.Counters = analysis.RunPending, nil, analysis.Counters{}
	rd.run.Progress = analysis.Progress{Total: len(keys)}
	if r.Trigger.Slot != nil {
		data.slot(r.DefinitionKey)[slot] = analysis.SlotRecord{Slot: slot, RunID: r.ID, At: r.CreatedAt}
	}
	data.runs[r.ID] = rd
	data.running[r.DefinitionKey] = rd
	i := sort.Search(len(s.active), func(i int) bool { return earlier(rd, s.active[i]) })
	s.active = slices.Insert(s.active, i, rd)
	return rd.view(), nil
}

// earlier orders runs by creation time, then ID.
func earlier(a, b *runData) bool {
	if !a.run.CreatedAt.Equal(b.run.CreatedAt) {
		return a.run.CreatedAt.Before(b.run.CreatedAt)
	}
	return a.run.ID < b.run.ID
}

// selectKeys resolves a key selection, sorted.
func (d *scopeData) selectKeys(sel analysis.KeySelection) []string {
	if len(sel.Keys) > 0 {
		keys := slices.Clone(sel.Keys)
		sort.Strings(keys)
		return slices.Compact(keys)
	}
	q := analysis.ConversationQuery{Tag: sel.Tag, UnanalyzedBy: sel.UnanalyzedBy}
	keys := []string{}
	for _, c := range d.convs {
		if d.selects(c, q) {
			keys = append(keys, c.Key)
		}
	}
	if sel.SampleSize > 0 {
		return analysis.SampleKeys(keys, sel.SampleSize, sel.Seed)
	}
	sort.Strings(keys)
	return keys
}

// view returns a copy of the run as GetRun returns it.
func (rd *runData) view() analysis.Run {
	r := cloneRun(rd.run)
	r.Items = nil
	r.Counters = rd.run.Counters.Clone()
	r.Progress = analysis.Progress{Total: len(rd.keys)} // the service derives the rest from the counters
	return r
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
	return rd.view(), nil
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
	var found []*runData
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
		found = append(found, rd)
	}
	found = first(found, q.Limit, func(a, b *runData) bool { return newerFirst(a.run.CreatedAt, b.run.CreatedAt, a.run.ID, b.run.ID) })
	for _, rd := range found {
		out = append(out, rd.view())
	}
	return out, nil
}

// A cursor is the offset of the next element, bound to its list and run.
func makeCursor(list, runID string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(list + "\x00" + runID + "\x00" + strconv.Itoa(offset)))
}

func readCursor(cursor, list, runID string, n int) (int, error) {
	if cursor == "" {
		return 0, nil
	}
	bad := fmt.Errorf("memstore: not a cursor of this list: %w", analysis.ErrInvalid)
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, bad
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[0] != list || parts[1] != runID {
		return 0, bad
	}
	off, err := strconv.Atoi(parts[2])
	if err != nil || off < 0 || off > n {
		return 0, bad
	}
	return off, nil
}

// page returns the bounds of the page of a list of n elements; the next
// cursor is empty after the last unless the list grows (resume).
func page(p analysis.Page, list, runID string, n int, resume bool) (from, to int, next string, err error) {
	from, err = readCursor(p.Cursor, list, runID, n)
	if err != nil {
		return 0, 0, "", err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	to = min(from+limit, n)
	if to < n || resume {
		next = makeCursor(list, runID, to)
	}
	return from, to, next, nil
}

// ListRunItems implements [analysis.RunStore].
func (s *Store) ListRunItems(ctx context.Context, sc analysis.Scope, runID string, p analysis.Page) ([]analysis.Item, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd := s.run(sc, runID)
	if rd == nil {
		return nil, "", analysis.ErrNotFound
	}
	from, to, next, err := page(p, "items", runID, rd.items.len(), true)
	if err != nil {
		return nil, "", err
	}
	out := make([]analysis.Item, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, cloneItem(*rd.items.at(i)))
	}
	return out, next, nil
}

// ListRunKeys implements [analysis.RunStore].
func (s *Store) ListRunKeys(ctx context.Context, sc analysis.Scope, runID string, p analysis.Page) ([]string, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd := s.run(sc, runID)
	if rd == nil {
		return nil, "", analysis.ErrNotFound
	}
	from, to, next, err := page(p, "keys", runID, len(rd.keys), false)
	if err != nil {
		return nil, "", err
	}
	return slices.Clone(rd.keys[from:to]), next, nil
}

// ClaimChunk implements [analysis.RunStore].
func (s *Store) ClaimChunk(ctx context.Context, owner string, lease time.Duration) (analysis.Claim, bool, error) {
	if err := ctx.Err(); err != nil {
		return analysis.Claim{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now().UTC()
	for _, rd := range s.active {
		for i := rd.firstOpen; i < len(rd.chunks); i++ {
			ch := &rd.chunks[i]
			if ch.done || (ch.held && now.Before(ch.expires)) {
				continue
			}
			s.token++
			ch.held, ch.owner, ch.token, ch.expires = true, owner, s.token, now.Add(lease)
			ch.attempts++
			r := &rd.run
			if r.Status == analysis.RunPending {
				r.Status = analysis.RunRunning
				t := now
				r.StartedAt = &t
			}
			c := analysis.Claim{
				ChunkRef:      analysis.ChunkRef{Scope: rd.scope, RunID: r.ID, Chunk: i, Token: ch.token},
				DefinitionKey: r.DefinitionKey, DefinitionVersion: r.DefinitionVersion,
				Keys: []string{}, Attempt: ch.attempts, ExpiresAt: ch.expires,
			}
			lo, hi := i*rd.chunkSize, min((i+1)*rd.chunkSize, len(rd.keys))
			for _, k := range rd.keys[lo:hi] {
				if _, done := rd.itemAt[k]; !done {
					c.Keys = append(c.Keys, k)
				}
			}
			return c, true, nil
		}
	}
	return analysis.Claim{}, false, nil
}

// held returns the run and chunk c holds, or ErrLeaseLost.
func (s *Store) held(c analysis.ChunkRef) (*runData, *chunkData, error) {
	rd := s.run(c.Scope, c.RunID)
	if rd == nil {
		return nil, nil, analysis.ErrLeaseLost // nothing to hold, in this scope
	}
	if c.Chunk < 0 || c.Chunk >= len(rd.chunks) || rd.run.Status != analysis.RunRunning {
		return nil, nil, analysis.ErrLeaseLost
	}
	ch := &rd.chunks[c.Chunk]
	if !ch.held || ch.done || ch.token != c.Token || !s.clock.Now().Before(ch.expires) {
		return nil, nil, analysis.ErrLeaseLost
	}
	return rd, ch, nil
}

// RenewChunk implements [analysis.RunStore].
func (s *Store) RenewChunk(ctx context.Context, c analysis.ChunkRef, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ch, err := s.held(c)
	if err != nil {
		return err
	}
	ch.expires = s.clock.Now().UTC().Add(lease)
	return nil
}

// ReleaseChunk implements [analysis.RunStore].
func (s *Store) ReleaseChunk(ctx context.Context, c analysis.ChunkRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ch, err := s.held(c)
	if err != nil {
		return err
	}
	ch.held, ch.expires = false, time.Time{}
	ch.attempts = max(ch.attempts-1, 0)
	return nil
}

// SaveItem implements [analysis.RunStore].
func (s *Store) SaveItem(ctx context.Context, c analysis.ChunkRef, item analysis.Item, write *analysis.FieldsWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd, _, err := s.held(c)
	if err != nil {
		return err
	}
	if _, in := slices.BinarySearch(rd.keys, item.ConversationKey); !in {
		return fmt.Errorf("memstore: conversation %q is not in run %s: %w", item.ConversationKey, c.RunID, analysis.ErrInvalid)
	}
	it := cloneItem(item)
	counters := &rd.run.Counters
	if i, ok := rd.itemAt[item.ConversationKey]; ok {
		counters.SubItem(*rd.items.at(i))
		*rd.items.at(i) = it
	} else {
		rd.itemAt[item.ConversationKey] = rd.items.len()
		rd.items.append(it)
	}
	counters.AddItem(it)
	data := s.scopes[c.Scope]
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
			conv := data.convs[id]
			if conv.ExtractedFields == nil {
				conv.ExtractedFields = map[string]any{}
			}
			maps.Copy(conv.ExtractedFields, write.Fields) // scalar values: copying the entries copies them
			at := write.At
			conv.LastAnalyzedAt = &at
		}
	}
	return nil
}

// CompleteChunk implements [analysis.RunStore].
func (s *Store) CompleteChunk(ctx context.Context, c analysis.ChunkRef, at time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd, ch, err := s.held(c)
	if err != nil {
		return false, err
	}
	ch.done, ch.held = true, false
	rd.done++
	for rd.firstOpen < len(rd.chunks) && rd.chunks[rd.firstOpen].done {
		rd.firstOpen++
	}
	if rd.done < len(rd.chunks) {
		return false, nil
	}
	s.end(rd, analysis.RunCompleted, "", at)
	return true, nil
}

// end finishes a run in progress.
func (s *Store) end(rd *runData, status analysis.RunStatus, reason string, at time.Time) {
	r := &rd.run
	r.Status, r.Error = status, reason
	t := at
	r.FinishedAt = &t
	delete(s.scopes[rd.scope].running, r.DefinitionKey)
	if i := slices.Index(s.active, rd); i >= 0 {
		s.active = slices.Delete(s.active, i, i+1)
	}
}

// FailRun implements [analysis.RunStore].
func (s *Store) FailRun(ctx context.Context, c analysis.ChunkRef, reason string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rd, _, err := s.held(c)
	if err != nil {
		return err
	}
	s.end(rd, analysis.RunFailed, reason, at)
	return nil
}

// CancelRun implements [analysis.RunStore].
func (s *Store) CancelRun(ctx context.Context, sc analysis.Scope, runID, reason string, at time.Time) error {
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
	s.end(rd, analysis.RunFailed, reason, at)
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

// said reports whether any turn of t contains folded, a case-folded
// search.
func said(folded string, t extract.Transcript) bool {
	for _, turn := range t {
		if containsFolded(turn.Content, folded) {
			return true
		}
	}
	return false
}

func matches(search string, fields ...string) bool {
	if search == "" {
		return true
	}
	folded := cases.Fold().String(search)
	for _, f := range fields {
		if containsFolded(f, folded) {
			return true
		}
	}
	return false
}

// containsFolded reports whether s contains folded ignoring case; folded
// is already case-folded.
func containsFolded(s, folded string) bool {
	return strings.Contains(cases.Fold().String(s), folded)
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
	c.Evidence = deepCopy(reflect.ValueOf(c.Evidence)).Interface().(*analysis.Evidence)
	if c.LastAnalyzedAt != nil {
		t := *c.LastAnalyzedAt
		c.LastAnalyzedAt = &t
	}
	return c
}

// deepCopy copies v with everything its pointers, slices, maps and
// interfaces hold, nil ones staying nil; unexported fields of a struct (a
// time.Time's) are copied as they are.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Elem().Type())
		out.Elem().Set(deepCopy(v.Elem()))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(deepCopy(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return out
	}
	return v
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
	r.Aggregate = cloneAggregate(r.Aggregate)
	r.Items = nil // a store's runs carry no items
	r.Counters = r.Counters.Clone()
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

func (d *scopeData) slot(defKey string) map[time.Time]analysis.SlotRecord {
	m, ok := d.slots[defKey]
	if !ok {
		m = map[time.Time]analysis.SlotRecord{}
		d.slots[defKey] = m
	}
	return m
}
