package postgres

import (
	"context"
	"fmt"
	"strings"

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
	out, err := readByKeys(ctx, s, s.pool, ident.Sanitize(), key, req.Keys, "")
	if err != nil {
		return nil, s.wrapErr(fmt.Errorf("store %q: read rows of %s: %w", s.name, req.Table, err))
	}
	return out, nil
}

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
