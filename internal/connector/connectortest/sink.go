package connectortest

import (
	"context"
	"fmt"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// RunSink runs the sink conformance suite against h. Each subtest gets its
// own table (prefix "ck_") and flow name.
func RunSink(t *testing.T, h SinkHarness) {
	t.Run("UpsertDeleteIdempotentUnderReplay", func(t *testing.T) { testReplay(t, h) })
	t.Run("TypedValuesRoundTrip", func(t *testing.T) { testSinkValues(t, h) })
	t.Run("CheckpointRoundTrip", func(t *testing.T) { testCheckpoint(t, h) })
	t.Run("RollbackLeavesNothing", func(t *testing.T) { testRollback(t, h) })
	t.Run("ApplyErrorKeepsTxUsable", func(t *testing.T) { testApplyError(t, h) })
}

func openSink(ctx context.Context, t *testing.T, h SinkHarness, flow, table string) connector.Sink {
	t.Helper()
	sk, err := h.Store().Sink(ctx, connector.SinkSpec{Flow: flow, Table: table, Key: []string{"id"}, Columns: columns})
	if err != nil {
		t.Fatalf("open sink: %v", err)
	}
	t.Cleanup(func() {
		if err := sk.Close(); err != nil {
			t.Errorf("close sink: %v", err)
		}
	})
	return sk
}

// upsert and del build changes as a mapped flow hands them to a sink.
func upsert(table string, op change.Op, r change.Row) change.Change {
	return change.Change{ID: fmt.Sprintf("t:%s:%s", op, r["id"]), Op: op, Table: table, Key: change.Key{r["id"]}, After: r}
}

func del(table string, id int64) change.Change {
	return change.Change{ID: fmt.Sprintf("t:delete:%d", id), Op: change.OpDelete, Table: table, Key: change.Key{change.Int(id)}}
}

// applyCommit applies changes in one transaction and commits cp.
func applyCommit(ctx context.Context, t *testing.T, sk connector.Sink, cp connector.Checkpoint, changes ...change.Change) {
	t.Helper()
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback()
	if err := tx.Apply(ctx, changes); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := tx.Commit(ctx, cp); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func testReplay(t *testing.T, h SinkHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "ck_replay")
	sk := openSink(ctx, t, h, "ck_replay", table)
	batch := []change.Change{
		upsert(table, change.OpInsert, row{id: 1, name: strp("a"), amount: "1.10"}.values()),
		upsert(table, change.OpInsert, row{id: 2, name: strp("b")}.values()),
		upsert(table, change.OpUpdate, row{id: 1, name: strp("a2"), amount: "1.20", flag: boolp(true)}.values()),
		upsert(table, change.OpSnapshot, row{id: 3, name: strp("c"), at: suiteTime}.values()),
		del(table, 2),
		del(table, 99), // never existed: fine
		// Only some columns: the others keep their values.
		upsert(table, change.OpUpdate, change.Row{"id": change.Int(3), "amount": change.MustDecimal("3.30")}),
		upsert(table, change.OpInsert, row{id: 4, data: []byte("four")}.values()),
	}
	cp := connector.Checkpoint{Flow: "ck_replay", Phase: connector.PhaseStream, Position: change.Position("p1")}
	applyCommit(ctx, t, sk, cp, batch...)
	first := scanTable(ctx, t, h.Store(), table)
	if got := ids(first); !equalInts(got, []int64{1, 3, 4}) {
		t.Fatalf("ids after apply = %v, want [1 3 4]", got)
	}
	checkRow(t, "row 1", first[0], row{id: 1, name: strp("a2"), amount: "1.20", flag: boolp(true)}.values())
	checkRow(t, "row 3", first[1], row{id: 3, name: strp("c"), amount: "3.30", at: suiteTime}.values())
	checkRow(t, "row 4", first[2], row{id: 4, data: []byte("four")}.values())

	// At-least-once delivery: the same batch again, and once more split in
	// two transactions, leaves the same content.
	applyCommit(ctx, t, sk, cp, batch...)
	applyCommit(ctx, t, sk, cp, batch[:3]...)
	applyCommit(ctx, t, sk, cp, batch[3:]...)
	again := scanTable(ctx, t, h.Store(), table)
	if len(again) != len(first) {
		t.Fatalf("replay changed the row count: %v then %v", ids(first), ids(again))
	}
	for i := range first {
		checkRow(t, fmt.Sprintf("replayed row %d", i), again[i], first[i])
	}
}

func testSinkValues(t *testing.T, h SinkHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "ck_values")
	sk := openSink(ctx, t, h, "ck_values", table)
	rows := []row{
		{id: 1, name: strp("ada"), amount: "12.30", at: suiteTime, flag: boolp(true), data: []byte{0, 1, 2, 0xff}},
		{id: 2, name: strp(""), amount: "-0.01", flag: boolp(false), data: []byte{}},
		{id: 3},
		{id: 4, name: strp("naïve ✓ 'quoted' \"double\""), amount: "9999999999.99"},
	}
	var cs []change.Change
	for _, r := range rows {
		cs = append(cs, upsert(table, change.OpInsert, r.values()))
	}
	applyCommit(ctx, t, sk, connector.Checkpoint{Phase: connector.PhaseStream}, cs...)
	got := scanTable(ctx, t, h.Store(), table)
	if len(got) != len(rows) {
		t.Fatalf("read %d rows, want %d", len(got), len(rows))
	}
	for i, r := range rows {
		checkRow(t, fmt.Sprintf("row %d", r.id), got[i], r.values())
	}
}

func testCheckpoint(t *testing.T, h SinkHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "ck_checkpoint")
	sk := openSink(ctx, t, h, "ck_checkpoint", table)
	if cp, err := sk.Checkpoint(ctx); err != nil || cp != nil {
		t.Fatalf("checkpoint of a new flow = %+v, %v; want nil, nil", cp, err)
	}
	want := connector.Checkpoint{
		Flow: "ck_checkpoint", Phase: connector.PhaseBackfill, Position: change.Position("pos:v1:42"),
		BackfillKey: change.Key{change.Int(3)}, BackfillRows: 3,
	}
	applyCommit(ctx, t, sk, want, upsert(table, change.OpSnapshot, row{id: 3}.values()))
	checkCheckpoint(ctx, t, sk, want)

	want = connector.Checkpoint{Flow: "ck_checkpoint", Phase: connector.PhaseStream, Position: change.Position("pos:v1:43")}
	applyCommit(ctx, t, sk, want)
	checkCheckpoint(ctx, t, sk, want)

	// A second sink on the same flow (a restart) reads the same checkpoint.
	checkCheckpoint(ctx, t, openSink(ctx, t, h, "ck_checkpoint", table), want)
	// Another flow's checkpoint is its own.
	if cp, err := openSink(ctx, t, h, "ck_checkpoint_other", table).Checkpoint(ctx); err != nil || cp != nil {
		t.Errorf("checkpoint of another flow = %+v, %v; want nil, nil", cp, err)
	}
}

func checkCheckpoint(ctx context.Context, t *testing.T, sk connector.Sink, want connector.Checkpoint) {
	t.Helper()
	got, err := sk.Checkpoint(ctx)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if got == nil {
		t.Fatalf("checkpoint = nil, want %+v", want)
	}
	if got.Flow != want.Flow || got.Phase != want.Phase || string(got.Position) != string(want.Position) ||
		got.BackfillKey.Compare(want.BackfillKey) != 0 || got.BackfillRows != want.BackfillRows {
		t.Errorf("checkpoint = %+v, want %+v", *got, want)
	}
}

func testRollback(t *testing.T, h SinkHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "ck_rollback")
	sk := openSink(ctx, t, h, "ck_rollback", table)

	// The very first transaction rolled back: no row, no checkpoint.
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if err := tx.Apply(ctx, []change.Change{upsert(table, change.OpInsert, row{id: 1}.values())}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if rows := scanTable(ctx, t, h.Store(), table); len(rows) != 0 {
		t.Errorf("rolled back rows are visible: %v", ids(rows))
	}
	if cp, err := sk.Checkpoint(ctx); err != nil || cp != nil {
		t.Errorf("checkpoint after rollback = %+v, %v; want nil, nil", cp, err)
	}

	cp1 := connector.Checkpoint{Flow: "ck_rollback", Phase: connector.PhaseStream, Position: change.Position("one")}
	applyCommit(ctx, t, sk, cp1, upsert(table, change.OpInsert, row{id: 2}.values()))

	tx, err = sk.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if err := tx.Apply(ctx, []change.Change{upsert(table, change.OpInsert, row{id: 3}.values()), del(table, 2)}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Errorf("second rollback: %v", err)
	}
	if got := ids(scanTable(ctx, t, h.Store(), table)); !equalInts(got, []int64{2}) {
		t.Errorf("ids after rollback = %v, want [2]", got)
	}
	checkCheckpoint(ctx, t, sk, cp1)

	// Rollback after Commit is safe and changes nothing.
	tx, err = sk.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	cp2 := connector.Checkpoint{Flow: "ck_rollback", Phase: connector.PhaseStream, Position: change.Position("two")}
	if err := tx.Commit(ctx, cp2); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Errorf("rollback after commit: %v", err)
	}
	checkCheckpoint(ctx, t, sk, cp2)
}

func testApplyError(t *testing.T, h SinkHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "ck_poison")
	sk := openSink(ctx, t, h, "ck_poison", table)
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback()
	bad := row{id: 2}.values()
	bad["amount"] = change.Text("abc") // not a number: no decimal column takes it
	batch := []change.Change{
		upsert(table, change.OpInsert, row{id: 1, name: strp("ok")}.values()),
		upsert(table, change.OpInsert, bad),
		upsert(table, change.OpInsert, row{id: 3, name: strp("ok")}.values()),
	}
	err = tx.Apply(ctx, batch)
	ae, ok := asApplyError(err)
	if !ok {
		t.Fatalf("apply of a bad value: %v, want an *ApplyError", err)
	}
	if ae.Index != 1 || !ae.Permanent {
		t.Errorf("ApplyError{Index: %d, Permanent: %v}, want index 1, permanent", ae.Index, ae.Permanent)
	}
	// The transaction is still usable: apply the rest after the bad one.
	if err := tx.Apply(ctx, batch[2:]); err != nil {
		t.Fatalf("apply after an ApplyError: %v", err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream, Position: change.Position("p")}); err != nil {
		t.Fatalf("commit after an ApplyError: %v", err)
	}
	if got := ids(scanTable(ctx, t, h.Store(), table)); !equalInts(got, []int64{1, 3}) {
		t.Errorf("ids = %v, want [1 3]", got)
	}
}
