package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/builtin"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
	_ "modernc.org/sqlite"
)

// benchRows is the table size of the backfill benchmarks.
const benchRows = 100_000

const benchSchema = `CREATE TABLE t (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, amount DECIMAL(12,2),
  qty INTEGER, score REAL, active BOOLEAN, note TEXT, created_at DATETIME, updated_at DATETIME, code TEXT)`

func openBenchDB(tb testing.TB, path string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	return db
}

func fill(tb testing.TB, db *sql.DB, from, n int) {
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := tx.Prepare(`INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		tb.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if _, err := st.Exec(i, fmt.Sprintf("name %d", i), fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("%d.%02d", i, i%100),
			i%1000, float64(i)/7, i%2, "some longer note text for row", "2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05.123456Z", "AB"); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// benchFlow builds a checked plan syncing dir/src.db table t into dir/dst.db.
func benchPlan(tb testing.TB, dir string, capture string) (*engine.Plan, state.Store) {
	cfg, err := config.Parse(filepath.Join(dir, "syncbridge.yaml"), []byte(`
state: ./state.db
stores:
  src: {driver: sqlite, dsn: ./src.db, capture: `+capture+`}
  dst: {driver: sqlite, dsn: ./dst.db}
flows:
  - {name: t, from: {store: src, table: t}, to: {store: dst, table: t}, batch: {size: 2000}}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := connector.NewRegistry(builtin.Drivers()...)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	plan, err := engine.Check(context.Background(), cfg, reg, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(plan.Close)
	st, err := state.Open(context.Background(), cfg.State)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return plan, st
}

func runOnce(tb testing.TB, plan *engine.Plan, st state.Store) {
	runWith(tb, context.Background(), plan, st)
}

// runWith runs every flow with --once semantics until done or ctx ends.
func runWith(tb testing.TB, ctx context.Context, plan *engine.Plan, st state.Store) {
	eng := engine.New(plan, st, observe.NewMetrics(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := eng.Run(ctx, engine.RunOptions{Once: true}); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkBackfillSQLite copies a 100k-row, 11-column table from one SQLite
// file to another through the whole engine (snapshot, mapping, sink with
// checkpoints).
func BenchmarkBackfillSQLite(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		src := openBenchDB(b, filepath.Join(dir, "src.db"))
		dst := openBenchDB(b, filepath.Join(dir, "dst.db"))
		for _, db := range []*sql.DB{src, dst} {
			if _, err := db.Exec(benchSchema); err != nil {
				b.Fatal(err)
			}
		}
		fill(b, src, 1, benchRows)
		plan, st := benchPlan(b, dir, "trigger")
		b.StartTimer()
		runOnce(b, plan, st)
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRawCopySQLite is the raw limit for the backfill benchmark on the
// same machine: SQLite copying the same table itself with
// INSERT INTO ... SELECT across an attached database, no Go in the row path.
func BenchmarkRawCopySQLite(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		src := openBenchDB(b, filepath.Join(dir, "src.db"))
		if _, err := src.Exec(benchSchema); err != nil {
			b.Fatal(err)
		}
		fill(b, src, 1, benchRows)
		dst := openBenchDB(b, filepath.Join(dir, "dst.db"))
		if _, err := dst.Exec(benchSchema); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := dst.Exec(`ATTACH DATABASE ? AS s`, filepath.Join(dir, "src.db")); err != nil {
			b.Fatal(err)
		}
		if _, err := dst.Exec(`INSERT INTO main.t SELECT * FROM s.t`); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkStreamApplySQLite measures change capture and apply: b.N rows are
// inserted and updated at the source after the backfill, captured by
// triggers, then applied by one `run --once`. allocs/op is per change.
func BenchmarkStreamApplySQLite(b *testing.B) {
	dir := b.TempDir()
	src := openBenchDB(b, filepath.Join(dir, "src.db"))
	dst := openBenchDB(b, filepath.Join(dir, "dst.db"))
	for _, db := range []*sql.DB{src, dst} {
		if _, err := db.Exec(benchSchema); err != nil {
			b.Fatal(err)
		}
	}
	plan, st := benchPlan(b, dir, "trigger")
	runOnce(b, plan, st) // empty backfill, installs triggers
	fill(b, src, 1, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	runOnce(b, plan, st)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}
