// Package pgmigrate applies the embedded SQL migrations of debrief's
// PostgreSQL stores: versioned files ("001_init.sql", ...) run in order,
// each once, in one transaction under an advisory lock, so that processes
// opening a store at the same time apply each migration once. A file's
// text is a Go template whose .Schema is the quoted schema name, with the
// caller's vars beside it.
package pgmigrate

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lock is the advisory lock every debrief migration takes ("debrief1").
const lock = 0x64656272_69656631

// Apply creates schema (a plain identifier, unquoted) when missing and
// applies the migrations of dir in files that table (a table of schema)
// does not list yet. A schema that exists needs no privilege on the
// database: only its own.
func Apply(ctx context.Context, pool *pgxpool.Pool, schema, table string, files fs.FS, dir string, vars map[string]string) error {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return err
	}
	type migration struct {
		version int
		name    string
	}
	var ms []migration
	for _, e := range entries {
		version, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return fmt.Errorf("pgmigrate: %s: a migration is named VERSION_name.sql", e.Name())
		}
		ms = append(ms, migration{version, e.Name()})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	quoted := pgx.Identifier{schema}.Sanitize()
	versions := quoted + "." + pgx.Identifier{table}.Sanitize()
	data := map[string]string{}
	for k, v := range vars {
		data[k] = v
	}
	data["Schema"] = quoted
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lock)); err != nil {
			return fmt.Errorf("pgmigrate: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
			return fmt.Errorf("pgmigrate: %w", err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+quoted); err != nil {
				return fmt.Errorf("pgmigrate: creating schema %s (a role with CREATE on the database, or a schema made beforehand): %w", schema, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+versions+` (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("pgmigrate: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+versions).Scan(&current); err != nil {
			return fmt.Errorf("pgmigrate: %w", err)
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			raw, err := fs.ReadFile(files, dir+"/"+m.name)
			if err != nil {
				return err
			}
			var sql strings.Builder
			if err := template.Must(template.New(m.name).Option("missingkey=error").Parse(string(raw))).Execute(&sql, data); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, sql.String()); err != nil {
				return fmt.Errorf("pgmigrate: %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+versions+` (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("pgmigrate: %s: %w", m.name, err)
			}
		}
		return nil
	})
}
