package main

import "github.com/debrief-go/debrief/llm/llmtest"

// demoNote is the text of every free-text field the demo model writes.
const demoNote = "Offline demo model: this answer was not written by a language model."

// demoModel answers every request offline with a valid answer to its
// schema, built from the schema alone (see llmtest.Filler): an enum value
// the data block mentions, else the first; the note above for free text.
// It says what it is in every free-text field, so that nobody mistakes its
// output for an analysis.
var demoModel = llmtest.Filler{Text: demoNote, Model: "offline-demo"}
