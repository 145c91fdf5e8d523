// Package extract pulls typed fields out of conversation transcripts with a
// language model.
//
// A [FieldSet] lists the fields — each a [Field] with a key, a [FieldType]
// (string, number, boolean or enum), an optional description and enum
// values, and whether it is required — and [FieldSet.Validate] reports every
// problem of one with its index and JSON path. [FieldSet.Schema] is the
// strict JSON Schema a model answers with.
//
// An [Extractor], built once per field set with [New], renders the request —
// instructions and the field list first, then the [Transcript] as a
// JSON-encoded data block the transcript cannot break out of (see
// [RenderTranscript]) — calls the model through [llm.GenerateStructured],
// and coerces the answer with [CoerceValue]: numbers from numeric strings,
// booleans from yes/no and 1/0, enums matched exactly and then ignoring
// case, stored in their canonical spelling. The [Result] holds the typed
// fields, the required fields still missing, the values that failed
// coercion (reported, never dropped), the attempts made and the tokens spent.
package extract
