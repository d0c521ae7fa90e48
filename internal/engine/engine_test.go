package engine_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
)

// commitWatcher wraps a real sink and runs check after every commit.
type commitWatcher struct {
	connector.Store
	check func()
}

func (w *commitWatcher) Sink(ctx context.Context, spec connector.SinkSpec) (connector.Sink, error) {
	s, err := w.Store.Sink(ctx, spec)
	return &watchedSink{Sink: s, check: w.check}, err
}

type watchedSink struct {
	connector.Sink
	check func()
}

func (s *watchedSink) Begin(ctx context.Context) (connector.Tx, error) {
	tx, err := s.Sink.Begin(ctx)
	return &watchedTx{Tx: tx, check: s.check}, err
}

type watchedTx struct {
	connector.Tx
	check func()
}

func (t *watchedTx) Commit(ctx context.Context, cp connector.Checkpoint) error {
	if err := t.Tx.Commit(ctx, cp); err != nil {
		return err
	}
	t.check()
	return nil
}

// TestSourceTransactionsApplyAtomically writes source transactions of 250
// rows and streams them with batches of 100: a commit may never leave the
// target holding part of a source transaction.
func TestSourceTransactionsApplyAtomically(t *testing.T) {
	dir := t.TempDir()
	src := openBenchDB(t, filepath.Join(dir, "src.db"))
	dst := openBenchDB(t, filepath.Join(dir, "dst.db"))
	for _, db := range []*sql.DB{src, dst} {
		if _, err := db.Exec(benchSchema); err != nil {
			t.Fatal(err)
		}
	}
	plan, st := benchPlan(t, dir, "trigger")
	plan.Flows[0].Cfg.Batch.Size = 100
	runOnce(t, plan, st) // install capture on the empty table

	const txSize, txs = 250, 16
	var commits atomic.Int64
	var rows atomic.Int64
	plan.Flows[0].To = &commitWatcher{Store: plan.Flows[0].To, check: func() {
		commits.Add(1)
		var n int
		if err := dst.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Error(err)
			return
		}
		rows.Store(int64(n))
		if n%txSize != 0 {
			t.Errorf("after commit %d the target holds %d rows: part of a source transaction", commits.Load(), n)
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		eng := engine.New(plan, st, observe.NewMetrics(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err := eng.Run(ctx, engine.RunOptions{}); err != nil {
			t.Error(err)
		}
	}()
	for i := 0; i < txs; i++ {
		fill(t, src, 1+i*txSize, txSize) // one source transaction each, while the engine streams
		time.Sleep(time.Duration(i%4) * 20 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for rows.Load() < txSize*txs && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	var n int
	if err := dst.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != txSize*txs {
		t.Fatalf("target rows %d, %v; want %d", n, err, txSize*txs)
	}
	if commits.Load() < 3 {
		t.Fatalf("only %d commits: the test needs several to mean anything", commits.Load())
	}
	t.Logf("%d commits for %d source transactions of %d rows with batch.size 100", commits.Load(), txs, txSize)
}

func TestBackfillResumesFromLastChunk(t *testing.T) {
	dir := t.TempDir()
	src := openBenchDB(t, filepath.Join(dir, "src.db"))
	dst := openBenchDB(t, filepath.Join(dir, "dst.db"))
	for _, db := range []*sql.DB{src, dst} {
		if _, err := db.Exec(benchSchema); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, src, 1, 5000)
	plan, st := benchPlan(t, dir, "trigger")
	plan.Flows[0].Cfg.Batch.Size = 1000
	// Stop the first run after its second committed chunk, as a crash would.
	ctx, cancel := context.WithCancel(context.Background())
	commits := 0
	plan.Flows[0].To = &commitWatcher{Store: plan.Flows[0].To, check: func() {
		if commits++; commits == 2 {
			cancel()
		}
	}}
	runWith(t, ctx, plan, st)
	var n int
	dst.QueryRow(`SELECT count(*) FROM t`).Scan(&n)
	if n != 2000 {
		t.Fatalf("after two chunks the target holds %d rows, want 2000", n)
	}
	// Mark the rows copied so far: a resumed backfill must not copy them again.
	if _, err := dst.Exec(`UPDATE t SET note = 'first run'`); err != nil {
		t.Fatal(err)
	}
	plan.Flows[0].To = plan.Flows[0].To.(*commitWatcher).Store
	runOnce(t, plan, st)
	var first, total int
	dst.QueryRow(`SELECT count(*) FROM t WHERE note = 'first run'`).Scan(&first)
	dst.QueryRow(`SELECT count(*) FROM t`).Scan(&total)
	if first != 2000 || total != 5000 {
		t.Fatalf("resume re-copied or lost rows: %d untouched of the first 2000, %d total", first, total)
	}
}
