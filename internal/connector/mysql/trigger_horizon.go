package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
)

// Which log ids are final.
//
// InnoDB draws an AUTO_INCREMENT id when a row is inserted, not when its
// transaction commits, so a transaction still open may hold log ids below
// ones already visible, and show them only later: reading "id > cursor"
// alone would skip them. A reader therefore never passes an id it cannot
// prove final (committed or rolled back).
//
// MySQL offers no reliable list of open transactions (the innodb_trx table
// is a cache that is not refreshed while it keeps being read) and no way to
// run code at commit. So the triggers make open transactions visible
// through locks instead: before drawing a log id, a trigger locks its
// connection's row of _syncbridge_writer (inserting it when missing) and
// holds that lock until its transaction ends. A reader reads the greatest
// log id v, and then which writer rows are locked: every transaction that
// drew an id up to v had locked its row before v was read, so once each
// row locked at that moment has been seen unlocked, every id up to v is
// final. The rows are listed with a dirty read (a row a transaction has
// just inserted is uncommitted) and the unlocked ones found with SELECT ...
// FOR UPDATE SKIP LOCKED (which skips uncommitted rows too); those idle rows
// are deleted in passing, so the table holds only the connections that
// wrote since the last read, and each transaction of a connection starts a
// new row. A connection that stays busy is never caught idle by SKIP
// LOCKED: after closeAfter the reader queues for its row lock (InnoDB
// grants locks in order, so it waits for the transaction open then and no
// later one, and at most lockWait per call) and deletes the row.
//
// The alternative, a counter row every capturing transaction updates (ids
// in commit order), would serialise every writer of every captured table
// from its first write to its commit; the writer rows are per connection,
// so writers never wait for each other.
//
// The writer row's tx, the id of the first log row of the transaction
// (that row itself logs 0), groups a transaction's rows: batches are cut
// only where no transaction continues. When the reader did not see a
// connection idle between two of its transactions they share a group,
// which only makes cuts rarer, never wrong.

const (
	// positionWait bounds how long Position waits for open transactions.
	positionWait = 30 * time.Second
	// closeAfter is how long a horizon may wait for a busy connection
	// before the reader queues for its writer row.
	closeAfter = 200 * time.Millisecond
)

// pendingIDs is a log id waiting for the transactions of the writer rows
// locked when it was read: conn -> the row's tx then.
type pendingIDs struct {
	v     int64
	conns map[uint64]int64
	since time.Time
}

// horizon tracks the greatest log id known final.
type horizon struct {
	src     *triggerSource
	safe    int64
	pending []pendingIDs
}

// advance reads the log's greatest id and the writer rows, releases the
// pending ids whose transactions have ended, and returns the new safe id.
func (h *horizon) advance(ctx context.Context) (int64, error) {
	src := h.src
	var v int64
	if err := src.s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM "+src.log).Scan(&v); err != nil {
		return 0, err
	}
	locked, err := src.lockedWriters(ctx)
	if err != nil {
		return 0, err
	}
	for _, p := range h.pending {
		for c, tx := range p.conns {
			if cur, ok := locked[c]; !ok || tx != 0 && cur != tx {
				delete(p.conns, c) // seen idle, or a later transaction's row
			}
		}
	}
	h.pending = append(h.pending, pendingIDs{v: v, conns: locked, since: time.Now()})
	h.release()
	if len(h.pending) > 0 && time.Since(h.pending[0].since) >= closeAfter {
		for c := range h.pending[0].conns {
			ended, err := src.closeWriter(ctx, c)
			if err != nil {
				return 0, err
			}
			if ended {
				for _, p := range h.pending {
					delete(p.conns, c)
				}
			}
			break // one wait per call: Next must return promptly
		}
		h.release()
	}
	return h.safe, nil
}

func (h *horizon) release() {
	for len(h.pending) > 0 && len(h.pending[0].conns) == 0 {
		h.safe = max(h.safe, h.pending[0].v)
		h.pending = h.pending[1:]
	}
}

// lockedWriters returns the writer rows locked by open transactions (conn
// -> tx), and deletes the others.
func (src *triggerSource) lockedWriters(ctx context.Context) (map[uint64]int64, error) {
	all := map[uint64]int64{}
	dirty, err := src.s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadUncommitted})
	if err != nil {
		return nil, err
	}
	rows, err := dirty.QueryContext(ctx, "SELECT conn, tx FROM "+src.writer)
	if err != nil {
		dirty.Rollback()
		return nil, err
	}
	for rows.Next() {
		var (
			c  uint64
			tx int64
		)
		if err := rows.Scan(&c, &tx); err != nil {
			rows.Close()
			dirty.Rollback()
			return nil, err
		}
		all[c] = tx
	}
	err = errors.Join(rows.Err(), rows.Close(), dirty.Commit())
	if err != nil || len(all) == 0 {
		return all, err
	}
	// READ COMMITTED: no gap locks, so new writers are never held up.
	tx, err := src.s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err = tx.QueryContext(ctx, "SELECT conn FROM "+src.writer+" FOR UPDATE SKIP LOCKED")
	if err != nil {
		return nil, err
	}
	var idle []any
	for rows.Next() {
		var c uint64
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, err
		}
		delete(all, c)
		idle = append(idle, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	if len(idle) > 0 {
		q := "DELETE FROM " + src.writer + " WHERE conn IN (?" + strings.Repeat(", ?", len(idle)-1) + ")"
		if _, err := tx.ExecContext(ctx, q, idle...); err != nil {
			return nil, err
		}
	}
	return all, tx.Commit()
}

// lockWait is how long closeWriter queues for a busy writer row (seconds:
// innodb_lock_wait_timeout's unit and minimum).
const lockWait = 1

// closeWriter waits, at most lockWait, for the transaction holding
// connection c's writer row to end, and deletes the row. It reports
// whether the wait ended in time.
func (src *triggerSource) closeWriter(ctx context.Context, c uint64) (bool, error) {
	conn, err := src.s.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = "+strconv.Itoa(lockWait)); err != nil {
		return false, err
	}
	_, err = conn.ExecContext(ctx, "DELETE FROM "+src.writer+" WHERE conn = ?", c)
	var me *gomysql.MySQLError
	timedOut := errors.As(err, &me) && me.Number == 1205 // lock wait timeout
	if err != nil && !timedOut {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // do not pool a connection in an unknown state
		return false, err
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = DEFAULT"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return false, err
	}
	return !timedOut, nil
}

// waitHorizon reads the greatest log id and waits until every id up to it
// is final. A transaction that stays open for long makes it fail (after
// positionWait); the engine retries.
func (src *triggerSource) waitHorizon(ctx context.Context) (int64, error) {
	h := &horizon{src: src}
	if _, err := h.advance(ctx); err != nil {
		return 0, err
	}
	if len(h.pending) == 0 {
		return h.safe, nil
	}
	target := h.pending[0].v
	deadline := time.Now().Add(positionWait)
	for {
		if _, err := h.advance(ctx); err != nil {
			return 0, err
		}
		if h.safe >= target {
			return target, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("transactions on connections %v stayed open for %v; the position waits for them to end",
				keys(h.pending[0].conns), positionWait)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func keys(m map[uint64]int64) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
