package cli

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/testenv"
)

// The same logical columns in each engine's own types. d and u need more
// than 15 significant digits, which SQLite cannot hold exactly in a
// DECIMAL column (NUMERIC affinity stores such a value as a REAL, rounded):
// they are compared between MySQL and PostgreSQL only, and d2 carries
// decimals through every engine.
const (
	myTypes = `CREATE TABLE types (id BIGINT PRIMARY KEY, d DECIMAL(20,6), d2 DECIMAL(12,4), ts DATETIME(6), dt DATE,
  tm TIME(6), j JSON, txt VARCHAR(100), b BLOB, e ENUM('red','green','blue'), flag TINYINT(1), u BIGINT UNSIGNED)`
	pgTypes = `CREATE TABLE types (id bigint PRIMARY KEY, d numeric(20,6), d2 numeric(12,4), ts timestamptz, dt date,
  tm time, j jsonb, txt text, b bytea, e text, flag boolean, u numeric(20,0))`
	sqliteTypes = `CREATE TABLE types (id INTEGER PRIMARY KEY, d DECIMAL(20,6), d2 DECIMAL(12,4), ts DATETIME, dt DATE,
  tm TIME, j JSON, txt TEXT, b BLOB, e TEXT, flag BOOLEAN, u NUMERIC(20,0))`
)

// typeCols are the columns every engine holds exactly; wideCols add the
// ones only MySQL and PostgreSQL do.
var (
	typeCols = map[string]string{"id": "id", "d2": "d2", "ts": "ts", "dt": "dt", "tm": "tm", "j": "j",
		"txt": "txt", "b": "b", "e": "e", "flag": "flag"}
	wideCols = map[string]string{"id": "id", "d": "d", "d2": "d2", "ts": "ts", "dt": "dt", "tm": "tm", "j": "j",
		"txt": "txt", "b": "b", "e": "e", "flag": "flag", "u": "u"}
)

// sqliteMapping is the columns block of the flows through SQLite.
const sqliteMapping = `{id: id, d2: d2, ts: ts, dt: dt, tm: tm, j: j, txt: txt, b: b, e: e, flag: flag}`

// typeRows are the values of the matrix, one row per edge: large and
// negative decimals, microseconds, JSON whose key order and spacing each
// engine may change, emoji, NUL and 0xFF bytes, empty vs NULL, BIGINT
// UNSIGNED max (past int64: never wrapped).
var typeRows = []string{
	`(1, -12345678901234.123456, -12345678.1234, '2026-03-04 05:06:07.123456', '2026-03-04', '13:14:15.654321',
	  '{"b": [1, 2.5, "x"], "a": {"nested": true}, "n": null}', 'emoji 😀 and ünïcode', X'00FF10', 'green', 1, 18446744073709551615)`,
	`(2, 99999999999999.999999, 99999999.9999, '1970-01-01 00:00:00.000001', '1000-01-01', '00:00:00', '[]', '', X'', 'red', 0, 0)`,
	`(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
	`(4, 0.000001, 0.0001, '2038-01-19 03:14:08.999999', '9999-12-31', '23:59:59.999999', '"just a string"',
	  'quote '' and \\ backslash', X'DEADBEEF00', 'blue', 1, 9223372036854775808)`,
}

// TestMySQLTypeMatrix syncs the matrix MySQL → PostgreSQL → SQLite → MySQL
// and PostgreSQL → MySQL, by backfill and then by change capture on every
// hop, and compares every hop's content by value.
func TestMySQLTypeMatrix(t *testing.T) {
	dir := t.TempDir()
	e := &env{t: t, dir: dir, cfgPath: filepath.Join(dir, "syncbridge.yaml")}
	maria, pg := testenv.MariaDB(t), testenv.Postgres(t)
	dsn := map[string]string{"my": maria.NewDatabase(t), "pg": pg.NewDatabase(t), "lite": filepath.Join(dir, "lite.db"),
		"my2": maria.NewDatabase(t), "my3": maria.NewDatabase(t)}
	driver := map[string]string{"my": "mysql", "pg": "postgres", "lite": "sqlite", "my2": "mysql", "my3": "mysql"}
	db := map[string]*sql.DB{}
	for name, d := range driver {
		switch d {
		case "mysql":
			db[name] = openMy(t, dsn[name])
			e.exec(db[name], myTypes)
		case "postgres":
			db[name] = openPG(t, dsn[name])
			e.exec(db[name], pgTypes)
		default:
			db[name] = openDB(t, dsn[name])
			e.exec(db[name], sqliteTypes)
		}
	}
	e.writeConfig(fmt.Sprintf(`state: ./state.db
http: {listen: "off"}
stores:
  my:   {driver: mysql, dsn: %q, capture: binlog}
  pg:   {driver: postgres, dsn: %q, capture: logical}
  lite: {driver: sqlite, dsn: %q, capture: trigger}
  my2:  {driver: mysql, dsn: %q}
  my3:  {driver: mysql, dsn: %q}
flows:
  - {name: my_pg, from: {store: my, table: types}, to: {store: pg, table: types}}
  - {name: pg_lite, from: {store: pg, table: types}, to: {store: lite, table: types}, after: [my_pg], columns: %s}
  - {name: lite_my, from: {store: lite, table: types}, to: {store: my2, table: types}, after: [pg_lite], columns: %s}
  - {name: pg_my, from: {store: pg, table: types}, to: {store: my3, table: types}, after: [my_pg]}
`, dsn["my"], dsn["pg"], dsn["lite"], dsn["my2"], dsn["my3"], sqliteMapping, sqliteMapping))
	e.exec(db["my"], "INSERT INTO types VALUES "+strings.Join(typeRows, ", "))

	check := func(stage string) {
		t.Helper()
		for _, hop := range [][2]string{{"my", "pg"}, {"pg", "lite"}, {"lite", "my2"}, {"pg", "my3"}, {"my", "my2"}, {"my", "my3"}} {
			cols := typeCols
			if hop[1] == "pg" || hop[1] == "my3" {
				cols = wideCols
			}
			t.Run(stage+"/"+hop[0]+"_vs_"+hop[1], func(t *testing.T) {
				sameAcross(t, scanAll(t, driver[hop[0]], dsn[hop[0]], "types"), scanAll(t, driver[hop[1]], dsn[hop[1]], "types"), cols)
			})
		}
	}
	e.mustRun("run", "--once")
	check("backfill")

	// The same edges again through change capture on every hop.
	e.exec(db["my"], "DELETE FROM types")
	e.exec(db["my"], "INSERT INTO types VALUES "+strings.ReplaceAll(strings.Join(typeRows, ", "), "(", "(10 + "))
	e.exec(db["my"], `UPDATE types SET d = -d, j = '{"z": 1, "a": [true, false]}', u = 18446744073709551614, flag = 0,
		txt = 'changed 🚀' WHERE id = 11`)
	for i := 0; i < 3; i++ { // each hop's source is written by the hop before it
		e.mustRun("run", "--once")
	}
	check("stream")

	// Nothing wrapped: the unsigned maximum is exact in PostgreSQL.
	var u string
	if err := db["pg"].QueryRow(`SELECT u::text FROM types WHERE id = 14`).Scan(&u); err != nil || u != "9223372036854775808" {
		t.Errorf("BIGINT UNSIGNED past int64 in PostgreSQL: %q, %v", u, err)
	}
	if err := db["pg"].QueryRow(`SELECT u::text FROM types WHERE id = 11`).Scan(&u); err != nil || u != "18446744073709551614" {
		t.Errorf("BIGINT UNSIGNED near its maximum in PostgreSQL: %q, %v", u, err)
	}
}

// TestMySQLZeroDateIsAClearError puts a zero date in a MySQL source, once
// read by the backfill and once by the binlog: the flow must stop with an
// error naming the column, never write NULL or a made-up date, and go on
// once the source is fixed. The error stops the flow (zero_dates: error,
// the default; see TestMySQLZeroDateRunOnceExits); the test watches the
// output of a running syncbridge, whose error is printed unquoted.
// Deleting or fixing a zero-date row passes: before images may hold it.
func TestMySQLZeroDateIsAClearError(t *testing.T) {
	e := newMyFlow(t, "mysql", "sqlite", 100)
	e.exec(e.src, `CREATE TABLE zd (id BIGINT PRIMARY KEY, born DATE)`)
	e.exec(e.dst, `CREATE TABLE zd (id INTEGER PRIMARY KEY, born DATE)`)
	e.writeConfig(strings.Replace(mustRead(t, e.cfgPath), "table: items}", "table: zd}", 2))
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
	e.exec(e.src, `INSERT INTO zd VALUES (1, '2026-01-01')`)
	zero(2)
	for i, phase := range []string{"backfill", "stream"} {
		cmd, out := e.process("run", "--no-progress")
		want := `column "born" holds the zero date "0000-00-00"`
		seen := func() bool { return strings.Contains(strings.ReplaceAll(out.String(), `\"`, `"`), want) }
		deadline := time.Now().Add(30 * time.Second)
		for !seen() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if !seen() {
			t.Fatalf("%s: no error naming the column and the zero date:\n%s", phase, out)
		}
		var n int
		e.dst.QueryRow(`SELECT count(*) FROM zd WHERE born IS NULL OR born LIKE '0000%'`).Scan(&n)
		if n != 0 {
			t.Fatalf("%s: %d rows written with a NULL or zero date", phase, n)
		}
		// The fix in the source (an UPDATE whose before image still holds
		// the zero date). A row read by the backfill passes once fixed; one
		// that arrived by the binlog stays in the binlog, so its flow is
		// re-backfilled from after the fix.
		e.exec(e.src, `UPDATE zd SET born = '2000-02-29' WHERE id IN (2, 3)`)
		if phase == "stream" {
			e.mustRun("reset", "--flow", "items", "--yes")
		}
		e.mustRun("run", "--once")
		sameAcross(t, scanAll(t, "mysql", e.srcDSN, "zd"), scanAll(t, "sqlite", e.dstDSN, "zd"), map[string]string{"id": "id", "born": "born"})
		if i == 0 {
			zero(3) // now arriving by the binlog
		}
	}
}
