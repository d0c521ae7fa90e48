package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// applyAndCommitBoth is applyAndCommit for a pipeline of a both-way flow.
func (f *flowRun) applyAndCommitBoth(ctx context.Context, changes []change.Change, cp connector.Checkpoint) error {
	if err := f.both.lock(ctx); err != nil {
		return err
	}
	defer f.both.unlock()
	u, err := f.beginUnit(ctx)
	if err != nil {
		return err
	}
	if err := f.applyBoth(ctx, u, changes); err != nil {
		u.tx.Rollback()
		return err
	}
	if err := f.commitBoth(ctx, u, cp); err != nil {
		return err
	}
	f.committed(ctx, cp, u.counts, u.n, time.Since(u.started))
	return nil
}

// applyStreamBoth is applyStream for a pipeline of a both-way flow. The
// flow's lock is taken only once a batch is in hand and released at each
// commit: a pipeline never holds it, or an open target transaction, while
// waiting for input between source transactions, so the other pipeline is
// never blocked on an idle one. Inside a source transaction that spans
// batches it waits for the rest with the lock held: the reader never needs
// it, so the wait is as short as reading.
func (f *flowRun) applyStreamBoth(ctx context.Context, cp *connector.Checkpoint, in <-chan connector.Batch, acks chan change.Position) (progressed bool, err error) {
	name := f.plan.Cfg.Name
	size := f.plan.Cfg.Batch.Size
	lastCommit := time.Now()
	count := func(b connector.Batch) {
		for _, c := range b.Changes {
			f.m.Captured.WithLabelValues(name, c.Op.String()).Inc()
		}
	}
	next := func() (connector.Batch, error) {
		select {
		case b := <-in:
			count(b)
			return b, nil
		case <-ctx.Done():
			return connector.Batch{}, ctx.Err()
		}
	}
	finished := f.order.finished() // --once: the flows ordered with this one reached their targets
	for {
		var b connector.Batch
		select {
		case b = <-in:
			count(b)
		case <-finished:
			if f.once {
				f.flushStatus(ctx, *cp)
				return progressed, errDone
			}
			finished = nil
			continue
		case <-ctx.Done():
			return progressed, ctx.Err()
		}
		if len(b.Changes) == 0 {
			if err := f.flushLocked(ctx); err != nil {
				return progressed, err
			}
			if b.Position != nil && time.Since(lastCommit) >= idleCommitEvery && !samePos(b.Position, cp.Position) {
				if err := f.commitPosition(ctx, cp, b.Position, nil); err != nil {
					return progressed, err
				}
				progressed, lastCommit = true, time.Now()
				sendAck(acks, cp.Position)
			}
			f.order.advance(b.Position)
		} else {
			for {
				b, err = f.commitRun(ctx, cp, b, next, in, size)
				var r *orderRetry
				if !errors.As(err, &r) {
					break
				}
				if err := f.waitOrder(ctx, r.w); err != nil {
					return progressed, err
				}
				// The rest ends with the batch in hand when it failed.
				b = connector.Batch{Changes: r.rest, Position: b.Position, CaughtUp: b.CaughtUp}
			}
			if err != nil {
				return progressed, err
			}
			progressed, lastCommit = true, time.Now()
			sendAck(acks, cp.Position)
			f.order.advance(cp.Position)
		}
		if f.once && b.Position != nil && f.reachedTarget(b) && f.order.finish() {
			f.flushStatus(ctx, *cp)
			return progressed, errDone
		}
	}
}

// commitRun applies b, and the batches after it up to a transaction
// boundary (more, while they are already waiting and the batch is not
// full), in one unit, and commits it.
// It returns the last batch applied.
func (f *flowRun) commitRun(ctx context.Context, cp *connector.Checkpoint, b connector.Batch,
	next func() (connector.Batch, error), in <-chan connector.Batch, size int) (connector.Batch, error) {
	if err := f.both.lock(ctx); err != nil {
		return b, err
	}
	defer f.both.unlock()
	u, err := f.beginUnit(ctx)
	if err != nil {
		return b, err
	}
	var applied [][]change.Change
	for {
		if err := f.applyBoth(ctx, u, b.Changes); err != nil {
			u.tx.Rollback()
			if w := asOrderWait(err); w != nil {
				rest, w, err := f.commitPrefixBoth(ctx, cp, append(applied, b.Changes), w)
				if err != nil {
					return b, err
				}
				return b, &orderRetry{w: w, rest: rest}
			}
			return b, err
		}
		if f.order != nil {
			applied = append(applied, b.Changes)
		}
		if b.Position != nil && (u.n >= size || len(in) == 0 || b.CaughtUp) {
			break
		}
		if b, err = next(); err != nil {
			u.tx.Rollback()
			return b, err
		}
	}
	return b, f.commitPosition(ctx, cp, b.Position, u)
}

// commitPosition commits u (a checkpoint-only transaction when nil) at pos
// and advances cp.
func (f *flowRun) commitPosition(ctx context.Context, cp *connector.Checkpoint, pos change.Position, u *unit) error {
	nextCP := *cp
	nextCP.Position, nextCP.Phase = pos, connector.PhaseStream
	if u == nil {
		if err := f.both.lock(ctx); err != nil {
			return err
		}
		defer f.both.unlock()
		var err error
		if u, err = f.beginUnit(ctx); err != nil {
			return err
		}
	}
	if err := f.commitBoth(ctx, u, nextCP); err != nil {
		return fmt.Errorf("commit at %s: %w", pos, err)
	}
	*cp = nextCP
	f.committed(ctx, nextCP, u.counts, u.n, time.Since(u.started))
	return nil
}

// sendAck hands the reader the newest position to acknowledge; an older one
// still waiting can be dropped.
func sendAck(acks chan change.Position, pos change.Position) {
	select {
	case acks <- pos:
	default:
		select {
		case <-acks:
		default:
		}
		acks <- pos
	}
}

// orderRetry is returned by commitRun after a foreign key refusal in an
// ordered flow: the part before the refused change's source transaction is
// committed; rest is to be applied again once waitOrder returns, outside
// the flow's lock.
type orderRetry struct {
	w    *orderWait
	rest []change.Change
}

func (r *orderRetry) Error() string { return r.w.Error() }

// commitPrefixBoth is commitPrefix for a pipeline of a both-way flow; the
// flow's lock is held.
func (f *flowRun) commitPrefixBoth(ctx context.Context, cp *connector.Checkpoint, batches [][]change.Change, w *orderWait) ([]change.Change, *orderWait, error) {
	return commitBefore(batches, w, func(prefix []change.Change) error {
		u, err := f.beginUnit(ctx)
		if err != nil {
			return err
		}
		if err := f.applyBoth(ctx, u, prefix); err != nil {
			u.tx.Rollback()
			return err
		}
		return f.commitPosition(ctx, cp, cp.Position, u)
	})
}
