package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/observe"
	"github.com/syncbridge/syncbridge/internal/state"
	"golang.org/x/sync/errgroup"
)

// flowRun is one flow's pipeline for the lifetime of Engine.Run.
type flowRun struct {
	plan    *FlowPlan
	eng     *Engine
	log     *slog.Logger
	m       *observe.Metrics
	src     connector.Source
	sink    connector.Sink
	once    bool
	target  change.Position // --once: stop when the checkpoint reaches it
	started time.Time

	deps       []chan struct{} // closed when each `after:` flow finished its backfill
	backfilled chan struct{}   // closed when this flow's backfill is done
	bfClosed   bool

	order    *orderMember // nil unless tied to other flows of its source store by after:
	parked   *parkedKeys
	attempts map[string]int // change ID -> failed apply attempts (transient errors)
	status   state.FlowStatus
	lastStat time.Time

	// Both-way flows: the state the two pipelines share, the side this one
	// reads, and how it sees the flow from there. nil for one-way flows.
	both   *bidi
	bside  side
	view   *view
	replay bool // a dead-letter replay: the target commits through its side's write-back sink
	// unflushed is what the last both-way transaction decided, durable in
	// its intent but not yet recorded (see bidi.pending).
	unflushed *unflushed
}

// unflushed is a committed both-way transaction's outcome awaiting record.
type unflushed struct {
	Bases     []state.Base
	Conflicts []state.Conflict
	gen       uint64
}

// errDone ends a --once run of a flow.
var errDone = errors.New("caught up")

// run drives the flow until ctx is done, the flow fails permanently, or (with
// --once) it has caught up with the position its source had at start.
func (f *flowRun) run(ctx context.Context) error {
	f.m.FlowUp.WithLabelValues(f.plan.Cfg.Name).Set(1)
	defer f.m.FlowUp.WithLabelValues(f.plan.Cfg.Name).Set(0)
	defer f.markBackfilled()
	defer f.order.stop()
	defer func() {
		if err := f.flushLocked(context.WithoutCancel(ctx)); err != nil {
			f.log.Warn("record the last both-way transaction; it is finished on the next start", "error", err)
		}
	}()
	bo := newBackoff(f.plan.Cfg.Retry)
	for {
		progressed, err := f.runOnce(ctx)
		var ow *orderWait
		if errors.As(err, &ow) && ctx.Err() == nil {
			if err = f.waitOrder(ctx, ow); err == nil {
				continue
			}
		}
		if errors.Is(err, errDone) {
			f.setPhase(ctx, "stopped", nil)
			return nil
		}
		if ctx.Err() != nil {
			f.setPhase(context.WithoutCancel(ctx), "stopped", nil)
			return nil
		}
		if isFatal(err) {
			f.setPhase(ctx, "error", err)
			return fmt.Errorf("flow %s: %w", f.plan.Cfg.Name, err)
		}
		f.m.Errors.WithLabelValues(f.plan.Cfg.Name).Inc()
		f.m.Retries.WithLabelValues(f.plan.Cfg.Name).Inc()
		if progressed {
			bo.reset()
		}
		wait := bo.next()
		f.log.Warn("flow interrupted; retrying from the last checkpoint", "error", err, "retry_in", wait.Round(time.Millisecond))
		f.setPhase(ctx, "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// isFatal tells errors that retrying cannot fix: the operator must act.
func isFatal(err error) bool {
	return errors.Is(err, connector.ErrPositionLost) || errors.Is(err, connector.ErrUnrepresentable) || errors.Is(err, errConfig)
}

var errConfig = errors.New("configuration")

// runOnce runs the pipeline from the sink's checkpoint until an error.
// progressed reports whether anything was committed, to reset the backoff.
func (f *flowRun) runOnce(ctx context.Context) (progressed bool, err error) {
	cp, err := f.sink.Checkpoint(ctx)
	if err != nil {
		return false, fmt.Errorf("read checkpoint: %w", err)
	}
	if rc, ok := f.src.(connector.ResumeChecker); ok && cp != nil {
		if err := rc.CheckResume(ctx, cp.Position); err != nil {
			return false, err
		}
	}
	if p, ok := f.src.(connector.Preparer); ok {
		if err := p.Prepare(ctx); err != nil {
			return false, fmt.Errorf("prepare capture: %w", err)
		}
	}
	if cp == nil {
		pos, err := f.src.Position(ctx)
		if err != nil {
			return false, fmt.Errorf("read source position: %w", err)
		}
		cp = &connector.Checkpoint{Flow: f.plan.Cfg.Name, Phase: connector.PhaseBackfill, Position: pos}
		f.log.Info("new flow: backfill first, then stream", observe.KeyPosition, pos.String())
	}
	if f.parked == nil {
		if f.parked, err = loadParked(ctx, f.eng.state, f.plan.Cfg.Name, f.src); err != nil {
			return false, err
		}
	}
	if f.once && f.target == nil {
		if f.target, err = f.src.Position(ctx); err != nil {
			return false, fmt.Errorf("read source position: %w", err)
		}
	}
	if cp.Phase == connector.PhaseBackfill {
		if err := f.beforeBackfill(ctx, cp); err != nil {
			return false, err
		}
		n, err := f.backfill(ctx, cp)
		if err != nil {
			return n > 0, fmt.Errorf("backfill: %w", err)
		}
		progressed = n > 0
	}
	f.markBackfilled()
	p, err := f.stream(ctx, cp)
	return progressed || p, err
}

func (f *flowRun) waitDeps(ctx context.Context) error {
	for _, d := range f.deps {
		select {
		case <-d:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *flowRun) markBackfilled() {
	if !f.bfClosed {
		f.bfClosed = true
		close(f.backfilled)
	}
}

// backfill copies the source table in key order, one chunk per target
// transaction, each committed with the last key copied so a restart resumes
// after it. Reading the next chunk overlaps with applying the current one;
// at most two chunks are in memory. It returns the rows copied in this call.
func (f *flowRun) backfill(ctx context.Context, cp *connector.Checkpoint) (int64, error) {
	name := f.plan.Cfg.Name
	size := f.plan.Cfg.Batch.Size
	var total int64 = -1
	if rc, ok := f.plan.From.(connector.RowCounter); ok {
		if n, err := rc.CountRows(ctx, f.plan.Cfg.From.Table); err == nil {
			total = n
		}
	}
	f.log.Info("backfill started", "resume_after", cp.BackfillKey.String(), "rows_done", cp.BackfillRows, "rows_total", total)
	f.setPhase(ctx, "backfill", nil)
	if cs, ok := f.bulkCopy(); ok {
		return f.backfillBulk(ctx, cp, cs, total)
	}

	g, gctx := errgroup.WithContext(ctx)
	chunks := make(chan []change.Change, 1)
	g.Go(func() error { // reader
		defer close(chunks)
		after := cp.BackfillKey
		for {
			chunk, err := f.src.Snapshot(gctx, after, size)
			if err != nil {
				return fmt.Errorf("read chunk after key %s: %w", after, err)
			}
			select {
			case chunks <- chunk:
			case <-gctx.Done():
				return gctx.Err()
			}
			if len(chunk) < size {
				return nil
			}
			after = chunk[len(chunk)-1].Key
		}
	})
	var copied int64
	g.Go(func() error { // applier
		for chunk := range chunks {
			f.m.Captured.WithLabelValues(name, change.OpSnapshot.String()).Add(float64(len(chunk)))
			next := *cp
			if len(chunk) > 0 {
				next.BackfillKey = chunk[len(chunk)-1].Key
				next.BackfillRows += int64(len(chunk))
			}
			if len(chunk) < size {
				next.Phase = connector.PhaseStream
			}
			if err := f.applyAndCommit(gctx, chunk, next); err != nil {
				return err
			}
			*cp = next
			copied += int64(len(chunk))
			f.m.BackfillRows.WithLabelValues(name).Add(float64(len(chunk)))
			f.eng.progress(name, cp.BackfillRows, total)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return copied, err
	}
	f.log.Info("backfill done", "rows", cp.BackfillRows)
	f.eng.progressDone(name)
	return copied, nil
}

// applyAndCommit applies changes in one target transaction and commits it
// with cp.
func (f *flowRun) applyAndCommit(ctx context.Context, changes []change.Change, cp connector.Checkpoint) error {
	if f.both != nil {
		return f.applyAndCommitBoth(ctx, changes, cp)
	}
	start := time.Now()
	tx, err := f.sink.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	counts, err := f.apply(ctx, tx, changes)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx, cp); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	f.committed(ctx, cp, counts, len(changes), time.Since(start))
	return nil
}

// committed records what a commit achieved: metrics, status, checkpoint copy.
func (f *flowRun) committed(ctx context.Context, cp connector.Checkpoint, c applyCounts, n int, took time.Duration) {
	name := f.plan.Cfg.Name
	for op, k := range c.applied {
		if k > 0 {
			f.m.Applied.WithLabelValues(name, change.Op(op).String()).Add(float64(k))
		}
	}
	f.status.Applied += int64(c.total())
	if !c.lastCommit.IsZero() {
		lag := time.Since(c.lastCommit).Seconds()
		f.m.LagSeconds.WithLabelValues(name).Set(lag)
		f.status.LagSeconds = lag
		f.status.LastApplied = time.Now().UTC()
	}
	f.m.ApplySeconds.WithLabelValues(name).Observe(took.Seconds())
	f.m.BatchSize.WithLabelValues(name).Observe(float64(n))
	f.status.Position = cp.Position.String()
	f.status.BackfillRows = cp.BackfillRows
	f.status.Phase = cp.Phase.String()
	f.status.LastError = ""
	if time.Since(f.lastStat) > time.Second || cp.Phase == connector.PhaseStream && f.status.Phase != "stream" {
		f.flushStatus(ctx, cp)
	}
}

func (f *flowRun) flushStatus(ctx context.Context, cp connector.Checkpoint) {
	f.lastStat = time.Now()
	f.status.UpdatedAt = f.lastStat.UTC()
	if err := f.eng.state.SaveCheckpoint(ctx, cp); err != nil {
		f.log.Warn("state store: save checkpoint copy", "error", err)
	}
	if err := f.eng.state.SetStatus(ctx, f.status); err != nil {
		f.log.Warn("state store: save status", "error", err)
	}
}

func (f *flowRun) setPhase(ctx context.Context, phase string, err error) {
	f.status.Phase = phase
	if err != nil {
		f.status.LastError = err.Error()
	}
	f.status.UpdatedAt = time.Now().UTC()
	if serr := f.eng.state.SetStatus(ctx, f.status); serr != nil {
		f.log.Warn("state store: save status", "error", serr)
	}
}
