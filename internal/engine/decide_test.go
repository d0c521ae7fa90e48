package engine

import (
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/conflict"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// testViews builds the two views of a flow legacy(ID, NM, TS) <->
// platform(id, name, at) under policy.
func testViews(t *testing.T, policy string) (fwd, rev *view) {
	t.Helper()
	from := &connector.Table{Name: "L", Key: []string{"ID"}, Columns: []connector.Column{
		{Name: "ID", Kind: change.KindInt}, {Name: "NM", Kind: change.KindText}, {Name: "TS", Kind: change.KindTimestamp}}}
	to := &connector.Table{Name: "P", Key: []string{"id"}, Columns: []connector.Column{
		{Name: "id", Kind: change.KindInt}, {Name: "name", Kind: change.KindText}, {Name: "at", Kind: change.KindTimestamp}}}
	fm, err := transform.Compile(transform.Spec{Flow: "f", Source: from, Target: to, Key: []string{"ID"},
		Columns: config.Columns{{Target: "id", Source: "ID"}, {Target: "name", Source: "NM"}, {Target: "at", Source: "TS"}}})
	if err != nil {
		t.Fatal(err)
	}
	rm, err := transform.Compile(transform.Spec{Flow: "f.reverse", Source: to, Target: from, Key: []string{"id"},
		Columns: config.Columns{{Target: "ID", Source: "id"}, {Target: "NM", Source: "name"}, {Target: "TS", Source: "at"}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := conflict.New(conflict.Config{Policy: policy, Table: to})
	if err != nil {
		t.Fatal(err)
	}
	p := &bothPlan{resolver: res, fwd: fm, rev: rm, fromStore: "legacy", toStore: "platform", timestamp: "at"}
	return newView(p, fromSide), newView(p, toSide)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func lrow(name string, s int) change.Row {
	return change.Row{"ID": change.Int(1), "NM": change.Text(name), "TS": change.Timestamp(t0.Add(time.Duration(s) * time.Second))}
}

func prow(name string, s int) change.Row {
	return change.Row{"id": change.Int(1), "name": change.Text(name), "at": change.Timestamp(t0.Add(time.Duration(s) * time.Second))}
}

func agreedBase(name string, s int) *state.Base {
	return &state.Base{Key: "1", From: lrow(name, s), To: prow(name, s), UpdatedAt: t0.Add(time.Duration(s) * time.Second)}
}

// TestDecide covers every verdict of the forward pipeline, and the
// reverse pipeline's view of the same situations.
func TestDecide(t *testing.T) {
	upd := func(r change.Row) *change.Change {
		return &change.Change{ID: "c", Op: change.OpUpdate, Key: change.Key{change.Int(1)}, After: r, CommitTime: t0.Add(time.Minute)}
	}
	del := &change.Change{ID: "d", Op: change.OpDelete, Key: change.Key{change.Int(1)}, CommitTime: t0.Add(time.Minute)}
	cases := []struct {
		name    string
		reverse bool
		part    *change.Change
		s, c    change.Row
		base    *state.Base
		kind    verdictKind
		dst     change.Op // 0: no write to the target
		back    change.Op // 0: no write-back
	}{
		{"echo: the source holds the base", false, upd(lrow("a", 1)), lrow("a", 1), prow("b", 2), agreedBase("a", 1), vEcho, 0, 0},
		{"agree: the target already holds it", false, upd(lrow("b", 2)), lrow("b", 2), prow("b", 2), agreedBase("a", 1), vAgree, 0, 0},
		{"apply: the target is the base", false, upd(lrow("b", 2)), lrow("b", 2), prow("a", 1), agreedBase("a", 1), vApply, change.OpUpdate, 0},
		{"apply: a new row", false, upd(lrow("b", 2)), lrow("b", 2), nil, nil, vApply, change.OpUpdate, 0},
		{"apply: a delete", false, del, nil, prow("a", 1), agreedBase("a", 1), vApply, change.OpDelete, 0},
		{"apply into a tombstone", false, upd(lrow("b", 2)), lrow("b", 2), nil, &state.Base{Key: "1", Deleted: true}, vApply, change.OpUpdate, 0},
		{"conflict: ours newer", false, upd(lrow("b", 3)), lrow("b", 3), prow("c", 2), agreedBase("a", 1), vDecided, change.OpUpdate, 0},
		{"conflict: theirs newer is written back", false, upd(lrow("b", 2)), lrow("b", 2), prow("c", 3), agreedBase("a", 1), vDecided, 0, change.OpUpdate},
		{"conflict: insert/insert without base", false, upd(lrow("b", 2)), lrow("b", 2), prow("c", 3), nil, vDecided, 0, change.OpUpdate},
		{"lww: an older write does not overwrite a newer target", false, upd(lrow("b", 1)), lrow("b", 1), prow("a", 2), agreedBase("a", 2), vDecided, 0, change.OpUpdate},
		{"defer: the target's delete is in flight", false, upd(lrow("b", 2)), lrow("b", 2), nil, agreedBase("a", 1), vDefer, 0, 0},
		{"reverse: apply", true, upd(prow("b", 2)), prow("b", 2), lrow("a", 1), agreedBase("a", 1), vApply, change.OpUpdate, 0},
		{"reverse: conflict, theirs (legacy) newer", true, upd(prow("b", 2)), prow("b", 2), lrow("c", 3), agreedBase("a", 1), vDecided, 0, change.OpUpdate},
		{"reverse: delete wins against an older row", true, del, nil, lrow("c", 3), agreedBase("a", 1), vDecided, change.OpDelete, 0},
	}
	for _, c := range cases {
		fwd, rev := testViews(t, "lww")
		v := fwd
		if c.reverse {
			v = rev
		}
		w := &keyWork{key: change.Key{change.Int(1)}, ks: "1", part: c.part, s: c.s, pre: c.s, c: c.c, base: c.base}
		if !v.matches(c.part, c.s) {
			t.Fatalf("%s: the part does not match the source's row", c.name)
		}
		got, err := v.decide(w)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var dst, back change.Op
		if got.dst != nil {
			dst = got.dst.Op
		}
		if got.back != nil {
			back = got.back.Op
		}
		if got.kind != c.kind || dst != c.dst || back != c.back {
			t.Errorf("%s: verdict %d dst %v back %v, want %d %v %v", c.name, got.kind, dst, back, c.kind, c.dst, c.back)
		}
		if (got.kind == vDecided) != (got.conflict != nil) {
			t.Errorf("%s: conflict record %v for verdict %d", c.name, got.conflict, got.kind)
		}
	}
}

// TestDecideClobberedDelete: a delete whose row the other pipeline wrote
// back afterwards (the source holds the agreed row) is decided as a
// conflict; the newer delete wins and goes to both sides.
func TestDecideClobberedDelete(t *testing.T) {
	fwd, _ := testViews(t, "lww")
	del := &change.Change{ID: "d", Op: change.OpDelete, Key: change.Key{change.Int(1)}, CommitTime: t0.Add(5 * time.Second)}
	base := agreedBase("p", 3) // the platform's row, written into legacy after legacy's delete
	s := lrow("p", 3)
	if fwd.matches(del, s) || !fwd.clobbered(del, s, base) {
		t.Fatal("a delete overwritten by the agreed row must read as clobbered")
	}
	w := &keyWork{key: change.Key{change.Int(1)}, ks: "1", part: del, pre: s, c: prow("p", 3), base: base, clobbered: true}
	got, err := fwd.decide(w)
	if err != nil {
		t.Fatal(err)
	}
	if got.kind != vDecided || got.dst == nil || got.dst.Op != change.OpDelete || got.back == nil || got.back.Op != change.OpDelete {
		t.Fatalf("verdict %+v: want the delete on both sides", got)
	}
	if !got.base.Deleted {
		t.Fatalf("base %+v, want a tombstone", got.base)
	}
	// An older delete loses: the row stays on both sides.
	del.CommitTime = t0.Add(time.Second)
	w = &keyWork{key: change.Key{change.Int(1)}, ks: "1", part: del, pre: s, c: prow("p", 3), base: base, clobbered: true}
	if got, _ = fwd.decide(w); got.kind != vDecided || got.dst != nil || got.back == nil || got.back.Op != change.OpUpdate {
		t.Fatalf("verdict %+v: want the row kept (written back as it is)", got)
	}
}
