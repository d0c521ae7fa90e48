package cli

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/testenv"
)

const pgItems = `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(14,4),
  at timestamptz, flag boolean, note text)`

const sqliteItems = `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount DECIMAL(14,4),
  at DATETIME, flag BOOLEAN, note TEXT)`

var itemCols = map[string]string{"id": "id", "name": "name", "amount": "amount", "at": "at", "flag": "flag", "note": "note"}

// pgFlowEnv is a flow between two stores of which at least one is PostgreSQL.
type pgFlowEnv struct {
	*env
	srcDriver, srcDSN string
	dstDriver, dstDSN string
	src, dst          *sql.DB
}

func newPGFlow(t *testing.T, srcDriver, dstDriver string, batch int) *pgFlowEnv {
	t.Helper()
	return newPGFlowCapture(t, srcDriver, dstDriver, batch, map[string]string{"postgres": "logical", "sqlite": "trigger"}[srcDriver])
}

func newPGFlowCapture(t *testing.T, srcDriver, dstDriver string, batch int, capture string) *pgFlowEnv {
	t.Helper()
	e := &pgFlowEnv{env: &env{t: t, dir: t.TempDir()}}
	e.cfgPath = filepath.Join(e.dir, "syncbridge.yaml")
	side := func(driver, name string) (string, *sql.DB) {
		if driver == "postgres" {
			dsn := testenv.Postgres(t).NewDatabase(t)
			db := openPG(t, dsn)
			e.exec(db, pgItems)
			return dsn, db
		}
		path := filepath.Join(e.dir, name+".db")
		db := openDB(t, path)
		e.exec(db, sqliteItems)
		return path, db
	}
	e.srcDriver, e.dstDriver = srcDriver, dstDriver
	e.srcDSN, e.src = side(srcDriver, "src")
	e.dstDSN, e.dst = side(dstDriver, "dst")
	e.writeConfig(fmt.Sprintf(`state: ./state.db
http: {listen: "off"}
stores:
  src: {driver: %s, dsn: %q, capture: %s}
  dst: {driver: %s, dsn: %q}
flows:
  - name: items
    from: {store: src, table: items}
    to:   {store: dst, table: items}
    batch: {size: %d}
`, srcDriver, e.srcDSN, capture, dstDriver, e.dstDSN, batch))
	return e
}

// ph returns the n-th placeholder for the source's driver.
func (e *pgFlowEnv) ph(n int) string {
	if e.srcDriver == "postgres" {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

func (e *pgFlowEnv) insertItems(from, n int) {
	e.t.Helper()
	tx, err := e.src.Begin()
	if err != nil {
		e.t.Fatal(err)
	}
	q := fmt.Sprintf(`INSERT INTO items VALUES (%s, %s, %s, %s, %s, %s)`, e.ph(1), e.ph(2), e.ph(3), e.ph(4), e.ph(5), e.ph(6))
	for i := from; i < from+n; i++ {
		var note any = fmt.Sprintf("note %d", i)
		switch i % 3 {
		case 1:
			note = nil // NULL
		case 2:
			note = "" // empty, not NULL
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, (i%1000)*1000+1000, time.UTC).Format("2006-01-02T15:04:05.000000Z")
		if _, err := tx.Exec(q, i, fmt.Sprintf("name ✓ %d", i), fmt.Sprintf("%d.%04d", i, i%10000), at, i%2 == 0, note); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *pgFlowEnv) same() {
	e.t.Helper()
	sameContent(e.t, scanAll(e.t, e.srcDriver, e.srcDSN, "items"), scanAll(e.t, e.dstDriver, e.dstDSN, "items"), itemCols)
}

func TestPostgresFlows(t *testing.T) {
	for _, pair := range [][2]string{{"postgres", "postgres"}, {"postgres", "sqlite"}, {"sqlite", "postgres"}} {
		t.Run(pair[0]+"_to_"+pair[1], func(t *testing.T) {
			flowScenario(t, newPGFlow(t, pair[0], pair[1], 100))
		})
	}
}

// TestPostgresTriggerFlows runs the same flows with `capture: trigger` on
// the PostgreSQL source.
func TestPostgresTriggerFlows(t *testing.T) {
	for _, dst := range []string{"sqlite", "postgres"} {
		t.Run("postgres_to_"+dst, func(t *testing.T) {
			flowScenario(t, newPGFlowCapture(t, "postgres", dst, 100, "trigger"))
		})
	}
}

// flowScenario backfills, then streams updates, NULL vs the empty string, a key change,
// deletes and a multi-row transaction, checking the target after each run.
func flowScenario(t *testing.T, e *pgFlowEnv) {
	e.insertItems(1, 450)
	e.mustRun("run", "--once")
	e.same()
	e.exec(e.src, `UPDATE items SET name = 'renamed', note = '', amount = 0.5 WHERE id = 7`)
	e.exec(e.src, `UPDATE items SET note = NULL WHERE id = 8`)
	e.exec(e.src, `UPDATE items SET id = 100000 WHERE id = 9`)
	e.exec(e.src, `DELETE FROM items WHERE id BETWEEN 20 AND 29`)
	e.insertItems(1000, 250)
	e.mustRun("run", "--once")
	e.same()
	if n := queryRows(t, e.dst, `SELECT count(*) FROM items WHERE id = 9`); n[0] != "0" {
		t.Errorf("the row whose key changed is still there under its old key")
	}
}

// TestPostgresKill9Cycles kills syncbridge at random instants during backfill
// and streaming from PostgreSQL while a writer keeps changing the source, and
// after every cycle checks that a catch-up run leaves the target identical.
// SYNCBRIDGE_PG_CRASH_CYCLES sets the count (default 20).
func TestPostgresKill9Cycles(t *testing.T) {
	cycles, rng := crashPlan(t, "SYNCBRIDGE_PG_CRASH_CYCLES", 20)
	e := newPGFlow(t, "postgres", "postgres", 500)
	e.insertItems(1, 30000)
	var mu sync.Mutex
	defer startItemsWriter(e.src, pgItemsSQL, 30000, &mu)()
	killCycles(t, e.env, cycles, rng, &mu, e.same)
}

// TestPostgresSlotDroppedIsAClearError drops the flow's replication slot
// behind syncbridge's back: the next run must stop with the fix, not skip the
// gap.
func TestPostgresSlotDroppedIsAClearError(t *testing.T) {
	e := newPGFlow(t, "postgres", "sqlite", 100)
	e.insertItems(1, 10)
	e.mustRun("run", "--once")
	var slot string
	if err := e.src.QueryRow(`SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`).Scan(&slot); err != nil {
		t.Fatalf("no slot for the flow: %v", err)
	}
	e.exec(e.src, `SELECT pg_drop_replication_slot($1)`, slot)
	e.insertItems(100, 5)
	code, out := e.run("run", "--once")
	if code != ExitFailed || !strings.Contains(out, slot) || !strings.Contains(out, "syncbridge reset --flow items") {
		t.Fatalf("exit %d, want 1 naming the slot and the re-backfill fix:\n%s", code, out)
	}
	// The documented fix: reset, then run; the rows written while the slot
	// was gone arrive through the new backfill.
	e.mustRun("reset", "--flow", "items", "--yes")
	e.mustRun("run", "--once")
	e.same()
}

// TestPostgresRestartMidStream restarts the source server under a running
// syncbridge: it must reconnect by itself and lose nothing.
func TestPostgresRestartMidStream(t *testing.T) {
	pg := testenv.StartPostgres(t)
	e := newPGFlow(t, "sqlite", "sqlite", 100) // replaced below: the source lives on the private cluster
	srcDSN := pg.NewDatabase(t)
	e.srcDriver, e.srcDSN, e.src = "postgres", srcDSN, openPG(t, srcDSN)
	e.exec(e.src, pgItems)
	cfg := strings.Replace(mustRead(t, e.cfgPath), "driver: sqlite, dsn: "+strconv.Quote(filepath.Join(e.dir, "src.db"))+", capture: trigger",
		"driver: postgres, dsn: "+strconv.Quote(srcDSN)+", capture: logical", 1)
	e.writeConfig(cfg)
	e.insertItems(1, 100)
	cmd, out := e.process("run", "--no-progress")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, "initial sync", 30*time.Second, func() bool { return countRows(e.dst) == 100 })
	pg.Stop(t)
	pg.Start(t)
	e.src = openPG(t, srcDSN)
	e.insertItems(200, 50)
	waitFor(t, "sync after the restart", 60*time.Second, func() bool { return countRows(e.dst) == 150 })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop after restart: %v\n%s", err, out)
	}
	e.same()
}

func mustRead(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func countRows(db *sql.DB) int {
	var n int
	db.QueryRow(`SELECT count(*) FROM items`).Scan(&n)
	return n
}

func TestPostgresTruncateIsPropagated(t *testing.T) {
	for _, dst := range []string{"postgres", "sqlite"} {
		t.Run(dst, func(t *testing.T) {
			e := newPGFlow(t, "postgres", dst, 100)
			e.insertItems(1, 300)
			e.mustRun("run", "--once")
			// One transaction: rows before, the truncate, rows after.
			e.exec(e.src, `BEGIN; UPDATE items SET name = 'gone' WHERE id = 1; TRUNCATE items; INSERT INTO items VALUES (7, 'after', 1, now(), true, NULL); COMMIT`)
			e.mustRun("run", "--once")
			e.same()
			if n := countRows(e.dst); n != 1 {
				t.Fatalf("target holds %d rows after TRUNCATE + 1 insert", n)
			}
		})
	}
	t.Run("ignore", func(t *testing.T) {
		e := newPGFlow(t, "postgres", "sqlite", 100)
		e.writeConfig(mustRead(t, e.cfgPath) + "    truncate: ignore\n")
		e.insertItems(1, 20)
		e.mustRun("run", "--once")
		e.exec(e.src, `TRUNCATE items`)
		e.mustRun("run", "--once")
		if n := countRows(e.dst); n != 20 {
			t.Fatalf("truncate: ignore must keep the target's %d rows, got %d", 20, n)
		}
	})
}

// TestPostgresRemovedFlowSlotIsReportedAndDropped renames a flow: the old
// flow's slot retains WAL, so run warns about it, and the documented reset
// command drops it.
func TestPostgresRemovedFlowSlotIsReportedAndDropped(t *testing.T) {
	e := newPGFlow(t, "postgres", "sqlite", 100)
	e.insertItems(1, 5)
	e.mustRun("run", "--once")
	e.writeConfig(strings.Replace(mustRead(t, e.cfgPath), "name: items", "name: items_v2", 1))
	out := e.mustRun("run", "--once")
	if !strings.Contains(out, "syncbridge_items") || !strings.Contains(out, "--drop-capture") {
		t.Fatalf("run did not warn about the removed flow's slot:\n%s", out)
	}
	e.mustRun("reset", "--store", "src", "--flow", "items", "--drop-capture", "--yes")
	if got := queryRows(t, e.src, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'syncbridge_items'`); got[0] != "0" {
		t.Fatalf("slot of the removed flow still there")
	}
	if out := e.mustRun("run", "--once"); strings.Contains(out, "owned by no configured flow") {
		t.Fatalf("still warning after the drop:\n%s", out)
	}
}
