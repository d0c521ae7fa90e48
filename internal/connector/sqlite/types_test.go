package sqlite

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

func TestKindOf(t *testing.T) {
	for decl, want := range map[string]change.Kind{
		"":                            change.KindText,
		"INTEGER":                     change.KindInt,
		"bigint":                      change.KindInt,
		"UNSIGNED BIG INT":            change.KindInt,
		"BOOLEAN":                     change.KindBool,
		"bool":                        change.KindBool,
		"DECIMAL(12,2)":               change.KindDecimal,
		"numeric":                     change.KindDecimal,
		"REAL":                        change.KindFloat,
		"DOUBLE PRECISION":            change.KindFloat,
		"float":                       change.KindFloat,
		"TEXT":                        change.KindText,
		"VARCHAR(255)":                change.KindText,
		"NVARCHAR(10)":                change.KindText,
		"CLOB":                        change.KindText,
		"CHARACTER VARYING(3)":        change.KindText,
		"BLOB":                        change.KindBytes,
		"DATETIME":                    change.KindTimestamp,
		"timestamp":                   change.KindTimestamp,
		"TIMESTAMP WITH TIME ZONE":    change.KindTimestamp,
		"DATE":                        change.KindDate,
		"TIME":                        change.KindTime,
		"JSON":                        change.KindJSON,
		"jsonb":                       change.KindJSON,
		"UUID":                        change.KindUUID,
		"GEOMETRY":                    change.KindUnknown,
		"TIME WITHOUT TIME ZONE":      change.KindTime,
		"TIMESTAMP WITHOUT TIME ZONE": change.KindTimestamp,
	} {
		if got := kindOf(decl); got != want {
			t.Errorf("kindOf(%q) = %s, want %s", decl, got, want)
		}
	}
}

func col(kind change.Kind, typ string) connector.Column {
	return connector.Column{Name: "c", Type: typ, Kind: kind}
}

func TestDecodeValue(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for _, tc := range []struct {
		col  connector.Column
		raw  any
		want change.Value
	}{
		{col(change.KindInt, "INTEGER"), int64(42), change.Int(42)},
		{col(change.KindInt, "INTEGER"), "42", change.Int(42)},
		{col(change.KindInt, "INTEGER"), float64(3), change.Int(3)},
		{col(change.KindInt, "INTEGER"), nil, change.Null},
		{col(change.KindBool, "BOOLEAN"), int64(1), change.Bool(true)},
		{col(change.KindBool, "BOOLEAN"), int64(0), change.Bool(false)},
		{col(change.KindBool, "BOOLEAN"), "true", change.Bool(true)},
		{col(change.KindBool, "BOOLEAN"), "FALSE", change.Bool(false)},
		{col(change.KindDecimal, "DECIMAL(12,2)"), 12.3, change.MustDecimal("12.3")},
		{col(change.KindDecimal, "DECIMAL(12,2)"), 0.1, change.MustDecimal("0.1")},
		{col(change.KindDecimal, "DECIMAL(12,2)"), "12.30", change.MustDecimal("12.30")},
		{col(change.KindDecimal, "DECIMAL(30,10)"), "123456789012345678901234.5678901234", change.MustDecimal("123456789012345678901234.5678901234")},
		{col(change.KindDecimal, "NUMERIC"), int64(7), change.MustDecimal("7")},
		{col(change.KindDecimal, "NUMERIC"), 1e21, change.MustDecimal("1000000000000000000000")},
		{col(change.KindFloat, "REAL"), 1.5, change.Float(1.5)},
		{col(change.KindFloat, "REAL"), int64(2), change.Float(2)},
		{col(change.KindText, "TEXT"), "", change.Text("")},
		{col(change.KindText, ""), int64(5), change.Text("5")},
		{col(change.KindText, ""), []byte{0xff, 0}, change.Bytes([]byte{0xff, 0})},
		{col(change.KindBytes, "BLOB"), []byte{1, 2}, change.Bytes([]byte{1, 2})},
		{col(change.KindBytes, "BLOB"), "ab", change.Bytes([]byte("ab"))},
		{col(change.KindTimestamp, "TIMESTAMP"), ts, change.Timestamp(ts)},
		{col(change.KindTimestamp, "TIMESTAMP"), "2024-05-06T07:08:09.123456Z", change.Timestamp(ts)},
		{col(change.KindTimestamp, "TIMESTAMP"), "2024-05-06 07:08:09.123456", change.Timestamp(ts)},
		{col(change.KindTimestamp, "TIMESTAMP"), int64(1714979289), change.Timestamp(ts.Truncate(time.Second))},
		{col(change.KindTimestamp, "TIMESTAMP"), 2460436.797327, change.Timestamp(time.Date(2024, 5, 6, 7, 8, 9, 53000000, time.UTC))},
		{col(change.KindDate, "DATE"), "2024-05-06", change.Date(ts)},
		{col(change.KindTime, "TIME"), "07:08:09.5", change.TimeOfDay("07:08:09.5")},
		{col(change.KindJSON, "JSON"), `{"a":[1,2]}`, change.JSON(`{"a":[1,2]}`)},
		{col(change.KindUUID, "UUID"), "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", change.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")},
		{col(change.KindUnknown, "GEOMETRY"), "POINT(1 2)", change.Unknown("POINT(1 2)", "GEOMETRY")},
	} {
		got, err := decodeValue(tc.col, tc.raw)
		if err != nil {
			t.Errorf("decode %s %#v: %v", tc.col.Type, tc.raw, err)
			continue
		}
		if !change.Equal(got, tc.want) || got.String() != tc.want.String() {
			t.Errorf("decode %s %#v = %s %q, want %s %q", tc.col.Type, tc.raw, got.Kind, got, tc.want.Kind, tc.want)
		}
	}
}

// TestReadValueFallsBackToUnknown: a value that does not fit its column is
// carried as text with the declared type, never dropped.
func TestReadValueFallsBackToUnknown(t *testing.T) {
	got := readValue(col(change.KindInt, "INTEGER"), "abc")
	if want := change.Unknown("abc", "INTEGER"); !change.Equal(got, want) {
		t.Errorf("readValue = %s %q (%s), want unknown abc (INTEGER)", got.Kind, got, got.TypeName)
	}
}

func TestEncodeValue(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		col  connector.Column
		v    change.Value
		want any
	}{
		{col(change.KindInt, "INTEGER"), change.Int(5), int64(5)},
		{col(change.KindInt, "INTEGER"), change.Text(" 5 "), int64(5)},
		{col(change.KindInt, "INTEGER"), change.MustDecimal("12.00"), int64(12)},
		{col(change.KindInt, "INTEGER"), change.Bool(true), int64(1)},
		{col(change.KindBool, "BOOLEAN"), change.Bool(false), int64(0)},
		{col(change.KindBool, "BOOLEAN"), change.Text("true"), int64(1)},
		{col(change.KindDecimal, "DECIMAL"), change.MustDecimal("12.30"), "12.30"},
		{col(change.KindDecimal, "DECIMAL"), change.Text("+007.50"), "7.50"},
		{col(change.KindDecimal, "DECIMAL"), change.Float(0.1), "0.1"},
		{col(change.KindFloat, "REAL"), change.MustDecimal("1.25"), 1.25},
		{col(change.KindTimestamp, "TIMESTAMP"), change.Timestamp(ts), "2024-05-06T06:08:09.123456Z"},
		{col(change.KindTimestamp, "TIMESTAMP"), change.Text("2024-05-06 06:08:09"), "2024-05-06T06:08:09.000000Z"},
		{col(change.KindDate, "DATE"), change.Date(ts), "2024-05-06"},
		{col(change.KindText, "TEXT"), change.Int(7), "7"},
		{col(change.KindText, "TEXT"), change.MustDecimal("1.50"), "1.50"},
		{col(change.KindBytes, "BLOB"), change.Bytes(nil), []byte{}},
		{col(change.KindJSON, "JSON"), change.Text(`{"a":1}`), `{"a":1}`},
		{col(change.KindUUID, "UUID"), change.Text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{col(change.KindInt, "INTEGER"), change.Null, nil},
	} {
		got, err := encodeValue(tc.col, tc.v)
		if err != nil {
			t.Errorf("encode %s %s into %s: %v", tc.v.Kind, tc.v, tc.col.Type, err)
			continue
		}
		if g, ok := got.([]byte); ok {
			if w, ok := tc.want.([]byte); !ok || string(g) != string(w) || g == nil {
				t.Errorf("encode %s into %s = %#v, want %#v", tc.v, tc.col.Type, got, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("encode %s %s into %s = %#v, want %#v", tc.v.Kind, tc.v, tc.col.Type, got, tc.want)
		}
	}
}

// TestEncodeValueRejects: a value that does not fit is an error naming the
// column and the value, marked as a conversion failure.
func TestEncodeValueRejects(t *testing.T) {
	for _, tc := range []struct {
		col connector.Column
		v   change.Value
	}{
		{col(change.KindInt, "INTEGER"), change.Text("abc")},
		{col(change.KindInt, "INTEGER"), change.Text("1.5")},
		{col(change.KindInt, "INTEGER"), change.Float(1.5)},
		{col(change.KindBool, "BOOLEAN"), change.Int(2)},
		{col(change.KindDecimal, "DECIMAL"), change.Text("abc")},
		{col(change.KindFloat, "REAL"), change.Text("x1")},
		{col(change.KindTimestamp, "TIMESTAMP"), change.Text("yesterday")},
		{col(change.KindTimestamp, "TIMESTAMP"), change.Int(5)},
		{col(change.KindJSON, "JSON"), change.Text("{nope")},
		{col(change.KindUUID, "UUID"), change.Text("not-a-uuid")},
		{col(change.KindBytes, "BLOB"), change.Int(1)},
	} {
		_, err := encodeValue(tc.col, tc.v)
		if err == nil {
			t.Errorf("encode %s %q into %s: no error", tc.v.Kind, tc.v, tc.col.Type)
			continue
		}
		if !errors.Is(err, errConvert) || !strings.Contains(err.Error(), `"c"`) || !strings.Contains(err.Error(), tc.v.String()) {
			t.Errorf("encode %s %q into %s: error %q does not name column and value", tc.v.Kind, tc.v, tc.col.Type, err)
		}
	}
}
