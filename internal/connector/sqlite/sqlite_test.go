package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/connectortest"
)

// harness is a throw-away database file, opened once as the store under
// test and once more as "the application" writing to it.
type harness struct {
	store   *Store
	path    string
	app     *sql.DB
	capture connector.Capture
}

var _ connectortest.SourceHarness = (*harness)(nil)

// newHarness creates an empty database file and opens it both ways.
func newHarness(t testing.TB, capture connector.Capture) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	app, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	if _, err := app.Exec("PRAGMA user_version = 1"); err != nil { // creates the file
		t.Fatal(err)
	}
	st, err := Open(context.Background(), connector.StoreConfig{Name: "lite", Driver: "sqlite", DSN: path, Capture: capture}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &harness{store: st, path: path, app: app, capture: capture}
}

func (h *harness) Store() connector.Store     { return h.store }
func (h *harness) Capture() connector.Capture { return h.capture }

func (h *harness) CreateTable(t testing.TB, name string) string {
	t.Helper()
	h.exec(t, `CREATE TABLE `+quoteIdent(name)+` (
		id INTEGER PRIMARY KEY, name TEXT, amount DECIMAL(12,2), at TIMESTAMP, flag BOOLEAN, data BLOB)`)
	return name
}

// Exec binds each Value as the sink would for a column of its own kind.
func (h *harness) Exec(t testing.TB, stmts ...connectortest.Stmt) {
	t.Helper()
	tx, err := h.app.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, s := range stmts {
		args := make([]any, len(s.Args))
		for i, v := range s.Args {
			if v.Kind == change.KindNull {
				continue
			}
			if args[i], err = encodeFor(v.Kind, v); err != nil {
				t.Fatalf("bind %s: %v", v, err)
			}
		}
		if _, err := tx.Exec(s.SQL, args...); err != nil {
			t.Fatalf("%s: %v", s.SQL, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// exec runs plain SQL as the application.
func (h *harness) exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := h.app.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (h *harness) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := h.app.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestConformanceTrigger(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	t.Run("Source", func(t *testing.T) { connectortest.RunSource(t, h) })
	t.Run("Sink", func(t *testing.T) { connectortest.RunSink(t, h) })
}

// TestConformanceSinkSuppressed runs the sink suite with echo suppression
// on, which adds the session-table writes to every transaction.
func TestConformanceSinkSuppressed(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	connectortest.RunSink(t, suppressing{h})
}

// suppressing opens every sink with SuppressCapture.
type suppressing struct{ *harness }

func (s suppressing) Store() connector.Store { return suppressStore{s.store} }

type suppressStore struct{ *Store }

func (s suppressStore) Sink(ctx context.Context, spec connector.SinkSpec) (connector.Sink, error) {
	spec.SuppressCapture = true
	return s.Store.Sink(ctx, spec)
}
