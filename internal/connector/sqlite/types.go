package sqlite

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// SQLite has no column types, only declared type names and storage classes
// (NULL, INTEGER, REAL, TEXT, BLOB) that a column's affinity nudges values
// towards. A column's Kind is therefore derived from its declared type name,
// checked in this order (case-insensitive, first match wins):
//
//	declared type contains            Kind
//	BOOL                              bool       (BOOL, BOOLEAN)
//	UUID                              uuid
//	JSON                              json
//	DATETIME, TIMESTAMP               timestamp
//	DATE (exactly)                    date
//	TIME (exactly, or TIME ...)       time
//	INT                               int        (SQLite's INTEGER affinity rule)
//	CHAR, CLOB, TEXT                  text       (VARCHAR, NVARCHAR, CHARACTER ...)
//	BLOB, BINARY, BYTEA               bytes
//	REAL, FLOA, DOUB                  float
//	DEC, NUMERIC, MONEY               decimal    (DECIMAL(p,s), NUMERIC(p,s))
//	(no declared type)                text
//	anything else                     unknown    (carried as text with the type name)
//
// Reading accepts whatever storage class SQLite actually holds (a column's
// affinity is a preference, not a constraint) and converts it to the Kind;
// a value that does not fit is carried as KindUnknown with the declared type
// rather than dropped. Writing converts strictly: a value that cannot be
// represented in the target column's Kind is an error naming column and value.

// kindOf maps a declared column type to the Kind its values are carried as.
func kindOf(declared string) change.Kind {
	t := strings.ToUpper(strings.TrimSpace(declared))
	base, _, _ := strings.Cut(t, "(")
	base = strings.TrimSpace(base)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(t, s) {
				return true
			}
		}
		return false
	}
	switch {
	case t == "":
		return change.KindText
	case has("BOOL"):
		return change.KindBool
	case has("UUID"):
		return change.KindUUID
	case has("JSON"):
		return change.KindJSON
	case has("DATETIME", "TIMESTAMP"):
		return change.KindTimestamp
	case base == "DATE":
		return change.KindDate
	case base == "TIME" || strings.HasPrefix(base, "TIME "):
		return change.KindTime
	case has("INT"):
		return change.KindInt
	case has("CHAR", "CLOB", "TEXT"):
		return change.KindText
	case has("BLOB", "BINARY", "BYTEA"):
		return change.KindBytes
	case has("REAL", "FLOA", "DOUB"):
		return change.KindFloat
	case has("DEC", "NUMERIC", "MONEY"):
		return change.KindDecimal
	}
	return change.KindUnknown
}

// readValue converts a value SQLite returned for col into a typed Value.
// A value that does not fit the column's Kind is carried as KindUnknown with
// the declared type, so nothing is dropped and the sink decides.
func readValue(col connector.Column, raw any) change.Value {
	v, err := decodeValue(col, raw)
	if err != nil {
		return change.Unknown(rawText(raw), col.Type)
	}
	return v
}

// decodeValue converts raw (int64, float64, string, []byte, time.Time, bool
// or nil) into a Value of col's Kind.
func decodeValue(col connector.Column, raw any) (change.Value, error) {
	if raw == nil {
		return change.Null, nil
	}
	switch col.Kind {
	case change.KindInt:
		return decodeInt(raw)
	case change.KindBool:
		return decodeBool(raw)
	case change.KindDecimal:
		return decodeDecimal(raw)
	case change.KindFloat:
		return decodeFloat(raw)
	case change.KindText:
		if b, ok := raw.([]byte); ok && !utf8.Valid(b) {
			return change.Bytes(b), nil // a blob in an untyped column stays binary
		}
		return change.Text(rawText(raw)), nil
	case change.KindBytes:
		if s, ok := raw.(string); ok {
			return change.Bytes([]byte(s)), nil
		}
		if b, ok := raw.([]byte); ok {
			return change.Bytes(b), nil
		}
		return change.Bytes([]byte(rawText(raw))), nil
	case change.KindTimestamp:
		t, err := decodeTime(raw)
		return change.Timestamp(t), err
	case change.KindDate:
		t, err := decodeTime(raw)
		return change.Date(t), err
	case change.KindTime:
		if t, ok := raw.(time.Time); ok {
			return change.TimeOfDay(t.Format("15:04:05.999999")), nil
		}
		return change.TimeOfDay(rawText(raw)), nil
	case change.KindJSON:
		s := rawText(raw)
		if !json.Valid([]byte(s)) {
			return change.Value{}, fmt.Errorf("invalid json %q", s)
		}
		return change.JSON(s), nil
	case change.KindUUID:
		if b, ok := raw.([]byte); ok && len(b) == 16 {
			return change.UUID(formatUUID(b)), nil
		}
		s := rawText(raw)
		if !isUUID(s) {
			return change.Value{}, fmt.Errorf("invalid uuid %q", s)
		}
		return change.UUID(s), nil
	}
	return change.Unknown(rawText(raw), col.Type), nil
}

func decodeInt(raw any) (change.Value, error) {
	switch x := raw.(type) {
	case int64:
		return change.Int(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return change.Int(int64(x)), nil
		}
	case string, []byte:
		if i, err := strconv.ParseInt(strings.TrimSpace(rawText(x)), 10, 64); err == nil {
			return change.Int(i), nil
		}
	case bool:
		return change.Int(b2i(x)), nil
	}
	return change.Value{}, fmt.Errorf("not an integer: %q", rawText(raw))
}

func decodeBool(raw any) (change.Value, error) {
	switch x := raw.(type) {
	case bool:
		return change.Bool(x), nil
	case int64:
		return change.Bool(x != 0), nil
	case float64:
		return change.Bool(x != 0), nil
	case string, []byte:
		s := strings.ToLower(strings.TrimSpace(rawText(x)))
		switch s {
		case "1", "true", "t", "yes", "y", "on":
			return change.Bool(true), nil
		case "0", "false", "f", "no", "n", "off":
			return change.Bool(false), nil
		}
	}
	return change.Value{}, fmt.Errorf("not a boolean: %q", rawText(raw))
}

// decodeDecimal keeps text exact; a REAL (what NUMERIC affinity makes of
// "12.30") is formatted with the shortest text that reads back as the same
// float, never with float noise.
func decodeDecimal(raw any) (change.Value, error) {
	switch x := raw.(type) {
	case int64:
		return change.Decimal(strconv.FormatInt(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return change.Value{}, fmt.Errorf("not a finite decimal: %v", x)
		}
		return change.Decimal(strconv.FormatFloat(x, 'f', -1, 64))
	case string, []byte:
		return change.Decimal(rawText(x))
	}
	return change.Value{}, fmt.Errorf("not a decimal: %q", rawText(raw))
}

func decodeFloat(raw any) (change.Value, error) {
	switch x := raw.(type) {
	case float64:
		return change.Float(x), nil
	case int64:
		return change.Float(float64(x)), nil
	case string, []byte:
		if f, err := strconv.ParseFloat(strings.TrimSpace(rawText(x)), 64); err == nil {
			return change.Float(f), nil
		}
	}
	return change.Value{}, fmt.Errorf("not a number: %q", rawText(raw))
}

// julianUnixEpoch is the Julian day number of 1970-01-01T00:00:00Z, for
// timestamps SQLite's date functions store as REAL.
const julianUnixEpoch = 2440587.5

// decodeTime reads the forms SQLite's date functions understand: text,
// INTEGER unix seconds and REAL Julian day numbers. The driver already parses
// text of columns declared DATE, DATETIME or TIMESTAMP into time.Time.
func decodeTime(raw any) (time.Time, error) {
	switch x := raw.(type) {
	case time.Time:
		return x, nil
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case float64:
		// SQLite's own date arithmetic has millisecond resolution; finer
		// digits of a Julian day REAL are float noise.
		ms := math.Round((x - julianUnixEpoch) * 86400e3)
		return time.UnixMilli(int64(ms)).UTC(), nil
	case string, []byte:
		return change.ParseTimestamp(rawText(x))
	}
	return time.Time{}, fmt.Errorf("not a timestamp: %q", rawText(raw))
}

// rawText renders a raw value as text the way SQLite's CAST(x AS TEXT)
// would, close enough for messages and untyped columns.
func rawText(raw any) string {
	switch x := raw.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(change.TimestampLayout)
	}
	return fmt.Sprint(raw)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// writeTimestampLayout is how timestamps are written: UTC text with six
// fractional digits, which SQLite's date functions read and which sorts
// lexically in time order.
const writeTimestampLayout = "2006-01-02T15:04:05.000000Z"

// encodeValue converts v into a driver argument for a column of col's Kind.
// It is strict: text going to an integer column must be an integer, text
// going to a decimal column must be a number, and so on.
func encodeValue(col connector.Column, v change.Value) (any, error) {
	if v.Kind == change.KindNull || v.Kind == 0 {
		return nil, nil
	}
	arg, err := encodeFor(col.Kind, v)
	if err != nil {
		return nil, fmt.Errorf("column %q (%s): %w: %s value %q: %v", col.Name, col.Type, errConvert, v.Kind, v.String(), err)
	}
	return arg, nil
}

// encodeFor converts v for a column of kind k.
func encodeFor(k change.Kind, v change.Value) (any, error) {
	// Only the branches that need text ask for it: String formats bytes as
	// base64 and timestamps as text, which the common paths never use.
	text := v.String
	switch k {
	case change.KindInt:
		switch v.Kind {
		case change.KindInt:
			return v.AsInt(), nil
		case change.KindBool:
			return b2i(v.AsBool()), nil
		case change.KindFloat:
			if f := v.AsFloat(); f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return int64(f), nil
			}
			return nil, errors.New("not an integer")
		case change.KindDecimal, change.KindText, change.KindUnknown:
			return parseIntText(text())
		}
	case change.KindBool:
		switch v.Kind {
		case change.KindBool:
			return b2i(v.AsBool()), nil
		case change.KindInt:
			if i := v.AsInt(); i == 0 || i == 1 {
				return i, nil
			}
			return nil, errors.New("not 0 or 1")
		case change.KindText, change.KindUnknown:
			b, err := decodeBool(text())
			if err != nil {
				return nil, err
			}
			return b2i(b.AsBool()), nil
		}
	case change.KindDecimal:
		switch v.Kind {
		case change.KindDecimal:
			return text(), nil
		case change.KindInt:
			return v.AsInt(), nil
		case change.KindFloat:
			return decimalText(v.AsFloat())
		case change.KindText, change.KindUnknown:
			d, err := change.Decimal(text())
			if err != nil {
				return nil, err
			}
			return d.String(), nil
		}
	case change.KindFloat:
		switch v.Kind {
		case change.KindFloat:
			return v.AsFloat(), nil
		case change.KindInt:
			return float64(v.AsInt()), nil
		case change.KindDecimal, change.KindText, change.KindUnknown:
			return strconv.ParseFloat(strings.TrimSpace(text()), 64)
		}
	case change.KindTimestamp:
		switch v.Kind {
		case change.KindTimestamp, change.KindDate:
			return v.AsTime().UTC().Format(writeTimestampLayout), nil
		case change.KindText, change.KindUnknown:
			t, err := change.ParseTimestamp(text())
			if err != nil {
				return nil, err
			}
			return t.UTC().Truncate(time.Microsecond).Format(writeTimestampLayout), nil
		}
	case change.KindDate:
		switch v.Kind {
		case change.KindDate, change.KindTimestamp:
			return v.AsTime().UTC().Format(time.DateOnly), nil
		case change.KindText, change.KindUnknown:
			t, err := change.ParseTimestamp(text())
			if err != nil {
				return nil, err
			}
			return t.Format(time.DateOnly), nil
		}
	case change.KindTime:
		switch v.Kind {
		case change.KindTime, change.KindText, change.KindUnknown:
			return text(), nil
		case change.KindTimestamp:
			return v.AsTime().UTC().Format("15:04:05.000000"), nil
		}
	case change.KindJSON:
		switch v.Kind {
		case change.KindJSON, change.KindText, change.KindUnknown:
			if !json.Valid([]byte(text())) {
				return nil, errors.New("not valid json")
			}
			return text(), nil
		case change.KindInt, change.KindFloat, change.KindDecimal, change.KindBool:
			return text(), nil
		}
	case change.KindUUID:
		switch v.Kind {
		case change.KindUUID:
			return text(), nil
		case change.KindText, change.KindUnknown:
			if !isUUID(text()) {
				return nil, errors.New("not a uuid")
			}
			return strings.ToLower(text()), nil
		case change.KindBytes:
			if b := v.AsBytes(); len(b) == 16 {
				return formatUUID(b), nil
			}
			return nil, errors.New("not 16 bytes")
		}
	case change.KindBytes:
		switch v.Kind {
		case change.KindBytes:
			return nonNilBytes(v.AsBytes()), nil
		case change.KindText, change.KindUnknown, change.KindJSON:
			return []byte(text()), nil
		}
	default: // text and types without a mapping take any value as its text
		if v.Kind == change.KindBytes {
			return nonNilBytes(v.AsBytes()), nil
		}
		if v.Kind == change.KindTimestamp {
			return v.AsTime().UTC().Format(writeTimestampLayout), nil
		}
		return text(), nil
	}
	return nil, fmt.Errorf("a %s value does not fit a %s column", v.Kind, k)
}

// nonNilBytes keeps an empty byte string from being bound as NULL.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func parseIntText(s string) (any, error) {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	// "12.00" is an integer written as a decimal.
	if d, err := change.Decimal(s); err == nil {
		if ip, frac, _ := strings.Cut(d.String(), "."); strings.Trim(frac, "0") == "" {
			if i, err := strconv.ParseInt(ip, 10, 64); err == nil {
				return i, nil
			}
		}
	}
	return nil, errors.New("not an integer")
}

func decimalText(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errors.New("not a finite number")
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}
