package engine

import (
	"fmt"
	"time"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/conflict"
	"github.com/syncbridge/syncbridge/internal/state"
	"github.com/syncbridge/syncbridge/internal/transform"
)

// view is one pipeline of a both-way flow seen from its source side: the
// mappings each way and the columns that matter for comparisons.
type view struct {
	plan     *bothPlan
	src      side               // the side changes come from
	m        *transform.Mapping // source side -> target side
	back     *transform.Mapping // target side -> source side (write-backs)
	srcReads []string           // source columns m reads; nil = all
	dstCols  []string           // target columns m writes
	fwdCols  []string           // to-table columns the flow maps (the conflict frame)
	stores   map[side]string
}

func newView(p *bothPlan, src side) *view {
	v := &view{plan: p, src: src, stores: map[side]string{fromSide: p.fromStore, toSide: p.toStore}, fwdCols: p.fwd.TargetColumns()}
	v.m, v.back = p.fwd, p.rev
	if src == toSide {
		v.m, v.back = p.rev, p.fwd
	}
	v.srcReads, v.dstCols = v.m.SourceColumns(), v.m.TargetColumns()
	return v
}

// verdictKind is what a decision does with one key.
type verdictKind int

// The verdicts.
const (
	vEcho    verdictKind = iota + 1 // the source holds the agreed row: nothing new
	vAgree                          // the target already holds the mapped row: record the agreement
	vApply                          // write the target
	vDefer                          // the target's deletion is in flight: its own pipeline decides
	vDecided                        // a conflict, decided (writes as the verdict says)
	vPark                           // a conflict parked for an operator
)

// keyWork is one key of a batch, with what both sides hold now.
type keyWork struct {
	key   change.Key
	ks    string
	parts []keyPart      // the batch's changes to the key, in order
	part  *change.Change // the latest change to the key whose row is the source's current row
	orig  *change.Change // the source change part came from, for the dead-letter queue
	s     change.Row     // the source side's row as decided on (nil: absent)
	c     change.Row     // the target side's row now, locked (nil: absent)
	base  *state.Base    // nil: none
	// pre is the source side's row now, which write-backs compare against;
	// it is s except for a clobbered delete.
	pre change.Row
	// clobbered marks a delete that syncbridge overwrote: the source's row
	// is the agreed one, written there after the delete by the other
	// pipeline (a row deleted and re-created on this side looks unchanged
	// to a compare-and-set on absence). It is decided as a conflict between
	// the delete and the agreed row.
	clobbered bool
}

// keyPart is one change to a key, and the source change it is part of (an
// update of the key is two parts).
type keyPart struct {
	change *change.Change
	orig   *change.Change
}

// verdict is the decision for one key.
type verdict struct {
	kind     verdictKind
	dst      *change.Change  // write to the target side
	back     *change.Change  // write back to the source side
	base     *state.Base     // the new agreement
	conflict *state.Conflict // to record
}

// rows returns the base's rows on the source and target sides (nil when
// there is no base or it is a tombstone).
func (v *view) rows(b *state.Base) (src, dst change.Row) {
	if b == nil || b.Deleted {
		return nil, nil
	}
	if v.src == fromSide {
		return b.From, b.To
	}
	return b.To, b.From
}

// decide settles one key. Errors are about the change (a mapping failed):
// the caller parks it.
func (v *view) decide(w *keyWork) (verdict, error) {
	if w.clobbered {
		return v.conflict(w, nil)
	}
	srcBase, dstBase := v.rows(w.base)
	if w.base != nil && sameRow(w.s, srcBase, v.srcReads) {
		return verdict{kind: vEcho}, nil // an echo, or a change already agreed on
	}
	mapped, err := mapRow(v.m, w.key, w.s, w.part.CommitTime)
	if err != nil {
		return verdict{}, err
	}
	if sameRow(mapped, w.c, v.dstCols) {
		return verdict{kind: vAgree, base: v.agreed(w, w.s, w.c)}, nil
	}
	if sameRow(w.c, dstBase, v.dstCols) && (w.base != nil || w.c == nil) && !v.older(w, mapped) && !v.enforced(w, mapped) {
		return v.applyOurs(w, mapped, vApply), nil
	}
	return v.conflict(w, mapped)
}

// enforced reports whether the owner policy decides this change although
// the target did not move: it comes from the store that does not own what
// it changed (see conflict.Resolver.Enforces).
func (v *view) enforced(w *keyWork, mapped change.Row) bool {
	if v.plan.resolver.Policy() != conflict.Owner {
		return false
	}
	ours, theirs, err := v.frame(w, mapped)
	if err != nil {
		return false
	}
	var base change.Row
	if w.base != nil && !w.base.Deleted {
		base = w.base.To
	}
	return v.plan.resolver.Enforces(conflict.Input{Base: base,
		Ours:   conflict.Version{Row: ours, Store: v.stores[v.src], Source: v.src == fromSide},
		Theirs: conflict.Version{Row: theirs, Store: v.stores[v.src.other()], Source: v.src != fromSide}})
}

// older reports, for lww on a timestamp column, whether the source's row is
// older than the target's: a write that committed after the agreement but
// was stamped before it (a slow writer, or one that waited on syncbridge's
// lock) must not overwrite a newer row, so it is decided as a conflict.
// The same holds against an agreed deletion (the target absent, the base a
// tombstone): a row stamped before the delete committed is older than the
// delete, whose time is its commit time. Applied, it would survive or not
// depending on whether its pipeline met it before or after the delete was
// agreed (before: the delete's pipeline decides it as a conflict, and the
// delete wins).
func (v *view) older(w *keyWork, mapped change.Row) bool {
	if v.plan.timestamp == "" || v.plan.resolver.Policy() != conflict.LWW {
		return false
	}
	if w.c == nil {
		if w.base == nil || !w.base.Deleted || w.base.DeletedAt.IsZero() {
			return false
		}
		ours, _, err := v.frame(w, mapped)
		if err != nil || ours == nil {
			return false
		}
		if _, ok := ours[v.plan.timestamp]; !ok {
			return false
		}
		return v.timeOf(ours, w.base.DeletedAt).Before(w.base.DeletedAt)
	}
	ours, theirs, err := v.frame(w, mapped)
	if err != nil || theirs == nil {
		return false
	}
	if _, ok := theirs[v.plan.timestamp]; !ok {
		return false
	}
	return v.timeOf(ours, w.part.CommitTime).Before(v.timeOf(theirs, time.Time{}))
}

// frame returns the two versions of a key in the to table's model: ours
// (the source side's row, mapped when the source is the from side) and
// theirs (the target's row, mapped when the target is the from side).
func (v *view) frame(w *keyWork, mapped change.Row) (ours, theirs change.Row, err error) {
	if v.src == fromSide {
		return mapped, restrict(w.c, v.fwdCols), nil
	}
	theirs, err = mapRow(v.plan.fwd, w.key, w.c, w.part.CommitTime)
	return restrict(w.s, v.fwdCols), theirs, err
}

// applyOurs writes the source's row to the target.
func (v *view) applyOurs(w *keyWork, mapped change.Row, kind verdictKind) verdict {
	dst := writeOf(w, mapped)
	return verdict{kind: kind, dst: dst, base: v.agreed(w, w.s, overlay(w.c, mapped))}
}

// conflict decides a key both sides changed since the base. The decision
// is taken in the to table's model, whichever way the change goes, so both
// pipelines decide alike.
func (v *view) conflict(w *keyWork, mapped change.Row) (verdict, error) {
	ours, theirs, err := v.frame(w, mapped)
	if err != nil {
		return verdict{}, err
	}
	if theirs == nil && w.base != nil && !w.base.Deleted {
		// The target deleted the row and its pipeline has not seen the
		// deletion yet: only it knows when that happened. It will meet
		// this change's row as its conflict.
		return verdict{kind: vDefer}, nil
	}
	var base change.Row
	var baseAt time.Time
	if w.base != nil && !w.base.Deleted {
		base, baseAt = w.base.To, w.base.UpdatedAt
	}
	if w.base != nil && w.base.Deleted && theirs == nil {
		baseAt = w.base.DeletedAt // theirs is the agreed deletion: its time is the delete's
	}
	in := conflict.Input{
		Base:   base,
		Ours:   conflict.Version{Row: ours, Time: v.timeOf(ours, w.part.CommitTime), Store: v.stores[v.src], Source: v.src == fromSide},
		Theirs: conflict.Version{Row: theirs, Time: v.timeOf(theirs, baseAt), Store: v.stores[v.src.other()], Source: v.src != fromSide},
	}
	d := v.plan.resolver.Resolve(in)
	rec := &state.Conflict{Key: w.ks, KeyValues: w.key, OursSide: v.src.String(), Base: base, Ours: ours, Theirs: theirs,
		Result: d.Result(in), Winner: d.Outcome.String(), Policy: v.plan.resolver.Policy().String(), Reason: d.Reason,
		Status: state.ConflictResolved}
	switch d.Outcome {
	case conflict.Park:
		rec.Winner, rec.Status, rec.Result = "none", state.ConflictParked, nil
		return verdict{kind: vPark, conflict: rec}, nil
	case conflict.Ours:
		out := v.applyOurs(w, mapped, vDecided)
		out.conflict = rec
		if w.clobbered { // the source holds the row that overwrote the delete
			out.back = writeOf(w, nil)
		}
		return out, nil
	case conflict.Theirs:
		back, err := mapRow(v.back, w.key, w.c, w.part.CommitTime)
		if err != nil {
			return verdict{}, err
		}
		agreed := v.agreed(w, overlay(w.s, back), w.c)
		if agreed.Deleted && theirs == nil && w.base != nil && w.base.Deleted && !w.base.DeletedAt.IsZero() {
			agreed.DeletedAt = w.base.DeletedAt // still the delete's time, not the loser's
		}
		return verdict{kind: vDecided, back: writeOf(w, back), base: agreed, conflict: rec}, nil
	}
	// Merged: the row, in the to model, goes to both sides.
	toRow := d.Row
	fromRow, err := mapRow(v.plan.rev, w.key, toRow, w.part.CommitTime)
	if err != nil {
		return verdict{}, err
	}
	dstRow, srcRow := toRow, fromRow
	if v.src == toSide {
		dstRow, srcRow = fromRow, toRow
	}
	return verdict{kind: vDecided, dst: writeOf(w, dstRow), back: writeOf(w, srcRow),
		base: v.agreed(w, overlay(w.s, srcRow), overlay(w.c, dstRow)), conflict: rec}, nil
}

// timeOf is a version's time for lww: the conflict.timestamp column when
// the flow names one and the row has it, else def.
func (v *view) timeOf(row change.Row, def time.Time) time.Time {
	if v.plan.timestamp == "" || row == nil {
		return def
	}
	val, ok := row[v.plan.timestamp]
	if !ok {
		return def
	}
	switch val.Kind {
	case change.KindTimestamp, change.KindDate:
		return val.AsTime()
	case change.KindText, change.KindUnknown:
		if t, err := change.ParseTimestamp(val.String()); err == nil {
			return t
		}
	case change.KindInt:
		return time.UnixMicro(val.AsInt())
	}
	return def
}

// agreed is the base after both sides hold srcPost and dstPost.
func (v *view) agreed(w *keyWork, srcPost, dstPost change.Row) *state.Base {
	b := &state.Base{Key: w.ks, UpdatedAt: time.Now().UTC()}
	if srcPost == nil && dstPost == nil {
		b.Deleted = true
		b.DeletedAt = w.part.CommitTime
		if b.DeletedAt.IsZero() {
			b.DeletedAt = b.UpdatedAt
		}
		return b
	}
	b.From, b.To = srcPost, dstPost
	if v.src == toSide {
		b.From, b.To = dstPost, srcPost
	}
	return b
}

// writeOf is the change that makes a side hold row (nil: delete the key).
func writeOf(w *keyWork, row change.Row) *change.Change {
	c := *w.part
	c.Key, c.Before, c.Columns, c.After = w.key, nil, nil, row
	c.Op = change.OpUpdate
	if row == nil {
		c.Op = change.OpDelete
	}
	return &c
}

// mapRow maps one row through m (nil stays nil).
func mapRow(m *transform.Mapping, key change.Key, row change.Row, at time.Time) (change.Row, error) {
	if row == nil {
		return nil, nil
	}
	out, keep, err := m.Apply(change.Change{ID: "row", Op: change.OpUpdate, Key: key, After: row, CommitTime: at})
	if err != nil {
		return nil, err
	}
	if !keep {
		return nil, fmt.Errorf("the mapping filtered the row out")
	}
	return out.After, nil
}

// sameRow compares two rows on cols (every column of either when cols is
// nil); nil rows (absent) are equal only to each other. Values that differ
// in kind but print the same (a store returning text for a timestamp) count
// as equal.
func sameRow(a, b change.Row, cols []string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if cols == nil {
		for k, x := range a {
			if y, ok := b[k]; !ok || !sameValue(x, y) {
				return false
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				return false
			}
		}
		return true
	}
	for _, k := range cols {
		x, okA := a[k]
		y, okB := b[k]
		if okA != okB || okA && !sameValue(x, y) {
			return false
		}
	}
	return true
}

func sameValue(a, b change.Value) bool {
	return change.Equal(a, b) || a.Kind != change.KindNull && b.Kind != change.KindNull && a.String() == b.String()
}

// clobbered reports whether part, a change that no longer matches the
// source's row s, is a delete that the other pipeline overwrote: s is the
// agreed row, so syncbridge wrote it after the delete.
func (v *view) clobbered(part *change.Change, s change.Row, base *state.Base) bool {
	if part.Op != change.OpDelete || s == nil || base == nil || base.Deleted {
		return false
	}
	srcBase, _ := v.rows(base)
	return sameRow(s, srcBase, v.srcReads)
}

// matches reports whether change part still describes the source's row s:
// a delete when s is absent, an upsert whose columns (those the mapping
// reads) hold s's values. A change that does not match was superseded by a
// later write to the source.
func (v *view) matches(part *change.Change, s change.Row) bool {
	if part.Op == change.OpDelete {
		return s == nil
	}
	if s == nil {
		return false
	}
	cols := v.srcReads
	if cols == nil {
		for k, x := range part.After {
			if y, ok := s[k]; !ok || !sameValue(x, y) {
				return false
			}
		}
		return true
	}
	for _, k := range cols {
		x, ok := part.After[k]
		if !ok {
			continue // not sent (an unchanged TOAST value): s has it
		}
		if y, ok := s[k]; !ok || !sameValue(x, y) {
			return false
		}
	}
	return true
}

// restrict returns row's values of cols (nil stays nil).
func restrict(row change.Row, cols []string) change.Row {
	if row == nil {
		return nil
	}
	out := make(change.Row, len(cols))
	for _, c := range cols {
		if v, ok := row[c]; ok {
			out[c] = v
		}
	}
	return out
}

// overlay is base with write's columns written over it: what an upsert of
// write leaves. A nil write is a deletion.
func overlay(base, write change.Row) change.Row {
	if write == nil {
		return nil
	}
	out := base.Clone()
	if out == nil {
		out = make(change.Row, len(write))
	}
	for k, v := range write {
		out[k] = v
	}
	return out
}
