package transform

import (
	"testing"

	"github.com/syncbridge/syncbridge/internal/change"
)

func TestIdentityMappingPassesRowsThrough(t *testing.T) {
	src := sourceTable()
	m := mustCompile(t, Spec{Flow: "f", Source: src, Target: src})
	if !m.identity {
		t.Fatal("a mapping of every column onto itself must take the identity path")
	}
	row := change.Row{"cust_id": change.Int(1), "balance": change.MustDecimal("12.30"), "email_adr": change.Null}
	out, keep, err := m.Apply(change.Change{ID: "x", Op: change.OpUpdate, Key: change.Key{change.Int(1)}, After: row, Columns: []string{"balance"}})
	if err != nil || !keep {
		t.Fatalf("Apply: keep=%v err=%v", keep, err)
	}
	if out.Table != src.Name || len(out.After) != len(row) || out.After["balance"].String() != "12.30" || !out.After["email_adr"].IsNull() {
		t.Fatalf("identity changed the change: %+v", out)
	}
	for name, spec := range map[string]Spec{
		"filter":     {Flow: "f", Source: src, Target: src, Filter: `status != "x"`},
		"subset":     {Flow: "f", Source: src, Columns: cols("cust_id", "cust_id", "cust_nm", "cust_nm")},
		"expression": {Flow: "f", Source: src, Columns: cols("cust_id", "cust_id", "cust_nm", "lower(cust_nm)")},
	} {
		if m := mustCompile(t, spec); m.identity {
			t.Errorf("%s: must not take the identity path", name)
		}
	}
}
