package transform

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/syncbridge/syncbridge/internal/change"
)

func TestApplyColumns(t *testing.T) {
	tests := []struct {
		name   string
		target string
		source string
		mutate func(change.Row) // changes the input row
		want   change.Value
	}{
		{"rename", "id", "cust_id", nil, change.Int(7)},
		{"rename with a space", "first", "first name", nil, change.Text("Augusta")},
		{"$env reaches odd names", "first", `lower($env["first name"])`, nil, change.Text("augusta")},
		{"lower", "email", "lower(email_adr)", nil, change.Text("ada@example.com")},
		{"lower of NULL is NULL", "email", "lower(email_adr)", func(r change.Row) { r["email_adr"] = change.Null }, change.Null},
		{"default for NULL", "email", `email_adr ?? "none"`, func(r change.Row) { r["email_adr"] = change.Null }, change.Text("none")},
		{"coalesce", "full_name", "coalesce(last_nm, first_nm)", nil, change.Text("Ada")},
		{"text constant", "status", `"ACTIVE"`, nil, change.Text("ACTIVE")},
		{"number constant", "points", "42", nil, change.Int(42)},
		{"number constant into decimal", "balance", "42", nil, change.MustDecimal("42")},
		{"float constant into decimal is exact", "balance", "0.1", nil, change.MustDecimal("0.1")},
		{"quoted decimal keeps its scale", "balance", `"1.50"`, nil, change.MustDecimal("1.50")},
		{"decimal rename stays exact", "balance", "balance", nil, change.MustDecimal("12.30")},
		{"decimals are text in expressions", "status", `balance + " EUR"`, nil, change.Text("12.30 EUR")},
		{"decimal() for arithmetic", "balance", "decimal(balance) * 2", nil, change.MustDecimal("24.6")},
		{"joining names", "full_name", `first_nm + " " + cust_nm`, nil, change.Text("Ada Ada Lovelace")},
		{"concat_ws skips NULL", "full_name", `concat_ws(" ", first_nm, last_nm, status)`, nil, change.Text("Ada A")},
		{"splitting names", "first", `split_part(cust_nm, " ", 1)`, nil, change.Text("Ada")},
		{"splitting from the end", "first", `split_part(cust_nm, " ", -1)`, nil, change.Text("Lovelace")},
		{"split and join builtins", "full_name", `join(split(cust_nm, " "), "_")`, nil, change.Text("Ada_Lovelace")},
		{"int arithmetic", "points", "cust_id * 10 + 1", nil, change.Int(71)},
		{"float arithmetic", "score", "score * 2", nil, change.Float(5)},
		{"whole float into int column", "points", "score * 2", nil, change.Int(5)},
		{"bool expression", "active", `status == "A" && active`, nil, change.Bool(true)},
		{"ternary", "status", `active ? "on" : "off"`, nil, change.Text("on")},
		{"int into text column", "status", "cust_id", nil, change.Int(7)}, // a rename is never converted
		{"int result into text column", "status", "cust_id + 0", nil, change.Text("7")},
		{"timestamp rename", "updated_at", "upd_ts", nil, change.Timestamp(time.Date(2026, 2, 1, 9, 30, 0, 0, time.UTC))},
		{"timestamp text into timestamp column", "updated_at", `"2026-01-02 03:04:05"`, nil,
			change.Timestamp(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))},
		{"now() is the commit time", "synced_at", "now()", nil, change.Timestamp(commit)},
		{"uuid text", "ref", `"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"`, nil, change.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")},
		{"map into json", "doc", `{"id": cust_id, "tags": ["a"]}`, nil, change.JSON(`{"id":7,"tags":["a"]}`)},
		{"hash", "email_hash", "hash(lower(email_adr))", nil, change.Text(sha256hex("ada@example.com"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mapping := cols("id", "cust_id", tt.target, tt.source)
			if tt.target == "id" {
				mapping = mapping[1:]
			}
			m := mustCompile(t, Spec{Target: targetTable(), Columns: mapping})
			row := sourceRow()
			if tt.mutate != nil {
				tt.mutate(row)
			}
			out, keep, err := m.Apply(insertOf(row))
			if err != nil || !keep {
				t.Fatalf("apply: keep=%v err=%v", keep, err)
			}
			if diff := cmp.Diff(tt.want, out.After[tt.target], valueCmp); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.target, diff)
			}
		})
	}
}

func TestApplyEnvelope(t *testing.T) {
	m := mustCompile(t, Spec{Target: targetTable(), Columns: cols("id", "cust_id", "email", "lower(email_adr)")})
	in := insertOf(sourceRow())
	in.Columns = []string{"cust_id", "email_adr", "status"}
	out, _, err := m.Apply(in)
	if err != nil {
		t.Fatal(err)
	}
	want := change.Change{
		ID: "c1", Flow: "customers", Op: change.OpInsert, Table: "customers",
		Key:     change.Key{change.Int(7)},
		After:   change.Row{"id": change.Int(7), "email": change.Text("ada@example.com")},
		Columns: []string{"id", "email"}, CommitTime: commit, TxID: "tx1",
		Position: change.Position("p1"), Origin: "legacy", SchemaVersion: 3,
	}
	if diff := cmp.Diff(want, out, valueCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if in.Table != "public.cust_mstr" || len(in.After) != len(sourceRow()) {
		t.Error("Apply modified its input")
	}
}

func TestApplyIdentity(t *testing.T) {
	t.Run("target unknown: every source column", func(t *testing.T) {
		m := mustCompile(t, Spec{TargetTable: "topic.customers"})
		out, _, err := m.Apply(insertOf(sourceRow()))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(sourceRow(), out.After, valueCmp); diff != "" || out.Table != "topic.customers" {
			t.Errorf("table %q, row (-want +got):\n%s", out.Table, diff)
		}
	})
	t.Run("target known: the common columns", func(t *testing.T) {
		tgt := targetTable()
		tgt.Key = []string{"cust_id"}
		tgt.Columns = append(tgt.Columns, tgtCol("cust_id", change.KindInt), tgtCol("email_adr", change.KindText))
		m := mustCompile(t, Spec{Target: tgt})
		if got := m.TargetColumns(); !cmp.Equal(got, []string{"cust_id", "email_adr", "balance", "score", "active", "status"}) {
			t.Errorf("target columns %v", got)
		}
	})
}

func TestApplyFilter(t *testing.T) {
	m := mustCompile(t, Spec{Target: targetTable(), Columns: cols("id", "cust_id", "status", "status"),
		Filter: `status != "X" && email_adr != nil`})
	pass, fail := sourceRow(), sourceRow()
	fail["status"] = change.Text("X")
	tests := []struct {
		name     string
		op       change.Op
		after    change.Row
		keep     bool
		wantOp   change.Op
		wantRows bool
	}{
		{"insert passing", change.OpInsert, pass, true, change.OpInsert, true},
		{"insert filtered", change.OpInsert, fail, false, 0, false},
		{"snapshot filtered", change.OpSnapshot, fail, false, 0, false},
		{"update passing", change.OpUpdate, pass, true, change.OpUpdate, true},
		{"update leaving the filter deletes", change.OpUpdate, fail, true, change.OpDelete, false},
		{"delete always passes", change.OpDelete, nil, true, change.OpDelete, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := insertOf(pass)
			c.Op, c.After, c.Before = tt.op, tt.after, pass
			out, keep, err := m.Apply(c)
			if err != nil || keep != tt.keep {
				t.Fatalf("keep=%v err=%v, want keep=%v", keep, err, tt.keep)
			}
			if !keep {
				return
			}
			if out.Op != tt.wantOp || (out.After != nil) != tt.wantRows {
				t.Errorf("got op %v after %v", out.Op, out.After)
			}
			if !cmp.Equal(out.Key, change.Key{change.Int(7)}, valueCmp) || out.Table != "customers" {
				t.Errorf("key %v table %s", out.Key, out.Table)
			}
			if tt.wantOp == change.OpDelete && (out.Before != nil || out.Columns != nil) {
				t.Errorf("a delete carries only the key: %+v", out)
			}
		})
	}
}

func TestApplyKeys(t *testing.T) {
	src := sourceTable()
	src.Key = []string{"status", "cust_id"}
	tgt := targetTable()
	tgt.Key = []string{"status", "id"}
	m := mustCompile(t, Spec{Source: src, Target: tgt, Columns: cols("id", "cust_id", "status", "status", "points", "cust_id")})
	if got := m.TargetKey(); !cmp.Equal(got, []string{"status", "id"}) {
		t.Errorf("TargetKey %v", got)
	}
	c := insertOf(sourceRow())
	c.Key = nil // a source that left Key unset: taken from the row
	out, _, err := m.Apply(c)
	if err != nil || !cmp.Equal(out.Key, change.Key{change.Text("A"), change.Int(7)}, valueCmp) {
		t.Fatalf("key %v err %v", out.Key, err)
	}
	del := change.Change{ID: "d", Op: change.OpDelete, Key: change.Key{change.Text("A"), change.Int(7)},
		Before: change.Row{"status": change.Text("A"), "cust_id": change.Int(7)}}
	out, keep, err := m.Apply(del)
	if err != nil || !keep || out.Op != change.OpDelete || out.After != nil || out.Before != nil || len(out.Key) != 2 {
		t.Errorf("delete: %+v keep=%v err=%v", out, keep, err)
	}
	if _, _, err := m.Apply(change.Change{ID: "x", Op: change.OpDelete}); err == nil ||
		!strings.Contains(err.Error(), "change x has no key") {
		t.Errorf("keyless delete: %v", err)
	}
}

// TestApplyPartialRows checks that a column whose inputs are missing from a
// partial row is left out, never computed from NULLs.
func TestApplyPartialRows(t *testing.T) {
	m := mustCompile(t, Spec{Target: targetTable(),
		Columns: cols("id", "cust_id", "email", "lower(email_adr)", "status", `"ACTIVE"`, "score", "score")})
	c := insertOf(sourceRow())
	c.Op = change.OpUpdate
	c.Before = change.Row{"cust_id": change.Int(7)} // key-only old row
	c.After = change.Row{"cust_id": change.Int(7), "score": change.Float(1)}
	c.Columns = []string{"score"}
	out, _, err := m.Apply(c)
	if err != nil {
		t.Fatal(err)
	}
	wantAfter := change.Row{"id": change.Int(7), "status": change.Text("ACTIVE"), "score": change.Float(1)}
	wantBefore := change.Row{"id": change.Int(7), "status": change.Text("ACTIVE")}
	if diff := cmp.Diff(wantAfter, out.After, valueCmp); diff != "" {
		t.Errorf("after (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantBefore, out.Before, valueCmp); diff != "" {
		t.Errorf("before (-want +got):\n%s", diff)
	}
	if !cmp.Equal(out.Columns, []string{"status", "score"}) {
		t.Errorf("columns %v", out.Columns)
	}
}

func TestApplyConcurrent(t *testing.T) {
	m := mustCompile(t, Spec{Target: targetTable(), Columns: cols("id", "cust_id", "points", "cust_id * 2"),
		Filter: "cust_id % 3 != 0"})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				id := int64(g*1000 + i)
				row := change.Row{"cust_id": change.Int(id)}
				out, keep, err := m.Apply(insertOf(row))
				if err != nil || keep != (id%3 != 0) || (keep && out.After["points"].AsInt() != id*2) {
					t.Errorf("id %d: keep=%v err=%v out=%v", id, keep, err, out.After)
					return
				}
			}
		}()
	}
	wg.Wait()
}
