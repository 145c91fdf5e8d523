package analysis

import (
	"fmt"
	"time"

	"github.com/debrief-go/debrief/accuracy"
	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/llm"
)

// A Scope is the tenant and project every stored object belongs to. It is
// an explicit argument of every service and store call; an object of
// another scope is not found, exactly as a missing one.
type Scope struct {
	// Tenant identifies the customer organisation.
	Tenant string `json:"tenant"`
	// Project identifies the project within the tenant.
	Project string `json:"project"`
}

// Validate reports a scope with an empty tenant or project.
func (s Scope) Validate() error {
	if s.Tenant == "" || s.Project == "" {
		return fmt.Errorf("analysis: scope %q/%q: tenant and project are required: %w", s.Tenant, s.Project, ErrInvalid)
	}
	return nil
}

// String renders the scope as "tenant/project".
func (s Scope) String() string { return s.Tenant + "/" + s.Project }

// A Definition says what to extract from conversations, how to judge them
// and when to run.
type Definition struct {
	// ID is generated when the definition is created.
	ID string `json:"id"`
	// Key is slugified from the name when the definition is created and is
	// unique in its scope; it never changes.
	Key string `json:"key"`
	// Version is 1 when the definition is created and grows by one with
	// each update; an update that names the version it read fails when
	// another landed first. It is the definition's entity tag.
	Version int64 `json:"version"`
	// Name is the display name.
	Name string `json:"name"`
	// FieldSet lists the fields to extract.
	FieldSet extract.FieldSet `json:"fieldSet"`
	// ExtractionInstructions guide the extraction model.
	ExtractionInstructions string `json:"extractionInstructions,omitempty"`
	// Modes switch on what a run does besides extracting.
	Modes Modes `json:"modes"`
	// ExtractionModelKey names the model used for extraction; required to run.
	ExtractionModelKey string `json:"extractionModelKey,omitempty"`
	// JudgeModelKey names the model used for grading; required with modes.judge.
	JudgeModelKey string `json:"judgeModelKey,omitempty"`
	// Schedule runs the definition on a cron schedule; nil for none.
	Schedule *Schedule `json:"schedule,omitempty"`
	// CreatedAt is when the definition was created.
	CreatedAt time.Time `json:"createdAt"`
	// UpdatedAt is when it was last changed.
	UpdatedAt time.Time `json:"updatedAt"`
}

// Modes are what a run does besides extracting, which is always on.
type Modes struct {
	// Store writes the extracted fields back onto each conversation
	// (extractedFields, lastAnalyzedAt).
	Store bool `json:"store,omitempty"`
	// Accuracy compares the extracted fields with each conversation's
	// reference fields.
	Accuracy bool `json:"accuracy,omitempty"`
	// Judge grades each conversation against a rubric; nil for off.
	Judge *JudgeMode `json:"judge,omitempty"`
}

// JudgeMode configures grading.
type JudgeMode struct {
	// Rubric says what a good conversation is.
	Rubric string `json:"rubric"`
	// Threshold is the score needed to pass, in [0, 1]; nil means 0.5.
	Threshold *float64 `json:"threshold,omitempty"`
}

// A Schedule runs a definition on a five-field cron expression, read on the
// wall clock of UTC or of the IANA time zone it names.
type Schedule struct {
	// Cron is the expression, such as "0 2 * * *" (02:00 nightly, in
	// TimeZone).
	Cron string `json:"cron"`
	// TimeZone names the IANA time zone whose wall clock Cron is read on,
	// such as "Europe/Berlin"; empty means UTC. Slots are recorded as
	// instants in UTC. On the days the clocks change, a wall time that is
	// skipped fires once, at the end of the gap ("30 2 * * *" in
	// Europe/Berlin fires at 03:00 on the day the clocks spring from 02:00
	// to 03:00), and one that is repeated fires once, the first time (see
	// [schedule.Cron.In]). "Local" and other names whose meaning depends on
	// the machine are refused (see [schedule.LoadLocation]).
	TimeZone string `json:"timeZone,omitempty"`
	// Enabled switches the schedule on.
	Enabled bool `json:"enabled"`
	// Selection is what a scheduled run analyses; nil means the
	// conversations the definition has not analysed yet (strategy
	// unanalyzed), so that each night covers what came in since the last.
	Selection *Selection `json:"selection,omitempty"`
}

// selection returns the selection of a scheduled run.
func (s *Schedule) selection() Selection {
	if s == nil || s.Selection == nil {
		return Selection{Strategy: SelectUnanalyzed}
	}
	return *s.Selection
}

// A Source says where a conversation came from.
type Source string

// The sources of a conversation.
const (
	SourceImported Source = "imported"
	SourcePlatform Source = "platform"
	SourceManual   Source = "manual"
)

// A Conversation is an ingested transcript with its ground truth.
type Conversation struct {
	// ID is generated when the conversation is ingested.
	ID string `json:"id"`
	// Key is slugified from the name, or generated, and unique in its scope.
	Key string `json:"key"`
	// Name is the display name.
	Name string `json:"name,omitempty"`
	// Transcript is the conversation.
	Transcript extract.Transcript `json:"transcript"`
	// ReferenceFields are the ground truth for the accuracy mode.
	ReferenceFields map[string]any `json:"referenceFields,omitempty"`
	// Source says where it came from; imported by default.
	Source Source `json:"source"`
	// Tags label the conversation for selections.
	Tags []string `json:"tags"`
	// ExternalID is the conversation's ID in the system it came from,
	// unique in its scope: ingesting a conversation with the same
	// ExternalID again updates it (or skips it) instead of storing a copy.
	ExternalID string `json:"externalId,omitempty"`
	// Evidence is what the platform recorded besides the words, when the
	// conversation came with it (a session's, say).
	Evidence *Evidence `json:"evidence,omitempty"`
	// ExtractedFields holds the fields written by runs in store mode, by
	// key; a later run's value for a key replaces an earlier one's.
	ExtractedFields map[string]any `json:"extractedFields,omitempty"`
	// LastAnalyzedAt is when a run in store mode last wrote fields.
	LastAnalyzedAt *time.Time `json:"lastAnalyzedAt,omitempty"`
	// CreatedAt is when it was ingested.
	CreatedAt time.Time `json:"createdAt"`
}

// A RunStatus is where a run is in its life.
type RunStatus string

// The statuses of a run. Pending and running runs are in progress: a
// definition has at most one run in progress.
const (
	RunPending   RunStatus = "pending"
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
)

// InProgress reports whether s is pending or running.
func (s RunStatus) InProgress() bool { return s == RunPending || s == RunRunning }

// A Strategy says how a run selects conversations.
type Strategy string

// The selection strategies.
const (
	// SelectAll selects every conversation of the scope.
	SelectAll Strategy = "all"
	// SelectTag selects the conversations with a tag.
	SelectTag Strategy = "tag"
	// SelectRandom selects a random sample of SampleSize conversations.
	SelectRandom Strategy = "random"
	// SelectUnanalyzed selects the conversations the definition has never
	// analysed.
	SelectUnanalyzed Strategy = "unanalyzed"
	// SelectKeys selects the conversations named in ConversationKeys.
	SelectKeys Strategy = "keys"
)

// A Selection describes which conversations a run analyses.
type Selection struct {
	// Strategy is one of all, tag, random, unanalyzed, keys.
	Strategy Strategy `json:"strategy"`
	// Tag is the tag to select, with strategy tag.
	Tag string `json:"tag,omitempty"`
	// SampleSize is the size of the sample, with strategy random.
	SampleSize int `json:"sampleSize,omitempty"`
	// ConversationKeys names the conversations, with strategy keys.
	ConversationKeys []string `json:"conversationKeys,omitempty"`
	// Seed is the seed of a random sample, below 2^53 so that it survives
	// any JSON reader. When a run is started without one it is drawn and
	// recorded on the run; a caller that passes the recorded seed, over the
	// same conversations, draws the same sample again.
	Seed *uint64 `json:"seed,omitempty"`
}

// A TriggerType says what started a run.
type TriggerType string

// The triggers of a run.
const (
	TriggerManual   TriggerType = "manual"
	TriggerSchedule TriggerType = "schedule"
)

// A Trigger records what started a run.
type Trigger struct {
	// Type is manual or schedule.
	Type TriggerType `json:"type"`
	// Slot is the cron slot a scheduled run fired for.
	Slot *time.Time `json:"slot,omitempty"`
}

// Progress counts a run's finished items.
type Progress struct {
	// Done counts the items finished, failed ones included.
	Done int `json:"done"`
	// Total is the number of conversations selected.
	Total int `json:"total"`
}

// A Run is one execution of a definition over a selection of conversations.
type Run struct {
	// ID is generated when the run is created.
	ID string `json:"id"`
	// DefinitionKey is the key of the definition run.
	DefinitionKey string `json:"definitionKey"`
	// DefinitionVersion is the version of the definition the run works with.
	DefinitionVersion int64 `json:"definitionVersion"`
	// Status is pending, running, completed or failed.
	Status RunStatus `json:"status"`
	// Selection is the selection as requested, with the seed recorded and
	// without its conversationKeys: the keys a run selected, whatever the
	// strategy, are read with [Service.ListRunKeys].
	Selection Selection `json:"selection"`
	// Trigger says what started the run.
	Trigger Trigger `json:"trigger"`
	// Aggregate summarises the items; nil until the run finishes.
	Aggregate *Aggregate `json:"aggregate" jsonschema:"nullable"`
	// Items holds one result per finished conversation, in the order they
	// were saved — all of them for a run of up to [Config.MaxInlineItems]
	// items, else the first page and ItemsCursor.
	Items []Item `json:"items"`
	// ItemsCursor, when set, reads the items after those in Items with
	// [Service.ListRunItems]: the rest of a run of more than
	// [Config.MaxInlineItems] items, or those a run in progress saves later.
	ItemsCursor string `json:"itemsCursor,omitempty"`
	// Progress counts the finished items.
	Progress Progress `json:"progress"`
	// Usage sums the tokens of every model call of the run.
	Usage llm.Usage `json:"usage"`
	// Error is an operator-safe reason when the run failed.
	Error string `json:"error,omitempty"`
	// CreatedAt is when the run was created.
	CreatedAt time.Time `json:"createdAt"`
	// StartedAt is when an executor first took it up.
	StartedAt *time.Time `json:"startedAt,omitempty"`
	// FinishedAt is when it completed or failed.
	FinishedAt *time.Time `json:"finishedAt,omitempty"`

	// Counters are the store-kept sums of the run's items, from which
	// Progress, Usage and Aggregate are computed. They are not part of the
	// wire form.
	Counters Counters `json:"-"`
}

// An Item is the result of analysing one conversation in a run.
type Item struct {
	// ConversationKey names the conversation.
	ConversationKey string `json:"conversationKey"`
	// Passed reports that extraction had no error, no required field is
	// missing, no finding went unexplained, and the judge (if on) passed.
	Passed bool `json:"passed"`
	// ExtractedFields holds the extracted values by key.
	ExtractedFields map[string]any `json:"extractedFields"`
	// Missing lists the required fields that are missing.
	Missing []string `json:"missing"`
	// Invalid lists the extracted values that could not be coerced to their
	// field's type (they count as null); omitted when there are none.
	Invalid []extract.FieldIssue `json:"invalid,omitempty"`
	// Extra lists the answer's keys that are not in the field set.
	Extra []string `json:"extra,omitempty"`
	// Judge is the verdict when the judge mode is on and grading succeeded.
	Judge *ItemJudge `json:"judge,omitempty"`
	// Accuracy is the comparison with the reference fields, in accuracy mode.
	Accuracy *accuracy.Result `json:"accuracy,omitempty"`
	// Error is an operator-safe reason when extraction failed; the item then
	// counts as failed.
	Error string `json:"error,omitempty"`
	// JudgeError is an operator-safe reason when grading failed.
	JudgeError string `json:"judgeError,omitempty"`
	// Findings are what the deterministic checks of the conversation's
	// evidence found ([CheckEvidence]), shown to the model; omitted when
	// there are none.
	Findings []Finding `json:"findings,omitempty"`
	// Unexplained lists the checks whose findings the answer of a
	// knowledge-gap definition neither agreed with nor explained (see
	// [KnowledgeGapDefinition]); such an item does not pass.
	Unexplained []string `json:"unexplained,omitempty"`
	// Usage sums the tokens spent on the item.
	Usage llm.Usage `json:"usage"`
	// FinishedAt is when the item was saved.
	FinishedAt time.Time `json:"finishedAt"`
}

// ItemJudge is an item's verdict.
type ItemJudge struct {
	// Score is the judge's score, in [0, 1].
	Score float64 `json:"score"`
	// Passed reports Score >= the threshold.
	Passed bool `json:"passed"`
	// Reasoning is the judge's explanation.
	Reasoning string `json:"reasoning,omitempty"`
	// DroppedEvidence counts the quotes not found in the transcript.
	DroppedEvidence int `json:"droppedEvidence,omitempty"`
}

// An Aggregate summarises a run's items.
type Aggregate struct {
	// Total counts the conversations selected.
	Total int `json:"total"`
	// Completed counts the items without an extraction error.
	Completed int `json:"completed"`
	// Failed is Total − Completed.
	Failed int `json:"failed"`
	// Passed counts the items that passed.
	Passed int `json:"passed"`
	// PassRate is Passed / Completed; nil when nothing completed.
	PassRate *float64 `json:"passRate" jsonschema:"nullable"`
	// AvgJudgeScore averages the judged items' scores; nil when none was judged.
	AvgJudgeScore *float64 `json:"avgJudgeScore" jsonschema:"nullable"`
	// AvgExtractionAccuracy averages the accuracy scores of the items that
	// compared at least one field; nil when none did.
	AvgExtractionAccuracy *float64 `json:"avgExtractionAccuracy" jsonschema:"nullable"`
	// JudgeErrors counts the completed items whose grading failed; omitted
	// when none did.
	JudgeErrors int `json:"judgeErrors,omitempty"`
	// PerFieldAccuracy is each field's accuracy over the run, sorted by
	// key; omitted when no field was compared.
	PerFieldAccuracy []accuracy.FieldAccuracy `json:"perFieldAccuracy,omitempty"`
}
