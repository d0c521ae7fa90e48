package engine_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/syncbridge/syncbridge/internal/engine/bothtest"
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

// TestBothConvergePostgres: PostgreSQL <-> PostgreSQL with logical capture
// on both sides (echo dropped by replication origin), lww.
func TestBothConvergePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	pg := testenv.Postgres(t)
	legacyDSN, platformDSN := pg.NewDatabase(t), pg.NewDatabase(t)
	legacy, platform := openPGDB(t, legacyDSN), openPGDB(t, platformDSN)
	mustExec(t, legacy, bothtest.PGLegacySchema)
	mustExec(t, platform, bothtest.PGPlatformSchema)
	dir := t.TempDir()
	plan, st := planFor(t, dir, fmt.Sprintf(`
state: ./state.db
stores:
  legacy: {driver: postgres, dsn: "%s", capture: logical}
  platform: {driver: postgres, dsn: "%s", capture: logical}
flows:`+bothtest.FlowPGLegacy, legacyDSN, platformDSN, `{policy: lww, timestamp: updated_at}`))
	c := &convergence{plan: plan, st: st, sides: [2]*bothtest.Side{bothtest.PGLegacy(legacy), bothtest.PGPlatform(platform)},
		keys: 40, perSide: 150, dur: 4 * time.Second, lww: true}
	c.run(t)
}

// TestBothConvergePostgresSQLite: a PostgreSQL legacy table (logical or
// trigger capture) and a SQLite platform table of different shapes
// (renames, a computed column mapped back by reverse:), lww.
func TestBothConvergePostgresSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	// capture: trigger on the PostgreSQL side is left out for now: under
	// these writers it delivers changes only once they pause, and the
	// writers hit deadlocks (40P01) in the legacy database; see the ADR.
	for _, capture := range []string{"logical"} {
		t.Run(capture, func(t *testing.T) {
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
  legacy: {driver: postgres, dsn: "%s", capture: %s}
  platform: {driver: sqlite, dsn: ./platform.db, capture: trigger}
flows:`+bothtest.FlowPGLegacy, legacyDSN, capture, `{policy: lww, timestamp: updated_at}`))
			c := &convergence{plan: plan, st: st, sides: [2]*bothtest.Side{bothtest.PGLegacy(legacy), bothtest.SQLitePlatform(platform)},
				keys: 40, perSide: 150, dur: 4 * time.Second, lww: true}
			c.run(t)
		})
	}
}
