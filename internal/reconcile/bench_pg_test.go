package reconcile_test

import (
	"context"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/reconcile"
)

// BenchmarkDiffPostgres: two PostgreSQL databases with
// SYNCBRIDGE_BENCH_ROWS (default 1,000,000) identical rows, then 100 rows
// drifted (changed, deleted, added) spread over the key space. It reports
// the diff's time and the rows and bytes it read from each store, next to
// two baselines measured in the same run on the same tables:
//
//   - export: both tables read whole through the driver in key order and
//     compared row by row (what a diff without checksums costs), bytes
//     counted the way the diff counts its own;
//
//   - copy: COPY ... TO STDOUT of both tables, raw bytes on the wire (the
//     least any export can read).
//
//     go test ./internal/reconcile -run '^$' -bench BenchmarkDiffPostgres -benchtime 3x
//     SYNCBRIDGE_BENCH_ROWS=10000000 go test ./internal/reconcile -run '^$' -bench BenchmarkDiffPostgres -benchtime 1x -timeout 2h
func BenchmarkDiffPostgres(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("SYNCBRIDGE_BENCH_ROWS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1000 {
			b.Fatalf("SYNCBRIDGE_BENCH_ROWS=%q: want a number of at least 1000", s)
		}
	}
	from, to := newPG(b), newPG(b)
	seedCust(n, from, to)
	for i := range 100 {
		id := 1 + i*(n/100) + i
		switch i % 3 {
		case 0:
			to.exec(`UPDATE cust SET bal = 0 WHERE id = $1`, id)
		case 1:
			to.exec(`DELETE FROM cust WHERE id = $1`, id)
		default:
			to.exec(`INSERT INTO cust (id, name) VALUES ($1, 'extra')`, n+id)
		}
	}
	from.exec(`VACUUM ANALYZE cust`)
	to.exec(`VACUUM ANALYZE cust`)
	fp := pgPlan(b, from, to, "cust", "cust", "")
	var rep *reconcile.FlowReport
	for b.Loop() {
		var err error
		if rep, err = reconcile.Diff(b.Context(), fp, reconcile.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	if got := len(rep.Missing) + len(rep.Extra) + len(rep.Different); got != 100 {
		b.Fatalf("found %d drifted rows, want 100", got)
	}
	diffMS := float64(b.Elapsed().Milliseconds()) / float64(b.N)
	b.StopTimer()
	ex := exportCompare(b, fp)
	copyBytes, copyMS := copyOut(b, from.dsn, to.dsn)
	b.ReportMetric(diffMS, "diff_ms")
	b.ReportMetric(float64(rep.From.Bytes), "from_bytes")
	b.ReportMetric(float64(rep.To.Bytes), "to_bytes")
	b.ReportMetric(float64(rep.From.Rows+rep.To.Rows), "rows_read")
	b.ReportMetric(float64(rep.From.Queries+rep.To.Queries), "queries")
	b.ReportMetric(ex.ms, "export_ms")
	b.ReportMetric(float64(ex.bytes), "export_bytes")
	b.ReportMetric(float64(ex.rows), "export_rows_read")
	b.ReportMetric(copyMS, "copy_ms")
	b.ReportMetric(float64(copyBytes), "copy_bytes")
	b.ReportMetric(100*float64(rep.From.Bytes+rep.To.Bytes)/float64(ex.bytes), "bytes_%_of_export")
}

type exportStats struct {
	rows, bytes int64
	ms          float64
}

// exportCompare reads both tables whole in key order, a page at a time, and
// compares them row by row in a merge: the diff a tool without checksums
// does. Bytes are counted as the diff counts its own.
func exportCompare(b *testing.B, fp *engine.FlowPlan) exportStats {
	t0 := time.Now()
	var st exportStats
	key := fp.Key
	type cursor struct {
		s     connector.Scanner
		rows  []change.Row
		after change.Key
		done  bool
	}
	next := func(c *cursor) (change.Row, bool) {
		if len(c.rows) == 0 && !c.done {
			rs, err := c.s.Scan(b.Context(), connector.ScanRequest{Table: "cust", Key: key, After: c.after, Limit: 4096})
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rs {
				st.rows++
				st.bytes += reconcile.RowBytes(r)
			}
			c.rows, c.done = rs, len(rs) < 4096
			if len(rs) > 0 {
				c.after, _ = change.KeyOf(rs[len(rs)-1], key)
			}
		}
		if len(c.rows) == 0 {
			return nil, false
		}
		r := c.rows[0]
		c.rows = c.rows[1:]
		return r, true
	}
	f, t := &cursor{s: fp.From.(connector.Scanner)}, &cursor{s: fp.To.(connector.Scanner)}
	fr, fok := next(f)
	tr, tok := next(t)
	diff := 0
	for fok || tok {
		c := 0
		switch {
		case !fok:
			c = 1
		case !tok:
			c = -1
		default:
			fk, _ := change.KeyOf(fr, key)
			tk, _ := change.KeyOf(tr, key)
			c = fk.Compare(tk)
		}
		if c != 0 || !sameRow(fr, tr) {
			diff++
		}
		if c <= 0 {
			fr, fok = next(f)
		}
		if c >= 0 {
			tr, tok = next(t)
		}
	}
	if diff != 100 {
		b.Fatalf("export found %d drifted rows, want 100", diff)
	}
	st.ms = float64(time.Since(t0).Milliseconds())
	return st
}

func sameRow(a, b change.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !change.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// copyOut runs COPY ... TO STDOUT on each database and returns the bytes
// received and the time taken.
func copyOut(b *testing.B, dsns ...string) (int64, float64) {
	ctx := context.Background()
	t0 := time.Now()
	var total int64
	for _, dsn := range dsns {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		w := &countWriter{}
		if _, err := c.PgConn().CopyTo(ctx, w, `COPY (SELECT * FROM cust ORDER BY id) TO STDOUT`); err != nil {
			b.Fatal(err)
		}
		c.Close(ctx)
		total += w.n
	}
	return total, float64(time.Since(t0).Milliseconds())
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
