package statetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/state"
)

var agreedAt = time.Date(2026, 3, 2, 8, 0, 0, 123456000, time.UTC)

func testBasesRoundTrip(t *testing.T, s state.Store) {
	ctx := t.Context()
	a := state.Base{Key: "1",
		From:      change.Row{"CUST_ID": change.Int(1), "BAL": change.MustDecimal("12.30"), "NOTE": change.Null},
		To:        change.Row{"id": change.Int(1), "balance": change.MustDecimal("12.30"), "at": change.Timestamp(agreedAt)},
		UpdatedAt: agreedAt}
	b := state.Base{Key: "2", Deleted: true, DeletedAt: agreedAt, UpdatedAt: agreedAt}
	mustDo(t, s.SaveBases(ctx, "f", []state.Base{a, b}))
	mustDo(t, s.SaveBases(ctx, "other", []state.Base{{Key: "1", To: change.Row{"id": change.Int(9)}}}))

	got, err := s.Bases(ctx, "f", []string{"1", "2", "3"})
	mustDo(t, err)
	want := map[string]state.Base{"1": a, "2": b}
	if d := cmp.Diff(want, got, valueEqual); d != "" {
		t.Fatalf("Bases (-want +got):\n%s", d)
	}
	if got["1"].From["BAL"].String() != "12.30" {
		t.Errorf("decimal scale lost: %q", got["1"].From["BAL"])
	}

	// A later agreement replaces the base; a tombstone can come back to life.
	a.To["balance"] = change.MustDecimal("1")
	b = state.Base{Key: "2", From: change.Row{"CUST_ID": change.Int(2)}, To: change.Row{"id": change.Int(2)}, UpdatedAt: agreedAt}
	mustDo(t, s.SaveBases(ctx, "f", []state.Base{a, b}))
	got, err = s.Bases(ctx, "f", []string{"1", "2"})
	mustDo(t, err)
	if d := cmp.Diff(map[string]state.Base{"1": a, "2": b}, got, valueEqual); d != "" {
		t.Fatalf("Bases after the second save (-want +got):\n%s", d)
	}

	// An older agreement recorded late does not replace a newer one.
	stale := state.Base{Key: "1", To: change.Row{"id": change.Int(1), "balance": change.MustDecimal("99")}, UpdatedAt: agreedAt.Add(-time.Hour)}
	mustDo(t, s.SaveBases(ctx, "f", []state.Base{stale}))
	if got, _ := s.Bases(ctx, "f", []string{"1"}); got["1"].To["balance"].String() != "1" {
		t.Fatalf("an older base replaced a newer one: %+v", got["1"])
	}

	// Many keys at once, beyond any one statement's parameter count.
	var many []state.Base
	var keys []string
	for i := range 1200 {
		k := change.Key{change.Int(int64(100 + i))}.String()
		keys = append(keys, k)
		many = append(many, state.Base{Key: k, To: change.Row{"id": change.Int(int64(100 + i))}})
	}
	mustDo(t, s.SaveBases(ctx, "f", many))
	got, err = s.Bases(ctx, "f", keys)
	mustDo(t, err)
	if len(got) != len(keys) || got[keys[0]].UpdatedAt.IsZero() {
		t.Fatalf("Bases of %d keys returned %d (a zero UpdatedAt must be saved as now)", len(keys), len(got))
	}
}

func testTombstonesExpire(t *testing.T, s state.Store) {
	ctx := t.Context()
	old := state.Base{Key: "old", Deleted: true, DeletedAt: agreedAt.Add(-48 * time.Hour)}
	fresh := state.Base{Key: "fresh", Deleted: true, DeletedAt: agreedAt}
	live := state.Base{Key: "live", To: change.Row{"id": change.Int(1)}, UpdatedAt: agreedAt.Add(-72 * time.Hour)}
	mustDo(t, s.SaveBases(ctx, "f", []state.Base{old, fresh, live}))
	mustDo(t, s.SaveBases(ctx, "g", []state.Base{old}))
	n, err := s.PruneTombstones(ctx, "f", agreedAt.Add(-24*time.Hour))
	mustDo(t, err)
	if n != 1 {
		t.Fatalf("PruneTombstones removed %d, want 1", n)
	}
	got, err := s.Bases(ctx, "f", []string{"old", "fresh", "live"})
	mustDo(t, err)
	if _, ok := got["old"]; ok || len(got) != 2 {
		t.Fatalf("after pruning: %v, want fresh and live only", got)
	}
	if g, _ := s.Bases(ctx, "g", []string{"old"}); len(g) != 1 {
		t.Fatal("pruning one flow removed another flow's tombstone")
	}
}

func conflictOf(flow string, id int64, status string) state.Conflict {
	k := change.Key{change.Int(id)}
	return state.Conflict{Flow: flow, Key: k.String(), KeyValues: k, OursSide: "from",
		Base:   change.Row{"id": change.Int(id), "v": change.Text("base")},
		Ours:   change.Row{"id": change.Int(id), "v": change.Text("ours")},
		Theirs: nil, // deleted on the other side
		Winner: "ours", Policy: "lww", Reason: "ours is newer", Status: status, At: agreedAt}
}

func testConflictLog(t *testing.T, s state.Store) {
	ctx := t.Context()
	res := conflictOf("f", 1, state.ConflictResolved)
	res.Result = res.Ours
	parked := conflictOf("f", 2, state.ConflictParked)
	parked.Winner, parked.Policy, parked.Reason = "none", "manual", "manual policy"
	base := state.Base{Key: "9", To: change.Row{"id": change.Int(9)}}
	mustDo(t, s.FinishIntent(ctx, "f", "", []state.Base{base}, []state.Conflict{res, parked, conflictOf("g", 3, state.ConflictResolved)}))

	all, err := s.Conflicts(ctx, "f", "")
	mustDo(t, err)
	if len(all) != 2 || all[0].Seq >= all[1].Seq {
		t.Fatalf("Conflicts(f) = %+v, want two in order", all)
	}
	got := all[0]
	res.Seq, res.ResolvedAt = got.Seq, agreedAt
	if d := cmp.Diff(res, got, valueEqual); d != "" {
		t.Fatalf("conflict round trip (-want +got):\n%s", d)
	}
	if p, _ := s.Conflicts(ctx, "f", state.ConflictParked); len(p) != 1 || p[0].Key != "2" || !p[0].ResolvedAt.IsZero() {
		t.Fatalf("parked conflicts of f = %+v, want key 2", p)
	}
	if b, _ := s.Bases(ctx, "f", []string{"9"}); len(b) != 1 {
		t.Fatal("FinishIntent did not save the bases")
	}

	// Resolving: the entry changes status and the bases are saved with it.
	seq := all[1].Seq
	agreed := state.Base{Key: "2", To: change.Row{"id": change.Int(2), "v": change.Text("taken")}}
	done := state.Conflict{Result: agreed.To, Winner: "theirs", Reason: "operator took to"}
	mustDo(t, s.ResolveConflict(ctx, "f", seq, done, []state.Base{agreed}))
	if p, _ := s.Conflicts(ctx, "f", state.ConflictParked); len(p) != 0 {
		t.Fatalf("still parked after resolve: %+v", p)
	}
	all, _ = s.Conflicts(ctx, "f", state.ConflictResolved)
	if len(all) != 2 || all[1].Winner != "theirs" || all[1].Result["v"].String() != "taken" || all[1].ResolvedAt.IsZero() {
		t.Fatalf("resolved entry = %+v", all[1])
	}
	if b, _ := s.Bases(ctx, "f", []string{"2"}); b["2"].To["v"].String() != "taken" {
		t.Fatalf("ResolveConflict did not save the base: %+v", b)
	}
	if err := s.ResolveConflict(ctx, "f", seq, done, nil); !errors.Is(err, state.ErrNotParked) {
		t.Fatalf("resolving twice = %v, want ErrNotParked", err)
	}
	if err := s.ResolveConflict(ctx, "g", seq, done, nil); !errors.Is(err, state.ErrNotParked) {
		t.Fatalf("resolving another flow's entry = %v, want ErrNotParked", err)
	}
	if all, _ := s.Conflicts(ctx, "", ""); len(all) != 3 {
		t.Fatalf("Conflicts of every flow = %d entries, want 3", len(all))
	}
}

func testIntents(t *testing.T, s state.Store) {
	ctx := t.Context()
	mustDo(t, s.SaveIntent(ctx, state.Intent{Name: "f", Flow: "f", Data: json.RawMessage(`{"n":1}`)}))
	mustDo(t, s.SaveIntent(ctx, state.Intent{Name: "f.reverse", Flow: "f", Data: json.RawMessage(`{"n":2}`)}))
	mustDo(t, s.SaveIntent(ctx, state.Intent{Name: "f", Flow: "f", Data: json.RawMessage(`{"n":3}`)})) // replaces
	mustDo(t, s.SaveIntent(ctx, state.Intent{Name: "g", Flow: "g", Data: json.RawMessage(`{}`)}))
	got, err := s.Intents(ctx, "f")
	mustDo(t, err)
	if len(got) != 2 || got[0].Name != "f" || string(got[0].Data) != `{"n":3}` || got[0].CreatedAt.IsZero() {
		t.Fatalf("Intents(f) = %+v", got)
	}
	if err := s.SaveIntent(ctx, state.Intent{Name: "x", Flow: "f", Data: json.RawMessage(`{`)}); err == nil {
		t.Fatal("an intent that is not JSON was saved")
	}
	c := conflictOf("f", 7, state.ConflictParked)
	c.Winner = "none"
	mustDo(t, s.FinishIntent(ctx, "f", "f", []state.Base{{Key: "7", Deleted: true}}, []state.Conflict{c}))
	got, _ = s.Intents(ctx, "f")
	if len(got) != 1 || got[0].Name != "f.reverse" {
		t.Fatalf("after FinishIntent: %+v, want only f.reverse", got)
	}
	if p, _ := s.Conflicts(ctx, "f", state.ConflictParked); len(p) != 1 {
		t.Fatal("FinishIntent did not record the conflict")
	}
	if b, _ := s.Bases(ctx, "f", []string{"7"}); !b["7"].Deleted || b["7"].DeletedAt.IsZero() {
		t.Fatalf("tombstone without a deletion time: %+v", b)
	}

	// ReplaceIntent records the previous outcome and the next intent at once.
	c = conflictOf("f", 8, state.ConflictResolved)
	mustDo(t, s.ReplaceIntent(ctx, "f", []state.Base{{Key: "8", To: change.Row{"id": change.Int(8)}}}, []state.Conflict{c},
		state.Intent{Name: "f.reverse", Flow: "f", Data: json.RawMessage(`{"n":4}`)}))
	got, _ = s.Intents(ctx, "f")
	if len(got) != 1 || string(got[0].Data) != `{"n":4}` {
		t.Fatalf("after ReplaceIntent: %+v", got)
	}
	if b, _ := s.Bases(ctx, "f", []string{"8"}); len(b) != 1 {
		t.Fatal("ReplaceIntent did not save the bases")
	}
	if cs, _ := s.Conflicts(ctx, "f", state.ConflictResolved); len(cs) != 1 || cs[0].Key != "8" {
		t.Fatalf("ReplaceIntent did not record the conflict: %+v", cs)
	}
	if err := s.ReplaceIntent(ctx, "f", nil, nil, state.Intent{Name: "x", Flow: "f", Data: json.RawMessage(`{`)}); err == nil {
		t.Fatal("ReplaceIntent saved an intent that is not JSON")
	}
}
