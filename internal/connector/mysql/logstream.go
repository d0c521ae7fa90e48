package mysql

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// logRow is one row of the capture log.
type logRow struct {
	id, group      int64 // group: the transaction's first log id (see trigger_horizon.go)
	op             string
	origin         sql.NullString
	oldRow, newRow sql.NullString
	at             string
}

// logStream reads one table's rows of the capture log.
type logStream struct {
	src   *triggerSource
	every time.Duration // idle poll interval
	h     horizon       // h.safe: ids up to it are final

	pos  int64 // the last transaction boundary handed out
	next int64 // every log row up to it has been read
	// rows are read and not handed out; cut[i] says a transaction
	// boundary follows rows[i]. end is the position after the last row
	// when it is a boundary.
	rows    []logRow
	cut     []bool
	end     int64
	openMax int64 // greatest id of a transaction handed out in part
	inTx    bool
	lastDry time.Time
}

var _ connector.Stream = (*logStream)(nil)

// Stream reads the log after from (nil = from the flow's acked cursor).
func (src *triggerSource) Stream(ctx context.Context, from change.Position) (connector.Stream, error) {
	var pos int64
	if len(from) > 0 {
		p, err := ParsePosition(from)
		if err != nil {
			return nil, err
		}
		pos = p.LogID
	} else if err := src.s.db.QueryRowContext(ctx, "SELECT acked FROM "+src.cursor+" WHERE flow = ?", src.spec.Flow).Scan(&pos); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store %q: read capture cursor of %q: %w", src.s.name, src.spec.Flow, err)
	}
	if err := src.CheckResume(ctx, logPosition(pos).Bytes()); err != nil {
		return nil, err
	}
	every := src.spec.Poll.Every
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	return &logStream{src: src, every: every, h: horizon{src: src, safe: pos}, pos: pos, next: pos}, nil
}

// Next returns up to max changes in log order; a batch that ends where no
// transaction of the handed-out rows continues carries its position. With
// nothing to read it returns an empty batch at once the first time, then
// after the poll interval.
func (s *logStream) Next(ctx context.Context, max int) (connector.Batch, error) {
	if max <= 0 {
		return connector.Batch{}, fmt.Errorf("next: max must be positive, got %d", max)
	}
	for len(s.rows) == 0 {
		n, err := s.read(ctx, max)
		if err != nil {
			return connector.Batch{}, err
		}
		if n > 0 {
			break
		}
		if !s.inTx && time.Since(s.lastDry) >= s.every {
			s.lastDry = time.Now()
			return connector.Batch{Position: logPosition(s.pos).Bytes(), CaughtUp: len(s.h.pending) == 0}, nil
		}
		select {
		case <-ctx.Done():
			return connector.Batch{}, ctx.Err()
		case <-time.After(s.every):
		}
	}
	var b connector.Batch
	last := -1
	for i := 0; i < len(s.rows) && len(b.Changes) < max; i++ {
		c, err := s.src.change(ctx, &s.rows[i])
		if err != nil {
			return connector.Batch{}, fmt.Errorf("store %q: capture log of %s: %w", s.src.s.name, s.src.spec.Table, err)
		}
		b.Changes = append(b.Changes, c)
		last = i
	}
	if s.cut[last] {
		s.pos, s.inTx = s.rows[last].id, false
		if last == len(s.rows)-1 {
			s.pos = s.end
		}
		b.Position = logPosition(s.pos).Bytes()
		b.CaughtUp = last == len(s.rows)-1 && len(s.h.pending) == 0 && s.pos == s.h.safe
	} else {
		s.inTx = true
	}
	s.rows, s.cut = s.rows[last+1:], s.cut[last+1:]
	if len(s.rows) == 0 {
		s.rows, s.cut = nil, nil
	}
	return b, nil
}

// read advances the horizon and reads the final rows after the last one
// read, marking where transactions end. It returns how many it read.
func (s *logStream) read(ctx context.Context, limit int) (int, error) {
	src := s.src
	wrap := func(err error) error {
		return fmt.Errorf("store %q: read capture log of %s: %w", src.s.name, src.spec.Table, err)
	}
	safe, err := s.h.advance(ctx)
	if err != nil {
		return 0, wrap(err)
	}
	rows, err := src.s.db.QueryContext(ctx, "SELECT id, IF(tx = 0, id, tx), op, origin, old_row, new_row, at FROM "+src.log+
		" WHERE tbl = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?", src.t.name, s.next, safe, limit)
	if err != nil {
		return 0, wrap(err)
	}
	var got []logRow
	for rows.Next() {
		var r logRow
		if err := rows.Scan(&r.id, &r.group, &r.op, &r.origin, &r.oldRow, &r.newRow, &r.at); err != nil {
			rows.Close()
			return 0, wrap(err)
		}
		got = append(got, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, wrap(err)
	}
	if len(got) == 0 {
		s.next = safe
		if !s.inTx {
			s.pos = safe // no row of this table up to safe is left
		}
		return 0, nil
	}
	if err := s.markCuts(ctx, got); err != nil {
		return 0, wrap(err)
	}
	s.rows = got
	s.next = got[len(got)-1].id
	if len(got) < limit {
		s.next = safe
	}
	s.end = s.next
	return len(got), nil
}

// markCuts marks the rows after which no transaction of the rows so far
// continues: for each transaction, the greatest id it logged for this
// table (it has ended, so all its rows are visible) must be behind.
func (s *logStream) markCuts(ctx context.Context, rows []logRow) error {
	var groups []any
	seen := map[int64]bool{}
	for _, r := range rows {
		if !seen[r.group] {
			seen[r.group] = true
			groups = append(groups, r.group)
		}
	}
	in := "(?" + strings.Repeat(", ?", len(groups)-1) + ")"
	args := append(append([]any{s.src.t.name}, groups...), groups...)
	q, err := s.src.s.db.QueryContext(ctx, "SELECT IF(tx = 0, id, tx), MAX(id) FROM "+s.src.log+
		" WHERE tbl = ? AND (tx IN "+in+" OR id IN "+in+") GROUP BY 1", args...)
	if err != nil {
		return err
	}
	last := make(map[int64]int64, len(groups))
	for q.Next() {
		var g, id int64
		if err := q.Scan(&g, &id); err != nil {
			q.Close()
			return err
		}
		last[g] = id
	}
	if err := errors.Join(q.Err(), q.Close()); err != nil {
		return err
	}
	s.cut = make([]bool, len(rows))
	for i := range rows {
		s.openMax = max(s.openMax, last[rows[i].group])
		s.cut[i] = s.openMax <= rows[i].id
	}
	return nil
}

// change turns a log row into a Change.
func (src *triggerSource) change(ctx context.Context, r *logRow) (change.Change, error) {
	at, err := time.ParseInLocation("2006-01-02 15:04:05.999999", r.at, time.UTC)
	if err != nil {
		return change.Change{}, fmt.Errorf("log row %d: time %q: %w", r.id, r.at, err)
	}
	c := change.Change{
		ID:         src.s.name + ":log:" + strconv.FormatInt(r.id, 10),
		Flow:       src.spec.Flow,
		Table:      src.spec.Table,
		CommitTime: at,
		TxID:       "log:" + strconv.FormatInt(r.group, 10),
		Position:   logPosition(r.id).Bytes(),
		Origin:     r.origin.String,
	}
	switch r.op {
	case "insert":
		c.Op = change.OpInsert
	case "update":
		c.Op = change.OpUpdate
	case "delete":
		c.Op = change.OpDelete
	default:
		return c, fmt.Errorf("log row %d: unknown op %q", r.id, r.op)
	}
	if r.oldRow.Valid {
		if c.Before, err = src.image(ctx, r.oldRow.String); err != nil {
			return c, fmt.Errorf("log row %d: %w", r.id, err)
		}
	}
	keyRow := c.Before
	if r.newRow.Valid {
		if c.After, err = src.image(ctx, r.newRow.String); err != nil {
			return c, fmt.Errorf("log row %d: %w", r.id, err)
		}
		keyRow = c.After
	}
	if c.Op == change.OpUpdate {
		c.Columns = changedColumns(src.t, c.Before, c.After)
	}
	key, ok := change.KeyOf(keyRow, src.spec.Key)
	if !ok {
		return c, fmt.Errorf("log row %d: the row image lacks a key column of %v", r.id, src.spec.Key)
	}
	c.Key = key
	return c, nil
}

// image decodes a logged row image, {"column": "text" or null}, into the
// carried columns. A column the image names but the table description
// lacks makes the table be described again (it was altered); a column the
// image lacks (added after the row was logged) is left out, so the target
// keeps its value.
func (src *triggerSource) image(ctx context.Context, text string) (change.Row, error) {
	var m map[string]*string
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, err
	}
	for name := range m {
		if _, ok := src.t.column(name); !ok {
			t, err := src.s.describe(ctx, src.s.db, src.spec.Table)
			if err != nil {
				return nil, fmt.Errorf("describe after a schema change: %w", err)
			}
			src.t = t
			break
		}
	}
	carry := map[string]bool{}
	for _, c := range src.ks.cols {
		carry[c.Name] = true
	}
	row := make(change.Row, len(m))
	for i := range src.t.cols {
		c := &src.t.cols[i]
		text, ok := m[c.Name]
		if !ok || len(src.spec.Columns) > 0 && !carry[c.Name] {
			continue
		}
		v, err := src.s.decodeImageValue(c, text)
		if err != nil {
			return nil, err
		}
		row[c.Name] = v
	}
	return row, nil
}

// decodeImageValue reads one value as valueSQL logged it.
func (s *Store) decodeImageValue(c *column, text *string) (change.Value, error) {
	if text == nil {
		return change.Null, nil
	}
	switch {
	case c.Kind == change.KindBytes || c.Kind == change.KindUnknown:
		b, err := hex.DecodeString(*text)
		if err != nil {
			return change.Value{}, fmt.Errorf("column %q: logged bytes: %w", c.Name, err)
		}
		return s.decodeText(c, "", b)
	case c.dataType == "timestamp" && !strings.Contains(*text, "-"):
		t, err := epochText(*text)
		if err != nil {
			return change.Value{}, fmt.Errorf("column %q: logged timestamp %q: %w", c.Name, *text, err)
		}
		return s.decodeText(c, t.UTC().Format("2006-01-02 15:04:05.999999"), nil)
	}
	return s.decodeText(c, *text, nil)
}

// epochText reads UNIX_TIMESTAMP's "seconds[.fraction]" exactly.
func epochText(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		ns = f
	}
	return time.Unix(n, ns), nil
}

// Ack moves the flow's cursor to pos and deletes the table's log rows that
// every flow reading it has acknowledged. READ COMMITTED: the delete takes
// no gap locks, so writers appending to the log are never held up.
func (s *logStream) Ack(ctx context.Context, pos change.Position) error {
	if len(pos) == 0 {
		return nil
	}
	p, err := ParsePosition(pos)
	if err != nil {
		return err
	}
	if err := s.src.ack(ctx, p.LogID); err != nil {
		return fmt.Errorf("store %q: ack capture log of %s at %s: %w", s.src.s.name, s.src.spec.Table, pos, err)
	}
	return nil
}

func (src *triggerSource) ack(ctx context.Context, id int64) error {
	tx, err := src.s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Lock the table's cursors first, in one statement, so concurrent acks
	// of its flows queue instead of deadlocking.
	var low sql.NullInt64
	if _, err := tx.ExecContext(ctx, "SELECT 1 FROM "+src.cursor+" WHERE tbl = ? FOR UPDATE", src.t.name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+src.cursor+" SET acked = GREATEST(acked, ?) WHERE flow = ?", id, src.spec.Flow); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "SELECT MIN(acked) FROM "+src.cursor+" WHERE tbl = ?", src.t.name).Scan(&low); err != nil {
		return err
	}
	if low.Valid && low.Int64 > 0 {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+src.log+" WHERE tbl = ? AND id <= ?", src.t.name, low.Int64); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+src.cursor+" SET pruned = GREATEST(pruned, ?) WHERE tbl = ?", low.Int64, src.t.name); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close ends the stream; it holds no connection between calls.
func (s *logStream) Close() error { return nil }
