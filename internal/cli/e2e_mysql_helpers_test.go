package cli

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// myItems is the items table of the PostgreSQL flow tests in MySQL types:
// DECIMAL, DATETIME(6) (UTC), TINYINT(1) as the boolean.
const myItems = `CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL, amount DECIMAL(14,4),
  at DATETIME(6), flag TINYINT(1), note TEXT)`

// openMy opens a database/sql handle on a go-sql-driver DSN, in UTC and
// with the strict sql_mode syncbridge itself uses.
func openMy(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := sql.Open("mysql", dsn+sep+"time_zone=%27%2B00%3A00%27&sql_mode=%27STRICT_ALL_TABLES%27")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newMyFlow is newPGFlow with MySQL among the drivers: a flow "items" from
// a srcDriver store to a dstDriver store (mysql, postgres or sqlite), each
// with the items table in its own database.
func newMyFlow(t *testing.T, srcDriver, dstDriver string, batch int) *pgFlowEnv {
	t.Helper()
	e := &pgFlowEnv{env: &env{t: t, dir: t.TempDir()}}
	e.cfgPath = filepath.Join(e.dir, "syncbridge.yaml")
	e.srcDriver, e.dstDriver = srcDriver, dstDriver
	e.srcDSN, e.src = itemsStore(e.env, srcDriver, "src")
	e.dstDSN, e.dst = itemsStore(e.env, dstDriver, "dst")
	e.writeConfig(flowConfig(e, batch))
	return e
}

// itemsStore creates the items table in a new database of driver.
func itemsStore(e *env, driver, name string) (string, *sql.DB) {
	e.t.Helper()
	switch driver {
	case "mysql":
		dsn := testenv.MariaDB(e.t).NewDatabase(e.t)
		db := openMy(e.t, dsn)
		e.exec(db, myItems)
		return dsn, db
	case "postgres":
		dsn := testenv.Postgres(e.t).NewDatabase(e.t)
		db := openPG(e.t, dsn)
		e.exec(db, pgItems)
		return dsn, db
	}
	path := filepath.Join(e.dir, name+".db")
	db := openDB(e.t, path)
	e.exec(db, sqliteItems)
	return path, db
}

var captureOf = map[string]string{"postgres": "logical", "sqlite": "trigger", "mysql": "binlog"}

func flowConfig(e *pgFlowEnv, batch int) string {
	return fmt.Sprintf(`state: ./state.db
http: {listen: "off"}
stores:
  src: {driver: %s, dsn: %q, capture: %s}
  dst: {driver: %s, dsn: %q}
flows:
  - name: items
    from: {store: src, table: items}
    to:   {store: dst, table: items}
    batch: {size: %d}
`, e.srcDriver, e.srcDSN, captureOf[e.srcDriver], e.dstDriver, e.dstDSN, batch)
}

// insertAny is pgFlowEnv.insertItems for any source driver: one
// transaction of n rows, with NULL and ” notes and microsecond timestamps.
func insertAny(e *pgFlowEnv, from, n int) {
	e.t.Helper()
	if e.srcDriver != "mysql" {
		e.insertItems(from, n)
		return
	}
	tx, err := e.src.Begin()
	if err != nil {
		e.t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		var note any = fmt.Sprintf("note %d", i)
		switch i % 3 {
		case 1:
			note = nil
		case 2:
			note = ""
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, (i%1000)*1000+1000, time.UTC).Format("2006-01-02 15:04:05.000000")
		if _, err := tx.Exec(`INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)`, i, fmt.Sprintf("name ✓ %d", i),
			fmt.Sprintf("%d.%04d", i, i%10000), at, i%2 == 0, note); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
}

// sameAcross is sameContent with the cross-engine normalisation of
// sameValueAcross.
func sameAcross(t *testing.T, want, got []change.Row, cols map[string]string) {
	t.Helper()
	var diffs []string
	if len(want) != len(got) {
		diffs = append(diffs, "row counts differ")
	}
	for i := 0; i < len(want) && i < len(got) && len(diffs) < 5; i++ {
		for wc, gc := range cols {
			w, g := want[i][wc], got[i][gc]
			if !sameValueAcross(w, g) {
				diffs = append(diffs, fmt.Sprintf("%s=%s (%s) vs %s=%s (%s) in row %s", wc, w, w.Kind, gc, g, g.Kind, want[i]["id"]))
			}
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("content differs (%d vs %d rows): %s", len(want), len(got), strings.Join(diffs, "; "))
	}
}

// sameValueAcross is sameValue, and also equates what engines store
// differently for the same value: JSON by meaning (key order and spacing
// differ between MySQL, jsonb and text), a TIME with or without trailing
// fractional zeros, a decimal held in a text column (SQLite keeps big
// decimals exact only as text), a boolean and its 0/1 integer, and JSON or
// text held as bytes.
func sameValueAcross(a, b change.Value) bool {
	if sameValue(a, b) {
		return true
	}
	if a.Kind == change.KindNull || b.Kind == change.KindNull {
		return false
	}
	switch {
	case a.Kind == change.KindJSON || b.Kind == change.KindJSON:
		return sameJSON(a.String(), b.String())
	case a.Kind == change.KindTime && b.Kind == change.KindTime:
		return trimFraction(a.String()) == trimFraction(b.String())
	case a.Kind == change.KindBool || b.Kind == change.KindBool:
		return boolText(a) == boolText(b)
	case a.Kind == change.KindBytes || b.Kind == change.KindBytes:
		return bytes.Equal(bytesOf(a), bytesOf(b))
	}
	da, err1 := change.Decimal(a.String())
	db, err2 := change.Decimal(b.String())
	return err1 == nil && err2 == nil && change.Equal(da, db)
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func trimFraction(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func boolText(v change.Value) string {
	switch v.String() {
	case "1", "true", "t":
		return "true"
	case "0", "false", "f":
		return "false"
	}
	return v.String()
}

func bytesOf(v change.Value) []byte {
	if v.Kind == change.KindBytes {
		return v.AsBytes()
	}
	return []byte(v.String())
}
