package reconcile_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
	"github.com/syncbridge/syncbridge/internal/connector/sqlite"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// pgDB is one throw-away PostgreSQL database.
type pgDB struct {
	t   testing.TB
	dsn string
}

func newPG(t testing.TB) *pgDB {
	t.Helper()
	return &pgDB{t: t, dsn: testenv.Postgres(t).NewDatabase(t)}
}

// exec runs statements, each with the same args.
func (d *pgDB) exec(sql string, args ...any) {
	d.t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, d.dsn)
	if err != nil {
		d.t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
}

// open opens the database as a syncbridge store.
func (d *pgDB) open() *postgres.Store {
	d.t.Helper()
	st, err := postgres.Driver{}.Open(context.Background(), connector.StoreConfig{Name: "pg", Driver: "postgres", DSN: d.dsn}, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { st.Close() })
	return st.(*postgres.Store)
}

// flowPlan checks a config whose stores are given as YAML (stores a and b)
// with one flow `f` from a:fromTable to b:toTable, plus extra flow YAML.
func flowPlan(t testing.TB, stores, fromTable, toTable, extra string) *engine.FlowPlan {
	t.Helper()
	dir := t.TempDir()
	cfg := "state: " + filepath.Join(dir, "state.db") + "\nhttp: {listen: \"off\"}\nstores:\n" + stores +
		"flows:\n  - name: f\n    from: {store: a, table: " + fromTable + "}\n    to:   {store: b, table: " + toTable + "}\n" + extra
	path := filepath.Join(dir, "syncbridge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := connector.NewRegistry(sqlite.Driver{}, postgres.Driver{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Check(context.Background(), c, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plan.Close)
	fp, _ := plan.Flow("f")
	return fp
}

// pgPlan is flowPlan between two PostgreSQL databases.
func pgPlan(t testing.TB, from, to *pgDB, fromTable, toTable, extra string) *engine.FlowPlan {
	t.Helper()
	return flowPlan(t, "  a: {driver: postgres, dsn: \""+from.dsn+"\"}\n  b: {driver: postgres, dsn: \""+to.dsn+"\"}\n",
		fromTable, toTable, extra)
}
