package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

func (h *harness) sink(t testing.TB, table string) *Sink {
	t.Helper()
	sk, err := h.store.newSink(context.Background(), connector.SinkSpec{Flow: "s", Table: table})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sk.Close() })
	return sk
}

func ins(id int64, cols ...any) change.Change {
	r := change.Row{"id": change.Int(id)}
	for i := 0; i+1 < len(cols); i += 2 {
		r[cols[i].(string)] = cols[i+1].(change.Value)
	}
	return change.Change{ID: fmt.Sprint("c", id), Op: change.OpInsert, Table: "t", Key: change.Key{change.Int(id)}, After: r}
}

// TestApplyErrorInsideGroup: a constraint violation in the middle of a
// multi-row upsert is pinned to its change; the changes before it are
// applied, it is not, and the transaction goes on.
func TestApplyErrorInsideGroup(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, amount DECIMAL(10,2) CHECK (amount >= 0))`)
	sk := h.sink(t, "t")
	var batch []change.Change
	for i := int64(0); i < 10; i++ {
		amt := change.MustDecimal(fmt.Sprint(i))
		if i == 5 {
			amt = change.MustDecimal("-1")
		}
		batch = append(batch, ins(i, "amount", amt))
	}
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = tx.Apply(ctx, batch)
	var ae *connector.ApplyError
	if !errors.As(err, &ae) || ae.Index != 5 || !ae.Permanent {
		t.Fatalf("apply = %v, want a permanent ApplyError at index 5", err)
	}
	if !strings.Contains(ae.Error(), "CHECK constraint failed") {
		t.Errorf("error %q does not say why", ae)
	}
	if err := tx.Apply(ctx, batch[6:]); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) FROM t`); n != 9 {
		t.Errorf("%d rows, want 9", n)
	}
	if n := h.count(t, `SELECT count(*) FROM t WHERE id = 5`); n != 0 {
		t.Error("the failed change was applied")
	}
}

// TestPoisonValue: a value the column cannot take is a permanent
// ApplyError naming column and value, before SQLite sees it.
func TestPoisonValue(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, qty INTEGER, extra TEXT)`)
	sk := h.sink(t, "t")
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i, bad := range []change.Change{
		ins(1, "qty", change.Text("abc")),
		ins(2, "nope", change.Text("x")),
		{Op: change.OpDelete, Key: change.Key{change.Text("not an id")}},
	} {
		err := tx.Apply(ctx, []change.Change{ins(10 + int64(i)), bad})
		var ae *connector.ApplyError
		if !errors.As(err, &ae) || ae.Index != 1 || !ae.Permanent {
			t.Errorf("case %d: %v, want a permanent ApplyError at index 1", i, err)
		}
	}
	if err := tx.Apply(ctx, []change.Change{ins(1, "qty", change.Text("abc"))}); err == nil ||
		!strings.Contains(err.Error(), `column "qty"`) || !strings.Contains(err.Error(), `"abc"`) {
		t.Errorf("error %v does not name the column and value", err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) FROM t`); n != 3 {
		t.Errorf("%d rows, want the 3 good ones", n)
	}
}

// TestGroupWithRepeatedKey: one multi-row upsert may touch a key twice; the
// later row wins, as if applied one by one.
func TestGroupWithRepeatedKey(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, g TEXT GENERATED ALWAYS AS (upper(name)) VIRTUAL)`)
	sk := h.sink(t, "t")
	tx, _ := sk.Begin(ctx)
	err := tx.Apply(ctx, []change.Change{
		ins(1, "name", change.Text("a")),
		ins(2, "name", change.Text("b")),
		ins(1, "name", change.Text("c"), "g", change.Text("ignored: generated")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	var name, g string
	if err := h.app.QueryRow(`SELECT name, g FROM t WHERE id = 1`).Scan(&name, &g); err != nil {
		t.Fatal(err)
	}
	if name != "c" || g != "C" {
		t.Errorf("row 1 = %q, %q; want c, C", name, g)
	}
}

func TestSinkRefusesBadKeys(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT, code TEXT UNIQUE)`)
	h.exec(t, `CREATE TABLE nokey (x TEXT)`)
	h.exec(t, `CREATE TABLE g (id INTEGER PRIMARY KEY, name TEXT, up TEXT AS (upper(name)))`)
	for _, tc := range []struct {
		spec connector.SinkSpec
		want string
	}{
		{connector.SinkSpec{Table: "t", Key: []string{"email"}}, "must be the primary key or have a unique index"},
		{connector.SinkSpec{Table: "t", Key: []string{"nope"}}, `key column "nope" does not exist`},
		{connector.SinkSpec{Table: "nokey"}, "has no primary key"},
		{connector.SinkSpec{Table: "missing"}, "table not found"},
		{connector.SinkSpec{Table: "t", Columns: []string{"id", "nope"}}, `column "nope" does not exist`},
		{connector.SinkSpec{Table: "g", Columns: []string{"id", "up"}}, `column "up" is generated`},
	} {
		_, err := h.store.Sink(ctx, tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sink %s %v: %v, want %q", tc.spec.Table, tc.spec.Key, err, tc.want)
		}
	}
	// A unique column other than the primary key is a valid upsert key.
	if _, err := h.store.Sink(ctx, connector.SinkSpec{Table: "t", Key: []string{"code"}}); err != nil {
		t.Errorf("sink keyed on a unique column: %v", err)
	}
}

// TestSinkBusyIsTransient: when another writer holds the lock past the busy
// timeout, Begin fails with a plain error (retry), and works once it is free.
func TestSinkBusyIsTransient(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY)`)
	st, err := Open(ctx, connector.StoreConfig{Name: "busy", DSN: "file:" + h.path + "?_pragma=busy_timeout(50)"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sk, err := st.Sink(ctx, connector.SinkSpec{Flow: "s", Table: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	lock, err := h.app.Begin() // _txlock=immediate: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	_, err = sk.Begin(ctx)
	var ae *connector.ApplyError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("begin while locked: %v, want a plain busy error", err)
	}
	lock.Rollback()
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatalf("begin after the lock was released: %v", err)
	}
	tx.Rollback()
}

// TestApplyCancelled: a cancelled context fails Apply with a plain error;
// rollback works and the sink is usable again.
func TestApplyCancelled(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	h.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)`)
	sk := h.sink(t, "t")
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sk.Begin(ctx); err == nil {
		t.Error("a second Begin while a transaction is open succeeded")
	}
	cancel()
	err = tx.Apply(ctx, []change.Change{ins(1, "name", change.Text("x"))})
	var ae *connector.ApplyError
	if err == nil || errors.As(err, &ae) {
		t.Errorf("apply with a cancelled context: %v, want a plain error", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Errorf("rollback: %v", err)
	}
	tx, err = sk.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(context.Background(), []change.Change{ins(2, "name", change.Text("y"))}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background(), connector.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) FROM t`); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
}

// TestSinkLearnsNewColumn: a column added to the target after the sink
// opened is written, not reported as unknown; a column that really does not
// exist still is.
func TestSinkLearnsNewColumn(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)`)
	sk := h.sink(t, "t")
	tx, _ := sk.Begin(ctx)
	if err := tx.Apply(ctx, []change.Change{ins(1, "name", change.Text("a"))}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	h.exec(t, `ALTER TABLE t ADD COLUMN qty INTEGER`)
	tx, _ = sk.Begin(ctx)
	defer tx.Rollback()
	err := tx.Apply(ctx, []change.Change{
		ins(2, "name", change.Text("b")), ins(3, "name", change.Text("c"), "qty", change.Int(7)), ins(4, "name", change.Text("d")),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = tx.Apply(ctx, []change.Change{ins(5), ins(6, "ghost", change.Int(1))})
	var ae *connector.ApplyError
	if !errors.As(err, &ae) || ae.Index != 1 || !ae.Permanent {
		t.Errorf("unknown column: %v, want a permanent ApplyError at 1", err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) FROM t WHERE qty = 7 AND id = 3`); n != 1 {
		t.Error("the new column was not written")
	}
	if n := h.count(t, `SELECT count(*) FROM t`); n != 5 {
		t.Errorf("%d rows, want 5", n)
	}
}
