package cli

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRunOnceBackfillsThenStreams(t *testing.T) {
	e := newEnv(t, 100)
	e.insertCustomers(1, 250)
	out := e.mustRun("run", "--once")
	if !strings.Contains(out, "customers") {
		t.Errorf("summary does not name the flow:\n%s", out)
	}
	sameRows(t, e.legacyRows(), e.platformRows())

	// Changes after the backfill arrive through the trigger log, in order.
	e.exec(e.legacy, `UPDATE CUST_MSTR SET CUST_NM = 'Renamed', BAL = '0.10' WHERE CUST_ID = 7`)
	e.exec(e.legacy, `DELETE FROM CUST_MSTR WHERE CUST_ID = 8`)
	e.insertCustomers(1000, 3)
	e.exec(e.legacy, `UPDATE CUST_MSTR SET CUST_ID = 5000 WHERE CUST_ID = 9`) // key change moves the row
	e.mustRun("run", "--once")
	sameRows(t, e.legacyRows(), e.platformRows())

	var bal string
	if err := e.platform.QueryRow(`SELECT CAST(balance AS TEXT) FROM customers WHERE id = 7`).Scan(&bal); err != nil || bal != "0.1" {
		t.Errorf("balance of 7 = %q, %v; want 0.1", bal, err)
	}
}

func TestIdempotentRerun(t *testing.T) {
	e := newEnv(t, 64)
	e.insertCustomers(1, 300)
	e.mustRun("run", "--once")
	first := e.platformRows()
	out := e.mustRun("status", "--format", "json")
	var before statusReport
	if err := json.Unmarshal([]byte(out), &before); err != nil {
		t.Fatalf("status json: %v\n%s", err, out)
	}
	e.mustRun("run", "--once")
	sameRows(t, first, e.platformRows())
	out = e.mustRun("status", "--format", "json")
	var after statusReport
	if err := json.Unmarshal([]byte(out), &after); err != nil {
		t.Fatal(err)
	}
	if after.Flows[0].Applied != before.Flows[0].Applied {
		t.Errorf("a re-run with nothing new applied %d changes", after.Flows[0].Applied-before.Flows[0].Applied)
	}
}

// TestRedeliveredChangesChangeNothing rewinds the target's checkpoint so the
// whole change log is delivered again, and checks the target is unchanged.
func TestRedeliveredChangesChangeNothing(t *testing.T) {
	e := newEnv(t, 50)
	e.insertCustomers(1, 120)
	e.mustRun("run", "--once")
	// Keep the log from being pruned by registering a consumer that never acks.
	e.exec(e.legacy, `INSERT INTO _syncbridge_cursor(flow, tbl, acked) VALUES ('pin', 'CUST_MSTR', 0)`)
	for i := 1; i <= 120; i += 3 {
		e.exec(e.legacy, `UPDATE CUST_MSTR SET BAL = BAL + 1 WHERE CUST_ID = ?`, i)
	}
	e.exec(e.legacy, `DELETE FROM CUST_MSTR WHERE CUST_ID BETWEEN 50 AND 60`)
	e.mustRun("run", "--once")
	want := e.platformRows()
	sameRows(t, e.legacyRows(), want)

	var data string
	if err := e.platform.QueryRow(`SELECT data FROM _syncbridge_checkpoint WHERE flow = 'customers'`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	var cp map[string]any
	if err := json.Unmarshal([]byte(data), &cp); err != nil {
		t.Fatal(err)
	}
	var minID int64
	if err := e.legacy.QueryRow(`SELECT min(id) - 1 FROM _syncbridge_log`).Scan(&minID); err != nil {
		t.Fatal(err)
	}
	cp["position"] = []byte("sqlite-log:v1:" + strconv.FormatInt(minID, 10))
	raw, _ := json.Marshal(cp)
	e.exec(e.platform, `UPDATE _syncbridge_checkpoint SET data = ? WHERE flow = 'customers'`, string(raw))

	e.mustRun("run", "--once")
	sameRows(t, want, e.platformRows())
}

func TestPoisonRowIsParkedAndReplayed(t *testing.T) {
	e := newEnv(t, 10)
	// The target already holds this e-mail under another id: the unique
	// constraint will refuse legacy row 5.
	e.exec(e.platform, `INSERT INTO customers(id, full_name, email) VALUES (9999, 'Squatter', 'user5@example.com')`)
	e.insertCustomers(1, 20)
	code, out := e.run("run", "--once")
	if code != ExitFailed || !strings.Contains(out, "dead-letter") {
		t.Fatalf("run --once with a poison row: exit %d, want 1 naming the dead-letter queue\n%s", code, out)
	}
	rows := e.platformRows()
	if len(rows) != 20 { // 19 synced + the squatter
		t.Fatalf("other rows must flow past the poison one: %d rows in target", len(rows))
	}
	// A later change to the parked key waits behind it.
	e.exec(e.legacy, `UPDATE CUST_MSTR SET CUST_NM = 'Five, later' WHERE CUST_ID = 5`)
	e.exec(e.legacy, `UPDATE CUST_MSTR SET CUST_NM = 'Six, later' WHERE CUST_ID = 6`)
	e.run("run", "--once")
	list := e.mustRun("dlq", "list", "--format", "json")
	var parked struct {
		Entries []struct {
			Seq     int64  `json:"seq"`
			Key     string `json:"key"`
			Waiting bool   `json:"waiting"`
			Error   string `json:"error"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(list), &parked); err != nil {
		t.Fatalf("dlq list json: %v\n%s", err, list)
	}
	if len(parked.Entries) != 2 || parked.Entries[0].Key != "5" || parked.Entries[0].Waiting ||
		!strings.Contains(strings.ToLower(parked.Entries[0].Error), "unique") || !parked.Entries[1].Waiting {
		t.Fatalf("want the failed change and one waiting behind it, got %+v", parked.Entries)
	}
	var six string
	e.platform.QueryRow(`SELECT full_name FROM customers WHERE id = 6`).Scan(&six)
	if six != "Six, later" {
		t.Errorf("key 6 is not parked and must be updated, got %q", six)
	}

	// Replay before the fix keeps both parked; after it, both apply in order.
	if code, out := e.run("dlq", "replay", "--flow", "customers"); code != ExitFailed {
		t.Fatalf("replay before the fix: exit %d, want 1\n%s", code, out)
	}
	e.exec(e.platform, `DELETE FROM customers WHERE id = 9999`)
	out = e.mustRun("dlq", "replay", "--flow", "customers")
	if !strings.Contains(out, "2 applied, 0 still parked") {
		t.Fatalf("replay after the fix:\n%s", out)
	}
	sameRows(t, e.legacyRows(), e.platformRows())
	if out := e.mustRun("dlq", "list"); !strings.Contains(out, "empty") {
		t.Errorf("dlq after replay:\n%s", out)
	}
}

func TestMappingErrorIsParked(t *testing.T) {
	e := newEnv(t, 100)
	cfg := fmt.Sprintf(baseConfig, 100)
	cfg = strings.Replace(cfg, `full_name: CUST_NM`, `full_name: string(int(CUST_NM))`, 1) // "Name 1" is no int: fails at run time
	e.writeConfig(cfg)
	e.insertCustomers(1, 3)
	code, out := e.run("run", "--once")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if n := len(e.platformRows()); n != 0 {
		t.Fatalf("%d rows written despite mapping errors", n)
	}
	e.writeConfig(fmt.Sprintf(baseConfig, 100)) // the fix
	e.mustRun("dlq", "replay", "--flow", "customers")
	sameRows(t, e.legacyRows(), e.platformRows())
}

func TestBadConfigsAreRefusedBeforeWriting(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(string) string
		setup  func(e *env)
		expect []string
	}{
		{"unknown key", func(s string) string { return strings.Replace(s, "capture: trigger", "captur: trigger", 1) },
			nil, []string{"syncbridge.yaml:", "captur"}},
		{"missing store", func(s string) string {
			return strings.Replace(s, "to:   {store: platform", "to:   {store: platfrom", 1)
		},
			nil, []string{"flows[0].to.store", "platfrom"}},
		{"missing table", func(s string) string { return strings.Replace(s, "table: customers", "table: customer", 1) },
			nil, []string{"flows[0].to.table", `"customer"`, "not found"}},
		{"key-less table", func(s string) string {
			return strings.Replace(strings.Replace(s, "table: CUST_MSTR", "table: LOOSE", 1), "    key: [CUST_ID]\n", "", 1)
		}, func(e *env) { e.exec(e.legacy, `CREATE TABLE LOOSE (CUST_ID INTEGER, CUST_NM TEXT)`) },
			[]string{"flows[0].key", "no primary key"}},
		{"unmappable type", func(s string) string { return strings.Replace(s, "balance: BAL", "balance: BLOB_COL", 1) },
			func(e *env) { e.exec(e.legacy, `ALTER TABLE CUST_MSTR ADD COLUMN BLOB_COL BLOB`) },
			[]string{"flows[0].columns.balance", "BLOB_COL", "cannot be written"}},
		{"unset variable", func(s string) string { return strings.Replace(s, "./platform.db", `"${PLATFORM_DSN_UNSET}"`, 1) },
			nil, []string{"PLATFORM_DSN_UNSET"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 100)
			e.insertCustomers(1, 5)
			if tc.setup != nil {
				tc.setup(e)
			}
			e.writeConfig(tc.edit(fmt.Sprintf(baseConfig, 100)))
			legacyBefore := schemaOf(t, e, e.legacy)
			platformBefore := schemaOf(t, e, e.platform)
			for _, cmd := range [][]string{{"validate"}, {"run", "--once"}} {
				code, out := e.run(cmd...)
				if code != ExitUsage {
					t.Fatalf("%v: exit %d, want 2\n%s", cmd, code, out)
				}
				for _, s := range tc.expect {
					if !strings.Contains(out, s) {
						t.Errorf("%v: message does not mention %q:\n%s", cmd, s, out)
					}
				}
			}
			if got := schemaOf(t, e, e.legacy); got != legacyBefore {
				t.Errorf("source schema changed by a refused run:\n%s", got)
			}
			if got := schemaOf(t, e, e.platform); got != platformBefore {
				t.Errorf("target schema changed by a refused run:\n%s", got)
			}
			if _, err := os.Stat(filepath.Join(e.dir, "state.db")); err == nil {
				t.Errorf("a refused run created the state store")
			}
		})
	}
}

// schemaOf lists every table, index and trigger of a database, so a test
// can prove a refused command installed nothing.
func schemaOf(t *testing.T, e *env, db *sql.DB) string {
	t.Helper()
	return strings.Join(queryRows(t, db, `SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name`), "\n")
}

func TestSecondRunIsRefusedWhileFirstHoldsTheFlow(t *testing.T) {
	e := newEnv(t, 100)
	e.insertCustomers(1, 10)
	cmd, out := e.process("run")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, "first run to sync", 20*time.Second, func() bool { return len(e.platformRows()) == 10 })
	code, msg := e.run("run", "--once")
	if code != ExitFailed || !strings.Contains(msg, "lease") {
		t.Fatalf("second run: exit %d, want 1 naming the lease\n%s\nfirst run:\n%s", code, msg, out)
	}
	// SIGTERM stops the first one gracefully; then the flow is free.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, out)
	}
	e.mustRun("run", "--once")
}

// TestKill9Cycles kills a running syncbridge at random instants while the
// source keeps changing, restarts it, and checks the target ends identical to
// the source. SYNCBRIDGE_CRASH_CYCLES raises the count (default 8).
func TestKill9Cycles(t *testing.T) {
	if testing.Short() {
		t.Skip("crash cycles take seconds")
	}
	cycles := 8
	if s := os.Getenv("SYNCBRIDGE_CRASH_CYCLES"); s != "" {
		cycles, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newEnv(t, 200)
	e.insertCustomers(1, 20000)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a writer mixing updates, deletes, inserts and multi-row transactions
		defer wg.Done()
		wr := openDB(t, filepath.Join(e.dir, "legacy.db"))
		next := 100000
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tx, err := wr.Begin()
			if err != nil {
				continue
			}
			for j := 0; j < 1+i%7; j++ {
				id := 1 + (i*131+j*17)%20000
				switch (i + j) % 4 {
				case 0, 1:
					tx.Exec(`UPDATE CUST_MSTR SET BAL = BAL + 1, CUST_NM = ? WHERE CUST_ID = ?`, fmt.Sprintf("v%d", i), id)
				case 2:
					tx.Exec(`DELETE FROM CUST_MSTR WHERE CUST_ID = ?`, id)
				case 3:
					next++
					tx.Exec(`INSERT INTO CUST_MSTR VALUES (?, ?, ?, '1.00', '2026-01-01')`, next, "new", fmt.Sprintf("n%d@x", next))
				}
			}
			tx.Commit()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for c := 0; c < cycles; c++ {
		cmd, out := e.process("run", "--no-progress")
		time.Sleep(time.Duration(150+rng.IntN(700)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if strings.Contains(out.String(), "panic") {
			t.Fatalf("cycle %d: panic\n%s", c, out)
		}
	}
	close(stop)
	wg.Wait()
	e.mustRun("run", "--once")
	sameRows(t, e.legacyRows(), e.platformRows())
}
