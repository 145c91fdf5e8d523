package analysis

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/debrief-go/debrief/internal/schemaval"
	"github.com/debrief-go/debrief/session"
)

// redactConversations applies the configured redactor to the text of cs
// before anything is stored or sent to a model: names, tags, turns (roles
// and contents) and
// every text of their evidence a model is shown (see [Evidence.texts]),
// with the customer metadata and the knowledge-base snapshot's names
// redacted as JSON values — member names, strings, and numbers whose
// digits the redactor changes. A text that is JSON (tool arguments, say)
// is redacted value by value ([session.RedactText]). Reference fields,
// keys, external IDs and the IDs that link evidence to turns are left as
// they are. A conversation redacted here no longer lacks redaction: its
// transcript_redaction_skipped reason is dropped. A redactor's error fails
// the ingest, naming the conversation, and the redacted conversation is
// checked again, so that text the redactor made too long or not storable
// is refused the same way.
func (s *Service) redactConversations(ctx context.Context, cs []Conversation, root string) error {
	r := s.cfg.Redactor
	if r == nil {
		return nil
	}
	var p problems
	for i := range cs {
		at := root
		if root != "$" {
			at = root + schemaval.Index(i)
		}
		c := &cs[i]
		redact := func(path string, text *string) error {
			out, err := session.RedactText(ctx, r, *text)
			if err != nil {
				return fmt.Errorf("analysis: redacting %s: %w", path, err)
			}
			*text = out
			return nil
		}
		if c.Name != "" {
			if err := redact(at+".name", &c.Name); err != nil {
				return err
			}
		}
		c.Tags = slices.Clone(c.Tags)
		for j := range c.Tags {
			if err := redact(at+".tags"+schemaval.Index(j), &c.Tags[j]); err != nil {
				return err
			}
		}
		c.Tags = cleanTags(c.Tags)
		// The transcript is the caller's: redact a copy.
		c.Transcript = slices.Clone(c.Transcript)
		for j := range c.Transcript {
			turn := at + ".transcript" + schemaval.Index(j)
			if err := redact(turn+".role", &c.Transcript[j].Role); err != nil {
				return err
			}
			if err := redact(turn+".content", &c.Transcript[j].Content); err != nil {
				return err
			}
		}
		if c.Evidence != nil {
			ev := cloneEvidence(c.Evidence)
			if err := ev.texts(func(text *string) error { return redact(at+".evidence", text) }); err != nil {
				return err
			}
			if ev.CustomerMetadata != nil {
				v, err := session.RedactValue(ctx, r, ev.CustomerMetadata)
				if err != nil {
					return fmt.Errorf("analysis: redacting %s.evidence.customerMetadata: %w", at, err)
				}
				ev.CustomerMetadata = v.(map[string]any)
			}
			if ev.KBSnapshot != nil && len(ev.KBSnapshot.KBVersions) > 0 {
				versions := make(map[string]int, len(ev.KBSnapshot.KBVersions))
				for _, k := range slices.Sorted(maps.Keys(ev.KBSnapshot.KBVersions)) {
					rk := k
					if err := redact(at+".evidence.kbSnapshot", &rk); err != nil {
						return err
					}
					versions[rk] = ev.KBSnapshot.KBVersions[k]
				}
				ev.KBSnapshot.KBVersions = versions
			}
			ev.Missing = slices.DeleteFunc(ev.Missing, func(m string) bool { return m == "transcript_redaction_skipped" })
			c.Evidence = ev
		}
		in := ConversationInput{Name: c.Name, Transcript: c.Transcript, ReferenceFields: c.ReferenceFields, Source: c.Source,
			Tags: c.Tags, ExternalID: c.ExternalID, Evidence: c.Evidence}
		if err := validateConversation(&p, i, at, in); err != nil {
			return err
		}
	}
	if p.count() > 0 {
		for j := range p.list {
			p.list[j].Message = "after redaction: " + p.list[j].Message
		}
	}
	return p.err()
}

// cloneEvidence copies ev deeply enough that redacting the copy leaves ev
// as it was: every text a redactor rewrites lives in copied slices, maps
// and pointers.
func cloneEvidence(ev *Evidence) *Evidence {
	out := *ev
	out.Retrievals = slices.Clone(ev.Retrievals)
	for j := range out.Retrievals {
		out.Retrievals[j].KBIDs = slices.Clone(out.Retrievals[j].KBIDs)
		out.Retrievals[j].Chunks = slices.Clone(out.Retrievals[j].Chunks)
	}
	out.Citations = slices.Clone(ev.Citations)
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
	if ev.KBSnapshot != nil {
		k := *ev.KBSnapshot
		k.KBVersions = maps.Clone(k.KBVersions)
		out.KBSnapshot = &k
	}
	if ev.Feedback != nil {
		f := *ev.Feedback
		out.Feedback = &f
	}
	if ev.Reopen != nil {
		r := *ev.Reopen
		out.Reopen = &r
	}
	out.CustomerMetadata = maps.Clone(ev.CustomerMetadata)
	out.Missing = slices.Clone(ev.Missing)
	return &out
}
