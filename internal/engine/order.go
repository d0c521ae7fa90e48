package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Streaming in `after:` order (docs/adr/0003-ordered-streaming.md).
//
// Flows that read the same source store and are tied by `after:` stream
// independently, each with its own capture and checkpoint, so a child row
// written in the same source transaction as its parent can reach the target
// first. The target's foreign key then refuses it. Instead of parking the
// change, the pipeline gives its transaction up, waits until every flow it
// is after has committed everything the source held when the refusal
// happened (for a refused delete: every flow after it), and retries. The
// foreign keys hold at every target commit, and the common case (no
// refusal) costs nothing.
//
// Two pipelines can wait for each other only when one source transaction
// both deletes a parent row still referenced and inserts a child row whose
// parent it also inserts: the second one to wait parks its change instead
// (a dead-letter entry the operator replays), so neither waits forever.

// orderGroup coordinates the ordered pipelines of one source store.
type orderGroup struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever a member changes
	members  []*orderMember
	finished chan struct{} // --once: closed when every member reached its target
	closed   bool
}

// orderMember is one pipeline of an orderGroup.
type orderMember struct {
	g    *orderGroup
	name string
	src  connector.Source // compares the store's positions

	up   []*orderMember // the flows it is after, transitively
	down []*orderMember // the flows after it, transitively

	done     change.Position // everything up to here is committed; nil while backfilling
	waiting  []*orderMember  // whom it waits for now
	target   change.Position // for what position
	floor    change.Position // while waiting: every change before it is committed
	fresh    bool            // about to start a backfill: holds no row yet
	start    change.Position // the fresh backfill's start position
	skipOK   bool            // the backfill may skip rows refused for a foreign key (see beforeBackfill)
	atTarget bool            // --once: reached the position its source had at start
	stopped  bool

	// A change whose foreign key refusal is no longer waited for: the wait
	// would be a cycle, or the change was refused again right after one.
	// It is parked like any refused change.
	// Per change ID, since the pipeline's last commit (owned by its
	// goroutine): refusals parked like any other (waiting would be a
	// cycle, or waiting did not help), refusals skipped (the source row
	// changed since, see waitOrder), refusals already waited for.
	giveUp, superseded, waited map[string]bool
}

var (
	errOrderCycle   = errors.New("the flows it waits for are waiting for it")
	errOrderStopped = errors.New("a flow it waits for has stopped")
)

// orderWait is returned by apply when the target refused a change for a
// foreign key and the flow is ordered: the transaction is rolled back and
// the pipeline waits (flowRun.waitOrder) before it retries.
type orderWait struct {
	changeID string
	txID     string          // its source transaction, when the source tells
	target   change.Position // its source position; nil in a backfill
	floor    change.Position // set by commitPrefix: the first change of its transaction
	delete   bool            // the refused change deletes: wait for the flows after it
	key      change.Key      // the source key and row of the refused change
	after    change.Row
	err      error
}

func (w *orderWait) Error() string {
	return fmt.Sprintf("change %s refused for a foreign key: %v", w.changeID, w.err)
}

func (w *orderWait) Unwrap() error { return w.err }

// buildOrder ties the pipelines of runs that read the same source store and
// are linked by `after:` (a reverse pipeline follows the reverse pipelines
// of the flows its flow is after), and sets flowRun.order on each.
func buildOrder(runs map[string]*flowRun) {
	parents := map[*flowRun][]*flowRun{}
	for _, name := range sortedKeys(runs) {
		r := runs[name]
		after := r.plan.Cfg.After
		base, rev := strings.CutSuffix(name, ReverseSuffix)
		if fr, ok := runs[base]; ok && rev {
			after = fr.plan.Cfg.After
		}
		for _, dep := range after {
			if rev {
				dep += ReverseSuffix
			}
			p, ok := runs[dep]
			if !ok || p.plan.Cfg.From.Store != r.plan.Cfg.From.Store {
				continue // not running, or positions of another store: backfill order only
			}
			parents[r] = append(parents[r], p)
		}
	}
	groups := map[string]*orderGroup{}
	member := func(r *flowRun) *orderMember {
		if r.order != nil {
			return r.order
		}
		g := groups[r.plan.Cfg.From.Store]
		if g == nil {
			g = &orderGroup{changed: make(chan struct{}), finished: make(chan struct{})}
			groups[r.plan.Cfg.From.Store] = g
		}
		r.order = &orderMember{g: g, name: r.plan.Cfg.Name, src: r.src,
			giveUp: map[string]bool{}, superseded: map[string]bool{}, waited: map[string]bool{}}
		g.members = append(g.members, r.order)
		return r.order
	}
	for _, name := range sortedKeys(runs) {
		r := runs[name]
		if len(parents[r]) == 0 {
			continue
		}
		m := member(r)
		seen := map[*flowRun]bool{}
		var walk func(*flowRun)
		walk = func(c *flowRun) {
			for _, p := range parents[c] {
				if seen[p] || p == r {
					continue
				}
				seen[p] = true
				pm := member(p)
				m.up = append(m.up, pm)
				pm.down = append(pm.down, m)
				walk(p)
			}
		}
		walk(r)
	}
}

// broadcast wakes every waiter. g.mu is held.
func (g *orderGroup) broadcast() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// advance records that everything up to pos is committed.
func (m *orderMember) advance(pos change.Position) {
	if m == nil || pos == nil {
		return
	}
	clear(m.giveUp)
	clear(m.superseded)
	clear(m.waited)
	m.g.mu.Lock()
	defer m.g.mu.Unlock()
	if m.done != nil {
		if c, err := m.src.Compare(pos, m.done); err != nil || c <= 0 {
			return
		}
	}
	m.done = pos
	m.g.broadcast()
}

// passed reports whether m has committed everything up to pos. g.mu is held.
func (m *orderMember) passed(pos change.Position) bool {
	if m.done == nil {
		return false
	}
	c, err := m.src.Compare(m.done, pos)
	return err == nil && c >= 0
}

// wait blocks until each of ties has committed everything up to target.
// floor, when not nil, is what m has committed meanwhile: every change
// before floor (the refused change's source transaction) is in the target,
// so a tie waiting for m up to a position before floor can go on.
func (m *orderMember) wait(ctx context.Context, ties []*orderMember, target, floor change.Position) error {
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	m.waiting, m.target, m.floor = ties, target, floor
	g.broadcast()
	defer func() {
		m.waiting, m.target, m.floor = nil, nil, nil
		g.broadcast()
	}()
	for {
		if m.canPass() {
			return nil
		}
		for _, t := range ties {
			if t.stopped {
				return errOrderStopped
			}
		}
		if m.deadlocked() {
			return errOrderCycle
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
			g.mu.Lock()
		case <-ctx.Done():
			g.mu.Lock()
			return ctx.Err()
		}
	}
}

// canPass reports whether every flow m waits for lets it go on. g.mu is
// held.
func (m *orderMember) canPass() bool {
	for _, t := range m.waiting {
		if !t.lets(m) {
			return false
		}
	}
	return true
}

// lets reports whether t has committed everything up to w's target, or
// everything before a floor past it. g.mu is held.
func (t *orderMember) lets(w *orderMember) bool {
	if t.passed(w.target) {
		return true
	}
	if t.fresh {
		c, err := t.src.Compare(w.target, t.start)
		return err == nil && c <= 0
	}
	if t.floor != nil {
		c, err := t.src.Compare(w.target, t.floor)
		return err == nil && c < 0
	}
	return false
}

// deadlocked reports whether m waits, through a chain of waiting members
// each held up by the next, for itself: none of them can go on. A member
// that is not waiting goes on by itself and ends a chain. g.mu is held.
func (m *orderMember) deadlocked() bool {
	seen := map[*orderMember]bool{}
	var walk func(w *orderMember) bool
	walk = func(w *orderMember) bool {
		for _, t := range w.waiting {
			if t.lets(w) {
				continue
			}
			if t == m {
				return true
			}
			if !seen[t] && t.waiting != nil {
				seen[t] = true
				if walk(t) {
					return true
				}
			}
		}
		return false
	}
	return walk(m)
}

// finish records that m reached its --once target and reports whether
// every member has: ordered pipelines stop together, so none waits for a
// flow that has stopped.
func (m *orderMember) finish() bool {
	if m == nil {
		return true
	}
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !m.atTarget {
		m.atTarget = true
		g.broadcast()
	}
	for _, o := range g.members {
		if !o.atTarget && !o.stopped {
			return false
		}
	}
	if !g.closed {
		g.closed = true
		close(g.finished)
	}
	return true
}

// finished is closed once every member of m's group reached its --once
// target, so pipelines waiting for input stop at once; nil (never ready)
// for a flow outside any group.
func (m *orderMember) finished() <-chan struct{} {
	if m == nil {
		return nil
	}
	return m.g.finished
}

// stop records that m's pipeline returned.
func (m *orderMember) stop() {
	if m == nil {
		return
	}
	m.g.mu.Lock()
	defer m.g.mu.Unlock()
	m.stopped = true
	m.g.broadcast()
}

// orderRefusal decides what a foreign key refusal of target change t
// (mapped from source change src) becomes in an ordered flow: skipped (a
// backfill row whose parent was written after the backfill began: the
// flow's stream delivers it again, after its parent), an orderWait error
// (a streamed change: wait for the flows it depends on, then retry), or,
// with neither, a refusal like any other (parked).
func (f *flowRun) orderRefusal(ae *connector.ApplyError, src *change.Change, t *change.Change) (skip bool, err error) {
	m := f.order
	if m == nil || !ae.ForeignKey || m.giveUp[src.ID] {
		return false, nil
	}
	if src.Op == change.OpSnapshot {
		if !m.skipOK || len(m.up) == 0 {
			return false, nil
		}
		f.m.OrderWaits.WithLabelValues(f.plan.Cfg.Name).Inc()
		f.log.Debug("backfill row refused for a foreign key: its parent was written after the backfill began; the stream delivers it after the parent",
			"key", src.Key.String(), "error", ae.Err)
		return true, nil
	}
	del := t.Op == change.OpDelete
	if del && len(m.down) == 0 || !del && len(m.up) == 0 {
		return false, nil
	}
	if m.superseded[src.ID] {
		return true, nil
	}
	return false, &orderWait{changeID: src.ID, txID: src.TxID, target: src.Position, delete: del,
		key: src.Key, after: src.After, err: ae.Err}
}

// beforeBackfill waits for the `after:` flows' backfills, then, in an
// ordered flow, until the flows it is after have committed everything up
// to its start position (the position its stream starts from once the
// backfill is done), so that every parent of a row written before that
// position is in the target: a row the backfill copies may then meet a
// missing parent only when the row was written after the start position,
// and is skipped (orderRefusal) because the stream delivers it again,
// after its parent. While it waits, a flow that holds no row yet (fresh)
// does not hold up the deletes of its parents up to its start position.
func (f *flowRun) beforeBackfill(ctx context.Context, cp *connector.Checkpoint) error {
	m := f.order
	if m == nil {
		return f.waitDeps(ctx)
	}
	m.setFresh(cp.BackfillRows == 0 && cp.BackfillKey == nil, cp.Position)
	defer m.setFresh(false, nil)
	if err := f.waitDeps(ctx); err != nil {
		return err
	}
	m.skipOK = len(m.up) == 0
	if len(m.up) == 0 {
		return nil
	}
	switch err := m.wait(ctx, m.up, cp.Position, nil); {
	case err == nil:
		m.skipOK = true
		return nil
	case errors.Is(err, errOrderStopped):
		return errDone
	case errors.Is(err, errOrderCycle):
		// A parent waits to delete a row this flow copied before a
		// restart: copy without skipping; a refused row is parked.
		f.log.Warn("backfill starts before the flows it is after reached its start position; rows refused for a foreign key are parked")
		return nil
	default:
		return err
	}
}

func (m *orderMember) setFresh(fresh bool, start change.Position) {
	m.g.mu.Lock()
	defer m.g.mu.Unlock()
	m.fresh, m.start = fresh, start
	m.g.broadcast()
}

// waitOrder waits, after a foreign key refusal, until the flows the refused
// change depends on have committed everything the source holds now. It
// returns errDone when one of them has stopped (the run is ending); when
// waiting would be a cycle, or the change was refused again right after a
// wait, it returns nil with the change given up: the retry parks it.
func (f *flowRun) waitOrder(ctx context.Context, w *orderWait) error {
	m := f.order
	if m.waited[w.changeID] {
		// The flows it depends on are past it and the target still
		// refuses it. A child row written before its parent was deleted
		// reaches the target after the parent's delete when this flow
		// lags: the source row is gone (or has changed) by now, and a later
		// change of this flow's stream brings it to its current state.
		if !w.delete && w.after != nil {
			if gone, err := f.sourceMoved(ctx, w); err != nil {
				return err
			} else if gone {
				f.log.Info("change refused for a foreign key after the flows it depends on caught up, and its source row has changed since; skipped, a later change brings the row",
					"change_id", w.changeID, "key", w.key.String())
				m.superseded[w.changeID] = true
				return nil
			}
		}
		f.log.Warn("change refused for a foreign key again after the flows it depends on caught up; parking it",
			"change_id", w.changeID, "error", w.err)
		m.giveUp[w.changeID] = true
		return nil
	}
	target := w.target
	if target == nil { // a backfill row: wait for what the source holds now
		var err error
		if target, err = f.src.Position(ctx); err != nil {
			return fmt.Errorf("read source position: %w", err)
		}
	}
	ties, dir := m.up, "it is after"
	if w.delete {
		ties, dir = m.down, "after it"
	}
	names := make([]string, len(ties))
	for i, t := range ties {
		names[i] = t.name
	}
	f.log.Info("foreign key refused a change; waiting for the flows "+dir+" to reach the source's position, then retrying",
		"change_id", w.changeID, "flows", strings.Join(names, ","), "position", target.String(), "error", w.err)
	f.m.OrderWaits.WithLabelValues(f.plan.Cfg.Name).Inc()
	switch err := m.wait(ctx, ties, target, w.floor); {
	case err == nil:
		m.waited[w.changeID] = true
		return nil
	case errors.Is(err, errOrderCycle):
		f.log.Warn("flows tied by after: wait for each other (one source transaction both deletes a referenced parent row and inserts a child row of a new parent); parking the change",
			"change_id", w.changeID, "flows", strings.Join(names, ","), "error", w.err)
		m.giveUp[w.changeID] = true
		return nil
	case errors.Is(err, errOrderStopped):
		return errDone
	default:
		return err
	}
}

// splitAtTx splits the changes of batches before the source transaction
// of the refused change w from the rest, and returns the position of that
// transaction's first change.
func splitAtTx(batches [][]change.Change, w *orderWait) (prefix, rest []change.Change, floor change.Position) {
	found := false
	for _, b := range batches {
		for i := range b {
			c := &b[i]
			if !found && (c.ID == w.changeID || w.txID != "" && c.TxID == w.txID) {
				found, floor = true, c.Position
			}
			if found {
				rest = append(rest, *c)
			} else {
				prefix = append(prefix, *c)
			}
		}
	}
	return prefix, rest, floor
}

// commitBefore is the loop of commitPrefix and commitPrefixBoth: commit
// applies and commits (or rolls back) the changes before the refused
// change's source transaction; when one of them is refused in turn, the
// split moves to it. It returns the changes from the split on, and the
// refusal it was made at, with its floor set.
func commitBefore(batches [][]change.Change, w *orderWait, commit func(prefix []change.Change) error) ([]change.Change, *orderWait, error) {
	var tail []change.Change
	for {
		prefix, rest, floor := splitAtTx(batches, w)
		tail = append(rest, tail...)
		w.floor = floor
		if len(prefix) == 0 {
			return tail, w, nil
		}
		err := commit(prefix)
		if w2 := asOrderWait(err); w2 != nil {
			batches, w = [][]change.Change{prefix}, w2
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return tail, w, nil
	}
}

// asOrderWait returns err's orderWait, if any.
func asOrderWait(err error) *orderWait {
	var w *orderWait
	if errors.As(err, &w) {
		return w
	}
	return nil
}

// sourceMoved reports whether the source row of the refused upsert w is
// gone or differs from the change's row now.
func (f *flowRun) sourceMoved(ctx context.Context, w *orderWait) (bool, error) {
	rr, ok := f.plan.From.(connector.RowReader)
	if !ok {
		return false, nil
	}
	rows, err := rr.ReadRows(ctx, connector.RowsRequest{Table: f.plan.Cfg.From.Table, Key: f.plan.Key, Keys: []change.Key{w.key}})
	if err != nil {
		return false, fmt.Errorf("read the source row of a refused change: %w", err)
	}
	cur, ok := rows[w.key.String()]
	if !ok {
		return true, nil
	}
	cols := make([]string, 0, len(w.after))
	for c := range w.after {
		cols = append(cols, c)
	}
	return !sameRow(cur, w.after, cols), nil
}
