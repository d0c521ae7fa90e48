package cli

import (
	"database/sql"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/testenv"
)

// sameItems compares the items tables of both sides through the drivers.
func sameItems(e *pgFlowEnv) {
	e.t.Helper()
	sameAcross(e.t, scanAll(e.t, e.srcDriver, e.srcDSN, "items"), scanAll(e.t, e.dstDriver, e.dstDSN, "items"), itemCols)
}

func TestMySQLFlows(t *testing.T) {
	for _, pair := range [][2]string{{"mysql", "postgres"}, {"postgres", "mysql"}, {"mysql", "sqlite"}, {"sqlite", "mysql"}, {"mysql", "mysql"}} {
		t.Run(pair[0]+"_to_"+pair[1], func(t *testing.T) {
			e := newMyFlow(t, pair[0], pair[1], 100)
			insertAny(e, 1, 450)
			e.mustRun("run", "--once")
			sameItems(e)
			// Changes: an update, NULL vs '', a key change, a delete, a multi-row transaction.
			e.exec(e.src, `UPDATE items SET name = 'renamed', note = '', amount = 0.5 WHERE id = 7`)
			e.exec(e.src, `UPDATE items SET note = NULL WHERE id = 8`)
			e.exec(e.src, `UPDATE items SET id = 100000 WHERE id = 9`)
			e.exec(e.src, `DELETE FROM items WHERE id BETWEEN 20 AND 29`)
			insertAny(e, 1000, 250)
			e.mustRun("run", "--once")
			sameItems(e)
			if n := queryRows(t, e.dst, `SELECT count(*) FROM items WHERE id = 9`); n[0] != "0" {
				t.Errorf("the row whose key changed is still there under its old key")
			}
			var note7, note8 sql.NullString
			e.dst.QueryRow(`SELECT note FROM items WHERE id = 7`).Scan(&note7)
			e.dst.QueryRow(`SELECT note FROM items WHERE id = 8`).Scan(&note8)
			if !note7.Valid || note7.String != "" || note8.Valid {
				t.Errorf("'' and NULL must stay apart: note 7 = %+v (want ''), note 8 = %+v (want NULL)", note7, note8)
			}
		})
	}
}

// TestMySQLKill9Cycles kills syncbridge at random instants during backfill
// and binlog streaming from MariaDB into PostgreSQL while a writer keeps
// changing the source, and after every cycle checks that a catch-up run
// leaves the target identical. SYNCBRIDGE_MYSQL_CRASH_CYCLES sets the count
// (default 20).
func TestMySQLKill9Cycles(t *testing.T) {
	cycles, rng := crashPlan(t, "SYNCBRIDGE_MYSQL_CRASH_CYCLES", 20)
	e := newMyFlow(t, "mysql", "postgres", 500)
	insertAny(e, 1, 30000)
	var mu sync.Mutex
	defer startItemsWriter(e.src, mysqlItemsSQL, 30000, &mu)()
	killCycles(t, e.env, cycles, rng, &mu, func() { sameItems(e) })
}

// privateMySQLSource points the flow's source at a new database of srv.
func privateMySQLSource(e *pgFlowEnv, srv *testenv.MariaDBServer) {
	e.t.Helper()
	e.srcDriver, e.srcDSN = "mysql", srv.NewDatabase(e.t)
	e.src = openMy(e.t, e.srcDSN)
	e.exec(e.src, myItems)
	e.writeConfig(flowConfig(e, 100))
}

// TestMySQLRestartMidStream restarts the source server under a running
// syncbridge: it must reconnect by itself and lose nothing.
func TestMySQLRestartMidStream(t *testing.T) {
	srv := testenv.StartMariaDB(t)
	e := newMyFlow(t, "sqlite", "sqlite", 100)
	privateMySQLSource(e, srv)
	insertAny(e, 1, 100)
	cmd, out := e.process("run", "--no-progress")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, "initial sync", 30*time.Second, func() bool { return countRows(e.dst) == 100 })
	srv.Stop(t)
	srv.Start(t)
	e.src = openMy(t, e.srcDSN)
	insertAny(e, 200, 50)
	e.exec(e.src, `UPDATE items SET name = 'after restart' WHERE id = 5`)
	waitFor(t, "sync after the restart", 90*time.Second, func() bool {
		var name string
		e.dst.QueryRow(`SELECT name FROM items WHERE id = 5`).Scan(&name)
		return countRows(e.dst) == 150 && name == "after restart"
	})
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop after restart: %v\n%s", err, out)
	}
	sameItems(e)
}

// TestMySQLBinlogPurgedIsAClearError purges the binlog past the flow's
// checkpoint while syncbridge is stopped: the next run must stop with the
// fix, not skip the gap; the fix (reset, run) converges.
func TestMySQLBinlogPurgedIsAClearError(t *testing.T) {
	srv := testenv.StartMariaDB(t)
	e := newMyFlow(t, "sqlite", "postgres", 100)
	privateMySQLSource(e, srv)
	insertAny(e, 1, 20)
	e.mustRun("run", "--once")
	insertAny(e, 100, 5) // written while syncbridge is stopped
	e.exec(e.src, `DELETE FROM items WHERE id = 3`)
	purgeBinlogs(t, e.src)

	code, out := e.run("run", "--once")
	if code != ExitFailed || !strings.Contains(out, "purged") || !strings.Contains(out, "syncbridge reset --flow items") {
		t.Fatalf("exit %d, want 1 saying the binlog was purged and naming the re-backfill fix:\n%s", code, out)
	}
	t.Logf("the error: %s", strings.TrimSpace(out))
	e.mustRun("reset", "--flow", "items", "--yes")
	e.mustRun("run", "--once")
	// A re-backfill upserts: it cannot see a row deleted during the gap.
	// The test deleted one; the target still holds it.
	if n := countRows(e.dst); n != 25 {
		t.Fatalf("target holds %d rows, want 24 synced + the one deleted during the gap", n)
	}
	e.exec(e.dst, `DELETE FROM items WHERE id = 3`)
	sameItems(e)
}

// purgeBinlogs starts a new binlog file and purges every older one.
func purgeBinlogs(t *testing.T, db *sql.DB) {
	t.Helper()
	if _, err := db.Exec("FLUSH BINARY LOGS"); err != nil {
		t.Fatal(err)
	}
	var file string
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, new(any), new(any), new(any)); err != nil {
		t.Fatal(err)
	}
	// MariaDB keeps a binlog until InnoDB has checkpointed its
	// transactions: retry.
	waitFor(t, "binlog purge", 30*time.Second, func() bool {
		if _, err := db.Exec("PURGE BINARY LOGS TO '" + file + "'"); err != nil {
			t.Fatal(err)
		}
		var first string
		db.QueryRow("SHOW BINARY LOGS").Scan(&first, new(any))
		return first == file
	})
}
