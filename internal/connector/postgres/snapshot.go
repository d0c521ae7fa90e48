package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// keysetQuery reads a table in key order a page at a time:
//
//	SELECT cols FROM t WHERE (k1, k2) > ($1, $2) [AND (k1, k2) <= ($3, $4)] ORDER BY k1, k2 LIMIT $n
//
// The key values are bound as text of unspecified type, so the server
// compares them as the key columns' own types.
type keysetQuery struct {
	table string   // quoted, qualified
	key   []string // key columns
	cols  []string // nil = every column
}

func (q keysetQuery) sql(after, until bool) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if len(q.cols) == 0 {
		b.WriteString("*")
	} else {
		b.WriteString(quoteList(q.cols))
	}
	b.WriteString(" FROM " + q.table)
	n := 0
	var conds []string
	if after {
		conds = append(conds, rowExpr(q.key)+" > "+paramRow(&n, len(q.key)))
	}
	if until {
		conds = append(conds, rowExpr(q.key)+" <= "+paramRow(&n, len(q.key)))
	}
	if len(conds) > 0 {
		b.WriteString(" WHERE " + strings.Join(conds, " AND "))
	}
	b.WriteString(" ORDER BY " + quoteList(q.key))
	b.WriteString(" LIMIT $" + strconv.Itoa(n+1))
	return b.String()
}

// rows runs the query and decodes the rows it returns, with the names of
// the columns in result order.
func (q keysetQuery) rows(ctx context.Context, s *Store, after, until change.Key, limit int) ([]change.Row, []string, error) {
	for _, k := range []change.Key{after, until} {
		if k != nil && len(k) != len(q.key) {
			return nil, nil, fmt.Errorf("key %v has %d values, the table's key has %d columns", k, len(k), len(q.key))
		}
	}
	args := []any{pgx.QueryResultFormats{pgx.TextFormatCode}}
	for _, k := range []change.Key{after, until} {
		for _, v := range k {
			args = append(args, textArg(v))
		}
	}
	args = append(args, strconv.Itoa(limit))
	rows, err := s.pool.Query(ctx, q.sql(after != nil, until != nil), args...)
	if err != nil {
		return nil, nil, err
	}
	return s.decodeRows(ctx, rows, limit)
}

// decodeRows reads text-format rows into Rows, and returns the column
// names in result order.
func (s *Store) decodeRows(ctx context.Context, rows pgx.Rows, sizeHint int) ([]change.Row, []string, error) {
	defer rows.Close()
	fds := rows.FieldDescriptions()
	types := make([]*pgType, len(fds))
	names := make([]string, len(fds))
	for i, fd := range fds {
		t, err := s.typeOf(ctx, fd.DataTypeOID)
		if err != nil {
			return nil, nil, err
		}
		types[i], names[i] = t, fd.Name
	}
	out := make([]change.Row, 0, min(sizeHint, 4096))
	for rows.Next() {
		raw := rows.RawValues()
		row := make(change.Row, len(raw))
		for i, b := range raw {
			if b == nil {
				row[fds[i].Name] = change.Null
				continue
			}
			v, err := decodeText(types[i], string(b))
			if err != nil {
				return nil, nil, fmt.Errorf("column %q: %w", fds[i].Name, err)
			}
			row[fds[i].Name] = v
		}
		out = append(out, row)
	}
	return out, names, rows.Err()
}

// snapshot reads one backfill chunk as OpSnapshot changes.
func snapshot(ctx context.Context, s *Store, flow, tableName string, q keysetQuery, after change.Key, limit int) ([]change.Change, error) {
	rows, names, err := q.rows(ctx, s, after, nil, limit)
	if err != nil {
		return nil, s.wrapErr(fmt.Errorf("store %q: snapshot %q: %w", s.name, tableName, err))
	}
	out := make([]change.Change, len(rows))
	for i, r := range rows {
		key, ok := change.KeyOf(r, q.key)
		if !ok {
			return nil, fmt.Errorf("store %q: snapshot %q: row without key columns", s.name, tableName)
		}
		out[i] = change.Change{
			ID:      s.name + ":snapshot:" + key.String(),
			Flow:    flow,
			Op:      change.OpSnapshot,
			Table:   tableName,
			Key:     key,
			After:   r,
			Columns: slices.Clone(names),
		}
	}
	return out, nil
}

// Scan reads rows in key order within (After, Until].
func (s *Store) Scan(ctx context.Context, req connector.ScanRequest) ([]change.Row, error) {
	schema, rel, err := splitTableName(req.Table)
	if err != nil {
		return nil, err
	}
	ident := pgx.Identifier{rel}
	if schema != "" {
		ident = pgx.Identifier{schema, rel}
	}
	if len(req.Key) == 0 {
		return nil, fmt.Errorf("store %q: scan %q: no key columns", s.name, req.Table)
	}
	var cols []string
	if len(req.Columns) > 0 {
		cols = append([]string(nil), req.Key...)
		for _, c := range req.Columns {
			if !contains(cols, c) {
				cols = append(cols, c)
			}
		}
	}
	q := keysetQuery{table: ident.Sanitize(), key: req.Key, cols: cols}
	rows, _, err := q.rows(ctx, s, req.After, req.Until, req.Limit)
	if pe, ok := errorsAsPg(err); ok && pe.Code == "42P01" {
		return nil, fmt.Errorf("store %q: scan %q: %w", s.name, req.Table, connector.ErrTableNotFound)
	}
	if err != nil {
		return nil, s.wrapErr(fmt.Errorf("store %q: scan %q: %w", s.name, req.Table, err))
	}
	return rows, nil
}

// textArg is a Value as a query argument: its text, or nil for NULL.
func textArg(v change.Value) any {
	if s, ok := encodeText(v); ok {
		return s
	}
	return nil
}

func quoteList(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(parts, ", ")
}

// rowExpr is a column or a row of columns for comparisons.
func rowExpr(cols []string) string {
	if len(cols) == 1 {
		return pgx.Identifier{cols[0]}.Sanitize()
	}
	return "(" + quoteList(cols) + ")"
}

// paramRow returns "$n+1" or "($n+1, ..., $n+k)" and advances n.
func paramRow(n *int, k int) string {
	parts := make([]string, k)
	for i := range parts {
		*n++
		parts[i] = "$" + strconv.Itoa(*n)
	}
	if k == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
