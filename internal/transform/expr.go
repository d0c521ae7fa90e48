package transform

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// commitTimeVar is the env entry that now() is rewritten to. It cannot be
// written as an identifier, so only now() reaches it.
const commitTimeVar = "$commit_time"

// envVar is expr's name for the whole environment: $env["first name"]
// reaches a column whose name is not an identifier.
const envVar = "$env"

// maxNodes bounds the size of one expression. Mappings are one-liners; a
// huge expression is a mistake or an attack on the hot path.
const maxNodes = 1000

// envTypes builds the typed environment expressions are checked against: one
// variable per source column, with a zero value of the Go type Apply will
// put there (see goValue).
func envTypes(src *connector.Table) map[string]any {
	env := make(map[string]any, len(src.Columns)+1)
	for _, c := range src.Columns {
		env[c.Name] = zeroOf(c.Kind)
	}
	env[commitTimeVar] = time.Time{}
	return env
}

// zeroOf is the type witness of a column kind. A kind with no fixed Go type
// (invalid, null) is nil, which expr treats as "unknown, check at run time".
func zeroOf(k change.Kind) any {
	switch k {
	case change.KindBool:
		return false
	case change.KindInt:
		return int64(0)
	case change.KindFloat:
		return float64(0)
	case change.KindDecimal, change.KindText, change.KindTime, change.KindJSON, change.KindUUID, change.KindUnknown:
		return ""
	case change.KindBytes:
		return []byte(nil)
	case change.KindTimestamp, change.KindDate:
		return time.Time{}
	case change.KindArray:
		return []any{}
	}
	return nil
}

// compileOptions are the options every program of a mapping is compiled
// with: the typed env, now() bound to the commit time, UTC for date(), the
// size guard and the helper functions.
func compileOptions(env map[string]any) []expr.Option {
	opts := []expr.Option{
		expr.Env(env),
		expr.DisableBuiltin("now"), // wall-clock time would make replays differ
		expr.Patch(nowPatcher{}),
		expr.Timezone("UTC"),
		expr.MaxNodes(maxNodes),
	}
	return append(opts, functions...)
}

// nowPatcher rewrites now() to the change's commit time, so that a computed
// column is the same on every replay and on every instance.
type nowPatcher struct{}

func (nowPatcher) Visit(n *ast.Node) {
	c, ok := (*n).(*ast.CallNode)
	if !ok || len(c.Arguments) != 0 {
		return
	}
	if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == "now" {
		ast.Patch(n, &ast.IdentifierNode{Value: commitTimeVar})
	}
}

// program is one compiled expression and what it reads.
type program struct {
	src  string
	prog *vm.Program
	deps []string // source columns read, in first-use order
	all  bool     // reads $env: depends on every column
	now  bool     // reads the commit time
}

// compile compiles src against env and records its dependencies.
func compile(src string, env map[string]any, opts []expr.Option) (*program, error) {
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, exprError(err)
	}
	out := &program{src: src, prog: p}
	node := p.Node()
	names := &nameVisitor{env: env, callees: map[*ast.IdentifierNode]bool{}, lets: map[string]bool{}}
	ast.Walk(&node, names) // ast.Walk visits children first: collect callees and lets,
	names.check = true     // then check the identifiers
	ast.Walk(&node, names)
	if names.unknown != "" {
		return nil, fmt.Errorf("unknown name %s: not a source column (a text constant is written in quotes, e.g. '\"ACTIVE\"')", names.unknown)
	}
	ast.Walk(&node, depVisitor{env: env, p: out})
	return out, nil
}

// nameVisitor finds the first identifier that is no source column, env
// variable, let-bound variable or called function. expr's checker lets an
// unknown name through where a function takes any value (upper(nope)); a
// typo must fail at validate, not park every row at run time.
type nameVisitor struct {
	env     map[string]any
	callees map[*ast.IdentifierNode]bool
	lets    map[string]bool
	check   bool // second pass
	unknown string
}

func (v *nameVisitor) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok {
			v.callees[id] = true
		}
	case *ast.VariableDeclaratorNode:
		v.lets[x.Name] = true
	case *ast.IdentifierNode:
		if !v.check || v.unknown != "" || v.callees[x] || v.lets[x.Value] || x.Value == envVar || x.Value == commitTimeVar {
			return
		}
		if _, ok := v.env[x.Value]; !ok {
			v.unknown = x.Value
		}
	}
}

type depVisitor struct {
	env map[string]any
	p   *program
}

func (v depVisitor) Visit(n *ast.Node) {
	id, ok := (*n).(*ast.IdentifierNode)
	if !ok {
		return
	}
	switch id.Value {
	case envVar:
		v.p.all = true
	case commitTimeVar:
		v.p.now = true
	default:
		if _, isCol := v.env[id.Value]; isCol {
			for _, d := range v.p.deps {
				if d == id.Value {
					return
				}
			}
			v.p.deps = append(v.p.deps, id.Value)
		}
	}
}

// run evaluates p with the state's VM and env.
func (p *program) run(st *evalState) (any, error) {
	out, err := st.vm.Run(p.prog, st.env)
	if err != nil {
		return nil, exprError(err)
	}
	return out, nil
}

// present reports whether row holds every column p reads. A column missing
// from a partial row (a TOAST-unchanged value, a key-only Before) must not be
// read as NULL: the target column is left out instead.
func (p *program) present(row change.Row) bool {
	if p.all {
		return true
	}
	for _, d := range p.deps {
		if _, ok := row[d]; !ok {
			return false
		}
	}
	return true
}
