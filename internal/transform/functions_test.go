package transform

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/syncbridge/syncbridge/internal/change"
)

// eval maps one insert of sourceRow with a single expression column into a
// target of unknown shape, so results keep their natural kind.
func eval(t *testing.T, src string, mutate func(change.Row)) (change.Value, error) {
	t.Helper()
	m, err := Compile(Spec{Flow: "f", Source: sourceTable(), TargetTable: "t", Columns: cols("cust_id", "cust_id", "x", src)})
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	row := sourceRow()
	if mutate != nil {
		mutate(row)
	}
	out, _, err := m.Apply(insertOf(row))
	return out.After["x"], err
}

func TestFunctions(t *testing.T) {
	null := func(col string) func(change.Row) { return func(r change.Row) { r[col] = change.Null } }
	tests := []struct {
		src    string
		mutate func(change.Row)
		want   change.Value
	}{
		{`upper(status)`, nil, change.Text("A")},
		{`upper(last_nm)`, nil, change.Null},
		{`trim("  a b ")`, nil, change.Text("a b")},
		{`trim("xxaxx", "x")`, nil, change.Text("a")},
		{`trim(last_nm)`, nil, change.Null},
		{`trimPrefix(cust_nm, "Ada ")`, nil, change.Text("Lovelace")},
		{`trimSuffix(cust_nm, " Lovelace")`, nil, change.Text("Ada")},
		{`trimSuffix(last_nm, "x")`, nil, change.Null},
		{`replace(cust_nm, "a", "4")`, nil, change.Text("Ad4 Lovel4ce")},
		{`replace(last_nm, "a", "4")`, nil, change.Null},
		{`coalesce(last_nm, email_adr, "x")`, null("email_adr"), change.Text("x")},
		{`coalesce(last_nm)`, nil, change.Null},
		{`hash(last_nm)`, nil, change.Null},
		{`split_part(cust_nm, " ", 3)`, nil, change.Text("")},
		{`split_part(last_nm, " ", 1)`, nil, change.Null},
		{`concat_ws("-", cust_id, score, active, upd_ts)`, nil, change.Text("7-2.5-true-2026-02-01T09:30:00Z")},
		{`concat_ws("-", last_nm)`, nil, change.Text("")},
		{`concat(first_nm, " ", last_nm, "/", cust_id)`, nil, change.Text("Ada /7")},
		{`concat()`, nil, change.Text("")},
		{`decimal(balance) + decimal(cust_id) + decimal(score)`, nil, change.Float(21.8)},
		{`decimal(last_nm)`, nil, change.Null},
		{`now() > upd_ts`, nil, change.Bool(true)},
		{`date("2026-01-02")`, nil, change.Timestamp(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))},
		{`[cust_id, status]`, nil, change.Array([]change.Value{change.Int(7), change.Text("A")})},
		{`{"a": 1}`, nil, change.JSON(`{"a":1}`)},
		{`nil`, nil, change.Null},
		{`1.5`, nil, change.Float(1.5)},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := eval(t, tt.src, tt.mutate)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, valueCmp); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFunctionErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`decimal("abc")`, `decimal: "abc" is not a number`},
		{`lower(coalesce(last_nm, 1))`, "lower: want a string, got int"},
		{`hash(coalesce(last_nm, 1))`, "hash: want a string or bytes, got int"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := eval(t, tt.src, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestGoValue(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	tests := []struct {
		in   change.Value
		want any
	}{
		{change.Null, nil},
		{change.Bool(true), true},
		{change.Int(-3), int64(-3)},
		{change.Float(0.5), 0.5},
		{change.MustDecimal("12.30"), "12.30"},
		{change.Text("t"), "t"},
		{change.Bytes([]byte{1}), []byte{1}},
		{change.Timestamp(ts), ts},
		{change.Date(ts), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		{change.TimeOfDay("10:00:00"), "10:00:00"},
		{change.JSON(`{"a":1}`), `{"a":1}`},
		{change.UUID("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{change.Array([]change.Value{change.Int(1), change.Null}), []any{int64(1), nil}},
		{change.Unknown("(1,2)", "point"), "(1,2)"},
	}
	for _, tt := range tests {
		if got := goValue(tt.in); !cmp.Equal(got, tt.want) {
			t.Errorf("goValue(%v) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	for k := change.KindNull; k <= change.KindUnknown; k++ {
		if k != change.KindNull && zeroOf(k) == nil {
			t.Errorf("zeroOf(%v) = nil", k)
		}
	}
}

func TestToValue(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		res  any
		kind change.Kind
		want change.Value
		err  string
	}{
		{"nil into anything", nil, change.KindDecimal, change.Null, ""},
		{"int8", int8(3), 0, change.Int(3), ""},
		{"uint", uint(3), change.KindInt, change.Int(3), ""},
		{"uint overflow", uint64(math.MaxUint64), 0, change.Value{}, "overflows"},
		{"float32", float32(0.5), 0, change.Float(0.5), ""},
		{"[]string", []string{"a"}, 0, change.Array([]change.Value{change.Text("a")}), ""},
		{"time", ts, 0, change.Timestamp(ts), ""},
		{"unsupported", struct{}{}, 0, change.Value{}, "cannot be stored"},
		{"int into float", 2, change.KindFloat, change.Float(2), ""},
		{"NaN into decimal", math.NaN(), change.KindDecimal, change.Value{}, "not a finite number"},
		{"huge float into int", 1e300, change.KindInt, change.Value{}, "64-bit range"},
		{"text into int", " 42 ", change.KindInt, change.Int(42), ""},
		{"text into float", "1.5", change.KindFloat, change.Float(1.5), ""},
		{"text into bool", "true", change.KindBool, change.Bool(true), ""},
		{"text into date", "2026-01-02", change.KindDate, change.Date(ts), ""},
		{"timestamp into date", ts, change.KindDate, change.Date(ts), ""},
		{"bad time of day", "25:00", change.KindTime, change.Value{}, "not a time of day"},
		{"text into time", "03:04:05.5", change.KindTime, change.TimeOfDay("03:04:05.5"), ""},
		{"hh:mm into time", "03:04", change.KindTime, change.TimeOfDay("03:04:00"), ""},
		{"timestamp into time", ts, change.KindTime, change.TimeOfDay("03:04:05"), ""},
		{"bare uuid", "a0eebc999c0b4ef8bb6d6bb9bd380a11", change.KindUUID, change.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), ""},
		{"uuid with bad char", "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", change.KindUUID, change.Value{}, "not a UUID"},
		{"uuid with bad dash", "a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11", change.KindUUID, change.Value{}, "not a UUID"},
		{"number into json", 4, change.KindJSON, change.JSON("4"), ""},
		{"array into json", []any{1, "a"}, change.KindJSON, change.JSON(`[1,"a"]`), ""},
		{"text into bytes", "ab", change.KindBytes, change.Bytes([]byte("ab")), ""},
		{"bytes into text", []byte("ab"), change.KindText, change.Value{}, "no exact conversion"},
		{"bool into int", true, change.KindInt, change.Value{}, "no exact conversion"},
		{"anything into unknown", 3, change.KindUnknown, change.Int(3), ""},
		{"long value is shortened", strings.Repeat("x", 100), change.KindInt, change.Value{}, `"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toValue(tt.res, tt.kind)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, valueCmp); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
