package sqlpoll

import (
	"os"
	"strings"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
)

// TestCursorGolden proves a cursor stored by v1 still parses.
func TestCursorGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/position_v1.golden")
	if err != nil {
		t.Fatal(err)
	}
	stored := change.Position(strings.TrimSpace(string(b)))
	c, err := ParseCursor(stored)
	if err != nil {
		t.Fatalf("parse golden %q: %v", stored, err)
	}
	want := Cursor{change.Text("2024-05-06 07:08:09"), change.Int(42)}
	if c.Compare(want) != 0 || c[0].Kind != change.KindText || c[1].Kind != change.KindInt {
		t.Errorf("golden = %v, want %v", c, want)
	}
	if got := c.Bytes(); string(got) != string(stored) {
		t.Errorf("re-encoded = %q, want %q", got, stored)
	}
}

func TestCursorOrderAndEmpty(t *testing.T) {
	empty, err := ParseCursor(nil)
	if err != nil || len(empty) != 0 {
		t.Fatalf("parse nil = %v, %v", empty, err)
	}
	e2, err := ParseCursor(Cursor{}.Bytes())
	if err != nil || len(e2) != 0 {
		t.Fatalf("parse empty = %v, %v", e2, err)
	}
	a := Cursor{change.Text("2024-05-06 07:08:09"), change.Int(2)}
	b := Cursor{change.Text("2024-05-06 07:08:09"), change.Int(10)}
	c := Cursor{change.Text("2024-05-06 07:08:10"), change.Int(1)}
	for _, pair := range [][2]Cursor{{empty, a}, {a, b}, {b, c}, {empty, c}} {
		if pair[0].Compare(pair[1]) >= 0 || pair[1].Compare(pair[0]) <= 0 {
			t.Errorf("%v should sort before %v", pair[0], pair[1])
		}
	}
	for _, bad := range []string{"poll:v2:[]", "poll:v1:{", "sqlite-log:v1:1"} {
		if _, err := ParseCursor(change.Position(bad)); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
}

// TestCursorValueRoundTrip: every raw type a database/sql driver returns
// binds back as the same Go value.
func TestCursorValueRoundTrip(t *testing.T) {
	for _, raw := range []any{nil, int64(-3), 2.5, true, "2024-05-06 07:08:09", []byte{1, 2}} {
		v, err := cursorValue(raw)
		if err != nil {
			t.Fatalf("cursorValue(%#v): %v", raw, err)
		}
		p := Cursor{v}.Bytes()
		c, err := ParseCursor(p)
		if err != nil {
			t.Fatalf("parse %s: %v", p, err)
		}
		back := cursorArg(c[0])
		if b, ok := raw.([]byte); ok {
			if string(back.([]byte)) != string(b) {
				t.Errorf("%#v came back as %#v", raw, back)
			}
			continue
		}
		if back != raw {
			t.Errorf("%#v came back as %#v", raw, back)
		}
	}
	if _, err := cursorValue(struct{}{}); err == nil {
		t.Error("cursorValue accepted an unsupported type")
	}
}
