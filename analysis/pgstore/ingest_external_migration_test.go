package pgstore

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/internal/pgmigrate"
)

// TestExternalIDMigrationKeepsTheOldestOfEachExternalID opens a store on
// a schema at its first migration, holding conversations whose documents
// carry external IDs — two of them the same — and checks what the
// migration to unique external IDs makes of them.
func TestExternalIDMigrationKeepsTheOldestOfEachExternalID(t *testing.T) {
	url := os.Getenv("DEBRIEF_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("DEBRIEF_TEST_POSTGRES_URL is unset: no PostgreSQL to test against (.ci/run starts one)")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	schema := fmt.Sprintf("test_ext_%d", os.Getpid())
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })

	// The schema as the first migration left it.
	first, err := fs.ReadFile(migrations, "migrations/001_init.sql")
	require.NoError(t, err)
	trgm, err := trigramSchema(ctx, pool)
	require.NoError(t, err)
	require.NoError(t, pgmigrate.Apply(ctx, pool, schema, "analysis_migrations",
		fstest.MapFS{"m/001_init.sql": {Data: first}}, "m", map[string]string{"Trgm": pgx.Identifier{trgm}.Sanitize()}))
	sc := analysis.Scope{Tenant: "acme", Project: "support"}
	other := analysis.Scope{Tenant: "globex", Project: "support"}
	for _, row := range []struct {
		scope        analysis.Scope
		id, key, doc string
		createdAt    string
	}{
		{sc, "c-copy", "copy", `{"id":"c-copy","key":"copy","externalId":"crm-1"}`, "2026-03-02T09:00:00Z"},
		{sc, "c-old", "old", `{"id":"c-old","key":"old","externalId":"crm-1"}`, "2026-03-01T09:00:00Z"},
		{sc, "c-plain", "plain", `{"id":"c-plain","key":"plain"}`, "2026-03-01T09:00:00Z"},
		{sc, "c-empty", "empty", `{"id":"c-empty","key":"empty","externalId":""}`, "2026-03-01T09:00:00Z"},
		{other, "c-other", "other", `{"id":"c-other","key":"other","externalId":"crm-1"}`, "2026-03-03T09:00:00Z"},
	} {
		_, err := pool.Exec(ctx, `INSERT INTO `+schema+`.conversations (tenant, project, id, key, created_at, search, doc)
			VALUES ($1, $2, $3, $4, $5, '', $6)`, row.scope.Tenant, row.scope.Project, row.id, row.key, row.createdAt, row.doc)
		require.NoError(t, err)
	}

	st, err := New(ctx, pool, Options{Schema: schema})
	require.NoError(t, err, "the migration applies over conversations stored before it")
	keys, err := st.KeysByExternalID(ctx, sc, []string{"crm-1"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"crm-1": "old"}, keys, "the oldest conversation keeps the external ID")
	copied, err := st.GetConversation(ctx, sc, "c-copy")
	require.NoError(t, err)
	assert.Empty(t, copied.ExternalID, "a later copy loses it")
	keys, err = st.KeysByExternalID(ctx, other, []string{"crm-1"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"crm-1": "other"}, keys, "each scope's own")
	var nulls int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.conversations WHERE external_id IS NULL`).Scan(&nulls))
	assert.Equal(t, 3, nulls, "the copy, and the conversations without an external ID or with an empty one")

	// From now on the external ID is unique: a put updates the oldest.
	outs, err := st.PutConversations(ctx, sc, []analysis.Conversation{{ID: "c-new", Key: "new", ExternalID: "crm-1", Name: "Again"}}, analysis.UpdateExisting)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	assert.Equal(t, analysis.PutUpdated, outs[0].Action)
	assert.Equal(t, "c-old", outs[0].Conversation.ID)
}
