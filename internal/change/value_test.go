package change

import (
	"encoding/json"
	"math"
	"testing"
	"time"
	"unsafe"
)

func TestValueFitsInlineInMaps(t *testing.T) {
	if n := unsafe.Sizeof(Value{}); n > 128 {
		t.Fatalf("Value is %d bytes; over 128 every Row column costs an allocation", n)
	}
}

func TestDecimalIsExactAndCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"12.30": "12.30", "+007.5": "7.5", "-0.00": "0.00", "0": "0", ".5": "0.5",
		"123456789012345678901234567890.123456789": "123456789012345678901234567890.123456789",
	} {
		v, err := Decimal(in)
		if err != nil || v.String() != want {
			t.Errorf("Decimal(%q) = %q, %v; want %q", in, v.String(), err, want)
		}
	}
	for _, bad := range []string{"", "abc", "1.2.3", "NaN", "1e5", "--1"} {
		if _, err := Decimal(bad); err == nil {
			t.Errorf("Decimal(%q) accepted", bad)
		}
	}
	if !Equal(MustDecimal("1.50"), MustDecimal("1.5")) || Equal(MustDecimal("1.5"), MustDecimal("1.51")) {
		t.Error("decimal equality must ignore scale only")
	}
	if Compare(MustDecimal("-10.5"), MustDecimal("-9")) >= 0 || Compare(MustDecimal("100"), MustDecimal("99.999")) <= 0 {
		t.Error("decimal order is numeric")
	}
}

func TestTimestampKeepsMicroseconds(t *testing.T) {
	in := time.Date(2026, 11, 22, 10, 11, 12, 123456789, time.FixedZone("x", 3600))
	v := Timestamp(in)
	if got := v.String(); got != "2026-11-22T09:11:12.123456Z" {
		t.Errorf("String = %q", got)
	}
	if !v.AsTime().Equal(in.Truncate(time.Microsecond)) {
		t.Errorf("AsTime = %v", v.AsTime())
	}
	p, err := ParseTimestamp("2026-01-02 03:04:05.123456")
	if err != nil || p.Nanosecond() != 123456000 {
		t.Errorf("ParseTimestamp: %v %v", p, err)
	}
}

func TestNullIsNotEmptyText(t *testing.T) {
	if Equal(Null, Text("")) {
		t.Fatal("NULL equals empty text")
	}
}

func TestJSONRoundTripEveryKind(t *testing.T) {
	vals := []Value{
		Null, Bool(true), Bool(false), Int(math.MinInt64), Int(math.MaxInt64), Float(0.1), Float(math.Inf(-1)),
		MustDecimal("-0.000000000000000000000001"), Text("héllo \x00 ✓"), Text(""), Bytes([]byte{0, 1, 255}),
		Timestamp(time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC)), Date(time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC)),
		TimeOfDay("23:59:59.999999"), JSON(`{"a":[1,2]}`), UUID("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
		Array([]Value{Int(1), Null, Text("x")}), Unknown("(1,2)", "point"),
	}
	for _, v := range vals {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal %v: %v", v, err)
		}
		var back Value
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", raw, err)
		}
		if !Equal(v, back) || v.Kind != back.Kind {
			t.Errorf("%s: round trip gave %v (%v), want %v (%v)", raw, back, back.Kind, v, v.Kind)
		}
	}
}

func TestKeyOrder(t *testing.T) {
	a, b := Key{Int(1), Text("b")}, Key{Int(1), Text("c")}
	if a.Compare(b) >= 0 || b.Compare(a) <= 0 || a.Compare(a) != 0 {
		t.Error("key compare")
	}
}
