package analysis

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/internal/schemaval"
	"github.com/debrief-go/debrief/internal/uuid"
)

// Limits of a conversation.
const (
	MaxTurns           = 10000
	MaxTurnContentLen  = 100_000
	MaxTags            = 50
	MaxTagLen          = 64
	MaxReferenceFields = 200
)

// ConversationInput is one conversation of an ingest body.
type ConversationInput struct {
	// Key, when set, names the conversation; it must match [KeyPattern] and
	// be free in the scope. Without it the key is slugified from the name,
	// made unique with a numeric suffix, or generated.
	Key string `json:"key,omitempty"`
	// Name is the display name.
	Name string `json:"name,omitempty"`
	// Transcript is required: a non-empty list of {role, content}.
	Transcript extract.Transcript `json:"transcript"`
	// ReferenceFields are the ground truth for the accuracy mode: an object
	// of strings, numbers, booleans and nulls.
	ReferenceFields map[string]any `json:"referenceFields,omitempty"`
	// Source is imported (the default), platform or manual.
	Source Source `json:"source,omitempty"`
	// Tags label the conversation.
	Tags []string `json:"tags,omitempty"`
	// ExternalID, when set, is the conversation's ID in the system it came
	// from, unique in the scope: a conversation ingested again with the
	// same ExternalID updates the stored one (or is skipped) rather than
	// stored twice. At most [MaxExternalIDLen] bytes.
	ExternalID string `json:"externalId,omitempty"`
	// Evidence is what the platform recorded besides the words (see
	// [Evidence]); bounded by [MaxEvidenceEntries] and
	// [MaxRetrievedChunks].
	Evidence *Evidence `json:"evidence,omitempty"`
}

// Ingest stores the conversations of an ingest body: one conversation
// object, or {"conversations": [...]} for a bulk import. It is all or
// nothing: when any conversation is invalid nothing is stored, and the
// [*extract.ValidationError] names the problems with their index and path
// ("$.conversations[3].transcript[0].role"), at most [MaxReportedProblems]
// of them. Conversations are returned as stored, in the order given.
//
// A conversation whose externalId names one stored in the scope is not
// stored again: it replaces that conversation's content — name,
// transcript, reference fields, source, tags and evidence — which keeps
// its ID, key, creation time and the fields runs wrote on it (see
// [Service.IngestWith] to skip it instead). The same conversations
// ingested twice are stored once.
//
// The body is bounded before anything is decoded: at most
// [Config.MaxIngestBytes] in all, each conversation at most
// [Config.MaxConversationBytes], and a bulk body is read one conversation
// at a time and refused at the first one past [Config.MaxIngest], so that
// a body never costs much more memory than its size.
func (s *Service) Ingest(ctx context.Context, scope Scope, body []byte) ([]Conversation, error) {
	res, err := s.IngestWith(ctx, scope, body, IngestOptions{})
	return res.Conversations, err
}

// IngestOptions tune an ingest.
type IngestOptions struct {
	// OnExisting says what becomes of a conversation whose ExternalID names
	// one stored in the scope: [UpdateExisting] replaces the stored one's
	// content (the default, when empty); [SkipExisting] leaves it as it is.
	OnExisting OnExisting
}

// An IngestResult is what an ingest stored.
type IngestResult struct {
	// Conversations are the conversations as stored, in the order given:
	// one that updated or skipped a stored conversation is that one, with
	// its ID, key and creation time (a skipped one exactly as it was).
	Conversations []Conversation
	// Actions says what became of each of Conversations, in their order:
	// created, updated or skipped.
	Actions []PutAction
	// Created counts the conversations stored anew.
	Created int
	// Updated counts the stored conversations whose content was replaced.
	Updated int
	// Skipped counts the stored conversations left as they were.
	Skipped int
	// Bulk reports a bulk body, {"conversations": [...]}, as opposed to a
	// single conversation.
	Bulk bool
}

// IngestBody is [Service.Ingest] that also says whether the body was a
// bulk one, so that an API can answer in the same shape, and what became
// of each conversation.
func (s *Service) IngestBody(ctx context.Context, scope Scope, body []byte) (IngestResult, error) {
	return s.IngestWith(ctx, scope, body, IngestOptions{})
}

// IngestWith is [Service.IngestBody] with options: with
// opts.OnExisting [SkipExisting], a conversation whose externalId names
// one stored in the scope leaves that one as it is. An OnExisting that is
// neither mode fails with ErrInvalid at "$.onExisting".
func (s *Service) IngestWith(ctx context.Context, scope Scope, body []byte, opts IngestOptions) (IngestResult, error) {
	if err := scope.Validate(); err != nil {
		return IngestResult{}, err
	}
	if err := opts.validate(); err != nil {
		return IngestResult{}, err
	}
	res, bulk, err := s.ingestBody(ctx, scope, body, opts.OnExisting)
	res.Bulk = bulk
	return res, err
}

// validate checks the options.
func (o IngestOptions) validate() error {
	switch o.OnExisting {
	case "", UpdateExisting, SkipExisting:
		return nil
	}
	return invalid("$.onExisting", fmt.Sprintf("%q is not a mode: use update or skip", o.OnExisting))
}

// ingestBody splits, decodes, checks and stores an ingest body; bulk
// reports a bulk body.
func (s *Service) ingestBody(ctx context.Context, scope Scope, body []byte, mode OnExisting) (res IngestResult, bulk bool, err error) {
	if len(body) > s.cfg.MaxIngestBytes {
		return res, false, invalid("$", fmt.Sprintf("the body is %d bytes, more than the %d one call may ingest", len(body), s.cfg.MaxIngestBytes))
	}
	items, bulk, err := s.splitIngest(body)
	if err != nil {
		return res, bulk, err
	}
	if !bulk {
		if len(body) > s.cfg.MaxConversationBytes {
			return res, false, invalid("$", fmt.Sprintf("the conversation is %d bytes, more than %d", len(body), s.cfg.MaxConversationBytes))
		}
		var in ConversationInput
		if err := decodeStrict(body, &in, "$", conversationLimits); err != nil {
			return res, false, err
		}
		res, err := s.ingest(ctx, scope, []ConversationInput{in}, "$", mode)
		return res, false, err
	}
	// Each conversation is checked as soon as it is decoded, and one that
	// fails is not kept: a refused body holds no more decoded conversations
	// than a good one of its size.
	ins := make([]ConversationInput, len(items))
	var p problems
	for i, item := range items {
		at := "$.conversations" + schemaval.Index(i)
		if len(item) > s.cfg.MaxConversationBytes {
			p.add(i, at, fmt.Sprintf("the conversation is %d bytes, more than %d", len(item), s.cfg.MaxConversationBytes))
			continue
		}
		items[i] = nil // the raw text is not needed once decoded
		err := decodeStrict(item, &ins[i], at, conversationLimits)
		if merr := p.merge(err, i, "$"); merr != nil {
			return res, true, merr
		}
		before := p.count()
		if err == nil {
			if err := validateConversation(&p, i, at, ins[i]); err != nil {
				return res, true, err
			}
		}
		if err != nil || p.count() > before {
			ins[i] = ConversationInput{}
		}
	}
	if p.count() > 0 {
		sort.SliceStable(p.list, func(a, b int) bool { return p.list[a].Index < p.list[b].Index })
		return res, true, p.err()
	}
	res, err = s.ingest(ctx, scope, ins, "$.conversations", mode)
	return res, true, err
}

// splitIngest reads an ingest body's top level without decoding any
// conversation: for a bulk body it returns the raw conversations, reading
// them one at a time and stopping at the first past the maximum; for a
// single conversation, bulk is false.
func (s *Service) splitIngest(body []byte) (items []json.RawMessage, bulk bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	// A syntax error is reported as json.Unmarshal reports it for the whole
	// body, at its offset in the body.
	syntax := func(err error) error {
		var v any
		if uerr := json.Unmarshal(body, &v); uerr != nil {
			return decodeError(uerr, "$")
		}
		return decodeError(err, "$")
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		var probe map[string]json.RawMessage // the decoder says what is wrong
		if err := json.Unmarshal(body, &probe); err != nil {
			return nil, false, decodeError(err, "$")
		}
		return nil, false, invalid("$", `the body must be a JSON object: one conversation, or {"conversations": [...]}`)
	}
	seen := map[string]bool{}
	var others []string // the members besides "conversations", in order
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false, syntax(err)
		}
		key, _ := tok.(string) // object keys are strings
		if seen[key] {
			return nil, false, invalid("$"+schemaval.Key(key), "the member appears more than once")
		}
		seen[key] = true
		if key != "conversations" {
			if len(others) < MaxReportedProblems {
				others = append(others, key)
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, false, syntax(err)
			}
			continue
		}
		bulk = true
		tok, err = dec.Token()
		if err != nil {
			return nil, false, syntax(err)
		}
		if tok != json.Delim('[') {
			return nil, false, invalid("$.conversations", "must be an array of conversations")
		}
		for dec.More() {
			if len(items) == s.cfg.MaxIngest {
				return nil, false, invalid("$.conversations", fmt.Sprintf("more than the %d conversations one call may ingest", s.cfg.MaxIngest))
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, false, syntax(err)
			}
			items = append(items, raw)
		}
		if _, err := dec.Token(); err != nil { // the closing bracket
			return nil, false, syntax(err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, false, syntax(err)
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return nil, false, syntax(errors.New("more than one JSON value"))
	}
	if bulk {
		if len(others) > 0 {
			return nil, false, invalid("$"+schemaval.Key(others[0]), "unknown member of a bulk body")
		}
		if len(items) == 0 {
			return nil, false, invalid("$.conversations", "no conversations to ingest")
		}
	}
	return items, bulk, nil
}

// IngestConversations is [Service.Ingest] for conversations already
// decoded: all are stored or none, and problems are located under
// "$.conversations".
func (s *Service) IngestConversations(ctx context.Context, scope Scope, ins []ConversationInput) ([]Conversation, error) {
	res, err := s.IngestConversationsWith(ctx, scope, ins, IngestOptions{})
	return res.Conversations, err
}

// IngestConversationsWith is [Service.IngestConversations] with options,
// saying what became of each conversation, as [Service.IngestWith] does.
func (s *Service) IngestConversationsWith(ctx context.Context, scope Scope, ins []ConversationInput, opts IngestOptions) (IngestResult, error) {
	if err := scope.Validate(); err != nil {
		return IngestResult{}, err
	}
	if err := opts.validate(); err != nil {
		return IngestResult{}, err
	}
	return s.ingest(ctx, scope, ins, "$.conversations", opts.OnExisting)
}

// ingest validates and stores ins; root is "$" for a single conversation
// and "$.conversations" for a bulk import.
func (s *Service) ingest(ctx context.Context, scope Scope, ins []ConversationInput, root string, mode OnExisting) (IngestResult, error) {
	if len(ins) == 0 {
		return IngestResult{}, invalid(root, "no conversations to ingest")
	}
	if len(ins) > s.cfg.MaxIngest {
		return IngestResult{}, invalid(root, fmt.Sprintf("%d conversations, more than the %d one call may ingest", len(ins), s.cfg.MaxIngest))
	}
	if mode == "" {
		mode = UpdateExisting
	}
	var p problems
	explicit := map[string]int{}
	external := map[string]int{}
	for i, in := range ins {
		at := pathOf(root, i)
		if err := validateConversation(&p, i, at, in); err != nil {
			return IngestResult{}, err
		}
		if in.Key != "" {
			if j, dup := explicit[in.Key]; dup {
				p.add(i, at+".key", fmt.Sprintf("%q is also the key of conversation %d", in.Key, j))
			}
			explicit[in.Key] = i
		}
		if in.ExternalID != "" {
			if j, dup := external[in.ExternalID]; dup {
				p.add(i, at+".externalId", fmt.Sprintf("%q is also the external ID of conversation %d", in.ExternalID, j))
			} else {
				external[in.ExternalID] = i
			}
		}
	}
	if err := p.err(); err != nil {
		return IngestResult{}, err
	}
	now := s.cfg.Clock.Now().UTC()
	cs := make([]Conversation, len(ins))
	for i, in := range ins {
		source := in.Source
		if source == "" {
			source = SourceImported
		}
		cs[i] = Conversation{
			ID: s.cfg.NewID(), Key: in.Key, Name: strings.TrimSpace(in.Name), Transcript: in.Transcript,
			ReferenceFields: in.ReferenceFields, Source: source, Tags: cleanTags(in.Tags), CreatedAt: now,
			ExternalID: in.ExternalID, Evidence: in.Evidence,
		}
	}
	// Redaction before anything is stored or sent to a model.
	if err := s.redactConversations(ctx, cs, root); err != nil {
		return IngestResult{}, err
	}
	// A conversation whose external ID is stored keeps the stored key; the
	// keys the caller did not choose are derived for the others, then made
	// unique against the store and the batch. A concurrent ingest may take
	// a key, or store an external ID, between the check and the put: look
	// and derive again, a few times — a conversation another call stored
	// meanwhile is then seen as stored.
	for attempt := 0; ; attempt++ {
		if err := s.assignKeys(ctx, scope, ins, cs, root); err != nil {
			return IngestResult{}, err
		}
		outs, err := s.cfg.Store.PutConversations(ctx, scope, cs, mode)
		if err == nil {
			return ingested(outs, len(cs))
		}
		if !errors.Is(err, ErrConflict) || attempt == 3 {
			return IngestResult{}, wrap(err, "ingest")
		}
	}
}

// ingested is the result of a put of n conversations.
func ingested(outs []PutOutcome, n int) (IngestResult, error) {
	if len(outs) != n {
		return IngestResult{}, fmt.Errorf("analysis: ingest: the store returned %d outcomes for %d conversations", len(outs), n)
	}
	res := IngestResult{Conversations: make([]Conversation, n), Actions: make([]PutAction, n)}
	for i, o := range outs {
		res.Conversations[i], res.Actions[i] = o.Conversation, o.Action
		switch o.Action {
		case PutCreated:
			res.Created++
		case PutUpdated:
			res.Updated++
		case PutSkipped:
			res.Skipped++
		default:
			return IngestResult{}, fmt.Errorf("analysis: ingest: the store returned the action %q", o.Action)
		}
	}
	return res, nil
}

// pathOf is the path of the i-th conversation under root: root itself for
// a single conversation ("$").
func pathOf(root string, i int) string {
	if root == "$" {
		return root
	}
	return root + schemaval.Index(i)
}

func validateConversation(p *problems, i int, at string, in ConversationInput) error {
	if len(in.Transcript) > MaxTurns {
		// Too many turns to check one by one: say so, and no more.
		p.add(i, at+".transcript", fmt.Sprintf("%d turns, more than %d", len(in.Transcript), MaxTurns))
	} else if err := p.merge(in.Transcript.Validate(), i, at+".transcript"); err != nil {
		return err
	}
	for j, turn := range in.Transcript[:min(len(in.Transcript), MaxTurns)] {
		if len(turn.Content) > MaxTurnContentLen {
			p.add(i, at+".transcript"+schemaval.Index(j)+".content", fmt.Sprintf("%d bytes, more than %d", len(turn.Content), MaxTurnContentLen))
		}
	}
	switch {
	case in.Key != "" && !keyRE.MatchString(in.Key):
		p.add(i, at+".key", fmt.Sprintf("%q is not a valid key: it must match %s", in.Key, KeyPattern))
	case uuid.Valid(in.Key):
		p.add(i, at+".key", "a key must not look like a UUID, which would be taken for an ID")
	}
	switch {
	case len(in.Name) > MaxNameLen:
		p.add(i, at+".name", fmt.Sprintf("the name is %d bytes, more than %d", len(in.Name), MaxNameLen))
	case badText(in.Name):
		p.add(i, at+".name", notUTF8)
	}
	switch ext := in.ExternalID; {
	case ext == "": // none
	case len(ext) > MaxExternalIDLen:
		p.add(i, at+".externalId", fmt.Sprintf("the external ID is %d bytes, more than %d", len(ext), MaxExternalIDLen))
	case badText(ext):
		p.add(i, at+".externalId", notUTF8)
	case strings.TrimSpace(ext) == "":
		p.add(i, at+".externalId", "an external ID must not be blank")
	}
	switch in.Source {
	case "", SourceImported, SourcePlatform, SourceManual:
	default:
		p.add(i, at+".source", fmt.Sprintf("%q is not a source: use imported, platform or manual", in.Source))
	}
	if len(in.Tags) > MaxTags {
		p.add(i, at+".tags", fmt.Sprintf("%d tags, more than %d", len(in.Tags), MaxTags))
	}
	for j, tag := range in.Tags[:min(len(in.Tags), MaxTags)] {
		switch t := strings.TrimSpace(tag); {
		case t == "":
			p.add(i, at+".tags"+schemaval.Index(j), "a tag must not be empty")
		case len(t) > MaxTagLen:
			p.add(i, at+".tags"+schemaval.Index(j), fmt.Sprintf("the tag is %d bytes, more than %d", len(t), MaxTagLen))
		case badText(t):
			p.add(i, at+".tags"+schemaval.Index(j), notUTF8)
		}
	}
	validateEvidence(p, i, at+".evidence", in.Evidence, len(in.Transcript))
	if len(in.ReferenceFields) > MaxReferenceFields {
		p.add(i, at+".referenceFields", fmt.Sprintf("%d fields, more than %d", len(in.ReferenceFields), MaxReferenceFields))
		return nil
	}
	for _, k := range sortedKeys(in.ReferenceFields) {
		if k == "" {
			p.add(i, at+".referenceFields", "a reference field needs a key")
			continue
		}
		v := in.ReferenceFields[k]
		switch str, isString := v.(string); {
		case !scalar(v):
			p.add(i, at+".referenceFields"+schemaval.Key(k), "a reference value must be a string, number, boolean or null")
		case badText(k) || isString && badText(str):
			p.add(i, at+".referenceFields"+schemaval.Key(k), notUTF8)
		}
	}
	return nil
}

// notUTF8 is the problem of text that is not valid UTF-8, or holds a NUL
// character, which no store (PostgreSQL's text among them) or model can
// take as it is.
const notUTF8 = "the text is not valid UTF-8, or holds a NUL character"

// badText reports text a store cannot keep: not UTF-8, or with a NUL.
func badText(s string) bool { return !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 }

func scalar(v any) bool {
	switch x := v.(type) {
	case nil, string, bool, json.Number:
		return true
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case int, int64, float32:
		return true
	}
	return false
}

func cleanTags(tags []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// assignKeys gives every conversation its key. One whose external ID names
// a stored conversation takes that one's key — an explicit key that differs
// is a conflict — and consumes none. Every other conversation without an
// explicit key gets one derived from its name (or generated), unique in the
// store and in the batch; an explicit key that is taken is a conflict.
func (s *Service) assignKeys(ctx context.Context, scope Scope, ins []ConversationInput, cs []Conversation, root string) error {
	var exts []string
	for _, in := range ins {
		if in.ExternalID != "" {
			exts = append(exts, in.ExternalID)
		}
	}
	stored := map[string]string{} // external ID → the stored conversation's key
	if len(exts) > 0 {
		var err error
		if stored, err = s.cfg.Store.KeysByExternalID(ctx, scope, exts); err != nil {
			return wrap(err, "ingest")
		}
	}
	used := map[string]bool{}
	var explicit []string
	stays := make([]bool, len(ins)) // the conversation's external ID is stored
	for i, in := range ins {
		cs[i].Key = in.Key
		if key, ok := stored[in.ExternalID]; ok && in.ExternalID != "" {
			stays[i] = true
			if in.Key != "" && in.Key != key {
				return wrap(ErrConflict, "%s.key: the conversation with external ID %q is stored with the key %q, not %q",
					pathOf(root, i), in.ExternalID, key, in.Key)
			}
			cs[i].Key = key
			used[key] = true
			continue
		}
		if in.Key != "" {
			explicit = append(explicit, in.Key)
			used[in.Key] = true
		}
	}
	taken, err := s.existingKeys(ctx, scope, explicit)
	if err != nil {
		return err
	}
	for i, in := range ins {
		if !stays[i] && in.Key != "" && taken[in.Key] {
			return wrap(ErrConflict, "%s.key: the key %q is taken", pathOf(root, i), in.Key)
		}
	}
	// A derived key is the slug of the name, else the slug with "-2" to
	// "-9", else the slug with the conversation's short ID, which is unique:
	// a bounded number of candidates, checked in one store call. The name
	// is the one stored, redacted.
	bases := make([]string, len(ins))
	var candidates []string
	seenBase := map[string]bool{}
	for i := range ins {
		if cs[i].Key != "" {
			continue
		}
		if bases[i] = Slugify(cs[i].Name); bases[i] == "" {
			cs[i].Key = "conversation-" + shortID(cs[i].ID)
			continue
		}
		if seenBase[bases[i]] {
			continue
		}
		seenBase[bases[i]] = true
		candidates = append(candidates, bases[i])
		for n := 2; n <= maxNumberedKey; n++ {
			candidates = append(candidates, withSuffix(bases[i], n))
		}
	}
	existing, err := s.existingKeys(ctx, scope, candidates)
	if err != nil {
		return err
	}
	for k := range existing {
		used[k] = true
	}
	for i := range ins {
		if cs[i].Key != "" {
			used[cs[i].Key] = true
			continue
		}
		key := ""
		for n := 1; n <= maxNumberedKey && key == ""; n++ {
			k := bases[i]
			if n > 1 {
				k = withSuffix(bases[i], n)
			}
			if !used[k] {
				key = k
			}
		}
		if key == "" {
			key = strings.TrimRight(bases[i][:min(len(bases[i]), 100)], "-") + "-" + shortID(cs[i].ID)
		}
		used[key] = true
		cs[i].Key = key
	}
	return nil
}

// maxNumberedKey is the highest number a derived key gets before the key
// falls back to the conversation's short ID.
const maxNumberedKey = 9

func (s *Service) existingKeys(ctx context.Context, scope Scope, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	found, err := s.cfg.Store.ExistingKeys(ctx, scope, keys)
	if err != nil {
		return nil, wrap(err, "ingest")
	}
	for _, k := range found {
		out[k] = true
	}
	return out, nil
}

// GetConversation returns the conversation whose ID or key is idOrKey;
// ErrNotFound if the scope has none.
func (s *Service) GetConversation(ctx context.Context, scope Scope, idOrKey string) (Conversation, error) {
	if err := scope.Validate(); err != nil {
		return Conversation{}, err
	}
	c, err := s.cfg.Store.GetConversation(ctx, scope, idOrKey)
	return c, about(err, "conversation %q", idOrKey)
}

// ConversationFilter narrows [Service.ListConversations].
type ConversationFilter struct {
	// Search keeps the conversations whose name, key or transcript (what
	// was said, in any turn) contains it,
	// ignoring case.
	Search string
	// Tag keeps the conversations with this tag.
	Tag string
	// Limit bounds the result: 0 for the default, capped at the maximum.
	Limit int
}

// ListConversations returns the scope's conversations matching f, newest
// first.
func (s *Service) ListConversations(ctx context.Context, scope Scope, f ConversationFilter) ([]Conversation, error) {
	if err := scope.Validate(); err != nil {
		return nil, err
	}
	n, err := s.limit(f.Limit)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.ListConversations(ctx, scope, ConversationQuery{
		ListQuery: ListQuery{Search: strings.TrimSpace(f.Search), Limit: n}, Tag: strings.TrimSpace(f.Tag),
	})
}

// A ConversationPage is one page of a conversation list.
type ConversationPage struct {
	// Conversations are the page's conversations, newest first.
	Conversations []Conversation `json:"conversations"`
	// NextCursor asks for the next page; empty on the last one.
	NextCursor string `json:"nextCursor,omitempty"`
}

// ListConversationsPage is [Service.ListConversations] one page at a time:
// the first page for an empty cursor, else the page after the one that
// returned cursor as its NextCursor, with the same filter. Paging is by
// position, so a conversation ingested meanwhile never shifts a page: newer
// ones are not seen, older ones come in their place. It fails with
// ErrInvalid for a cursor no page returned.
func (s *Service) ListConversationsPage(ctx context.Context, scope Scope, f ConversationFilter, cursor string) (ConversationPage, error) {
	if err := scope.Validate(); err != nil {
		return ConversationPage{}, err
	}
	n, err := s.limit(f.Limit)
	if err != nil {
		return ConversationPage{}, err
	}
	q := ConversationQuery{ListQuery: ListQuery{Search: strings.TrimSpace(f.Search), Limit: n + 1}, Tag: strings.TrimSpace(f.Tag)}
	if cursor != "" {
		pos, ok := decodePosition(cursor)
		if !ok {
			return ConversationPage{}, invalid("$.cursor", "not a cursor this list returned")
		}
		q.After = &pos
	}
	cs, err := s.cfg.Store.ListConversations(ctx, scope, q)
	if err != nil {
		return ConversationPage{}, err
	}
	page := ConversationPage{Conversations: cs}
	if len(cs) > n {
		page.Conversations = cs[:n]
		last := cs[n-1]
		page.NextCursor = encodePosition(Position{CreatedAt: last.CreatedAt, Key: last.Key})
	}
	return page, nil
}

// positionPrefix versions the cursors of position-paged lists.
const positionPrefix = "p1."

// encodePosition makes the opaque cursor of a position.
func encodePosition(p Position) string {
	raw := strconv.FormatInt(p.CreatedAt.UnixNano(), 10) + "." + p.Key
	return positionPrefix + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodePosition reads a cursor encodePosition made.
func decodePosition(cursor string) (Position, bool) {
	rest, ok := strings.CutPrefix(cursor, positionPrefix)
	if !ok || len(cursor) > maxCursorLen {
		return Position{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return Position{}, false
	}
	nanos, key, ok := strings.Cut(string(raw), ".")
	n, err := strconv.ParseInt(nanos, 10, 64)
	if !ok || err != nil || !keyRE.MatchString(key) {
		return Position{}, false
	}
	return Position{CreatedAt: time.Unix(0, n).UTC(), Key: key}, true
}

// DeleteConversation deletes the conversation whose ID or key is idOrKey;
// ErrNotFound if the scope has none. Runs that analysed it keep their items.
func (s *Service) DeleteConversation(ctx context.Context, scope Scope, idOrKey string) error {
	if err := scope.Validate(); err != nil {
		return err
	}
	c, err := s.cfg.Store.GetConversation(ctx, scope, idOrKey)
	if err != nil {
		return about(err, "conversation %q", idOrKey)
	}
	return wrap(s.cfg.Store.DeleteConversation(ctx, scope, c.ID), "delete conversation %q", c.Key)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
