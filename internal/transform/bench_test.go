package transform

import (
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
)

// BenchmarkApplyRename is the common case: a mapping of renames only, which
// must cost little more than building the output row.
func BenchmarkApplyRename(b *testing.B) {
	m := mustCompile(b, Spec{Target: targetTable(),
		Columns: cols("id", "cust_id", "full_name", "cust_nm", "email", "email_adr", "updated_at", "upd_ts",
			"balance", "balance", "score", "score", "active", "active", "status", "status")})
	benchApply(b, m)
}

// BenchmarkApplyExpr mixes renames with expressions and a filter, as the
// contract's example flow does.
func BenchmarkApplyExpr(b *testing.B) {
	m := mustCompile(b, Spec{Target: targetTable(),
		Columns: cols("id", "cust_id", "full_name", `concat_ws(" ", first_nm, last_nm)`, "email", "lower(email_adr)",
			"updated_at", "upd_ts", "balance", "balance", "points", "cust_id * 10", "status", `"ACTIVE"`),
		Filter: `status != "X"`})
	benchApply(b, m)
}

func benchApply(b *testing.B, m *Mapping) {
	c := insertOf(sourceRow())
	b.ReportAllocs()
	for b.Loop() {
		out, keep, err := m.Apply(c)
		if err != nil || !keep || out.After == nil {
			b.Fatalf("keep=%v err=%v", keep, err)
		}
	}
}

// BenchmarkApplyDelete maps a delete: the key only, no row work.
func BenchmarkApplyDelete(b *testing.B) {
	m := mustCompile(b, Spec{Target: targetTable(), Columns: cols("id", "cust_id", "email", "lower(email_adr)")})
	c := change.Change{ID: "d", Op: change.OpDelete, Key: change.Key{change.Int(7)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Apply(c); err != nil {
			b.Fatal(err)
		}
	}
}
