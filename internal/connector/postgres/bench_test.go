package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/connector/postgres"
)

// benchDDL is the benchmark table of the issue: a bigint key and ten text,
// numeric and timestamptz columns.
const benchDDL = `CREATE TABLE %s (
	id bigint PRIMARY KEY, name text, email text, city text,
	amount numeric(12,2), balance numeric(18,4), score numeric(8,3),
	created timestamptz, updated timestamptz, status text, note text)`

// benchInsert fills table with rows generated server-side.
const benchInsert = `INSERT INTO %s SELECT g, 'name ' || g, 'user' || g || '@example.com', 'city ' || (g %% 97),
	(g %% 100000) / 100.0, g / 7.0, (g %% 1000) / 3.0,
	timestamptz '2024-01-01' + g * interval '1.000001 second', now(), 'active', repeat('n', 40)
	FROM generate_series(%d, %d) g`

var benchTime = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

func benchRow(id int64) change.Row {
	return change.Row{
		"id": change.Int(id), "name": change.Text(fmt.Sprintf("name %d", id)),
		"email": change.Text(fmt.Sprintf("user%d@example.com", id)), "city": change.Text(fmt.Sprintf("city %d", id%97)),
		"amount":  change.MustDecimal(fmt.Sprintf("%d.%02d", id%100000, id%100)),
		"balance": change.MustDecimal(fmt.Sprintf("%d.1234", id)), "score": change.MustDecimal("12.345"),
		"created": change.Timestamp(benchTime.Add(time.Duration(id) * time.Microsecond)),
		"updated": change.Timestamp(benchTime), "status": change.Text("active"), "note": change.Text("nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"),
	}
}

// BenchmarkSinkApply measures upserts per second for each strategy and
// batch size, one transaction per batch (new keys: inserts through ON
// CONFLICT). StrategyAuto is what sinks use.
func BenchmarkSinkApply(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	strategies := []struct {
		name string
		s    postgres.Strategy
	}{{"values", postgres.StrategyValues}, {"unnest", postgres.StrategyUnnest}, {"copy", postgres.StrategyCopy}, {"auto", postgres.StrategyAuto}}
	for _, size := range []int{100, 1000, 5000, 20000} {
		for _, st := range strategies {
			b.Run(fmt.Sprintf("%s/batch=%d", st.name, size), func(b *testing.B) {
				table := fmt.Sprintf("apply_%s_%d", st.name, size)
				e.exec("DROP TABLE IF EXISTS "+table, fmt.Sprintf(benchDDL, table))
				sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: table, Table: table})
				if err != nil {
					b.Fatal(err)
				}
				sk.(*postgres.Sink).SetStrategy(st.s)
				batches := make([][]change.Change, 4)
				next := int64(1)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					batch := batches[i%len(batches)][:0]
					for j := 0; j < size; j++ {
						batch = append(batch, change.Change{Op: change.OpInsert, Key: change.Key{change.Int(next)}, After: benchRow(next)})
						next++
					}
					batches[i%len(batches)] = batch
					b.StartTimer()
					tx, err := sk.Begin(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if err := tx.Apply(ctx, batch); err != nil {
						b.Fatal(err)
					}
					if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// BenchmarkSnapshot measures backfill reads: key-ordered chunks of a
// 100k-row table decoded into changes.
func BenchmarkSnapshot(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	const rows = 100_000
	e.exec(fmt.Sprintf(benchDDL, "snap"), fmt.Sprintf(benchInsert, "snap", 1, rows))
	e.exec("ANALYZE snap")
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: "snap", Table: "snap"})
	if err != nil {
		b.Fatal(err)
	}
	for _, chunk := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("chunk=%d", chunk), func(b *testing.B) {
			read := 0
			for i := 0; i < b.N; i++ {
				var after change.Key
				for {
					cs, err := src.Snapshot(ctx, after, chunk)
					if err != nil {
						b.Fatal(err)
					}
					read += len(cs)
					if len(cs) < chunk {
						break
					}
					after = cs[len(cs)-1].Key
				}
			}
			b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkStream measures logical capture: decoding one 100k-row
// transaction from the slot into changes (server-side decoding included).
func BenchmarkStream(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	const rows = 100_000
	e.exec(fmt.Sprintf(benchDDL, "stream"))
	src, from := logicalSource(ctx, b, e, "stream", "stream")
	e.exec(fmt.Sprintf(benchInsert, "stream", 1, rows))
	b.ResetTimer()
	read := 0
	for i := 0; i < b.N; i++ {
		st, err := src.Stream(ctx, from)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			bt, err := st.Next(ctx, 5000)
			if err != nil {
				b.Fatal(err)
			}
			n += len(bt.Changes)
			if n >= rows && bt.Position != nil {
				break
			}
		}
		st.Close()
		read += n
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "changes/s")
}
