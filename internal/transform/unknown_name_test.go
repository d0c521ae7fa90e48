package transform

import (
	"testing"

	"github.com/syncbridge/syncbridge/internal/config"
)

func TestUnknownNameInFunctionIsACompileError(t *testing.T) {
	for _, e := range []string{`upper(nope)`, `lower(nope)`, `trim(nope)`, `split_part(nope, " ", 1)`, `nope + "x"`} {
		_, err := Compile(Spec{Flow: "f", Source: sourceTable(), Columns: config.Columns{{Target: "cust_id", Source: "cust_id"}, {Target: "x", Source: e}}})
		if err == nil {
			t.Errorf("%s compiled; an unknown name must be refused", e)
		}
	}
}
