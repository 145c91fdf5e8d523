package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis/pgstore"
	"github.com/debrief-go/debrief/analysis/storetest"
)

// testPool connects to the database DEBRIEF_TEST_POSTGRES_URL names, or
// skips the test, saying why, when it is unset.
func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := os.Getenv("DEBRIEF_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("DEBRIEF_TEST_POSTGRES_URL is unset: no PostgreSQL to test against (.ci/run starts one)")
	}
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

var schemas atomic.Int64

// freshSchema returns the name of a schema no other test uses, dropped when
// the test ends.
func freshSchema(t *testing.T, pool *pgxpool.Pool) string {
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), schemas.Add(1))
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE")
	})
	return name
}

func TestStoreConformance(t *testing.T) {
	pool := testPool(t)
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		var skew atomic.Int64
		st, err := pgstore.New(context.Background(), pool, pgstore.Options{
			Schema:    freshSchema(t, pool),
			ClockSkew: func() time.Duration { return time.Duration(skew.Load()) },
		})
		require.NoError(t, err)
		return storetest.Harness{Store: st, Advance: func(d time.Duration) { skew.Add(int64(d)) }}
	})
}

func TestOpeningAtOnceMigratesOnce(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := pgstore.New(context.Background(), pool, pgstore.Options{Schema: schema})
			errs <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	var versions int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+schema+".analysis_migrations").Scan(&versions))
	files, err := os.ReadDir("migrations")
	require.NoError(t, err)
	require.Equal(t, len(files), versions, "each migration applied once")
	// And again later: nothing to do.
	_, err = pgstore.New(context.Background(), pool, pgstore.Options{Schema: schema})
	require.NoError(t, err)
}

func TestOptionsAndOpen(t *testing.T) {
	for _, bad := range []string{"Upper", "with-dash", "1starts_with_digit", "a;drop", `quoted"`} {
		_, err := pgstore.New(context.Background(), &pgxpool.Pool{}, pgstore.Options{Schema: bad})
		require.ErrorContains(t, err, "Options.Schema", bad)
	}
	_, err := pgstore.New(context.Background(), nil, pgstore.Options{})
	require.Error(t, err)
	_, err = pgstore.Open(context.Background(), "postgres://127.0.0.1:1/db?connect_timeout=1", pgstore.Options{})
	require.Error(t, err, "a database that cannot be reached")

	url := os.Getenv("DEBRIEF_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("DEBRIEF_TEST_POSTGRES_URL is unset: no PostgreSQL to test against (.ci/run starts one)")
	}
	pool := testPool(t)
	schema := freshSchema(t, pool)
	st, err := pgstore.Open(context.Background(), url, pgstore.Options{Schema: schema})
	require.NoError(t, err)
	require.NoError(t, st.Pool().Ping(context.Background()))
	st.Close()
	require.Error(t, st.Pool().Ping(context.Background()), "Close closes the pool Open made")
}

func TestARoleWithoutCreateOnTheDatabaseOpensItsOwnSchema(t *testing.T) {
	pool := testPool(t) // a superuser's, in CI
	ctx := context.Background()
	role := fmt.Sprintf("debrief_app_%d", os.Getpid())
	schema := freshSchema(t, pool)
	for _, stmt := range []string{
		"CREATE EXTENSION IF NOT EXISTS pg_trgm",
		"DROP ROLE IF EXISTS " + role,
		"CREATE ROLE " + role + " LOGIN",
		"CREATE SCHEMA " + schema + " AUTHORIZATION " + role,
	} {
		_, err := pool.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		_, _ = pool.Exec(ctx, "DROP ROLE IF EXISTS "+role)
	})
	// (PUBLIC has no CREATE on a database unless granted.)
	poolCfg := pool.Config().Copy()
	poolCfg.ConnConfig.User = role
	appPool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	require.NoError(t, err)
	defer appPool.Close()
	_, err = pgstore.New(ctx, appPool, pgstore.Options{Schema: schema})
	require.NoError(t, err, "a schema of its own and an installed pg_trgm are all the role needs")
	_, err = pgstore.New(ctx, appPool, pgstore.Options{Schema: schema + "_other"})
	require.ErrorContains(t, err, "CREATE on the database", "a schema it may not create is named, with what is missing")
}

func TestOpeningAtOnceOnADatabaseWithoutTrigramsInstallsThemOnce(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	db := fmt.Sprintf("debrief_trgm_%d", os.Getpid())
	if _, err := pool.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Skipf("this role may not create a database to test in: %v", err)
	}
	t.Cleanup(func() { _, _ = pool.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	cfg := pool.Config().Copy()
	cfg.ConnConfig.Database = db
	cfg.MaxConns = 16
	dbPool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer dbPool.Close()

	const opens = 8
	errs := make(chan error, opens)
	for i := range opens {
		go func() {
			_, err := pgstore.New(ctx, dbPool, pgstore.Options{Schema: fmt.Sprintf("s%d", i)})
			errs <- err
		}()
	}
	for range opens {
		require.NoError(t, <-errs, "a process that loses the race to install pg_trgm uses the winner's")
	}
	var n int
	require.NoError(t, dbPool.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'").Scan(&n))
	require.Equal(t, 1, n)
}
