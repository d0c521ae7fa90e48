package bench

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// lagRecorder wraps a real store; at each target commit it records, for
// every change the transaction carried, now minus the change's source
// commit time: the end-to-end lag of that change.
type lagRecorder struct {
	connector.Store
	mu   sync.Mutex
	lags []time.Duration
}

func (r *lagRecorder) Sink(ctx context.Context, spec connector.SinkSpec) (connector.Sink, error) {
	s, err := r.Store.Sink(ctx, spec)
	return &lagSink{Sink: s, r: r}, err
}

type lagSink struct {
	connector.Sink
	r *lagRecorder
}

func (s *lagSink) Begin(ctx context.Context) (connector.Tx, error) {
	tx, err := s.Sink.Begin(ctx)
	return &lagTx{Tx: tx, r: s.r}, err
}

type lagTx struct {
	connector.Tx
	r       *lagRecorder
	commits []time.Time
}

func (t *lagTx) Apply(ctx context.Context, cs []change.Change) error {
	for _, c := range cs {
		t.commits = append(t.commits, c.CommitTime)
	}
	return t.Tx.Apply(ctx, cs)
}

func (t *lagTx) Commit(ctx context.Context, cp connector.Checkpoint) error {
	if err := t.Tx.Commit(ctx, cp); err != nil {
		return err
	}
	now := time.Now()
	t.r.mu.Lock()
	for _, ct := range t.commits {
		t.r.lags = append(t.r.lags, now.Sub(ct))
	}
	t.r.mu.Unlock()
	return nil
}

// BenchmarkPostgresLag writes about 5,000 changes/s (a 50-row transaction
// every 10 ms) for 10 s into a PostgreSQL source while syncbridge streams them
// into another database, and reports the end-to-end lag percentiles.
//
//	go test ./bench -run '^$' -bench PostgresLag -benchtime 1x
func BenchmarkPostgresLag(b *testing.B) {
	pg := testenv.Postgres(b)
	for i := 0; i < b.N; i++ {
		src, dst := pg.NewDatabase(b), pg.NewDatabase(b)
		exec1(b, src, table)
		exec1(b, dst, table)
		p, st, m := plan(b, b.TempDir(), src, dst, 1000)
		p.Flows[0].Cfg.Batch.Linger = 0
		once(b, p, st, m) // empty backfill
		rec := &lagRecorder{Store: p.Flows[0].To}
		p.Flows[0].To = rec
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			eng := engine.New(p, st, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
			done <- eng.Run(ctx, engine.RunOptions{})
		}()
		time.Sleep(2 * time.Second) // stream open, steady state
		c, err := pgx.Connect(ctx, src)
		if err != nil {
			b.Fatal(err)
		}
		const perTx, every, dur = 50, 10 * time.Millisecond, 10 * time.Second
		next, written := int64(1), 0
		tick := time.NewTicker(every)
		end := time.Now().Add(dur)
		for time.Now().Before(end) {
			<-tick.C
			if _, err := c.Exec(ctx, fillSQL, next, next+perTx-1); err != nil {
				b.Fatal(err)
			}
			next += perTx
			written += perTx
		}
		tick.Stop()
		c.Close(ctx)
		deadline := time.Now().Add(30 * time.Second)
		for {
			rec.mu.Lock()
			n := len(rec.lags)
			rec.mu.Unlock()
			if n >= written || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		lags := append([]time.Duration(nil), rec.lags...)
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		pct := func(q float64) time.Duration { return lags[int(q*float64(len(lags)-1))] }
		rate := float64(written) / dur.Seconds()
		b.ReportMetric(rate, "changes/s")
		b.ReportMetric(float64(pct(0.50).Milliseconds()), "p50-ms")
		b.ReportMetric(float64(pct(0.99).Milliseconds()), "p99-ms")
		b.Logf("%d changes at %.0f/s: lag p50 %v, p99 %v, max %v", len(lags), rate, pct(0.5).Round(time.Millisecond),
			pct(0.99).Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	}
}
