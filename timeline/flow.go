package timeline

import (
	"context"
	"fmt"
	"time"
)

// A Source is the host's read access to its flows: their headers and their
// timelines. Implementations must be safe for concurrent use and observe
// these rules:
//
//   - Flow and Events return an error matching [ErrNotFound] when the flow
//     does not exist or belongs to a customer other than customerID — the
//     same error in both cases, so that existence never leaks.
//   - Flow returns the header with its Reference resolved as far as the
//     host can (see [Flow]); an unresolved reference is not an error.
//   - The ids a [Service] passes are UUIDs in lower case; the header's ids
//     may be in either case.
//   - Events returns every event of the flow, in any order (the pipeline
//     sorts them by timestamp, then index); it may return the same event
//     twice (duplicates are removed). The caller does not modify the slice.
//   - Both return promptly with ctx.Err() (possibly wrapped) once ctx is
//     done. A [Service] stores an analysis as failed at its time limit (or
//     at Close) whether or not they have; but until they return, the
//     analysis keeps its place among the analyses allowed to run at once.
//
// Any other error is a failure of the source; an analysis that meets one
// fails with the fixed message [FailLoadEvents] (an error of Flow is
// returned by [Service.Create] instead). A flow header that breaks the
// rules of [Flow] is a failure of the source too.
type Source interface {
	Flow(ctx context.Context, customerID, flowID string) (Flow, error)
	Events(ctx context.Context, customerID, flowID string) ([]Event, error)
}

// Reference types of a flow (see [Flow.ReferenceType]). A flow may carry
// any other value; it is kept verbatim and gets a header-only context.
const (
	RefCall         = "call"
	RefConversation = "conversation"
	RefAI           = "ai"
	RefAPI          = "api"
	RefTranscribe   = "transcribe"
	RefRecording    = "recording"
	RefCampaign     = "campaign"
	// RefConfbridge is not a flow's reference type but can be the origin of
	// a transcribe or recording.
	RefConfbridge = "confbridge"
)

// A Flow is the header of one flow (an "activeflow"): what it is, whom it
// belongs to, whether it has ended, and the record it refers to.
type Flow struct {
	// ID identifies the flow (a UUID). Required.
	ID string `json:"id"`
	// CustomerID is the customer who owns the flow (a UUID). Required.
	CustomerID string `json:"customer_id"`
	// ReferenceType is what started the flow: call, conversation, ai, api,
	// transcribe, recording, campaign, or "" for none.
	ReferenceType string `json:"reference_type"`
	// ReferenceID identifies the referenced record. Optional.
	ReferenceID string `json:"reference_id,omitempty"`
	// FlowName is the name of the executed flow definition. Optional.
	FlowName string `json:"flow_name,omitempty"`
	// Ended reports that the flow has ended; only ended flows are analysed.
	Ended bool `json:"ended"`
	// CreatedAt is when the flow started. Optional.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// EndedAt is when it ended. Optional.
	EndedAt time.Time `json:"ended_at,omitzero"`
	// Reference is the referenced record as the host resolved it, or nil
	// when it did not resolve. Its Type must equal ReferenceType. A record
	// whose CustomerID differs from the flow's is ignored, never shown.
	Reference *Reference `json:"reference,omitempty"`
}

// A Reference is the record a flow refers to, resolved by the host: a
// call's legs, a conversation thread, an AI session, or — for a transcribe
// or recording — the record itself with its Origin, the source it was made
// from. Only the part matching Type is read.
type Reference struct {
	// Type is the record's type: call, conversation, ai, transcribe,
	// recording, confbridge, ...
	Type string `json:"type"`
	// ID identifies the record.
	ID string `json:"id,omitempty"`
	// CustomerID is the record's owner. A record owned by another customer
	// than the flow's is treated as unresolved.
	CustomerID string `json:"customer_id"`
	// Calls are the legs of a call (Type call); the earliest created is the
	// primary leg.
	Calls []CallLeg `json:"calls,omitempty"`
	// Conversation is the thread of a conversation (Type conversation).
	Conversation *Conversation `json:"conversation,omitempty"`
	// AICall is the session of an AI reference (Type ai).
	AICall *AICall `json:"aicall,omitempty"`
	// Origin is, for a transcribe or recording, the record it was made
	// from: a call, a conversation, a confbridge, or (for a transcribe) a
	// recording with its own Origin. Nil when it did not resolve.
	Origin *Reference `json:"origin,omitempty"`
}

// A CallLeg is one leg of a call, with the call platform's raw values.
type CallLeg struct {
	// ID identifies the leg.
	ID string `json:"id,omitempty"`
	// Direction is the raw direction: incoming or outgoing.
	Direction string `json:"direction,omitempty"`
	// Source is the caller's address.
	Source string `json:"source,omitempty"`
	// Destination is the callee's address.
	Destination string `json:"destination,omitempty"`
	// Status is the raw call status; "hangup" means hung up.
	Status string `json:"status,omitempty"`
	// HangupReason is the raw hang-up reason: normal, noanswer, dialout,
	// busy, failed, canceled, timeout, amd, none or "".
	HangupReason string `json:"hangup_reason,omitempty"`
	// HangupBy is who hung up, relative to the platform: remote, local or "".
	HangupBy string `json:"hangup_by,omitempty"`
	// CreatedAt is when the leg was created.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// AnsweredAt is when it was answered; zero when it was not.
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	// HungUpAt is when it hung up; zero when it did not.
	HungUpAt time.Time `json:"hung_up_at,omitzero"`
}

// A Conversation is a messaging thread. Self is the business's address and
// Peer the end user's: an outgoing message is the business replying, an
// incoming one the end user writing.
type Conversation struct {
	// Platform is the chat platform: message, line, whatsapp, ...
	Platform string `json:"platform,omitempty"`
	// Self is the business's address.
	Self string `json:"self,omitempty"`
	// Peer is the end user's address.
	Peer string `json:"peer,omitempty"`
	// CreatedAt is when the thread started.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// Messages are the thread's messages, in any order.
	Messages []ConversationMessage `json:"messages,omitempty"`
	// Truncated reports that the host returned only part of the messages.
	Truncated bool `json:"truncated,omitempty"`
}

// The directions and statuses of a [ConversationMessage].
const (
	MessageIncoming = "incoming"
	MessageOutgoing = "outgoing"

	MessageDone        = "done"
	MessageFailed      = "failed"
	MessageProgressing = "progressing"
)

// A ConversationMessage is one message of a [Conversation].
type ConversationMessage struct {
	// Direction is incoming (from the end user) or outgoing (from the
	// business).
	Direction string `json:"direction"`
	// Status is the delivery status: progressing, done or failed.
	Status string `json:"status,omitempty"`
	// At is when the message was created.
	At time.Time `json:"at"`
}

// An AICall is the session of an AI reference.
type AICall struct {
	// Status is the raw session status; terminated means it ended.
	Status string `json:"status,omitempty"`
	// CreatedAt is when the session started.
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// validateFlow reports the problems of f under root ("$.flow").
func validateFlow(v *validator, root string, f *Flow) {
	if f.ID == "" {
		v.add(root+".id", "the flow id is missing")
	}
	if f.CustomerID == "" {
		v.add(root+".customer_id", "the customer id is missing")
	}
	if r := f.Reference; r != nil {
		if r.Type != f.ReferenceType {
			v.add(root+".reference.type", fmt.Sprintf("%q does not match the flow's reference_type %q", r.Type, f.ReferenceType))
		}
		if f.ReferenceID != "" && r.ID != "" && r.ID != f.ReferenceID {
			v.add(root+".reference.id", fmt.Sprintf("%q does not match the flow's reference_id %q", r.ID, f.ReferenceID))
		}
	}
}
