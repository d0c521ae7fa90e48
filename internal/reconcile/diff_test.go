package reconcile_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/reconcile"
)

const custSchema = `CREATE TABLE cust (id INTEGER PRIMARY KEY, name TEXT, bal DECIMAL(12,2), ts DATETIME, ok BOOLEAN, doc JSON, code CHAR(4));`

func ids(rs []reconcile.RowDiff, col string) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.Key[col].(int64))
	}
	return out
}

func fill(p *pair, n int) {
	tx, _ := p.from.Begin()
	tx2, _ := p.to.Begin()
	for i := 1; i <= n; i++ {
		q := `INSERT INTO cust VALUES (?, ?, ?, '2026-01-02 03:04:05', 1, '{"a":1}', 'ab')`
		tx.Exec(q, i, fmt.Sprintf("n%d", i), fmt.Sprintf("%d.50", i))
		tx2.Exec(q, i, fmt.Sprintf("n%d", i), fmt.Sprintf("%d.50", i))
	}
	tx.Commit()
	tx2.Commit()
}

func TestDiffFindsEveryKindExactly(t *testing.T) {
	p := newPair(t, custSchema, custSchema)
	fill(p, 3000)
	p.exec(p.to, `DELETE FROM cust WHERE id IN (5, 1700)`)
	p.exec(p.to, `INSERT INTO cust (id, name) VALUES (9001, 'x'), (0, 'zero')`)
	p.exec(p.to, `UPDATE cust SET bal = 99 WHERE id = 7`)
	p.exec(p.to, `UPDATE cust SET name = NULL WHERE id = 2999`)
	p.exec(p.from, `UPDATE cust SET name = '' WHERE id = 2998`)
	p.exec(p.to, `UPDATE cust SET name = NULL WHERE id = 2998`)
	fp := p.plan("cust", "cust", "")
	rep, err := reconcile.Diff(t.Context(), fp, reconcile.Options{Leaf: 64, Page: 512})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rep.Missing, "id"); !slices.Equal(got, []int64{5, 1700}) {
		t.Errorf("missing = %v, want [5 1700]", got)
	}
	if got := ids(rep.Extra, "id"); !slices.Equal(got, []int64{0, 9001}) {
		t.Errorf("extra = %v, want [0 9001]", got)
	}
	if got := ids(rep.Different, "id"); !slices.Equal(got, []int64{7, 2998, 2999}) {
		t.Errorf("different = %v, want [7 2998 2999]", got)
	}
	if len(rep.Different) == 3 && (!slices.Equal(rep.Different[0].Columns, []string{"bal"}) || !slices.Equal(rep.Different[1].Columns, []string{"name"})) {
		t.Errorf("different columns = %+v", rep.Different)
	}
	if rep.InSync || rep.RowsCompared < 2990 {
		t.Errorf("in_sync %v rows_compared %d", rep.InSync, rep.RowsCompared)
	}
}

func TestDiffEmptyAndOneSided(t *testing.T) {
	p := newPair(t, custSchema, custSchema)
	fp := p.plan("cust", "cust", "")
	rep, err := reconcile.Diff(t.Context(), fp, reconcile.Options{})
	if err != nil || !rep.InSync {
		t.Fatalf("empty tables: %+v, %v", rep, err)
	}
	p.exec(p.from, `INSERT INTO cust (id) VALUES (1), (2), (3)`)
	rep, _ = reconcile.Diff(t.Context(), fp, reconcile.Options{Leaf: 2})
	if got := ids(rep.Missing, "id"); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("to empty: missing = %v", got)
	}
	p.exec(p.from, `DELETE FROM cust`)
	p.exec(p.to, `INSERT INTO cust (id) VALUES (1), (2), (3)`)
	rep, _ = reconcile.Diff(t.Context(), fp, reconcile.Options{Leaf: 2})
	if got := ids(rep.Extra, "id"); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("from empty: extra = %v", got)
	}
}

// TestDiffTypeMatrix: the same values in differently declared columns and
// text forms compare equal.
func TestDiffTypeMatrix(t *testing.T) {
	p := newPair(t,
		`CREATE TABLE t (k TEXT, n INTEGER, d DECIMAL(10,2), ts TEXT, b INTEGER, j TEXT, c CHAR(6), PRIMARY KEY (k, n));`,
		`CREATE TABLE t (k TEXT, n INTEGER, d NUMERIC(12,4), ts DATETIME, b BOOLEAN, j JSON, c TEXT, PRIMARY KEY (k, n));`)
	p.exec(p.from, `INSERT INTO t VALUES ('a', 1, '1.50', '2026-01-02T03:04:05.123456+02:00', 1, '{"b":2,"a":1}', 'xy    '),
		('B', 2, '10', '2026-01-02 01:04:05', 0, '[1, 2]', 'z'), ('a', 2, NULL, NULL, NULL, NULL, '')`)
	p.exec(p.to, `INSERT INTO t VALUES ('a', 1, '1.5000', '2026-01-02 01:04:05.123456', 1, '{"a": 1, "b": 2}', 'xy'),
		('B', 2, '10.00', '2026-01-02T01:04:05Z', 0, '[1,2]', 'z'), ('a', 2, NULL, NULL, NULL, NULL, '')`)
	fp := p.plan("t", "t", "")
	rep, err := reconcile.Diff(t.Context(), fp, reconcile.Options{Leaf: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.InSync {
		t.Fatalf("equal data reported as drift: missing %v extra %v different %v", rep.Missing, rep.Extra, rep.Different)
	}
	p.exec(p.to, `UPDATE t SET c = NULL WHERE k = 'a' AND n = 2`)
	rep, _ = reconcile.Diff(t.Context(), fp, reconcile.Options{Leaf: 1})
	if len(rep.Different) != 1 || rep.Different[0].Key["k"] != "a" || rep.Different[0].Key["n"] != int64(2) {
		t.Fatalf("'' vs NULL in a composite text key row: different = %+v", rep.Different)
	}
}

// TestDiffRecheckExcludesMovingRows: a row that changes between the first
// look and the re-check is in flight, not drift; a stable difference stays.
func TestDiffRecheckExcludesMovingRows(t *testing.T) {
	p := newPair(t, custSchema, custSchema)
	fill(p, 100)
	p.exec(p.to, `UPDATE cust SET name = 'old' WHERE id IN (10, 20)`)
	fp := p.plan("cust", "cust", "")
	opts := reconcile.Options{Leaf: 16, Page: 64, Recheck: 50 * time.Millisecond}
	opts.Progress = func(done, total int64) {
		if done >= 100 { // the pass is over: the flow now applies id 10
			p.exec(p.to, `UPDATE cust SET name = 'n10' WHERE id = 10`)
		}
	}
	rep, err := reconcile.Diff(t.Context(), fp, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rep.Different, "id"); !slices.Equal(got, []int64{20}) {
		t.Errorf("different = %v, want [20]", got)
	}
	if got := ids(rep.Moving, "id"); !slices.Equal(got, []int64{10}) {
		t.Errorf("moving = %v, want [10]", got)
	}
}

// TestDiffMappedFlow: expressions and renames are applied before hashing.
func TestDiffMappedFlow(t *testing.T) {
	p := newPair(t, `CREATE TABLE src (ID INTEGER PRIMARY KEY, NM TEXT, EM TEXT);`,
		`CREATE TABLE dst (id INTEGER PRIMARY KEY, name TEXT, email TEXT);`)
	p.exec(p.from, `INSERT INTO src VALUES (1, 'A', 'X@Y.COM'), (2, 'B', 'Q@R.COM')`)
	p.exec(p.to, `INSERT INTO dst VALUES (1, 'A', 'x@y.com'), (2, 'B', 'Q@R.COM')`)
	fp := p.plan("src", "dst", "    key: [ID]\n    columns: {id: ID, name: NM, email: lower(EM)}")
	rep, err := reconcile.Diff(t.Context(), fp, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Different) != 1 || rep.Different[0].Key["id"] != int64(2) || rep.Different[0].Columns[0] != "email" || len(rep.Missing)+len(rep.Extra) != 0 {
		t.Fatalf("report = %+v", rep)
	}
}
