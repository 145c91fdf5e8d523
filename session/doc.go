// Package session builds the canonical analysis input of a finished
// customer conversation: the [SessionAnalysisInput] (schema version 2) that
// analyzers read to classify what happened in a chat, voice or AI-agent
// session and whether the knowledge behind the answers was good enough.
//
// The package is pure: no I/O, no clock, no randomness. A host gathers what
// its platform captured about one session into a [Captures] value and hands
// it to an [Assembler], which
//
//   - refuses sessions that have not ended ([ErrNotTerminal]),
//   - redacts personal data from every free text with a [Redactor] before
//     anything else sees it ([DefaultRedactor] finds e-mail addresses, phone
//     numbers and payment card numbers),
//   - truncates over-long messages without splitting a character,
//   - derives the outcome from the status and termination reason
//     ([DeriveOutcome]),
//   - records why evidence is missing ([MissingEvidenceReason]), so that an
//     analyzer can lower its confidence or skip a classification, and
//   - validates the result against the JSON Schema and the cross-field rules
//     ([SessionAnalysisInput.Validate]).
//
// Converters turn other platforms' records into Captures: [FromMoveo] reads
// a Moveo.ai get_session_content record and [FromOpenAILog] an OpenAI-style
// agent log (messages with tool calls and tool results).
//
// [JSONSchema] exports the input's JSON Schema, generated from the Go types,
// and [ParseInput] validates and decodes an input received as JSON. The
// sessionhttp subpackage serves the input over HTTP from a host [Source].
//
// Every type that appears in the wire format carries the exact JSON names of
// the analysis-input API: required fields are always written, nullable ones
// are pointers written as null, and the arrays of the input are written as
// [] rather than null.
package session
