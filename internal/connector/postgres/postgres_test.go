package postgres_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/connectortest"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// env is one test's database: the store under test and a plain connection
// for writing as an application would.
type env struct {
	t       testing.TB
	dsn     string
	store   connector.Store
	capture connector.Capture
}

// newEnv opens a store on a fresh database of the shared cluster.
func newEnv(t testing.TB) *env {
	t.Helper()
	return openEnv(t, testenv.Postgres(t).NewDatabase(t))
}

func openEnv(t testing.TB, dsn string) *env {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Driver{}.Open(ctx, connector.StoreConfig{
		Name: "pg", Driver: "postgres", DSN: dsn, Capture: connector.CaptureLogical,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, dsn: dsn, store: st, capture: connector.CaptureLogical}
}

// exec runs SQL statements in one transaction, as an application would.
func (e *env) exec(sql ...string) {
	e.t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, e.dsn)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close(ctx)
	tx, err := c.Begin(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range sql {
		if _, err := tx.Exec(ctx, s); err != nil {
			e.t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// Harness for the conformance suites.

func (e *env) Store() connector.Store     { return e.store }
func (e *env) Capture() connector.Capture { return e.capture }
func (e *env) CreateTable(t testing.TB, name string) string {
	e.exec(`CREATE TABLE ` + name + ` (id bigint PRIMARY KEY, name text, amount numeric(12,2),
		at timestamptz, flag boolean, data bytea)`)
	return name
}

func (e *env) Exec(t testing.TB, stmts ...connectortest.Stmt) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		args := make([]any, len(s.Args))
		for i, v := range s.Args {
			args[i] = postgres.TextArg(v)
		}
		if _, err := tx.Exec(ctx, connectortest.Rebind(s.SQL), args...); err != nil {
			t.Fatalf("%s: %v", s.SQL, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	e := newEnv(t)
	t.Run("Source", func(t *testing.T) { connectortest.RunSource(t, e) })
	t.Run("Sink", func(t *testing.T) { connectortest.RunSink(t, e) })
}

// ctxT is a context bounded for one test.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var _ = change.Null

func pgxConnect(dsn string) (*pgx.Conn, error) { return pgx.Connect(context.Background(), dsn) }
