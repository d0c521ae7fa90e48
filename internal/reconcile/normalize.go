package reconcile

import (
	"crypto/md5"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// nullText is how NULL appears in a row text: no normalized value contains
// it unescaped, so NULL never equals ” or the text "NULL".
const nullText = `\N`

// RowText is the normalized text of a row whose columns are cols: each value
// normalized as its column's kind (see Normalize), '\' and '|' escaped with
// '\', joined by '|', NULL written as \N. It is the definition a
// connector.Checksummer must reproduce in SQL.
func RowText(row change.Row, cols []connector.ChecksumColumn) string {
	var sb strings.Builder
	for i, c := range cols {
		if i > 0 {
			sb.WriteByte('|')
		}
		v, ok := row[c.Name]
		if !ok || v.IsNull() {
			sb.WriteString(nullText)
			continue
		}
		t := Normalize(v, c.Kind)
		if c.TrimSpace {
			t = strings.TrimRight(t, " ")
		}
		for j := 0; j < len(t); j++ {
			if t[j] == '\\' || t[j] == '|' {
				sb.WriteByte('\\')
			}
			sb.WriteByte(t[j])
		}
	}
	return sb.String()
}

// RowHash is the contribution of one row text to a connector.Checksum.
func RowHash(text string) uint64 {
	h := md5.Sum([]byte(text))
	return binary.BigEndian.Uint64(h[:8])
}

// Normalize renders a non-NULL value as the canonical text of kind, the
// target column's kind, so that the same data compares equal whichever
// store or driver produced it:
//
//   - decimal: numeric value without trailing fractional zeros ("1.50" = "1.5");
//     ints and floats in a decimal column are formatted exactly
//   - int: decimal digits; booleans as 1/0 (what the sink writes)
//   - bool: "t" or "f"; ints and decimals are true when non-zero
//   - timestamp: UTC, microseconds, change.TimestampLayout; text is parsed
//   - date: YYYY-MM-DD; time: fractional zeros trimmed
//   - json: rewritten as PostgreSQL prints jsonb (jsonText), so key order,
//     spacing and number spelling do not matter
//   - float: shortest round-trip digits, in PostgreSQL's float8 output form
//     (floatText)
//
// A value that cannot become kind keeps its own canonical text, so it still
// compares unequal to anything else.
func Normalize(v change.Value, kind change.Kind) string {
	switch kind {
	case change.KindDecimal:
		if s, ok := decimalText(v); ok {
			return trimDecimal(s)
		}
	case change.KindInt:
		switch v.Kind {
		case change.KindBool:
			if v.AsBool() {
				return "1"
			}
			return "0"
		case change.KindDecimal, change.KindFloat, change.KindText:
			if s, ok := decimalText(v); ok {
				return trimDecimal(s)
			}
		}
	case change.KindBool:
		if b, ok := boolOf(v); ok {
			return map[bool]string{true: "t", false: "f"}[b]
		}
	case change.KindFloat:
		if f, ok := floatOf(v); ok {
			return floatText(f)
		}
	case change.KindTimestamp:
		if t, ok := timeOf(v); ok {
			return t.UTC().Truncate(time.Microsecond).Format(change.TimestampLayout)
		}
	case change.KindDate:
		if t, ok := timeOf(v); ok {
			return t.UTC().Format(time.DateOnly)
		}
	case change.KindTime:
		if v.Kind == change.KindTime || v.Kind == change.KindText {
			s := v.String()
			if strings.Contains(s, ".") {
				s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
			}
			return s
		}
	case change.KindJSON:
		if s, ok := jsonText(v.String()); ok {
			return s
		}
	case change.KindUUID:
		return strings.ToLower(v.String())
	}
	if v.Kind == change.KindDecimal {
		return trimDecimal(v.String())
	}
	return v.String()
}

func decimalText(v change.Value) (string, bool) {
	switch v.Kind {
	case change.KindDecimal:
		return v.String(), true
	case change.KindInt:
		return strconv.FormatInt(v.AsInt(), 10), true
	case change.KindFloat:
		f := v.AsFloat()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", false
		}
		return strconv.FormatFloat(f, 'f', -1, 64), true
	case change.KindText, change.KindUnknown:
		d, err := change.Decimal(v.String())
		if err != nil {
			return "", false
		}
		return d.String(), true
	}
	return "", false
}

// trimDecimal drops trailing fractional zeros, as change.Equal does.
func trimDecimal(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}

func boolOf(v change.Value) (bool, bool) {
	switch v.Kind {
	case change.KindBool:
		return v.AsBool(), true
	case change.KindInt:
		return v.AsInt() != 0, true
	case change.KindDecimal:
		return trimDecimal(v.String()) != "0", true
	case change.KindText:
		b, err := strconv.ParseBool(strings.TrimSpace(v.String()))
		return b, err == nil
	}
	return false, false
}

func floatOf(v change.Value) (float64, bool) {
	switch v.Kind {
	case change.KindFloat:
		return v.AsFloat(), true
	case change.KindInt:
		return float64(v.AsInt()), true
	case change.KindDecimal, change.KindText:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.String()), 64)
		return f, err == nil
	}
	return 0, false
}

func timeOf(v change.Value) (time.Time, bool) {
	switch v.Kind {
	case change.KindTimestamp, change.KindDate:
		return v.AsTime(), true
	case change.KindText, change.KindUnknown:
		t, err := change.ParseTimestamp(v.String())
		return t, err == nil
	}
	return time.Time{}, false
}

// isChar reports whether a declared type is blank-padded CHAR(n) (not
// VARCHAR, not CHARACTER VARYING).
func isChar(typ string) bool {
	t := strings.ToLower(strings.TrimSpace(typ))
	switch t {
	case "char", "character", "bpchar", "nchar":
		return true
	}
	for _, p := range []string{"char(", "character(", "nchar(", "bpchar("} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}
