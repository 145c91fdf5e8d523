package analysis

import (
	"context"
	"errors"
	"time"

	"github.com/debrief-go/debrief/extract"
)

// The errors of this package and of every [Store], checked with errors.Is.
var (
	// ErrNotFound: no such object in the scope (or one of another scope).
	ErrNotFound = errors.New("analysis: not found")
	// ErrConflict: the object collides with one that exists (a key or id
	// already taken).
	ErrConflict = errors.New("analysis: conflict")
	// ErrRunInProgress: the definition already has a pending or running run.
	ErrRunInProgress = errors.New("analysis: a run of this definition is already in progress")
	// ErrLeaseLost: the executor no longer holds the run it is writing to.
	ErrLeaseLost = errors.New("analysis: run lease lost")
	// ErrSlotTaken: the cron slot was already fired or skipped.
	ErrSlotTaken = errors.New("analysis: schedule slot already taken")
	// ErrInvalid is matched by every validation error; the detail is in an
	// [*extract.ValidationError] listing every problem with its JSON path.
	ErrInvalid = extract.ErrInvalid
)

// A Store keeps definitions, conversations and runs. Hosts implement it on
// their own database, or use analysis/memstore; analysis/storetest is the
// conformance suite every implementation must pass.
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
type Store interface {
	DefinitionStore
	ConversationStore
	RunStore
}

// A DefinitionStore keeps definitions.
type DefinitionStore interface {
	// CreateDefinition stores d. It fails with ErrConflict if d's ID or Key
	// is taken in the scope — the key of a deleted definition stays taken,
	// so that its runs, slots and analysis marks never attach to a new one.
	CreateDefinition(ctx context.Context, scope Scope, d Definition) error
	// GetDefinition returns the definition whose ID or, failing that, Key is
	// idOrKey; ErrNotFound if none.
	GetDefinition(ctx context.Context, scope Scope, idOrKey string) (Definition, error)
	// UpdateDefinition replaces the definition with d's ID. It fails with
	// ErrNotFound if there is none, with ErrConflict if d would change the
	// stored Key, and with ErrRunInProgress while the definition has a run in
	// progress (a run works with the definition as it was when it started).
	UpdateDefinition(ctx context.Context, scope Scope, d Definition) error
	// DeleteDefinition deletes the definition with the given ID; ErrNotFound
	// if none. It fails with ErrRunInProgress, deleting nothing, while the
	// definition has a run in progress. Runs of the definition are kept.
	DeleteDefinition(ctx context.Context, scope Scope, id string) error
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
	// fails with ErrConflict, storing nothing, if any ID or Key is taken in
	// the scope or repeated within cs.
	CreateConversations(ctx context.Context, scope Scope, cs []Conversation) error
	// GetConversation returns the conversation whose ID or, failing that,
	// Key is idOrKey; ErrNotFound if none.
	GetConversation(ctx context.Context, scope Scope, idOrKey string) (Conversation, error)
	// GetConversations returns the conversations with the given keys, in
	// their order, leaving out keys that name none.
	GetConversations(ctx context.Context, scope Scope, keys []string) ([]Conversation, error)
	// DeleteConversation deletes the conversation with the given ID;
	// ErrNotFound if none.
	DeleteConversation(ctx context.Context, scope Scope, id string) error
	// ListConversations returns the conversations matching q, newest first
	// (ties by key), at most q.Limit of them.
	ListConversations(ctx context.Context, scope Scope, q ConversationQuery) ([]Conversation, error)
	// ConversationKeys returns the keys of the conversations matching q,
	// sorted, without limit — the candidates of a run's selection. Search
	// and Limit of q are ignored.
	ConversationKeys(ctx context.Context, scope Scope, q ConversationQuery) ([]string, error)
}

// A ConversationQuery filters conversations.
type ConversationQuery struct {
	ListQuery
	// Tag keeps the conversations with this tag, when set.
	Tag string
	// UnanalyzedBy keeps the conversations that no run of the definition
	// with this key has analysed (see [RunStore.SaveItem]), when set.
	UnanalyzedBy string
}

// A RunStore keeps runs, their items and the schedule slots they fired.
type RunStore interface {
	// CreateRun stores r, which is pending. It fails with ErrRunInProgress
	// if the definition has a pending or running run, with ErrConflict if
	// r's ID is taken, and — when r was triggered by a schedule slot — with
	// ErrSlotTaken if a run was already created, or a skip recorded, for
	// that definition and slot. The checks and the insert are one atomic
	// step: of concurrent calls for one definition, at most one succeeds.
	CreateRun(ctx context.Context, scope Scope, r Run) error
	// GetRun returns the run with its items, in the order they were saved;
	// ErrNotFound if none.
	GetRun(ctx context.Context, scope Scope, id string) (Run, error)
	// ListRuns returns the runs matching q, newest first (ties by ID), at
	// most q.Limit of them, with their items left out.
	ListRuns(ctx context.Context, scope Scope, q RunQuery) ([]Run, error)
	// ClaimRun takes up a run for the executor owner: the oldest pending run
	// of any scope, or else the oldest running run whose lease expired
	// before now. It sets the run running (StartedAt stays its first value),
	// gives owner a lease until leaseUntil and counts the attempt, and
	// returns the run with its items. ok is false when no run is claimable.
	ClaimRun(ctx context.Context, owner string, now, leaseUntil time.Time) (scope Scope, r Run, ok bool, err error)
	// RenewLease extends owner's lease on the run to until. It fails with
	// ErrLeaseLost if the run is not running under owner's lease (its lease
	// expired and another executor claimed it, or it finished).
	RenewLease(ctx context.Context, scope Scope, runID, owner string, until time.Time) error
	// ReleaseRun gives back owner's claim on the run — an executor shutting
	// down releases what it holds: the run stays running, but its lease
	// lapses at once and the release takes back the attempt ClaimRun
	// counted, so the next ClaimRun resumes it without penalty. It fails
	// with ErrLeaseLost unless owner holds the run.
	ReleaseRun(ctx context.Context, scope Scope, runID, owner string) error
	// SaveItem records item for the running run, replacing an item for the
	// same conversation, and adds its usage to the run's. It fails with
	// ErrLeaseLost unless owner holds the run. In the same atomic step, when
	// the item has no error it marks the conversation as analysed by the
	// run's definition, and when write is set it merges write.Fields into the
	// conversation's ExtractedFields and sets its LastAnalyzedAt (a deleted
	// conversation is skipped, not an error).
	SaveItem(ctx context.Context, scope Scope, runID, owner string, item Item, write *FieldsWrite) error
	// FinishRun ends the running run held by owner: status completed or
	// failed, with the aggregate and the operator-safe error, at the given
	// time. It fails with ErrLeaseLost unless owner holds the run.
	FinishRun(ctx context.Context, scope Scope, runID, owner string, f Finish) error
	// CancelRun ends a pending or running run as f says (f.Status is
	// RunFailed), whoever holds it; its executor's next write fails with
	// ErrLeaseLost. It fails with ErrNotFound if there is no such run and
	// with ErrConflict if the run has already finished.
	CancelRun(ctx context.Context, scope Scope, runID string, f Finish) error
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

// Finish is how a run ends.
type Finish struct {
	// Status is RunCompleted or RunFailed.
	Status RunStatus
	// Aggregate summarises the items.
	Aggregate *Aggregate
	// Error is the operator-safe reason of a failure.
	Error string
	// At is when the run finished.
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
