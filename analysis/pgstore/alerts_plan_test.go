package pgstore

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis"
)

// TestAlertQueriesUseTheirIndexes checks that the claim of a notification
// and a rule's delivery log can be read from the indexes made for them:
// the plans PostgreSQL makes for them, with sequential scans priced out,
// name those indexes.
func TestAlertQueriesUseTheirIndexes(t *testing.T) {
	url := os.Getenv("DEBRIEF_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("DEBRIEF_TEST_POSTGRES_URL is unset: no PostgreSQL to test against (.ci/run starts one)")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	schema := fmt.Sprintf("test_alert_plans_%d", os.Getpid())
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	st, err := New(ctx, pool, Options{Schema: schema})
	require.NoError(t, err)
	sc := analysis.Scope{Tenant: "acme", Project: "support"}
	require.NoError(t, st.CreateAlertRule(ctx, sc, analysis.AlertRule{ID: "rule-1", Rule: analysis.Rule{Name: "One"}}))

	plan := func(sql string, args ...any) string {
		t.Helper()
		var lines []string
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
			if err != nil {
				return err
			}
			lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}))
		return strings.Join(lines, "\n")
	}
	claim := plan(st.claimNoteSQL(), "owner", time.Minute.Microseconds())
	assert.Contains(t, claim, "Index Scan using alert_notifications_due", "the claim reads the pending notifications in their order:\n%s", claim)
	assert.Contains(t, claim, "Index Cond: (next_attempt_at <=", "up to the store's now:\n%s", claim)
	log := plan(st.logSQL(), sc.Tenant, sc.Project, "rule-1", 10)
	assert.Contains(t, log, "Index Scan using alert_notifications_log", "the log reads the rule's notifications newest first:\n%s", log)
	assert.Contains(t, log, "rule_id = ", "the rule's only:\n%s", log)
	assert.NotContains(t, log, "Sort", "in the index's order:\n%s", log)
}
