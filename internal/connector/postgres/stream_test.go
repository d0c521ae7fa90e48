package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// logicalSource opens and prepares a logical source on table for flow and
// returns it with the position taken after Prepare.
func logicalSource(ctx context.Context, t testing.TB, e *env, flow, table string) (*postgres.LogicalSource, change.Position) {
	t.Helper()
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: flow, Table: table, Capture: connector.CaptureLogical})
	if err != nil {
		t.Fatal(err)
	}
	ls := src.(*postgres.LogicalSource)
	if err := ls.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	pos, err := ls.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ls, pos
}

func openStream(ctx context.Context, t testing.TB, src connector.Source, from change.Position) connector.Stream {
	t.Helper()
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatalf("stream from %s: %v", from, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// readToBoundary reads until at least n changes have arrived and a batch
// ends on a transaction boundary; it returns the changes and that position.
func readToBoundary(ctx context.Context, t testing.TB, st connector.Stream, n int) ([]change.Change, change.Position) {
	t.Helper()
	var out []change.Change
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d changes before the deadline", len(out), n)
		}
		b, err := st.Next(ctx, 1000)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		out = append(out, b.Changes...)
		if len(out) >= n && b.Position != nil {
			return out, b.Position
		}
	}
}

// TestLargeTransactionBoundedMemory streams a 200k-row transaction in
// batches: only the batch ending at COMMIT carries a position, and the heap
// stays bounded (the reader is at most a few chunks ahead).
func TestLargeTransactionBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large transaction")
	}
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE big (id bigint PRIMARY KEY, pad text, amount numeric(12,2))")
	src, from := logicalSource(ctx, t, e, "big", "big")
	const rows = 200_000
	e.exec(fmt.Sprintf(`INSERT INTO big SELECT g, repeat('x', 200), g / 100.0 FROM generate_series(1, %d) g`, rows))

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64

	st := openStream(ctx, t, src, from)
	const max = 1000
	got, batches, positions := 0, 0, 0
	var txID string
	// The position may come in an empty batch after the last changes.
	for got < rows || positions == 0 {
		b, err := st.Next(ctx, max)
		if err != nil {
			t.Fatalf("next after %d changes: %v", got, err)
		}
		if len(b.Changes) > max {
			t.Fatalf("batch of %d changes, max %d", len(b.Changes), max)
		}
		for _, c := range b.Changes {
			if txID == "" {
				txID = c.TxID
			}
			if c.TxID != txID || c.Op != change.OpInsert {
				t.Fatalf("change %s: tx %s op %s, want tx %s insert", c.ID, c.TxID, c.Op, txID)
			}
		}
		got += len(b.Changes)
		if b.Position != nil && got > 0 {
			positions++
			if got != rows {
				t.Fatalf("batch ending after %d of %d changes has Position %s", got, rows, b.Position)
			}
		}
		batches++
		if batches%40 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max64(peak, ms.HeapInuse)
		}
	}
	if positions != 1 {
		t.Errorf("%d batches carried a position, want exactly the last", positions)
	}
	const bound = 48 << 20
	if peak > base+bound {
		t.Errorf("heap in use grew from %d MB to %d MB while streaming; bound is %d MB more",
			base>>20, peak>>20, bound>>20)
	}
	t.Logf("%d changes in %d batches; heap in use %d MB before, peak %d MB", got, batches, base>>20, peak>>20)
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// TestUpdateOfPrimaryKey checks that an UPDATE moving a row to a new key
// carries the old key in Before, so the engine can delete the old row.
func TestUpdateOfPrimaryKey(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE pk (a int, b text, v text, PRIMARY KEY (b, a))")
	src, from := logicalSource(ctx, t, e, "pk", "pk")
	e.exec("INSERT INTO pk VALUES (1, 'x', 'one')")
	e.exec("UPDATE pk SET a = 2 WHERE a = 1", "UPDATE pk SET v = 'two' WHERE a = 2")
	e.exec("DELETE FROM pk")
	cs, _ := readToBoundary(ctx, t, openStream(ctx, t, src, from), 4)
	if len(cs) != 4 {
		t.Fatalf("read %d changes, want 4", len(cs))
	}
	moved := cs[1]
	if moved.Op != change.OpUpdate || moved.Before == nil {
		t.Fatalf("key update: %s with Before %v, want update with the old key", moved.Op, moved.Before)
	}
	// The key is in primary-key order (b, a).
	oldKey, _ := change.KeyOf(moved.Before, []string{"b", "a"})
	if oldKey.String() != "x|1" || moved.Key.String() != "x|2" {
		t.Errorf("key update: Before key %s, Key %s; want x|1 then x|2", oldKey, moved.Key)
	}
	if _, ok := moved.Before["v"]; ok {
		t.Errorf("key update: Before carries non-key column v from a key-only old tuple: %v", moved.Before)
	}
	if same := cs[2]; same.Before != nil {
		t.Errorf("update keeping the key: Before = %v, want nil (REPLICA IDENTITY DEFAULT)", same.Before)
	}
	if d := cs[3]; d.Op != change.OpDelete || d.Key.String() != "x|2" || d.After != nil {
		t.Errorf("delete: %s key %s After %v", d.Op, d.Key, d.After)
	}
}

// TestToastUnchangedOmitted checks that an update that leaves a TOASTed
// value alone does not carry it (pgoutput sends no value), and that the sink
// then keeps the target's value instead of writing NULL.
func TestToastUnchangedOmitted(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE doc (id int PRIMARY KEY, small int, body text)",
		"CREATE TABLE doc_copy (LIKE doc INCLUDING ALL)")
	src, from := logicalSource(ctx, t, e, "doc", "doc")
	// md5 text barely compresses: well over the 2 kB TOAST threshold.
	e.exec(`INSERT INTO doc SELECT 1, 1, string_agg(md5(g::text), '') FROM generate_series(1, 400) g`)
	e.exec("UPDATE doc SET small = 2 WHERE id = 1")
	cs, _ := readToBoundary(ctx, t, openStream(ctx, t, src, from), 2)
	ins, upd := cs[0], cs[1]
	if body := ins.After["body"]; body.Kind != change.KindText || len(body.String()) != 400*32 {
		t.Fatalf("insert: body %s of %d bytes, want 12800 bytes of text", body.Kind, len(body.String()))
	}
	if _, ok := upd.After["body"]; ok {
		t.Errorf("update: After carries the unchanged TOAST column body")
	}
	for _, c := range upd.Columns {
		if c == "body" {
			t.Errorf("update: Columns %v lists body", upd.Columns)
		}
	}
	if !change.Equal(upd.After["small"], change.Int(2)) {
		t.Errorf("update: small = %v, want 2", upd.After["small"])
	}
	for _, strategy := range allStrategies {
		e.exec("TRUNCATE doc_copy")
		applyWith(ctx, t, e.store, "doc_copy", strategy, cs[:1])
		applyWith(ctx, t, e.store, "doc_copy", strategy, cs[1:])
		if diff := tableDiff(ctx, t, e.dsn, "doc", "doc_copy"); diff != "" {
			t.Errorf("strategy %d: target lost the TOAST value:\n%.300s", strategy, diff)
		}
		// Insert and update in one Apply merge into one upsert.
		e.exec("TRUNCATE doc_copy")
		applyWith(ctx, t, e.store, "doc_copy", strategy, cs)
		if diff := tableDiff(ctx, t, e.dsn, "doc", "doc_copy"); diff != "" {
			t.Errorf("strategy %d, one apply: target lost the TOAST value:\n%.300s", strategy, diff)
		}
	}
}

// TestSlotDroppedIsPositionLost checks that a slot dropped by someone else
// is reported as ErrPositionLost with the way out, not silently recreated.
func TestSlotDroppedIsPositionLost(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id int PRIMARY KEY)")
	src, from := logicalSource(ctx, t, e, "dropped", "t")
	st := openStream(ctx, t, src, from)
	e.exec("INSERT INTO t VALUES (1)")
	_, pos := readToBoundary(ctx, t, st, 1)

	// Someone drops the slot: the walsender is terminated first.
	e.exec(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '` + src.Slot() + `' AND active_pid IS NOT NULL`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := st.Next(ctx, 10)
		if err != nil {
			break
		}
		if len(b.Changes) > 0 {
			t.Fatalf("unexpected changes %v", b.Changes)
		}
		if time.Now().After(deadline) {
			t.Fatal("stream did not fail after its walsender was terminated")
		}
	}
	dropSlot(t, e, src.Slot())

	_, err := src.Stream(ctx, pos)
	if !errors.Is(err, connector.ErrPositionLost) {
		t.Fatalf("stream after the slot was dropped: %v, want ErrPositionLost", err)
	}
	t.Logf("error: %v", err)
	if _, err := src.Position(ctx); err == nil {
		t.Error("Position without a slot succeeded: a backfill could start with changes unseen")
	}
}

func dropSlot(t testing.TB, e *env, slot string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := pgxConnect(e.dsn)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Exec(context.Background(), "SELECT pg_drop_replication_slot($1)", slot)
		c.Close(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("drop slot: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestartResumes stops PostgreSQL under a running stream: the stream
// fails, and a new one from the last acknowledged position delivers every
// later transaction exactly once.
func TestRestartResumes(t *testing.T) {
	pg := testenv.StartPostgres(t)
	e := openEnv(t, pg.NewDatabase(t))
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
	src, from := logicalSource(ctx, t, e, "restart", "t")
	st := openStream(ctx, t, src, from)

	e.exec("INSERT INTO t VALUES (1, 'a'), (2, 'a')")
	_, acked := readToBoundary(ctx, t, st, 2)
	if err := st.Ack(ctx, acked); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO t VALUES (3, 'b')") // read or not, never acked
	e.exec("UPDATE t SET v = 'c' WHERE id = 1")

	pg.Stop(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := st.Next(ctx, 100); err != nil {
			t.Logf("stream error after stop: %v", err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stream did not fail after the server stopped")
		}
	}
	st.Close()
	pg.Start(t)
	e.exec("DELETE FROM t WHERE id = 2")

	// Pooled connections from before the restart fail once, as they would
	// for the engine, which retries with a backoff.
	var st2 connector.Stream
	for attempt := 0; ; attempt++ {
		var err error
		if st2, err = src.Stream(ctx, acked); err == nil {
			break
		}
		if errors.Is(err, connector.ErrPositionLost) || attempt == 5 {
			t.Fatalf("stream after restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer st2.Close()
	cs, _ := readToBoundary(ctx, t, st2, 3)
	var got []string
	for _, c := range cs {
		got = append(got, c.Op.String()+" "+c.Key.String())
	}
	if fmt.Sprint(got) != "[insert 3 update 1 delete 2]" {
		t.Fatalf("after restart: %v, want [insert 3 update 1 delete 2]", got)
	}
}

// TestIdleAdvancesWithServerWAL checks that an idle stream's position
// follows the server's WAL (other tables' writes), so acking it lets the
// slot release WAL, and that streaming from it loses nothing.
func TestIdleAdvancesWithServerWAL(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id int PRIMARY KEY)", "CREATE TABLE other (id int)")
	src, from := logicalSource(ctx, t, e, "idle", "t")
	st := openStream(ctx, t, src, from)
	e.exec("INSERT INTO other SELECT generate_series(1, 1000)")
	var pos change.Position
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := st.Next(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Changes) > 0 {
			t.Fatalf("changes of another table: %v", b.Changes)
		}
		if c, _ := src.Compare(b.Position, from); c > 0 && b.CaughtUp {
			pos = b.Position
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle position stayed at %s", b.Position)
		}
	}
	if err := st.Ack(ctx, pos); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO t VALUES (1)")
	st.Close()
	cs, _ := readToBoundary(ctx, t, openStream(ctx, t, src, pos), 1)
	if len(cs) != 1 || cs[0].Key.String() != "1" {
		t.Fatalf("after the idle position: %v", cs)
	}
}

// TestTruncateIsEmitted checks TRUNCATE comes out as an OpTruncate change
// in order with the rows around it, and is counted.
func TestTruncateIsEmitted(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id int PRIMARY KEY)")
	src, from := logicalSource(ctx, t, e, "trunc", "t")
	e.exec("INSERT INTO t VALUES (1)")
	e.exec("TRUNCATE t")
	e.exec("INSERT INTO t VALUES (2)")
	st := openStream(ctx, t, src, from)
	cs, _ := readToBoundary(ctx, t, st, 3)
	if len(cs) != 3 || cs[0].Key.String() != "1" || cs[1].Op != change.OpTruncate || cs[2].Key.String() != "2" {
		t.Fatalf("changes = %v, want insert 1, truncate, insert 2", cs)
	}
	if n := st.(interface{ Truncates() int64 }).Truncates(); n != 1 {
		t.Errorf("truncates = %d, want 1", n)
	}
}

// TestSuppressCaptureMarksOrigin checks that a sink with SuppressCapture
// writes under the flow's replication origin, which capture reports.
func TestSuppressCaptureMarksOrigin(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
	src, from := logicalSource(ctx, t, e, "echo", "t")
	e.exec("INSERT INTO t VALUES (1, 'app')")
	sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "back", Table: "t", SuppressCapture: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // twice: the origin is reset between transactions
		tx, err := sk.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Apply(ctx, []change.Change{{Op: change.OpInsert, Key: change.Key{change.Int(int64(2 + i))},
			After: change.Row{"id": change.Int(int64(2 + i)), "v": change.Text("sync")}}}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
			t.Fatal(err)
		}
	}
	e.exec("INSERT INTO t VALUES (4, 'app')")
	cs, _ := readToBoundary(ctx, t, openStream(ctx, t, src, from), 4)
	want := []string{"", postgres.OriginName("back"), postgres.OriginName("back"), ""}
	for i, c := range cs {
		if c.Origin != want[i] {
			t.Errorf("change %d (key %s): origin %q, want %q", i, c.Key, c.Origin, want[i])
		}
	}
}

// TestCaughtUpOnlyAfterServerDecoded checks that a stream is not reported
// caught up while the server is still decoding a large transaction (it
// sends nothing for a while), and that once everything is handed out the
// caught-up batch comes at once rather than after an idle wait: a --once
// run stops exactly when it has applied everything, neither before nor
// a second after.
func TestCaughtUpOnlyAfterServerDecoded(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE t (id int PRIMARY KEY, v text)")
	src, from := logicalSource(ctx, t, e, "caught", "t")
	const rows = 300_000
	e.exec(fmt.Sprintf("INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, %d) g", rows))
	e.exec("INSERT INTO t VALUES (0, 'last')")
	st := openStream(ctx, t, src, from)
	got := 0
	for got < rows+1 {
		b, err := st.Next(ctx, 5000)
		if err != nil {
			t.Fatal(err)
		}
		got += len(b.Changes)
		if b.CaughtUp && got < rows+1 {
			t.Fatalf("batch caught up after %d of %d changes: the server was still decoding", got, rows+1)
		}
	}
	start := time.Now()
	for {
		b, err := st.Next(ctx, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Changes) > 0 {
			t.Fatalf("unexpected changes after the last: %d", len(b.Changes))
		}
		if b.CaughtUp {
			break
		}
	}
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("caught up %v after the last change; want it at once, not after an idle wait", d)
	}
}
