package conflict

import (
	"errors"
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// owner is a compiled OwnerConfig.
type owner struct {
	store   string
	columns []string
	rows    *vm.Program // nil: every row
	rowsSrc string
	cols    []string // the table's columns, to fill the predicate's env
}

func newOwner(cfg OwnerConfig, t *connector.Table) (*owner, error) {
	if cfg.Store == "" {
		return nil, errors.New("conflict.owner.store: required by policy owner; name the store that owns the rows (the flow's from or to store)")
	}
	o := &owner{store: cfg.Store, columns: cfg.Columns, rowsSrc: cfg.Rows}
	var errs []error
	if t != nil {
		o.cols = t.ColumnNames()
		for _, c := range cfg.Columns {
			if _, ok := t.Column(c); !ok {
				errs = append(errs, fmt.Errorf("conflict.owner.columns: the to table %s has no column %s", t.Name, c))
			}
		}
	}
	if cfg.Rows != "" {
		if t == nil {
			return nil, errors.New("conflict.owner.rows: needs the to table's columns")
		}
		p, err := expr.Compile(cfg.Rows, append(transform.ExprOptions(transform.RowEnv(t)), expr.AsBool())...)
		if err != nil {
			errs = append(errs, fmt.Errorf("conflict.owner.rows: %w", err))
		}
		o.rows = p
	}
	return o, errors.Join(errs...)
}

// sides returns the owner's version and the other one, and whether the
// owner's is ours.
func (o *owner) sides(in Input) (own, other Version, oursOwns bool, err error) {
	switch o.store {
	case in.Ours.Store:
		return in.Ours, in.Theirs, true, nil
	case in.Theirs.Store:
		return in.Theirs, in.Ours, false, nil
	}
	return Version{}, Version{}, false, fmt.Errorf("owner.store %s is neither side (%s, %s)", o.store, in.Ours.Store, in.Theirs.Store)
}

// owns evaluates owner.rows on row.
func (o *owner) owns(row change.Row) (bool, error) {
	if o.rows == nil {
		return true, nil
	}
	env := make(map[string]any, len(o.cols))
	for _, c := range o.cols {
		if v, ok := row[c]; ok {
			env[c] = transform.GoValue(v)
		} else {
			env[c] = nil
		}
	}
	res, err := expr.Run(o.rows, env)
	if err != nil {
		return false, err
	}
	b, _ := res.(bool)
	return b, nil
}

func winner(oursWins bool) Outcome {
	if oursWins {
		return Ours
	}
	return Theirs
}

// decide applies ownership to a whole row: rows the owner does not own
// belong to the other store; in owned rows the owner's version wins, for
// owner.columns only when they are set.
func (o *owner) decide(in Input) Decision {
	own, other, oursOwns, err := o.sides(in)
	if err != nil {
		return Decision{Outcome: Park, Reason: "owner: " + err.Error()}
	}
	probe := own.Row
	if probe == nil {
		probe = other.Row
	}
	owned, err := o.owns(probe)
	if err != nil {
		return Decision{Outcome: Park, Reason: fmt.Sprintf("owner: owner.rows (%s) failed: %v", o.rowsSrc, err)}
	}
	if !owned {
		return Decision{Outcome: winner(!oursOwns), Reason: fmt.Sprintf("owner: the row is outside owner.rows, so store %s owns it", other.Store)}
	}
	if len(o.columns) == 0 || own.Deleted() || other.Deleted() {
		return Decision{Outcome: winner(oursOwns), Reason: "owner: store " + own.Store + " owns the row"}
	}
	out := other.Row.Clone()
	for _, c := range o.columns {
		if v, ok := own.Row[c]; ok {
			out[c] = v
		}
	}
	d := simplify(out, in)
	d.Reason = fmt.Sprintf("owner: store %s owns columns %v, store %s the rest", own.Store, o.columns, other.Store)
	return d
}

// decideColumn gives one column (or, with col "", the row) to the owner
// when it owns the row.
func (o *owner) decideColumn(in Input, col string) Decision {
	own, other, oursOwns, err := o.sides(in)
	if err != nil {
		return Decision{Outcome: Park, Reason: "owner: " + err.Error()}
	}
	probe := own.Row
	if probe == nil {
		probe = other.Row
	}
	owned, err := o.owns(probe)
	if err != nil {
		return Decision{Outcome: Park, Reason: fmt.Sprintf("owner: owner.rows (%s) failed: %v", o.rowsSrc, err)}
	}
	what := "the row"
	if col != "" {
		what = "column " + col
	}
	if !owned {
		return Decision{Outcome: winner(!oursOwns), Reason: fmt.Sprintf("owner: the row is outside owner.rows, so store %s owns %s", other.Store, what)}
	}
	return Decision{Outcome: winner(oursOwns), Reason: fmt.Sprintf("owner: store %s owns %s", own.Store, what)}
}

// enforces reports whether ours, written by the store that does not own
// what it changed, must be decided even though theirs did not move: the
// owner's version is the rule, not just the tie-breaker ("two one-way
// syncs"). A row the owner does not have yet can be created by the other
// store when the owner owns only some columns.
func (o *owner) enforces(in Input) bool {
	own, other, oursOwns, err := o.sides(in)
	if err != nil || oursOwns {
		return false
	}
	probe := own.Row
	if probe == nil {
		probe = other.Row
	}
	if owned, err := o.owns(probe); err != nil || !owned {
		return false
	}
	if len(o.columns) == 0 {
		return true
	}
	if own.Deleted() || other.Deleted() {
		return own.Deleted() != other.Deleted() && in.Base != nil
	}
	for _, c := range o.columns {
		v, ok := other.Row[c]
		b, bok := in.Base[c]
		if ok && (!bok || !change.Equal(v, b)) {
			return true
		}
	}
	return false
}
