package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
)

// side is one end of a both-way flow.
type side int

// The sides.
const (
	fromSide side = iota + 1 // the flow's from store
	toSide                   // the flow's to store
)

func (s side) String() string {
	if s == fromSide {
		return "from"
	}
	return "to"
}

func (s side) other() side {
	if s == fromSide {
		return toSide
	}
	return fromSide
}

// bidi is what the two pipelines of a both-way flow share at run time. Its
// mutex is held around each pipeline's decide, apply and commit of one
// target transaction (and never while waiting for input between source
// transactions), so the two never decide on stale bases nor write one row
// at once.
type bidi struct {
	mu   sync.Mutex
	plan *bothPlan
	fp   *FlowPlan // the forward pipeline's plan
	eng  *Engine
	log  *slog.Logger
	m    *observe.Metrics

	wb      map[side]connector.Sink  // write-back sinks into each side
	origins map[side]map[string]bool // replication origins syncbridge writes each side with
	pipes   map[side]*flowRun        // the pipeline reading from each side
	parked  map[string]int64         // keys with a parked conflict -> its seq

	recover   bool // intents may be outstanding: finish them before the next transaction
	lastPrune time.Time

	// pending holds the bases a pipeline's last transaction decided, which
	// are durable in its intent but not yet in the bases table: the intent
	// is finished with the next transaction's (state.ReplaceIntent), or
	// when the pipeline idles or stops. Reads of bases see them first.
	pending map[string]pendingBase
	gen     uint64
}

type pendingBase struct {
	base state.Base
	gen  uint64
}

// pruneEvery is how often expired tombstones are removed.
const pruneEvery = 10 * time.Minute

// newBidi opens the write-back sinks of a both-way flow and loads its parked
// conflicts. fwd and rev are its two pipelines, their sinks open.
func newBidi(ctx context.Context, e *Engine, fp *FlowPlan, fwd, rev *flowRun) (*bidi, error) {
	b := &bidi{plan: fp.both, fp: fp, eng: e, log: fwd.log, m: e.metrics, recover: true,
		wb:      map[side]connector.Sink{},
		origins: map[side]map[string]bool{fromSide: {}, toSide: {}},
		pipes:   map[side]*flowRun{fromSide: fwd, toSide: rev},
		parked:  map[string]int64{},
		pending: map[string]pendingBase{},
	}
	var err error
	if b.wb[fromSide], err = fp.From.Sink(ctx, fp.both.wbFrom); err != nil {
		return nil, fmt.Errorf("open write-back sink of %s: %w", fp.Cfg.From.Store, err)
	}
	if b.wb[toSide], err = fp.To.Sink(ctx, fp.both.wbTo); err != nil {
		b.wb[fromSide].Close()
		return nil, fmt.Errorf("open write-back sink of %s: %w", fp.Cfg.To.Store, err)
	}
	for s, sinks := range map[side][]connector.Sink{toSide: {fwd.sink, b.wb[toSide]}, fromSide: {rev.sink, b.wb[fromSide]}} {
		for _, sk := range sinks {
			if om, ok := sk.(connector.OriginMarker); ok && om.Origin() != "" {
				b.origins[s][om.Origin()] = true
			}
		}
	}
	parked, err := e.state.Conflicts(ctx, fp.Cfg.Name, state.ConflictParked)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("read parked conflicts: %w", err)
	}
	for _, c := range parked {
		b.parked[c.Key] = c.Seq
	}
	fwd.both, fwd.bside = b, fromSide
	rev.both, rev.bside = b, toSide
	return b, nil
}

func (b *bidi) close() {
	for _, s := range b.wb {
		s.Close()
	}
}

// lock takes the flow's mutex, first finishing intents a failed or crashed
// transaction left, and pruning expired tombstones now and then.
func (b *bidi) lock(ctx context.Context) error {
	b.mu.Lock()
	if b.recover {
		if err := b.recoverIntents(ctx); err != nil {
			b.mu.Unlock()
			return fmt.Errorf("finish the previous transaction: %w", err)
		}
		b.recover = false
	}
	if time.Since(b.lastPrune) > pruneEvery && b.plan.ttl > 0 {
		b.lastPrune = time.Now()
		n, err := b.eng.state.PruneTombstones(ctx, b.fp.Cfg.Name, time.Now().Add(-b.plan.ttl))
		if err != nil {
			b.log.Warn("state store: prune tombstones", "error", err)
		} else if n > 0 {
			b.log.Info("expired tombstones pruned", "count", n)
		}
	}
	return nil
}

func (b *bidi) unlock() { b.mu.Unlock() }

// intentData is the redo record of one both-way transaction: saved before
// its target transaction commits, finished after its write-backs commit.
type intentData struct {
	// Checkpoint is what the target transaction commits with: the target's
	// checkpoint equals it exactly when that transaction committed.
	Checkpoint connector.Checkpoint `json:"checkpoint"`
	// Token is the position the write-back transaction commits with, so
	// recovery can tell whether it committed.
	Token string `json:"token,omitempty"`
	// Replay is set when the target transaction is a dead-letter replay's,
	// committed through the target side's write-back sink with Checkpoint.
	Replay    bool             `json:"replay,omitempty"`
	Backs     []backWrite      `json:"backs,omitempty"`
	Bases     []state.Base     `json:"bases,omitempty"`
	Conflicts []state.Conflict `json:"conflicts,omitempty"`
}

// backWrite is a conflict's winner written back to the side a change came
// from, applied only while that side still holds Pre (compare-and-set).
type backWrite struct {
	Key    string        `json:"key"`
	Change change.Change `json:"change"`
	Pre    change.Row    `json:"pre"` // the row the decision saw; nil = absent
}

// recoverIntents finishes what a transaction that failed half way left: if
// its target transaction committed, the write-backs are applied (where the
// rows are still as the decision saw them) and the bases and conflicts are
// recorded; if it did not, nothing happened and the intent goes.
func (b *bidi) recoverIntents(ctx context.Context) error {
	flow := b.fp.Cfg.Name
	intents, err := b.eng.state.Intents(ctx, flow)
	if err != nil {
		return err
	}
	// Whatever is pending is in these intents.
	clear(b.pending)
	for _, p := range b.pipes {
		p.unflushed = nil
	}
	for _, in := range intents {
		var d intentData
		if err := json.Unmarshal(in.Data, &d); err != nil {
			return fmt.Errorf("intent %s: %w", in.Name, err)
		}
		p := b.pipes[fromSide]
		if in.Name != p.plan.Cfg.Name {
			p = b.pipes[toSide]
		}
		target := p.sink
		if d.Replay {
			target = b.wb[p.bside.other()]
		}
		cp, err := target.Checkpoint(ctx)
		if err != nil {
			return fmt.Errorf("intent %s: read checkpoint: %w", in.Name, err)
		}
		if !sameCheckpoint(cp, &d.Checkpoint) {
			// The target transaction never committed; its changes will be
			// read again from the checkpoint before it.
			if err := b.eng.state.FinishIntent(ctx, flow, in.Name, nil, nil); err != nil {
				return err
			}
			b.log.Info("dropped the intent of a both-way transaction that never committed", "pipeline", in.Name)
			continue
		}
		if len(d.Backs) > 0 {
			wcp, err := b.wb[p.bside].Checkpoint(ctx)
			if err != nil {
				return fmt.Errorf("intent %s: read write-back checkpoint: %w", in.Name, err)
			}
			if wcp == nil || string(wcp.Position) != d.Token {
				kept, err := b.writeBack(ctx, p.bside, d.Backs, d.Token)
				if err != nil {
					return fmt.Errorf("intent %s: %w", in.Name, err)
				}
				d.Bases = dropBases(d.Bases, d.Backs, kept)
			}
		}
		if err := b.eng.state.FinishIntent(ctx, flow, in.Name, d.Bases, d.Conflicts); err != nil {
			return err
		}
		b.noteConflicts(d.Conflicts)
		b.log.Info("recorded a both-way transaction left by an earlier run", "pipeline", in.Name,
			"bases", len(d.Bases), "write_backs", len(d.Backs))
	}
	return nil
}

// writeBack applies backs to side s in one transaction committed with
// token: each only where the row is still the one its decision saw. It
// returns which were applied (by key).
func (b *bidi) writeBack(ctx context.Context, s side, backs []backWrite, token string) (map[string]bool, error) {
	tx, err := b.wb[s].Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin write-back: %w", err)
	}
	defer tx.Rollback()
	kept, err := b.applyBacks(ctx, tx, backs)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx, b.tokenCheckpoint(s, token)); err != nil {
		return nil, fmt.Errorf("commit write-back: %w", err)
	}
	return kept, nil
}

// applyBacks writes backs in tx where the current row is still the one
// the decision saw. A write-back the store refuses is left out and logged:
// the conflict stays recorded and the next change to the key decides again.
func (b *bidi) applyBacks(ctx context.Context, tx connector.Tx, backs []backWrite) (map[string]bool, error) {
	keys := make([]change.Key, len(backs))
	for i, w := range backs {
		keys[i] = w.Change.Key
	}
	r, ok := tx.(connector.TxReader)
	if !ok {
		return nil, fmt.Errorf("the store's sink cannot read rows inside a transaction (connector.TxReader)")
	}
	cur, err := r.Current(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read rows to write back: %w", err)
	}
	kept := map[string]bool{}
	var work []backWrite
	for _, w := range backs {
		if sameRow(cur[w.Key], w.Pre, nil) {
			work = append(work, w)
		}
	}
	for len(work) > 0 {
		chs := make([]change.Change, len(work))
		for i := range work {
			chs[i] = work[i].Change
		}
		err := tx.Apply(ctx, chs)
		var ae *connector.ApplyError
		if err != nil && !asApplyError(err, &ae) {
			return nil, fmt.Errorf("write back: %w", err)
		}
		done := len(work)
		if ae != nil {
			done = ae.Index
		}
		for _, w := range work[:done] {
			kept[w.Key] = true
		}
		if ae == nil {
			break
		}
		b.log.Error("a conflict's winner could not be written back; the key is decided again with its next change",
			"key", work[ae.Index].Key, "error", ae.Err)
		work = work[ae.Index+1:]
	}
	return kept, nil
}

// tokenCheckpoint is what a write-back transaction commits: its own row in
// the side's checkpoint table, holding the intent's token.
func (b *bidi) tokenCheckpoint(s side, token string) connector.Checkpoint {
	spec := b.plan.wbFrom
	if s == toSide {
		spec = b.plan.wbTo
	}
	return connector.Checkpoint{Flow: spec.Flow, Phase: connector.PhaseStream, Position: change.Position(token)}
}

// noteConflicts updates the parked keys and the metrics after conflicts are
// recorded.
func (b *bidi) noteConflicts(cs []state.Conflict) {
	for _, c := range cs {
		outcome := c.Winner
		if c.Status == state.ConflictParked {
			b.parked[c.Key] = 0
			outcome = "parked"
		}
		b.m.Conflicts.WithLabelValues(b.fp.Cfg.Name, c.Policy, outcome).Inc()
	}
}

// dropBases leaves out the bases of write-backs that were not applied:
// those keys keep their old base and are decided again.
func dropBases(bases []state.Base, backs []backWrite, kept map[string]bool) []state.Base {
	skip := map[string]bool{}
	for _, w := range backs {
		if !kept[w.Key] {
			skip[w.Key] = true
		}
	}
	if len(skip) == 0 {
		return bases
	}
	out := bases[:0:0]
	for _, b := range bases {
		if !skip[b.Key] {
			out = append(out, b)
		}
	}
	return out
}

func sameCheckpoint(a, b *connector.Checkpoint) bool {
	if a == nil || b == nil {
		return a == b
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// startReverse sets up the reverse pipeline of a both-way flow beside its
// forward one (in runs): it backfills after the forward backfill, so only
// rows the to side alone has go back.
func (e *Engine) startReverse(ctx context.Context, runs map[string]*flowRun, fp *FlowPlan,
	prior map[string]state.FlowStatus, opts RunOptions) (*bidi, error) {
	rp := fp.Reverse
	fwd := runs[fp.Cfg.Name]
	status := prior[rp.Cfg.Name]
	status.Flow, status.Holder, status.LastError = rp.Cfg.Name, e.holder, ""
	src, err := rp.From.Source(ctx, rp.Source)
	if err != nil {
		return nil, fmt.Errorf("open reverse source: %w", err)
	}
	sink, err := rp.To.Sink(ctx, rp.Sink)
	if err != nil {
		return nil, fmt.Errorf("open reverse sink: %w", err)
	}
	rev := &flowRun{plan: rp, eng: e, m: e.metrics, src: src, sink: sink, once: opts.Once,
		log: e.log.With(observe.KeyFlow, rp.Cfg.Name), backfilled: make(chan struct{}),
		attempts: map[string]int{}, started: time.Now(), status: status,
		deps: []chan struct{}{fwd.backfilled}}
	b, err := newBidi(ctx, e, fp, fwd, rev)
	if err != nil {
		sink.Close()
		return nil, err
	}
	fwd.view, rev.view = newView(fp.both, fromSide), newView(fp.both, toSide)
	runs[rp.Cfg.Name] = rev
	return b, nil
}

// bases reads the bases of keys: the state store's, under those pending.
func (b *bidi) bases(ctx context.Context, keys []string) (map[string]state.Base, error) {
	out, err := b.eng.state.Bases(ctx, b.fp.Cfg.Name, keys)
	if err != nil || len(b.pending) == 0 {
		return out, err
	}
	for _, k := range keys {
		if p, ok := b.pending[k]; ok {
			out[k] = p.base
		}
	}
	return out, nil
}

// hold makes bases pending and returns their generation.
func (b *bidi) hold(bases []state.Base) uint64 {
	b.gen++
	for _, base := range bases {
		b.pending[base.Key] = pendingBase{base: base, gen: b.gen}
	}
	return b.gen
}

// release drops the pending bases of generation gen that no later
// transaction replaced: they are in the bases table now.
func (b *bidi) release(bases []state.Base, gen uint64) {
	for _, base := range bases {
		if p, ok := b.pending[base.Key]; ok && p.gen == gen {
			delete(b.pending, base.Key)
		}
	}
}

// flush records the pipeline's last transaction's bases and conflicts and
// removes its intent. The caller holds the lock.
func (f *flowRun) flush(ctx context.Context) error {
	u := f.unflushed
	if u == nil {
		return nil
	}
	if err := f.eng.state.FinishIntent(ctx, f.both.fp.Cfg.Name, f.plan.Cfg.Name, u.Bases, u.Conflicts); err != nil {
		f.both.recover = true
		return fmt.Errorf("record bases: %w", err)
	}
	f.both.release(u.Bases, u.gen)
	f.unflushed = nil
	return nil
}

// flushLocked is flush taking the lock, for a pipeline that idles or stops.
func (f *flowRun) flushLocked(ctx context.Context) error {
	if f.both == nil || f.unflushed == nil {
		return nil
	}
	f.both.mu.Lock()
	defer f.both.mu.Unlock()
	return f.flush(ctx)
}
