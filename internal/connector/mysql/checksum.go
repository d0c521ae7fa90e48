package mysql

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// In-database checksums for reconciliation (connector.Segmenter). The row
// text hashed is reconcile.RowText computed in SQL, byte for byte, so a
// MySQL range checksum equals the one PostgreSQL (or Go, over streamed
// rows) computes for equal data. Column/kind pairs whose text MySQL cannot
// reproduce exactly (floats, whose shortest round-trip digits are Go's and
// PostgreSQL's; JSON, which reconcile rewrites as jsonb prints it; BIT;
// geometry and other unknown types; DATETIME read in a zone other than UTC)
// make the request fail with errors.ErrUnsupported, and the caller streams
// the rows instead.

var _ connector.Segmenter = (*Store)(nil)

// errNoSQLForm is wrapped when a column has no SQL form of its row text.
var errNoSQLForm = fmt.Errorf("no SQL form of the normalized text: %w", errors.ErrUnsupported)

// Checksum implements connector.Checksummer: one pass over the range.
func (s *Store) Checksum(ctx context.Context, req connector.ChecksumRequest) (connector.Checksum, error) {
	sums, err := s.ChecksumSegments(ctx, req, nil)
	if err != nil {
		return connector.Checksum{}, err
	}
	return sums[0], nil
}

// ChecksumSegments implements connector.Segmenter. It is one statement (a
// consistent read in InnoDB):
//
//	SELECT CASE WHEN (k) <= (?) THEN 0 ... ELSE n END, COUNT(*),
//	       SUM(CAST(CONV(LEFT(MD5(<row text>), 16), 16, 10) AS UNSIGNED))
//	FROM t WHERE (k) > (?) AND (k) <= (?) GROUP BY 1
//
// SUM of unsigned BIGINTs is an exact DECIMAL; it is reduced modulo 2^64
// here.
func (s *Store) ChecksumSegments(ctx context.Context, req connector.ChecksumRequest, bounds []change.Key) ([]connector.Checksum, error) {
	t, rq, err := s.rangeQuery(ctx, req)
	if err != nil {
		return nil, err
	}
	text, err := s.rowText(t, req.Columns)
	if err != nil {
		return nil, fmt.Errorf("store %q: checksum %q: %w", s.name, req.Table, err)
	}
	params := make([]string, len(bounds))
	var bargs []any
	for i, k := range bounds {
		p, a, err := rq.bind(s, k)
		if err != nil {
			return nil, fmt.Errorf("store %q: checksum %q: bound %s: %w", s.name, req.Table, k, err)
		}
		params[i], bargs = p, append(bargs, a...)
	}
	// The bucket expression's placeholders come before the WHERE's.
	args := append(bucketArgs(rq.tuple, params, bargs, len(rq.key)), rq.args...)
	query := "SELECT " + bucketExpr(rq.tuple, params, 0, len(bounds)) +
		", COUNT(*), CAST(COALESCE(SUM(CAST(CONV(LEFT(MD5(" + text + "), 16), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM " +
		rq.from() + " GROUP BY 1"
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.rangeErr(req.Table, "checksum", err)
	}
	defer rows.Close()
	out := make([]connector.Checksum, len(bounds)+1)
	for rows.Next() {
		var (
			i     int
			n     int64
			total string
		)
		if err := rows.Scan(&i, &n, &total); err != nil {
			return nil, s.rangeErr(req.Table, "checksum", err)
		}
		sum, ok := new(big.Int).SetString(total, 10)
		if !ok || i < 0 || i >= len(out) {
			return nil, fmt.Errorf("store %q: checksum %q: unexpected row %d %q", s.name, req.Table, i, total)
		}
		out[i] = connector.Checksum{Count: n, Sum: sum.And(sum, mod64).Uint64()}
	}
	if err := rows.Err(); err != nil {
		return nil, s.rangeErr(req.Table, "checksum", err)
	}
	return out, nil
}

// mod64 is 2^64-1: And with it reduces a non-negative big.Int modulo 2^64.
var mod64 = new(big.Int).SetUint64(^uint64(0))

// bucketExpr numbers the segment of key among buckets lo..hi, whose upper
// bounds are params[lo..hi-1]: a binary search written as nested CASEs, so
// a row costs log2(buckets) comparisons.
func bucketExpr(key string, params []string, lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	mid := (lo + hi) / 2
	return "CASE WHEN " + key + " <= " + params[mid] + " THEN " + bucketExpr(key, params, lo, mid) +
		" ELSE " + bucketExpr(key, params, mid+1, hi) + " END"
}

// bucketArgs orders the bound arguments as bucketExpr's placeholders
// appear: positional ? placeholders follow the text, not the bound index.
func bucketArgs(key string, params []string, args []any, width int) []any {
	var out []any
	var walk func(lo, hi int)
	walk = func(lo, hi int) {
		if lo == hi {
			return
		}
		mid := (lo + hi) / 2
		out = append(out, args[mid*width:(mid+1)*width]...)
		walk(lo, mid)
		walk(mid+1, hi)
	}
	walk(0, len(params))
	return out
}

// SplitKeys implements connector.Segmenter. A single integer key is cut by
// value between its least and greatest values (two index probes); any
// other key at every step-th key of the range in key order (ROW_NUMBER over
// the primary key, MySQL 8 / MariaDB 10.2+).
func (s *Store) SplitKeys(ctx context.Context, req connector.ChecksumRequest, rows int64, parts int) ([]change.Key, error) {
	if parts < 2 || rows == 1 {
		return nil, nil
	}
	t, rq, err := s.rangeQuery(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(rq.key) == 1 && rq.key[0].Kind == change.KindInt && rq.key[0].dataType != "bit" {
		return s.splitInts(ctx, rq, req.Table, parts)
	}
	if rows <= 0 {
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+rq.from(), rq.args...).Scan(&rows); err != nil {
			return nil, s.rangeErr(req.Table, "split", err)
		}
		if rows < 2 {
			return nil, nil
		}
	}
	ks, err := s.newKeyset(t, req.Key, req.Key)
	if err != nil {
		return nil, fmt.Errorf("store %q: split %q: %w", s.name, req.Table, err)
	}
	names := make([]string, len(ks.cols))
	for i, c := range ks.cols {
		names[i] = quoteIdent(c.Name)
	}
	sel := strings.Join(names, ", ")
	keys := strings.Trim(rq.tuple, "()")
	step := (rows + int64(parts) - 1) / int64(parts)
	query := "SELECT " + sel + " FROM (SELECT " + sel + ", ROW_NUMBER() OVER (ORDER BY " + keys + ") AS syncbridge_rn FROM " +
		rq.from() + ") s WHERE syncbridge_rn % ? = 0 ORDER BY " + keys + " LIMIT ?"
	found, err := s.query(ctx, s.db, ks, query, append(rq.args, step, parts-1)...)
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

// splitInts cuts the range of an integer key into parts of equal width.
// The cut points need not be keys of rows; skewed keys give uneven parts,
// which bisection cuts again.
func (s *Store) splitInts(ctx context.Context, rq *rangeQuery, table string, parts int) ([]change.Key, error) {
	col := quoteIdent(rq.key[0].Name)
	var lo, hi *string // text: BIGINT UNSIGNED may pass int64
	if err := s.db.QueryRowContext(ctx, "SELECT CAST(MIN("+col+") AS CHAR), CAST(MAX("+col+") AS CHAR) FROM "+rq.from(),
		rq.args...).Scan(&lo, &hi); err != nil {
		return nil, s.rangeErr(table, "split", err)
	}
	if lo == nil || hi == nil {
		return nil, nil
	}
	l, ok1 := new(big.Int).SetString(*lo, 10)
	h, ok2 := new(big.Int).SetString(*hi, 10)
	if !ok1 || !ok2 || new(big.Int).Sub(h, l).Cmp(big.NewInt(1)) < 0 {
		return nil, nil
	}
	width := new(big.Int).Sub(h, l)
	var out []change.Key
	for i := 1; i < parts; i++ {
		at := new(big.Int).Mul(width, big.NewInt(int64(i)))
		at.Quo(at, big.NewInt(int64(parts))).Add(at, l)
		if at.Cmp(h) >= 0 || !at.IsInt64() {
			continue
		}
		k := at.Int64()
		if len(out) > 0 && out[len(out)-1][0].AsInt() == k {
			continue
		}
		out = append(out, change.Key{change.Int(k)})
	}
	return out, nil
}

// rangeQuery is the FROM ... WHERE of checksum and split statements, with
// its arguments.
type rangeQuery struct {
	table string    // quoted
	key   []*column // key columns, in key order
	tuple string    // "(`k1`, `k2`)"
	cond  []string
	args  []any
}

func (s *Store) rangeQuery(ctx context.Context, req connector.ChecksumRequest) (*table, *rangeQuery, error) {
	if len(req.Key) == 0 {
		return nil, nil, fmt.Errorf("store %q: checksum %q: no key columns", s.name, req.Table)
	}
	t, err := s.describe(ctx, s.db, req.Table)
	if err != nil {
		return nil, nil, fmt.Errorf("store %q: checksum %q: %w", s.name, req.Table, err)
	}
	rq := &rangeQuery{table: s.quoteTable(req.Table)}
	names := make([]string, len(req.Key))
	for i, k := range req.Key {
		c, ok := t.column(k)
		if !ok {
			return nil, nil, fmt.Errorf("store %q: checksum %q: key column %q does not exist", s.name, req.Table, k)
		}
		rq.key = append(rq.key, c)
		names[i] = quoteIdent(k)
	}
	rq.tuple = "(" + strings.Join(names, ", ") + ")"
	for _, b := range []struct {
		k  change.Key
		op string
	}{{req.After, " > "}, {req.Until, " <= "}} {
		if b.k == nil {
			continue
		}
		p, a, err := rq.bind(s, b.k)
		if err != nil {
			return nil, nil, fmt.Errorf("store %q: checksum %q: key %s: %w", s.name, req.Table, b.k, err)
		}
		rq.cond = append(rq.cond, rq.tuple+b.op+p)
		rq.args = append(rq.args, a...)
	}
	return t, rq, nil
}

// bind encodes a key for the key columns (it may come from another store)
// and returns its placeholder row and arguments.
func (rq *rangeQuery) bind(s *Store, k change.Key) (string, []any, error) {
	if len(k) != len(rq.key) {
		return "", nil, fmt.Errorf("%d values, the key has %d columns", len(k), len(rq.key))
	}
	args := make([]any, len(k))
	for i, v := range k {
		a, err := s.encode(rq.key[i], v)
		if err != nil {
			return "", nil, err
		}
		args[i] = a
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", len(k)), ", ") + ")", args, nil
}

func (rq *rangeQuery) from() string {
	if len(rq.cond) == 0 {
		return rq.table
	}
	return rq.table + " WHERE " + strings.Join(rq.cond, " AND ")
}

func (s *Store) rangeErr(table, what string, err error) error {
	if isNoTable(err) {
		return fmt.Errorf("store %q: %s %q: %w", s.name, what, table, connector.ErrTableNotFound)
	}
	return fmt.Errorf("store %q: %s %q: %w", s.name, what, table, err)
}

// isNoTable reports MySQL error 1146 (ER_NO_SUCH_TABLE).
func isNoTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Error 1146")
}

// SQL string pieces that hold a backslash, written without one: a DSN may
// set sql_mode NO_BACKSLASH_ESCAPES, which changes how '\' literals read.
const (
	sqlBackslash = "CHAR(92 USING utf8mb4)"
	sqlNullText  = "CONCAT(" + sqlBackslash + ", 'N')"
)

// rowText is the SQL expression of reconcile.RowText over cols: each column
// normalized (normText), '\' and '|' escaped with '\', joined by '|', NULL
// as \N; in utf8mb4, the bytes Go hashes.
func (s *Store) rowText(t *table, cols []connector.ChecksumColumn) (string, error) {
	if len(cols) == 0 {
		return "", errors.New("no columns to checksum")
	}
	parts := make([]string, 0, 2*len(cols))
	for i, cc := range cols {
		c, ok := t.column(cc.Name)
		if !ok {
			return "", fmt.Errorf("no column %q", cc.Name)
		}
		id := quoteIdent(cc.Name)
		e, err := s.normText(id, c, cc.Kind)
		if err != nil {
			return "", fmt.Errorf("column %q (%s) as %s: %w", cc.Name, c.Type, cc.Kind, err)
		}
		if cc.TrimSpace {
			e = "TRIM(TRAILING ' ' FROM " + e + ")"
		}
		if mayHoldEscapes(c.Kind) {
			e = "REPLACE(REPLACE(" + e + ", " + sqlBackslash + ", CONCAT(" + sqlBackslash + ", " + sqlBackslash + ")), '|', CONCAT(" +
				sqlBackslash + ", '|'))"
		}
		isNull := id + " IS NULL"
		if s.zero != nil && s.zero.null && (c.Kind == change.KindDate || c.Kind == change.KindTimestamp) {
			isNull += " OR " + sqlZeroDate(id) // read as NULL
		}
		if i > 0 {
			parts = append(parts, "'|'")
		}
		parts = append(parts, "CASE WHEN "+isNull+" THEN "+sqlNullText+" ELSE "+e+" END")
	}
	return "CONVERT(CONCAT(" + strings.Join(parts, ", ") + ") USING utf8mb4)", nil
}

// sqlZeroDate is true for a zero date (what isZeroDate tells in Go).
func sqlZeroDate(id string) string {
	return "(MONTH(" + id + ") = 0 OR DAYOFMONTH(" + id + ") = 0)"
}

// mayHoldEscapes reports whether a column's normalized text may contain
// '\' or '|': numbers, booleans, temporal values and UUIDs never do.
func mayHoldEscapes(src change.Kind) bool {
	switch src {
	case change.KindBool, change.KindInt, change.KindDecimal, change.KindTimestamp,
		change.KindDate, change.KindTime, change.KindUUID:
		return false
	}
	return true
}

// normText is the SQL text of reconcile.Normalize for a non-NULL value of
// column c normalized as kind, or errNoSQLForm.
func (s *Store) normText(id string, c *column, kind change.Kind) (string, error) {
	src := c.Kind
	if c.dataType == "bit" || src == change.KindFloat || src == change.KindUnknown {
		return "", errNoSQLForm
	}
	switch kind {
	case change.KindInt, change.KindDecimal:
		switch src {
		case change.KindBool:
			if kind == change.KindInt {
				return "IF(" + id + " <> 0, '1', '0')", nil
			}
			return "", errNoSQLForm
		case change.KindInt, change.KindDecimal:
			return decimalText(id, c), nil
		}
		return "", errNoSQLForm
	case change.KindBool:
		switch src {
		case change.KindBool, change.KindInt, change.KindDecimal:
			return "IF(" + id + " <> 0, 't', 'f')", nil
		}
		return "", errNoSQLForm
	case change.KindFloat, change.KindJSON:
		return "", errNoSQLForm // PostgreSQL's float8 and jsonb output forms
	case change.KindTimestamp:
		switch src {
		case change.KindTimestamp:
			return s.utcText(id, c, "%Y-%m-%dT%H:%i:%s.%fZ")
		case change.KindDate:
			return "DATE_FORMAT(" + id + ", '%Y-%m-%dT00:00:00.000000Z')", nil
		}
		return "", errNoSQLForm
	case change.KindDate:
		switch src {
		case change.KindTimestamp:
			return s.utcText(id, c, "%Y-%m-%d")
		case change.KindDate:
			return "DATE_FORMAT(" + id + ", '%Y-%m-%d')", nil
		}
		return "", errNoSQLForm
	case change.KindTime:
		if src == change.KindTime || src == change.KindText {
			t := "CAST(" + id + " AS CHAR)"
			return "IF(LOCATE('.', " + t + ") > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM " + t + ")), " + t + ")", nil
		}
		return "", errNoSQLForm
	case change.KindUUID:
		switch src { // lower(Value.String()): decimals untrimmed, base64 as is
		case change.KindText, change.KindUUID, change.KindInt:
			n, err := s.native(id, c)
			return "LOWER(" + n + ")", err
		}
		return "", errNoSQLForm
	}
	return s.native(id, c)
}

// native is the text of Value.String() (decimals trimmed, as Normalize
// leaves them) for the value column c decodes to.
func (s *Store) native(id string, c *column) (string, error) {
	switch c.Kind {
	case change.KindBool:
		return "IF(" + id + " <> 0, 'true', 'false')", nil
	case change.KindInt, change.KindDecimal:
		return decimalText(id, c), nil
	case change.KindBytes:
		if c.fixedLen > 0 {
			return "", errNoSQLForm // BINARY(n) padding differs between reads
		}
		return "REPLACE(TO_BASE64(" + id + "), CHAR(10), '')", nil
	case change.KindTimestamp:
		return s.utcText(id, c, "%Y-%m-%dT%H:%i:%s.%fZ")
	case change.KindDate:
		return "DATE_FORMAT(" + id + ", '%Y-%m-%d')", nil
	case change.KindText, change.KindTime, change.KindUUID, change.KindJSON:
		return "CONVERT(" + id + " USING utf8mb4)", nil
	}
	return "", errNoSQLForm
}

// utcText formats a DATETIME or TIMESTAMP column as UTC wall time. TIMESTAMP
// reads in the session's UTC; DATETIME is in the DSN's loc, which must be
// UTC here (converting zones in SQL needs the server's zone tables).
func (s *Store) utcText(id string, c *column, format string) (string, error) {
	if c.dataType != "timestamp" && s.loc != time.UTC {
		return "", errNoSQLForm
	}
	return "DATE_FORMAT(" + id + ", '" + format + "')", nil
}

// decimalText is an integer or DECIMAL column's value as decimal text
// without trailing fractional zeros, "0" for zero.
func decimalText(id string, c *column) string {
	t := "CAST(" + id + " AS CHAR)"
	switch c.dataType {
	case "decimal", "numeric":
	case "year": // YEAR 0 prints as "0000"
		return "CAST(CAST(" + id + " AS UNSIGNED) AS CHAR)"
	default:
		return t
	}
	return "IF(" + id + " = 0, '0', IF(LOCATE('.', " + t + ") > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM " + t + ")), " + t + "))"
}
