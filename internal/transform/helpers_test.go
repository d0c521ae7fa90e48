package transform

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
)

var commit = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func sourceTable() *connector.Table {
	return &connector.Table{
		Name: "public.cust_mstr",
		Key:  []string{"cust_id"},
		Columns: []connector.Column{
			{Name: "cust_id", Kind: change.KindInt},
			{Name: "cust_nm", Kind: change.KindText},
			{Name: "first_nm", Kind: change.KindText, Nullable: true},
			{Name: "last_nm", Kind: change.KindText, Nullable: true},
			{Name: "email_adr", Kind: change.KindText, Nullable: true},
			{Name: "upd_ts", Kind: change.KindTimestamp},
			{Name: "balance", Kind: change.KindDecimal},
			{Name: "score", Kind: change.KindFloat},
			{Name: "active", Kind: change.KindBool},
			{Name: "status", Kind: change.KindText},
			{Name: "first name", Kind: change.KindText},
		},
	}
}

func targetTable() *connector.Table {
	return &connector.Table{
		Name: "customers",
		Key:  []string{"id"},
		Columns: []connector.Column{
			{Name: "id", Kind: change.KindInt},
			{Name: "full_name", Kind: change.KindText},
			{Name: "first", Kind: change.KindText},
			{Name: "email", Kind: change.KindText},
			{Name: "updated_at", Kind: change.KindTimestamp},
			{Name: "balance", Kind: change.KindDecimal},
			{Name: "score", Kind: change.KindFloat},
			{Name: "points", Kind: change.KindInt},
			{Name: "active", Kind: change.KindBool},
			{Name: "status", Kind: change.KindText},
			{Name: "ref", Kind: change.KindUUID},
			{Name: "doc", Kind: change.KindJSON},
			{Name: "email_hash", Kind: change.KindText},
			{Name: "synced_at", Kind: change.KindTimestamp},
			{Name: "search", Kind: change.KindText, Generated: true},
		},
	}
}

// sourceRow is one full row of sourceTable.
func sourceRow() change.Row {
	return change.Row{
		"cust_id":    change.Int(7),
		"cust_nm":    change.Text("Ada Lovelace"),
		"first_nm":   change.Text("Ada"),
		"last_nm":    change.Null,
		"email_adr":  change.Text("Ada@Example.COM"),
		"upd_ts":     change.Timestamp(time.Date(2026, 2, 1, 9, 30, 0, 0, time.UTC)),
		"balance":    change.MustDecimal("12.30"),
		"score":      change.Float(2.5),
		"active":     change.Bool(true),
		"status":     change.Text("A"),
		"first name": change.Text("Augusta"),
	}
}

func insertOf(row change.Row) change.Change {
	return change.Change{
		ID: "c1", Flow: "customers", Op: change.OpInsert, Table: "public.cust_mstr",
		Key: change.Key{row["cust_id"]}, After: row, CommitTime: commit, TxID: "tx1",
		Position: change.Position("p1"), Origin: "legacy", SchemaVersion: 3,
	}
}

func cols(kv ...string) config.Columns {
	var out config.Columns
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, config.Column{Target: kv[i], Source: kv[i+1]})
	}
	return out
}

func mustCompile(t testing.TB, spec Spec) *Mapping {
	t.Helper()
	if spec.Flow == "" {
		spec.Flow = "customers"
	}
	if spec.Source == nil {
		spec.Source = sourceTable()
	}
	m, err := Compile(spec)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return m
}

// valueCmp compares Values by kind and canonical text, so a decimal's scale
// and a timestamp's precision are part of the comparison.
var valueCmp = cmp.Comparer(func(a, b change.Value) bool {
	return a.Kind == b.Kind && a.String() == b.String() && a.TypeName == b.TypeName
})

func tgtCol(name string, k change.Kind) connector.Column {
	return connector.Column{Name: name, Kind: k}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
