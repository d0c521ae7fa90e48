package engine_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/engine/bothtest"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func openPGDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

// pgPair is a PostgreSQL legacy and a PostgreSQL platform database, both
// with logical capture, under conflict.
func pgPair(t *testing.T, conflict string) (*engine.Plan, state.Store, [2]*bothtest.Side) {
	pg := testenv.Postgres(t)
	legacyDSN, platformDSN := pg.NewDatabase(t), pg.NewDatabase(t)
	legacy, platform := openPGDB(t, legacyDSN), openPGDB(t, platformDSN)
	mustExec(t, legacy, bothtest.PGLegacySchema)
	mustExec(t, platform, bothtest.PGPlatformSchema)
	plan, st := planFor(t, t.TempDir(), fmt.Sprintf(`
state: ./state.db
stores:
  legacy: {driver: postgres, dsn: "%s", capture: logical}
  platform: {driver: postgres, dsn: "%s", capture: logical}
flows:`+bothtest.FlowPGLegacy, legacyDSN, platformDSN, conflict))
	return plan, st, [2]*bothtest.Side{bothtest.PGLegacy(legacy), bothtest.PGPlatform(platform)}
}

// pgSQLitePair is a PostgreSQL legacy table (logical capture) and a SQLite
// platform table of different shapes (renames, a computed column mapped
// back by reverse:), under conflict. PostgreSQL's capture: trigger is left
// out for now: under the convergence writers it delivers changes only once
// they pause, and the writers hit deadlocks (40P01); see the ADR.
func pgSQLitePair(t *testing.T, conflict string) (*engine.Plan, state.Store, [2]*bothtest.Side) {
	pg := testenv.Postgres(t)
	legacyDSN := pg.NewDatabase(t)
	legacy := openPGDB(t, legacyDSN)
	mustExec(t, legacy, bothtest.PGLegacySchema)
	dir := t.TempDir()
	platform := openBenchDB(t, filepath.Join(dir, "platform.db"))
	mustExec(t, platform, bothtest.SQLitePlatformSchema)
	plan, st := planFor(t, dir, fmt.Sprintf(`
state: ./state.db
stores:
  legacy: {driver: postgres, dsn: "%s", capture: logical}
  platform: {driver: sqlite, dsn: ./platform.db, capture: trigger}
flows:`+bothtest.FlowPGLegacy, legacyDSN, conflict))
	return plan, st, [2]*bothtest.Side{bothtest.PGLegacy(legacy), bothtest.SQLitePlatform(platform)}
}

// TestBothConvergePostgres: PostgreSQL <-> PostgreSQL, echo dropped by
// replication origin, lww against the ledger.
func TestBothConvergePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	plan, st, sides := pgPair(t, `{policy: lww, timestamp: updated_at}`)
	(&convergence{plan: plan, st: st, sides: sides, keys: 40, perSide: 150, dur: 4 * time.Second, lww: true}).run(t)
}

// TestBothConvergePostgresSQLite: PostgreSQL <-> SQLite with different
// schemas, lww against the ledger.
func TestBothConvergePostgresSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	plan, st, sides := pgSQLitePair(t, `{policy: lww, timestamp: updated_at}`)
	(&convergence{plan: plan, st: st, sides: sides, keys: 40, perSide: 150, dur: 4 * time.Second, lww: true}).run(t)
}
