package mysql_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

const benchDDL = `(id BIGINT PRIMARY KEY, name TEXT, amount DECIMAL(12,2), at DATETIME(6), flag TINYINT(1), data BLOB)`

// BenchmarkSinkApply applies 1000-row batches of upserts (inserts, and in
// later rounds updates, of 6-column rows) per transaction, in multi-row
// statements, with the checkpoint.
//
//	go test ./internal/connector/mysql -run '^$' -bench SinkApply -benchtime 50x
func BenchmarkSinkApply(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	e.exec("CREATE TABLE t " + benchDDL)
	sk, err := e.store.Sink(ctx, connector.SinkSpec{Flow: "bench", Table: "t", Key: []string{"id"}})
	if err != nil {
		b.Fatal(err)
	}
	defer sk.Close()
	const batch = 1000
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	changes := make([]change.Change, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range changes {
			id := int64((i*batch + j) % 20000) // later rounds update earlier rows
			changes[j] = change.Change{Op: change.OpUpdate, Table: "t", Key: change.Key{change.Int(id)}, After: change.Row{
				"id": change.Int(id), "name": change.Text(fmt.Sprintf("name %d", id)),
				"amount": change.MustDecimal(fmt.Sprintf("%d.%02d", id, i%100)),
				"at":     change.Timestamp(at.Add(time.Duration(i) * time.Second)),
				"flag":   change.Bool(id%2 == 0), "data": change.Bytes([]byte("0123456789abcdef")),
			}}
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
}

// BenchmarkSnapshot reads a 50,000-row table in 1000-row keyset chunks.
//
//	go test ./internal/connector/mysql -run '^$' -bench Snapshot -benchtime 5x
func BenchmarkSnapshot(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	const n = 50000
	e.exec("CREATE TABLE t "+benchDDL,
		fmt.Sprintf(`INSERT INTO t SELECT seq, CONCAT('name ', seq), seq / 100, '2024-05-06 07:08:09.123456' + INTERVAL seq SECOND,
			seq MOD 2, X'0123456789abcdef' FROM seq_1_to_%d`, n))
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: "bench", Table: "t", Key: []string{"id"}, Capture: connector.CaptureBinlog})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var after change.Key
		rows := 0
		for {
			cs, err := src.Snapshot(ctx, after, 1000)
			if err != nil {
				b.Fatal(err)
			}
			rows += len(cs)
			if len(cs) < 1000 {
				break
			}
			after = cs[len(cs)-1].Key
		}
		if rows != n {
			b.Fatalf("read %d rows, want %d", rows, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkBinlogStream decodes one 100,000-row INSERT transaction from the
// binlog, from the position before it to its commit, in batches of 1000.
//
//	go test ./internal/connector/mysql -run '^$' -bench BinlogStream -benchtime 5x
func BenchmarkBinlogStream(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	const n = 100000
	e.exec("CREATE TABLE t " + benchDDL)
	src, err := e.store.Source(ctx, connector.SourceSpec{Flow: "bench", Table: "t", Key: []string{"id"}, Capture: connector.CaptureBinlog})
	if err != nil {
		b.Fatal(err)
	}
	from, err := src.Position(ctx)
	if err != nil {
		b.Fatal(err)
	}
	e.exec(fmt.Sprintf(`INSERT INTO t SELECT seq, CONCAT('name ', seq), seq / 100, '2024-05-06 07:08:09.123456' + INTERVAL seq SECOND,
		seq MOD 2, X'0123456789abcdef' FROM seq_1_to_%d`, n))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		st, err := src.Stream(ctx, from)
		if err != nil {
			b.Fatal(err)
		}
		read := 0
		for {
			bt, err := st.Next(ctx, 1000)
			if err != nil {
				b.Fatal(err)
			}
			read += len(bt.Changes)
			if read == n && bt.Position != nil {
				break
			}
		}
		st.Close()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "changes/s")
	// This process's CPU (decoding, both goroutines): steadier than the
	// wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
