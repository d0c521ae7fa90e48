package mysql_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// typeCases is the type matrix: per column, its DDL, an SQL literal an
// application writes, and the Value every read path (binlog, snapshot,
// scan) must produce and the sink must write back unchanged.
var typeCases = []struct {
	col, ddl, literal string
	want              change.Value
}{
	{"num", "DECIMAL(65,30)", "'12345678901234567890123456789012345.123456789012345678901234567890'",
		change.MustDecimal("12345678901234567890123456789012345.123456789012345678901234567890")},
	{"dt", "DATETIME(6)", "'2024-05-06 07:08:09.123456'",
		change.Timestamp(time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC))},
	{"ts", "TIMESTAMP(6) NULL", "'2024-05-06 07:08:09.654321'",
		change.Timestamp(time.Date(2024, 5, 6, 7, 8, 9, 654321000, time.UTC))},
	{"d", "DATE", "'2024-02-29'", change.Date(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC))},
	{"tm", "TIME(6)", "'-12:34:56.000789'", change.TimeOfDay("-12:34:56.000789")},
	{"j", "JSON", `'{"a": [1, 2.5, "x"], "b": null}'`, change.JSON(`{"a": [1, 2.5, "x"], "b": null}`)},
	{"txt", "VARCHAR(100) CHARACTER SET utf8mb4", "'naïve 🎉 ✓ ''q'''", change.Text("naïve 🎉 ✓ 'q'")},
	{"b", "BLOB", "X'00FF10'", change.Bytes([]byte{0, 0xff, 0x10})},
	{"bin", "BINARY(4)", "X'0102'", change.Bytes([]byte{1, 2, 0, 0})},
	{"e", "ENUM('red','green','blue')", "'green'", change.Text("green")},
	{"st", "SET('a','b','c')", "'a,c'", change.Text("a,c")},
	{"flag", "TINYINT(1)", "1", change.Bool(true)},
	{"u", "BIGINT UNSIGNED", "18446744073709551615", change.MustDecimal("18446744073709551615")},
	{"i", "INT UNSIGNED", "4294967295", change.Int(4294967295)},
	{"f", "DOUBLE", "1.5e300", change.Float(1.5e300)},
}

func typesDDL(table string) string {
	var cols []string
	for _, c := range typeCases {
		cols = append(cols, c.col+" "+c.ddl)
	}
	return "CREATE TABLE " + table + " (id INT PRIMARY KEY, " + strings.Join(cols, ", ") +
		", g BIGINT AS (id * 2) VIRTUAL)"
}

func TestTypesRoundTrip(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec(typesDDL("types"))
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: "types", Table: "types", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	from, err := src.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cols, lits := []string{"id"}, []string{"1"}
	for _, c := range typeCases {
		cols, lits = append(cols, c.col), append(lits, c.literal)
	}
	e.exec("INSERT INTO types (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(lits, ", ") + ")")

	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := st.Next(ctx, 10)
	if err != nil || len(b.Changes) != 1 {
		t.Fatalf("stream: %d changes, %v; want 1", len(b.Changes), err)
	}
	streamed := b.Changes[0].After
	snap, err := src.Snapshot(ctx, nil, 10)
	if err != nil || len(snap) != 1 {
		t.Fatalf("snapshot: %d rows, %v; want 1", len(snap), err)
	}

	// The sink writes the wanted values back as row 2, plus a value for the
	// generated column, which it must skip.
	sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "types", Table: "types", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	row := change.Row{"id": change.Int(2), "g": change.Int(999)}
	for _, c := range typeCases {
		row[c.col] = c.want
	}
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(ctx, []change.Change{{Op: change.OpInsert, Table: "types", Key: change.Key{change.Int(2)}, After: row}}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
		t.Fatal(err)
	}
	scanned, err := e.store.(connector.Scanner).Scan(ctx, connector.ScanRequest{Table: "types", Key: []string{"id"}, Limit: 10})
	if err != nil || len(scanned) != 2 {
		t.Fatalf("scan: %d rows, %v; want 2", len(scanned), err)
	}

	for _, c := range typeCases {
		t.Run(c.col+" "+c.ddl, func(t *testing.T) {
			for what, r := range map[string]change.Row{"binlog": streamed, "snapshot": snap[0].After,
				"scan": scanned[0], "sink round trip": scanned[1]} {
				if got := r[c.col]; !change.Equal(got, c.want) {
					t.Errorf("%s: %s %q, want %s %q", what, got.Kind, got.String(), c.want.Kind, c.want.String())
				}
			}
		})
	}
	t.Run("generated column skipped on write", func(t *testing.T) {
		if g := scanned[1]["g"]; !change.Equal(g, change.Int(4)) {
			t.Errorf("g = %s, want 4 (computed, not the 999 given)", g)
		}
		tbl, err := e.store.Describe(ctx, "types")
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := tbl.Column("g"); !c.Generated {
			t.Error("g is not marked Generated")
		}
		if c, _ := tbl.Column("j"); c.Kind != change.KindJSON {
			t.Errorf("j has kind %s, want json", c.Kind)
		}
	})
}

func TestZeroDateRefused(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE zd (id INT PRIMARY KEY, d DATE, dt DATETIME)")
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: "zd", Table: "zd", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	from, err := src.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.exec("SET SESSION sql_mode = ''", "INSERT INTO zd VALUES (1, '0000-00-00', '2024-01-01 00:00:00')")
	if _, err := src.Snapshot(ctx, nil, 10); err == nil || !strings.Contains(err.Error(), "zero date") ||
		!strings.Contains(err.Error(), `"d"`) {
		t.Errorf("snapshot of a zero date: %v; want an error naming the column", err)
	}
	st, err := src.Stream(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if b, err := st.Next(ctx, 10); err == nil || !strings.Contains(err.Error(), "zero date") {
		t.Errorf("stream of a zero date: %d changes, %v; want a zero date error", len(b.Changes), err)
	}
}

func TestSinkDuplicateSecondaryUnique(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.exec("CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL UNIQUE, name TEXT)",
		"INSERT INTO users VALUES (1, 'a@x', 'ada')")
	sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "users", Table: "users", Key: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	up := func(id int64, email, name string) change.Change {
		return change.Change{Op: change.OpInsert, Table: "users", Key: change.Key{change.Int(id)},
			After: change.Row{"id": change.Int(id), "email": change.Text(email), "name": change.Text(name)}}
	}
	tx, err := sk.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	batch := []change.Change{up(2, "b@x", "bob"), up(1, "a@x", "ada2"), up(3, "a@x", "eve"), up(4, "d@x", "dan")}
	err = tx.Apply(ctx, batch)
	var ae *connector.ApplyError
	if !errors.As(err, &ae) || ae.Index != 2 || !ae.Permanent {
		t.Fatalf("apply = %v; want a permanent ApplyError at index 2", err)
	}
	if !strings.Contains(ae.Error(), "unique secondary key") {
		t.Errorf("error %q does not say what happened", ae)
	}
	if err := tx.Apply(ctx, batch[3:]); err != nil {
		t.Fatalf("apply after the ApplyError: %v", err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
		t.Fatal(err)
	}
	rows, err := e.store.(connector.Scanner).Scan(ctx, connector.ScanRequest{Table: "users", Key: []string{"id"}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r["id"].String()+":"+r["email"].String()+":"+r["name"].String())
	}
	if want := "1:a@x:ada2 2:b@x:bob 4:d@x:dan"; strings.Join(got, " ") != want {
		t.Errorf("rows = %v, want %s (row 1 must not be overwritten by row 3)", got, want)
	}
}
