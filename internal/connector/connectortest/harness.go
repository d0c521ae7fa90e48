package connectortest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// SinkHarness gives the sink suite a store to write into.
type SinkHarness interface {
	// Store returns the opened store under test. The harness owns it (and
	// closes it in a t.Cleanup); the suite only opens sinks and sources on it.
	// The store must implement connector.Scanner: the suite reads tables back
	// through it.
	Store() connector.Store
	// CreateTable creates a fresh, empty table from name (unique within the
	// run) and returns the table name specs and SQL should use (it may add a
	// schema). Its columns, in the driver's own DDL:
	//
	//	id      64-bit integer, primary key
	//	name    text
	//	amount  exact decimal, 12 digits with 2 after the point
	//	at      timestamp keeping microseconds (timestamptz where there is one)
	//	flag    boolean
	//	data    binary (blob, bytea)
	//
	// Every column but id is nullable. The returned name must need no quoting.
	CreateTable(t testing.TB, name string) string
}

// SourceHarness gives the source suite a store whose changes it captures.
type SourceHarness interface {
	SinkHarness
	// Capture is the capture mode under test. It must see deletes: the suite
	// checks them, so it runs for trigger, logical and binlog capture, not for
	// poll.
	Capture() connector.Capture
	// Exec runs stmts in one transaction on the store, as an application
	// writing to it would, and commits. Statements use "?" placeholders (a
	// driver with numbered ones rewrites them with Rebind); each Value binds
	// the way the driver's sink would bind it for a column of its kind.
	Exec(t testing.TB, stmts ...Stmt)
}

// Stmt is one SQL statement with its arguments.
type Stmt struct {
	SQL  string
	Args []change.Value
}

// Rebind rewrites "?" placeholders as "$1", "$2", ... for drivers that number
// them. The suite never puts "?" inside literals.
func Rebind(query string) string {
	var sb strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&sb, "$%d", n)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// columns is the suite table's column list, in order.
var columns = []string{"id", "name", "amount", "at", "flag", "data"}

// row is a handy way to write one suite row.
type row struct {
	id     int64
	name   *string
	amount string // "" = NULL
	at     time.Time
	flag   *bool
	data   []byte
}

func strp(s string) *string { return &s }
func boolp(b bool) *bool    { return &b }

// values returns the row as typed Values (NULL where unset).
func (r row) values() change.Row {
	out := change.Row{"id": change.Int(r.id), "name": change.Null, "amount": change.Null,
		"at": change.Null, "flag": change.Null, "data": change.Null}
	if r.name != nil {
		out["name"] = change.Text(*r.name)
	}
	if r.amount != "" {
		out["amount"] = change.MustDecimal(r.amount)
	}
	if !r.at.IsZero() {
		out["at"] = change.Timestamp(r.at)
	}
	if r.flag != nil {
		out["flag"] = change.Bool(*r.flag)
	}
	if r.data != nil {
		out["data"] = change.Bytes(r.data)
	}
	return out
}

// insertStmt is the INSERT of r into table.
func (r row) insertStmt(table string) Stmt {
	v := r.values()
	args := make([]change.Value, len(columns))
	for i, c := range columns {
		args[i] = v[c]
	}
	return Stmt{
		SQL:  "INSERT INTO " + table + " (id, name, amount, at, flag, data) VALUES (?, ?, ?, ?, ?, ?)",
		Args: args,
	}
}

// checkRow reports every column of got that differs from want.
func checkRow(t testing.TB, what string, got, want change.Row) {
	t.Helper()
	for _, c := range columns {
		w, ok := want[c]
		if !ok {
			continue
		}
		g, ok := got[c]
		if !ok {
			t.Errorf("%s: column %s missing (want %s %s)", what, c, w.Kind, w)
			continue
		}
		if !change.Equal(g, w) {
			t.Errorf("%s: column %s = %s %q, want %s %q", what, c, g.Kind, g.String(), w.Kind, w.String())
		}
	}
}

// checkNoLeak records the goroutine count and, at cleanup, fails the test
// when more goroutines are still running after a short settling time.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d running before the test, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// testContext is a context bounded so a hung driver fails the test instead
// of the whole run.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// scanTable reads a suite table in key order through the store's Scanner.
func scanTable(ctx context.Context, t *testing.T, st connector.Store, table string) []change.Row {
	t.Helper()
	sc, ok := st.(connector.Scanner)
	if !ok {
		t.Fatalf("store %T does not implement connector.Scanner, which the suite reads tables with", st)
	}
	rows, err := sc.Scan(ctx, connector.ScanRequest{Table: table, Key: []string{"id"}, Limit: 10000})
	if err != nil {
		t.Fatalf("scan %s: %v", table, err)
	}
	return rows
}

// ids lists the id column of rows.
func ids(rows []change.Row) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r["id"].AsInt()
	}
	return out
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// asApplyError unwraps err into an *ApplyError.
func asApplyError(err error) (*connector.ApplyError, bool) {
	var ae *connector.ApplyError
	ok := errors.As(err, &ae)
	return ae, ok
}
