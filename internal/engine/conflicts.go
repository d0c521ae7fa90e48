package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// The choices of `conflicts resolve --take`.
const (
	TakeFrom   = "from"   // the from side's current row goes to both sides
	TakeTo     = "to"     // the to side's current row goes to both sides
	TakeMerged = "merged" // a row the operator gives (to-table columns) goes to both sides
)

// ResolveConflict settles a parked conflict of a both-way flow: the row
// taken is written to both sides (each through a write-back sink, so
// neither pipeline captures it), the base becomes that row, and the conflict
// is marked resolved with the operator's choice. take is TakeFrom or TakeTo
// (that side's row as it is now, so edits made while the conflict was
// parked are kept) or TakeMerged with merged, to-table columns written over
// the to side's row. It takes the flow's lease, so it refuses while `run`
// runs the flow. Running it again after a failure is safe.
func (e *Engine) ResolveConflict(ctx context.Context, flow string, seq int64, take string, merged change.Row) (*state.Conflict, error) {
	fp, ok := e.plan.Flow(flow)
	if !ok {
		return nil, fmt.Errorf("%w: no flow named %q", errConfig, flow)
	}
	if fp.both == nil {
		return nil, fmt.Errorf("%w: flow %s is one-way: it has no conflicts", errConfig, flow)
	}
	if take != TakeFrom && take != TakeTo && take != TakeMerged {
		return nil, fmt.Errorf("%w: --take %q: use from, to or merged", errConfig, take)
	}
	if (take == TakeMerged) != (merged != nil) {
		return nil, fmt.Errorf("%w: --take merged goes with the merged row, and only it", errConfig)
	}
	var out *state.Conflict
	err := e.WithLease(ctx, flow, func(ctx context.Context) error {
		parked, err := e.state.Conflicts(ctx, flow, state.ConflictParked)
		if err != nil {
			return fmt.Errorf("read conflicts: %w", err)
		}
		for i := range parked {
			if parked[i].Seq == seq {
				out = &parked[i]
			}
		}
		if out == nil {
			return fmt.Errorf("flow %s, seq %d: %w", flow, seq, state.ErrNotParked)
		}
		return e.resolve(ctx, fp, out, take, merged)
	})
	return out, err
}

func (e *Engine) resolve(ctx context.Context, fp *FlowPlan, c *state.Conflict, take string, merged change.Row) error {
	b := fp.both
	txs, cur, closeAll, err := openSides(ctx, fp, c)
	if err != nil {
		return err
	}
	defer closeAll()
	now := time.Now().UTC()
	fromRow, toRow, err := chooseRows(b, c, take, merged, cur, now)
	if err != nil {
		return fmt.Errorf("map the row: %w", err)
	}
	key := &keyWork{key: c.KeyValues, ks: c.Key, part: &change.Change{ID: fmt.Sprintf("conflict:%d", c.Seq), CommitTime: now}}
	writes := map[side]change.Row{fromSide: fromRow, toSide: toRow}
	token := fp.Cfg.Name + ":resolve:" + strconv.FormatInt(c.Seq, 10)
	for _, s := range []side{fromSide, toSide} {
		if take != s.String() { // the side taken already holds its row
			if err := txs[s].Apply(ctx, []change.Change{*writeOf(key, writes[s])}); err != nil {
				return fmt.Errorf("write the %s side: %w", s, err)
			}
		}
		spec := b.wbFrom
		if s == toSide {
			spec = b.wbTo
		}
		cp := connector.Checkpoint{Flow: spec.Flow, Phase: connector.PhaseStream, Position: change.Position(token)}
		if err := txs[s].Commit(ctx, cp); err != nil {
			return fmt.Errorf("commit the %s side: %w", s, err)
		}
	}
	base := state.Base{Key: c.Key, From: overlay(cur[fromSide], fromRow), To: overlay(cur[toSide], toRow), UpdatedAt: now}
	if fromRow == nil && toRow == nil {
		base = state.Base{Key: c.Key, Deleted: true, DeletedAt: now, UpdatedAt: now}
	}
	c.Result, c.Winner = toRow, take
	c.Reason = "operator took " + take + " (syncbridge conflicts resolve)"
	if err := e.state.ResolveConflict(ctx, fp.Cfg.Name, c.Seq, *c, []state.Base{base}); err != nil {
		return err
	}
	c.Status, c.ResolvedAt = state.ConflictResolved, now
	return nil
}

// openSides begins a transaction on each side of fp through its write-back
// sink and reads the conflict's row there, locked.
func openSides(ctx context.Context, fp *FlowPlan, c *state.Conflict) (map[side]connector.Tx, map[side]change.Row, func(), error) {
	b := fp.both
	txs, cur := map[side]connector.Tx{}, map[side]change.Row{}
	var closers []func() error
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	for _, s := range []side{fromSide, toSide} {
		st, spec := fp.From, b.wbFrom
		if s == toSide {
			st, spec = fp.To, b.wbTo
		}
		sk, err := st.Sink(ctx, spec)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("open sink of the %s side: %w", s, err)
		}
		closers = append(closers, sk.Close)
		tx, err := sk.Begin(ctx)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("begin on the %s side: %w", s, err)
		}
		closers = append(closers, tx.Rollback)
		txs[s] = tx
		r, ok := tx.(connector.TxReader)
		if !ok {
			closeAll()
			return nil, nil, nil, fmt.Errorf("the %s side's store cannot read rows inside a transaction", s)
		}
		rows, err := r.Current(ctx, []change.Key{c.KeyValues})
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("read the %s side's row: %w", s, err)
		}
		cur[s] = rows[c.Key]
	}
	return txs, cur, closeAll, nil
}

// chooseRows returns the rows each side ends with (nil: deleted) for an
// operator's choice.
func chooseRows(b *bothPlan, c *state.Conflict, take string, merged change.Row, cur map[side]change.Row, now time.Time) (fromRow, toRow change.Row, err error) {
	switch take {
	case TakeFrom:
		fromRow = cur[fromSide]
		toRow, err = mapRow(b.fwd, c.KeyValues, fromRow, now)
	case TakeTo:
		toRow = restrict(cur[toSide], b.fwd.TargetColumns())
		fromRow, err = mapRow(b.rev, c.KeyValues, toRow, now)
	default:
		start := restrict(cur[toSide], b.fwd.TargetColumns())
		if start == nil {
			start = c.Ours
			if start == nil {
				start = c.Theirs
			}
		}
		toRow = overlay(start, merged)
		fromRow, err = mapRow(b.rev, c.KeyValues, toRow, now)
	}
	return fromRow, toRow, err
}

// ParseRow reads a row of the flow's to table from JSON ({"column": value}):
// strings are parsed as the column's kind, numbers exactly, null is NULL.
// Every column must be one the flow maps.
func ParseRow(fp *FlowPlan, data []byte) (change.Row, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("merged row: %w", err)
	}
	if fp.both == nil {
		return nil, fmt.Errorf("flow %s is one-way", fp.Cfg.Name)
	}
	cols := fp.both.fwd.TargetColumns()
	out := change.Row{}
	for name, v := range raw {
		col, ok := fp.ToTable.Column(name)
		if !ok || !contains(cols, name) {
			return nil, fmt.Errorf("merged row: %q is not a column the flow maps in %s; columns: %v", name, fp.Cfg.To.Table, cols)
		}
		val, err := jsonValue(v, col.Kind)
		if err != nil {
			return nil, fmt.Errorf("merged row: column %s: %w", name, err)
		}
		out[name] = val
	}
	if len(out) == 0 {
		return nil, errors.New("merged row: no columns")
	}
	return out, nil
}

func jsonValue(v any, kind change.Kind) (change.Value, error) {
	switch x := v.(type) {
	case nil:
		return change.Null, nil
	case string:
		if kind == 0 || kind == change.KindUnknown {
			return change.Text(x), nil
		}
		return change.Parse(kind, x)
	case json.Number:
		if kind == change.KindDecimal || kind == change.KindInt || kind == change.KindFloat {
			return change.Parse(kind, x.String())
		}
		return transform.ToValue(x.String(), kind)
	}
	return transform.ToValue(v, kind)
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
