package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/engine"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
)

// A convergence run: writers on both sides of a both-way flow upsert and
// delete overlapping keys for a while, each keeping a ledger of its writes
// with their times, while the engine runs. After the writers stop and the
// engine drains, both sides must hold the same rows, and (for lww) each row
// must be the latest write ever made to its key on either side.

// writeSide is one side of the flow as the test's writers see it. Rows are
// rendered in the platform's model as "full name|email|updated_at".
type writeSide struct {
	name   string
	db     *sql.DB
	upsert func(db *sql.DB, key int, tag string, at time.Time) error
	delete func(db *sql.DB, key int) (bool, error)
	dump   func(db *sql.DB) (map[int]string, error)
	// render is the row an upsert with tag writes, as dump shows it.
	render func(tag string, at time.Time) string
}

// ledgerEntry is one write a test writer made.
type ledgerEntry struct {
	side      string
	key       int
	del       bool
	at, until time.Time // upserts: at is updated_at; deletes: the commit lies in [at, until]
	row       string
}

type convergence struct {
	plan    *engine.Plan
	st      state.Store
	sides   [2]*writeSide // legacy (from), platform (to)
	keys    int
	perSide int           // writes per second per side
	dur     time.Duration // how long the writers write
	lww     bool          // check every row against the lww oracle
	manual  bool          // resolve parked conflicts (taking the to side) before comparing
}

// stampLayout is how the writers write and the dumps render times.
const stampLayout = "2006-01-02T15:04:05.000000Z"

func (c *convergence) write(ctx context.Context, t *testing.T, s *writeSide, seed uint64) []ledgerEntry {
	rng := rand.New(rand.NewPCG(seed, seed*7+1))
	var out []ledgerEntry
	tick := time.NewTicker(time.Second / time.Duration(c.perSide))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
		key := 1 + rng.IntN(c.keys)
		if rng.IntN(100) < 15 {
			before := time.Now()
			ok, err := s.delete(s.db, key)
			after := time.Now()
			if err != nil {
				t.Errorf("%s: delete %d: %v", s.name, key, err)
				return out
			}
			if ok {
				out = append(out, ledgerEntry{side: s.name, key: key, del: true, at: before, until: after})
			}
			continue
		}
		at := time.Now().UTC().Truncate(time.Microsecond)
		tag := fmt.Sprintf("%s%d", s.name[:1], i)
		if err := s.upsert(s.db, key, tag, at); err != nil {
			t.Errorf("%s: upsert %d: %v", s.name, key, err)
			return out
		}
		out = append(out, ledgerEntry{side: s.name, key: key, at: at, until: at, row: s.render(tag, at)})
	}
}

// expected is the lww oracle: per key the latest write on either side (a
// delete's time is its commit time; SQLite records it to the millisecond).
// Keys whose latest two writes are too close to order (a delete's commit
// time is only known to lie within an interval) are ambiguous: either
// outcome is right, as long as the sides agree.
func expected(ledger []ledgerEntry) (want map[int]string, ambiguous map[int]bool) {
	const slack = 2 * time.Millisecond
	byKey := map[int][]ledgerEntry{}
	for _, e := range ledger {
		byKey[e.key] = append(byKey[e.key], e)
	}
	want, ambiguous = map[int]string{}, map[int]bool{}
	for k, es := range byKey {
		sort.Slice(es, func(i, j int) bool { return es[i].at.Before(es[j].at) })
		last := es[len(es)-1]
		for _, e := range es[:len(es)-1] {
			if e.side != last.side && e.until.Add(slack).After(last.at) && (e.del || last.del) {
				ambiguous[k] = true
			}
		}
		if !last.del {
			want[k] = last.row
		}
	}
	return want, ambiguous
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
	var ledger []ledgerEntry
	var wg sync.WaitGroup
	for i, s := range c.sides {
		wg.Go(func() {
			out := c.write(wctx, t, s, uint64(i+1)*uint64(time.Now().UnixNano()%1000+1))
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
	a, err := c.sides[0].dump(c.sides[0].db)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.sides[1].dump(c.sides[1].db)
	if err != nil {
		t.Fatal(err)
	}
	want, ambiguous := expected(ledger)
	var diverged, wrong []string
	for k := 1; k <= c.keys; k++ {
		if a[k] != b[k] {
			diverged = append(diverged, fmt.Sprintf("key %d: %s=%q %s=%q", k, c.sides[0].name, a[k], c.sides[1].name, b[k]))
			continue
		}
		if c.lww && a[k] != want[k] && !ambiguous[k] {
			wrong = append(wrong, fmt.Sprintf("key %d: both %q, latest write %q%s", k, a[k], want[k], history(ledger, k)))
		}
	}
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
}

// history renders the ledger of one key for failure messages.
func history(ledger []ledgerEntry, key int) string {
	var b strings.Builder
	for _, e := range ledger {
		if e.key != key {
			continue
		}
		if e.del {
			fmt.Fprintf(&b, "\n      %s delete between %s and %s", e.side, e.at.UTC().Format(stampLayout), e.until.UTC().Format(stampLayout))
		} else {
			fmt.Fprintf(&b, "\n      %s upsert %s", e.side, e.row)
		}
	}
	return b.String()
}

// sqliteSides are the legacy and platform tables of newBothEnv.
func sqliteSides(e *bothEnv) [2]*writeSide {
	legacy := &writeSide{name: "legacy", db: e.legacy,
		upsert: func(db *sql.DB, key int, tag string, at time.Time) error {
			_, err := db.Exec(`INSERT INTO CUST_MSTR (CUST_ID, CUST_FNM, CUST_LNM, EMAIL_ADR, UPD_TS) VALUES (?, ?, 'W', ?, ?)
				ON CONFLICT (CUST_ID) DO UPDATE SET CUST_FNM = excluded.CUST_FNM, CUST_LNM = 'W', EMAIL_ADR = excluded.EMAIL_ADR, UPD_TS = excluded.UPD_TS`,
				key, tag, tag+"@l", at.Format(stampLayout))
			return err
		},
		delete: func(db *sql.DB, key int) (bool, error) {
			return deleted(db.Exec(`DELETE FROM CUST_MSTR WHERE CUST_ID = ?`, key))
		},
		dump: func(db *sql.DB) (map[int]string, error) {
			return dumpRows(db, `SELECT CUST_ID, CUST_FNM || ' ' || CUST_LNM, coalesce(EMAIL_ADR, ''), UPD_TS FROM CUST_MSTR`)
		},
		render: func(tag string, at time.Time) string { return tag + " W|" + tag + "@l|" + at.Format(stampLayout) },
	}
	platform := &writeSide{name: "platform", db: e.platform,
		upsert: func(db *sql.DB, key int, tag string, at time.Time) error {
			_, err := db.Exec(`INSERT INTO customers (id, full_name, email, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, email = excluded.email, updated_at = excluded.updated_at`,
				key, tag+" V", tag+"@p", at.Format(stampLayout))
			return err
		},
		delete: func(db *sql.DB, key int) (bool, error) {
			return deleted(db.Exec(`DELETE FROM customers WHERE id = ?`, key))
		},
		dump: func(db *sql.DB) (map[int]string, error) {
			return dumpRows(db, `SELECT id, full_name, coalesce(email, ''), updated_at FROM customers`)
		},
		render: func(tag string, at time.Time) string { return tag + " V|" + tag + "@p|" + at.Format(stampLayout) },
	}
	return [2]*writeSide{legacy, platform}
}

func deleted(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// dumpRows reads (key, name, email, time) rows as "name|email|time" by key.
func dumpRows(db *sql.DB, q string) (map[int]string, error) {
	rows, err := db.Query(q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var (
			key         int
			name, email string
			at          any
		)
		if err := rows.Scan(&key, &name, &email, &at); err != nil {
			return nil, err
		}
		out[key] = name + "|" + email + "|" + stampOf(at)
	}
	return out, rows.Err()
}

func stampOf(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(stampLayout)
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC().Format(stampLayout)
		}
		return x
	case []byte:
		return stampOf(string(x))
	case nil:
		return "NULL"
	}
	return fmt.Sprint(v)
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

// TestBothConvergePolicies: under every other automatic policy the sides
// end identical too.
func TestBothConvergePolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	for _, policy := range []string{
		`{policy: source-wins}`,
		`{policy: target-wins}`,
		`{policy: merge, fallback: lww, timestamp: updated_at}`,
		`{policy: owner, owner: {store: platform, columns: [email]}}`,
		`{policy: rule, rule: 'ours == nil || theirs == nil ? "source" : ours.email < theirs.email ? "ours" : "theirs"'}`,
		`{policy: lww}`, // commit times
		`{policy: manual}`,
	} {
		t.Run(policy, func(t *testing.T) {
			e := newBothEnv(t, policy)
			c := &convergence{plan: e.plan, st: e.st, sides: sqliteSides(e), keys: 30, perSide: 100, dur: 2 * time.Second,
				manual: strings.Contains(policy, "manual")}
			c.run(t)
		})
	}
}
