package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/engine/bothtest"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
)

// A convergence run: writers on both sides of a both-way flow upsert and
// delete overlapping keys for a while, each keeping a ledger of its writes
// with their times, while the engine runs. After the writers stop and the
// engine drains, both sides must hold the same rows, and (for lww) each row
// must be the latest write ever made to its key on either side.

type convergence struct {
	plan    *engine.Plan
	st      state.Store
	sides   [2]*bothtest.Side // legacy (from), platform (to)
	keys    int
	perSide int           // writes per second per side
	dur     time.Duration // how long the writers write
	lww     bool          // check every row against the lww oracle
	manual  bool          // resolve parked conflicts (taking the to side) before comparing
}

func (c *convergence) run(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runOnce := func() *observe.Metrics {
		m := observe.NewMetrics()
		if err := engine.New(c.plan, c.st, m, log).Run(ctx, engine.RunOptions{Once: true}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	runOnce() // backfill the empty tables, install capture

	m := observe.NewMetrics()
	engCtx, stopEngine := context.WithCancel(ctx)
	engDone := make(chan error, 1)
	go func() { engDone <- engine.New(c.plan, c.st, m, log).Run(engCtx, engine.RunOptions{}) }()

	wctx, stopWriters := context.WithTimeout(ctx, c.dur)
	defer stopWriters()
	var mu sync.Mutex
	var ledger bothtest.Ledger
	var wg sync.WaitGroup
	for i, s := range c.sides {
		wg.Go(func() {
			out, err := bothtest.Write(wctx, s, c.keys, c.perSide, uint64(i+1)*uint64(time.Now().UnixNano()%1000+1))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			ledger = append(ledger, out...)
			mu.Unlock()
		})
	}
	wg.Wait()
	written := time.Now()
	// Let the running engine catch up, then stop it mid-stream.
	time.Sleep(time.Second)
	stopEngine()
	if err := <-engDone; err != nil {
		t.Fatalf("engine: %v", err)
	}
	conflicts := counterSum(m.Conflicts)
	applied := counterSum(m.Applied)

	// Drain: --once runs until a run applies nothing.
	var idle bool
	for i := 0; i < 6 && !idle; i++ {
		rm := runOnce()
		n := counterSum(rm.Applied)
		applied += n
		conflicts += counterSum(rm.Conflicts)
		idle = n == 0
	}
	if c.manual {
		parked, err := c.st.Conflicts(ctx, c.plan.Flows[0].Cfg.Name, state.ConflictParked)
		if err != nil {
			t.Fatal(err)
		}
		eng := engine.New(c.plan, c.st, observe.NewMetrics(), log)
		for _, p := range parked {
			if _, err := eng.ResolveConflict(ctx, p.Flow, p.Seq, engine.TakeTo, nil); err != nil {
				t.Fatalf("resolve %d: %v", p.Seq, err)
			}
		}
		t.Logf("%d conflicts parked and resolved by taking the to side", len(parked))
		idle = counterSum(runOnce().Applied) == 0
	}
	drained := time.Since(written)
	if !idle {
		t.Errorf("still applying changes after 6 runs with no writes: an echo loop")
	}
	diverged, wrong, err := ledger.Check(c.sides[0], c.sides[1], c.keys, c.lww)
	if err != nil {
		t.Fatal(err)
	}
	_, ambiguous := ledger.Expected()
	recorded, err := c.st.Conflicts(ctx, c.plan.Flows[0].Cfg.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes (%d keys), %d conflicts decided (%d recorded), %.0f changes applied (amplification %.2f), "+
		"%d ambiguous keys, drained %.1fs after the writers stopped",
		len(ledger), c.keys, int(conflicts), len(recorded), applied, applied/float64(max(1, len(ledger))), len(ambiguous), drained.Seconds())
	if len(diverged) > 0 {
		t.Errorf("%d keys diverged:\n  %s", len(diverged), strings.Join(diverged, "\n  "))
		for _, r := range recorded {
			if r.Status == state.ConflictParked {
				t.Logf("parked: key %s: %s", r.Key, r.Reason)
			}
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d keys do not hold their latest write:\n  %s", len(wrong), strings.Join(wrong, "\n  "))
	}
	if len(wrong)+len(diverged) > 0 {
		// The conflict log of the failing keys, in full (the rows are in
		// the to table's model), then one line for every other conflict.
		bad := map[string]bool{}
		for _, msg := range append(append([]string(nil), wrong...), diverged...) {
			var k int
			if _, err := fmt.Sscanf(msg, "key %d:", &k); err == nil {
				bad[strconv.Itoa(k)] = true
			}
		}
		for _, r := range recorded {
			if bad[r.Key] {
				t.Logf("conflict key %s at %s: ours from %s, winner %s: %s\n      base   %v\n      ours   %v\n      theirs %v\n      result %v",
					r.Key, r.At.Format("15:04:05.000000"), r.OursSide, r.Winner, r.Reason, r.Base, r.Ours, r.Theirs, r.Result)
			}
		}
		for _, r := range recorded {
			if !bad[r.Key] {
				t.Logf("conflict key %s at %s: ours from %s, winner %s: %s", r.Key, r.At.Format("15:04:05.000000"), r.OursSide, r.Winner, r.Reason)
			}
		}
	}
}

// TestBothConvergeSQLite: SQLite <-> SQLite under lww, writers on both
// sides for several seconds on 40 overlapping keys.
func TestBothConvergeSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	e := newBothEnv(t, `{policy: lww, timestamp: updated_at}`)
	c := &convergence{plan: e.plan, st: e.st, sides: sqliteSides(e), keys: 40, perSide: 150, dur: 4 * time.Second, lww: true}
	c.run(t)
}

// TestBothConvergePolicies: under every other policy the sides end
// identical too, for each store pair.
func TestBothConvergePolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	pairs := []struct {
		name  string
		setup func(t *testing.T, conflict string) (*engine.Plan, state.Store, [2]*bothtest.Side)
	}{
		{"sqlite-sqlite", func(t *testing.T, conflict string) (*engine.Plan, state.Store, [2]*bothtest.Side) {
			e := newBothEnv(t, conflict)
			return e.plan, e.st, sqliteSides(e)
		}},
		{"postgres-postgres", pgPair},
		{"postgres-sqlite", pgSQLitePair},
	}
	for _, pair := range pairs {
		for _, policy := range []string{
			`{policy: source-wins}`,
			`{policy: target-wins}`,
			`{policy: merge, fallback: lww, timestamp: updated_at}`,
			`{policy: owner, owner: {store: platform, columns: [email]}}`,
			`{policy: rule, rule: 'ours == nil || theirs == nil ? "source" : ours.email < theirs.email ? "ours" : "theirs"'}`,
			`{policy: lww}`, // commit times
			`{policy: manual}`,
		} {
			t.Run(pair.name+"/"+policy, func(t *testing.T) {
				plan, st, sides := pair.setup(t, policy)
				c := &convergence{plan: plan, st: st, sides: sides, keys: 30, perSide: 100, dur: 2 * time.Second,
					manual: strings.Contains(policy, "manual")}
				c.run(t)
			})
		}
	}
}

// sqliteSides are the legacy and platform tables of a bothEnv.
func sqliteSides(e *bothEnv) [2]*bothtest.Side {
	return [2]*bothtest.Side{bothtest.SQLiteLegacy(e.legacy), bothtest.SQLitePlatform(e.platform)}
}
