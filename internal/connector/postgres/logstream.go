package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Log ids are drawn from a sequence when a trigger runs, not when its
// transaction commits: a transaction still running may hold ids below ones
// already visible, and would show them only later. A reader therefore never
// passes an id it cannot prove final. It reads the sequence's last value v,
// then the current snapshot: every id up to v was drawn by a transaction
// that had started by then, so once every transaction in that snapshot's
// in-progress list has ended, ids up to v are final (visible or rolled
// back). Those pairs wait in a queue until a later snapshot shows their
// transactions ended; the greatest v released is the horizon.

// pendingIDs is a sequence value waiting for the transactions that were in
// progress when it was read.
type pendingIDs struct {
	v   int64
	xip []uint64
}

// pgSnapshot is a parsed pg_snapshot, "xmin:xmax:xip,xip".
type pgSnapshot struct {
	xmin, xmax uint64
	xip        []uint64
}

func parseSnapshot(s string) (pgSnapshot, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return pgSnapshot{}, fmt.Errorf("snapshot %q: want xmin:xmax:xip", s)
	}
	var sn pgSnapshot
	var err error
	if sn.xmin, err = strconv.ParseUint(parts[0], 10, 64); err != nil {
		return pgSnapshot{}, fmt.Errorf("snapshot %q: %w", s, err)
	}
	if sn.xmax, err = strconv.ParseUint(parts[1], 10, 64); err != nil {
		return pgSnapshot{}, fmt.Errorf("snapshot %q: %w", s, err)
	}
	if parts[2] != "" {
		for _, x := range strings.Split(parts[2], ",") {
			id, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return pgSnapshot{}, fmt.Errorf("snapshot %q: %w", s, err)
			}
			sn.xip = append(sn.xip, id)
		}
	}
	return sn, nil
}

// ended reports whether transaction xid had ended when sn was taken.
func (sn pgSnapshot) ended(xid uint64) bool {
	return xid < sn.xmin || xid < sn.xmax && !slices.Contains(sn.xip, xid)
}

// readIDs reads the log sequence's last value and then (in a later
// statement, so a later snapshot) the current snapshot.
func (src *TriggerSource) readIDs(ctx context.Context) (pendingIDs, pgSnapshot, error) {
	var v int64
	err := src.store.pool.QueryRow(ctx, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM "+src.seq).Scan(&v)
	if err != nil {
		return pendingIDs{}, pgSnapshot{}, err
	}
	var text string
	if err := src.store.pool.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&text); err != nil {
		return pendingIDs{}, pgSnapshot{}, err
	}
	sn, err := parseSnapshot(text)
	return pendingIDs{v: v, xip: sn.xip}, sn, err
}

// waitHorizon reads the sequence and waits until the transactions in
// progress at that moment have ended: every id up to the value returned is
// final. A transaction that stays open for long makes it fail (after
// positionWait); the engine retries.
func (src *TriggerSource) waitHorizon(ctx context.Context) (int64, error) {
	p, _, err := src.readIDs(ctx)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(positionWait)
	for {
		_, sn, err := src.readIDs(ctx)
		if err != nil {
			return 0, err
		}
		if allEnded(p.xip, sn) {
			return p.v, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("transactions %v stayed open for %v; the position waits for them to end", p.xip, positionWait)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// positionWait bounds how long Position waits for open transactions.
const positionWait = 30 * time.Second

func allEnded(xids []uint64, sn pgSnapshot) bool {
	for _, x := range xids {
		if !sn.ended(x) {
			return false
		}
	}
	return true
}

// logRow is one row of the capture log.
type logRow struct {
	id            int64
	op            string
	txid          string
	before, after []byte
	at            time.Time
}

// logStream reads one table's rows of the capture log.
type logStream struct {
	src   *TriggerSource
	every time.Duration // idle poll interval

	pos     int64 // the last transaction boundary handed out
	next    int64 // every log row up to it has been read
	safe    int64 // ids up to it are final
	pending []pendingIDs
	// rows are read and not handed out; cut[i] says a transaction
	// boundary follows rows[i]. end is the position after the last row
	// when it is a boundary (safe, when the read reached it).
	rows    []logRow
	cut     []bool
	end     int64
	openMax int64 // greatest id of a transaction handed out in part
	inTx    bool
	lastDry time.Time
}

var _ connector.Stream = (*logStream)(nil)

// Stream reads the log after from (nil = from the flow's acked cursor).
func (src *TriggerSource) Stream(ctx context.Context, from change.Position) (connector.Stream, error) {
	var pos int64
	if len(from) > 0 {
		p, err := parseLogPosition(from)
		if err != nil {
			return nil, err
		}
		pos = int64(p)
	} else if err := src.store.pool.QueryRow(ctx, "SELECT acked FROM "+src.cursor+" WHERE flow = $1", src.spec.Flow).Scan(&pos); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, src.store.wrapErr(fmt.Errorf("store %q: read capture cursor of %q: %w", src.store.name, src.spec.Flow, err))
	}
	if err := src.CheckResume(ctx, logPosition(pos).Bytes()); err != nil {
		return nil, err
	}
	every := src.spec.Poll.Every
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	return &logStream{src: src, every: every, pos: pos, next: pos, safe: pos}, nil
}

// Next returns up to max changes in log order; a batch that ends where no
// transaction of the handed-out rows continues carries its position. With
// nothing to read it returns an empty batch at once the first time, then
// after the poll interval.
func (s *logStream) Next(ctx context.Context, max int) (connector.Batch, error) {
	max = maxInt(max, 1)
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
			return connector.Batch{Position: logPosition(s.pos).Bytes(), CaughtUp: len(s.pending) == 0}, nil
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
		c, err := s.change(&s.rows[i])
		if err != nil {
			return connector.Batch{}, err
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
		b.CaughtUp = last == len(s.rows)-1 && len(s.pending) == 0 && s.pos == s.safe
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
	p, sn, err := src.readIDs(ctx)
	if err != nil {
		return 0, src.store.wrapErr(fmt.Errorf("store %q: read capture log of %s: %w", src.store.name, src.tbl.qualified(), err))
	}
	s.pending = append(s.pending, p)
	for len(s.pending) > 0 && allEnded(s.pending[0].xip, sn) {
		s.safe = max(s.safe, s.pending[0].v)
		s.pending = s.pending[1:]
	}
	rows, err := src.store.pool.Query(ctx, "SELECT id, op, txid::text, before::text, after::text, at FROM "+src.log+
		" WHERE tbl = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4", src.tbl.qualified(), s.next, s.safe, limit)
	if err != nil {
		return 0, src.store.wrapErr(fmt.Errorf("store %q: read capture log of %s: %w", src.store.name, src.tbl.qualified(), err))
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (logRow, error) {
		var lr logRow
		err := r.Scan(&lr.id, &lr.op, &lr.txid, &lr.before, &lr.after, &lr.at)
		return lr, err
	})
	if err != nil {
		return 0, src.store.wrapErr(fmt.Errorf("store %q: read capture log of %s: %w", src.store.name, src.tbl.qualified(), err))
	}
	if len(got) == 0 {
		s.next = s.safe
		if !s.inTx {
			s.pos = s.safe // no row of this table up to safe is left
		}
		return 0, nil
	}
	if err := s.markCuts(ctx, got); err != nil {
		return 0, err
	}
	s.rows = got
	s.next = got[len(got)-1].id
	if len(got) < limit {
		s.next = s.safe
	}
	s.end = s.next
	return len(got), nil
}

// markCuts marks the rows after which no transaction of the rows so far
// continues: for each transaction, the greatest id it logged for this
// table (it has committed, so all its rows are visible) must be behind.
func (s *logStream) markCuts(ctx context.Context, rows []logRow) error {
	var txids []string
	for i := range rows {
		if i == 0 || rows[i].txid != rows[i-1].txid && !slices.Contains(txids, rows[i].txid) {
			txids = append(txids, rows[i].txid)
		}
	}
	src := s.src
	q, err := src.store.pool.Query(ctx, "SELECT x::text, (SELECT max(id) FROM "+src.log+" WHERE tbl = $1 AND txid = x) FROM unnest($2::text[]::xid8[]) x",
		src.tbl.qualified(), txids)
	if err != nil {
		return src.store.wrapErr(fmt.Errorf("store %q: read capture log of %s: %w", src.store.name, src.tbl.qualified(), err))
	}
	last := make(map[string]int64, len(txids))
	var (
		x  string
		id int64
	)
	_, err = pgx.ForEachRow(q, []any{&x, &id}, func() error { last[x] = id; return nil })
	if err != nil {
		return src.store.wrapErr(fmt.Errorf("store %q: read capture log of %s: %w", src.store.name, src.tbl.qualified(), err))
	}
	s.cut = make([]bool, len(rows))
	for i := range rows {
		s.openMax = max(s.openMax, last[rows[i].txid])
		s.cut[i] = s.openMax <= rows[i].id
	}
	return nil
}

// change turns a log row into a Change.
func (s *logStream) change(r *logRow) (change.Change, error) {
	src := s.src
	c := change.Change{
		ID:         src.store.name + ":log:" + strconv.FormatInt(r.id, 10),
		Flow:       src.spec.Flow,
		Table:      src.spec.Table,
		CommitTime: r.at,
		TxID:       r.txid,
		Position:   logPosition(r.id).Bytes(),
	}
	var err error
	switch r.op {
	case "insert":
		c.Op = change.OpInsert
	case "update":
		c.Op = change.OpUpdate
	case "delete":
		c.Op = change.OpDelete
	case "truncate":
		c.Op = change.OpTruncate
		return c, nil
	default:
		return c, fmt.Errorf("capture log row %d: unknown op %q", r.id, r.op)
	}
	if r.before != nil {
		if c.Before, _, err = src.image(r.before); err != nil {
			return c, fmt.Errorf("capture log row %d: %w", r.id, err)
		}
	}
	keyRow := c.Before
	if r.after != nil {
		if c.After, c.Columns, err = src.image(r.after); err != nil {
			return c, fmt.Errorf("capture log row %d: %w", r.id, err)
		}
		keyRow = c.After
	}
	key, ok := change.KeyOf(keyRow, src.key)
	if !ok {
		return c, fmt.Errorf("capture log row %d: the row image lacks a key column of %v", r.id, src.key)
	}
	c.Key = key
	return c, nil
}

// image decodes a logged row image, {"column": "text" or null}, into the
// carried columns, in table order. A column the image lacks (added after
// the row was logged) is left out.
func (src *TriggerSource) image(b []byte) (change.Row, []string, error) {
	var m map[string]*string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, err
	}
	row := make(change.Row, len(m))
	names := make([]string, 0, len(m))
	for _, col := range src.tbl.cols {
		if len(src.snap.cols) > 0 && !contains(src.snap.cols, col.name) {
			continue
		}
		text, ok := m[col.name]
		if !ok {
			continue
		}
		if text == nil {
			row[col.name] = change.Null
		} else {
			v, err := decodeText(col.typ, *text)
			if err != nil {
				return nil, nil, fmt.Errorf("column %q: %w", col.name, err)
			}
			row[col.name] = v
		}
		names = append(names, col.name)
	}
	return row, names, nil
}

// Ack moves the flow's cursor to pos and deletes the table's log rows that
// every flow reading it has acknowledged.
func (s *logStream) Ack(ctx context.Context, pos change.Position) error {
	if len(pos) == 0 {
		return nil
	}
	p, err := parseLogPosition(pos)
	if err != nil {
		return err
	}
	src := s.src
	err = pgx.BeginFunc(ctx, src.store.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue("UPDATE "+src.cursor+" SET acked = greatest(acked, $2) WHERE flow = $1", src.spec.Flow, int64(p))
		b.Queue("DELETE FROM "+src.log+" WHERE tbl = $1 AND id <= (SELECT min(acked) FROM "+src.cursor+" WHERE tbl = $1)", src.tbl.qualified())
		b.Queue("UPDATE "+src.cursor+" SET pruned = (SELECT min(acked) FROM "+src.cursor+" WHERE tbl = $1) WHERE tbl = $1", src.tbl.qualified())
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return src.store.wrapErr(fmt.Errorf("store %q: ack capture log of %s at %s: %w", src.store.name, src.tbl.qualified(), pos, err))
	}
	return nil
}

// Close ends the stream; it holds no connection between calls.
func (s *logStream) Close() error { return nil }
