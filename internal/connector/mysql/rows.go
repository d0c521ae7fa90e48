package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// keysPerRead bounds the keys of one lookup statement.
const keysPerRead = 512

var (
	_ connector.RowReader = (*Store)(nil)
	_ connector.TxReader  = (*sinkTx)(nil)
)

// ReadRows reads the rows of req.Table with the given keys, without locks
// (a consistent read). See connector.RowReader.
func (s *Store) ReadRows(ctx context.Context, req connector.RowsRequest) (map[string]change.Row, error) {
	t, err := s.describe(ctx, s.db, req.Table)
	if err != nil {
		return nil, fmt.Errorf("store %q: read rows of %s: %w", s.name, req.Table, err)
	}
	out, err := s.readByKeys(ctx, s.db, t, req.Key, req.Keys, "")
	if err != nil {
		return nil, fmt.Errorf("store %q: read rows of %s: %w", s.name, req.Table, err)
	}
	return out, nil
}

// Current reads the target rows with the given keys inside the transaction
// with SELECT ... FOR UPDATE: InnoDB keeps them (and the gaps of absent
// keys) locked until the transaction ends. See connector.TxReader.
func (tx *sinkTx) Current(ctx context.Context, keys []change.Key) (map[string]change.Row, error) {
	if tx.done {
		return nil, errors.New("current: transaction is finished")
	}
	s := tx.s
	out, err := s.store.readByKeys(ctx, s.conn, s.t, s.spec.Key, keys, " FOR UPDATE")
	if err != nil {
		return nil, fmt.Errorf("store %q: read current rows of %s: %w", s.store.name, s.spec.Table, err)
	}
	return out, nil
}

// readByKeys selects every column of the rows of t whose key (the primary
// key when key is empty) is one of keys:
// SELECT ... WHERE (k1, k2) IN ((?, ?), ...)[suffix].
func (s *Store) readByKeys(ctx context.Context, q queryer, t *table, key []string, keys []change.Key, suffix string) (map[string]change.Row, error) {
	ks, err := s.newKeyset(t, key, nil)
	if err != nil {
		return nil, err
	}
	mark := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ks.key)), ", ") + ")"
	out := make(map[string]change.Row, len(keys))
	for start := 0; start < len(keys); start += keysPerRead {
		chunk := keys[start:min(len(keys), start+keysPerRead)]
		marks := make([]string, len(chunk))
		args := make([]any, 0, len(chunk)*len(ks.key))
		for i, k := range chunk {
			if len(k) != len(ks.key) {
				return nil, fmt.Errorf("key %s has %d values; the key has %d columns", k, len(k), len(ks.key))
			}
			for j, v := range k {
				a, err := s.encode(ks.key[j], v)
				if err != nil {
					return nil, err
				}
				args = append(args, a)
			}
			marks[i] = mark
		}
		rows, err := s.query(ctx, q, ks, ks.sel+" WHERE "+ks.tuple+" IN ("+strings.Join(marks, ", ")+")"+suffix, args...)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			k := make(change.Key, len(ks.key))
			for j, c := range ks.key {
				k[j] = r[c.Name]
			}
			out[k.String()] = r
		}
	}
	return out, nil
}
