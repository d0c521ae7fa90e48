package transform

import (
	"github.com/expr-lang/expr"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// The helpers below let other packages evaluate expressions the way
// mappings do (conflict rules and ownership predicates of both-way flows):
// the same value conversions, functions and type checking.

// GoValue is what an expression sees for v.
func GoValue(v change.Value) any { return goValue(v) }

// ToValue turns an expression result into a Value of kind (0 keeps the
// result's natural kind). A result that cannot become the kind exactly is
// an error.
func ToValue(res any, kind change.Kind) (change.Value, error) { return toValue(res, kind) }

// RowEnv is the typed environment of expressions over rows of t: one
// variable per column, holding a zero value of the Go type GoValue gives it.
func RowEnv(t *connector.Table) map[string]any { return envTypes(t) }

// ExprOptions are the compile options of mapping expressions over env: the
// typed env, the helper functions, now() as the commit time, UTC, the size
// bound.
func ExprOptions(env map[string]any) []expr.Option { return compileOptions(env) }

// Inputs returns, for each target column computed by an expression, the
// source columns it reads (nil for a constant). Renames are not listed.
func (m *Mapping) Inputs() map[string][]string {
	out := map[string][]string{}
	for _, c := range m.cols {
		if c.prog != nil {
			out[c.target] = append([]string(nil), c.prog.deps...)
		}
	}
	return out
}

// ReadsAll reports whether some expression reads the whole row ($env).
func (m *Mapping) ReadsAll() bool { return m.all }

// Filtered reports whether the mapping has a row filter.
func (m *Mapping) Filtered() bool { return m.filter != nil }

// Identity reports whether the mapping copies every source column to the
// target column of the same name and does nothing else: no expression, no
// rename, no filter. Rows then pass through unchanged.
func (m *Mapping) Identity() bool { return m.identity }
