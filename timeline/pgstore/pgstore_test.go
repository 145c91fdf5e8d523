package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/timeline"
	"github.com/debrief-go/debrief/timeline/pgstore"
	"github.com/debrief-go/debrief/timeline/storetest"
)

var schemas atomic.Int64

func TestStoreConformance(t *testing.T) {
	url := os.Getenv("DEBRIEF_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("DEBRIEF_TEST_POSTGRES_URL is unset: no PostgreSQL to test against (.ci/run starts one)")
	}
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	storetest.Run(t, func(t *testing.T) timeline.Store {
		name := fmt.Sprintf("tl_test_%d_%d", os.Getpid(), schemas.Add(1))
		t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE") })
		st, err := pgstore.New(context.Background(), pool, pgstore.Options{Schema: name})
		require.NoError(t, err)
		return st
	})
}
