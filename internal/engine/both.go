package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/transform"
	"golang.org/x/sync/errgroup"
)

// unit is one target transaction of a both-way pipeline in progress: the
// target transaction, and what its decisions will record at commit.
//
// A unit can span several batches (the rest of a source run, or batches
// already waiting), so it can decide one key more than once; see carry.
type unit struct {
	tx        connector.Tx
	started   time.Time
	n         int
	counts    applyCounts
	backs     []backWrite // at most one per key: the latest decision's
	bases     map[string]state.Base
	order     []string // keys of bases in decision order
	conflicts []state.Conflict

	backAt map[string]int // key -> its write-back's index in backs
	// prior is, for a key with a write-back, the unit's base for it before
	// the decision that wrote back (nil: none, the stored one holds): the
	// key's base again when the write-back does not apply.
	prior map[string]*state.Base
	held  map[string]bool // keys whose conflict this unit parked
}

// begin starts a unit: the caller holds the flow's lock.
func (f *flowRun) beginUnit(ctx context.Context) (*unit, error) {
	tx, err := f.sink.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &unit{tx: tx, started: time.Now(), bases: map[string]state.Base{},
		backAt: map[string]int{}, prior: map[string]*state.Base{}, held: map[string]bool{}}, nil
}

// carry makes a key this unit already decided (in an earlier batch) be
// decided on what that decision leaves, as if it had committed: the
// unit's base for the key rather than the stored one, and the source's row
// as the pending write-back will leave it (the target's row already shows
// the unit's writes). Deciding it on the stored base and the source's row
// before the write-back let two decisions of one unit contradict each
// other: an old delete, matching the source's absent row, lost to the
// other side's row, which was to be written back; the newer delete then
// won against the stale base and deleted the other side's row, and the
// commit wrote the loser back: each side ended with what the other lost.
func (u *unit) carry(w *keyWork) {
	if i, ok := u.backAt[w.ks]; ok {
		if bw := u.backs[i]; sameRow(w.s, bw.Pre, nil) {
			w.s = overlay(w.s, bw.Change.After) // nil for a delete
		} else {
			// The source's row moved since that decision read it: the
			// write-back will not apply (compare-and-set), and its base
			// goes with it, as at commit.
			u.dropBack(w.ks)
		}
	}
	if b, ok := u.bases[w.ks]; ok {
		w.base = &b
	}
}

// addBack keeps a decision's write-back, replacing the one an earlier
// decision of the unit made for the key (that decision carried it: see
// carry).
func (u *unit) addBack(bw backWrite) {
	if i, ok := u.backAt[bw.Key]; ok {
		u.backs[i] = bw
		return
	}
	u.prior[bw.Key] = nil
	if b, ok := u.bases[bw.Key]; ok {
		u.prior[bw.Key] = &b
	}
	u.backAt[bw.Key] = len(u.backs)
	u.backs = append(u.backs, bw)
}

// dropBack forgets key's write-back, which will not apply, and the base
// that came with it.
func (u *unit) dropBack(key string) {
	i, ok := u.backAt[key]
	if !ok {
		return
	}
	u.backs = append(u.backs[:i], u.backs[i+1:]...)
	delete(u.backAt, key)
	for j := i; j < len(u.backs); j++ {
		u.backAt[u.backs[j].Key] = j
	}
	u.restoreBase(key)
}

// restoreBase puts back the base key had in the unit before the decision
// that wrote back to it (none: the stored one).
func (u *unit) restoreBase(key string) {
	if p, ok := u.prior[key]; ok && p != nil {
		u.bases[key] = *p
	} else {
		delete(u.bases, key)
	}
	delete(u.prior, key)
}

func (u *unit) setBase(b *state.Base) {
	if _, ok := u.bases[b.Key]; !ok {
		u.order = append(u.order, b.Key)
	}
	u.bases[b.Key] = *b
}

// applyBoth decides and applies changes of a both-way pipeline in u. Per
// key only the latest change whose row is still the source's current row
// is decided (the others were superseded by later writes, which come
// later); it is compared with the target's row, read locked in u's
// transaction, and with the base. See decide.
func (f *flowRun) applyBoth(ctx context.Context, u *unit, changes []change.Change) error {
	name := f.plan.Cfg.Name
	u.n += len(changes)
	keys, work, err := f.gather(ctx, changes)
	if err != nil || len(keys) == 0 {
		return err
	}
	src, cur, bases, err := f.readState(ctx, u, keys, work)
	if err != nil {
		return err
	}
	var writes []*verdict
	var owners []*keyWork
	for _, ks := range keys {
		w := work[ks]
		if _, held := f.both.parked[ks]; held || u.held[ks] {
			f.m.BothSkipped.WithLabelValues(name, "conflict_parked").Inc()
			continue
		}
		w.s, w.c = src[ks], cur[ks]
		w.pre = w.s
		if b, ok := bases[ks]; ok {
			w.base = &b
		}
		u.carry(w)
		if !f.pickPart(w) {
			f.m.BothSkipped.WithLabelValues(name, "superseded").Inc()
			continue
		}
		vd, err := f.view.decide(w)
		if err != nil {
			if err := f.park(ctx, w.orig, fmt.Errorf("map: %w", err)); err != nil {
				return err
			}
			continue
		}
		switch vd.kind {
		case vEcho:
			f.m.EchoSuppressed.WithLabelValues(name).Inc()
			continue
		case vDefer:
			f.m.BothSkipped.WithLabelValues(name, "deferred").Inc()
			continue
		case vAgree:
			f.m.EchoSuppressed.WithLabelValues(name).Inc()
		}
		writes, owners = append(writes, &vd), append(owners, w)
	}
	return f.applyVerdicts(ctx, u, writes, owners)
}

// readState reads, for keys, the source side's rows (unlocked), the target
// side's rows (locked, in u's transaction) and the bases: three independent
// reads, run in parallel.
func (f *flowRun) readState(ctx context.Context, u *unit, keys []string, work map[string]*keyWork) (src, cur map[string]change.Row, bases map[string]state.Base, err error) {
	srcKeys := make([]change.Key, len(keys))
	var after []string // the delivered transactions the source read must see
	seen := map[string]bool{}
	for i, k := range keys {
		srcKeys[i] = work[k].key
		for _, p := range work[k].parts {
			if id := p.orig.TxID; id != "" && !seen[id] {
				seen[id] = true
				after = append(after, id)
			}
		}
	}
	rr, ok := f.plan.From.(connector.RowReader)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: store %s cannot read rows by key (connector.RowReader), which both-way flows need", errConfig, f.plan.Cfg.From.Store)
	}
	tr, ok := u.tx.(connector.TxReader)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: store %s cannot read rows inside a transaction (connector.TxReader), which both-way flows need", errConfig, f.plan.Cfg.To.Store)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if src, err = rr.ReadRows(gctx, connector.RowsRequest{Table: f.plan.Cfg.From.Table, Key: f.plan.Key, Keys: srcKeys, After: after}); err != nil {
			return fmt.Errorf("read source rows: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		if cur, err = tr.Current(gctx, srcKeys); err != nil {
			return fmt.Errorf("read target rows: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		if bases, err = f.both.bases(gctx, keys); err != nil {
			return fmt.Errorf("read bases: %w", err)
		}
		return nil
	})
	err = g.Wait()
	return src, cur, bases, err
}

// gather drops echoes and truncates, parks what waits behind the
// dead-letter queue, splits key changes and groups the parts by key (in
// order of first appearance).
func (f *flowRun) gather(ctx context.Context, changes []change.Change) ([]string, map[string]*keyWork, error) {
	name := f.plan.Cfg.Name
	origins := f.both.origins[f.bside]
	var keys []string
	work := map[string]*keyWork{}
	for i := range changes {
		c := &changes[i]
		if c.Origin != "" && origins[c.Origin] {
			f.m.EchoSuppressed.WithLabelValues(name).Inc()
			continue
		}
		if c.Op == change.OpTruncate {
			err := errors.New("a TRUNCATE is not applied in a both-way flow (the other side's rows would be conflicts); " +
				"clear the other side yourself if you mean it, then drop this entry")
			if err := f.park(ctx, c, err); err != nil {
				return nil, nil, err
			}
			continue
		}
		if f.parked.behind(c) {
			if err := f.park(ctx, c, nil); err != nil {
				return nil, nil, err
			}
			continue
		}
		for _, part := range transform.SplitKeyChange(*c, f.plan.Key) {
			key := part.Key
			if len(key) != len(f.plan.Key) {
				row := part.After
				if row == nil {
					row = part.Before
				}
				k, ok := change.KeyOf(row, f.plan.Key)
				if !ok {
					if err := f.park(ctx, c, fmt.Errorf("change has no key: want values for %v", f.plan.Key)); err != nil {
						return nil, nil, err
					}
					break
				}
				key = k
			}
			ks := key.String()
			w, ok := work[ks]
			if !ok {
				w = &keyWork{key: key, ks: ks}
				work[ks] = w
				keys = append(keys, ks)
			}
			p := part
			p.Key = key
			w.parts = append(w.parts, keyPart{change: &p, orig: c})
		}
	}
	return keys, work, nil
}

// pickPart chooses the latest part whose row is the source's current row,
// or a delete syncbridge overwrote (see keyWork.clobbered).
func (f *flowRun) pickPart(w *keyWork) bool {
	for i := len(w.parts) - 1; i >= 0; i-- {
		if f.view.matches(w.parts[i].change, w.s) {
			w.part, w.orig = w.parts[i].change, w.parts[i].orig
			return true
		}
	}
	last := w.parts[len(w.parts)-1]
	if f.view.clobbered(last.change, w.s, w.base) {
		w.part, w.orig, w.clobbered, w.s = last.change, last.orig, true, nil
		return true
	}
	return false
}

// applyVerdicts writes the target side's changes in u's transaction and
// keeps the rest for commit. A change the target refuses is parked in the
// dead-letter queue with its key's decision.
func (f *flowRun) applyVerdicts(ctx context.Context, u *unit, vds []*verdict, ws []*keyWork) error {
	type pending struct {
		v *verdict
		w *keyWork
	}
	var todo []pending
	for i := range vds {
		todo = append(todo, pending{vds[i], ws[i]})
	}
	for len(todo) > 0 {
		var dst []change.Change
		var idx []int
		for i, p := range todo {
			if p.v.dst != nil {
				dst = append(dst, *p.v.dst)
				idx = append(idx, i)
			}
		}
		var ae *connector.ApplyError
		if len(dst) > 0 {
			if err := u.tx.Apply(ctx, dst); err != nil && !asApplyError(err, &ae) {
				return fmt.Errorf("apply: %w", err)
			}
		}
		done := len(todo)
		if ae != nil {
			done = idx[ae.Index]
		}
		for _, p := range todo[:done] {
			f.record(u, p.v, p.w)
		}
		if ae == nil {
			return nil
		}
		bad := todo[done]
		skip, err := f.orderRefusal(ae, bad.w.orig, bad.v.dst)
		if err != nil {
			return err
		}
		if !skip && !ae.Permanent {
			f.attempts[bad.w.orig.ID]++
			if f.attempts[bad.w.orig.ID] < f.plan.Cfg.Retry.MaxAttempts {
				return fmt.Errorf("apply change %s: %w", bad.w.orig.ID, ae.Err)
			}
		}
		if !skip {
			if err := f.park(ctx, bad.w.orig, ae.Err); err != nil {
				return err
			}
		}
		todo = todo[done+1:]
	}
	return nil
}

// record keeps what a verdict leaves for commit.
func (f *flowRun) record(u *unit, v *verdict, w *keyWork) {
	if v.dst != nil {
		u.counts.applied[v.dst.Op]++
		if w.part.CommitTime.After(u.counts.lastCommit) {
			u.counts.lastCommit = w.part.CommitTime
		}
	}
	if v.back != nil {
		u.addBack(backWrite{Key: w.ks, Change: *v.back, Pre: w.pre})
	}
	if v.conflict != nil {
		c := *v.conflict
		if c.Status == state.ConflictParked {
			u.held[w.ks] = true
		}
		c.Flow, c.At = f.both.fp.Cfg.Name, time.Now().UTC()
		u.conflicts = append(u.conflicts, c)
	}
	if v.base != nil {
		u.setBase(v.base)
	}
}

// commitBoth commits u with cp. The order makes a crash at any point
// recoverable (see bidi.recoverIntents): the intent is saved, then the
// target transaction commits with cp, then the write-backs commit with the
// intent's token. The bases and conflicts, durable in the intent, are
// recorded in the state store with the next transaction's intent (one
// state write per transaction), or when the pipeline idles or stops;
// meanwhile they are pending in memory, where reads of bases find them.
// Write-backs are applied only where the source's row is still the one
// decided on: a write there since goes to the next decision instead.
func (f *flowRun) commitBoth(ctx context.Context, u *unit, cp connector.Checkpoint) (err error) {
	b := f.both
	defer func() {
		if err != nil {
			u.tx.Rollback()
			b.recover = true
		}
	}()
	if len(u.bases) == 0 && len(u.conflicts) == 0 && len(u.backs) == 0 {
		if err := u.tx.Commit(ctx, cp); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	d := intentData{Checkpoint: cp, Conflicts: u.conflicts, Replay: f.replay}
	var xtx connector.Tx
	if len(u.backs) > 0 {
		d.Token = f.plan.Cfg.Name + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if xtx, d.Backs, err = f.writeBacks(ctx, u); err != nil {
			return err
		}
		defer xtx.Rollback()
	}
	for _, k := range u.order {
		if base, ok := u.bases[k]; ok {
			d.Bases = append(d.Bases, base)
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode intent: %w", err)
	}
	flow := b.fp.Cfg.Name
	// The intent goes in with the outcome of the previous transaction's.
	next := state.Intent{Name: f.plan.Cfg.Name, Flow: flow, Data: data}
	prev := f.unflushed
	if prev == nil {
		prev = &unflushed{}
	}
	if err := f.eng.state.ReplaceIntent(ctx, flow, prev.Bases, prev.Conflicts, next); err != nil {
		return fmt.Errorf("save intent: %w", err)
	}
	b.release(prev.Bases, prev.gen)
	f.unflushed = nil
	armed := len(d.Backs) > 0
	f.eng.fault(FaultAfterIntent, armed)
	if err := u.tx.Commit(ctx, cp); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	f.eng.fault(FaultAfterTargetCommit, armed)
	if xtx != nil {
		if err := xtx.Commit(ctx, b.tokenCheckpoint(f.bside, d.Token)); err != nil {
			return fmt.Errorf("commit write-back: %w", err)
		}
		u.counts.applied[change.OpUpdate] += len(d.Backs)
	}
	f.eng.fault(FaultAfterWriteBack, armed)
	f.unflushed = &unflushed{Bases: d.Bases, Conflicts: d.Conflicts, gen: b.hold(d.Bases)}
	b.noteConflicts(d.Conflicts)
	for _, c := range d.Conflicts {
		if c.Status == state.ConflictParked {
			f.log.Warn("conflict parked for an operator", "key", c.Key, "reason", c.Reason)
		}
	}
	return nil
}

// writeBacks opens the write-back transaction on the source side and
// applies u's write-backs where the source's rows are still the ones
// decided on; the keys of the others keep their old base. It returns the
// open transaction and the write-backs applied.
func (f *flowRun) writeBacks(ctx context.Context, u *unit) (connector.Tx, []backWrite, error) {
	xtx, err := f.both.wb[f.bside].Begin(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("begin write-back: %w", err)
	}
	kept, err := f.both.applyBacks(ctx, xtx, u.backs)
	if err != nil {
		xtx.Rollback()
		return nil, nil, err
	}
	var backs []backWrite
	for _, w := range u.backs {
		if kept[w.Key] {
			backs = append(backs, w)
		} else {
			u.restoreBase(w.Key)
		}
	}
	return xtx, backs, nil
}

func asApplyError(err error, ae **connector.ApplyError) bool { return errors.As(err, ae) }
