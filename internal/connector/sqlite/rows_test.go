package sqlite

import (
	"context"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// TestCurrentAndReadRows: both lookups return every column of the rows that
// exist, keyed by the key's text, and Current sees the transaction's own
// writes.
func TestCurrentAndReadRows(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (a INTEGER, b TEXT, v TEXT, PRIMARY KEY (a, b))`)
	h.exec(t, `INSERT INTO t VALUES (1, 'x', 'one'), (2, 'y', 'two')`)
	keys := []change.Key{{change.Int(1), change.Text("x")}, {change.Int(2), change.Text("y")}, {change.Int(3), change.Text("z")}}

	got, err := h.store.ReadRows(ctx, connector.RowsRequest{Table: "t", Key: []string{"a", "b"}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["1|x"]["v"].String() != "one" || got["2|y"]["v"].String() != "two" {
		t.Fatalf("ReadRows = %v, want rows 1|x and 2|y", got)
	}

	sk, err := h.store.newSink(ctx, connector.SinkSpec{Flow: "s", Table: "t", Key: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.Apply(ctx, []change.Change{{ID: "c", Op: change.OpInsert, Table: "t", Key: keys[2],
		After: change.Row{"a": change.Int(3), "b": change.Text("z"), "v": change.Text("three")}}}); err != nil {
		t.Fatal(err)
	}
	cur, err := tx.(connector.TxReader).Current(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) != 3 || cur["3|z"]["v"].String() != "three" || cur["1|x"]["b"].String() != "x" {
		t.Fatalf("Current = %v, want three rows including the transaction's own insert", cur)
	}
}
