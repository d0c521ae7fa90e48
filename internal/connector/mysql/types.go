package mysql

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Type mapping, MySQL/MariaDB column type → change kind:
//
//	TINYINT(1)                          bool (any non-zero value reads as true)
//	TINYINT..INT, BIGINT, YEAR          int
//	BIGINT UNSIGNED                     decimal (values past MaxInt64 survive; never wrapped)
//	DECIMAL, NUMERIC                    decimal (exact text, scale kept)
//	FLOAT, DOUBLE                       float (FLOAT read at 32-bit precision)
//	BIT(n)                              int
//	CHAR, VARCHAR, TEXT, ENUM, SET      text (ENUM/SET as their labels, "a,b" for sets)
//	BINARY, VARBINARY, BLOB             bytes
//	DATE                                date
//	DATETIME                            timestamp, read in the DSN's loc (default UTC)
//	TIMESTAMP                           timestamp (exchanged in UTC: the session time_zone is +00:00)
//	TIME                                time (text; may be negative or past 24h)
//	JSON (MariaDB: LONGTEXT CHECK json_valid) json (text; equality is semantic, see reconcile)
//	UUID (MariaDB)                      uuid
//	anything else                       unknown, carried as text with the column type
//
// Zero dates ('0000-00-00', or a zero month or day) have no instant. The
// store's zero_dates says what reading one does: error (the default) stops
// the flow with an error naming the table, column and row key, wrapping
// connector.ErrUnrepresentable; null reads it as NULL, and the first one of
// each column is logged (never a silent NULL).

// kindOf maps a column's DATA_TYPE (and lower-case COLUMN_TYPE) to a kind.
func kindOf(dataType, columnType string, unsigned, isJSON bool) change.Kind {
	switch dataType {
	case "tinyint":
		if strings.HasPrefix(columnType, "tinyint(1)") {
			return change.KindBool
		}
		return change.KindInt
	case "smallint", "mediumint", "int", "integer", "year", "bit":
		return change.KindInt
	case "bigint":
		if unsigned {
			return change.KindDecimal
		}
		return change.KindInt
	case "decimal", "numeric":
		return change.KindDecimal
	case "float", "double", "real":
		return change.KindFloat
	case "char", "varchar", "tinytext", "text", "mediumtext", "enum", "set", "inet4", "inet6":
		return change.KindText
	case "longtext":
		if isJSON {
			return change.KindJSON
		}
		return change.KindText
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return change.KindBytes
	case "date":
		return change.KindDate
	case "datetime", "timestamp":
		return change.KindTimestamp
	case "time":
		return change.KindTime
	case "json":
		return change.KindJSON
	case "uuid":
		return change.KindUUID
	}
	return change.KindUnknown
}

// zeroDateError is the error of reading a zero date. decode knows only the
// column; zeroDate adds the store, table and row key.
type zeroDateError struct {
	column, value string
	store, table  string
	key           string // the row's key, "" when unknown
}

func (e *zeroDateError) Error() string {
	where := ""
	if e.store != "" {
		where = fmt.Sprintf("store %s, table %s: ", e.store, e.table)
	}
	row := ""
	if e.key != "" {
		row = fmt.Sprintf(" in the row with key %s", e.key)
	}
	return fmt.Sprintf("%szero date: column %q holds the zero date %q%s, which has no instant: "+
		"fix the source row (set the column to NULL or a real date), or set zero_dates: null on store %s "+
		"to read zero dates as NULL, or leave the column out of the flow", where, e.column, e.value, row, orName(e.store))
}

// Unwrap makes the error match errZeroDate and connector.ErrUnrepresentable.
func (e *zeroDateError) Unwrap() []error {
	return []error{errZeroDate, connector.ErrUnrepresentable}
}

func orName(store string) string {
	if store == "" {
		return "the store"
	}
	return store
}

// The values of a store's zero_dates.
const (
	zeroDatesError = "error"
	zeroDatesNull  = "null"
)

// zeroDates is what a store does with zero dates, and the count of those it
// read as NULL, by "table.column".
type zeroDates struct {
	null bool
	mu   sync.Mutex
	seen map[string]int64
}

// newZeroDates parses a store's zero_dates ("" is error).
func newZeroDates(mode string) (*zeroDates, error) {
	switch mode {
	case "", zeroDatesError:
		return &zeroDates{}, nil
	case zeroDatesNull:
		return &zeroDates{null: true}, nil
	}
	return nil, fmt.Errorf("zero_dates: unknown value %q; one of: error, null", mode)
}

// zeroDate settles the error of decoding one value of a row of table: a
// zero date becomes NULL under zero_dates: null (counted, and logged for
// the first of each column), and is otherwise returned with the store,
// table and row key filled in. key is called only for a zero date; other
// errors are returned unchanged.
func (s *Store) zeroDate(err error, table string, key func() string) (change.Value, error) {
	var ze *zeroDateError
	if !errors.As(err, &ze) {
		return change.Value{}, err
	}
	k := ""
	if key != nil {
		k = key()
	}
	if s.zero != nil && s.zero.null {
		s.zero.record(s, table, ze.column, ze.value, k)
		return change.Null, nil
	}
	out := *ze
	out.store, out.table, out.key = s.name, table, k
	return change.Value{}, &out
}

// record counts a zero date read as NULL; the first of a column is logged.
func (z *zeroDates) record(s *Store, table, column, value, key string) {
	id := table + "." + column
	z.mu.Lock()
	if z.seen == nil {
		z.seen = map[string]int64{}
	}
	z.seen[id]++
	first := z.seen[id] == 1
	z.mu.Unlock()
	if first {
		s.log.Warn("zero date read as NULL (zero_dates: null); later ones in this column are counted, not logged",
			"store", s.name, "table", table, "column", column, "key", key, "value", value)
	}
}

// ZeroDatesRead returns how many zero dates were read as NULL, by
// "table.column", since the store was opened.
func (s *Store) ZeroDatesRead() map[string]int64 {
	out := map[string]int64{}
	if s.zero == nil {
		return out
	}
	s.zero.mu.Lock()
	defer s.zero.mu.Unlock()
	for k, n := range s.zero.seen {
		out[k] = n
	}
	return out
}

func isZeroDate(s string) bool {
	// "YYYY-MM-DD...": a zero month or day (what NO_ZERO_IN_DATE forbids).
	return len(s) >= 10 && (s[5:7] == "00" || s[8:10] == "00")
}

// decode converts a value read from the store, by SQL (text or binary
// protocol, parseTime off) or from the binlog, into a typed Value.
func (s *Store) decode(c *column, raw any) (change.Value, error) {
	if raw == nil {
		return change.Null, nil
	}
	// Integers: the binlog decoder returns sized, possibly signed-wrapped
	// values; the SQL driver returns int64 or uint64.
	if i, u, isInt := intOf(raw, c.unsigned); isInt {
		return s.decodeInt(c, i, u)
	}
	switch x := raw.(type) {
	case float32:
		f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return s.decodeFloat(c, f)
	case float64:
		return s.decodeFloat(c, x)
	case string:
		return s.decodeText(c, x, nil)
	case []byte:
		return s.decodeText(c, "", x)
	case time.Time:
		return s.decodeTime(c, x)
	}
	return change.Value{}, fmt.Errorf("column %q: unexpected value of type %T", c.Name, raw)
}

// decodeTime converts a DATETIME or TIMESTAMP value the binlog decoder
// gives as a time (ParseTime): a TIMESTAMP is an instant; a DATETIME is a
// wall clock, carried in UTC, that is read in the DSN's loc.
func (s *Store) decodeTime(c *column, t time.Time) (change.Value, error) {
	switch {
	case c.dataType == "timestamp":
		t = t.UTC()
	case s.loc != time.UTC:
		y, mo, d := t.Date()
		h, mi, sec := t.Clock()
		t = time.Date(y, mo, d, h, mi, sec, t.Nanosecond(), s.loc)
	}
	if c.Kind == change.KindTimestamp {
		return change.Timestamp(t), nil
	}
	// Not a timestamp column (the table changed): as the text read by SQL.
	return s.decodeText(c, t.In(s.zoneOf(c)).Format("2006-01-02 15:04:05.999999"), nil)
}

// intOf normalises integer values. A signed value of an UNSIGNED column
// (binlogs without signedness metadata) is reinterpreted at its width.
func intOf(raw any, unsigned bool) (i int64, u uint64, ok bool) {
	var width uint
	switch x := raw.(type) {
	case int8:
		i, width = int64(x), 8
	case int16:
		i, width = int64(x), 16
	case int32:
		i, width = int64(x), 32
	case int64:
		i, width = x, 64
	case int:
		i, width = int64(x), 64
	case uint8:
		return int64(x), uint64(x), true
	case uint16:
		return int64(x), uint64(x), true
	case uint32:
		return int64(x), uint64(x), true
	case uint64:
		return int64(x), x, true
	default:
		return 0, 0, false
	}
	if unsigned && i < 0 {
		u = uint64(i)
		if width < 64 {
			u &= 1<<width - 1
		}
		return int64(u), u, true
	}
	return i, uint64(i), true
}

func (s *Store) decodeInt(c *column, i int64, u uint64) (change.Value, error) {
	signedOK := !c.unsigned || u <= math.MaxInt64
	switch c.Kind {
	case change.KindBool:
		return change.Bool(i != 0), nil
	case change.KindDecimal:
		if c.unsigned {
			return change.Decimal(strconv.FormatUint(u, 10))
		}
		return change.Decimal(strconv.FormatInt(i, 10))
	case change.KindFloat:
		return change.Float(float64(i)), nil
	case change.KindText:
		// ENUM and SET arrive from the binlog as an index and a bit mask.
		switch c.dataType {
		case "enum":
			return enumLabel(c, u)
		case "set":
			return setLabels(c, u)
		}
		return change.Text(strconv.FormatInt(i, 10)), nil
	}
	if !signedOK {
		return change.Value{}, fmt.Errorf("%w: column %q value %d does not fit a signed 64-bit integer", errConvert, c.Name, u)
	}
	return change.Int(i), nil
}

func enumLabel(c *column, idx uint64) (change.Value, error) {
	if idx == 0 {
		return change.Text(""), nil // the error value of non-strict inserts
	}
	if idx > uint64(len(c.elems)) {
		return change.Value{}, fmt.Errorf("column %q: enum index %d out of range (%d members)", c.Name, idx, len(c.elems))
	}
	return change.Text(c.elems[idx-1]), nil
}

func setLabels(c *column, mask uint64) (change.Value, error) {
	var parts []string
	for i, e := range c.elems {
		if i < 64 && mask&(1<<uint(i)) != 0 {
			parts = append(parts, e)
		}
	}
	return change.Text(strings.Join(parts, ",")), nil
}

func (s *Store) decodeFloat(c *column, f float64) (change.Value, error) {
	switch c.Kind {
	case change.KindDecimal:
		return change.Decimal(strconv.FormatFloat(f, 'f', -1, 64))
	case change.KindText, change.KindUnknown:
		return s.decodeText(c, strconv.FormatFloat(f, 'g', -1, 64), nil)
	}
	return change.Float(f), nil
}

// decodeText converts a value given as text (str) or raw bytes (b, when
// non-nil) by the column's kind.
func (s *Store) decodeText(c *column, str string, b []byte) (change.Value, error) {
	if c.Kind == change.KindBytes {
		out := make([]byte, 0, max(len(b), len(str), c.fixedLen))
		if b != nil {
			out = append(out, b...)
		} else {
			out = append(out, str...)
		}
		for len(out) < c.fixedLen { // BINARY(n) is zero-padded; some binlogs trim it
			out = append(out, 0)
		}
		return change.Bytes(out), nil
	}
	if b != nil {
		str = textOf(c, b)
	}
	switch c.Kind {
	case change.KindText:
		return change.Text(str), nil
	case change.KindJSON:
		return change.JSON(str), nil
	case change.KindUUID:
		return change.UUID(str), nil
	case change.KindTime:
		return change.TimeOfDay(str), nil
	case change.KindDecimal:
		v, err := change.Decimal(str)
		if err != nil {
			return change.Value{}, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return v, nil
	case change.KindInt:
		if c.dataType == "bit" && b != nil {
			var u uint64
			for _, x := range b {
				u = u<<8 | uint64(x)
			}
			return s.decodeInt(c, int64(u), u)
		}
		i, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return change.Value{}, fmt.Errorf("%w: column %q: %v", errConvert, c.Name, err)
		}
		return change.Int(i), nil
	case change.KindBool:
		i, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return change.Value{}, fmt.Errorf("%w: column %q: %v", errConvert, c.Name, err)
		}
		return change.Bool(i != 0), nil
	case change.KindFloat:
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return change.Value{}, fmt.Errorf("%w: column %q: %v", errConvert, c.Name, err)
		}
		return change.Float(f), nil
	case change.KindDate:
		if isZeroDate(str) {
			return change.Value{}, &zeroDateError{column: c.Name, value: str}
		}
		t, err := time.Parse(time.DateOnly, str)
		if err != nil {
			return change.Value{}, fmt.Errorf("%w: column %q: %v", errConvert, c.Name, err)
		}
		return change.Date(t), nil
	case change.KindTimestamp:
		if isZeroDate(str) {
			return change.Value{}, &zeroDateError{column: c.Name, value: str}
		}
		t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", str, s.zoneOf(c))
		if err != nil {
			return change.Value{}, fmt.Errorf("%w: column %q: %v", errConvert, c.Name, err)
		}
		return change.Timestamp(t), nil
	}
	v := change.Unknown(str, c.Type)
	return v, nil
}

// textOf reads text column bytes. SQL reads arrive in the connection's
// utf8mb4; binlog values are in the column's own character set, of which
// latin1 is converted (as ISO-8859-1) and others are taken as UTF-8.
func textOf(c *column, b []byte) string {
	if c.charset == "latin1" && !utf8.Valid(b) {
		r := make([]rune, len(b))
		for i, x := range b {
			r[i] = rune(x)
		}
		return string(r)
	}
	return string(b)
}

// zoneOf is the zone a temporal column's text is in: UTC for TIMESTAMP (the
// session time_zone), the DSN's loc for DATETIME.
func (s *Store) zoneOf(c *column) *time.Location {
	if c.dataType == "timestamp" {
		return time.UTC
	}
	return s.loc
}

// encode converts a Value into the argument bound for column c. Values are
// always bound, never spliced into SQL. It fails with errConvert when the
// value cannot be written to the column at all.
func (s *Store) encode(c *column, v change.Value) (any, error) {
	if v.Kind == change.KindNull {
		return nil, nil
	}
	switch c.Kind {
	case change.KindBool:
		switch v.Kind {
		case change.KindBool:
			if v.AsBool() {
				return int64(1), nil
			}
			return int64(0), nil
		case change.KindInt:
			return v.AsInt(), nil
		}
	case change.KindInt:
		switch v.Kind {
		case change.KindInt:
			return v.AsInt(), nil
		case change.KindBool:
			return boolInt(v.AsBool()), nil
		}
	case change.KindDecimal:
		return encodeDecimal(c, v)
	case change.KindFloat:
		switch v.Kind {
		case change.KindFloat:
			return v.AsFloat(), nil
		case change.KindInt:
			return v.AsInt(), nil
		}
	case change.KindBytes:
		switch v.Kind {
		case change.KindBytes:
			if b := v.AsBytes(); b != nil {
				return b, nil
			}
			return []byte{}, nil // empty, not NULL
		case change.KindText, change.KindJSON, change.KindUnknown:
			return []byte(v.String()), nil
		}
		return nil, fmt.Errorf("%w: column %q takes bytes, not %s", errConvert, c.Name, v.Kind)
	case change.KindTimestamp:
		return s.encodeTimestamp(c, v)
	case change.KindDate:
		switch v.Kind {
		case change.KindDate, change.KindTimestamp:
			return v.AsTime().Format(time.DateOnly), nil
		}
	}
	if v.Kind == change.KindBytes && c.Kind != change.KindText {
		return v.AsBytes(), nil
	}
	// Text-like columns, and any value the column's kind has no special
	// rule for, go as text: the server converts it under the strict
	// sql_mode, so a value that does not fit fails its statement.
	return v.String(), nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func encodeDecimal(c *column, v change.Value) (any, error) {
	var text string
	switch v.Kind {
	case change.KindDecimal, change.KindInt, change.KindText, change.KindUnknown:
		d, err := change.Decimal(v.String())
		if err != nil {
			return nil, fmt.Errorf("%w: column %q: %v", errConvert, c.Name, err)
		}
		text = d.String()
	case change.KindFloat:
		text = strconv.FormatFloat(v.AsFloat(), 'f', -1, 64)
	case change.KindBool:
		text = strconv.FormatInt(boolInt(v.AsBool()), 10)
	default:
		return nil, fmt.Errorf("%w: column %q takes a decimal, not %s", errConvert, c.Name, v.Kind)
	}
	if c.dataType == "bigint" && c.unsigned {
		u, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: column %q (bigint unsigned): %v", errConvert, c.Name, err)
		}
		return u, nil
	}
	return text, nil
}

func (s *Store) encodeTimestamp(c *column, v change.Value) (any, error) {
	var t time.Time
	switch v.Kind {
	case change.KindTimestamp, change.KindDate:
		t = v.AsTime()
	case change.KindText, change.KindUnknown:
		var err error
		if t, err = change.ParseTimestamp(v.String()); err != nil {
			return nil, fmt.Errorf("%w: column %q: %v", errConvert, c.Name, err)
		}
	default:
		return nil, fmt.Errorf("%w: column %q takes a timestamp, not %s", errConvert, c.Name, v.Kind)
	}
	return t.In(s.zoneOf(c)).Format("2006-01-02 15:04:05.000000"), nil
}
