package reconcile_test

import (
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/sqlite"
	"github.com/syncbridge/syncbridge/internal/engine"
)

// pair is two SQLite files and one flow between them.
type pair struct {
	t        testing.TB
	dir      string
	from, to *sql.DB
}

func newPair(t testing.TB, fromSchema, toSchema string) *pair {
	t.Helper()
	dir := t.TempDir()
	p := &pair{t: t, dir: dir, from: openDB(t, filepath.Join(dir, "from.db")), to: openDB(t, filepath.Join(dir, "to.db"))}
	p.exec(p.from, fromSchema)
	p.exec(p.to, toSchema)
	return p
}

func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func (p *pair) exec(db *sql.DB, q string, args ...any) {
	p.t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		p.t.Fatalf("%s: %v", q, err)
	}
}

// plan checks a config of one flow `f` from from.db:fromTable to
// to.db:toTable with the given extra flow YAML (key, columns).
func (p *pair) plan(fromTable, toTable, extra string) *engine.FlowPlan {
	p.t.Helper()
	cfg := fmt.Sprintf(`
state: ./state.db
http: {listen: "off"}
stores:
  a: {driver: sqlite, dsn: ./from.db, capture: trigger}
  b: {driver: sqlite, dsn: ./to.db}
flows:
  - name: f
    from: {store: a, table: %s}
    to:   {store: b, table: %s}
%s
`, fromTable, toTable, extra)
	path := filepath.Join(p.dir, "syncbridge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		p.t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		p.t.Fatal(err)
	}
	reg, err := connector.NewRegistry(sqlite.Driver{})
	if err != nil {
		p.t.Fatal(err)
	}
	plan, err := engine.Check(p.t.Context(), c, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(plan.Close)
	fp, _ := plan.Flow("f")
	return fp
}
