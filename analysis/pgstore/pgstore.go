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
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/debrief-go/debrief/analysis"
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
	if err := migrate(ctx, pool, st.s); err != nil {
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

// migrationLock is the advisory lock every debrief migration takes, so that
// processes opening stores at once apply each migration once.
const migrationLock = 0x64656272_69656631 // "debrief1"

// migrate applies the migrations the schema lacks, in one transaction under
// the advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	files, err := migrations.ReadDir("migrations")
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, f.Name())
	}
	sort.Strings(names)
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("pgstore: migrate: %w", err)
		}
		for _, stmt := range []string{
			`CREATE SCHEMA IF NOT EXISTS ` + schema,
			`CREATE TABLE IF NOT EXISTS ` + schema + `.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("pgstore: migrate: %w", err)
			}
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+schema+`.schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("pgstore: migrate: %w", err)
		}
		for _, name := range names {
			version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
			if err != nil {
				return fmt.Errorf("pgstore: migration %s: its name must start with its version", name)
			}
			if version <= current {
				continue
			}
			raw, err := migrations.ReadFile("migrations/" + name)
			if err != nil {
				return err
			}
			var sql strings.Builder
			if err := template.Must(template.New(name).Parse(string(raw))).Execute(&sql, map[string]string{"Schema": schema}); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, sql.String()); err != nil {
				return fmt.Errorf("pgstore: migration %s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.schema_migrations (version, name) VALUES ($1, $2)`, version, name); err != nil {
				return fmt.Errorf("pgstore: migration %s: %w", name, err)
			}
		}
		return nil
	})
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
