package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// keysPerRead bounds the keys of one lookup statement, far below SQLite's
// limit of bound parameters.
const keysPerRead = 256

var (
	_ connector.RowReader = (*Store)(nil)
	_ connector.TxReader  = (*sinkTx)(nil)
)

// ReadRows reads the rows of req.Table with the given keys, outside any
// transaction (WAL readers see the last commit and block nobody).
func (s *Store) ReadRows(ctx context.Context, req connector.RowsRequest) (map[string]change.Row, error) {
	t, err := describe(ctx, s.db, req.Table)
	if err != nil {
		return nil, fmt.Errorf("read rows of %q: %w", req.Table, err)
	}
	key, err := keyColumns(t, req.Key)
	if err != nil {
		return nil, fmt.Errorf("read rows of %q: %w", req.Table, err)
	}
	kc, err := keyColumnDefs(t, key)
	if err != nil {
		return nil, fmt.Errorf("read rows of %q: %w", req.Table, err)
	}
	out, err := readByKeys(ctx, s.db, req.Table, t.Columns, kc, req.Keys)
	if err != nil {
		return nil, fmt.Errorf("read rows of %q: %w", req.Table, err)
	}
	return out, nil
}

// Current reads the target rows with the given keys inside the transaction.
// The transaction holds SQLite's write lock (BEGIN IMMEDIATE), so the rows
// cannot change before it ends. See connector.TxReader.
func (tx *sinkTx) Current(ctx context.Context, keys []change.Key) (map[string]change.Row, error) {
	if tx.done {
		return nil, fmt.Errorf("current: transaction is finished")
	}
	s := tx.s
	out, err := readByKeys(ctx, s.conn, s.spec.Table, s.table.Columns, s.key, keys)
	if err != nil {
		return nil, fmt.Errorf("read current rows of %q: %w", s.spec.Table, err)
	}
	return out, nil
}

// readByKeys selects every column of the rows whose key is one of keys:
// SELECT ... WHERE (k1, k2) IN (VALUES (?, ?), ...), a few hundred keys per
// statement.
func readByKeys(ctx context.Context, q queryer, table string, cols, key []connector.Column, keys []change.Key) (map[string]change.Row, error) {
	out := make(map[string]change.Row, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.Name)
	}
	keyNames := make([]string, len(key))
	for i, c := range key {
		keyNames[i] = quoteIdent(c.Name)
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(key)), ", ") + ")"
	for start := 0; start < len(keys); start += keysPerRead {
		chunk := keys[start:min(len(keys), start+keysPerRead)]
		args := make([]any, 0, len(chunk)*len(key))
		for _, k := range chunk {
			if len(k) != len(key) {
				return nil, fmt.Errorf("key %s has %d values; the key has %d columns", k, len(k), len(key))
			}
			for i, v := range k {
				a, err := encodeValue(key[i], v)
				if err != nil {
					return nil, err
				}
				args = append(args, a)
			}
		}
		query := "SELECT " + strings.Join(names, ", ") + " FROM " + quoteTable(table) +
			" WHERE (" + strings.Join(keyNames, ", ") + ") IN (VALUES " +
			strings.TrimSuffix(strings.Repeat(one+", ", len(chunk)), ", ") + ")"
		if err := scanRows(ctx, q, query, args, cols, key, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scanRows(ctx context.Context, q queryer, query string, args []any, cols, key []connector.Column, out map[string]change.Row) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	keyNames := make([]string, len(key))
	for i, c := range key {
		keyNames[i] = c.Name
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		r := make(change.Row, len(cols))
		for i, c := range cols {
			r[c.Name] = readValue(c, raw[i])
		}
		k, _ := change.KeyOf(r, keyNames)
		out[k.String()] = r
	}
	return rows.Err()
}
