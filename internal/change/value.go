package change

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a Value. The zero Kind is invalid so that an
// uninitialised Value is caught rather than read as NULL.
type Kind int

// The kinds a Value can have.
const (
	KindNull Kind = iota + 1
	KindBool
	KindInt
	KindDecimal // exact decimal, kept as its canonical text
	KindFloat
	KindText
	KindBytes
	KindTimestamp // instant with zone, microsecond precision
	KindDate      // calendar date, no zone
	KindTime      // time of day, kept as text "15:04:05.999999"
	KindJSON      // JSON document, kept as its text
	KindUUID      // canonical lower-case text form
	KindArray
	KindUnknown // a source type no mapping exists for, carried as text with TypeName
)

var kindNames = [...]string{
	KindNull: "null", KindBool: "bool", KindInt: "int", KindDecimal: "decimal",
	KindFloat: "float", KindText: "text", KindBytes: "bytes", KindTimestamp: "timestamp",
	KindDate: "date", KindTime: "time", KindJSON: "json", KindUUID: "uuid",
	KindArray: "array", KindUnknown: "unknown",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s && k > 0 {
			return Kind(k), true
		}
	}
	return 0, false
}

// Value is one typed column value. Only the field that belongs to Kind is
// meaningful; construct Values with the helpers below.
//
// The struct is kept under 128 bytes on purpose: Go stores larger map values
// out of line, which would cost one allocation per column of every Row.
// Booleans, integers, float bits and timestamps (Unix microseconds, UTC)
// share one int64.
type Value struct {
	Kind Kind
	i    int64  // bool (0/1), int, float64 bits, timestamp/date as Unix microseconds
	s    string // decimal, text, time, json, uuid, unknown
	raw  []byte
	arr  []Value
	// TypeName is the source's own name of the type when Kind is KindUnknown
	// (and optionally otherwise): carried so nothing is silently re-typed.
	TypeName string
}

// Null is the SQL NULL.
var Null = Value{Kind: KindNull}

// Bool returns a boolean Value.
func Bool(b bool) Value {
	if b {
		return Value{Kind: KindBool, i: 1}
	}
	return Value{Kind: KindBool}
}

// Int returns an integer Value.
func Int(i int64) Value { return Value{Kind: KindInt, i: i} }

// Float returns a floating point Value.
func Float(f float64) Value { return Value{Kind: KindFloat, i: int64(math.Float64bits(f))} }

// Text returns a text Value.
func Text(s string) Value { return Value{Kind: KindText, s: s} }

// Bytes returns a binary Value. The slice is not copied.
func Bytes(b []byte) Value { return Value{Kind: KindBytes, raw: b} }

// Timestamp returns an instant truncated to microseconds, in UTC.
func Timestamp(t time.Time) Value {
	return Value{Kind: KindTimestamp, i: t.UnixMicro()}
}

// Date returns a calendar date (the clock part of t is dropped).
func Date(t time.Time) Value {
	y, m, d := t.Date()
	return Value{Kind: KindDate, i: time.Date(y, m, d, 0, 0, 0, 0, time.UTC).UnixMicro()}
}

// TimeOfDay returns a time-of-day Value from its text form.
func TimeOfDay(s string) Value { return Value{Kind: KindTime, s: s} }

// JSON returns a JSON document Value from its text.
func JSON(s string) Value { return Value{Kind: KindJSON, s: s} }

// UUID returns a UUID Value from its text.
func UUID(s string) Value { return Value{Kind: KindUUID, s: strings.ToLower(s)} }

// Array returns an array Value.
func Array(vs []Value) Value { return Value{Kind: KindArray, arr: vs} }

// Unknown returns a Value of a type no mapping exists for, as its text and
// the source's type name.
func Unknown(text, typeName string) Value {
	return Value{Kind: KindUnknown, s: text, TypeName: typeName}
}

// Decimal returns an exact decimal Value from its text. The text is checked
// and canonicalised (no leading '+', no leading zeros) but its scale is kept:
// "12.30" stays "12.30".
func Decimal(s string) (Value, error) {
	c, err := canonicalDecimal(s)
	if err != nil {
		return Value{}, err
	}
	return Value{Kind: KindDecimal, s: c}, nil
}

// MustDecimal is Decimal for literals known to be valid; it panics otherwise.
func MustDecimal(s string) Value {
	v, err := Decimal(s)
	if err != nil {
		panic(err)
	}
	return v
}

func canonicalDecimal(s string) (string, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "nan", "infinity", "+infinity", "-infinity", "inf", "+inf", "-inf":
		return "", fmt.Errorf("decimal %q: not a finite number", s)
	}
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	intPart, frac, hasDot := strings.Cut(t, ".")
	if intPart == "" && frac == "" {
		return "", fmt.Errorf("decimal %q: no digits", s)
	}
	for _, p := range []string{intPart, frac} {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return "", fmt.Errorf("decimal %q: invalid character %q", s, p[i])
			}
		}
	}
	if canonical(t, intPart, frac, hasDot) {
		// Already in canonical form: t itself, or with its minus sign, is
		// the result (no string is built).
		if neg {
			return strings.TrimSpace(s), nil
		}
		return t, nil
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if hasDot && frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, nil
}

// canonical reports whether the digits of a decimal (t, split into intPart
// and frac, without its sign) are already in the form canonicalDecimal
// builds: no leading zeros but a lone "0", a fraction only when it has
// digits, and a minus sign only on a non-zero value (the caller strips it).
func canonical(t, intPart, frac string, hasDot bool) bool {
	if intPart == "" || len(intPart) > 1 && intPart[0] == '0' || hasDot && frac == "" {
		return false
	}
	if intPart == "0" && strings.Trim(frac, "0") == "" {
		return false // zero: its sign, if any, is dropped
	}
	return len(t) == len(intPart)+len(frac)+boolInt(hasDot)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// IsNull reports whether v is NULL.
func (v Value) IsNull() bool { return v.Kind == KindNull }

// AsBool returns the boolean of a KindBool Value.
func (v Value) AsBool() bool { return v.i != 0 }

// AsInt returns the integer of a KindInt Value.
func (v Value) AsInt() int64 { return v.i }

// AsFloat returns the float of a KindFloat Value.
func (v Value) AsFloat() float64 { return math.Float64frombits(uint64(v.i)) }

// AsBytes returns the bytes of a KindBytes Value.
func (v Value) AsBytes() []byte { return v.raw }

// AsTime returns the instant of a KindTimestamp or KindDate Value.
func (v Value) AsTime() time.Time { return time.UnixMicro(v.i).UTC() }

// AsArray returns the elements of a KindArray Value.
func (v Value) AsArray() []Value { return v.arr }

// String returns the canonical text of v: exact for decimals, RFC 3339 with
// microseconds for timestamps, base64 for bytes, "NULL" for NULL. It is the
// form used for keys, checksums and display.
func (v Value) String() string {
	switch v.Kind {
	case KindNull:
		return "NULL"
	case KindBool:
		return strconv.FormatBool(v.AsBool())
	case KindInt:
		return strconv.FormatInt(v.i, 10)
	case KindFloat:
		return strconv.FormatFloat(v.AsFloat(), 'g', -1, 64)
	case KindBytes:
		return base64.StdEncoding.EncodeToString(v.raw)
	case KindTimestamp:
		return v.AsTime().Format(TimestampLayout)
	case KindDate:
		return v.AsTime().Format(time.DateOnly)
	case KindArray:
		parts := make([]string, len(v.arr))
		for i, e := range v.arr {
			parts[i] = e.String()
		}
		return "{" + strings.Join(parts, ",") + "}"
	default:
		return v.s
	}
}

// TimestampLayout is the canonical text form of a timestamp: UTC, always six
// fractional digits.
const TimestampLayout = "2006-01-02T15:04:05.000000Z07:00"

// Equal reports whether a and b hold the same typed value. Decimals compare
// by numeric value ("1.50" equals "1.5"); floats compare bit-exactly except
// that NaN equals NaN.
func Equal(a, b Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case KindNull:
		return true
	case KindBool, KindInt, KindTimestamp, KindDate:
		return a.i == b.i
	case KindFloat:
		af, bf := a.AsFloat(), b.AsFloat()
		return af == bf || (math.IsNaN(af) && math.IsNaN(bf))
	case KindDecimal:
		return trimDecimal(a.s) == trimDecimal(b.s)
	case KindBytes:
		return bytes.Equal(a.raw, b.raw)
	case KindArray:
		if len(a.arr) != len(b.arr) {
			return false
		}
		for i := range a.arr {
			if !Equal(a.arr[i], b.arr[i]) {
				return false
			}
		}
		return true
	default:
		return a.s == b.s && a.TypeName == b.TypeName
	}
}

// trimDecimal drops trailing fractional zeros so that scale does not matter.
func trimDecimal(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// Compare orders two Values of the same kind; it is used for key ordering.
// NULL sorts first; values of different kinds order by kind.
func Compare(a, b Value) int {
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	switch a.Kind {
	case KindNull:
		return 0
	case KindBool, KindInt, KindTimestamp, KindDate:
		return cmp3(a.i < b.i, a.i > b.i)
	case KindFloat:
		af, bf := a.AsFloat(), b.AsFloat()
		return cmp3(af < bf, af > bf)
	case KindDecimal:
		return compareDecimal(a.s, b.s)
	case KindBytes:
		return bytes.Compare(a.raw, b.raw)
	default:
		return strings.Compare(a.String(), b.String())
	}
}

func cmp3(less, more bool) int {
	switch {
	case less:
		return -1
	case more:
		return 1
	}
	return 0
}

func compareDecimal(a, b string) int {
	an, bn := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	if an != bn {
		if an {
			return -1
		}
		return 1
	}
	c := compareAbsDecimal(strings.TrimPrefix(a, "-"), strings.TrimPrefix(b, "-"))
	if an {
		return -c
	}
	return c
}

func compareAbsDecimal(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	if len(ai) != len(bi) {
		return cmp3(len(ai) < len(bi), len(ai) > len(bi))
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	for len(af) < len(bf) {
		af += "0"
	}
	for len(bf) < len(af) {
		bf += "0"
	}
	return strings.Compare(af, bf)
}

// jsonValue is the tagged wire form of a Value: {"k":"decimal","v":"12.30"}.
type jsonValue struct {
	K string          `json:"k"`
	V json.RawMessage `json:"v,omitempty"`
	T string          `json:"t,omitempty"`
}

// MarshalJSON encodes v with its kind so it decodes back to an equal Value.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.Kind == 0 {
		return nil, fmt.Errorf("marshal value: invalid kind 0")
	}
	jv := jsonValue{K: v.Kind.String(), T: v.TypeName}
	var payload any
	switch v.Kind {
	case KindNull:
	case KindBool:
		payload = v.AsBool()
	case KindInt:
		payload = strconv.FormatInt(v.i, 10) // as text: JSON numbers lose int64 precision in other readers
	case KindFloat:
		payload = strconv.FormatFloat(v.AsFloat(), 'g', -1, 64)
	case KindArray:
		payload = v.arr
	default:
		payload = v.String()
	}
	if payload != nil {
		raw, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		jv.V = raw
	}
	return json.Marshal(jv)
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (v *Value) UnmarshalJSON(data []byte) error {
	var jv jsonValue
	if err := json.Unmarshal(data, &jv); err != nil {
		return err
	}
	k, ok := ParseKind(jv.K)
	if !ok {
		return fmt.Errorf("unmarshal value: unknown kind %q", jv.K)
	}
	if k == KindNull {
		*v = Null
		return nil
	}
	if k == KindArray {
		var arr []Value
		if err := json.Unmarshal(jv.V, &arr); err != nil {
			return err
		}
		*v = Array(arr)
		return nil
	}
	if k == KindBool {
		var b bool
		if err := json.Unmarshal(jv.V, &b); err != nil {
			return err
		}
		*v = Bool(b)
		return nil
	}
	var s string
	if err := json.Unmarshal(jv.V, &s); err != nil {
		return err
	}
	out, err := Parse(k, s)
	if err != nil {
		return err
	}
	out.TypeName = jv.T
	*v = out
	return nil
}

// Parse builds a Value of kind k from its canonical text (the inverse of
// Value.String for every kind but arrays).
func Parse(k Kind, s string) (Value, error) {
	switch k {
	case KindNull:
		return Null, nil
	case KindBool:
		b, err := strconv.ParseBool(s)
		return Bool(b), err
	case KindInt:
		i, err := strconv.ParseInt(s, 10, 64)
		return Int(i), err
	case KindFloat:
		f, err := strconv.ParseFloat(s, 64)
		return Float(f), err
	case KindDecimal:
		return Decimal(s)
	case KindText:
		return Text(s), nil
	case KindBytes:
		b, err := base64.StdEncoding.DecodeString(s)
		return Bytes(b), err
	case KindTimestamp:
		t, err := ParseTimestamp(s)
		return Timestamp(t), err
	case KindDate:
		t, err := time.Parse(time.DateOnly, s)
		return Date(t), err
	case KindTime:
		return TimeOfDay(s), nil
	case KindJSON:
		return JSON(s), nil
	case KindUUID:
		return UUID(s), nil
	case KindUnknown:
		return Unknown(s, ""), nil
	}
	return Value{}, fmt.Errorf("parse value: unsupported kind %v", k)
}

// timestampLayouts are the text forms of timestamps found in the wild, most
// specific first. Forms without a zone are read as UTC.
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	time.DateOnly,
}

// ParseTimestamp reads a timestamp in any of the common text forms.
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: unrecognised format", s)
}
