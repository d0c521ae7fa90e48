package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// keysPerRead bounds the keys of one lookup statement.
const keysPerRead = 512

var (
	_ connector.RowReader    = (*Store)(nil)
	_ connector.TxReader     = (*sinkTx)(nil)
	_ connector.OriginMarker = (*Sink)(nil)
)

// ReadRows reads the rows of req.Table with the given keys, without locks.
// With req.Key set it reads the catalog not at all: it runs on the hot
// path of both-way flows.
func (s *Store) ReadRows(ctx context.Context, req connector.RowsRequest) (map[string]change.Row, error) {
	key := req.Key
	schema, rel, err := splitTableName(req.Table)
	if err != nil {
		return nil, err
	}
	ident := pgx.Identifier{rel}
	if schema != "" {
		ident = pgx.Identifier{schema, rel}
	}
	if len(key) == 0 {
		t, err := s.describe(ctx, req.Table)
		if err != nil {
			return nil, err
		}
		key = t.key
	}
	if err := s.awaitVisible(ctx, req.After); err != nil {
		return nil, s.wrapErr(fmt.Errorf("store %q: read rows of %s: %w", s.name, req.Table, err))
	}
	out, err := readByKeys(ctx, s, s.pool, ident.Sanitize(), key, req.Keys, "")
	if err != nil {
		return nil, s.wrapErr(fmt.Errorf("store %q: read rows of %s: %w", s.name, req.Table, err))
	}
	return out, nil
}

// awaitVisible waits until the transactions xids, which the logical stream
// delivered, are visible to new snapshots. The walsender sends a commit
// once its record is flushed, but the committing backend leaves the
// process array (which makes it visible) only after that: read in between,
// a row is still the one before the change, and a both-way flow would drop
// the change as superseded by a later write that does not exist (lost for
// good when it was the key's last write). A later snapshot sees everything
// an earlier one did, so checking first and reading after is enough.
func (s *Store) awaitVisible(ctx context.Context, xids []string) error {
	ids := make([]int64, 0, len(xids))
	for _, x := range xids {
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	deadline := time.Now().Add(visibleWait)
	for {
		var running bool
		err := s.pool.QueryRow(ctx, awaitVisibleSQL, ids).Scan(&running)
		if err != nil {
			return fmt.Errorf("wait for delivered transactions to be visible: %w", err)
		}
		if !running {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transactions %v, delivered by the stream, are still not visible after %v", xids, visibleWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// awaitVisibleSQL reports whether any of the 32-bit xids ($1, as pgoutput
// gives them) is not visible to a new snapshot: still in progress, or at or
// past the snapshot's xmax (a transaction that has just committed but has
// not left the process array yet counts as in progress). Each xid is
// widened to the xid8 of the snapshot's epoch (the one before, when it
// would lie ahead of xmax).
const awaitVisibleSQL = `SELECT coalesce(bool_or(NOT pg_visible_in_snapshot((CASE
	WHEN ((f.xmax >> 32) << 32) + x > f.xmax THEN ((f.xmax >> 32) << 32) + x - 4294967296
	ELSE ((f.xmax >> 32) << 32) + x END)::text::xid8, f.snap)), false)
FROM (SELECT s AS snap, pg_snapshot_xmax(s)::text::bigint AS xmax FROM pg_current_snapshot() s) f, unnest($1::bigint[]) x`

// visibleWait bounds awaitVisible; past it the flow retries from its
// checkpoint.
const visibleWait = 10 * time.Second

// Current reads the target rows with the given keys inside the transaction
// with SELECT ... FOR UPDATE: they stay as read until the transaction ends.
// A key read absent is not locked (PostgreSQL has no gap locks); the sink's
// REPEATABLE READ transaction (see Sink.Begin) makes a later write to a row
// inserted there meanwhile fail with a serialization failure instead of
// overwriting it. See connector.TxReader.
func (tx *sinkTx) Current(ctx context.Context, keys []change.Key) (map[string]change.Row, error) {
	if tx.done || tx.broken {
		return nil, fmt.Errorf("current: transaction is finished or unusable")
	}
	k := tx.sink
	out, err := readByKeys(ctx, k.store, tx.tx, k.tbl.ident(), k.tg.key, keys, " FOR UPDATE")
	if err != nil {
		tx.broken = true
		return nil, k.store.wrapErr(fmt.Errorf("store %q: read current rows of %s: %w", k.store.name, k.tbl.qualified(), err))
	}
	return out, nil
}

// Origin returns the replication origin the sink marks its transactions
// with, or "" when it does not mark them. See connector.OriginMarker.
func (k *Sink) Origin() string {
	if !k.spec.SuppressCapture {
		return ""
	}
	return OriginName(k.spec.Flow)
}

// querier is what a pool and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readByKeys selects every column of the rows of ident whose key is one of
// keys: SELECT * ... WHERE (k1, k2) IN (($1, $2), ...)[suffix]. Key values
// travel as text of unspecified type, so the server compares them as the key
// columns' own types.
func readByKeys(ctx context.Context, s *Store, q querier, ident string, key []string, keys []change.Key, suffix string) (map[string]change.Row, error) {
	out := make(map[string]change.Row, len(keys))
	for start := 0; start < len(keys); start += keysPerRead {
		chunk := keys[start:min(len(keys), start+keysPerRead)]
		args := []any{pgx.QueryResultFormats{pgx.TextFormatCode}}
		var b strings.Builder
		b.WriteString("SELECT * FROM " + ident + " WHERE " + rowExpr(key) + " IN (")
		n := 0
		for i, k := range chunk {
			if len(k) != len(key) {
				return nil, fmt.Errorf("key %s has %d values; the key %v has %d columns", k, len(k), key, len(key))
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(paramRow(&n, len(key)))
			for _, v := range k {
				args = append(args, textArg(v))
			}
		}
		b.WriteString(")" + suffix)
		rows, err := q.Query(ctx, b.String(), args...)
		if err != nil {
			return nil, err
		}
		got, _, err := s.decodeRows(ctx, rows, len(chunk))
		if err != nil {
			return nil, err
		}
		for _, r := range got {
			k, ok := change.KeyOf(r, key)
			if !ok {
				return nil, fmt.Errorf("row without key columns %v", key)
			}
			out[k.String()] = r
		}
	}
	return out, nil
}
