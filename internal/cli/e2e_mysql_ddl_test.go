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

const myDDLTable = `CREATE TABLE ddl (id BIGINT PRIMARY KEY, qty INT, name VARCHAR(50))`

var ddlCols = map[string]string{"id": "id", "qty": "qty", "name": "name"}

// ddlEnv is a MySQL → MySQL flow "ddl" of the table ddl (identity mapping).
type ddlEnv struct {
	*env
	srcDSN, dstDSN string
	src, dst       *sql.DB
}

func newDDLEnv(t *testing.T, srv *testenv.MariaDBServer) *ddlEnv {
	t.Helper()
	e := &ddlEnv{env: &env{t: t, dir: t.TempDir()}}
	e.cfgPath = filepath.Join(e.dir, "syncbridge.yaml")
	e.srcDSN, e.dstDSN = srv.NewDatabase(t), srv.NewDatabase(t)
	e.src, e.dst = openMy(t, e.srcDSN), openMy(t, e.dstDSN)
	e.exec(e.src, myDDLTable)
	e.exec(e.dst, myDDLTable)
	e.writeConfig(fmt.Sprintf(`state: ./state.db
http: {listen: "off"}
stores:
  src: {driver: mysql, dsn: %q, capture: binlog}
  dst: {driver: mysql, dsn: %q}
flows:
  - {name: ddl, from: {store: src, table: ddl}, to: {store: dst, table: ddl}, batch: {size: 100}}
`, e.srcDSN, e.dstDSN))
	for i := 1; i <= 10; i++ {
		e.exec(e.src, `INSERT INTO ddl VALUES (?, ?, ?)`, i, i*10, fmt.Sprintf("row %d", i))
	}
	return e
}

func (e *ddlEnv) same(cols map[string]string) {
	e.t.Helper()
	sameAcross(e.t, scanAll(e.t, "mysql", e.srcDSN, "ddl"), scanAll(e.t, "mysql", e.dstDSN, "ddl"), cols)
}

func (e *ddlEnv) waitValue(q, want string) {
	e.t.Helper()
	waitFor(e.t, q+" = "+want, 30*time.Second, func() bool {
		var got sql.NullString
		e.dst.QueryRow(q).Scan(&got)
		return got.String == want
	})
}

// TestMySQLSchemaChangeMidStream changes the source table under a running
// syncbridge. What the binlog stream does: after a DDL it describes the
// table again before decoding the next rows, so
//   - an added column flows when the target has it (identity mapping);
//   - an added column the target lacks, or a widened type whose values the
//     target's narrower column refuses, parks the change in the dead-letter
//     queue naming the column (never dropped); once the target is altered
//     too, `dlq replay` applies it.
func TestMySQLSchemaChangeMidStream(t *testing.T) {
	e := newDDLEnv(t, testenv.MariaDB(t))
	cmd, out := e.process("run", "--no-progress")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	e.waitValue(`SELECT count(*) FROM ddl`, "10")

	// ADD COLUMN, target altered first: the new column flows.
	e.exec(e.dst, `ALTER TABLE ddl ADD COLUMN extra VARCHAR(20)`)
	e.exec(e.src, `ALTER TABLE ddl ADD COLUMN extra VARCHAR(20)`)
	e.exec(e.src, `UPDATE ddl SET extra = 'added' WHERE id = 2`)
	e.exec(e.src, `INSERT INTO ddl VALUES (11, 110, 'row 11', 'new row')`)
	e.waitValue(`SELECT extra FROM ddl WHERE id = 11`, "new row")
	e.waitValue(`SELECT extra FROM ddl WHERE id = 2`, "added")

	// Widen INT → BIGINT on the source only: a value past the target's INT
	// is parked, the rows around it flow.
	e.exec(e.src, `ALTER TABLE ddl MODIFY qty BIGINT`)
	e.exec(e.src, `INSERT INTO ddl VALUES (12, 5000000000, 'wide', NULL)`)
	e.exec(e.src, `INSERT INTO ddl VALUES (13, 7, 'narrow enough', NULL)`)
	e.waitValue(`SELECT name FROM ddl WHERE id = 13`, "narrow enough")

	// ADD COLUMN on the source only: the change carrying it is parked.
	e.exec(e.src, `ALTER TABLE ddl ADD COLUMN only_src INT`)
	e.exec(e.src, `UPDATE ddl SET only_src = 1, name = 'with only_src' WHERE id = 3`)
	e.exec(e.src, `INSERT INTO ddl (id, qty, name) VALUES (14, 1, 'after')`)
	time.Sleep(2 * time.Second) // let the stream reach row 14
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	list := e.mustRun("dlq", "list")
	for _, want := range []string{"out of range", `"only_src"`} {
		if !strings.Contains(strings.ToLower(list), strings.ToLower(want)) {
			t.Errorf("dead-letter queue does not name %q:\n%s\nsyncbridge output:\n%s", want, list, out)
		}
	}
	if n := queryRows(t, e.dst, `SELECT count(*) FROM ddl WHERE id = 12`); n[0] != "0" {
		t.Errorf("row 12 reached the target despite the out-of-range qty")
	}

	// The fix: give the target the source's shape, replay.
	e.exec(e.dst, `ALTER TABLE ddl MODIFY qty BIGINT`)
	e.exec(e.dst, `ALTER TABLE ddl ADD COLUMN only_src INT`)
	e.mustRun("dlq", "replay", "--flow", "ddl")
	e.mustRun("run", "--once")
	e.same(map[string]string{"id": "id", "qty": "qty", "name": "name", "extra": "extra", "only_src": "only_src"})
}

// TestMySQLSchemaChangeWhileStopped alters the source table while
// syncbridge is stopped, with changes of the old shape still unread. With
// the default binlog_row_metadata=MINIMAL the binlog rows before the DDL
// cannot be matched to the new columns: the flow stops with exit 1 naming
// the fix (never decoding values under the wrong columns), and the fix
// converges. With binlog_row_metadata=FULL they decode by name and the flow
// goes on by itself, also across a dropped column (whose last values before
// the DROP are not carried).
//
// Known limit of MINIMAL: only a changed column count is detected; a DDL
// that keeps the count (ADD one column, DROP another of the same type)
// while changes are unread cannot be told apart from no change.
func TestMySQLSchemaChangeWhileStopped(t *testing.T) {
	for _, metadata := range []string{"MINIMAL", "FULL"} {
		t.Run(metadata, func(t *testing.T) {
			e := newDDLEnv(t, testenv.StartMariaDB(t, "--binlog-row-metadata="+metadata))
			e.mustRun("run", "--once")
			e.exec(e.src, `UPDATE ddl SET name = 'before the change' WHERE id = 1`)
			e.exec(e.src, `INSERT INTO ddl VALUES (20, 1, 'inserted before the change')`)
			e.exec(e.src, `ALTER TABLE ddl ADD COLUMN extra VARCHAR(20) AFTER qty`)
			e.exec(e.dst, `ALTER TABLE ddl ADD COLUMN extra VARCHAR(20) AFTER qty`)
			e.exec(e.src, `UPDATE ddl SET extra = 'after', qty = 99 WHERE id = 2`)
			cols := map[string]string{"id": "id", "qty": "qty", "name": "name", "extra": "extra"}
			code, out := e.run("run", "--once")
			if metadata == "MINIMAL" {
				if code != ExitFailed || !strings.Contains(out, "binlog_row_metadata=FULL") ||
					!strings.Contains(out, "syncbridge reset --flow ddl") {
					t.Fatalf("exit %d, want 1 naming the cause and the fix:\n%s", code, out)
				}
				e.mustRun("reset", "--flow", "ddl", "--yes")
				e.mustRun("run", "--once")
				e.same(cols)
				return
			}
			if code != 0 {
				t.Fatalf("exit %d with column names in the binlog:\n%s", code, out)
			}
			e.same(cols)
			// A dropped column: rows before and after the DROP flow on. The
			// dropped column's values in events before the DROP have no type
			// to decode them by any more: they are left out, so the target
			// keeps the value it had (documented in the mysql package).
			e.exec(e.src, `UPDATE ddl SET name = 'before the drop', qty = 77 WHERE id = 3`)
			e.exec(e.src, `ALTER TABLE ddl DROP COLUMN name`)
			e.exec(e.src, `UPDATE ddl SET qty = 1234 WHERE id = 4`)
			e.mustRun("run", "--once")
			e.same(map[string]string{"id": "id", "qty": "qty", "extra": "extra"})
			var name string
			e.dst.QueryRow(`SELECT name FROM ddl WHERE id = 3`).Scan(&name)
			if name != "row 3" {
				t.Errorf("target name of row 3 = %q; want the value before the update of the dropped column", name)
			}
		})
	}
}
