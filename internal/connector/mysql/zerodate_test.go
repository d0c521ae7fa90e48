package mysql_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/mysql"
	"github.com/syncbridge/syncbridge/internal/reconcile"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// logRecorder keeps the records logged through it.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// warnings returns the warnings logged, each as "msg k=v k=v".
func (l *logRecorder) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level != slog.LevelWarn {
			continue
		}
		s := r.Message
		r.Attrs(func(a slog.Attr) bool {
			s += " " + a.Key + "=" + a.Value.String()
			return true
		})
		out = append(out, s)
	}
	return out
}

// zeroDateEnv opens a store with the given zero_dates on a fresh database
// holding zd (id, d DATE, dt DATETIME, ts TIMESTAMP), and returns a source
// of it with the position taken before any row was written.
func zeroDateEnv(t *testing.T, mode string) (*env, *logRecorder, connector.Store, connector.Source, change.Position) {
	t.Helper()
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE zd (id INT PRIMARY KEY, d DATE, dt DATETIME, ts TIMESTAMP NULL)")
	rec := &logRecorder{}
	st, err := mysql.Driver{}.Open(ctx, connector.StoreConfig{Name: "legacy", Driver: "mysql", DSN: e.dsn,
		Capture: connector.CaptureBinlog, ZeroDates: mode}, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src, err := st.Source(ctx, connector.SourceSpec{Flow: "zdflow", Table: "zd", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	from, err := src.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e, rec, st, src, from
}

// zeroRows writes rows with zero dates in a lax session, as an old
// application (or an empty sql_mode) would.
func zeroRows(e *env) {
	e.exec("SET SESSION sql_mode = ''",
		"INSERT INTO zd VALUES (1, '2024-01-01', '2024-01-01 10:00:00', '2024-01-01 10:00:00')",
		"INSERT INTO zd VALUES (2, '0000-00-00', '2024-00-10 10:00:00', '0000-00-00 00:00:00')",
		"INSERT INTO zd VALUES (3, '2024-05-00', '0000-00-00 00:00:00', NULL)")
}

func TestZeroDatesError(t *testing.T) {
	e, _, _, src, from := zeroDateEnv(t, "error")
	ctx := ctxT(t)
	zeroRows(e)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, connector.ErrUnrepresentable) {
			t.Fatalf("%s: %v; want an error wrapping connector.ErrUnrepresentable", what, err)
		}
		msg := err.Error()
		for _, want := range []string{"store legacy", "table zd", `column "d"`, `zero date "0000-00-00"`,
			"key 2", "fix the source row", "zero_dates: null"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not say %q", what, msg, want)
			}
		}
	}
	_, err := src.Snapshot(ctx, nil, 10)
	check("backfill", err)
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []change.Change
	for err == nil {
		var b connector.Batch
		b, err = st.Next(ctx, 10)
		got = append(got, b.Changes...)
		if err == nil && b.CaughtUp {
			t.Fatalf("stream caught up with %d changes and no error", len(got))
		}
	}
	check("stream", err)
	if len(got) > 1 {
		t.Errorf("stream returned %d changes before the zero date; want at most the one before it", len(got))
	}
}

func TestZeroDatesNull(t *testing.T) {
	e, rec, st, src, from := zeroDateEnv(t, "null")
	ctx := ctxT(t)
	zeroRows(e)
	want := map[int64]string{ // d, dt, ts as read
		1: "2024-01-01 2024-01-01T10:00:00.000000Z 2024-01-01T10:00:00.000000Z",
		2: "NULL NULL NULL",
		3: "NULL NULL NULL",
	}
	show := func(r change.Row) string {
		var parts []string
		for _, c := range []string{"d", "dt", "ts"} {
			if r[c].Kind == change.KindNull {
				parts = append(parts, "NULL")
			} else {
				parts = append(parts, r[c].String())
			}
		}
		return strings.Join(parts, " ")
	}
	snap, err := src.Snapshot(ctx, nil, 10)
	if err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if len(snap) != 3 {
		t.Fatalf("backfill read %d rows, want 3", len(snap))
	}
	for _, c := range snap {
		if got := show(c.After); got != want[c.Key[0].AsInt()] {
			t.Errorf("backfill row %s: %s, want %s", c.Key, got, want[c.Key[0].AsInt()])
		}
	}
	// The fix arrives by the binlog too: its before image holds the zero date.
	e.exec("UPDATE zd SET d = '2000-02-29' WHERE id = 2")
	s, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []change.Change
	for len(got) < 4 {
		b, err := s.Next(ctx, 10)
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		got = append(got, b.Changes...)
		if b.CaughtUp {
			break
		}
	}
	if len(got) != 4 {
		t.Fatalf("stream read %d changes, want 4", len(got))
	}
	for _, c := range got[:3] {
		if g := show(c.After); g != want[c.Key[0].AsInt()] {
			t.Errorf("stream row %s: %s, want %s", c.Key, g, want[c.Key[0].AsInt()])
		}
	}
	if up := got[3]; up.Op != change.OpUpdate || show(up.Before) != "NULL NULL NULL" || show(up.After) != "2000-02-29 NULL NULL" {
		t.Errorf("update: %s before %s after %s", up.Op, show(up.Before), show(up.After))
	}
	// Explicit, not per row: one warning per column, naming it and a key.
	warns := rec.warnings()
	if len(warns) != 3 {
		t.Errorf("%d warnings, want one per column (3):\n%s", len(warns), strings.Join(warns, "\n"))
	}
	for _, col := range []string{"d", "dt", "ts"} {
		found := false
		for _, w := range warns {
			if strings.Contains(w, "column="+col+" ") && strings.Contains(w, "store=legacy") &&
				strings.Contains(w, "table=zd") && strings.Contains(w, "key=") {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning names store, table, column %s and key:\n%s", col, strings.Join(warns, "\n"))
		}
	}
	// diff's in-database checksum reads them as NULL too.
	cols := []connector.ChecksumColumn{{Name: "id", Kind: change.KindInt}, {Name: "d", Kind: change.KindDate},
		{Name: "dt", Kind: change.KindTimestamp}, {Name: "ts", Kind: change.KindTimestamp}}
	sum, err := st.(*mysql.Store).Checksum(ctx, connector.ChecksumRequest{Table: "zd", Key: []string{"id"}, Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	scanned, err := st.(connector.Scanner).Scan(ctx, connector.ScanRequest{Table: "zd", Key: []string{"id"}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var goSum connector.Checksum
	for _, r := range scanned {
		goSum = goSum.Add(connector.Checksum{Count: 1, Sum: reconcile.RowHash(reconcile.RowText(r, cols))})
	}
	if sum != goSum || sum.Count != 3 {
		t.Errorf("checksum under zero_dates: null: database %+v, Go %+v", sum, goSum)
	}
	counts := st.(*mysql.Store).ZeroDatesRead()
	// Backfill + stream inserts + the update's after image + the scan;
	// before images are not counted (nothing is written from them).
	if counts["zd.d"] != 5 || counts["zd.dt"] != 7 || counts["zd.ts"] != 4 {
		t.Errorf("zero dates read as NULL: %v; want zd.d 5, zd.dt 7, zd.ts 4", counts)
	}
}

func TestZeroDatesUnknownValue(t *testing.T) {
	_, err := mysql.Driver{}.Open(context.Background(), connector.StoreConfig{Name: "legacy", Driver: "mysql",
		DSN: testenv.MariaDB(t).NewDatabase(t), ZeroDates: "zero"}, nil)
	if err == nil || !strings.Contains(err.Error(), "error, null") || !strings.Contains(err.Error(), `"legacy"`) {
		t.Fatalf("open with zero_dates: zero: %v; want an error naming the store and the allowed values", err)
	}
}
