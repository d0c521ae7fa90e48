package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/reconcile"
)

const pgCust = `CREATE TABLE cust (id bigint PRIMARY KEY, name text, bal numeric(12,2), ts timestamptz, ok boolean,
	doc jsonb, code char(4), f double precision)`

// seedCust fills cust with n identical rows on each database.
func seedCust(n int, dbs ...*pgDB) {
	for _, d := range dbs {
		d.exec(pgCust)
		d.exec(`INSERT INTO cust SELECT i, 'name ' || i, (i || '.25')::numeric, '2026-01-02 03:04:05+00'::timestamptz + i * interval '1 second',
			i % 2 = 0, jsonb_build_object('a', i, 'tags', jsonb_build_array('x', i % 7)), 'ab', i / 8.0
			FROM generate_series(1, $1) i`, n)
	}
}

// TestDiffPostgresFindsEveryKindExactly: between two PostgreSQL databases
// the diff bisects inside the databases, finds each drifted row with its
// columns, reads a small part of the tables, and repair converges.
func TestDiffPostgresFindsEveryKindExactly(t *testing.T) {
	from, to := newPG(t), newPG(t)
	seedCust(20000, from, to)
	to.exec(`DELETE FROM cust WHERE id IN (5, 17000)`)
	to.exec(`INSERT INTO cust (id, name) VALUES (30001, 'x'), (0, 'zero')`)
	to.exec(`UPDATE cust SET bal = 99 WHERE id = 7`)
	to.exec(`UPDATE cust SET name = NULL, doc = '{"a": 1}' WHERE id = 12999`)
	from.exec(`UPDATE cust SET name = '' WHERE id = 12998`)
	to.exec(`UPDATE cust SET name = NULL WHERE id = 12998`)
	to.exec(`UPDATE cust SET bal = 100.250, code = 'ab  ' WHERE id = 100`) // equal: scale and padding
	fp := pgPlan(t, from, to, "cust", "cust", "")
	rep, err := reconcile.Diff(t.Context(), fp, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rep.Missing, "id"); !slices.Equal(got, []int64{5, 17000}) {
		t.Errorf("missing = %v, want [5 17000]", got)
	}
	if got := ids(rep.Extra, "id"); !slices.Equal(got, []int64{0, 30001}) {
		t.Errorf("extra = %v, want [0 30001]", got)
	}
	if got := ids(rep.Different, "id"); !slices.Equal(got, []int64{7, 12998, 12999}) {
		t.Fatalf("different = %v, want [7 12998 12999]", got)
	}
	for i, want := range [][]string{{"bal"}, {"name"}, {"name", "doc"}} {
		if !slices.Equal(rep.Different[i].Columns, want) {
			t.Errorf("different[%d] columns = %v, want %v", i, rep.Different[i].Columns, want)
		}
	}
	if rep.From.Checksum != "database" || rep.To.Checksum != "database" {
		t.Errorf("checksum by %s / %s, want database on both", rep.From.Checksum, rep.To.Checksum)
	}
	if rep.From.Rows > 20000/5 || rep.To.Rows > 20000/5 {
		t.Errorf("read %d / %d rows of 20000: bisection should read a small part", rep.From.Rows, rep.To.Rows)
	}
	if rep.RowsCompared < 20000-2 {
		t.Errorf("rows compared = %d", rep.RowsCompared)
	}

	markBackfilled(t, fp)
	r := &reconcile.Runner{}
	rep, err = r.Run(t.Context(), fp, true, false)
	if err != nil || rep.Repair == nil || rep.Repair.Upserted != 5 || rep.Repair.Deleted != 2 || len(rep.Repair.Failed) > 0 {
		t.Fatalf("repair: %+v, %v", rep.Repair, err)
	}
	rep, err = reconcile.Diff(t.Context(), fp, reconcile.Options{})
	if err != nil || !rep.InSync {
		t.Fatalf("after repair: %+v, %v", rep, err)
	}
	if rep.From.Rows > 1024 || rep.From.Queries != 2 || rep.To.Rows != 0 || rep.To.Queries != 1 {
		t.Errorf("a flow in sync: read %d+%d rows in %d+%d queries, want split keys and one checksum query per side",
			rep.From.Rows, rep.To.Rows, rep.From.Queries, rep.To.Queries)
	}
}

func TestDiffPostgresEmptyAndOneSided(t *testing.T) {
	from, to := newPG(t), newPG(t)
	seedCust(0, from, to)
	fp := pgPlan(t, from, to, "cust", "cust", "")
	rep, err := reconcile.Diff(t.Context(), fp, reconcile.Options{})
	if err != nil || !rep.InSync {
		t.Fatalf("empty tables: %+v, %v", rep, err)
	}
	to.exec(`INSERT INTO cust (id) SELECT generate_series(1, 1000)`)
	rep, _ = reconcile.Diff(t.Context(), fp, reconcile.Options{Leaf: 16})
	if len(rep.Extra) != 1000 || len(rep.Missing)+len(rep.Different) != 0 {
		t.Errorf("from empty: %d extra, %d missing, %d different", len(rep.Extra), len(rep.Missing), len(rep.Different))
	}
	from.exec(`INSERT INTO cust (id) SELECT generate_series(1, 2000)`)
	to.exec(`DELETE FROM cust`)
	rep, _ = reconcile.Diff(t.Context(), fp, reconcile.Options{Leaf: 16})
	if len(rep.Missing) != 2000 || len(rep.Extra)+len(rep.Different) != 0 {
		t.Errorf("to empty: %d missing, %d extra, %d different", len(rep.Missing), len(rep.Extra), len(rep.Different))
	}
}

// TestDiffPostgresCompositeTextKeys: a composite key whose text part sorts
// differently on the two sides (C against a linguistic collation) compares
// equal when the data is, and finds drift exactly when it is not.
func TestDiffPostgresCompositeTextKeys(t *testing.T) {
	from, to := newPG(t), newPG(t)
	coll := linguisticCollation(t, to)
	from.exec(`CREATE TABLE kv (k text COLLATE "C", n int, v text, PRIMARY KEY (k, n))`)
	to.exec(`CREATE TABLE kv (k text COLLATE "` + coll + `", n int, v text, PRIMARY KEY (k, n))`)
	seed := `INSERT INTO kv SELECT (ARRAY['a', 'B', 'b', 'A', 'é', 'Z', 'a b', 'ab'])[1 + i % 8] || (i / 40), i % 40, 'v' || i
		FROM generate_series(0, 3999) i`
	from.exec(seed)
	to.exec(seed)
	fp := pgPlan(t, from, to, "kv", "kv", "")
	for _, leaf := range []int{4, 256} {
		rep, err := reconcile.Diff(t.Context(), fp, reconcile.Options{Leaf: leaf})
		if err != nil || !rep.InSync {
			t.Fatalf("leaf %d: equal data: %v; missing %v extra %v different %v", leaf, err, rep.Missing, rep.Extra, rep.Different)
		}
	}
	to.exec(`DELETE FROM kv WHERE k = 'B3' AND n = 1`)
	to.exec(`UPDATE kv SET v = 'changed' WHERE k = 'a b50' AND n = 6`)
	to.exec(`INSERT INTO kv VALUES ('Ab', 1, 'extra')`)
	rep, err := reconcile.Diff(t.Context(), fp, reconcile.Options{Leaf: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) != 1 {
		t.Errorf("notes = %q, want one saying the diff streamed", rep.Notes)
	}
	key := func(rs []reconcile.RowDiff) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s/%d", r.Key["k"], r.Key["n"]))
		}
		return out
	}
	if got := key(rep.Missing); !slices.Equal(got, []string{"B3/1"}) {
		t.Errorf("missing = %v", got)
	}
	if got := key(rep.Extra); !slices.Equal(got, []string{"Ab/1"}) {
		t.Errorf("extra = %v", got)
	}
	if got := key(rep.Different); !slices.Equal(got, []string{"a b50/6"}) || rep.Different[0].Columns[0] != "v" {
		t.Errorf("different = %v", rep.Different)
	}
}

// linguisticCollation returns a collation that orders "B" after "a", or
// skips the test when the cluster has none.
func linguisticCollation(t *testing.T, d *pgDB) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, name := range []string{"en-x-icu", "und-x-icu", "en_US.utf8", "en_US", "C.utf8"} {
		var before bool
		err := c.QueryRow(ctx, `SELECT 'a' < ('B' COLLATE "`+name+`")`).Scan(&before)
		if err == nil && before {
			return name
		}
	}
	t.Skip("no collation that orders 'a' before 'B' in this cluster")
	return ""
}

// TestDiffHeterogeneousPairsEqual: the same values in SQLite and in
// PostgreSQL compare equal in both directions, with PostgreSQL normalizing
// in SQL and SQLite in Go, and a change is still found.
func TestDiffHeterogeneousPairsEqual(t *testing.T) {
	pg := newPG(t)
	pg.exec(pgCust)
	pg.exec(`INSERT INTO cust VALUES
		(1, 'héllo | x', 1.5, '2026-01-02 01:04:05.123456+00', true, '{"a": [1, 2], "b": 2}', 'ab', 0.1),
		(2, '', 10, '2026-01-02 01:04:05+00', false, '[]', '', 1e15),
		(3, NULL, -0.5, NULL, NULL, NULL, NULL, NULL),
		(4, 'z', 0, '1999-12-31 23:59:59.999999+00', true, '{"k": "\u00e9", "n": 1.50}', 'abcd', -2.5e-7)`)
	lite := newPair(t, custLite, custLite)
	lite.exec(lite.to, `INSERT INTO cust VALUES
		(1, 'héllo | x', '1.50', '2026-01-02T03:04:05.123456+02:00', 1, '{"b":2,"a":[1,2]}', 'ab', 0.1),
		(2, '', '10.00', '2026-01-02 01:04:05', 0, '[ ]', '', 1e15),
		(3, NULL, '-0.50', NULL, NULL, NULL, NULL, NULL),
		(4, 'z', '0', '1999-12-31T23:59:59.999999Z', 1, '{"n":1.50,"k":"é"}', 'abcd', -2.5e-7)`)
	stores := "  a: {driver: postgres, dsn: \"" + pg.dsn + "\"}\n  b: {driver: sqlite, dsn: " + lite.dir + "/to.db, capture: trigger}\n"
	pgToLite := flowPlan(t, stores, "cust", "cust", "")
	storesBack := "  a: {driver: sqlite, dsn: " + lite.dir + "/to.db, capture: trigger}\n  b: {driver: postgres, dsn: \"" + pg.dsn + "\"}\n"
	liteToPG := flowPlan(t, storesBack, "cust", "cust", "")
	for _, c := range []struct {
		name string
		fp   *engine.FlowPlan
		by   string // which side checksums in the database
	}{{"postgres to sqlite", pgToLite, "from"}, {"sqlite to postgres", liteToPG, "to"}} {
		rep, err := reconcile.Diff(t.Context(), c.fp, reconcile.Options{Leaf: 2})
		if err != nil || !rep.InSync {
			t.Fatalf("%s: equal data: %v; missing %v extra %v different %v", c.name, err, rep.Missing, rep.Extra, rep.Different)
		}
		if by := map[string]string{"from": rep.From.Checksum, "to": rep.To.Checksum}[c.by]; by != "database" {
			t.Errorf("%s: the %s side checksummed by %s, want database", c.name, c.by, by)
		}
	}
	lite.exec(lite.to, `UPDATE cust SET ts = '2026-01-02 01:04:05.000001' WHERE id = 2`)
	rep, err := reconcile.Diff(t.Context(), liteToPG, reconcile.Options{Leaf: 2})
	if err != nil || len(rep.Different) != 1 || rep.Different[0].Key["id"] != int64(2) || rep.Different[0].Columns[0] != "ts" {
		t.Fatalf("one microsecond apart: %+v, %v", rep, err)
	}
}

const custLite = `CREATE TABLE cust (id INTEGER PRIMARY KEY, name TEXT, bal DECIMAL(12,2), ts DATETIME, ok BOOLEAN,
	doc JSON, code CHAR(4), f REAL);`

// markBackfilled commits a checkpoint through the flow's sink, as a flow
// that has run once has: repair needs one.
func markBackfilled(t *testing.T, fp *engine.FlowPlan) {
	t.Helper()
	ctx := t.Context()
	sink, err := fp.To.Sink(ctx, fp.Sink)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	tx, err := sink.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx, connector.Checkpoint{Flow: fp.Cfg.Name, Phase: connector.PhaseStream}); err != nil {
		t.Fatal(err)
	}
}
