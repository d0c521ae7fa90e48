package postgres

import (
	"math"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
)

func TestDecodeText(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	intArr := builtinTypes[1007]
	for _, tc := range []struct {
		oid  uint32
		text string
		want change.Value
	}{
		{16, "t", change.Bool(true)},
		{16, "f", change.Bool(false)},
		{20, "-9223372036854775808", change.Int(math.MinInt64)},
		{1700, "123456789012345678901234567890.123456789012345678901234567890",
			change.MustDecimal("123456789012345678901234567890.123456789012345678901234567890")},
		{1700, "12.30", change.MustDecimal("12.30")},
		{1700, "NaN", change.Unknown("NaN", "numeric")},
		{701, "0.1", change.Float(0.1)},
		{701, "-Infinity", change.Float(math.Inf(-1))},
		{1184, "2024-05-06 07:08:09.123456+00", change.Timestamp(ts)},
		{1184, "2024-05-06 12:38:09.123456+05:30", change.Timestamp(ts)},
		{1184, "infinity", change.Unknown("infinity", "timestamp with time zone")},
		{1114, "2024-05-06 07:08:09.123456", change.Timestamp(ts)},
		{1114, "2024-05-06 07:08:09", change.Timestamp(ts.Truncate(time.Second))},
		{1114, "0044-03-15 12:00:00 BC", change.Unknown("0044-03-15 12:00:00 BC", "timestamp without time zone")},
		{1082, "2024-05-06", change.Date(ts)},
		{1083, "07:08:09.123456", change.TimeOfDay("07:08:09.123456")},
		{1186, "1 year 2 mons 3 days 04:05:06.789", change.Text("1 year 2 mons 3 days 04:05:06.789")},
		{3802, `{"a": [1, 2.50]}`, change.JSON(`{"a": [1, 2.50]}`)},
		{2950, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", change.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")},
		{17, `\x00ff41`, change.Bytes([]byte{0, 0xff, 'A'})},
		{25, "", change.Text("")},
		{25, "naïve ✓ 🎉", change.Text("naïve ✓ 🎉")},
		{1007, "{1,NULL,3}", change.Array([]change.Value{change.Int(1), change.Null, change.Int(3)})},
		{1007, "{{1,2},{3,4}}", change.Array([]change.Value{
			change.Array([]change.Value{change.Int(1), change.Int(2)}),
			change.Array([]change.Value{change.Int(3), change.Int(4)})})},
		{1007, "{}", change.Array([]change.Value{})},
		{1007, "[0:1]={1,2}", change.Unknown("[0:1]={1,2}", intArr.name)},
		{1009, `{"a b","c\"d","NULL",NULL,"e\\f",""}`, change.Array([]change.Value{
			change.Text("a b"), change.Text(`c"d`), change.Text("NULL"), change.Null, change.Text(`e\f`), change.Text("")})},
		{1001, `{"\\x0102"}`, change.Array([]change.Value{change.Bytes([]byte{1, 2})})},
	} {
		typ := builtinTypes[tc.oid]
		got, err := decodeText(typ, tc.text)
		if err != nil {
			t.Errorf("decode %s %q: %v", typ.name, tc.text, err)
			continue
		}
		if !change.Equal(got, tc.want) {
			t.Errorf("decode %s %q = %s %q, want %s %q", typ.name, tc.text, got.Kind, got, tc.want.Kind, tc.want)
		}
		if got, err := decodeTextBytes(typ, []byte(tc.text)); err != nil || !change.Equal(got, tc.want) {
			t.Errorf("decode bytes %s %q = %s %q (%v), want %s %q", typ.name, tc.text, got.Kind, got, err, tc.want.Kind, tc.want)
		}
	}
}

// TestDecodeTextBytesTimestamps checks the byte parser of timestamps and
// dates against decodeText on the forms PostgreSQL prints.
func TestDecodeTextBytesTimestamps(t *testing.T) {
	for _, text := range []string{
		"2024-05-06 07:08:09", "2024-05-06 07:08:09.1", "2024-05-06 07:08:09.000001", "2024-05-06 07:08:09.999999",
		"0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00", "2024-02-29 23:59:59.5-03", "2024-02-29 23:59:59+05:30",
		"1883-11-18 12:00:00-04:56:02", "2024-05-06 07:08:09+14", "2024-05-06 07:08:09.25-09:30",
		"infinity", "-infinity", "12345-01-01 00:00:00+00", "0044-03-15 12:00:00 BC", "0044-03-15 12:00:00+00 BC",
		"2024-05-06 07:08:09x", "2024-05-06 07:08:09.", "2024-05-06 07:08:09+5", "2024-13-06 07:08:09",
	} {
		for _, oid := range []uint32{1114, 1184} {
			typ := builtinTypes[oid]
			want, werr := decodeText(typ, text)
			got, gerr := decodeTextBytes(typ, []byte(text))
			if (werr == nil) != (gerr == nil) || werr == nil && (!change.Equal(got, want) || got.TypeName != want.TypeName) {
				t.Errorf("%s %q: bytes give %s %q (%v), text gives %s %q (%v)", typ.name, text, got.Kind, got, gerr, want.Kind, want, werr)
			}
		}
	}
	for _, text := range []string{"2024-05-06", "0001-01-01", "9999-12-31", "infinity", "2024-5-06", "0044-03-15 BC", "12345-01-01"} {
		typ := builtinTypes[1082]
		want, _ := decodeText(typ, text)
		got, _ := decodeTextBytes(typ, []byte(text))
		if !change.Equal(got, want) {
			t.Errorf("date %q: bytes give %s %q, text gives %s %q", text, got.Kind, got, want.Kind, want)
		}
	}
}

func TestDecodeTextErrors(t *testing.T) {
	for _, tc := range []struct {
		oid  uint32
		text string
	}{{16, "yes"}, {20, "1.5"}, {17, "00ff"}, {1007, "{1,2"}, {1007, `{"1}`}} {
		if v, err := decodeText(builtinTypes[tc.oid], tc.text); err == nil {
			t.Errorf("decode %s %q = %v, want an error", builtinTypes[tc.oid].name, tc.text, v)
		}
		if v, err := decodeTextBytes(builtinTypes[tc.oid], []byte(tc.text)); err == nil {
			t.Errorf("decode bytes %s %q = %v, want an error", builtinTypes[tc.oid].name, tc.text, v)
		}
	}
}

func TestEncodeText(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for _, tc := range []struct {
		v    change.Value
		want string
	}{
		{change.Bool(true), "t"},
		{change.Int(-5), "-5"},
		{change.Float(math.NaN()), "NaN"},
		{change.Float(0.1), "0.1"},
		{change.MustDecimal("-0.010"), "-0.010"},
		{change.Bytes([]byte{0, 0xff}), `\x00ff`},
		{change.Timestamp(ts), "2024-05-06 07:08:09.123456+00"},
		{change.Timestamp(ts.Truncate(time.Second)), "2024-05-06 07:08:09+00"},
		{change.Date(ts), "2024-05-06"},
		{change.Text(""), ""},
		{change.Array([]change.Value{change.Text(`a"b\c`), change.Null, change.Array([]change.Value{change.Int(1)})}), `{"a\"b\\c",NULL,{"1"}}`},
	} {
		got, ok := encodeText(tc.v)
		if !ok || got != tc.want {
			t.Errorf("encode %s %v = %q, %v; want %q", tc.v.Kind, tc.v, got, ok, tc.want)
		}
	}
	if _, ok := encodeText(change.Null); ok {
		t.Error("encode NULL: ok")
	}
}

// TestArrayRoundTrip checks that what encodeArray writes, the parser reads
// back (PostgreSQL's array input accepts the same quoting).
func TestArrayRoundTrip(t *testing.T) {
	v := change.Array([]change.Value{change.Text(`x,"y"{z}\`), change.Text(""), change.Null, change.Text("NULL"), change.Text(" sp ")})
	s, _ := encodeText(v)
	got, err := decodeText(builtinTypes[1009], s)
	if err != nil || !change.Equal(got, v) {
		t.Errorf("round trip via %q = %v, %v", s, got, err)
	}
}

func TestCopyText(t *testing.T) {
	var w copyWriter
	w.row(change.Row{"a": change.Text("x\ty\nz\\"), "b": change.Null, "c": change.Int(1), "d": change.Bytes([]byte{1})},
		[]string{"a", "b", "c", "missing", "d"})
	if got, want := w.buf.String(), "x\\ty\\nz\\\\\t\\N\t1\t\\N\t\\\\x01\n"; got != want {
		t.Errorf("copy text = %q, want %q", got, want)
	}
}

func TestStatementSizes(t *testing.T) {
	for _, tc := range []struct {
		n, limit int
		want     string
	}{{0, 1024, "[]"}, {1, 1024, "[1]"}, {1537, 1024, "[1024 512 1]"}, {7, 4, "[4 2 1]"}, {3000, 1000, "[512 512 512 512 512 256 128 32 16 8]"}} {
		if got := fmtInts(statementSizes(tc.n, tc.limit)); got != tc.want {
			t.Errorf("statementSizes(%d, %d) = %s, want %s", tc.n, tc.limit, got, tc.want)
		}
	}
}
