package postgres

import (
	"errors"
	"fmt"

	"github.com/syncbridge/syncbridge/internal/change"
)

// errNoSQLForm says a column's normalized text has no SQL expression here:
// reconciliation then streams the rows and normalizes them itself.
var errNoSQLForm = fmt.Errorf("no SQL form of its normalized text: %w", errors.ErrUnsupported)

// normText is the SQL expression whose text equals reconcile.Normalize of
// the value this driver decodes from column c (quoted id), normalized as
// kind. Each case mirrors one branch of Normalize for the Value kind the
// column decodes to (types.go), including what Normalize does with values
// the decoder carries as unknown text (numeric NaN, infinite or out of
// range timestamps). A pairing Normalize resolves by parsing text in Go
// (text as a number, a timestamp, JSON) has no expression: errNoSQLForm.
//
// Every session pins TimeZone UTC and extra_float_digits 3, which the
// ::text casts below rely on.
func normText(id string, c *column, kind change.Kind) (string, error) {
	src := c.typ.kind
	if src == change.KindArray {
		return "", errNoSQLForm
	}
	text := id + "::text"
	switch kind {
	case change.KindDecimal, change.KindInt:
		switch src {
		case change.KindBool:
			if kind == change.KindInt {
				return "CASE WHEN " + id + " THEN '1' ELSE '0' END", nil
			}
		case change.KindFloat:
			return floatDecimal(id, c), nil
		case change.KindText, change.KindUnknown:
			if kind == change.KindDecimal || src == change.KindText {
				return "", errNoSQLForm
			}
		}
	case change.KindBool:
		switch src {
		case change.KindBool:
			return "CASE WHEN " + id + " THEN 't' ELSE 'f' END", nil
		case change.KindInt:
			return "CASE WHEN " + id + " <> 0 THEN 't' ELSE 'f' END", nil
		case change.KindDecimal:
			return "CASE WHEN " + text + " IN ('NaN', 'Infinity', '-Infinity') THEN " + text +
				" WHEN " + id + " <> 0 THEN 't' ELSE 'f' END", nil
		case change.KindText:
			return "", errNoSQLForm
		}
	case change.KindFloat:
		switch src {
		case change.KindFloat:
			return floatText(id, c), nil
		case change.KindInt, change.KindDecimal:
			return id + "::float8::text", nil
		case change.KindText:
			return "", errNoSQLForm
		}
	case change.KindTimestamp:
		switch src {
		case change.KindTimestamp:
			return inRange(id, c, "to_char("+utc(id, c)+`, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`), nil
		case change.KindDate:
			return inRange(id, c, "to_char("+id+`::timestamp, 'YYYY-MM-DD"T00:00:00.000000Z"')`), nil
		case change.KindText, change.KindUnknown:
			return "", errNoSQLForm
		}
	case change.KindDate:
		switch src {
		case change.KindTimestamp:
			return inRange(id, c, "to_char("+utc(id, c)+", 'YYYY-MM-DD')"), nil
		case change.KindText, change.KindUnknown:
			return "", errNoSQLForm
		}
	case change.KindTime:
		if src == change.KindTime || src == change.KindText {
			return "CASE WHEN strpos(" + text + ", '.') > 0 THEN rtrim(rtrim(" + text + ", '0'), '.') ELSE " + text + " END", nil
		}
	case change.KindJSON:
		switch src {
		case change.KindJSON:
			return id + "::jsonb::text", nil
		case change.KindInt:
			return text, nil
		}
		return "", errNoSQLForm // Normalize decodes any other text as JSON
	case change.KindUUID:
		n, err := native(id, c)
		return "lower(" + n + ")", err
	}
	if src == change.KindDecimal {
		return "trim_scale(" + id + ")::text", nil
	}
	return native(id, c)
}

// native is the text of Value.String for the value the column decodes to.
func native(id string, c *column) (string, error) {
	switch c.typ.kind {
	case change.KindBool:
		return "CASE WHEN " + id + " THEN 'true' ELSE 'false' END", nil
	case change.KindBytes:
		return "translate(encode(" + id + ", 'base64'), E'\\n', '')", nil
	case change.KindTimestamp:
		return inRange(id, c, "to_char("+utc(id, c)+`, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`), nil
	case change.KindFloat, change.KindArray:
		return "", errNoSQLForm // Go's own float and array formats
	case change.KindUnknown:
		// The output function, as scans use: a cast to text may differ
		// (inet's shows the netmask of a host address).
		return "format('%s', " + id + ")", nil
	}
	return id + "::text", nil
}

// utc is a timestamp column as UTC wall time; timestamp without time zone
// is carried as UTC already.
func utc(id string, c *column) string {
	if c.typ.oid == 1184 { // timestamptz
		return id + " AT TIME ZONE 'UTC'"
	}
	return id
}

// inRange uses expr for the values the decoder turns into a timestamp or
// date (finite, years 1 to 9999) and the column's own text for the rest,
// which it carries as unknown.
func inRange(id string, c *column, expr string) string {
	lo, hi := "'0001-01-01'", "'9999-12-31 23:59:59.999999'"
	switch c.typ.oid {
	case 1184:
		lo, hi = "'0001-01-01 00:00:00+00'", "'9999-12-31 23:59:59.999999+00'"
	case 1082:
		hi = "'9999-12-31'"
	}
	return "CASE WHEN " + id + " BETWEEN " + lo + " AND " + hi + " THEN " + expr + " ELSE " + id + "::text END"
}

// floatText is reconcile's float form, which is PostgreSQL's float8 output
// (shortest round-trip digits): a real's shortest text is parsed as a
// double first, as the decoder does.
func floatText(id string, c *column) string {
	if c.typ.oid == 700 {
		return id + "::text::float8::text"
	}
	return id + "::text"
}

// floatDecimal is a float as an exact decimal of its shortest digits,
// fractional zeros trimmed; non-finite values and -0 as Normalize leaves
// them.
func floatDecimal(id string, c *column) string {
	f := floatText(id, c)
	return "CASE WHEN " + f + " IN ('NaN', '-0') THEN " + f + " WHEN " + f + " = 'Infinity' THEN '+Inf' WHEN " +
		f + " = '-Infinity' THEN '-Inf' ELSE trim_scale(" + f + "::numeric)::text END"
}
