package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// rollbackTimeout bounds cleanup statements run after their context ended.
const rollbackTimeout = 10 * time.Second

// Apply writes changes in order: upserts by key (only the columns present in
// each change's After are written, so TOAST-unchanged columns keep their
// value) and deletes tolerant of missing rows.
//
// Changes are planned into segments that keep per-key order (see plan) and
// written as set-based statements inside a savepoint. When a statement
// fails, Apply rolls back to the savepoint and re-applies the changes one by
// one, each under its own savepoint, to find the failing change: the ones
// before it stay applied and an *connector.ApplyError names it, Permanent
// for data exceptions (SQLSTATE class 22) and integrity violations (23).
func (tx *sinkTx) Apply(ctx context.Context, changes []change.Change) error {
	if tx.done || tx.broken {
		return errors.New("apply: transaction is finished or unusable")
	}
	n, verr := tx.sink.validate(changes)
	if err := tx.applyChecked(ctx, changes[:n]); err != nil {
		return err
	}
	if verr != nil {
		return &connector.ApplyError{Index: n, Err: verr, Permanent: true}
	}
	return nil
}

// validate returns the number of leading changes that can be written, and
// why the next one cannot.
func (k *Sink) validate(changes []change.Change) (int, error) {
	for i := range changes {
		c := &changes[i]
		switch c.Op {
		case change.OpDelete:
			if len(c.Key) != len(k.tg.key) {
				return i, fmt.Errorf("delete from %s: key has %d values, the key %v has %d columns",
					k.tbl.qualified(), len(c.Key), k.tg.key, len(k.tg.key))
			}
		case change.OpInsert, change.OpUpdate, change.OpSnapshot:
			if err := k.checkRow(c.After); err != nil {
				return i, fmt.Errorf("%s into %s: %w", c.Op, k.tbl.qualified(), err)
			}
		default:
			return i, fmt.Errorf("change %q: unknown op %v", c.ID, c.Op)
		}
	}
	return len(changes), nil
}

func (k *Sink) checkRow(r change.Row) error {
	if k.rowWritable(r) {
		return nil
	}
	for _, key := range k.tg.key {
		if _, ok := r[key]; !ok {
			return fmt.Errorf("row lacks key column %q", key)
		}
	}
	for col := range r {
		c, ok := k.tbl.column(col)
		switch {
		case !ok:
			return fmt.Errorf("column %q does not exist", col)
		case c.generated:
			return fmt.Errorf("column %q is generated and cannot be written", col)
		}
	}
	return nil
}

// rowWritable is checkRow's fast path, by lookups rather than a walk of the
// row: every key column is present, and the row has no column besides the
// writable ones it was found to have (the table's, generated ones
// excluded). When it reports false checkRow finds out why.
func (k *Sink) rowWritable(r change.Row) bool {
	for _, key := range k.tg.key {
		if _, ok := r[key]; !ok {
			return false
		}
	}
	n := 0
	for _, c := range k.tg.cols {
		if _, ok := r[c]; ok {
			n++
		}
	}
	return n == len(r)
}

// applyChecked writes validated changes under the apply savepoint.
func (tx *sinkTx) applyChecked(ctx context.Context, changes []change.Change) error {
	if len(changes) == 0 {
		return nil
	}
	if err := tx.exec(ctx, "SAVEPOINT syncbridge_apply"); err != nil {
		return tx.fail(err)
	}
	// The release rides with the last statements: it runs only if they all
	// succeed. The savepoint itself goes alone (see locate).
	err := tx.applySegments(ctx, plan(changes), "RELEASE SAVEPOINT syncbridge_apply")
	if err == nil {
		return nil
	}
	if pe, ok := errorsAsPg(err); !ok || pe.Code == "40001" {
		// A serialization failure (a both-way sink's REPEATABLE READ
		// transaction met a row changed since its snapshot, see Begin) is
		// about the transaction, not one change: it fails again until the
		// whole transaction is retried on a new snapshot.
		return tx.fail(err)
	}
	if err := tx.exec(ctx, "ROLLBACK TO SAVEPOINT syncbridge_apply"); err != nil {
		return tx.fail(err)
	}
	tx.staged = false // its creation may have been rolled back
	i, cause, err := tx.locate(ctx, changes)
	if err != nil {
		return tx.fail(err)
	}
	if err := tx.exec(ctx, "RELEASE SAVEPOINT syncbridge_apply"); err != nil {
		return tx.fail(err)
	}
	if i < 0 {
		return nil // one by one they all went in
	}
	c := &changes[i]
	return &connector.ApplyError{
		Index:      i,
		Err:        fmt.Errorf("%s %s key %s: %w", c.Op, tx.sink.tbl.qualified(), c.Key, cause),
		Permanent:  permanent(cause),
		ForeignKey: foreignKey(cause),
	}
}

// foreignKey reports whether err is a foreign key violation (23503).
func foreignKey(err error) bool {
	pe, ok := errorsAsPg(err)
	return ok && pe.Code == "23503"
}

// permanent reports whether retrying a statement that failed with err
// cannot help.
func permanent(err error) bool {
	pe, ok := errorsAsPg(err)
	return ok && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// fail marks the transaction unusable and wraps err.
func (tx *sinkTx) fail(err error) error {
	tx.broken = true
	st := tx.sink.store
	return st.wrapErr(fmt.Errorf("store %q: apply to %s: %w", st.name, tx.sink.tbl.qualified(), err))
}

func (tx *sinkTx) exec(ctx context.Context, sql string, args ...any) error {
	_, err := tx.tx.Exec(ctx, sql, args...)
	return err
}

// applySegments writes each segment's deletes, then its upserts, and
// queues tail (the savepoint's release) last. Statements are pipelined in
// one batch; a run written with COPY flushes the batch first so that order
// is kept.
func (tx *sinkTx) applySegments(ctx context.Context, segs []*segment, tail string) error {
	tg := tx.sink.tg
	b := &pgx.Batch{}
	for _, seg := range segs {
		if len(seg.deletes) > 0 {
			switch tx.strategyFor(len(seg.deletes), tg.key) {
			case StrategyCopy:
				if err := tx.flush(ctx, b); err != nil {
					return err
				}
				if err := tx.copyDeletes(ctx, seg.deletes); err != nil {
					return err
				}
			case StrategyUnnest:
				rows := make([]change.Row, len(seg.deletes))
				for i, k := range seg.deletes {
					rows[i] = keyRow(tg.key, k)
				}
				b.Queue(tg.deleteUnnest(), arrayLiterals(rows, tg.key)...)
			default:
				queueDeletes(b, tg, seg.deletes)
			}
		}
		for _, g := range seg.groups(tg.cols) {
			switch tx.strategyFor(len(g.rows), g.cols) {
			case StrategyCopy:
				if err := tx.flush(ctx, b); err != nil {
					return err
				}
				if err := tx.copyUpserts(ctx, g); err != nil {
					return err
				}
			case StrategyUnnest:
				b.Queue(tg.upsertUnnest(g.cols), arrayLiterals(g.rows, g.cols)...)
			default:
				queueUpserts(b, tg, g)
			}
		}
	}
	if tail != "" {
		b.Queue(tail)
	}
	return tx.flush(ctx, b)
}

// strategyFor picks how a run of rows writing cols goes out.
func (tx *sinkTx) strategyFor(rows int, cols []string) Strategy {
	st := tx.sink.strategy
	if st == StrategyAuto {
		st = StrategyUnnest
		if rows >= copyThreshold {
			st = StrategyCopy
		}
	}
	if st == StrategyUnnest && !tx.sink.tg.unnestable(cols) {
		st = StrategyValues
	}
	return st
}

// flush sends the queued statements and returns the first error.
func (tx *sinkTx) flush(ctx context.Context, b *pgx.Batch) error {
	n := b.Len()
	if n == 0 {
		return nil
	}
	br := tx.tx.SendBatch(ctx, b)
	var first error
	for i := 0; i < n && first == nil; i++ {
		_, first = br.Exec()
	}
	if err := br.Close(); first == nil {
		first = err
	}
	*b = pgx.Batch{}
	return first
}

func keyRow(cols []string, k change.Key) change.Row {
	r := make(change.Row, len(cols))
	for i, c := range cols {
		r[c] = k[i]
	}
	return r
}

func queueDeletes(b *pgx.Batch, tg *target, keys []change.Key) {
	for _, size := range statementSizes(len(keys), rowsPerStatement(len(tg.key))) {
		args := make([]any, 0, size*len(tg.key))
		for _, k := range keys[:size] {
			for _, v := range k {
				args = append(args, textArg(v))
			}
		}
		b.Queue(tg.deleteKeys(size), args...)
		keys = keys[size:]
	}
}

func queueUpserts(b *pgx.Batch, tg *target, g upsertGroup) {
	rows := g.rows
	for _, size := range statementSizes(len(rows), rowsPerStatement(len(g.cols))) {
		args := make([]any, 0, size*len(g.cols))
		for _, r := range rows[:size] {
			for _, c := range g.cols {
				args = append(args, textArg(r[c]))
			}
		}
		b.Queue(tg.upsertValues(g.cols, size), args...)
		rows = rows[size:]
	}
}

// copyUpserts writes a group with COPY: a group of inserts straight into
// the table, falling back to the staging table when a key is there already
// (a replay after a restart), any other through the staging table.
func (tx *sinkTx) copyUpserts(ctx context.Context, g upsertGroup) error {
	w := tx.sink.copyBuf()
	for _, r := range g.rows {
		w.row(r, g.cols)
	}
	_, err := tx.copyRows(ctx, w.buf.Bytes(), g.cols, g.inserts)
	return err
}

// copyDeletes deletes keys through the staging table.
func (tx *sinkTx) copyDeletes(ctx context.Context, keys []change.Key) error {
	tg := tx.sink.tg
	row := make(change.Row, len(tg.key))
	if err := tx.copyToStage(ctx, tg.key, len(keys), func(w *copyWriter, i int) {
		for j, k := range tg.key {
			row[k] = keys[i][j]
		}
		w.row(row, tg.key)
	}); err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(tg.deleteUsingStage())
	b.Queue(tg.clearStage())
	return tx.flush(ctx, b)
}

func (tx *sinkTx) copyToStage(ctx context.Context, cols []string, n int, row func(*copyWriter, int)) error {
	tg := tx.sink.tg
	if !tx.staged {
		if err := tx.exec(ctx, tg.createStage()); err != nil {
			return err
		}
		tx.staged = true
	}
	w := tx.sink.copyBuf()
	for i := 0; i < n; i++ {
		row(w, i)
	}
	_, err := tx.conn.Conn().PgConn().CopyFrom(ctx, &w.buf, tg.copyStage(cols))
	return err
}

// locate applies changes one by one, each under its own savepoint, until
// one fails: it returns that change's index and the server's error (with
// the changes before it applied), or -1 when all succeed. err is set when
// the transaction became unusable.
func (tx *sinkTx) locate(ctx context.Context, changes []change.Change) (i int, cause, err error) {
	tg := tx.sink.tg
	for i := range changes {
		c := &changes[i]
		// The savepoint goes alone: pgx prepares a batch's new statements
		// before running any of it, and a statement that fails to prepare
		// aborts the transaction before a queued SAVEPOINT would run.
		if err := tx.exec(ctx, "SAVEPOINT syncbridge_row"); err != nil {
			return -1, nil, err
		}
		b := &pgx.Batch{}
		if c.Op == change.OpDelete {
			queueDeletes(b, tg, []change.Key{c.Key})
		} else {
			var cols []string
			for _, col := range tg.cols {
				if _, ok := c.After[col]; ok {
					cols = append(cols, col)
				}
			}
			queueUpserts(b, tg, upsertGroup{cols: cols, rows: []change.Row{c.After}})
		}
		b.Queue("RELEASE SAVEPOINT syncbridge_row")
		ferr := tx.flush(ctx, b)
		if ferr == nil {
			continue
		}
		if _, ok := errorsAsPg(ferr); !ok {
			return -1, nil, ferr
		}
		if err := tx.exec(ctx, "ROLLBACK TO SAVEPOINT syncbridge_row"); err != nil {
			return -1, nil, err
		}
		if err := tx.exec(ctx, "RELEASE SAVEPOINT syncbridge_row"); err != nil {
			return -1, nil, err
		}
		return i, ferr, nil
	}
	return -1, nil, nil
}
