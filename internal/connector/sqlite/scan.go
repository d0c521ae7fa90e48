package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// keyset is one key-ordered range read: rows with key in (after, until],
// ascending, at most limit. It serves backfill (Snapshot), reconciliation
// (Scan) and nothing else, so it never holds more than one page.
type keyset struct {
	table string             // as configured, possibly schema-qualified
	cols  []connector.Column // selected columns in table order; includes the key
	key   []connector.Column // key columns in key order
	after change.Key         // nil = from the start
	until change.Key         // nil = to the end
	limit int
}

// selectColumns returns the columns to read: want (all when empty) plus the
// key columns, in table order.
func selectColumns(t *connector.Table, key, want []string) ([]connector.Column, error) {
	keep := make(map[string]bool, len(want)+len(key))
	for _, c := range want {
		if _, ok := t.Column(c); !ok {
			return nil, fmt.Errorf("column %q does not exist in table %q", c, t.Name)
		}
		keep[c] = true
	}
	for _, k := range key {
		keep[k] = true
	}
	var out []connector.Column
	for _, c := range t.Columns {
		if len(want) == 0 || keep[c.Name] {
			out = append(out, c)
		}
	}
	return out, nil
}

func keyColumnDefs(t *connector.Table, key []string) ([]connector.Column, error) {
	out := make([]connector.Column, len(key))
	for i, k := range key {
		c, ok := t.Column(k)
		if !ok {
			return nil, fmt.Errorf("key column %q does not exist in table %q", k, t.Name)
		}
		out[i] = c
	}
	return out, nil
}

// read runs the range read. Row-value comparisons ((a, b) > (?, ?)) keep it
// a single index range scan on the primary key; they need SQLite 3.15.
func (k keyset) read(ctx context.Context, q queryer) ([]change.Row, error) {
	var sb strings.Builder
	sb.WriteString("SELECT ")
	for i, c := range k.cols {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(quoteIdent(c.Name))
	}
	sb.WriteString(" FROM ")
	sb.WriteString(quoteTable(k.table))
	keyList := make([]string, len(k.key))
	for i, c := range k.key {
		keyList[i] = quoteIdent(c.Name)
	}
	tuple := "(" + strings.Join(keyList, ", ") + ")"
	marks := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(k.key)), ", ") + ")"
	var args []any
	var conds []string
	for _, b := range []struct {
		bound change.Key
		op    string
	}{{k.after, " > "}, {k.until, " <= "}} {
		if b.bound == nil {
			continue
		}
		if len(b.bound) != len(k.key) {
			return nil, fmt.Errorf("key bound %s has %d values; the key has %d columns", b.bound, len(b.bound), len(k.key))
		}
		for i, v := range b.bound {
			a, err := encodeValue(k.key[i], v)
			if err != nil {
				return nil, err
			}
			args = append(args, a)
		}
		conds = append(conds, tuple+b.op+marks)
	}
	if len(conds) > 0 {
		sb.WriteString(" WHERE ")
		sb.WriteString(strings.Join(conds, " AND "))
	}
	sb.WriteString(" ORDER BY ")
	sb.WriteString(strings.Join(keyList, ", "))
	sb.WriteString(" LIMIT ?")
	args = append(args, k.limit)

	rows, err := q.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	raw := make([]any, len(k.cols))
	ptrs := make([]any, len(k.cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var out []change.Row
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := make(change.Row, len(k.cols))
		for i, c := range k.cols {
			r[c.Name] = readValue(c, raw[i])
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Scan reads rows of req.Table in key order within (After, Until].
func (s *Store) Scan(ctx context.Context, req connector.ScanRequest) ([]change.Row, error) {
	t, err := describe(ctx, s.db, req.Table)
	if err != nil {
		return nil, fmt.Errorf("scan %q: %w", req.Table, err)
	}
	ks, err := newKeyset(t, req.Table, req.Key, req.Columns)
	if err != nil {
		return nil, fmt.Errorf("scan %q: %w", req.Table, err)
	}
	ks.after, ks.until, ks.limit = req.After, req.Until, req.Limit
	if ks.limit <= 0 {
		return nil, fmt.Errorf("scan %q: limit must be positive", req.Table)
	}
	rows, err := ks.read(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("scan %q: %w", req.Table, err)
	}
	return rows, nil
}

// CountRows counts the rows of table, for backfill progress. SQLite keeps no
// row count, so this reads the smallest index once.
func (s *Store) CountRows(ctx context.Context, table string) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteTable(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows of %q: %w", table, err)
	}
	return n, nil
}

// newKeyset prepares a range read of t by key (the table's primary key when
// key is empty) returning cols (all when empty).
func newKeyset(t *connector.Table, table string, key, cols []string) (keyset, error) {
	key, err := keyColumns(t, key)
	if err != nil {
		return keyset{}, err
	}
	kc, err := keyColumnDefs(t, key)
	if err != nil {
		return keyset{}, err
	}
	sel, err := selectColumns(t, key, cols)
	if err != nil {
		return keyset{}, err
	}
	return keyset{table: table, cols: sel, key: kc}, nil
}

// snapshot reads one backfill chunk as OpSnapshot changes.
func snapshot(ctx context.Context, s *Store, ks keyset, after change.Key, limit int) ([]change.Change, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("snapshot %q: limit must be positive", ks.table)
	}
	ks.after, ks.limit = after, limit
	rows, err := ks.read(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", ks.table, err)
	}
	out := make([]change.Change, len(rows))
	names := make([]string, len(ks.key))
	for i, c := range ks.key {
		names[i] = c.Name
	}
	for i, r := range rows {
		k, _ := change.KeyOf(r, names)
		out[i] = change.Change{
			ID:    s.name + ":" + ks.table + ":snap:" + k.String(),
			Op:    change.OpSnapshot,
			Table: ks.table,
			Key:   k,
			After: r,
		}
	}
	return out, nil
}
