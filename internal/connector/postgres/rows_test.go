package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// TestCurrentLocksRows: Current returns the rows of the keys that exist and
// holds them locked until the transaction ends, so a writer that read them
// can compare-and-set; ReadRows reads the same rows without locks.
func TestCurrentLocksRows(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(`CREATE TABLE acct (a int, b text, v text, PRIMARY KEY (a, b))`,
		`INSERT INTO acct VALUES (1, 'x', 'one'), (2, 'y', 'two')`)
	keys := []change.Key{{change.Int(1), change.Text("x")}, {change.Int(2), change.Text("y")}, {change.Int(3), change.Text("z")}}

	rows, err := e.store.(connector.RowReader).ReadRows(ctx, connector.RowsRequest{Table: "acct", Key: []string{"a", "b"}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows["1|x"]["v"].String() != "one" || rows["2|y"]["v"].String() != "two" {
		t.Fatalf("ReadRows = %v, want rows 1|x and 2|y", rows)
	}

	sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "acct", Table: "acct", Key: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	cur, err := tx.(connector.TxReader).Current(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) != 2 || cur["1|x"]["v"].String() != "one" {
		t.Fatalf("Current = %v, want rows 1|x and 2|y", cur)
	}
	// A concurrent writer of a locked row waits for the transaction.
	done := make(chan error, 1)
	go func() {
		c, err := pgxConnect(e.dsn)
		if err != nil {
			done <- err
			return
		}
		defer c.Close(context.Background())
		_, err = c.Exec(context.Background(), `UPDATE acct SET v = 'changed' WHERE a = 1`)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a concurrent update of a locked row went through (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestCurrentAbsentRowCompareAndSet: FOR UPDATE locks no row it does not
// find, so a both-way sink (SuppressCapture) must not overwrite a row another
// writer inserted after Current read the key absent: the upsert fails with a
// serialization failure that fails the transaction (not one change), and the
// writer's row stays.
func TestCurrentAbsentRowCompareAndSet(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(`CREATE TABLE acct (a int PRIMARY KEY, v text)`)
	sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "acct", Table: "acct", Key: []string{"a"}, SuppressCapture: true})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	key := change.Key{change.Int(1)}
	cur, err := tx.(connector.TxReader).Current(ctx, []change.Key{key})
	if err != nil || len(cur) != 0 {
		t.Fatalf("Current = %v, %v; want no row", cur, err)
	}
	c, err := pgxConnect(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), `INSERT INTO acct VALUES (1, 'theirs')`); err != nil {
		t.Fatal(err)
	}
	err = tx.Apply(ctx, []change.Change{{ID: "1", Op: change.OpUpdate, Key: key,
		After: change.Row{"a": change.Int(1), "v": change.Text("ours")}}})
	var ae *connector.ApplyError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "40001") {
		t.Fatalf("Apply over a row inserted since Current read the key absent: %v; want a serialization failure (40001) failing the transaction", err)
	}
	tx.Rollback()
	var v string
	if err := c.QueryRow(context.Background(), `SELECT v FROM acct WHERE a = 1`).Scan(&v); err != nil || v != "theirs" {
		t.Fatalf("row 1 holds %q (%v), want the concurrent writer's row", v, err)
	}
}

// TestReadRowsWaitsForDeliveredTransactions: a read told that the stream
// delivered a transaction (RowsRequest.After) does not read before that
// transaction is visible. The window in production is between the commit
// record's flush (when logical decoding can send it) and the backend
// leaving the process array; here a transaction still open stands for it
// (in progress for new snapshots alike), so the read must wait for its
// commit and then see its row.
func TestReadRowsWaitsForDeliveredTransactions(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(`CREATE TABLE acct (a int PRIMARY KEY, v text)`, `INSERT INTO acct VALUES (1, 'old')`)
	conn, err := pgxConnect(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var xid string
	if err := tx.QueryRow(ctx, `SELECT txid_current()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE acct SET v = 'new' WHERE a = 1`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		rows map[string]change.Row
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rows, err := e.store.(connector.RowReader).ReadRows(ctx, connector.RowsRequest{
			Table: "acct", Key: []string{"a"}, Keys: []change.Key{{change.Int(1)}}, After: []string{xid}})
		done <- result{rows, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("ReadRows returned while transaction %s was in progress: %v, %v", xid, r.rows, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := r.rows["1"]["v"].String(); got != "new" {
		t.Fatalf("ReadRows after the commit read v = %q, want new", got)
	}
}
