package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/text/cases"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/internal/pgtext"
)

// CreateDefinition implements [analysis.DefinitionStore].
func (st *Store) CreateDefinition(ctx context.Context, sc analysis.Scope, d analysis.Definition) error {
	if err := holdable("definition", sc, d.ID, d.Key, d.Name); err != nil {
		return err
	}
	doc, err := pgtext.JSON(d)
	if err != nil {
		return err
	}
	_, err = st.pool.Exec(ctx, `INSERT INTO `+st.s+`.definitions (tenant, project, id, key, version, name, search, created_at, schedule_enabled, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $10, $7, $8, $9)`,
		sc.Tenant, sc.Project, d.ID, d.Key, d.Version, d.Name, d.CreatedAt, d.Schedule != nil && d.Schedule.Enabled, doc, folded(d.Name, d.Key))
	if constraint(err) != "" {
		return analysis.ErrConflict // the ID or the key is taken, the key perhaps by a deleted definition
	}
	return err
}

// GetDefinition implements [analysis.DefinitionStore].
func (st *Store) GetDefinition(ctx context.Context, sc analysis.Scope, idOrKey string) (analysis.Definition, error) {
	return st.getDefinition(ctx, st.pool, sc, idOrKey, "")
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// getDefinition reads the definition whose ID or, failing that, key is
// idOrKey, with lock appended to the query ("FOR UPDATE", say).
func (st *Store) getDefinition(ctx context.Context, q querier, sc analysis.Scope, idOrKey, lock string) (analysis.Definition, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, idOrKey) {
		return analysis.Definition{}, analysis.ErrNotFound
	}
	var doc []byte
	var version int64
	err := q.QueryRow(ctx, `SELECT doc, version FROM `+st.s+`.definitions
		WHERE tenant = $1 AND project = $2 AND (id = $3 OR key = $3) AND NOT deleted
		ORDER BY id = $3 DESC LIMIT 1 `+lock, sc.Tenant, sc.Project, idOrKey).Scan(&doc, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return analysis.Definition{}, analysis.ErrNotFound
	}
	if err != nil {
		return analysis.Definition{}, err
	}
	var d analysis.Definition
	if err := json.Unmarshal(doc, &d); err != nil {
		return analysis.Definition{}, err
	}
	d.Version = version
	return d, nil
}

// UpdateDefinition implements [analysis.DefinitionStore].
func (st *Store) UpdateDefinition(ctx context.Context, sc analysis.Scope, d analysis.Definition, ifVersion int64) error {
	if !pgtext.Storable(sc.Tenant, sc.Project, d.ID) {
		return analysis.ErrNotFound
	}
	if err := holdable("definition", sc, d.Key, d.Name); err != nil {
		return err
	}
	d.Version = ifVersion + 1
	doc, err := pgtext.JSON(d)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		var key string
		var version int64
		err := tx.QueryRow(ctx, `SELECT key, version FROM `+st.s+`.definitions
			WHERE tenant = $1 AND project = $2 AND id = $3 AND NOT deleted FOR UPDATE`, sc.Tenant, sc.Project, d.ID).Scan(&key, &version)
		if errors.Is(err, pgx.ErrNoRows) {
			return analysis.ErrNotFound
		}
		if err != nil {
			return err
		}
		if key != d.Key || version != ifVersion {
			return analysis.ErrConflict
		}
		if running, err := st.runInProgress(ctx, tx, sc, key); err != nil || running {
			if err == nil {
				err = analysis.ErrRunInProgress
			}
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE `+st.s+`.definitions SET version = $4, name = $5, schedule_enabled = $6, doc = $7, search = $8
			WHERE tenant = $1 AND project = $2 AND id = $3`,
			sc.Tenant, sc.Project, d.ID, d.Version, d.Name, d.Schedule != nil && d.Schedule.Enabled, doc, folded(d.Name, d.Key))
		return err
	})
}

// runInProgress reports whether the definition has a pending or running
// run. Run creation locks the definition's row first, so under that row's
// lock the answer holds until the transaction ends.
func (st *Store) runInProgress(ctx context.Context, q querier, sc analysis.Scope, key string) (bool, error) {
	var running bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+st.s+`.runs
		WHERE tenant = $1 AND project = $2 AND definition_key = $3 AND status IN ('pending', 'running'))`,
		sc.Tenant, sc.Project, key).Scan(&running)
	return running, err
}

// DeleteDefinition implements [analysis.DefinitionStore].
func (st *Store) DeleteDefinition(ctx context.Context, sc analysis.Scope, id string, ifVersion int64) error {
	if !pgtext.Storable(sc.Tenant, sc.Project, id) {
		return analysis.ErrNotFound
	}
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		var key string
		var version int64
		err := tx.QueryRow(ctx, `SELECT key, version FROM `+st.s+`.definitions
			WHERE tenant = $1 AND project = $2 AND id = $3 AND NOT deleted FOR UPDATE`, sc.Tenant, sc.Project, id).Scan(&key, &version)
		if errors.Is(err, pgx.ErrNoRows) {
			return analysis.ErrNotFound
		}
		if err != nil {
			return err
		}
		if ifVersion > 0 && version != ifVersion {
			return analysis.ErrConflict
		}
		if running, err := st.runInProgress(ctx, tx, sc, key); err != nil || running {
			if err == nil {
				err = analysis.ErrRunInProgress
			}
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE `+st.s+`.definitions SET deleted = true, schedule_enabled = false
			WHERE tenant = $1 AND project = $2 AND id = $3`, sc.Tenant, sc.Project, id)
		return err
	})
}

// ListDefinitions implements [analysis.DefinitionStore].
func (st *Store) ListDefinitions(ctx context.Context, sc analysis.Scope, q analysis.ListQuery) ([]analysis.Definition, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, q.Search) {
		return []analysis.Definition{}, nil
	}
	pattern := "%" + escapeLike(cases.Fold().String(q.Search)) + "%"
	rows, err := st.pool.Query(ctx, `SELECT doc, version FROM `+st.s+`.definitions
		WHERE tenant = $1 AND project = $2 AND NOT deleted AND ($3 = '' OR search LIKE $4)
		ORDER BY created_at DESC, key COLLATE "C" LIMIT $5`, sc.Tenant, sc.Project, q.Search, pattern, limitOf(q.Limit))
	if err != nil {
		return nil, err
	}
	return collectDefinitions(rows)
}

// ListScheduled implements [analysis.DefinitionStore].
func (st *Store) ListScheduled(ctx context.Context) ([]analysis.ScopedDefinition, error) {
	rows, err := st.pool.Query(ctx, `SELECT tenant, project, doc, version FROM `+st.s+`.definitions
		WHERE schedule_enabled AND NOT deleted ORDER BY tenant || '/' || project COLLATE "C", key COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []analysis.ScopedDefinition{}
	for rows.Next() {
		var sd analysis.ScopedDefinition
		var doc []byte
		if err := rows.Scan(&sd.Scope.Tenant, &sd.Scope.Project, &doc, &sd.Definition.Version); err != nil {
			return nil, err
		}
		version := sd.Definition.Version
		if err := json.Unmarshal(doc, &sd.Definition); err != nil {
			return nil, err
		}
		sd.Definition.Version = version
		out = append(out, sd)
	}
	return out, rows.Err()
}

func collectDefinitions(rows pgx.Rows) ([]analysis.Definition, error) {
	defer rows.Close()
	out := []analysis.Definition{}
	for rows.Next() {
		var doc []byte
		var version int64
		if err := rows.Scan(&doc, &version); err != nil {
			return nil, err
		}
		var d analysis.Definition
		if err := json.Unmarshal(doc, &d); err != nil {
			return nil, err
		}
		d.Version = version
		out = append(out, d)
	}
	return out, rows.Err()
}

// limitOf is the LIMIT of a list: the service always sets one above 0.
func limitOf(n int) int {
	if n <= 0 {
		return 1 << 30
	}
	return n
}

// folded is what a search looks in: the texts case-folded (as memstore
// folds them), with a separator no text holds (\x01) between them, so that
// no match spans two.
func folded(texts ...string) string {
	fold := cases.Fold()
	for i, t := range texts {
		texts[i] = fold.String(t)
	}
	return pgtext.Text(strings.ReplaceAll(strings.Join(texts, "\x01"), "\x00", ""))
}

// holdable returns ErrInvalid, naming what, when the scope or one of
// names (IDs, keys, names, tags) is text PostgreSQL cannot hold: the
// service never passes such, so only a host calling the store itself sees
// it.
func holdable(what string, sc analysis.Scope, names ...string) error {
	if !pgtext.Storable(sc.Tenant, sc.Project) || !pgtext.Storable(names...) {
		return fmt.Errorf("pgstore: the %s's scope, ID, key, name, tags or external ID is not valid UTF-8 without NUL: %w", what, analysis.ErrInvalid)
	}
	return nil
}

// holdableConversation is holdable for a conversation.
func holdableConversation(sc analysis.Scope, c analysis.Conversation) error {
	return holdable("conversation", sc, append([]string{c.ID, c.Key, c.Name, c.ExternalID}, c.Tags...)...)
}

// searchText is what conversation search looks in: the name, the key and
// each turn's content, case-folded, with a separator no text holds (\x01)
// between them, so that no match spans two of them.
func searchText(c analysis.Conversation) string {
	parts := []string{c.Name, c.Key}
	for _, t := range c.Transcript {
		parts = append(parts, t.Content)
	}
	return folded(parts...)
}

// CreateConversations implements [analysis.ConversationStore].
func (st *Store) CreateConversations(ctx context.Context, sc analysis.Scope, cs []analysis.Conversation) error {
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		return st.insertConversations(ctx, tx, sc, cs)
	})
}

// conversationColumns are the columns insertConversations writes.
var conversationColumns = []string{"tenant", "project", "id", "key", "external_id", "created_at", "tags", "search", "doc"}

// insertConversations inserts cs, in that order, in the transaction tx:
// ErrConflict when an ID, key or external ID is taken, or another
// transaction inserting one of them deadlocked with this one.
func (st *Store) insertConversations(ctx context.Context, tx pgx.Tx, sc analysis.Scope, cs []analysis.Conversation) error {
	rows := make([][]any, 0, len(cs))
	for _, c := range cs {
		if err := holdableConversation(sc, c); err != nil {
			return err
		}
		doc, err := pgtext.JSON(c)
		if err != nil {
			return err
		}
		tags := c.Tags
		if tags == nil {
			tags = []string{}
		}
		var ext any // NULL: no external ID
		if c.ExternalID != "" {
			ext = c.ExternalID
		}
		rows = append(rows, []any{sc.Tenant, sc.Project, c.ID, c.Key, ext, c.CreatedAt, tags, searchText(c), doc})
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{strings.Trim(st.s, `"`), "conversations"}, conversationColumns, pgx.CopyFromRows(rows))
	if constraint(err) != "" || deadlocked(err) {
		return analysis.ErrConflict
	}
	return err
}

// deadlockDetected is PostgreSQL's code of a transaction ended to break a
// deadlock.
const deadlockDetected = "40P01"

// deadlocked reports whether err ended a transaction to break a deadlock:
// two puts inserting the same keys or external IDs in different orders,
// each waiting for the other's — a conflict the caller retries.
func deadlocked(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == deadlockDetected
}

// PutConversations implements [analysis.ConversationStore]. In one
// transaction it locks the conversations stored with the external IDs of
// cs (in ID order, so that two puts locking the same rows take them in the
// same order and cannot deadlock on them), updates them or leaves them, and
// inserts the others — ordered by external ID, so that two puts inserting
// the same ones meet at the first: the later waits for the earlier to end,
// then fails with ErrConflict (a unique violation) and its caller,
// retrying, finds the conversation. A deadlock PostgreSQL breaks between
// two puts (their keys inserted in different orders) is ErrConflict too.
func (st *Store) PutConversations(ctx context.Context, sc analysis.Scope, cs []analysis.Conversation, onExisting analysis.OnExisting) ([]analysis.PutOutcome, error) {
	for _, c := range cs {
		if err := holdableConversation(sc, c); err != nil {
			return nil, err
		}
	}
	exts := make([]string, 0, len(cs))
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		if c.ExternalID == "" {
			continue
		}
		if seen[c.ExternalID] {
			return nil, analysis.ErrConflict
		}
		seen[c.ExternalID] = true
		exts = append(exts, c.ExternalID)
	}
	var out []analysis.PutOutcome
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		stored := map[string]analysis.Conversation{}
		if len(exts) > 0 {
			rows, err := tx.Query(ctx, `SELECT doc FROM `+st.s+`.conversations
				WHERE tenant = $1 AND project = $2 AND external_id = ANY($3::text[]) AND external_id IS NOT NULL
				ORDER BY id FOR UPDATE`, sc.Tenant, sc.Project, pgtext.StorableOnly(exts))
			if err != nil {
				return err
			}
			found, err := collectConversations(rows)
			if err != nil {
				return err
			}
			for _, c := range found {
				stored[c.ExternalID] = c
			}
		}
		out = make([]analysis.PutOutcome, len(cs))
		var created []analysis.Conversation
		updates := &pgx.Batch{}
		for i, c := range cs {
			old, exists := stored[c.ExternalID]
			switch {
			case !exists: // no external ID, or one not stored
				created = append(created, c)
				out[i] = analysis.PutOutcome{Action: analysis.PutCreated, Conversation: c}
			case onExisting == analysis.SkipExisting:
				out[i] = analysis.PutOutcome{Action: analysis.PutSkipped, Conversation: old}
			default:
				nc := old
				nc.Name, nc.Transcript, nc.ReferenceFields = c.Name, c.Transcript, c.ReferenceFields
				nc.Source, nc.Tags, nc.Evidence = c.Source, c.Tags, c.Evidence
				doc, err := pgtext.JSON(nc)
				if err != nil {
					return err
				}
				tags := nc.Tags
				if tags == nil {
					tags = []string{}
				}
				// Analysed no more when its content is new: compared as jsonb,
				// before the update, so that 1.50 and 1.5 are the same number.
				updates.Queue(`DELETE FROM `+st.s+`.analysed a USING `+st.s+`.conversations c
					WHERE a.tenant = $1 AND a.project = $2 AND a.key = $3 AND c.tenant = $1 AND c.project = $2 AND c.key = $3
					AND (c.doc->'transcript' IS DISTINCT FROM $4::jsonb->'transcript' OR c.doc->'evidence' IS DISTINCT FROM $4::jsonb->'evidence')`,
					sc.Tenant, sc.Project, nc.Key, doc)
				updates.Queue(`UPDATE `+st.s+`.conversations SET tags = $4, search = $5, doc = $6
					WHERE tenant = $1 AND project = $2 AND id = $3`, sc.Tenant, sc.Project, nc.ID, tags, searchText(nc), doc)
				out[i] = analysis.PutOutcome{Action: analysis.PutUpdated, Conversation: nc}
			}
		}
		if updates.Len() > 0 {
			if err := tx.SendBatch(ctx, updates).Close(); err != nil {
				return err
			}
		}
		if len(created) == 0 {
			return nil
		}
		slices.SortStableFunc(created, func(a, b analysis.Conversation) int {
			if a.ExternalID == "" || b.ExternalID == "" {
				return strings.Compare(b.ExternalID, a.ExternalID) // those with one first
			}
			return strings.Compare(a.ExternalID, b.ExternalID)
		})
		return st.insertConversations(ctx, tx, sc, created)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// KeysByExternalID implements [analysis.ConversationStore].
func (st *Store) KeysByExternalID(ctx context.Context, sc analysis.Scope, externalIDs []string) (map[string]string, error) {
	out := map[string]string{}
	if !pgtext.Storable(sc.Tenant, sc.Project) || len(externalIDs) == 0 {
		return out, nil
	}
	rows, err := st.pool.Query(ctx, `SELECT external_id, key FROM `+st.s+`.conversations
		WHERE tenant = $1 AND project = $2 AND external_id = ANY($3::text[]) AND external_id IS NOT NULL`,
		sc.Tenant, sc.Project, pgtext.StorableOnly(externalIDs))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ext, key string
		if err := rows.Scan(&ext, &key); err != nil {
			return nil, err
		}
		out[ext] = key
	}
	return out, rows.Err()
}

// GetConversation implements [analysis.ConversationStore].
func (st *Store) GetConversation(ctx context.Context, sc analysis.Scope, idOrKey string) (analysis.Conversation, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, idOrKey) {
		return analysis.Conversation{}, analysis.ErrNotFound
	}
	var doc []byte
	err := st.pool.QueryRow(ctx, `SELECT doc FROM `+st.s+`.conversations
		WHERE tenant = $1 AND project = $2 AND (id = $3 OR key = $3) ORDER BY id = $3 DESC LIMIT 1`,
		sc.Tenant, sc.Project, idOrKey).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return analysis.Conversation{}, analysis.ErrNotFound
	}
	if err != nil {
		return analysis.Conversation{}, err
	}
	var c analysis.Conversation
	return c, json.Unmarshal(doc, &c)
}

// GetConversations implements [analysis.ConversationStore].
func (st *Store) GetConversations(ctx context.Context, sc analysis.Scope, keys []string) ([]analysis.Conversation, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project) {
		return []analysis.Conversation{}, nil
	}
	// key = ANY: lookups in the key index, whatever the planner knows of
	// the table's size; the order asked for is restored here.
	rows, err := st.pool.Query(ctx, `SELECT c.doc FROM `+st.s+`.conversations c
		WHERE c.tenant = $1 AND c.project = $2 AND c.key = ANY($3::text[])`, sc.Tenant, sc.Project, pgtext.StorableOnly(keys))
	if err != nil {
		return nil, err
	}
	found, err := collectConversations(rows)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]analysis.Conversation, len(found))
	for _, c := range found {
		byKey[c.Key] = c
	}
	out := make([]analysis.Conversation, 0, len(found))
	for _, k := range keys {
		if c, ok := byKey[k]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}

func collectConversations(rows pgx.Rows) ([]analysis.Conversation, error) {
	defer rows.Close()
	out := []analysis.Conversation{}
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var c analysis.Conversation
		if err := json.Unmarshal(doc, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ExistingKeys implements [analysis.ConversationStore].
func (st *Store) ExistingKeys(ctx context.Context, sc analysis.Scope, keys []string) ([]string, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project) {
		return []string{}, nil
	}
	rows, err := st.pool.Query(ctx, `SELECT c.key FROM `+st.s+`.conversations c
		WHERE c.tenant = $1 AND c.project = $2 AND c.key = ANY($3::text[])`, sc.Tenant, sc.Project, pgtext.StorableOnly(keys))
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	exists := make(map[string]bool, len(found))
	for _, k := range found {
		exists[k] = true
	}
	out := []string{}
	for _, k := range keys {
		if exists[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// DeleteConversation implements [analysis.ConversationStore].
func (st *Store) DeleteConversation(ctx context.Context, sc analysis.Scope, id string) error {
	if !pgtext.Storable(sc.Tenant, sc.Project, id) {
		return analysis.ErrNotFound
	}
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		var key string
		err := tx.QueryRow(ctx, `DELETE FROM `+st.s+`.conversations WHERE tenant = $1 AND project = $2 AND id = $3 RETURNING key`,
			sc.Tenant, sc.Project, id).Scan(&key)
		if errors.Is(err, pgx.ErrNoRows) {
			return analysis.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM `+st.s+`.analysed WHERE tenant = $1 AND project = $2 AND key = $3`, sc.Tenant, sc.Project, key)
		return err
	})
}

// ListConversations implements [analysis.ConversationStore].
func (st *Store) ListConversations(ctx context.Context, sc analysis.Scope, q analysis.ConversationQuery) ([]analysis.Conversation, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, q.Tag, q.Search) {
		return []analysis.Conversation{}, nil
	}
	if !pgtext.Storable(q.UnanalyzedBy) {
		q.UnanalyzedBy = "" // no conversation is analysed by a definition that cannot be stored
	}
	sql, args := st.conversationFilter(sc, q.Tag, q.UnanalyzedBy)
	if q.Search != "" {
		args = append(args, "%"+escapeLike(cases.Fold().String(q.Search))+"%")
		sql += ` AND c.search LIKE $` + itoa(len(args))
	}
	switch {
	case q.After == nil:
	case pgtext.Storable(q.After.Key):
		args = append(args, q.After.CreatedAt, q.After.Key)
		sql += ` AND (c.created_at < $` + itoa(len(args)-1) + ` OR c.created_at = $` + itoa(len(args)-1) + ` AND c.key COLLATE "C" > $` + itoa(len(args)) + `)`
	default:
		// A key no text can hold: compared as bytes, the order of the C
		// collation keys are kept in.
		args = append(args, q.After.CreatedAt, []byte(q.After.Key))
		sql += ` AND (c.created_at < $` + itoa(len(args)-1) + ` OR c.created_at = $` + itoa(len(args)-1) + ` AND convert_to(c.key, 'UTF8') > $` + itoa(len(args)) + `::bytea)`
	}
	args = append(args, limitOf(q.Limit))
	rows, err := st.pool.Query(ctx, `SELECT c.doc FROM `+st.s+`.conversations c WHERE `+sql+
		` ORDER BY c.created_at DESC, c.key COLLATE "C" LIMIT $`+itoa(len(args)), args...)
	if err != nil {
		return nil, err
	}
	return collectConversations(rows)
}

// conversationFilter returns the WHERE clause, on conversations aliased c,
// of the scope's conversations with a tag and not analysed by a definition
// (each when set), and its arguments.
func (st *Store) conversationFilter(sc analysis.Scope, tag, unanalysedBy string) (string, []any) {
	sql := `c.tenant = $1 AND c.project = $2`
	args := []any{sc.Tenant, sc.Project}
	if tag != "" {
		args = append(args, []string{tag})
		sql += ` AND c.tags @> $` + itoa(len(args))
	}
	if unanalysedBy != "" {
		args = append(args, unanalysedBy)
		sql += ` AND NOT EXISTS (SELECT 1 FROM ` + st.s + `.analysed a WHERE a.tenant = c.tenant AND a.project = c.project
			AND a.definition_key = $` + itoa(len(args)) + ` AND a.key = c.key)`
	}
	return sql, args
}

func itoa(n int) string { return strconv.Itoa(n) }
