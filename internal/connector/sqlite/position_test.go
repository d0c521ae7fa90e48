package sqlite

import (
	"os"
	"strings"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
)

// TestPositionGolden proves a position stored by v1 still parses.
func TestPositionGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/position_v1.golden")
	if err != nil {
		t.Fatal(err)
	}
	stored := change.Position(strings.TrimSpace(string(b)))
	p, err := ParsePosition(stored)
	if err != nil {
		t.Fatalf("parse golden %q: %v", stored, err)
	}
	if p.ID != 42 {
		t.Errorf("golden id = %d, want 42", p.ID)
	}
	if got := p.Bytes(); string(got) != string(stored) {
		t.Errorf("re-encoded = %q, want %q", got, stored)
	}
}

func TestPositionParse(t *testing.T) {
	if p, err := ParsePosition(nil); err != nil || p.ID != 0 {
		t.Errorf("parse nil = %v, %v; want start of log", p, err)
	}
	for _, bad := range []string{"42", "sqlite-log:v2:1", "sqlite-log:v1:x", "sqlite-log:v1:-1", "poll:v1:[]"} {
		if _, err := ParsePosition(change.Position(bad)); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
	a, b := Position{ID: 9}, Position{ID: 10}
	if a.Compare(b) >= 0 || b.Compare(a) <= 0 || a.Compare(a) != 0 {
		t.Error("Compare is not an order")
	}
	// Encoded positions of different digit counts still compare by number.
	if pa, _ := ParsePosition(a.Bytes()); pa.Compare(b) >= 0 {
		t.Error("round trip broke the order")
	}
}
