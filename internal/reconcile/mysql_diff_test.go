package reconcile_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/mysql"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
	"github.com/syncbridge/syncbridge/internal/connector/sqlite"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/reconcile"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// myDB is one throw-away MariaDB database.
type myDB struct {
	t   testing.TB
	dsn string
	db  *sql.DB
}

func newMy(t testing.TB) *myDB {
	t.Helper()
	dsn := testenv.MariaDB(t).NewDatabase(t)
	db, err := sql.Open("mysql", dsn+"?time_zone=%27%2B00%3A00%27")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &myDB{t: t, dsn: dsn, db: db}
}

func (d *myDB) exec(stmts ...string) {
	d.t.Helper()
	for _, s := range stmts {
		if _, err := d.db.Exec(s); err != nil {
			d.t.Fatalf("%s: %v", s, err)
		}
	}
}

const myCust = `CREATE TABLE cust (id BIGINT PRIMARY KEY, name TEXT, bal DECIMAL(12,2), ts DATETIME(6), ok TINYINT(1),
	code CHAR(4), note VARCHAR(100))`

// seedMyCust fills cust with n identical rows on each database.
func seedMyCust(n int, dbs ...*myDB) {
	for _, d := range dbs {
		d.exec(myCust, fmt.Sprintf(`INSERT INTO cust SELECT seq, CONCAT('name ', seq), seq + 0.25,
			'2026-01-02 03:04:05' + INTERVAL seq SECOND, seq MOD 2, 'ab', IF(seq MOD 3 = 0, NULL, 'a|b\\c')
			FROM seq_1_to_%d`, n))
	}
}

// myPlan checks a flow f from a:cust to b:cust between two MariaDB databases.
func myPlan(t testing.TB, from, to *myDB) *engine.FlowPlan {
	t.Helper()
	dir := t.TempDir()
	cfg := "state: " + filepath.Join(dir, "state.db") + "\nhttp: {listen: \"off\"}\nstores:\n" +
		"  a: {driver: mysql, dsn: \"" + from.dsn + "\", capture: binlog}\n  b: {driver: mysql, dsn: \"" + to.dsn + "\"}\n" +
		"flows:\n  - name: f\n    from: {store: a, table: cust}\n    to:   {store: b, table: cust}\n"
	path := filepath.Join(dir, "syncbridge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := connector.NewRegistry(sqlite.Driver{}, postgres.Driver{}, mysql.Driver{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Check(context.Background(), c, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plan.Close)
	fp, _ := plan.Flow("f")
	return fp
}

// streamingOnly hides a store's in-database checksum: the diff streams its
// rows and hashes them in Go, as before MySQL had one.
type streamingOnly struct {
	connector.Store
	connector.Scanner
	connector.RowReader
}

func withoutChecksums(fp *engine.FlowPlan) *engine.FlowPlan {
	c := *fp
	for _, st := range []*connector.Store{&c.From, &c.To} {
		rr, _ := (*st).(connector.RowReader)
		*st = streamingOnly{Store: *st, Scanner: (*st).(connector.Scanner), RowReader: rr}
	}
	return &c
}

// TestDiffMySQLInDatabase: between two MariaDB databases the diff bisects
// inside the databases (both stores are Segmenters), finds nothing on equal
// tables, finds each injected difference with its columns, and agrees
// with the streaming diff.
func TestDiffMySQLInDatabase(t *testing.T) {
	from, to := newMy(t), newMy(t)
	const n = 20000
	seedMyCust(n, from, to)
	fp := myPlan(t, from, to)
	rep, err := reconcile.Diff(t.Context(), fp, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.InSync || rep.From.Checksum != "database" || rep.To.Checksum != "database" {
		t.Fatalf("equal tables: in sync %v, checksum by %s / %s (want database on both)", rep.InSync, rep.From.Checksum, rep.To.Checksum)
	}
	if rep.From.Rows > 1023 || rep.To.Rows > 0 || rep.From.Queries+rep.To.Queries > 3 {
		t.Errorf("equal tables: read %d / %d rows in %d / %d queries; want only the split keys, in 3 queries",
			rep.From.Rows, rep.To.Rows, rep.From.Queries, rep.To.Queries)
	}

	to.exec(`DELETE FROM cust WHERE id IN (5, 17000)`,
		`INSERT INTO cust (id, name) VALUES (30001, 'x'), (0, 'zero')`,
		`UPDATE cust SET bal = 99 WHERE id = 7`,
		`UPDATE cust SET name = NULL, ts = '2020-01-01' WHERE id = 12999`,
		`UPDATE cust SET note = 'a|b\\c ' WHERE id = 12998`,
		`UPDATE cust SET bal = 100.250, code = 'ab  ' WHERE id = 100`) // equal: scale and padding
	for _, tc := range []struct {
		name string
		fp   *engine.FlowPlan
		by   string
	}{{"in-database", fp, "database"}, {"streaming", withoutChecksums(fp), "streaming"}} {
		start := time.Now()
		rep, err := reconcile.Diff(t.Context(), tc.fp, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v, rows read %d / %d, queries %d / %d", tc.name, time.Since(start).Round(time.Millisecond),
			rep.From.Rows, rep.To.Rows, rep.From.Queries, rep.To.Queries)
		if rep.From.Checksum != tc.by || rep.To.Checksum != tc.by {
			t.Errorf("%s: checksum by %s / %s, want %s", tc.name, rep.From.Checksum, rep.To.Checksum, tc.by)
		}
		if got := myIDs(rep.Missing); !slices.Equal(got, []int64{5, 17000}) {
			t.Errorf("%s: missing = %v, want [5 17000]", tc.name, got)
		}
		if got := myIDs(rep.Extra); !slices.Equal(got, []int64{0, 30001}) {
			t.Errorf("%s: extra = %v, want [0 30001]", tc.name, got)
		}
		if got := myIDs(rep.Different); !slices.Equal(got, []int64{7, 12998, 12999}) {
			t.Fatalf("%s: different = %v, want [7 12998 12999]", tc.name, got)
		}
		for i, want := range [][]string{{"bal"}, {"note"}, {"name", "ts"}} {
			if !slices.Equal(rep.Different[i].Columns, want) {
				t.Errorf("%s: different[%d] columns = %v, want %v", tc.name, i, rep.Different[i].Columns, want)
			}
		}
		if tc.by == "database" && (rep.From.Rows > n/5 || rep.To.Rows > n/5) {
			t.Errorf("read %d / %d rows of %d: bisection should read a small part", rep.From.Rows, rep.To.Rows, n)
		}
	}
}

func myIDs(rs []reconcile.RowDiff) []int64 {
	var out []int64
	for _, r := range rs {
		switch v := r.Key["id"].(type) {
		case int64:
			out = append(out, v)
		case string:
			i, _ := strconv.ParseInt(v, 10, 64)
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// BenchmarkDiffMySQL diffs two equal MariaDB tables of
// SYNCBRIDGE_BENCH_ROWS rows (default 200,000) with one drifted row, with
// in-database checksums and with streaming (rows read and hashed in Go).
//
//	go test ./internal/reconcile -run '^$' -bench DiffMySQL -benchtime 1x
func BenchmarkDiffMySQL(b *testing.B) {
	n := 200_000
	if s := os.Getenv("SYNCBRIDGE_BENCH_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	from, to := newMy(b), newMy(b)
	seedMyCust(n, from, to)
	to.exec(`UPDATE cust SET bal = 1 WHERE id = 777`)
	fp := myPlan(b, from, to)
	for _, tc := range []struct {
		name string
		fp   *engine.FlowPlan
	}{{"database", fp}, {"streaming", withoutChecksums(fp)}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				rep, err := reconcile.Diff(b.Context(), tc.fp, reconcile.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if got := myIDs(rep.Different); !slices.Equal(got, []int64{777}) {
					b.Fatalf("different = %v, want [777]", got)
				}
				b.ReportMetric(float64(rep.From.Bytes+rep.To.Bytes), "bytes-read")
				b.ReportMetric(float64(rep.From.Rows+rep.To.Rows), "rows-read")
			}
		})
	}
}
