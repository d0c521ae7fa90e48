package postgres

import (
	"fmt"
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
)

func fmtInts(xs []int) string { return fmt.Sprint(xs) }

func up(id int64, cols ...string) change.Change {
	r := change.Row{"id": change.Int(id)}
	for _, c := range cols {
		r[c] = change.Text(fmt.Sprintf("%s%d", c, id))
	}
	return change.Change{Op: change.OpUpdate, Key: change.Key{change.Int(id)}, After: r}
}

func del(id int64) change.Change {
	return change.Change{Op: change.OpDelete, Key: change.Key{change.Int(id)}}
}

// TestPlanKeepsPerKeyOrder checks segmenting: a key's delete and upsert
// never share a segment, repeated upserts merge columns, later values win.
func TestPlanKeepsPerKeyOrder(t *testing.T) {
	a := up(1, "a", "big")
	b := up(1, "a") // a TOAST-unchanged "big": absent
	b.After["a"] = change.Text("second")
	segs := plan([]change.Change{a, up(2, "a"), b, del(3), del(2), up(2, "a"), del(3), up(4)})
	if len(segs) != 3 {
		t.Fatalf("segments = %d, want 3", len(segs))
	}
	s0 := segs[0]
	if len(s0.upserts) != 2 || len(s0.deletes) != 1 {
		t.Fatalf("segment 0: %d upserts, %d deletes; want 2, 1", len(s0.upserts), len(s0.deletes))
	}
	merged := s0.upserts[0]
	if merged.values["a"].String() != "second" || merged.values["big"].String() != "big1" || len(merged.values) != 3 {
		t.Errorf("merged row = %v", merged.values)
	}
	if a.After["a"].String() != "a1" {
		t.Errorf("merging changed the first change's After: %v", a.After)
	}
	if len(segs[1].deletes) != 1 || segs[1].deletes[0].String() != "2" {
		t.Errorf("segment 1 deletes = %v, want [2]", segs[1].deletes)
	}
	// Segment 2: the upsert of 2 after its delete, the repeated delete of 3, 4.
	if len(segs[2].upserts) != 2 || len(segs[2].deletes) != 1 {
		t.Errorf("segment 2: %d upserts, %d deletes; want 2, 1", len(segs[2].upserts), len(segs[2].deletes))
	}
	groups := s0.groups([]string{"id", "a", "big"})
	if len(groups) != 2 || fmt.Sprint(groups[0].cols) != "[id a big]" || fmt.Sprint(groups[1].cols) != "[id a]" {
		t.Errorf("groups = %+v", groups)
	}
}
