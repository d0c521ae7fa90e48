package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Stream timing. A stream with nothing to read polls the log every
// idlePoll and returns an empty batch after idleReturn, so the engine sees
// progress (and the caught-up flag) without busy-looping.
const (
	idlePoll   = 100 * time.Millisecond
	idleReturn = time.Second
)

// triggerSource is the capture side of one flow with `capture: trigger`.
type triggerSource struct {
	store  *Store
	spec   connector.SourceSpec
	schema string
	name   string // bare table name, as the triggers log it
	key    []string

	mu    sync.Mutex // guards table and cols: Prepare and streams refresh them
	table *connector.Table
	cols  map[string]connector.Column
	keep  map[string]bool // columns carried; nil = all
}

var (
	_ connector.Source   = (*triggerSource)(nil)
	_ connector.Preparer = (*triggerSource)(nil)
	_ connector.Stream   = (*triggerStream)(nil)
)

func newTriggerSource(ctx context.Context, s *Store, spec connector.SourceSpec) (*triggerSource, error) {
	t, err := s.Describe(ctx, spec.Table)
	if err != nil {
		return nil, err
	}
	key, err := keyColumns(t, spec.Key)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	if _, err := selectColumns(t, key, spec.Columns); err != nil {
		return nil, fmt.Errorf("source %q: %w", spec.Table, err)
	}
	src := &triggerSource{store: s, spec: spec, key: key}
	src.schema, src.name = splitTable(spec.Table)
	if len(spec.Columns) > 0 {
		src.keep = make(map[string]bool)
		for _, c := range append(append([]string{}, spec.Columns...), key...) {
			src.keep[c] = true
		}
	}
	src.setTable(t)
	return src, nil
}

func (s *triggerSource) setTable(t *connector.Table) {
	cols := make(map[string]connector.Column, len(t.Columns))
	for _, c := range t.Columns {
		cols[c.Name] = c
	}
	s.mu.Lock()
	s.table, s.cols = t, cols
	s.mu.Unlock()
}

func (s *triggerSource) column(name string) (connector.Column, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cols[name]
	return c, ok
}

// Prepare installs or upgrades the capture triggers and registers the flow
// as a consumer of the log. It is idempotent.
func (s *triggerSource) Prepare(ctx context.Context) error {
	s.store.ensureWAL(ctx)
	installed, err := installCapture(ctx, s.store.db, s.spec.Table, s.spec.Flow, s.key)
	if err != nil {
		return fmt.Errorf("prepare trigger capture of %q: %w", s.spec.Table, err)
	}
	if installed {
		s.store.log.Info("capture triggers installed", "store", s.store.name, "table", s.spec.Table, "flow", s.spec.Flow)
	}
	t, err := s.store.Describe(ctx, s.spec.Table)
	if err != nil {
		return err
	}
	s.setTable(t)
	return nil
}

// Position returns the current end of the log.
func (s *triggerSource) Position(ctx context.Context) (change.Position, error) {
	end, err := logEnd(ctx, s.store.db, s.schema)
	if err != nil {
		return nil, fmt.Errorf("position of %q: %w", s.spec.Table, err)
	}
	return Position{ID: end}.Bytes(), nil
}

// Snapshot reads one key-ordered backfill chunk.
func (s *triggerSource) Snapshot(ctx context.Context, after change.Key, limit int) ([]change.Change, error) {
	s.mu.Lock()
	t := s.table
	s.mu.Unlock()
	ks, err := newKeyset(t, s.spec.Table, s.key, s.spec.Columns)
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", s.spec.Table, err)
	}
	out, err := snapshot(ctx, s.store, ks, after, limit)
	for i := range out {
		out[i].Flow = s.spec.Flow
	}
	return out, err
}

// Compare orders two positions.
func (s *triggerSource) Compare(a, b change.Position) (int, error) {
	pa, pb, err := connector.ParseBoth(ParsePosition, a, b)
	if err != nil {
		return 0, err
	}
	return pa.Compare(pb), nil
}

// Stream opens the log just after from. It fails with an error wrapping
// connector.ErrPositionLost when log rows of this table after from were
// pruned, or when from lies beyond the log's end (the file was replaced or
// restored from a backup): either way changes would be silently skipped.
func (s *triggerSource) Stream(ctx context.Context, from change.Position) (connector.Stream, error) {
	p, err := ParsePosition(from)
	if err != nil {
		return nil, err
	}
	end, err := logEnd(ctx, s.store.db, s.schema)
	if err != nil {
		return nil, fmt.Errorf("stream %q: %w", s.spec.Table, err)
	}
	if p.ID > end {
		return nil, fmt.Errorf("stream %q from log id %d: the log ends at %d (database replaced or restored?): %w",
			s.spec.Table, p.ID, end, connector.ErrPositionLost)
	}
	var pruned int64
	err = s.store.db.QueryRowContext(ctx, `SELECT pruned_max FROM `+quoteIdent(s.schema)+`.`+quoteIdent(metaTable)+` WHERE tbl = ?`,
		s.name).Scan(&pruned)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("stream %q: %w", s.spec.Table, err)
	}
	if p.ID < pruned {
		return nil, fmt.Errorf("stream %q from log id %d: log rows up to %d were pruned: %w",
			s.spec.Table, p.ID, pruned, connector.ErrPositionLost)
	}
	return &triggerStream{src: s, last: p.ID}, nil
}

// triggerStream reads the log of one table in id order.
//
// SQLite has one writer at a time and ids are issued under its lock, so ids
// grow in commit order, and the log's end as one read sees it is a
// transaction boundary: every transaction with an id at or below it has
// committed, none above has. A run of reads therefore fixes its end (until)
// first, pages through (last, until], and reports a Position only on the page
// that reaches until. The price is that a run holding several transactions is
// one unit for checkpointing.
type triggerStream struct {
	src    *triggerSource
	last   int64 // highest log id read
	until  int64 // end of the current run; 0 when no run is open
	closed bool
}

// logRow is one row of the log.
type logRow struct {
	id            int64
	op            string
	before, after sql.NullString
	ts            string
}

// Next returns the next page of changes. See connector.Stream. The stream
// only advances past rows it returns, so after an error the same rows are
// read again.
func (st *triggerStream) Next(ctx context.Context, max int) (connector.Batch, error) {
	if st.closed {
		return connector.Batch{}, errors.New("next: stream is closed")
	}
	if max <= 0 {
		return connector.Batch{}, fmt.Errorf("next: max must be positive, got %d", max)
	}
	s := st.src
	idleUntil := time.Now().Add(idleReturn)
	for {
		if st.until == 0 {
			end, err := logEnd(ctx, s.store.db, s.schema)
			if err != nil {
				return connector.Batch{}, fmt.Errorf("read log of %q: %w", s.spec.Table, err)
			}
			idle := end <= st.last
			if !time.Now().Before(idleUntil) {
				// Nothing for this table for a while: report how far the log
				// has been read, so the engine can checkpoint and ack it.
				return connector.Batch{Position: Position{ID: st.last}.Bytes(), CaughtUp: idle}, nil
			}
			if idle {
				if err := sleep(ctx, idlePoll); err != nil {
					return connector.Batch{}, err
				}
				continue
			}
			st.until = end
		}
		rows, err := st.read(ctx, max+1)
		if err != nil {
			return connector.Batch{}, fmt.Errorf("read log of %q: %w", s.spec.Table, err)
		}
		if len(rows) == 0 {
			// The run held only other tables' changes. Wait a little before
			// the next, so a busy neighbour does not make this a hot loop.
			st.last, st.until = st.until, 0
			if err := sleep(ctx, idlePoll); err != nil {
				return connector.Batch{}, err
			}
			continue
		}
		page := rows
		if len(rows) > max { // the run goes on: no boundary inside this page
			page = rows[:max]
		}
		b, err := st.batch(ctx, page)
		if err != nil {
			return connector.Batch{}, err
		}
		if len(rows) > max {
			st.last = page[max-1].id
			return b, nil
		}
		until := st.until
		st.last, st.until = until, 0
		b.Position = Position{ID: until}.Bytes()
		end, err := logEnd(ctx, s.store.db, s.schema)
		if err != nil {
			return connector.Batch{}, fmt.Errorf("read log of %q: %w", s.spec.Table, err)
		}
		b.CaughtUp = end == until
		return b, nil
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (st *triggerStream) read(ctx context.Context, limit int) ([]logRow, error) {
	s := st.src
	rows, err := s.store.db.QueryContext(ctx, `SELECT id, op, before_json, after_json, ts FROM `+
		quoteIdent(s.schema)+`.`+quoteIdent(logTable)+` WHERE tbl = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?`,
		s.name, st.last, st.until, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []logRow
	for rows.Next() {
		var r logRow
		if err := rows.Scan(&r.id, &r.op, &r.before, &r.after, &r.ts); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (st *triggerStream) batch(ctx context.Context, rows []logRow) (connector.Batch, error) {
	out := make([]change.Change, 0, len(rows))
	for _, r := range rows {
		var err error
		if out, err = st.src.changes(ctx, r, out); err != nil {
			return connector.Batch{}, fmt.Errorf("read log of %q: log row %d: %w", st.src.spec.Table, r.id, err)
		}
	}
	return connector.Batch{Changes: out}, nil
}

// changes appends the changes of one log row. An update that changes the
// key becomes a delete of the old key and an insert of the new one, because
// sinks upsert by key and would otherwise keep the old row.
func (s *triggerSource) changes(ctx context.Context, r logRow, out []change.Change) ([]change.Change, error) {
	base := change.Change{
		ID:       s.store.name + ":" + s.spec.Table + ":" + strconv.FormatInt(r.id, 10),
		Flow:     s.spec.Flow,
		Table:    s.spec.Table,
		Position: Position{ID: r.id}.Bytes(),
	}
	if t, err := change.ParseTimestamp(r.ts); err == nil {
		base.CommitTime = t.UTC()
	}
	var err error
	if r.before.Valid {
		if base.Before, err = s.decodeImage(ctx, r.before.String); err != nil {
			return out, fmt.Errorf("before image: %w", err)
		}
	}
	if r.after.Valid {
		if base.After, err = s.decodeImage(ctx, r.after.String); err != nil {
			return out, fmt.Errorf("after image: %w", err)
		}
	}
	keyOf := func(row change.Row) (change.Key, error) {
		k, ok := change.KeyOf(row, s.key)
		if !ok {
			return nil, fmt.Errorf("row image lacks key columns %v", s.key)
		}
		return k, nil
	}
	switch r.op {
	case logInsert:
		base.Op = change.OpInsert
		base.Key, err = keyOf(base.After)
	case logDelete:
		base.Op = change.OpDelete
		base.Key, err = keyOf(base.Before)
	case logUpdate:
		base.Op = change.OpUpdate
		if base.Key, err = keyOf(base.After); err != nil {
			return out, err
		}
		old, err := keyOf(base.Before)
		if err != nil {
			return out, err
		}
		if !keysEqual(old, base.Key) {
			del := base
			del.ID += ":delete"
			del.Op, del.Key, del.After = change.OpDelete, old, nil
			ins := base
			ins.Op, ins.Before = change.OpInsert, nil
			return append(out, del, ins), nil
		}
	default:
		return out, fmt.Errorf("unknown op %q", r.op)
	}
	if err != nil {
		return out, err
	}
	return append(out, base), nil
}

func keysEqual(a, b change.Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !change.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// decodeImage turns a row image written by the triggers into typed values
// of the columns' kinds.
func (s *triggerSource) decodeImage(ctx context.Context, js string) (change.Row, error) {
	row := make(change.Row, len(s.cols))
	refreshed := false
	err := parseImage(js, func(name string, raw any) error {
		if s.keep != nil && !s.keep[name] {
			return nil
		}
		col, ok := s.column(name)
		if !ok && !refreshed {
			// A column added since the source was opened: learn its type.
			refreshed = true
			if t, err := describe(ctx, s.store.db, s.spec.Table); err == nil {
				s.setTable(t)
				col, ok = s.column(name)
			}
		}
		if !ok {
			col = connector.Column{Name: name, Kind: rawKind(raw)}
		}
		row[name] = readValue(col, raw)
		return nil
	})
	return row, err
}

// rawKind is the Kind of a value of a column the source does not know.
func rawKind(raw any) change.Kind {
	switch raw.(type) {
	case int64:
		return change.KindInt
	case float64:
		return change.KindFloat
	case []byte:
		return change.KindBytes
	case bool:
		return change.KindBool
	}
	return change.KindText
}

// Ack records that the flow applied everything up to pos, then prunes the
// log rows of this table that every consumer of it has acked. The highest
// pruned id is kept so a later Stream from before it fails loudly.
func (st *triggerStream) Ack(ctx context.Context, pos change.Position) error {
	p, err := ParsePosition(pos)
	if err != nil {
		return err
	}
	s := st.src
	sch := quoteIdent(s.schema) + "."
	err = withImmediateTx(ctx, s.store.db, func(q queryer) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO `+sch+quoteIdent(cursorTable)+` (flow, tbl, acked) VALUES (?, ?, ?)
			ON CONFLICT (flow) DO UPDATE SET acked = max(COALESCE(acked, 0), excluded.acked), tbl = excluded.tbl`,
			s.spec.Flow, s.name, p.ID); err != nil {
			return err
		}
		var upto sql.NullInt64
		if err := q.QueryRowContext(ctx, `SELECT max(id) FROM `+sch+quoteIdent(logTable)+
			` WHERE tbl = ? AND id <= (SELECT min(acked) FROM `+sch+quoteIdent(cursorTable)+` WHERE tbl = ?)`,
			s.name, s.name).Scan(&upto); err != nil {
			return err
		}
		if !upto.Valid {
			return nil // nothing to prune
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO `+sch+quoteIdent(metaTable)+` (tbl, version, pruned_max) VALUES (?, '', ?)
			ON CONFLICT (tbl) DO UPDATE SET pruned_max = max(pruned_max, excluded.pruned_max)`, s.name, upto.Int64); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM `+sch+quoteIdent(logTable)+` WHERE tbl = ? AND id <= ?`, s.name, upto.Int64)
		return err
	})
	if err != nil {
		return fmt.Errorf("ack %s on %q: %w", pos, s.spec.Table, err)
	}
	return nil
}

// Close stops the stream. It holds no connection between calls.
func (st *triggerStream) Close() error {
	st.closed = true
	return nil
}
