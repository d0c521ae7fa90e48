package mysql_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/mysql"
)

var applySeq int

// applyTx writes upserts of the given ids through a sink in one transaction.
func applyTx(ctx context.Context, t *testing.T, sk connector.Sink, ids ...int64) {
	t.Helper()
	applySeq++ // every transaction writes new values: an unchanged row logs no event
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cs []change.Change
	for _, id := range ids {
		cs = append(cs, change.Change{Op: change.OpInsert, Table: "echo", Key: change.Key{change.Int(id)},
			After: change.Row{"id": change.Int(id), "name": change.Text(fmt.Sprintf("sink tx %d", applySeq))}})
	}
	if err := tx.Apply(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream, Position: change.Position("p")}); err != nil {
		t.Fatal(err)
	}
}

// TestEchoMarking checks that binlog capture reports the origin of a sink
// with SuppressCapture on every change of its transactions, and no origin
// for the writes of a plain sink or an application.
func TestEchoMarking(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE echo (id BIGINT PRIMARY KEY, name TEXT)")
	src := openBinlogSource(ctx, t, e, "reader", "echo")
	from := mustPosition(ctx, t, src)

	marking, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "back", Table: "echo", Key: []string{"id"}, SuppressCapture: true})
	if err != nil {
		t.Fatal(err)
	}
	defer marking.Close()
	if got, want := marking.(connector.OriginMarker).Origin(), mysql.OriginName("back"); got != want || want != "syncbridge_back" {
		t.Fatalf("Origin() = %q, OriginName = %q; want syncbridge_back", got, want)
	}
	plain, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "plain", Table: "echo", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if o := plain.(connector.OriginMarker).Origin(); o != "" {
		t.Fatalf("a sink without SuppressCapture reports origin %q", o)
	}

	applyTx(ctx, t, marking, 1, 2, 3) // first transaction: the marker row is inserted
	applyTx(ctx, t, plain, 4)
	e.exec("INSERT INTO echo VALUES (5, 'app')")
	applyTx(ctx, t, marking, 6, 1) // second: the marker row is updated
	e.exec("UPDATE echo SET name = 'app again' WHERE id = 6")
	// A marker after the rows of its transaction still marks them.
	e.exec("INSERT INTO echo VALUES (7, 'late')", "INSERT INTO _syncbridge_marker VALUES ('late', 1)")

	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, _ := readN(ctx, t, st, 9, 100)
	// The application's update after a marked transaction must not inherit
	// its origin.
	want := []string{"syncbridge_back", "syncbridge_back", "syncbridge_back", "", "", "syncbridge_back", "syncbridge_back", "", "syncbridge_late"}
	for i, c := range got {
		if c.Origin != want[i] {
			t.Errorf("change %d (%s key %s): origin %q, want %q", i, c.Op, c.Key, c.Origin, want[i])
		}
	}
}

// TestResetCheckpoint checks that ResetCheckpoint forgets only the flow's
// checkpoint, and is a no-op before the checkpoint table exists.
func TestResetCheckpoint(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE echo (id BIGINT PRIMARY KEY, name TEXT)")
	open := func(flow string) connector.Sink {
		sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: flow, Table: "echo", Key: []string{"id"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sk.Close() })
		return sk
	}
	a, b := open("a"), open("b")
	if err := a.(connector.CheckpointResetter).ResetCheckpoint(ctx); err != nil {
		t.Fatalf("reset before any checkpoint: %v", err)
	}
	applyTx(ctx, t, a, 1)
	applyTx(ctx, t, b, 2)
	if err := a.(connector.CheckpointResetter).ResetCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if cp, err := a.Checkpoint(ctx); err != nil || cp != nil {
		t.Fatalf("checkpoint of a after reset: %v, %v; want none", cp, err)
	}
	if cp, err := b.Checkpoint(ctx); err != nil || cp == nil {
		t.Fatalf("checkpoint of b after resetting a: %v, %v; want it kept", cp, err)
	}
}
