package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAfterOrdersBackfills backfills orders only after customers, into a
// target that enforces foreign keys: any order applied before its customer
// would be refused and parked.
func TestAfterOrdersBackfills(t *testing.T) {
	e := newEnv(t, 500)
	e.exec(e.legacy, `CREATE TABLE ORD_HDR (ORD_NO INTEGER PRIMARY KEY, CUST_ID INTEGER NOT NULL, ORD_AMT DECIMAL(12,2))`)
	e.exec(e.platform, `CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), amount DECIMAL(12,2))`)
	e.insertCustomers(1, 5000)
	for i := 0; i < 200; i++ {
		e.exec(e.legacy, `INSERT INTO ORD_HDR VALUES (?, ?, '9.99')`, i+1, 5000-i)
	}
	cfg := fmt.Sprintf(baseConfig, 500)
	cfg = strings.Replace(cfg, "dsn: ./platform.db", `dsn: "file:`+filepath.Join(e.dir, "platform.db")+`?_pragma=foreign_keys(1)"`, 1)
	cfg += `  - name: orders
    after: [customers]
    from: {store: legacy, table: ORD_HDR}
    to:   {store: platform, table: orders}
    columns: {id: ORD_NO, customer_id: CUST_ID, amount: ORD_AMT}
`
	e.writeConfig(cfg)
	e.mustRun("run", "--once")
	if got := queryRows(t, e.platform, `SELECT count(*) FROM orders`); got[0] != "200" {
		t.Fatalf("orders in target: %v, want 200", got)
	}
	sameRows(t, e.legacyRows(), e.platformRows())
}

// TestPollCapture syncs through `capture: poll` on an updated_at column:
// rows that share one timestamp across page boundaries all arrive, updates
// arrive, and (documented) hard deletes do not.
func TestPollCapture(t *testing.T) {
	e := newEnv(t, 3) // pages of 3 rows: ties straddle page boundaries
	cfg := fmt.Sprintf(baseConfig, 3)
	cfg = strings.Replace(cfg, "capture: trigger", "capture: poll", 1)
	cfg += "    poll: {column: UPD_TS, every: 100ms, lag: 1s}\n"
	e.writeConfig(cfg)
	e.mustRun("run", "--once") // empty table: backfill nothing, record the cursor
	for i := 1; i <= 10; i++ { // ten rows with the same timestamp
		e.exec(e.legacy, `INSERT INTO CUST_MSTR VALUES (?, ?, ?, '1.00', '2026-01-01 00:00:00.000000')`, i, fmt.Sprintf("n%d", i), fmt.Sprintf("e%d@x", i))
	}
	e.mustRun("run", "--once")
	sameRows(t, e.legacyRows(), e.platformRows())

	e.exec(e.legacy, `UPDATE CUST_MSTR SET CUST_NM = 'changed', UPD_TS = '2026-01-02 00:00:00.000000' WHERE CUST_ID IN (2, 9)`)
	e.exec(e.legacy, `DELETE FROM CUST_MSTR WHERE CUST_ID = 5`)
	e.mustRun("run", "--once")
	got := e.platformRows()
	if len(got) != 10 {
		t.Fatalf("poll capture cannot see hard deletes, so the target keeps 10 rows; got %d", len(got))
	}
	want := e.legacyRows()
	if got[1] != want[1] || !strings.Contains(got[1], "changed") || !strings.Contains(got[8], "changed") {
		t.Fatalf("updates not applied: %v", got)
	}
}

// TestPollOnceDoesNotWaitAnInterval: a CronJob run with capture: poll must
// exit once caught up, not after a whole poll.every.
func TestPollOnceDoesNotWaitAnInterval(t *testing.T) {
	e := newEnv(t, 100)
	cfg := fmt.Sprintf(baseConfig, 100)
	cfg = strings.Replace(cfg, "capture: trigger", "capture: poll", 1)
	cfg += "    poll: {column: UPD_TS, every: 1m, lag: 1s}\n"
	e.writeConfig(cfg)
	e.insertCustomers(1, 10)
	start := time.Now()
	e.mustRun("run", "--once")
	e.insertCustomers(100, 10)
	e.mustRun("run", "--once")
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("two --once runs took %v: a poll interval was waited out", d)
	}
	sameRows(t, e.legacyRows(), e.platformRows())
}
