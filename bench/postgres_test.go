package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/builtin"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// The 11-column table of the issue: bigint key, text, numeric, timestamptz.
const table = `CREATE TABLE t (
  id bigint PRIMARY KEY, name text NOT NULL, email text, city char(2), amount numeric(14,2),
  qty integer, score double precision, active boolean, note text, created_at timestamptz, updated_at timestamptz)`

const fillSQL = `INSERT INTO t SELECT g, 'name ' || g, 'u' || g || '@example.com', 'NY', (g % 100000) / 100.0,
  g % 1000, g / 7.0, g % 2 = 0, 'a longer note for row ' || g, now() - (g || ' seconds')::interval, now()
  FROM generate_series($1::bigint, $2::bigint) g`

func rows() int {
	if s := os.Getenv("SYNCBRIDGE_BENCH_ROWS"); s != "" {
		n, _ := strconv.Atoi(s)
		return n
	}
	return 1_000_000
}

func pgBin(b *testing.B, name string) string {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) == 0 {
		b.Skipf("%s not found: apt-get install postgresql", name)
	}
	sort.Strings(m)
	return m[len(m)-1]
}

func exec1(b *testing.B, dsn, q string, args ...any) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, q, args...); err != nil {
		b.Fatalf("%s: %v", q, err)
	}
}

// plan builds a checked one-flow plan src.t -> dst.t.
func plan(b *testing.B, dir, src, dst string, batch int) (*engine.Plan, state.Store, *observe.Metrics) {
	cfg, err := config.Parse(filepath.Join(dir, "syncbridge.yaml"), []byte(fmt.Sprintf(`
state: ./state.db
stores:
  src: {driver: postgres, dsn: %q, capture: logical}
  dst: {driver: postgres, dsn: %q}
flows:
  - {name: t, from: {store: src, table: t}, to: {store: dst, table: t}, batch: {size: %d, linger: 100ms}}
`, src, dst, batch)), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	reg, _ := connector.NewRegistry(builtin.Drivers()...)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := engine.Check(context.Background(), cfg, reg, log)
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

// sameTable fails the benchmark unless table t holds the same rows in both
// databases: a run that stops early must not pass for a fast one.
func sameTable(b *testing.B, src, dst string) {
	ctx := context.Background()
	sum := func(dsn string) (n int64, digest string) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		err = c.QueryRow(ctx, "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY id)), '') FROM t").Scan(&n, &digest)
		if err != nil {
			b.Fatal(err)
		}
		return n, digest
	}
	sn, sd := sum(src)
	dn, dd := sum(dst)
	if sn != dn || sd != dd {
		b.Fatalf("target differs from source: %d rows (md5 %s) vs %d rows (md5 %s)", dn, dd, sn, sd)
	}
}

func once(b *testing.B, p *engine.Plan, st state.Store, m *observe.Metrics) time.Duration {
	took, _ := onceCPU(b, p, st, m)
	return took
}

// onceCPU is once, also returning the CPU time (user and system) the
// process spent meanwhile: syncbridge's own share of the work, which the
// wall time of a busy shared machine hides.
func onceCPU(b *testing.B, p *engine.Plan, st state.Store, m *observe.Metrics) (time.Duration, time.Duration) {
	cpu0 := cpuTime()
	start := time.Now()
	eng := engine.New(p, st, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := eng.Run(context.Background(), engine.RunOptions{Once: true}); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), cpuTime() - cpu0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPostgresBackfill copies a table of SYNCBRIDGE_BENCH_ROWS rows
// (default 1M) between two databases of one throw-away cluster, once with
// `psql -c 'COPY t TO STDOUT' | psql -c 'COPY t FROM STDIN'` and once with
// syncbridge, and reports both rates and their ratio.
//
//	go test ./bench -run '^$' -bench PostgresBackfill -benchtime 1x -timeout 30m
func BenchmarkPostgresBackfill(b *testing.B) {
	n := rows()
	pg := testenv.Postgres(b)
	src := pg.NewDatabase(b)
	exec1(b, src, table)
	exec1(b, src, fillSQL, 1, n)
	exec1(b, src, "VACUUM ANALYZE t")
	psql := pgBin(b, "psql")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pipeDst, dst := pg.NewDatabase(b), pg.NewDatabase(b)
		exec1(b, pipeDst, table)
		exec1(b, dst, table)
		b.StartTimer()
		start := time.Now()
		pipe := exec.Command("bash", "-c", fmt.Sprintf(`set -o pipefail; %s -X -q "%s" -c "COPY t TO STDOUT" | %s -X -q "%s" -c "COPY t FROM STDIN"`,
			psql, src, psql, pipeDst))
		if out, err := pipe.CombinedOutput(); err != nil {
			b.Fatalf("copy pipe: %v\n%s", err, out)
		}
		pipeTook := time.Since(start)

		p, st, m := plan(b, b.TempDir(), src, dst, 5000)
		took := once(b, p, st, m)
		b.StopTimer()
		sameTable(b, src, dst)
		b.StartTimer()
		b.ReportMetric(float64(n)/pipeTook.Seconds(), "pipe-rows/s")
		b.ReportMetric(float64(n)/took.Seconds(), "syncbridge-rows/s")
		b.ReportMetric(pipeTook.Seconds()/took.Seconds(), "ratio")
		b.Logf("%d rows: COPY pipe %v, syncbridge %v (ratio %.2f)", n, pipeTook.Round(time.Millisecond), took.Round(time.Millisecond), pipeTook.Seconds()/took.Seconds())
	}
}

// BenchmarkPostgresCatchUp streams a 200k-row transaction followed by 20k
// single-row transactions, once decoded by pg_recvlogical from a slot of its
// own (created at the same point) and once captured and applied by
// syncbridge, and reports both times and their ratio.
//
//	go test ./bench -run '^$' -bench PostgresCatchUp -benchtime 1x -timeout 30m
func BenchmarkPostgresCatchUp(b *testing.B) {
	pg := testenv.Postgres(b)
	for i := 0; i < b.N; i++ {
		src, dst := pg.NewDatabase(b), pg.NewDatabase(b)
		exec1(b, src, table)
		exec1(b, dst, table)
		p, st, m := plan(b, b.TempDir(), src, dst, 5000)
		once(b, p, st, m) // empty backfill: slot and publication exist
		exec1(b, src, "CREATE PUBLICATION bench_pub FOR TABLE t")
		exec1(b, src, "SELECT pg_create_logical_replication_slot('bench_slot', 'pgoutput')")

		exec1(b, src, fillSQL, 1, 200_000) // one 200k-row transaction
		ctx := context.Background()
		c, err := pgx.Connect(ctx, src)
		if err != nil {
			b.Fatal(err)
		}
		for k := 0; k < 20_000; k++ {
			if _, err := c.Exec(ctx, `UPDATE t SET qty = qty + 1, updated_at = now() WHERE id = $1`, 1+k*7%200_000); err != nil {
				b.Fatal(err)
			}
		}
		var end string
		c.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&end)
		c.Close(ctx)

		start := time.Now()
		rl := exec.Command(pgBin(b, "pg_recvlogical"), "-d", src, "--slot", "bench_slot", "--start", "--endpos", end,
			"-o", "proto_version=1", "-o", "publication_names=bench_pub", "-f", "/dev/null", "--no-loop")
		if out, err := rl.CombinedOutput(); err != nil {
			b.Fatalf("pg_recvlogical: %v\n%s", err, out)
		}
		decode := time.Since(start)
		took, cpu := onceCPU(b, p, st, m)
		b.StopTimer()
		sameTable(b, src, dst)
		b.StartTimer()
		b.ReportMetric(cpu.Seconds(), "syncbridge-cpu-s")
		// Slots are per cluster: the next iteration's flow of the same name
		// must not find this one's.
		exec1(b, src, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('bench_slot', 'syncbridge_t')")
		b.ReportMetric(decode.Seconds(), "pg_recvlogical-s")
		b.ReportMetric(took.Seconds(), "syncbridge-s")
		b.ReportMetric(took.Seconds()/decode.Seconds(), "ratio")
		b.Logf("220k changes: pg_recvlogical %v, syncbridge capture+apply %v (%.2fx), syncbridge CPU %v", decode.Round(time.Millisecond),
			took.Round(time.Millisecond), took.Seconds()/decode.Seconds(), cpu.Round(time.Millisecond))
	}
}
