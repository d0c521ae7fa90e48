package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
)

// pipeline resolves the name of a pipeline: a flow, or the reverse
// pipeline of a both-way flow ("<flow>.reverse"). It returns the flow's
// plan and the pipeline's.
func (e *Engine) pipeline(name string) (flow, pipe *FlowPlan, ok bool) {
	if base, found := strings.CutSuffix(name, ReverseSuffix); found {
		fp, ok := e.plan.Flow(base)
		if !ok || fp.Reverse == nil {
			return nil, nil, false
		}
		return fp, fp.Reverse, true
	}
	fp, ok := e.plan.Flow(name)
	return fp, fp, ok
}

// replayBoth replays parked changes of one pipeline of a both-way flow. A
// both-way pipeline decides on rows as they are now, so each parked key is
// decided again once, from the source's current row, with the last parked
// change's ID (a failure re-parks that entry in place). The target is
// written through its side's write-back sink, so the pipeline's checkpoint
// does not move. The caller holds the flow's lease.
func (e *Engine) replayBoth(ctx context.Context, fp, pipe *FlowPlan, entries []state.DLQEntry, want map[int64]bool) ([]ReplayResult, error) {
	runs, b, closeAll, err := e.openBoth(ctx, fp)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	f := runs[pipe.Cfg.Name]
	f.sink, f.replay = b.wb[f.bside.other()], true

	// Group the entries to replay by key; a key with an entry not asked for
	// stays parked whole, to keep its order.
	var keys []string
	byKey := map[string][]state.DLQEntry{}
	blocked := map[string]bool{}
	for _, en := range entries {
		if len(want) > 0 && !want[en.Seq] {
			blocked[en.Key] = true
		}
		if _, ok := byKey[en.Key]; !ok {
			keys = append(keys, en.Key)
		}
		byKey[en.Key] = append(byKey[en.Key], en)
	}
	work, err := replayWork(ctx, pipe, keys, byKey, blocked)
	if err != nil {
		return nil, err
	}
	if len(work) > 0 {
		if err := f.replayUnit(ctx, work); err != nil {
			return nil, err
		}
	}
	var out []ReplayResult
	for _, k := range keys {
		failed := blocked[k]
		if _, again := f.parked.first[k]; again {
			failed = true
		}
		for _, en := range byKey[k] {
			if failed {
				msg := "parked again: see the entry's error"
				if blocked[k] {
					msg = "another parked change to the same key was not replayed"
				}
				out = append(out, ReplayResult{Entry: en, Error: msg})
				continue
			}
			if err := e.state.Unpark(ctx, en.Seq); err != nil {
				return out, fmt.Errorf("remove replayed entry %d: %w", en.Seq, err)
			}
			out = append(out, ReplayResult{Entry: en, Applied: true})
		}
	}
	return out, nil
}

// openBoth opens both pipelines of a both-way flow outside Run (sources not
// streaming, sinks idle) and their shared state. closeAll releases them.
func (e *Engine) openBoth(ctx context.Context, fp *FlowPlan) (runs map[string]*flowRun, b *bidi, closeAll func(), err error) {
	runs = map[string]*flowRun{}
	var closers []func() error
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	for _, p := range []*FlowPlan{fp, fp.Reverse} {
		src, err := p.From.Source(ctx, p.Source)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("open source of %s: %w", p.Cfg.Name, err)
		}
		sink, err := p.To.Sink(ctx, p.Sink)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("open sink of %s: %w", p.Cfg.Name, err)
		}
		closers = append(closers, sink.Close)
		runs[p.Cfg.Name] = &flowRun{plan: p, eng: e, m: e.metrics, src: src, sink: sink,
			log: e.log.With(observe.KeyFlow, p.Cfg.Name), attempts: map[string]int{},
			parked: &parkedKeys{src: src, first: map[string]*change.Change{}}}
	}
	fwd, rev := runs[fp.Cfg.Name], runs[fp.Reverse.Cfg.Name]
	if b, err = newBidi(ctx, e, fp, fwd, rev); err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	closers = append(closers, func() error { b.close(); return nil })
	fwd.view, rev.view = newView(fp.both, fromSide), newView(fp.both, toSide)
	return runs, b, closeAll, nil
}

// replayWork is, per parked key not blocked, the change to decide: the
// source's row as it is now, under the ID of the key's last parked change.
func replayWork(ctx context.Context, pipe *FlowPlan, keys []string, byKey map[string][]state.DLQEntry, blocked map[string]bool) ([]change.Change, error) {
	rr, ok := pipe.From.(connector.RowReader)
	if !ok {
		return nil, fmt.Errorf("store %s cannot read rows by key", pipe.Cfg.From.Store)
	}
	var work []change.Change
	for _, k := range keys {
		if blocked[k] {
			continue
		}
		last := byKey[k][len(byKey[k])-1].Change
		rows, err := rr.ReadRows(ctx, connector.RowsRequest{Table: pipe.Cfg.From.Table, Key: pipe.Key, Keys: []change.Key{last.Key}})
		if err != nil {
			return nil, fmt.Errorf("read the source row of key %s: %w", k, err)
		}
		c := last
		c.Before, c.Columns, c.After, c.Op = nil, nil, rows[k], change.OpUpdate
		if c.After == nil {
			c.Op = change.OpDelete
		}
		work = append(work, c)
	}
	return work, nil
}

// replayUnit decides and applies work in one unit committed through the
// write-back sink of the target side.
func (f *flowRun) replayUnit(ctx context.Context, work []change.Change) error {
	b := f.both
	if err := b.lock(ctx); err != nil {
		return err
	}
	defer b.unlock()
	u, err := f.beginUnit(ctx)
	if err != nil {
		return err
	}
	if err := f.applyBoth(ctx, u, work); err != nil {
		u.tx.Rollback()
		return err
	}
	token := "replay:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := f.commitBoth(ctx, u, b.tokenCheckpoint(f.bside.other(), token)); err != nil {
		return err
	}
	return f.flush(ctx)
}
