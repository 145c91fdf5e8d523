package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// A Turn is one utterance of a transcript.
type Turn struct {
	// Role says who spoke: "caller", "agent", "user", "assistant", ... —
	// any non-empty label the host uses.
	Role string `json:"role"`
	// Content is what was said.
	Content string `json:"content"`
}

// A Transcript is a conversation, first turn first.
type Transcript []Turn

// MaxRoleLen bounds the length of a turn's role.
const MaxRoleLen = 64

// Validate reports every problem of t as a [*ValidationError]; nil means t
// is valid. The transcript must have at least one turn, and every turn a
// role (at most [MaxRoleLen] bytes) and a content that are not blank. Paths
// are relative to the transcript: "$[3].content".
func (t Transcript) Validate() error {
	var v validator
	if len(t) == 0 {
		v.add(-1, "$", "the transcript is empty: at least one turn is required")
	}
	for i, turn := range t {
		at := "$" + schemaval.Index(i)
		switch {
		case strings.TrimSpace(turn.Role) == "":
			v.add(i, at+".role", "the role is missing")
		case len(turn.Role) > MaxRoleLen:
			v.add(i, at+".role", fmt.Sprintf("the role is %d bytes, more than %d", len(turn.Role), MaxRoleLen))
		}
		if strings.TrimSpace(turn.Content) == "" {
			v.add(i, at+".content", "the content is missing")
		}
	}
	return v.err()
}

// The delimiters of the transcript data block in a rendered prompt. They
// cannot occur inside the block: the JSON in it escapes every "<" and ">"
// as \u003c and \u003e.
const (
	DataBlockStart = "<transcript_json>"
	DataBlockEnd   = "</transcript_json>"
)

// RenderTranscript returns the data block a model receives a transcript
// in: DataBlockStart, a JSON object {"turns":[{"index":0,"role":...,
// "content":...},...]} on one line, and DataBlockEnd. The transcript is data,
// never instructions: encoded as JSON, with "<", ">" and "&" escaped, no
// turn's text can close the block, end a JSON string or pose as a system
// message. Turns are numbered from 0; judges cite them by that index.
func RenderTranscript(t Transcript) string {
	type indexedTurn struct {
		Index   int    `json:"index"`
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	turns := make([]indexedTurn, len(t))
	for i, turn := range t {
		turns[i] = indexedTurn{Index: i, Role: turn.Role, Content: turn.Content}
	}
	var buf bytes.Buffer
	buf.WriteString(DataBlockStart)
	buf.WriteByte('\n')
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(struct {
		Turns []indexedTurn `json:"turns"`
	}{turns}) // strings and ints only: cannot fail
	buf.WriteString(DataBlockEnd)
	return buf.String()
}
