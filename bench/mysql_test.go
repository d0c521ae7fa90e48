package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/builtin"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// myTable is the 11-column table in MySQL types.
const myTable = `CREATE TABLE t (
  id BIGINT PRIMARY KEY, name TEXT NOT NULL, email TEXT, city CHAR(2), amount DECIMAL(14,2),
  qty INT, score DOUBLE, active TINYINT(1), note TEXT, created_at DATETIME(6), updated_at DATETIME(6))`

// myFill writes rows from..to in one transaction (MariaDB's sequence engine).
const myFill = `INSERT INTO t SELECT seq, CONCAT('name ', seq), CONCAT('u', seq, '@example.com'), 'NY',
  (seq %% 100000) / 100.0, seq %% 1000, seq / 7.0, seq %% 2 = 0, CONCAT('a longer note for row ', seq),
  UTC_TIMESTAMP(6) - INTERVAL seq SECOND, UTC_TIMESTAMP(6) FROM seq_%d_to_%d`

// myDB is one MariaDB database of a benchmark: its DSN, name and a pool.
type myDB struct {
	dsn, name string
	db        *sql.DB
}

func newMyDB(b *testing.B, srv *testenv.MariaDBServer) myDB {
	dsn := srv.NewDatabase(b)
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("mysql", dsn+"?time_zone=%27%2B00%3A00%27")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return myDB{dsn: dsn, name: cfg.DBName, db: db}
}

func (d myDB) exec(b *testing.B, q string, args ...any) {
	if _, err := d.db.Exec(q, args...); err != nil {
		b.Fatalf("%s: %v", q, err)
	}
}

// client is the mariadb command line for the server, as root.
func client(srv *testenv.MariaDBServer, tool string) string {
	return fmt.Sprintf("%s -h %s -P %d -u root", tool, srv.Host, srv.Port)
}

// planYAML builds a checked one-flow plan from a stores block.
func planYAML(b *testing.B, stores string, batch int) (*engine.Plan, state.Store, *observe.Metrics) {
	return planFlows(b, stores, fmt.Sprintf(
		"  - {name: t, from: {store: src, table: t}, to: {store: dst, table: t}, batch: {size: %d, linger: 100ms}}\n", batch))
}

// planFlows builds a checked plan from a stores block and a flows block.
func planFlows(b *testing.B, stores, flows string) (*engine.Plan, state.Store, *observe.Metrics) {
	dir := b.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "syncbridge.yaml"), []byte(fmt.Sprintf(`
state: ./state.db
stores:
%s
flows:
%s`, stores, flows)), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	reg, _ := connector.NewRegistry(builtin.Drivers()...)
	p, err := engine.Check(context.Background(), cfg, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	st, err := state.Open(context.Background(), cfg.State)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return p, st, observe.NewMetrics()
}

func shell(b *testing.B, what, script string) time.Duration {
	start := time.Now()
	if out, err := exec.Command("bash", "-c", "set -o pipefail; "+script).CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", what, err, out)
	}
	return time.Since(start)
}

func report(b *testing.B, n int, rawName string, raw, took time.Duration) {
	b.ReportMetric(float64(n)/raw.Seconds(), rawName+"-rows/s")
	b.ReportMetric(float64(n)/took.Seconds(), "syncbridge-rows/s")
	b.ReportMetric(raw.Seconds()/took.Seconds(), "ratio")
	b.Logf("%d rows: %s %v, syncbridge %v (ratio %.2f)", n, rawName, raw.Round(time.Millisecond), took.Round(time.Millisecond), raw.Seconds()/took.Seconds())
}

// BenchmarkMySQLToPostgresBackfill copies a table of SYNCBRIDGE_BENCH_ROWS
// rows (default 1M) from MariaDB to PostgreSQL, once with
// `mariadb --batch -e 'SELECT …' | psql -c "COPY t FROM STDIN"` (tab-separated
// text, no Go in the row path) and once with syncbridge, and reports both
// rates and their ratio.
//
//	go test ./bench -run '^$' -bench MySQLToPostgresBackfill -benchtime 1x -timeout 30m
func BenchmarkMySQLToPostgresBackfill(b *testing.B) {
	n := rows()
	srv, pg := testenv.MariaDB(b), testenv.Postgres(b)
	src := newMyDB(b, srv)
	src.exec(b, myTable)
	src.exec(b, fmt.Sprintf(myFill, 1, n))
	src.exec(b, "ANALYZE TABLE t")
	psql := pgBin(b, "psql")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pipeDst, dst := pg.NewDatabase(b), pg.NewDatabase(b)
		exec1(b, pipeDst, table)
		exec1(b, dst, table)
		raw := shell(b, "mariadb | psql COPY", fmt.Sprintf(
			`%s --batch --skip-column-names --quick %s -e "SELECT * FROM t" | %s -X -q "%s" -c "COPY t FROM STDIN"`,
			client(srv, "mariadb"), src.name, psql, pipeDst))
		p, st, m := planYAML(b, fmt.Sprintf("  src: {driver: mysql, dsn: %q, capture: binlog}\n  dst: {driver: postgres, dsn: %q}", src.dsn, dst), 5000)
		took := once(b, p, st, m)
		pgCount(b, pipeDst, n)
		pgCount(b, dst, n)
		report(b, n, "pipe", raw, took)
	}
}

// BenchmarkPostgresToMySQLBackfill copies a table of SYNCBRIDGE_BENCH_ROWS
// rows from PostgreSQL to MariaDB, next to two raw limits measured in the
// same run: `psql -c "COPY (…) TO STDOUT" | mariadb -e "LOAD DATA LOCAL
// INFILE '/dev/stdin' …"` from the same source, and MariaDB copying the
// result itself with `mariadb-dump --no-create-info --extended-insert db t
// | mariadb db2` (multi-row INSERTs; `--skip-extended-insert=false` would
// turn them off).
//
//	go test ./bench -run '^$' -bench PostgresToMySQLBackfill -benchtime 1x -timeout 30m
func BenchmarkPostgresToMySQLBackfill(b *testing.B) {
	n := rows()
	srv, pg := testenv.MariaDB(b), testenv.Postgres(b)
	src := pg.NewDatabase(b)
	exec1(b, src, table)
	exec1(b, src, fillSQL, 1, n)
	exec1(b, src, "VACUUM ANALYZE t")
	psql := pgBin(b, "psql")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loadDst, dumpDst, dst := newMyDB(b, srv), newMyDB(b, srv), newMyDB(b, srv)
		for _, d := range []myDB{loadDst, dumpDst, dst} {
			d.exec(b, myTable)
		}
		load := shell(b, "psql COPY | LOAD DATA", fmt.Sprintf(
			`PGTZ=UTC %s -X -q "%s" -c "COPY (SELECT id, name, email, city, amount, qty, score, active::int, note,
			   created_at::timestamp, updated_at::timestamp FROM t) TO STDOUT" |
			 %s --local-infile=1 %s -e "SET time_zone = '+00:00'; LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE t"`,
			psql, src, client(srv, "mariadb"), loadDst.name))
		p, st, m := planYAML(b, fmt.Sprintf("  src: {driver: postgres, dsn: %q, capture: logical}\n  dst: {driver: mysql, dsn: %q}", src, dst.dsn), 5000)
		took := once(b, p, st, m)
		dump := shell(b, "mariadb-dump | mariadb", fmt.Sprintf(`%s --no-create-info --extended-insert %s t | %s %s`,
			client(srv, "mariadb-dump"), dst.name, client(srv, "mariadb"), dumpDst.name))
		var got int
		dst.db.QueryRow("SELECT count(*) FROM t").Scan(&got)
		if got != n {
			b.Fatalf("syncbridge wrote %d rows, want %d", got, n)
		}
		report(b, n, "load-data", load, took)
		b.ReportMetric(float64(n)/dump.Seconds(), "dump-rows/s")
		b.Logf("%d rows: mariadb-dump | mariadb %v (ratio %.2f)", n, dump.Round(time.Millisecond), dump.Seconds()/took.Seconds())
	}
}

// BenchmarkBinlogCatchUp streams one 200k-row transaction from MariaDB to
// PostgreSQL: once decoded by `mariadb-binlog --read-from-remote-server
// --verbose` between the same binlog offsets, and once captured and applied
// by syncbridge, and reports both times and their ratio.
//
//	go test ./bench -run '^$' -bench BinlogCatchUp -benchtime 1x -timeout 30m
func BenchmarkBinlogCatchUp(b *testing.B) {
	const n = 200_000
	srv, pg := testenv.MariaDB(b), testenv.Postgres(b)
	for i := 0; i < b.N; i++ {
		src, dst := newMyDB(b, srv), pg.NewDatabase(b)
		src.exec(b, myTable)
		exec1(b, dst, table)
		p, st, m := planYAML(b, fmt.Sprintf("  src: {driver: mysql, dsn: %q, capture: binlog}\n  dst: {driver: postgres, dsn: %q}", src.dsn, dst), 5000)
		once(b, p, st, m)                // empty backfill: the checkpoint is at the binlog's end
		src.exec(b, "FLUSH BINARY LOGS") // a fresh file: the transaction must not straddle two
		file, start := masterStatus(b, src)
		src.exec(b, fmt.Sprintf(myFill, 1, n)) // one 200k-row transaction
		endFile, end := masterStatus(b, src)
		if endFile != file {
			b.Fatalf("the binlog rotated during the transaction (%s → %s)", file, endFile)
		}
		decode := shell(b, "mariadb-binlog", fmt.Sprintf(`%s --read-from-remote-server --verbose --start-position=%d --stop-position=%d %s > /dev/null`,
			client(srv, "mariadb-binlog"), start, end, file))
		took := once(b, p, st, m)
		pgCount(b, dst, n)
		b.ReportMetric(decode.Seconds(), "mariadb-binlog-s")
		b.ReportMetric(took.Seconds(), "syncbridge-s")
		b.ReportMetric(took.Seconds()/decode.Seconds(), "ratio")
		b.ReportMetric(n/took.Seconds(), "syncbridge-changes/s")
		b.Logf("200k-row transaction: mariadb-binlog -v %v, syncbridge capture+apply %v (%.2fx, %.0f changes/s)",
			decode.Round(time.Millisecond), took.Round(time.Millisecond), took.Seconds()/decode.Seconds(), n/took.Seconds())
	}
}

// pgCount fails unless the PostgreSQL table t holds n rows.
func pgCount(b *testing.B, dsn string, n int) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	var got int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&got); err != nil || got != n {
		b.Fatalf("target holds %d rows (%v), want %d", got, err, n)
	}
}

func masterStatus(b *testing.B, d myDB) (string, int64) {
	var file, pos string
	if err := d.db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, new(any), new(any)); err != nil {
		b.Fatal(err)
	}
	off, err := strconv.ParseInt(pos, 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return file, off
}
