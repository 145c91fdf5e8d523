// Package pgstore is the analysis Store on PostgreSQL (pgx v5): the store
// teams deploy, shared by every replica of a service on one database.
//
// Every atomic rule of the [analysis.Store] contract is kept by the
// database: one run in progress per definition is a partial unique index;
// a schedule slot is a primary key; chunks are claimed with FOR UPDATE SKIP
// LOCKED under leases judged by the database's now(), and every write
// carries the claim's fencing token, checked under the chunk's row lock;
// an item and the counters it changes are written in one transaction;
// definition versions are compared and swapped in one UPDATE. Items and
// keys are paged by keyset cursors; conversation search is a trigram index
// (pg_trgm) over names, keys and each turn's content.
//
// The schema — tables in a PostgreSQL schema of their own, "debrief" unless
// [Options.Schema] names another — is created and migrated when a store is
// opened, under an advisory lock, so that several processes may open it at
// once. A store never holds a connection while a model runs: each method
// is one short transaction.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/internal/pgmigrate"
)

// DefaultSchema is the PostgreSQL schema of the tables unless
// [Options.Schema] names another.
const DefaultSchema = "debrief"

// Options configure [New] and [Open].
type Options struct {
	// Schema is the PostgreSQL schema the tables live in, created when
	// missing: lower-case letters, digits and underscores, starting with a
	// letter or underscore, at most 63 bytes. Empty means [DefaultSchema].
	Schema string
	// ClockSkew, when set, is added to the database's now() wherever the
	// store judges time (leases, the start of a run): tests let leases lapse
	// without waiting. Hosts leave it nil.
	ClockSkew func() time.Duration
}

// A Store is the analysis store on a PostgreSQL database. It is safe for
// concurrent use, by any number of processes.
type Store struct {
	pool  *pgxpool.Pool
	owned bool   // Open made the pool: Close closes it
	s     string // the quoted schema
	skew  func() time.Duration
}

var _ analysis.Store = (*Store)(nil)

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New returns a store on pool, which the host owns, creating or migrating
// its tables first.
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
	st := &Store{pool: pool, s: pgx.Identifier{schema}.Sanitize(), skew: opts.ClockSkew}
	if err := migrate(ctx, pool, schema); err != nil {
		return nil, err
	}
	return st, nil
}

// Open connects to the database url names (a postgres:// URL or a libpq
// key=value string) and returns a store on it; Close closes the pool.
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

// Close closes the pool when [Open] made it; a pool the host passed to
// [New] is the host's to close.
func (st *Store) Close() {
	if st.owned {
		st.pool.Close()
	}
}

// Pool returns the pool the store uses.
func (st *Store) Pool() *pgxpool.Pool { return st.pool }

//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies the migrations the schema lacks, with pg_trgm — the
// trigram index of conversation search — installed first when the
// database lacks it, and its operator class named in the schema it lives
// in.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	trgm, err := trigramSchema(ctx, pool)
	if err != nil {
		return err
	}
	if err := pgmigrate.Apply(ctx, pool, schema, "analysis_migrations", migrations, "migrations",
		map[string]string{"Trgm": pgx.Identifier{trgm}.Sanitize()}); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return nil
}

// trigramSchema returns the schema of the pg_trgm extension, installing it
// when the database has none (PostgreSQL lets a database owner install it).
func trigramSchema(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	const find = `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`
	var schema string
	err := pool.QueryRow(ctx, find).Scan(&schema)
	if errors.Is(err, pgx.ErrNoRows) {
		_, cerr := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_trgm`)
		// Two processes opening at once may both find no extension; the one
		// that loses the race gets a unique violation, and finds the
		// winner's extension when it looks again.
		err = pool.QueryRow(ctx, find).Scan(&schema)
		if errors.Is(err, pgx.ErrNoRows) && cerr != nil {
			return "", fmt.Errorf("pgstore: conversation search needs the pg_trgm extension; install it (CREATE EXTENSION pg_trgm) or let this role create it: %w", cerr)
		}
	}
	if err != nil {
		return "", fmt.Errorf("pgstore: %w", err)
	}
	return schema, nil
}

// now is the SQL of the store's now: the database's, plus the skew.
func (st *Store) skewInterval() string {
	if st.skew == nil {
		return "0"
	}
	return strconv.FormatInt(st.skew().Microseconds(), 10)
}

// nowSQL returns the SQL expression of the store's now.
func (st *Store) nowSQL() string {
	return "(now() + make_interval(secs => " + st.skewInterval() + "::double precision / 1e6))"
}

// Postgres error codes the store tells apart.
const (
	uniqueViolation = "23505"
)

// constraint returns the name of the unique constraint err violates, or "".
func constraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation {
		return pe.ConstraintName
	}
	return ""
}

// escapeLike escapes the wildcards of a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
