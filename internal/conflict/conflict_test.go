package conflict

import (
	"strings"
	"testing"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// customers is the to table every test decides in.
var customers = &connector.Table{Name: "customers", Key: []string{"id"}, Columns: []connector.Column{
	{Name: "id", Kind: change.KindInt}, {Name: "name", Kind: change.KindText},
	{Name: "email", Kind: change.KindText}, {Name: "tier", Kind: change.KindText},
	{Name: "balance", Kind: change.KindDecimal},
}}

func row(name, email, tier string) change.Row {
	return change.Row{"id": change.Int(1), "name": change.Text(name), "email": change.Text(email), "tier": change.Text(tier)}
}

// from and to build versions of the flow's from store ("legacy") and to
// store ("platform") written at second s.
func from(r change.Row, s int) Version {
	return Version{Row: r, Time: t0.Add(time.Duration(s) * time.Second), Store: "legacy", Source: true}
}
func to(r change.Row, s int) Version {
	return Version{Row: r, Time: t0.Add(time.Duration(s) * time.Second), Store: "platform"}
}

func TestResolve(t *testing.T) {
	base := row("Ann", "ann@x", "gold")
	cases := []struct {
		name    string
		cfg     Config
		in      Input
		want    Outcome
		row     change.Row // for Merged
		because string     // a piece of the reason
	}{
		// lww
		{"lww newer ours", Config{Policy: "lww"}, Input{base, from(row("A", "a", "gold"), 2), to(row("B", "b", "gold"), 1)}, Ours, nil, "newer"},
		{"lww newer theirs", Config{Policy: "lww"}, Input{base, from(row("A", "a", "gold"), 1), to(row("B", "b", "gold"), 2)}, Theirs, nil, "newer"},
		{"lww tie goes to the first store by name (ours)", Config{Policy: "lww"}, Input{base, from(row("A", "a", "g"), 1), to(row("B", "b", "g"), 1)}, Ours, nil, "legacy"},
		{"lww tie is the same from the other pipeline", Config{Policy: "lww"}, Input{base, to(row("B", "b", "g"), 1), from(row("A", "a", "g"), 1)}, Theirs, nil, "legacy"},
		{"lww newer delete beats update", Config{Policy: "lww"}, Input{base, from(nil, 3), to(row("B", "b", "g"), 2)}, Ours, nil, "newer"},
		{"lww newer update beats delete", Config{Policy: "lww"}, Input{base, from(nil, 1), to(row("B", "b", "g"), 2)}, Theirs, nil, "newer"},
		{"lww insert/insert without base", Config{Policy: "lww"}, Input{nil, to(row("B", "b", "g"), 5), from(row("A", "a", "g"), 4)}, Ours, nil, "newer"},

		// source-wins / target-wins
		{"source-wins ours is source", Config{Policy: "source-wins"}, Input{base, from(row("A", "a", "g"), 1), to(row("B", "b", "g"), 9)}, Ours, nil, "source store legacy"},
		{"source-wins theirs is source", Config{Policy: "source-wins"}, Input{base, to(row("B", "b", "g"), 9), from(row("A", "a", "g"), 1)}, Theirs, nil, "source store legacy"},
		{"source-wins with a source delete", Config{Policy: "source-wins"}, Input{base, to(row("B", "b", "g"), 9), from(nil, 1)}, Theirs, nil, "source"},
		{"target-wins ours is source", Config{Policy: "target-wins"}, Input{base, from(row("A", "a", "g"), 9), to(row("B", "b", "g"), 1)}, Theirs, nil, "target store platform"},
		{"target-wins target deleted", Config{Policy: "target-wins"}, Input{base, to(nil, 1), from(row("A", "a", "g"), 9)}, Ours, nil, "target"},

		// owner
		{"owner owns the row", Config{Policy: "owner", Owner: OwnerConfig{Store: "platform"}},
			Input{base, from(row("A", "a", "g"), 9), to(row("B", "b", "g"), 1)}, Theirs, nil, "owns the row"},
		{"owner owns columns: the rest is the other's", Config{Policy: "owner", Owner: OwnerConfig{Store: "platform", Columns: []string{"email"}}},
			Input{base, from(row("A", "a", "silver"), 9), to(row("B", "b", "gold"), 1)}, Merged, row("A", "b", "silver"), "owns columns"},
		{"owner rows predicate matches", Config{Policy: "owner", Owner: OwnerConfig{Store: "legacy", Rows: `tier == "gold"`}},
			Input{base, to(row("B", "b", "silver"), 9), from(row("A", "a", "gold"), 1)}, Theirs, nil, "legacy owns"},
		{"owner rows predicate does not match", Config{Policy: "owner", Owner: OwnerConfig{Store: "legacy", Rows: `tier == "gold"`}},
			Input{base, to(row("B", "b", "gold"), 9), from(row("A", "a", "silver"), 1)}, Ours, nil, "outside owner.rows"},
		{"owner deleted its row", Config{Policy: "owner", Owner: OwnerConfig{Store: "legacy", Columns: []string{"email"}}},
			Input{base, to(row("B", "b", "gold"), 9), from(nil, 1)}, Theirs, nil, "owns the row"},

		// merge
		{"merge different columns", Config{Policy: "merge", Fallback: "lww"},
			Input{base, from(row("Anne", "ann@x", "gold"), 1), to(row("Ann", "ann@y", "gold"), 2)}, Merged, row("Anne", "ann@y", "gold"), "different columns"},
		{"merge same column falls back to lww", Config{Policy: "merge", Fallback: "lww"},
			Input{base, from(row("Anne", "ann@x", "gold"), 1), to(row("Annie", "ann@y", "gold"), 2)}, Theirs, nil, "both sides changed name"},
		{"merge same column falls back to source-wins", Config{Policy: "merge", Fallback: "source-wins"},
			Input{base, to(row("Annie", "ann@y", "gold"), 2), from(row("Anne", "ann@x", "gold"), 1)}, Merged, row("Anne", "ann@y", "gold"), "source"},
		{"merge same change on both sides", Config{Policy: "merge", Fallback: "manual"},
			Input{base, from(row("Anne", "ann@x", "gold"), 1), to(row("Anne", "ann@x", "gold"), 2)}, Ours, nil, "different columns"},
		{"merge overlap with manual fallback parks", Config{Policy: "merge", Fallback: "manual"},
			Input{base, from(row("Anne", "a", "gold"), 1), to(row("Annie", "b", "gold"), 2)}, Park, nil, "both sides changed"},
		{"merge delete vs update uses the fallback", Config{Policy: "merge", Fallback: "lww"},
			Input{base, from(nil, 5), to(row("Annie", "ann@x", "gold"), 2)}, Ours, nil, "delete against an update"},
		{"merge without base: every difference overlaps", Config{Policy: "merge", Fallback: "target-wins"},
			Input{nil, from(row("A", "a", "gold"), 5), to(row("B", "a", "gold"), 2)}, Theirs, nil, "both sides changed name"},

		// rule
		{"rule picks theirs", Config{Policy: "rule", Rule: `theirs.tier == "gold" ? "theirs" : "ours"`},
			Input{base, from(row("A", "a", "silver"), 9), to(row("B", "b", "gold"), 1)}, Theirs, nil, "rule"},
		{"rule picks the source", Config{Policy: "rule", Rule: `"source"`},
			Input{base, to(row("B", "b", "gold"), 9), from(row("A", "a", "silver"), 1)}, Theirs, nil, "source"},
		{"rule merges a map", Config{Policy: "rule", Rule: `{"email": theirs.email, "name": upper(ours.name)}`},
			Input{base, from(row("a", "a@x", "gold"), 1), to(row("b", "b@x", "gold"), 2)}, Merged, row("A", "b@x", "gold"), "merged"},
		{"rule sees deletes as nil", Config{Policy: "rule", Rule: `ours == nil ? "theirs" : "ours"`},
			Input{base, from(nil, 9), to(row("b", "b@x", "gold"), 2)}, Theirs, nil, "theirs"},
		{"rule uses times", Config{Policy: "rule", Rule: `ours_time > theirs_time ? "ours" : "manual"`},
			Input{base, from(row("a", "a", "g"), 1), to(row("b", "b", "g"), 2)}, Park, nil, "manual"},
		{"rule failure parks", Config{Policy: "rule", Rule: `ours.name + theirs.missing`},
			Input{base, from(row("a", "a", "g"), 1), to(row("b", "b", "g"), 2)}, Park, nil, "rule"},
		{"rule returning a column the table lacks parks", Config{Policy: "rule", Rule: `{"nope": 1}`},
			Input{base, from(row("a", "a", "g"), 1), to(row("b", "b", "g"), 2)}, Park, nil, "does not have"},

		// manual
		{"manual parks", Config{Policy: "manual"}, Input{base, from(row("A", "a", "g"), 1), to(row("B", "b", "g"), 2)}, Park, nil, "operator"},
		{"manual parks delete vs update", Config{Policy: "manual"}, Input{base, from(nil, 1), to(row("B", "b", "g"), 2)}, Park, nil, "operator"},

		// per-column overrides
		{"column override against the row winner", Config{Policy: "lww", Columns: map[string]string{"email": "source-wins"}},
			Input{base, to(row("B", "b@x", "gold"), 9), from(row("A", "a@x", "gold"), 1)}, Merged, row("B", "a@x", "gold"), "column email"},
		{"column changed by one side only keeps that side", Config{Policy: "lww", Columns: map[string]string{"tier": "source-wins"}},
			Input{base, to(row("B", "b@x", "platinum"), 9), from(row("A", "a@x", "gold"), 1)}, Ours, nil, "newer"},
		{"column override manual parks", Config{Policy: "lww", Columns: map[string]string{"email": "manual"}},
			Input{base, to(row("B", "b@x", "g"), 9), from(row("A", "a@x", "g"), 1)}, Park, nil, "column email"},
		{"column overrides do not apply to deletes", Config{Policy: "lww", Columns: map[string]string{"email": "source-wins"}},
			Input{base, to(nil, 9), from(row("A", "a@x", "gold"), 1)}, Ours, nil, "newer"},
		{"column owner", Config{Policy: "target-wins", Columns: map[string]string{"tier": "owner"}, Owner: OwnerConfig{Store: "legacy"}},
			Input{base, from(row("A", "a", "silver"), 1), to(row("B", "b", "bronze"), 2)}, Merged, row("B", "b", "silver"), "owns column tier"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Table = customers
			r, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			d := r.Resolve(c.in)
			if d.Outcome != c.want {
				t.Fatalf("outcome %s (%s), want %s", d.Outcome, d.Reason, c.want)
			}
			if c.row != nil && !rowsEqual(d.Row, c.row) {
				t.Errorf("merged row %v, want %v", d.Row, c.row)
			}
			if !strings.Contains(d.Reason, c.because) {
				t.Errorf("reason %q does not say %q", d.Reason, c.because)
			}
			if got := d.Result(c.in); d.Outcome == Merged && !rowsEqual(got, d.Row) {
				t.Errorf("Result = %v, want the merged row", got)
			}
		})
	}
}

// TestResolveIsSymmetric: both pipelines of a flow meet the same conflict
// from opposite ends (ours and theirs swapped); every row policy must settle
// on the same final row from either end, or the sides would not converge.
func TestResolveIsSymmetric(t *testing.T) {
	base := row("Ann", "ann@x", "gold")
	versions := [][2]Version{
		{from(row("A", "a", "gold"), 1), to(row("B", "b", "gold"), 2)},
		{from(row("A", "a", "gold"), 2), to(row("B", "b", "gold"), 2)},
		{from(nil, 3), to(row("B", "b", "gold"), 2)},
		{from(row("Anne", "ann@x", "gold"), 3), to(row("Ann", "ann@y", "silver"), 2)},
		{from(row("Anne", "ann@x", "gold"), 1), to(row("Annie", "ann@x", "gold"), 2)},
	}
	cfgs := []Config{
		{Policy: "lww"}, {Policy: "source-wins"}, {Policy: "target-wins"},
		{Policy: "owner", Owner: OwnerConfig{Store: "legacy", Columns: []string{"tier"}}},
		{Policy: "owner", Owner: OwnerConfig{Store: "platform", Rows: `tier == "gold"`}},
		{Policy: "merge", Fallback: "lww"}, {Policy: "merge", Fallback: "source-wins"},
		{Policy: "lww", Columns: map[string]string{"email": "target-wins"}},
	}
	for _, cfg := range cfgs {
		cfg.Table = customers
		r, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range versions {
			a := Input{Base: base, Ours: v[0], Theirs: v[1]}
			b := Input{Base: base, Ours: v[1], Theirs: v[0]}
			da, db := r.Resolve(a), r.Resolve(b)
			if ra, rb := da.Result(a), db.Result(b); !rowsEqual(ra, rb) {
				t.Errorf("%s %v, versions %d: from one end %v (%s), from the other %v (%s)",
					cfg.Policy, cfg.Columns, i, ra, da.Reason, rb, db.Reason)
			}
		}
	}
}

// TestOwnerEnforces: under owner, a change by the store that does not own
// what it changed is decided even when the owner did not move, so the
// owner's version stands; changes to what it owns are not.
func TestOwnerEnforces(t *testing.T) {
	base := row("Ann", "ann@x", "gold")
	cases := []struct {
		name  string
		owner OwnerConfig
		in    Input
		want  bool
	}{
		{"row owner: any change by the other store", OwnerConfig{Store: "platform"}, Input{base, from(row("A", "ann@x", "gold"), 1), to(base, 0)}, true},
		{"row owner: its own change", OwnerConfig{Store: "legacy"}, Input{base, from(row("A", "ann@x", "gold"), 1), to(base, 0)}, false},
		{"row owner: a new row by the other store", OwnerConfig{Store: "platform"}, Input{nil, from(row("A", "a", "gold"), 1), to(nil, 0)}, true},
		{"rows predicate not matched", OwnerConfig{Store: "platform", Rows: `tier == "silver"`}, Input{base, from(row("A", "ann@x", "gold"), 1), to(base, 0)}, false},
		{"owned column changed", OwnerConfig{Store: "platform", Columns: []string{"email"}}, Input{base, from(row("Ann", "new@x", "gold"), 1), to(base, 0)}, true},
		{"other column changed", OwnerConfig{Store: "platform", Columns: []string{"email"}}, Input{base, from(row("Anne", "ann@x", "gold"), 1), to(base, 0)}, false},
		{"new row with owned columns", OwnerConfig{Store: "platform", Columns: []string{"email"}}, Input{nil, from(row("A", "a", "gold"), 1), to(nil, 0)}, false},
		{"other store deletes an owned-columns row", OwnerConfig{Store: "platform", Columns: []string{"email"}}, Input{base, from(nil, 1), to(base, 0)}, true},
	}
	for _, c := range cases {
		r, err := New(Config{Policy: "owner", Owner: c.owner, Table: customers})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Enforces(c.in); got != c.want {
			t.Errorf("%s: Enforces = %v, want %v", c.name, got, c.want)
		}
	}
	if r, _ := New(Config{Policy: "lww", Table: customers}); r.Enforces(Input{base, from(row("A", "a", "g"), 1), to(base, 0)}) {
		t.Error("lww enforced a change")
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Policy: "newest"}, "unknown conflict policy"},
		{Config{Policy: "merge"}, "conflict.fallback: required"},
		{Config{Policy: "merge", Fallback: "rule"}, "cannot decide a column"},
		{Config{Policy: "owner"}, "conflict.owner.store: required"},
		{Config{Policy: "owner", Owner: OwnerConfig{Store: "x", Columns: []string{"nope"}}}, "has no column nope"},
		{Config{Policy: "owner", Owner: OwnerConfig{Store: "x", Rows: `tier +`}}, "conflict.owner.rows"},
		{Config{Policy: "rule"}, "conflict.rule: required"},
		{Config{Policy: "rule", Rule: `ours.`}, "conflict.rule"},
		{Config{Policy: "lww", Columns: map[string]string{"email": "merge"}}, "decides whole rows"},
		{Config{Policy: "lww", Columns: map[string]string{"nope": "lww"}}, "has no column nope"},
		{Config{Policy: "lww", Columns: map[string]string{"tier": "owner"}}, "conflict.owner.store"},
	}
	for _, c := range cases {
		c.cfg.Table = customers
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
}
