package engine_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/syncbridge/syncbridge/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

const (
	pgLegacySchema = `CREATE TABLE cust_mstr (cust_id bigint PRIMARY KEY, cust_fnm text NOT NULL, cust_lnm text NOT NULL,
		email_adr text, upd_ts timestamptz)`
	pgPlatformSchema = `CREATE TABLE customers (id bigint PRIMARY KEY, full_name text NOT NULL, email text,
		updated_at timestamptz, note text)`
	// pgFlowYAML maps the PostgreSQL legacy table (lower-case names).
	pgFlowYAML = `
  - name: customers
    from: {store: legacy, table: cust_mstr}
    to: {store: platform, table: customers}
    key: [cust_id]
    columns:
      id: cust_id
      full_name: cust_fnm + " " + cust_lnm
      email: email_adr
      updated_at: upd_ts
    reverse:
      cust_fnm: split_part(full_name, " ", 1)
      cust_lnm: split_part(full_name, " ", 2)
    direction: both
    batch: {size: 200, linger: 5ms}
    conflict: %s
`
)

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

// pgLegacySide and pgPlatformSide write the PostgreSQL tables.
func pgLegacySide(db *sql.DB) *writeSide {
	return &writeSide{name: "legacy", db: db,
		upsert: func(db *sql.DB, key int, tag string, at time.Time) error {
			_, err := db.Exec(`INSERT INTO cust_mstr (cust_id, cust_fnm, cust_lnm, email_adr, upd_ts) VALUES ($1, $2, 'W', $3, $4)
				ON CONFLICT (cust_id) DO UPDATE SET cust_fnm = excluded.cust_fnm, cust_lnm = 'W', email_adr = excluded.email_adr, upd_ts = excluded.upd_ts`,
				key, tag, tag+"@l", at)
			return err
		},
		delete: func(db *sql.DB, key int) (bool, error) {
			return deleted(db.Exec(`DELETE FROM cust_mstr WHERE cust_id = $1`, key))
		},
		dump: func(db *sql.DB) (map[int]string, error) {
			return dumpRows(db, `SELECT cust_id, cust_fnm || ' ' || cust_lnm, coalesce(email_adr, ''), upd_ts FROM cust_mstr`)
		},
		render: func(tag string, at time.Time) string { return tag + " W|" + tag + "@l|" + at.Format(stampLayout) },
	}
}

func pgPlatformSide(db *sql.DB) *writeSide {
	return &writeSide{name: "platform", db: db,
		upsert: func(db *sql.DB, key int, tag string, at time.Time) error {
			_, err := db.Exec(`INSERT INTO customers (id, full_name, email, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, email = excluded.email, updated_at = excluded.updated_at`,
				key, tag+" V", tag+"@p", at)
			return err
		},
		delete: func(db *sql.DB, key int) (bool, error) {
			return deleted(db.Exec(`DELETE FROM customers WHERE id = $1`, key))
		},
		dump: func(db *sql.DB) (map[int]string, error) {
			return dumpRows(db, `SELECT id, full_name, coalesce(email, ''), updated_at FROM customers`)
		},
		render: func(tag string, at time.Time) string { return tag + " V|" + tag + "@p|" + at.Format(stampLayout) },
	}
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
	mustExec(t, legacy, pgLegacySchema)
	mustExec(t, platform, pgPlatformSchema)
	dir := t.TempDir()
	plan, st := planFor(t, dir, fmt.Sprintf(`
state: ./state.db
stores:
  legacy: {driver: postgres, dsn: "%s", capture: logical}
  platform: {driver: postgres, dsn: "%s", capture: logical}
flows:`+pgFlowYAML, legacyDSN, platformDSN, `{policy: lww, timestamp: updated_at}`))
	c := &convergence{plan: plan, st: st, sides: [2]*writeSide{pgLegacySide(legacy), pgPlatformSide(platform)},
		keys: 40, perSide: 150, dur: 4 * time.Second, lww: true}
	c.run(t)
}

// TestBothConvergePostgresSQLite: a PostgreSQL legacy table and a SQLite
// platform table of different shapes (renames, a computed column mapped back
// by reverse:), lww.
func TestBothConvergePostgresSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	pg := testenv.Postgres(t)
	legacyDSN := pg.NewDatabase(t)
	legacy := openPGDB(t, legacyDSN)
	mustExec(t, legacy, pgLegacySchema)
	dir := t.TempDir()
	platform := openBenchDB(t, filepath.Join(dir, "platform.db"))
	mustExec(t, platform, platformBothSchema)
	plan, st := planFor(t, dir, fmt.Sprintf(`
state: ./state.db
stores:
  legacy: {driver: postgres, dsn: "%s", capture: logical}
  platform: {driver: sqlite, dsn: ./platform.db, capture: trigger}
flows:`+pgFlowYAML, legacyDSN, `{policy: lww, timestamp: updated_at}`))
	sq := sqliteSides(&bothEnv{platform: platform})
	c := &convergence{plan: plan, st: st, sides: [2]*writeSide{pgLegacySide(legacy), sq[1]},
		keys: 40, perSide: 150, dur: 4 * time.Second, lww: true}
	c.run(t)
}
