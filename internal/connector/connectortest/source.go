package connectortest

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// RunSource runs the source conformance suite against h. Each subtest gets
// its own table (named with prefix "cs_"), so the store may be shared.
func RunSource(t *testing.T, h SourceHarness) {
	t.Run("SnapshotKeyOrderAcrossChunks", func(t *testing.T) { testSnapshot(t, h) })
	t.Run("StreamTypedValuesInCommitOrder", func(t *testing.T) { testStreamValues(t, h) })
	t.Run("TransactionBoundary", func(t *testing.T) { testTxBoundary(t, h) })
	t.Run("ResumeFromAckedPosition", func(t *testing.T) { testResume(t, h) })
	t.Run("IdleStreamReportsProgress", func(t *testing.T) { testIdle(t, h) })
	t.Run("CompareIsConsistent", func(t *testing.T) { testCompare(t, h) })
}

// openSource opens and prepares a source for table; it is closed at cleanup.
func openSource(ctx context.Context, t *testing.T, h SourceHarness, flow, table string) connector.Source {
	t.Helper()
	src, err := h.Store().Source(ctx, connector.SourceSpec{
		Flow: flow, Table: table, Key: []string{"id"}, Capture: h.Capture(),
	})
	if err != nil {
		t.Fatalf("open source: %v", err)
	}
	if p, ok := src.(connector.Preparer); ok {
		if err := p.Prepare(ctx); err != nil {
			t.Fatalf("prepare: %v", err)
		}
		if err := p.Prepare(ctx); err != nil {
			t.Fatalf("prepare again (must be idempotent): %v", err)
		}
	}
	return src
}

func position(ctx context.Context, t *testing.T, src connector.Source) change.Position {
	t.Helper()
	p, err := src.Position(ctx)
	if err != nil {
		t.Fatalf("position: %v", err)
	}
	return p
}

func openStream(ctx context.Context, t *testing.T, src connector.Source, from change.Position) connector.Stream {
	t.Helper()
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatalf("stream from %s: %v", from, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// readBatches calls Next with max until n changes were read, and returns the
// batches (empty ones included). It fails after a deadline.
func readBatches(ctx context.Context, t *testing.T, st connector.Stream, n, max int) []connector.Batch {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var out []connector.Batch
	got := 0
	for got < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d changes before the deadline", got, n)
		}
		b, err := st.Next(ctx, max)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if len(b.Changes) > max {
			t.Fatalf("next(%d) returned %d changes", max, len(b.Changes))
		}
		out = append(out, b)
		got += len(b.Changes)
	}
	if got > n {
		t.Fatalf("read %d changes, want %d", got, n)
	}
	return out
}

func changesOf(bs []connector.Batch) []change.Change {
	var out []change.Change
	for _, b := range bs {
		out = append(out, b.Changes...)
	}
	return out
}

// readUntilBoundary reads n changes and then, if the last batch had no
// Position, keeps reading until a batch with one; it returns the changes and
// that position.
func readUntilBoundary(ctx context.Context, t *testing.T, st connector.Stream, n int) ([]change.Change, change.Position) {
	t.Helper()
	bs := readBatches(ctx, t, st, n, 100)
	last := bs[len(bs)-1]
	for last.Position == nil {
		b, err := st.Next(ctx, 100)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if len(b.Changes) > 0 {
			t.Fatalf("unexpected changes after the %d expected: %+v", n, b.Changes)
		}
		bs, last = append(bs, b), b
	}
	return changesOf(bs), last.Position
}

func testSnapshot(t *testing.T, h SourceHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "cs_snapshot")
	const n, chunk = 25, 7
	order := rand.New(rand.NewSource(1)).Perm(n)
	var stmts []Stmt
	for _, i := range order {
		id := int64(i + 1)
		stmts = append(stmts, row{id: id, name: strp(fmt.Sprintf("row %d", id)), amount: fmt.Sprintf("%d.50", id)}.insertStmt(table))
	}
	h.Exec(t, stmts[:10]...)
	h.Exec(t, stmts[10:]...)
	src := openSource(ctx, t, h, "cs_snapshot", table)

	var (
		after change.Key
		got   []int64
		sizes []int
		seen  = map[string]bool{}
	)
	for {
		cs, err := src.Snapshot(ctx, after, chunk)
		if err != nil {
			t.Fatalf("snapshot after %v: %v", after, err)
		}
		sizes = append(sizes, len(cs))
		for _, c := range cs {
			if c.Op != change.OpSnapshot {
				t.Errorf("change %s: op %s, want snapshot", c.ID, c.Op)
			}
			if seen[c.ID] {
				t.Errorf("change ID %s repeated", c.ID)
			}
			seen[c.ID] = true
			if len(c.Key) != 1 || c.Key[0].Kind != change.KindInt {
				t.Fatalf("change %s: key %v, want one integer", c.ID, c.Key)
			}
			id := c.Key[0].AsInt()
			got = append(got, id)
			checkRow(t, c.ID, c.After, change.Row{
				"id": change.Int(id), "name": change.Text(fmt.Sprintf("row %d", id)),
				"amount": change.MustDecimal(fmt.Sprintf("%d.5", id)), "at": change.Null,
			})
		}
		if len(cs) < chunk {
			break
		}
		after = cs[len(cs)-1].Key
		if len(sizes) > n {
			t.Fatal("snapshot does not end")
		}
	}
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !equalInts(got, want) {
		t.Errorf("snapshot ids = %v, want %v", got, want)
	}
	if fmt.Sprint(sizes) != "[7 7 7 4]" {
		t.Errorf("chunk sizes = %v, want [7 7 7 4]", sizes)
	}
}

// suiteTime is a timestamp with microseconds, to catch truncation.
var suiteTime = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

func testStreamValues(t *testing.T, h SourceHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "cs_values")
	src := openSource(ctx, t, h, "cs_values", table)
	from := position(ctx, t, src)

	r1 := row{id: 1, name: strp("ada"), amount: "12.30", at: suiteTime, flag: boolp(true), data: []byte{0, 1, 2, 0xff, 'x'}}
	r2 := row{id: 2, name: strp(""), amount: "0.00", flag: boolp(false), data: []byte{}}
	r3 := row{id: 3}
	h.Exec(t, r1.insertStmt(table))
	h.Exec(t, r2.insertStmt(table), r3.insertStmt(table))
	h.Exec(t, Stmt{SQL: "UPDATE " + table + " SET amount = ?, name = ? WHERE id = ?",
		Args: []change.Value{change.MustDecimal("99.99"), change.Text("lovelace"), change.Int(1)}})
	h.Exec(t, Stmt{SQL: "DELETE FROM " + table + " WHERE id = ?", Args: []change.Value{change.Int(2)}})

	st := openStream(ctx, t, src, from)
	cs := changesOf(readBatches(ctx, t, st, 5, 100))
	wantOps := []change.Op{change.OpInsert, change.OpInsert, change.OpInsert, change.OpUpdate, change.OpDelete}
	wantKeys := []int64{1, 2, 3, 1, 2}
	seen := map[string]bool{}
	for i, c := range cs {
		if c.Op != wantOps[i] || len(c.Key) != 1 || c.Key[0].AsInt() != wantKeys[i] {
			t.Fatalf("change %d: %s key %v, want %s key %d (all: %v)", i, c.Op, c.Key, wantOps[i], wantKeys[i], summary(cs))
		}
		if c.Table != table {
			t.Errorf("change %d: table %q, want %q", i, c.Table, table)
		}
		if c.ID == "" || seen[c.ID] {
			t.Errorf("change %d: ID %q empty or repeated", i, c.ID)
		}
		seen[c.ID] = true
		if c.Position == nil {
			t.Errorf("change %d: no position", i)
		}
		if i > 0 && cs[i-1].Position != nil && c.Position != nil {
			if cmp, err := src.Compare(cs[i-1].Position, c.Position); err != nil || cmp > 0 {
				t.Errorf("change %d: position %s before the previous %s (cmp %d, err %v)", i, c.Position, cs[i-1].Position, cmp, err)
			}
		}
	}
	checkRow(t, "insert 1", cs[0].After, r1.values())
	checkRow(t, "insert 2 (empty text, empty bytes)", cs[1].After, r2.values())
	checkRow(t, "insert 3 (all NULL)", cs[2].After, r3.values())
	up := r1.values()
	up["amount"], up["name"] = change.MustDecimal("99.99"), change.Text("lovelace")
	checkRow(t, "update 1", cs[3].After, up)
	if cs[3].Before != nil {
		checkRow(t, "update 1 before", cs[3].Before, r1.values())
	}
	if cs[4].After != nil {
		t.Errorf("delete: After = %v, want nil", cs[4].After)
	}
}

func summary(cs []change.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Op.String() + " " + c.Key.String()
	}
	return out
}

func testTxBoundary(t *testing.T, h SourceHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "cs_tx")
	src := openSource(ctx, t, h, "cs_tx", table)
	from := position(ctx, t, src)
	var stmts []Stmt
	for i := int64(1); i <= 5; i++ {
		stmts = append(stmts, row{id: i, name: strp("tx")}.insertStmt(table))
	}
	h.Exec(t, stmts...)

	st := openStream(ctx, t, src, from)
	bs := readBatches(ctx, t, st, 5, 2)
	read := 0
	for i, b := range bs {
		read += len(b.Changes)
		switch {
		case read < 5 && b.Position != nil:
			t.Errorf("batch %d ends inside the transaction (%d of 5 read) but has Position %s", i, read, b.Position)
		case read == 5 && b.Position == nil:
			t.Errorf("batch %d ends the transaction but has no Position", i)
		}
		if read < 5 && b.CaughtUp && len(b.Changes) > 0 {
			t.Errorf("batch %d is CaughtUp in the middle of a transaction", i)
		}
	}
	last := bs[len(bs)-1]
	if last.Position != nil {
		for _, c := range last.Changes {
			if cmp, err := src.Compare(c.Position, last.Position); err != nil || cmp > 0 {
				t.Errorf("change %s position %s after its batch's %s", c.ID, c.Position, last.Position)
			}
		}
	}
}

func testResume(t *testing.T, h SourceHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "cs_resume")
	src := openSource(ctx, t, h, "cs_resume", table)
	from := position(ctx, t, src)
	h.Exec(t, row{id: 1, name: strp("a")}.insertStmt(table), row{id: 2, name: strp("b")}.insertStmt(table))

	st := openStream(ctx, t, src, from)
	_, acked := readUntilBoundary(ctx, t, st, 2)
	if err := st.Ack(ctx, acked); err != nil {
		t.Fatalf("ack %s: %v", acked, err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	h.Exec(t, row{id: 3, name: strp("c")}.insertStmt(table))
	h.Exec(t, Stmt{SQL: "UPDATE " + table + " SET name = ? WHERE id = ?", Args: []change.Value{change.Text("a2"), change.Int(1)}})
	st2 := openStream(ctx, t, src, acked)
	cs, _ := readUntilBoundary(ctx, t, st2, 2)
	if got := summary(cs); fmt.Sprint(got) != "[insert 3 update 1]" {
		t.Fatalf("after resume: %v, want [insert 3 update 1]", got)
	}
	// Nothing else may follow: the next batches are empty until caught up.
	for {
		b, err := st2.Next(ctx, 100)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if len(b.Changes) > 0 {
			t.Fatalf("after resume: unexpected %v", summary(b.Changes))
		}
		if b.CaughtUp {
			break
		}
	}
}

func testIdle(t *testing.T, h SourceHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "cs_idle")
	src := openSource(ctx, t, h, "cs_idle", table)
	from := position(ctx, t, src)
	st := openStream(ctx, t, src, from)
	// An idle stream may need a few empty batches before it can prove it has
	// caught up (a busy server's other databases keep moving the WAL), but
	// each returns promptly with a position, and it gets there quickly.
	start := time.Now()
	var b connector.Batch
	for {
		call := time.Now()
		var err error
		if b, err = st.Next(ctx, 10); err != nil {
			t.Fatalf("next: %v", err)
		}
		if d := time.Since(call); d > 5*time.Second {
			t.Errorf("idle Next took %v; it must return after a short wait", d)
		}
		if len(b.Changes) != 0 || b.Position == nil {
			t.Fatalf("idle batch = %d changes, Position %s; want empty, with a position", len(b.Changes), b.Position)
		}
		if b.CaughtUp {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("idle stream not caught up after %v", time.Since(start))
		}
	}
	if cmp, err := src.Compare(b.Position, from); err != nil || cmp < 0 {
		t.Errorf("idle position %s is before the start %s (cmp %d, err %v)", b.Position, from, cmp, err)
	}

	// A cancelled context ends a waiting Next promptly.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := st.Next(cctx, 10); err == nil {
		// An idle batch may legitimately win the race; a second call must fail.
		if _, err := st.Next(cctx, 10); err == nil {
			t.Error("next with a cancelled context returned no error")
		}
	}
}

func testCompare(t *testing.T, h SourceHarness) {
	checkNoLeak(t)
	ctx := testContext(t)
	table := h.CreateTable(t, "cs_compare")
	src := openSource(ctx, t, h, "cs_compare", table)
	p0 := position(ctx, t, src)
	if p0b := position(ctx, t, src); mustCompare(t, src, p0, p0b) != 0 {
		t.Errorf("Position moved without writes: %s then %s", p0, p0b)
	}
	h.Exec(t, row{id: 1}.insertStmt(table))
	st := openStream(ctx, t, src, p0)
	_, p1 := readUntilBoundary(ctx, t, st, 1)
	h.Exec(t, row{id: 2}.insertStmt(table))
	_, p2 := readUntilBoundary(ctx, t, st, 1)
	ps := []change.Position{p0, p1, p2}
	for i := range ps {
		if c := mustCompare(t, src, ps[i], ps[i]); c != 0 {
			t.Errorf("Compare(%s, itself) = %d", ps[i], c)
		}
		for j := i + 1; j < len(ps); j++ {
			if c := mustCompare(t, src, ps[i], ps[j]); c >= 0 {
				t.Errorf("Compare(%s, %s) = %d, want < 0", ps[i], ps[j], c)
			}
			if c := mustCompare(t, src, ps[j], ps[i]); c <= 0 {
				t.Errorf("Compare(%s, %s) = %d, want > 0", ps[j], ps[i], c)
			}
		}
	}
	if end := position(ctx, t, src); mustCompare(t, src, end, p2) < 0 {
		t.Errorf("Position %s after the writes is before the stream's %s", end, p2)
	}
}

func mustCompare(t *testing.T, src connector.Source, a, b change.Position) int {
	t.Helper()
	c, err := src.Compare(a, b)
	if err != nil {
		t.Fatalf("compare %s, %s: %v", a, b, err)
	}
	return c
}
