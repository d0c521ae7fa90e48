package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/connectortest"
)

// TestTriggerConformance runs the source suite on `capture: trigger`.
func TestTriggerConformance(t *testing.T) {
	e := newEnv(t)
	e.capture = connector.CaptureTrigger
	connectortest.RunSource(t, e)
}

// triggerSource opens and prepares a trigger source on table for flow and
// returns it with the position taken after Prepare.
func triggerSource(ctx context.Context, t *testing.T, e *env, flow, table string) (connector.Source, change.Position) {
	t.Helper()
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: flow, Table: table, Capture: connector.CaptureTrigger})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.(connector.Preparer).Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	pos, err := src.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return src, pos
}

// TestTriggerWaitsForOpenTransactions checks that the stream never passes
// a log id an open transaction holds (ids are drawn at write time, not at
// commit), and that a batch boundary never splits a transaction whose log
// rows interleave with another's.
func TestTriggerWaitsForOpenTransactions(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
	src, from := triggerSource(ctx, t, e, "trg_open", "t")
	a, err := pgxConnect(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txA.Exec(ctx, "INSERT INTO t VALUES (1, 'a')"); err != nil { // log id 1, open
		t.Fatal(err)
	}
	e.exec("INSERT INTO t VALUES (2, 'b')") // log id 2, committed
	st := openStream(ctx, t, src, from)
	for i := 0; i < 3; i++ {
		b, err := st.Next(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Changes) > 0 {
			t.Fatalf("handed out %v while a transaction holding an earlier log id is open", b.Changes[0].Key)
		}
		if b.CaughtUp {
			t.Fatal("caught up while a transaction holding an earlier log id is open")
		}
	}
	if _, err := txA.Exec(ctx, "INSERT INTO t VALUES (3, 'a')"); err != nil { // log id 3
		t.Fatal(err)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for len(keys) < 3 {
		b, err := st.Next(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b.Changes {
			keys = append(keys, c.Key.String())
		}
		if b.Position != nil && len(b.Changes) > 0 && len(keys) < 3 {
			t.Fatalf("a boundary after %v splits the transaction of 1 and 3", keys)
		}
	}
	if fmt.Sprint(keys) != "[1 2 3]" {
		t.Fatalf("keys %v, want [1 2 3] (log order)", keys)
	}
}

// TestTriggerSkipsSuppressedWrites checks echo suppression: writes of a sink
// with SuppressCapture (syncbridge.applying = on) are not logged; the log is
// pruned once acknowledged.
func TestTriggerSkipsSuppressedWrites(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
	src, from := triggerSource(ctx, t, e, "trg_echo", "t")
	sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "back", Table: "t", SuppressCapture: true})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(ctx, []change.Change{{Op: change.OpInsert, Key: change.Key{change.Int(1)},
		After: change.Row{"id": change.Int(1), "v": change.Text("sync")}}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO t VALUES (2, 'app')")
	st := openStream(ctx, t, src, from)
	cs, pos := readToBoundary(ctx, t, st, 1)
	if len(cs) != 1 || cs[0].Key.String() != "2" {
		t.Fatalf("changes %v, want only the application's insert of 2", cs)
	}
	if err := st.Ack(ctx, pos); err != nil {
		t.Fatal(err)
	}
	db, err := pgxConnect(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var left int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM _syncbridge_log").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d log rows left after the ack; want them pruned", left)
	}
}
