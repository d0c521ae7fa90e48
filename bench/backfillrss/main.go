// Command backfillrss measures the peak resident memory of a real
// `syncbridge run --once` backfilling SQLite tables of growing size, next to
// the time SQLite itself takes to copy the same table (INSERT ... SELECT
// across an attached database). Memory must stay flat as rows grow: it is
// bounded by the batch size, not the table size.
//
//	go build -o /tmp/syncbridge ./cmd/syncbridge
//	go run ./bench/backfillrss -bin /tmp/syncbridge -rows 100000,300000,1000000
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"
)

const schema = `CREATE TABLE t (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, amount DECIMAL(12,2),
  qty INTEGER, score REAL, active BOOLEAN, note TEXT, created_at DATETIME, updated_at DATETIME, code TEXT)`

func main() {
	bin := flag.String("bin", "syncbridge", "the syncbridge binary to measure")
	rowsFlag := flag.String("rows", "100000,300000,1000000", "table sizes, comma separated")
	batch := flag.Int("batch", 2000, "batch.size of the flow")
	flag.Parse()
	fmt.Printf("%-10s %12s %12s %14s %12s %8s\n", "rows", "syncbridge", "rows/s", "peak RSS MiB", "raw copy", "ratio")
	for _, s := range strings.Split(*rowsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fail(err)
		}
		if err := measure(*bin, n, *batch); err != nil {
			fail(err)
		}
	}
}

func measure(bin string, n, batch int) error {
	dir, err := os.MkdirTemp("", "syncbridge-rss-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := generate(filepath.Join(dir, "src.db"), n); err != nil {
		return err
	}
	for _, name := range []string{"dst.db", "raw.db"} {
		db, err := open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if _, err := db.Exec(schema); err != nil {
			return err
		}
		db.Close()
	}
	cfg := fmt.Sprintf(`state: ./state.db
http: {listen: "off"}
log: {level: warn}
stores:
  src: {driver: sqlite, dsn: ./src.db, capture: trigger}
  dst: {driver: sqlite, dsn: ./dst.db}
flows:
  - {name: t, from: {store: src, table: t}, to: {store: dst, table: t}, batch: {size: %d}}
`, batch)
	if err := os.WriteFile(filepath.Join(dir, "syncbridge.yaml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	start := time.Now()
	cmd := exec.Command(bin, "run", "--once", "--no-progress", "-c", filepath.Join(dir, "syncbridge.yaml"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("syncbridge: %v\n%s", err, out)
	}
	took := time.Since(start)
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux

	raw, err := open(filepath.Join(dir, "raw.db"))
	if err != nil {
		return err
	}
	defer raw.Close()
	start = time.Now()
	if _, err := raw.Exec(`ATTACH DATABASE ? AS s`, filepath.Join(dir, "src.db")); err != nil {
		return err
	}
	if _, err := raw.Exec(`INSERT INTO main.t SELECT * FROM s.t`); err != nil {
		return err
	}
	rawTook := time.Since(start)
	fmt.Printf("%-10d %12s %12.0f %14.1f %12s %7.2fx\n", n, took.Round(time.Millisecond),
		float64(n)/took.Seconds(), float64(rss)/1024, rawTook.Round(time.Millisecond), took.Seconds()/rawTook.Seconds())
	return nil
}

func open(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func generate(path string, n int) error {
	db, err := open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(schema); err != nil {
		return err
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	st, err := tx.Prepare(`INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		if _, err := st.Exec(i, fmt.Sprintf("name %d", i), fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("%d.%02d", i, i%100),
			i%1000, float64(i)/7, i%2, "some longer note text for row", "2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05.123456Z", "AB"); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "backfillrss:", err)
	os.Exit(1)
}
