package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMySQLZeroDateRunOnceExits: under zero_dates: error (the default) a
// zero date stops `run --once` with exit 1 and an error naming the flow,
// store, table, column, key and both fixes, whether the backfill or the
// binlog reads it, instead of retrying forever; under zero_dates: null the
// same rows arrive with NULL.
func TestMySQLZeroDateRunOnceExits(t *testing.T) {
	e := newMyFlow(t, "mysql", "sqlite", 100)
	e.exec(e.src, `CREATE TABLE zd (id BIGINT PRIMARY KEY, born DATE)`)
	e.exec(e.dst, `CREATE TABLE zd (id INTEGER PRIMARY KEY, born DATE)`)
	cfg := strings.Replace(mustRead(t, e.cfgPath), "table: items}", "table: zd}", 2)
	e.writeConfig(cfg)
	zero := func(id int) { // a zero date needs a lax session
		c, err := e.src.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, q := range []string{`SET SESSION sql_mode = ''`, fmt.Sprintf(`INSERT INTO zd VALUES (%d, '0000-00-00')`, id)} {
			if _, err := c.ExecContext(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
	}
	// runOnce runs `run --once`, failing the test if it does not return:
	// a retried zero date used to loop with backoff forever.
	runOnce := func() (int, string) {
		t.Helper()
		type result struct {
			code int
			out  string
		}
		done := make(chan result, 1)
		go func() {
			code, out := e.run("run", "--once", "--no-progress")
			done <- result{code, out}
		}()
		select {
		case r := <-done:
			return r.code, r.out
		case <-time.After(90 * time.Second):
			t.Fatal("run --once did not return within 90s: the zero date error is being retried")
		}
		return 0, ""
	}
	wantFatal := func(phase string, key int) {
		t.Helper()
		code, out := runOnce()
		if code != 1 {
			t.Fatalf("%s: run --once exited %d, want 1:\n%s", phase, code, out)
		}
		for _, want := range []string{"flow items", "store src", "table zd", `column \"born\"`, `zero date \"0000-00-00\"`,
			fmt.Sprintf("key %d", key), "fix the source row", "zero_dates: null"} {
			if !strings.Contains(strings.ReplaceAll(out, `\\"`, `\"`), want) && !strings.Contains(out, strings.ReplaceAll(want, `\"`, `"`)) {
				t.Errorf("%s: output does not say %s:\n%s", phase, want, out)
			}
		}
		t.Logf("%s: exit %d:\n%s", phase, code, out)
		if strings.Contains(out, "retrying from the last checkpoint") {
			t.Errorf("%s: the zero date was retried:\n%s", phase, out)
		}
	}

	e.exec(e.src, `INSERT INTO zd VALUES (1, '2026-01-01')`)
	zero(2)
	wantFatal("backfill", 2)

	e.exec(e.src, `UPDATE zd SET born = '2000-02-29' WHERE id = 2`)
	e.mustRun("run", "--once")
	zero(3) // now read by the binlog
	wantFatal("stream", 3)

	// zero_dates: null (unquoted) reads it as NULL, with a warning.
	e.writeConfig(strings.Replace(cfg, "capture: binlog}", "capture: binlog, zero_dates: null}", 1))
	code, out := runOnce()
	if code != 0 {
		t.Fatalf("run --once with zero_dates: null exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "zero date read as NULL") {
		t.Errorf("no warning for the zero date read as NULL:\n%s", out)
	}
	var born any
	if err := e.dst.QueryRow(`SELECT born FROM zd WHERE id = 3`).Scan(&born); err != nil || born != nil {
		t.Errorf("row 3 in the target: born = %v (%v), want NULL", born, err)
	}
	// And the backfill of a zero date under null.
	zero(4)
	e.mustRun("reset", "--flow", "items", "--yes")
	if code, out := runOnce(); code != 0 {
		t.Fatalf("re-backfill with zero_dates: null exited %d:\n%s", code, out)
	}
	var n int
	e.dst.QueryRow(`SELECT count(*) FROM zd WHERE born IS NULL`).Scan(&n)
	if n != 2 {
		t.Errorf("%d rows with a NULL born after the re-backfill, want 2 (ids 3 and 4)", n)
	}
}
