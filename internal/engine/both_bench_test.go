package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/engine/bothtest"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/testenv"
)

// visibility wraps a store: at each commit of one of its sinks it records,
// for every row the transaction wrote, now minus the row's timestamp column
// (stamped by the writer on the other side just before it wrote): how long
// a write took to become visible on this side. It forwards the
// capabilities both-way flows use.
type visibility struct {
	connector.Store
	column string // the timestamp column in this store's table
	mu     *sync.Mutex
	lags   *[]lagSample
}

type lagSample struct {
	at  time.Time
	lag time.Duration
}

func (v *visibility) ReadRows(ctx context.Context, req connector.RowsRequest) (map[string]change.Row, error) {
	return v.Store.(connector.RowReader).ReadRows(ctx, req)
}

func (v *visibility) Sink(ctx context.Context, spec connector.SinkSpec) (connector.Sink, error) {
	s, err := v.Store.Sink(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &visibleSink{Sink: s, v: v}, nil
}

type visibleSink struct {
	connector.Sink
	v *visibility
}

func (s *visibleSink) Origin() string {
	if om, ok := s.Sink.(connector.OriginMarker); ok {
		return om.Origin()
	}
	return ""
}

func (s *visibleSink) Begin(ctx context.Context) (connector.Tx, error) {
	tx, err := s.Sink.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &visibleTx{Tx: tx, v: s.v}, nil
}

type visibleTx struct {
	connector.Tx
	v       *visibility
	stamped []time.Time
}

func (t *visibleTx) Current(ctx context.Context, keys []change.Key) (map[string]change.Row, error) {
	return t.Tx.(connector.TxReader).Current(ctx, keys)
}

func (t *visibleTx) Apply(ctx context.Context, cs []change.Change) error {
	for _, c := range cs {
		if v, ok := c.After[t.v.column]; ok && v.Kind == change.KindTimestamp {
			t.stamped = append(t.stamped, v.AsTime())
		}
	}
	return t.Tx.Apply(ctx, cs)
}

func (t *visibleTx) Commit(ctx context.Context, cp connector.Checkpoint) error {
	if err := t.Tx.Commit(ctx, cp); err != nil {
		return err
	}
	now := time.Now()
	t.v.mu.Lock()
	for _, at := range t.stamped {
		*t.v.lags = append(*t.v.lags, lagSample{at: now, lag: now.Sub(at)})
	}
	t.v.mu.Unlock()
	return nil
}

// roundTrip runs writers at rate writes/s on each side over keys keys for
// dur while the engine runs, and reports how long writes took to become
// visible on the other side.
func roundTrip(b *testing.B, plan *engine.Plan, st state.Store, sides [2]*bothtest.Side, columns [2]string, keys, rate int, dur time.Duration) {
	var mu sync.Mutex
	var lags []lagSample
	fp := plan.Flows[0]
	fp.From = &visibility{Store: fp.From, column: columns[0], mu: &mu, lags: &lags}
	fp.To = &visibility{Store: fp.To, column: columns[1], mu: &mu, lags: &lags}
	fp.Reverse.From, fp.Reverse.To = fp.To, fp.From
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := observe.NewMetrics()
	eng := engine.New(plan, st, m, log)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx, engine.RunOptions{}) }()
	time.Sleep(2 * time.Second) // backfill of the empty tables, capture set up

	wctx, stopWriters := context.WithTimeout(ctx, dur)
	defer stopWriters()
	var wg sync.WaitGroup
	written := make([]int, 2)
	for i, s := range sides {
		wg.Go(func() {
			// Every 10ms a transaction of rate/100 rows, so the rate holds
			// however long one commit takes.
			rng := rand.New(rand.NewPCG(uint64(i+1), 99))
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			per := max(1, rate/100)
			for n := 0; ; n++ {
				select {
				case <-wctx.Done():
					return
				case <-tick.C:
				}
				ks, tags := make([]int, per), make([]string, per)
				for j := range ks {
					ks[j], tags[j] = 1+rng.IntN(keys), s.Name[:1]+strconv.Itoa(n*per+j)
				}
				if err := s.UpsertBatch(ks, tags); err != nil {
					b.Error(err)
					return
				}
				written[i] += per
			}
		})
	}
	wg.Wait()
	time.Sleep(3 * time.Second) // let the engine catch up
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lags) == 0 {
		b.Fatal("no write became visible on the other side")
	}
	all := make([]time.Duration, len(lags))
	for i, l := range lags {
		all[i] = l.lag
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
	// Lag trend: the p99 of the last quarter of samples against the first.
	q := len(lags) / 4
	trend := func(s []lagSample) time.Duration {
		d := make([]time.Duration, len(s))
		for i, l := range s {
			d[i] = l.lag
		}
		slices.Sort(d)
		return d[int(0.99*float64(len(d)-1))]
	}
	first, last := trend(lags[:max(1, q)]), trend(lags[len(lags)-max(1, q):])
	rates := fmt.Sprintf("%.0f+%.0f", float64(written[0])/dur.Seconds(), float64(written[1])/dur.Seconds())
	b.ReportMetric(float64(pct(0.5).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(all[len(all)-1].Microseconds())/1000, "max_ms")
	b.ReportMetric(float64(written[0]+written[1])/dur.Seconds(), "writes/s")
	b.ReportMetric(counterSum(m.Conflicts), "conflicts")
	b.Logf("%s writes/s (legacy+platform), %d rows made visible: p50 %s, p99 %s, max %s; p99 first quarter %s, last quarter %s; %.0f conflicts",
		rates, len(all), pct(0.5).Round(time.Microsecond*100), pct(0.99).Round(time.Microsecond*100), all[len(all)-1].Round(time.Millisecond),
		first.Round(time.Microsecond*100), last.Round(time.Microsecond*100), counterSum(m.Conflicts))
}

// benchRate and benchKeys tune the round-trip benchmarks:
// SYNCBRIDGE_BENCH_RATE writes/s per side (default 1000),
// SYNCBRIDGE_BENCH_KEYS distinct keys (default 100000: few conflicts).
func benchRate() int { return envInt("SYNCBRIDGE_BENCH_RATE", 1000) }
func benchKeys() int { return envInt("SYNCBRIDGE_BENCH_KEYS", 100000) }

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkBothRoundTripSQLite: SQLite <-> SQLite (trigger capture), writers
// on both sides; how long until a write is visible on the other side.
func BenchmarkBothRoundTripSQLite(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		legacy := openBenchDB(b, filepath.Join(dir, "legacy.db"))
		platform := openBenchDB(b, filepath.Join(dir, "platform.db"))
		mustExec(b, legacy, bothtest.SQLiteLegacySchema)
		mustExec(b, platform, bothtest.SQLitePlatformSchema)
		plan, st := planFor(b, dir, `
state: ./state.db
stores:
  legacy: {driver: sqlite, dsn: ./legacy.db, capture: trigger}
  platform: {driver: sqlite, dsn: ./platform.db, capture: trigger}
flows:`+fmt.Sprintf(bothtest.FlowSQLiteLegacy, `{policy: lww, timestamp: updated_at}`))
		roundTrip(b, plan, st, [2]*bothtest.Side{bothtest.SQLiteLegacy(legacy), bothtest.SQLitePlatform(platform)},
			[2]string{"UPD_TS", "updated_at"}, benchKeys(), benchRate(), 10*time.Second)
	}
}

// BenchmarkBothRoundTripPostgres: PostgreSQL <-> PostgreSQL (logical
// capture on both sides).
func BenchmarkBothRoundTripPostgres(b *testing.B) {
	for b.Loop() {
		pg := testenv.Postgres(b)
		legacyDSN, platformDSN := pg.NewDatabase(b), pg.NewDatabase(b)
		legacy, platform := openPGDB(b, legacyDSN), openPGDB(b, platformDSN)
		mustExec(b, legacy, bothtest.PGLegacySchema)
		mustExec(b, platform, bothtest.PGPlatformSchema)
		plan, st := planFor(b, b.TempDir(), fmt.Sprintf(`
state: ./state.db
stores:
  legacy: {driver: postgres, dsn: "%s", capture: logical}
  platform: {driver: postgres, dsn: "%s", capture: logical}
flows:`+bothtest.FlowPGLegacy, legacyDSN, platformDSN, `{policy: lww, timestamp: updated_at}`))
		roundTrip(b, plan, st, [2]*bothtest.Side{bothtest.PGLegacy(legacy), bothtest.PGPlatform(platform)},
			[2]string{"upd_ts", "updated_at"}, benchKeys(), benchRate(), 10*time.Second)
	}
}
