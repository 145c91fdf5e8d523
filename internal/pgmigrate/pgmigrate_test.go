package pgmigrate_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/internal/pgmigrate"
)

func TestApply(t *testing.T) {
	url := os.Getenv("DEBRIEF_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("DEBRIEF_TEST_POSTGRES_URL is unset: no PostgreSQL to test against (.ci/run starts one)")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	schema := fmt.Sprintf("pgmigrate_test_%d", os.Getpid())
	defer pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") //nolint:errcheck

	v1 := fstest.MapFS{"m/001_a.sql": {Data: []byte(`CREATE TABLE {{.Schema}}.a (n int); INSERT INTO {{.Schema}}.a VALUES (1);`)}}
	require.NoError(t, pgmigrate.Apply(ctx, pool, schema, "versions", v1, "m", nil))
	require.NoError(t, pgmigrate.Apply(ctx, pool, schema, "versions", v1, "m", nil), "applied migrations are not applied again")
	v2 := fstest.MapFS{
		"m/001_a.sql": v1["m/001_a.sql"],
		"m/002_b.sql": {Data: []byte(`INSERT INTO {{.Schema}}.a VALUES (2);`)},
	}
	require.NoError(t, pgmigrate.Apply(ctx, pool, schema, "versions", v2, "m", nil))
	var rows, versions int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".a").Scan(&rows))
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".versions").Scan(&versions))
	assert.Equal(t, 2, rows, "each migration ran once")
	assert.Equal(t, 2, versions)

	// A migration that fails changes nothing, the version list included.
	bad := fstest.MapFS{"m/001_a.sql": v1["m/001_a.sql"], "m/002_b.sql": v2["m/002_b.sql"],
		"m/003_c.sql": {Data: []byte(`INSERT INTO {{.Schema}}.a VALUES (3); SELECT no_such_function();`)}}
	assert.ErrorContains(t, pgmigrate.Apply(ctx, pool, schema, "versions", bad, "m", nil), "003_c.sql")
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+schema+".a").Scan(&rows))
	assert.Equal(t, 2, rows)
}

func TestApplyRefusesBadNames(t *testing.T) {
	files := fstest.MapFS{"m/first.sql": {Data: []byte("SELECT 1")}}
	err := pgmigrate.Apply(context.Background(), nil, "s", "v", files, "m", nil)
	assert.ErrorContains(t, err, "VERSION_name.sql")
}
