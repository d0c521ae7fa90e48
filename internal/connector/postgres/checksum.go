package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

var _ connector.Segmenter = (*Store)(nil)

// Checksum implements connector.Checksummer: one pass over the range,
// returning two numbers.
func (s *Store) Checksum(ctx context.Context, req connector.ChecksumRequest) (connector.Checksum, error) {
	sums, err := s.ChecksumSegments(ctx, req, nil)
	if err != nil {
		return connector.Checksum{}, err
	}
	return sums[0], nil
}

// ChecksumSegments implements connector.Segmenter. It is one query:
//
//	SELECT CASE WHEN key <= $b1 THEN 0 WHEN key <= $b2 THEN 1 ... ELSE n END,
//	       count(*), sum(('x' || left(md5(<row text>), 16))::bit(64)::bigint)
//	FROM t WHERE key > $after AND key <= $until GROUP BY 1
//
// The row text is reconcile.RowText computed in SQL (rowText). The sum of
// the signed 64-bit hashes is exact (numeric) and reduced modulo 2^64 here,
// which equals the sum of the unsigned hashes modulo 2^64.
func (s *Store) ChecksumSegments(ctx context.Context, req connector.ChecksumRequest, bounds []change.Key) ([]connector.Checksum, error) {
	q, err := s.rangeQuery(ctx, req)
	if err != nil {
		return nil, err
	}
	text, err := rowText(q.tbl, req.Columns)
	if err != nil {
		return nil, fmt.Errorf("store %q: checksum %q: %w", s.name, req.Table, err)
	}
	params := make([]string, len(bounds))
	for i, k := range bounds {
		if len(k) != len(req.Key) {
			return nil, fmt.Errorf("store %q: checksum %q: bound %v has %d values, the key has %d columns", s.name, req.Table, k, len(k), len(req.Key))
		}
		params[i] = q.param(k)
	}
	// The bit(64) cast keeps the first 64 bits of the 128 the hex holds.
	sql := "SELECT " + bucketExpr(rowExpr(req.Key), params, 0, len(bounds)) +
		", count(*), coalesce(sum(('x' || md5(" + text + "))::bit(64)::bigint), 0)::text FROM " + q.from() + " GROUP BY 1"
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, s.rangeErr(req.Table, "checksum", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// JIT compiling a long bucket search costs more than the scan it would
	// speed up (seconds for 1024 buckets).
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
		return nil, s.rangeErr(req.Table, "checksum", err)
	}
	rows, err := tx.Query(ctx, sql, q.args...)
	if err != nil {
		return nil, s.rangeErr(req.Table, "checksum", err)
	}
	out := make([]connector.Checksum, len(bounds)+1)
	var (
		i     int
		n     int64
		total string
	)
	_, err = pgx.ForEachRow(rows, []any{&i, &n, &total}, func() error {
		sum, ok := new(big.Int).SetString(total, 10)
		if !ok || i < 0 || i >= len(out) {
			return fmt.Errorf("unexpected checksum row %d %q", i, total)
		}
		out[i] = connector.Checksum{Count: n, Sum: sum.And(sum, mod64).Uint64()}
		return nil
	})
	if err != nil {
		return nil, s.rangeErr(req.Table, "checksum", err)
	}
	return out, nil
}

// bucketExpr numbers the segment of key among buckets lo..hi, whose upper
// bounds are params[lo..hi-1]: a binary search written as nested CASEs, so a
// row costs log2(buckets) comparisons, not one per bucket.
func bucketExpr(key string, params []string, lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	mid := (lo + hi) / 2
	return "CASE WHEN " + key + " <= " + params[mid] + " THEN " + bucketExpr(key, params, lo, mid) +
		" ELSE " + bucketExpr(key, params, mid+1, hi) + " END"
}

// mod64 is 2^64-1: And with it reduces a big.Int (two's complement for
// negatives) modulo 2^64.
var mod64 = new(big.Int).SetUint64(^uint64(0))

// SplitKeys implements connector.Segmenter. An integer key is cut by value
// (splitInts); any other key at every step-th key of the range in key
// order, read from the primary key index; only those keys are returned.
func (s *Store) SplitKeys(ctx context.Context, req connector.ChecksumRequest, rows int64, parts int) ([]change.Key, error) {
	if parts < 2 || rows == 1 {
		return nil, nil
	}
	q, err := s.rangeQuery(ctx, req)
	if err != nil {
		return nil, err
	}
	if c, ok := q.tbl.column(req.Key[0]); ok && len(req.Key) == 1 && c.typ.kind == change.KindInt {
		return s.splitInts(ctx, q, req.Table, parts)
	}
	if rows <= 0 {
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+q.from(), q.args...).Scan(&rows); err != nil {
			return nil, s.rangeErr(req.Table, "split", err)
		}
		if rows < 2 {
			return nil, nil
		}
	}
	step := (rows + int64(parts) - 1) / int64(parts)
	keys := quoteList(req.Key)
	q.args = append(q.args, strconv.FormatInt(step, 10), strconv.Itoa(parts-1))
	sql := "SELECT " + keys + " FROM (SELECT " + keys + ", row_number() OVER (ORDER BY " + keys + ") AS syncbridge_rn FROM " +
		q.from() + ") s WHERE syncbridge_rn % $" + strconv.Itoa(len(q.args)-1) + " = 0 ORDER BY " + keys +
		" LIMIT $" + strconv.Itoa(len(q.args))
	res, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, q.args...)...)
	if err != nil {
		return nil, s.rangeErr(req.Table, "split", err)
	}
	found, _, err := s.decodeRows(ctx, res, parts)
	if err != nil {
		return nil, s.rangeErr(req.Table, "split", err)
	}
	out := make([]change.Key, 0, len(found))
	for _, r := range found {
		k, ok := change.KeyOf(r, req.Key)
		if !ok {
			return nil, fmt.Errorf("store %q: split %q: row without its key", s.name, req.Table)
		}
		out = append(out, k)
	}
	return out, nil
}

// splitInts cuts the range of an integer key into parts of equal width
// between its least and greatest values: two index probes instead of a
// walk over the keys. The cut points need not be keys of rows; skewed keys
// give uneven parts, which bisection cuts again.
func (s *Store) splitInts(ctx context.Context, q *rangeQuery, tableName string, parts int) ([]change.Key, error) {
	col := pgx.Identifier{q.key[0]}.Sanitize()
	var lo, hi *int64
	if err := s.pool.QueryRow(ctx, "SELECT min("+col+"), max("+col+") FROM "+q.from(), q.args...).Scan(&lo, &hi); err != nil {
		return nil, s.rangeErr(tableName, "split", err)
	}
	if lo == nil || *hi-*lo < 1 {
		return nil, nil
	}
	width := new(big.Int).Sub(big.NewInt(*hi), big.NewInt(*lo))
	var out []change.Key
	for i := 1; i < parts; i++ {
		at := new(big.Int).Mul(width, big.NewInt(int64(i)))
		at.Quo(at, big.NewInt(int64(parts))).Add(at, big.NewInt(*lo))
		k := at.Int64()
		if len(out) > 0 && out[len(out)-1][0].AsInt() == k || k >= *hi {
			continue
		}
		out = append(out, change.Key{change.Int(k)})
	}
	return out, nil
}

// rangeQuery is the FROM ... WHERE part shared by checksum and split
// queries, with its bound arguments.
type rangeQuery struct {
	tbl  *table
	key  []string
	args []any
	cond []string
}

func (s *Store) rangeQuery(ctx context.Context, req connector.ChecksumRequest) (*rangeQuery, error) {
	if len(req.Key) == 0 {
		return nil, fmt.Errorf("store %q: checksum %q: no key columns", s.name, req.Table)
	}
	tbl, err := s.checksumTable(ctx, req.Table)
	if err != nil {
		return nil, err
	}
	q := &rangeQuery{tbl: tbl, key: req.Key}
	for _, b := range []struct {
		k  change.Key
		op string
	}{{req.After, ">"}, {req.Until, "<="}} {
		if b.k == nil {
			continue
		}
		if len(b.k) != len(req.Key) {
			return nil, fmt.Errorf("store %q: checksum %q: key %v has %d values, the key has %d columns", s.name, req.Table, b.k, len(b.k), len(req.Key))
		}
		q.cond = append(q.cond, rowExpr(req.Key)+" "+b.op+" "+q.param(b.k))
	}
	return q, nil
}

// param binds a key's values as text of unspecified type, so the server
// reads them as the key columns' types, and returns the placeholder row.
func (q *rangeQuery) param(k change.Key) string {
	n := len(q.args)
	for _, v := range k {
		q.args = append(q.args, textArg(v))
	}
	return paramRow(&n, len(k))
}

func (q *rangeQuery) from() string {
	if len(q.cond) == 0 {
		return q.tbl.ident()
	}
	return q.tbl.ident() + " WHERE " + strings.Join(q.cond, " AND ")
}

func (s *Store) rangeErr(tableName, what string, err error) error {
	if pe, ok := errorsAsPg(err); ok && pe.Code == "42P01" {
		return fmt.Errorf("store %q: %s %q: %w", s.name, what, tableName, connector.ErrTableNotFound)
	}
	return s.wrapErr(fmt.Errorf("store %q: %s %q: %w", s.name, what, tableName, err))
}

// checksumTable describes a table once per store: reconciliation asks for
// thousands of checksums of the same table.
func (s *Store) checksumTable(ctx context.Context, name string) (*table, error) {
	s.typesMu.Lock()
	t, ok := s.described[name]
	s.typesMu.Unlock()
	if ok {
		return t, nil
	}
	t, err := s.describe(ctx, name)
	if err != nil {
		return nil, err
	}
	s.typesMu.Lock()
	s.described[name] = t
	s.typesMu.Unlock()
	return t, nil
}

// mayHoldEscapes reports whether a column's normalized text may contain
// '\' or '|'. Whatever kind they are normalized as, numbers, booleans,
// timestamps, dates, times and UUIDs never do; skipping two replace() calls
// per column and row for them is a good part of a checksum's cost.
func mayHoldEscapes(src change.Kind) bool {
	switch src {
	case change.KindBool, change.KindInt, change.KindDecimal, change.KindFloat, change.KindTimestamp,
		change.KindDate, change.KindTime, change.KindUUID:
		return false
	}
	return true
}

// rowText is the SQL expression of reconcile.RowText over cols: each
// column normalized (normText), '\' and '|' escaped with '\', joined by
// '|', NULL as \N.
func rowText(t *table, cols []connector.ChecksumColumn) (string, error) {
	if len(cols) == 0 {
		return "", errors.New("no columns to checksum")
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		col, ok := t.column(c.Name)
		if !ok {
			return "", fmt.Errorf("no column %q", c.Name)
		}
		id := pgx.Identifier{c.Name}.Sanitize()
		e, err := normText(id, col, c.Kind)
		if err != nil {
			return "", fmt.Errorf("column %q (%s) as %s: %w", c.Name, col.declared, c.Kind, err)
		}
		if c.TrimSpace {
			e = "rtrim(" + e + ", ' ')"
		}
		if mayHoldEscapes(col.typ.kind) {
			e = `replace(replace(` + e + `, E'\\', E'\\\\'), '|', E'\\|')`
		}
		parts[i] = `CASE WHEN ` + id + ` IS NULL THEN E'\\N' ELSE ` + e + ` END`
	}
	return strings.Join(parts, " || '|' || "), nil
}
