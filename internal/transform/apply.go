package transform

import (
	"fmt"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/syncbridge/syncbridge/internal/change"
)

// evalState is the per-call scratch space of Apply: a VM (its stack is
// reused) and the env map, pooled so the hot path does not allocate them.
type evalState struct {
	vm  vm.VM
	env map[string]any
}

// Apply maps a source change to the target change. keep is false when the
// filter drops the change. An error is a data error about this one change
// (an expression failed, a result does not fit its column): the engine parks
// it and goes on.
//
//   - insert, snapshot: After is mapped; dropped when the filter says no.
//   - update: After and Before (when present) are mapped; an update whose new
//     row fails the filter becomes a delete of the key, because the row left
//     the synced set and the target may hold it.
//   - delete: only the key is mapped; deletes always pass the filter.
//
// Key holds the source key values, which are the target key values in the
// order of TargetKey (key columns are renames). A column whose inputs are
// missing from a partial row is left out rather than computed from NULLs.
// Every other envelope field is copied. An update that changes the key is
// mapped as it is; split it first with SplitKeyChange.
func (m *Mapping) Apply(c change.Change) (out change.Change, keep bool, err error) {
	out = c
	out.Table = m.table
	out.Before, out.After, out.Columns = nil, nil, nil
	if out.Key, err = m.key(c); err != nil {
		return change.Change{}, false, err
	}
	if c.Op == change.OpDelete {
		return out, true, nil
	}
	if c.After == nil {
		return change.Change{}, false, &Error{Flow: m.flow, Err: fmt.Errorf("%s change %s has no row", c.Op, c.ID)}
	}
	if m.identity {
		out.After, out.Before, out.Columns = c.After, c.Before, c.Columns
		return out, true, nil
	}
	var st *evalState
	if m.eval {
		st = m.pool.Get().(*evalState)
		defer m.pool.Put(st)
		m.fill(st, c.After, c.CommitTime)
	}
	if m.filter != nil {
		res, err := m.filter.run(st)
		if err != nil {
			return change.Change{}, false, &Error{Flow: m.flow, Filter: true, Expr: m.filter.src, Err: err}
		}
		if pass, _ := res.(bool); !pass {
			if c.Op != change.OpUpdate {
				return change.Change{}, false, nil
			}
			out.Op = change.OpDelete
			return out, true, nil
		}
	}
	if out.After, err = m.row(st, c.After); err != nil {
		return change.Change{}, false, err
	}
	if c.Before != nil {
		if st != nil {
			m.fill(st, c.Before, c.CommitTime)
		}
		if out.Before, err = m.row(st, c.Before); err != nil {
			return change.Change{}, false, err
		}
	}
	out.Columns = m.columns(c.Columns)
	return out, true, nil
}

// key returns the source key values: the change's own Key, or the key
// columns of its row when a source left Key unset.
func (m *Mapping) key(c change.Change) (change.Key, error) {
	if len(c.Key) == len(m.srcKey) {
		return c.Key, nil
	}
	row := c.After
	if row == nil {
		row = c.Before
	}
	k, ok := change.KeyOf(row, m.srcKey)
	if !ok {
		return nil, &Error{Flow: m.flow, Err: fmt.Errorf("change %s has no key: want values for %v", c.ID, m.srcKey)}
	}
	return k, nil
}

// fill puts the columns the programs read into the env. Every used name is
// written on every call, so a pooled env never leaks a previous row.
func (m *Mapping) fill(st *evalState, row change.Row, commit time.Time) {
	for _, name := range m.used {
		if v, ok := row[name]; ok {
			st.env[name] = goValue(v)
		} else {
			st.env[name] = nil
		}
	}
	if m.now {
		st.env[commitTimeVar] = commit
	}
}

// row maps one source row; st holds that row's env.
func (m *Mapping) row(st *evalState, src change.Row) (change.Row, error) {
	out := make(change.Row, len(m.cols))
	for _, c := range m.cols {
		if c.prog == nil {
			if v, ok := src[c.source]; ok {
				out[c.target] = v
			}
			continue
		}
		if !c.prog.present(src) {
			continue
		}
		res, err := c.prog.run(st)
		if err == nil {
			out[c.target], err = toValue(res, c.kind)
		}
		if err != nil {
			return nil, &Error{Flow: m.flow, Column: c.target, Expr: c.prog.src, Err: err}
		}
	}
	return out, nil
}

// columns maps the touched source columns to the target columns they feed.
// Columns computed from nothing (constants, now()) count as touched: every
// write sets them.
func (m *Mapping) columns(touched []string) []string {
	if touched == nil {
		return nil
	}
	out := make([]string, 0, len(m.cols))
	for _, c := range m.cols {
		var hit bool
		switch {
		case c.prog == nil:
			hit = slices.Contains(touched, c.source)
		case c.prog.all || len(c.prog.deps) == 0:
			hit = true
		default:
			hit = slices.ContainsFunc(c.prog.deps, func(d string) bool { return slices.Contains(touched, d) })
		}
		if hit {
			out = append(out, c.target)
		}
	}
	return out
}
