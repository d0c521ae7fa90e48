package reconcile

import (
	"context"
	"slices"

	"github.com/syncbridge/syncbridge/internal/change"
	"github.com/syncbridge/syncbridge/internal/connector"
)

// finding is one row that differs: present on one side or both, with the
// leaves it was read from on each side (where the re-check reads again).
type finding struct {
	keyText      string
	from, to     *entry
	fromAt, toAt bounds
	moving       bool
}

// findings collects drifted rows by normalized target key. A row missing
// from one leaf and extra in another is one row both stores hold but order
// differently; it is paired as soon as its second half shows up.
type findings struct {
	from, to *side
	byKey    map[string]*finding
}

func newFindings(from, to *side) *findings {
	return &findings{from: from, to: to, byKey: map[string]*finding{}}
}

func (f *findings) len() int { return len(f.byKey) }

// compare compares the rows of one leaf whose checksums differ.
func (f *findings) compare(l *leaf) {
	to := make(map[string]*entry, len(l.to))
	for i := range l.to {
		to[l.to[i].keyText] = &l.to[i]
	}
	for i := range l.from {
		e := &l.from[i]
		t, ok := to[e.keyText]
		if ok {
			delete(to, e.keyText)
			if t.text != e.text {
				f.byKey[e.keyText] = &finding{keyText: e.keyText, from: e, to: t, fromAt: l.bounds, toAt: l.bounds}
			}
			continue
		}
		f.half(e.keyText, e, nil, l.bounds)
	}
	for k, t := range to {
		f.half(k, nil, t, l.bounds)
	}
}

// half records a row seen on one side only, or completes it when the other
// side's half was seen in another leaf.
func (f *findings) half(k string, from, to *entry, at bounds) {
	old, ok := f.byKey[k]
	if !ok {
		f.byKey[k] = &finding{keyText: k, from: from, to: to, fromAt: at, toAt: at}
		return
	}
	switch {
	case from != nil && old.from == nil:
		old.from, old.fromAt = from, at
	case to != nil && old.to == nil:
		old.to, old.toAt = to, at
	default:
		return
	}
	if old.from.text == old.to.text {
		delete(f.byKey, k) // the same row, only placed differently
	}
}

// recheck reads every finding's leaves again on both sides and marks as
// moving the rows whose state changed since the first read: a change in
// flight, which the flow will apply, is not drift.
func (f *findings) recheck(ctx context.Context, page int) error {
	read := func(s *side, at func(*finding) bounds) (map[string]map[string]*entry, error) {
		out := map[string]map[string]*entry{}
		for _, fd := range f.byKey {
			b := at(fd)
			if _, ok := out[b.id()]; ok {
				continue
			}
			es, err := s.rangeRows(ctx, b.lo, b.hi, page)
			if err != nil {
				return nil, err
			}
			m := make(map[string]*entry, len(es))
			for i := range es {
				m[es[i].keyText] = &es[i]
			}
			out[b.id()] = m
		}
		return out, nil
	}
	fromNow, err := read(f.from, func(fd *finding) bounds { return fd.fromAt })
	if err != nil {
		return err
	}
	toNow, err := read(f.to, func(fd *finding) bounds { return fd.toAt })
	if err != nil {
		return err
	}
	for k, fd := range f.byKey {
		fd.moving = !same(fd.from, fromNow[fd.fromAt.id()][k]) || !same(fd.to, toNow[fd.toAt.id()][k])
	}
	return nil
}

func same(a, b *entry) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.text == b.text
}

// fill writes the findings into rep in target key order, with the fixes
// that would repair them.
func (f *findings) fill(rep *FlowReport) {
	all := make([]*finding, 0, len(f.byKey))
	for _, fd := range f.byKey {
		all = append(all, fd)
	}
	keyOf := func(fd *finding) change.Key {
		e := fd.from
		if e == nil {
			e = fd.to
		}
		k, _ := change.KeyOf(e.row, f.from.keyCols)
		return k
	}
	slices.SortFunc(all, func(a, b *finding) int { return keyOf(a).Compare(keyOf(b)) })
	rep.Missing, rep.Extra, rep.Different, rep.Moving = []RowDiff{}, []RowDiff{}, []RowDiff{}, []RowDiff{}
	for _, fd := range all {
		key := keyOf(fd)
		rd := RowDiff{Key: map[string]any{}}
		for i, c := range f.from.keyCols {
			rd.Key[c] = jsonValue(key[i])
		}
		if fd.moving {
			rep.Moving = append(rep.Moving, rd)
			continue
		}
		fix := change.Change{ID: "reconcile:" + rep.Name + ":" + fd.keyText, Flow: rep.Name,
			Table: f.to.table, Key: key}
		switch {
		case fd.to == nil:
			rep.Missing = append(rep.Missing, rd)
			fix.Op, fix.After = change.OpUpdate, fd.from.row
		case fd.from == nil:
			rep.Extra = append(rep.Extra, rd)
			fix.Op, fix.Before = change.OpDelete, fd.to.row
		default:
			rd.Columns = f.columns(fd.from.row, fd.to.row)
			rep.Different = append(rep.Different, rd)
			fix.Op, fix.After, fix.Before = change.OpUpdate, fd.from.row, fd.to.row
		}
		rep.fixes = append(rep.fixes, fix)
	}
}

// columns names the target columns whose normalized values differ.
func (f *findings) columns(a, b change.Row) []string {
	var out []string
	for _, c := range f.from.norm {
		one := []connector.ChecksumColumn{c}
		if RowText(a, one) != RowText(b, one) {
			out = append(out, c.Name)
		}
	}
	return out
}
