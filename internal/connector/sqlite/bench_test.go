package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// BenchmarkSinkApply applies 1000-row batches of upserts (a mix of inserts
// and updates of 6-column rows) per transaction, grouped into multi-row
// statements and one statement per row.
//
//	go test ./internal/connector/sqlite -run '^$' -bench . -benchtime 20x
func BenchmarkSinkApply(b *testing.B) {
	for _, mode := range []struct {
		name string
		rows int
	}{{"grouped", upsertGroupRows}, {"per-row", 1}} {
		b.Run(mode.name, func(b *testing.B) {
			h := newHarness(b, connector.CaptureTrigger)
			ctx := context.Background()
			h.exec(b, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount DECIMAL(12,2), at TIMESTAMP, flag BOOLEAN, data BLOB)`)
			sk := h.sink(b, "t")
			sk.apply.GroupRows = mode.rows
			const batch = 1000
			at := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
			changes := make([]change.Change, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for j := range changes {
					id := int64((i*batch + j) % 20000) // later rounds update earlier rows
					changes[j] = ins(id,
						"name", change.Text(fmt.Sprintf("name %d", id)),
						"amount", change.MustDecimal(fmt.Sprintf("%d.%02d", id, i%100)),
						"at", change.Timestamp(at.Add(time.Duration(i)*time.Second)),
						"flag", change.Bool(id%2 == 0),
						"data", change.Bytes([]byte("0123456789abcdef")))
				}
				b.StartTimer()
				tx, err := sk.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := tx.Apply(ctx, changes); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(ctx, connector.Checkpoint{Phase: connector.PhaseStream, Position: change.Position("p")}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkStreamRead reads 10,000 captured inserts from the trigger log in
// batches of 1000: JSON row images decoded into typed changes.
func BenchmarkStreamRead(b *testing.B) {
	h := newHarness(b, connector.CaptureTrigger)
	ctx := context.Background()
	h.exec(b, `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount DECIMAL(12,2), at TIMESTAMP, flag BOOLEAN, data BLOB)`)
	src := h.prepared(b, "f", "t")
	from, err := src.Position(ctx)
	if err != nil {
		b.Fatal(err)
	}
	const rows = 10000
	for i := 0; i < rows; i += 1000 {
		h.exec(b, `WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO t SELECT i, 'name ' || i, i || '.25', '2024-05-06T07:08:09.123456Z', i % 2, x'00ff00ff' FROM n`, i, i+999)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := src.Stream(ctx, from)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < rows {
			batch, err := st.Next(ctx, 1000)
			if err != nil {
				b.Fatal(err)
			}
			n += len(batch.Changes)
		}
		st.Close()
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}
