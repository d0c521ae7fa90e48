package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

func TestOpenMissingFileCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.db")
	for _, dsn := range []string{path, "file:" + path + "?_pragma=busy_timeout(5)"} {
		_, err := Driver{}.Open(context.Background(), connector.StoreConfig{Name: "s", DSN: dsn}, nil)
		if err == nil || !strings.Contains(err.Error(), `sqlite store "s": file `+path+` does not exist`) {
			t.Errorf("open %s: %v", dsn, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("open created %s", path)
		}
	}
	if _, err := Open(context.Background(), connector.StoreConfig{Name: "s", DSN: t.TempDir()}, nil); err == nil {
		t.Error("open of a directory succeeded")
	}
	notDB := filepath.Join(t.TempDir(), "text.db")
	os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 100)), 0o600)
	if _, err := Open(context.Background(), connector.StoreConfig{Name: "s", DSN: notDB}, nil); err == nil {
		t.Error("open of a text file succeeded")
	}
}

// TestOpenWritesNothing: open, describe, check capture and opening a source
// and a sink leave the file byte for byte as it was (validate does these).
func TestOpenWritesNothing(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	h.exec(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)`)
	h.app.Close()
	before, err := os.ReadFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := Open(ctx, connector.StoreConfig{Name: "s", DSN: "file:" + h.path, Capture: connector.CaptureTrigger}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Describe(ctx, "items"); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckCapture(ctx, connector.SourceSpec{Table: "items"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Source(ctx, connector.SourceSpec{Flow: "f", Table: "items"}); err != nil {
		t.Fatal(err)
	}
	sk, err := st.Sink(ctx, connector.SinkSpec{Flow: "f", Table: "items"})
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := sk.Checkpoint(ctx); cp != nil || err != nil {
		t.Fatalf("checkpoint = %v, %v", cp, err)
	}
	sk.Close()
	st.Close()
	after, err := os.ReadFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("the database file changed")
	}
}

func TestDescribe(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (
		a INTEGER NOT NULL, b TEXT, amount NUMERIC(12,2), at DATETIME, g INT GENERATED ALWAYS AS (a * 2) VIRTUAL,
		s INT GENERATED ALWAYS AS (a + 1) STORED, untyped, PRIMARY KEY (b, a))`)
	h.exec(t, `CREATE TABLE nokey (x TEXT)`)
	tab, err := h.store.Describe(ctx, "main.t")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tab.Key, ","); got != "b,a" {
		t.Errorf("key = %s, want b,a (primary key order, not column order)", got)
	}
	want := []connector.Column{
		{Name: "a", Type: "INTEGER", Kind: change.KindInt, Nullable: false},
		{Name: "b", Type: "TEXT", Kind: change.KindText, Nullable: true},
		{Name: "amount", Type: "NUMERIC(12,2)", Kind: change.KindDecimal, Nullable: true},
		{Name: "at", Type: "DATETIME", Kind: change.KindTimestamp, Nullable: true},
		{Name: "g", Type: "INT", Kind: change.KindInt, Nullable: true, Generated: true},
		{Name: "s", Type: "INT", Kind: change.KindInt, Nullable: true, Generated: true},
		{Name: "untyped", Type: "", Kind: change.KindText, Nullable: true},
	}
	if len(tab.Columns) != len(want) {
		t.Fatalf("columns = %+v", tab.Columns)
	}
	for i, c := range tab.Columns {
		if c != want[i] {
			t.Errorf("column %d = %+v, want %+v", i, c, want[i])
		}
	}
	nk, err := h.store.Describe(ctx, "nokey")
	if err != nil || len(nk.Key) != 0 {
		t.Errorf("nokey: key %v, %v; want none", nk.Key, err)
	}
	if _, err := h.store.Describe(ctx, "missing"); !errors.Is(err, connector.ErrTableNotFound) {
		t.Errorf("missing table: %v, want ErrTableNotFound", err)
	}
	if _, err := h.store.Describe(ctx, "temp.t"); !errors.Is(err, connector.ErrTableNotFound) {
		t.Errorf("temp.t: %v, want ErrTableNotFound", err)
	}
}

func TestCheckCapture(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY, updated_at TEXT)`)
	h.exec(t, `CREATE TABLE nokey (x TEXT)`)
	h.exec(t, `CREATE VIEW v AS SELECT * FROM t`)
	for _, tc := range []struct {
		spec connector.SourceSpec
		want string // "" = ok
	}{
		{connector.SourceSpec{Table: "t", Capture: connector.CaptureTrigger}, ""},
		{connector.SourceSpec{Table: "t", Capture: connector.CapturePoll, Poll: connector.PollSpec{Column: "updated_at"}}, ""},
		{connector.SourceSpec{Table: "t", Capture: connector.CaptureLogical}, "capture: logical is not supported by driver sqlite; use trigger or poll"},
		{connector.SourceSpec{Table: "t", Capture: connector.CaptureBinlog}, "capture: binlog is not supported by driver sqlite"},
		{connector.SourceSpec{Table: "nokey", Capture: connector.CaptureTrigger}, "has no primary key"},
		{connector.SourceSpec{Table: "nokey", Capture: connector.CaptureTrigger, Key: []string{"x"}}, ""},
		{connector.SourceSpec{Table: "v", Capture: connector.CaptureTrigger}, "is a view"},
		{connector.SourceSpec{Table: "missing", Capture: connector.CaptureTrigger}, "table not found"},
		{connector.SourceSpec{Table: "t", Capture: connector.CapturePoll, Poll: connector.PollSpec{Column: "nope"}}, `poll column "nope" does not exist`},
		{connector.SourceSpec{Table: "t", Capture: connector.CapturePoll}, "needs poll.column"},
	} {
		err := h.store.CheckCapture(ctx, tc.spec)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %s: %v", tc.spec.Capture, tc.spec.Table, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %s: %v, want %q", tc.spec.Capture, tc.spec.Table, err, tc.want)
		}
	}
}

func TestScanRange(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(t, `CREATE TABLE t (a TEXT, b INTEGER, v REAL, PRIMARY KEY (a, b))`)
	h.exec(t, `INSERT INTO t VALUES ('x', 2, 0.5), ('x', 1, 1.5), ('y', 1, 2.5), ('w', 9, 3.5), ('y', 3, 4.5)`)
	rows, err := h.store.Scan(ctx, connector.ScanRequest{
		Table: "t", Columns: []string{"v"},
		After: change.Key{change.Text("x"), change.Int(1)}, Until: change.Key{change.Text("y"), change.Int(1)}, Limit: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		if len(r) != 3 {
			t.Errorf("row %v: want the key columns and v only", r)
		}
		got = append(got, change.Key{r["a"], r["b"], r["v"]}.String())
	}
	if strings.Join(got, " ") != "x|2|0.5 y|1|2.5" {
		t.Errorf("scan (x|1, y|1] = %v", got)
	}
	if n, err := h.store.CountRows(ctx, "main.t"); n != 5 || err != nil {
		t.Errorf("count rows = %d, %v; want 5", n, err)
	}
	rows, err = h.store.Scan(ctx, connector.ScanRequest{Table: "t", Limit: 2})
	if err != nil || len(rows) != 2 || rows[0]["a"].String() != "w" {
		t.Errorf("scan from the start, limit 2 = %v, %v", rows, err)
	}
	if _, err := h.store.Scan(ctx, connector.ScanRequest{Table: "t", After: change.Key{change.Text("x")}, Limit: 2}); err == nil {
		t.Error("a bound with too few key values was accepted")
	}
}

// TestPrepareSwitchesToWAL: the first write path puts the file in WAL mode
// (Open did not). The mode is read from the file header (bytes 18 and 19 are
// 2 in WAL mode), not from a connection that may have cached the old one.
func TestPrepareSwitchesToWAL(t *testing.T) {
	h := newHarness(t, connector.CaptureTrigger)
	h.exec(t, `CREATE TABLE t (id INTEGER PRIMARY KEY)`)
	wal := func() bool {
		b, err := os.ReadFile(h.path)
		if err != nil || len(b) < 20 {
			t.Fatalf("read header: %v", err)
		}
		return b[18] == 2 && b[19] == 2
	}
	if wal() {
		t.Fatal("the file is in WAL mode before prepare")
	}
	h.prepared(t, "f", "t")
	if !wal() {
		t.Error("the file is not in WAL mode after prepare")
	}
}

func TestRegistry(t *testing.T) {
	r, err := connector.NewRegistry(Driver{})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := r.Driver("sqlite"); !ok || d.Name() != "sqlite" {
		t.Errorf("registry lookup = %v, %v", d, ok)
	}
}
