package timeline

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Page sizes of [Store.List].
const (
	// DefaultPageSize is the page size used when none is given.
	DefaultPageSize = 20
	// MaxPageSize is the largest page size accepted.
	MaxPageSize = 100
)

// ListFilter narrows [Store.List].
type ListFilter struct {
	// ActiveflowID, when set, keeps only the analyses of that flow.
	ActiveflowID string
}

// PageRequest asks for one page of a list.
type PageRequest struct {
	// Size is the number of items wanted, 1 to [MaxPageSize]; 0 means
	// [DefaultPageSize]. Any other value is [ErrInvalid].
	Size int
	// Token is the NextToken of the previous page, or "" for the first. A
	// token is good only for the list it came from: the same customer and
	// the same filter.
	Token string
}

// A Page is one page of a list.
type Page struct {
	// Items are the analyses of the page, newest first.
	Items []Analysis
	// NextToken fetches the next page of the same list (same customer, same
	// filter); "" on the last page. It is opaque.
	NextToken string
}

// A Store keeps analyses. Implementations must be safe for concurrent use
// and observe these rules (the conformance suite in package
// timeline/storetest checks them):
//
//   - Every method returns promptly with ctx.Err() (possibly wrapped) once
//     ctx is done, and stores nothing then.
//   - Create stores a — a new analysis with status progressing and an id
//     not yet used — as the latest analysis of its flow (a.CustomerID,
//     a.ActiveflowID), unless the flow already has a progressing analysis
//     or the flow's latest analysis is not the one whose id is prevID (""
//     meaning that the flow has no analysis yet). Then nothing is stored
//     and Create returns the flow's latest analysis with created false
//     (when prevID names an analysis but the flow has none, [ErrNotFound]).
//     This check and the insert are one atomic step with respect to every
//     other Create and Finish: however many Creates race for one flow with
//     the same prevID, exactly one stores its analysis. An analysis that is
//     not progressing, lacks an id, customer or flow, or reuses an id is
//     refused with [ErrInvalid] or, for a reused id, [ErrConflict].
//   - Finish records the end of a progressing analysis: it sets Status
//     (completed or failed, else [ErrInvalid]), Result, Error and TMUpdate
//     from a, and keeps every other stored field. It returns [ErrNotFound]
//     when no analysis a.ID belongs to a.CustomerID, and [ErrConflict] when
//     the stored analysis is no longer progressing (it is left unchanged).
//   - Get and Latest return [ErrNotFound] when the analysis (or any
//     analysis of the flow) does not exist or belongs to another customer:
//     the same error, so that existence never leaks. Latest returns the
//     flow's analysis created last.
//   - List returns the customer's analyses (of one flow when the filter
//     says so), newest first — by TMCreate, then by id, both descending —
//     one page at a time. A page token that is malformed, or that the
//     store issued for another customer or another filter, is
//     [ErrInvalid]. (A token is not signed: one forged in the right form
//     for the same list only moves where the page starts.) A page size
//     outside 0 to [MaxPageSize] is [ErrInvalid]; 0 means
//     [DefaultPageSize].
//   - What a method returns shares nothing with the store: modifying it
//     changes nothing stored, and the store keeps no reference to its
//     arguments.
//   - A lookup by a string the store cannot hold (a database's text takes
//     no NUL and no invalid UTF-8) finds nothing, as any unknown string
//     does, and a page token holding one starts its page where it says;
//     such characters in a model's text are kept or written as U+FFFD,
//     never refused. Create may refuse ([ErrInvalid]) an id, customer or
//     flow the store cannot hold (the service makes ids that it can).
type Store interface {
	Create(ctx context.Context, a Analysis, prevID string) (current Analysis, created bool, err error)
	Finish(ctx context.Context, a Analysis) error
	Get(ctx context.Context, customerID, id string) (Analysis, error)
	Latest(ctx context.Context, customerID, flowID string) (Analysis, error)
	List(ctx context.Context, customerID string, filter ListFilter, page PageRequest) (Page, error)
}

// MemoryStore is the in-memory [Store]: analyses live as long as the
// process. The zero value is not usable; call [NewMemoryStore].
type MemoryStore struct {
	mu     sync.Mutex
	byID   map[string]*Analysis
	byFlow map[flowKey][]string // analysis ids, oldest first
}

type flowKey struct{ customer, flow string }

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: map[string]*Analysis{}, byFlow: map[flowKey][]string{}}
}

// Create implements [Store].
func (s *MemoryStore) Create(ctx context.Context, a Analysis, prevID string) (Analysis, bool, error) {
	if err := ctx.Err(); err != nil {
		return Analysis{}, false, err
	}
	var v validator
	if a.ID == "" {
		v.add("$.id", "the id is missing")
	}
	if a.CustomerID == "" {
		v.add("$.customer_id", "the customer id is missing")
	}
	if a.ActiveflowID == "" {
		v.add("$.activeflow_id", "the flow id is missing")
	}
	if a.Status != StatusProgressing {
		v.add("$.status", fmt.Sprintf("%q: a new analysis must be progressing", a.Status))
	}
	if err := v.err(); err != nil {
		return Analysis{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[a.ID]; dup {
		return Analysis{}, false, fmt.Errorf("%w: analysis id %q is already used", ErrConflict, a.ID)
	}
	key := flowKey{a.CustomerID, a.ActiveflowID}
	ids := s.byFlow[key]
	if len(ids) > 0 {
		latest := s.byID[ids[len(ids)-1]]
		if latest.ID != prevID || latest.Status == StatusProgressing {
			return latest.Clone(), false, nil
		}
	} else if prevID != "" {
		return Analysis{}, false, fmt.Errorf("%w: previous analysis %q of the flow", ErrNotFound, prevID)
	}
	stored := a.Clone()
	s.byID[a.ID] = &stored
	s.byFlow[key] = append(ids, a.ID)
	return stored.Clone(), true, nil
}

// Finish implements [Store].
func (s *MemoryStore) Finish(ctx context.Context, a Analysis) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.Status != StatusCompleted && a.Status != StatusFailed {
		return &ValidationError{Problems: []Problem{{Path: "$.status", Message: fmt.Sprintf("%q: a finished analysis is completed or failed", a.Status)}}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, ok := s.byID[a.ID]
	if !ok || stored.CustomerID != a.CustomerID {
		return ErrNotFound
	}
	if stored.Status != StatusProgressing {
		return fmt.Errorf("%w: analysis %q is already %s", ErrConflict, a.ID, stored.Status)
	}
	stored.Status = a.Status
	stored.Result = a.Result.Clone()
	stored.Error = a.Error
	stored.TMUpdate = a.TMUpdate
	return nil
}

// Get implements [Store].
func (s *MemoryStore) Get(ctx context.Context, customerID, id string) (Analysis, error) {
	if err := ctx.Err(); err != nil {
		return Analysis{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byID[id]
	if !ok || a.CustomerID != customerID {
		return Analysis{}, ErrNotFound
	}
	return a.Clone(), nil
}

// Latest implements [Store].
func (s *MemoryStore) Latest(ctx context.Context, customerID, flowID string) (Analysis, error) {
	if err := ctx.Err(); err != nil {
		return Analysis{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.byFlow[flowKey{customerID, flowID}]
	if len(ids) == 0 {
		return Analysis{}, ErrNotFound
	}
	return s.byID[ids[len(ids)-1]].Clone(), nil
}

// List implements [Store].
func (s *MemoryStore) List(ctx context.Context, customerID string, filter ListFilter, page PageRequest) (Page, error) {
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}
	size, after, err := checkPage(customerID, filter, page)
	if err != nil {
		return Page{}, err
	}
	s.mu.Lock()
	var all []*Analysis
	if filter.ActiveflowID != "" {
		for _, id := range s.byFlow[flowKey{customerID, filter.ActiveflowID}] {
			all = append(all, s.byID[id])
		}
	} else {
		for _, a := range s.byID {
			if a.CustomerID == customerID {
				all = append(all, a)
			}
		}
	}
	slices.SortFunc(all, func(x, y *Analysis) int { return compareNewestFirst(x, y) })
	out := Page{Items: []Analysis{}}
	for _, a := range all {
		if after != nil && compareNewestFirst(a, after) <= 0 {
			continue
		}
		if len(out.Items) == size {
			last := out.Items[size-1]
			out.NextToken = encodeCursor(listKey(customerID, filter), last.TMCreate.Time, last.ID)
			break
		}
		out.Items = append(out.Items, a.Clone())
	}
	s.mu.Unlock()
	return out, nil
}

// compareNewestFirst orders analyses by TMCreate, then id, both descending.
func compareNewestFirst(x, y *Analysis) int {
	if c := y.TMCreate.Compare(x.TMCreate.Time); c != 0 {
		return c
	}
	return cmp.Compare(y.ID, x.ID)
}

// checkPage validates a page request of the list of customerID and filter
// and decodes its token into the last analysis of the previous page (nil
// for the first page).
func checkPage(customerID string, filter ListFilter, page PageRequest) (int, *Analysis, error) {
	var v validator
	size := page.Size
	if size == 0 {
		size = DefaultPageSize
	}
	if size < 1 || size > MaxPageSize {
		v.add("$.page_size", fmt.Sprintf("%d is outside 0 to %d (0 means %d)", page.Size, MaxPageSize, DefaultPageSize))
	}
	var after *Analysis
	if page.Token != "" {
		t, id, ok := decodeCursor(listKey(customerID, filter), page.Token)
		if !ok {
			v.add("$.page_token", "not a page token issued by this store for this list")
		} else {
			after = &Analysis{ID: id, TMCreate: Timestamp{t}}
		}
	}
	return size, after, v.err()
}

// A PagePosition is where a page of a list of analyses starts: after the
// analysis created at TMCreate with ID, in the list's order (TMCreate,
// then ID, both descending).
type PagePosition struct {
	// TMCreate is the creation time of the last analysis of the previous
	// page.
	TMCreate time.Time
	// ID is its id.
	ID string
}

// ResolvePage checks a page request of the list of customerID's analyses
// that filter selects, as every [Store] must, for stores other than
// [MemoryStore]: it returns the page's size and, for a page token, the
// position the page starts after (nil for the first page), or an error
// matching [ErrInvalid] for a size outside 0 to [MaxPageSize] or a token
// not issued for this list.
func ResolvePage(customerID string, filter ListFilter, page PageRequest) (int, *PagePosition, error) {
	size, after, err := checkPage(customerID, filter, page)
	if err != nil || after == nil {
		return size, nil, err
	}
	return size, &PagePosition{TMCreate: after.TMCreate.Time, ID: after.ID}, nil
}

// PageToken returns the token of the page that follows last, the last
// analysis of a page of the list of customerID's analyses that filter
// selects.
func PageToken(customerID string, filter ListFilter, last Analysis) string {
	return encodeCursor(listKey(customerID, filter), last.TMCreate.Time, last.ID)
}

// listKey names the list of customerID's analyses that filter selects; a
// page token carries it, so that it serves no other list.
func listKey(customerID string, filter ListFilter) string {
	h := fnv.New64a()
	h.Write([]byte(customerID))
	h.Write([]byte{0})
	h.Write([]byte(filter.ActiveflowID))
	return strconv.FormatUint(h.Sum64(), 36)
}

type cursor struct {
	L string `json:"l"` // the list, see listKey
	T int64  `json:"t"`
	I string `json:"i"`
}

func encodeCursor(list string, t time.Time, id string) string {
	b, _ := json.Marshal(cursor{L: list, T: t.UnixNano(), I: id}) // strings and an int: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor decodes tok, a token of the list named list.
func decodeCursor(list, tok string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return time.Time{}, "", false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c cursor
	if dec.Decode(&c) != nil || c.L != list || c.I == "" {
		return time.Time{}, "", false
	}
	if _, err := dec.Token(); err != io.EOF { // nothing may follow
		return time.Time{}, "", false
	}
	return time.Unix(0, c.T), c.I, true
}
