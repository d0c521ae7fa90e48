package cli

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/testenv"
	_ "modernc.org/sqlite"
)

// TestMain lets the test binary act as the syncbridge command: a test that
// needs a real process (to kill -9 it) runs os.Args[0] with
// SYNCBRIDGE_AS_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("SYNCBRIDGE_AS_MAIN") == "1" {
		os.Exit(Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(testenv.Run(m))
}

// env is one test's world: a legacy and a platform SQLite database and a
// config file in a temp dir.
type env struct {
	t        *testing.T
	dir      string
	legacy   *sql.DB
	platform *sql.DB
	cfgPath  string
}

const legacySchema = `
CREATE TABLE CUST_MSTR (
  CUST_ID INTEGER PRIMARY KEY,
  CUST_NM TEXT NOT NULL,
  EMAIL_ADR TEXT,
  BAL DECIMAL(12,2),
  UPD_TS DATETIME
);`

const platformSchema = `
CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  full_name TEXT NOT NULL,
  email TEXT UNIQUE,
  balance DECIMAL(12,2),
  updated_at DATETIME,
  source TEXT
);`

const baseConfig = `
state: ./state.db
http: {listen: "off"}
stores:
  legacy:   {driver: sqlite, dsn: ./legacy.db, capture: trigger}
  platform: {driver: sqlite, dsn: ./platform.db}
flows:
  - name: customers
    from: {store: legacy, table: CUST_MSTR}
    to:   {store: platform, table: customers}
    key: [CUST_ID]
    columns:
      id: CUST_ID
      full_name: CUST_NM
      email: lower(EMAIL_ADR)
      balance: BAL
      updated_at: UPD_TS
      source: '"legacy"'
    batch: {size: %d}
`

func newEnv(t *testing.T, batch int) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, cfgPath: filepath.Join(dir, "syncbridge.yaml")}
	e.legacy = openDB(t, filepath.Join(dir, "legacy.db"))
	e.platform = openDB(t, filepath.Join(dir, "platform.db"))
	e.exec(e.legacy, legacySchema)
	e.exec(e.platform, platformSchema)
	e.writeConfig(fmt.Sprintf(baseConfig, batch))
	return e
}

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func (e *env) writeConfig(s string) {
	e.t.Helper()
	if err := os.WriteFile(e.cfgPath, []byte(s), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) exec(db *sql.DB, q string, args ...any) {
	e.t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// insertCustomers writes n legacy rows with ids from..from+n-1 in one
// transaction per 1000 rows.
func (e *env) insertCustomers(from, n int) {
	e.t.Helper()
	for done := 0; done < n; {
		tx, err := e.legacy.Begin()
		if err != nil {
			e.t.Fatal(err)
		}
		for i := 0; i < 1000 && done < n; i, done = i+1, done+1 {
			id := from + done
			if _, err := tx.Exec(`INSERT INTO CUST_MSTR VALUES (?, ?, ?, ?, ?)`, id, fmt.Sprintf("Name %d", id),
				fmt.Sprintf("User%d@Example.COM", id), fmt.Sprintf("%d.%02d", id, id%100), "2026-01-02 03:04:05.123456"); err != nil {
				e.t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			e.t.Fatal(err)
		}
	}
}

// run executes the command in-process and returns its exit code and output.
func (e *env) run(args ...string) (int, string) {
	e.t.Helper()
	var out bytes.Buffer
	code := Execute(context.Background(), append(args, "-c", e.cfgPath), &out, &out)
	return code, out.String()
}

// mustRun runs the command and fails the test unless it exits 0.
func (e *env) mustRun(args ...string) string {
	e.t.Helper()
	code, out := e.run(args...)
	if code != 0 {
		e.t.Fatalf("syncbridge %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// process starts syncbridge as a separate process (this test binary).
func (e *env) process(args ...string) (*exec.Cmd, *bytes.Buffer) {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], append(args, "-c", e.cfgPath)...)
	cmd.Env = append(os.Environ(), "SYNCBRIDGE_AS_MAIN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return cmd, &out
}

// legacyRows renders the legacy table as the platform table should look.
func (e *env) legacyRows() []string {
	e.t.Helper()
	return queryRows(e.t, e.legacy, `SELECT CUST_ID, CUST_NM, lower(EMAIL_ADR), CAST(BAL AS TEXT), 'legacy' FROM CUST_MSTR ORDER BY CUST_ID`)
}

func (e *env) platformRows() []string {
	e.t.Helper()
	return queryRows(e.t, e.platform, `SELECT id, full_name, email, CAST(balance AS TEXT), source FROM customers ORDER BY id`)
}

func queryRows(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRows fails with a short diff when the two row sets differ.
func sameRows(t *testing.T, want, got []string) {
	t.Helper()
	if len(want) == len(got) {
		equal := true
		for i := range want {
			if want[i] != got[i] {
				equal = false
				break
			}
		}
		if equal {
			return
		}
	}
	w, g := map[string]bool{}, map[string]bool{}
	for _, r := range want {
		w[r] = true
	}
	for _, r := range got {
		g[r] = true
	}
	var missing, extra []string
	for r := range w {
		if !g[r] {
			missing = append(missing, r)
		}
	}
	for r := range g {
		if !w[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	t.Fatalf("target differs from source: %d rows vs %d; missing %d (first: %.3q), unexpected %d (first: %.3q)",
		len(want), len(got), len(missing), missing, len(extra), extra)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
