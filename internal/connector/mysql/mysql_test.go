package mysql_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/connectortest"
	"github.com/syncbridge/syncbridge/internal/connector/mysql"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// env is one test's database: the store under test and a plain connection
// pool for writing as an application would.
type env struct {
	t       testing.TB
	dsn     string
	store   connector.Store
	db      *sql.DB
	capture connector.Capture
}

// newEnv opens a store on a fresh database of the shared server.
func newEnv(t testing.TB) *env {
	t.Helper()
	return openEnv(t, testenv.MariaDB(t).NewDatabase(t), connector.CaptureBinlog)
}

func openEnv(t testing.TB, dsn string, capture connector.Capture) *env {
	t.Helper()
	st, err := mysql.Driver{}.Open(context.Background(), connector.StoreConfig{
		Name: "my", Driver: "mysql", DSN: dsn, Capture: capture,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := sql.Open("mysql", dsn+"?time_zone=%27%2B00%3A00%27")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &env{t: t, dsn: dsn, store: st, db: db, capture: capture}
}

// exec runs SQL statements in one transaction, as an application would.
func (e *env) exec(stmts ...string) {
	e.t.Helper()
	ss := make([]connectortest.Stmt, len(stmts))
	for i, s := range stmts {
		ss[i] = connectortest.Stmt{SQL: s}
	}
	e.Exec(e.t, ss...)
}

// Harness for the conformance suites.

func (e *env) Store() connector.Store     { return e.store }
func (e *env) Capture() connector.Capture { return e.capture }

func (e *env) CreateTable(t testing.TB, name string) string {
	e.exec("CREATE TABLE " + name + ` (id BIGINT PRIMARY KEY, name TEXT, amount DECIMAL(12,2),
		at DATETIME(6), flag TINYINT(1), data BLOB)`)
	return name
}

func (e *env) Exec(t testing.TB, stmts ...connectortest.Stmt) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, s := range stmts {
		args := make([]any, len(s.Args))
		for i, v := range s.Args {
			args[i] = bindArg(v)
		}
		if _, err := tx.ExecContext(ctx, s.SQL, args...); err != nil {
			t.Fatalf("%s: %v", s.SQL, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// bindArg binds a Value as the sink binds it for a column of its kind.
func bindArg(v change.Value) any {
	switch v.Kind {
	case change.KindNull:
		return nil
	case change.KindBool:
		if v.AsBool() {
			return 1
		}
		return 0
	case change.KindInt:
		return v.AsInt()
	case change.KindFloat:
		return v.AsFloat()
	case change.KindBytes:
		if b := v.AsBytes(); b != nil {
			return b
		}
		return []byte{}
	case change.KindTimestamp:
		return v.AsTime().UTC().Format("2006-01-02 15:04:05.000000")
	}
	return v.String()
}

// warmPool fills the store's idle connection pool (two connections, the
// database/sql default) so that the suites' goroutine-leak checks do not
// count the reader goroutine of a connection the pool keeps.
func (e *env) warmPool(t *testing.T) {
	t.Helper()
	ctx := ctxT(t)
	table := e.CreateTable(t, "warm_pool")
	var txs []connector.Tx
	for i := 0; i < 2; i++ {
		sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "warm", Table: table, Key: []string{"id"}})
		if err != nil {
			t.Fatal(err)
		}
		defer sk.Close()
		tx, err := sk.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	for _, tx := range txs {
		tx.Rollback()
	}
}

func TestConformance(t *testing.T) {
	e := newEnv(t)
	e.warmPool(t)
	t.Run("Source", func(t *testing.T) { connectortest.RunSource(t, e) })
	t.Run("Sink", func(t *testing.T) { connectortest.RunSink(t, e) })
}

// ctxT is a context bounded for one test.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
