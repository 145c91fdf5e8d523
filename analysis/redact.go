package analysis

import (
	"context"
	"fmt"
	"slices"

	"github.com/debrief-go/debrief/internal/schemaval"
)

// redactConversations applies the configured redactor to the text of cs —
// names, turns and the free text of their evidence — before anything is
// stored or sent to a model; reference fields, keys, tags and IDs are left
// as they are. A conversation redacted here no longer lacks redaction: its
// transcript_redaction_skipped reason is dropped. A redactor's error fails
// the ingest, naming the conversation; text it returns that no store can
// hold is refused the same way.
func (s *Service) redactConversations(ctx context.Context, cs []Conversation, root string) error {
	r := s.cfg.Redactor
	if r == nil {
		return nil
	}
	for i := range cs {
		at := root
		if root != "$" {
			at = root + schemaval.Index(i)
		}
		c := &cs[i]
		redact := func(path string, text *string) error {
			out, err := r.Redact(ctx, *text)
			if err != nil {
				return fmt.Errorf("analysis: redacting %s: %w", path, err)
			}
			if badText(out) {
				return invalid(path, "the redactor returned text that is not valid UTF-8, or holds a NUL character")
			}
			*text = out
			return nil
		}
		if c.Name != "" {
			if err := redact(at+".name", &c.Name); err != nil {
				return err
			}
		}
		// The transcript is the caller's: redact a copy.
		c.Transcript = slices.Clone(c.Transcript)
		for j := range c.Transcript {
			if err := redact(at+".transcript"+schemaval.Index(j)+".content", &c.Transcript[j].Content); err != nil {
				return err
			}
		}
		if c.Evidence == nil {
			continue
		}
		ev := cloneEvidence(c.Evidence)
		if err := ev.texts(func(text *string) error { return redact(at+".evidence", text) }); err != nil {
			return err
		}
		ev.Missing = slices.DeleteFunc(ev.Missing, func(m string) bool { return m == "transcript_redaction_skipped" })
		c.Evidence = ev
	}
	return nil
}

// cloneEvidence copies ev deeply enough that redacting the copy leaves ev
// as it was: the texts a redactor rewrites live in copied slices and maps.
func cloneEvidence(ev *Evidence) *Evidence {
	out := *ev
	out.ToolCalls = slices.Clone(ev.ToolCalls)
	for j := range out.ToolCalls {
		if r := out.ToolCalls[j].Result; r != nil {
			v := *r
			out.ToolCalls[j].Result = &v
		}
		if e := out.ToolCalls[j].Error; e != nil {
			v := *e
			out.ToolCalls[j].Error = &v
		}
	}
	out.Handoffs = slices.Clone(ev.Handoffs)
	if ev.Feedback != nil {
		f := *ev.Feedback
		out.Feedback = &f
	}
	if ev.Reopen != nil {
		r := *ev.Reopen
		out.Reopen = &r
	}
	if ev.CustomerMetadata != nil {
		out.CustomerMetadata = make(map[string]any, len(ev.CustomerMetadata))
		for k, v := range ev.CustomerMetadata {
			out.CustomerMetadata[k] = v
		}
	}
	out.Missing = slices.Clone(ev.Missing)
	return &out
}
