package reconcile_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/reconcile"
)

// BenchmarkDiff: two SQLite files with 200k identical rows, then 100 rows
// drifted (changed, deleted, added) spread over the key space. It reports
// the diff's rows and bytes read from each side next to a full export of
// both sides (every row read and compared) measured in the same run.
//
//	go test ./internal/reconcile -run '^$' -bench BenchmarkDiff -benchtime 3x
func BenchmarkDiff(b *testing.B) {
	const n = 200_000
	p := newPair(b, custSchema, custSchema)
	seed := `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
		INSERT INTO cust SELECT i, 'name ' || i, i || '.25', '2026-01-02 03:04:05', i % 2, '{"a":' || i || '}', 'ab' FROM s`
	p.exec(p.from, seed, n)
	p.exec(p.to, seed, n)
	for i := 0; i < 100; i++ {
		id := 1 + i*(n/100)
		switch i % 3 {
		case 0:
			p.exec(p.to, `UPDATE cust SET bal = 0 WHERE id = ?`, id)
		case 1:
			p.exec(p.to, `DELETE FROM cust WHERE id = ?`, id)
		default:
			p.exec(p.to, `INSERT INTO cust (id, name) VALUES (?, 'extra')`, n+id)
		}
	}
	fp := p.plan("cust", "cust", "")
	var rep *reconcile.FlowReport
	b.ResetTimer()
	for b.Loop() {
		var err error
		rep, err = reconcile.Diff(b.Context(), fp, reconcile.Options{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := len(rep.Missing) + len(rep.Extra) + len(rep.Different); got != 100 {
		b.Fatalf("found %d drifted rows, want 100", got)
	}
	perOp := float64(b.Elapsed().Milliseconds()) / float64(b.N)
	b.ReportMetric(float64(rep.From.Bytes), "from_bytes")
	b.ReportMetric(float64(rep.To.Bytes), "to_bytes")
	b.ReportMetric(float64(rep.From.Rows+rep.To.Rows), "rows_read")
	b.ReportMetric(perOp, "diff_ms")

	// The baseline: export both sides in full and compare row by row.
	rows, bytes, ms := export(b, fp.From.(connector.Scanner), fp.To.(connector.Scanner))
	b.ReportMetric(float64(rows), "export_rows_read")
	b.ReportMetric(float64(bytes), "export_bytes")
	b.ReportMetric(ms, "export_ms")
}

// export reads both tables whole in key order and compares them by key,
// returning rows and bytes read and the time taken.
func export(b *testing.B, from, to connector.Scanner) (rows, bytes int64, ms float64) {
	t0 := time.Now()
	read := func(s connector.Scanner) map[string]string {
		out := map[string]string{}
		var after change.Key
		for {
			rs, err := s.Scan(b.Context(), connector.ScanRequest{Table: "cust", Key: []string{"id"}, After: after, Limit: 4096})
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rs {
				txt := fmt.Sprint(r)
				out[r["id"].String()] = txt
				rows++
				bytes += reconcile.RowBytes(r)
				after = change.Key{r["id"]}
			}
			if len(rs) < 4096 {
				return out
			}
		}
	}
	a, c := read(from), read(to)
	diff := 0
	for k, v := range a {
		if c[k] != v {
			diff++
		}
	}
	if diff == 0 {
		b.Fatal("export found no drift")
	}
	return rows, bytes, float64(time.Since(t0).Milliseconds())
}
