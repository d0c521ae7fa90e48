package postgres

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
)

// pgType is how values of one PostgreSQL type are carried.
//
// Every value crosses the driver as the type's text form: pgoutput sends
// text, snapshots ask for text results, and the sink sends text parameters
// of unspecified type that the server parses with the column's own input
// function. One decoder and one encoder therefore serve capture, backfill and
// apply, and nothing passes through a lossy Go type on the way (numeric
// never becomes a float). The sessions pin the settings that shape the text
// (DateStyle ISO, TimeZone UTC, IntervalStyle postgres, bytea_output hex,
// extra_float_digits 3): see sessionParams.
type pgType struct {
	oid  uint32
	name string // format_type(oid, NULL), e.g. "numeric", "integer[]"
	kind change.Kind
	elem *pgType // element type of an array
}

// sessionParams are set on every connection so that the text form of values
// is the same whatever the server's or the DSN's defaults are.
var sessionParams = map[string]string{
	"DateStyle":          "ISO, YMD",
	"IntervalStyle":      "postgres",
	"TimeZone":           "UTC",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
	"client_encoding":    "UTF8",
}

// builtinTypes maps the OIDs of the built-in types to how they are carried.
// Other types (enums, domains, arrays of them, extensions) are looked up in
// pg_type once per store; see store.typeOf.
var builtinTypes = func() map[uint32]*pgType {
	m := map[uint32]*pgType{}
	add := func(oid, arrayOID uint32, name string, k change.Kind) {
		t := &pgType{oid: oid, name: name, kind: k}
		m[oid] = t
		if arrayOID != 0 {
			m[arrayOID] = &pgType{oid: arrayOID, name: name + "[]", kind: change.KindArray, elem: t}
		}
	}
	add(16, 1000, "boolean", change.KindBool)
	add(17, 1001, "bytea", change.KindBytes)
	add(18, 1002, `"char"`, change.KindText)
	add(19, 1003, "name", change.KindText)
	add(20, 1016, "bigint", change.KindInt)
	add(21, 1005, "smallint", change.KindInt)
	add(23, 1007, "integer", change.KindInt)
	add(25, 1009, "text", change.KindText)
	add(26, 1028, "oid", change.KindInt)
	add(114, 199, "json", change.KindJSON)
	add(700, 1021, "real", change.KindFloat)
	add(701, 1022, "double precision", change.KindFloat)
	add(1042, 1014, "character", change.KindText)
	add(1043, 1015, "character varying", change.KindText)
	add(1082, 1182, "date", change.KindDate)
	add(1083, 1183, "time without time zone", change.KindTime)
	add(1114, 1115, "timestamp without time zone", change.KindTimestamp)
	add(1184, 1185, "timestamp with time zone", change.KindTimestamp)
	add(1186, 1187, "interval", change.KindText)
	add(1266, 1270, "time with time zone", change.KindTime)
	add(1700, 1231, "numeric", change.KindDecimal)
	add(2950, 2951, "uuid", change.KindUUID)
	add(3802, 3807, "jsonb", change.KindJSON)
	return m
}()

// decodeText turns the text form of a value of type t into a Value. A text
// the mapping cannot represent exactly (numeric NaN, infinite or BC
// timestamps, arrays with explicit bounds) is carried as KindUnknown with
// the type's name, so it still round-trips to PostgreSQL unchanged.
func decodeText(t *pgType, s string) (change.Value, error) {
	switch t.kind {
	case change.KindBool:
		switch s {
		case "t":
			return change.Bool(true), nil
		case "f":
			return change.Bool(false), nil
		}
		return change.Value{}, fmt.Errorf("%s value %q: not a boolean", t.name, s)
	case change.KindInt:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return change.Value{}, fmt.Errorf("%s value %q: %w", t.name, s, err)
		}
		return change.Int(i), nil
	case change.KindFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return change.Value{}, fmt.Errorf("%s value %q: %w", t.name, s, err)
		}
		return change.Float(f), nil
	case change.KindDecimal:
		if v, err := change.Decimal(s); err == nil {
			return v, nil
		}
	case change.KindText:
		return change.Text(s), nil
	case change.KindBytes:
		if b, ok := decodeBytea(s); ok {
			return change.Bytes(b), nil
		}
		return change.Value{}, fmt.Errorf("%s value: not hex bytea output", t.name)
	case change.KindTimestamp:
		if ts, ok := parseTimestamp(s); ok {
			return change.Timestamp(ts), nil
		}
	case change.KindDate:
		if d, err := time.Parse(time.DateOnly, s); err == nil {
			return change.Date(d), nil
		}
	case change.KindTime:
		return change.TimeOfDay(s), nil
	case change.KindJSON:
		return change.JSON(s), nil
	case change.KindUUID:
		return change.UUID(s), nil
	case change.KindArray:
		if v, ok, err := decodeArray(t.elem, s); ok || err != nil {
			return v, err
		}
	}
	return change.Unknown(s, t.name), nil
}

// parseTimestamp reads timestamp and timestamptz output in ISO DateStyle:
// "2024-01-02 03:04:05.123456" or with a zone offset "+00", "+05:30",
// "-03:00:12". A value without an offset is read as UTC.
func parseTimestamp(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' {
		return time.Time{}, false // infinity, years past 9999, BC
	}
	rest := s[19:]
	if i := strings.IndexAny(rest, "+-"); i >= 0 {
		layout := "2006-01-02 15:04:05-07"
		switch len(rest) - i {
		case 6:
			layout = "2006-01-02 15:04:05-07:00"
		case 9:
			layout = "2006-01-02 15:04:05-07:00:00"
		}
		t, err := time.Parse(layout, s)
		return t, err == nil
	}
	if strings.HasSuffix(rest, " BC") {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02 15:04:05", s)
	return t, err == nil
}

func decodeBytea(s string) ([]byte, bool) {
	if !strings.HasPrefix(s, `\x`) {
		return nil, false
	}
	b, err := hex.DecodeString(s[2:])
	return b, err == nil
}

// decodeArray parses a one- or multi-dimensional array literal such as
// {1,NULL,"a \"b\""} or {{1,2},{3,4}}. ok is false for literals it does not
// map (explicit bounds like [0:1]={...}).
func decodeArray(elem *pgType, s string) (v change.Value, ok bool, err error) {
	if !strings.HasPrefix(s, "{") {
		return change.Value{}, false, nil
	}
	p := arrayParser{s: s, elem: elem}
	v, err = p.array()
	if err == nil && p.i != len(s) {
		err = fmt.Errorf("trailing text at %d", p.i)
	}
	if err != nil {
		return change.Value{}, false, fmt.Errorf("%s[] value %q: %w", elem.name, s, err)
	}
	return v, true, nil
}

type arrayParser struct {
	s    string
	i    int
	elem *pgType
}

func (p *arrayParser) array() (change.Value, error) {
	p.i++ // '{'
	var out []change.Value
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return change.Array([]change.Value{}), nil
	}
	for {
		if p.i >= len(p.s) {
			return change.Value{}, fmt.Errorf("unterminated array")
		}
		v, err := p.element()
		if err != nil {
			return change.Value{}, err
		}
		out = append(out, v)
		if p.i >= len(p.s) {
			return change.Value{}, fmt.Errorf("unterminated array")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return change.Array(out), nil
		default:
			return change.Value{}, fmt.Errorf("unexpected %q at %d", p.s[p.i], p.i)
		}
	}
}

func (p *arrayParser) element() (change.Value, error) {
	switch p.s[p.i] {
	case '{':
		return p.array()
	case '"':
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			switch c := p.s[p.i]; c {
			case '\\':
				p.i++
				if p.i < len(p.s) {
					b.WriteByte(p.s[p.i])
				}
			case '"':
				p.i++
				return decodeText(p.elem, b.String())
			default:
				b.WriteByte(c)
			}
		}
		return change.Value{}, fmt.Errorf("unterminated quoted element")
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '}' {
		p.i++
	}
	raw := strings.TrimSpace(p.s[start:p.i])
	if raw == "NULL" {
		return change.Null, nil
	}
	return decodeText(p.elem, raw)
}

// encodeText returns the text PostgreSQL's input functions read back as v;
// ok is false for NULL.
func encodeText(v change.Value) (s string, ok bool) {
	switch v.Kind {
	case change.KindText, change.KindDecimal, change.KindJSON, change.KindUUID, change.KindTime, change.KindUnknown:
		return v.String(), true // already text: no copy
	}
	b, ok := appendText(nil, v)
	return string(b), ok
}

// appendText appends what encodeText returns to dst.
func appendText(dst []byte, v change.Value) ([]byte, bool) {
	switch v.Kind {
	case change.KindNull, 0:
		return dst, false
	case change.KindBool:
		if v.AsBool() {
			return append(dst, 't'), true
		}
		return append(dst, 'f'), true
	case change.KindInt:
		return strconv.AppendInt(dst, v.AsInt(), 10), true
	case change.KindFloat:
		f := v.AsFloat()
		switch {
		case math.IsNaN(f):
			return append(dst, "NaN"...), true
		case math.IsInf(f, 1):
			return append(dst, "Infinity"...), true
		case math.IsInf(f, -1):
			return append(dst, "-Infinity"...), true
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), true
	case change.KindBytes:
		return hex.AppendEncode(append(dst, `\x`...), v.AsBytes()), true
	case change.KindTimestamp:
		// Read as UTC by timestamptz; the offset is ignored by timestamp,
		// which is carried as UTC too.
		return append(v.AsTime().UTC().AppendFormat(dst, "2006-01-02 15:04:05.999999"), "+00"...), true
	case change.KindDate:
		return v.AsTime().AppendFormat(dst, time.DateOnly), true
	case change.KindArray:
		return append(dst, encodeArray(v.AsArray())...), true
	}
	return append(dst, v.String()...), true
}

// encodeArray writes an array literal with every element quoted, so no
// element text needs to be inspected for delimiters.
func encodeArray(vs []change.Value) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		if e.Kind == change.KindArray {
			b.WriteString(encodeArray(e.AsArray()))
			continue
		}
		s, ok := encodeText(e)
		if !ok {
			b.WriteString("NULL")
			continue
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			if s[j] == '"' || s[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
