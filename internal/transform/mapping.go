package transform

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/expr-lang/expr"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// Spec is what Compile needs to build one flow's mapping.
type Spec struct {
	Flow   string
	Source *connector.Table // required: expressions are type-checked against it
	// Target is the target table, or nil when it is not known yet (a broker
	// topic, a table the sink will create). With it, Compile checks every
	// target column exists and converts results to the column's kind.
	Target *connector.Table
	// TargetTable names the target when Target is nil.
	TargetTable string
	Key         []string       // source key columns; empty = Source.Key
	Columns     config.Columns // target <- source column or expression; empty = identity
	Filter      string         // boolean expression over the source row; "" = every row
}

// Mapping is a compiled Spec. It is immutable and safe for concurrent use.
type Mapping struct {
	flow      string
	table     string
	srcKey    []string
	targetKey []string
	cols      []column
	filter    *program
	used      []string // source columns some program reads
	all       bool     // some program reads $env: fill every column
	now       bool     // some program reads the commit time
	eval      bool     // there is a program to run: Apply needs an evalState
	srcCols   []string // every source column (for $env)
	// identity is true when every source column is renamed to itself and
	// nothing else is computed or filtered: Apply then passes rows through
	// without rebuilding them, the hot path of plain replication.
	identity bool
	pool     sync.Pool
}

// column is one target column: a rename (prog nil) or an expression.
type column struct {
	target string
	source string // the source column of a rename
	prog   *program
	kind   change.Kind // target kind; 0 when unknown
}

// Compile checks spec and compiles its expressions. Errors are *Error values
// naming the flow and column, joined when there are several.
func Compile(spec Spec) (*Mapping, error) {
	fail := func(col, format string, args ...any) error {
		return &Error{Flow: spec.Flow, Column: col, Err: fmt.Errorf(format, args...)}
	}
	if spec.Source == nil {
		return nil, fail("", "no source table")
	}
	m := &Mapping{flow: spec.Flow, table: spec.TargetTable, srcKey: spec.Key, srcCols: spec.Source.ColumnNames()}
	if spec.Target != nil {
		m.table = spec.Target.Name
	}
	if len(m.srcKey) == 0 {
		m.srcKey = spec.Source.Key
	}
	if len(m.srcKey) == 0 {
		return nil, fail("", "source table %s has no primary key; set key: [column, ...] on the flow", spec.Source.Name)
	}
	for _, k := range m.srcKey {
		if _, ok := spec.Source.Column(k); !ok {
			return nil, fail("", "key column %s is not a column of source table %s", k, spec.Source.Name)
		}
	}
	env := envTypes(spec.Source)
	opts := compileOptions(env)
	var errs []error
	seen := map[string]bool{}
	for _, c := range columnsOf(spec) {
		if seen[c.Target] {
			errs = append(errs, fail(c.Target, "column %s is mapped twice; keep one entry", c.Target))
			continue
		}
		seen[c.Target] = true
		col, err := compileColumn(spec, c, env, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.cols = append(m.cols, col)
	}
	if spec.Filter != "" {
		p, err := compile(spec.Filter, env, append(slices.Clip(opts), expr.AsBool()))
		if err != nil {
			errs = append(errs, &Error{Flow: spec.Flow, Filter: true, Expr: spec.Filter, Err: err})
		}
		m.filter = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := m.bindKey(spec); err != nil {
		return nil, err
	}
	m.collectUses()
	m.identity = m.isIdentity()
	m.pool.New = func() any { return &evalState{env: make(map[string]any, len(m.used)+1)} }
	return m, nil
}

// isIdentity reports whether the mapping renames every source column to
// itself and does nothing else.
func (m *Mapping) isIdentity() bool {
	if m.filter != nil || m.eval || len(m.cols) != len(m.srcCols) {
		return false
	}
	for _, c := range m.cols {
		if c.prog != nil || c.source != c.target {
			return false
		}
	}
	return true
}

// columnsOf is the explicit mapping, or the identity over every source
// column that the target has (all of them when the target is unknown).
func columnsOf(spec Spec) config.Columns {
	if len(spec.Columns) > 0 {
		return spec.Columns
	}
	var out config.Columns
	for _, c := range spec.Source.Columns {
		if spec.Target != nil {
			if _, ok := spec.Target.Column(c.Name); !ok {
				continue
			}
		}
		out = append(out, config.Column{Target: c.Name, Source: c.Name})
	}
	return out
}

func compileColumn(spec Spec, c config.Column, env map[string]any, opts []expr.Option) (column, error) {
	col := column{target: c.Target}
	if spec.Target != nil {
		tc, ok := spec.Target.Column(c.Target)
		switch {
		case !ok:
			return col, &Error{Flow: spec.Flow, Column: c.Target, Err: fmt.Errorf("target table %s has no column %s%s",
				spec.Target.Name, c.Target, suggest(c.Target, spec.Target.ColumnNames()))}
		case tc.Generated:
			return col, &Error{Flow: spec.Flow, Column: c.Target, Err: fmt.Errorf(
				"target column %s is generated by the store and cannot be written; remove it from columns", c.Target)}
		}
		col.kind = tc.Kind
	}
	if _, ok := spec.Source.Column(c.Source); ok {
		col.source = c.Source
		return col, nil
	}
	if isIdentifier(c.Source) && !slices.Contains([]string{"true", "false", "nil"}, c.Source) {
		return col, &Error{Flow: spec.Flow, Column: c.Target, Err: fmt.Errorf(
			"source table %s has no column %s%s; for a text constant write '%q'",
			spec.Source.Name, c.Source, suggest(c.Source, spec.Source.ColumnNames()), c.Source)}
	}
	p, err := compile(c.Source, env, opts)
	if err != nil {
		return col, &Error{Flow: spec.Flow, Column: c.Target, Expr: c.Source, Err: err}
	}
	col.prog = p
	return col, nil
}

// bindKey finds, for each source key column, the target column that renames
// it. Keys must be renames: an expression could map two source keys to one
// target key, and a key that cannot be inverted cannot be deleted by.
func (m *Mapping) bindKey(spec Spec) error {
	var targetPK []string
	if spec.Target != nil {
		targetPK = spec.Target.Key
	}
	for _, c := range m.cols {
		if c.prog != nil && slices.Contains(targetPK, c.target) {
			return &Error{Flow: m.flow, Column: c.target, Expr: c.prog.src, Err: fmt.Errorf(
				"column %s is in the key of target table %s; it must be a plain rename of a source key column, not an expression",
				c.target, spec.Target.Name)}
		}
	}
	for _, k := range m.srcKey {
		best := ""
		for _, c := range m.cols {
			if c.prog == nil && c.source == k && (best == "" || slices.Contains(targetPK, c.target)) {
				best = c.target
			}
		}
		if best == "" {
			return &Error{Flow: m.flow, Err: fmt.Errorf(
				"key column %s is not mapped; add it to columns as a rename, e.g. `%s: %s`", k, k, k)}
		}
		m.targetKey = append(m.targetKey, best)
	}
	return nil
}

// collectUses records which source columns Apply must put in the env.
func (m *Mapping) collectUses() {
	progs := make([]*program, 0, len(m.cols)+1)
	for _, c := range m.cols {
		if c.prog != nil {
			progs = append(progs, c.prog)
		}
	}
	if m.filter != nil {
		progs = append(progs, m.filter)
	}
	m.eval = len(progs) > 0
	for _, p := range progs {
		m.all = m.all || p.all
		m.now = m.now || p.now
		for _, d := range p.deps {
			if !slices.Contains(m.used, d) {
				m.used = append(m.used, d)
			}
		}
	}
	if m.all {
		m.used = m.srcCols
	}
}

// TargetKey returns the target key columns, in source key order: Apply's
// out.Key holds their values.
func (m *Mapping) TargetKey() []string { return slices.Clone(m.targetKey) }

// TargetColumns returns the target columns the mapping writes, in order.
func (m *Mapping) TargetColumns() []string {
	out := make([]string, len(m.cols))
	for i, c := range m.cols {
		out[i] = c.target
	}
	return out
}

// Renames returns target -> source for the columns that are plain renames:
// the invertible part of the mapping, used to map a `both` flow backwards.
func (m *Mapping) Renames() map[string]string {
	out := map[string]string{}
	for _, c := range m.cols {
		if c.prog == nil {
			out[c.target] = c.source
		}
	}
	return out
}

// SourceColumns returns the source columns the mapping reads (renames,
// expression inputs, filter and key), in source table order; nil means every
// column, because an expression reads $env.
func (m *Mapping) SourceColumns() []string {
	if m.all {
		return nil
	}
	need := map[string]bool{}
	for _, k := range m.srcKey {
		need[k] = true
	}
	for _, c := range m.cols {
		if c.prog == nil {
			need[c.source] = true
		}
	}
	for _, u := range m.used {
		need[u] = true
	}
	return slices.DeleteFunc(slices.Clone(m.srcCols), func(c string) bool { return !need[c] })
}

func isIdentifier(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// suggest offers the column that differs from name only in case or by a
// prefix, the common slips; anything fancier belongs in config.
func suggest(name string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(c, name) {
			return fmt.Sprintf(" (did you mean %s?)", c)
		}
	}
	return fmt.Sprintf("; columns: %s", strings.Join(sortedCopy(candidates), ", "))
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
