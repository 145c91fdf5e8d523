// Package pgstore is the timeline Store on PostgreSQL (pgx v5), with the
// conventions of analysis/pgstore: tables in a schema of their own
// ("debrief" unless [Options.Schema] names another), created and migrated
// when the store is opened, under an advisory lock; a pool the host owns,
// or one made from a URL; every method one short transaction.
package pgstore

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/debrief-go/debrief/internal/pgmigrate"
	"github.com/debrief-go/debrief/internal/pgtext"
	"github.com/debrief-go/debrief/timeline"
)

// DefaultSchema is the PostgreSQL schema of the table unless
// [Options.Schema] names another.
const DefaultSchema = "debrief"

// Options configure [New] and [Open].
type Options struct {
	// Schema is the PostgreSQL schema the table lives in, created when
	// missing: lower-case letters, digits and underscores, starting with a
	// letter or underscore, at most 63 bytes. Empty means [DefaultSchema].
	Schema string
}

// A Store is the timeline store on a PostgreSQL database. It is safe for
// concurrent use, by any number of processes.
type Store struct {
	pool  *pgxpool.Pool
	owned bool
	t     string // the quoted table
}

var _ timeline.Store = (*Store)(nil)

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

//go:embed migrations/*.sql
var migrations embed.FS

// New returns a store on pool, which the host owns, creating or migrating
// its table first.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: New: the pool is nil")
	}
	schema := opts.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	if !schemaRE.MatchString(schema) {
		return nil, fmt.Errorf("pgstore: Options.Schema: %q is not a plain lower-case identifier", schema)
	}
	quoted := pgx.Identifier{schema}.Sanitize()
	if err := pgmigrate.Apply(ctx, pool, schema, "timeline_migrations", migrations, "migrations", nil); err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return &Store{pool: pool, t: quoted + ".timeline_analyses"}, nil
}

// Open connects to the database url names and returns a store on it;
// Close closes the pool.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: Open: %w", err)
	}
	st, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	st.owned = true
	return st, nil
}

// Close closes the pool when [Open] made it.
func (st *Store) Close() {
	if st.owned {
		st.pool.Close()
	}
}

// Create implements [timeline.Store].
func (st *Store) Create(ctx context.Context, a timeline.Analysis, prevID string) (timeline.Analysis, bool, error) {
	if err := ctx.Err(); err != nil {
		return timeline.Analysis{}, false, err
	}
	var problems []timeline.Problem
	for _, p := range []struct{ path, value, msg string }{
		{"$.id", a.ID, "the id is missing"}, {"$.customer_id", a.CustomerID, "the customer id is missing"},
		{"$.activeflow_id", a.ActiveflowID, "the flow id is missing"},
	} {
		if p.value == "" {
			problems = append(problems, timeline.Problem{Path: p.path, Message: p.msg})
		} else if !pgtext.Storable(p.value) {
			problems = append(problems, timeline.Problem{Path: p.path, Message: "not valid UTF-8 without NUL"})
		}
	}
	if a.Status != timeline.StatusProgressing {
		problems = append(problems, timeline.Problem{Path: "$.status", Message: fmt.Sprintf("%q: a new analysis must be progressing", a.Status)})
	}
	if len(problems) > 0 {
		return timeline.Analysis{}, false, &timeline.ValidationError{Problems: problems}
	}
	doc, err := pgtext.JSON(a)
	if err != nil {
		return timeline.Analysis{}, false, err
	}
	var current timeline.Analysis
	created := false
	err = pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		// One flow's creates are one after another.
		// (Two flows whose hashes collide merely wait for each other.)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))`, a.CustomerID, a.ActiveflowID); err != nil {
			return err
		}
		latest, err := st.latest(ctx, tx, a.CustomerID, a.ActiveflowID)
		switch {
		case err == nil:
			if latest.ID != prevID || latest.Status == timeline.StatusProgressing {
				current = latest
				return nil
			}
		case !errors.Is(err, timeline.ErrNotFound):
			return err
		case prevID != "":
			return fmt.Errorf("%w: previous analysis %q of the flow", timeline.ErrNotFound, prevID)
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+st.t+` (id, customer_id, activeflow_id, status, tm_create, doc) VALUES ($1, $2, $3, $4, $5, $6)`,
			a.ID, a.CustomerID, a.ActiveflowID, string(a.Status), a.TMCreate.Time, doc)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return fmt.Errorf("%w: analysis id %q is already used", timeline.ErrConflict, a.ID)
		}
		if err != nil {
			return err
		}
		current, created = a, true
		return nil
	})
	if err != nil {
		return timeline.Analysis{}, false, err
	}
	if created {
		current, err = st.Get(ctx, a.CustomerID, a.ID) // as stored: what Get will return
	}
	return current, created, err
}

// Finish implements [timeline.Store].
func (st *Store) Finish(ctx context.Context, a timeline.Analysis) error {
	if a.Status != timeline.StatusCompleted && a.Status != timeline.StatusFailed {
		return &timeline.ValidationError{Problems: []timeline.Problem{{Path: "$.status", Message: fmt.Sprintf("%q: a finished analysis is completed or failed", a.Status)}}}
	}
	if !pgtext.Storable(a.ID, a.CustomerID) {
		return timeline.ErrNotFound
	}
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `SELECT doc FROM `+st.t+` WHERE id = $1 AND customer_id = $2 FOR UPDATE`, a.ID, a.CustomerID).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return timeline.ErrNotFound
		}
		if err != nil {
			return err
		}
		var stored timeline.Analysis
		if err := json.Unmarshal(raw, &stored); err != nil {
			return err
		}
		if stored.Status != timeline.StatusProgressing {
			return fmt.Errorf("%w: analysis %q is already %s", timeline.ErrConflict, a.ID, stored.Status)
		}
		stored.Status, stored.Result, stored.Error, stored.TMUpdate = a.Status, a.Result, a.Error, a.TMUpdate
		doc, err := pgtext.JSON(stored)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE `+st.t+` SET status = $2, doc = $3 WHERE id = $1`, a.ID, string(a.Status), doc)
		return err
	})
}

// Get implements [timeline.Store].
func (st *Store) Get(ctx context.Context, customerID, id string) (timeline.Analysis, error) {
	if !pgtext.Storable(customerID, id) {
		return timeline.Analysis{}, timeline.ErrNotFound
	}
	return scanOne(st.pool.QueryRow(ctx, `SELECT doc FROM `+st.t+` WHERE id = $1 AND customer_id = $2`, id, customerID))
}

// Latest implements [timeline.Store].
func (st *Store) Latest(ctx context.Context, customerID, flowID string) (timeline.Analysis, error) {
	if !pgtext.Storable(customerID, flowID) {
		return timeline.Analysis{}, timeline.ErrNotFound
	}
	return st.latest(ctx, st.pool, customerID, flowID)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (st *Store) latest(ctx context.Context, q querier, customerID, flowID string) (timeline.Analysis, error) {
	return scanOne(q.QueryRow(ctx, `SELECT doc FROM `+st.t+` WHERE customer_id = $1 AND activeflow_id = $2 ORDER BY seq DESC LIMIT 1`,
		customerID, flowID))
}

func scanOne(row pgx.Row) (timeline.Analysis, error) {
	var raw []byte
	if err := row.Scan(&raw); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return timeline.Analysis{}, timeline.ErrNotFound
		}
		return timeline.Analysis{}, err
	}
	var a timeline.Analysis
	return a, json.Unmarshal(raw, &a)
}

// List implements [timeline.Store].
func (st *Store) List(ctx context.Context, customerID string, filter timeline.ListFilter, page timeline.PageRequest) (timeline.Page, error) {
	if err := ctx.Err(); err != nil {
		return timeline.Page{}, err
	}
	size, after, err := timeline.ResolvePage(customerID, filter, page)
	if err != nil {
		return timeline.Page{}, err
	}
	if !pgtext.Storable(customerID, filter.ActiveflowID) {
		return timeline.Page{Items: []timeline.Analysis{}}, nil
	}
	where := `customer_id = $1 AND ($2 = '' OR activeflow_id = $2)`
	args := []any{customerID, filter.ActiveflowID, size + 1}
	switch {
	case after == nil:
	case pgtext.Storable(after.ID):
		where += ` AND (tm_create, id) < ($4, $5)`
		args = append(args, after.TMCreate, after.ID)
	default:
		// A token's id no text can hold (a forged one): compared as bytes,
		// the order of the C collation ids are kept in.
		where += ` AND (tm_create < $4 OR tm_create = $4 AND convert_to(id, 'UTF8') < $5::bytea)`
		args = append(args, after.TMCreate, []byte(after.ID))
	}
	rows, err := st.pool.Query(ctx, `SELECT doc FROM `+st.t+` WHERE `+where+` ORDER BY tm_create DESC, id DESC LIMIT $3`, args...)
	if err != nil {
		return timeline.Page{}, err
	}
	defer rows.Close()
	out := timeline.Page{Items: []timeline.Analysis{}}
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return timeline.Page{}, err
		}
		var a timeline.Analysis
		if err := json.Unmarshal(raw, &a); err != nil {
			return timeline.Page{}, err
		}
		out.Items = append(out.Items, a)
	}
	if err := rows.Err(); err != nil {
		return timeline.Page{}, err
	}
	if len(out.Items) > size {
		out.Items = out.Items[:size]
		out.NextToken = timeline.PageToken(customerID, filter, out.Items[size-1])
	}
	return out, nil
}
