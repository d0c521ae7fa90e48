// Package sqlsink is the apply mechanism the database/sql sinks (sqlite,
// mysql) share: a batch of changes is applied in order, deletes one by one
// and each run of consecutive upserts encoded into rows (a column mask and
// the arguments) and grouped by column set into multi-row statements.
//
// What differs between databases stays in the driver and comes in as
// functions: how a value is encoded for its column, the statement text
// (placeholders, quoting, the upsert clause), how a statement is executed
// and cached, and which errors are about one change's data.
package sqlsink

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

var (
	// ErrConvert marks a value that cannot be written to (or read from) its
	// column: a permanent failure of that one change.
	ErrConvert = errors.New("cannot convert value")
	// ErrUnknownColumn is a change naming a column the table does not have.
	ErrUnknownColumn = fmt.Errorf("%w: unknown column", ErrConvert)
)

// Row is one encoded upsert: which columns it writes and their arguments in
// table order.
type Row struct {
	Cols []bool
	Args []any
}

// Encoder turns upsert changes into Rows for one described table.
type Encoder struct {
	Table   string             // as configured, for messages
	Columns []connector.Column // the table's columns in table order
	Index   map[string]int     // column name -> index in Columns
	Key     []string           // key column names in key order
	// Encode converts v into the argument for column i.
	Encode func(i int, v change.Value) (any, error)

	vals []change.Value // scratch for Upsert
}

// Upsert turns an upsert change into its row: the columns of After
// (generated columns skipped: the database computes them), plus key columns
// taken from Key when After lacks them.
func (e *Encoder) Upsert(c *change.Change) (Row, error) {
	cols := make([]bool, len(e.Columns))
	if e.vals == nil {
		e.vals = make([]change.Value, len(e.Columns))
	}
	vals := e.vals // scratch: only read below, before the next change
	for name, v := range c.After {
		i, ok := e.Index[name]
		if !ok {
			return Row{}, fmt.Errorf("%w: column %q does not exist in table %q", ErrUnknownColumn, name, e.Table)
		}
		if e.Columns[i].Generated {
			continue
		}
		cols[i], vals[i] = true, v
	}
	for j, k := range e.Key {
		i := e.Index[k]
		if !cols[i] {
			if j >= len(c.Key) {
				return Row{}, fmt.Errorf("%w: key column %q has no value", ErrConvert, k)
			}
			cols[i], vals[i] = true, c.Key[j]
		}
	}
	r := Row{Cols: cols, Args: make([]any, 0, len(cols))}
	for i, ok := range cols {
		if !ok {
			continue
		}
		a, err := e.Encode(i, vals[i])
		if err != nil {
			return Row{}, err
		}
		r.Args = append(r.Args, a)
	}
	return r, nil
}

// DeleteArgs returns the arguments of a delete change: its Key (or, lacking
// one, the key columns of Before) encoded for the key columns.
func (e *Encoder) DeleteArgs(c *change.Change) ([]any, error) {
	key := c.Key
	if len(key) == 0 && c.Before != nil {
		key, _ = change.KeyOf(c.Before, e.Key)
	}
	if len(key) != len(e.Key) {
		return nil, fmt.Errorf("%w: delete has %d key values; the key has %d columns", ErrConvert, len(key), len(e.Key))
	}
	args := make([]any, len(key))
	for i, v := range key {
		a, err := e.Encode(e.Index[e.Key[i]], v)
		if err != nil {
			return nil, err
		}
		args[i] = a
	}
	return args, nil
}

// Applier applies batches of changes to one table.
type Applier struct {
	Table     string // as configured, for messages
	GroupRows int    // rows per multi-row upsert at most; 1 disables grouping
	MaxParams int    // bound values per multi-row upsert at most

	// Encode turns an upsert change into its row (see Encoder.Upsert).
	Encode func(c *change.Change) (Row, error)
	// Refresh describes the table again, after a change named a column the
	// table did not have when it was described; Encode then uses the new
	// shape.
	Refresh func(ctx context.Context) error
	// Upsert writes rows, which all write the same columns, in one
	// statement.
	Upsert func(ctx context.Context, rows []Row) error
	// Delete deletes the row of a delete change.
	Delete func(ctx context.Context, c *change.Change) error
	// Classify tells whether err concerns one change (apply) and whether
	// retrying cannot help (permanent). A change failing with an error about
	// it becomes a *connector.ApplyError; other errors leave the transaction
	// unusable. A multi-row upsert failing with an error about one change
	// had no effect, and its rows are replayed one by one to find it.
	Classify func(err error) (apply, permanent bool)
	// ForeignKey, when set, tells whether err is a foreign key violation
	// (see connector.ApplyError.ForeignKey).
	ForeignKey func(err error) bool
}

// Apply writes changes in order. See connector.Tx.
func (a *Applier) Apply(ctx context.Context, changes []change.Change) error {
	for i := 0; i < len(changes); {
		c := &changes[i]
		if c.Op == change.OpDelete {
			if err := a.Delete(ctx, c); err != nil {
				return a.fail(i, c, err)
			}
			i++
			continue
		}
		n, err := a.upserts(ctx, changes[i:])
		if err != nil {
			var ae *connector.ApplyError
			if errors.As(err, &ae) {
				ae.Index += i
				return ae
			}
			return err
		}
		i += n
	}
	return nil
}

// upserts applies the leading run of upserts of changes, grouping rows that
// write the same columns into multi-row statements. It returns how many
// changes it applied; on failure, an *ApplyError indexed within changes,
// with every change before it applied.
func (a *Applier) upserts(ctx context.Context, changes []change.Change) (int, error) {
	var group []Row
	flush := func(base int) error {
		if len(group) == 0 {
			return nil
		}
		defer func() { group = group[:0] }()
		if len(group) > 1 {
			err := a.Upsert(ctx, group)
			if err == nil {
				return nil
			}
			if apply, _ := a.Classify(err); !apply {
				return fmt.Errorf("apply %d upserts to %q: %w", len(group), a.Table, err)
			}
			// One row of the group failed and the statement had no effect:
			// replay the rows one by one to find it.
		}
		for j := range group {
			if err := a.Upsert(ctx, group[j:j+1]); err != nil {
				return a.fail(base+j, &changes[base+j], err)
			}
		}
		return nil
	}
	start, i := 0, 0
	refreshed := false
	for ; i < len(changes) && changes[i].Op != change.OpDelete; i++ {
		r, err := a.Encode(&changes[i])
		if errors.Is(err, ErrUnknownColumn) && !refreshed {
			// The table may have gained the column since the sink opened.
			refreshed = true
			if err := flush(start); err != nil {
				return 0, err
			}
			start = i
			if err := a.Refresh(ctx); err != nil {
				return 0, err
			}
			r, err = a.Encode(&changes[i])
		}
		if err != nil {
			if ferr := flush(start); ferr != nil {
				return 0, ferr
			}
			return 0, a.fail(i, &changes[i], err)
		}
		if len(group) > 0 && (!sameCols(group[0].Cols, r.Cols) || len(group) >= a.groupLimit(len(r.Args))) {
			if err := flush(start); err != nil {
				return 0, err
			}
			start = i
		}
		group = append(group, r)
	}
	if err := flush(start); err != nil {
		return 0, err
	}
	return i, nil
}

// fail wraps the failure of change i as an *ApplyError when it is about that
// change, and returns other errors (the transaction is then unusable) as
// they are.
func (a *Applier) fail(i int, c *change.Change, err error) error {
	apply, perm := a.Classify(err)
	if !apply {
		return fmt.Errorf("apply change %s: %w", c.ID, err)
	}
	return &connector.ApplyError{
		Index:      i,
		Err:        fmt.Errorf("%s %s key %s: %w", c.Op, c.Table, c.Key, err),
		Permanent:  perm,
		ForeignKey: a.ForeignKey != nil && a.ForeignKey(err),
	}
}

// groupLimit is how many rows of params values each one statement takes.
func (a *Applier) groupLimit(params int) int {
	n := a.GroupRows
	if params > 0 && n*params > a.MaxParams {
		n = a.MaxParams / params
	}
	return max(n, 1)
}

func sameCols(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// AppendSignature appends to sig the statement-cache key of an upsert of
// rows: "u", the row count, ":", then '1' for each column written and '0'
// for the others. The caller's buffer (cap len(rows[0].Cols)+8) can stay on
// its stack.
func AppendSignature(sig []byte, rows []Row) []byte {
	sig = fmt.Appendf(sig, "u%d:", len(rows))
	for _, ok := range rows[0].Cols {
		if ok {
			sig = append(sig, '1')
		} else {
			sig = append(sig, '0')
		}
	}
	return sig
}

// Args is the arguments of rows in one statement, row after row.
func Args(rows []Row) []any {
	args := rows[0].Args
	if len(rows) > 1 {
		args = make([]any, 0, len(rows)*len(rows[0].Args))
		for _, r := range rows {
			args = append(args, r.Args...)
		}
	}
	return args
}
