package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"golang.org/x/sync/errgroup"
)

// bulkChunkRows is the least number of rows per bulk backfill chunk. A
// chunk is one target transaction; bulk chunks cost little memory per row
// (raw text, no Changes), so they are larger than batch.size to spread the
// per-transaction cost over more rows.
const bulkChunkRows = 50_000

// bulkCopy returns the flow's source as a CopySource when its backfill can
// move rows in the stores' bulk format: the source and the sink share a
// CopyFormat, the mapping is the identity (no expression, rename or
// filter), and every source column lands in a writable target column of
// the same declared type, so the text the source prints is what the target
// reads. Other flows backfill through Snapshot, the mapping and Apply.
func (f *flowRun) bulkCopy() (connector.CopySource, bool) {
	if f.both != nil {
		return nil, false // both-way rows are compared and their bases recorded one by one
	}
	cs, ok := f.src.(connector.CopySource)
	if !ok {
		return nil, false
	}
	sk, ok := f.sink.(connector.CopySink)
	if !ok || sk.CopyFormat() != cs.CopyFormat() || !f.plan.Mapping.Identity() {
		return nil, false
	}
	for _, c := range f.plan.FromTable.Columns {
		tc, ok := f.plan.ToTable.Column(c.Name)
		if !ok || tc.Generated || tc.Type != c.Type {
			return nil, false
		}
	}
	return cs, true
}

// bulkChunk is one chunk of a bulk backfill.
type bulkChunk struct {
	data *bytes.Buffer
	last change.Key // key of the last row; nil when empty
	n    int
}

// errBulkRejected stops the bulk pipeline at a chunk the target did not
// take in bulk; the chunk's rows then go through the row path.
type errBulkRejected struct {
	rows int
	err  error
}

func (e *errBulkRejected) Error() string {
	return fmt.Sprintf("bulk copy of %d rows: %v", e.rows, e.err)
}
func (e *errBulkRejected) Unwrap() error { return e.err }

// backfillBulk is backfill by CopyChunk and CopyUpsert: the same key-ordered
// chunks, one target transaction each committed with its checkpoint,
// reading the next chunk while the current one is applied (at most three
// chunks in memory). A chunk the target rejects in bulk (a constraint, say)
// is applied again through Snapshot and Apply, which park the offending
// rows in the dead-letter queue as the row path does; then bulk resumes.
func (f *flowRun) backfillBulk(ctx context.Context, cp *connector.Checkpoint, cs connector.CopySource, total int64) (int64, error) {
	f.log.Info("backfill by bulk copy", "format", cs.CopyFormat())
	var copied int64
	for cp.Phase == connector.PhaseBackfill {
		n, err := f.bulkPipeline(ctx, cp, cs, total)
		copied += n
		var rej *errBulkRejected
		if errors.As(err, &rej) && ctx.Err() == nil {
			f.log.Warn("bulk copy rejected; applying the chunk row by row", "error", rej.err)
			n, err = f.backfillRowsOf(ctx, cp, rej.rows, total)
			copied += n
		}
		if err != nil {
			return copied, err
		}
	}
	f.log.Info("backfill done", "rows", cp.BackfillRows)
	f.eng.progressDone(f.plan.Cfg.Name)
	return copied, nil
}

// bulkPipeline runs the bulk reader and applier until the table is copied
// or a chunk is rejected.
func (f *flowRun) bulkPipeline(ctx context.Context, cp *connector.Checkpoint, cs connector.CopySource, total int64) (int64, error) {
	limit := max(f.plan.Cfg.Batch.Size, bulkChunkRows)
	cols := f.plan.FromTable.ColumnNames()
	g, gctx := errgroup.WithContext(ctx)
	chunks := make(chan bulkChunk, 1)
	free := make(chan *bytes.Buffer, 3)
	for range cap(free) {
		free <- new(bytes.Buffer)
	}
	g.Go(func() error { // reader
		defer close(chunks)
		after := cp.BackfillKey
		for {
			var buf *bytes.Buffer
			select {
			case buf = <-free:
			case <-gctx.Done():
				return gctx.Err()
			}
			buf.Reset()
			last, n, err := cs.CopyChunk(gctx, after, limit, buf)
			if err != nil {
				return fmt.Errorf("read chunk after key %s: %w", after, err)
			}
			select {
			case chunks <- bulkChunk{data: buf, last: last, n: n}:
			case <-gctx.Done():
				return gctx.Err()
			}
			if n < limit {
				return nil
			}
			after = last
		}
	})
	var copied int64
	g.Go(func() error { // applier
		for c := range chunks {
			next := *cp
			if c.n > 0 {
				next.BackfillKey = c.last
				next.BackfillRows += int64(c.n)
			}
			if c.n < limit {
				next.Phase = connector.PhaseStream
			}
			if err := f.copyAndCommit(gctx, c, cols, next); err != nil {
				return err
			}
			free <- c.data
			*cp = next
			copied += int64(c.n)
			f.m.BackfillRows.WithLabelValues(f.plan.Cfg.Name).Add(float64(c.n))
			f.eng.progress(f.plan.Cfg.Name, cp.BackfillRows, total)
		}
		return nil
	})
	return copied, g.Wait()
}

// copyAndCommit applies one bulk chunk in one target transaction and
// commits it with cp. A failure of the copy itself is an errBulkRejected.
func (f *flowRun) copyAndCommit(ctx context.Context, c bulkChunk, cols []string, cp connector.Checkpoint) error {
	name := f.plan.Cfg.Name
	f.m.Captured.WithLabelValues(name, change.OpSnapshot.String()).Add(float64(c.n))
	start := time.Now()
	tx, err := f.sink.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	ct, ok := tx.(connector.CopyTx)
	if !ok {
		return fmt.Errorf("sink transaction %T does not implement connector.CopyTx", tx)
	}
	if err := ct.CopyUpsert(ctx, c.data.Bytes(), cols); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &errBulkRejected{rows: c.n, err: err}
	}
	if err := tx.Commit(ctx, cp); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	var counts applyCounts
	counts.applied[change.OpSnapshot] = c.n
	f.committed(ctx, cp, counts, c.n, time.Since(start))
	return nil
}

// backfillRowsOf copies at least rows rows after cp.BackfillKey (or to the
// end of the table) through Snapshot and Apply, one batch.size chunk per
// transaction, advancing cp.
func (f *flowRun) backfillRowsOf(ctx context.Context, cp *connector.Checkpoint, rows int, total int64) (int64, error) {
	size := f.plan.Cfg.Batch.Size
	var copied int64
	for copied < int64(rows) && cp.Phase == connector.PhaseBackfill {
		chunk, err := f.src.Snapshot(ctx, cp.BackfillKey, size)
		if err != nil {
			return copied, fmt.Errorf("read chunk after key %s: %w", cp.BackfillKey, err)
		}
		f.m.Captured.WithLabelValues(f.plan.Cfg.Name, change.OpSnapshot.String()).Add(float64(len(chunk)))
		next := *cp
		if len(chunk) > 0 {
			next.BackfillKey = chunk[len(chunk)-1].Key
			next.BackfillRows += int64(len(chunk))
		}
		if len(chunk) < size {
			next.Phase = connector.PhaseStream
		}
		if err := f.applyAndCommit(ctx, chunk, next); err != nil {
			return copied, err
		}
		*cp = next
		copied += int64(len(chunk))
		f.m.BackfillRows.WithLabelValues(f.plan.Cfg.Name).Add(float64(len(chunk)))
		f.eng.progress(f.plan.Cfg.Name, cp.BackfillRows, total)
	}
	return copied, nil
}
