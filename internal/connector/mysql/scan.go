package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// keyset is one key-ordered range read: rows with key in (after, until],
// ascending, at most limit. It serves backfill (Snapshot) and
// reconciliation (Scan), so it never holds more than one page.
type keyset struct {
	table string    // as configured
	cols  []*column // selected columns in table order; includes the key
	key   []*column // key columns in key order
	sel   string    // "SELECT cols FROM table"
	tuple string    // "(k1, k2)"
	order string    // " ORDER BY k1, k2 LIMIT ?"
}

// newKeyset prepares range reads of t by key (the primary key when empty)
// returning cols (all when empty).
func (s *Store) newKeyset(t *table, key, cols []string) (*keyset, error) {
	key, err := keyColumns(t.Table, key)
	if err != nil {
		return nil, err
	}
	ks := &keyset{table: t.Name}
	keep := make(map[string]bool, len(cols)+len(key))
	for _, c := range cols {
		if _, ok := t.column(c); !ok {
			return nil, fmt.Errorf("column %q does not exist in table %q", c, t.Name)
		}
		keep[c] = true
	}
	for _, k := range key {
		c, _ := t.column(k)
		ks.key = append(ks.key, c)
		keep[k] = true
	}
	names := make([]string, 0, len(t.cols))
	for i := range t.cols {
		if len(cols) == 0 || keep[t.cols[i].Name] {
			ks.cols = append(ks.cols, &t.cols[i])
			names = append(names, quoteIdent(t.cols[i].Name))
		}
	}
	keyList := make([]string, len(ks.key))
	for i, c := range ks.key {
		keyList[i] = quoteIdent(c.Name)
	}
	ks.sel = "SELECT " + strings.Join(names, ", ") + " FROM " + s.quoteTable(t.Name)
	ks.tuple = "(" + strings.Join(keyList, ", ") + ")"
	ks.order = " ORDER BY " + strings.Join(keyList, ", ") + " LIMIT ?"
	return ks, nil
}

// read runs one range read. The row-value comparison (k1, k2) > (?, ?) is a
// single range scan of the primary key in InnoDB (MySQL 5.7+, MariaDB 10.3+).
func (s *Store) read(ctx context.Context, q queryer, ks *keyset, after, until change.Key, limit int) ([]change.Row, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("limit must be positive, got %d", limit)
	}
	var (
		args  []any
		conds []string
	)
	marks := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ks.key)), ", ") + ")"
	for _, b := range []struct {
		bound change.Key
		op    string
	}{{after, " > "}, {until, " <= "}} {
		if b.bound == nil {
			continue
		}
		if len(b.bound) != len(ks.key) {
			return nil, fmt.Errorf("key bound %s has %d values; the key has %d columns", b.bound, len(b.bound), len(ks.key))
		}
		for i, v := range b.bound {
			a, err := s.encode(ks.key[i], v)
			if err != nil {
				return nil, err
			}
			args = append(args, a)
		}
		conds = append(conds, ks.tuple+b.op+marks)
	}
	query := ks.sel
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += ks.order
	args = append(args, limit)
	return s.query(ctx, q, ks, query, args...)
}

// query runs a SELECT of ks.cols and decodes its rows.
func (s *Store) query(ctx context.Context, q queryer, ks *keyset, query string, args ...any) ([]change.Row, error) {
	cols := ks.cols
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var out []change.Row
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := make(change.Row, len(cols))
		for i, c := range cols {
			v, err := s.decode(c, raw[i])
			if err != nil {
				v, err = s.zeroDate(err, ks.table, func() string { return s.rawKey(ks.key, cols, raw) })
			}
			if err != nil {
				return nil, err
			}
			r[c.Name] = v
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Scan reads rows of req.Table in key order within (After, Until].
func (s *Store) Scan(ctx context.Context, req connector.ScanRequest) ([]change.Row, error) {
	t, err := s.describe(ctx, s.db, req.Table)
	if err != nil {
		return nil, fmt.Errorf("scan %q: %w", req.Table, err)
	}
	ks, err := s.newKeyset(t, req.Key, req.Columns)
	if err != nil {
		return nil, fmt.Errorf("scan %q: %w", req.Table, err)
	}
	rows, err := s.read(ctx, s.db, ks, req.After, req.Until, req.Limit)
	if err != nil {
		return nil, fmt.Errorf("scan %q: %w", req.Table, err)
	}
	return rows, nil
}

// snapshot reads one backfill chunk as OpSnapshot changes.
func (s *Store) snapshot(ctx context.Context, ks *keyset, flow string, after change.Key, limit int) ([]change.Change, error) {
	rows, err := s.read(ctx, s.db, ks, after, nil, limit)
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", ks.table, err)
	}
	out := make([]change.Change, len(rows))
	for i, r := range rows {
		k := make(change.Key, len(ks.key))
		for j, c := range ks.key {
			k[j] = r[c.Name]
		}
		out[i] = change.Change{
			ID:    s.name + ":" + ks.table + ":snap:" + k.String(),
			Flow:  flow,
			Op:    change.OpSnapshot,
			Table: ks.table,
			Key:   k,
			After: r,
		}
	}
	return out, nil
}

// rawKey formats the key of a row as scanned (raw in cols' order), for
// error messages.
func (s *Store) rawKey(key, cols []*column, raw []any) string {
	k := make(change.Key, 0, len(key))
	for _, kc := range key {
		for i, c := range cols {
			if c == kc {
				v, err := s.decode(c, raw[i])
				if err != nil {
					v = change.Unknown(fmt.Sprint(raw[i]), c.Type)
				}
				k = append(k, v)
			}
		}
	}
	return k.String()
}
