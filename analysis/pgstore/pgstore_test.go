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
