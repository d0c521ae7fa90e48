package state_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/state/statetest"
)

// pgDSN returns the server the PostgreSQL store tests use, or skips them.
func pgDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SYNCBRIDGE_TEST_PG_DSN")
	if dsn == "" {
		t.Skip("SYNCBRIDGE_TEST_PG_DSN is not set: set it to a PostgreSQL DSN to test the PostgreSQL state store")
	}
	return dsn
}

var schemaSeq atomic.Int64

// tempSchema names a schema for one test and drops it when the test ends.
// Register it before opening stores on it, so that they close first.
func tempSchema(t *testing.T, dsn string) string {
	t.Helper()
	schema := fmt.Sprintf("syncbridge_state_test_%d_%d", os.Getpid(), schemaSeq.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func openPostgres(t *testing.T, dsn, schema string) *state.PostgresStore {
	t.Helper()
	s, err := state.OpenPostgresSchema(t.Context(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	dsn := pgDSN(t)
	statetest.Run(t, func(t *testing.T) state.Store {
		return openPostgres(t, dsn, tempSchema(t, dsn))
	})
}

func TestPostgresConcurrentFirstOpen(t *testing.T) {
	dsn := pgDSN(t)
	schema := tempSchema(t, dsn)
	stores := make([]*state.PostgresStore, 4)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = state.OpenPostgresSchema(t.Context(), dsn, schema) })
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent opens of a new schema: %v", err)
	}

	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(ctx, "SELECT version_id FROM "+pgx.Identifier{schema, "goose_db_version"}.Sanitize()+" ORDER BY id")
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int64{0, 1, 2, 3}, versions); d != "" {
		t.Fatalf("goose versions (-want +got):\n%s", d)
	}

	// The stores share one schema: a lease taken through one is seen by all.
	if err := stores[0].AcquireLease(ctx, "leader", "zero", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := stores[3].AcquireLease(ctx, "leader", "three", time.Minute); !errors.Is(err, state.ErrLeaseHeld) {
		t.Fatalf("lease through a second store: %v, want ErrLeaseHeld", err)
	}
}
