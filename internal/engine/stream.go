package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"golang.org/x/sync/errgroup"
)

// readAhead is how many source batches may wait for the applier. It bounds
// memory: with batch.size changes per batch, at most (readAhead+2) batches
// are in memory per flow, whatever the backlog.
const readAhead = 4

// idleCommitEvery is how often an idle flow commits a checkpoint at the
// source's idle position, so the source can release log it holds for us
// (WAL retention on a busy server whose captured tables are quiet).
const idleCommitEvery = 10 * time.Second

// stream reads the change stream from cp.Position and applies it. The reader
// goroutine owns the source stream (Next and Ack); the applier owns the sink.
// Commits happen only where a batch carries a Position, i.e. at source
// transaction boundaries.
func (f *flowRun) stream(ctx context.Context, cp *connector.Checkpoint) (progressed bool, err error) {
	f.setPhase(ctx, "stream", nil)
	f.order.advance(cp.Position)
	if f.once {
		// Nothing to wait for when the checkpoint already covers the
		// position the source had at start (and, for flows ordered by
		// after:, every flow tied to it is there too).
		if c, err := f.src.Compare(cp.Position, f.target); err == nil && c >= 0 && f.order.finish() {
			f.flushStatus(ctx, *cp)
			return false, errDone
		}
	}
	st, err := f.src.Stream(ctx, cp.Position)
	if err != nil {
		return false, fmt.Errorf("open stream at %s: %w", cp.Position, err)
	}
	defer st.Close()

	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan connector.Batch, readAhead)
	acks := make(chan change.Position, 1)
	g.Go(func() error { return f.read(gctx, st, batches, acks) })
	g.Go(func() error {
		p, err := f.applyStream(gctx, cp, batches, acks)
		progressed = p
		return err
	})
	err = g.Wait()
	return progressed, err
}

// read pulls batches from the source and hands acks back to it.
func (f *flowRun) read(ctx context.Context, st connector.Stream, out chan<- connector.Batch, acks <-chan change.Position) error {
	size := f.plan.Cfg.Batch.Size
	for {
		select {
		case pos := <-acks:
			if err := st.Ack(ctx, pos); err != nil {
				return fmt.Errorf("ack %s: %w", pos, err)
			}
		default:
		}
		b, err := st.Next(ctx, size)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read changes: %w", err)
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pendingTx is a target transaction being filled.
type pendingTx struct {
	tx      connector.Tx
	started time.Time
	n       int
	counts  applyCounts
	// batches are the changes applied in tx, kept when the flow is
	// ordered by after: to commit the part before a refused change.
	batches [][]change.Change
}

// applyStream applies batches, committing at transaction boundaries once the
// batch is full, the linger time has passed, or no more input is waiting.
func (f *flowRun) applyStream(ctx context.Context, cp *connector.Checkpoint, in <-chan connector.Batch, acks chan change.Position) (progressed bool, err error) {
	if f.both != nil {
		return f.applyStreamBoth(ctx, cp, in, acks)
	}
	size, linger := f.plan.Cfg.Batch.Size, f.plan.Cfg.Batch.Linger.D()
	var cur *pendingTx
	defer func() {
		if cur != nil {
			cur.tx.Rollback()
		}
	}()
	lastCommit := time.Now()
	finished := f.order.finished() // --once: the flows ordered with this one reached their targets
	for {
		var b connector.Batch
		select {
		case b = <-in:
		case <-finished:
			if cur == nil && f.once {
				f.flushStatus(ctx, *cp)
				return progressed, errDone
			}
			finished = nil
			continue
		case <-ctx.Done():
			return progressed, ctx.Err()
		}
		f.countCaptured(b.Changes)
		if len(b.Changes) > 0 {
			if cur, err = f.applyInto(ctx, cp, cur, b.Changes); err != nil {
				return progressed, err
			}
		}
		if b.Position == nil {
			continue // inside a source transaction: never commit here
		}
		full := cur != nil && (cur.n >= size || time.Since(cur.started) >= linger || len(in) == 0 || b.CaughtUp)
		idle := cur == nil && time.Since(lastCommit) >= idleCommitEvery && !samePos(b.Position, cp.Position)
		if full || idle {
			next := *cp
			next.Position = b.Position
			next.Phase = connector.PhaseStream
			start := time.Now()
			var tx connector.Tx
			var counts applyCounts
			n := 0
			if cur != nil {
				tx, counts, n = cur.tx, cur.counts, cur.n
				start = cur.started
			} else if tx, err = f.sink.Begin(ctx); err != nil {
				return progressed, fmt.Errorf("begin: %w", err)
			}
			cur = nil
			if err := tx.Commit(ctx, next); err != nil {
				tx.Rollback()
				return progressed, fmt.Errorf("commit at %s: %w", next.Position, err)
			}
			*cp = next
			progressed = true
			lastCommit = time.Now()
			f.committed(ctx, next, counts, n, time.Since(start))
			f.order.advance(next.Position)
			select { // the reader takes the newest ack; an older one can be dropped
			case acks <- next.Position:
			default:
				select {
				case <-acks:
				default:
				}
				acks <- next.Position
			}
		}
		if cur == nil {
			f.order.advance(b.Position) // nothing of ours is pending up to here
		}
		if cur == nil && f.once && f.reachedTarget(b) && f.order.finish() {
			f.flushStatus(ctx, *cp)
			return progressed, errDone
		}
	}
}

// countCaptured adds changes to the captured metric, one update per op
// rather than per change.
func (f *flowRun) countCaptured(changes []change.Change) {
	var n [8]int
	for i := range changes {
		if op := changes[i].Op; int(op) < len(n) {
			n[op]++
		}
	}
	for op, k := range n {
		if k > 0 {
			f.m.Captured.WithLabelValues(f.plan.Cfg.Name, change.Op(op).String()).Add(float64(k))
		}
	}
}

// reachedTarget reports whether everything up to the --once target position
// has been applied, given that nothing is pending and b was just handled.
func (f *flowRun) reachedTarget(b connector.Batch) bool {
	if b.CaughtUp {
		return true
	}
	c, err := f.src.Compare(b.Position, f.target)
	return err == nil && c >= 0
}

func samePos(a, b change.Position) bool { return string(a) == string(b) }

// applyInto applies changes in cur's transaction, beginning one when cur
// is nil. In a flow ordered by after:, a foreign key refusal does not park
// the change: the transaction is rolled back, what came before the refused
// change's source transaction is committed (commitPrefix), the pipeline
// waits for the flows the change depends on (waitOrder) and applies the
// rest again, without reopening the stream.
func (f *flowRun) applyInto(ctx context.Context, cp *connector.Checkpoint, cur *pendingTx, changes []change.Change) (*pendingTx, error) {
	for {
		if cur == nil {
			tx, err := f.sink.Begin(ctx)
			if err != nil {
				return nil, fmt.Errorf("begin: %w", err)
			}
			cur = &pendingTx{tx: tx, started: time.Now()}
		}
		counts, err := f.apply(ctx, cur.tx, changes)
		w := asOrderWait(err)
		if w == nil {
			if err != nil {
				return cur, err
			}
			cur.counts.add(counts)
			cur.n += len(changes)
			if f.order != nil {
				cur.batches = append(cur.batches, changes)
			}
			return cur, nil
		}
		cur.tx.Rollback()
		batches := append(cur.batches, changes)
		cur = nil
		if changes, w, err = f.commitPrefix(ctx, cp, batches, w); err != nil {
			return nil, err
		}
		if err := f.waitOrder(ctx, w); err != nil {
			return nil, err
		}
	}
}

// commitPrefix commits, after a foreign key refusal (w), the changes
// applied before the refused change's source transaction, at the current
// checkpoint (a restart applies them again, which changes nothing), so the
// flows waiting for this one can go on up to there. It returns the changes
// from that transaction on, and w or the refusal of an earlier change,
// with its floor set.
func (f *flowRun) commitPrefix(ctx context.Context, cp *connector.Checkpoint, batches [][]change.Change, w *orderWait) ([]change.Change, *orderWait, error) {
	return commitBefore(batches, w, func(prefix []change.Change) error {
		start := time.Now()
		tx, err := f.sink.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		counts, err := f.apply(ctx, tx, prefix)
		if err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(ctx, *cp); err != nil {
			tx.Rollback()
			return fmt.Errorf("commit: %w", err)
		}
		f.committed(ctx, *cp, counts, len(prefix), time.Since(start))
		return nil
	})
}
