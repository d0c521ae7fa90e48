package sqlite

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// prepared opens a trigger source for flow on table and prepares it.
func (h *harness) prepared(t testing.TB, flow, table string) *triggerSource {
	t.Helper()
	ctx := context.Background()
	src, err := newTriggerSource(ctx, h.store, connector.SourceSpec{Flow: flow, Table: table, Capture: connector.CaptureTrigger})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	return src
}

// drain reads a stream until it reports caught up at a boundary, and returns
// the changes and that position.
func drain(t testing.TB, st connector.Stream, max int) ([]change.Change, change.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []change.Change
	for {
		b, err := st.Next(ctx, max)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		out = append(out, b.Changes...)
		if b.CaughtUp && b.Position != nil {
			return out, b.Position
		}
	}
}

func (h *harness) logRows(t testing.TB, table string) int {
	return h.count(t, `SELECT count(*) FROM _syncbridge_log WHERE tbl = ?`, table)
}

func TestTriggerInstallIdempotentAndUpgrade(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`)
	src := h.prepared(t, "f", "items")
	triggerSQL := func() string {
		var s string
		rows, err := h.app.Query(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'items' ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var name, sql string
			if err := rows.Scan(&name, &sql); err != nil {
				t.Fatal(err)
			}
			s += name + ":" + sql + "\n"
			n++
		}
		if n != 3 {
			t.Fatalf("%d triggers on items, want 3", n)
		}
		return s
	}
	version := func() string {
		var v string
		if err := h.app.QueryRow(`SELECT version FROM _syncbridge_meta WHERE tbl = 'items'`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	first, v1 := triggerSQL(), version()
	installed, err := installCapture(ctx, h.store.db, "items", "f", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	if installed || triggerSQL() != first || version() != v1 {
		t.Errorf("second install replaced current triggers (installed=%v)", installed)
	}
	if n := h.count(t, `SELECT count(*) FROM _syncbridge_cursor`); n != 1 {
		t.Errorf("%d consumer rows after two installs, want 1", n)
	}

	// A column added after install: Prepare upgrades, and the new column is
	// captured with its type.
	from, err := src.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.exec(t, `ALTER TABLE items ADD COLUMN price DECIMAL(10,2)`)
	if err := src.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if version() == v1 || triggerSQL() == first {
		t.Fatal("Prepare did not upgrade the triggers after ADD COLUMN")
	}
	h.exec(t, `INSERT INTO items (id, name, price) VALUES (1, 'a', '12.50')`)
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, _ := drain(t, st, 10)
	if len(cs) != 1 {
		t.Fatalf("got %d changes, want 1", len(cs))
	}
	if got := cs[0].After["price"]; !change.Equal(got, change.MustDecimal("12.5")) {
		t.Errorf("new column price = %s %q, want decimal 12.5", got.Kind, got)
	}

	// Dropped triggers (e.g. the table was dropped and recreated) are
	// reinstalled even though the version matches.
	h.exec(t, `DROP TRIGGER _syncbridge_items_upd`)
	if err := src.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	triggerSQL()
}

// TestStreamLearnsNewColumn: a stream opened before a column was added
// learns the column's type when it first sees it.
func TestStreamLearnsNewColumn(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`)
	src := h.prepared(t, "f", "items")
	from, _ := src.Position(ctx)
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h.exec(t, `ALTER TABLE items ADD COLUMN seen BOOLEAN`)
	// Another flow's Prepare upgrades the shared triggers.
	h.prepared(t, "g", "items")
	h.exec(t, `INSERT INTO items VALUES (1, 'a', 1)`)
	cs, _ := drain(t, st, 10)
	if len(cs) != 1 || !change.Equal(cs[0].After["seen"], change.Bool(true)) {
		t.Fatalf("changes = %+v, want one with seen = true", cs)
	}
}

func TestPruneUpToSlowestConsumer(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`)
	h.exec(t, `CREATE TABLE other (id INTEGER PRIMARY KEY)`)
	a := h.prepared(t, "a", "items")
	b := h.prepared(t, "b", "items")
	o := h.prepared(t, "o", "other")
	from, _ := a.Position(ctx)
	for i := 1; i <= 3; i++ {
		h.exec(t, `INSERT INTO items VALUES (?, 'x')`, i)
		h.exec(t, `INSERT INTO other VALUES (?)`, i)
	}
	sa, _ := a.Stream(ctx, from)
	defer sa.Close()
	csA, endA := drain(t, sa, 100)
	if len(csA) != 3 {
		t.Fatalf("a read %d changes, want 3", len(csA))
	}
	if err := sa.Ack(ctx, endA); err != nil {
		t.Fatal(err)
	}
	if n := h.logRows(t, "items"); n != 3 {
		t.Errorf("after a acked: %d log rows, want 3 (b has not acked)", n)
	}

	sb, _ := b.Stream(ctx, from)
	defer sb.Close()
	csB, endB := drain(t, sb, 100)
	if err := sb.Ack(ctx, csB[1].Position); err != nil { // b applied two of three
		t.Fatal(err)
	}
	if n := h.logRows(t, "items"); n != 1 {
		t.Errorf("after b acked two: %d log rows, want 1", n)
	}
	if err := sb.Ack(ctx, endB); err != nil {
		t.Fatal(err)
	}
	if n := h.logRows(t, "items"); n != 0 {
		t.Errorf("after both acked all: %d log rows, want 0", n)
	}
	if n := h.logRows(t, "other"); n != 3 {
		t.Errorf("pruning items touched other's log: %d rows, want 3", n)
	}
	// An ack never moves a consumer backwards.
	if err := sb.Ack(ctx, from); err != nil {
		t.Fatal(err)
	}
	var acked int64
	if err := h.app.QueryRow(`SELECT acked FROM _syncbridge_cursor WHERE flow = 'b'`).Scan(&acked); err != nil {
		t.Fatal(err)
	}
	if p, _ := ParsePosition(endB); acked != p.ID {
		t.Errorf("acked = %d after acking an older position, want %d", acked, p.ID)
	}
	_ = o
}

func TestPositionLost(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`)
	src := h.prepared(t, "a", "items")
	from, _ := src.Position(ctx)
	for i := 1; i <= 3; i++ {
		h.exec(t, `INSERT INTO items VALUES (?, 'x')`, i)
	}
	st, _ := src.Stream(ctx, from)
	cs, end := drain(t, st, 100)
	if err := st.Ack(ctx, cs[1].Position); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// Resuming at or after the pruned rows works; before them it must fail.
	for _, ok := range []change.Position{cs[1].Position, end} {
		s2, err := src.Stream(ctx, ok)
		if err != nil {
			t.Errorf("stream from %s: %v", ok, err)
			continue
		}
		s2.Close()
	}
	for _, lost := range []change.Position{from, cs[0].Position} {
		_, err := src.Stream(ctx, lost)
		if !errors.Is(err, connector.ErrPositionLost) {
			t.Errorf("stream from pruned %s: %v, want ErrPositionLost", lost, err)
		}
	}
	// A position beyond the log's end means the file was replaced.
	p, _ := ParsePosition(end)
	if _, err := src.Stream(ctx, Position{ID: p.ID + 100}.Bytes()); !errors.Is(err, connector.ErrPositionLost) {
		t.Errorf("stream from beyond the end: %v, want ErrPositionLost", err)
	}
	// Pruning the whole log does not move Position backwards.
	st3, _ := src.Stream(ctx, end)
	if err := st3.Ack(ctx, end); err != nil {
		t.Fatal(err)
	}
	st3.Close()
	if now, _ := src.Position(ctx); string(now) != string(end) {
		t.Errorf("position after pruning everything = %s, want %s", now, end)
	}
}

// TestNotInstalled: reading capture before Prepare is a clear error, and
// opening the source writes nothing.
func TestNotInstalled(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY)`)
	src, err := h.store.Source(ctx, connector.SourceSpec{Flow: "f", Table: "items"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Position(ctx); !errors.Is(err, errNotInstalled) {
		t.Errorf("position before prepare: %v", err)
	}
	if n := h.count(t, `SELECT count(*) FROM sqlite_master WHERE name LIKE '_syncbridge%'`); n != 0 {
		t.Errorf("opening a source created %d objects", n)
	}
}

func TestUpdateOfKeyIsDeleteAndInsert(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (a INTEGER, b TEXT, v TEXT, PRIMARY KEY (b, a))`)
	src := h.prepared(t, "f", "items")
	from, _ := src.Position(ctx)
	h.exec(t, `INSERT INTO items VALUES (1, 'x', 'v1')`)
	h.exec(t, `UPDATE items SET a = 2 WHERE a = 1`)
	st, _ := src.Stream(ctx, from)
	defer st.Close()
	cs, _ := drain(t, st, 100)
	if got := fmt.Sprint(summaryOf(cs)); got != "[insert x|1 delete x|1 insert x|2]" {
		t.Errorf("changes = %s, want [insert x|1 delete x|1 insert x|2]", got)
	}
	if cs[1].ID == cs[2].ID {
		t.Errorf("split changes share ID %s", cs[1].ID)
	}
}

func summaryOf(cs []change.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Op.String() + " " + c.Key.String()
	}
	return out
}

// TestEchoSuppression: writes of a sink with SuppressCapture are not
// captured; the application's writes, before and after, are.
func TestEchoSuppression(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`)
	src := h.prepared(t, "f", "items")
	from, _ := src.Position(ctx)
	h.exec(t, `INSERT INTO items VALUES (1, 'app')`)

	for _, suppress := range []bool{true, false} {
		sk, err := h.store.Sink(ctx, connector.SinkSpec{Flow: fmt.Sprint("back", suppress), Table: "items", SuppressCapture: suppress})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := sk.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := int64(2)
		if !suppress {
			id = 3
		}
		r := change.Row{"id": change.Int(id), "name": change.Text(fmt.Sprint("sink suppress=", suppress))}
		if err := tx.Apply(ctx, []change.Change{{Op: change.OpInsert, Key: change.Key{r["id"]}, After: r}}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
			t.Fatal(err)
		}
		sk.Close()
	}
	h.exec(t, `UPDATE items SET name = 'app again' WHERE id = 2`)
	if n := h.count(t, `SELECT count(*) FROM _syncbridge_session`); n != 0 {
		t.Errorf("session table has %d rows after commit", n)
	}
	st, _ := src.Stream(ctx, from)
	defer st.Close()
	cs, _ := drain(t, st, 100)
	if got := fmt.Sprint(summaryOf(cs)); got != "[insert 1 insert 3 update 2]" {
		t.Errorf("captured %s, want [insert 1 insert 3 update 2]", got)
	}
}

// TestHostileIdentifiers: names that need quoting (quotes, spaces, keywords)
// go through capture, sink and scan intact.
func TestHostileIdentifiers(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	table := `we"ird tab'le`
	h.exec(t, `CREATE TABLE `+quoteIdent(table)+` ("se""lect" INTEGER PRIMARY KEY, "x; DROP TABLE y; --" TEXT, "order" BLOB)`)
	src := h.prepared(t, "f", quoteIdent(table)) // config form: quoted
	from, _ := src.Position(ctx)
	h.exec(t, `INSERT INTO `+quoteIdent(table)+` VALUES (1, 'a''b', x'00')`)
	st, _ := src.Stream(ctx, from)
	defer st.Close()
	cs, _ := drain(t, st, 10)
	if len(cs) != 1 {
		t.Fatalf("captured %d changes, want 1", len(cs))
	}
	want := change.Row{`se"lect`: change.Int(1), "x; DROP TABLE y; --": change.Text("a'b"), "order": change.Bytes([]byte{0})}
	for k, v := range want {
		if !change.Equal(cs[0].After[k], v) {
			t.Errorf("column %q = %v, want %v", k, cs[0].After[k], v)
		}
	}
	sk, err := h.store.Sink(ctx, connector.SinkSpec{Flow: "f", Table: "main." + quoteIdent(table)})
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	tx, _ := sk.Begin(ctx)
	w2 := change.Row{`se"lect`: change.Int(2), "x; DROP TABLE y; --": change.Text(`"; --`), "order": change.Bytes([]byte("z"))}
	if err := tx.Apply(ctx, []change.Change{{Op: change.OpInsert, Key: change.Key{change.Int(2)}, After: w2},
		{Op: change.OpDelete, Key: change.Key{change.Int(1)}}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	rows, err := h.store.Scan(ctx, connector.ScanRequest{Table: table, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !change.Equal(rows[0]["x; DROP TABLE y; --"], change.Text(`"; --`)) {
		t.Errorf("scan = %v", rows)
	}
	if n := h.count(t, `SELECT count(*) FROM sqlite_master WHERE name = 'y'`); n != 0 {
		t.Error("a statement was injected")
	}
}

// TestRunEndsAtSnapshotEnd: while a run is being read, later transactions
// are not mixed in, and the next run picks them up.
func TestRunEndsAtSnapshotEnd(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY)`)
	src := h.prepared(t, "f", "items")
	from, _ := src.Position(ctx)
	h.exec(t, `INSERT INTO items VALUES (1), (2), (3)`)
	st, _ := src.Stream(ctx, from)
	defer st.Close()
	b1, err := st.Next(ctx, 2)
	if err != nil || len(b1.Changes) != 2 || b1.Position != nil || b1.CaughtUp {
		t.Fatalf("first page = %d changes, pos %s, caught up %v, %v", len(b1.Changes), b1.Position, b1.CaughtUp, err)
	}
	h.exec(t, `INSERT INTO items VALUES (4), (5)`) // commits mid-run
	b2, err := st.Next(ctx, 2)
	if err != nil || len(b2.Changes) != 1 || b2.Position == nil {
		t.Fatalf("second page = %d changes, pos %s, %v; want the run's last change and its end", len(b2.Changes), b2.Position, err)
	}
	if b2.CaughtUp {
		t.Error("second page is CaughtUp although a later transaction is waiting")
	}
	b3, err := st.Next(ctx, 10)
	if err != nil || len(b3.Changes) != 2 || b3.Position == nil || !b3.CaughtUp {
		t.Fatalf("third page = %d changes, pos %s, caught up %v, %v", len(b3.Changes), b3.Position, b3.CaughtUp, err)
	}
}

// TestCaptureGeneratedColumns: generated columns (virtual and stored) are
// part of the captured row image.
func TestCaptureGeneratedColumns(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT,
		up TEXT AS (upper(name)) VIRTUAL, len INTEGER AS (length(name)) STORED) WITHOUT ROWID`)
	src := h.prepared(t, "f", "items")
	from, _ := src.Position(ctx)
	h.exec(t, `INSERT INTO items (id, name) VALUES (1, 'ada')`)
	st, _ := src.Stream(ctx, from)
	defer st.Close()
	cs, _ := drain(t, st, 10)
	if len(cs) != 1 || !change.Equal(cs[0].After["up"], change.Text("ADA")) || !change.Equal(cs[0].After["len"], change.Int(3)) {
		t.Fatalf("changes = %+v, want one with up = ADA, len = 3", cs)
	}
}

// TestBusyNeighbourTable: while another captured table is written
// continuously and this one is not, Next still returns in about a second,
// with its position moved past the neighbour's changes.
func TestBusyNeighbourTable(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE quiet (id INTEGER PRIMARY KEY)`)
	h.exec(t, `CREATE TABLE busy (id INTEGER PRIMARY KEY)`)
	src := h.prepared(t, "q", "quiet")
	h.prepared(t, "b", "busy")
	from, _ := src.Position(ctx)
	st, _ := src.Stream(ctx, from)
	defer st.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h.app.Exec(`INSERT INTO busy VALUES (?)`, i)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() { close(stop); <-done }()
	start := time.Now()
	b, err := st.Next(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Next took %v", d)
	}
	if len(b.Changes) != 0 || b.Position == nil {
		t.Fatalf("batch = %d changes, position %s", len(b.Changes), b.Position)
	}
	if c, _ := src.Compare(b.Position, from); c <= 0 {
		t.Errorf("position %s did not move past the neighbour's changes (from %s)", b.Position, from)
	}
}

// TestBadImageIsNotSkipped: a log row that cannot be decoded fails Next,
// and the stream does not move past it: once fixed, it is read.
func TestBadImageIsNotSkipped(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`)
	src := h.prepared(t, "f", "items")
	from, _ := src.Position(ctx)
	h.exec(t, `INSERT INTO items VALUES (1, 'a'), (2, 'b')`)
	h.exec(t, `UPDATE _syncbridge_log SET after_json = '{broken' WHERE id = (SELECT max(id) FROM _syncbridge_log)`)
	st, _ := src.Stream(ctx, from)
	defer st.Close()
	for _, max := range []int{1, 10} {
		if b, err := st.Next(ctx, max); err == nil && max == 10 {
			t.Fatalf("next over a broken image = %v, want an error", summaryOf(b.Changes))
		}
	}
	h.exec(t, `UPDATE _syncbridge_log SET after_json = json_object('id', 2, 'name', 'b') WHERE id = (SELECT max(id) FROM _syncbridge_log)`)
	cs, _ := drain(t, st, 10)
	if got := fmt.Sprint(summaryOf(cs)); got != "[insert 2]" {
		t.Errorf("after the fix: %s, want [insert 2] (insert 1 came with the first page)", got)
	}
}
