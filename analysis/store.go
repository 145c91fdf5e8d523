package analysis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/debrief-go/debrief/extract"
)

// The errors of this package and of every [Store], checked with errors.Is.
var (
	// ErrNotFound: no such object in the scope (or one of another scope).
	ErrNotFound = errors.New("analysis: not found")
	// ErrConflict: the object collides with one that exists (a key or id
	// already taken), or another update of it landed first (its version
	// moved on).
	ErrConflict = errors.New("analysis: conflict")
	// ErrRunInProgress: the definition already has a pending or running run.
	ErrRunInProgress = errors.New("analysis: a run of this definition is already in progress")
	// ErrLeaseLost: the executor no longer holds the chunk it is writing to
	// — its lease lapsed, another executor claimed the chunk, or the run
	// ended.
	ErrLeaseLost = errors.New("analysis: chunk lease lost")
	// ErrSlotTaken: the cron slot was already fired or skipped.
	ErrSlotTaken = errors.New("analysis: schedule slot already taken")
	// ErrInvalid is matched by every validation error; the detail is in an
	// [*extract.ValidationError] listing every problem with its JSON path.
	ErrInvalid = extract.ErrInvalid
)

// wrapped is an error in its context: its text names what it is about and
// says the package once ("analysis: definition \"call-intent\" not found",
// "analysis: update definition \"x\": a run of this definition is already
// in progress"). errors.Is and errors.As see the error it wraps.
type wrapped struct {
	context string
	noun    bool // the context names a thing: "definition \"x\" not found"
	err     error
}

// Error names the context once, then the cause without its package prefix.
func (w *wrapped) Error() string {
	rest := strings.TrimPrefix(w.err.Error(), "analysis: ")
	if w.noun && rest == "not found" {
		return "analysis: " + w.context + " not found"
	}
	return "analysis: " + w.context + ": " + rest
}

// Unwrap returns the cause.
func (w *wrapped) Unwrap() error { return w.err }

// wrap puts err in the context of the operation format describes ("update
// definition %q"); nil stays nil.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &wrapped{context: fmt.Sprintf(format, args...), err: err}
}

// about puts err in the context of the thing format names ("definition
// %q"), so that a missing one reads "definition \"x\" not found"; nil
// stays nil.
func about(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &wrapped{context: fmt.Sprintf(format, args...), noun: true, err: err}
}

// A SelectionSizeError is returned by [RunStore.CreateRun] when a selection
// holds more conversations than a run may analyse. It matches [ErrInvalid].
type SelectionSizeError struct {
	// Selected counts the conversations the selection holds.
	Selected int
	// Max is the most a run may analyse.
	Max int
}

// Error says how many conversations were selected and how many are allowed.
func (e *SelectionSizeError) Error() string {
	return fmt.Sprintf("analysis: the selection has %d conversations, more than the %d a run may analyse", e.Selected, e.Max)
}

// Is makes the error match [ErrInvalid].
func (e *SelectionSizeError) Is(target error) bool { return target == ErrInvalid }

// A Store keeps definitions, conversations and runs. Hosts implement it on
// their own database, or use analysis/memstore; analysis/storetest is the
// conformance suite every implementation must pass (see "Implementing a
// Store" in the package documentation).
//
// The service validates everything before it reaches the store, so a store
// need not. Every method observes these rules:
//   - It is safe for concurrent use, by several processes sharing the
//     same database too.
//   - It honours ctx.
//   - Objects belong to a [Scope]: an object of another scope is never
//     returned, changed or counted, and is reported as [ErrNotFound] exactly
//     like a missing one.
//   - Values are copied in and out: a caller never shares memory with the
//     store.
//   - A method that fails changes nothing.
//   - A lookup by a string the store cannot hold (a database's text takes
//     no NUL and no invalid UTF-8) finds nothing, as any unknown string
//     does. Free text the store writes that it cannot hold — a reason
//     quoting a provider, a model's answer, an owner — is kept with each
//     such character as U+FFFD; an ID, key, name, tag or scope it cannot
//     hold may be refused with ErrInvalid (the service passes none).
//   - Nothing a method returns grows with the size of a run: a run's keys
//     and items are read in pages ([RunStore.ListRunKeys],
//     [RunStore.ListRunItems]) and work is claimed in bounded chunks.
//   - Time that decides who holds work is the store's own: lease expiry is
//     judged by the store's clock (a database's now()), never by the
//     caller's, so executors whose clocks disagree cannot both hold a
//     chunk. Timestamps of records (creation, finish) are the caller's.
type Store interface {
	DefinitionStore
	ConversationStore
	RunStore
	AlertStore
}

// A DefinitionStore keeps definitions.
type DefinitionStore interface {
	// CreateDefinition stores d, whose Version is 1. It fails with
	// ErrConflict if d's ID or Key is taken in the scope — the key of a
	// deleted definition stays taken, so that its runs, slots and analysis
	// marks never attach to a new one.
	CreateDefinition(ctx context.Context, scope Scope, d Definition) error
	// GetDefinition returns the definition whose ID or, failing that, Key is
	// idOrKey; ErrNotFound if none.
	GetDefinition(ctx context.Context, scope Scope, idOrKey string) (Definition, error)
	// UpdateDefinition replaces the definition with d's ID by d, stored with
	// Version ifVersion+1 whatever d.Version says — a compare-and-swap on
	// the version. It fails with ErrNotFound if there is none; with
	// ErrConflict if the stored Version is not ifVersion (another update
	// landed first) or d would change the stored Key; and with
	// ErrRunInProgress while the definition has a run in progress (a run
	// works with the definition as it was when it started).
	UpdateDefinition(ctx context.Context, scope Scope, d Definition, ifVersion int64) error
	// DeleteDefinition deletes the definition with the given ID; ErrNotFound
	// if none. With ifVersion above 0 it deletes only the definition at that
	// version, failing with ErrConflict otherwise (an update landed first).
	// It fails with ErrRunInProgress, deleting nothing, while the definition
	// has a run in progress. Runs of the definition are kept. It is atomic
	// with respect to [RunStore.CreateRun] and UpdateDefinition: of a delete
	// and a run creation or an update racing, exactly one succeeds.
	DeleteDefinition(ctx context.Context, scope Scope, id string, ifVersion int64) error
	// ListDefinitions returns the definitions whose name or key contains
	// q.Search ignoring case (all when empty), newest first (ties by key),
	// at most q.Limit of them.
	ListDefinitions(ctx context.Context, scope Scope, q ListQuery) ([]Definition, error)
	// ListScheduled returns every definition of every scope whose schedule
	// is enabled, for the scheduler. It is the only call that crosses scopes.
	ListScheduled(ctx context.Context) ([]ScopedDefinition, error)
}

// A ScopedDefinition is a definition with its scope.
type ScopedDefinition struct {
	// Scope is the definition's scope.
	Scope Scope
	// Definition is the definition.
	Definition Definition
}

// A ListQuery filters and bounds a list.
type ListQuery struct {
	// Search keeps the objects whose name or key contains it, ignoring case.
	Search string
	// Limit bounds the result; the service always sets it above 0.
	Limit int
}

// A ConversationStore keeps conversations.
type ConversationStore interface {
	// CreateConversations stores all of cs or, on any failure, none: it
	// fails with ErrConflict, storing nothing, if any ID, Key or ExternalID
	// (when not empty) is taken in the scope or repeated within cs.
	CreateConversations(ctx context.Context, scope Scope, cs []Conversation) error
	// PutConversations stores cs by their ExternalID: a conversation whose
	// ExternalID names one of the scope's is that one's new version, and
	// any other — one without an ExternalID among them — is created, as
	// CreateConversations would. With onExisting [UpdateExisting] (or
	// empty) a new version replaces the stored conversation's Name,
	// Transcript, ReferenceFields, Source, Tags and Evidence, while its ID,
	// Key, ExternalID, CreatedAt, ExtractedFields and LastAnalyzedAt stay
	// as stored (the new version's own ID and Key are ignored) — and when
	// its Transcript or Evidence differ from the stored ones, no
	// definition counts it as analysed any more, so that a selection of
	// unanalysed conversations takes it again; with
	// [SkipExisting] the stored conversation is left as it is. outcomes[i]
	// says what became of cs[i] and holds it as stored. It is all or
	// nothing: it fails with ErrConflict, storing nothing, if the ID or Key
	// of a conversation to create is taken in the scope or repeated among
	// those created, or an ExternalID is repeated within cs. It is atomic:
	// of calls racing with the same ExternalID, one creates the
	// conversation and each of the others updates it, skips it or fails
	// with ErrConflict — never a second conversation.
	PutConversations(ctx context.Context, scope Scope, cs []Conversation, onExisting OnExisting) (outcomes []PutOutcome, err error)
	// KeysByExternalID returns the keys of the scope's conversations whose
	// ExternalID is one of externalIDs, by ExternalID, without reading the
	// conversations; an ExternalID that names none is left out.
	KeysByExternalID(ctx context.Context, scope Scope, externalIDs []string) (map[string]string, error)
	// GetConversation returns the conversation whose ID or, failing that,
	// Key is idOrKey; ErrNotFound if none.
	GetConversation(ctx context.Context, scope Scope, idOrKey string) (Conversation, error)
	// GetConversations returns the conversations with the given keys, in
	// their order, leaving out keys that name none.
	GetConversations(ctx context.Context, scope Scope, keys []string) ([]Conversation, error)
	// ExistingKeys returns those of keys that name a conversation of the
	// scope, in their order, without reading the conversations.
	ExistingKeys(ctx context.Context, scope Scope, keys []string) ([]string, error)
	// DeleteConversation deletes the conversation with the given ID;
	// ErrNotFound if none.
	DeleteConversation(ctx context.Context, scope Scope, id string) error
	// ListConversations returns the conversations matching q, newest first
	// (ties by key), at most q.Limit of them. q.Search keeps those whose
	// name, key or transcript — any turn's content — contains it, ignoring
	// case.
	ListConversations(ctx context.Context, scope Scope, q ConversationQuery) ([]Conversation, error)
}

// OnExisting says what an ingest does with a conversation whose ExternalID
// names one already stored in the scope.
type OnExisting string

// The modes of an ingest; the empty OnExisting is UpdateExisting.
const (
	// UpdateExisting replaces the stored conversation's content with the
	// one ingested, keeping its identity and what runs wrote on it (see
	// [ConversationStore.PutConversations]).
	UpdateExisting OnExisting = "update"
	// SkipExisting leaves the stored conversation as it is.
	SkipExisting OnExisting = "skip"
)

// A PutAction is what [ConversationStore.PutConversations] did with one
// conversation.
type PutAction string

// The actions of a put.
const (
	// PutCreated: the conversation was stored anew.
	PutCreated PutAction = "created"
	// PutUpdated: it replaced the content of the stored conversation with
	// its ExternalID.
	PutUpdated PutAction = "updated"
	// PutSkipped: a conversation with its ExternalID was stored and left
	// as it was.
	PutSkipped PutAction = "skipped"
)

// A PutOutcome is what became of one conversation of a put.
type PutOutcome struct {
	// Action says whether it was created, updated or skipped.
	Action PutAction
	// Conversation is the conversation as stored after the put: for an
	// update or a skip, with the stored ID, Key and CreatedAt.
	Conversation Conversation
}

// A ConversationQuery filters conversations.
type ConversationQuery struct {
	ListQuery
	// Tag keeps the conversations with this tag, when set.
	Tag string
	// UnanalyzedBy keeps the conversations that no run of the definition
	// with this key has analysed (see [RunStore.SaveItem]), when set.
	UnanalyzedBy string
	// After, when set, keeps the conversations that come after it in the
	// list's order (newest first, ties by key): those created before
	// After.CreatedAt, and those created at the same instant whose key is
	// greater than After.Key. The service pages through a list with it.
	After *Position
}

// A Position is a place in a list ordered newest first, ties by key: the
// creation time and key of the last object of the previous page.
type Position struct {
	// CreatedAt is the object's creation time.
	CreatedAt time.Time
	// Key is the object's key.
	Key string
}

// A KeySelection says which conversations a new run analyses; the store
// resolves it when it creates the run, so that the keys never pass through
// the caller.
type KeySelection struct {
	// Keys, when not empty, are the conversations selected (strategy keys):
	// sorted, without repeats, each naming a conversation when the service
	// checked them. The filters below are then ignored.
	Keys []string
	// Tag keeps the conversations with this tag, when set.
	Tag string
	// UnanalyzedBy keeps the conversations that no run of the definition
	// with this key has analysed, when set.
	UnanalyzedBy string
	// SampleSize, when positive, keeps a sample of that many of the
	// conversations the filters select: those whose [SampleRank] under Seed
	// is lowest (all of them when fewer match). [SampleKeys] computes the
	// same sample in Go.
	SampleSize int
	// Seed is the seed of the sample.
	Seed uint64
	// Max bounds the conversations selected: the store fails with a
	// [*SelectionSizeError] when more would be. The service sets it above 0.
	Max int
	// ChunkSize is how many keys a chunk holds; the service sets it above 0.
	ChunkSize int
}

// A Page asks for one page of a paged list.
type Page struct {
	// Cursor is empty for the first page, else the next cursor the previous
	// page returned. It is opaque: only the store that made it reads it.
	Cursor string
	// Limit bounds the page; the service always sets it above 0.
	Limit int
}

// A ChunkRef names a claim on a chunk of a run. Every write an executor
// makes carries it; its Token fences writes of an executor that lost the
// chunk. A write whose ref does not hold its chunk — a stale token, a lapsed
// lease, a completed chunk, a run no longer running, or no such run in the
// ref's scope — fails with ErrLeaseLost and changes nothing.
type ChunkRef struct {
	// Scope is the run's scope.
	Scope Scope
	// RunID names the run.
	RunID string
	// Chunk is the chunk's index in the run, from 0.
	Chunk int
	// Token is the fencing token of the claim: each claim of a chunk gets a
	// token greater than any the chunk had before.
	Token int64
}

// A Claim is a chunk of a run that an executor claimed.
type Claim struct {
	ChunkRef
	// DefinitionKey and DefinitionVersion name the definition the run works
	// with.
	DefinitionKey string
	// DefinitionVersion is the definition's version when the run was
	// created.
	DefinitionVersion int64
	// Keys are the chunk's conversations that have no item yet, sorted —
	// at most the run's chunk size.
	Keys []string
	// Attempt counts the claims of this chunk, this one included (a
	// released claim does not count).
	Attempt int
	// ExpiresAt is when the lease lapses, by the store's clock.
	ExpiresAt time.Time
}

// A RunStore keeps runs, their keys and items, the chunks executors claim,
// and the schedule slots runs fired for.
//
// A run is created with its selected keys, sorted and cut into chunks of
// [KeySelection.ChunkSize] keys (a run without keys has one empty chunk, so
// that an executor completes it). Executors claim chunks independently,
// each under a lease renewed while they work; the run is running from the
// first claim, and completes — exactly once — when its last chunk is
// completed. Each item saved updates the run's [Counters] in the same
// atomic step, and the run's aggregate is computed from them.
type RunStore interface {
	// CreateRun stores r, which is pending, with the keys sel selects, and
	// returns it with Progress.Total set to their number. It fails with
	// ErrNotFound if the scope has no definition with r.DefinitionKey (it
	// was deleted: the check and the insert are atomic with
	// [DefinitionStore.DeleteDefinition]); with ErrConflict if r's ID is
	// taken or the definition's Version is not r.DefinitionVersion; with
	// ErrRunInProgress if the definition has a pending or running run; with
	// a [*SelectionSizeError] if more than sel.Max keys are selected; and —
	// when r was triggered by a schedule slot — with ErrSlotTaken if a run
	// was already created, or a skip recorded, for that definition and slot.
	// The checks and the insert are one atomic step: of concurrent calls
	// for one definition, at most one succeeds.
	CreateRun(ctx context.Context, scope Scope, r Run, sel KeySelection) (Run, error)
	// GetRun returns the run without its items (Items is nil), with its
	// Counters and Progress.Total; ErrNotFound if none. StartedAt is the
	// store's time of the first claim. The service derives Progress.Done,
	// Usage and the Aggregate of a finished run from the counters, so a
	// store may leave them zero.
	GetRun(ctx context.Context, scope Scope, id string) (Run, error)
	// ListRuns returns the runs matching q, newest first (ties by ID), at
	// most q.Limit of them, as GetRun returns them.
	ListRuns(ctx context.Context, scope Scope, q RunQuery) ([]Run, error)
	// ListRunItems returns a page of the run's items in the order they were
	// first saved (an item replaced keeps its place), at most p.Limit, and
	// next, the cursor of what comes after the page — the items there now
	// and those saved later — which is never empty: a page of fewer than
	// p.Limit items is the last for now, and its next cursor is the one to
	// poll for more. Paging while items are saved skips and repeats none. A
	// store may list an item a moment after its save, while the run is in
	// progress — a database store shows it once every transaction older than
	// the save has ended, so that no item can appear before one already read
	// (a long or idle-in-transaction session holding a transaction ID
	// anywhere on that database server delays the listing until it ends;
	// PostgreSQL's idle_in_transaction_session_timeout bounds that) — but it lists all of a finished run's items at once. A
	// cursor stays valid: the same page may be read again. ErrNotFound if
	// there is no such run; ErrInvalid for a cursor the store did not make
	// for this list of this run.
	ListRunItems(ctx context.Context, scope Scope, runID string, p Page) (items []Item, next string, err error)
	// ListRunKeys returns a page of the run's selected keys, sorted, and the
	// cursor of the next page, empty after the last (the keys of a run never
	// change); errors as for ListRunItems.
	ListRunKeys(ctx context.Context, scope Scope, runID string, p Page) (keys []string, next string, err error)
	// ClaimChunk gives owner a chunk to work on, leased for lease from the
	// store's now: the first chunk (by index) of the oldest run in progress
	// (by CreatedAt, then ID) that is neither completed nor held under a
	// lease that has not expired. The run becomes running, its StartedAt
	// set to the store's now on the first claim; the chunk's attempts are
	// counted and it gets a fresh fencing token. ok is false when no chunk
	// is claimable.
	ClaimChunk(ctx context.Context, owner string, lease time.Duration) (c Claim, ok bool, err error)
	// RenewChunk extends the lease of the claim c to lease from the store's
	// now. It fails with ErrLeaseLost unless c holds the chunk: its token is
	// the chunk's latest, the lease has not expired, the chunk is not
	// completed and the run is running.
	RenewChunk(ctx context.Context, c ChunkRef, lease time.Duration) error
	// ReleaseChunk gives the chunk back — an executor shutting down releases
	// what it holds: the lease lapses at once and the attempt the claim
	// counted is taken back, so that the next claim resumes it without
	// penalty. ErrLeaseLost unless c holds the chunk.
	ReleaseChunk(ctx context.Context, c ChunkRef) error
	// SaveItem records item for the run, replacing its item for the same
	// conversation, and in the same atomic step updates the run's counters
	// (adding [ItemCounters] of item, less those of the item it replaces),
	// marks the conversation as analysed by the run's definition when the
	// item has no error, and, when write is set, merges write.Fields into
	// the conversation's ExtractedFields and sets its LastAnalyzedAt (a
	// deleted conversation is skipped, not an error). ErrLeaseLost unless c
	// holds the chunk; ErrInvalid when the item's conversation is not one
	// of the run's keys (it need not be one of the chunk's).
	SaveItem(ctx context.Context, c ChunkRef, item Item, write *FieldsWrite) error
	// CompleteChunk marks the chunk done. When it was the run's last chunk
	// not done, the run completes in the same atomic step — status
	// completed, FinishedAt at — and finished is true: of all the calls
	// completing a run's chunks, exactly one reports it. ErrLeaseLost
	// unless c holds the chunk.
	CompleteChunk(ctx context.Context, c ChunkRef, at time.Time) (finished bool, err error)
	// FailRun ends the run of the claim c as failed, with the operator-safe
	// reason, at the given time; its other chunks can no longer be claimed
	// or written. ErrLeaseLost unless c holds the chunk.
	FailRun(ctx context.Context, c ChunkRef, reason string, at time.Time) error
	// CancelRun ends a pending or running run as failed with the reason, at
	// the given time, whoever holds its chunks; every later write to it
	// fails with ErrLeaseLost. It fails with ErrNotFound if there is no such
	// run and with ErrConflict if the run has already finished.
	CancelRun(ctx context.Context, scope Scope, runID, reason string, at time.Time) error
	// SkipSlot records that the definition's schedule slot was skipped, for
	// the reason given, at the given time. It fails with ErrSlotTaken if a
	// run was created or a skip recorded for that slot.
	SkipSlot(ctx context.Context, scope Scope, definitionKey string, slot time.Time, reason string, at time.Time) error
	// ListSlots returns the definition's slots for which a run was created or
	// a skip recorded, latest slot first, at most limit of them.
	ListSlots(ctx context.Context, scope Scope, definitionKey string, limit int) ([]SlotRecord, error)
}

// A SlotRecord is what became of one schedule slot: the run created for
// it, or the reason it was skipped.
type SlotRecord struct {
	// Slot is the cron slot, in UTC.
	Slot time.Time `json:"slot"`
	// RunID is the run created for the slot; empty when it was skipped.
	RunID string `json:"runId,omitempty"`
	// Skipped is the reason the slot was skipped; empty when a run was
	// created.
	Skipped string `json:"skipped,omitempty"`
	// At is when the run was created or the skip recorded.
	At time.Time `json:"at"`
}

// FieldsWrite is what a run in store mode writes onto a conversation.
type FieldsWrite struct {
	// Fields are merged into the conversation's ExtractedFields.
	Fields map[string]any
	// At becomes its LastAnalyzedAt.
	At time.Time
}

// A RunQuery filters runs.
type RunQuery struct {
	// DefinitionKey keeps the runs of this definition, when set.
	DefinitionKey string
	// Status keeps the runs with this status, when set.
	Status RunStatus
	// FinishedAfter keeps the runs that finished at or after it, when set.
	FinishedAfter time.Time
	// Limit bounds the result; the service always sets it above 0.
	Limit int
}
