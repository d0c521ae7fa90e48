package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/sqlpoll"
)

func (h *harness) pollSource(t testing.TB, table, column string, lag, every time.Duration) connector.Source {
	t.Helper()
	src, err := h.store.Source(context.Background(), connector.SourceSpec{
		Flow: "p", Table: table, Capture: connector.CapturePoll,
		Poll: connector.PollSpec{Column: column, Lag: lag, Every: every},
	})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func keyIDs(cs []change.Change) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Key[0].AsInt()
	}
	return out
}

// TestPollTieBreak: many rows share one updated_at across page boundaries
// (page size 2); the (updated_at, key) cursor reads every row exactly once,
// in order, and a resumed stream continues exactly where it stopped.
func TestPollTieBreak(t *testing.T) {
	h := newHarness(t, connector.CapturePoll)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, updated_at DATETIME)`)
	for _, id := range []int{5, 3, 9, 1, 7, 2, 8} {
		h.exec(t, `INSERT INTO items VALUES (?, 'tied', '2024-01-01 10:00:01')`, id)
	}
	h.exec(t, `INSERT INTO items VALUES (4, 'first', '2024-01-01 10:00:00'), (6, 'last', '2024-01-01 10:00:02')`)
	src := h.pollSource(t, "items", "updated_at", time.Second, 10*time.Millisecond)

	st, err := src.Stream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var (
		cs        []change.Change
		positions []change.Position
	)
	for {
		b, err := st.Next(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Changes) > 2 {
			t.Fatalf("page of %d changes, max 2", len(b.Changes))
		}
		if b.Position == nil {
			t.Fatal("poll page without a position: every page is a boundary")
		}
		if len(b.Changes) > 0 {
			if string(b.Position) != string(b.Changes[len(b.Changes)-1].Position) {
				t.Errorf("page position %s is not its last row's %s", b.Position, b.Changes[len(b.Changes)-1].Position)
			}
			positions = append(positions, b.Position)
		}
		cs = append(cs, b.Changes...)
		if b.CaughtUp {
			break
		}
	}
	if got := fmt.Sprint(keyIDs(cs)); got != "[4 1 2 3 5 7 8 9 6]" {
		t.Fatalf("read %s, want [4 1 2 3 5 7 8 9 6]", got)
	}
	for i := 1; i < len(positions); i++ {
		if c, err := src.Compare(positions[i-1], positions[i]); err != nil || c >= 0 {
			t.Errorf("positions out of order: %s then %s", positions[i-1], positions[i])
		}
	}
	for _, c := range cs {
		if c.Op != change.OpUpdate || c.Before != nil || !strings.Contains(c.ID, "lite:items:poll:") {
			t.Errorf("change %s: op %s before %v", c.ID, c.Op, c.Before)
		}
		if !change.Equal(c.After["id"], c.Key[0]) || c.After["updated_at"].Kind != change.KindTimestamp {
			t.Errorf("change %s: after %v", c.ID, c.After)
		}
	}
	if want := time.Date(2024, 1, 1, 10, 0, 1, 0, time.UTC); !cs[1].CommitTime.Equal(want) {
		t.Errorf("commit time = %v, want the poll column's %v", cs[1].CommitTime, want)
	}

	// Resume in the middle of the tied rows: exactly the rest.
	mid := positions[1] // after 4, 1, 2, 3
	st2, err := src.Stream(ctx, mid)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	b, err := st2.Next(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(keyIDs(b.Changes)); got != "[5 7 8 9 6]" {
		t.Errorf("resumed from %s: read %s, want [5 7 8 9 6]", mid, got)
	}

	// A later update is seen once.
	h.exec(t, `UPDATE items SET name = 'moved', updated_at = '2024-01-01 10:00:03' WHERE id = 3`)
	var again []change.Change
	for {
		b, err := st.Next(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, b.Changes...)
		if b.CaughtUp && len(again) > 0 {
			break
		}
	}
	if got := fmt.Sprint(keyIDs(again)); got != "[3]" || !change.Equal(again[0].After["name"], change.Text("moved")) {
		t.Errorf("after update: %s %v, want [3] moved", got, again)
	}
}

// TestPollSafetyLag: a row stamped inside the lag window is not read until
// the window has passed, and a row stamped in the future waits for its time,
// so neither can push the cursor past rows still being committed.
func TestPollSafetyLag(t *testing.T) {
	h := newHarness(t, connector.CapturePoll)
	ctx := context.Background()
	const lag = 700 * time.Millisecond
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, updated_at TIMESTAMP)`)
	src := h.pollSource(t, "items", "updated_at", lag, 20*time.Millisecond)
	t0 := time.Now()
	h.exec(t, `INSERT INTO items VALUES (1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`)
	h.exec(t, `INSERT INTO items VALUES (2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 seconds'))`)

	if p, err := src.Position(ctx); err != nil || string(p) != "poll:v1:[]" {
		t.Errorf("position with every row inside the lag = %s, %v; want the empty cursor", p, err)
	}
	st, err := src.Stream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[int64]time.Duration{}
	for len(seen) < 2 {
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("rows seen after 10s: %v", seen)
		}
		b, err := st.Next(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b.Changes {
			if _, dup := seen[c.Key[0].AsInt()]; dup {
				t.Errorf("row %s read twice", c.Key)
			}
			seen[c.Key[0].AsInt()] = time.Since(t0)
		}
	}
	// Allow for the millisecond resolution of julianday.
	if d := seen[1]; d < lag-20*time.Millisecond {
		t.Errorf("row 1 read %v after it was stamped, inside the %v lag", d, lag)
	}
	if d := seen[2]; d < time.Second+lag-20*time.Millisecond {
		t.Errorf("row 2, stamped 1s ahead, read after %v; want at least %v", d, time.Second+lag)
	}
}

// TestPollIntegerVersion: an integer poll column has no clock bound.
func TestPollIntegerVersion(t *testing.T) {
	h := newHarness(t, connector.CapturePoll)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)`)
	h.exec(t, `INSERT INTO items VALUES (1, 10), (2, 11)`)
	src := h.pollSource(t, "items", "version", time.Hour, 10*time.Millisecond)
	from, err := src.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := sqlpoll.ParseCursor(from); err != nil || c.Compare(sqlpoll.Cursor{change.Int(11), change.Int(2)}) != 0 {
		t.Fatalf("position = %s, %v; want cursor (11, 2)", from, err)
	}
	h.exec(t, `UPDATE items SET version = 12 WHERE id = 1`)
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := st.Next(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(keyIDs(b.Changes)); got != "[1]" || !b.CaughtUp {
		t.Errorf("read %s (caught up %v), want [1]", got, b.CaughtUp)
	}
	// Caught up: the next call waits for the poll interval, then polls.
	start := time.Now()
	b, err = st.Next(ctx, 10)
	if err != nil || len(b.Changes) != 0 || !b.CaughtUp || time.Since(start) < 5*time.Millisecond {
		t.Errorf("idle poll = %d changes, caught up %v after %v, %v", len(b.Changes), b.CaughtUp, time.Since(start), err)
	}
	if ack := st.Ack(ctx, b.Position); ack != nil {
		t.Errorf("ack: %v", ack)
	}
}

// TestPollSnapshot: the poll source backfills through the driver's keyset
// reader.
func TestPollSnapshot(t *testing.T) {
	h := newHarness(t, connector.CapturePoll)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, version INTEGER)`)
	h.exec(t, `INSERT INTO items VALUES (3, 1), (1, 1), (2, 1)`)
	src := h.pollSource(t, "items", "version", 0, 0)
	cs, err := src.Snapshot(ctx, change.Key{change.Int(1)}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(keyIDs(cs)); got != "[2 3]" || cs[0].Op != change.OpSnapshot || cs[0].Flow != "p" {
		t.Errorf("snapshot = %s (%v), want [2 3] snapshots", got, cs)
	}
}
